package process

// CPU-time clocks and the POSIX timers armed on them (timer_create with
// CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID or a clock id from
// clock_getcpuclockid / pthread_getcpuclockid). A CPUClockTimer is one of
// its process's CPU-time deadlines, found by the process's polling timer
// (signal_cputimer.go); it offers the Set/Get/Stop/Stale contract of a
// softirqd.Timer so that sys_timer.go drives both alike.
//
// Locking: a CPUClockTimer's state is protected by its process's
// cpuTimers.mu.

import (
	"time"

	"github.com/runsc-lite/runsc-lite/softirqd"
)

// What a CPU-time clock counts (Linux's CPUCLOCK_PROF, VIRT, SCHED).
const (
	CPUClockProf  = 0 // user + system time
	CPUClockVirt  = 1 // user time
	CPUClockSched = 2 // time on a CPU (user + system here)
)

// CPUClock is a CPU-time clock: a thread's (Thread set) or a whole
// process's, exited threads included.
type CPUClock struct {
	TG     *ThreadGroup
	Thread *Thread // nil: the process's clock
	Which  int
}

// Now reads the clock.
func (c CPUClock) Now() time.Duration {
	var u, s time.Duration
	if c.Thread != nil {
		u, s = c.Thread.Task.Times()
	} else {
		u, s = c.TG.CPUTimes()
	}
	if c.Which == CPUClockVirt {
		return u
	}
	return u + s
}

// now reads the clock, given the process's user and total times when it is
// a process clock (the poll read them already).
func (c CPUClock) now(user, total int64) time.Duration {
	if c.Thread != nil {
		return c.Now()
	}
	if c.Which == CPUClockVirt {
		return time.Duration(user)
	}
	return time.Duration(total)
}

// CPUClockTimer is a POSIX timer on a CPU-time clock.
type CPUClockTimer struct {
	clock CPUClock
	fire  func(softirqd.Expiry) // nil: SIGEV_NONE
	ct    *cpuTimers

	// Protected by ct.mu.
	armed              bool
	deadline, interval int64 // clock ns
	gen                uint64
}

// NewCPUClockTimer returns a disarmed timer on clock c whose expiries call
// fire (TIMER softirq context; nil for a timer nobody is told about).
func NewCPUClockTimer(c CPUClock, fire func(softirqd.Expiry)) *CPUClockTimer {
	return &CPUClockTimer{clock: c, fire: fire, ct: c.TG.cpuTimersOf(true)}
}

// Set arms the timer to expire when the clock reaches value from now (or
// value itself, abs) and then every interval (a zero value disarms), with
// the process's TIMER softirq on cpu, and returns the previous setting.
// Expiries taken before become stale. It never blocks.
func (t *CPUClockTimer) Set(cpu int, spec softirqd.TimerSpec, abs bool) softirqd.TimerSpec {
	ct := t.ct
	ct.mu.Lock()
	defer ct.mu.Unlock()
	tg := ct.tg.Value()
	now := int64(t.clock.Now())
	old := t.getLocked(now)
	t.gen++
	t.armed = spec.Value > 0
	t.interval = int64(spec.Interval)
	t.deadline = int64(spec.Value)
	if !abs {
		t.deadline += now
	}
	if t.armed {
		if ct.clockTimers == nil {
			ct.clockTimers = make(map[*CPUClockTimer]struct{})
		}
		ct.clockTimers[t] = struct{}{}
	} else {
		delete(ct.clockTimers, t)
	}
	if tg != nil {
		ct.cpu = cpu
		user, total := tg.processCPUTimes()
		ct.rearmLocked(user, total)
	}
	return old
}

// Get returns the time left to the next expiry (0: disarmed) and the
// interval.
func (t *CPUClockTimer) Get() softirqd.TimerSpec {
	t.ct.mu.Lock()
	defer t.ct.mu.Unlock()
	return t.getLocked(int64(t.clock.Now()))
}

func (t *CPUClockTimer) getLocked(now int64) softirqd.TimerSpec {
	spec := softirqd.TimerSpec{Interval: time.Duration(t.interval)}
	if !t.armed {
		return spec
	}
	if t.fire == nil {
		// Nobody is told about a SIGEV_NONE timer's expiries: bring
		// it up to date here, as Linux's posix_cpu_timer_get does.
		t.forwardLocked(now)
		if !t.armed {
			return spec
		}
	}
	// Due but not yet seen by the poll: about to expire (Linux says 1 ns).
	spec.Value = max(time.Duration(t.deadline-now), time.Nanosecond)
	return spec
}

// forwardLocked expires the timer if the clock (at now) reached its
// deadline and returns how many expirations went by. Preconditions:
// ct.mu is held.
func (t *CPUClockTimer) forwardLocked(now int64) uint64 {
	if !t.armed {
		return 0
	}
	n, next := softirqd.Forward(t.deadline, t.interval, now)
	if n == 0 {
		return 0
	}
	if t.interval > 0 {
		t.deadline = next
	} else {
		t.armed = false
		delete(t.ct.clockTimers, t)
	}
	return n
}

// Stop disarms the timer and reports whether it was armed; expiries taken
// before become stale.
func (t *CPUClockTimer) Stop() bool {
	t.ct.mu.Lock()
	defer t.ct.mu.Unlock()
	t.gen++
	was := t.armed
	t.armed = false
	delete(t.ct.clockTimers, t)
	return was
}

// Stale reports whether Set or Stop was called after e was taken.
func (t *CPUClockTimer) Stale(e softirqd.Expiry) bool {
	t.ct.mu.Lock()
	defer t.ct.mu.Unlock()
	return e.Generation() != t.gen
}
