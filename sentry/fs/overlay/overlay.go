// Package overlay stacks a writable in-memory layer (a tmpfs) on a
// read-only lower filesystem (the host root, through hostfs): the
// sandbox's root filesystem. Nothing written inside ever reaches the lower
// layer.
//
//   - Reads of untouched files go to the lower layer.
//   - The first change to a lower file (open for writing, truncate, chmod,
//     chown, utimes, rename, link) copies it up: its parents are created in
//     the upper layer, then the file itself with its data and attributes,
//     keeping the lower file's device and inode numbers.
//   - Removing an entry that exists below records a whiteout in the parent
//     directory, which hides the lower entry from lookups and listings.
//   - Directory listings merge the upper entries with the lower ones that
//     are neither shadowed nor whited out.
//
// Directory nodes are kept for the filesystem's life (so a renamed
// directory keeps reading its lower contents from its original place, and
// whiteouts live in memory with them); nodes of lower-only files are made
// on each lookup.
//
// Locking: FS.mu is taken for writing by every change to the tree (copy-up,
// create, remove, rename) and for reading by lookups and listings, so a
// lookup never sees half a change. Node.mu protects a node's fields
// (children cache, whiteouts, upper, parent and name). Lock order: FS.mu,
// then one Node.mu at a time, then tmpfs's locks. No wait on a wait queue
// happens with any of them held.
package overlay

import (
	"sort"
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// OverlayfsMagic is overlayfs's statfs f_type.
const OverlayfsMagic = 0x794c7630

// FS is an overlay of an in-memory upper layer on a lower filesystem.
type FS struct {
	lower fs.Filesystem
	upper *tmpfs.FS
	root  *Node

	mu sync.RWMutex
}

// New returns an overlay on lower with an empty in-memory upper layer.
func New(lower fs.Filesystem) (*FS, error) {
	lroot := lower.Root()
	st, err := lroot.Stat(fs.Background)
	if err != nil {
		return nil, err
	}
	f := &FS{lower: lower, upper: tmpfs.New(uint32(st.Mode)&07777, st.UID, st.GID)}
	f.upper.SetUpperLayer()
	u := f.upper.RootInode()
	u.CopyAttrs(&st)
	u.SetIdentity(st.DevMajor, st.DevMinor, st.Ino)
	f.root = &Node{fs: f, typ: unix.S_IFDIR, lower: lroot, upper: u}
	f.root.parent = f.root
	return f, nil
}

// Root implements fs.Filesystem.
func (f *FS) Root() fs.Directory { return f.root }

// Name implements fs.Filesystem.
func (f *FS) Name() string { return "overlay" }

// Statfs implements fs.Filesystem: the lower layer's numbers, writable.
func (f *FS) Statfs(ctx *fs.Context) (linux.Statfs, error) {
	st, err := f.lower.Statfs(ctx)
	if err != nil {
		return st, err
	}
	st.Type = OverlayfsMagic
	st.Flags &^= linux.ST_RDONLY
	return st, nil
}

// Node is a file of the overlay.
type Node struct {
	fs  *FS
	typ uint32

	mu        sync.Mutex
	parent    *Node
	name      string
	lower     fs.Node      // nil: upper only
	upper     *tmpfs.Inode // nil: not copied up
	children  map[string]*Node
	whiteouts map[string]bool
	dead      bool // removed directory
}

// Type implements fs.Node.
func (n *Node) Type() uint32 { return n.typ }

func (n *Node) layers() (fs.Node, *tmpfs.Inode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lower, n.upper
}

// Upper returns the node's upper inode, or nil if it was not copied up.
func (n *Node) Upper() *tmpfs.Inode {
	_, u := n.layers()
	return u
}

// Stat implements fs.Node.
func (n *Node) Stat(ctx *fs.Context) (linux.Statx, error) {
	l, u := n.layers()
	if u != nil {
		return u.Stat(ctx)
	}
	return l.Stat(ctx)
}

// LookupAttrs implements fs.LookupAttrs: the upper inode's attributes
// once copied up, else the lower node's as its lookup saw them (a lower
// directory node lives as long as the overlay, so a host change to its
// mode after the first lookup is not seen by the walk's checks — as
// changes to cached host file pages are not).
func (n *Node) LookupAttrs() (mode, uid, gid uint32, ok bool) {
	l, u := n.layers()
	if u != nil {
		return u.LookupAttrs()
	}
	if la, isLA := l.(fs.LookupAttrs); isLA {
		return la.LookupAttrs()
	}
	return 0, 0, 0, false
}

// Readlink implements fs.Symlink.
func (n *Node) Readlink(ctx *fs.Context) (string, error) {
	l, u := n.layers()
	if u != nil {
		return u.Readlink(ctx)
	}
	if s, ok := l.(fs.Symlink); ok {
		return s.Readlink(ctx)
	}
	return "", unix.EINVAL
}

// Lookup implements fs.Directory.
func (n *Node) Lookup(ctx *fs.Context, name string) (fs.Node, error) {
	n.fs.mu.RLock()
	defer n.fs.mu.RUnlock()
	c, err := n.lookupLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lookupLocked finds name in directory n. Preconditions: fs.mu is held
// (for reading or writing).
func (n *Node) lookupLocked(ctx *fs.Context, name string) (*Node, error) {
	if n.typ != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	if err := fs.ValidName(name); err != nil {
		return nil, err
	}
	n.mu.Lock()
	if n.dead {
		n.mu.Unlock()
		return nil, unix.ENOENT
	}
	if c := n.children[name]; c != nil {
		n.mu.Unlock()
		return c, nil
	}
	if n.upper != nil {
		if u := n.upper.Child(name); u != nil {
			c := &Node{fs: n.fs, typ: u.Type(), parent: n, name: name, upper: u}
			if c.typ == unix.S_IFDIR {
				n.cacheLocked(name, c)
			}
			n.mu.Unlock()
			return c, nil
		}
	}
	lower := n.lower
	if n.whiteouts[name] || lower == nil {
		n.mu.Unlock()
		return nil, unix.ENOENT
	}
	n.mu.Unlock()
	ld, ok := lower.(fs.Directory)
	if !ok {
		return nil, unix.ENOENT
	}
	ln, err := ld.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	c := &Node{fs: n.fs, typ: ln.Type(), parent: n, name: name, lower: ln}
	if c.typ == unix.S_IFDIR {
		n.mu.Lock()
		if old := n.children[name]; old != nil {
			// A concurrent lookup cached it first.
			c = old
		} else {
			n.cacheLocked(name, c)
		}
		n.mu.Unlock()
	}
	return c, nil
}

// cacheLocked remembers child c. Preconditions: n.mu is held.
func (n *Node) cacheLocked(name string, c *Node) {
	if n.children == nil {
		n.children = make(map[string]*Node)
	}
	n.children[name] = c
}

// Readdir implements fs.Directory: upper entries, then the lower entries
// they do not shadow and that are not whited out.
func (n *Node) Readdir(ctx *fs.Context) ([]fs.Dirent, error) {
	n.fs.mu.RLock()
	defer n.fs.mu.RUnlock()
	return n.readdirLocked(ctx)
}

func (n *Node) readdirLocked(ctx *fs.Context) ([]fs.Dirent, error) {
	if n.typ != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	n.mu.Lock()
	if n.dead {
		n.mu.Unlock()
		return nil, unix.ENOENT
	}
	lower, upper := n.lower, n.upper
	whiteouts := make(map[string]bool, len(n.whiteouts))
	for k := range n.whiteouts {
		whiteouts[k] = true
	}
	n.mu.Unlock()
	var out []fs.Dirent
	seen := make(map[string]bool)
	if upper != nil {
		for _, e := range upper.Entries() {
			out = append(out, e)
			seen[e.Name] = true
		}
	}
	if ld, ok := lower.(fs.Directory); ok && lower != nil {
		les, err := ld.Readdir(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range les {
			if !seen[e.Name] && !whiteouts[e.Name] {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// Open implements fs.Node. Opening for writing (or with O_TRUNC) copies
// the file up first; a read-only open of an untouched file reads the lower
// file.
func (n *Node) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	l, u := n.layers()
	if u == nil && (flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0) && n.typ == unix.S_IFREG {
		n.fs.mu.Lock()
		err := n.copyUpLocked(ctx, flags&unix.O_TRUNC != 0)
		n.fs.mu.Unlock()
		if err != nil {
			return nil, err
		}
		l, u = n.layers()
	}
	if u != nil {
		return u.Open(ctx, flags)
	}
	lf, err := l.Open(ctx, flags)
	if err != nil || n.typ != unix.S_IFREG {
		return lf, err
	}
	return newLowerFile(n, lf), nil
}

// SetStat implements fs.Attributer: copy up, then change the copy.
func (n *Node) SetStat(ctx *fs.Context, s fs.SetStat) error {
	n.fs.mu.Lock()
	trunc := s.Mask&linux.STATX_SIZE != 0 && s.Size == 0
	err := n.copyUpLocked(ctx, trunc)
	n.fs.mu.Unlock()
	if err != nil {
		return err
	}
	return n.Upper().SetStat(ctx, s)
}

// copyUpLocked gives n an upper inode, copying its parents, attributes
// and (unless truncate) data. Preconditions: fs.mu is held for writing.
func (n *Node) copyUpLocked(ctx *fs.Context, truncate bool) error {
	n.mu.Lock()
	if n.upper != nil {
		n.mu.Unlock()
		return nil
	}
	if n.dead {
		n.mu.Unlock()
		return unix.ENOENT
	}
	p, name, lower := n.parent, n.name, n.lower
	n.mu.Unlock()
	if err := p.copyUpLocked(ctx, false); err != nil {
		return err
	}
	pu := p.Upper()
	if existing := pu.Child(name); existing != nil {
		// Another node for the same entry was copied up already.
		n.mu.Lock()
		n.upper = existing
		n.mu.Unlock()
		return nil
	}
	st, err := lower.Stat(ctx)
	if err != nil {
		return err
	}
	up := n.fs.upper
	var u *tmpfs.Inode
	switch n.typ {
	case unix.S_IFDIR:
		u = up.NewInode(unix.S_IFDIR|uint32(st.Mode)&07777, st.UID, st.GID)
	case unix.S_IFLNK:
		target, err := lower.(fs.Symlink).Readlink(ctx)
		if err != nil {
			return err
		}
		u = up.NewSymlink(target, st.UID, st.GID)
	case unix.S_IFREG:
		u = up.NewInode(unix.S_IFREG|uint32(st.Mode)&07777, st.UID, st.GID)
		if !truncate {
			if err := copyData(ctx, lower, u); err != nil {
				return err
			}
		}
	default:
		u = up.NewInode(uint32(st.Mode), st.UID, st.GID)
	}
	if truncate && n.typ == unix.S_IFREG {
		now := fs.Now()
		st.Mtime, st.Ctime = now, now
	}
	u.CopyAttrs(&st)
	u.SetIdentity(st.DevMajor, st.DevMinor, st.Ino)
	copyXattrs(ctx, lower, u)
	if err := pu.Attach(name, u); err != nil {
		return err
	}
	n.mu.Lock()
	n.upper = u
	n.mu.Unlock()
	return nil
}

// copyData copies a lower regular file's contents into u.
func copyData(ctx *fs.Context, lower fs.Node, u *tmpfs.Inode) error {
	f, err := lower.Open(ctx, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer f.Release()
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := f.ReadAt(ctx, buf, off)
		if n > 0 {
			u.WriteAt(buf[:n], off)
			off += int64(n)
		}
		if err != nil {
			return err
		}
		if n < len(buf) {
			return nil
		}
	}
}

// prepareDirLocked checks that n is a live directory and copies it up
// for a change. Preconditions: fs.mu is held for writing.
func (n *Node) prepareDirLocked(ctx *fs.Context) (*tmpfs.Inode, error) {
	if n.typ != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	if err := n.copyUpLocked(ctx, false); err != nil {
		return nil, err
	}
	return n.Upper(), nil
}

// Create implements fs.DirectoryWriter.
func (n *Node) Create(ctx *fs.Context, name string, mode uint32, flags uint32) (fs.Node, fs.File, error) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if _, err := n.lookupLocked(ctx, name); err == nil {
		return nil, nil, unix.EEXIST
	} else if err != unix.ENOENT {
		return nil, nil, err
	}
	u, err := n.prepareDirLocked(ctx)
	if err != nil {
		return nil, nil, err
	}
	un, f, err := u.Create(ctx, name, mode, flags)
	if err != nil {
		return nil, nil, err
	}
	return &Node{fs: n.fs, typ: unix.S_IFREG, parent: n, name: name, upper: un.(*tmpfs.Inode)}, f, nil
}

// CreateTmpfile implements fs.TmpfileCreator: the unnamed file is an
// unlinked file of the upper layer (the directory is copied up, as
// overlayfs's ovl_tmpfile does).
func (n *Node) CreateTmpfile(ctx *fs.Context, mode uint32, flags uint32, linkable bool) (fs.Node, fs.File, error) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	u, err := n.prepareDirLocked(ctx)
	if err != nil {
		return nil, nil, err
	}
	un, f, err := u.CreateTmpfile(ctx, mode, flags, linkable)
	if err != nil {
		return nil, nil, err
	}
	return &Node{fs: n.fs, typ: unix.S_IFREG, parent: n, upper: un.(*tmpfs.Inode)}, f, nil
}

// copyXattrs copies the lower file's extended attributes of the
// namespaces the upper layer keeps into it (a copy-up, as ovl_copy_xattr).
func copyXattrs(ctx *fs.Context, lower fs.Node, u *tmpfs.Inode) {
	lx, ok := lower.(fs.Xattrer)
	if !ok {
		return
	}
	names, err := lx.ListXattr(ctx)
	if err != nil {
		return
	}
	for _, name := range names {
		if v, err := lx.GetXattr(ctx, name); err == nil {
			u.SetXattr(ctx, name, v, 0)
		}
	}
}

// xattrLayer returns the layer whose extended attributes n shows: the
// upper once copied up, else the lower (nil if it keeps none).
func (n *Node) xattrLayer() fs.Xattrer {
	lower, upper := n.layers()
	if upper != nil {
		return upper
	}
	if x, ok := lower.(fs.Xattrer); ok {
		return x
	}
	return nil
}

// GetXattr implements fs.Xattrer.
func (n *Node) GetXattr(ctx *fs.Context, name string) ([]byte, error) {
	x := n.xattrLayer()
	if x == nil {
		return nil, unix.ENODATA
	}
	return x.GetXattr(ctx, name)
}

// ListXattr implements fs.Xattrer.
func (n *Node) ListXattr(ctx *fs.Context) ([]string, error) {
	x := n.xattrLayer()
	if x == nil {
		return nil, nil
	}
	return x.ListXattr(ctx)
}

// SetXattr implements fs.Xattrer: the file is copied up first.
func (n *Node) SetXattr(ctx *fs.Context, name string, value []byte, flags uint32) error {
	u, err := n.upperForXattr(ctx)
	if err != nil {
		return err
	}
	return u.SetXattr(ctx, name, value, flags)
}

// RemoveXattr implements fs.Xattrer: the file is copied up first.
func (n *Node) RemoveXattr(ctx *fs.Context, name string) error {
	u, err := n.upperForXattr(ctx)
	if err != nil {
		return err
	}
	return u.RemoveXattr(ctx, name)
}

func (n *Node) upperForXattr(ctx *fs.Context) (*tmpfs.Inode, error) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if err := n.copyUpLocked(ctx, false); err != nil {
		return nil, err
	}
	return n.Upper(), nil
}

// create runs mk in the upper directory after checking name is free.
func (n *Node) create(ctx *fs.Context, name string, mk func(u *tmpfs.Inode) error) error {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if _, err := n.lookupLocked(ctx, name); err == nil {
		return unix.EEXIST
	} else if err != unix.ENOENT {
		return err
	}
	u, err := n.prepareDirLocked(ctx)
	if err != nil {
		return err
	}
	if err := mk(u); err != nil {
		return err
	}
	if c := u.Child(name); c != nil && c.IsDir() {
		n.mu.Lock()
		n.cacheLocked(name, &Node{fs: n.fs, typ: unix.S_IFDIR, parent: n, name: name, upper: c})
		n.mu.Unlock()
	}
	return nil
}

// Mkdir implements fs.DirectoryWriter.
func (n *Node) Mkdir(ctx *fs.Context, name string, mode uint32) error {
	return n.create(ctx, name, func(u *tmpfs.Inode) error { return u.Mkdir(ctx, name, mode) })
}

// Mknod implements fs.DirectoryWriter.
func (n *Node) Mknod(ctx *fs.Context, name string, mode uint32, dev uint32) error {
	return n.create(ctx, name, func(u *tmpfs.Inode) error { return u.Mknod(ctx, name, mode, dev) })
}

// Symlink implements fs.DirectoryWriter.
func (n *Node) Symlink(ctx *fs.Context, name string, target string) error {
	return n.create(ctx, name, func(u *tmpfs.Inode) error { return u.Symlink(ctx, name, target) })
}

// Link implements fs.DirectoryWriter.
func (n *Node) Link(ctx *fs.Context, name string, target fs.Node) error {
	t, ok := target.(*Node)
	if !ok || t.fs != n.fs {
		return unix.EXDEV
	}
	if t.typ == unix.S_IFDIR {
		return unix.EPERM
	}
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if err := t.copyUpLocked(ctx, false); err != nil {
		return err
	}
	if _, err := n.lookupLocked(ctx, name); err == nil {
		return unix.EEXIST
	} else if err != unix.ENOENT {
		return err
	}
	u, err := n.prepareDirLocked(ctx)
	if err != nil {
		return err
	}
	return u.Link(ctx, name, t.Upper())
}

// removeLocked takes name out of directory n: the upper entry goes, and a
// whiteout hides any lower one. Preconditions: fs.mu held for writing; n
// was copied up.
func (n *Node) removeLocked(name string, c *Node) {
	if u := n.Upper(); u != nil && u.Child(name) != nil {
		u.Remove(name)
	}
	n.mu.Lock()
	if n.lower != nil {
		if n.whiteouts == nil {
			n.whiteouts = make(map[string]bool)
		}
		n.whiteouts[name] = true
		n.upper.SetStat(fs.Background, fs.SetStat{Mask: linux.STATX_MTIME, Mtime: fs.Now()})
	}
	delete(n.children, name)
	n.mu.Unlock()
	if c != nil && c.typ == unix.S_IFDIR {
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
	}
}

// Unlink implements fs.DirectoryWriter.
func (n *Node) Unlink(ctx *fs.Context, name string) error {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	c, err := n.lookupLocked(ctx, name)
	if err != nil {
		return err
	}
	if c.typ == unix.S_IFDIR {
		return unix.EISDIR
	}
	if _, err := n.prepareDirLocked(ctx); err != nil {
		return err
	}
	n.removeLocked(name, c)
	return nil
}

// Rmdir implements fs.DirectoryWriter.
func (n *Node) Rmdir(ctx *fs.Context, name string) error {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	c, err := n.lookupLocked(ctx, name)
	if err != nil {
		return err
	}
	if c.typ != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	ents, err := c.readdirLocked(ctx)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return unix.ENOTEMPTY
	}
	if _, err := n.prepareDirLocked(ctx); err != nil {
		return err
	}
	n.removeLocked(name, c)
	return nil
}

// Rename implements fs.DirectoryWriter.
func (n *Node) Rename(ctx *fs.Context, oldName string, newDir fs.Directory, newName string, flags uint32) error {
	nd, ok := newDir.(*Node)
	if !ok || nd.fs != n.fs {
		return unix.EXDEV
	}
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return unix.EINVAL
	}
	f := n.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	src, err := n.lookupLocked(ctx, oldName)
	if err != nil {
		return err
	}
	dst, err := nd.lookupLocked(ctx, newName)
	if err != nil && err != unix.ENOENT {
		return err
	}
	if n == nd && oldName == newName {
		return nil
	}
	if flags&unix.RENAME_EXCHANGE != 0 && dst == nil {
		return unix.ENOENT
	}
	if flags&unix.RENAME_NOREPLACE != 0 && dst != nil {
		return unix.EEXIST
	}
	// A directory cannot move below itself.
	for _, pair := range [][2]*Node{{src, nd}, {dst, n}} {
		moving, into := pair[0], pair[1]
		if moving == nil || moving.typ != unix.S_IFDIR || (moving == dst && flags&unix.RENAME_EXCHANGE == 0) {
			continue
		}
		for a := into; ; {
			if a == moving {
				return unix.EINVAL
			}
			a.mu.Lock()
			next := a.parent
			a.mu.Unlock()
			if next == a || next == nil {
				break
			}
			a = next
		}
	}
	if dst != nil && flags&unix.RENAME_EXCHANGE == 0 {
		if src.typ == unix.S_IFDIR {
			if dst.typ != unix.S_IFDIR {
				return unix.ENOTDIR
			}
			ents, err := dst.readdirLocked(ctx)
			if err != nil {
				return err
			}
			if len(ents) > 0 {
				return unix.ENOTEMPTY
			}
		} else if dst.typ == unix.S_IFDIR {
			return unix.EISDIR
		}
	}
	if err := src.copyUpLocked(ctx, false); err != nil {
		return err
	}
	if _, err := nd.prepareDirLocked(ctx); err != nil {
		return err
	}
	if dst != nil {
		if err := dst.copyUpLocked(ctx, false); err != nil {
			return err
		}
	}
	ou, nu := n.Upper(), nd.Upper()
	f.upper.LockTree()
	err = tmpfs.RenameLocked(ou, oldName, nu, newName, flags)
	f.upper.UnlockTree()
	if err != nil {
		return err
	}
	// Fix the node cache and whiteouts.
	n.mu.Lock()
	delete(n.children, oldName)
	if flags&unix.RENAME_EXCHANGE == 0 && n.lower != nil {
		if n.whiteouts == nil {
			n.whiteouts = make(map[string]bool)
		}
		n.whiteouts[oldName] = true
	}
	n.mu.Unlock()
	nd.mu.Lock()
	delete(nd.children, newName)
	nd.mu.Unlock()
	move := func(c *Node, to *Node, name string) {
		c.mu.Lock()
		c.parent, c.name = to, name
		c.mu.Unlock()
		if c.typ == unix.S_IFDIR {
			to.mu.Lock()
			to.cacheLocked(name, c)
			to.mu.Unlock()
		}
	}
	move(src, nd, newName)
	if dst != nil {
		if flags&unix.RENAME_EXCHANGE != 0 {
			move(dst, n, oldName)
		} else if dst.typ == unix.S_IFDIR {
			dst.mu.Lock()
			dst.dead = true
			dst.mu.Unlock()
		}
	}
	return nil
}

// currentUpper returns the upper inode of n's entry if the file was copied
// up, through n or through another node of the same entry.
func (n *Node) currentUpper() *tmpfs.Inode {
	n.mu.Lock()
	u, p, name := n.upper, n.parent, n.name
	n.mu.Unlock()
	if u != nil || p == nil || p == n {
		return u
	}
	pu := p.Upper()
	if pu == nil {
		return nil
	}
	if c := pu.Child(name); c != nil && c.Type() == unix.S_IFREG {
		n.mu.Lock()
		if n.upper == nil {
			n.upper = c
		}
		u = n.upper
		n.mu.Unlock()
		return u
	}
	return nil
}

// lowerFile is a read-only open of a file that had not been copied up.
// Like Linux's overlayfs, once the file is copied up (through any path)
// reads and mappings see the copy.
type lowerFile struct {
	fs.PositionalFile
	n     *Node
	lower fs.File
}

func newLowerFile(n *Node, lower fs.File) *lowerFile {
	f := &lowerFile{n: n, lower: lower}
	f.PositionalFile.Data = lowerData{f}
	return f
}

// Release implements fs.File.
func (f *lowerFile) Release() { f.lower.Release() }

// Stat implements fs.Statter.
func (f *lowerFile) Stat(ctx *fs.Context) (linux.Statx, error) {
	if u := f.n.currentUpper(); u != nil {
		return u.Stat(ctx)
	}
	if s, ok := f.lower.(fs.Statter); ok {
		return s.Stat(ctx)
	}
	return f.n.Stat(ctx)
}

// Mappable implements fs.Mapper.
func (f *lowerFile) Mappable() (mm.Mappable, error) {
	lm, ok := f.lower.(fs.Mapper)
	if !ok {
		return nil, unix.ENODEV
	}
	m, err := lm.Mappable()
	if err != nil {
		return nil, err
	}
	return &lowerMappable{n: f.n, lower: m}, nil
}

type lowerData struct{ f *lowerFile }

func (d lowerData) ReadAt(ctx *fs.Context, dst []byte, off int64) (int, error) {
	if u := d.f.n.currentUpper(); u != nil {
		return u.ReadAt(dst, off)
	}
	return d.f.lower.ReadAt(ctx, dst, off)
}

func (d lowerData) WriteAt(ctx *fs.Context, src []byte, off int64) (int, error) {
	return 0, unix.EBADF
}

func (d lowerData) Size(ctx *fs.Context) (int64, error) {
	st, err := d.f.Stat(ctx)
	return int64(st.Size), err
}

// lowerMappable maps a lower file, or its copy once it was copied up.
type lowerMappable struct {
	n     *Node
	lower mm.Mappable
}

// ReadAt implements mm.Mappable.
func (m *lowerMappable) ReadAt(p []byte, off int64) (int, error) {
	if u := m.n.currentUpper(); u != nil {
		return u.ReadAt(p, off)
	}
	return m.lower.ReadAt(p, off)
}

// WriteAt implements mm.Mappable: a read-only open cannot be mapped
// shared and writable, but a copy made since can be written.
func (m *lowerMappable) WriteAt(p []byte, off int64) (int, error) {
	if u := m.n.currentUpper(); u != nil {
		return tmpfs.Mappable{}.WriteAtInode(u, p, off)
	}
	return 0, nil
}

// MappingIdentity implements mm.Mappable: the lower file's, which its
// copy keeps.
func (m *lowerMappable) MappingIdentity() (uint64, uint64, string) { return m.lower.MappingIdentity() }

// FileKey implements fs.Identified: the copy's once copied up (which
// keeps the lower file's), else the lower node's.
func (n *Node) FileKey() (fs.FileKey, bool) {
	l, u := n.layers()
	if u != nil {
		return u.FileKey()
	}
	if id, ok := l.(fs.Identified); ok {
		return id.FileKey()
	}
	return fs.FileKey{}, false
}

// FileKey implements fs.Identified: the lower file's (its copy keeps it).
func (f *lowerFile) FileKey() (fs.FileKey, bool) {
	if id, ok := f.lower.(fs.Identified); ok {
		return id.FileKey()
	}
	return fs.FileKey{}, false
}
