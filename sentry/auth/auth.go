// Package auth is the sandbox's credential model: a thread's user and group
// IDs, supplementary groups and Linux capabilities — the effective,
// permitted, inheritable, bounding and ambient sets, the securebits
// (keep-caps among them) and no_new_privs — with the rules capabilities(7)
// and credentials(7) give for the set*id calls, capset, prctl and execve.
//
// The sandbox's identities are its own: nothing here changes the host
// identity of the sentry, and a capability held inside grants power only
// over the sandbox's own objects (its files, processes and limits).
//
// Credentials are immutable once a thread publishes them: every change
// makes a new value (Fork, then modify the copy), which the thread stores
// with one atomic pointer store (process.Thread.SetCredentials). Other
// threads — /proc readers, kill's permission check, wait — load the pointer
// and read a consistent snapshot without a lock. The package has no locks
// and no state of its own.
package auth

import (
	"slices"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// CapabilitySet is a set of capabilities, one bit per capability number
// (bit n is linux.Capability(n)).
type CapabilitySet uint64

// AllCapabilities is every capability this kernel knows (0 to
// CAP_LAST_CAP), the full bounding set of a fresh Linux.
const AllCapabilities = CapabilitySet(1)<<(linux.CAP_LAST_CAP+1) - 1

// CapabilitySetOf returns the set holding only cp.
func CapabilitySetOf(cp linux.Capability) CapabilitySet { return CapabilitySet(1) << uint(cp) }

// Has reports whether cp is in the set.
func (s CapabilitySet) Has(cp linux.Capability) bool {
	return cp.Ok() && s&CapabilitySetOf(cp) != 0
}

// fsCapabilities are the capabilities that follow the filesystem UID
// (Linux's CAP_FS_MASK): they leave the effective set when the fsuid
// changes from 0 and come back (from the permitted set) when it returns.
const fsCapabilities = CapabilitySet(1)<<linux.CAP_CHOWN |
	CapabilitySet(1)<<linux.CAP_DAC_OVERRIDE |
	CapabilitySet(1)<<linux.CAP_DAC_READ_SEARCH |
	CapabilitySet(1)<<linux.CAP_FOWNER |
	CapabilitySet(1)<<linux.CAP_FSETID |
	CapabilitySet(1)<<linux.CAP_LINUX_IMMUTABLE |
	CapabilitySet(1)<<linux.CAP_MKNOD |
	CapabilitySet(1)<<linux.CAP_MAC_OVERRIDE

// Securebits (prctl PR_SET_SECUREBITS, capabilities(7)). Each flag has a
// "locked" bit just above it: once locked, the flag can no longer change.
const (
	SecureNoRoot            = 1 << 0
	SecureNoRootLocked      = 1 << 1
	SecureNoSetuidFixup     = 1 << 2
	SecureNoSetuidFixupLock = 1 << 3
	SecureKeepCaps          = 1 << 4
	SecureKeepCapsLocked    = 1 << 5
	SecureNoAmbientRaise    = 1 << 6
	SecureNoAmbientRaiseLck = 1 << 7

	// SecureAllBits are the flags; SecureAllLocks their lock bits.
	SecureAllBits  = SecureNoRoot | SecureNoSetuidFixup | SecureKeepCaps | SecureNoAmbientRaise
	SecureAllLocks = SecureAllBits << 1
)

// Credentials are one thread's identity. The zero value is a user with
// UID and GID 0 and no capabilities; use NewRoot or NewUser.
//
// A published value is never modified (see the package comment).
type Credentials struct {
	RealUID, EffectiveUID, SavedUID, FSUID uint32
	RealGID, EffectiveGID, SavedGID, FSGID uint32
	// Groups are the supplementary groups, sorted ascending (setgroups
	// sorts them, as Linux does).
	Groups []uint32

	// The capability sets of capabilities(7).
	Effective, Permitted, Inheritable, Bounding, Ambient CapabilitySet

	// SecureBits are the securebits flags and locks; SecureKeepCaps is
	// prctl's PR_SET_KEEPCAPS.
	SecureBits uint32

	// UserNS is the user namespace the thread is in (userns.go); nil is
	// the sandbox's first. The IDs above are kernel IDs, the first
	// namespace's.
	UserNS *UserNamespace

	// NoNewPrivs is prctl's PR_SET_NO_NEW_PRIVS: execve grants no
	// privilege (set-user-ID bits and file capabilities are ignored).
	// Inherited by children, never cleared.
	NoNewPrivs bool
}

// NewRoot returns the credentials of root holding every capability (what
// the first process of a fresh Linux has).
func NewRoot() *Credentials {
	return &Credentials{
		Effective: AllCapabilities,
		Permitted: AllCapabilities,
		Bounding:  AllCapabilities,
	}
}

// NewUser returns the credentials of a process of uid:gid with groups:
// every capability for uid 0 (NewRoot), none for anybody else, with the
// full bounding set.
func NewUser(uid, gid uint32, groups []uint32) *Credentials {
	c := &Credentials{Bounding: AllCapabilities}
	if uid == 0 {
		c = NewRoot()
	}
	c.RealUID, c.EffectiveUID, c.SavedUID, c.FSUID = uid, uid, uid, uid
	c.RealGID, c.EffectiveGID, c.SavedGID, c.FSGID = gid, gid, gid, gid
	c.Groups = SortedGroups(groups)
	return c
}

// SortedGroups returns a sorted copy of groups without duplicates.
func SortedGroups(groups []uint32) []uint32 {
	g := slices.Clone(groups)
	slices.Sort(g)
	return slices.Compact(g)
}

// Fork returns a copy of c that the caller may modify before publishing.
func (c *Credentials) Fork() *Credentials {
	n := *c
	n.Groups = slices.Clone(c.Groups)
	return &n
}

// HasCapability reports whether c has cp in the sandbox's first user
// namespace (Linux's capable()), which owns every object not made inside
// a newer one: cp is effective and c is not in a user namespace below
// the first (there its capabilities count only for that namespace's
// objects, HasCapabilityIn). A nil Credentials is the sentry acting for
// itself, which may do anything.
func (c *Credentials) HasCapability(cp linux.Capability) bool {
	return c == nil || (c.UserNS == nil && c.Effective.Has(cp))
}

// InGroup reports whether gid is the filesystem group or one of the
// supplementary groups (Linux's in_group_p). A nil Credentials is in every
// group.
func (c *Credentials) InGroup(gid uint32) bool {
	if c == nil || c.FSGID == gid {
		return true
	}
	_, found := slices.BinarySearch(c.Groups, gid)
	return found
}

// FSOwns reports whether the filesystem UID owns a file of owner uid, or
// the caller has CAP_FOWNER in its user namespace and uid is mapped there
// (Linux's inode_owner_or_capable: the group does not matter).
func (c *Credentials) FSOwns(uid uint32) bool {
	if c == nil || c.FSUID == uid || c.HasCapability(linux.CAP_FOWNER) {
		return true
	}
	if c.UserNS == nil || !c.Effective.Has(linux.CAP_FOWNER) {
		return false
	}
	_, ok := c.UserNS.MapUIDFromKernel(uid)
	return ok
}

// CapableOver reports whether c's capability cp counts over a file owned
// by kernel IDs uid and gid (Linux's capable_wrt_inode_uidgid): cp is
// effective in c's user namespace and both IDs are mapped into it. In the
// first namespace every ID is mapped: it is HasCapability.
func (c *Credentials) CapableOver(cp linux.Capability, uid, gid uint32) bool {
	if c == nil || c.UserNS == nil {
		return c.HasCapability(cp)
	}
	if !c.Effective.Has(cp) {
		return false
	}
	_, uok := c.UserNS.MapUIDFromKernel(uid)
	_, gok := c.UserNS.MapGIDFromKernel(gid)
	return uok && gok
}

// ForAccess returns the credentials access(2) and faccessat(2) without
// AT_EACCESS check with: the real IDs as filesystem IDs, and, unless the
// real UID is 0, no capabilities (Linux's access_override_creds).
func (c *Credentials) ForAccess() *Credentials {
	n := c.Fork()
	n.FSUID, n.FSGID = c.RealUID, c.RealGID
	if c.SecureBits&SecureNoRoot == 0 && c.isRoot(c.RealUID) {
		n.Effective = c.Permitted
	} else {
		n.Effective = 0
	}
	return n
}

// anyRoot reports whether any of the real, effective and saved UIDs is 0.
func (c *Credentials) anyRoot() bool {
	return c.isRoot(c.RealUID) || c.isRoot(c.EffectiveUID) || c.isRoot(c.SavedUID)
}

// isRoot reports whether kernel UID k is root of c's user namespace (its
// UID 0; Linux's root_uid = make_kuid(user_ns, 0)).
func (c *Credentials) isRoot(k uint32) bool {
	r, ok := c.UserNS.MapUIDToKernel(0)
	return ok && r == k
}

// FixSetuid applies Linux's capability rules for a change of the real,
// effective or saved UID from old to c by setuid, setreuid or setresuid
// (cap_emulate_setxuid; capabilities(7), "Effect of user ID changes on
// capabilities"), modifying c, which is not yet published:
//
//   - when one of the real, effective and saved UIDs was 0 and none is
//     now, the ambient set is cleared, and so are the permitted and
//     effective sets unless keep-caps is set;
//   - when the effective UID goes from 0 to non-zero, the effective set
//     is cleared; from non-zero to 0, the permitted set is copied to it.
//
// SECBIT_NO_SETUID_FIXUP turns this off.
func (c *Credentials) FixSetuid(old *Credentials) {
	if c.SecureBits&SecureNoSetuidFixup != 0 {
		return
	}
	if old.anyRoot() && !c.anyRoot() {
		if c.SecureBits&SecureKeepCaps == 0 {
			c.Permitted = 0
			c.Effective = 0
		}
		c.Ambient = 0
	}
	if old.isRoot(old.EffectiveUID) && !c.isRoot(c.EffectiveUID) {
		c.Effective = 0
	}
	if !old.isRoot(old.EffectiveUID) && c.isRoot(c.EffectiveUID) {
		c.Effective = c.Permitted
	}
}

// FixSetfsuid applies the capability rule of setfsuid: when the
// filesystem UID goes from 0 to non-zero, the filesystem capabilities
// (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
// CAP_FSETID, CAP_LINUX_IMMUTABLE, CAP_MKNOD, CAP_MAC_OVERRIDE) leave the
// effective set; back to 0, those of them in the permitted set return.
// SECBIT_NO_SETUID_FIXUP turns it off.
func (c *Credentials) FixSetfsuid(oldFSUID uint32) {
	if c.SecureBits&SecureNoSetuidFixup != 0 {
		return
	}
	switch {
	case c.isRoot(oldFSUID) && !c.isRoot(c.FSUID):
		c.Effective &^= fsCapabilities
	case !c.isRoot(oldFSUID) && c.isRoot(c.FSUID):
		c.Effective |= c.Permitted & fsCapabilities
	}
}

// SetCapabilities is capset(2)'s rule (cap_capset): the new sets must
// satisfy, against the current ones, inheritable ⊆ (inheritable ∪
// permitted) unless CAP_SETPCAP is effective, inheritable ⊆ (inheritable
// ∪ bounding), permitted ⊆ permitted, effective ⊆ new permitted. It
// returns the new credentials (ambient capabilities no longer in both the
// permitted and inheritable sets are dropped) or false for EPERM.
func (c *Credentials) SetCapabilities(eff, perm, inh CapabilitySet) (*Credentials, bool) {
	if !c.HasCapability(linux.CAP_SETPCAP) && inh&^(c.Inheritable|c.Permitted) != 0 {
		return nil, false
	}
	if inh&^(c.Inheritable|c.Bounding) != 0 {
		return nil, false
	}
	if perm&^c.Permitted != 0 || eff&^perm != 0 {
		return nil, false
	}
	n := c.Fork()
	n.Effective, n.Permitted, n.Inheritable = eff, perm, inh
	n.Ambient &= perm & inh
	return n, true
}

// ExecFile is what execve needs to know about the program it runs.
type ExecFile struct {
	// Mode, UID and GID are the executable's attributes.
	Mode     uint32
	UID, GID uint32
	// NoSUID is set when the executable's mount ignores set-user-ID bits.
	NoSUID bool
}

// ForExec returns the credentials after execve of f (Linux's
// bprm_fill_uid and cap_bprm_creds_from_file; capabilities(7),
// "Transformation of capabilities during execve()"), and whether the
// program runs with privileges its caller did not have (AT_SECURE).
//
// Set-user-ID and set-group-ID bits set the effective IDs unless the mount
// is nosuid or no_new_privs is set. The sandbox's filesystems store no
// file capabilities, so every file has empty ones, except that a program
// run with a real or effective UID of 0 (and no SECBIT_NOROOT) is treated
// as having every capability in its permitted and inheritable sets, and,
// with an effective UID of 0, the effective bit:
//
//	P'(permitted)   = (P(inheritable) & F(inheritable)) |
//	                  (F(permitted) & P(bounding)) | P'(ambient)
//	P'(effective)   = F(effective) ? P'(permitted) : P'(ambient)
//	P'(ambient)     = set-ID program ? 0 : P(ambient)
//	P'(inheritable) = P(inheritable); P'(bounding) = P(bounding)
//
// With no_new_privs, a program that would change IDs or gain permitted
// capabilities runs with the real IDs and at most the caller's permitted
// set. Keep-caps is cleared; the saved and filesystem IDs become the
// effective ones.
func (c *Credentials) ForExec(f ExecFile) (n *Credentials, secure bool) {
	n = c.Fork()
	if !f.NoSUID && !c.NoNewPrivs {
		if f.Mode&04000 != 0 {
			n.EffectiveUID = f.UID
		}
		if f.Mode&02010 == 02010 {
			n.EffectiveGID = f.GID
		}
	}
	n.Permitted = 0
	effective := false
	if c.SecureBits&SecureNoRoot == 0 {
		// A set-user-ID-root program run by anybody gets root's file
		// capabilities too (Linux's handle_privileged_root).
		if c.isRoot(n.EffectiveUID) || c.isRoot(n.RealUID) {
			n.Permitted = c.Bounding | c.Inheritable
		}
		effective = c.isRoot(n.EffectiveUID)
	}
	setID := n.EffectiveUID != c.RealUID || n.EffectiveGID != c.RealGID
	if c.NoNewPrivs && (setID || n.Permitted&^c.Permitted != 0) {
		n.EffectiveUID, n.EffectiveGID = n.RealUID, n.RealGID
		n.Permitted &= c.Permitted
	}
	n.SavedUID, n.FSUID = n.EffectiveUID, n.EffectiveUID
	n.SavedGID, n.FSGID = n.EffectiveGID, n.EffectiveGID
	if setID {
		n.Ambient = 0
	}
	n.Permitted |= n.Ambient
	if effective {
		n.Effective = n.Permitted
	} else {
		n.Effective = n.Ambient
	}
	n.SecureBits &^= SecureKeepCaps
	// AT_SECURE (Linux's bprm->secureexec): the IDs changed, or a
	// non-root program gained capabilities beyond its ambient ones.
	secure = setID || (!c.isRoot(n.RealUID) && (effective || n.Permitted&^n.Ambient != 0))
	return n, secure
}
