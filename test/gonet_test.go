package test

// Go's net package test binary (go test -c net) in the sandbox: at least
// 95% of the tests that pass natively must pass inside (issue 13, item 6).
// It takes several minutes, so it runs only with RUNSC_LITE_TEST_GONET=1
// (make test-gonet, which .ci/run runs after make test).

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// goNetSkipped are tests left out of both runs, with the reason.
var goNetSkipped = map[string]string{
	// 1 GiB through splice in 64 KiB chunks: about a minute per case in
	// the sandbox (a copy per chunk, where Linux moves pages), which the
	// smaller cases of the same test cover.
	"TestSplice/.*/big": "1 GiB of splice per case: minutes in the sandbox; the smaller cases cover the same paths",
}

// goNetResults runs the net test binary (natively or in the sandbox) on
// the tests matching run, once per crash: a test that kills the binary
// (a deadlock, a timeout) is recorded as failed and the run resumes after
// it. It returns each top-level test's outcome: PASS, SKIP or FAIL.
func goNetResults(t *testing.T, bin string, tests []string, sandbox bool) map[string]string {
	res := map[string]string{}
	skips := []string{}
	for k := range goNetSkipped {
		skips = append(skips, k)
	}
	pending := append([]string(nil), tests...)
	resultRe := regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+)`)
	runRe := regexp.MustCompile(`^=== RUN\s+(\S+)$`)
	for round := 0; len(pending) > 0 && round < 20; round++ {
		args := []string{bin, "-test.short", "-test.v", "-test.timeout", "8m",
			"-test.run", "^(" + strings.Join(pending, "|") + ")$", "-test.skip", strings.Join(skips, "|")}
		opts := runOpts{Dir: filepath.Join(goRoot(t), "src", "net"), Timeout: 10 * time.Minute, Env: append(baseEnv, "GOROOT="+goRoot(t))}
		var r result
		if sandbox {
			r = runSandbox(t, args, opts)
		} else {
			r = runNative(t, inNetnsIfPossible(t, args), opts)
		}
		last := ""
		for _, l := range strings.Split(r.Stdout, "\n") {
			if m := runRe.FindStringSubmatch(l); m != nil && !strings.Contains(m[1], "/") {
				last = m[1]
			}
			if m := resultRe.FindStringSubmatch(l); m != nil && !strings.Contains(m[2], "/") {
				res[m[2]] = m[1]
			}
		}
		var next []string
		for _, name := range pending {
			if _, done := res[name]; !done {
				if name == last {
					// The binary died in it.
					res[name] = "FAIL"
					continue
				}
				next = append(next, name)
			}
		}
		if len(next) == len(pending) {
			for _, name := range next {
				res[name] = "FAIL"
			}
			break
		}
		pending = next
	}
	return res
}

func inNetnsIfPossible(t *testing.T, argv []string) []string {
	if nativeNetns(t) {
		return inNetns(argv)
	}
	return argv
}

func goRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestGoNetPackage builds net's test binary, runs it natively, then runs
// the tests that passed natively (ran and passed, not skipped) in the
// sandbox, and requires at least 95% of them to pass there; one the
// sandbox skips (a raw socket, MPTCP) does not count as passing. The
// others are listed (ARCHITECTURE.md gives their reasons).
func TestGoNetPackage(t *testing.T) {
	if os.Getenv("RUNSC_LITE_TEST_GONET") != "1" {
		t.Skip("several minutes long: run with RUNSC_LITE_TEST_GONET=1 (make test-gonet)")
	}
	bin := filepath.Join(workDir, "net.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "net")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c net: %v\n%s", err, b)
	}
	out, err := exec.Command(bin, "-test.list", ".").Output()
	if err != nil {
		t.Fatalf("listing net's tests: %v", err)
	}
	var all []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Test") {
			all = append(all, l)
		}
	}
	native := goNetResults(t, bin, all, false)
	var passing []string
	for _, name := range all {
		if native[name] == "PASS" {
			passing = append(passing, name)
		}
	}
	if nativeOnly {
		t.Logf("natively: %d of %d tests pass", len(passing), len(all))
		return
	}
	sandbox := goNetResults(t, bin, passing, true)
	var failed []string
	for _, name := range passing {
		if sandbox[name] != "PASS" {
			failed = append(failed, name+"("+sandbox[name]+")")
		}
	}
	sort.Strings(failed)
	ratio := float64(len(passing)-len(failed)) / float64(len(passing))
	t.Logf("net package: %d tests, %d run and pass natively, %d of those pass in the sandbox (%.1f%%)",
		len(all), len(passing), len(passing)-len(failed), 100*ratio)
	if len(failed) > 0 {
		t.Logf("not passing in the sandbox: %s", strings.Join(failed, " "))
	}
	if ratio < 0.95 {
		t.Errorf("%.1f%% of the natively passing tests pass in the sandbox, want >= 95%%", 100*ratio)
	}
}
