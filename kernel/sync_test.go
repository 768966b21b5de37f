package kernel

import (
	"sync/atomic"
	"testing"
	"time"
)

// The decisions of synchronous wake-ups (sync.go): where the woken task
// runs and what the counters say. No timings: each test waits for events,
// bounded by waitUntil's minute.

// noTicks is a tick period long enough that no tick (and so no tick expiry
// or periodic balancing) happens during a test: the placements below are
// then decided only by the wake-ups.
const noTicks = time.Hour

// pingPong runs two tasks on a 2-CPU kernel that pass a turn back and
// forth rounds times through two wait queues, waking with NotifyOneSync
// when sync is set. Each hand-off h records the waker's CPU (from[h]) and
// the CPU the woken task then ran on (to[h]); the last hand-off has no
// receiver. met holds SyncWakeStats as they were when a woken task first
// ran on its waker's CPU (all zero if that never happened).
func pingPong(t *testing.T, sync bool, rounds int) (k *Kernel, from, to []int, met [3]uint64) {
	k = New(Config{CPUs: 2, Tick: noTicks})
	from = make([]int, 2*rounds)
	to = make([]int, 2*rounds)
	var turn, h atomic.Int32
	var meeting atomic.Bool
	var q [2]WaitQueue
	player := func(me int32) func(*Task) {
		return func(tk *Task) {
			other := 1 - me
			for i := 0; i < rounds; i++ {
				q[me].Wait(tk, func() bool { return turn.Load() == me }, WaitOpts{Timeout: Forever})
				if n := h.Load(); n > 0 {
					to[n-1] = tk.CPU().ID()
					if to[n-1] == from[n-1] && meeting.CompareAndSwap(false, true) {
						met[0], met[1], met[2] = k.SyncWakeStats()
					}
				}
				from[h.Load()] = tk.CPU().ID()
				h.Add(1)
				turn.Store(other)
				if sync {
					q[other].NotifyOneSync(tk)
				} else {
					q[other].NotifyOne()
				}
				// The end of the waking syscall: a synchronous
				// placement survives it.
				tk.PreemptPoint()
			}
		}
	}
	a := k.NewTask(TaskOptions{Name: "ping", Entry: player(0)})
	b := k.NewTask(TaskOptions{Name: "pong", Entry: player(1)})
	a.Start()
	b.Start()
	<-a.Exited()
	<-b.Exited()
	return k, from, to, met
}

func TestSyncWakeRunsOnWakersCPU(t *testing.T) {
	const rounds = 200
	k, from, to, met := pingPong(t, true, rounds)
	defer k.Shutdown()
	// The first hand-offs may find the other task still on its way to
	// sleep on the other CPU (for as long as each wake-up catches the
	// other task before it sleeps, which a loaded host can stretch over
	// several rounds); once a woken task runs on its waker's CPU they
	// alternate on that CPU to the end.
	start := 0
	for start < 2*rounds-1 && from[start] != to[start] {
		start++
	}
	if start > rounds {
		t.Fatalf("the tasks never met on one CPU in the first %d hand-offs: from %v, to %v", rounds, from[:rounds], to[:rounds])
	}
	for h := start; h < 2*rounds-1; h++ {
		if from[h] != to[h] {
			t.Fatalf("hand-off %d (after meeting on one CPU at %d): waker on cpu %d, woken task ran on cpu %d", h, start, from[h], to[h])
		}
	}
	placed, direct, expired := k.SyncWakeStats()
	want := uint64(2*rounds - 2 - start)
	t.Logf("met at hand-off %d (placed %d, direct %d, expired %d then); placed %d, direct %d, expired %d for %d hand-offs",
		start, met[0], met[1], met[2], placed, direct, expired, 2*rounds-1)
	// A placement before the tasks met may have been taken by the idle
	// CPU (that hand-off's from and to differ), or have expired: while
	// each wake-up still catches the other task on its way to sleep, a
	// waker's wait can end at once and its grace run out with the wakee
	// queued (a race run at load 10 here: met at 12, expired 1). From the
	// meeting on, every placement is taken directly and none expires.
	if direct < want || expired != met[2] || placed-direct > uint64(start) {
		t.Errorf("placed %d, direct %d, expired %d (%d when they met); want %d or more placed and direct, none expired after meeting, at most %d placed before meeting and taken elsewhere or expired", placed, direct, expired, met[2], want, start)
	}
}

// TestPlainWakeUsesIdleCPU is the control: an ordinary wake-up sends the
// woken task to the idle CPU, away from its waker.
func TestPlainWakeUsesIdleCPU(t *testing.T) {
	const rounds = 200
	k, from, to, _ := pingPong(t, false, rounds)
	defer k.Shutdown()
	for h := 2; h < 2*rounds-1; h++ {
		if from[h] == to[h] {
			t.Fatalf("hand-off %d: woken task ran on its waker's cpu %d while the other was idle", h, from[h])
		}
	}
	if placed, _, _ := k.SyncWakeStats(); placed != 0 {
		t.Errorf("%d synchronous placements without a synchronous wake-up", placed)
	}
}

// sleeper starts a task that sleeps on q until *goAhead is set, then
// records the CPU it runs on in *ran (-1 until then). It returns once the
// task sleeps on q: a task just started is Sleeping too, for a moment,
// before its body runs (Task.run), which a loaded host can stretch; so the
// waiter on q is waited for as well.
func sleeper(t *testing.T, k *Kernel, q *WaitQueue, goAhead *atomic.Bool, ran *atomic.Int32, aff CPUSet) *Task {
	ran.Store(-1)
	s := k.NewTask(TaskOptions{Name: "sleeper", Affinity: aff, Entry: func(tk *Task) {
		q.Wait(tk, goAhead.Load, WaitOpts{Timeout: Forever})
		ran.Store(int32(tk.CPU().ID()))
	}})
	s.Start()
	waitUntil(t, "the sleeper to sleep", func() bool { return q.Len() == 1 && s.State() == TaskSleeping })
	return s
}

// TestSyncWakeExpiresAtSyscallEnds: a waker that does not block within
// its grace (the syscall that woke and the next one) lets its wakee go to
// the idle CPU.
func TestSyncWakeExpiresAtSyscallEnds(t *testing.T) {
	k := New(Config{CPUs: 2, Tick: noTicks})
	defer k.Shutdown()
	var q WaitQueue
	var goAhead atomic.Bool
	var ran atomic.Int32
	s := sleeper(t, k, &q, &goAhead, &ran, CPUSet{})
	var wakerCPU, afterFirst int32
	w := k.NewTask(TaskOptions{Name: "waker", Entry: func(tk *Task) {
		wakerCPU = int32(tk.CPU().ID())
		goAhead.Store(true)
		q.NotifyOneSync(tk)
		tk.PreemptPoint() // end of the waking syscall
		afterFirst = ran.Load()
		tk.PreemptPoint() // end of the next one, which did not block
		// Run on without blocking until the wakee has run elsewhere.
		for ran.Load() < 0 {
			tk.PreemptPoint()
		}
	}})
	w.Start()
	<-w.Exited()
	<-s.Exited()
	if afterFirst != -1 {
		t.Errorf("the wakee ran (cpu %d) before its waker's grace was over", afterFirst)
	}
	if got := ran.Load(); got == wakerCPU {
		t.Errorf("the wakee ran on its waker's cpu %d; want the idle one", got)
	}
	if placed, direct, expired := k.SyncWakeStats(); placed != 1 || direct != 0 || expired != 1 {
		t.Errorf("placed %d, direct %d, expired %d; want 1, 0, 1", placed, direct, expired)
	}
}

// TestSyncWakeExpiresAtTick: a waker that runs on in application code
// (no preemption point) keeps its wakee at most until the CPU's second tick.
// The periodic balancing (every balanceTicks ticks) may move the wakee to
// the idle CPU first, when one of those ticks is the first after the
// placement: that is right too, but no expiry. So the wake-up is tried up
// to five times in one kernel (each at another phase of the balancing
// ticks), and the tick's expiry must be seen at least once; every try's
// wakee must run on the idle CPU.
func TestSyncWakeExpiresAtTick(t *testing.T) {
	k := New(Config{CPUs: 2, Tick: 4 * time.Millisecond})
	defer k.Shutdown()
	for try := 1; ; try++ {
		placedBefore, _, expiredBefore := k.SyncWakeStats()
		var q WaitQueue
		var goAhead atomic.Bool
		var ran atomic.Int32
		s := sleeper(t, k, &q, &goAhead, &ran, CPUSet{})
		var wakerCPU int32
		w := k.NewTask(TaskOptions{Name: "waker", Entry: func(tk *Task) {
			wakerCPU = int32(tk.CPU().ID())
			goAhead.Store(true)
			q.NotifyOneSync(tk)
			for ran.Load() < 0 { // "application code": no preemption point
			}
		}})
		w.Start()
		<-w.Exited()
		<-s.Exited()
		if got := ran.Load(); got == wakerCPU {
			t.Fatalf("try %d: the wakee ran on its waker's cpu %d; want the idle one", try, got)
		}
		placed, _, expired := k.SyncWakeStats()
		placed, expired = placed-placedBefore, expired-expiredBefore
		if placed != 1 || expired > 1 {
			t.Fatalf("try %d: placed %d, expired %d; want 1, and at most 1", try, placed, expired)
		}
		if expired == 1 {
			return
		}
		t.Logf("try %d: the wakee was moved to the idle CPU before its placement expired (balancing)", try)
		if try == 5 {
			t.Fatalf("no placement expired at its second tick in %d tries", try)
		}
	}
}

// TestSyncWakeHonoursAffinity: a wakee that may not run on its waker's
// CPU is placed as an ordinary wake-up places it.
func TestSyncWakeHonoursAffinity(t *testing.T) {
	k := New(Config{CPUs: 2, Tick: noTicks})
	defer k.Shutdown()
	var q WaitQueue
	var goAhead atomic.Bool
	var ran atomic.Int32
	var only1 CPUSet
	only1.Set(1)
	s := sleeper(t, k, &q, &goAhead, &ran, only1)
	var only0 CPUSet
	only0.Set(0)
	w := k.NewTask(TaskOptions{Name: "waker", Affinity: only0, Entry: func(tk *Task) {
		goAhead.Store(true)
		q.NotifyOneSync(tk)
		for ran.Load() < 0 {
			tk.PreemptPoint()
		}
	}})
	w.Start()
	<-w.Exited()
	<-s.Exited()
	if got := ran.Load(); got != 1 {
		t.Errorf("the wakee ran on cpu %d outside its affinity", got)
	}
	if placed, _, _ := k.SyncWakeStats(); placed != 0 {
		t.Errorf("%d synchronous placements on a CPU the wakee may not use", placed)
	}
}

// TestSyncWakeOneCPU: on one CPU a synchronous wake-up is the ordinary
// queueing without the wake-up preemption: the woken task runs when its
// waker blocks, and takes the CPU directly.
func TestSyncWakeOneCPU(t *testing.T) {
	k := New(Config{CPUs: 1, Tick: noTicks})
	defer k.Shutdown()
	var q, back WaitQueue
	var goAhead, done atomic.Bool
	var ran atomic.Int32
	ran.Store(-1)
	s := k.NewTask(TaskOptions{Name: "sleeper", Entry: func(tk *Task) {
		q.Wait(tk, goAhead.Load, WaitOpts{Timeout: Forever})
		ran.Store(int32(tk.CPU().ID()))
		done.Store(true)
		back.NotifyOneSync(tk)
	}})
	s.Start()
	waitUntil(t, "the sleeper to sleep", func() bool { return q.Len() == 1 && s.State() == TaskSleeping })
	var before int32
	w := k.NewTask(TaskOptions{Name: "waker", Entry: func(tk *Task) {
		goAhead.Store(true)
		q.NotifyOneSync(tk)
		tk.PreemptPoint()
		before = ran.Load()
		back.Wait(tk, done.Load, WaitOpts{Timeout: Forever})
	}})
	w.Start()
	<-w.Exited()
	<-s.Exited()
	if before != -1 {
		t.Errorf("the wakee preempted its waker before the waker blocked")
	}
	if placed, direct, _ := k.SyncWakeStats(); placed < 1 || direct < 1 {
		t.Errorf("placed %d, direct %d; want the wake-up placed and taken directly", placed, direct)
	}
}
