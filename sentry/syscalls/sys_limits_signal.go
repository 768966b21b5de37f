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
	_, err = t.TG.SetLimit(r, nl, t.Credentials().HasCapability(linux.CAP_SYS_RESOURCE))
	return 0, err
}

func Prlimit64(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pid, r := a.Int(0), int(a.Int(1))
	tg := t.TG
	if pid != 0 && pid != t.PIDOf(tg) {
		if tg = t.S.ThreadGroupByID(kernelPID(t, pid)); tg == nil {
			return 0, unix.ESRCH
		}
		if !mayPrlimit(t, tg) {
			return 0, unix.EPERM
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
		if old, err = tg.SetLimit(r, nl, t.Credentials().HasCapability(linux.CAP_SYS_RESOURCE)); err != nil {
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

// mayPrlimit reports whether t may read or change another process's
// limits (Linux's check_prlimit_permission): its real UID and GID equal
// every UID and GID of the target, or CAP_SYS_RESOURCE.
func mayPrlimit(t *process.Thread, tg *process.ThreadGroup) bool {
	c := t.Credentials()
	if c.HasCapability(linux.CAP_SYS_RESOURCE) {
		return true
	}
	l := tg.Leader()
	if l == nil {
		return false
	}
	tc := l.Credentials()
	return c.RealUID == tc.RealUID && c.RealUID == tc.EffectiveUID && c.RealUID == tc.SavedUID &&
		c.RealGID == tc.RealGID && c.RealGID == tc.EffectiveGID && c.RealGID == tc.SavedGID
}
