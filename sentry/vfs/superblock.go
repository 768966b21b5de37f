package vfs

import (
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
)

// Superblocks. Linux keeps two read-only flags: the mount's (MNT_READONLY,
// what MS_REMOUNT|MS_BIND sets) and the filesystem instance's (SB_RDONLY,
// what MS_REMOUNT without MS_BIND sets as well), and a file is read-only
// through a mount when either is set. Every mount of one filesystem (its
// binds and copies too) shares one superblock; a mount made when none of
// the filesystem's mounts is left in any namespace starts a new one.
// mountinfo shows the mount's flag in its options and the superblock's in
// its super options; /proc/mounts shows either.

// superblock is the state a filesystem instance's mounts share.
type superblock struct {
	readOnly atomic.Bool
}

// superblockFor returns the superblock of f's mounts, a new one if no
// namespace mounts f; a new one is read-only if readOnly (a filesystem
// mounted with MS_RDONLY). Preconditions: vfs.mu is held (or v is not yet
// shared).
func (v *VirtualFilesystem) superblockFor(f fs.Filesystem, readOnly bool) *superblock {
	for _, ns := range v.namespaces() {
		for _, m := range ns.list {
			if m.FS == f && m.sb != nil {
				return m.sb
			}
		}
	}
	sb := &superblock{}
	sb.readOnly.Store(readOnly)
	return sb
}

// SuperReadOnly reports whether m's filesystem instance is read-only
// (remounted so without MS_BIND).
func (m *Mount) SuperReadOnly() bool { return m != nil && m.sb != nil && m.sb.readOnly.Load() }
