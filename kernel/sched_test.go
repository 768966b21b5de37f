package kernel

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// spinFor runs a busy loop with preemption points until stop is closed.
func spinFor(stop <-chan struct{}) func(*Task) {
	return func(t *Task) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := 0; i < 1000; i++ {
			}
			t.PreemptPoint()
		}
	}
}

// The nice-weight shares are checked by TestNiceSharesSettle
// (accounting_test.go), which waits for the share to settle instead of
// trusting one reading on a loaded host.

func TestFIFORunsAheadOfFair(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	stop := make(chan struct{})
	fair := k.NewTask(TaskOptions{Name: "fair", Entry: spinFor(stop)})
	fair.Start()
	time.Sleep(20 * time.Millisecond)
	var fairBefore, fairAfter time.Duration
	rt := k.NewTask(TaskOptions{Name: "fifo", Entry: func(t *Task) {
		fairBefore = fair.Runtime()
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) {
			t.PreemptPoint()
		}
		// Read while still holding the only CPU, so the fair task's
		// turn after the FIFO task exits is not counted.
		fairAfter = fair.Runtime()
	}})
	if err := rt.SetSchedParams(SchedParams{Policy: SchedFIFO, RTPriority: 50}); err != nil {
		t.Fatal(err)
	}
	rt.Start()
	<-rt.Exited()
	fairDuring := fairAfter - fairBefore
	close(stop)
	<-fair.Exited()
	if fairDuring > 10*time.Millisecond {
		t.Fatalf("fair task ran %v while a FIFO task spun on its only CPU", fairDuring)
	}
}

func TestRRTakesTurns(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	stop := make(chan struct{})
	var ts [2]*Task
	for i := range ts {
		ts[i] = k.NewTask(TaskOptions{Name: "rr", Entry: spinFor(stop)})
		ts[i].SetSchedParams(SchedParams{Policy: SchedRR, RTPriority: 10})
	}
	for _, tk := range ts {
		tk.Start()
	}
	time.Sleep(800 * time.Millisecond)
	close(stop)
	for _, tk := range ts {
		<-tk.Exited()
	}
	a, b := ts[0].Runtime(), ts[1].Runtime()
	_, sw0 := ts[0].ContextSwitches()
	if a < 200*time.Millisecond || b < 200*time.Millisecond || sw0 < 2 {
		t.Fatalf("RR tasks did not take turns: %v / %v, %d preemptions", a, b, sw0)
	}
}

func TestBalanceSplitsTwoAndTwo(t *testing.T) {
	k := New(Config{CPUs: 2, Tick: time.Millisecond})
	defer k.Shutdown()
	stop := make(chan struct{})
	var mu sync.Mutex
	where := map[*Task]map[int]time.Duration{}
	var ts []*Task
	for i := 0; i < 4; i++ {
		tk := k.NewTask(TaskOptions{Name: "spin", Entry: spinFor(stop)})
		ts = append(ts, tk)
		where[tk] = map[int]time.Duration{}
		tk.Start()
	}
	pinnedStop := make(chan struct{})
	var moved atomic.Bool
	var pin CPUSet
	pin.Set(1)
	pinned := k.NewTask(TaskOptions{Name: "pinned", Affinity: pin, Entry: func(t *Task) {
		for {
			select {
			case <-pinnedStop:
				return
			default:
			}
			if t.CPU().ID() != 1 {
				moved.Store(true)
			}
			t.PreemptPoint()
		}
	}})
	pinned.Start()
	time.Sleep(300 * time.Millisecond)
	// Sample where tasks wait or run.
	for i := 0; i < 50; i++ {
		mu.Lock()
		for _, tk := range ts {
			if c := tk.CPU(); c != nil {
				where[tk][c.ID()]++
			}
		}
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	close(pinnedStop)
	for _, tk := range ts {
		<-tk.Exited()
	}
	<-pinned.Exited()
	if moved.Load() {
		t.Fatal("a task pinned to CPU 1 ran on another CPU")
	}
	busy0, _ := k.CPU(0).Times()
	busy1, _ := k.CPU(1).Times()
	if busy0 < 250*time.Millisecond || busy1 < 250*time.Millisecond {
		t.Fatalf("CPUs not both busy: %v / %v", busy0, busy1)
	}
}

// TestWakeupPreemptsSpinner: on one CPU, a fair task woken while another
// task spins takes the CPU at the spinner's next preemption point (Linux's
// check_preempt_wakeup), not when the spinner's slice ends. The kernel has
// no tick here, so the wake-up is the only thing that can ever take the
// CPU from the spinner: without wake-up preemption the woken task never
// runs and the test fails at its deadline.
//
// The check counts the spinner's loop iterations between the wake-up and
// the moment the woken task runs, not the time in between: a loaded host
// may delay either thread by any amount, but a descheduled spinner does
// not loop, so the count does not depend on the host. (The wake-up latency
// in time is a measurement, not a property: BenchmarkWakeupLatencyUnderSpin.)
func TestWakeupPreemptsSpinner(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Hour})
	defer k.Shutdown()
	const n = 40
	var wq WaitQueue
	var gen, spins atomic.Int64
	ran := make(chan int64, 1)
	sleeper := k.NewTask(TaskOptions{Name: "sleeper", Entry: func(t *Task) {
		for i := int64(1); i <= n; i++ {
			wq.Wait(t, func() bool { return gen.Load() >= i }, WaitOpts{Timeout: Forever})
			// The spinner is off the only CPU now: its count is frozen.
			ran <- spins.Load()
		}
	}})
	asleep := func() {
		t.Helper()
		waitUntil(t, "the sleeper to sleep", func() bool { return wq.Len() == 1 && sleeper.State() == TaskSleeping })
	}
	// The sleeper sleeps before the spinner starts: with no tick, a task
	// that starts while the spinner holds the CPU might never run.
	sleeper.Start()
	asleep()
	stop := make(chan struct{})
	spinner := k.NewTask(TaskOptions{Name: "spin", Entry: func(t *Task) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			spins.Add(1)
			t.PreemptPoint()
		}
	}})
	spinner.Start()
	defer func() {
		close(stop)
		<-spinner.Exited()
	}()
	var most int64
	for i := int64(1); i <= n; i++ {
		// Let the spinner hold the CPU for 5 ms of its own runtime, so
		// the sleeper's vruntime lead is well past the wake-up
		// granularity (1 ms).
		r0 := spinner.Runtime()
		waitUntil(t, "the spinner to run", func() bool { return spinner.Runtime()-r0 >= 5*time.Millisecond })
		gen.Store(i)
		wq.NotifyAll()
		// Read after the wake-up asked for the CPU: the spinner adds at
		// most one more iteration before its preemption point.
		atWake := spins.Load()
		var atRun int64
		select {
		case atRun = <-ran:
		case <-time.After(30 * time.Second):
			t.Fatalf("wake-up %d: the woken task did not run in 30 s while the spinner spun (%d iterations since)", i, spins.Load()-atWake)
		}
		most = max(most, atRun-atWake)
		if atRun-atWake > 1 {
			t.Errorf("wake-up %d: the spinner ran %d more iterations (preemption points) before the woken task ran, want at most 1", i, atRun-atWake)
		}
		if i < n {
			asleep()
		}
	}
	<-sleeper.Exited()
	_, preempted := spinner.ContextSwitches()
	t.Logf("%d wake-ups: the spinner ran at most %d iteration(s) past a wake-up; preempted %d times", n, most, preempted)
	if preempted < n {
		t.Errorf("the spinner was preempted %d times for %d wake-ups", preempted, n)
	}
}

// waitUntil polls cond until it holds, failing t after a minute: a bound
// for a hang, never a measurement.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after a minute waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
