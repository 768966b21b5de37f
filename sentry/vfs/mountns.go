package vfs

import (
	"fmt"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"strings"
	"weak"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"golang.org/x/sys/unix"
)

// Mount namespaces.
//
// A MountNamespace owns a tree of mounts: its root mount, and for every
// mount the mounts on points inside it (Mount.children, by the point's
// path in the namespace). Resolution crosses a mount point by looking the
// path up in the children of the mount it is in, so the tree a location
// was reached in decides what it sees: two namespaces can show different
// mounts at the same path.
//
// CLONE_NEWNS copies the tree (Copy). Propagation follows Linux's shared
// subtrees (Documentation/filesystems/sharedsubtree.rst): a shared mount
// is in a peer group, a slave receives from its master group; a mount or
// unmount on a point inside a shared mount happens in every peer and
// slave that shows the same directory, and copies made by CLONE_NEWNS or
// a bind of a shared mount are its peers.
//
// Locking: VirtualFilesystem.mu protects every namespace's tree and the
// propagation fields (one lock, because propagation crosses namespaces);
// it is a leaf: never held while calling a filesystem.

// MountNamespace is one mount namespace.
type MountNamespace struct {
	vfs *VirtualFilesystem
	ino uint64
	// root and list (mount order) are protected by vfs.mu.
	root *Mount
	list []*Mount
	// owner is the user namespace it was made in (owner.go): set once,
	// before the namespace is reachable.
	owner *auth.UserNamespace
}

// peerGroup is a set of shared mounts that propagate to each other, and
// the slaves that receive from them. vfs.mu.
type peerGroup struct {
	id     int
	peers  []*Mount
	slaves []*Mount
}

// Namespace returns the namespace whose tree holds m (nil once it is
// unmounted).
func (m *Mount) Namespace() *MountNamespace {
	if m == nil || m.vfs == nil {
		return nil
	}
	m.vfs.mu.RLock()
	defer m.vfs.mu.RUnlock()
	return m.ns
}

// Ino implements nsfs.Namespace.
func (ns *MountNamespace) Ino() uint64 { return ns.ino }

// VFS returns the filesystems the namespace mounts.
func (ns *MountNamespace) VFS() *VirtualFilesystem { return ns.vfs }

var _ nsfs.Namespace = (*MountNamespace)(nil)

// RootLocation returns the root of the namespace's tree.
func (ns *MountNamespace) RootLocation() Location {
	ns.vfs.mu.RLock()
	r := ns.root
	ns.vfs.mu.RUnlock()
	return Location{Mount: r, Node: r.Root, Path: "/"}
}

// LocationIn returns the location of node, the file called name in the
// root directory of the most recent mount of filesystem f in the
// namespace: how the sentry names a file it opens without walking a path
// (TIOCGPTPEER's replica, a terminal installed as a program's stdio).
// ENOENT if f is not mounted.
func (ns *MountNamespace) LocationIn(f fs.Filesystem, name string, node fs.Node) (Location, error) {
	ns.vfs.mu.RLock()
	defer ns.vfs.mu.RUnlock()
	for i := len(ns.list) - 1; i >= 0; i-- {
		if m := ns.list[i]; m.FS == f {
			return Location{Mount: m, Node: node, Path: joinPath(m.Point, name)}, nil
		}
	}
	return Location{}, unix.ENOENT
}

// MountInfo describes a mount for /proc/mounts.
type MountInfo struct {
	ID, ParentID int
	FS           fs.Filesystem
	Source       string
	Point        string
	// FSType is the type shown: the mount's FSType or its
	// filesystem's name, with hostfs shown as 9p (as gVisor shows
	// host-backed mounts).
	FSType   string
	RootPath string
	// ReadOnly is the mount's own flag, SuperReadOnly its filesystem
	// instance's (superblock.go).
	ReadOnly, SuperReadOnly bool
	Flags, Data             string
	// Shared and Master are the peer group IDs of mountinfo's
	// shared:N and master:N fields (0: none); Unbindable its
	// unbindable field.
	Shared, Master int
	Unbindable     bool
}

// Mounts returns the namespace's mounts in mount order.
func (ns *MountNamespace) Mounts() []MountInfo {
	ns.vfs.mu.RLock()
	defer ns.vfs.mu.RUnlock()
	out := make([]MountInfo, 0, len(ns.list))
	for _, m := range ns.list {
		pid := m.ID
		if m.parent != nil {
			pid = m.parent.ID
		}
		fstype := m.FSType
		if fstype == "" {
			fstype = m.FS.Name()
			if fstype == "hostfs" {
				fstype = "9p"
			}
		}
		rp := m.RootPath
		if rp == "" {
			rp = "/"
		}
		a := m.attr()
		mi := MountInfo{ID: m.ID, ParentID: pid, FS: m.FS, Source: m.Source, Point: m.Point, FSType: fstype,
			RootPath: rp, ReadOnly: a.readOnly, SuperReadOnly: m.SuperReadOnly(), Flags: a.flags, Data: m.Data, Unbindable: m.unbindable}
		if m.group != nil {
			mi.Shared = m.group.id
		}
		if m.master != nil {
			mi.Master = m.master.id
		}
		out = append(out, mi)
	}
	return out
}

// MountsText returns /proc/mounts' contents, as seen from a process whose
// root is root (mounts outside it are hidden, points are shown relative).
func (ns *MountNamespace) MountsText(root string) string {
	var b strings.Builder
	for _, m := range ns.visibleMounts(root) {
		// /proc/mounts: ro when the mount or its filesystem is.
		m.ReadOnly = m.ReadOnly || m.SuperReadOnly
		opts := m.mountOptions()
		if m.Data != "" {
			opts += "," + m.Data
		}
		fmt.Fprintf(&b, "%s %s %s %s 0 0\n", escapeMount(m.Source), escapeMount(m.Point), m.FSType, opts)
	}
	return b.String()
}

// MountinfoText returns /proc/PID/mountinfo's contents for a process
// whose root is root, with the propagation fields.
func (ns *MountNamespace) MountinfoText(root string) string {
	var b strings.Builder
	for _, m := range ns.visibleMounts(root) {
		super := "rw"
		if m.SuperReadOnly {
			super = "ro"
		}
		if m.Data != "" {
			super += "," + m.Data
		}
		var opt string
		if m.Shared != 0 {
			opt += fmt.Sprintf(" shared:%d", m.Shared)
		}
		if m.Master != 0 {
			opt += fmt.Sprintf(" master:%d", m.Master)
		}
		if m.Unbindable {
			opt += " unbindable"
		}
		fmt.Fprintf(&b, "%d %d 0:%d %s %s %s%s - %s %s %s\n", m.ID, m.ParentID, m.ID+20, escapeMount(m.RootPath),
			escapeMount(m.Point), m.mountOptions(), opt, m.FSType, escapeMount(m.Source), super)
	}
	return b.String()
}

// mountOptions returns the per-mount options: rw or ro, then the flags
// (relatime unless the mount says otherwise).
func (m MountInfo) mountOptions() string {
	opts := "rw"
	if m.ReadOnly {
		opts = "ro"
	}
	// A "strictatime" word is kept but not shown, and then neither is
	// relatime (as Linux).
	var shown []string
	strict := false
	for _, w := range strings.Split(m.Flags, ",") {
		switch w {
		case "":
		case "strictatime":
			strict = true
		default:
			shown = append(shown, w)
		}
	}
	if len(shown) > 0 {
		opts += "," + strings.Join(shown, ",")
	}
	if !strict && !strings.Contains(m.Flags, "atime") {
		opts += ",relatime"
	}
	return opts
}

// visibleMounts returns the mounts seen from root, in mount order, with
// points relative to root.
func (ns *MountNamespace) visibleMounts(root string) []MountInfo {
	ms := ns.Mounts()
	out := ms[:0]
	for _, m := range ms {
		p, ok := relativeTo(root, m.Point)
		if !ok {
			continue
		}
		m.Point = p
		out = append(out, m)
	}
	return out
}

// topAt returns the mount on top of point seen from mount m: m itself if
// nothing is mounted there. Preconditions: vfs.mu is held.
func topAt(m *Mount, point string) *Mount {
	for {
		c := m.children[point]
		if c == nil {
			return m
		}
		m = c
	}
}

// attach puts m on point in parent's tree. Preconditions: vfs.mu is
// held; nothing is mounted directly on point in parent.
func (v *VirtualFilesystem) attach(m, parent *Mount, point string) {
	m.parent, m.Point, m.ns = parent, point, parent.ns
	if parent.children == nil {
		parent.children = make(map[string]*Mount)
	}
	parent.children[point] = m
	m.ns.list = append(m.ns.list, m)
}

// subtree returns m and every mount below it, parents first.
// Preconditions: vfs.mu is held.
func subtree(m *Mount) []*Mount {
	out := []*Mount{m}
	for i := 0; i < len(out); i++ {
		for _, c := range out[i].children {
			out = append(out, c)
		}
	}
	return out
}

// detachTree takes m and its subtree out of their namespace; last lists
// the filesystems no mount shows any more. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) detachTree(m *Mount) (gone []fs.Filesystem) {
	if m.parent != nil && m.parent.children[m.Point] == m {
		delete(m.parent.children, m.Point)
	}
	ns := m.ns
	drop := make(map[*Mount]bool)
	for _, d := range subtree(m) {
		drop[d] = true
	}
	if ns != nil {
		kept := ns.list[:0]
		for _, o := range ns.list {
			if !drop[o] {
				kept = append(kept, o)
			}
		}
		clear(ns.list[len(kept):])
		ns.list = kept
	}
	for d := range drop {
		d.ns = nil
		d.leaveGroup()
		d.leaveMaster()
	}
	for d := range drop {
		if !v.fsMounted(d.FS) {
			gone = append(gone, d.FS)
		}
	}
	return gone
}

// fsMounted reports whether some namespace still mounts f.
// Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) fsMounted(f fs.Filesystem) bool {
	for _, ns := range v.namespaces() {
		for _, m := range ns.list {
			if m.FS == f {
				return true
			}
		}
	}
	return false
}

// namespaces returns the live mount namespaces. Preconditions: vfs.mu
// is held.
func (v *VirtualFilesystem) namespaces() []*MountNamespace {
	out := []*MountNamespace{}
	live := v.nss[:0]
	for _, w := range v.nss {
		if ns := w.Value(); ns != nil {
			live = append(live, w)
			out = append(out, ns)
		}
	}
	v.nss = live
	return out
}

// newNamespace returns an empty namespace. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) newNamespace() *MountNamespace {
	ns := &MountNamespace{vfs: v, ino: nsfs.NewIno()}
	v.nss = append(v.nss, weak.Make(ns))
	return ns
}

// clone returns a copy of m showing the same files, not in any tree,
// with m's propagation: a peer of m if m is shared (unless private), a
// slave of m's master if m is a slave. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) clone(m *Mount, private bool) *Mount {
	c := &Mount{ID: v.nextID, FS: m.FS, Root: m.Root, Point: m.Point, Source: m.Source, FSType: m.FSType,
		RootPath: m.RootPath, Data: m.Data, vfs: v, unbindable: m.unbindable}
	v.nextID++
	c.attrs.Store(m.attrs.Load())
	c.locked, c.locks, c.fsOwner, c.sb = m.locked, m.locks, m.fsOwner, m.sb
	if !private {
		if m.group != nil {
			c.group = m.group
			m.group.peers = append(m.group.peers, c)
		}
		if m.master != nil {
			c.master = m.master
			m.master.slaves = append(m.master.slaves, c)
		}
	}
	return c
}

func removeMount(l []*Mount, m *Mount) []*Mount {
	for i, o := range l {
		if o == m {
			return append(l[:i], l[i+1:]...)
		}
	}
	return l
}

// leaveGroup takes m out of its peer group; a group left without peers
// hands its slaves to its own master (as Linux's do_make_slave).
// Preconditions: vfs.mu is held.
func (m *Mount) leaveGroup() {
	g := m.group
	if g == nil {
		return
	}
	m.group = nil
	g.peers = removeMount(g.peers, m)
	if len(g.peers) == 0 {
		var master *peerGroup
		if m.master != nil {
			master = m.master
		}
		for _, s := range g.slaves {
			s.master = master
			if master != nil {
				master.slaves = append(master.slaves, s)
			}
		}
		g.slaves = nil
	}
}

// leaveMaster stops m receiving from its master. Preconditions: vfs.mu
// is held.
func (m *Mount) leaveMaster() {
	if m.master != nil {
		m.master.slaves = removeMount(m.master.slaves, m)
		m.master = nil
	}
}

// makeShared gives m a peer group of its own if it has none.
// Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) makeShared(m *Mount) {
	if m.group == nil {
		m.group = &peerGroup{id: v.nextGroup, peers: []*Mount{m}}
		v.nextGroup++
	}
}

// Copy returns a new namespace holding a copy of ns's tree (CLONE_NEWNS),
// and moves c (the caller's context, which must not be shared) into it:
// its root and working directory become the same places in the copy.
// Shared mounts' copies are their peers; slaves' copies are slaves of the
// same master.
func (ns *MountNamespace) Copy(c *FSContext) *MountNamespace {
	v := ns.vfs
	v.mu.Lock()
	nn := v.newNamespace()
	nn.owner = ns.owner // until SetOwner
	copies := make(map[*Mount]*Mount, len(ns.list))
	for _, m := range ns.list {
		cm := v.clone(m, false)
		copies[m] = cm
		if m.parent == nil || copies[m.parent] == nil {
			cm.ns = nn
			nn.root = cm
			nn.list = append(nn.list, cm)
			continue
		}
		v.attach(cm, copies[m.parent], m.Point)
	}
	if nn.root == nil {
		// Unreachable: a namespace always has its root in its list.
		panic("vfs: mount namespace without a root")
	}
	v.mu.Unlock()

	move := func(l Location) Location {
		if cm := copies[l.Mount]; cm != nil {
			l.Mount = cm
		}
		return l
	}
	c.mu.Lock()
	c.ns = nn
	c.root, c.cwd = move(c.root), move(c.cwd)
	c.mu.Unlock()
	return nn
}

// Enter moves c (which must not be shared) into ns with its root and
// working directory at ns's root (setns(CLONE_NEWNS)).
func (ns *MountNamespace) Enter(c *FSContext) {
	root := ns.RootLocation()
	c.mu.Lock()
	c.ns, c.root, c.cwd = ns, root, root
	c.mu.Unlock()
}

// copyChildren copies src's submounts (and theirs) under dst, a copy of
// src at another point: each a peer of its source, or with slave a slave
// of its source's group (a propagation into a slave). Preconditions:
// vfs.mu is held.
func (v *VirtualFilesystem) copyChildren(src, dst *Mount, slave bool) {
	for _, ch := range src.children {
		rel, ok := relativeTo(src.Point, ch.Point)
		if !ok {
			continue
		}
		cc := v.clone(ch, slave)
		if slave && ch.group != nil {
			cc.master = ch.group
			ch.group.slaves = append(ch.group.slaves, cc)
		}
		v.attach(cc, dst, joinFS(dst.Point, rel))
		v.copyChildren(ch, cc, slave)
	}
}

// fsPathIn returns where point (a path in m's namespace, at or under
// m.Point) is inside m's filesystem.
func fsPathIn(m *Mount, point string) string {
	rel, _ := relativeTo(m.Point, point)
	return joinFS(m.RootPath, rel)
}

// pointIn returns the path in t's namespace that shows fsPath of t's
// filesystem, false if t does not show it.
func pointIn(t *Mount, fsPath string) (string, bool) {
	root := t.RootPath
	if root == "" {
		root = "/"
	}
	rel, ok := relativeTo(root, fsPath)
	if !ok {
		return "", false
	}
	return joinFS(t.Point, rel), true
}

// joinFS joins an absolute path and a "/"-rooted relative one.
func joinFS(base, rel string) string {
	if base == "" || base == "/" {
		return rel
	}
	if rel == "/" {
		return base
	}
	return base + rel
}

// propagateMount copies m, just mounted on point in parent (which is
// shared), into every peer and slave of parent that shows the same
// directory. Preconditions: vfs.mu is held; m is shared.
func (v *VirtualFilesystem) propagateMount(m, parent *Mount, point string) {
	// The whole tree m heads propagates (an rbind or a move of a tree,
	// as Linux's propagate_mnt copies it with copy_tree).
	seen := make(map[*peerGroup]bool)
	// A copy in a namespace of another user namespace than the one
	// mounting is locked (lockPropagated).
	owner := parent.ns.owner
	var spread func(g *peerGroup, src, from *Mount, point string)
	spread = func(g *peerGroup, src, from *Mount, point string) {
		if seen[g] {
			return
		}
		seen[g] = true
		fsPath := fsPathIn(from, point)
		for _, peer := range append([]*Mount(nil), g.peers...) {
			if peer == from || peer.ns == nil || peer.FS != from.FS {
				continue
			}
			if tp, ok := pointIn(peer, fsPath); ok {
				c := v.clone(src, false) // src's peer
				v.attach(c, topAt(peer, tp), tp)
				v.copyChildren(src, c, false)
				if c.ns.owner != owner {
					lockPropagated(c)
				}
			}
		}
		for _, s := range append([]*Mount(nil), g.slaves...) {
			if s.ns == nil || s.FS != from.FS {
				continue
			}
			tp, ok := pointIn(s, fsPath)
			if !ok {
				continue
			}
			c := v.clone(src, true)
			c.master = src.group
			src.group.slaves = append(src.group.slaves, c)
			v.attach(c, topAt(s, tp), tp)
			v.copyChildren(src, c, true)
			if c.ns.owner != owner {
				lockPropagated(c)
			}
			if s.group != nil {
				for _, d := range subtree(c) {
					v.makeShared(d)
				}
				spread(s.group, c, s, tp)
			}
		}
	}
	spread(parent.group, m, parent, point)
}

// propagateUnmount finds the copies of m (mounted on m.Point in m.parent,
// which is shared) in parent's peers and slaves: the mounts on the same
// directory that show the same files. Preconditions: vfs.mu is held.
func (v *VirtualFilesystem) propagateUnmount(m *Mount) []*Mount {
	var out []*Mount
	seen := make(map[*peerGroup]bool)
	var spread func(g *peerGroup, from *Mount, point string)
	spread = func(g *peerGroup, from *Mount, point string) {
		if seen[g] {
			return
		}
		seen[g] = true
		fsPath := fsPathIn(from, point)
		visit := func(t *Mount, slave bool) {
			if t == from || t.ns == nil || t.FS != from.FS {
				return
			}
			tp, ok := pointIn(t, fsPath)
			if !ok {
				return
			}
			c := t.children[tp]
			if c == nil || c.FS != m.FS || c.Root != m.Root || c.children[tp] != nil {
				return
			}
			out = append(out, c)
			if slave && t.group != nil {
				spread(t.group, t, tp)
			}
		}
		for _, p := range g.peers {
			visit(p, false)
		}
		for _, s := range g.slaves {
			visit(s, true)
		}
	}
	spread(m.parent.group, m.parent, m.Point)
	return out
}
