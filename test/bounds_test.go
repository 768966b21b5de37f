package test

// Bounded resources (issue 12, item 4): RLIMIT_DATA, RLIMIT_AS and the
// overcommit heuristic bound brk and mmap; RLIMIT_NPROC per user; the
// sandbox-wide task limit (--pids-limit) stops fork and thread bombs with
// a clean EAGAIN; an exiting address space is torn down at a cost near
// native.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestResourceLimitsVM: c/bounds.c vm. A failure is brk or mmap granting
// what Linux refuses (16 TiB, or past RLIMIT_DATA/RLIMIT_AS).
func TestResourceLimitsVM(t *testing.T) { compareC(t, "bounds", 0, "vm") }

// TestResourceLimitsNproc: c/bounds.c nproc (as root, which it leaves for
// uid 54321). A failure is a fork beyond RLIMIT_NPROC.
func TestResourceLimitsNproc(t *testing.T) {
	needRoot(t)
	compareC(t, "bounds", 0, "nproc")
}

// TestPidsLimit: fork and thread bombs under --pids-limit 200 stop with
// EAGAIN when the sandbox holds 200 tasks (init is one of them), and the
// program, and the sentry, carry on: it prints and exits 0. Escaping the
// limit would show as more than 199 created; a sentry that failed, as a
// non-zero status or missing output.
func TestPidsLimit(t *testing.T) {
	prog := cProg(t, "bomb")
	for _, c := range []struct{ kind, want string }{
		{"procs", "processes: 199 created, then EAGAIN\nreaped 199\n"},
		{"threads", "threads: 199 created, then EAGAIN\n"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			r := runSandbox(t, []string{prog, c.kind, "100000"}, runOpts{Flags: []string{"--pids-limit", "200"}})
			if r.Status != 0 || r.Stdout != c.want {
				t.Fatalf("status %d, want 0\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", r.Status, r.Stdout, c.want, tail(r.Stderr, 20))
			}
		})
	}
}

// hostSysctl reads a numeric /proc/sys value.
func hostSysctl(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// TestPidsLimitDefault: without the flag, a thread bomb stops with a
// clean EAGAIN at the default limit, a thirty-second of what the host can hold
// (between 512 and 16384): long before the host's own limits.
func TestPidsLimitDefault(t *testing.T) {
	host := min(hostSysctl(t, "/proc/sys/kernel/pid_max"), hostSysctl(t, "/proc/sys/kernel/threads-max"))
	limit := min(max(host/32, 512), 16384)
	r := runSandbox(t, []string{cProg(t, "bomb"), "threads", "100000"}, runOpts{Timeout: 5 * time.Minute})
	want := fmt.Sprintf("threads: %d created, then EAGAIN\n", limit-1)
	if r.Status != 0 || r.Stdout != want {
		t.Fatalf("status %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", r.Status, r.Stdout, want, tail(r.Stderr, 20))
	}
	t.Logf("host pid_max/threads-max %d: the default limit is %d tasks; the bomb took %v", host, limit, r.Elapsed.Round(time.Millisecond))
}

// TestPidsLimitFlag: bad values are usage errors.
func TestPidsLimitFlag(t *testing.T) {
	r := runRunsc(t, []string{"do", "--pids-limit", "-2", "--", "/bin/true"}, runOpts{})
	if r.Status != 2 || !strings.Contains(r.Stderr, "--pids-limit") {
		t.Errorf("--pids-limit -2: status %d, stderr %q; want 2 and a one-line message", r.Status, r.Stderr)
	}
	if r := runRunsc(t, []string{"do", "--pids-limit", "-1", "--", "/bin/true"}, runOpts{}); r.Status != 0 {
		t.Errorf("--pids-limit -1 (no limit): status %d, stderr %q", r.Status, r.Stderr)
	}
}

// TestAddressSpaceTeardown: a process that touched 400 MiB exits, natively
// and in the sandbox; the times go to the log (BENCHMARKS.md has the
// figures: no timing assertion on a shared machine). The child's exit must
// work, and the sandbox must report success.
func TestAddressSpaceTeardown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: touches 400 MiB")
	}
	prog := cProg(t, "exitcost")
	native := runNative(t, []string{prog, "400"}, runOpts{})
	sb := runSandbox(t, []string{prog, "400"}, runOpts{Flags: []string{"--total-memory", "1G"}})
	if native.Status != 0 || sb.Status != 0 {
		t.Fatalf("native status %d (%s), sandbox status %d (%s)\n%s", native.Status, native.Stdout, sb.Status, sb.Stdout, tail(sb.Stderr, 20))
	}
	t.Logf("native:  %s", strings.TrimSpace(native.Stdout))
	t.Logf("sandbox: %s", strings.TrimSpace(sb.Stdout))
}
