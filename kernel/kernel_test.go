package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func init() { Debug = true }

func TestTasksRunAndExit(t *testing.T) {
	for _, ncpu := range []int{1, 2} {
		k := New(Config{CPUs: ncpu})
		var ran atomic.Int32
		var tasks []*Task
		for i := 0; i < 1000; i++ {
			tk := k.NewTask(TaskOptions{Name: "short", Entry: func(t *Task) { ran.Add(1) }})
			tasks = append(tasks, tk)
			tk.Start()
		}
		for _, tk := range tasks {
			<-tk.Exited()
		}
		if got := ran.Load(); got != 1000 {
			t.Fatalf("cpus=%d: %d of 1000 tasks ran", ncpu, got)
		}
		if n := len(k.Tasks()); n != 0 {
			t.Fatalf("cpus=%d: %d tasks left in the table", ncpu, n)
		}
		k.Shutdown()
	}
}

func TestOneCPUNeverRunsTwoTasksAtOnce(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	var inside, maxInside atomic.Int32
	var tasks []*Task
	for i := 0; i < 4; i++ {
		tk := k.NewTask(TaskOptions{Name: "spin", Entry: func(t *Task) {
			deadline := time.Now().Add(30 * time.Millisecond)
			for time.Now().Before(deadline) {
				n := inside.Add(1)
				if n > maxInside.Load() {
					maxInside.Store(n)
				}
				inside.Add(-1)
				t.PreemptPoint()
			}
		}})
		tasks = append(tasks, tk)
		tk.Start()
	}
	for _, tk := range tasks {
		<-tk.Exited()
	}
	if maxInside.Load() != 1 {
		t.Fatalf("%d tasks ran at once on one CPU", maxInside.Load())
	}
	var preempted uint64
	for _, tk := range tasks {
		_, iv := tk.ContextSwitches()
		preempted += iv
	}
	if preempted == 0 {
		t.Fatalf("no task was ever preempted by the tick")
	}
}

func TestWaitQueueWakeAndTimeout(t *testing.T) {
	k := New(Config{CPUs: 2})
	defer k.Shutdown()
	var wq WaitQueue
	var flag atomic.Bool
	res := make(chan error, 2)
	a := k.NewTask(TaskOptions{Name: "waiter", Entry: func(t *Task) {
		res <- wq.Wait(t, flag.Load, WaitOpts{Timeout: Forever})
	}})
	b := k.NewTask(TaskOptions{Name: "timeout", Entry: func(t *Task) {
		res <- wq.Wait(t, func() bool { return false }, WaitOpts{Timeout: 10 * time.Millisecond})
	}})
	a.Start()
	b.Start()
	if err := <-res; err != ErrTimedOut {
		t.Fatalf("timed wait returned %v", err)
	}
	flag.Store(true)
	wq.NotifyAll()
	if err := <-res; err != nil {
		t.Fatalf("woken wait returned %v", err)
	}
}

// kthreadLoopWait is how long the kthreads of the lifecycle and stress
// tests sleep between turns of their loops. It was 1 ms: 200 kthreads then
// asked two CPUs for 200,000 wake-ups a second, more than they serve under
// -race on a loaded host, so every run queue stayed a hundred deep. A
// kthread whose thread the host stalled during a turn was charged the
// stall as run time (a sandbox CPU's time is wall time while a task holds
// it), which put its vruntime that much ahead of a hundred tasks that each
// had to run as long before it got the CPU again: under stress-ng --cpu 2,
// Stop waited over three minutes for one such kthread (and 20-50 s for the
// 200 in runs that finished). At 20 ms the queues stay short and a stalled
// kthread's wait is short too; the tests still stop kthreads in the middle
// of their loops.
const kthreadLoopWait = 20 * time.Millisecond

func TestKthreadLifecycle(t *testing.T) {
	k := New(Config{CPUs: 2})
	defer k.Shutdown()
	k.ReserveTID() // init
	k.StartKthreadd()
	if k.Kthreadd().TID() != 2 {
		t.Fatalf("kthreadd is TID %d", k.Kthreadd().TID())
	}
	var loops atomic.Int32
	kts := make([]*Kthread, 0, 200)
	for i := 0; i < 200; i++ {
		kt, err := k.KthreadRun(KthreadOptions{Name: "worker", CPU: i % 2, Bound: true}, func(kt *Kthread) int {
			var wq WaitQueue
			for !kt.ShouldStop() {
				loops.Add(1)
				// Every 20 ms (kthreadLoopWait), not every 1 ms.
				wq.Wait(kt.Task(), kt.ShouldStop, WaitOpts{Timeout: kthreadLoopWait, Interruptible: true})
			}
			return 7
		})
		if err != nil {
			t.Fatal(err)
		}
		if kt.Task().Parent() != k.Kthreadd() {
			t.Fatalf("kthread parent is not kthreadd")
		}
		kts = append(kts, kt)
	}
	for _, kt := range kts {
		// Stop before a kthread first ran skips its function (Linux's
		// kthread_stop returns -EINTR then): wait until each has run.
		for kt.State() == KthreadCreated {
			time.Sleep(time.Millisecond)
		}
		if r, err := kt.Stop(); err != nil || r != 7 {
			t.Fatalf("Stop = %d, %v", r, err)
		}
	}
	never, _ := k.KthreadCreate(KthreadOptions{Name: "never"}, func(*Kthread) int { return 1 })
	if _, err := never.Stop(); err != ErrKthreadNeverRan {
		t.Fatalf("Stop of a never-run kthread: %v", err)
	}
	// A stopped kthread's task leaves the table once it has given its
	// CPU away, after Stop returned: wait for that (bounded), not a
	// fixed time.
	var left *Task
	deadline := time.Now().Add(time.Minute)
	for {
		left = nil
		for _, tk := range k.Tasks() {
			if tk != k.Kthreadd() {
				left = tk
			}
		}
		if left == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if left != nil {
		t.Fatalf("task left over a minute after every kthread stopped: %s", left.dump())
	}
}

// A kthread_create racing with Shutdown either gets its kthread or
// ErrNoKthreadd; it never panics or waits forever (it once sent on the
// closed request channel when a workqueue made a worker during teardown).
func TestKthreadCreateRacesShutdown(t *testing.T) {
	for round := 0; round < 50; round++ {
		k := New(Config{CPUs: 2, Tick: time.Millisecond})
		k.ReserveTID()
		k.StartKthreadd()
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 20; j++ {
					kt, err := k.KthreadCreate(KthreadOptions{Name: "racer"}, func(*Kthread) int { return 0 })
					if err == ErrNoKthreadd {
						return
					}
					if err != nil {
						t.Errorf("KthreadCreate: %v", err)
						return
					}
					kt.Stop()
				}
			}()
		}
		k.Shutdown()
		wg.Wait()
	}
}

// TestKthreadHostThreadAtRun: a created kthread is in the task table, a
// child of kthreadd, but has no host thread until Run (its task is still
// Created: nothing was started for it); Run starts it and its function
// runs; a second Run does nothing; and a created kthread that is only
// stopped still exits and leaves the table.
func TestKthreadHostThreadAtRun(t *testing.T) {
	k := New(Config{CPUs: 2})
	defer k.Shutdown()
	k.ReserveTID()
	k.StartKthreadd()
	ran := make(chan struct{})
	kt, err := k.KthreadCreate(KthreadOptions{Name: "later"}, func(kt *Kthread) int {
		close(ran)
		var wq WaitQueue
		for !kt.ShouldStop() {
			wq.Wait(kt.Task(), kt.ShouldStop, WaitOpts{Timeout: kthreadLoopWait, Interruptible: true})
		}
		return 5
	})
	if err != nil {
		t.Fatal(err)
	}
	if k.TaskByTID(kt.Task().TID()) != kt.Task() || kt.Task().Parent() != k.Kthreadd() {
		t.Fatalf("created kthread %s is not in the task table under kthreadd", kt.Task().dump())
	}
	if s := kt.Task().State(); s != TaskCreated || kt.Task().host != nil {
		t.Fatalf("created kthread before Run: state %v, host thread %v; want Created and none", s, kt.Task().host)
	}
	kt.Run()
	kt.Run() // a second Run (every wake-up path calls it) does nothing
	<-ran
	if r, err := kt.Stop(); err != nil || r != 5 {
		t.Fatalf("Stop = %d, %v; want 5", r, err)
	}
	idle, _ := k.KthreadCreate(KthreadOptions{Name: "never"}, func(*Kthread) int { return 1 })
	if _, err := idle.Stop(); err != ErrKthreadNeverRan {
		t.Fatalf("Stop of a kthread never run: %v, want ErrKthreadNeverRan", err)
	}
	deadline := time.Now().Add(time.Minute)
	for k.TaskByTID(idle.Task().TID()) != nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if k.TaskByTID(idle.Task().TID()) != nil {
		t.Fatalf("the stopped, never-run kthread's task stayed in the table a minute: %s", idle.Task().dump())
	}
}

// TestReserveTIDAt: clone3's set_tid takes a chosen TID: free once, taken
// after (by the reservation, then by the task created with it), and the
// allocator's next TIDs go around it.
func TestReserveTIDAt(t *testing.T) {
	k := New(Config{CPUs: 1})
	defer k.Shutdown()
	if k.ReserveTID() != 1 {
		t.Fatal("first TID is not 1")
	}
	if k.ReserveTIDAt(1) || k.ReserveTIDAt(0) || k.ReserveTIDAt(-3) {
		t.Fatal("ReserveTIDAt took a TID in use or out of range")
	}
	if !k.ReserveTIDAt(3) {
		t.Fatal("ReserveTIDAt(3): a free TID was refused")
	}
	if k.ReserveTIDAt(3) {
		t.Fatal("ReserveTIDAt(3) twice")
	}
	task := k.NewTask(TaskOptions{Name: "chosen", TID: 3, Entry: func(*Task) {}})
	if task.TID() != 3 || k.TaskByTID(3) != task {
		t.Fatalf("task created with TID 3 has %d", task.TID())
	}
	if a, b := k.ReserveTID(), k.ReserveTID(); a != 2 || b != 4 {
		t.Fatalf("allocator gave %d and %d after 3 was taken, want 2 and 4", a, b)
	}
}

// TestHostCPUsBusy checks that HostCPUsBusy is true exactly while tasks
// hold as many CPUs as the host has, and false again after one of them
// exits, and never with fewer sandbox CPUs than host CPUs.
func TestHostCPUsBusy(t *testing.T) {
	if n := runtime.NumCPU(); n > 1 {
		k := New(Config{CPUs: n - 1})
		release := make(chan struct{})
		var tasks []*Task
		for i := range n - 1 {
			var aff CPUSet
			aff.Set(i)
			tk := k.NewTask(TaskOptions{Name: "hold", Affinity: aff, Entry: func(*Task) { <-release }})
			tk.Start()
			tasks = append(tasks, tk)
		}
		for k.heldCPUs() != int32(n-1) {
			time.Sleep(time.Millisecond)
		}
		if k.HostCPUsBusy() {
			t.Errorf("with all %d sandbox CPUs of %d host CPUs held, HostCPUsBusy is true", n-1, n)
		}
		close(release)
		for _, tk := range tasks {
			<-tk.Exited()
		}
		k.Shutdown()
	}
	n := runtime.NumCPU()
	k := New(Config{CPUs: n})
	defer k.Shutdown()
	if k.HostCPUsBusy() {
		t.Fatalf("with no task, HostCPUsBusy is true")
	}
	var arrived sync.WaitGroup
	release := make([]chan struct{}, n)
	tasks := make([]*Task, n)
	arrived.Add(n)
	for i := range n {
		release[i] = make(chan struct{})
		var aff CPUSet
		aff.Set(i)
		tasks[i] = k.NewTask(TaskOptions{Name: "hold", Affinity: aff, Entry: func(*Task) {
			arrived.Done()
			<-release[i] // holding CPU i
		}})
		tasks[i].Start()
		if i < n-1 {
			// Wait for it, then check before the last one starts.
			for k.heldCPUs() != int32(i+1) {
				time.Sleep(time.Millisecond)
			}
			if k.HostCPUsBusy() {
				t.Errorf("with %d of %d CPUs held, HostCPUsBusy is true", i+1, n)
			}
		}
	}
	arrived.Wait()
	if !k.HostCPUsBusy() {
		t.Errorf("with all %d CPUs held, HostCPUsBusy is false", n)
	}
	close(release[0])
	<-tasks[0].Exited()
	if k.HostCPUsBusy() {
		t.Errorf("after a holder exited, HostCPUsBusy is true")
	}
	for i := 1; i < n; i++ {
		close(release[i])
		<-tasks[i].Exited()
	}
	if got := k.heldCPUs(); got != 0 {
		t.Errorf("with every task gone, %d CPUs counted as held", got)
	}

	// More sandbox CPUs than host CPUs: n tasks on sandbox CPUs {0, n,
	// 2n, ...}, all backed by the first host CPU, leave the others free.
	if n > 1 {
		k2 := New(Config{CPUs: n * n})
		defer k2.Shutdown()
		rel := make(chan struct{})
		var held []*Task
		for i := range n {
			var aff CPUSet
			aff.Set(i * n)
			tk := k2.NewTask(TaskOptions{Name: "hold", Affinity: aff, Entry: func(*Task) { <-rel }})
			tk.Start()
			held = append(held, tk)
		}
		for k2.heldCPUs() != int32(n) {
			time.Sleep(time.Millisecond)
		}
		if k2.HostCPUsBusy() {
			t.Errorf("with %d sandbox CPUs held, all backed by one of %d host CPUs, HostCPUsBusy is true", n, n)
		}
		close(rel)
		for _, tk := range held {
			<-tk.Exited()
		}
	}
}
