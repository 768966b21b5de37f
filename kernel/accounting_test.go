package kernel

import (
	"sync/atomic"
	"testing"
	"time"
)

// spinWall keeps t busy in sentry code for d of wall time.
func spinWall(t *Task, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
		}
		t.PreemptPoint()
	}
}

// TestTaskTimesUserSystem: time between EnterApp and LeaveApp is user
// time, the rest of the task's CPU time is system time, for the task and
// for its CPU.
func TestTaskTimesUserSystem(t *testing.T) {
	k := New(Config{CPUs: 1})
	defer k.Shutdown()
	kick := func() {}
	var inApp, user, system, runtime, between time.Duration
	runTask(k, "times", func(tk *Task) {
		tk.EnterApp(&kick)
		// "Application code": busy, no preemption point.
		end := time.Now().Add(40 * time.Millisecond)
		for time.Now().Before(end) {
		}
		u, _ := tk.Times() // includes the stretch in progress
		inApp = u
		tk.LeaveApp()
		spinWall(tk, 40*time.Millisecond)
		// The task still runs: its runtime grows between the two
		// readings by the time between them, however long the host
		// makes that.
		before := time.Now()
		runtime = tk.Runtime()
		user, system = tk.Times()
		between = time.Since(before)
	})
	if inApp < 35*time.Millisecond {
		t.Errorf("user time in application code so far = %v, want >= 35ms", inApp)
	}
	if user < 35*time.Millisecond || system < 35*time.Millisecond {
		t.Errorf("user %v, system %v: want both >= 35ms", user, system)
	}
	if d := user + system - runtime; d < 0 || d > between {
		t.Errorf("user %v + system %v != runtime %v (read %v before)", user, system, runtime, between)
	}
	cu, cs, _ := k.CPU(0).CPUTimes()
	if cu < 35*time.Millisecond || cs < 35*time.Millisecond {
		t.Errorf("CPU 0 user %v, system %v: want both >= 35ms", cu, cs)
	}
}

// TestSchedStat: two spinning tasks on one CPU wait for each other (run
// delay) and take turns; their run times sum to at most the wall time; the
// counters of /proc/PID/schedstat add up. (The bounds are loose: a task's
// host thread can be descheduled by the host for hundreds of milliseconds
// while it holds the CPU, which turns a few turns into one.)
func TestSchedStat(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	start := time.Now()
	var ts [2]*Task
	for i := range ts {
		ts[i] = k.NewTask(TaskOptions{Name: "spin", Entry: func(tk *Task) { spinWall(tk, 200*time.Millisecond) }})
	}
	for _, tk := range ts {
		tk.Start()
	}
	for _, tk := range ts {
		<-tk.Exited()
	}
	wall := time.Since(start)
	var sum, waits time.Duration
	var turns uint64
	for i, tk := range ts {
		run, wait, slices := tk.SchedStat()
		t.Logf("task %d: run %v wait %v slices %d", i, run, wait, slices)
		v, iv := tk.ContextSwitches()
		if slices == 0 || slices < iv {
			t.Errorf("task %d: %d turns but %d voluntary / %d involuntary switches", i, slices, v, iv)
		}
		sum += run
		waits += wait
		turns += slices
	}
	if sum > wall+5*time.Millisecond {
		t.Errorf("two tasks ran %v in %v of wall time on one CPU", sum, wall)
	}
	// Each ran 200ms of wall time on a shared CPU: together they waited
	// at least about as long as one of them ran.
	if waits < 100*time.Millisecond || turns < 4 {
		t.Errorf("two spinners on one CPU waited %v in all, in %d turns", waits, turns)
	}
}

// TestUninterruptibleSleep: a task in a non-interruptible wait is in state
// D and counts in NrUninterruptible; an interruptible sleeper and a kthread
// do not.
func TestUninterruptibleSleep(t *testing.T) {
	k := New(Config{CPUs: 2})
	defer k.Shutdown()
	k.ReserveTID()
	k.StartKthreadd()
	var wq WaitQueue
	var done atomic.Bool
	mk := func(interruptible bool) *Task {
		tk := k.NewTask(TaskOptions{Name: "sleeper", Entry: func(tk *Task) {
			wq.Wait(tk, done.Load, WaitOpts{Timeout: Forever, Interruptible: interruptible})
		}})
		tk.Start()
		return tk
	}
	d, s := mk(false), mk(true)
	for wq.Len() < 2 || d.State() != TaskSleeping || s.State() != TaskSleeping {
		time.Sleep(time.Millisecond)
	}
	if !d.Uninterruptible() || s.Uninterruptible() || k.Kthreadd().Uninterruptible() {
		t.Fatalf("D: %v, S: %v, kthreadd: %v", d.Uninterruptible(), s.Uninterruptible(), k.Kthreadd().Uninterruptible())
	}
	if n := k.NrUninterruptible(); n != 1 {
		t.Fatalf("NrUninterruptible = %d, want 1", n)
	}
	done.Store(true)
	wq.NotifyAll()
	<-d.Exited()
	<-s.Exited()
	if n := k.NrUninterruptible(); n != 0 {
		t.Fatalf("NrUninterruptible = %d after the wake-up", n)
	}
}

// TestLoadAvg: Linux's calc_load arithmetic and /proc/loadavg format, and
// the tick-driven sampling every 5 s.
func TestLoadAvg(t *testing.T) {
	// Constant load 2 for 5 minutes (60 samples): the 1-minute average
	// is there, the 5-minute one at 1-1/e of it, the 15-minute one at
	// 1-e^(-1/3).
	var l loadAvg
	for i := 0; i < 60; i++ {
		l.sample(2)
	}
	want := [3]float64{2, 2 * (1 - 0.3679), 2 * (1 - 0.7165)}
	for i, v := range l.avg {
		got := float64(v) / loadFixed1
		if d := got - want[i]; d < -0.03 || d > 0.03 {
			t.Errorf("average %d after 5 min of load 2 = %.3f, want %.3f", i, got, want[i])
		}
	}

	k := New(Config{CPUs: 1, Tick: time.Hour}) // the test drives the ticks
	defer k.Shutdown()
	stop := make(chan struct{})
	var ts []*Task
	for i := 0; i < 2; i++ {
		tk := k.NewTask(TaskOptions{Name: "spin", Entry: spinFor(stop)})
		tk.Start()
		ts = append(ts, tk)
	}
	for k.NrRunning() != 2 {
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	k.load.tick(k, t0)                      // arms the 5 s clock
	k.load.tick(k, t0.Add(4*time.Second))   // not yet
	k.load.tick(k, t0.Add(5*time.Second+1)) // one sample of 2
	close(stop)
	for _, tk := range ts {
		<-tk.Exited()
	}
	// Linux after 5 s of load 2 from idle: 0.16 0.03 0.01.
	if got := k.LoadAvgText(); got != "0.16 0.03 0.01" {
		t.Fatalf("load average %q, want \"0.16 0.03 0.01\"", got)
	}
	if got := k.LoadAvgFixed(16)[0]; got != 328<<5 {
		t.Fatalf("1-minute average in SI_LOAD_SHIFT fixed point = %d, want %d", got, 328<<5)
	}
}

// TestKthreadRuntimeGrows: a kthread's CPU time (what /proc/PID/stat
// shows) stays put while it sleeps and grows when it works.
func TestKthreadRuntimeGrows(t *testing.T) {
	k := New(Config{CPUs: 2})
	defer k.Shutdown()
	k.ReserveTID()
	k.StartKthreadd()
	var go1 Completion
	kt, err := k.KthreadRun(KthreadOptions{Name: "worker"}, func(kt *Kthread) int {
		go1.Wait(kt.Task())
		spinWall(kt.Task(), 50*time.Millisecond)
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	// Asleep in go1.Wait: after fn started (a kthread just started is
	// Sleeping too, before its body runs, and then in its start wait).
	for kt.State() != KthreadRunning || kt.Task().State() != TaskSleeping {
		time.Sleep(time.Millisecond)
	}
	idle1 := kt.Task().Runtime()
	time.Sleep(30 * time.Millisecond)
	idle2 := kt.Task().Runtime()
	go1.Complete()
	kt.Join()
	// Join returns when fn has; the task still gives its CPU away after
	// that, so wait for it to be gone before reading final times.
	<-kt.Task().Exited()
	worked := kt.Task().Runtime()
	if idle2 != idle1 {
		t.Errorf("runtime grew from %v to %v while the kthread slept", idle1, idle2)
	}
	if worked-idle2 < 45*time.Millisecond {
		t.Errorf("runtime grew by %v over 50ms of work", worked-idle2)
	}
	if u, s := kt.Task().Times(); u != 0 || s != worked {
		t.Errorf("kthread times user %v system %v, want 0 and %v", u, s, worked)
	}
}

// shareSettles runs two spinners at nices[0] and nices[1] on one CPU and
// reports whether the ratio of their CPU times settles within 20% of want:
// in range over a whole second of 100 ms samples, after at least minRun,
// within maxRun.
//
// Why settle rather than read once: this CPU is a host CPU shared with
// everything else on the machine. When the host deschedules a task's
// thread during its turn, the turn is charged for that time (the sandbox
// cannot tell), and for the light task one such turn can outweigh all its
// others for seconds; the scheduler then pays it back, so the ratio
// converges, but slowly. A wrong weight never settles.
func shareSettles(t *testing.T, nices [2]int, want float64, minRun, maxRun time.Duration) {
	t.Helper()
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	stop := make(chan struct{})
	var ts [2]*Task
	for i := range ts {
		ts[i] = k.NewTask(TaskOptions{Name: "spin", Nice: nices[i], Entry: spinFor(stop)})
	}
	for _, tk := range ts {
		tk.Start()
	}
	defer func() {
		close(stop)
		for _, tk := range ts {
			<-tk.Exited()
		}
	}()
	start := time.Now()
	inRange := 0
	var r float64
	for time.Since(start) < maxRun {
		time.Sleep(100 * time.Millisecond)
		a, b := ts[0].Runtime(), ts[1].Runtime()
		if b == 0 {
			continue
		}
		r = float64(a) / float64(b)
		if r >= want*0.8 && r <= want*1.2 {
			inRange++
		} else {
			inRange = 0
		}
		if inRange >= 10 && time.Since(start) >= minRun {
			t.Logf("nice %d vs %d: ratio %.2f (want %.2f) settled after %v", nices[0], nices[1], r, want, time.Since(start).Round(time.Millisecond))
			return
		}
	}
	t.Errorf("nice %d vs %d: ratio %.2f after %v, never a whole second within 20%% of %.2f", nices[0], nices[1], r, maxRun, want)
}

// TestNiceSharesSettle: Linux's weights (1024/335 = 3.06, 1024/15 = 68.3).
func TestNiceSharesSettle(t *testing.T) {
	shareSettles(t, [2]int{0, 5}, 1024.0/335, 2*time.Second, 15*time.Second)
	shareSettles(t, [2]int{0, 19}, 1024.0/15, 3*time.Second, 20*time.Second)
}
