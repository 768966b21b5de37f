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
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"golang.org/x/sys/unix"
)

// Mount is one entry of the mount table.
type Mount struct {
	ID int
	FS fs.Filesystem
	// Root is what the mount shows at Point: its filesystem's root, or
	// for a bind mount a directory or file inside a filesystem.
	Root     fs.Node
	Point    string // canonical sandbox path of the mount point
	ReadOnly bool
	// NoExec refuses execve of the mount's files (EACCES).
	NoExec bool
	Source string // what /proc/mounts shows as the device
	// FSType is the type /proc/mounts shows ("" for the filesystem's
	// own name).
	FSType string
	// RootPath is the root field of /proc/PID/mountinfo: the path
	// inside the source a bind mount shows ("" for "/").
	RootPath string
	// Flags are per-mount flags for /proc/mounts (nosuid,nodev,...);
	// Data the filesystem's options (mode=755,size=65536k,...).
	Flags, Data string
	parent      *Mount
	vfs         *VirtualFilesystem
}

// NoSUID reports whether the mount ignores set-user-ID and set-group-ID
// bits at execve (mounted nosuid).
func (m *Mount) NoSUID() bool {
	if m == nil {
		return false
	}
	for _, o := range strings.Split(m.Flags, ",") {
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

// VirtualFilesystem is the sandbox's mount tree.
type VirtualFilesystem struct {
	mu     sync.RWMutex
	mounts map[string]*Mount // by mount point; the most recent mount wins
	list   []*Mount
	root   *Mount
	nextID int

	// writers counts write access to regular files and its denial to
	// executed ones (writeaccess.go).
	writers writeCounts
}

// NewWithRoot returns a VFS whose "/" is root and nothing else mounted.
func NewWithRoot(root fs.Filesystem, source string) *VirtualFilesystem {
	v := &VirtualFilesystem{mounts: make(map[string]*Mount)}
	v.nextID = 1
	m := &Mount{ID: v.nextID, FS: root, Root: root.Root(), Point: "/", Source: source}
	if h, ok := root.(*hostfs.FS); ok && h.ReadOnly() {
		m.ReadOnly = true
	}
	m.vfs = v
	v.nextID++
	v.root = m
	v.mounts["/"] = m
	v.list = append(v.list, m)
	return v
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
		ReadOnly: readOnly || m.ReadOnly, NoExec: m.NoExec, Source: m.Source,
		FSType: m.FSType, RootPath: path.Join("/", m.RootPath, loc.Path[len(m.Point):]),
		Flags: m.Flags, Data: m.Data, Root: loc.Node,
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

// RootLocation returns the root of the mount tree.
func (v *VirtualFilesystem) RootLocation() Location {
	return Location{Mount: v.root, Node: v.root.Root, Path: "/"}
}

// mountAt returns the mount on top of path p, or nil.
func (v *VirtualFilesystem) mountAt(p string) *Mount {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.mounts[p]
}

// LocationIn returns the location of node, the file called name in the
// root directory of the most recent mount of filesystem f: how the sentry
// names a file it opens without walking a path (TIOCGPTPEER's replica, a
// terminal installed as a program's stdio). ENOENT if f is not mounted.
func (v *VirtualFilesystem) LocationIn(f fs.Filesystem, name string, node fs.Node) (Location, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for i := len(v.list) - 1; i >= 0; i-- {
		if m := v.list[i]; m.FS == f {
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
	FSType      string
	RootPath    string
	ReadOnly    bool
	Flags, Data string
}

// Mounts returns the mount table in mount order.
func (v *VirtualFilesystem) Mounts() []MountInfo {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]MountInfo, 0, len(v.list))
	for _, m := range v.list {
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
		out = append(out, MountInfo{ID: m.ID, ParentID: pid, FS: m.FS, Source: m.Source, Point: m.Point, FSType: fstype,
			RootPath: rp, ReadOnly: m.ReadOnly, Flags: m.Flags, Data: m.Data})
	}
	return out
}

// MountsText returns /proc/mounts' contents, as seen from a process whose
// root is root (mounts outside it are hidden, points are shown relative).
func (v *VirtualFilesystem) MountsText(root string) string {
	var b strings.Builder
	for _, m := range v.visibleMounts(root) {
		opts := m.mountOptions()
		if m.Data != "" {
			opts += "," + m.Data
		}
		fmt.Fprintf(&b, "%s %s %s %s 0 0\n", escapeMount(m.Source), escapeMount(m.Point), m.FSType, opts)
	}
	return b.String()
}

// MountinfoText returns /proc/PID/mountinfo's contents for a process
// whose root is root.
func (v *VirtualFilesystem) MountinfoText(root string) string {
	var b strings.Builder
	for _, m := range v.visibleMounts(root) {
		super := "rw"
		if m.ReadOnly {
			super = "ro"
		}
		if m.Data != "" {
			super += "," + m.Data
		}
		fmt.Fprintf(&b, "%d %d 0:%d %s %s %s - %s %s %s\n", m.ID, m.ParentID, m.ID+20, escapeMount(m.RootPath),
			escapeMount(m.Point), m.mountOptions(), m.FSType, escapeMount(m.Source), super)
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
	if m.Flags != "" {
		opts += "," + m.Flags
	}
	if !strings.Contains(m.Flags, "atime") {
		opts += ",relatime"
	}
	return opts
}

// visibleMounts returns the mounts seen from root, in mount order, with
// points relative to root.
func (v *VirtualFilesystem) visibleMounts(root string) []MountInfo {
	ms := v.Mounts()
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
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
