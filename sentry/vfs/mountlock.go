package vfs

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Locked mounts (Linux's MNT_LOCKED and MNT_LOCK_*). A mount namespace
// copied for another user namespace than its source's (unshare or clone
// with CLONE_NEWNS, the owner set by SetOwner) gets its whole tree locked,
// as Linux's lock_mnt_tree: a mount there cannot be unmounted (EINVAL) or
// moved (EINVAL), since that would show what it covers, and a remount may
// not clear the per-mount flags it had — read-only, nosuid, nodev, noexec —
// nor change its atime flags (EPERM). A non-recursive bind of a place with
// locked mounts under it is EINVAL; an rbind copies them locked, its top
// unlocked. pivot_root moves the lock from the old root to the new one.
// Mounts made inside the namespace are not locked. Fields are under
// vfs.mu.

// mountLocks are the per-mount flags a locked copy keeps.
type mountLocks uint8

const (
	lockReadOnly mountLocks = 1 << iota
	lockNoSUID
	lockNoDev
	lockNoExec
	lockAtime
)

// flagWords returns the set of words of a mount's flags text.
func flagWords(flags string) map[string]bool {
	w := make(map[string]bool)
	for _, o := range strings.Split(flags, ",") {
		if o != "" {
			w[o] = true
		}
	}
	return w
}

// atimeWords returns the atime flags in flags (Linux's MNT_ATIME_MASK:
// noatime, nodiratime, and strictatime for no relatime; relatime is the
// default the text leaves out).
func atimeWords(flags string) string {
	w := flagWords(flags)
	var o []string
	for _, n := range []string{"noatime", "nodiratime", "strictatime"} {
		if w[n] {
			o = append(o, n)
		}
	}
	return strings.Join(o, ",")
}

// lockTree locks every mount of ns's tree (lock_mnt_tree), and makes the
// copies of shared mounts slaves of their sources' groups instead of
// peers (CL_SHARED_TO_SLAVE: what the less privileged namespace mounts
// does not propagate back). Preconditions: vfs.mu is held.
func (ns *MountNamespace) lockTree() {
	for _, m := range ns.list {
		m.lock()
		if g := m.group; g != nil {
			m.leaveGroup()
			m.leaveMaster()
			m.master = g
			g.slaves = append(g.slaves, m)
		}
	}
}

// lockPropagated locks a tree propagated into a namespace of another
// user namespace than the one it was mounted in, all but its top (Linux's
// attach_recursive_mnt: lock_mnt_tree, then the top unlocked).
// Preconditions: vfs.mu is held.
func lockPropagated(top *Mount) {
	for _, d := range subtree(top) {
		d.lock()
	}
	top.locked = false
}

// lock locks m and its current per-mount flags. Preconditions: vfs.mu is
// held.
func (m *Mount) lock() {
	a := m.attr()
	w := flagWords(a.flags)
	m.locks |= lockAtime
	if a.readOnly {
		m.locks |= lockReadOnly
	}
	if w["nosuid"] {
		m.locks |= lockNoSUID
	}
	if w["nodev"] {
		m.locks |= lockNoDev
	}
	if a.noExec || w["noexec"] {
		m.locks |= lockNoExec
	}
	m.locked = true
}

// canChangeLocked reports whether the new per-mount flags keep every flag
// m has locked (can_change_locked_flags). Preconditions: vfs.mu is held.
func (m *Mount) canChangeLocked(readOnly, noExec bool, flags string) bool {
	w := flagWords(flags)
	switch {
	case m.locks&lockReadOnly != 0 && !readOnly,
		m.locks&lockNoSUID != 0 && !w["nosuid"],
		m.locks&lockNoDev != 0 && !w["nodev"],
		m.locks&lockNoExec != 0 && !noExec && !w["noexec"],
		m.locks&lockAtime != 0 && atimeWords(m.attr().flags) != atimeWords(flags):
		return false
	}
	return true
}

// hasLockedChildren reports whether a locked mount is on a point at or
// under below in m (has_locked_children). Preconditions: vfs.mu is held.
func (m *Mount) hasLockedChildren(below string) bool {
	for _, c := range m.children {
		if _, ok := relativeTo(below, c.Point); ok && c.locked {
			return true
		}
	}
	return false
}

// errLocked is what unmounting or moving a locked mount gives.
const errLocked = unix.EINVAL
