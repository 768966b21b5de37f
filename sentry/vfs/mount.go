package vfs

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"golang.org/x/sys/unix"
)

// The mount table's changes made by the sandbox's programs (mount(2) and
// umount2(2)). The sandbox has one mount namespace: mounts are visible to
// every process, and there is no propagation to configure.

// isMountRoot reports whether loc is the root of its mount (what a mount
// point resolves to once crossed).
func isMountRoot(loc Location) bool {
	return loc.Mount != nil && loc.Mount.Point == loc.Path && loc.Node == fs.Node(loc.Mount.Root)
}

// MountOver mounts o.Root (nil: the root of f; for a bind mount a
// directory or file of f) at at, which stacks on whatever is mounted
// there: a directory on a directory, a file on a non-directory. Errors:
// ENOTDIR or EISDIR when they do not match.
func (v *VirtualFilesystem) MountOver(at Location, f fs.Filesystem, o MountOptions) error {
	var root fs.Node = f.Root()
	if o.Root != nil {
		root = o.Root
	}
	switch {
	case root.Type() == unix.S_IFDIR && at.Node.Type() != unix.S_IFDIR:
		return unix.ENOTDIR
	case root.Type() != unix.S_IFDIR && at.Node.Type() == unix.S_IFDIR:
		return unix.EISDIR
	}
	src := o.Source
	if src == "" {
		src = f.Name()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m := &Mount{ID: v.nextID, FS: f, Root: root, Point: at.Path, ReadOnly: o.ReadOnly, NoExec: o.NoExec,
		Source: src, FSType: o.FSType, RootPath: o.RootPath, Flags: o.Flags, Data: o.Data, parent: at.Mount, vfs: v}
	v.nextID++
	v.mounts[at.Path] = m
	v.list = append(v.list, m)
	return nil
}

// Unmount removes the mount loc is the root of; what it covered shows
// again. Descriptions and working directories inside it keep working (a
// lazy unmount: MNT_DETACH's semantics, whatever the flags). Errors:
// EINVAL when loc is not a mount's root, EBUSY for the root filesystem.
func (v *VirtualFilesystem) Unmount(loc Location) error {
	if !isMountRoot(loc) {
		return unix.EINVAL
	}
	m := loc.Mount
	v.mu.Lock()
	last, err := v.unmountLocked(m)
	v.mu.Unlock()
	if err == nil && last {
		// The filesystem's last mount gone: its watches hear
		// IN_UNMOUNT (without v.mu: inotify wakes readers).
		inotify.Unmounted(m.FS)
	}
	return err
}

// unmountLocked takes m out of the mount table; last reports that no
// other mount shows m's filesystem. Preconditions: v.mu is held.
func (v *VirtualFilesystem) unmountLocked(m *Mount) (last bool, err error) {
	if m == v.root {
		return false, unix.EBUSY
	}
	if v.mounts[m.Point] != m {
		// Something is mounted on top of it.
		return false, unix.EBUSY
	}
	delete(v.mounts, m.Point)
	for i, o := range v.list {
		if o == m {
			v.list = append(v.list[:i], v.list[i+1:]...)
			break
		}
	}
	// The most recent mount left at the same point shows again.
	for i := len(v.list) - 1; i >= 0; i-- {
		if v.list[i].Point == m.Point {
			v.mounts[m.Point] = v.list[i]
			break
		}
	}
	for _, o := range v.list {
		if o.FS == m.FS {
			return false, nil
		}
	}
	return true, nil
}
