package test

// Random-syscall fuzzing inside the sandbox (issue 12 item 7): c/syscall_fuzz.c
// makes random system calls with bad pointers, lengths and descriptors from
// several threads of a stream of worker processes, for a bounded time, with
// fixed seeds. It runs only in the sandbox: on the host, random calls made as
// root could damage the machine, so there is no native half to compare.

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fuzzSeconds is how long each seed runs (RUNSC_LITE_FUZZ_SECONDS overrides
// it, for longer runs by hand).
func fuzzSeconds() int {
	if s, err := strconv.Atoi(os.Getenv("RUNSC_LITE_FUZZ_SECONDS")); err == nil && s > 0 {
		return s
	}
	return 10
}

// TestSyscallFuzz runs the fuzzer with three seeds. What a failure of the
// sandbox looks like, and is checked: the sentry crashing (a Go panic or
// fatal error on its stderr, or runsc-lite not exiting with the fuzzer's
// own status 0), hanging (the run outliving its bound by minutes: the
// harness's timeout), leaking host processes (a stub of the sentry alive
// 5 s after runsc-lite exited) or host memory (the sentry's peak RSS or
// memory file beyond --total-memory plus its overhead: checkHostMem).
func TestSyscallFuzz(t *testing.T) {
	needSandbox(t)
	prog := cProg(t, "syscall_fuzz")
	secs := fuzzSeconds()
	for _, seed := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			dir := t.TempDir()
			argv := []string{prog, strconv.Itoa(seed), strconv.Itoa(secs * 1000), "4"}
			r, h, stubs := runFuzz(t, argv, runOpts{Dir: dir, Flags: memFlags, Timeout: time.Duration(secs)*time.Second + 5*time.Minute})
			t.Logf("seed %d: %s in %v; %d stub processes seen", seed, strings.TrimSpace(r.Stdout), r.Elapsed.Round(time.Millisecond), len(stubs))
			if m := regexp.MustCompile(`(?m)^(panic: |fatal error: |goroutine \d+ \[|runtime: )`).FindString(r.Stderr); m != "" {
				t.Errorf("the sentry crashed (%q on its stderr):\n%s", m, tail(r.Stderr, 60))
			}
			if r.Status != 0 {
				t.Fatalf("status %d, want the fuzzer's 0\nstdout:\n%s\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 40))
			}
			m := regexp.MustCompile(`^fuzz: (\d+) workers, (\d+) calls\n$`).FindStringSubmatch(r.Stdout)
			if m == nil {
				t.Fatalf("the fuzzer did not report its calls: %q", r.Stdout)
			}
			if calls, _ := strconv.Atoi(m[2]); calls == 0 {
				t.Errorf("the fuzzer made no calls: %q", r.Stdout)
			}
			checkHostMem(t, "fuzz", h)
			deadline := time.Now().Add(5 * time.Second)
			for {
				var alive []int
				for _, s := range stubs {
					if hostAlive(s) && hostComm(s) == "runsc-lite-stub" {
						alive = append(alive, s)
					}
				}
				if len(alive) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("stub processes %v outlived runsc-lite by 5 s", alive)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// hostComm returns the command name of host process pid ("" if gone).
func hostComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// runFuzz is runSandboxSampled that also records the stub processes the
// sentry had while it ran (sampled every 100 ms).
func runFuzz(t *testing.T, argv []string, o runOpts) (result, hostMem, []int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[int]bool{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sentryOf := make(chan int, 1)
	go func() {
		defer wg.Done()
		sentry := 0
		for {
			select {
			case sentry = <-sentryOf:
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if sentry == 0 {
				continue
			}
			for _, kid := range hostChildren(sentry) {
				if hostComm(kid) == "runsc-lite-stub" {
					mu.Lock()
					seen[kid] = true
					mu.Unlock()
				}
			}
		}
	}()
	o.onSentry = func(pid int) { sentryOf <- pid }
	r, h := runSandboxSampled(t, argv, o)
	close(done)
	wg.Wait()
	var stubs []int
	for s := range seen {
		stubs = append(stubs, s)
	}
	return r, h, stubs
}
