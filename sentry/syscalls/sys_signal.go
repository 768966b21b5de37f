package syscalls

// Signal syscalls. The signal machinery itself (queues, delivery, frames,
// job control, timers) is in package process (signal*.go).

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// sigsetSize is sizeof(sigset_t) for the rt_sig* syscalls.
const sigsetSize = process.SigsetSize

// copyInSigset reads a sigset_t.
func copyInSigset(t *process.Thread, addr uintptr) (linux.SignalSet, error) {
	var set linux.SignalSet
	if _, err := set.CopyIn(t, hostarch.Addr(addr)); err != nil {
		return 0, unix.EFAULT
	}
	return set, nil
}

func RtSigaction(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	sig := int(a.Int(0))
	var actBytes []byte
	if a.Ptr(1) != 0 {
		actBytes = make([]byte, 32)
		if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(1)), actBytes); err != nil {
			// Linux checks the signal first.
			if _, err := process.DecodeSigaction(sig, uint64(a[3]), nil); err != nil {
				return 0, err
			}
			return 0, unix.EFAULT
		}
	}
	act, err := process.DecodeSigaction(sig, uint64(a[3]), actBytes)
	if err != nil {
		return 0, err
	}
	var old linux.SigAction
	if actBytes != nil {
		old = t.TG.SetSignalAction(sig, act)
	} else {
		old = t.TG.Action(sig)
	}
	if a.Ptr(2) != 0 {
		if _, err := old.CopyOut(t, hostarch.Addr(a.Ptr(2))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

func RtSigprocmask(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	old := t.SignalMask
	var set []byte
	if a[3] == sigsetSize && a.Ptr(1) != 0 {
		set = make([]byte, sigsetSize)
		if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(1)), set); err != nil {
			return 0, unix.EFAULT
		}
	}
	mask, err := process.ApplySigprocmask(a.Int(0), uint64(a[3]), old, set)
	if err != nil {
		return 0, err
	}
	if set != nil {
		t.SetSignalMask(mask)
	}
	if a.Ptr(2) != 0 {
		if _, err := old.CopyOut(t, hostarch.Addr(a.Ptr(2))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

func RtSigpending(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	size := a[1]
	if size > sigsetSize {
		return 0, unix.EINVAL
	}
	set := t.PendingSignals()
	var b [sigsetSize]byte
	set.MarshalBytes(b[:])
	if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(0)), b[:size]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func RtSigsuspend(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a[1] != sigsetSize {
		return 0, unix.EINVAL
	}
	set, err := copyInSigset(t, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	return 0, t.Sigsuspend(set)
}

func Pause(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return 0, t.Pause()
}

func RtSigtimedwait(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	set, err := copyInSigset(t, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	timeout := kernel.Forever
	if a.Ptr(2) != 0 {
		var ts linux.Timespec
		if _, err := ts.CopyIn(t, hostarch.Addr(a.Ptr(2))); err != nil {
			return 0, unix.EFAULT
		}
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
			return 0, unix.EINVAL
		}
		timeout = time.Duration(ts.ToNsecCapped())
	}
	info, err := t.Sigtimedwait(set, timeout)
	if err != nil {
		return 0, err
	}
	if a.Ptr(1) != 0 {
		info.FixSignalCodeForUser()
		if _, err := info.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(info.Signo), nil
}

func RtSigreturn(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	t.SignalReturn()
	return 0, ErrNoReturn
}

func Sigaltstack(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	old := t.SignalStack()
	if a.Ptr(0) != 0 {
		b := make([]byte, 24)
		if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(0)), b); err != nil {
			return 0, unix.EFAULT
		}
		ss, err := process.DecodeSignalStack(b)
		if err != nil {
			return 0, err
		}
		if err := t.SetSignalStack(ss); err != nil {
			return 0, err
		}
	}
	if a.Ptr(1) != 0 {
		if _, err := old.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

// sendSignal sends sig from t to tg as kill(2) does (SI_USER, si_pid and
// si_uid of the sender), for the sentry's own use (sys_file.go raises
// SIGPIPE with it). SIGPIPE to the caller's own process is directed at the
// calling thread, as the kernel raises it after a failed write.
func sendSignal(t *process.Thread, tg *process.ThreadGroup, sig int) error {
	if sig == 0 {
		return nil
	}
	info := process.UserSignalInfo(sig, t)
	if sig == int(unix.SIGPIPE) && tg == t.TG {
		return t.SendSignalInfo(info)
	}
	return tg.SendSignalInfo(info)
}

// killOne checks permission and sends sig (with info, nil for kill's) to
// tg.
func killOne(t *process.Thread, tg *process.ThreadGroup, sig int, info *linux.SignalInfo) error {
	if !t.MaySignal(tg, sig) {
		return unix.EPERM
	}
	if sig == 0 {
		return nil
	}
	if info == nil {
		info = process.UserSignalInfo(sig, t)
	}
	return tg.SendSignalFrom(t, nil, info)
}

// killTargets returns the processes kill(pid) designates: one process,
// the caller's process group (0), every process but init and the caller
// (-1), or process group -pid. ESRCH when there are none.
func killTargets(t *process.Thread, pid int32) ([]*process.ThreadGroup, error) {
	var targets []*process.ThreadGroup
	switch {
	case pid > 0:
		if tg := t.S.ThreadGroupByID(kernelPID(t, pid)); tg != nil {
			targets = append(targets, tg)
		}
	case pid == 0:
		targets = t.S.ProcessGroupMembers(t.TG.ProcessGroup())
	case pid == -1:
		ns := t.PIDNS()
		for _, tg := range t.S.ThreadGroups() {
			if tg != t.S.Init() && tg != t.TG && tg != ns.Init() && tg.Leader() != nil && ns.Contains(tg.Leader()) {
				targets = append(targets, tg)
			}
		}
	default:
		if pid == -1<<31 {
			return nil, unix.ESRCH
		}
		targets = t.S.ProcessGroupMembers(kernelPID(t, -pid))
	}
	if len(targets) == 0 {
		return nil, unix.ESRCH
	}
	return targets, nil
}

func Kill(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pid, sig := a.Int(0), int(a.Int(1))
	if sig < 0 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	targets, err := killTargets(t, pid)
	if err != nil {
		return 0, err
	}
	if pid > 0 {
		return 0, killOne(t, targets[0], sig, nil)
	}
	// A group: success if any was signalled, else the last error. The
	// caller's own process last, so that killing itself does not cut
	// the loop short.
	var lastErr error = unix.EPERM
	sent := false
	for pass := 0; pass < 2; pass++ {
		for _, tg := range targets {
			if (tg == t.TG) != (pass == 1) {
				continue
			}
			if err := killOne(t, tg, sig, nil); err != nil {
				lastErr = err
				continue
			}
			sent = true
		}
	}
	if sent {
		return 0, nil
	}
	return 0, lastErr
}

// findThread returns the live thread tid, in thread group tgid if tgid > 0.
func findThread(t *process.Thread, tgid, tid int32) *process.Thread {
	tk := t.S.Kernel.TaskByTID(kernelPID(t, tid))
	if tk == nil {
		return nil
	}
	th, ok := tk.Ext.(*process.Thread)
	if !ok || (tgid > 0 && th.TG.TGID() != kernelPID(t, tgid)) {
		return nil
	}
	return th
}

// tkillInfo is the siginfo of tgkill/tkill.
func tkillInfo(t *process.Thread, sig int) *linux.SignalInfo {
	info := process.UserSignalInfo(sig, t)
	info.Code = linux.SI_TKILL
	return info
}

func sendToThread(t *process.Thread, th *process.Thread, sig int, info *linux.SignalInfo) error {
	if !t.MaySignal(th.TG, sig) {
		return unix.EPERM
	}
	if sig == 0 {
		return nil
	}
	return th.TG.SendSignalFrom(t, th, info)
}

func Tgkill(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tgid, tid, sig := a.Int(0), a.Int(1), int(a.Int(2))
	if tgid <= 0 || tid <= 0 || sig < 0 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	th := findThread(t, tgid, tid)
	if th == nil {
		return 0, unix.ESRCH
	}
	return 0, sendToThread(t, th, sig, tkillInfo(t, sig))
}

func Tkill(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tid, sig := a.Int(0), int(a.Int(1))
	if tid <= 0 || sig < 0 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	th := findThread(t, 0, tid)
	if th == nil {
		return 0, unix.ESRCH
	}
	return 0, sendToThread(t, th, sig, tkillInfo(t, sig))
}

// copyInQueuedInfo reads rt_sigqueueinfo's siginfo. A program may not
// pose as the kernel or kill(2) when signalling another process (si_code
// >= 0, or SI_TKILL): EPERM.
func copyInQueuedInfo(t *process.Thread, addr uintptr, sig int, toSelf bool) (*linux.SignalInfo, error) {
	info := &linux.SignalInfo{}
	if _, err := info.CopyIn(t, hostarch.Addr(addr)); err != nil {
		return nil, unix.EFAULT
	}
	if (info.Code >= 0 || info.Code == linux.SI_TKILL) && !toSelf {
		return nil, unix.EPERM
	}
	info.Signo = int32(sig)
	return info, nil
}

func RtSigqueueinfo(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pid, sig := a.Int(0), int(a.Int(1))
	if sig < 0 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	info, err := copyInQueuedInfo(t, a.Ptr(2), sig, pid == t.PIDOf(t.TG))
	if err != nil {
		return 0, err
	}
	if pid <= 0 {
		return 0, unix.ESRCH
	}
	tg := t.S.ThreadGroupByID(kernelPID(t, pid))
	if tg == nil {
		return 0, unix.ESRCH
	}
	return 0, killOne(t, tg, sig, info)
}

func RtTgsigqueueinfo(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tgid, tid, sig := a.Int(0), a.Int(1), int(a.Int(2))
	if tgid <= 0 || tid <= 0 || sig < 0 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	info, err := copyInQueuedInfo(t, a.Ptr(3), sig, tgid == t.PIDOf(t.TG))
	if err != nil {
		return 0, err
	}
	th := findThread(t, tgid, tid)
	if th == nil {
		return 0, unix.ESRCH
	}
	return 0, sendToThread(t, th, sig, info)
}

// Interval timers (signal_timer.go in package process): ITIMER_REAL is
// served; ITIMER_VIRTUAL and ITIMER_PROF are accepted but never expire
// (getitimer reads them back disarmed).

const (
	itimerReal    = 0
	itimerVirtual = 1
	itimerProf    = 2
)

func timevalDuration(tv linux.Timeval) (time.Duration, error) {
	if tv.Sec < 0 || tv.Usec < 0 || tv.Usec >= 1e6 {
		return 0, unix.EINVAL
	}
	return time.Duration(tv.ToNsecCapped()), nil
}

func durationTimeval(d time.Duration) linux.Timeval {
	if d > 0 && d < time.Microsecond {
		d = time.Microsecond
	}
	return linux.NsecToTimeval(d.Nanoseconds())
}

func copyOutItimerval(t *process.Thread, addr uintptr, value, interval time.Duration) error {
	v := [2]linux.Timeval{durationTimeval(interval), durationTimeval(value)}
	for i := range v {
		if _, err := v[i].CopyOut(t, hostarch.Addr(addr+uintptr(i*16))); err != nil {
			return unix.EFAULT
		}
	}
	return nil
}

func Getitimer(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	var value, interval time.Duration
	switch a.Int(0) {
	case itimerReal:
		value, interval = t.TG.RealTimer()
	case itimerVirtual, itimerProf:
	default:
		return 0, unix.EINVAL
	}
	return 0, copyOutItimerval(t, a.Ptr(1), value, interval)
}

func Setitimer(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	which := a.Int(0)
	if which != itimerReal && which != itimerVirtual && which != itimerProf {
		return 0, unix.EINVAL
	}
	var value, interval time.Duration
	if a.Ptr(1) != 0 {
		var v [2]linux.Timeval
		for i := range v {
			if _, err := v[i].CopyIn(t, hostarch.Addr(a.Ptr(1)+uintptr(i*16))); err != nil {
				return 0, unix.EFAULT
			}
		}
		var err error
		if interval, err = timevalDuration(v[0]); err != nil {
			return 0, err
		}
		if value, err = timevalDuration(v[1]); err != nil {
			return 0, err
		}
	}
	var oldValue, oldInterval time.Duration
	if which == itimerReal {
		oldValue, oldInterval = t.TG.SetRealTimer(value, interval)
	}
	if a.Ptr(2) != 0 {
		return 0, copyOutItimerval(t, a.Ptr(2), oldValue, oldInterval)
	}
	return 0, nil
}

func Alarm(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	secs := time.Duration(a.Uint(0)) * time.Second
	old, _ := t.TG.SetRealTimer(secs, 0)
	// Linux rounds the time left to the nearest second, and reports a
	// pending alarm as at least 1.
	left := uintptr((old + time.Second/2) / time.Second)
	if left == 0 && old > 0 {
		left = 1
	}
	return left, nil
}
