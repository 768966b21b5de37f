package vfs

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Path operations. Each takes the caller's context (credentials, task),
// its FSContext (root, umask) and a start location for relative paths
// (the cwd or a directory descriptor's location). They return Linux
// errnos. Only OpenAt may block (FIFOs); none holds a vfs lock while
// calling a filesystem.

func creds(ctx *fs.Context) *fs.Creds {
	if ctx == nil {
		return nil
	}
	return ctx.Creds
}

// checkAccess returns EACCES unless the caller may access node for want
// (4 read, 2 write, 1 execute/search): fs.HasPerm's rules, without a Stat
// when a capability decides alone.
func checkAccess(ctx *fs.Context, node fs.Node, want uint32) error {
	c := creds(ctx)
	if capabilityAllows(c, node.Type(), want) {
		return nil
	}
	st, err := node.Stat(ctx)
	if err != nil {
		return err
	}
	if !fs.HasPerm(c, uint32(st.Mode), st.UID, st.GID, want) {
		return unix.EACCES
	}
	return nil
}

// capabilityAllows reports whether c's capabilities grant want on a file
// of type typ whatever its mode (fs.HasPerm's capability rules that do not
// look at the mode): CAP_DAC_OVERRIDE on directories and for anything but
// execution; CAP_DAC_READ_SEARCH for reading files and reading or
// searching directories. The sentry itself (nil) needs the mode only to
// execute a file.
func capabilityAllows(c *fs.Creds, typ uint32, want uint32) bool {
	if c == nil {
		return want&1 == 0 || typ == unix.S_IFDIR
	}
	if typ == unix.S_IFDIR {
		return c.HasCapability(linux.CAP_DAC_OVERRIDE) || (want&2 == 0 && c.HasCapability(linux.CAP_DAC_READ_SEARCH))
	}
	return (want&1 == 0 && c.HasCapability(linux.CAP_DAC_OVERRIDE)) || (want == 4 && c.HasCapability(linux.CAP_DAC_READ_SEARCH))
}

// checkDirWrite checks that the caller may add or remove entries of dir.
func checkDirWrite(ctx *fs.Context, dir Location) (fs.DirectoryWriter, error) {
	if dir.Mount != nil && dir.Mount.ReadOnly() {
		return nil, unix.EROFS
	}
	if err := checkAccess(ctx, dir.Node, 3); err != nil {
		return nil, err
	}
	dw, ok := dir.Node.(fs.DirectoryWriter)
	if !ok {
		return nil, unix.EACCES
	}
	return dw, nil
}

// checkSticky returns EPERM when dir is sticky and the caller owns
// neither dir nor child and lacks CAP_FOWNER over child (Linux's
// check_sticky).
func checkSticky(ctx *fs.Context, dir Location, child fs.Node) error {
	c := creds(ctx)
	if c == nil || c.HasCapability(linux.CAP_FOWNER) {
		return nil
	}
	dst, err := dir.Node.Stat(ctx)
	if err != nil {
		return err
	}
	if dst.Mode&unix.S_ISVTX == 0 || dst.UID == c.FSUID {
		return nil
	}
	cst, err := child.Stat(ctx)
	if err != nil {
		return err
	}
	if cst.UID == c.FSUID || c.CapableOver(linux.CAP_FOWNER, cst.UID, cst.GID) {
		return nil
	}
	return unix.EPERM
}

// Resolve resolves p from start (or the root for absolute paths); a final
// symlink is followed if follow.
func (v *VirtualFilesystem) Resolve(ctx *fs.Context, fsc *FSContext, start Location, p string, follow bool) (Location, error) {
	w := v.newWalker(ctx, fsc.Root())
	return w.walk(start, p, follow)
}

// OpenAt is openat(2): flags are open's flags, mode the creation mode
// (the umask is applied here).
func (v *VirtualFilesystem) OpenAt(ctx *fs.Context, fsc *FSContext, start Location, p string, flags uint32, mode uint32) (*FileDescription, error) {
	w := v.newWalker(ctx, fsc.Root())
	if flags&unix.O_TMPFILE == unix.O_TMPFILE {
		return v.openTmpfile(ctx, w, start, p, flags, mode&^fsc.Umask()&07777)
	}
	if flags&unix.O_PATH != 0 {
		loc, err := w.walk(start, p, flags&unix.O_NOFOLLOW == 0)
		if err != nil {
			return nil, err
		}
		if flags&unix.O_DIRECTORY != 0 && loc.Node.Type() != unix.S_IFDIR {
			return nil, unix.ENOTDIR
		}
		return NewFileDescription(loc, nil, unix.O_PATH|flags&unix.O_ACCMODE), nil
	}
	if flags&unix.O_CREAT == 0 {
		loc, err := w.walk(start, p, flags&unix.O_NOFOLLOW == 0)
		if err != nil {
			return nil, err
		}
		return v.openLocation(ctx, loc, flags)
	}
	if flags&unix.O_DIRECTORY != 0 {
		return nil, unix.EINVAL
	}
	mode = mode &^ fsc.Umask() & 07777
	for {
		dir, name, slash, err := w.walkParent(start, p)
		if err != nil {
			return nil, err
		}
		if name == "" || name == "." || name == ".." || slash {
			return nil, unix.EISDIR
		}
		next, err := w.step(dir, name)
		if err == unix.ENOENT {
			dw, err := checkDirWrite(ctx, dir)
			if err != nil {
				return nil, err
			}
			node, impl, err := dw.Create(ctx, name, mode, flags)
			if err == unix.EEXIST && flags&unix.O_EXCL == 0 {
				continue // raced with another creator: open theirs
			}
			if err != nil {
				return nil, err
			}
			notifyEntry(ctx, dir, name, unix.IN_CREATE, 0, false)
			fd := NewFileDescription(Location{Mount: dir.Mount, Node: node, Path: joinPath(dir.Path, name)}, impl, flags)
			if flags&unix.O_ACCMODE != unix.O_RDONLY {
				// Nothing runs a file this new: this only
				// counts the writer.
				id, err := v.getWrite(ctx, node)
				if err != nil {
					fd.DecRef()
					return nil, err
				}
				v.holdWrite(fd, id)
			}
			fd.notify(unix.IN_OPEN)
			return fd, nil
		}
		if err != nil {
			return nil, err
		}
		if flags&unix.O_EXCL != 0 {
			return nil, unix.EEXIST
		}
		if next.Node.Type() == unix.S_IFLNK {
			if flags&unix.O_NOFOLLOW != 0 {
				return nil, unix.ELOOP
			}
			w.links++
			if w.links > maxSymlinks {
				return nil, unix.ELOOP
			}
			if ml, ok := next.Node.(MagicLink); ok {
				tgt, err := ml.MagicTarget(ctx)
				if err != nil {
					return nil, err
				}
				return v.openLocation(ctx, tgt, flags)
			}
			target, err := Readlink(ctx, next)
			if err != nil {
				return nil, err
			}
			if target == "" {
				return nil, unix.ENOENT
			}
			// Create (or open) the symlink's target.
			start, p = dir, target
			continue
		}
		return v.openLocation(ctx, next, flags)
	}
}

// openTmpfile is open(2) with O_TMPFILE: an unnamed regular file in the
// directory p names, which linkat can name later unless O_EXCL was given.
// EINVAL with O_CREAT or without write access, EOPNOTSUPP where the
// filesystem cannot make one (host volumes). Its path in /proc/PID/fd is
// Linux's "DIR/#INO (deleted)".
func (v *VirtualFilesystem) openTmpfile(ctx *fs.Context, w *walker, start Location, p string, flags, mode uint32) (*FileDescription, error) {
	if flags&unix.O_CREAT != 0 || flags&unix.O_ACCMODE == unix.O_RDONLY {
		return nil, unix.EINVAL
	}
	dir, err := w.walk(start, p, flags&unix.O_NOFOLLOW == 0)
	if err != nil {
		return nil, err
	}
	if dir.Node.Type() != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	dw, err := checkDirWrite(ctx, dir)
	if err != nil {
		return nil, err
	}
	tc, ok := dw.(fs.TmpfileCreator)
	if !ok {
		return nil, unix.EOPNOTSUPP
	}
	node, impl, err := tc.CreateTmpfile(ctx, mode, flags, flags&unix.O_EXCL == 0)
	if err != nil {
		return nil, err
	}
	st, err := node.Stat(ctx)
	if err != nil {
		impl.Release()
		return nil, err
	}
	name := joinPath(dir.Path, "#"+itoa(st.Ino)) + " (deleted)"
	fd := NewFileDescription(Location{Mount: dir.Mount, Node: node, Path: name}, impl, flags&^(unix.O_EXCL|unix.O_TMPFILE)|unix.O_LARGEFILE)
	fd.notify(unix.IN_OPEN)
	return fd, nil
}

// Open opens an already resolved location with open(2)'s flags (fchdir's
// and /proc's reopen path), checking permissions.
func (v *VirtualFilesystem) Open(ctx *fs.Context, loc Location, flags uint32) (*FileDescription, error) {
	return v.openLocation(ctx, loc, flags)
}

func (v *VirtualFilesystem) openLocation(ctx *fs.Context, loc Location, flags uint32) (*FileDescription, error) {
	typ := loc.Node.Type()
	if flags&unix.O_PATH != 0 {
		return NewFileDescription(loc, nil, unix.O_PATH), nil
	}
	if typ == unix.S_IFLNK {
		return nil, unix.ELOOP
	}
	if flags&unix.O_DIRECTORY != 0 && typ != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	acc := flags & unix.O_ACCMODE
	if acc == unix.O_ACCMODE {
		return nil, unix.EINVAL
	}
	write := acc != unix.O_RDONLY
	trunc := flags&unix.O_TRUNC != 0 && typ == unix.S_IFREG
	if typ == unix.S_IFDIR {
		if write || flags&unix.O_TRUNC != 0 {
			return nil, unix.EISDIR
		}
		if err := checkAccess(ctx, loc.Node, 4); err != nil {
			return nil, err
		}
		fd := NewFileDescription(loc, nil, flags)
		fd.notify(unix.IN_OPEN)
		return fd, nil
	}
	if (write || trunc) && typ == unix.S_IFREG && loc.Mount != nil && loc.Mount.ReadOnly() {
		return nil, unix.EROFS
	}
	var want uint32
	if acc != unix.O_WRONLY {
		want |= 4
	}
	if write || trunc {
		want |= 2
	}
	if err := checkAccess(ctx, loc.Node, want); err != nil {
		return nil, err
	}
	if flags&unix.O_NOATIME != 0 {
		// Only the owner (or CAP_FOWNER) may ask (Linux's may_open).
		if c := creds(ctx); c != nil && !c.HasCapability(linux.CAP_FOWNER) {
			st, err := loc.Node.Stat(ctx)
			if err != nil {
				return nil, err
			}
			if !c.FSOwns(st.UID) {
				return nil, unix.EPERM
			}
		}
	}
	// Write access to a regular file: ETXTBSY while it is executed.
	var wid fileID
	holdsWrite := (write || trunc) && typ == unix.S_IFREG
	if holdsWrite {
		var err error
		if wid, err = v.getWrite(ctx, loc.Node); err != nil {
			return nil, err
		}
	}
	impl, err := loc.Node.Open(ctx, flags)
	if err != nil {
		if holdsWrite {
			v.writers.put(wid)
		}
		return nil, err
	}
	if trunc {
		var terr error
		if t, ok := impl.(fs.Truncater); ok {
			terr = t.Truncate(ctx, 0)
		} else if a, ok := loc.Node.(fs.Attributer); ok {
			terr = a.SetStat(ctx, fs.SetStat{Mask: linux.STATX_SIZE, Size: 0})
		}
		if terr != nil {
			impl.Release()
			if holdsWrite {
				v.writers.put(wid)
			}
			return nil, terr
		}
	}
	fd := NewFileDescription(loc, impl, flags)
	if holdsWrite {
		if write {
			v.holdWrite(fd, wid)
		} else {
			// O_RDONLY|O_TRUNC: write access only for the
			// truncation.
			v.writers.put(wid)
		}
	}
	fd.notify(unix.IN_OPEN)
	if trunc {
		fd.notify(unix.IN_MODIFY)
	}
	return fd, nil
}

// OpenExecutableAs opens path for execve by the caller of ctx: symlinks
// are followed; it must be a regular file the caller may execute (EACCES
// otherwise, ENOENT if missing). The description is read-only.
func (v *VirtualFilesystem) OpenExecutableAs(ctx *fs.Context, fsc *FSContext, path string) (*FileDescription, error) {
	loc, err := v.Resolve(ctx, fsc, fsc.Cwd(), path, true)
	if err != nil {
		return nil, err
	}
	return v.OpenExecutableLocation(ctx, loc)
}

// OpenExecutableLocation opens the file at loc for execve by the caller of
// ctx (execveat's dirfd-relative and AT_EMPTY_PATH forms): it must be a
// regular file the caller may execute, on a mount without noexec (EACCES
// otherwise). The description is read-only.
func (v *VirtualFilesystem) OpenExecutableLocation(ctx *fs.Context, loc Location) (*FileDescription, error) {
	if loc.Node.Type() != unix.S_IFREG || (loc.Mount != nil && loc.Mount.NoExec()) {
		return nil, unix.EACCES
	}
	st, err := loc.Node.Stat(ctx)
	if err != nil {
		return nil, err
	}
	if !fs.HasPerm(creds(ctx), uint32(st.Mode), st.UID, st.GID, 1) {
		return nil, unix.EACCES
	}
	impl, err := loc.Node.Open(ctx, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return NewFileDescription(loc, impl, unix.O_RDONLY), nil
}

// MkdirAt is mkdirat(2).
func (v *VirtualFilesystem) MkdirAt(ctx *fs.Context, fsc *FSContext, start Location, p string, mode uint32) error {
	w := v.newWalker(ctx, fsc.Root())
	dir, name, err := w.newEntryParent(start, p, true)
	if err != nil {
		return err
	}
	dw, err := checkDirWrite(ctx, dir)
	if err != nil {
		return err
	}
	if err := dw.Mkdir(ctx, name, mode&^fsc.Umask()&(0777|unix.S_ISVTX)); err != nil {
		return err
	}
	notifyEntry(ctx, dir, name, unix.IN_CREATE, 0, true)
	return nil
}

// MknodAt is mknodat(2): regular files, FIFOs and sockets (device nodes
// are refused with EPERM).
func (v *VirtualFilesystem) MknodAt(ctx *fs.Context, fsc *FSContext, start Location, p string, mode uint32, dev uint32) error {
	switch mode & unix.S_IFMT {
	case 0:
		mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		return unix.EPERM
	case unix.S_IFDIR:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	w := v.newWalker(ctx, fsc.Root())
	dir, name, err := w.newEntryParent(start, p, false)
	if err != nil {
		return err
	}
	dw, err := checkDirWrite(ctx, dir)
	if err != nil {
		return err
	}
	if err := dw.Mknod(ctx, name, mode&unix.S_IFMT|mode&^fsc.Umask()&07777, dev); err != nil {
		return err
	}
	notifyEntry(ctx, dir, name, unix.IN_CREATE, 0, false)
	return nil
}

// SymlinkAt is symlinkat(2).
func (v *VirtualFilesystem) SymlinkAt(ctx *fs.Context, fsc *FSContext, target string, start Location, p string) error {
	if target == "" {
		return unix.ENOENT
	}
	if err := checkPathLen(target); err != nil {
		return err
	}
	w := v.newWalker(ctx, fsc.Root())
	dir, name, err := w.newEntryParent(start, p, false)
	if err != nil {
		return err
	}
	dw, err := checkDirWrite(ctx, dir)
	if err != nil {
		return err
	}
	if err := dw.Symlink(ctx, name, target); err != nil {
		return err
	}
	notifyEntry(ctx, dir, name, unix.IN_CREATE, 0, false)
	return nil
}

// LinkAt is linkat(2); follow is AT_SYMLINK_FOLLOW. oldLoc, if its Node is
// non-nil, is used instead of resolving oldPath (AT_EMPTY_PATH).
func (v *VirtualFilesystem) LinkAt(ctx *fs.Context, fsc *FSContext, oldStart Location, oldPath string, newStart Location, newPath string, follow bool, oldLoc Location) error {
	w := v.newWalker(ctx, fsc.Root())
	old := oldLoc
	if old.Node == nil {
		var err error
		old, err = w.walk(oldStart, oldPath, follow)
		if err != nil {
			return err
		}
	}
	if old.Node.Type() == unix.S_IFDIR {
		return unix.EPERM
	}
	dir, name, err := w.newEntryParent(newStart, newPath, false)
	if err != nil {
		return err
	}
	if dir.Mount != old.Mount {
		return unix.EXDEV
	}
	dw, err := checkDirWrite(ctx, dir)
	if err != nil {
		return err
	}
	if err := dw.Link(ctx, name, old.Node); err != nil {
		return err
	}
	if inotify.Active() {
		if k, err := fs.NodeKey(ctx, old.Node); err == nil {
			notifySelf(k, false, unix.IN_ATTRIB)
		}
		notifyEntry(ctx, dir, name, unix.IN_CREATE, 0, false)
	}
	return nil
}

// UnlinkAt is unlinkat(2) without AT_REMOVEDIR.
func (v *VirtualFilesystem) UnlinkAt(ctx *fs.Context, fsc *FSContext, start Location, p string) error {
	w := v.newWalker(ctx, fsc.Root())
	dir, name, slash, err := w.walkParent(start, p)
	if err != nil {
		return err
	}
	if name == "" || name == "." || name == ".." {
		return unix.EISDIR
	}
	child, err := w.step(dir, name)
	if err != nil {
		return err
	}
	if child.Mount != dir.Mount {
		return unix.EBUSY
	}
	if child.Node.Type() == unix.S_IFDIR {
		return unix.EISDIR
	}
	if slash {
		return unix.ENOTDIR
	}
	dw, err := checkDirWrite(ctx, dir)
	if err != nil {
		return err
	}
	if err := checkSticky(ctx, dir, child.Node); err != nil {
		return err
	}
	vic := lookVictim(ctx, child.Node)
	if err := dw.Unlink(ctx, name); err != nil {
		return err
	}
	vic.removed()
	notifyEntry(ctx, dir, name, unix.IN_DELETE, 0, false)
	return nil
}

// RmdirAt is unlinkat(2) with AT_REMOVEDIR.
func (v *VirtualFilesystem) RmdirAt(ctx *fs.Context, fsc *FSContext, start Location, p string) error {
	w := v.newWalker(ctx, fsc.Root())
	dir, name, _, err := w.walkParent(start, p)
	if err != nil {
		return err
	}
	switch name {
	case ".":
		return unix.EINVAL
	case "..":
		return unix.ENOTEMPTY
	case "":
		return unix.EBUSY
	}
	child, err := w.step(dir, name)
	if err != nil {
		return err
	}
	if child.Node.Type() != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if child.Mount != dir.Mount || child.Path == fsc.Root().Path {
		return unix.EBUSY
	}
	dw, err := checkDirWrite(ctx, dir)
	if err != nil {
		return err
	}
	if err := checkSticky(ctx, dir, child.Node); err != nil {
		return err
	}
	vic := lookVictim(ctx, child.Node)
	if err := dw.Rmdir(ctx, name); err != nil {
		return err
	}
	vic.removed()
	notifyEntry(ctx, dir, name, unix.IN_DELETE, 0, true)
	return nil
}

// RenameAt is renameat2(2).
func (v *VirtualFilesystem) RenameAt(ctx *fs.Context, fsc *FSContext, oldStart Location, oldPath string, newStart Location, newPath string, flags uint32) error {
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE|unix.RENAME_WHITEOUT) != 0 {
		return unix.EINVAL
	}
	if flags&unix.RENAME_NOREPLACE != 0 && flags&unix.RENAME_EXCHANGE != 0 {
		return unix.EINVAL
	}
	if flags&unix.RENAME_WHITEOUT != 0 {
		return unix.EINVAL
	}
	w := v.newWalker(ctx, fsc.Root())
	odir, oname, oslash, err := w.walkParent(oldStart, oldPath)
	if err != nil {
		return err
	}
	ndir, nname, nslash, err := w.walkParent(newStart, newPath)
	if err != nil {
		return err
	}
	for _, n := range []string{oname, nname} {
		if n == "" || n == "." || n == ".." {
			return unix.EBUSY
		}
	}
	src, err := w.step(odir, oname)
	if err != nil {
		return err
	}
	if src.Mount != odir.Mount {
		return unix.EBUSY
	}
	if (oslash || nslash) && src.Node.Type() != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	var dstNode fs.Node
	if dst, err := w.step(ndir, nname); err == nil {
		if dst.Mount != ndir.Mount {
			return unix.EBUSY
		}
		if err := checkSticky(ctx, ndir, dst.Node); err != nil {
			return err
		}
		dstNode = dst.Node
	} else if err != unix.ENOENT {
		return err
	}
	if odir.Mount != ndir.Mount {
		return unix.EXDEV
	}
	odw, err := checkDirWrite(ctx, odir)
	if err != nil {
		return err
	}
	if _, err := checkDirWrite(ctx, ndir); err != nil {
		return err
	}
	if err := checkSticky(ctx, odir, src.Node); err != nil {
		return err
	}
	nd, ok := ndir.Node.(fs.Directory)
	if !ok {
		return unix.ENOTDIR
	}
	moved, replaced := lookVictim(ctx, src.Node), lookVictim(ctx, dstNode)
	if err := odw.Rename(ctx, oname, nd, nname, flags); err != nil {
		return err
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		notifyMove(ctx, odir, oname, ndir, nname, moved, victim{})
		notifyMove(ctx, ndir, nname, odir, oname, replaced, victim{})
	} else {
		notifyMove(ctx, odir, oname, ndir, nname, moved, replaced)
		if replaced.ok && replaced.last {
			inotify.Removed(replaced.key)
		}
	}
	return nil
}

// notifyMove is fsnotify_move: MOVED_FROM and MOVED_TO with one cookie,
// the replaced file's link count (ATTRIB), then MOVE_SELF for the moved
// file. The replaced file's DELETE_SELF is the caller's.
func notifyMove(ctx *fs.Context, odir Location, oname string, ndir Location, nname string, moved, target victim) {
	if !moved.ok {
		return
	}
	cookie := inotify.NewCookie()
	notifyEntry(ctx, odir, oname, unix.IN_MOVED_FROM, cookie, moved.isDir)
	notifyEntry(ctx, ndir, nname, unix.IN_MOVED_TO, cookie, moved.isDir)
	if target.ok && !target.isDir {
		notifySelf(target.key, false, unix.IN_ATTRIB)
	}
	notifySelf(moved.key, moved.isDir, unix.IN_MOVE_SELF)
}

// ReadlinkAt is readlinkat(2): EINVAL if p does not name a symlink.
func (v *VirtualFilesystem) ReadlinkAt(ctx *fs.Context, fsc *FSContext, start Location, p string) (string, error) {
	loc, err := v.Resolve(ctx, fsc, start, p, false)
	if err != nil {
		return "", err
	}
	return Readlink(ctx, loc)
}

// Readlink reads the symlink at loc (EINVAL if it is not one).
func Readlink(ctx *fs.Context, loc Location) (string, error) {
	if loc.Node.Type() != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	sl, ok := loc.Node.(fs.Symlink)
	if !ok {
		return "", unix.EINVAL
	}
	return sl.Readlink(ctx)
}

// Stat returns loc's attributes.
func Stat(ctx *fs.Context, loc Location) (linux.Statx, error) {
	st, err := loc.Node.Stat(ctx)
	if err == nil && loc.Mount != nil && loc.Mount != anonMount {
		st.Mask |= linux.STATX_MNT_ID
		st.MntID = uint64(loc.Mount.ID)
	}
	return st, err
}

// SetStat changes loc's attributes with chmod/chown/truncate/utimes
// permission rules; timesNow says the times were UTIME_NOW (which needs
// only write permission).
func SetStat(ctx *fs.Context, loc Location, s fs.SetStat, timesNow bool) error {
	if loc.Mount != nil && loc.Mount.ReadOnly() {
		return unix.EROFS
	}
	a, ok := loc.Node.(fs.Attributer)
	if !ok {
		return unix.EPERM
	}
	c := creds(ctx)
	st, err := loc.Node.Stat(ctx)
	if err != nil {
		return err
	}
	if c != nil {
		// Linux's setattr_prepare, chown_ok, chgrp_ok and vfs_utimes.
		owner := st.UID == c.FSUID
		if s.Mask&linux.STATX_MODE != 0 {
			if !c.FSOwns(st.UID) {
				return unix.EPERM
			}
			gid := st.GID
			if s.Mask&linux.STATX_GID != 0 {
				gid = s.GID
			}
			if !c.InGroup(gid) && !c.CapableOver(linux.CAP_FSETID, st.UID, st.GID) {
				s.Mode &^= unix.S_ISGID
			}
		}
		chown := c.CapableOver(linux.CAP_CHOWN, st.UID, st.GID)
		if s.Mask&linux.STATX_UID != 0 && !chown && (!owner || s.UID != st.UID) {
			return unix.EPERM
		}
		if s.Mask&linux.STATX_GID != 0 && !chown && (!owner || (s.GID != st.GID && !c.InGroup(s.GID))) {
			return unix.EPERM
		}
		if s.Mask&linux.STATX_SIZE != 0 && !fs.HasPerm(c, uint32(st.Mode), st.UID, st.GID, 2) {
			return unix.EACCES
		}
		if s.Mask&(linux.STATX_ATIME|linux.STATX_MTIME) != 0 && !c.FSOwns(st.UID) {
			if !timesNow {
				return unix.EPERM
			}
			if !fs.HasPerm(c, uint32(st.Mode), st.UID, st.GID, 2) {
				return unix.EACCES
			}
		}
	}
	if s.Mask&linux.STATX_SIZE != 0 {
		switch loc.Node.Type() {
		case unix.S_IFDIR:
			return unix.EISDIR
		case unix.S_IFREG:
		default:
			return unix.EINVAL
		}
	}
	if s.Mask&(linux.STATX_UID|linux.STATX_GID) != 0 && s.Mask&linux.STATX_MODE == 0 &&
		loc.Node.Type() == unix.S_IFREG && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		m := uint32(st.Mode) &^ unix.S_ISUID
		if m&unix.S_IXGRP != 0 {
			m &^= unix.S_ISGID
		}
		s.Mask |= linux.STATX_MODE
		s.Mode = m & 07777
	}
	if err := a.SetStat(ctx, s); err != nil {
		return err
	}
	if m := setStatMask(s); m != 0 {
		notifyLocation(ctx, loc, m)
	}
	return nil
}

// Access is faccessat(2)'s check: mode is F_OK or a mask of R_OK, W_OK,
// X_OK, checked with ctx's credentials.
func Access(ctx *fs.Context, loc Location, mode uint32) error {
	if mode&^7 != 0 {
		return unix.EINVAL
	}
	if mode == 0 {
		return nil
	}
	typ := loc.Node.Type()
	if mode&2 != 0 && loc.Mount != nil && loc.Mount.ReadOnly() && (typ == unix.S_IFREG || typ == unix.S_IFDIR || typ == unix.S_IFLNK) {
		return unix.EROFS
	}
	// As Linux's do_faccessat: X_OK of a regular file on a noexec mount
	// is EACCES whatever its mode, so that LookPath agrees with execve.
	if mode&1 != 0 && typ == unix.S_IFREG && loc.Mount != nil && loc.Mount.NoExec() {
		return unix.EACCES
	}
	st, err := loc.Node.Stat(ctx)
	if err != nil {
		return err
	}
	if !fs.HasPerm(creds(ctx), uint32(st.Mode), st.UID, st.GID, mode) {
		return unix.EACCES
	}
	return nil
}

// CheckSearch returns ENOTDIR unless loc is a directory and EACCES
// unless the caller may search it (chdir, chroot).
func CheckSearch(ctx *fs.Context, loc Location) error {
	if loc.Node.Type() != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	return checkAccess(ctx, loc.Node, 1)
}

// Statfs is statfs(2) of the filesystem holding loc.
func Statfs(ctx *fs.Context, loc Location) (linux.Statfs, error) {
	if loc.Mount == nil || loc.Mount.FS == nil {
		return linux.Statfs{Type: 0x50495045 /* PIPEFS_MAGIC */, BlockSize: 4096, FragmentSize: 4096, NameLength: 255}, nil
	}
	st, err := loc.Mount.FS.Statfs(ctx)
	if err != nil {
		return st, err
	}
	if loc.Mount.ReadOnly() {
		st.Flags |= linux.ST_RDONLY
	}
	if st.FragmentSize == 0 {
		st.FragmentSize = st.BlockSize
	}
	return st, nil
}

// newEntryParent resolves the directory in which p names a new entry
// (mkdir, mknod, symlink, link): EEXIST when the last component is empty,
// "." or "..", or already exists; ENOENT for a trailing slash unless
// allowSlash (mkdir accepts "dir/").
func (w *walker) newEntryParent(start Location, p string, allowSlash bool) (Location, string, error) {
	dir, name, slash, err := w.walkParent(start, p)
	if err != nil {
		return Location{}, "", err
	}
	if name == "" || name == "." || name == ".." {
		return Location{}, "", unix.EEXIST
	}
	if _, err := w.step(dir, name); err == nil {
		return Location{}, "", unix.EEXIST
	}
	if slash && !allowSlash {
		return Location{}, "", unix.ENOENT
	}
	return dir, name, nil
}
