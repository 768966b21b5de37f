package process

// ITIMER_REAL (alarm, setitimer, getitimer): one per process, on the
// kernel's timers, sending SIGALRM (SI_KERNEL) when it expires. It
// survives execve and is not inherited by fork, as in Linux.

import (
	"time"
	"weak"

	"github.com/runsc-lite/runsc-lite/kernel"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// intervalTimer is a process's ITIMER_REAL. Protected by ThreadGroup.mu.
type intervalTimer struct {
	// gen changes whenever the timer is set, so that a callback of a
	// replaced timer does nothing.
	gen      uint64
	timer    kernel.Timer
	deadline time.Time // zero: disarmed
	interval time.Duration
}

// RealTimer returns the time left until ITIMER_REAL expires (0:
// disarmed) and its interval.
func (tg *ThreadGroup) RealTimer() (value, interval time.Duration) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.realTimerLocked()
}

func (tg *ThreadGroup) realTimerLocked() (value, interval time.Duration) {
	it := &tg.signals().realTimer
	if it.deadline.IsZero() {
		return 0, it.interval
	}
	value = time.Until(it.deadline)
	if value <= 0 {
		// Expired, its SIGALRM on the way: Linux reports the
		// smallest non-zero value.
		value = time.Microsecond
	}
	return value, it.interval
}

// SetRealTimer arms ITIMER_REAL to expire after value (0: disarm) and then
// every interval (0: once), and returns the previous setting.
func (tg *ThreadGroup) SetRealTimer(value, interval time.Duration) (oldValue, oldInterval time.Duration) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	oldValue, oldInterval = tg.realTimerLocked()
	it := &tg.signals().realTimer
	it.gen++
	if it.timer != nil {
		it.timer.Stop()
		it.timer = nil
	}
	it.interval = interval
	it.deadline = time.Time{}
	if value > 0 {
		it.deadline = time.Now().Add(value)
		it.timer = tg.s.Kernel.AfterFunc(0, value, realTimerFunc(weak.Make(tg), it.gen))
	}
	return oldValue, oldInterval
}

// realTimerFunc returns the expiry callback of generation gen of wtg's
// ITIMER_REAL. It holds the group only weakly, so a pending timer does not
// keep a dead process's state alive. It runs in timer (softirq) context:
// it only takes the group's lock and wakes a thread.
func realTimerFunc(wtg weak.Pointer[ThreadGroup], gen uint64) func() {
	return func() {
		tg := wtg.Value()
		if tg == nil {
			return
		}
		tg.mu.Lock()
		it := &tg.signals().realTimer
		if it.gen != gen || tg.exiting {
			tg.mu.Unlock()
			return
		}
		if it.interval > 0 {
			next := it.deadline.Add(it.interval)
			if now := time.Now(); next.Before(now) {
				next = now.Add(it.interval)
			}
			it.deadline = next
			it.timer = tg.s.Kernel.AfterFunc(0, time.Until(next), realTimerFunc(wtg, gen))
		} else {
			it.deadline = time.Time{}
			it.timer = nil
		}
		tg.mu.Unlock()
		tg.SendSignalInfo(KernelSignalInfo(int(linux.SIGALRM)))
	}
}
