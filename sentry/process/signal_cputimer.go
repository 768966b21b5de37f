package process

// CPU-time timers: the interval timers ITIMER_VIRTUAL (the process's user
// time, SIGVTALRM) and ITIMER_PROF (its user + system time, SIGPROF), POSIX
// timers on the CPU-time clocks (CPUClockTimer, cpuclock.go), and
// RLIMIT_CPU (SIGXCPU at the soft limit and every second after, SIGKILL at
// the hard limit, as Linux's check_process_timers); plus support for the
// POSIX timers of sentry/syscalls/sys_timer.go (UpdateQueuedSignal).
//
// They read the scheduler's accounting (kernel.Task.Times, which includes
// application time in progress) from a polling timer on the kernel's TIMER
// softirq: while one of a process's CPU deadlines is armed, a
// CLOCK_MONOTONIC softirqd timer fires after the CPU time left divided by
// the number of sandbox CPUs (the fastest the process's CPU time can
// advance), at least every cpuTimerMinPoll, checks the deadlines, sends the
// signals (SI_KERNEL, as Linux) or fires the timers, and re-arms itself.
// Firing late by up to the poll period is the approximation (Linux checks
// at every tick). The times of threads that have exited are counted
// (CPUTimes). Like Linux's, the interval timers survive execve and are not
// inherited by fork; RLIMIT_CPU is inherited with the other limits and
// counts the child's own time.
//
// Locking: cpuTimers.mu, then ThreadGroup.mu (taken by CPUTimes) and
// Limits.mu; the signals are sent and the timers fired after cpuTimers.mu
// is released. A POSIX timer's own lock (sys_timer.go) comes before
// cpuTimers.mu.

import (
	"math"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/runsc-lite/runsc-lite/softirqd"
	"golang.org/x/sys/unix"
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

// cpuTimers are the CPU-time deadlines of a process: ITIMER_VIRTUAL and
// ITIMER_PROF, the armed timers on its CPU clocks and its threads', and
// RLIMIT_CPU.
type cpuTimers struct {
	mu    sync.Mutex
	tg    weak.Pointer[ThreadGroup]
	timer [3]cpuTimer // indexed by which
	// clockTimers are the armed CPUClockTimers on the process's clocks.
	clockTimers map[*CPUClockTimer]struct{}
	// limited is set while RLIMIT_CPU is finite; xcpuAt is the process
	// CPU time (ns) of the next SIGXCPU (the soft limit, then a second
	// more each time, as Linux raises the soft limit).
	limited bool
	xcpuAt  int64
	poll    *softirqd.Timer
	cpu     int // the CPU whose TIMER softirq polls
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
	ct.cpu = cpu
	ct.rearmLocked(user, total)
	return oldValue, oldInterval
}

// CPULimitChanged makes the process's RLIMIT_CPU take effect: call it
// after the limit changed (setrlimit, prlimit) and when a process starts
// with a limit (fork, the sandbox's init). It never blocks.
func (tg *ThreadGroup) CPULimitChanged() {
	lim := tg.Limits.Get(unix.RLIMIT_CPU)
	ct := tg.cpuTimersOf(lim.Cur != unix.RLIM_INFINITY || lim.Max != unix.RLIM_INFINITY)
	if ct == nil {
		return
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.limited = lim.Cur != unix.RLIM_INFINITY || lim.Max != unix.RLIM_INFINITY
	ct.xcpuAt = limitNs(lim.Cur)
	user, total := tg.processCPUTimes()
	ct.rearmLocked(user, total)
}

// limitNs converts an RLIMIT_CPU value (seconds) to nanoseconds.
func limitNs(secs uint64) int64 {
	if secs >= uint64(math.MaxInt64/int64(time.Second)) {
		return math.MaxInt64
	}
	return int64(secs) * int64(time.Second)
}

// rearmLocked arms the polling timer for the nearest deadline, or stops
// it when nothing is armed. Preconditions: ct.mu is held.
func (ct *cpuTimers) rearmLocked(user, total int64) {
	tg := ct.tg.Value()
	if tg == nil {
		return
	}
	var left int64 = -1
	nearer := func(l int64) {
		if left < 0 || l < left {
			left = max(l, 0)
		}
	}
	for which := ItimerVirtual; which <= ItimerProf; which++ {
		if c := &ct.timer[which]; c.armed {
			nearer(c.deadline - cpuNow(which, user, total))
		}
	}
	for t := range ct.clockTimers {
		nearer(t.deadline - int64(t.clock.now(user, total)))
	}
	if ct.limited {
		lim := tg.Limits.Get(unix.RLIMIT_CPU)
		if lim.Cur != unix.RLIM_INFINITY {
			nearer(ct.xcpuAt - total)
		}
		if lim.Max != unix.RLIM_INFINITY {
			nearer(limitNs(lim.Max) - total)
		}
	}
	if left < 0 {
		if ct.poll != nil {
			ct.poll.Stop()
		}
		return
	}
	if ct.poll == nil {
		if tg.s.Softirqs == nil {
			return
		}
		poll, err := tg.s.Softirqs.NewTimer(softirqd.ClockMonotonic, ct.check)
		if err != nil {
			return
		}
		ct.poll = poll
	}
	d := max(time.Duration(left)/time.Duration(max(tg.s.Kernel.NumCPUs(), 1)), cpuTimerMinPoll)
	ct.poll.Set(ct.cpu, softirqd.TimerSpec{Value: d}, false)
}

// clockFiring is a CPUClockTimer's expiry found by check, fired once
// cpuTimers.mu is released.
type clockFiring struct {
	t *CPUClockTimer
	e softirqd.Expiry
}

// check is the polling timer's callback (TIMER softirq context): it
// expires the deadlines the process's CPU time has reached and re-arms.
func (ct *cpuTimers) check(e softirqd.Expiry) {
	tg := ct.tg.Value()
	if tg == nil {
		return
	}
	var send []int
	var fire []clockFiring
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
	for t := range ct.clockTimers {
		if n := t.forwardLocked(int64(t.clock.now(user, total))); n > 0 && t.fire != nil {
			fire = append(fire, clockFiring{t, softirqd.NewExpiry(n, t.gen)})
		}
	}
	if ct.limited {
		lim := tg.Limits.Get(unix.RLIMIT_CPU)
		switch {
		case lim.Max != unix.RLIM_INFINITY && total >= limitNs(lim.Max):
			send = append(send, int(linux.SIGKILL))
		case lim.Cur != unix.RLIM_INFINITY && total >= ct.xcpuAt:
			send = append(send, int(linux.SIGXCPU))
			// Linux raises the soft limit by a second after each
			// SIGXCPU, up to the hard limit.
			if lim.Cur < lim.Max {
				tg.Limits.raiseCPUSoft(lim.Cur + 1)
				ct.xcpuAt = limitNs(lim.Cur + 1)
			} else {
				ct.xcpuAt = math.MaxInt64
			}
		}
	}
	ct.rearmLocked(user, total)
	ct.mu.Unlock()
	for _, sig := range send {
		tg.SendSignalInfo(KernelSignalInfo(sig))
	}
	for _, f := range fire {
		f.t.fire(f.e)
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
