// Package vfs is the sentry's virtual filesystem: the mount table, path
// resolution in the sandbox's namespace, open file descriptions, the
// per-process file descriptor table (FDTable) and the per-process root,
// working directory and umask (FSContext).
//
// Filesystems implement the interfaces of package sentry/fs; this package
// never touches host paths itself. Path resolution happens here, one
// component at a time through fs.Directory.Lookup: symlinks (including
// those of host files, which hostfs never follows on the host), "." and
// "..", mount points, chroot roots and /proc's magic links are all
// resolved in the sentry.
//
// Locations carry the canonical sandbox path they were reached by (every
// symlink resolved); ".." walks that path's parent from the root, so
// getcwd and /proc/PID/fd report the path a file was opened by (a rename
// of a parent directory afterwards is not reflected).
//
// Locking: VirtualFilesystem.mu protects the mount table; FDTable.mu the
// descriptor slots; FSContext.mu the root, cwd and umask;
// FileDescription's state is atomic or under dirState.mu; writeCounts.mu
// the per-file write access counts (ETXTBSY, writeaccess.go). All are leaves
// with respect to each other: none is held while calling a filesystem, so
// no vfs lock is ever held across a blocking wait. Filesystems' own locks
// come after (below) these.
package vfs

import (
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"golang.org/x/sys/unix"
)

// Mount is one entry of a mount namespace's tree.
type Mount struct {
	ID int
	FS fs.Filesystem
	// Root is what the mount shows at Point: its filesystem's root, or
	// for a bind mount a directory or file inside a filesystem.
	Root  fs.Node
	Point string // canonical path of the mount point in its namespace
	// Source is what /proc/mounts shows as the device
	Source string
	// FSType is the type /proc/mounts shows ("" for the filesystem's
	// own name).
	FSType string
	// RootPath is the root field of /proc/PID/mountinfo: the path
	// inside the source a bind mount shows ("" for "/").
	RootPath string
	// Data is the filesystem's options (mode=755,size=65536k,...).
	Data string

	// attrs are the per-mount flags that MS_REMOUNT changes (read
	// without locks: an atomic pointer to an immutable value).
	attrs atomic.Pointer[mountAttrs]

	// The tree and propagation (vfs.mu): parent is the mount this one
	// is mounted on, children the mounts directly on points inside it
	// (by Point; a mount stacked on this one's root is at Point too);
	// ns the namespace whose tree holds it (nil once unmounted); group
	// its peer group if shared, master the group it receives from if
	// a slave.
	parent     *Mount
	children   map[string]*Mount
	ns         *MountNamespace
	group      *peerGroup
	master     *peerGroup
	unbindable bool
	vfs        *VirtualFilesystem
	// locked (Linux's MNT_LOCKED) is set on the mounts of a tree copied
	// into a namespace of another user namespace: they cannot be
	// unmounted or moved, to not reveal what they cover; locks are
	// the per-mount flags such a copy may not clear (MNT_LOCK_*).
	// vfs.mu.
	locked bool
	locks  mountLocks
	// fsOwner is the user namespace of the filesystem instance (Linux's
	// s_user_ns, nil: the sandbox's first), where a remount of the
	// filesystem itself (MS_REMOUNT without MS_BIND) needs
	// CAP_SYS_ADMIN. Set when mounted, copied with the mount.
	fsOwner *auth.UserNamespace
	// sb is the superblock shared by the filesystem's mounts
	// (superblock.go); set at creation.
	sb *superblock
}

// mountAttrs are a mount's per-mount flags.
type mountAttrs struct {
	readOnly, noExec bool
	// flags are the per-mount flags /proc/mounts shows after rw/ro
	// (nosuid,nodev,...).
	flags string
}

func (m *Mount) attr() mountAttrs {
	if m == nil {
		return mountAttrs{}
	}
	if a := m.attrs.Load(); a != nil {
		return *a
	}
	return mountAttrs{}
}

// ReadOnly reports whether files are read-only through the mount: it or
// its filesystem instance is read-only (superblock.go).
func (m *Mount) ReadOnly() bool { return m.attr().readOnly || m.SuperReadOnly() }

// NoExec reports whether execve of the mount's files is refused (EACCES).
func (m *Mount) NoExec() bool { return m.attr().noExec }

// Flags returns the per-mount flags /proc/mounts shows (nosuid,nodev,...).
func (m *Mount) Flags() string { return m.attr().flags }

// FSOwner returns the user namespace of the mount's filesystem instance
// (nil: the sandbox's first).
func (m *Mount) FSOwner() *auth.UserNamespace { return m.fsOwner }

// NoSUID reports whether the mount ignores set-user-ID and set-group-ID
// bits at execve (mounted nosuid).
func (m *Mount) NoSUID() bool {
	for _, o := range strings.Split(m.Flags(), ",") {
		if o == "nosuid" {
			return true
		}
	}
	return false
}

// Parent returns the mount this one is mounted on (nil for the root and
// anonymous files).
func (m *Mount) Parent() *Mount { return m.parent }

// anonMount holds files that live in no mounted filesystem (pipes, host
// stdio, eventfds, sockets).
var anonMount = &Mount{ID: 0, Point: "", Source: "anon"}

// Location is a resolved path: a node, the mount it was reached in and
// its canonical sandbox path.
type Location struct {
	Mount *Mount
	Node  fs.Node
	Path  string
}

// MagicLink is a symlink whose target is a file rather than a path
// (/proc/PID/fd/N, exe, cwd, root): following it lands on the file itself,
// even one no path names (a pipe, a deleted file).
type MagicLink interface {
	fs.Symlink
	MagicTarget(ctx *fs.Context) (Location, error)
}

// VirtualFilesystem is the sandbox's filesystems: its mount namespaces
// (the first one, and those CLONE_NEWNS copies) and the state files share
// whichever namespace names them.
type VirtualFilesystem struct {
	// mu protects every namespace's tree: the mounts' parent, children,
	// ns and propagation fields, the namespaces' root and list, and the
	// counters below.
	mu sync.RWMutex
	// init is the namespace the sandbox's first process starts in.
	init      *MountNamespace
	nss       []weak.Pointer[MountNamespace]
	nextID    int
	nextGroup int

	// writers counts write access to regular files and its denial to
	// executed ones (writeaccess.go).
	writers writeCounts
}

// NewWithRoot returns a VFS whose "/" is root and nothing else mounted.
func NewWithRoot(root fs.Filesystem, source string) *VirtualFilesystem {
	v := &VirtualFilesystem{nextID: 1, nextGroup: 1}
	ns := v.newNamespace()
	m := v.newMount(root, root.Root(), "/", MountOptions{Source: source})
	if h, ok := root.(*hostfs.FS); ok && h.ReadOnly() {
		m.attrs.Store(&mountAttrs{readOnly: true})
		m.sb.readOnly.Store(true)
	}
	m.ns = ns
	ns.root = m
	ns.list = append(ns.list, m)
	v.init = ns
	return v
}

// newMount returns a mount of f showing root, not yet in any tree.
// Preconditions: v.mu is held, or v is being built.
func (v *VirtualFilesystem) newMount(f fs.Filesystem, root fs.Node, point string, o MountOptions) *Mount {
	src := o.Source
	if src == "" && f != nil {
		src = f.Name()
	}
	m := &Mount{ID: v.nextID, FS: f, Root: root, Point: point, Source: src, FSType: o.FSType,
		RootPath: o.RootPath, Data: o.Data, vfs: v}
	m.attrs.Store(&mountAttrs{readOnly: o.ReadOnly, noExec: o.NoExec, flags: o.Flags})
	m.fsOwner = o.Owner
	// A new filesystem mounted read-only is read-only itself; a bind
	// (o.Root) only through its mount.
	m.sb = v.superblockFor(f, o.ReadOnly && o.Root == nil)
	v.nextID++
	return m
}

// MountOptions modify Mount.
type MountOptions struct {
	ReadOnly bool
	NoExec   bool
	Source   string
	// FSType, RootPath, Flags and Data are what /proc/mounts and
	// mountinfo show (see Mount).
	FSType, RootPath string
	Flags, Data      string
	// Root, if set, is what the mount shows instead of f's root: a
	// directory or a file of f (a bind mount). A file is mounted on
	// a file, a directory on a directory.
	Root fs.Node
	// Owner is the user namespace the filesystem instance belongs to
	// (see Mount.fsOwner).
	Owner *auth.UserNamespace
}

// Mount mounts f at point (an absolute sandbox path), creating the mount
// point directory (and its parents) if it does not exist and a directory
// is mounted; a file is mounted on an existing non-directory.
func (v *VirtualFilesystem) Mount(ctx *fs.Context, point string, f fs.Filesystem, o MountOptions) error {
	if !path.IsAbs(point) {
		return unix.EINVAL
	}
	point = path.Clean(point)
	var root fs.Node = f.Root()
	if o.Root != nil {
		root = o.Root
	}
	var loc Location
	var err error
	if root.Type() == unix.S_IFDIR {
		loc, err = v.mkdirAll(ctx, point)
	} else {
		rl := v.RootLocation()
		loc, err = v.newWalker(ctx, rl).walk(rl, point, true)
	}
	if err != nil {
		return err
	}
	o.Root = root
	return v.MountOver(loc, f, o)
}

// Bind mounts what loc shows (a directory or a file) again at point,
// read-only if readOnly: runc's masked and read-only paths.
func (v *VirtualFilesystem) Bind(ctx *fs.Context, loc Location, point string, readOnly bool) error {
	m := loc.Mount
	return v.Mount(ctx, point, m.FS, MountOptions{
		ReadOnly: readOnly || m.ReadOnly(), NoExec: m.NoExec(), Source: m.Source,
		FSType: m.FSType, RootPath: path.Join("/", m.RootPath, loc.Path[len(m.Point):]),
		Flags: m.Flags(), Data: m.Data, Root: loc.Node,
	})
}

// mkdirAll resolves p from the root, creating missing directories.
func (v *VirtualFilesystem) mkdirAll(ctx *fs.Context, p string) (Location, error) {
	root := v.RootLocation()
	w := v.newWalker(ctx, root)
	loc, err := w.walk(root, p, true)
	if err == nil {
		return loc, nil
	}
	if err != unix.ENOENT || p == "/" {
		return Location{}, err
	}
	parent, err := v.mkdirAll(ctx, path.Dir(p))
	if err != nil {
		return Location{}, err
	}
	dw, ok := parent.Node.(fs.DirectoryWriter)
	if !ok {
		return Location{}, unix.EACCES
	}
	if err := dw.Mkdir(ctx, path.Base(p), 0755); err != nil && err != unix.EEXIST {
		return Location{}, err
	}
	w = v.newWalker(ctx, root)
	return w.walk(root, p, true)
}

// RootLocation returns the root of the first mount namespace.
func (v *VirtualFilesystem) RootLocation() Location { return v.init.RootLocation() }

// InitNamespace returns the mount namespace the sandbox starts in.
func (v *VirtualFilesystem) InitNamespace() *MountNamespace { return v.init }

// LocationIn is the first namespace's MountNamespace.LocationIn.
func (v *VirtualFilesystem) LocationIn(f fs.Filesystem, name string, node fs.Node) (Location, error) {
	return v.init.LocationIn(f, name, node)
}

// Mounts is the first namespace's MountNamespace.Mounts.
func (v *VirtualFilesystem) Mounts() []MountInfo { return v.init.Mounts() }

// MountsText is the first namespace's MountNamespace.MountsText.
func (v *VirtualFilesystem) MountsText(root string) string { return v.init.MountsText(root) }

// MountinfoText is the first namespace's MountNamespace.MountinfoText.
func (v *VirtualFilesystem) MountinfoText(root string) string { return v.init.MountinfoText(root) }

// relativeTo returns p as seen from a process whose root is root.
func relativeTo(root, p string) (string, bool) {
	if root == "/" {
		return p, true
	}
	if p == root {
		return "/", true
	}
	if strings.HasPrefix(p, root+"/") {
		return p[len(root):], true
	}
	return "", false
}

func escapeMount(s string) string {
	r := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`)
	return r.Replace(s)
}
