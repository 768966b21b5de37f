package vfs

import (
	"slices"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"golang.org/x/sys/unix"
)

// Changes to a mount namespace's tree made by the sandbox's programs:
// mount(2) (new mounts, binds, moves, remounts and propagation changes),
// umount2(2) and pivot_root(2). Each takes locations its caller resolved
// in its own namespace.

// isMountRoot reports whether loc is the root of its mount (what a mount
// point resolves to once crossed).
func isMountRoot(loc Location) bool {
	return loc.Mount != nil && loc.Mount.Point == loc.Path && loc.Node == fs.Node(loc.Mount.Root)
}

// Top returns what is mounted on top of loc (loc itself if nothing is):
// how umount2 and mount(MS_REMOUNT) find their target when the path's
// last component is "." or a working directory that was mounted over.
func (v *VirtualFilesystem) Top(loc Location) Location {
	if loc.Mount == nil || loc.Mount == anonMount {
		return loc
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if !isMountRoot(loc) && loc.Mount.children[loc.Path] == nil {
		return loc
	}
	m := topAt(loc.Mount, loc.Path)
	if m == loc.Mount {
		return loc
	}
	return Location{Mount: m, Node: m.Root, Path: loc.Path}
}

// checkTypes returns ENOTDIR or EISDIR when what is mounted (root) and
// where (at) are not both directories or both not.
func checkTypes(root fs.Node, at Location) error {
	switch {
	case root.Type() == unix.S_IFDIR && at.Node.Type() != unix.S_IFDIR:
		return unix.ENOTDIR
	case root.Type() != unix.S_IFDIR && at.Node.Type() == unix.S_IFDIR:
		return unix.EISDIR
	}
	return nil
}

// MountOver mounts o.Root (nil: the root of f; for a bind mount a
// directory or file of f) at at, which stacks on whatever is mounted
// there: a directory on a directory, a file on a non-directory. A mount
// on a point inside a shared mount is shared and propagates to its peers
// and slaves. Errors: ENOTDIR or EISDIR when they do not match.
func (v *VirtualFilesystem) MountOver(at Location, f fs.Filesystem, o MountOptions) error {
	var root fs.Node = f.Root()
	if o.Root != nil {
		root = o.Root
	}
	if err := checkTypes(root, at); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if at.Mount == nil || at.Mount.ns == nil {
		return unix.EINVAL
	}
	m := v.newMount(f, root, at.Path, o)
	v.attachPropagating(m, at)
	return nil
}

// attachPropagating mounts the tree m heads on at (on top of whatever is
// mounted there), making it shared and propagating it if at is in a
// shared mount. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) attachPropagating(m *Mount, at Location) {
	parent := topAt(at.Mount, at.Path)
	// The tree's points move from where its source was to at.
	rebase(subtree(m), m.Point, at.Path)
	v.attachTree(m, parent, at.Path)
	if parent.group != nil {
		for _, d := range subtree(m) {
			v.makeShared(d)
		}
		v.propagateMount(m, parent, at.Path)
	}
}

// attachTree attaches m on point of parent and its (already linked)
// subtree to parent's namespace. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) attachTree(m, parent *Mount, point string) {
	v.attach(m, parent, point)
	for _, d := range subtree(m)[1:] {
		d.ns = m.ns
		m.ns.list = append(m.ns.list, d)
	}
}

// rebase rewrites the points of ms from under from to under to.
func rebase(ms []*Mount, from, to string) {
	if from == to {
		return
	}
	for _, d := range ms {
		rel, ok := relativeTo(from, d.Point)
		if !ok {
			continue
		}
		d.Point = joinFS(to, rel)
	}
	for _, d := range ms {
		if len(d.children) == 0 {
			continue
		}
		nc := make(map[string]*Mount, len(d.children))
		for _, c := range d.children {
			nc[c.Point] = c
		}
		d.children = nc
	}
}

// BindAt mounts what src shows (a directory or a file) again at at
// (mount --bind), with its submounts under src if recursive (--rbind).
// The copy is a peer of a shared source and a slave of a slave's master.
// Errors: EINVAL for an unbindable source or one in no namespace,
// ENOTDIR/EISDIR for mismatched types.
func (v *VirtualFilesystem) BindAt(src, at Location, recursive bool, o MountOptions) error {
	if err := checkTypes(src.Node, at); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	sm := src.Mount
	if sm == nil || sm == anonMount || sm.FS == nil || sm.ns == nil || at.Mount == nil || at.Mount.ns == nil {
		return unix.EINVAL
	}
	if sm.unbindable {
		return unix.EINVAL
	}
	if !recursive && sm.hasLockedChildren(src.Path) {
		// It would show what they cover.
		return errLocked
	}
	head := v.bindCopy(sm, src)
	if recursive {
		v.copySubmounts(sm, head, src.Path)
	}
	if o.ReadOnly {
		a := head.attr()
		a.readOnly = true
		head.attrs.Store(&a)
	}
	v.attachPropagating(head, at)
	return nil
}

// bindCopy returns a copy of sm showing src (a place inside sm), at
// src's path, in no tree. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) bindCopy(sm *Mount, src Location) *Mount {
	c := v.clone(sm, false)
	c.Root = src.Node
	c.unbindable = false
	c.locked = false // a bind's top is the binder's (do_loopback)
	c.Point = src.Path
	c.RootPath = fsPathIn(sm, src.Path)
	if c.RootPath == "/" {
		c.RootPath = ""
	}
	return c
}

// copySubmounts copies the mounts on points under below in sm (and
// theirs) under dst, a copy of sm; unbindable ones are left out, as
// --rbind does. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) copySubmounts(sm, dst *Mount, below string) {
	for _, c := range sm.children {
		if c.unbindable {
			continue
		}
		if _, ok := relativeTo(below, c.Point); !ok {
			continue
		}
		cc := v.clone(c, false)
		cc.parent = dst
		if dst.children == nil {
			dst.children = make(map[string]*Mount)
		}
		dst.children[cc.Point] = cc
		v.copySubmounts(c, cc, c.Point)
	}
}

// Unmount removes the mount loc is the root of, and its copies in the
// peers and slaves of its parent when that is shared; what it covered
// shows again. Descriptions and working directories inside it keep
// working. Without detach (MNT_DETACH) a mount with mounts inside it, or
// holding a working directory or root of a process in the namespace, is
// EBUSY; with detach its whole subtree goes. Errors: EINVAL when loc is
// not a mount's root or not in a namespace, EBUSY for the namespace's
// root.
func (v *VirtualFilesystem) Unmount(loc Location, detach bool, contexts []*FSContext) error {
	if !isMountRoot(loc) {
		return unix.EINVAL
	}
	m := loc.Mount
	v.mu.Lock()
	gone, err := v.unmountLocked(m, detach, contexts)
	v.mu.Unlock()
	// A filesystem's last mount gone: its watches hear IN_UNMOUNT
	// (without v.mu: inotify wakes readers).
	for _, f := range gone {
		inotify.Unmounted(f)
	}
	return err
}

// unmountLocked takes m (and with detach its subtree) out of its
// namespace. Preconditions: v.mu is held.
func (v *VirtualFilesystem) unmountLocked(m *Mount, detach bool, contexts []*FSContext) ([]fs.Filesystem, error) {
	ns := m.ns
	if ns == nil {
		return nil, unix.EINVAL
	}
	if m.locked {
		return nil, errLocked
	}
	if m == ns.root || m.parent == nil {
		return nil, unix.EBUSY
	}
	if !detach {
		if len(m.children) != 0 {
			return nil, unix.EBUSY
		}
		for _, c := range contexts {
			c.mu.Lock()
			busy := c.root.Mount == m || c.cwd.Mount == m
			c.mu.Unlock()
			if busy {
				return nil, unix.EBUSY
			}
		}
	}
	var copies []*Mount
	if m.parent.group != nil {
		copies = v.propagateUnmount(m)
	}
	gone := v.detachTree(m)
	for _, c := range copies {
		if c.ns != nil {
			gone = append(gone, v.detachTree(c)...)
		}
	}
	return gone, nil
}

// Propagation types for SetPropagation (mount(2)'s MS_SHARED etc.).
const (
	PropShared = iota
	PropPrivate
	PropSlave
	PropUnbindable
)

// SetPropagation changes the propagation type of the mount loc is the
// root of (and with recursive of every mount below it). Errors: EINVAL
// when loc is not a mount's root.
func (v *VirtualFilesystem) SetPropagation(loc Location, kind int, recursive bool) error {
	if !isMountRoot(loc) {
		return unix.EINVAL
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if loc.Mount.ns == nil {
		return unix.EINVAL
	}
	ms := []*Mount{loc.Mount}
	if recursive {
		ms = subtree(loc.Mount)
	}
	for _, m := range ms {
		switch kind {
		case PropShared:
			v.makeShared(m)
		case PropPrivate, PropUnbindable:
			m.leaveGroup()
			m.leaveMaster()
			m.unbindable = kind == PropUnbindable
		case PropSlave:
			// A slave of the group it was a peer in; alone in its
			// group, it keeps its master (private if it has none).
			if g := m.group; g != nil {
				m.leaveGroup()
				if len(g.peers) > 0 {
					m.leaveMaster()
					m.master = g
					g.slaves = append(g.slaves, m)
				}
			}
			m.unbindable = false
		}
	}
	return nil
}

// Remount sets the per-mount flags of the mount loc is the root of
// (MS_REMOUNT): read-only, no-exec and the flags /proc/mounts shows. With
// keepAtime (no atime flag in the call) the mount's atime flags stay, as
// Linux's remount default. Errors: EINVAL when loc is not a mount's root,
// EPERM when a locked flag would be cleared or, then, when
// mayReconfigure is false (the caller may not reconfigure the filesystem).
//
// With superblock (MS_REMOUNT without MS_BIND) the filesystem instance
// becomes read-only or writable as well, through all its mounts.
func (v *VirtualFilesystem) Remount(loc Location, readOnly, noExec bool, flags string, keepAtime, mayReconfigure, superblock bool) error {
	if !isMountRoot(loc) {
		return unix.EINVAL
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m := loc.Mount
	if keepAtime {
		flags = withAtime(flags, atimeWords(m.attr().flags))
	}
	if !m.canChangeLocked(readOnly, noExec, flags) || !mayReconfigure {
		return unix.EPERM
	}
	m.attrs.Store(&mountAttrs{readOnly: readOnly, noExec: noExec, flags: flags})
	if superblock && m.sb != nil {
		m.sb.readOnly.Store(readOnly)
	}
	return nil
}

// withAtime returns flags with its atime words replaced by atime, in
// /proc/mounts' order (nosuid,nodev,noexec,noatime,nodiratime,nosymfollow;
// other words after them, in their order).
func withAtime(flags, atime string) string {
	w := flagWords(flags)
	delete(w, "noatime")
	delete(w, "nodiratime")
	delete(w, "strictatime")
	for n := range flagWords(atime) {
		w[n] = true
	}
	known := []string{"nosuid", "nodev", "noexec", "noatime", "nodiratime", "nosymfollow", "strictatime"}
	var o []string
	for _, n := range known {
		if w[n] {
			o = append(o, n)
		}
	}
	for _, n := range strings.Split(flags, ",") {
		if n != "" && w[n] && !slices.Contains(known, n) {
			o = append(o, n)
		}
	}
	return strings.Join(o, ",")
}

// Move moves the mount src is the root of, with its subtree, to at
// (MS_MOVE); the roots and working directories of contexts inside it
// move with it. Errors: EINVAL when src is not a mount's root, is the
// namespace's root, sits in a shared mount or is in another namespace
// than at; ELOOP when at is inside src's tree.
func (v *VirtualFilesystem) Move(src, at Location, contexts []*FSContext) error {
	if !isMountRoot(src) {
		return unix.EINVAL
	}
	if err := checkTypes(src.Node, at); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m := src.Mount
	if m.ns == nil || m.parent == nil || at.Mount == nil || at.Mount.ns != m.ns || m.locked {
		return unix.EINVAL
	}
	if m.parent.group != nil {
		return unix.EINVAL
	}
	for _, d := range subtree(m) {
		if d == at.Mount {
			return unix.ELOOP
		}
	}
	ns := m.ns
	tree := subtree(m)
	delete(m.parent.children, m.Point)
	kept := ns.list[:0]
	in := make(map[*Mount]bool, len(tree))
	for _, d := range tree {
		in[d] = true
	}
	for _, o := range ns.list {
		if !in[o] {
			kept = append(kept, o)
		}
	}
	ns.list = kept
	from := m.Point
	v.attachPropagating(m, at)
	v.moveContexts(ns, contexts, func(l Location) Location {
		if in[l.Mount] {
			if rel, ok := relativeTo(from, l.Path); ok {
				l.Path = joinFS(at.Path, rel)
			}
		}
		return l
	})
	return nil
}

// moveContexts rewrites the roots and working directories of those of
// contexts that are in ns with f. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) moveContexts(ns *MountNamespace, contexts []*FSContext, f func(Location) Location) {
	for _, c := range contexts {
		c.mu.Lock()
		if c.ns == ns {
			c.root, c.cwd = f(c.root), f(c.cwd)
		}
		c.mu.Unlock()
	}
}

// PivotRoot makes the mount newRoot is the root of the root of the
// namespace of the caller (whose root is root) and puts the old root
// mount on putOld (pivot_root(2)). Every process of the namespace whose
// root or working directory was the old root moves to the new one. Errors
// as Linux's: EINVAL when newRoot is not a mount's root, putOld is not at
// or under newRoot, the caller's root is not its namespace's root mount's
// root, or a mount involved is shared; EBUSY when newRoot or putOld is on
// the current root mount.
func (v *VirtualFilesystem) PivotRoot(root, newRoot, putOld Location, contexts []*FSContext) error {
	if newRoot.Node.Type() != unix.S_IFDIR || putOld.Node.Type() != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	rm, nm, om := root.Mount, newRoot.Mount, putOld.Mount
	ns := rm.ns
	if ns == nil || nm.ns != ns || om.ns != ns {
		return unix.EINVAL
	}
	if om.group != nil || (nm.parent != nil && nm.parent.group != nil) || (rm.parent != nil && rm.parent.group != nil) {
		return unix.EINVAL
	}
	if nm == rm || om == rm {
		return unix.EBUSY
	}
	if !isMountRoot(root) || rm != ns.root {
		return unix.EINVAL
	}
	if !isMountRoot(newRoot) || nm.parent == nil || nm.locked {
		return unix.EINVAL
	}
	relOld, ok := relativeTo(nm.Point, putOld.Path)
	if !ok {
		return unix.EINVAL
	}
	inNew := make(map[*Mount]bool)
	for _, d := range subtree(nm) {
		inNew[d] = true
	}
	if !inNew[om] {
		return unix.EINVAL
	}
	np := nm.Point
	// Paths: the new root's tree loses its prefix, the rest of the old
	// tree goes under put_old.
	translate := func(m *Mount, p string) string {
		if inNew[m] {
			r, _ := relativeTo(np, p)
			return r
		}
		return joinFS(relOld, p)
	}
	delete(nm.parent.children, np)
	nm.parent = nil
	for _, d := range ns.list {
		d.Point = translate(d, d.Point)
	}
	ns.root = nm
	// put_old's mount is found again by its new path (the tree's keys
	// changed).
	for _, d := range ns.list {
		d.children = nil
	}
	for _, d := range ns.list {
		if d != nm && d.parent != nil && d != rm {
			if d.parent.children == nil {
				d.parent.children = make(map[string]*Mount)
			}
			d.parent.children[d.Point] = d
		}
	}
	if rm.locked {
		// What covered the old root's place still may not be
		// revealed: the new root takes the lock.
		nm.locked, rm.locked = true, false
	}
	rm.parent = topAt(om, relOld)
	if rm.parent.children == nil {
		rm.parent.children = make(map[string]*Mount)
	}
	rm.parent.children[relOld] = rm
	newLoc := Location{Mount: nm, Node: nm.Root, Path: "/"}
	v.moveContexts(ns, contexts, func(l Location) Location {
		if l.Mount == rm && l.Node == fs.Node(rm.Root) && l.Path == "/" {
			return newLoc
		}
		if l.Mount != nil && l.Mount.ns == ns {
			l.Path = translate(l.Mount, l.Path)
		}
		return l
	})
	return nil
}
