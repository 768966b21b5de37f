package kernel

import (
	"sort"
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

func TestWakeupPreemptsSpinner(t *testing.T) {
	// On one CPU a task that sleeps 10ms at a time must run promptly on
	// each wake-up although another task spins. The host may delay any
	// single wake-up (other processes share its cores), so the check is
	// on the 90th percentile, not the worst case.
	k := New(Config{CPUs: 1, Tick: 4 * time.Millisecond})
	defer k.Shutdown()
	stop := make(chan struct{})
	spinner := k.NewTask(TaskOptions{Name: "spin", Entry: spinFor(stop)})
	spinner.Start()
	var lateness []time.Duration
	sleeper := k.NewTask(TaskOptions{Name: "sleeper", Entry: func(t *Task) {
		var wq WaitQueue
		for i := 0; i < 40; i++ {
			start := time.Now()
			wq.Wait(t, func() bool { return false }, WaitOpts{Timeout: 10 * time.Millisecond})
			lateness = append(lateness, time.Since(start)-10*time.Millisecond)
		}
	}})
	sleeper.Start()
	<-sleeper.Exited()
	close(stop)
	<-spinner.Exited()
	sort.Slice(lateness, func(i, j int) bool { return lateness[i] < lateness[j] })
	p50, p90 := lateness[len(lateness)/2], lateness[len(lateness)*9/10]
	t.Logf("wake-up lateness past 10ms: median %v, p90 %v, worst %v", p50, p90, lateness[len(lateness)-1])
	if p90 > 3*4*time.Millisecond {
		t.Fatalf("sleeper's p90 lateness %v is more than three ticks", p90)
	}
}
