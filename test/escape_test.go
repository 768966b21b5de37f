package test

// The escape suite (issue 12, item 6): a program inside the sandbox tries
// the ways out an attacker would, and each test says what an escape would
// look like and fails loudly ("ESCAPE: ...") if it happens. The attacker
// is c/escape.c (one case per test); README.md's "Escape suite" table
// lists what every test covers, including the cases other files already
// hold (confine_test.go's host-side posture, hostfiles_test.go's jailbreak,
// descriptor scan and set-ID bits, root_test.go's --root paths,
// pidns_test.go's signals to init, fuzz_test.go's random syscalls).
//
// The whole suite runs in about 7 s (measured with -v here): every race is
// bounded by a fixed number of seconds, not by a count.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// escapeVsyscallXonly is what `escape code` prints for the vsyscall page
// on Linux with vsyscall=xonly, the mode the sandbox implements: the three
// entries run, reading and writing the page and calling elsewhere in it
// fault, a bad pointer faults.
const escapeVsyscallXonly = `vsyscall gettimeofday = 0, within gettimeofday()'s before and after: yes
vsyscall time: returned its result: yes, stored it: yes, within time()'s before and after: yes
vsyscall getcpu = 0, cpu below the number of CPUs: yes, node 0: yes
vsyscall gettimeofday, NULL arguments = 0
vsyscall gettimeofday, a bad pointer: SEGV (SI_KERNEL)
vsyscall misaligned entry +0x10: SEGV (SI_KERNEL)
vsyscall page read: SEGV (SEGV_MAPERR), si_addr the target
vsyscall page write: SEGV (SEGV_MAPERR), si_addr the target
`

// hostVsyscallMode returns the host's vsyscall mode as its own mappings
// show it: "xonly" (an execute-only [vsyscall] page), "emulate" (a
// readable one) or "none" (no page).
func hostVsyscallMode(t *testing.T) string {
	maps := readFile(t, "/proc/self/maps")
	for _, l := range strings.Split(maps, "\n") {
		if strings.HasSuffix(l, "[vsyscall]") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "r") {
				return "emulate"
			}
			return "xonly"
		}
	}
	return "none"
}

// splitVsyscall separates the vsyscall lines of `escape code` output from
// the others.
func splitVsyscall(out string) (others, vsys string) {
	var o, v strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "vsyscall ") {
			v.WriteString(l)
		} else {
			o.WriteString(l)
		}
	}
	return o.String(), v.String()
}

// TestEscapeRawSyscalls: raw `syscall` instructions from fresh RWX pages,
// from pages made executable after being written, from an executable view
// of a shared file written through another view, from the last bytes of a
// page; calls into the ptrace stub's own syscall instruction and int3; the
// vsyscall page. Natively and in the sandbox the output must be the same
// (the vsyscall lines: those of Linux's vsyscall=xonly, which the sandbox
// emulates, when the host runs another mode). Escaped would be a raw call
// answered by the host kernel — a getpid, gettid or nodename that is not
// the one libc's own calls get ("NO (ESCAPE?)") — the stub's syscall
// instruction running anything, or a write to the stub page succeeding.
func TestEscapeRawSyscalls(t *testing.T) {
	prog := cProg(t, "escape")
	native := runNative(t, []string{prog, "code"}, runOpts{})
	if native.Status != 0 {
		t.Fatalf("native escape code: status %d\n%s\n%s", native.Status, native.Stdout, native.Stderr)
	}
	sb := secondRun(t, []string{prog, "code"}, runOpts{})
	if strings.Contains(sb.Stdout, "ESCAPE") || strings.Contains(sb.Stdout, "WRITTEN") || strings.Contains(sb.Stdout, "a syscall ran there") {
		t.Errorf("ESCAPE: a raw syscall or the stub page reached the host:\n%s", sb.Stdout)
	}
	if sb.Status != 0 {
		t.Fatalf("sandbox escape code: status %d\nstdout:\n%s\nstderr:\n%s", sb.Status, sb.Stdout, tail(sb.Stderr, 20))
	}
	nOthers, nVsys := splitVsyscall(native.Stdout)
	sOthers, sVsys := splitVsyscall(sb.Stdout)
	if d := diff(nOthers, sOthers); d != "" {
		t.Errorf("raw syscalls and the stub page differ from native (- native, + sandbox):\n%s", d)
	}
	mode := hostVsyscallMode(t)
	want := escapeVsyscallXonly
	if mode == "xonly" {
		want = nVsys
		if nativeOnly {
			want = escapeVsyscallXonly
		}
	} else {
		t.Logf("the host's vsyscall mode is %s; the sandbox's (xonly) is checked against Linux's documented behaviour", mode)
	}
	if !nativeOnly || mode == "xonly" {
		if d := diff(want, sVsys); d != "" {
			t.Errorf("the vsyscall page is not Linux's vsyscall=xonly (- want, + sandbox):\n%s", d)
		}
	}
}

// TestEscapeLegacySyscalls: int $0x80 and sysenter, the 32-bit syscall
// instructions, and the stub page as a target of mmap, munmap, mprotect
// and madvise. The sandbox serves the 64-bit ABI only and answers int
// $0x80 as a Linux without IA-32 emulation (ia32_emulation=0) does:
// SIGSEGV (SI_KERNEL) at the instruction; sysenter faults in the CPU
// (SIGILL on AMD, whose CPUs refuse it in 64-bit mode; SIGSEGV like int
// $0x80 on Intel's, which run it). The stub page is above the sandbox's
// address space: nothing can be mapped over it or unmapped from it. Only
// in the sandbox: the host here may well run i386 syscalls (its answers
// go to the log). Escaped would be a 32-bit call answered ("returned"),
// or the stub page replaced or unmapped.
func TestEscapeLegacySyscalls(t *testing.T) {
	prog := cProg(t, "escape")
	if n := runNative(t, []string{prog, "legacy"}, runOpts{}); n.Status == 0 {
		t.Logf("natively (for comparison only):\n%s", n.Stdout)
	}
	r := runSandbox(t, []string{prog, "legacy"}, runOpts{})
	if strings.Contains(r.Stdout, "returned") {
		t.Errorf("ESCAPE: a 32-bit syscall was answered in the sandbox:\n%s", r.Stdout)
	}
	want := `mmap MAP_FIXED over the stub page = -1 ENOMEM
munmap the stub page = -1 EINVAL
mprotect the stub page = -1 ENOMEM
madvise MADV_DONTNEED the stub page = -1 ENOMEM
then a call into the stub's syscall instruction: SEGV (SEGV_MAPERR), si_addr the target
then new memory still works: yes
int $0x80 getpid: SEGV (SI_KERNEL)
int $0x80 uname: SEGV (SI_KERNEL)
`
	got, last, _ := strings.Cut(r.Stdout, "sysenter getpid: ")
	if r.Status != 0 || got != want {
		t.Errorf("status %d (- want, + sandbox):\n%s\nstderr:\n%s", r.Status, diff(want, got), tail(r.Stderr, 20))
	}
	if last != "ILL (ILL_ILLOPN)\n" && last != "SEGV (SI_KERNEL)\n" {
		t.Errorf("sysenter: %q, want SIGILL (ILL_ILLOPN) or SIGSEGV (SI_KERNEL)", last)
	}
}

// TestEscapeSystrapStub: calls into the systrap platform's stub code (its
// futex, arch_prctl, rt_sigreturn, sched_yield and bootstrap syscall
// instructions, which its seccomp filter allows only with the stub's own
// arguments, and
// its handler and restorer, from a child), then forged message pages (the
// state word set to "event", a signal number and frame pointers of the
// program's choosing, a futex wake), on systrap and on ptrace. Each
// syscall instruction must fault as natively, where nothing is mapped
// there; the child may die but its parent and the sandbox go on; getpid
// is still the sandbox's. Escaped would be a syscall answered by the host
// ("a syscall ran there") or the sandbox failing.
func TestEscapeSystrapStub(t *testing.T) {
	prog := cProg(t, "escape")
	native := runNative(t, []string{prog, "systrap"}, runOpts{})
	if native.Status != 0 {
		t.Fatalf("native escape systrap: status %d\n%s\n%s", native.Status, native.Stdout, native.Stderr)
	}
	for _, p := range []string{"systrap", "ptrace"} {
		r := runSandbox(t, []string{prog, "systrap"}, runOpts{Flags: []string{"--platform", p}})
		t.Logf("--platform=%s: %s", p, strings.TrimSpace(r.Stderr))
		if strings.Contains(r.Stdout, "a syscall ran there") {
			t.Errorf("ESCAPE on %s: a syscall ran in the stub's code:\n%s", p, r.Stdout)
		}
		if r.Status != 0 {
			t.Errorf("--platform=%s: status %d\nstdout:\n%s\nstderr:\n%s", p, r.Status, r.Stdout, tail(r.Stderr, 20))
			continue
		}
		if d := diff(native.Stdout, r.Stdout); d != "" {
			t.Errorf("--platform=%s differs from native (- native, + sandbox):\n%s", p, d)
		}
	}
}

// TestEscapeExecutableWrites: the running program opens /proc/self/exe and
// its own path for writing, truncates them, has a child try, and executes
// a copy of itself still open for writing: ETXTBSY everywhere, as Linux
// answers. Run from the host root (the overlay) and from a writable
// volume, compared with native. Escaped would be the program's file on
// the host changed (its bytes are compared after the volume run).
func TestEscapeExecutableWrites(t *testing.T) {
	compareC(t, "escape", 0, "exe")
	dir := t.TempDir()
	prog, err := os.ReadFile(cProg(t, "escape"))
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "escape")
	writeFile(t, copyPath, prog, 0o755)
	compare(t, cmpCase{argv: []string{copyPath, "exe"}, opts: runOpts{Flags: []string{"--volume", dir + ":" + dir}}, stderr: true})
	after, err := os.ReadFile(copyPath)
	if err != nil || string(after) != string(prog) {
		t.Errorf("ESCAPE: the program's file on the volume changed on the host (%d bytes, was %d; %v)", len(after), len(prog), err)
	}
}

// hostPIDFree returns a PID no host process has (for a control target).
func hostPIDFree(t *testing.T) int {
	max := 32768
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			max = n
		}
	}
	for p := max - 1; p > max/2; p-- {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); os.IsNotExist(err) {
			return p
		}
	}
	t.Fatal("no free host PID")
	return 0
}

// hostState returns the State letter of host process pid ("" if gone).
func hostState(pid int) string {
	st, ok := hostStatusField(pid, "State")
	if !ok || st == "" {
		return ""
	}
	return st[:1]
}

// TestEscapeHostPIDs: a program in the sandbox aims kill (0, SIGSTOP,
// SIGKILL, its group), tgkill, tkill, rt_sigqueueinfo, pidfd_open,
// ptrace ATTACH and SEIZE, process_vm_readv/writev, /proc/PID/mem and
// status, setpriority, sched_setaffinity, prlimit, getpgid, getsid, kcmp,
// ioprio_set and waitid at host PIDs: a decoy process the test started,
// the test itself, runsc-lite, the sentry and the sentry's stubs. Each
// must get exactly what a PID that exists nowhere gets (the control, a
// free host PID): the host's processes are not there. Escaped would be
// any answer that differs from the control's, or (checked from the host)
// a host process stopped or killed.
func TestEscapeHostPIDs(t *testing.T) {
	decoy := exec.Command("sleep", "300")
	decoy.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		decoy.Process.Kill()
		decoy.Wait()
	}()
	s := startLive(t, nil, nil, cProg(t, "escape"), "pids")
	targets := map[string]int{
		"decoy": decoy.Process.Pid, "test": os.Getpid(), "runsc-lite": s.cmd.Process.Pid,
		"sentry": s.sentry, "control": hostPIDFree(t),
	}
	var stubs []int
	if p := os.Getenv("RUNSC_LITE_TEST_PLATFORM"); p == "" || p == "ptrace" {
		stubs = hostChildrenNamed(t, s.sentry, "runsc-lite-stub")
		if len(stubs) == 0 {
			t.Fatalf("the sentry %d has no stubs", s.sentry)
		}
		for i, p := range stubs {
			targets[fmt.Sprintf("stub%d", i)] = p
		}
	}
	var line []string
	for name, pid := range targets {
		line = append(line, fmt.Sprintf("%s:%d", name, pid))
	}
	sort.Strings(line)
	fmt.Fprintln(s.stdin, strings.Join(line, " "))
	var lines []string
	for {
		l, ok := s.next()
		if !ok {
			t.Fatalf("the program ended before \"done\":\n%s\nstderr:\n%s", strings.Join(lines, "\n"), s.errText())
		}
		if l == "done" {
			break
		}
		lines = append(lines, l)
	}
	out := strings.Join(lines, "\n")
	// While the sandbox still runs: every host process it aimed at is
	// alive, and not stopped (but the stubs, which the sentry keeps in
	// ptrace stops between runs).
	for name, pid := range targets {
		if name == "control" {
			continue
		}
		st := hostState(pid)
		if strings.HasPrefix(name, "stub") && (st == "t" || st == "T") {
			st = "alive"
		}
		if st == "" || st == "Z" || st == "T" || st == "t" {
			t.Errorf("ESCAPE: host process %d (%s) is in state %q after the sandbox aimed signals and ptrace at it", pid, name, st)
		}
	}
	if status, _ := s.finish(t); status != 0 {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, out, s.errText())
	}
	// Each target's answers, with its name taken off, against the
	// control's.
	answers := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(l, ": ")
		if ok {
			answers[name] = append(answers[name], rest)
		}
	}
	control := strings.Join(answers["control"], "\n")
	if len(answers["control"]) < 20 {
		t.Fatalf("the control PID got too few answers:\n%s", out)
	}
	for name := range targets {
		got := strings.Join(answers[name], "\n")
		if got == "a sandbox process has the same pid; skipped" {
			t.Logf("%s's host PID %d is also a PID of the sandbox's: not tested", name, targets[name])
			continue
		}
		if d := diff(control, got); d != "" {
			t.Errorf("ESCAPE: host PID %d (%s) answers differently from a PID that exists nowhere (- control, + %s):\n%s", targets[name], name, name, d)
		}
	}
}

// TestEscapeKillAll: kill(-1, SIGKILL) from a child of the sandbox's init
// kills every other process of the sandbox — a sibling sleeping, the
// caller's own child — and not init or the caller, as in a Linux PID
// namespace; a host process of the same user (a decoy the test started)
// lives on, and so does the sentry (the sandbox ends normally, with
// init's status). Escaped would be the decoy killed, or the sandbox
// killed whole.
func TestEscapeKillAll(t *testing.T) {
	decoy := exec.Command("sleep", "300")
	decoy.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		decoy.Process.Kill()
		decoy.Wait()
	}()
	r := runSandbox(t, []string{"/bin/sh", "-c", `sleep 100 & s=$!; ` + cProg(t, "escape") + ` killall; wait $s; echo "sibling: $?"; echo init alive; exit 3`}, runOpts{})
	want := "kill(-1, SIGKILL) = 0\nour own child: killed by SIGKILL\nthe caller: still running\nsibling: 137\ninit alive\n"
	if r.Status != 3 || r.Stdout != want {
		t.Errorf("status %d (want init's 3)\nstdout (- want, + sandbox):\n%s\nstderr:\n%s", r.Status, diff(want, r.Stdout), tail(r.Stderr, 20))
	}
	if st := hostState(decoy.Process.Pid); st == "" || st == "Z" {
		t.Errorf("ESCAPE: the sandbox's kill(-1, SIGKILL) killed the host process %d", decoy.Process.Pid)
	}
}

// escapeTree is a host directory laid out for the path tests: root/ (the
// --root, holding the escape program), vol/ (the --volume), and marker, a
// host file outside both with random contents.
type escapeTree struct {
	dir, root, vol, marker string
	markerBytes            string
}

func newEscapeTree(t *testing.T) *escapeTree {
	t.Helper()
	d := t.TempDir()
	e := &escapeTree{dir: d, root: filepath.Join(d, "root"), vol: filepath.Join(d, "vol"), marker: filepath.Join(d, "marker")}
	prog, err := os.ReadFile(cProg(t, "escape"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.root, "escape"), prog, 0o755)
	if err := os.Mkdir(e.vol, 0o755); err != nil {
		t.Fatal(err)
	}
	e.markerBytes = fmt.Sprintf("host marker %d %d, outside the sandbox", os.Getpid(), time.Now().UnixNano())
	writeFile(t, e.marker, []byte(e.markerBytes), 0o644)
	return e
}

func (e *escapeTree) flags() []string {
	return []string{"--root", e.root, "--volume", e.vol + ":/vol"}
}

// check fails t if anything outside the volume changed on the host: the
// marker's bytes, the entries of the tree's directory and of the root.
func (e *escapeTree) check(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(e.marker); err != nil || string(b) != e.markerBytes {
		t.Errorf("ESCAPE: the host marker %s was changed or removed (%q, %v)", e.marker, b, err)
	}
	for dir, want := range map[string]string{e.dir: "marker root vol", e.root: "escape"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, en := range ents {
			names = append(names, en.Name())
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("ESCAPE: the host directory %s outside the volume now holds %q, want %q", dir, got, want)
		}
	}
}

// TestEscapePathRaces: for a bounded time (4 s), threads of a program in
// a --root sandbox with a volume rename directories out from under
// walkers (one working from a moving directory, one from a held
// descriptor of it), swap directories and symlinks to "..", "../..", "/",
// "/.." and the marker's name, and create, link and rename next to where
// the marker is, on the volume and on the root's in-memory layer; the
// test meanwhile exchanges, on the host, a directory of the volume with a
// symlink to the marker's host directory (renameat2 RENAME_EXCHANGE, as
// a second user of the volume could). Escaped would be the marker's bytes
// read inside (the program prints ESCAPE), or the host's directory around
// the root and the volume changed.
func TestEscapePathRaces(t *testing.T) {
	needSandbox(t)
	e := newEscapeTree(t)
	h, alt := filepath.Join(e.vol, "h"), filepath.Join(e.vol, "h.alt")
	if err := os.Mkdir(h, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.dir, alt); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if err := unix.Renameat2(unix.AT_FDCWD, h, unix.AT_FDCWD, alt, unix.RENAME_EXCHANGE); err == nil {
				swaps.Add(1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	const secs = 4
	env := append(append([]string(nil), baseEnv...), "ESCAPE_MARKER_BYTES="+e.markerBytes)
	r := runSandbox(t, []string{"/escape", "race", strconv.Itoa(secs), "marker"}, runOpts{Flags: e.flags(), Dir: "/", Env: env})
	stop.Store(true)
	wg.Wait()
	t.Logf("%s; %d host-side exchanges", strings.TrimSpace(r.Stderr), swaps.Load())
	want := "race: the marker was never read\nrace: attempts made: yes\n"
	if r.Status != 0 || r.Stdout != want {
		t.Errorf("status %d\nstdout (- want, + sandbox):\n%s\nstderr:\n%s", r.Status, diff(want, r.Stdout), tail(r.Stderr, 20))
	}
	if strings.Contains(r.Stdout, "ESCAPE") {
		t.Errorf("ESCAPE: the host marker was read from inside:\n%s", r.Stdout)
	}
	e.check(t)
}

// TestEscapeMounts: bind mounts of the volume's "..", a chroot into the
// volume and climbs out of it through descriptors kept outside, a fresh
// proc's 1/root, pivot_root, unshare and setns, the new mount API,
// open_by_handle_at, devtmpfs, sysfs and host disks, and a detached
// volume's "..": none reaches the marker, a host file beside the volume
// and the root (by its name there, or its host path). (The chroot and
// bind escapes from --root alone are TestJailbreak's.) Escaped would be
// any "REACHED", or the host's directory around them changed.
func TestEscapeMounts(t *testing.T) {
	needSandbox(t)
	e := newEscapeTree(t)
	r := runSandbox(t, []string{"/escape", "mounts", "marker", e.marker}, runOpts{Flags: e.flags(), Dir: "/"})
	t.Logf("inside:\n%s", r.Stdout)
	if strings.Contains(r.Stdout, "REACHED") {
		t.Errorf("ESCAPE: the host marker was reached:\n%s", r.Stdout)
	}
	if n := strings.Count(r.Stdout, ": not reachable\n"); r.Status != 0 || n != 10 {
		t.Errorf("status %d, %d checks done (want 0 and 10)\nstderr:\n%s", r.Status, n, tail(r.Stderr, 20))
	}
	e.check(t)
}

// TestEscapeHostDevices: host device nodes (/dev/mem's 1:1 and
// /dev/kmsg's 1:11, made by the test) and a host FIFO in a volume, opened
// directly (read-only and read-write), by O_PATH and a reopen through
// /proc/self/fd, through a symlink, a hard link and openat2, and after a
// rename: ENXIO every time (O_PATH is allowed: it opens nothing); mknod
// of devices is EPERM. (hostfiles_test.go's TestVolumeHostDevicesAndFIFOs
// checks the plain cases with a shell.) Escaped would be any byte read
// from a host device or FIFO ("ESCAPE: read").
func TestEscapeHostDevices(t *testing.T) {
	needRoot(t)
	needSandbox(t)
	d := t.TempDir()
	for name, dev := range map[string]uint64{"mem": unix.Mkdev(1, 1), "kmsg": unix.Mkdev(1, 11)} {
		if err := unix.Mknod(filepath.Join(d, name), unix.S_IFCHR|0o600, int(dev)); err != nil {
			t.Skipf("cannot make a device node on the host: %v", err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(d, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runSandbox(t, []string{cProg(t, "escape"), "devs", "/dv"}, runOpts{Flags: []string{"--volume", d + ":/dv"}, Timeout: time.Minute})
	var want strings.Builder
	for _, n := range []string{"mem", "kmsg", "fifo"} {
		fmt.Fprintf(&want, `open %[1]s O_RDONLY|O_NONBLOCK = -1 ENXIO
open %[1]s O_RDWR|O_NONBLOCK = -1 ENXIO
open %[1]s O_PATH: ok
reopen %[1]s through /proc/self/fd = -1 ENXIO
open %[1]s through a symlink = -1 ENXIO
link %[1]s = 0
open %[1]s's hard link = -1 ENXIO
openat2 %[1]s = -1 ENXIO
`, n)
	}
	want.WriteString("mknod c 1 1 = -1 EPERM\nmknod b 8 0 = -1 EPERM\nrename mem over a new file = 0\nopen the renamed node = -1 ENXIO\n")
	if strings.Contains(r.Stdout, "ESCAPE") {
		t.Errorf("ESCAPE: a host device or FIFO was read from inside:\n%s", r.Stdout)
	}
	if r.Status != 0 || r.Stdout != want.String() {
		t.Errorf("status %d\nstdout (- want, + sandbox):\n%s\nstderr:\n%s", r.Status, diff(want.String(), r.Stdout), tail(r.Stderr, 20))
	}
}

// TestEscapeDescriptorLeaks: with a volume, a debug log and several
// processes running, a program reads every process's /proc/N/fd and
// /proc/N/maps, /proc/self/map_files of a shared anonymous page, and
// probes descriptors 3-1023 directly: nothing names the sentry's memory
// file, its log, a stub, a pidfd or /dev/kvm, and no descriptor beyond
// stdio is open. (TestNoHostDescriptorsInside compares a fresh program's
// descriptors with native; TestConfinementDescriptors checks the
// sentry's own from the host.) Escaped would be any "LEAK" line.
func TestEscapeDescriptorLeaks(t *testing.T) {
	d := t.TempDir()
	r := runSandbox(t, []string{"/bin/sh", "-c", "sleep 30 & a=$!; sleep 30 & b=$!; " + cProg(t, "escape") + " fds; kill $a $b"},
		runOpts{Flags: []string{"--volume", d + ":/vol", "--debug", "--debug-log", filepath.Join(d, "escape-debug.log")}})
	if strings.Contains(r.Stdout, "LEAK") {
		t.Errorf("ESCAPE: a host descriptor or mapping is reachable from inside:\n%s", r.Stdout)
	}
	if want := "processes looked at: yes\nleaks: 0\n"; r.Status != 0 || r.Stdout != want {
		t.Errorf("status %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", r.Status, r.Stdout, want, tail(r.Stderr, 20))
	}
}

// TestEscapeVolumeFileCapabilities: root inside sets file capabilities
// (security.capability: cap_setuid,cap_sys_admin+ep, what setcap writes),
// a trusted.* and a user.* attribute on a file in a writable volume. The
// sandbox keeps no extended attributes (EOPNOTSUPP) and the host file
// carries none. (Set-ID bits are TestVolumeNoSetIDOnHost's.) Escaped
// would be the host file with security.capability: a privileged program
// for the host to run.
func TestEscapeVolumeFileCapabilities(t *testing.T) {
	needSandbox(t)
	d := t.TempDir()
	f := filepath.Join(d, "prog")
	prog, err := os.ReadFile(cProg(t, "escape"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, prog, 0o755)
	r := runSandbox(t, []string{cProg(t, "escape"), "xattr", f}, runOpts{Flags: []string{"--volume", d + ":" + d}})
	// Volumes carry the host file's own extended attributes (issue 15
	// item 2): user.* is the program's to set where the host filesystem
	// has them; security.* and trusted.* need host capabilities the
	// confined sentry does not hold, so they fail with EPERM.
	userNote := "0"
	probe := filepath.Join(d, "probe")
	writeFile(t, probe, nil, 0o644)
	if err := unix.Setxattr(probe, "user.probe", []byte("x"), 0); err != nil {
		errno, _ := err.(unix.Errno)
		userNote = "-1 " + unix.ErrnoName(errno)
	}
	want := "setxattr security.capability = -1 EPERM\nsetxattr trusted.overlay.opaque = -1 EPERM\nsetxattr user.note = " + userNote + "\n"
	if r.Status != 0 || r.Stdout != want {
		t.Errorf("status %d\nstdout (- want, + sandbox):\n%s", r.Status, diff(want, r.Stdout))
	}
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(f, buf)
	if err != nil && err != unix.ENOTSUP {
		t.Fatal(err)
	}
	for _, name := range strings.Split(string(buf[:max(n, 0)]), "\x00") {
		if name == "security.capability" || strings.HasPrefix(name, "trusted.") {
			t.Errorf("ESCAPE: the host file %s carries the extended attribute %s the sandbox set", f, name)
		}
	}
}
