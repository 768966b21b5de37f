package procfs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
)

// procEnv is a kernel with kthreadd and a /proc to read.
type procEnv struct {
	k   *kernel.Kernel
	v   *vfs.VirtualFilesystem
	fsc *vfs.FSContext
}

func newProcEnv(t *testing.T, cpus int) *procEnv {
	t.Helper()
	s := process.NewSandbox()
	s.Kernel = kernel.New(kernel.Config{CPUs: cpus})
	t.Cleanup(s.Kernel.Shutdown)
	s.Kernel.ReserveTID()
	s.Kernel.StartKthreadd()
	for s.Kernel.Kthreadd().State() != kernel.TaskSleeping {
		time.Sleep(time.Millisecond)
	}
	v := testVFS(t, "")
	s.VFS = v
	if err := v.Mount(fs.Background, "/proc", New(s), vfs.MountOptions{Source: "proc"}); err != nil {
		t.Fatal(err)
	}
	fsc, _ := v.NewFSContext("/")
	return &procEnv{k: s.Kernel, v: v, fsc: fsc}
}

func (e *procEnv) read(t *testing.T, path string) string {
	t.Helper()
	return read(t, e.v, e.fsc, path)
}

// statFields returns /proc/PID/stat's fields numbered as in proc(5)
// (fields[1] is the pid; the comm keeps its parentheses).
func (e *procEnv) statFields(t *testing.T, pid int32) []string {
	t.Helper()
	s := e.read(t, fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndex(s, ")")
	f := append([]string{"", strings.Fields(s[:i+1])[0], s[strings.Index(s, "(") : i+1]}, strings.Fields(s[i+1:])...)
	if len(f) != 53 {
		t.Fatalf("/proc/%d/stat has %d fields, want 52: %q", pid, len(f)-1, s)
	}
	return f
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProcStatSchedFields: state, flags, priority, nice, processor,
// rt_priority and policy of /proc/PID/stat, for kthreadd, a real-time
// kthread and an uninterruptible sleeper.
func TestProcStatSchedFields(t *testing.T) {
	e := newProcEnv(t, 2)
	f := e.statFields(t, 2)
	if f[2] != "(kthreadd)" || f[3] != "I" || f[4] != "0" {
		t.Fatalf("kthreadd: comm %s state %s ppid %s", f[2], f[3], f[4])
	}
	if flags := atoi(t, f[9]); flags&int64(kernel.PFKthread) == 0 {
		t.Fatalf("kthreadd flags %#x lack PF_KTHREAD", flags)
	}
	if f[18] != "20" || f[19] != "0" || f[40] != "0" || f[41] != "0" {
		t.Fatalf("kthreadd priority %s nice %s rt_priority %s policy %s, want 20 0 0 0", f[18], f[19], f[40], f[41])
	}

	var release atomic.Bool
	var wq kernel.WaitQueue
	kt, err := e.k.KthreadRun(kernel.KthreadOptions{Name: "rtworker", CPU: 1, Bound: true}, func(kt *kernel.Kthread) int {
		wq.Wait(kt.Task(), release.Load, kernel.WaitOpts{Timeout: kernel.Forever})
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := kt.Task().SetSchedParams(kernel.SchedParams{Policy: kernel.SchedRR, RTPriority: 7, Nice: -3}); err != nil {
		t.Fatal(err)
	}
	// Asleep in its function (a kthread just started is Sleeping too,
	// before its body runs, and then in its start wait).
	for kt.State() != kernel.KthreadRunning || kt.Task().State() != kernel.TaskSleeping {
		time.Sleep(time.Millisecond)
	}
	f = e.statFields(t, kt.Task().TID())
	if f[4] != "2" || f[18] != "-8" || f[19] != "-3" || f[39] != "1" || f[40] != "7" || f[41] != "2" {
		t.Fatalf("RR kthread: ppid %s priority %s nice %s processor %s rt_priority %s policy %s, want 2 -8 -3 1 7 2",
			f[4], f[18], f[19], f[39], f[40], f[41])
	}
	if s := e.read(t, fmt.Sprintf("/proc/%d/cmdline", kt.Task().TID())); s != "" {
		t.Fatalf("kthread cmdline %q", s)
	}

	// A (non-kthread) task asleep in an uninterruptible wait is D and
	// counts in procs_blocked.
	d := e.k.NewTask(kernel.TaskOptions{Name: "dsleeper", Entry: func(tk *kernel.Task) {
		wq.Wait(tk, release.Load, kernel.WaitOpts{Timeout: kernel.Forever})
	}})
	d.Start()
	for !d.Uninterruptible() {
		time.Sleep(time.Millisecond)
	}
	if f := e.statFields(t, d.TID()); f[3] != "D" {
		t.Fatalf("uninterruptible sleeper state %s", f[3])
	}
	if !strings.Contains(e.read(t, fmt.Sprintf("/proc/%d/status", d.TID())), "State:\tD (disk sleep)\n") {
		t.Fatalf("status of an uninterruptible sleeper: %s", e.read(t, fmt.Sprintf("/proc/%d/status", d.TID())))
	}
	if !strings.Contains(e.read(t, "/proc/stat"), "\nprocs_blocked 1\n") {
		t.Fatalf("/proc/stat with one D task:\n%s", e.read(t, "/proc/stat"))
	}
	release.Store(true)
	wq.NotifyAll()
	kt.Join()
	<-d.Exited()
}

// TestProcCPUTimeGrowsWhenWorking: a kthread's utime+stime in
// /proc/PID/stat and its schedstat grow when it works, not while it
// sleeps, and its context switches show in /proc/PID/status.
func TestProcCPUTimeGrowsWhenWorking(t *testing.T) {
	e := newProcEnv(t, 2)
	var work kernel.Completion
	kt, err := e.k.KthreadRun(kernel.KthreadOptions{Name: "worker"}, func(kt *kernel.Kthread) int {
		work.Wait(kt.Task())
		// 120 ms of its own CPU time, not of wall time: preempted on
		// a busy kernel it would otherwise end with less, and the
		// wait for 120 ms below would never end.
		end := kt.Task().Runtime() + 120*time.Millisecond
		for kt.Task().Runtime() < end {
			kt.Task().PreemptPoint()
		}
		var never kernel.WaitQueue
		never.Wait(kt.Task(), kt.ShouldStop, kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true})
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	defer kt.Stop()
	pid := kt.Task().TID()
	// Asleep in its function (a kthread just started is Sleeping too,
	// before its body runs, and then in its start wait).
	for kt.State() != kernel.KthreadRunning || kt.Task().State() != kernel.TaskSleeping {
		time.Sleep(time.Millisecond)
	}
	cpuTicks := func() int64 {
		f := e.statFields(t, pid)
		return atoi(t, f[14]) + atoi(t, f[15])
	}
	schedRun := func() int64 {
		return atoi(t, strings.Fields(e.read(t, fmt.Sprintf("/proc/%d/schedstat", pid)))[0])
	}
	before, runBefore := cpuTicks(), schedRun()
	time.Sleep(30 * time.Millisecond)
	if c, r := cpuTicks(), schedRun(); c != before || r != runBefore {
		t.Fatalf("a sleeping kthread's CPU time grew: %d -> %d ticks, %d -> %d ns", before, c, runBefore, r)
	}
	work.Complete()
	for kt.Task().Runtime() < 120*time.Millisecond || kt.Task().State() != kernel.TaskSleeping {
		time.Sleep(5 * time.Millisecond)
	}
	after, runAfter := cpuTicks(), schedRun()
	if after-before < 10 || runAfter-runBefore < int64(115*time.Millisecond) {
		t.Fatalf("120ms of work: %d -> %d ticks, schedstat %d -> %d ns", before, after, runBefore, runAfter)
	}
	if f := e.statFields(t, pid); f[14] != "0" {
		t.Fatalf("a kthread has user time: %s ticks", f[14])
	}
	ss := strings.Fields(e.read(t, fmt.Sprintf("/proc/%d/schedstat", pid)))
	if len(ss) != 3 || atoi(t, ss[2]) < 2 {
		t.Fatalf("schedstat %v", ss)
	}
	status := e.read(t, fmt.Sprintf("/proc/%d/status", pid))
	if !regexp.MustCompile(`\nvoluntary_ctxt_switches:\t[1-9]\d*\nnonvoluntary_ctxt_switches:\t\d+\n`).MatchString(status) {
		t.Fatalf("status lacks context switches:\n%s", status)
	}
}

// TestProcStatAndLoadavg: the cpu lines split user/system/idle per CPU,
// the counters are the kernel's, and /proc/loadavg has Linux's format.
func TestProcStatAndLoadavg(t *testing.T) {
	e := newProcEnv(t, 2)
	stat := e.read(t, "/proc/stat")
	lines := strings.Split(stat, "\n")
	re := regexp.MustCompile(`^cpu[01]? +\d+ 0 \d+ \d+ 0 0 0 0 0 0$`)
	for i := 0; i < 3; i++ {
		if !re.MatchString(lines[i]) {
			t.Fatalf("cpu line %q", lines[i])
		}
	}
	if strings.HasPrefix(lines[3], "cpu") {
		t.Fatalf("more cpu lines than CPUs:\n%s", stat)
	}
	for _, key := range []string{"ctxt", "processes", "procs_running", "procs_blocked", "btime"} {
		if !regexp.MustCompile(`\n` + key + ` \d+\n`).MatchString(stat) {
			t.Fatalf("/proc/stat lacks %s:\n%s", key, stat)
		}
	}
	if !strings.Contains(stat, fmt.Sprintf("\nprocesses %d\n", e.k.Forks())) {
		t.Fatalf("processes is not Forks() = %d:\n%s", e.k.Forks(), stat)
	}
	la := e.read(t, "/proc/loadavg")
	if !regexp.MustCompile(`^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n$`).MatchString(la) {
		t.Fatalf("/proc/loadavg %q", la)
	}
}
