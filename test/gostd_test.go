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
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// gostdPackages are the packages whose tests are compared.
var gostdPackages = []string{
	"os", "syscall", "os/exec", "os/signal", "os/user", "time", "io", "io/fs",
	"path/filepath", "sync", "context", "bufio", "runtime", "strconv",
	"archive/tar", "compress/gzip", "encoding/json", "net", "net/http",
}

// gostdKnown reads gostd-known.txt: "package Test reason..." lines
// (# comments), the tests allowed to fail in the sandbox.
func gostdKnown(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("gostd-known.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Fields(l)
		if len(fields) < 3 {
			t.Fatalf("gostd-known.txt: %q: want \"package Test reason\"", l)
		}
		known[fields[0]+" "+fields[1]] = strings.Join(fields[2:], " ")
	}
	return known
}

var (
	gostdRun    = regexp.MustCompile(`^=== RUN   (\S+)$`)
	gostdResult = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) `)
)

// gostdOutcome is what one run of a test binary told about its top-level
// tests.
type gostdOutcome struct {
	passed  map[string]bool
	started []string // top-level tests in the order they started
	crashed string   // the test running when the binary died, if it did
}

// parseGostd reads -test.v output.
func parseGostd(out string) gostdOutcome {
	o := gostdOutcome{passed: map[string]bool{}}
	finished := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if m := gostdRun.FindStringSubmatch(l); m != nil && !strings.Contains(m[1], "/") {
			o.started = append(o.started, m[1])
		}
		if m := gostdResult.FindStringSubmatch(l); m != nil && !strings.Contains(m[2], "/") {
			finished[m[2]] = true
			if m[1] == "PASS" {
				o.passed[m[2]] = true
			}
		}
	}
	if n := len(o.started); n > 0 && !finished[o.started[n-1]] && !regexp.MustCompile(`(?m)^(PASS|FAIL|ok)\b`).MatchString(out) {
		o.crashed = o.started[n-1]
	}
	return o
}

// runGostd runs a test binary until every test has had its turn: when the
// binary dies in a test (a panic), it is run again skipping every test
// that already ran. run runs the binary with extra arguments.
func runGostd(t *testing.T, run func(args ...string) string) (passed map[string]bool, crashed []string) {
	passed = map[string]bool{}
	ran := map[string]bool{}
	for round := 0; round < 50; round++ {
		args := []string{"-test.short", "-test.v", "-test.timeout", "20m"}
		if len(ran) > 0 {
			var names []string
			for n := range ran {
				names = append(names, regexp.QuoteMeta(n))
			}
			sort.Strings(names)
			args = append(args, "-test.skip", "^("+strings.Join(names, "|")+")$")
		}
		o := parseGostd(run(args...))
		for n := range o.passed {
			passed[n] = true
		}
		for _, n := range o.started {
			ran[n] = true
		}
		if o.crashed == "" {
			return passed, crashed
		}
		crashed = append(crashed, o.crashed)
	}
	t.Errorf("the test binary died 50 times; giving up")
	return passed, crashed
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
	bin := t.TempDir()
	used := map[string]bool{}
	var summary []string
	for _, pkg := range gostdPackages {
		t.Run(strings.ReplaceAll(pkg, "/", "_"), func(t *testing.T) {
			exe := filepath.Join(bin, strings.ReplaceAll(pkg, "/", "_")+".test")
			build := exec.Command("go", "test", "-c", "-o", exe, pkg)
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go test -c %s: %v\n%s", pkg, err, out)
			}
			dir := filepath.Join(src, pkg)
			start := time.Now()
			native, nCrashed := runGostd(t, func(args ...string) string {
				r := runNative(t, append([]string{exe}, args...), runOpts{Dir: dir, Env: os.Environ(), Timeout: 25 * time.Minute})
				return r.Stdout + r.Stderr
			})
			nTime := time.Since(start)
			start = time.Now()
			sandbox, sCrashed := runGostd(t, func(args ...string) string {
				r := runSandbox(t, append([]string{exe}, args...), runOpts{Dir: dir, Env: os.Environ(), Timeout: 25 * time.Minute})
				return r.Stdout + r.Stderr
			})
			sTime := time.Since(start)
			line := fmt.Sprintf("%s: sandbox %d / native %d (native %v, sandbox %v)", pkg, len(sandbox), len(native), nTime.Round(time.Second), sTime.Round(time.Second))
			if len(nCrashed) > 0 || len(sCrashed) > 0 {
				line += fmt.Sprintf("; died in %v natively, %v in the sandbox", nCrashed, sCrashed)
			}
			summary = append(summary, line)
			t.Log(line)
			var missing []string
			for n := range native {
				key := pkg + " " + n
				if sandbox[n] {
					if _, ok := known[key]; ok {
						t.Logf("%s passes now: take it out of gostd-known.txt", key)
					}
					continue
				}
				if _, ok := known[key]; ok {
					used[key] = true
					continue
				}
				missing = append(missing, n)
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("%d tests pass natively but not in the sandbox, and gostd-known.txt does not list them: %s", len(missing), strings.Join(missing, " "))
			}
		})
	}
	fmt.Println(strings.Join(summary, "\n"))
}
