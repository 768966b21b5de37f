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
	"github.com/runsc-lite/runsc-lite/sentry/fs/devfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devpts"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/overlay"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"golang.org/x/sys/unix"
)

// Volume is a host directory bound into the sandbox (--volume).
type Volume struct {
	// HostPath is the host directory.
	HostPath string
	// SandboxPath is where it appears in the sandbox; it is created as
	// a directory in the root's upper layer if missing.
	SandboxPath string
	// ReadOnly refuses writes with EROFS.
	ReadOnly bool
	// HostFD, if not 0, is a descriptor of the host directory opened by
	// the launcher (sentry/sandbox), used instead of opening HostPath;
	// the filesystem takes it over.
	HostFD int
	// Owners maps the sandbox's user and group IDs to host owners for
	// what the sandbox creates or chowns in the volume (OCI
	// uidMappings/gidMappings); nil keeps the default rule, the sentry's
	// own identity on the host (hostfs/owner.go).
	Owners *hostfs.IDMap `json:",omitempty"`
}

// Options configure New.
type Options struct {
	// Root is the host directory that becomes the sandbox's "/" (read
	// only, under an in-memory writable layer). Default "/".
	Root string
	// RootFD, if not 0, is a descriptor of Root opened by the launcher,
	// used instead of opening Root; the filesystem takes it over.
	RootFD int
	// Volumes are bound after /dev.
	Volumes []Volume
	// PTS is the sandbox's devpts, mounted on /dev/pts (nil: an empty
	// directory, and /dev/ptmx fails).
	PTS *devpts.Filesystem
	// TTYHostFD is a host terminal /dev/tty opens when the sandbox has
	// no terminal of its own (see devfs.Options); -1 for none. The zero
	// value means: the sentry's stdin if it is a terminal.
	TTYHostFD *int
	// FDCloser, if set, closes the host descriptors of released host
	// files (deferred close on a workqueue).
	FDCloser hostfs.FDCloser
}

// Mount is one entry of the mount table.
type Mount struct {
	ID       int
	FS       fs.Filesystem
	Root     fs.Directory
	Point    string // canonical sandbox path of the mount point
	ReadOnly bool
	Source   string // what /proc/mounts shows as the device
	Options  string // extra options for /proc/mounts
	parent   *Mount
	vfs      *VirtualFilesystem
}

// NoSUID reports whether the mount ignores set-user-ID and set-group-ID
// bits at execve (mounted nosuid).
func (m *Mount) NoSUID() bool {
	if m == nil {
		return false
	}
	for _, o := range strings.Split(m.Options, ",") {
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

// New builds the sandbox's filesystem: "/" is opts.Root (read-only) under
// an in-memory writable layer, /dev is a devfs with a tmpfs on /dev/shm,
// and each volume is bound at its path. /proc is mounted by the caller
// (package procfs needs the sandbox): v.Mount("/proc", procfs.New(s), ...).
func New(opts Options) (*VirtualFilesystem, error) {
	rootDir := opts.Root
	if rootDir == "" {
		rootDir = "/"
	}
	lower, err := openHostDir(rootDir, opts.RootFD, true)
	if err != nil {
		return nil, fmt.Errorf("root %q: %w", rootDir, err)
	}
	if opts.FDCloser != nil {
		lower.SetFDCloser(opts.FDCloser)
	}
	ov, err := overlay.New(lower)
	if err != nil {
		return nil, fmt.Errorf("root %q: %w", rootDir, err)
	}
	v := NewWithRoot(ov, "overlay")
	ttyFD := -1
	if opts.TTYHostFD != nil {
		ttyFD = *opts.TTYHostFD
	} else if tty.IsTerminal(0) {
		ttyFD = 0
	}
	if err := v.Mount(fs.Background, "/dev", devfs.New(devfs.Options{PTS: opts.PTS, TTYHostFD: ttyFD}), MountOptions{Source: "devtmpfs", Options: "mode=755"}); err != nil {
		return nil, fmt.Errorf("mount /dev: %w", err)
	}
	if opts.PTS != nil {
		if err := v.Mount(fs.Background, "/dev/pts", opts.PTS, MountOptions{Source: "devpts", Options: opts.PTS.MountOptions()}); err != nil {
			return nil, fmt.Errorf("mount /dev/pts: %w", err)
		}
	}
	if err := v.Mount(fs.Background, "/dev/shm", tmpfs.New(01777, 0, 0), MountOptions{Source: "shm"}); err != nil {
		return nil, fmt.Errorf("mount /dev/shm: %w", err)
	}
	for _, vol := range opts.Volumes {
		hf, err := openHostDir(vol.HostPath, vol.HostFD, vol.ReadOnly)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.HostPath, err)
		}
		if opts.FDCloser != nil {
			hf.SetFDCloser(opts.FDCloser)
		}
		if vol.Owners != nil {
			hf.SetOwnerMap(vol.Owners)
		}
		if err := v.Mount(fs.Background, vol.SandboxPath, hf, MountOptions{ReadOnly: vol.ReadOnly, Source: vol.HostPath}); err != nil {
			return nil, fmt.Errorf("volume %q at %q: %w", vol.HostPath, vol.SandboxPath, err)
		}
	}
	return v, nil
}

// openHostDir returns the hostfs of hostDir: through fd when the launcher
// opened it, by name otherwise.
func openHostDir(hostDir string, fd int, readOnly bool) (*hostfs.FS, error) {
	if fd != 0 {
		return hostfs.FromFD(fd, hostDir, readOnly), nil
	}
	return hostfs.New(hostDir, readOnly)
}

// NewWithRoot returns a VFS whose "/" is root and nothing else mounted.
func NewWithRoot(root fs.Filesystem, source string) *VirtualFilesystem {
	v := &VirtualFilesystem{mounts: make(map[string]*Mount)}
	v.nextID = 1
	m := &Mount{ID: v.nextID, FS: root, Root: root.Root(), Point: "/", Source: source}
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
	Source   string
	Options  string
}

// Mount mounts f at point (an absolute sandbox path), creating the mount
// point directory (and its parents) if it does not exist.
func (v *VirtualFilesystem) Mount(ctx *fs.Context, point string, f fs.Filesystem, o MountOptions) error {
	if !path.IsAbs(point) {
		return unix.EINVAL
	}
	point = path.Clean(point)
	loc, err := v.mkdirAll(ctx, point)
	if err != nil {
		return err
	}
	return v.MountOver(loc, f, f.Root(), o)
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
	Source       string
	Point        string
	FSType       string
	ReadOnly     bool
	Options      string
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
		out = append(out, MountInfo{ID: m.ID, ParentID: pid, Source: m.Source, Point: m.Point, FSType: m.FS.Name(), ReadOnly: m.ReadOnly, Options: m.Options})
	}
	return out
}

// MountsText returns /proc/mounts' contents, as seen from a process whose
// root is root (mounts outside it are hidden, points are shown relative).
func (v *VirtualFilesystem) MountsText(root string) string {
	var b strings.Builder
	ms := v.Mounts()
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	for _, m := range ms {
		p, ok := relativeTo(root, m.Point)
		if !ok {
			continue
		}
		opts := "rw"
		if m.ReadOnly {
			opts = "ro"
		}
		if m.FSType != "hostfs" {
			opts += ",relatime"
		}
		if m.Options != "" {
			opts += "," + m.Options
		}
		fstype := m.FSType
		if fstype == "hostfs" {
			fstype = "9p" // what gVisor shows for host-backed mounts
		}
		fmt.Fprintf(&b, "%s %s %s %s 0 0\n", escapeMount(m.Source), escapeMount(p), fstype, opts)
	}
	return b.String()
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
