package test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVDSO compares vdso.c: the vDSO found through AT_SYSINFO_EHDR, its
// symbols by name and version (LINUX_2.6), [vdso] and [vvar] in the maps,
// its clocks against the clock_gettime syscall (every trapped read between
// the vDSO reads around it; interleaved reads monotonic, also in a child
// stopped and continued; sleeps as long as asked when the vDSO measures
// them), gettimeofday, time, clock_getres and the fall-back errors.
func TestVDSO(t *testing.T) {
	compareC(t, "vdso", 0)
	t.Run("no-vdso", func(t *testing.T) {
		// --vdso=false: no AT_SYSINFO_EHDR at all.
		r := runSandbox(t, []string{cProg(t, "vdso")}, runOpts{Flags: []string{"--vdso=false"}})
		if r.Status != 1 || !strings.Contains(r.Stdout, "AT_SYSINFO_EHDR present = 0") {
			t.Fatalf("--vdso=false: status %d, stdout:\n%s", r.Status, r.Stdout)
		}
	})
}

// TestVDSOGoTime compares a Go program's time.Now (the runtime's vDSO
// call) with the clock_gettime syscall, natively and in the sandbox, and
// checks with --strace that its time.Now reads no longer trap: the
// sandbox serves only its explicit syscalls, against every read with
// --vdso=false.
func TestVDSOGoTime(t *testing.T) {
	prog := goProg(t, "vdsoclock")
	compare(t, cmpCase{argv: []string{prog}})
	traps := func(flags ...string) int {
		r := runSandbox(t, []string{prog}, runOpts{Flags: append(flags, "--strace")})
		if r.Status != 0 {
			t.Fatalf("%v: status %d\n%s", flags, r.Status, tail(r.Stderr, 20))
		}
		return strings.Count(r.Stderr, "clock_gettime(")
	}
	with, without := traps(), traps("--vdso=false")
	t.Logf("clock_gettime traps: %d with the vDSO, %d without", with, without)
	if with*10 > without {
		t.Errorf("the vDSO saves too few traps: %d with it, %d without", with, without)
	}
}

// TestVDSOMusl does it with musl's libc, which finds the vDSO itself:
// compared with native, and its clock_gettime calls no longer trap.
func TestVDSOMusl(t *testing.T) {
	musl, err := exec.LookPath("musl-gcc")
	if err != nil {
		t.Skip("no musl-gcc (Debian's musl-tools; .ci/run installs it)")
	}
	prog := filepath.Join(t.TempDir(), "vdsoclock-musl")
	if out, err := exec.Command(musl, "-static", "-O1", "-Wall", "-Werror", "-o", prog, "musl/vdsoclock.c").CombinedOutput(); err != nil {
		t.Fatalf("musl-gcc: %v\n%s", err, out)
	}
	compare(t, cmpCase{argv: []string{prog}})
	traps := func(flags ...string) int {
		r := runSandbox(t, []string{prog}, runOpts{Flags: append(flags, "--strace")})
		if r.Status != 0 {
			t.Fatalf("%v: status %d\n%s", flags, r.Status, tail(r.Stderr, 20))
		}
		return strings.Count(r.Stderr, "clock_gettime(")
	}
	with, without := traps(), traps("--vdso=false")
	t.Logf("clock_gettime traps: %d with the vDSO, %d without", with, without)
	if with != 0 || without < 20000 {
		t.Errorf("musl's 20,000 clock_gettime calls: %d traps with the vDSO (want 0), %d without (want all)", with, without)
	}
}
