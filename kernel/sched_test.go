package kernel

import (
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

// TestRRTakesTurns: two SCHED_RR tasks of one priority on one CPU take
// turns of a whole quantum each. The test waits (bounded) until each has
// run 200 ms and been preempted twice rather than reading once after a
// fixed time: a loaded host stretches turns (a task's thread descheduled
// while it holds the CPU keeps its turn) but cannot stop them alternating.
// The other way round, nothing but the quantum ends a turn here, so turns
// are never shorter than it, whatever the host does.
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
	turns := func(tk *Task) bool {
		_, preempted := tk.ContextSwitches()
		return tk.Runtime() >= 200*time.Millisecond && preempted >= 2
	}
	deadline := time.Now().Add(time.Minute)
	for !turns(ts[0]) || !turns(ts[1]) {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	for _, tk := range ts {
		<-tk.Exited()
	}
	for i, tk := range ts {
		run, _, slices := tk.SchedStat()
		_, preempted := tk.ContextSwitches()
		t.Logf("task %d: %v in %d turns, preempted %d times", i, run, slices, preempted)
		if run < 200*time.Millisecond || preempted < 2 {
			t.Fatalf("RR tasks did not take turns within a minute: task %d ran %v, preempted %d times", i, run, preempted)
		}
		// Every turn but the last (cut short by stop) is a full
		// quantum or longer.
		if avg := run / time.Duration(slices); avg < rrTimeslice/2 {
			t.Errorf("task %d: turns of %v on average, want at least half the %v quantum", i, avg, rrTimeslice)
		}
	}
}

// TestBalanceSplitsTwoAndTwo: four spinners and a task pinned to CPU 1 keep
// both CPUs of a two-CPU kernel busy, and the pinned task never leaves CPU
// 1. Busy time is read over a window that starts once every task has run,
// against the window's own length: a CPU is busy while a task holds it,
// whether or not the host runs that task's thread, so host load does not
// change the figure; only an idle CPU would.
func TestBalanceSplitsTwoAndTwo(t *testing.T) {
	k := New(Config{CPUs: 2, Tick: time.Millisecond})
	defer k.Shutdown()
	stop := make(chan struct{})
	var ts []*Task
	for i := 0; i < 4; i++ {
		tk := k.NewTask(TaskOptions{Name: "spin", Entry: spinFor(stop)})
		ts = append(ts, tk)
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
	waitUntil(t, "every task to run", func() bool {
		for _, tk := range append(ts, pinned) {
			if tk.Runtime() == 0 {
				return false
			}
		}
		return true
	})
	t0 := time.Now()
	busy0a, _ := k.CPU(0).Times()
	busy1a, _ := k.CPU(1).Times()
	time.Sleep(300 * time.Millisecond)
	busy0b, _ := k.CPU(0).Times()
	busy1b, _ := k.CPU(1).Times()
	window := time.Since(t0)
	close(stop)
	close(pinnedStop)
	for _, tk := range ts {
		<-tk.Exited()
	}
	<-pinned.Exited()
	if moved.Load() {
		t.Fatal("a task pinned to CPU 1 ran on another CPU")
	}
	b0, b1 := busy0b-busy0a, busy1b-busy1a
	t.Logf("busy over a %v window: CPU 0 %v, CPU 1 %v", window, b0, b1)
	// Not 100%: the two readings of a CPU's time are not taken at the
	// instants that bound the window.
	if b0 < window*8/10 || b1 < window*8/10 {
		t.Fatalf("CPUs not both busy over %v: %v / %v", window, b0, b1)
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
	// The sleeper's CPU time in its last turn (at first, all of it).
	sleeperTurn, sleeperAt := sleeper.Runtime(), time.Duration(0)
	for i := int64(1); i <= n; i++ {
		// Let the spinner hold the CPU for 5 ms of its own runtime
		// more than the sleeper's last turn, so the sleeper's vruntime
		// lead is well past the wake-up granularity (1 ms). A turn is
		// charged for the time the host left the sleeper's thread
		// descheduled while it held the CPU: on a loaded host one turn
		// was charged more than the fixed 5 ms the spinner was given,
		// so the wake-up rightly did not preempt, and with no tick the
		// sleeper never ran.
		r0 := spinner.Runtime()
		waitUntil(t, "the spinner to run", func() bool { return spinner.Runtime()-r0 >= 5*time.Millisecond+sleeperTurn })
		sleeperAt = sleeper.Runtime()
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
			sleeperTurn = sleeper.Runtime() - sleeperAt
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
