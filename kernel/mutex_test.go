package kernel

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sleptInBody reports whether tk sleeps after having run its body: a task
// just started is Sleeping too, for a moment, until its first wake-up
// (Task.run), which a loaded host can stretch; a sleep in the body is a
// voluntary switch.
func sleptInBody(tk *Task) bool {
	voluntary, _ := tk.ContextSwitches()
	return tk.State() == TaskSleeping && voluntary > 0
}

// workFor keeps t busy in sentry code (with preemption points) until it
// has held a CPU for d more.
func workFor(t *Task, d time.Duration) {
	end := t.Runtime() + d
	for t.Runtime() < end {
		for i := 0; i < 2000; i++ {
		}
		t.PreemptPoint()
	}
}

// inversion is the priority-inversion scenario of the seeds on one CPU: a
// low-priority task L takes a Mutex and needs 100 ms of CPU to release it,
// a SCHED_FIFO task H (priority 50) then wants the Mutex, and a medium
// task M spins from then on (until stopM is closed or 10 s pass); H
// arrives after M started. hGot is closed when H holds the Mutex.
type inversion struct {
	k        *Kernel
	m        Mutex
	hGot     chan struct{}
	stopM    chan struct{}
	l, h, mm *Task
	mSpun    atomic.Int64 // M's loop count once H waits
}

func startInversion(t *testing.T, noPI bool, medium SchedParams) *inversion {
	t.Helper()
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	inv := &inversion{k: k, hGot: make(chan struct{}), stopM: make(chan struct{})}
	inv.m.NoPI = noPI
	locked := make(chan struct{})
	hWaiting := make(chan struct{})
	inv.l = k.NewTask(TaskOptions{Name: "low", Nice: 5, Entry: func(tk *Task) {
		inv.m.Lock(tk)
		close(locked)
		workFor(tk, 100*time.Millisecond)
		inv.m.Unlock(tk)
		// Leaving the boost must not leave L with H's priority.
	}})
	inv.h = k.NewTask(TaskOptions{Name: "high", Entry: func(tk *Task) {
		<-locked // (a Go channel: H has not started yet when L locks)
		close(hWaiting)
		inv.m.Lock(tk)
		close(inv.hGot)
		inv.m.Unlock(tk)
	}})
	if err := inv.h.SetSchedParams(SchedParams{Policy: SchedFIFO, RTPriority: 50}); err != nil {
		t.Fatal(err)
	}
	inv.mm = k.NewTask(TaskOptions{Name: "medium", Entry: func(tk *Task) {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-inv.stopM:
				return
			default:
			}
			inv.mSpun.Add(1)
			for i := 0; i < 2000; i++ {
			}
			tk.PreemptPoint()
		}
	}})
	if err := inv.mm.SetSchedParams(medium); err != nil {
		t.Fatal(err)
	}
	// L takes the Mutex, M starts spinning, then H arrives and waits.
	inv.l.Start()
	<-locked
	inv.mm.Start()
	for inv.mSpun.Load() == 0 { // M runs: L is off the CPU from now on
		time.Sleep(100 * time.Microsecond)
	}
	inv.h.Start()
	<-hWaiting
	return inv
}

func (inv *inversion) finish() {
	select {
	case <-inv.stopM:
	default:
		close(inv.stopM)
	}
	<-inv.l.Exited()
	<-inv.h.Exited()
	<-inv.mm.Exited()
	inv.k.Shutdown()
}

// TestPriorityInversionPI: with a SCHED_FIFO spinner of medium priority,
// the scenario completes only because L inherits H's priority: H gets the
// Mutex while M is still spinning.
func TestPriorityInversionPI(t *testing.T) {
	inv := startInversion(t, false, SchedParams{Policy: SchedFIFO, RTPriority: 20})
	defer inv.finish()
	select {
	case <-inv.hGot:
	case <-time.After(8 * time.Second):
		t.Fatalf("H never got the Mutex: L ran %v, M spun %d times", inv.l.Runtime(), inv.mSpun.Load())
	}
	select {
	case <-inv.mm.Exited():
		t.Fatalf("M stopped before H got the Mutex: nothing was shown")
	default:
	}
	if p := inv.l.SchedParams(); p.Policy != SchedNormal || p.Nice != 5 {
		t.Fatalf("L kept a boost after Unlock: %+v", p)
	}
	t.Logf("with PI: H got the Mutex while M spun (%d loops); L ran %v", inv.mSpun.Load(), inv.l.Runtime())
}

// TestPriorityInversionWithoutPI shows the inversion PI prevents: without
// it the medium SCHED_FIFO spinner keeps L off the only CPU and H waits
// for as long as M spins; once M stops the scenario completes.
func TestPriorityInversionWithoutPI(t *testing.T) {
	inv := startInversion(t, true, SchedParams{Policy: SchedFIFO, RTPriority: 20})
	defer inv.finish()
	select {
	case <-inv.hGot:
		t.Fatalf("H got the Mutex while a FIFO spinner starved its fair owner (no PI): the test shows nothing")
	case <-time.After(300 * time.Millisecond):
	}
	close(inv.stopM)
	select {
	case <-inv.hGot:
	case <-time.After(8 * time.Second):
		t.Fatalf("H never got the Mutex after M stopped")
	}
}

// TestPriorityInversionFairMedium: when the medium task is a fair one,
// the scenario completes even without PI, because the fair class gives L
// its share of the CPU beside M.
func TestPriorityInversionFairMedium(t *testing.T) {
	inv := startInversion(t, true, SchedParams{Policy: SchedNormal})
	defer inv.finish()
	select {
	case <-inv.hGot:
	case <-time.After(8 * time.Second):
		t.Fatalf("H never got the Mutex: L ran %v", inv.l.Runtime())
	}
}

// TestMutexHandOffAndChain: Unlock hands the Mutex to the highest-priority
// waiter, and a boost follows a chain of owners (H waits for B held by A1,
// which waits for A held by A0: A0 runs at H's priority).
func TestMutexHandOffAndChain(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	var a, b Mutex
	aLocked, bLocked := make(chan struct{}), make(chan struct{})
	var release atomic.Bool
	var releaseQ WaitQueue
	var boostSeen atomic.Int32
	a0 := k.NewTask(TaskOptions{Name: "a0", Entry: func(tk *Task) {
		a.Lock(tk)
		close(aLocked)
		// Sleep until released, then report the priority we run at.
		releaseQ.Wait(tk, release.Load, WaitOpts{Timeout: 10 * time.Second})
		boostSeen.Store(int32(tk.SchedParams().RTPriority))
		a.Unlock(tk)
	}})
	a0.Start()
	<-aLocked
	a1 := k.NewTask(TaskOptions{Name: "a1", Entry: func(tk *Task) {
		b.Lock(tk)
		close(bLocked)
		a.Lock(tk)
		a.Unlock(tk)
		b.Unlock(tk)
	}})
	a1.Start()
	<-bLocked
	for !sleptInBody(a1) {
		time.Sleep(100 * time.Microsecond)
	}
	h := k.NewTask(TaskOptions{Name: "h", Entry: func(tk *Task) {
		b.Lock(tk)
		b.Unlock(tk)
	}})
	h.SetSchedParams(SchedParams{Policy: SchedFIFO, RTPriority: 40})
	h.Start()
	for !sleptInBody(h) {
		time.Sleep(100 * time.Microsecond)
	}
	if p := a0.SchedParams(); p.Policy != SchedFIFO || p.RTPriority != 40 {
		t.Errorf("a0 (two links from h) runs at %+v, want SCHED_FIFO 40", p)
	}
	if p := a1.SchedParams(); p.Policy != SchedFIFO || p.RTPriority != 40 {
		t.Errorf("a1 runs at %+v, want SCHED_FIFO 40", p)
	}
	release.Store(true)
	releaseQ.NotifyAll()
	for _, tk := range []*Task{a0, a1, h} {
		select {
		case <-tk.Exited():
		case <-time.After(10 * time.Second):
			t.Fatalf("task %s did not finish", tk.Name())
		}
	}
	if boostSeen.Load() != 40 {
		t.Errorf("a0 ran at RT priority %d while h waited, want 40", boostSeen.Load())
	}
	for _, tk := range []*Task{a0, a1} {
		if p := tk.SchedParams(); p.Policy != SchedNormal {
			t.Errorf("%s kept a boost: %+v", tk.Name(), p)
		}
	}
}

// TestMutexHandOffOrder: Unlock hands the Mutex to the highest-priority
// waiter first, FIFO among equals, never to a later arrival.
func TestMutexHandOffOrder(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	var m Mutex
	var order []string // appended under m
	locked := make(chan struct{})
	var releaseQ WaitQueue
	var release atomic.Bool
	owner := k.NewTask(TaskOptions{Name: "owner", Entry: func(tk *Task) {
		m.Lock(tk)
		close(locked)
		releaseQ.Wait(tk, release.Load, WaitOpts{Timeout: 10 * time.Second})
		m.Unlock(tk)
	}})
	owner.Start()
	<-locked
	waiters := []struct {
		name string
		p    SchedParams
	}{
		{"fair1", SchedParams{Policy: SchedNormal}},
		{"rt10", SchedParams{Policy: SchedFIFO, RTPriority: 10}},
		{"fair2", SchedParams{Policy: SchedNormal}},
		{"rt30", SchedParams{Policy: SchedRR, RTPriority: 30}},
	}
	var tasks []*Task
	for _, w := range waiters {
		name := w.name
		tk := k.NewTask(TaskOptions{Name: name, Entry: func(tk *Task) {
			m.Lock(tk)
			order = append(order, name)
			m.Unlock(tk)
		}})
		tk.SetSchedParams(w.p)
		tasks = append(tasks, tk)
		tk.Start()
		for !sleptInBody(tk) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	release.Store(true)
	releaseQ.NotifyAll()
	for _, tk := range append(tasks, owner) {
		<-tk.Exited()
	}
	if got := strings.Join(order, " "); got != "rt30 rt10 fair1 fair2" {
		t.Fatalf("hand-off order %q, want \"rt30 rt10 fair1 fair2\"", got)
	}
	if m.Owner() != nil {
		t.Fatalf("Mutex still owned by %s", m.Owner().Name())
	}
}

// TestMutexLockWaitGivesUp: a SCHED_FIFO waiter whose LockWait times out
// leaves the Mutex's waiters and takes its boost back from the owner; a
// task that would wait for a Mutex held by a task waiting for one it
// holds gets ErrDeadlock instead of sleeping.
func TestMutexLockWaitGivesUp(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: time.Millisecond})
	defer k.Shutdown()
	var a, b Mutex
	aLocked := make(chan struct{})
	var release atomic.Bool
	var releaseQ WaitQueue
	var deadlockErr, timeoutErr error
	boostedWhileWaited := make(chan SchedParams, 1)
	owner := k.NewTask(TaskOptions{Name: "owner", Entry: func(tk *Task) {
		a.Lock(tk)
		close(aLocked)
		releaseQ.Wait(tk, release.Load, WaitOpts{Timeout: 10 * time.Second})
		a.Unlock(tk)
	}})
	owner.Start()
	<-aLocked
	waiter := k.NewTask(TaskOptions{Name: "waiter", Entry: func(tk *Task) {
		b.Lock(tk)
		timeoutErr = a.LockWait(tk, WaitOpts{Timeout: 50 * time.Millisecond})
		b.Unlock(tk)
	}})
	waiter.SetSchedParams(SchedParams{Policy: SchedFIFO, RTPriority: 30})
	waiter.Start()
	for !sleptInBody(waiter) {
		time.Sleep(100 * time.Microsecond)
	}
	boostedWhileWaited <- owner.SchedParams()
	// A task asking for b (held by the waiter, which waits for a) with
	// no time to wait is refused at once: no cycle there.
	probe := k.NewTask(TaskOptions{Name: "probe", Entry: func(tk *Task) {
		deadlockErr = b.LockWait(tk, WaitOpts{Timeout: NoWait})
	}})
	probe.Start()
	<-probe.Exited()
	<-waiter.Exited()
	if p := <-boostedWhileWaited; p.Policy != SchedFIFO || p.RTPriority != 30 {
		t.Errorf("owner ran at %+v while a FIFO 30 task waited, want the boost", p)
	}
	if timeoutErr != ErrTimedOut {
		t.Errorf("LockWait with a timeout: %v, want ErrTimedOut", timeoutErr)
	}
	if p := owner.SchedParams(); p.Policy != SchedNormal {
		t.Errorf("owner kept the boost after its waiter gave up: %+v", p)
	}
	if deadlockErr != ErrTimedOut {
		t.Errorf("LockWait(NoWait) of a held Mutex: %v, want ErrTimedOut", deadlockErr)
	}
	release.Store(true)
	releaseQ.NotifyAll()
	<-owner.Exited()

	// A real cycle: y holds m2; x holds m1 and waits for m2; y then asks
	// for m1.
	var m1, m2 Mutex
	m2Locked := make(chan struct{})
	var goY atomic.Bool
	var goQ WaitQueue
	var cycleErr error
	y := k.NewTask(TaskOptions{Name: "y", Entry: func(tk *Task) {
		m2.Lock(tk)
		close(m2Locked)
		goQ.Wait(tk, goY.Load, WaitOpts{Timeout: 10 * time.Second})
		cycleErr = m1.LockWait(tk, WaitOpts{Timeout: Forever})
		m2.Unlock(tk)
	}})
	y.Start()
	<-m2Locked
	x := k.NewTask(TaskOptions{Name: "x", Entry: func(tk *Task) {
		m1.Lock(tk)
		m2.Lock(tk) // sleeps until y gives m2 up
		m2.Unlock(tk)
		m1.Unlock(tk)
	}})
	x.Start()
	for !sleptInBody(x) || !sleptInBody(y) {
		time.Sleep(100 * time.Microsecond)
	}
	goY.Store(true)
	goQ.NotifyAll()
	for _, tk := range []*Task{x, y} {
		select {
		case <-tk.Exited():
		case <-time.After(10 * time.Second):
			t.Fatalf("task %s did not finish (deadlock not detected?)", tk.Name())
		}
	}
	if cycleErr != ErrDeadlock {
		t.Errorf("LockWait closing a cycle: %v, want ErrDeadlock", cycleErr)
	}
}
