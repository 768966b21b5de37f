package syscalls

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// clockNow reads clock id. The sentry's clocks come from the host's
// (it reads them for itself, as any kernel reads its clock source); the
// CPU-time clocks come from the scheduler's accounting.
func clockNow(t *process.Thread, id int32) (int64, error) {
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_RAW,
		unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_BOOTTIME,
		unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM, unix.CLOCK_TAI:
		var ts unix.Timespec
		if err := unix.ClockGettime(id, &ts); err != nil {
			return 0, unix.EINVAL
		}
		return ts.Nano(), nil
	case unix.CLOCK_PROCESS_CPUTIME_ID:
		var total time.Duration
		for _, th := range t.TG.Threads() {
			total += th.Task.Runtime()
		}
		return total.Nanoseconds(), nil
	case unix.CLOCK_THREAD_CPUTIME_ID:
		return t.Task.Runtime().Nanoseconds(), nil
	}
	return 0, unix.EINVAL
}

func ClockGettime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := clockNow(t, a.Int(0))
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
		res = linux.Timespec{Nsec: 4000000}
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

// sleepFor blocks the thread for d, releasing its CPU. It returns the time
// left and EINTR if the thread was interrupted.
func sleepFor(t *process.Thread, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		t.Task.Yield()
		return 0, nil
	}
	deadline := time.Now().Add(d)
	var wq kernel.WaitQueue
	err := wq.Wait(t.Task, func() bool { return false }, kernel.WaitOpts{Timeout: d, Interruptible: true})
	if err == kernel.ErrInterrupted {
		return max(time.Until(deadline), 0), unix.EINTR
	}
	return 0, nil
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
	return sleepUntil(t, time.Now().Add(d), a.Ptr(1))
}

// sleepUntil sleeps until deadline (a relative nanosleep or
// clock_nanosleep turned absolute). Interrupted, it writes the time left
// to rem (if not 0) and leaves a restart block that sleeps on to the same
// deadline, so a restart after a stop or a handler-less signal ends when
// the sleep would have (restart_syscall).
func sleepUntil(t *process.Thread, deadline time.Time, rem uintptr) (uintptr, error) {
	left, err := sleepFor(t, time.Until(deadline))
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
	if id == unix.CLOCK_THREAD_CPUTIME_ID {
		return 0, unix.EINVAL
	}
	d, err := copyInTimespec(t, a.Ptr(2))
	if err != nil {
		return 0, err
	}
	if flags&unix.TIMER_ABSTIME == 0 {
		return sleepUntil(t, time.Now().Add(d), a.Ptr(3))
	}
	// An absolute sleep is simply run again when restarted.
	now, _ := clockNow(t, id)
	_, err = sleepFor(t, d-time.Duration(now))
	return 0, err
}
