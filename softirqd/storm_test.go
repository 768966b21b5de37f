package softirqd

import (
	"crypto/sha256"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// stormResult is what one softirq storm on a one-CPU kernel measured.
type stormResult struct {
	// userShare is the user task's CPU time for itself: its Runtime
	// less the time its irq-exit points spent running softirqs, over the
	// CPU's busy time.
	userShare float64
	// userWork is the time in its own work loop; userRuntime its whole
	// Runtime, softirqs run at its irq-exit points included.
	userWork, userRuntime float64
	ksoftirqdShare        float64 // ksoftirqd/0's CPU time / CPU busy time
	handled               uint64
}

// softirqStorm runs the seeds' storm: on a one-CPU kernel a user task
// spins (its loop does work, then PreemptPoint and IRQExit, as a user
// thread coming back from application code does) while NET_RX is raised by
// an interrupt goroutine and its handler does real work (hashing 16 KiB)
// and re-raises itself for as long as the storm lasts. It measures, over
// window, how much of the CPU the user task's own work got.
func softirqStorm(t *testing.T, deferral bool, window time.Duration) stormResult {
	k, s, teardown := bootKernel(t, 1, time.Millisecond)
	defer teardown()
	s.SetDeferral(deferral)
	var storming atomic.Bool
	buf := make([]byte, 16<<10)
	var sink atomic.Uint64
	s.Register(NET_RX, func(cpu int) {
		sum := sha256.Sum256(buf)
		sink.Add(uint64(sum[0]))
		if storming.Load() {
			s.RaiseOn(cpu, NET_RX)
		}
	})
	// useful is the time the user task spent on its own work; irqTotal
	// the time it spent in IRQExit (irqEnter: when the call in progress
	// began, 0 if none).
	var useful, irqTotal, irqEnter atomic.Int64
	inIRQ := func() int64 {
		n := irqTotal.Load()
		if in := irqEnter.Load(); in != 0 {
			n += monoNow() - in
		}
		return n
	}
	stop := make(chan struct{})
	user := spawn(k, "user", 0, func(tk *kernel.Task) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			spinFor(100 * time.Microsecond)
			useful.Add(int64(time.Since(t0)))
			tk.PreemptPoint()
			in := monoNow()
			irqEnter.Store(in)
			tk.IRQExit()
			irqEnter.Store(0)
			irqTotal.Add(monoNow() - in)
		}
	})
	time.Sleep(30 * time.Millisecond)

	storming.Store(true)
	irqDone := make(chan struct{})
	go func() {
		defer close(irqDone)
		for storming.Load() {
			s.RaiseOn(0, NET_RX)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	// Measure once the storm has taken hold, however slow the host is:
	// with deferral, the overflow has gone to ksoftirqd; without, the
	// user task is inside its irq-exit point's softirq loop.
	eventually(t, 20*time.Second, "the storm to take hold", func() bool {
		if deferral {
			return s.cpus[0].overflow.Load()
		}
		return irqEnter.Load() != 0 && s.InSoftirq(0)
	})
	time.Sleep(10 * time.Millisecond)
	ks := s.Ksoftirqd(0).Task()
	busy0, _ := k.CPU(0).Times()
	useful0, ks0, h0, u0, irq0 := useful.Load(), ks.Runtime(), s.Counts()[0][NET_RX], user.Runtime(), inIRQ()
	time.Sleep(window)
	busy1, _ := k.CPU(0).Times()
	useful1, ks1, h1, u1, irq1 := useful.Load(), ks.Runtime(), s.Counts()[0][NET_RX], user.Runtime(), inIRQ()
	storming.Store(false)
	<-irqDone
	close(stop)
	join(t, user, 20*time.Second)

	busy := float64(busy1 - busy0)
	return stormResult{
		userShare:      (float64(u1-u0) - float64(irq1-irq0)) / busy,
		userWork:       float64(useful1-useful0) / busy,
		userRuntime:    float64(u1-u0) / busy,
		ksoftirqdShare: float64(ks1-ks0) / busy,
		handled:        h1 - h0,
	}
}

// TestSoftirqStorm is the seeds' ksoftirqd test: under a softirq storm the
// user task keeps at least 40% of its CPU because the overflow runs in
// ksoftirqd under the fair scheduler; with deferral switched off (irq-exit
// runs softirqs until none are pending) the same storm starves it.
func TestSoftirqStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("the storm takes three seconds")
	}
	const window = 1200 * time.Millisecond
	// Host load can only take CPU away from the sandbox's CPU (whoever
	// holds it), never give the user task more, so the deferral run is
	// tried up to three times and the best share counts.
	var on stormResult
	for try := 0; try < 3; try++ {
		r := softirqStorm(t, true, window)
		if try == 0 || r.userShare > on.userShare {
			on = r
		}
		if on.userShare >= 0.40 {
			break
		}
		t.Logf("try %d: user share %.1f%%; retrying", try, 100*r.userShare)
	}
	t.Logf("deferral on:  user %.1f%% (Runtime %.1f%% incl. irq-exit softirqs; work loop %.1f%%), ksoftirqd %.1f%%, %d NET_RX runs",
		100*on.userShare, 100*on.userRuntime, 100*on.userWork, 100*on.ksoftirqdShare, on.handled)
	off := softirqStorm(t, false, window)
	t.Logf("deferral off: user %.1f%% (Runtime %.1f%% incl. irq-exit softirqs; work loop %.1f%%), ksoftirqd %.1f%%, %d NET_RX runs",
		100*off.userShare, 100*off.userRuntime, 100*off.userWork, 100*off.ksoftirqdShare, off.handled)
	if on.userShare < 0.40 {
		t.Errorf("with ksoftirqd the user task got %.1f%% of the CPU, want >= 40%%", 100*on.userShare)
	}
	if on.ksoftirqdShare < 0.25 || on.handled == 0 {
		t.Errorf("ksoftirqd ran only %.1f%% of the storm (%d runs): the overflow did not go to it", 100*on.ksoftirqdShare, on.handled)
	}
	if off.userShare > 0.15 || off.userShare > on.userShare/3 {
		t.Errorf("without deferral the user task still got %.1f%% (%.1f%% with): the storm does not starve it, so the test proves nothing",
			100*off.userShare, 100*on.userShare)
	}
	if off.handled == 0 {
		t.Errorf("no storm without deferral")
	}
}
