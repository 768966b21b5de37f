package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// TestMain makes the test binary a sentry too: Start re-executes
// /proc/self/exe with "boot", as runsc-lite does.
func TestMain(m *testing.M) {
	if builtWithCgo {
		fmt.Fprintln(os.Stderr, "sentry/sandbox: the tests run their own binary as a confined sentry, which cannot be built with cgo: run them with CGO_ENABLED=0 (make unit does)")
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "boot" {
		os.Exit(Main(os.Args[2:], os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "moveroot" {
		os.Exit(moveRootChild())
	}
	if len(os.Args) > 2 && os.Args[1] == "filterbench" {
		os.Exit(filterBench(os.Args[2] == "filtered"))
	}
	os.Exit(m.Run())
}

// filterBench is a child of BenchmarkSeccompFilter: it times the ptrace
// platform's hot host calls (a ptrace request and a wait4, both failing
// at once here: ESRCH, ECHILD), with the sentry's seccomp filter installed
// or not, and prints ns per call.
func filterBench(filtered bool) int {
	if filtered {
		insns, err := filterOptions{pid: os.Getpid()}.program()
		if err == nil {
			err = seccomp.SetFilter(insns)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	const n = 2000000
	start := time.Now()
	for i := 0; i < n; i++ {
		unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGS, 0x7fffffff, 0, 0, 0, 0)
		unix.RawSyscall6(unix.SYS_WAIT4, 0x7fffffff, 0, unix.WNOHANG, 0, 0, 0)
	}
	fmt.Println(float64(time.Since(start).Nanoseconds()) / (2 * n))
	return 0
}

// moveRootChild is a child of TestMoveToEmptyRoot, in a mount namespace of
// its own: it takes the initial-ramfs fallback of the confinement's empty
// root, and prints what it then sees at "/" and "/..".
func moveRootChild() int {
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		fmt.Println(err)
		return 1
	}
	if err := mountEmptyRoot(); err != nil {
		fmt.Println(err)
		return 1
	}
	if err := moveToEmptyRoot(); err != nil {
		fmt.Println(err)
		return 1
	}
	for _, d := range []string{"/", "/..", "/../.."} {
		ents, err := os.ReadDir(d)
		fmt.Printf("%s: %d entries %v\n", d, len(ents), err)
	}
	return 0
}

// TestMoveToEmptyRoot: where pivot_root cannot work (the host's root is
// the initial ramfs, as in test-kvm's guest), the confinement moves the
// empty root over "/" and chroots into it: nothing of the old root is
// reachable. Escaped would be an entry of the host's root listed.
func TestMoveToEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a mount namespace)")
	}
	cmd := exec.Command("/proc/self/exe", "moveroot")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "/: 0 entries <nil>\n/..: 0 entries <nil>\n/../..: 0 entries <nil>\n"
	if string(out) != want {
		t.Errorf("after moving the empty root over /:\n%s\nwant:\n%s", out, want)
	}
}

// BenchmarkSeccompFilter: what the sentry's seccomp filter adds to each of
// its host calls (the ptrace platform makes four per application syscall),
// measured in two child processes, one under the filter.
func BenchmarkSeccompFilter(b *testing.B) {
	run := func(mode string) float64 {
		out, err := exec.Command("/proc/self/exe", "filterbench", mode).Output()
		if err != nil {
			b.Fatalf("%s: %v", mode, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	var plain, filtered []float64
	for i := 0; i < b.N; i++ {
		plain = append(plain, run("plain"))
		filtered = append(filtered, run("filtered"))
	}
	sort.Float64s(plain)
	sort.Float64s(filtered)
	p, f := plain[len(plain)/2], filtered[len(filtered)/2]
	b.ReportMetric(p, "ns/call-unfiltered")
	b.ReportMetric(f, "ns/call-filtered")
	b.ReportMetric(f-p, "ns/call-filter-cost")
}

func testConfig(argv ...string) boot.Config {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return boot.Config{Container: container.Spec{
		Root:    container.Root{Path: "/", Overlay: true},
		Process: container.Process{Args: argv, Env: []string{"PATH=/usr/bin:/bin"}, Cwd: "/"},
	}, Log: log}
}

// TestStartWait: Start and Wait report init's status, a start-up failure
// with the status runsc-lite exits with, and Started returns once init
// runs.
func TestStartWait(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the confined sentry needs root (namespaces, pivot_root)")
	}
	for _, c := range []struct {
		argv  []string
		code  int
		start error
	}{
		{[]string{"/bin/true"}, 0, nil},
		{[]string{"/bin/sh", "-c", "exit 7"}, 7, nil},
		{[]string{"/no/such/program"}, 127, &boot.ExitError{}},
	} {
		p, err := Start(testConfig(c.argv...), Options{Stdin: devNull(t), Stdout: devNull(t), Stderr: devNull(t)})
		if err != nil {
			t.Fatalf("%q: Start: %v", c.argv, err)
		}
		serr := p.Started()
		ws, err := p.Wait()
		if c.start != nil {
			var ee *boot.ExitError
			if !errors.As(serr, &ee) || !errors.As(err, &ee) || ee.Status != c.code {
				t.Errorf("%q: Started %v, Wait %v; want a start-up error with status %d", c.argv, serr, err, c.code)
			}
			continue
		}
		if serr != nil || err != nil || ws.ShellStatus() != c.code {
			t.Errorf("%q: Started %v, Wait %v %v; want status %d", c.argv, serr, ws, err, c.code)
		}
	}
}

func devNull(t *testing.T) *os.File {
	f, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestStartNetNSNotJoined: with Options.NetNS (--network=sandbox's
// namespace, whose interfaces the sentry takes over), every thread of the
// sentry is in a network namespace of its own, neither that one nor the
// launcher's, and once started the sentry holds no descriptor of it.
// Failed would be a sentry (or one of its threads) able to reach the
// namespace's network through host sockets.
func TestStartNetNSNotJoined(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a network namespace needs root")
	}
	// A thread of this process in a new network namespace, held until the
	// test ends, names it through /proc.
	nsPath := make(chan string)
	release := make(chan struct{})
	defer close(release)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			nsPath <- "error: " + err.Error()
			return
		}
		nsPath <- fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		<-release
	}()
	ns := <-nsPath
	if strings.HasPrefix(ns, "error: ") {
		t.Fatal(ns)
	}
	want, err := os.Readlink(ns)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := Start(testConfig("/bin/sh", "-c", "echo up; read x"), Options{NetNS: ns, Stdin: r, Stdout: w, Stderr: devNull(t)})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Started(); err != nil {
		t.Fatal(err)
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/ns/net", p.Pid()))
	if len(tasks) == 0 {
		t.Fatalf("no threads of the sentry %d", p.Pid())
	}
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	first := ""
	for _, task := range tasks {
		got, err := os.Readlink(task)
		if err != nil {
			continue // a thread that ended
		}
		if first == "" {
			first = got
		}
		if got == want || got == own || got != first {
			t.Errorf("%s is %s: want the sentry's own namespace (not the given %s, nor the launcher's %s, and the same on every thread: %s)", task, got, want, own, first)
		}
	}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", p.Pid()))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == want {
			t.Errorf("the started sentry still holds %s, the given namespace", fd)
		}
	}
	p.Signal(unix.SIGKILL)
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the sentry did not die")
	}
}
