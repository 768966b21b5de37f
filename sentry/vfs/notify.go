package vfs

import (
	"path"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// What the VFS tells inotify: Linux's fsnotify hooks (include/linux/
// fsnotify.h), called where Linux calls them. Every hook starts with
// inotify.Active(), one atomic load: with no watch in the sandbox nothing
// else runs, not even a file key's computation.
//
// A file's directory, for the events its watches get with the file's
// name, is found as ".." is (re-walking the canonical path's parent) and
// kept in the description once found: like Linux's d_parent at the time of
// the first event, it is not updated when a directory above is renamed.

// parentRef is a description's directory, once looked up.
type parentRef struct {
	key fs.FileKey
	ok  bool
}

// parentOf returns the key of the directory holding loc (by its path),
// and false for a mount's root with no parent or a file of no mount.
func parentOf(loc Location) (fs.FileKey, bool) {
	if loc.Mount == nil || loc.Mount.vfs == nil || loc.Path == "/" || loc.Path == "" {
		return fs.FileKey{}, false
	}
	v := loc.Mount.vfs
	w := v.newWalker(fs.Background, v.RootLocation())
	w.search = false
	root := w.nsRoot(loc)
	w.root = root
	p, err := w.walk(root, path.Dir(loc.Path), true)
	if err != nil || p.Node.Type() != unix.S_IFDIR {
		return fs.FileKey{}, false
	}
	k, err := fs.NodeKey(fs.Background, p.Node)
	return k, err == nil
}

// notify tells inotify that mask happened to fd's file (access, modify,
// open, close, attributes).
func (fd *FileDescription) notify(mask uint32) {
	if !inotify.Active() || fd.IsPath() || fd.loc.Mount == anonMount || fd.loc.Mount == nil {
		return
	}
	key, err := fd.FileKey(fs.Background)
	if err != nil {
		return
	}
	pr := fd.parent.Load()
	if pr == nil {
		k, ok := parentOf(fd.loc)
		pr = &parentRef{key: k, ok: ok}
		fd.parent.Store(pr)
	}
	var parent *fs.FileKey
	if pr.ok {
		parent = &pr.key
	}
	inotify.Notify(parent, path.Base(fd.loc.Path), key, fd.IsDir(), mask, func() bool {
		st, err := fd.Stat(fs.Background)
		return err == nil && st.Nlink == 0
	})
}

// notifyClose is the close event of fd's last reference, and the
// deferred DELETE_SELF of a deleted file it may have held.
func (fd *FileDescription) notifyClose() {
	if !inotify.Active() || fd.IsPath() {
		return
	}
	if fd.Writable() {
		fd.notify(unix.IN_CLOSE_WRITE)
	} else {
		fd.notify(unix.IN_CLOSE_NOWRITE)
	}
	if inotify.Pending() {
		if key, err := fd.FileKey(fs.Background); err == nil {
			inotify.Released(key)
		}
	}
}

// notifyLocation tells inotify that mask happened to the file at loc,
// reached by a path (chmod, utimes, truncate, setxattr).
func notifyLocation(ctx *fs.Context, loc Location, mask uint32) {
	if !inotify.Active() {
		return
	}
	key, err := fs.NodeKey(ctx, loc.Node)
	if err != nil {
		return
	}
	var parent *fs.FileKey
	if k, ok := parentOf(loc); ok {
		parent = &k
	}
	inotify.Notify(parent, path.Base(loc.Path), key, loc.Node.Type() == unix.S_IFDIR, mask, nil)
}

// notifySelf tells only the file's own watches (a link count's change).
func notifySelf(key fs.FileKey, isDir bool, mask uint32) {
	inotify.Notify(nil, "", key, isDir, mask, nil)
}

// notifyEntry tells directory dir's watches about its entry name.
func notifyEntry(ctx *fs.Context, dir Location, name string, mask, cookie uint32, isDir bool) {
	if !inotify.Active() {
		return
	}
	key, err := fs.NodeKey(ctx, dir.Node)
	if err != nil {
		return
	}
	inotify.NotifyName(key, name, mask, cookie, isDir)
}

// setStatMask is the event of an attribute change (fsnotify_change).
func setStatMask(s fs.SetStat) uint32 {
	var mask uint32
	if s.Mask&(linux.STATX_UID|linux.STATX_GID|linux.STATX_MODE) != 0 {
		mask |= unix.IN_ATTRIB
	}
	if s.Mask&linux.STATX_SIZE != 0 {
		mask |= unix.IN_MODIFY
	}
	switch s.Mask & (linux.STATX_ATIME | linux.STATX_MTIME) {
	case linux.STATX_ATIME | linux.STATX_MTIME:
		mask |= unix.IN_ATTRIB
	case linux.STATX_ATIME:
		mask |= unix.IN_ACCESS
	case linux.STATX_MTIME:
		mask |= unix.IN_MODIFY
	}
	return mask
}

// victim is what a path operation is about to remove or replace, looked
// up before it (only while inotify is active): its key, whether it is a
// directory and whether this is its last link.
type victim struct {
	key   fs.FileKey
	isDir bool
	last  bool
	ok    bool
}

func lookVictim(ctx *fs.Context, node fs.Node) victim {
	if !inotify.Active() || node == nil {
		return victim{}
	}
	st, err := node.Stat(ctx)
	if err != nil {
		return victim{}
	}
	isDir := node.Type() == unix.S_IFDIR
	return victim{key: fs.KeyFromStatx(&st), isDir: isDir, last: isDir || st.Nlink <= 1, ok: true}
}

// removed tells inotify that v lost a link (unlink, rmdir, a rename
// replacing it): its own watches see ATTRIB for a file's link count, and
// DELETE_SELF when it was the last.
func (v victim) removed() {
	if !v.ok {
		return
	}
	if !v.isDir {
		notifySelf(v.key, false, unix.IN_ATTRIB)
	}
	if v.last {
		inotify.Removed(v.key)
	}
}
