package process

// The syscalls that wait for signals (rt_sigsuspend, pause,
// rt_sigtimedwait), the alternate signal stack (sigaltstack) and the
// permission to signal another process.

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// MinSignalStackSize is MINSIGSTKSZ.
const MinSignalStackSize = 2048

// Sigsuspend serves rt_sigsuspend: it replaces the thread's mask with
// mask until a signal it does not block arrives, and returns EINTR. The
// old mask comes back when the handler returns (it is the frame's
// uc_sigmask), or at once if no handler runs, in which case the call is
// restarted. It blocks.
// Preconditions: t is the calling thread.
func (t *Thread) Sigsuspend(mask linux.SignalSet) error {
	tg := t.TG
	ts := t.signals()
	tg.mu.Lock()
	ts.savedMask, ts.haveSavedMask = t.SignalMask, true
	t.SignalMask = mask &^ unblockable
	t.recalcInterruptLocked()
	tg.mu.Unlock()
	interruptibleSleep(t, kernel.Forever)
	return unix.EINTR
}

// Pause serves pause: it blocks until a signal arrives and returns EINTR.
// Preconditions: t is the calling thread.
func (t *Thread) Pause() error {
	interruptibleSleep(t, kernel.Forever)
	return unix.EINTR
}

// Sigtimedwait serves rt_sigtimedwait: it dequeues a pending signal of
// set, waiting up to timeout (kernel.Forever: no limit; 0: do not wait)
// for one to arrive. It blocks.
// Errors: EAGAIN when the timeout passed, EINTR when another signal (one
// not in set and not blocked) arrived.
// Preconditions: t is the calling thread.
func (t *Thread) Sigtimedwait(set linux.SignalSet, timeout time.Duration) (*linux.SignalInfo, error) {
	set &^= unblockable
	tg := t.TG
	ts := t.signals()
	tg.mu.Lock()
	if info := t.dequeueLocked(^set); info != nil {
		tg.mu.Unlock()
		return info, nil
	}
	if timeout == 0 {
		tg.mu.Unlock()
		return nil, unix.EAGAIN
	}
	// Unblock the awaited signals for the wait, so that a
	// process-directed one picks this thread (Linux's real_blocked).
	ts.realMask, ts.inSigwait = t.SignalMask, true
	t.SignalMask &^= set
	t.recalcInterruptLocked()
	tg.mu.Unlock()

	err := interruptibleSleep(t, timeout)

	tg.mu.Lock()
	t.SignalMask, ts.inSigwait = ts.realMask, false
	info := t.dequeueLocked(^set)
	t.recalcInterruptLocked()
	tg.mu.Unlock()
	switch {
	case info != nil:
		return info, nil
	case err == kernel.ErrTimedOut:
		return nil, unix.EAGAIN
	}
	return nil, unix.EINTR
}

// onAltStack reports whether sp is on the thread's alternate signal stack
// (never when it is armed with SS_AUTODISARM).
func (t *Thread) onAltStack(sp uint64) bool {
	ss := &t.AltStack
	if ss.Size == 0 || ss.Flags&ssAutoDisarm != 0 {
		return false
	}
	return sp > ss.Addr && sp-ss.Addr <= ss.Size
}

// altStackContains reports whether sp is within the alternate stack,
// whatever its flags (the frame-overflow check).
func (t *Thread) altStackContains(sp uint64) bool {
	ss := &t.AltStack
	return ss.Size != 0 && sp > ss.Addr && sp-ss.Addr <= ss.Size
}

// altStackRawFlags returns the alternate stack's flags as saved in a
// frame's uc_stack: SS_DISABLE when there is none, else the flags given to
// sigaltstack.
func (t *Thread) altStackRawFlags() uint32 {
	if t.AltStack.Size == 0 {
		return linux.SS_DISABLE | t.AltStack.Flags&ssAutoDisarm
	}
	return t.AltStack.Flags
}

// SignalStack returns the alternate signal stack as sigaltstack reports
// it: SS_DISABLE when there is none, SS_ONSTACK when the thread is running
// on it, plus SS_AUTODISARM if it was set.
// Preconditions: t is the calling thread (its stack pointer is in t.Regs).
func (t *Thread) SignalStack() linux.SignalStack {
	ss := t.AltStack
	flags := uint32(0)
	switch {
	case ss.Size == 0:
		flags = linux.SS_DISABLE
		ss.Addr = 0
	case t.onAltStack(t.Regs.Rsp):
		flags = linux.SS_ONSTACK
	}
	ss.Flags = flags | t.AltStack.Flags&ssAutoDisarm
	return ss
}

// SetSignalStack replaces the alternate signal stack (sigaltstack).
// Errors: EPERM while running on it; EINVAL for unknown flags; ENOMEM
// for a stack smaller than MINSIGSTKSZ.
// Preconditions: t is the calling thread.
func (t *Thread) SetSignalStack(ss linux.SignalStack) error {
	st, err := checkSignalStack(ss, t.onAltStack(t.Regs.Rsp))
	if err != nil {
		return err
	}
	t.AltStack = st
	return nil
}

// MaySignal reports whether t may send sig to tg (Linux's
// check_kill_permission and kill_ok_by_cred): its own process, the
// sender's real or effective UID equal to the target's real or saved UID,
// CAP_KILL in the target's user namespace, or SIGCONT within the same
// session.
func (t *Thread) MaySignal(tg *ThreadGroup, sig int) bool {
	c := t.Credentials()
	if c == nil || tg == t.TG || c.HasCapability(linux.CAP_KILL) {
		return true
	}
	l := tg.Leader()
	if l == nil {
		return true
	}
	tc := l.Credentials()
	if c.EffectiveUID == tc.RealUID || c.EffectiveUID == tc.SavedUID ||
		c.RealUID == tc.RealUID || c.RealUID == tc.SavedUID {
		return true
	}
	if c.HasCapabilityIn(tc.UserNS, linux.CAP_KILL) {
		// CAP_KILL in the target's user namespace.
		return true
	}
	return sig == int(linux.SIGCONT) && tg.Session() == t.TG.Session()
}

// SetTemporarySignalMask installs mask (minus SIGKILL and SIGSTOP) for the
// rest of the current syscall, as ppoll, pselect6 and epoll_pwait do.
// When the syscall ends, the caller calls EndTemporarySignalMask.
// Preconditions: t is the calling thread.
func (t *Thread) SetTemporarySignalMask(mask linux.SignalSet) {
	tg := t.TG
	ts := t.signals()
	tg.mu.Lock()
	if !ts.haveSavedMask {
		ts.savedMask, ts.haveSavedMask = t.SignalMask, true
	}
	t.SignalMask = mask &^ unblockable
	t.recalcInterruptLocked()
	tg.mu.Unlock()
}

// EndTemporarySignalMask ends SetTemporarySignalMask. If the syscall
// returns EINTR (interrupted), the temporary mask stays until the signal
// is acted on: the handler's frame saves the old mask (restored by
// rt_sigreturn), or it is restored at once if no handler runs. Otherwise
// the old mask is restored now. This is Linux's
// restore_saved_sigmask_unless(ret == -EINTR).
// Preconditions: t is the calling thread.
func (t *Thread) EndTemporarySignalMask(interrupted bool) {
	if interrupted {
		return
	}
	tg := t.TG
	ts := t.signals()
	tg.mu.Lock()
	if ts.haveSavedMask {
		t.SignalMask, ts.haveSavedMask = ts.savedMask, false
		t.recalcInterruptLocked()
	}
	tg.mu.Unlock()
}
