package test

// Sandbox-only assertions (issue 2, items 5, 7 and 8): what must differ
// from the host by design, and runsc-lite's own command line.

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// keyValues parses "key: value" lines (value trimmed of blanks).
func keyValues(out string) map[string]string {
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			kv[k] = strings.TrimSpace(v)
		}
	}
	return kv
}

func hostUname(t *testing.T) (nodename, release string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Nodename[:]), unix.ByteSliceToString(u.Release[:])
}

// TestIdentity: getpid() is 1, uname is the sandbox's own, and /proc/self
// (exe, maps, status, cmdline, fd/) is served by the sentry.
func TestIdentity(t *testing.T) {
	prog := cProg(t, "procself")
	argv := []string{prog, "first", "second arg", ""}
	hostNode, hostRelease := hostUname(t)

	// The native run checks the program itself.
	native := runNative(t, argv, runOpts{})
	nkv := keyValues(native.Stdout)
	if native.Status != 0 || nkv["nodename"] != hostNode || nkv["exe"] != prog || nkv["fd"] != "0 1 2 3" ||
		nkv["cmdline"] != "["+prog+"] [first] [second arg] []" || nkv["maps names the program"] != "yes" || nkv["/proc/self/auxv is the initial auxv"] != "yes" {
		t.Fatalf("native run of procself is not what the test expects (the test is wrong):\n%s\nstderr:\n%s", native.Stdout, native.Stderr)
	}

	sb := runSandbox(t, argv, runOpts{})
	if sb.Status != 0 {
		t.Fatalf("sandbox: status %d\nstdout:\n%s\nstderr:\n%s", sb.Status, sb.Stdout, sb.Stderr)
	}
	kv := keyValues(sb.Stdout)
	want := map[string]string{
		"getpid":                              "1",
		"gettid":                              "1",
		"getppid":                             "0",
		"sysname":                             "Linux",
		"machine":                             "x86_64",
		"nodename":                            "runsc-lite",
		"exe":                                 prog,
		"AT_SYSINFO_EHDR set":                 "yes",           // the sandbox's own vDSO (sentry/vdso), never the host's
		"AT_HWCAP":                            nkv["AT_HWCAP"], // the host kernel's, whatever bits it cleared
		"/proc/self/auxv is the initial auxv": "yes",
		"maps has [vdso]":                     "yes",
		"maps has [vvar]":                     "yes",
		"maps has [stack]":                    "yes",
		"maps names the program":              "yes",
		"maps has lines":                      "yes",
		"status Pid":                          "1",
		"status PPid":                         "0",
		"status Name":                         "procself",
		"cmdline":                             nkv["cmdline"],
		"argv":                                nkv["argv"],
		"fd":                                  "0 1 2 3",
		"fd dir is":                           "3",
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("sandbox %s = %q, want %q", k, kv[k], v)
		}
	}
	if kv["release"] == "" || kv["release"] == hostRelease {
		t.Errorf("sandbox uname release = %q: want the sandbox's own, not the host's %q", kv["release"], hostRelease)
	}
	if t.Failed() {
		t.Logf("sandbox output:\n%s\nstderr:\n%s", sb.Stdout, tail(sb.Stderr, 40))
	}
}

// TestProcSelfWithRealPrograms reads the sentry's /proc with host tools.
func TestProcSelfWithRealPrograms(t *testing.T) {
	// Equal natively and in the sandbox.
	compare(t, cmpCase{argv: []string{"/bin/ls", "/proc/self/fd"}, stderr: true})
	compare(t, cmpCase{argv: []string{"/bin/readlink", "/proc/self/exe"}, stderr: true})
	compare(t, cmpCase{argv: []string{"/bin/cat", "/proc/self/cmdline"}, stderr: true})

	needSandbox(t)
	r := runSandbox(t, []string{"/bin/cat", "/proc/self/status"}, runOpts{})
	if r.Status != 0 || !regexp.MustCompile(`(?m)^Pid:\t1$`).MatchString(r.Stdout) || !regexp.MustCompile(`(?m)^Name:\tcat$`).MatchString(r.Stdout) {
		t.Errorf("cat /proc/self/status in the sandbox: status %d, want Pid:\\t1 and Name:\\tcat in:\n%s\nstderr:\n%s", r.Status, r.Stdout, r.Stderr)
	}
	r = runSandbox(t, []string{"/bin/cat", "/proc/self/maps"}, runOpts{})
	if r.Status != 0 || !strings.Contains(r.Stdout, "r-xp 00000000 00:00 0                          [vdso]") || !strings.Contains(r.Stdout, "[vvar]") || !strings.Contains(r.Stdout, "/usr/bin/cat") || !strings.Contains(r.Stdout, "libc.so.6") {
		t.Errorf("cat /proc/self/maps in the sandbox: status %d, want the program, libc, [vvar] and [vdso] mapped:\n%s\nstderr:\n%s", r.Status, r.Stdout, r.Stderr)
	}
	r = runSandbox(t, []string{"/bin/uname", "-n"}, runOpts{})
	if r.Status != 0 || r.Stdout != "runsc-lite\n" {
		t.Errorf("uname -n in the sandbox: status %d, stdout %q, want \"runsc-lite\\n\"\nstderr:\n%s", r.Status, r.Stdout, r.Stderr)
	}
}

// syscallRow is one row of `runsc-lite syscalls`.
type syscallRow struct {
	no      string
	name    string
	support string
}

// syscallTable runs `runsc-lite syscalls` and parses its rows ("NO NAME
// SUPPORT [NOTE]").
func syscallTable(t *testing.T) map[string]syscallRow {
	t.Helper()
	r := runRunsc(t, []string{"syscalls"}, runOpts{})
	if r.Status != 0 {
		t.Fatalf("runsc-lite syscalls: status %d\n%s", r.Status, r.Stderr)
	}
	rows := map[string]syscallRow{}
	re := regexp.MustCompile(`^\s*(\d+)\s+(\S+)\s+(full|partial|unimplemented)\b`)
	for _, l := range strings.Split(r.Stdout, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			rows[m[2]] = syscallRow{no: m[1], name: m[2], support: m[3]}
		}
	}
	if len(rows) == 0 {
		t.Fatalf("runsc-lite syscalls printed no rows of the form \"NO NAME full|partial|unimplemented NOTE\":\n%s", tail(r.Stdout, 20))
	}
	return rows
}

func TestSyscallsCommand(t *testing.T) {
	rows := syscallTable(t)
	for name, no := range map[string]string{"read": "0", "write": "1", "openat": "257", "getpid": "39"} {
		row, ok := rows[name]
		if !ok {
			t.Errorf("runsc-lite syscalls does not list %s", name)
			continue
		}
		if row.no != no {
			t.Errorf("runsc-lite syscalls lists %s as number %s, want %s", name, row.no, no)
		}
		if row.support == "unimplemented" {
			t.Errorf("runsc-lite syscalls says %s is unimplemented", name)
		}
	}
	if len(rows) < 300 {
		t.Errorf("runsc-lite syscalls lists %d syscalls; want every x86-64 syscall (the unimplemented ones too)", len(rows))
	}
	// The markdown form feeds docs/syscalls.md (make syscalls-doc).
	r := runRunsc(t, []string{"syscalls", "--markdown"}, runOpts{})
	if r.Status != 0 || !strings.HasPrefix(r.Stdout, "|") || !regexp.MustCompile(`(?m)^\|\s*0\s*\|\s*read\s*\|\s*(full|partial)\s*\|`).MatchString(r.Stdout) {
		t.Errorf("runsc-lite syscalls --markdown: status %d, want a markdown table with a row \"| 0 | read | full |...\":\n%s\nstderr:\n%s", r.Status, tail(r.Stdout, 10), r.Stderr)
	}
}

// unimplementedCandidates are syscalls harmless to call with the arguments
// unimpl.c passes, in order of preference: syslog first because natively it
// succeeds (SYSLOG_ACTION_SIZE_BUFFER), so ENOSYS in the sandbox proves the
// host never ran it.
var unimplementedCandidates = []string{"syslog", "lookup_dcookie", "nfsservctl", "afs_syscall", "tuxcall", "security", "vserver", "getpmsg", "putpmsg", "uselib"}

// TestUnimplementedSyscall: a syscall the sentry does not implement returns
// -1/ENOSYS to the program, twice, and is logged exactly once by name.
func TestUnimplementedSyscall(t *testing.T) {
	rows := syscallTable(t)
	var pick syscallRow
	for _, name := range unimplementedCandidates {
		if row, ok := rows[name]; ok && row.support == "unimplemented" {
			pick = row
			break
		}
	}
	if pick.name == "" {
		t.Fatalf("none of %v is unimplemented in the sentry; add a harmless unimplemented syscall to unimplementedCandidates", unimplementedCandidates)
	}
	t.Logf("using %s (%s) and the unassigned number 500", pick.name, pick.no)
	logPath := filepath.Join(t.TempDir(), "debug.log")
	r := runSandbox(t, []string{cProg(t, "unimpl"), pick.no, "500"}, runOpts{Flags: []string{"--debug-log", logPath}})
	want := "syscall " + pick.no + " call 1 = -1 ENOSYS\n" +
		"syscall " + pick.no + " call 2 = -1 ENOSYS\n" +
		"syscall 500 call 1 = -1 ENOSYS\n" +
		"syscall 500 call 2 = -1 ENOSYS\n" +
		"survived\n"
	if r.Status != 0 || r.Stdout != want {
		t.Errorf("sandbox: status %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", r.Status, r.Stdout, want, tail(r.Stderr, 20))
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("--debug-log %s was not written: %v", logPath, err)
	}
	byName := regexp.MustCompile(`\b` + pick.name + `\b`)
	by500 := regexp.MustCompile(`(?i)syscall[ _#:(]*500\b|\b500\b.*(unimplemented|not implemented|unsupported|enosys|unknown)|(unimplemented|not implemented|unsupported|enosys|unknown).*\b500\b`)
	for _, c := range []struct {
		what string
		re   *regexp.Regexp
	}{{pick.name, byName}, {"number 500", by500}} {
		var hits []string
		for _, l := range strings.Split(string(log), "\n") {
			if c.re.MatchString(l) {
				hits = append(hits, l)
			}
		}
		if len(hits) != 1 {
			t.Errorf("the debug log has %d lines naming %s, want exactly 1 (called twice, logged once):\n%s\nwhole log:\n%s", len(hits), c.what, strings.Join(hits, "\n"), tail(string(log), 40))
		}
	}
}

func TestMissingProgram(t *testing.T) {
	for _, prog := range []string{"/nonexistent-runsc-lite/prog", "no-such-command-runsc-lite"} {
		r := runSandbox(t, []string{prog, "arg"}, runOpts{})
		if r.Status != 127 {
			t.Errorf("do %s: status %d, want 127", prog, r.Status)
		}
		lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
		if len(lines) != 1 || lines[0] == "" || !strings.Contains(r.Stderr, prog) {
			t.Errorf("do %s: want a one-line error naming the program on stderr, got:\n%s", prog, r.Stderr)
		}
		if r.Stdout != "" {
			t.Errorf("do %s: stdout %q, want nothing", prog, r.Stdout)
		}
	}
}

// TestNotAnELF: files with the exec bit that are not valid ELF programs.
func TestNotAnELF(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	writeFile(t, garbage, []byte("this is not a program\x00\x01\x02\xff garbage garbage garbage garbage garbage\n"), 0o755)
	truncated := filepath.Join(dir, "truncated-elf")
	writeFile(t, truncated, append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 40)...), 0o755)
	for _, prog := range []string{garbage, truncated} {
		// Natively execve refuses it with ENOEXEC.
		p, nr := os.StartProcess(prog, []string{prog}, &os.ProcAttr{})
		if nr == nil {
			p.Kill()
			p.Wait()
		}
		if nr == nil || !strings.Contains(nr.Error(), "exec format error") {
			t.Fatalf("native execve of %s: %v, want exec format error (the test is wrong)", prog, nr)
		}
		r := runSandbox(t, []string{prog}, runOpts{})
		if r.Status != 126 {
			t.Errorf("do %s: status %d, want 126", prog, r.Status)
		}
		if !regexp.MustCompile(`(?i)ENOEXEC|exec format`).MatchString(r.Stderr) {
			t.Errorf("do %s: stderr should say ENOEXEC or exec format error, got:\n%s", prog, r.Stderr)
		}
	}
}

func TestUnknownFlag(t *testing.T) {
	r := runRunsc(t, []string{"do", "--no-such-flag-runsc-lite", "--", "/bin/true"}, runOpts{})
	if r.Status != 2 {
		t.Errorf("unknown flag: status %d, want 2", r.Status)
	}
	if !strings.Contains(r.Stderr, "no-such-flag-runsc-lite") || !regexp.MustCompile(`(?i)usage`).MatchString(r.Stderr) {
		t.Errorf("unknown flag: want the flag named and the usage on stderr, got:\n%s", r.Stderr)
	}
	r = runRunsc(t, []string{"no-such-verb-runsc-lite"}, runOpts{})
	if r.Status == 0 {
		t.Errorf("unknown verb: status 0, want an error")
	}
}

// TestDashDashOptional: `do PROG ARGS` without "--"; flags after the
// program are the program's.
func TestDashDashOptional(t *testing.T) {
	r := runRunsc(t, []string{"do", "/bin/echo", "-n", "hi", "--strace"}, runOpts{})
	if r.Status != 0 || r.Stdout != "hi --strace" {
		t.Errorf("do /bin/echo -n hi --strace: status %d, stdout %q, want \"hi --strace\"\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 20))
	}
	r = runSandbox(t, []string{"true"}, runOpts{NoDashDash: true})
	if r.Status != 0 {
		t.Errorf("do true (through PATH, no --): status %d\nstderr:\n%s", r.Status, tail(r.Stderr, 20))
	}
}

// TestStrace: --strace prints syscalls in strace's style.
func TestStrace(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "debug.log")
	passwd := readFile(t, "/etc/passwd")
	r := runSandbox(t, []string{"/bin/cat", "/etc/passwd"}, runOpts{Flags: []string{"--strace", "--debug-log", logPath}})
	if r.Status != 0 || r.Stdout != passwd {
		t.Errorf("cat /etc/passwd with --strace: status %d, stdout is%s /etc/passwd\nstderr:\n%s", r.Status, map[bool]string{true: "", false: " not"}[r.Stdout == passwd], tail(r.Stderr, 20))
	}
	log, _ := os.ReadFile(logPath)
	all := r.Stderr + "\n" + string(log)
	re := regexp.MustCompile(`openat\(AT_FDCWD, "/etc/passwd", O_RDONLY[^)]*\)\s*=\s*3\b`)
	if !re.MatchString(all) {
		t.Errorf("--strace output (stderr and debug log) has no line matching %s:\n%s", re, tail(all, 60))
	}
	if !regexp.MustCompile(`\bread\(3, `).MatchString(all) || !regexp.MustCompile(`\bclose\(3\)\s*=\s*0\b`).MatchString(all) {
		t.Errorf("--strace output lacks read(3, ...) or close(3) = 0:\n%s", tail(all, 60))
	}
}

// TestDebugLog: --debug --debug-log FILE writes a log and leaves the
// program's own output alone.
func TestDebugLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "debug.log")
	r := runSandbox(t, []string{"/bin/echo", "logged"}, runOpts{Flags: []string{"--debug", "--debug-log", logPath}})
	if r.Status != 0 || r.Stdout != "logged\n" {
		t.Errorf("echo with --debug: status %d, stdout %q\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 20))
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Size() == 0 {
		t.Errorf("--debug-log %s: %v, want a non-empty log", logPath, err)
	}
}

// TestStderrIsTheProgramsOwn: without --debug, nothing but the program
// writes to stderr.
func TestStderrIsTheProgramsOwn(t *testing.T) {
	compare(t, cmpCase{argv: []string{cProg(t, "probe"), "stderr", "only this\n"}, stderr: true})
}

// TestFlags: --platform, --cpus and --total-memory are accepted, and bad
// values are refused.
func TestFlags(t *testing.T) {
	for _, flags := range [][]string{{"--platform", "ptrace"}, {"--cpus", "1"}, {"--cpus", "2"}, {"--total-memory", "512M"}, {"--volume", t.TempDir() + ":/mnt/runsc-lite-flag-test:ro"}} {
		r := runSandbox(t, []string{"/bin/echo", "ok"}, runOpts{Flags: flags})
		if r.Status != 0 || r.Stdout != "ok\n" {
			t.Errorf("do %v -- /bin/echo ok: status %d, stdout %q\nstderr:\n%s", flags, r.Status, r.Stdout, tail(r.Stderr, 20))
		}
	}
	for _, flags := range [][]string{{"--platform", "no-such-platform"}, {"--cpus", "many"}, {"--total-memory", "lots"}, {"--volume", "/tmp"}} {
		r := runSandbox(t, []string{"/bin/echo", "ok"}, runOpts{Flags: flags})
		if r.Status == 0 || r.Stdout != "" || r.Stderr == "" {
			t.Errorf("do %v -- /bin/echo ok: status %d, stdout %q, stderr %q; want an error", flags, r.Status, r.Stdout, r.Stderr)
		}
	}
}

// TestSyscallTableHonest (issue 15 item 9): every syscall is called once
// in the sandbox with zero arguments (c/sysprobe.c); a row that says full
// or partial must not answer ENOSYS, and an unimplemented one must. (Zero
// arguments are harmless to the sandbox; natively as root they are not, so
// there is no native half.)
func TestSyscallTableHonest(t *testing.T) {
	rows := syscallTable(t)
	byNo := map[string]syscallRow{}
	var nos []string
	for _, r := range rows {
		byNo[r.no] = r
		nos = append(nos, r.no)
	}
	sort.Strings(nos)
	r := runSandbox(t, append([]string{cProg(t, "sysprobe")}, nos...), runOpts{Dir: t.TempDir(), Timeout: 5 * time.Minute})
	if r.Status != 0 {
		t.Fatalf("sysprobe: status %d\n%s", r.Status, tail(r.Stderr, 20))
	}
	// Without RUNSC_LITE_TEST_PLATFORM the sandbox runs on its default,
	// --platform=auto, which may choose systrap.
	p := os.Getenv("RUNSC_LITE_TEST_PLATFORM")
	mayBeSystrap := p == "systrap" || p == "" || p == "auto"
	answered := 0
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("sysprobe printed %q", l)
		}
		row, ok := byNo[f[0]]
		if !ok {
			t.Fatalf("sysprobe answered for %s, which the table lacks", f[0])
		}
		answered++
		if mayBeSystrap && (row.name == "uretprobe" || row.name == "uprobe") && f[1] != "ENOSYS" {
			// Linux 6.11+ (uretprobe) and 6.16+ (uprobe) run these
			// before seccomp: no filter can trap them. Outside the
			// kernel's uprobe trampoline they only raise SIGILL or
			// return ENXIO (ARCHITECTURE.md, systrap).
			t.Logf("%s (%s) answered %s: the host runs it before seccomp", row.name, row.no, f[1])
			continue
		}
		switch {
		case row.support == "unimplemented" && f[1] != "ENOSYS":
			t.Errorf("%s (%s) is listed unimplemented but answered %s", row.name, row.no, f[1])
		case row.support != "unimplemented" && f[1] == "ENOSYS":
			t.Errorf("%s (%s) is listed %s but answered ENOSYS", row.name, row.no, row.support)
		}
	}
	if answered != len(nos) {
		t.Errorf("sysprobe answered for %d of %d syscalls:\n%s", answered, len(nos), tail(r.Stdout, 10))
	}
}
