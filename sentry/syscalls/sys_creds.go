package syscalls

import (
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

// Credentials follow Linux's rules (kernel/sys.c) with "privileged"
// meaning effective UID 0 inside the sandbox (CAP_SETUID / CAP_SETGID):
// the sandbox's identities are its own and never change the host's.

const noChange = ^uint32(0) // -1: leave the ID unchanged

func uidIn(id uint32, ids ...uint32) bool {
	for _, x := range ids {
		if id == x {
			return true
		}
	}
	return false
}

// newCreds copies t's credentials for modification; threads share nothing
// (Linux's credentials are per thread; glibc broadcasts set*id calls).
func newCreds(t *process.Thread) *process.Credentials {
	c := *t.Creds
	c.Groups = append([]uint32(nil), t.Creds.Groups...)
	return &c
}

// idSet names one family of a credential set's identities: the user
// IDs or the group IDs. Linux applies the same rules to both.
type idSet struct {
	real, eff, saved, fs *uint32
}

func uidSet(c *process.Credentials) idSet {
	return idSet{&c.RealUID, &c.EffectiveUID, &c.SavedUID, &c.FSUID}
}

func gidSet(c *process.Credentials) idSet {
	return idSet{&c.RealGID, &c.EffectiveGID, &c.SavedGID, &c.FSGID}
}

// setID is setuid/setgid.
func setID(t *process.Thread, id uint32, ids func(*process.Credentials) idSet) (uintptr, error) {
	if id == noChange {
		return 0, unix.EINVAL
	}
	c := newCreds(t)
	n := ids(c)
	switch {
	case t.Creds.EffectiveUID == 0:
		*n.real, *n.eff, *n.saved = id, id, id
	case uidIn(id, *n.real, *n.saved):
		*n.eff = id
	default:
		return 0, unix.EPERM
	}
	*n.fs = *n.eff
	t.Creds = c
	return 0, nil
}

// setreID is setreuid/setregid.
func setreID(t *process.Thread, r, e uint32, ids func(*process.Credentials) idSet) (uintptr, error) {
	priv := t.Creds.EffectiveUID == 0
	old := ids(t.Creds)
	c := newCreds(t)
	n := ids(c)
	if r != noChange {
		if !priv && !uidIn(r, *old.real, *old.eff) {
			return 0, unix.EPERM
		}
		*n.real = r
	}
	if e != noChange {
		if !priv && !uidIn(e, *old.real, *old.eff, *old.saved) {
			return 0, unix.EPERM
		}
		*n.eff = e
	}
	if r != noChange || (e != noChange && e != *old.real) {
		*n.saved = *n.eff
	}
	*n.fs = *n.eff
	t.Creds = c
	return 0, nil
}

// setresID is setresuid/setresgid.
func setresID(t *process.Thread, a arch.SyscallArguments, ids func(*process.Credentials) idSet) (uintptr, error) {
	priv := t.Creds.EffectiveUID == 0
	old := ids(t.Creds)
	c := newCreds(t)
	n := ids(c)
	for i, dst := range []*uint32{n.real, n.eff, n.saved} {
		v := a.Uint(i)
		if v == noChange {
			continue
		}
		if !priv && !uidIn(v, *old.real, *old.eff, *old.saved) {
			return 0, unix.EPERM
		}
		*dst = v
	}
	*n.fs = *n.eff
	t.Creds = c
	return 0, nil
}

// setfsID is setfsuid/setfsgid: it returns the old value and changes it
// only when allowed (never an error, as Linux).
func setfsID(t *process.Thread, v uint32, ids func(*process.Credentials) idSet) (uintptr, error) {
	old := ids(t.Creds)
	prev := *old.fs
	if v != noChange && (t.Creds.EffectiveUID == 0 || uidIn(v, *old.real, *old.eff, *old.saved, *old.fs)) {
		c := newCreds(t)
		*ids(c).fs = v
		t.Creds = c
	}
	return uintptr(prev), nil
}

func Setuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setID(t, a.Uint(0), uidSet)
}

func Setgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setID(t, a.Uint(0), gidSet)
}

func Setreuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setreID(t, a.Uint(0), a.Uint(1), uidSet)
}

func Setregid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setreID(t, a.Uint(0), a.Uint(1), gidSet)
}

func Setresuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setresID(t, a, uidSet)
}

func Setresgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setresID(t, a, gidSet)
}

func Setfsuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setfsID(t, a.Uint(0), uidSet)
}

func Setfsgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setfsID(t, a.Uint(0), gidSet)
}

func Setgroups(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	n := a.Int(0)
	if n < 0 || n > 65536 {
		return 0, unix.EINVAL
	}
	if t.Creds.EffectiveUID != 0 {
		return 0, unix.EPERM
	}
	groups := make([]uint32, n)
	if n > 0 {
		if _, err := primitive.CopyUint32SliceIn(t, hostarch.Addr(a.Ptr(1)), groups); err != nil {
			return 0, unix.EFAULT
		}
	}
	c := newCreds(t)
	c.Groups = groups
	t.Creds = c
	return 0, nil
}

// capUserHeader/Data are struct __user_cap_header_struct and
// __user_cap_data_struct (version 3: two data structs).
func Capget(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	var hdr [2]uint32
	if _, err := primitive.CopyUint32SliceIn(t, hostarch.Addr(a.Ptr(0)), hdr[:]); err != nil {
		return 0, unix.EFAULT
	}
	switch hdr[0] {
	case unix.LINUX_CAPABILITY_VERSION_1, unix.LINUX_CAPABILITY_VERSION_2, unix.LINUX_CAPABILITY_VERSION_3:
	default:
		hdr[0] = unix.LINUX_CAPABILITY_VERSION_3
		primitive.CopyUint32SliceOut(t, hostarch.Addr(a.Ptr(0)), hdr[:])
		if a.Ptr(1) == 0 {
			return 0, nil
		}
		return 0, unix.EINVAL
	}
	if a.Ptr(1) == 0 {
		return 0, nil
	}
	// Root inside the sandbox holds the full set, as in a user namespace.
	var data [6]uint32
	if t.Creds.EffectiveUID == 0 {
		data = [6]uint32{^uint32(0), ^uint32(0), 0, 0x1ff, 0x1ff, 0}
	}
	words := 6
	if hdr[0] == unix.LINUX_CAPABILITY_VERSION_1 {
		words = 3
	}
	if _, err := primitive.CopyUint32SliceOut(t, hostarch.Addr(a.Ptr(1)), data[:words]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Capset accepts any request that does not raise capabilities for a
// non-root caller; capabilities are not enforced beyond uid 0.
func Capset(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if t.Creds.EffectiveUID != 0 {
		return 0, unix.EPERM
	}
	return 0, nil
}

func Times(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	const clkTck = 100
	if a.Ptr(0) != 0 {
		user, sys := t.TG.CPUTimes()
		cuser, csys := t.TG.ChildrenCPUTimes()
		ticks := func(d time.Duration) uint64 { return uint64(d.Nanoseconds() * clkTck / 1e9) }
		tms := []uint64{ticks(user), ticks(sys), ticks(cuser), ticks(csys)}
		if _, err := primitive.CopyUint64SliceOut(t, hostarch.Addr(a.Ptr(0)), tms); err != nil {
			return 0, unix.EFAULT
		}
	}
	now, _ := clockNow(t, unix.CLOCK_MONOTONIC)
	return uintptr(now * clkTck / 1e9), nil
}

// Personality supports only PER_LINUX (and querying with 0xffffffff).
func Personality(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	p := a.Uint(0)
	if p == 0xffffffff || p == linux.PER_LINUX {
		return linux.PER_LINUX, nil
	}
	return linux.PER_LINUX, unix.EINVAL
}

func GetRobustList(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if pid := a.Int(0); pid != 0 && pid != t.TID() {
		return 0, unix.EPERM
	}
	head := primitive.Uint64(t.RobustList)
	if _, err := head.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
		return 0, unix.EFAULT
	}
	size := primitive.Uint64(24)
	if _, err := size.CopyOut(t, hostarch.Addr(a.Ptr(2))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}
