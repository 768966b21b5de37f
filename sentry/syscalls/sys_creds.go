package syscalls

import (
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

// Credentials follow Linux's rules (kernel/sys.c, capabilities(7)):
// changing IDs takes CAP_SETUID or CAP_SETGID unless the new ID is one the
// caller already has, and the capability sets follow UID changes
// (auth.Credentials.FixSetuid). The sandbox's identities are its own and
// never change the host's. Every change builds new credentials and
// publishes them whole (Thread.SetCredentials).

const noChange = ^uint32(0) // -1: leave the ID unchanged

func uidIn(id uint32, ids ...uint32) bool {
	for _, x := range ids {
		if id == x {
			return true
		}
	}
	return false
}

// idSet names one family of a credential set's identities: the user
// IDs or the group IDs. Linux applies the same rules to both, each with
// its capability.
type idSet struct {
	real, eff, saved, fs *uint32
	// cap lets the caller set any ID of the family.
	cap linux.Capability
	// user marks the UIDs, whose changes move capabilities.
	user bool
	// ns is the caller's user namespace: IDs given are named in it.
	ns *auth.UserNamespace
}

// kernelID returns the kernel ID of id as the caller's user namespace
// names it; false (EINVAL) when it has no mapping there.
func (s idSet) kernelID(id uint32) (uint32, bool) {
	if s.user {
		return s.ns.MapUIDToKernel(id)
	}
	return s.ns.MapGIDToKernel(id)
}

// shownID is kernel ID k as the caller's namespace shows it.
func (s idSet) shownID(k uint32) uint32 {
	if s.user {
		return s.ns.UID(k)
	}
	return s.ns.GID(k)
}

// privileged reports whether c may set any ID of the family: the
// capability in its own user namespace (ns_capable_setid).
func (s idSet) privileged(c *auth.Credentials) bool {
	return c.HasCapabilityIn(c.UserNS, s.cap)
}

func uidSet(c *auth.Credentials) idSet {
	return idSet{&c.RealUID, &c.EffectiveUID, &c.SavedUID, &c.FSUID, linux.CAP_SETUID, true, c.UserNS}
}

func gidSet(c *auth.Credentials) idSet {
	return idSet{&c.RealGID, &c.EffectiveGID, &c.SavedGID, &c.FSGID, linux.CAP_SETGID, false, c.UserNS}
}

// commitIDs publishes n, derived from old by a set*id call, after the
// capability fix-ups of a UID change.
func commitIDs(t *process.Thread, old, n *auth.Credentials, user bool) {
	if user {
		n.FixSetuid(old)
	}
	t.SetCredentials(n)
}

// setID is setuid/setgid.
func setID(t *process.Thread, id uint32, ids func(*auth.Credentials) idSet) (uintptr, error) {
	if id == noChange {
		return 0, unix.EINVAL
	}
	old := t.Credentials()
	n := old.Fork()
	o, w := ids(old), ids(n)
	id, ok := o.kernelID(id)
	if !ok {
		return 0, unix.EINVAL
	}
	switch {
	case o.privileged(old):
		*w.real, *w.eff, *w.saved = id, id, id
	case uidIn(id, *o.real, *o.saved):
		*w.eff = id
	default:
		return 0, unix.EPERM
	}
	*w.fs = *w.eff
	commitIDs(t, old, n, w.user)
	return 0, nil
}

// setreID is setreuid/setregid.
func setreID(t *process.Thread, r, e uint32, ids func(*auth.Credentials) idSet) (uintptr, error) {
	old := t.Credentials()
	n := old.Fork()
	o, w := ids(old), ids(n)
	priv := o.privileged(old)
	for _, v := range []*uint32{&r, &e} {
		if *v != noChange {
			k, ok := o.kernelID(*v)
			if !ok {
				return 0, unix.EINVAL
			}
			*v = k
		}
	}
	if r != noChange {
		if !priv && !uidIn(r, *o.real, *o.eff) {
			return 0, unix.EPERM
		}
		*w.real = r
	}
	if e != noChange {
		if !priv && !uidIn(e, *o.real, *o.eff, *o.saved) {
			return 0, unix.EPERM
		}
		*w.eff = e
	}
	if r != noChange || (e != noChange && e != *o.real) {
		*w.saved = *w.eff
	}
	*w.fs = *w.eff
	commitIDs(t, old, n, w.user)
	return 0, nil
}

// setresID is setresuid/setresgid.
func setresID(t *process.Thread, a arch.SyscallArguments, ids func(*auth.Credentials) idSet) (uintptr, error) {
	old := t.Credentials()
	n := old.Fork()
	o, w := ids(old), ids(n)
	priv := o.privileged(old)
	for i := range 3 {
		if v := a.Uint(i); v != noChange {
			if _, ok := o.kernelID(v); !ok {
				return 0, unix.EINVAL
			}
		}
	}
	for i, dst := range []*uint32{w.real, w.eff, w.saved} {
		v := a.Uint(i)
		if v == noChange {
			continue
		}
		v, _ = o.kernelID(v)
		if !priv && !uidIn(v, *o.real, *o.eff, *o.saved) {
			return 0, unix.EPERM
		}
		*dst = v
	}
	*w.fs = *w.eff
	commitIDs(t, old, n, w.user)
	return 0, nil
}

// setfsID is setfsuid/setfsgid: it returns the old value and changes it
// only when allowed (never an error, as Linux).
func setfsID(t *process.Thread, v uint32, ids func(*auth.Credentials) idSet) (uintptr, error) {
	old := t.Credentials()
	o := ids(old)
	prev := *o.fs
	shown := uintptr(o.shownID(prev))
	v, ok := o.kernelID(v)
	if !ok || v == prev {
		return shown, nil
	}
	if o.privileged(old) || uidIn(v, *o.real, *o.eff, *o.saved, *o.fs) {
		n := old.Fork()
		*ids(n).fs = v
		if o.user {
			n.FixSetfsuid(prev)
		}
		t.SetCredentials(n)
	}
	return shown, nil
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

// ngroupsMax is Linux's NGROUPS_MAX.
const ngroupsMax = 65536

func Setgroups(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	n := a.Int(0)
	if n < 0 || n > ngroupsMax {
		return 0, unix.EINVAL
	}
	old := t.Credentials()
	// may_setgroups: CAP_SETGID in the caller's user namespace, whose
	// gid_map is written and setgroups not denied.
	if !old.HasCapabilityIn(old.UserNS, linux.CAP_SETGID) {
		return 0, unix.EPERM
	}
	if ns := old.UserNS; ns != nil && (ns.GIDMap() == nil || ns.SetgroupsDenied()) {
		return 0, unix.EPERM
	}
	groups := make([]uint32, n)
	if n > 0 {
		if _, err := primitive.CopyUint32SliceIn(t, hostarch.Addr(a.Ptr(1)), groups); err != nil {
			return 0, unix.EFAULT
		}
	}
	for i, g := range groups {
		k, ok := old.UserNS.MapGIDToKernel(g)
		if !ok {
			return 0, unix.EINVAL
		}
		groups[i] = k
	}
	c := old.Fork()
	c.Groups = auth.SortedGroups(groups)
	t.SetCredentials(c)
	return 0, nil
}

// capVersionWords returns how many 32-bit words of each set a capget or
// capset header's version carries, or false for an unknown version.
func capVersionWords(version uint32) (int, bool) {
	switch version {
	case linux.LINUX_CAPABILITY_VERSION_1:
		return 1, true
	case linux.LINUX_CAPABILITY_VERSION_2, linux.LINUX_CAPABILITY_VERSION_3:
		return 2, true
	}
	return 0, false
}

// capHeader reads a cap_user_header_t and checks it: EINVAL (with the
// preferred version written back) for an unknown version, ESRCH for a pid
// that names no thread, and the thread whose capabilities are meant.
func capHeader(t *process.Thread, addr uintptr, dataAddr uintptr) (*process.Thread, int, error) {
	var hdr linux.CapUserHeader
	if _, err := hdr.CopyIn(t, hostarch.Addr(addr)); err != nil {
		return nil, 0, unix.EFAULT
	}
	words, ok := capVersionWords(hdr.Version)
	if !ok {
		hdr.Version = linux.HighestCapabilityVersion
		if _, err := hdr.CopyOut(t, hostarch.Addr(addr)); err != nil {
			return nil, 0, unix.EFAULT
		}
		if dataAddr == 0 {
			// Probing for the version is not an error.
			return nil, 0, nil
		}
		return nil, 0, unix.EINVAL
	}
	target := t
	if hdr.Pid < 0 {
		return nil, 0, unix.EINVAL
	}
	if hdr.Pid != 0 && hdr.Pid != t.PIDOfTask(t.TID()) {
		target = findThread(t, 0, hdr.Pid)
		if target == nil {
			return nil, 0, unix.ESRCH
		}
	}
	return target, words, nil
}

func Capget(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	target, words, err := capHeader(t, a.Ptr(0), a.Ptr(1))
	if err != nil || target == nil || a.Ptr(1) == 0 {
		return 0, err
	}
	c := target.Credentials()
	data := []linux.CapUserData{
		{Effective: uint32(c.Effective), Permitted: uint32(c.Permitted), Inheritable: uint32(c.Inheritable)},
		{Effective: uint32(c.Effective >> 32), Permitted: uint32(c.Permitted >> 32), Inheritable: uint32(c.Inheritable >> 32)},
	}
	if _, err := linux.CopyCapUserDataSliceOut(t, hostarch.Addr(a.Ptr(1)), data[:words]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Capset changes the caller's effective, permitted and inheritable sets
// under capset(2)'s rules (auth.Credentials.SetCapabilities); only the
// caller's own (EPERM for another thread, as Linux without
// CAP_SETPCAP-over-others).
func Capset(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	target, words, err := capHeader(t, a.Ptr(0), a.Ptr(1))
	if err != nil {
		return 0, err
	}
	if target == nil {
		return 0, unix.EINVAL
	}
	if target != t {
		return 0, unix.EPERM
	}
	data := make([]linux.CapUserData, words)
	if _, err := linux.CopyCapUserDataSliceIn(t, hostarch.Addr(a.Ptr(1)), data); err != nil {
		return 0, unix.EFAULT
	}
	var eff, perm, inh auth.CapabilitySet
	for i, d := range data {
		eff |= auth.CapabilitySet(d.Effective) << (32 * i)
		perm |= auth.CapabilitySet(d.Permitted) << (32 * i)
		inh |= auth.CapabilitySet(d.Inheritable) << (32 * i)
	}
	// Bits above the last capability are ignored, as Linux masks them.
	eff, perm, inh = eff&auth.AllCapabilities, perm&auth.AllCapabilities, inh&auth.AllCapabilities
	n, ok := t.Credentials().SetCapabilities(eff, perm, inh)
	if !ok {
		return 0, unix.EPERM
	}
	t.SetCredentials(n)
	return 0, nil
}

// credsPrctl serves the prctl options about credentials (Linux's
// cap_task_prctl and no_new_privs): the bounding set (PR_CAPBSET_READ,
// PR_CAPBSET_DROP, which needs CAP_SETPCAP), the ambient set
// (PR_CAP_AMBIENT), keep-caps and the securebits, and no_new_privs.
func credsPrctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	arg := func(i int) uint64 { return uint64(a[i]) }
	validCap := func(v uint64) (linux.Capability, bool) {
		cp := linux.Capability(v)
		return cp, v <= uint64(linux.CAP_LAST_CAP)
	}
	switch a.Int(0) {
	case unix.PR_CAPBSET_READ:
		cp, ok := validCap(arg(1))
		if !ok {
			return 0, unix.EINVAL
		}
		if c.Bounding.Has(cp) {
			return 1, nil
		}
		return 0, nil
	case unix.PR_CAPBSET_DROP:
		cp, ok := validCap(arg(1))
		if !ok {
			return 0, unix.EINVAL
		}
		if !c.HasCapability(linux.CAP_SETPCAP) {
			return 0, unix.EPERM
		}
		n := c.Fork()
		n.Bounding &^= auth.CapabilitySetOf(cp)
		t.SetCredentials(n)
		return 0, nil
	case unix.PR_CAP_AMBIENT:
		if arg(1) == unix.PR_CAP_AMBIENT_CLEAR_ALL {
			if arg(2)|arg(3)|arg(4) != 0 {
				return 0, unix.EINVAL
			}
			n := c.Fork()
			n.Ambient = 0
			t.SetCredentials(n)
			return 0, nil
		}
		cp, ok := validCap(arg(2))
		if !ok || arg(3)|arg(4) != 0 {
			return 0, unix.EINVAL
		}
		switch arg(1) {
		case unix.PR_CAP_AMBIENT_IS_SET:
			if c.Ambient.Has(cp) {
				return 1, nil
			}
			return 0, nil
		case unix.PR_CAP_AMBIENT_RAISE:
			if !c.Permitted.Has(cp) || !c.Inheritable.Has(cp) || c.SecureBits&auth.SecureNoAmbientRaise != 0 {
				return 0, unix.EPERM
			}
			n := c.Fork()
			n.Ambient |= auth.CapabilitySetOf(cp)
			t.SetCredentials(n)
			return 0, nil
		case unix.PR_CAP_AMBIENT_LOWER:
			n := c.Fork()
			n.Ambient &^= auth.CapabilitySetOf(cp)
			t.SetCredentials(n)
			return 0, nil
		}
		return 0, unix.EINVAL
	case unix.PR_GET_KEEPCAPS:
		if c.SecureBits&auth.SecureKeepCaps != 0 {
			return 1, nil
		}
		return 0, nil
	case unix.PR_SET_KEEPCAPS:
		if arg(1) > 1 {
			return 0, unix.EINVAL
		}
		if c.SecureBits&auth.SecureKeepCapsLocked != 0 {
			return 0, unix.EPERM
		}
		n := c.Fork()
		n.SecureBits &^= auth.SecureKeepCaps
		if arg(1) == 1 {
			n.SecureBits |= auth.SecureKeepCaps
		}
		t.SetCredentials(n)
		return 0, nil
	case unix.PR_GET_SECUREBITS:
		return uintptr(c.SecureBits), nil
	case unix.PR_SET_SECUREBITS:
		bits := arg(1)
		old := uint64(c.SecureBits)
		locked := (old & auth.SecureAllLocks) >> 1
		if locked&(old^bits) != 0 || old&auth.SecureAllLocks&^bits != 0 ||
			bits&^(auth.SecureAllLocks|auth.SecureAllBits) != 0 || !c.HasCapability(linux.CAP_SETPCAP) {
			return 0, unix.EPERM
		}
		n := c.Fork()
		n.SecureBits = uint32(bits)
		t.SetCredentials(n)
		return 0, nil
	case unix.PR_GET_NO_NEW_PRIVS:
		if arg(1)|arg(2)|arg(3)|arg(4) != 0 {
			return 0, unix.EINVAL
		}
		if c.NoNewPrivs {
			return 1, nil
		}
		return 0, nil
	case unix.PR_SET_NO_NEW_PRIVS:
		if arg(1) != 1 || arg(2)|arg(3)|arg(4) != 0 {
			return 0, unix.EINVAL
		}
		if !c.NoNewPrivs {
			n := c.Fork()
			n.NoNewPrivs = true
			t.SetCredentials(n)
		}
		return 0, nil
	}
	return 0, unix.EINVAL
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
// Personality is personality(2): 0xffffffff reads the process's
// persona, anything else replaces it; the old one is returned. It is
// inherited by fork and kept across execve (setarch). What the sandbox
// does with it: READ_IMPLIES_EXEC makes readable mappings executable,
// UNAME26 makes uname report a 2.6 release; ADDR_NO_RANDOMIZE changes
// nothing because the sandbox's layout is not randomized anyway.
func Personality(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	p := a.Uint(0)
	if p == 0xffffffff {
		return uintptr(t.TG.Personality()), nil
	}
	return uintptr(t.TG.SetPersonality(p)), nil
}

func GetRobustList(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if pid := a.Int(0); pid != 0 && pid != t.PIDOfTask(t.TID()) {
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
