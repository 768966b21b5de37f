package process

// CPU-time interval timers (ITIMER_VIRTUAL: the process's user time,
// SIGVTALRM; ITIMER_PROF: its user + system time, SIGPROF), and support for
// the POSIX timers of sentry/syscalls/sys_timer.go (UpdateQueuedSignal).
//
// The CPU timers read the scheduler's accounting (kernel.Task.Times, which
// includes application time in progress) from a polling timer on the
// kernel's TIMER softirq: while one of a process's CPU timers is armed, a
// CLOCK_MONOTONIC softirqd timer fires after the CPU time left divided by
// the number of sandbox CPUs (the fastest the process's CPU time can
// advance), at least every cpuTimerMinPoll, checks the deadlines, sends the
// signals (SI_KERNEL, as Linux) and re-arms itself. Firing late by up to
// the poll period is the approximation (Linux checks at every tick). The
// times of threads that have exited are not counted (Linux keeps them in
// signal_struct). Like Linux's, the timers survive execve and are not
// inherited by fork.
//
// Locking: cpuTimers.mu, then ThreadGroup.mu (taken by Threads); the
// signals are sent after cpuTimers.mu is released.

import (
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/runsc-lite/runsc-lite/softirqd"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// The which of the CPU-time interval timers (setitimer's numbers).
const (
	ItimerVirtual = 1
	ItimerProf    = 2
)

// cpuTimerMinPoll is the shortest gap between two checks of a process's
// CPU timers.
const cpuTimerMinPoll = time.Millisecond

// cpuTimer is one armed CPU-time deadline.
type cpuTimer struct {
	armed    bool
	deadline int64 // process CPU time, ns
	interval int64
}

// cpuTimers are a process's ITIMER_VIRTUAL and ITIMER_PROF.
type cpuTimers struct {
	mu    sync.Mutex
	tg    weak.Pointer[ThreadGroup]
	timer [3]cpuTimer // indexed by which
	poll  *softirqd.Timer
}

// cpuTimerTables maps weak.Pointer[ThreadGroup] to *cpuTimers.
var cpuTimerTables sync.Map

// cpuTimersOf returns tg's CPU timers, creating them if create is set
// (else nil when there are none).
func (tg *ThreadGroup) cpuTimersOf(create bool) *cpuTimers {
	key := weak.Make(tg)
	if v, ok := cpuTimerTables.Load(key); ok {
		return v.(*cpuTimers)
	}
	if !create {
		return nil
	}
	v, loaded := cpuTimerTables.LoadOrStore(key, &cpuTimers{tg: key})
	if !loaded {
		runtime.AddCleanup(tg, func(k weak.Pointer[ThreadGroup]) {
			if v, ok := cpuTimerTables.LoadAndDelete(k); ok {
				ct := v.(*cpuTimers)
				ct.mu.Lock()
				if ct.poll != nil {
					ct.poll.Stop()
				}
				ct.mu.Unlock()
			}
		}, key)
	}
	return v.(*cpuTimers)
}

// processCPUTimes returns the user and user+system CPU time of tg (its
// live and exited threads), in nanoseconds.
func (tg *ThreadGroup) processCPUTimes() (user, total int64) {
	u, s := tg.CPUTimes()
	return int64(u), int64(u + s)
}

// cpuNow returns the clock of timer which from user and total.
func cpuNow(which int, user, total int64) int64 {
	if which == ItimerVirtual {
		return user
	}
	return total
}

// CPUTimer returns ITIMER_VIRTUAL's or ITIMER_PROF's time left (0:
// disarmed) and interval. Preconditions: which is ItimerVirtual or
// ItimerProf.
func (tg *ThreadGroup) CPUTimer(which int) (value, interval time.Duration) {
	ct := tg.cpuTimersOf(false)
	if ct == nil {
		return 0, 0
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	user, total := tg.processCPUTimes()
	return ct.timer[which].get(cpuNow(which, user, total))
}

func (c *cpuTimer) get(now int64) (value, interval time.Duration) {
	if !c.armed {
		return 0, time.Duration(c.interval)
	}
	// Expired, its signal on the way: the smallest non-zero value, as
	// for ITIMER_REAL.
	return max(time.Duration(c.deadline-now), time.Microsecond), time.Duration(c.interval)
}

// SetCPUTimer arms ITIMER_VIRTUAL or ITIMER_PROF to expire after value of
// the process's CPU time (0: disarm) and then every interval (0: once),
// from the TIMER softirq of cpu, and returns the previous setting. It
// never blocks. Preconditions: which is ItimerVirtual or ItimerProf.
func (tg *ThreadGroup) SetCPUTimer(cpu, which int, value, interval time.Duration) (oldValue, oldInterval time.Duration) {
	ct := tg.cpuTimersOf(true)
	ct.mu.Lock()
	defer ct.mu.Unlock()
	user, total := tg.processCPUTimes()
	now := cpuNow(which, user, total)
	c := &ct.timer[which]
	oldValue, oldInterval = c.get(now)
	*c = cpuTimer{interval: int64(interval)}
	if value > 0 {
		c.armed = true
		c.deadline = now + int64(value)
	}
	if ct.poll == nil {
		if tg.s.Softirqs == nil {
			return oldValue, oldInterval
		}
		poll, err := tg.s.Softirqs.NewTimer(softirqd.ClockMonotonic, func(e softirqd.Expiry) { ct.check(cpu, e) })
		if err != nil {
			return oldValue, oldInterval
		}
		ct.poll = poll
	}
	ct.rearmLocked(cpu, user, total)
	return oldValue, oldInterval
}

// rearmLocked arms the polling timer for the nearest deadline, or stops
// it when nothing is armed. Preconditions: ct.mu is held.
func (ct *cpuTimers) rearmLocked(cpu int, user, total int64) {
	tg := ct.tg.Value()
	if tg == nil || ct.poll == nil {
		return
	}
	var left int64 = -1
	for which := ItimerVirtual; which <= ItimerProf; which++ {
		c := &ct.timer[which]
		if !c.armed {
			continue
		}
		l := c.deadline - cpuNow(which, user, total)
		if left < 0 || l < left {
			left = l
		}
	}
	if left < 0 {
		ct.poll.Stop()
		return
	}
	d := max(time.Duration(left)/time.Duration(max(tg.s.Kernel.NumCPUs(), 1)), cpuTimerMinPoll)
	ct.poll.Set(cpu, softirqd.TimerSpec{Value: d}, false)
}

// check is the polling timer's callback (TIMER softirq context): it
// expires the deadlines the process's CPU time has reached and re-arms.
func (ct *cpuTimers) check(cpu int, e softirqd.Expiry) {
	tg := ct.tg.Value()
	if tg == nil {
		return
	}
	var send []int
	ct.mu.Lock()
	if ct.poll.Stale(e) {
		ct.mu.Unlock()
		return
	}
	select {
	case <-tg.Exited():
		ct.mu.Unlock()
		return
	default:
	}
	user, total := tg.processCPUTimes()
	for which, sig := range map[int]int{ItimerVirtual: int(linux.SIGVTALRM), ItimerProf: int(linux.SIGPROF)} {
		c := &ct.timer[which]
		if !c.armed {
			continue
		}
		n, next := softirqd.Forward(c.deadline, c.interval, cpuNow(which, user, total))
		if n == 0 {
			continue
		}
		if c.interval > 0 {
			c.deadline = next
		} else {
			c.armed = false
		}
		send = append(send, sig)
	}
	ct.rearmLocked(cpu, user, total)
	ct.mu.Unlock()
	for _, sig := range send {
		tg.SendSignalInfo(KernelSignalInfo(sig))
	}
}

// UpdateQueuedSignal reports whether info (the very siginfo a sender
// queued with SendSignalInfo) is still queued on target's pending queue
// (target nil: the group's), not yet dequeued for delivery nor discarded.
// If it is and f is not nil, f is applied to it under the group's lock,
// so the change is seen by whoever dequeues it. f must not block or call
// back into the group. It never blocks beyond the group's lock.
func (tg *ThreadGroup) UpdateQueuedSignal(target *Thread, info *linux.SignalInfo, f func(*linux.SignalInfo)) bool {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	q := &tg.signals().pending
	if target != nil {
		q = &target.signals().pending
	}
	for _, x := range q.infos {
		if x == info {
			if f != nil {
				f(x)
			}
			return true
		}
	}
	return false
}
