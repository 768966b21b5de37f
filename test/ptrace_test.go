package test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestCPtrace: ptrace(2)'s state machine as a tracer sees it (test/c/ptrace.c):
// syscall stops with register and syscall rewrites, signal-delivery-stops,
// group-stops, SEIZE/INTERRUPT/LISTEN, fork and exec events, ATTACH to a
// non-child, EXITKILL and the errors.
func TestCPtrace(t *testing.T) {
	for _, what := range []string{"syscalls", "signals", "groupstop", "seize", "fork", "step", "fpregs", "seccomp", "attach"} {
		t.Run(what, func(t *testing.T) { compareC(t, "ptrace", 0, what) })
	}
}

// straceBlocks normalises `strace -ff` output printed as "=== process"
// blocks, one per traced process: PIDs and addresses are masked, the
// environment's size too, and the blocks are sorted (their order is the
// order of the processes' PIDs, which is timing). A call interrupted by a
// signal and restarted (`= ? ERESTARTNOINTR (To be restarted)`, then the
// call again) is timing too: a shell's second fork met the first child's
// SIGCHLD natively once in CI. Its interrupted line is dropped.
var straceBlocks = normaliser{
	name: "straceBlocks",
	why:  "PIDs, addresses and signal-restarted calls differ between runs; the per-process traces are compared as a set",
	fn: func(s string) string {
		s = regexp.MustCompile(`(?m)^.* = \? ERESTART[A-Z_]+ \(To be restarted[^)]*\)\n`).ReplaceAllString(s, "")
		s = regexp.MustCompile(`0x[0-9a-f]+`).ReplaceAllString(s, "0xADDR")
		s = regexp.MustCompile(`/\* \d+ vars \*/`).ReplaceAllString(s, "/* N vars */")
		s = regexp.MustCompile(`(clone\(.*\) += )\d+`).ReplaceAllString(s, "${1}PID")
		s = regexp.MustCompile(`(wait4\(.*\) += )\d+`).ReplaceAllString(s, "${1}PID")
		parts := strings.Split(s, "=== process\n")
		head, blocks := parts[0], parts[1:]
		sort.Strings(blocks)
		return head + "=== process\n" + strings.Join(blocks, "=== process\n")
	},
}

// TestPtraceStraceFollowForks: Debian's `strace -ff` traces a shell
// pipeline inside the sandbox as it does natively: every process of
// `sh -c 'echo hi | cat'` is followed through fork and exec, with the
// process-level syscalls and their results.
func TestPtraceStraceFollowForks(t *testing.T) {
	needTool(t, "strace", "strace")
	script := `d=$(mktemp -d)
strace -ff -q -o $d/tr -e trace=execve,clone,clone3,fork,vfork,pipe2,dup2,write,exit_group -e signal=none sh -c 'echo hi | cat'
for f in $d/tr.*; do echo "=== process"; cat $f; done
rm -rf $d`
	_, sb := compare(t, cmpCase{
		argv:  []string{"/bin/sh", "-c", script},
		norms: []normaliser{straceBlocks},
	})
	if strings.Count(sb.Stdout, "=== process") != 3 {
		t.Errorf("sandbox: want 3 traced processes:\n%s", sb.Stdout)
	}
}

// TestPtraceStraceThreads: strace -ff follows the threads of a process
// (PTRACE_O_TRACECLONE, CLONE_THREAD tracees, each thread's exit reported
// to the tracer by its TID) as natively.
func TestPtraceStraceThreads(t *testing.T) {
	needTool(t, "strace", "strace")
	script := `d=$(mktemp -d)
strace -ff -q -o $d/tr -e trace=write,exit,exit_group -e signal=none "$0" threads
for f in $d/tr.*; do echo "=== process"; cat $f; done
rm -rf $d`
	_, sb := compare(t, cmpCase{
		argv:  []string{"/bin/sh", "-c", script, cProg(t, "ptrace")},
		norms: []normaliser{straceBlocks},
	})
	if strings.Count(sb.Stdout, "=== process") != 4 {
		t.Errorf("sandbox: want 4 traced threads:\n%s", sb.Stdout)
	}
}

// TestPtraceStraceFull: `strace -f` of the same pipeline, every syscall,
// interleaved on one output: the sandbox serves a few syscalls
// differently from the host (rseq, for one), so the traces are not
// compared line by line; what is checked is what strace -f shows of the
// tracing itself: both children attached, every process's exit, the
// pipeline's output, and strace's success.
func TestPtraceStraceFull(t *testing.T) {
	needTool(t, "strace", "strace")
	r := runSandbox(t, []string{"strace", "-f", "sh", "-c", "echo hi | cat"}, runOpts{})
	if r.Status != 0 {
		t.Fatalf("strace -f: status %d\n%s", r.Status, tail(r.Stderr, 40))
	}
	failed := false
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^execve\("/usr/bin/sh", \["sh", "-c", "echo hi \| cat"\]`),
		// strace's own messages go to the same stream as the trace
		// and may end a pending partial line, natively too.
		regexp.MustCompile(`(?m)strace: Process \d+ attached$`),
		regexp.MustCompile(`(?m)^\[pid +\d+\] execve\("/usr/bin/cat", \["cat"\]`),
		regexp.MustCompile(`(?m)^\[pid +\d+\] write\(1, "hi\\n", 3`),
		regexp.MustCompile(`(?m)^\[pid +\d+\] \+\+\+ exited with 0 \+\+\+$`),
		regexp.MustCompile(`(?m)^\+\+\+ exited with 0 \+\+\+$`),
	} {
		if !want.MatchString(r.Stderr) {
			t.Errorf("strace -f output lacks %s", want)
			failed = true
		}
	}
	if n := len(regexp.MustCompile(`(?m)attached$`).FindAllString(r.Stderr, -1)); n != 2 {
		t.Errorf("strace -f attached %d processes, want 2", n)
		failed = true
	}
	if !strings.Contains(r.Stdout, "hi\n") {
		t.Errorf("the pipeline's output is missing: %q", r.Stdout)
	}
	if failed {
		t.Logf("strace -f's whole output:\n%s", r.Stderr)
	}
}

const crashC = `#include <stdio.h>
static int depth(int *p, int n) {
	if (n == 0)
		return *p;
	return depth(p, n - 1) + 1;
}
int main(void) {
	puts("about to crash");
	fflush(stdout);
	return depth((int *)0, 3);
}
`

// TestPtraceGdbBacktrace: Debian's gdb runs a small static C program
// that crashes, stops it on its SIGSEGV and prints the backtrace, inside
// the sandbox as natively (standard output: the program's, the signal,
// the frames with their arguments and source lines).
func TestPtraceGdbBacktrace(t *testing.T) {
	needTool(t, "gdb", "gdb")
	dir := t.TempDir()
	src := filepath.Join(dir, "crash.c")
	writeFile(t, src, []byte(crashC), 0o644)
	bin := filepath.Join(dir, "crash")
	if out, err := exec.Command("gcc", "-g", "-O0", "-static", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	// stderr is not compared: gdb warns there about what it could not
	// set up (in the sandbox, personality(ADDR_NO_RANDOMIZE), which the
	// sentry does not support).
	_, sb := compare(t, cmpCase{
		argv: []string{"gdb", "-nx", "-batch", "-ex", "run", "-ex", "bt", bin},
		opts: runOpts{Dir: dir},
	})
	for _, want := range []string{"Program received signal SIGSEGV", "#4  ", "in main () at "} {
		if !strings.Contains(sb.Stdout, want) {
			t.Errorf("gdb's output lacks %q:\n%s", want, sb.Stdout)
		}
	}
}
