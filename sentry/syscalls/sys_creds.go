package syscalls

import (
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

func Setuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	uid := a.Uint(0)
	if uid == noChange {
		return 0, unix.EINVAL
	}
	c := newCreds(t)
	switch {
	case t.Creds.EffectiveUID == 0:
		c.RealUID, c.EffectiveUID, c.SavedUID = uid, uid, uid
	case uidIn(uid, c.RealUID, c.SavedUID):
		c.EffectiveUID = uid
	default:
		return 0, unix.EPERM
	}
	c.FSUID = c.EffectiveUID
	t.Creds = c
	return 0, nil
}

func Setgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	gid := a.Uint(0)
	if gid == noChange {
		return 0, unix.EINVAL
	}
	c := newCreds(t)
	switch {
	case t.Creds.EffectiveUID == 0:
		c.RealGID, c.EffectiveGID, c.SavedGID = gid, gid, gid
	case uidIn(gid, c.RealGID, c.SavedGID):
		c.EffectiveGID = gid
	default:
		return 0, unix.EPERM
	}
	c.FSGID = c.EffectiveGID
	t.Creds = c
	return 0, nil
}

func Setreuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	r, e := a.Uint(0), a.Uint(1)
	old := t.Creds
	priv := old.EffectiveUID == 0
	c := newCreds(t)
	if r != noChange {
		if !priv && !uidIn(r, old.RealUID, old.EffectiveUID) {
			return 0, unix.EPERM
		}
		c.RealUID = r
	}
	if e != noChange {
		if !priv && !uidIn(e, old.RealUID, old.EffectiveUID, old.SavedUID) {
			return 0, unix.EPERM
		}
		c.EffectiveUID = e
	}
	if r != noChange || (e != noChange && e != old.RealUID) {
		c.SavedUID = c.EffectiveUID
	}
	c.FSUID = c.EffectiveUID
	t.Creds = c
	return 0, nil
}

func Setregid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	r, e := a.Uint(0), a.Uint(1)
	old := t.Creds
	priv := old.EffectiveUID == 0
	c := newCreds(t)
	if r != noChange {
		if !priv && !uidIn(r, old.RealGID, old.EffectiveGID) {
			return 0, unix.EPERM
		}
		c.RealGID = r
	}
	if e != noChange {
		if !priv && !uidIn(e, old.RealGID, old.EffectiveGID, old.SavedGID) {
			return 0, unix.EPERM
		}
		c.EffectiveGID = e
	}
	if r != noChange || (e != noChange && e != old.RealGID) {
		c.SavedGID = c.EffectiveGID
	}
	c.FSGID = c.EffectiveGID
	t.Creds = c
	return 0, nil
}

func Setresuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	old := t.Creds
	c := newCreds(t)
	dst := []*uint32{&c.RealUID, &c.EffectiveUID, &c.SavedUID}
	for i := 0; i < 3; i++ {
		v := a.Uint(i)
		if v == noChange {
			continue
		}
		if old.EffectiveUID != 0 && !uidIn(v, old.RealUID, old.EffectiveUID, old.SavedUID) {
			return 0, unix.EPERM
		}
		*dst[i] = v
	}
	c.FSUID = c.EffectiveUID
	t.Creds = c
	return 0, nil
}

func Setresgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	old := t.Creds
	c := newCreds(t)
	dst := []*uint32{&c.RealGID, &c.EffectiveGID, &c.SavedGID}
	for i := 0; i < 3; i++ {
		v := a.Uint(i)
		if v == noChange {
			continue
		}
		if old.EffectiveUID != 0 && !uidIn(v, old.RealGID, old.EffectiveGID, old.SavedGID) {
			return 0, unix.EPERM
		}
		*dst[i] = v
	}
	c.FSGID = c.EffectiveGID
	t.Creds = c
	return 0, nil
}

// Setfsuid returns the old fsuid; it changes it only when allowed (and
// never reports an error, as Linux).
func Setfsuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	old := t.Creds
	v := a.Uint(0)
	if v != noChange && (old.EffectiveUID == 0 || uidIn(v, old.RealUID, old.EffectiveUID, old.SavedUID, old.FSUID)) {
		c := newCreds(t)
		c.FSUID = v
		t.Creds = c
	}
	return uintptr(old.FSUID), nil
}

func Setfsgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	old := t.Creds
	v := a.Uint(0)
	if v != noChange && (old.EffectiveUID == 0 || uidIn(v, old.RealGID, old.EffectiveGID, old.SavedGID, old.FSGID)) {
		c := newCreds(t)
		c.FSGID = v
		t.Creds = c
	}
	return uintptr(old.FSGID), nil
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
	var user int64
	for _, th := range t.TG.Threads() {
		user += th.Task.Runtime().Nanoseconds()
	}
	if a.Ptr(0) != 0 {
		tms := []uint64{uint64(user * clkTck / 1e9), 0, 0, 0}
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
