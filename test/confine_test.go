package test

// The sentry's confinement and the faults it survives (issue 12, items 1,
// 6 and 8), checked from the host's side: what the sentry process is
// allowed (namespaces, root, capabilities, no_new_privs, seccomp,
// descriptors), what happens when it breaks its seccomp filter, and what
// happens when it or one of its stubs is killed. Every other test of this
// package runs the sandbox confined too: confinement is the default.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// liveSandbox is a running `runsc-lite do` whose program printed "ready".
type liveSandbox struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	mu     sync.Mutex
	stderr strings.Builder
	// sentry is the sentry process's host PID.
	sentry int
}

// stderrWriter collects a liveSandbox's stderr.
type stderrWriter struct{ s *liveSandbox }

func (w stderrWriter) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.stderr.Write(b)
}

// startLive starts `runsc-lite do FLAGS -- ARGV` with env added to the
// base environment, and waits (up to a minute) for the program to print
// "ready". The test's cleanup kills whatever is left of it.
func startLive(t *testing.T, flags, env []string, argv ...string) *liveSandbox {
	t.Helper()
	return startLiveIn(t, nil, flags, env, argv...)
}

// startLiveIn is startLive with runsc-lite run by the command prefix
// (ip netns exec NS).
func startLiveIn(t *testing.T, prefix, flags, env []string, argv ...string) *liveSandbox {
	t.Helper()
	needSandbox(t)
	full := append(append(append(append([]string(nil), prefix...), runscBin, "do"), sandboxFlags(t, flags)...), "--")
	full = append(full, argv...)
	s := &liveSandbox{lines: make(chan string, 64)}
	s.cmd = exec.Command(full[0], full[1:]...)
	s.cmd.Env = append(append([]string(nil), baseEnv...), env...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Stderr = stderrWriter{s}
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		if s.sentry != 0 && hostAlive(s.sentry) {
			syscall.Kill(s.sentry, syscall.SIGKILL)
		}
		s.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	select {
	case l, ok := <-s.lines:
		if !ok || l != "ready" {
			t.Fatalf("%q: first line %q, want ready; stderr:\n%s", argv, l, s.errText())
		}
	case <-time.After(time.Minute):
		t.Fatalf("%q never printed ready; stderr:\n%s", argv, s.errText())
	}
	s.sentry = sentryPID(t, s.cmd.Process.Pid)
	return s
}

func (s *liveSandbox) errText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// next returns the program's next line of output (false after a minute or
// at the end).
func (s *liveSandbox) next() (string, bool) {
	select {
	case l, ok := <-s.lines:
		return l, ok
	case <-time.After(time.Minute):
		return "", false
	}
}

// finish closes the program's stdin and returns runsc-lite's exit status
// and the rest of the program's output.
func (s *liveSandbox) finish(t *testing.T) (int, string) {
	t.Helper()
	s.stdin.Close()
	hung := time.AfterFunc(2*time.Minute, func() {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		syscall.Kill(s.sentry, syscall.SIGKILL)
	})
	defer hung.Stop()
	var rest []string
	for l := range s.lines {
		rest = append(rest, l)
	}
	err := s.cmd.Wait()
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		ws := ee.Sys().(syscall.WaitStatus)
		status = ws.ExitStatus()
		if ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
	} else if err != nil {
		t.Fatalf("waiting for runsc-lite: %v", err)
	}
	return status, strings.Join(rest, "\n")
}

// statusFields returns the "Key:\tvalue" fields of /proc/PID/status.
func statusFields(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading /proc/%d/status: %v", pid, err)
	}
	return keyValues(string(b))
}

// nsOf returns process pid's namespace of kind (mnt, pid, ...) as
// "kind:[inode]".
func nsOf(t *testing.T, pid int, kind string) string {
	t.Helper()
	p := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
	if pid == 0 {
		p = "/proc/self/ns/" + kind
	}
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("readlink %s: %v", p, err)
	}
	return l
}

// sentryCaps is the capability mask the confined sentry keeps, as
// ARCHITECTURE.md documents it: run by root, CAP_DAC_OVERRIDE and
// CAP_FOWNER, and CAP_SYS_PTRACE where Yama's ptrace_scope is 2 or more;
// run by another user, none.
func sentryCaps() string {
	if os.Geteuid() != 0 {
		return "0000000000000000"
	}
	mask := uint64(1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_FOWNER)
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n >= 2 {
			mask |= 1 << unix.CAP_SYS_PTRACE
		}
	}
	return fmt.Sprintf("%016x", mask)
}

// confinedNamespaces are the namespaces the confined sentry does not
// share with the host (the user namespace it does share: the sentry is
// the host's root, without the capabilities).
var confinedNamespaces = []string{"mnt", "pid", "ipc", "uts", "net"}

// TestConfinementPosture (item 1): seen from the host, the sentry of a
// default sandbox runs under its seccomp filter (Seccomp: 2) with
// no_new_privs, holds only the documented capabilities in every set, is
// in mount, PID, IPC, UTS and network namespaces of its own, and its root
// and working directory are an empty directory; its stubs hold no
// capability at all, are under their own filter and share the sentry's
// namespaces. Escaped would be any capability beyond the documented ones,
// no filter, a namespace shared with the host, or a host file visible
// through the sentry's root.
func TestConfinementPosture(t *testing.T) {
	s := startLive(t, nil, nil, cProg(t, "probe"), "block")
	st := statusFields(t, s.sentry)
	want := map[string]string{
		"Seccomp": "2", "NoNewPrivs": "1",
		"CapEff": sentryCaps(), "CapPrm": sentryCaps(), "CapBnd": sentryCaps(),
		"CapInh": "0000000000000000", "CapAmb": "0000000000000000",
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("sentry %d: %s: %s, want %s", s.sentry, k, st[k], v)
		}
	}
	for _, ns := range confinedNamespaces {
		if got, host := nsOf(t, s.sentry, ns), nsOf(t, 0, ns); got == host {
			t.Errorf("sentry %d shares the host's %s namespace %s", s.sentry, ns, got)
		}
	}
	for _, dir := range []string{"root", "cwd"} {
		p := fmt.Sprintf("/proc/%d/%s", s.sentry, dir)
		ents, err := os.ReadDir(p)
		if err != nil {
			t.Errorf("reading the sentry's %s %s: %v", dir, p, err)
		}
		if len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("the sentry's %s is not empty: %v", dir, names)
		}
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/etc/passwd", s.sentry)); err == nil {
		t.Errorf("the host's /etc/passwd is visible through the sentry's root")
	}
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p == "" || p == "ptrace" {
		stubs := hostChildrenNamed(t, s.sentry, "runsc-lite-stub")
		if len(stubs) == 0 {
			t.Fatalf("the sentry %d has no stub children", s.sentry)
		}
		for _, stub := range stubs {
			st := statusFields(t, stub)
			for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"} {
				if st[k] != "0000000000000000" {
					t.Errorf("stub %d: %s: %s, want no capability", stub, k, st[k])
				}
			}
			if st["Seccomp"] != "2" || st["NoNewPrivs"] != "1" {
				t.Errorf("stub %d: Seccomp %s NoNewPrivs %s, want 2 and 1", stub, st["Seccomp"], st["NoNewPrivs"])
			}
			for _, ns := range confinedNamespaces {
				if got, sentry := nsOf(t, stub, ns), nsOf(t, s.sentry, ns); got != sentry {
					t.Errorf("stub %d: %s namespace %s, the sentry's is %s", stub, ns, got, sentry)
				}
			}
		}
	}
	if status, _ := s.finish(t); status != 0 {
		t.Errorf("status %d; stderr:\n%s", status, s.errText())
	}
}

// TestConfinementDescriptors (item 1): the confined sentry holds only the
// descriptors it needs: stdio (and its own duplicates of them), the memory
// file, the status pipe to runsc-lite, the root's and the volume's
// directories and files under them that the program opened, the Go
// runtime's poller and cgroup CPU-limit files, pidfds of the stubs (KVM:
// /dev/kvm, the VM and its vCPUs). runsc-lite is given a descriptor of a
// host file it must not pass on. Escaped would be any other host file or
// descriptor in the sentry.
func TestConfinementDescriptors(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	vol := filepath.Join(dir, "vol")
	for _, d := range []string{root, vol} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prog, err := os.ReadFile(cProg(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "probe"), prog, 0o755)
	writeFile(t, filepath.Join(vol, "f"), []byte("in the volume\n"), 0o644)

	// A host file that runsc-lite inherits without close-on-exec: the
	// sentry must not have it.
	leak, err := os.Open("/etc/hostname")
	if err != nil {
		leak, err = os.Open("/etc/passwd")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	if _, err := unix.FcntlInt(leak.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	s := startLive(t, []string{"--root", root, "--volume", vol + ":/vol"}, nil, "/probe", "block")
	defer unix.CloseOnExec(int(leak.Fd()))

	launcherPipes := map[string]bool{}
	launcherStdio := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	for _, e := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", s.cmd.Process.Pid, e.Name()))
		if err != nil {
			continue
		}
		if strings.HasPrefix(l, "pipe:") {
			launcherPipes[l] = true
		}
		if e.Name() == "0" || e.Name() == "1" || e.Name() == "2" {
			launcherStdio[l] = true
		}
	}
	documented := func(target string) string {
		switch {
		case launcherStdio[target]:
			return "stdio"
		case target == "/memfd:runsc-lite-memory (deleted)":
			return "the memory file"
		case launcherPipes[target]:
			return "the status pipe"
		case target == root || target == vol:
			return "the root or the volume"
		case strings.HasPrefix(target, root+"/") || strings.HasPrefix(target, vol+"/"):
			return "a file the program opened"
		case target == "anon_inode:[pidfd]":
			return "a stub thread's pidfd"
		case target == "anon_inode:[eventpoll]", target == "anon_inode:[eventfd]":
			return "the Go runtime's poller"
		case strings.HasPrefix(filepath.Base(target), "cpu.") && (strings.Contains(target, "cpu.max") || strings.Contains(target, "cpu.cfs_")):
			return "the Go runtime's cgroup CPU limit"
		case target == "/dev/kvm", strings.HasPrefix(target, "anon_inode:kvm-"):
			return "the KVM platform"
		}
		return ""
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.sentry))
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range ents {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", s.sentry, e.Name()))
		if err != nil {
			continue
		}
		all = append(all, e.Name()+" -> "+l)
		if documented(l) == "" {
			t.Errorf("the sentry holds descriptor %s -> %s, which is none of the documented ones", e.Name(), l)
		}
	}
	sort.Strings(all)
	if t.Failed() {
		t.Logf("the sentry's descriptors:\n%s", strings.Join(all, "\n"))
	}
	if status, _ := s.finish(t); status != 0 {
		t.Errorf("status %d; stderr:\n%s", status, s.errText())
	}
}

// TestConfinementCapabilitiesNeeded (item 1): each capability the sentry
// keeps is needed, and enough. A volume holds files and directories that
// another user owns; as root, natively and in the sandbox, a shell writes
// into that user's directory, reads that user's private file and
// directory (CAP_DAC_OVERRIDE), changes the mode and times of that user's
// file (CAP_FOWNER) and gives a file away (which needs no capability: the
// owner stays in the sentry's view, the host file keeps its owner): the
// outputs must be the same. Then, with each kept capability taken away
// (RUNSC_LITE_DROP_CAPS, a test knob that can only drop more), the
// operation that needs it must fail: if none did, the capability would not
// be needed and should not be kept.
func TestConfinementCapabilitiesNeeded(t *testing.T) {
	needSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes files that another user owns")
	}
	dir := filepath.Join(t.TempDir(), "vol")
	setup := func() {
		os.RemoveAll(dir)
		for _, d := range []struct {
			path string
			mode os.FileMode
			uid  int
		}{{dir, 0o755, 0}, {dir + "/other", 0o755, 1000}, {dir + "/other/private", 0o700, 1000}} {
			if err := os.Mkdir(d.path, d.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(d.path, d.mode)
			if err := os.Chown(d.path, d.uid, d.uid); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []struct {
			path string
			mode os.FileMode
			uid  int
		}{{dir + "/other/secret", 0o600, 1000}, {dir + "/other/private/f", 0o600, 1000}, {dir + "/other/file", 0o644, 1000}, {dir + "/mine", 0o644, 0}} {
			writeFile(t, f.path, []byte("contents of "+filepath.Base(f.path)+"\n"), f.mode)
			if err := os.Chown(f.path, f.uid, f.uid); err != nil {
				t.Fatal(err)
			}
		}
	}
	script := `cd "$1" || exit 1
echo data > other/new && echo "create in another user's directory: ok"
cat other/secret other/private/f
chmod 640 other/file && stat -c "chmod: %a" other/file
touch -d @1000000000 other/file && stat -c "touch: %Y" other/file
chown 2000:2000 mine && stat -c "chown: %u:%g" mine
true`
	argv := []string{"/bin/sh", "-c", script, "sh", dir}
	setup()
	native := runNative(t, argv, runOpts{})
	for _, line := range []string{"create in another user's directory: ok", "contents of secret", "contents of f", "chmod: 640", "touch: 1000000000", "chown: 2000:2000"} {
		if !strings.Contains(native.Stdout, line+"\n") {
			t.Fatalf("native run lacks %q (the test is wrong):\n%s\nstderr:\n%s", line, native.Stdout, native.Stderr)
		}
	}
	flags := []string{"--volume", dir + ":" + dir}
	setup()
	sb := runSandbox(t, argv, runOpts{Flags: flags})
	if sb.Stdout != native.Stdout || sb.Status != native.Status {
		t.Errorf("the confined sandbox's root does less to a volume than the host's root (- native, + sandbox):\n%s\nstderr:\n%s", diff(native.Stdout, sb.Stdout), sb.Stderr)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir+"/mine", &st); err != nil || st.Uid != 0 {
		t.Errorf("the sandbox's chown reached the host file (uid %d, %v): the owner rule keeps it in the sentry", st.Uid, err)
	}
	for capName, needs := range map[string][]string{
		"CAP_DAC_OVERRIDE": {"create in another user's directory: ok", "contents of secret", "contents of f"},
		"CAP_FOWNER":       {"chmod: 640", "touch: 1000000000"},
	} {
		setup()
		r := runSandbox(t, argv, runOpts{Flags: flags, Env: append(append([]string(nil), baseEnv...), "RUNSC_LITE_DROP_CAPS="+capName)})
		for _, line := range needs {
			if strings.Contains(r.Stdout, line+"\n") {
				t.Errorf("without %s, the sandbox still did %q: the capability is not needed for it", capName, line)
			}
		}
		if r.Status != 0 {
			t.Errorf("without %s: status %d\nstderr:\n%s", capName, r.Status, r.Stderr)
		}
	}
}

// seccompDenyFor is a syscall the confined sentry surely makes soon
// after start-up on the platform under test: taking it out of the
// allow-list (RUNSC_LITE_SECCOMP_DENY) makes a violation happen.
func seccompDenyFor() (name, number string) {
	switch os.Getenv("RUNSC_LITE_TEST_PLATFORM") {
	case "kvm":
		return "ioctl", "16"
	case "systrap":
		// Its start-up self-test opens pidfds before the filter; every
		// new stub thread is sent SIGCONT through its pidfd.
		return "pidfd_send_signal", "424"
	}
	return "pidfd_open", "434" // the first stub thread's pidfd
}

// kmsgReadable reports whether the kernel log can be read here (it is
// where the kernel records seccomp violations).
func kmsgReadable() bool {
	f, err := os.OpenFile("/dev/kmsg", os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// TestSeccompViolation (item 1): a sentry that makes a host syscall
// outside its allow-list is killed at once (SECCOMP_RET_KILL_PROCESS),
// and runsc-lite says so, naming the syscall from the kernel's audit
// record. The violation is provoked by taking a syscall the sentry makes
// out of the allow-list (RUNSC_LITE_SECCOMP_DENY, a test knob that can
// only make the filter stricter). Escaped would be the sentry going on
// after the refused call (the program's own status, 0).
func TestSeccompViolation(t *testing.T) {
	name, no := seccompDenyFor()
	env := append(append([]string(nil), baseEnv...), "RUNSC_LITE_SECCOMP_DENY="+name)
	r := runSandbox(t, []string{"/bin/true"}, runOpts{Env: env})
	if r.Status != 128+int(unix.SIGSYS) {
		t.Errorf("status %d, want %d (the sentry killed by SIGSYS)\nstderr:\n%s", r.Status, 128+int(unix.SIGSYS), r.Stderr)
	}
	if !strings.Contains(r.Stderr, "violated its seccomp filter and was killed (SIGSYS)") {
		t.Errorf("runsc-lite does not say the sentry violated its seccomp filter:\n%s", r.Stderr)
	}
	if want := "syscall " + no + " (" + name + ")"; kmsgReadable() && !strings.Contains(r.Stderr, want) {
		t.Errorf("runsc-lite does not name the syscall (%s), which the kernel log records:\n%s", want, r.Stderr)
	}
}

// TestSeccompLogOnly (item 1): with --debug --seccomp-log the filter only
// logs what it would refuse: the program runs to its end, and runsc-lite
// lists the refused syscalls from the kernel log. Without --debug the
// flag is refused. Failed would be a killed sentry, or a violation not
// reported.
func TestSeccompLogOnly(t *testing.T) {
	name, no := seccompDenyFor()
	env := append(append([]string(nil), baseEnv...), "RUNSC_LITE_SECCOMP_DENY="+name)
	r := runSandbox(t, []string{"/bin/echo", "ran"}, runOpts{Env: env, Flags: []string{"--debug", "--seccomp-log"}})
	if r.Status != 0 || r.Stdout != "ran\n" {
		t.Errorf("status %d stdout %q, want 0 and \"ran\"\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 30))
	}
	if !strings.Contains(r.Stderr, "log-only mode") {
		t.Errorf("no warning that the filter only logs:\n%s", tail(r.Stderr, 30))
	}
	if want := "the sentry made syscall " + no + " (" + name + ")"; kmsgReadable() && !strings.Contains(r.Stderr, want) {
		t.Errorf("the refused syscall is not reported (%q):\n%s", want, tail(r.Stderr, 30))
	}
	if r := runSandbox(t, []string{"/bin/true"}, runOpts{Flags: []string{"--seccomp-log"}}); r.Status != 2 || !strings.Contains(r.Stderr, "--debug") {
		t.Errorf("--seccomp-log without --debug: status %d, stderr %q; want 2 and a word about --debug", r.Status, r.Stderr)
	}
}

// TestUnconfined: --unconfined runs the sentry in the host's namespaces
// without a filter, and says so. Failed would be a silent --unconfined.
func TestUnconfined(t *testing.T) {
	s := startLive(t, []string{"--unconfined"}, nil, cProg(t, "probe"), "block")
	if st := statusFields(t, s.sentry); st["Seccomp"] != "0" {
		t.Errorf("--unconfined sentry: Seccomp %s, want 0", st["Seccomp"])
	}
	if got, host := nsOf(t, s.sentry, "mnt"), nsOf(t, 0, "mnt"); got != host {
		t.Errorf("--unconfined sentry: mount namespace %s, the host's is %s", got, host)
	}
	if status, _ := s.finish(t); status != 0 {
		t.Errorf("status %d\nstderr:\n%s", status, s.errText())
	}
	if !strings.Contains(s.errText(), "warning: --unconfined") {
		t.Errorf("--unconfined printed no warning:\n%s", s.errText())
	}
}

// TestSentryKilledLeavesNoStub (item 8): SIGKILL of the sentry process
// itself ends every stub, and runsc-lite reports the sentry's death.
// The sentry is PID 1 of its PID namespace: the kernel kills the
// namespace with it, and the sentry's exit waits until every process of
// the namespace is gone, so no stub may be alive once runsc-lite has
// reaped the sentry. That is checked then, not after a fixed 100 ms,
// which a loaded host could exceed (the dying stubs need CPU time to
// exit). Escaped would be a stub process still alive after that.
func TestSentryKilledLeavesNoStub(t *testing.T) {
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p != "" && p != "ptrace" && p != "systrap" {
		t.Skipf("platform %s has no stub processes", p)
	}
	s := startLive(t, nil, nil, "/bin/sh", "-c", "sleep 30 & sleep 30 & echo ready; wait")
	var stubs []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stubs = hostChildrenNamed(t, s.sentry, "runsc-lite-stub")
		if len(stubs) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if len(stubs) == 0 {
		t.Fatalf("the sentry %d has no stubs", s.sentry)
	}
	if err := syscall.Kill(s.sentry, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, _ := s.finish(t)
	gone := time.Since(start)
	var alive []int
	for _, p := range stubs {
		if hostAlive(p) {
			alive = append(alive, p)
		}
	}
	if len(alive) != 0 {
		t.Errorf("stubs %v of %v still alive after runsc-lite reaped the killed sentry (%v after the SIGKILL)", alive, stubs, gone)
	}
	t.Logf("%d stubs gone, the sentry reaped %v after its SIGKILL", len(stubs), gone)
	if status != 128+int(syscall.SIGKILL) || !strings.Contains(s.errText(), "was killed by SIGKILL") {
		t.Errorf("runsc-lite: status %d, stderr %q; want 137 and the sentry's death reported", status, s.errText())
	}
}

// TestStubKilledFromHost (item 8): kill -9 from the host of the stubs
// running one process of the sandbox ends only that process, with
// SIGKILL; kill -9 of the zygote stub (the one every address space's stub
// is forked from) ends nothing: the sandbox goes on and still starts
// processes. Failed would be the sentry or the shell dying, or the process
// ending any other way.
func TestStubKilledFromHost(t *testing.T) {
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p != "" && p != "ptrace" && p != "systrap" {
		t.Skipf("platform %s has no stub processes", p)
	}
	// "started" only once the child runs sleep (its comm, read by a
	// builtin, so no other process is made meanwhile): before, the new
	// stubs would be those of the shell's child before its exec, and
	// killing them would miss the sleep (the test failed so, now and then).
	script := `echo ready; read go; /bin/sleep 1000 & p=$!; c=; while [ "$c" != sleep ]; do read -r c < /proc/$p/comm; done; echo started; wait $p; echo "sleep: $?"; read go; /bin/echo "still forking"; echo done`
	s := startLive(t, nil, nil, "/bin/sh", "-c", script)
	stubSet := func() map[int]bool {
		m := map[int]bool{}
		for _, p := range hostChildrenNamed(t, s.sentry, "runsc-lite-stub") {
			m[p] = true
		}
		return m
	}
	before := stubSet()
	io.WriteString(s.stdin, "go\n")
	if l, ok := s.next(); !ok || l != "started" {
		t.Fatalf("got %q, want started; stderr:\n%s", l, s.errText())
	}
	// The sleep's stubs: its stub process and stub thread, new since.
	var mine []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mine = mine[:0]
		for p := range stubSet() {
			if !before[p] {
				mine = append(mine, p)
			}
		}
		if len(mine) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(mine) == 0 {
		t.Fatalf("no new stub appeared for the sleep")
	}
	for _, p := range mine {
		syscall.Kill(p, syscall.SIGKILL)
	}
	if l, ok := s.next(); !ok || l != "sleep: 137" {
		t.Errorf("after kill -9 of the sleep's stubs %v: got %q, want \"sleep: 137\" (killed by SIGKILL); stderr:\n%s", mine, l, s.errText())
	}
	// The zygote: the oldest stub, made before any program ran. Start
	// times count clock ticks, and a stub forked in the zygote's tick
	// (the platform's self-test or auto's probe, pooled and then given
	// to the shell) ties with it: the lower PID, made first, breaks it.
	zygote, oldest := 0, uint64(0)
	for p := range stubSet() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		start, _ := strconv.ParseUint(f[19], 10, 64)
		if zygote == 0 || start < oldest || start == oldest && p < zygote {
			zygote, oldest = p, start
		}
	}
	if zygote != 0 {
		syscall.Kill(zygote, syscall.SIGKILL)
	}
	io.WriteString(s.stdin, "go\n")
	status, rest := s.finish(t)
	if rest != "still forking\ndone" || status != 0 {
		t.Errorf("after kill -9 of the zygote stub %d: output %q status %d, want \"still forking\\ndone\" and 0; stderr:\n%s", zygote, rest, status, s.errText())
	}
}

// TestConfinementRootless (item 1): an unprivileged user's sandbox is
// confined too: its namespaces are made in a user namespace of its own
// that maps the user to themselves, and the sentry, running as that user,
// keeps no capability at all; the program sees the user's own identity.
// Escaped would be a capability, a missing filter, or a shared namespace.
func TestConfinementRootless(t *testing.T) {
	needSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("runs runsc-lite as nobody: needs root to switch users")
	}
	// runsc-lite where nobody can run it.
	dir, err := os.MkdirTemp("", "runsc-lite-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(runscBin)
	if err != nil {
		t.Fatal(err)
	}
	rl := filepath.Join(dir, "runsc-lite")
	writeFile(t, rl, bin, 0o755)
	const nobody = 65534
	cmd := exec.Command(rl, "do", "--", "/bin/sh", "-c", "id -u; id -g; echo ready; read x; true")
	cmd.Dir = "/"
	cmd.Env = baseEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	var got []string
	for len(got) < 3 && sc.Scan() {
		got = append(got, sc.Text())
	}
	if strings.Join(got, " ") != "65534 65534 ready" {
		t.Fatalf("as nobody: output %q, want the ids 65534 65534 then ready; stderr:\n%s", got, stderr.String())
	}
	sentry := sentryPID(t, cmd.Process.Pid)
	st := statusFields(t, sentry)
	for k, v := range map[string]string{
		"Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000", "CapPrm": "0000000000000000",
		"CapBnd": "0000000000000000", "CapInh": "0000000000000000", "CapAmb": "0000000000000000",
	} {
		if st[k] != v {
			t.Errorf("rootless sentry %d: %s: %s, want %s", sentry, k, st[k], v)
		}
	}
	if !strings.HasPrefix(st["Uid"], "65534") {
		t.Errorf("rootless sentry runs as uid %s, want 65534", st["Uid"])
	}
	for _, ns := range append([]string{"user"}, confinedNamespaces...) {
		if got, host := nsOf(t, sentry, ns), nsOf(t, 0, ns); got == host {
			t.Errorf("rootless sentry shares the host's %s namespace", ns)
		}
	}
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p == "" || p == "ptrace" {
		for _, stub := range hostChildrenNamed(t, sentry, "runsc-lite-stub") {
			st := statusFields(t, stub)
			for _, k := range []string{"CapEff", "CapPrm", "CapBnd"} {
				if st[k] != "0000000000000000" {
					t.Errorf("rootless stub %d: %s: %s", stub, k, st[k])
				}
			}
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("rootless sandbox: %v; stderr:\n%s", err, stderr.String())
	}
}

// TestConfinedGetrandomManyThreads: forty processes at once read
// /dev/urandom inside the sandbox, natively and confined. The sentry's Go
// runtime then needs more vDSO getrandom states than its first page holds
// and maps another (MAP_DROPPABLE), a host call made long after start-up
// that only the argument rules of the allow-list can let through. Failed
// would be the sentry killed by its filter (status 159).
func TestConfinedGetrandomManyThreads(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/sh", "-c", "for i in $(seq 40); do (head -c 8 /dev/urandom >/dev/null; sleep 1) & done; wait; echo ok"}, stderr: true})
}
