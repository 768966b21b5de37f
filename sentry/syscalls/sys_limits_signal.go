package syscalls

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

func getLimit(t *process.Thread, r int) (process.Limit, error) {
	if r < 0 || r >= process.NumLimits {
		return process.Limit{}, unix.EINVAL
	}
	return t.TG.Limits.Get(r), nil
}

func Getrlimit(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	l, err := getLimit(t, int(a.Int(0)))
	if err != nil {
		return 0, err
	}
	return 0, copyOutRlimit(t, a.Ptr(1), l)
}

// struct rlimit64 is two u64s; gVisor's RLimit is not marshallable.
func copyOutRlimit(t *process.Thread, addr uintptr, l process.Limit) error {
	if _, err := primitive.CopyUint64SliceOut(t, hostarch.Addr(addr), []uint64{l.Cur, l.Max}); err != nil {
		return unix.EFAULT
	}
	return nil
}

func copyInRlimit(t *process.Thread, addr uintptr) (process.Limit, error) {
	v := make([]uint64, 2)
	if _, err := primitive.CopyUint64SliceIn(t, hostarch.Addr(addr), v); err != nil {
		return process.Limit{}, unix.EFAULT
	}
	return process.Limit{Cur: v[0], Max: v[1]}, nil
}

func Setrlimit(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	r := int(a.Int(0))
	if _, err := getLimit(t, r); err != nil {
		return 0, err
	}
	nl, err := copyInRlimit(t, a.Ptr(1))
	if err != nil {
		return 0, err
	}
	_, err = t.TG.Limits.Set(r, nl, t.Creds.EffectiveUID == 0)
	return 0, err
}

func Prlimit64(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pid, r := a.Int(0), int(a.Int(1))
	tg := t.TG
	if pid != 0 && pid != tg.TGID() {
		if tg = t.S.ThreadGroupByID(pid); tg == nil {
			return 0, unix.ESRCH
		}
	}
	if r < 0 || r >= process.NumLimits {
		return 0, unix.EINVAL
	}
	old := tg.Limits.Get(r)
	if a.Ptr(2) != 0 {
		nl, err := copyInRlimit(t, a.Ptr(2))
		if err != nil {
			return 0, err
		}
		if old, err = tg.Limits.Set(r, nl, t.Creds.EffectiveUID == 0); err != nil {
			return 0, err
		}
	}
	if a.Ptr(3) != 0 {
		if err := copyOutRlimit(t, a.Ptr(3), old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

const sigsetSize = 8

func RtSigaction(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	sig := int(a.Int(0))
	if a[3] != sigsetSize || sig < 1 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	var act linux.SigAction
	if a.Ptr(1) != 0 {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			return 0, unix.EINVAL
		}
		if _, err := act.CopyIn(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
	}
	var old linux.SigAction
	if a.Ptr(1) != 0 {
		old = t.TG.SetAction(sig, act)
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
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	old := t.SignalMask
	if a.Ptr(1) != 0 {
		var set linux.SignalSet
		if _, err := set.CopyIn(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
		set &^= linux.MakeSignalSet(linux.SIGKILL, linux.SIGSTOP)
		switch a.Int(0) {
		case unix.SIG_BLOCK:
			t.SignalMask |= set
		case unix.SIG_UNBLOCK:
			t.SignalMask &^= set
		case unix.SIG_SETMASK:
			t.SignalMask = set
		default:
			return 0, unix.EINVAL
		}
	}
	if a.Ptr(2) != 0 {
		if _, err := old.CopyOut(t, hostarch.Addr(a.Ptr(2))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

func Sigaltstack(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	old := t.AltStack
	if old.Size == 0 {
		old.Flags = linux.SS_DISABLE
	}
	if a.Ptr(0) != 0 {
		var ss linux.SignalStack
		if _, err := ss.CopyIn(t, hostarch.Addr(a.Ptr(0))); err != nil {
			return 0, unix.EFAULT
		}
		if ss.Flags&^linux.SS_DISABLE != 0 {
			return 0, unix.EINVAL
		}
		if ss.Flags&linux.SS_DISABLE != 0 {
			ss = linux.SignalStack{}
		} else if ss.Size < 2048 /* MINSIGSTKSZ */ {
			return 0, unix.ENOMEM
		}
		t.AltStack = ss
	}
	if a.Ptr(1) != 0 {
		if _, err := old.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

func sendSignal(t *process.Thread, tg *process.ThreadGroup, sig int) error {
	return tg.SendSignal(sig)
}

func Kill(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pid, sig := a.Int(0), int(a.Int(1))
	if sig < 0 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	if pid > 0 {
		tg := t.S.ThreadGroupByID(pid)
		if tg == nil {
			return 0, unix.ESRCH
		}
		return 0, sendSignal(t, tg, sig)
	}
	var targets []*process.ThreadGroup
	switch {
	case pid == 0:
		targets = t.S.ProcessGroupMembers(t.TG.ProcessGroup())
	case pid == -1:
		for _, tg := range t.S.ThreadGroups() {
			if tg != t.S.Init() || t.TG == t.S.Init() {
				targets = append(targets, tg)
			}
		}
	default:
		targets = t.S.ProcessGroupMembers(-pid)
	}
	if len(targets) == 0 {
		return 0, unix.ESRCH
	}
	// The caller's own group last, so a self-kill does not stop the loop.
	for _, tg := range targets {
		if tg != t.TG {
			sendSignal(t, tg, sig)
		}
	}
	for _, tg := range targets {
		if tg == t.TG {
			sendSignal(t, tg, sig)
		}
	}
	return 0, nil
}

func Tgkill(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tgid, tid, sig := a.Int(0), a.Int(1), int(a.Int(2))
	if tgid <= 0 || tid <= 0 {
		return 0, unix.EINVAL
	}
	tg := t.S.ThreadGroupByID(tgid)
	if tg == nil {
		return 0, unix.ESRCH
	}
	found := false
	for _, th := range tg.Threads() {
		if th.TID() == tid {
			found = true
		}
	}
	if !found {
		return 0, unix.ESRCH
	}
	return 0, sendSignal(t, tg, sig)
}

func Tkill(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tid, sig := a.Int(0), int(a.Int(1))
	if tid <= 0 {
		return 0, unix.EINVAL
	}
	tk := t.S.Kernel.TaskByTID(tid)
	if tk == nil {
		return 0, unix.ESRCH
	}
	th, ok := tk.Ext.(*process.Thread)
	if !ok {
		return 0, unix.EPERM
	}
	return 0, sendSignal(t, th.TG, sig)
}
