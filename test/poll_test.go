package test

// Readiness (issue 3, item 4): eventfd, epoll, poll/ppoll and select/pselect6
// in C programs, and the real programs that depend on them: a static Go
// program (the runtime's netpoller: epoll_create1, epoll_ctl, epoll_pwait
// with timeouts, eventfd2 wake-ups) and Python's subprocess (poll over the
// child's pipes). All are compared with native runs.

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/vfs"
)

// TestEpollC: epoll on pipes (level, edge, one-shot, hang-up and error,
// nesting, eventfd), ctl and wait errors, timeouts and wake-ups by another
// process.
func TestEpollC(t *testing.T) { compareC(t, "poll_epoll", 0) }

// TestEpollCloseRemovesInterest: closing the last descriptor of a watched
// file removes its interest (Linux drops it when the file's last reference
// goes). The sentry learns of that through a release hook on file
// descriptions; until vfs offers one, an interest outlives its file.
func TestEpollCloseRemovesInterest(t *testing.T) {
	if _, ok := reflect.TypeOf((*vfs.FileDescription)(nil)).MethodByName("OnRelease"); !ok && !nativeOnly {
		t.Skip("vfs.FileDescription has no OnRelease hook yet: epoll cannot see a watched file's last close")
	}
	compareC(t, "poll_epoll", 0, "close")
}

// TestPollSelectC: poll/ppoll/select/pselect6 on pipes, /dev/null, a
// regular file, a directory and bad descriptors.
func TestPollSelectC(t *testing.T) { compareC(t, "poll_poll", 0) }

// TestPollEventfdC: eventfd counters, semaphore mode and blocking.
func TestPollEventfdC(t *testing.T) { compareC(t, "poll_eventfd", 0) }

// goProgram uses goroutines on four Ps, channels, timers and os/exec; its
// output does not depend on scheduling.
const goProgram = `package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

func main() {
	runtime.GOMAXPROCS(4)
	fmt.Println("GOMAXPROCS", runtime.GOMAXPROCS(0))

	// A worker pool over channels.
	jobs := make(chan int)
	results := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				sum := 0
				for i := 0; i <= j*1000; i++ {
					sum += i
				}
				results <- sum
			}
		}()
	}
	go func() {
		for j := 0; j < 100; j++ {
			jobs <- j
		}
		close(jobs)
	}()
	go func() { wg.Wait(); close(results) }()
	n, total := 0, 0
	for r := range results {
		n++
		total += r
	}
	fmt.Println("results", n, "total", total)

	// Sleeps of three lengths at once each last at least their length.
	// (Not the order they end in: a process stopped by a loaded host
	// for longer than the gaps between them finds several timers due at
	// once, and the runtime may then run the later sleeper first.)
	var mu sync.Mutex
	lasted := map[int]bool{}
	var sw sync.WaitGroup
	for i := 3; i >= 1; i-- {
		sw.Add(1)
		go func(i int) {
			defer sw.Done()
			d := time.Duration(i) * 100 * time.Millisecond
			s := time.Now()
			time.Sleep(d)
			mu.Lock()
			lasted[i] = time.Since(s) >= d
			mu.Unlock()
		}(i)
	}
	sw.Wait()
	fmt.Println("sleeps lasted their lengths", lasted)
	start := time.Now()
	time.Sleep(50 * time.Millisecond)
	fmt.Println("slept at least 50ms:", time.Since(start) >= 50*time.Millisecond)

	// Timers and tickers.
	c := make(chan int)
	select {
	case <-c:
		fmt.Println("unexpected")
	case <-time.After(30 * time.Millisecond):
		fmt.Println("time.After fired")
	}
	tk := time.NewTicker(10 * time.Millisecond)
	ticks := 0
	for range tk.C {
		ticks++
		if ticks == 5 {
			break
		}
	}
	tk.Stop()
	fmt.Println("ticks", ticks)

	// Ping-pong between two goroutines.
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < 1000; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	fmt.Println("ping-pong", v)

	// os/exec: output through pipes the netpoller watches.
	out, err := exec.Command("/bin/echo", "hello", "from", "echo").Output()
	fmt.Printf("echo: %q err=%v\n", out, err)
	outs := make([]string, 4)
	var ew sync.WaitGroup
	for i := range outs {
		ew.Add(1)
		go func(i int) {
			defer ew.Done()
			o, err := exec.Command("/bin/echo", fmt.Sprint("child ", i)).Output()
			if err != nil {
				outs[i] = err.Error()
				return
			}
			outs[i] = strings.TrimSpace(string(o))
		}(i)
	}
	ew.Wait()
	fmt.Printf("concurrent: %q\n", outs)
	fmt.Println("false:", exec.Command("/bin/false").Run())
	cmd := exec.Command("/bin/cat")
	cmd.Stdin = strings.NewReader("through cat\n")
	o, err := cmd.Output()
	fmt.Printf("cat: %q err=%v\n", o, err)
}
`

// buildGoProgram writes src as a module in a temporary directory and
// builds it statically (CGO_ENABLED=0); it returns the binary's path.
func buildGoProgram(t *testing.T, src string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go toolchain to build the test program: %v", err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), []byte("module goprog\n\ngo 1.22\n"), 0o644)
	writeFile(t, filepath.Join(dir, "main.go"), []byte(src), 0o644)
	bin := filepath.Join(dir, "goprog")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the test program: %v\n%s", err, b)
	}
	return bin
}

// TestGoStaticProgram runs a static Go program: the runtime's netpoller
// needs epoll and eventfd, its timers epoll_pwait's timeouts, os/exec pipes
// the netpoller watches.
func TestGoStaticProgram(t *testing.T) {
	bin := buildGoProgram(t, goProgram)
	compare(t, cmpCase{argv: []string{bin}, stderr: true})
}

// TestSubprocessPython: subprocess.run reads the child's output with
// poll(2) (selectors.PollSelector).
func TestSubprocessPython(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c",
		`import subprocess; print(subprocess.run(["/bin/echo","hi"],capture_output=True).stdout)`}, stderr: true})
}

// pythonSelectors drives epoll, poll and select from Python over pipes and
// a child process.
const pythonSelectors = `
import os, select, selectors, subprocess
r, w = os.pipe()
for name, cls in [("epoll", selectors.EpollSelector), ("poll", selectors.PollSelector), ("select", selectors.SelectSelector)]:
    sel = cls()
    sel.register(r, selectors.EVENT_READ, name)
    print(name, "empty:", sel.select(timeout=0.02))
    os.write(w, b"x")
    print(name, "ready:", [(k.data, ev) for k, ev in sel.select(timeout=1)])
    os.read(r, 1)
    sel.close()
ep = select.epoll()
ep.register(r, select.EPOLLIN | select.EPOLLET)
os.write(w, b"yy")
print("epoll ET:", ep.poll(0), ep.poll(0))
ep.close()
p = subprocess.Popen(["/bin/sh", "-c", "echo out; echo err >&2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = p.communicate(timeout=30)
print("communicate:", out, err, p.returncode)
`

// TestSubprocessPythonSelectors: Python's selectors (epoll, poll, select)
// and Popen.communicate with two pipes.
func TestSubprocessPythonSelectors(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", pythonSelectors}, stderr: true})
}
