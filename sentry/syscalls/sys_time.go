package syscalls

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// clockNow reads clock id as the sandbox's first time namespace sees it
// (nsClockNow: as a thread sees it). The sandbox's clocks are the timekeeper's
// formula over the TSC, calibrated against the host's clocks, the same
// one the vDSO evaluates (so trapped and vDSO reads make one clock); where
// it does not serve a clock (MONOTONIC_RAW, TAI, or no usable TSC) the
// sentry reads the host's for itself, as any kernel reads its clock
// source. The CPU-time clocks come from the scheduler's accounting.
func clockNow(t *process.Thread, id int32) (int64, error) {
	if c, ok, err := cpuClockOf(t, id); ok {
		if err != nil {
			return 0, err
		}
		return c.Now().Nanoseconds(), nil
	}
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_RAW,
		unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_BOOTTIME,
		unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM, unix.CLOCK_TAI:
		if ns := timekeeper.Sandbox.Read(id); ns >= 0 {
			return ns, nil
		}
	}
	return 0, unix.EINVAL
}

// The parts of a CPU-time clock id (Linux's CPUCLOCK_*): ~pid << 3, a
// per-thread bit, and what the clock counts; 3 in the low bits with the
// per-thread bit is a dynamic clock (CLOCKFD), not a CPU clock.
const (
	cpuClockPerThread = 4
	cpuClockWhichMask = 3
	cpuClockFD        = 3
)

// cpuClockOf resolves a CPU-time clock id: CLOCK_PROCESS_CPUTIME_ID and
// CLOCK_THREAD_CPUTIME_ID (the caller's), or a negative id naming a
// process's or a thread's clock (clock_getcpuclockid,
// pthread_getcpuclockid). ok is false for any other clock. The error is
// EINVAL for a malformed id, a dynamic clock, or one naming no process
// (a thread clock names only a thread of the caller's process, as Linux's
// lookup_task).
func cpuClockOf(t *process.Thread, id int32) (c process.CPUClock, ok bool, err error) {
	switch id {
	case unix.CLOCK_PROCESS_CPUTIME_ID:
		return process.CPUClock{TG: t.TG, Which: process.CPUClockSched}, true, nil
	case unix.CLOCK_THREAD_CPUTIME_ID:
		return process.CPUClock{TG: t.TG, Thread: t, Which: process.CPUClockSched}, true, nil
	}
	if id >= 0 {
		return c, false, nil
	}
	which := id & cpuClockWhichMask
	if which == cpuClockFD {
		return c, true, unix.EINVAL
	}
	c.Which = int(which)
	pid := ^(id >> 3)
	if id&cpuClockPerThread != 0 {
		c.Thread = t
		if pid != 0 {
			if c.Thread = findThread(t, t.PIDOf(t.TG), pid); c.Thread == nil {
				return c, true, unix.EINVAL
			}
		}
		c.TG = c.Thread.TG
		return c, true, nil
	}
	c.TG = t.TG
	if pid != 0 {
		if c.TG = t.S.ThreadGroupByID(kernelPID(t, pid)); c.TG == nil {
			return c, true, unix.EINVAL
		}
	}
	return c, true, nil
}

// nsClockNow reads clock id as t sees it: clockNow plus the offset of t's
// time namespace (process/timens.go) for CLOCK_MONOTONIC and
// CLOCK_BOOTTIME and their forms. Times a program gives back on these
// clocks (absolute sleeps and timers) are taken off again with
// hostClockTime.
func nsClockNow(t *process.Thread, id int32) (int64, error) {
	ns, err := clockNow(t, id)
	return ns + t.ClockOffset(id), err
}

// hostClockTime turns an absolute time on clock id as t sees it into the
// sandbox's (Linux's timens_ktime_to_host).
func hostClockTime(t *process.Thread, id int32, ns int64) int64 {
	return ns - t.ClockOffset(id)
}

func ClockGettime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := nsClockNow(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	ts := linux.NsecToTimespec(ns)
	if _, err := ts.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func ClockGetres(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if _, err := clockNow(t, a.Int(0)); err != nil {
		return 0, err
	}
	if a.Ptr(1) == 0 {
		return 0, nil
	}
	res := linux.Timespec{Nsec: 1}
	switch a.Int(0) {
	case unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE:
		res = linux.Timespec{Nsec: tickNs}
	}
	if c, ok, _ := cpuClockOf(t, a.Int(0)); ok && c.Which != process.CPUClockSched {
		// Linux's posix_cpu_clock_getres: a tick, but for the
		// scheduler's clock.
		res = linux.Timespec{Nsec: tickNs}
	}
	if _, err := res.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func Gettimeofday(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a.Ptr(0) != 0 {
		ns, _ := clockNow(t, unix.CLOCK_REALTIME)
		tv := linux.NsecToTimeval(ns)
		if _, err := tv.CopyOut(t, hostarch.Addr(a.Ptr(0))); err != nil {
			return 0, unix.EFAULT
		}
	}
	if a.Ptr(1) != 0 {
		var tz [8]byte // UTC, no DST
		if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(1)), tz[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

func Time(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, _ := clockNow(t, unix.CLOCK_REALTIME)
	sec := ns / 1e9
	if a.Ptr(0) != 0 {
		var b [8]byte
		for i := range b {
			b[i] = byte(uint64(sec) >> (8 * i))
		}
		if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(0)), b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(sec), nil
}

// monoNow is the sandbox's CLOCK_MONOTONIC.
func monoNow(t *process.Thread) time.Duration {
	ns, _ := clockNow(t, unix.CLOCK_MONOTONIC)
	return time.Duration(ns)
}

// sleepFor blocks the thread for d of the sandbox's CLOCK_MONOTONIC,
// releasing its CPU. It returns the time left and EINTR if the thread was
// interrupted. The wait itself runs on the host's clock; a wake-up that
// comes before the sandbox's clock has moved d (the two may differ by the
// timekeeper's slew, parts per million) waits for the rest, so a program
// never measures a sleep shorter than it asked for.
func sleepFor(t *process.Thread, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		t.Task.Yield()
		return 0, nil
	}
	target := monoNow(t) + d
	for {
		var wq kernel.WaitQueue
		err := wq.Wait(t.Task, func() bool { return false }, kernel.WaitOpts{Timeout: d, Interruptible: true})
		now := monoNow(t)
		if err == kernel.ErrInterrupted {
			return max(target-now, 0), unix.EINTR
		}
		if now >= target {
			return 0, nil
		}
		d = target - now
	}
}

func copyInTimespec(t *process.Thread, addr uintptr) (time.Duration, error) {
	var ts linux.Timespec
	if _, err := ts.CopyIn(t, hostarch.Addr(addr)); err != nil {
		return 0, unix.EFAULT
	}
	if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	return time.Duration(ts.ToNsecCapped()), nil
}

func Nanosleep(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	d, err := copyInTimespec(t, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	return sleepUntil(t, monoNow(t)+d, a.Ptr(1))
}

// sleepUntil sleeps until deadline on the sandbox's CLOCK_MONOTONIC (a
// relative nanosleep or clock_nanosleep turned absolute). Interrupted, it writes the time left
// to rem (if not 0) and leaves a restart block that sleeps on to the same
// deadline, so a restart after a stop or a handler-less signal ends when
// the sleep would have (restart_syscall).
func sleepUntil(t *process.Thread, deadline time.Duration, rem uintptr) (uintptr, error) {
	left, err := sleepFor(t, deadline-monoNow(t))
	if err == unix.EINTR {
		if rem != 0 {
			ts := linux.NsecToTimespec(left.Nanoseconds())
			ts.CopyOut(t, hostarch.Addr(rem))
		}
		t.SetRestartBlock(func(t *process.Thread) (uintptr, error) { return sleepUntil(t, deadline, rem) })
	}
	return 0, err
}

// RestartSyscall is restart_syscall(2): it continues the interrupted
// syscall whose restart block the thread holds, or fails with EINTR.
func RestartSyscall(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fn := t.TakeRestartBlock()
	if fn == nil {
		return 0, unix.EINTR
	}
	return fn(t)
}

func ClockNanosleep(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	id, flags := a.Int(0), a.Int(1)
	if _, err := clockNow(t, id); err != nil {
		return 0, err
	}
	c, cpuClock, _ := cpuClockOf(t, id)
	if cpuClock && c.Thread == t {
		// A thread cannot sleep until its own CPU time advances.
		return 0, unix.EINVAL
	}
	d, err := copyInTimespec(t, a.Ptr(2))
	if err != nil {
		return 0, err
	}
	if cpuClock {
		target := d
		if flags&unix.TIMER_ABSTIME == 0 {
			target += c.Now()
			return sleepOnCPUClock(t, c, target, a.Ptr(3))
		}
		return sleepOnCPUClock(t, c, target, 0)
	}
	if flags&unix.TIMER_ABSTIME == 0 {
		return sleepUntil(t, monoNow(t)+d, a.Ptr(3))
	}
	// An absolute sleep is simply run again when restarted. The
	// deadline is on t's time namespace's clock.
	now, _ := clockNow(t, id)
	_, err = sleepFor(t, time.Duration(hostClockTime(t, id, int64(d))-now))
	return 0, err
}

// tickNs is the sandbox's tick (HZ=250), the resolution Linux reports for
// its coarse clocks and its tick-sampled CPU clocks.
const tickNs = timekeeper.TickNs

// sleepOnCPUClock sleeps until CPU clock c reaches target, releasing the
// CPU (a timer on the clock wakes it). Interrupted, it writes the time left
// to rem (if not 0) and leaves a restart block that sleeps on to target.
func sleepOnCPUClock(t *process.Thread, c process.CPUClock, target time.Duration, rem uintptr) (uintptr, error) {
	var wq kernel.WaitQueue
	tm := process.NewCPUClockTimer(c, func(softirqd.Expiry) { wq.NotifyAll() })
	tm.Set(cpuOf(t), softirqd.TimerSpec{Value: max(target, 1)}, true)
	defer tm.Stop()
	err := wq.Wait(t.Task, func() bool { return c.Now() >= target }, kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true})
	if err != kernel.ErrInterrupted {
		return 0, nil
	}
	if rem != 0 {
		ts := linux.NsecToTimespec(max(target-c.Now(), 0).Nanoseconds())
		ts.CopyOut(t, hostarch.Addr(rem))
	}
	t.SetRestartBlock(func(t *process.Thread) (uintptr, error) { return sleepOnCPUClock(t, c, target, rem) })
	return 0, unix.EINTR
}

// The sandbox never sets its clocks: it has them from the host, and a
// program inside holds no CAP_SYS_TIME over the host's. The calls that
// would set them check their arguments as Linux does and fail with EPERM
// as Linux does without CAP_SYS_TIME; the clocks that cannot be set at all
// give EINVAL (clock_settime) or EOPNOTSUPP (clock_adjtime).

// ClockSettime is clock_settime(2).
func ClockSettime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	id := a.Int(0)
	_, cpu, err := cpuClockOf(t, id)
	// CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID have no
	// clock_set at all; the clocks clock_getcpuclockid names do, and
	// refuse with EPERM (Linux's posix_cpu_clock_set).
	if (!cpu || id >= 0) && id != unix.CLOCK_REALTIME {
		return 0, unix.EINVAL
	}
	var ts linux.Timespec
	if _, cerr := ts.CopyIn(t, hostarch.Addr(a.Ptr(1))); cerr != nil {
		return 0, unix.EFAULT
	}
	if cpu {
		if err != nil {
			return 0, err
		}
		return 0, unix.EPERM
	}
	if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	return 0, unix.EPERM
}

// Settimeofday is settimeofday(2).
func Settimeofday(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a.Ptr(0) != 0 {
		var tv linux.Timeval
		if _, err := tv.CopyIn(t, hostarch.Addr(a.Ptr(0))); err != nil {
			return 0, unix.EFAULT
		}
		if tv.Usec < 0 || tv.Usec >= 1e6 || tv.Sec < 0 {
			return 0, unix.EINVAL
		}
	}
	if a.Ptr(1) != 0 {
		var tz [8]byte
		if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(1)), tz[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, unix.EPERM
}

// struct timex (linux/timex.h) as adjtimex reads and fills it.
const (
	timexSize           = 208
	adjAdjtime          = 0x8000
	adjOffsetSingleshot = 0x0001
	adjOffsetReadonly   = 0x2000
	staUnsync           = 0x0040
	timeError           = 5
	ntpMaxError         = 16000000
	ntpMaxFreqScaled    = 500 << 16 // MAXFREQ_SCALED / PPM_SCALE
	userHZTickMicros    = 10000     // 1 s / USER_HZ
	ntpShiftConstant    = 2
)

// adjtime answers a read-only adjtimex query on the realtime clock: the
// sandbox's clock is not disciplined by NTP inside the sandbox, so it
// reports an unsynchronised clock (TIME_ERROR) with the current time. Any
// change is EPERM (see above).
func adjtime(t *process.Thread, addr uintptr) (uintptr, error) {
	var b [timexSize]byte
	if _, err := t.CopyInBytes(hostarch.Addr(addr), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	modes := hostarch.ByteOrder.Uint32(b[0:4])
	if modes&adjAdjtime != 0 {
		// adjtime(3)'s single-shot offset: it must say so, and only
		// reading it is allowed.
		if modes&adjOffsetSingleshot == 0 {
			return 0, unix.EINVAL
		}
		if modes&adjOffsetReadonly == 0 {
			return 0, unix.EPERM
		}
	} else if modes != 0 {
		return 0, unix.EPERM
	}
	ns, _ := clockNow(t, unix.CLOCK_REALTIME)
	clear(b[:])
	put64 := func(off int, v int64) { hostarch.ByteOrder.PutUint64(b[off:], uint64(v)) }
	// modes(4) pad(4) offset(8) freq(8) maxerror(8) esterror(8)
	// status(4) pad(4) constant(8) precision(8) tolerance(8)
	// time(16) tick(8) ...
	put64(24, ntpMaxError)
	put64(32, ntpMaxError)
	hostarch.ByteOrder.PutUint32(b[40:], staUnsync)
	put64(48, ntpShiftConstant)
	put64(56, 1)
	put64(64, ntpMaxFreqScaled)
	put64(72, ns/1e9)
	put64(80, ns%1e9/1e3)
	put64(88, userHZTickMicros)
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return timeError, nil
}

// Adjtimex is adjtimex(2).
func Adjtimex(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return adjtime(t, a.Ptr(0))
}

// ClockAdjtime is clock_adjtime(2).
func ClockAdjtime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	id := a.Int(0)
	var b [timexSize]byte
	if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(1)), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	if id == unix.CLOCK_REALTIME {
		return adjtime(t, a.Ptr(1))
	}
	if _, err := clockNow(t, id); err != nil {
		if _, cpu, _ := cpuClockOf(t, id); !cpu {
			return 0, unix.EINVAL
		}
	}
	return 0, unix.EOPNOTSUPP
}
