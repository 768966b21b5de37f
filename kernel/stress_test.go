package kernel

import (
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// settleGoroutines waits up to 10 s for the goroutine count to fall to at
// most want, and returns the last count seen.
func settleGoroutines(want int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hostThreads returns the number of host threads of the test process.
func hostThreads() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Threads:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "Threads:"))
		}
	}
	return "?"
}

// TestStress200Kthreads is the seeds' kthread stress: 200 kthreads are
// created through kthreadd, run, and end in every way the API offers —
// stopped while looping, parked then stopped, returning on their own and
// joined, stopped before they ever ran — on two CPUs, some bound. Nothing
// may be left over: no task but kthreadd in the task table, and no
// goroutine beyond those of the kernel itself (the tick, kthreadd and its
// request forwarder), which go too at Shutdown.
func TestStress200Kthreads(t *testing.T) {
	base := runtime.NumGoroutine()
	threadsBefore := hostThreads()
	k := New(Config{CPUs: 2, Tick: time.Millisecond})
	k.ReserveTID()
	k.StartKthreadd()
	// Let kthreadd reach its first wait.
	runTask(k, "settle", func(*Task) {})
	withKernel := settleGoroutines(base + 3)

	if _, err := k.KthreadCreate(KthreadOptions{Name: "bad", CPU: 7, Bound: true}, func(*Kthread) int { return 0 }); err == nil {
		t.Fatal("KthreadCreate bound to a CPU that does not exist succeeded")
	}

	const n = 200
	var work atomic.Int64
	kts := make([]*Kthread, n)
	for i := 0; i < n; i++ {
		opts := KthreadOptions{Name: "stress", CPU: i % 2, Bound: i%4 == 0}
		var fn func(kt *Kthread) int
		switch i % 4 {
		case 0, 1: // loop until stopped
			fn = func(kt *Kthread) int {
				var wq WaitQueue
				for !kt.ShouldStop() {
					work.Add(1)
					kt.ParkPoint()
					wq.Wait(kt.Task(), kt.ShouldStop, WaitOpts{Timeout: kthreadLoopWait, Interruptible: true})
				}
				return 1
			}
		case 2: // return on its own after some work
			fn = func(kt *Kthread) int {
				for j := 0; j < 100; j++ {
					work.Add(1)
					kt.Task().PreemptPoint()
				}
				return 2
			}
		case 3: // never run: created and stopped
			fn = func(*Kthread) int { return 3 }
		}
		var err error
		if i%4 == 3 {
			kts[i], err = k.KthreadCreate(opts, fn)
		} else {
			kts[i], err = k.KthreadRun(opts, fn)
		}
		if err != nil {
			t.Fatal(err)
		}
		if p := kts[i].Task().Parent(); p != k.Kthreadd() {
			t.Fatalf("kthread %d's parent is %v, not kthreadd", i, p)
		}
		if kts[i].Task().Flags()&PFKthread == 0 {
			t.Fatalf("kthread %d lacks PF_KTHREAD", i)
		}
	}
	// Park a few of the looping ones, then stop them parked.
	for i := 1; i < n; i += 40 {
		kts[i].Park()
		if s := kts[i].State(); s != KthreadParked {
			t.Fatalf("kthread %d is %v after Park", i, s)
		}
	}
	for i, kt := range kts {
		switch i % 4 {
		case 0, 1:
			if r, err := kt.Stop(); err != nil || r != 1 {
				t.Fatalf("Stop of kthread %d = %d, %v", i, r, err)
			}
		case 2:
			if r := kt.Join(); r != 2 {
				t.Fatalf("Join of kthread %d = %d", i, r)
			}
		case 3:
			if _, err := kt.Stop(); err != ErrKthreadNeverRan {
				t.Fatalf("Stop of never-run kthread %d: %v", i, err)
			}
		}
		if s := kt.State(); s != KthreadExited {
			t.Fatalf("kthread %d is %v after it ended", i, s)
		}
	}
	if work.Load() == 0 {
		t.Fatal("no kthread did any work")
	}
	// Every task is gone from the table...
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts := k.Tasks()
		if len(ts) == 1 && ts[0] == k.Kthreadd() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks left over, e.g. %s", len(ts), ts[len(ts)-1].dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// ...and so is every goroutine the kthreads had.
	if got := settleGoroutines(withKernel); got > withKernel {
		t.Fatalf("%d goroutines after the kthreads ended, %d before they started", got, withKernel)
	}
	k.Shutdown()
	if got := settleGoroutines(base); got > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Shutdown, %d before the kernel was built:\n%s", got, base, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("goroutines: %d before, %d with the kernel idle, back to %d; host threads %s before, %s after; %d loops of work",
		base, withKernel, runtime.NumGoroutine(), threadsBefore, hostThreads(), work.Load())
}

// TestStress1000ShortTasksOneCPU: 1,000 short-lived tasks created at once
// all pass through one CPU; every one runs exactly once, the CPU hands off
// at least once per task, and no task or goroutine is left over.
func TestStress1000ShortTasksOneCPU(t *testing.T) {
	base := runtime.NumGoroutine()
	k := New(Config{CPUs: 1})
	const n = 1000
	var ran atomic.Int32
	var inside, maxInside atomic.Int32
	tasks := make([]*Task, n)
	for i := range tasks {
		tasks[i] = k.NewTask(TaskOptions{Name: "short", Entry: func(t *Task) {
			if c := inside.Add(1); c > maxInside.Load() {
				maxInside.Store(c)
			}
			ran.Add(1)
			for j := 0; j < 100; j++ {
			}
			inside.Add(-1)
		}})
	}
	forks := k.Forks()
	for _, tk := range tasks {
		tk.Start()
	}
	for _, tk := range tasks {
		select {
		case <-tk.Exited():
		case <-time.After(60 * time.Second):
			t.Fatalf("task %d did not finish: %s", tk.TID(), tk.dump())
		}
	}
	if ran.Load() != n || maxInside.Load() != 1 {
		t.Fatalf("%d of %d tasks ran, up to %d at once on one CPU", ran.Load(), n, maxInside.Load())
	}
	if forks != n {
		t.Fatalf("Forks() = %d, want %d", forks, n)
	}
	if cs := k.ContextSwitches(); cs < n {
		t.Fatalf("%d context switches for %d tasks", cs, n)
	}
	for len(k.Tasks()) != 0 {
		time.Sleep(time.Millisecond)
	}
	k.Shutdown()
	if got := settleGoroutines(base); got > base {
		t.Fatalf("%d goroutines left, %d before", got, base)
	}
}
