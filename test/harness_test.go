package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// baseEnv is the environment every program gets, natively and in the
// sandbox (runsc-lite passes its own environment to the program). It is
// fixed so that output does not depend on who runs the tests.
var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LANG=C",
	"LC_ALL=C",
	"TZ=UTC",
	"TERM=dumb",
}

// runOpts describes one run of a program.
type runOpts struct {
	// Env replaces baseEnv when non-nil.
	Env []string
	// Dir is the working directory ("" = the test package's directory).
	Dir string
	// Stdin is written to the program's standard input (nil = /dev/null).
	Stdin []byte
	// Stdout, when set, receives standard output instead of a pipe (for
	// tests of output to a file); result.Stdout is then empty.
	Stdout *os.File
	// Flags are runsc-lite flags placed between "do" and "--" (sandbox only).
	Flags []string
	// NoDashDash omits the "--" before the program (sandbox only).
	NoDashDash bool
	// Timeout bounds the run (0 = defaultTimeout).
	Timeout time.Duration
	// onSentry, if set, is told the host PID of the sentry once it is
	// found (runSandboxSampled only).
	onSentry func(pid int)
}

// result is what one run produced.
type result struct {
	Stdout, Stderr string
	// Status is the exit status as a shell reports it: the exit code, or
	// 128+N when the process was killed by signal N.
	Status int
	// DebugLog is the sandbox's debug log (RUNSC_LITE_TEST_DEBUG=1 only).
	DebugLog string
	Elapsed  time.Duration
}

// runNative runs argv directly on the host and returns what it produced.
// It fails the test if the program cannot be started or times out.
func runNative(t *testing.T, argv []string, o runOpts) result {
	t.Helper()
	return run(t, "native", argv, o)
}

// runSandbox runs argv under `runsc-lite do` and returns what it produced
// (Status is runsc-lite's own exit status, which must be the program's).
// It skips the test under RUNSC_LITE_TEST_NATIVE_ONLY=1 and fails it when
// runsc-lite did not build.
func runSandbox(t *testing.T, argv []string, o runOpts) result {
	t.Helper()
	needSandbox(t)
	full := append([]string{runscBin, "do"}, sandboxFlags(t, o.Flags)...)
	var logPath string
	if os.Getenv("RUNSC_LITE_TEST_DEBUG") == "1" {
		logPath = filepath.Join(t.TempDir(), "debug.log")
		full = append(full, "--debug", "--debug-log", logPath)
	}
	if !o.NoDashDash {
		full = append(full, "--")
	}
	full = append(full, argv...)
	r := run(t, "sandbox", full, o)
	if logPath != "" {
		b, _ := os.ReadFile(logPath)
		r.DebugLog = string(b)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("sandbox debug log of %q:\n%s", argv, tail(r.DebugLog, 200))
			}
		})
	}
	return r
}

// runRunsc runs runsc-lite itself with args (no "do" added), for the tests
// of its command line.
func runRunsc(t *testing.T, args []string, o runOpts) result {
	t.Helper()
	needSandbox(t)
	return run(t, "runsc-lite", append([]string{runscBin}, args...), o)
}

// needSandbox skips or fails t when there is no runsc-lite to run.
func needSandbox(t *testing.T) {
	t.Helper()
	if nativeOnly {
		t.Skip("RUNSC_LITE_TEST_NATIVE_ONLY=1: sandbox half skipped")
	}
	if runscBin == "" {
		t.Fatalf("runsc-lite did not build:\n%v", runscBuildErr)
	}
}

// sandboxFlags returns the flags for one sandbox run: the platform chosen
// by RUNSC_LITE_TEST_PLATFORM, then the test's own.
func sandboxFlags(t *testing.T, flags []string) []string {
	var out []string
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p != "" {
		out = append(out, "--platform", p)
	}
	return append(out, flags...)
}

// command builds the exec.Cmd for argv with o's environment, directory and
// timeout, in a process group of its own so that a timeout kills whatever
// it started.
func command(argv []string, o runOpts) (*exec.Cmd, context.Context, context.CancelFunc) {
	timeout := o.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = o.Env
	if cmd.Env == nil {
		cmd.Env = baseEnv
	}
	cmd.Dir = o.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, ctx, cancel
}

func run(t *testing.T, what string, argv []string, o runOpts) result {
	t.Helper()
	cmd, ctx, cancel := command(argv, o)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	} else {
		cmd.Stdout = &stdout
	}
	cmd.Stderr = &stderr
	if o.Stdin != nil {
		cmd.Stdin = bytes.NewReader(o.Stdin)
	}
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	r.Status = exitStatus(t, what, argv, ctx, cmd, err)
	return r
}

// exitStatus turns what Wait returned into a shell-style status, failing
// the test when the program could not run at all or timed out.
func exitStatus(t *testing.T, what string, argv []string, ctx context.Context, cmd *exec.Cmd, err error) int {
	t.Helper()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s run of %q timed out", what, argv)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s run of %q: %v", what, argv, err)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		t.Fatalf("%s run of %q: no wait status", what, argv)
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// normaliser rewrites one program's output before the native and sandboxed
// versions are compared. Each has a name and says why the difference it
// hides is legitimate; README.md lists them all.
type normaliser struct {
	name string
	why  string
	fn   func(string) string
}

// lsColumns re-joins each line of `ls -l` output with single spaces. ls
// pads its columns to the widest value in the listing, so once a field is
// masked (or legitimately differs) the padding of every other line would
// differ with it.
var lsColumns = normaliser{
	name: "lsColumns",
	why:  "ls -l pads columns to the widest value; padding is not what is being compared",
	fn: func(s string) string {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = strings.Join(strings.Fields(l), " ")
		}
		return strings.Join(lines, "\n")
	},
}

// lsMaskEntries masks the permission bits (keeping the file type), link
// count, size and date of the named entries of an `ls -l` listing, and
// re-joins columns as lsColumns does. why says why those entries differ.
func lsMaskEntries(why string, names ...string) normaliser {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return normaliser{
		name: "lsMaskEntries(" + strings.Join(names, ",") + ")",
		why:  why,
		fn: func(s string) string {
			lines := strings.Split(s, "\n")
			for i, l := range lines {
				f := strings.Fields(l)
				if len(f) >= 9 && set[f[8]] {
					f[0] = f[0][:1] + "*"
					f[1], f[4], f[5], f[6], f[7] = "*", "*", "*", "*", "*"
				}
				lines[i] = strings.Join(f, " ")
			}
			return strings.Join(lines, "\n")
		},
	}
}

// statDevice masks the "Device:" field of coreutils stat's default output.
var statDevice = normaliser{
	name: "statDevice",
	why:  "the sentry's filesystems have device numbers of their own, as every gVisor-style sandbox does; inode numbers, sizes, modes and times of host files are the host's",
	fn: func(s string) string {
		return regexp.MustCompile(`Device: \S+`).ReplaceAllString(s, "Device: *")
	},
}

// normalise applies ns in order.
func normalise(s string, ns []normaliser) string {
	for _, n := range ns {
		s = n.fn(s)
	}
	return s
}

// cmpCase is one native-versus-sandbox comparison.
type cmpCase struct {
	argv []string
	opts runOpts
	// wantStatus is the exit status expected of both runs.
	wantStatus int
	// stderr also compares standard error (only where it is meaningful:
	// a program's own error messages).
	stderr bool
	// norms are applied to stdout (and stderr) of both runs.
	norms []normaliser
}

// compare runs c natively and in the sandbox, checks both exit with
// c.wantStatus, and diffs their normalised stdout (and stderr when asked).
// The native run is checked first: if it is wrong, the test itself is wrong
// and the sandbox half is not attempted. It returns both results.
func compare(t *testing.T, c cmpCase) (native, sandbox result) {
	t.Helper()
	native = runNative(t, c.argv, c.opts)
	if native.Status != c.wantStatus {
		t.Fatalf("native %q: status %d, want %d (the test is wrong)\nstdout:\n%s\nstderr:\n%s",
			c.argv, native.Status, c.wantStatus, tail(native.Stdout, 40), tail(native.Stderr, 40))
	}
	sandbox = secondRun(t, c.argv, c.opts)
	checkSame(t, c, native, sandbox)
	return native, sandbox
}

// secondRun runs the sandbox half of a comparison; under
// RUNSC_LITE_TEST_NATIVE_ONLY=1 it runs the program natively a second time
// instead, which checks that the comparison itself is deterministic.
func secondRun(t *testing.T, argv []string, o runOpts) result {
	t.Helper()
	if nativeOnly {
		return runNative(t, argv, o)
	}
	return runSandbox(t, argv, o)
}

// checkSame reports every difference between a native and a sandboxed run.
func checkSame(t *testing.T, c cmpCase, native, sandbox result) {
	t.Helper()
	if sandbox.Status != native.Status {
		t.Errorf("%q: sandbox status %d, native %d\nsandbox stderr:\n%s", c.argv, sandbox.Status, native.Status, tail(sandbox.Stderr, 40))
	}
	if d := diff(normalise(native.Stdout, c.norms), normalise(sandbox.Stdout, c.norms)); d != "" {
		t.Errorf("%q: stdout differs (- native, + sandbox; normalised by %s):\n%s\nsandbox stderr:\n%s",
			c.argv, normNames(c.norms), d, tail(sandbox.Stderr, 40))
	}
	if c.stderr {
		if d := diff(normalise(native.Stderr, c.norms), normalise(sandbox.Stderr, c.norms)); d != "" {
			t.Errorf("%q: stderr differs (- native, + sandbox):\n%s", c.argv, d)
		}
	}
}

func normNames(ns []normaliser) string {
	if len(ns) == 0 {
		return "nothing"
	}
	var names []string
	for _, n := range ns {
		names = append(names, n.name)
	}
	return strings.Join(names, ", ")
}

// diff returns a line diff of a and b ("" when equal): a longest common
// subsequence over lines, printing only changed lines with a little
// context, at most 80 lines.
func diff(a, b string) string {
	if a == b {
		return ""
	}
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x)*len(y) > 4_000_000 {
		return fmt.Sprintf("(outputs too long to diff: %d and %d lines; first difference at line %d)", len(x), len(y), firstDiff(x, y)+1)
	}
	// lcs[i][j] = length of the LCS of x[i:] and y[j:].
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out = append(out, "  "+x[i])
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+ "+y[j])
			j++
		default:
			out = append(out, "- "+x[i])
			i++
		}
	}
	// Keep changed lines and two lines of context around them.
	keep := make([]bool, len(out))
	for k, l := range out {
		if !strings.HasPrefix(l, "  ") {
			for c := max(0, k-2); c <= min(len(out)-1, k+2); c++ {
				keep[c] = true
			}
		}
	}
	var res []string
	skipped := false
	for k, l := range out {
		if keep[k] {
			res = append(res, l)
			skipped = false
		} else if !skipped {
			res = append(res, "  ...")
			skipped = true
		}
	}
	if len(res) > 80 {
		res = append(res[:80], fmt.Sprintf("  ... (%d more diff lines)", len(res)-80))
	}
	return strings.Join(res, "\n")
}

func firstDiff(x, y []string) int {
	for i := range x {
		if i >= len(y) || x[i] != y[i] {
			return i
		}
	}
	return len(x)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// writeFile creates path (and its parents) with data and mode, failing t.
func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// setTimes sets the access and modification times of path (not following
// a symlink), so that listings of files a test made are stable.
func setTimes(t *testing.T, path string, atime, mtime time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatalf("utimensat %s: %v", path, err)
	}
}

// treeListing describes every file under dir, one line each, sorted:
// relative path, type, permission bits, size of regular files, target of
// symlinks. It is how a test checks what a run left on the host.
func treeListing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		l := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			l += fmt.Sprintf(" size=%d", fi.Size())
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			l += " -> " + target
		}
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// emptyDir removes everything in dir and leaves it empty.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// openPty returns the master and slave ends of a new pseudo-terminal whose
// window is 40 rows by 100 columns.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (%v): only the ENOTTY cases are tested", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open /dev/pts/%d: %v", n, err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatalf("TIOCSWINSZ: %v", err)
	}
	return m, s
}

// runOnPty runs argv (already prefixed with runsc-lite for a sandbox run)
// with stdin and stdout on a fresh pseudo-terminal and returns what the
// terminal received (with the terminal's \r\n line endings) and the status.
func runOnPty(t *testing.T, what string, argv []string, o runOpts) result {
	t.Helper()
	master, slave := openPty(t)
	defer master.Close()
	cmd, ctx, cancel := command(argv, o)
	defer cancel()
	cmd.Stdin, cmd.Stdout = slave, slave
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		slave.Close()
		t.Fatalf("%s run of %q: %v", what, argv, err)
	}
	slave.Close()
	got := make(chan []byte, 1)
	go func() {
		// Read until the last slave descriptor closes (EIO).
		b, _ := io.ReadAll(master)
		got <- b
	}()
	err := cmd.Wait()
	r := result{Stderr: stderr.String(), Elapsed: time.Since(start)}
	r.Status = exitStatus(t, what, argv, ctx, cmd, err)
	select {
	case b := <-got:
		r.Stdout = string(b)
	case <-time.After(10 * time.Second):
		master.Close()
		r.Stdout = string(<-got)
		t.Errorf("%s run of %q: the terminal stayed open 10s after the program exited", what, argv)
	}
	return r
}

// createFile creates (or truncates) path for writing.
func createFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
}

// readFile returns the contents of path, failing t.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// findSentry returns the host PID of the sentry process started by the
// runsc-lite command with host PID doPID (`runsc-lite do` is a launcher:
// the sandbox's kernel is its child `runsc-lite boot`), or 0 when there
// is none (yet).
func findSentry(doPID int) int {
	for _, kid := range hostChildren(doPID) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", kid))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[1] == "boot" {
			return kid
		}
	}
	return 0
}

// sentryPID is findSentry waiting up to 10 s for the sentry to appear; it
// fails t when it does not.
func sentryPID(t *testing.T, doPID int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if pid := findSentry(doPID); pid != 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("runsc-lite (pid %d) started no sentry process (a child running `runsc-lite boot`)", doPID)
		}
	}
}
