package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Built once by TestMain, read-only afterwards.
var (
	// workDir is TestMain's temporary directory (binaries, fixtures).
	workDir string
	// runscBin is the runsc-lite binary, or "" when it did not build.
	runscBin string
	// runscBuildErr says why runscBin is "" (with the compiler's output).
	runscBuildErr error
	// cProgs maps a C program's name (its file name under c/ without .c)
	// to the path of its static binary.
	cProgs = map[string]string{}
	// nativeOnly is set by RUNSC_LITE_TEST_NATIVE_ONLY=1.
	nativeOnly bool
)

// TestMain builds runsc-lite (go build -o) and every C program under c/
// (gcc -static -O1) once into a temporary directory, runs the tests, and
// removes the directory. A missing gcc, or a C program that does not
// compile, fails the whole package at once: both are always present on the
// machines this project runs on, so their absence is a broken machine.
// runsc-lite failing to build only fails the tests that need the sandbox,
// so that the native halves can still be checked.
func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	closeInheritedFDs()
	nativeOnly = os.Getenv("RUNSC_LITE_TEST_NATIVE_ONLY") == "1"
	var err error
	workDir, err = os.MkdirTemp("", "runsc-lite-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: cannot create the test directory:", err)
		return 1
	}
	defer os.RemoveAll(workDir)
	if _, err := exec.LookPath("gcc"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: gcc is not installed; the conformance tests compile their C programs with it (apt-get install -y gcc libc6-dev)")
		return 1
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buildRunsc()
	}()
	cerr := buildCPrograms()
	wg.Wait()
	if cerr != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", cerr)
		return 1
	}
	if runscBuildErr != nil && !nativeOnly {
		fmt.Fprintf(os.Stderr, "runsc-lite did not build; every sandbox half will fail:\n%v\n", runscBuildErr)
	}
	return m.Run()
}

// closeInheritedFDs marks every descriptor above 2 close-on-exec. The test
// binary may inherit descriptors from whoever started it (a shell, make, a
// CI runner); os/exec would pass them on to every child, and the programs
// list their open descriptors.
func closeInheritedFDs() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// buildRunsc sets runscBin or runscBuildErr.
func buildRunsc() {
	if nativeOnly {
		runscBuildErr = fmt.Errorf("RUNSC_LITE_TEST_NATIVE_ONLY=1")
		return
	}
	if bin := os.Getenv("RUNSC_LITE_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			runscBuildErr = fmt.Errorf("RUNSC_LITE_BIN: %v", err)
			return
		}
		runscBin = bin
		return
	}
	out := filepath.Join(workDir, "runsc-lite")
	cmd := exec.Command("go", "build", "-o", out, "./runsc-lite")
	cmd.Dir = ".." // the module root
	// Without cgo, as runsc-lite must be built: its confinement sets
	// capabilities on every thread (syscall.AllThreadsSyscall), which a
	// binary with cgo (gVisor's netstack brings in package net) cannot.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		runscBuildErr = fmt.Errorf("go build -o %s ./runsc-lite: %v\n%s", out, err, b)
		return
	}
	runscBin = out
}

// buildCPrograms compiles c/*.c, two at a time.
func buildCPrograms() error {
	srcs, err := filepath.Glob("c/*.c")
	if err != nil || len(srcs) == 0 {
		return fmt.Errorf("no C programs under test/c (%v)", err)
	}
	sort.Strings(srcs)
	bin := filepath.Join(workDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 2)
	)
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		out := filepath.Join(bin, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := append([]string{"-static", "-O1", "-Wall", "-Werror", "-o", out, src}, linkFlags(src)...)
			cmd := exec.Command("gcc", args...)
			b, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("gcc -static -O1 %s: %v\n%s", src, err, b))
				return
			}
			cProgs[name] = out
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("C programs did not compile (is libc6-dev installed?):\n%s", strings.Join(errs, "\n"))
	}
	return nil
}

// linkFlags returns the libraries a C program asks for with a line
// "/* link: -lfoo ... */" (test/c/docker_seccomp.c links libseccomp.a).
func linkFlags(src string) []string {
	b, err := os.ReadFile(src)
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "/* link: "); ok {
			return strings.Fields(strings.TrimSuffix(rest, "*/"))
		}
	}
	return nil
}

// cProg returns the path of the compiled C program name.
func cProg(t *testing.T, name string) string {
	t.Helper()
	p, ok := cProgs[name]
	if !ok {
		t.Fatalf("no C program %q under test/c", name)
	}
	return p
}

// defaultTimeout bounds one run of a program, native or sandboxed.
const defaultTimeout = 2 * time.Minute

// heavyTimeout bounds a run that moves gigabytes through the sandbox's
// memory (page-cache reclaim, swap, OOM): idle it takes 10-30 s, but on a
// loaded 2-core machine several times that. A timeout is a hang detector,
// not a performance check.
const heavyTimeout = 8 * time.Minute
