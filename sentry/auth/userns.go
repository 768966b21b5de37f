package auth

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// User namespaces (user_namespaces(7)). A thread's Credentials hold kernel
// IDs — the IDs of the sandbox's first user namespace — and the user
// namespace it is in (UserNS, nil for the first). Every ID a process
// sees or gives (get*id, set*id, stat, chown, /proc) is translated through
// its namespace's uid_map and gid_map; an ID with no mapping is the
// overflow ID 65534. A process that makes or joins a namespace has every
// capability in it and none outside; a capability is checked against the
// user namespace that owns the object (Credentials.HasCapabilityIn).
//
// Locking: a namespace's maps are written once (mu guards the writes and
// the setgroups state); readers load them through atomic pointers.

// OverflowID is the ID an unmapped user or group shows as
// (/proc/sys/kernel/overflowuid, overflowgid).
const OverflowID = 65534

// MaxUserNSLevel is Linux's limit on user namespace nesting: a new
// namespace's parent may be at most 32 levels below the first (so 33
// nested namespaces; the next is ENOSPC).
const MaxUserNSLevel = 33

// IDMapEntry is one line of a uid_map or gid_map: Count IDs from Inner
// inside the namespace are Outer onwards in its parent. (The sandbox's
// first namespace's lines come from the OCI config's uidMappings and map
// onto host IDs; they are shown, not applied.)
type IDMapEntry struct {
	Inner, Outer, Count uint32
}

// maxMapLines is Linux's UID_GID_MAP_MAX_EXTENTS.
const maxMapLines = 340

// UserNamespace is a user namespace made by clone or unshare with
// CLONE_NEWUSER. The sandbox's first namespace is represented by nil.
type UserNamespace struct {
	parent *UserNamespace
	level  int
	// owner and group are the kernel effective UID and GID of the
	// creator.
	owner, group uint32
	ino          uint64

	// uidMap and gidMap map inner IDs to kernel IDs (Outer already
	// translated to the first namespace), written once.
	uidMap, gidMap atomic.Pointer[[]IDMapEntry]

	mu sync.Mutex
	// setgroupsDenied is /proc/PID/setgroups' "deny".
	setgroupsDenied bool
}

// NewUserNamespace returns the credentials of c after making a new user
// namespace (Linux's create_user_ns and set_cred_user_ns): the same IDs,
// every capability in the new namespace, none inherited or ambient, and
// keep-caps cleared. ino names it in /proc/PID/ns. It fails with ENOSPC
// past the nesting limit and EPERM when the caller's effective IDs are not
// mapped in its own namespace or it is chrooted (the caller checks that).
func (c *Credentials) NewUserNamespace(ino uint64) (*Credentials, error) {
	parent := c.UserNS
	level := 1
	if parent != nil {
		level = parent.level + 1
	}
	if level > MaxUserNSLevel {
		return nil, unix.ENOSPC
	}
	ns := &UserNamespace{parent: parent, level: level, owner: c.EffectiveUID, group: c.EffectiveGID, ino: ino}
	if parent != nil && parent.SetgroupsDenied() {
		ns.setgroupsDenied = true
	}
	n := c.Fork()
	n.UserNS = ns
	n.Effective, n.Permitted, n.Bounding = AllCapabilities, AllCapabilities, AllCapabilities
	n.Inheritable, n.Ambient = 0, 0
	n.SecureBits &^= SecureKeepCaps
	return n, nil
}

// Ino implements nsfs.Namespace.
func (ns *UserNamespace) Ino() uint64 { return ns.ino }

// Parent returns the namespace's parent (nil: the first namespace).
func (ns *UserNamespace) Parent() *UserNamespace { return ns.parent }

// Owner returns the kernel UID of the namespace's creator.
func (ns *UserNamespace) Owner() uint32 { return ns.owner }

// SetgroupsDenied reports whether setgroups(2) is refused in ns.
func (ns *UserNamespace) SetgroupsDenied() bool {
	if ns == nil {
		return false
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.setgroupsDenied
}

func loadMap(p *atomic.Pointer[[]IDMapEntry]) []IDMapEntry {
	if m := p.Load(); m != nil {
		return *m
	}
	return nil
}

// UIDMap and GIDMap return the namespace's maps, inner IDs to kernel IDs
// (nil before they are written).
func (ns *UserNamespace) UIDMap() []IDMapEntry { return loadMap(&ns.uidMap) }
func (ns *UserNamespace) GIDMap() []IDMapEntry { return loadMap(&ns.gidMap) }

// toInner maps kernel ID k through m; ok is false when k is not mapped.
func toInner(m []IDMapEntry, k uint32) (uint32, bool) {
	for _, e := range m {
		if k >= e.Outer && k-e.Outer < e.Count {
			return e.Inner + (k - e.Outer), true
		}
	}
	return 0, false
}

// toKernel maps inner ID i through m to a kernel ID.
func toKernel(m []IDMapEntry, i uint32) (uint32, bool) {
	for _, e := range m {
		if i >= e.Inner && i-e.Inner < e.Count {
			return e.Outer + (i - e.Inner), true
		}
	}
	return 0, false
}

// MapUIDFromKernel returns kernel UID k as seen in ns (Linux's
// from_kuid): ok false when unmapped. A nil ns is the first namespace.
func (ns *UserNamespace) MapUIDFromKernel(k uint32) (uint32, bool) {
	if ns == nil {
		return k, true
	}
	return toInner(ns.UIDMap(), k)
}

// MapGIDFromKernel is MapUIDFromKernel for groups.
func (ns *UserNamespace) MapGIDFromKernel(k uint32) (uint32, bool) {
	if ns == nil {
		return k, true
	}
	return toInner(ns.GIDMap(), k)
}

// MapUIDToKernel returns the kernel UID of u as named in ns (make_kuid).
func (ns *UserNamespace) MapUIDToKernel(u uint32) (uint32, bool) {
	if ns == nil {
		return u, u != 0xffffffff
	}
	return toKernel(ns.UIDMap(), u)
}

// MapGIDToKernel is MapUIDToKernel for groups.
func (ns *UserNamespace) MapGIDToKernel(g uint32) (uint32, bool) {
	if ns == nil {
		return g, g != 0xffffffff
	}
	return toKernel(ns.GIDMap(), g)
}

// idToKernel is MapGIDToKernel when gid is set, else MapUIDToKernel.
func (ns *UserNamespace) idToKernel(id uint32, gid bool) (uint32, bool) {
	if gid {
		return ns.MapGIDToKernel(id)
	}
	return ns.MapUIDToKernel(id)
}

// idFromKernel is MapGIDFromKernel when gid is set, else MapUIDFromKernel.
func (ns *UserNamespace) idFromKernel(k uint32, gid bool) (uint32, bool) {
	if gid {
		return ns.MapGIDFromKernel(k)
	}
	return ns.MapUIDFromKernel(k)
}

// UID returns kernel UID k as ns shows it, the overflow UID when unmapped
// (from_kuid_munged).
func (ns *UserNamespace) UID(k uint32) uint32 {
	if v, ok := ns.MapUIDFromKernel(k); ok {
		return v
	}
	return OverflowID
}

// GID is UID for groups.
func (ns *UserNamespace) GID(k uint32) uint32 {
	if v, ok := ns.MapGIDFromKernel(k); ok {
		return v
	}
	return OverflowID
}

// IsAncestorOf reports whether ns is other or one of its ancestors (nil,
// the first namespace, is everybody's).
func (ns *UserNamespace) IsAncestorOf(other *UserNamespace) bool {
	for o := other; ; o = o.parent {
		if o == ns {
			return true
		}
		if o == nil {
			return false
		}
	}
}

// HasCapabilityIn reports whether c has cp in user namespace ns (Linux's
// ns_capable / cap_capable): in its own namespace when cp is effective; in
// a namespace below it when c's namespace is the parent of one of ns's
// ancestors-or-self and c's effective UID owns that one (the owner of a
// namespace has every capability in it and its descendants).
func (c *Credentials) HasCapabilityIn(ns *UserNamespace, cp linux.Capability) bool {
	if c == nil {
		return true
	}
	for {
		if ns == c.UserNS {
			return c.Effective.Has(cp)
		}
		if ns == nil {
			// ns is above c's namespace: nothing there.
			return false
		}
		if ns.parent == c.UserNS && ns.owner == c.EffectiveUID {
			return true
		}
		ns = ns.parent
	}
}

// SetSetgroups writes /proc/PID/setgroups: "allow" or "deny" (trailing
// newline allowed; anything else EINVAL). "allow" after "deny", and
// "deny" after gid_map was written, are EPERM; a namespace made in one
// that denies starts denying.
func (ns *UserNamespace) SetSetgroups(data []byte) error {
	s := strings.TrimSuffix(string(data), "\n")
	var deny bool
	switch s {
	case "allow":
	case "deny":
		deny = true
	default:
		return unix.EINVAL
	}
	if ns == nil {
		// The first namespace allows, and its gid_map is written.
		if deny {
			return unix.EPERM
		}
		return nil
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if deny && ns.gidMap.Load() != nil {
		return unix.EPERM
	}
	if !deny && ns.setgroupsDenied {
		return unix.EPERM
	}
	ns.setgroupsDenied = deny
	return nil
}

// parseIDMap parses a uid_map or gid_map write: at most 340 lines of
// "inner outer count", non-overlapping in either column, no count 0 and
// no range that wraps. Errors are EINVAL.
func parseIDMap(data []byte) ([]IDMapEntry, error) {
	s := string(data)
	if !strings.HasSuffix(s, "\n") && len(s) > 0 {
		s += "\n"
	}
	var m []IDMapEntry
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, unix.EINVAL
		}
		var v [3]uint32
		for i, x := range f {
			n, err := strconv.ParseUint(x, 10, 32)
			if err != nil {
				return nil, unix.EINVAL
			}
			v[i] = uint32(n)
		}
		e := IDMapEntry{Inner: v[0], Outer: v[1], Count: v[2]}
		if e.Count == 0 || uint64(e.Inner)+uint64(e.Count) > 1<<32-1 || uint64(e.Outer)+uint64(e.Count) > 1<<32-1 {
			return nil, unix.EINVAL
		}
		for _, o := range m {
			if overlaps(o.Inner, o.Count, e.Inner, e.Count) || overlaps(o.Outer, o.Count, e.Outer, e.Count) {
				return nil, unix.EINVAL
			}
		}
		m = append(m, e)
		if len(m) > maxMapLines {
			return nil, unix.EINVAL
		}
	}
	if len(m) == 0 {
		return nil, unix.EINVAL
	}
	return m, nil
}

func overlaps(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}

// WriteUIDMap writes ns's uid_map for writer w, standing for Linux's
// opener (map_write with new_idmap_permitted): once only (EPERM after);
// the writer must be in ns or its parent and have CAP_SYS_ADMIN in ns;
// the owner may map one ID, its own effective UID; any other map needs
// CAP_SETUID in the parent. Outer IDs are named in the parent and must
// be mapped there (EPERM); malformed text is EINVAL.
func (ns *UserNamespace) WriteUIDMap(w *Credentials, data []byte) error {
	return ns.writeMap(w, data, false)
}

// WriteGIDMap is WriteUIDMap for gid_map; an unprivileged writer may map
// only its own effective GID, and only after setgroups was denied.
func (ns *UserNamespace) WriteGIDMap(w *Credentials, data []byte) error {
	return ns.writeMap(w, data, true)
}

func (ns *UserNamespace) writeMap(w *Credentials, data []byte, gid bool) error {
	if ns == nil {
		// The first namespace's maps are fixed.
		return unix.EPERM
	}
	if len(data) >= 4096 {
		return unix.EINVAL
	}
	m, err := parseIDMap(data)
	if err != nil {
		return err
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	p := &ns.uidMap
	if gid {
		p = &ns.gidMap
	}
	if p.Load() != nil {
		return unix.EPERM
	}
	// The writer must be in ns or its parent and have CAP_SYS_ADMIN
	// over ns.
	if w.UserNS != ns && w.UserNS != ns.parent {
		return unix.EPERM
	}
	if !w.HasCapabilityIn(ns, linux.CAP_SYS_ADMIN) {
		return unix.EPERM
	}
	// Outer IDs are named in the parent namespace.
	lower := ns.parent
	kernel := make([]IDMapEntry, 0, len(m))
	for _, e := range m {
		k, ok := lower.idToKernel(e.Outer, gid)
		if !ok {
			return unix.EPERM
		}
		if e.Count > 1 {
			// Every ID of the range must be mapped in the parent,
			// contiguously.
			kl, ok := lower.idToKernel(e.Outer+e.Count-1, gid)
			if !ok || kl-k != e.Count-1 {
				return unix.EPERM
			}
		}
		kernel = append(kernel, IDMapEntry{Inner: e.Inner, Outer: k, Count: e.Count})
	}
	if !ns.mapPermitted(w, kernel, gid) {
		return unix.EPERM
	}
	p.Store(&kernel)
	return nil
}

// mapPermitted is Linux's new_idmap_permitted for a map already in kernel
// IDs.
func (ns *UserNamespace) mapPermitted(w *Credentials, m []IDMapEntry, gid bool) bool {
	if len(m) == 1 && m[0].Count == 1 && w.EffectiveUID == ns.owner {
		// The owner mapping its own effective ID needs no capability
		// in the parent (its group only once setgroups is denied).
		if !gid && m[0].Outer == w.EffectiveUID {
			return true
		}
		if gid && m[0].Outer == w.EffectiveGID && ns.setgroupsDenied {
			return true
		}
	}
	cp := linux.CAP_SETUID
	if gid {
		cp = linux.CAP_SETGID
	}
	// Arbitrary maps need cp in the parent namespace, held by a writer
	// opening from there (Linux also requires the opener had it; the
	// writer is the opener here).
	return w.HasCapabilityIn(ns.parent, cp)
}

// ShownMap returns ns's uid_map (gid false) or gid_map as Linux's
// /proc/PID/uid_map shows it to a reader in namespace reader: outer IDs in
// the reader's namespace, or the parent's when the reader is in ns; lines
// whose outer IDs the reader cannot name are left out.
func (ns *UserNamespace) ShownMap(reader *UserNamespace, gid bool) []IDMapEntry {
	m := ns.UIDMap()
	if gid {
		m = ns.GIDMap()
	}
	lower := reader
	if lower == ns {
		lower = ns.parent
	}
	shown := []IDMapEntry{}
	for _, e := range m {
		if o, ok := lower.idFromKernel(e.Outer, gid); ok {
			shown = append(shown, IDMapEntry{Inner: e.Inner, Outer: o, Count: e.Count})
		}
	}
	return shown
}

// GroupsInNS returns c's supplementary groups as its namespace shows them.
func (c *Credentials) GroupsInNS() []uint32 {
	if c.UserNS == nil {
		return c.Groups
	}
	g := make([]uint32, len(c.Groups))
	for i, k := range c.Groups {
		g[i] = c.UserNS.GID(k)
	}
	return slices.Clip(g)
}
