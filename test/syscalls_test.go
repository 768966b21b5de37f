package test

// The static C programs under c/, one per area of issue 2 item 4, run
// natively and in the sandbox; their outputs must match exactly. They print
// no addresses, PIDs, inode or device numbers, so none is normalised.

import (
	"path/filepath"
	"strings"
	"testing"
)

// compareC runs C program name with args and compares it.
func compareC(t *testing.T, name string, wantStatus int, args ...string) (native, sandbox result) {
	t.Helper()
	return compare(t, cmpCase{argv: append([]string{cProg(t, name)}, args...), wantStatus: wantStatus, stderr: true})
}

// compareCInDir runs C program name with a writable directory as argv[1],
// once on the sandbox's overlay and once on a --volume (see
// compareInWritableDir).
func compareCInDir(t *testing.T, name string) {
	t.Helper()
	prog := cProg(t, name)
	for _, mode := range []string{"overlay", "volume"} {
		t.Run(mode, func(t *testing.T) {
			compareInWritableDir(t, mode, func(dir string) []string { return []string{prog, dir} })
		})
	}
}

// TestCFiles: open/openat/read/write/pread/pwrite/readv/writev/lseek/close.
func TestCFiles(t *testing.T) { compareCInDir(t, "files") }

// TestCStat: stat/fstat/lstat/newfstatat/statx/getdents64.
func TestCStat(t *testing.T) { compareCInDir(t, "stat") }

// TestCDirOps: mkdir/rmdir/unlink/rename/symlink/readlink/chmod/truncate/
// ftruncate/utimensat/fsync.
func TestCDirOps(t *testing.T) { compareCInDir(t, "dirops") }

// TestCMmap: anonymous, private file and shared file mappings, munmap,
// mremap, brk, mincore.
func TestCMmap(t *testing.T) { compareCInDir(t, "mmap") }

// TestCMmapTxtbsy: a file mapped from a description open for writing
// cannot be executed (ETXTBSY) while a vma of the mapping lasts (split,
// moved, inherited by fork), its descriptors closed or not.
func TestCMmapTxtbsy(t *testing.T) { compareCInDir(t, "mmap_txtbsy") }

// TestCMprotect: protection changes and an executable page.
func TestCMprotect(t *testing.T) { compareC(t, "mprotect", 0) }

// TestCMprotectSegv: a write to a read-only page kills the program with
// SIGSEGV: status 139, natively and as runsc-lite's own status.
func TestCMprotectSegv(t *testing.T) {
	_, sb := compareC(t, "mprotect", 139, "segv")
	if strings.Contains(sb.Stdout, "still alive") {
		t.Errorf("the write to a read-only page did not fault in the sandbox")
	}
}

// TestCExecNoneSegv: a call into a page without PROT_EXEC faults too.
func TestCExecNoneSegv(t *testing.T) { compareC(t, "mprotect", 139, "exec-none") }

// TestCMisc: getrandom, clock_gettime, uname (sysname and machine only),
// getcwd/chdir/fchdir.
func TestCMisc(t *testing.T) { compareCInDir(t, "misc") }

// TestCFds: dup/dup2/dup3/fcntl/pipe2.
func TestCFds(t *testing.T) { compareC(t, "fds", 0) }

// TestCIoctl: TCGETS on descriptors that are not terminals (ENOTTY),
// FIONREAD, FIOCLEX.
func TestCIoctl(t *testing.T) { compareC(t, "ioctl", 0) }

// TestCIoctlTerminal: TCGETS/TCSETS/TIOCGWINSZ with stdin and stdout on a
// pseudo-terminal made by the test (the sentry serves them with ioctls on
// the host terminal descriptor it was given).
func TestCIoctlTerminal(t *testing.T) {
	argv := []string{cProg(t, "ioctl"), "tty"}
	native := runOnPty(t, "native", argv, runOpts{})
	if native.Status != 0 || !strings.Contains(native.Stdout, "window: 40 rows x 100 cols") {
		t.Fatalf("native run on a pty: status %d, output:\n%s\nstderr:\n%s", native.Status, native.Stdout, native.Stderr)
	}
	var sandbox result
	if nativeOnly {
		sandbox = runOnPty(t, "native", argv, runOpts{})
	} else {
		needSandbox(t)
		full := append(append([]string{runscBin, "do"}, sandboxFlags(t, nil)...), "--")
		sandbox = runOnPty(t, "sandbox", append(full, argv...), runOpts{})
	}
	checkSame(t, cmpCase{argv: argv, stderr: true}, native, sandbox)
}

// TestCLimits: prlimit64/getrlimit/setrlimit; the sandbox starts the program
// with runsc-lite's own limits, as a process inherits its parent's.
func TestCLimits(t *testing.T) { compareC(t, "limits", 0) }

// TestCTLS: arch_prctl and set_tid_address.
func TestCTLS(t *testing.T) { compareC(t, "tls", 0) }

// TestCEfault: bad pointers get EFAULT every time and the program exits 0.
func TestCEfault(t *testing.T) {
	_, sb := compareC(t, "efault", 0)
	if !strings.HasSuffix(sb.Stdout, "survived\n") {
		t.Errorf("the program did not finish normally in the sandbox")
	}
}

// TestCUnassignedSyscall: a syscall number that no Linux assigns (500)
// gets ENOSYS natively and in the sandbox. (335 and 336 are not used: the
// kernel of these machines assigns them.)
func TestCUnassignedSyscall(t *testing.T) { compareC(t, "unimpl", 0, "500") }

// TestCExitStatus: exit codes and deaths by signal become runsc-lite's
// status (128+N for signal N).
func TestCExitStatus(t *testing.T) {
	probe := cProg(t, "probe")
	compare(t, cmpCase{argv: []string{probe, "exit", "0"}, stderr: true})
	compare(t, cmpCase{argv: []string{probe, "exit", "42"}, wantStatus: 42, stderr: true})
	compare(t, cmpCase{argv: []string{probe, "exit", "255"}, wantStatus: 255, stderr: true})
	compare(t, cmpCase{argv: []string{probe, "raise", "15"}, wantStatus: 143, stderr: true}) // SIGTERM
	compare(t, cmpCase{argv: []string{probe, "raise", "9"}, wantStatus: 137, stderr: true})  // SIGKILL
	compare(t, cmpCase{argv: []string{probe, "raise", "6"}, wantStatus: 134, stderr: true})  // SIGABRT
}

// TestStdoutToFile: standard output passed through as a host file.
func TestStdoutToFile(t *testing.T) {
	out := map[string]string{}
	for _, where := range []string{"native", "sandbox"} {
		path := filepath.Join(t.TempDir(), "stdout")
		f, err := createFile(path)
		if err != nil {
			t.Fatal(err)
		}
		argv := []string{cProg(t, "fds")}
		var r result
		if where == "native" {
			r = runNative(t, argv, runOpts{Stdout: f})
		} else {
			r = secondRun(t, argv, runOpts{Stdout: f})
		}
		f.Close()
		if r.Status != 0 {
			t.Fatalf("%s: status %d, stderr:\n%s", where, r.Status, r.Stderr)
		}
		out[where] = readFile(t, path)
	}
	if d := diff(out["native"], out["sandbox"]); d != "" {
		t.Errorf("output written to a file differs (- native, + sandbox):\n%s", d)
	}
}
