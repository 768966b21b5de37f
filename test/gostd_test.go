package test

// The Go standard library's own tests as conformance tests (issue 15 item
// 7): each package's test binary (go test -c, static) runs natively and in
// the sandbox, in the package's source directory, with -test.short, and
// every test that passes natively must pass in the sandbox or be listed in
// gostd-known.txt with its reason. They run only when RUNSC_LITE_GOSTD=1
// (make test-gostd, which .ci/run runs after make test): building and
// running them takes several minutes.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// gostdPackages are the packages whose tests are compared. net is not
// among them: `make test-gonet` (test/gonet_test.go) runs its tests in a
// network namespace of their own natively, against the sandbox's.
var gostdPackages = []string{
	"os", "syscall", "os/exec", "os/signal", "os/user", "time", "io", "io/fs",
	"path/filepath", "sync", "context", "bufio", "runtime", "strconv",
	"archive/tar", "compress/gzip", "encoding/json", "net/http",
}

// gostdSlowPrefix starts the reason of a gostd-known.txt entry for a test
// that is skipped in both runs because its sandbox run would take a large
// part of the target's time budget; the reason says how long it took.
const gostdSlowPrefix = "slow:"

// gostdKnownEntry is one line of gostd-known.txt.
type gostdKnownEntry struct {
	reason string
	line   int
}

// gostdKnown reads gostd-known.txt: "package Test reason..." lines
// (# comments): tests allowed to fail in the sandbox, or, when the reason
// starts with "slow:", tests skipped in both runs.
func gostdKnown(t *testing.T) map[string]gostdKnownEntry {
	t.Helper()
	f, err := os.Open("gostd-known.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs := map[string]bool{}
	for _, p := range gostdPackages {
		pkgs[p] = true
	}
	known := map[string]gostdKnownEntry{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Fields(l)
		if len(fields) < 4 || !strings.HasPrefix(fields[1], "Test") && !strings.HasPrefix(fields[1], "Example") {
			t.Fatalf("gostd-known.txt:%d: %q: want \"package TestName reason\" with a reason of more than one word", n, l)
		}
		if !pkgs[fields[0]] {
			t.Fatalf("gostd-known.txt:%d: %s is not one of the packages compared", n, fields[0])
		}
		key := fields[0] + " " + fields[1]
		if prev, ok := known[key]; ok {
			t.Fatalf("gostd-known.txt:%d: %s is listed already on line %d", n, key, prev.line)
		}
		known[key] = gostdKnownEntry{reason: strings.Join(fields[2:], " "), line: n}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return known
}

var (
	gostdRun    = regexp.MustCompile(`^=== RUN   (\S+)$`)
	gostdResult = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) `)
	// gostdEnd is the last line of a test binary that ran to its end.
	gostdEnd = regexp.MustCompile(`(?m)^(PASS|FAIL)$`)
)

// gostdOutcome is what one run of a test binary told about its top-level
// tests.
type gostdOutcome struct {
	passed map[string]bool
	// finished are the tests that reported a result.
	finished []string
	// crashed are the tests the binary died in, when it died: the one
	// that failed by a panic, or those running at its timeout.
	crashed []string
}

var (
	gostdPanic   = regexp.MustCompile(`^panic: `)
	gostdTimeout = regexp.MustCompile(`^panic: test timed out after`)
	gostdRunning = regexp.MustCompile(`^\t\t([^\s/]+) \(`)
)

// parseGostd reads -test.v output.
func parseGostd(out string) gostdOutcome {
	o := gostdOutcome{passed: map[string]bool{}}
	var started []string
	finished := map[string]bool{}
	lastFail := ""
	timedOut := false
	for _, l := range strings.Split(out, "\n") {
		if m := gostdRun.FindStringSubmatch(l); m != nil && !strings.Contains(m[1], "/") {
			started = append(started, m[1])
		}
		if m := gostdResult.FindStringSubmatch(l); m != nil && !strings.Contains(m[2], "/") {
			o.finished = append(o.finished, m[2])
			finished[m[2]] = true
			if m[1] == "PASS" {
				o.passed[m[2]] = true
			}
			if m[1] == "FAIL" {
				lastFail = m[2]
			}
		}
		switch {
		case timedOut:
			if m := gostdRunning.FindStringSubmatch(l); m != nil {
				o.crashed = append(o.crashed, m[1])
			}
		case gostdTimeout.MatchString(l):
			timedOut = true
		case gostdPanic.MatchString(l) && len(o.crashed) == 0 && lastFail != "":
			// A test that panics reports itself as failed first.
			o.crashed = append(o.crashed, lastFail)
		}
	}
	// A binary that died never prints its verdict (PASS or FAIL).
	if gostdEnd.MatchString(out) {
		o.crashed = nil
	} else if len(o.crashed) == 0 {
		// Died some other way (a signal, a runtime fatal error): blame
		// the last test that started and did not finish.
		for i := len(started) - 1; i >= 0; i-- {
			if !finished[started[i]] {
				o.crashed = append(o.crashed, started[i])
				break
			}
		}
		if len(o.crashed) == 0 && len(started) > 0 {
			o.crashed = append(o.crashed, started[len(started)-1])
		}
	}
	return o
}

// gostdTestTimeout bounds one run of a test binary (its -test.timeout);
// the harness's own timeout is a little longer, so that a hung test shows
// up as the binary's panic naming it and the remaining tests still run.
const gostdTestTimeout = 10 * time.Minute

// runGostd runs a test binary until every test has had its turn: when the
// binary dies in a test (a panic, a timeout), it is run again skipping
// every test that finished or killed it; tests that had started but not
// finished (paused parallel tests) run again. skip names tests skipped in
// every round. run runs the binary with extra arguments.
func runGostd(t *testing.T, skip []string, run func(args ...string) string) (passed map[string]bool, crashed []string) {
	passed = map[string]bool{}
	done := map[string]bool{}
	for _, n := range skip {
		done[n] = true
	}
	for round := 0; round < 50; round++ {
		args := []string{"-test.short", "-test.v", "-test.timeout", gostdTestTimeout.String()}
		if len(done) > 0 {
			var names []string
			for n := range done {
				names = append(names, regexp.QuoteMeta(n))
			}
			sort.Strings(names)
			args = append(args, "-test.skip", "^("+strings.Join(names, "|")+")$")
		}
		o := parseGostd(run(args...))
		for n := range o.passed {
			passed[n] = true
		}
		if len(o.crashed) == 0 {
			return passed, crashed
		}
		crashed = append(crashed, o.crashed...)
		progress := false
		for _, n := range append(o.finished, o.crashed...) {
			if !done[n] {
				done[n] = true
				progress = true
			}
		}
		if !progress {
			t.Errorf("the test binary died again in %v, which it was told to skip; giving up", o.crashed)
			return passed, crashed
		}
	}
	t.Errorf("the test binary died 50 times; giving up")
	return passed, crashed
}

// buildGostd builds every package's test binary into dir, static (no cgo,
// as the sandbox's other Go subjects), in one go command so that the
// builds share its parallelism, and returns the binary of each package.
func buildGostd(t *testing.T, dir string) map[string]string {
	t.Helper()
	exes := map[string]string{}
	for _, pkg := range gostdPackages {
		exe := filepath.Join(dir, path.Base(pkg)+".test")
		for p, e := range exes {
			if e == exe {
				t.Fatalf("%s and %s have test binaries of the same name", p, pkg)
			}
		}
		exes[pkg] = exe
	}
	start := time.Now()
	build := exec.Command("go", append([]string{"test", "-c", "-o", dir + "/"}, gostdPackages...)...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	t.Logf("built %d test binaries in %v", len(exes), time.Since(start).Round(time.Second))
	return exes
}

func TestGoStdlib(t *testing.T) {
	if os.Getenv("RUNSC_LITE_GOSTD") != "1" {
		t.Skip("RUNSC_LITE_GOSTD=1 runs the Go standard library's tests (make test-gostd)")
	}
	needSandbox(t)
	known := gostdKnown(t)
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	exes := buildGostd(t, t.TempDir())
	// The tests run with the environment of go test, less make's
	// CGO_ENABLED=0 (for runsc-lite's own build): the runtime's tests
	// build their cgo programs themselves when gcc is there.
	var gostdEnv []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "CGO_ENABLED=") {
			gostdEnv = append(gostdEnv, e)
		}
	}
	var summary []string
	for _, pkg := range gostdPackages {
		t.Run(strings.ReplaceAll(pkg, "/", "_"), func(t *testing.T) {
			var slow []string
			for key, e := range known {
				if p, name, _ := strings.Cut(key, " "); p == pkg && strings.HasPrefix(e.reason, gostdSlowPrefix) {
					slow = append(slow, name)
					t.Logf("skipped in both runs: %s: %s", name, e.reason)
				}
			}
			sort.Strings(slow)
			dir := filepath.Join(src, pkg)
			runOne := func(sandbox bool) func(args ...string) string {
				return func(args ...string) string {
					argv := append([]string{exes[pkg]}, args...)
					o := runOpts{Dir: dir, Env: gostdEnv, Timeout: gostdTestTimeout + 2*time.Minute}
					var r result
					if sandbox {
						r = runSandbox(t, argv, o)
					} else {
						r = runNative(t, argv, o)
					}
					return r.Stdout + r.Stderr
				}
			}
			start := time.Now()
			native, nCrashed := runGostd(t, slow, runOne(false))
			nTime := time.Since(start)
			start = time.Now()
			sandbox, sCrashed := runGostd(t, slow, runOne(true))
			sTime := time.Since(start)
			var missing, listed []string
			for n := range native {
				key := pkg + " " + n
				e, ok := known[key]
				switch {
				case sandbox[n] && ok && !strings.HasPrefix(e.reason, gostdSlowPrefix):
					// The list is a reviewed account of the
					// differences: an entry that excuses nothing
					// is a stale claim.
					t.Errorf("%s passes in the sandbox now: take it out of gostd-known.txt (line %d)", key, e.line)
				case sandbox[n]:
				case ok:
					listed = append(listed, n)
				default:
					missing = append(missing, n)
				}
			}
			for key, e := range known {
				if p, name, _ := strings.Cut(key, " "); p == pkg && !native[name] && !strings.HasPrefix(e.reason, gostdSlowPrefix) {
					t.Logf("%s does not pass natively here: its gostd-known.txt entry (line %d) has nothing to excuse", key, e.line)
				}
			}
			sort.Strings(missing)
			sort.Strings(listed)
			line := fmt.Sprintf("%s: sandbox %d / native %d (%d listed in gostd-known.txt, %d skipped as slow; native %v, sandbox %v)",
				pkg, len(sandbox), len(native), len(listed), len(slow), nTime.Round(time.Second), sTime.Round(time.Second))
			if len(nCrashed) > 0 || len(sCrashed) > 0 {
				line += fmt.Sprintf("; died in %v natively, %v in the sandbox", nCrashed, sCrashed)
			}
			summary = append(summary, line)
			t.Log(line)
			if len(missing) > 0 {
				t.Errorf("%d tests pass natively but not in the sandbox, and gostd-known.txt does not list them: %s", len(missing), strings.Join(missing, " "))
			}
		})
	}
	fmt.Println(strings.Join(summary, "\n"))
}

// TestParseGostd checks the reading of -test.v output that TestGoStdlib
// relies on: top-level results only, and a binary that died told from one
// that finished.
func TestParseGostd(t *testing.T) {
	finished := "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n=== RUN   TestB/sub\n" +
		"    --- PASS: TestB/sub (0.00s)\n--- FAIL: TestB (0.01s)\n=== RUN   ExampleC\n--- PASS: ExampleC (0.00s)\nFAIL\n"
	o := parseGostd(finished)
	if !o.passed["TestA"] || !o.passed["ExampleC"] || o.passed["TestB"] || o.passed["TestB/sub"] || o.crashed != nil {
		t.Errorf("finished run: got %+v", o)
	}
	// TestP is a parallel test paused when TestB panicked: it did not
	// finish, and must run again.
	panicked := "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestP\n=== PAUSE TestP\n=== RUN   TestB\n" +
		"--- FAIL: TestB (0.00s)\npanic: boom [recovered, repanicked]\n\ngoroutine 7 [running]:\n"
	if o := parseGostd(panicked); !o.passed["TestA"] || !slices.Equal(o.crashed, []string{"TestB"}) || slices.Contains(o.finished, "TestP") {
		t.Errorf("run that panicked: got %+v, want TestA passed, TestP unfinished and a crash in TestB", o)
	}
	timedOut := "=== RUN   TestA\n=== RUN   TestC\n--- PASS: TestC (0.00s)\npanic: test timed out after 10m0s\n" +
		"\trunning tests:\n\t\tTestA (10m0s)\n\ngoroutine 1 [running]:\n"
	if o := parseGostd(timedOut); !slices.Equal(o.crashed, []string{"TestA"}) {
		t.Errorf("run that timed out: got %+v, want a crash in TestA", o)
	}
	segv := "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestD\nunexpected fault address 0x0\nfatal error: fault\n"
	if o := parseGostd(segv); !slices.Equal(o.crashed, []string{"TestD"}) {
		t.Errorf("run that died of a fault: got %+v, want a crash in TestD", o)
	}
}
