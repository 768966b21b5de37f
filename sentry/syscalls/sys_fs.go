package syscalls

import (
	"encoding/binary"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Path-based filesystem syscalls: the stat family, statfs, getdents,
// access, readlink, mkdir/rmdir/unlink/rename/link/symlink/mknod,
// chmod/chown/truncate/utimes, fsync and friends, getcwd/chdir/chroot,
// umask and the xattr family.

// resolveAt resolves (dirfd, path) for the *at syscalls: an empty path
// with AT_EMPTY_PATH names dirfd itself (any file type).
func resolveAt(t *process.Thread, ctx *fs.Context, dirfd int32, pathAddr uintptr, flags uint32, follow bool) (vfs.Location, error) {
	var p string
	if pathAddr != 0 || flags&unix.AT_EMPTY_PATH == 0 {
		var err error
		if p, err = copyInPath(t, pathAddr); err != nil {
			return vfs.Location{}, err
		}
	}
	if p == "" {
		if flags&unix.AT_EMPTY_PATH == 0 {
			return vfs.Location{}, unix.ENOENT
		}
		if dirfd == unix.AT_FDCWD {
			return t.FS.Cwd(), nil
		}
		f, err := getFile(t, dirfd)
		if err != nil {
			return vfs.Location{}, err
		}
		defer f.DecRef()
		return f.Location(), nil
	}
	start, err := startLocation(t, dirfd, p)
	if err != nil {
		return vfs.Location{}, err
	}
	return t.FS.VFS().Resolve(ctx, t.FS, start, p, follow)
}

// pathAndStart reads a path argument and its start location.
func pathAndStart(t *process.Thread, dirfd int32, pathAddr uintptr) (string, vfs.Location, error) {
	p, err := copyInPath(t, pathAddr)
	if err != nil {
		return "", vfs.Location{}, err
	}
	start, err := startLocation(t, dirfd, p)
	return p, start, err
}

// Stat.

func copyOutStat(t *process.Thread, addr uintptr, sx *linux.Statx) error {
	showOwner(t, sx)
	st := fs.StatFromStatx(sx)
	if _, err := st.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return unix.EFAULT
	}
	return nil
}

func statLocation(t *process.Thread, ctx *fs.Context, loc vfs.Location, addr uintptr) (uintptr, error) {
	sx, err := vfs.Stat(ctx, loc)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, addr, &sx)
}

func Stat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
	if err != nil {
		return 0, err
	}
	return statLocation(t, ctx, loc, a.Ptr(1))
}

func Lstat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, false)
	if err != nil {
		return 0, err
	}
	return statLocation(t, ctx, loc, a.Ptr(1))
}

func Fstat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	sx, err := f.Stat(fsContext(t))
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, a.Ptr(1), &sx)
}

// statAt serves newfstatat and statx: fstat of dirfd when the path is
// empty with AT_EMPTY_PATH, so that host stdio reports the host's fstat.
func statAt(t *process.Thread, dirfd int32, pathAddr uintptr, flags uint32) (linux.Statx, error) {
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT|linux.AT_STATX_SYNC_TYPE) != 0 {
		return linux.Statx{}, unix.EINVAL
	}
	ctx := fsContext(t)
	if flags&unix.AT_EMPTY_PATH != 0 && dirfd != unix.AT_FDCWD {
		empty := pathAddr == 0
		if !empty {
			p, err := copyInPath(t, pathAddr)
			if err != nil {
				return linux.Statx{}, err
			}
			empty = p == ""
		}
		if empty {
			f, err := getFile(t, dirfd)
			if err != nil {
				return linux.Statx{}, err
			}
			defer f.DecRef()
			return f.Stat(ctx)
		}
	}
	loc, err := resolveAt(t, ctx, dirfd, pathAddr, flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return linux.Statx{}, err
	}
	return vfs.Stat(ctx, loc)
}

func Newfstatat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	sx, err := statAt(t, a.Int(0), a.Ptr(1), a.Uint(3))
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, a.Ptr(2), &sx)
}

func Statx(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	dirfd, pathAddr, flags, mask, addr := a.Int(0), a.Ptr(1), a.Uint(2), a.Uint(3), a.Ptr(4)
	if mask&linux.STATX__RESERVED != 0 {
		return 0, unix.EINVAL
	}
	if flags&linux.AT_STATX_SYNC_TYPE == linux.AT_STATX_SYNC_TYPE {
		return 0, unix.EINVAL
	}
	sx, err := statAt(t, dirfd, pathAddr, flags)
	if err != nil {
		return 0, err
	}
	showOwner(t, &sx)
	if _, err := sx.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func copyOutStatfs(t *process.Thread, addr uintptr, st linux.Statfs) (uintptr, error) {
	if _, err := st.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func Statfs(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
	if err != nil {
		return 0, err
	}
	st, err := vfs.Statfs(ctx, loc)
	if err != nil {
		return 0, err
	}
	return copyOutStatfs(t, a.Ptr(1), st)
}

func Fstatfs(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	st, err := vfs.Statfs(fsContext(t), f.Location())
	if err != nil {
		return 0, err
	}
	return copyOutStatfs(t, a.Ptr(1), st)
}

// Directories.

func getdents(t *process.Thread, a arch.SyscallArguments, dirent64 bool) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	addr, count := a.Ptr(1), int(a.Uint(2))
	if count < 0 {
		return 0, unix.EINVAL
	}
	limit := min(count, ioChunk)
	buf := make([]byte, 0, limit)
	err = f.Getdents(fsContext(t), t.FS.VFS(), func(d fs.Dirent, off int64) bool {
		var reclen int
		if dirent64 {
			reclen = (19 + len(d.Name) + 1 + 7) &^ 7
		} else {
			reclen = (18 + len(d.Name) + 2 + 7) &^ 7
		}
		if len(buf)+reclen > limit {
			return false
		}
		rec := make([]byte, reclen)
		binary.LittleEndian.PutUint64(rec[0:], d.Ino)
		binary.LittleEndian.PutUint64(rec[8:], uint64(off))
		binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
		if dirent64 {
			rec[18] = d.Type
			copy(rec[19:], d.Name)
		} else {
			copy(rec[18:], d.Name)
			rec[reclen-1] = d.Type
		}
		buf = append(buf, rec...)
		return true
	})
	if err != nil {
		return 0, err
	}
	if len(buf) == 0 {
		// Nothing fit although entries remain, or the end was reached.
		probe := false
		f.Getdents(fsContext(t), t.FS.VFS(), func(fs.Dirent, int64) bool { probe = true; return false })
		if probe {
			return 0, unix.EINVAL
		}
		return 0, nil
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), buf); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(buf)), nil
}

func Getdents64(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return getdents(t, a, true)
}

func Getdents(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return getdents(t, a, false)
}

// Access.

func accessAt(t *process.Thread, dirfd int32, pathAddr uintptr, mode uint32, flags uint32) (uintptr, error) {
	if flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	if mode&^7 != 0 {
		return 0, unix.EINVAL
	}
	ctx := fsContext(t)
	if flags&unix.AT_EACCESS == 0 {
		// access(2) checks with the real IDs (and root's capabilities
		// only when the real UID is 0).
		ctx.Creds = ctx.Creds.ForAccess()
	}
	loc, err := resolveAt(t, ctx, dirfd, pathAddr, flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	return 0, vfs.Access(ctx, loc, mode)
}

func Access(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return accessAt(t, unix.AT_FDCWD, a.Ptr(0), a.Uint(1), 0)
}

func Faccessat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return accessAt(t, a.Int(0), a.Ptr(1), a.Uint(2), 0)
}

func Faccessat2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return accessAt(t, a.Int(0), a.Ptr(1), a.Uint(2), a.Uint(3))
}

// Symlinks.

func readlinkAt(t *process.Thread, dirfd int32, pathAddr, buf uintptr, size int32) (uintptr, error) {
	if size <= 0 {
		return 0, unix.EINVAL
	}
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, dirfd, pathAddr, unix.AT_EMPTY_PATH, false)
	if err != nil {
		return 0, err
	}
	target, err := vfs.Readlink(ctx, loc)
	if err != nil {
		if pathAddr != 0 {
			if p, _ := copyInPath(t, pathAddr); p == "" && err == unix.EINVAL {
				return 0, unix.ENOENT
			}
		}
		return 0, err
	}
	b := []byte(target)
	if len(b) > int(size) {
		b = b[:size]
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(buf), b); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(b)), nil
}

func Readlink(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	p, err := copyInPath(t, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	if p == "" {
		return 0, unix.ENOENT
	}
	return readlinkAt(t, unix.AT_FDCWD, a.Ptr(0), a.Ptr(1), a.Int(2))
}

func Readlinkat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return readlinkAt(t, a.Int(0), a.Ptr(1), a.Ptr(2), a.Int(3))
}

func symlinkAt(t *process.Thread, targetAddr uintptr, dirfd int32, pathAddr uintptr) (uintptr, error) {
	target, err := copyInPath(t, targetAddr)
	if err != nil {
		return 0, err
	}
	p, start, err := pathAndStart(t, dirfd, pathAddr)
	if err != nil {
		return 0, err
	}
	return 0, t.FS.VFS().SymlinkAt(fsContext(t), t.FS, target, start, p)
}

func Symlink(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return symlinkAt(t, a.Ptr(0), unix.AT_FDCWD, a.Ptr(1))
}

func Symlinkat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return symlinkAt(t, a.Ptr(0), a.Int(1), a.Ptr(2))
}

// Creating and removing names.

func mkdirAt(t *process.Thread, dirfd int32, pathAddr uintptr, mode uint32) (uintptr, error) {
	p, start, err := pathAndStart(t, dirfd, pathAddr)
	if err != nil {
		return 0, err
	}
	return 0, t.FS.VFS().MkdirAt(fsContext(t), t.FS, start, p, mode)
}

func Mkdir(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return mkdirAt(t, unix.AT_FDCWD, a.Ptr(0), a.Uint(1))
}

func Mkdirat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return mkdirAt(t, a.Int(0), a.Ptr(1), a.Uint(2))
}

func mknodAt(t *process.Thread, dirfd int32, pathAddr uintptr, mode uint32, dev uint32) (uintptr, error) {
	p, start, err := pathAndStart(t, dirfd, pathAddr)
	if err != nil {
		return 0, err
	}
	return 0, t.FS.VFS().MknodAt(fsContext(t), t.FS, start, p, mode, dev)
}

func Mknod(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return mknodAt(t, unix.AT_FDCWD, a.Ptr(0), a.Uint(1), a.Uint(2))
}

func Mknodat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return mknodAt(t, a.Int(0), a.Ptr(1), a.Uint(2), a.Uint(3))
}

func Rmdir(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	p, start, err := pathAndStart(t, unix.AT_FDCWD, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	return 0, t.FS.VFS().RmdirAt(fsContext(t), t.FS, start, p)
}

func Unlink(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	p, start, err := pathAndStart(t, unix.AT_FDCWD, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	return 0, t.FS.VFS().UnlinkAt(fsContext(t), t.FS, start, p)
}

func Unlinkat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Uint(2)
	if flags&^unix.AT_REMOVEDIR != 0 {
		return 0, unix.EINVAL
	}
	p, start, err := pathAndStart(t, a.Int(0), a.Ptr(1))
	if err != nil {
		return 0, err
	}
	if flags&unix.AT_REMOVEDIR != 0 {
		return 0, t.FS.VFS().RmdirAt(fsContext(t), t.FS, start, p)
	}
	return 0, t.FS.VFS().UnlinkAt(fsContext(t), t.FS, start, p)
}

func renameAt(t *process.Thread, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) (uintptr, error) {
	op, ostart, err := pathAndStart(t, olddirfd, oldAddr)
	if err != nil {
		return 0, err
	}
	np, nstart, err := pathAndStart(t, newdirfd, newAddr)
	if err != nil {
		return 0, err
	}
	return 0, t.FS.VFS().RenameAt(fsContext(t), t.FS, ostart, op, nstart, np, flags)
}

func Rename(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return renameAt(t, unix.AT_FDCWD, a.Ptr(0), unix.AT_FDCWD, a.Ptr(1), 0)
}

func Renameat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return renameAt(t, a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), 0)
}

func Renameat2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return renameAt(t, a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), a.Uint(4))
}

func linkAt(t *process.Thread, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) (uintptr, error) {
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	ctx := fsContext(t)
	var oldLoc vfs.Location
	var op string
	var ostart vfs.Location
	var err error
	if flags&unix.AT_EMPTY_PATH != 0 {
		if oldLoc, err = resolveAt(t, ctx, olddirfd, oldAddr, flags, flags&unix.AT_SYMLINK_FOLLOW != 0); err != nil {
			return 0, err
		}
	} else if op, ostart, err = pathAndStart(t, olddirfd, oldAddr); err != nil {
		return 0, err
	}
	np, nstart, err := pathAndStart(t, newdirfd, newAddr)
	if err != nil {
		return 0, err
	}
	return 0, t.FS.VFS().LinkAt(ctx, t.FS, ostart, op, nstart, np, flags&unix.AT_SYMLINK_FOLLOW != 0, oldLoc)
}

func Link(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return linkAt(t, unix.AT_FDCWD, a.Ptr(0), unix.AT_FDCWD, a.Ptr(1), 0)
}

func Linkat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return linkAt(t, a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), a.Uint(4))
}

// Attributes.

func setStatPath(t *process.Thread, dirfd int32, pathAddr uintptr, flags uint32, follow bool, s fs.SetStat, now bool) (uintptr, error) {
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, dirfd, pathAddr, flags, follow)
	if err != nil {
		return 0, err
	}
	return 0, vfs.SetStat(ctx, loc, s, now)
}

func setStatFD(t *process.Thread, fd int32, s fs.SetStat, now bool) (uintptr, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	return 0, vfs.SetStat(fsContext(t), f.Location(), s, now)
}

func modeStat(mode uint32) fs.SetStat {
	return fs.SetStat{Mask: linux.STATX_MODE, Mode: mode & 07777}
}

func Chmod(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setStatPath(t, unix.AT_FDCWD, a.Ptr(0), 0, true, modeStat(a.Uint(1)), false)
}

func Fchmod(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setStatFD(t, a.Int(0), modeStat(a.Uint(1)), false)
}

func fchmodat(t *process.Thread, dirfd int32, pathAddr uintptr, mode uint32, flags uint32) (uintptr, error) {
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, dirfd, pathAddr, flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	if loc.Node.Type() == unix.S_IFLNK {
		return 0, unix.EOPNOTSUPP
	}
	return 0, vfs.SetStat(ctx, loc, modeStat(mode), false)
}

func Fchmodat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return fchmodat(t, a.Int(0), a.Ptr(1), a.Uint(2), 0)
}

func Fchmodat2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return fchmodat(t, a.Int(0), a.Ptr(1), a.Uint(2), a.Uint(3))
}

// chownStat is chown's change of owner, the IDs named in t's user
// namespace (EINVAL for one it does not map).
// showOwner makes a stat result's owner and group the IDs t's user
// namespace names them by (the overflow IDs when it does not map them).
func showOwner(t *process.Thread, sx *linux.Statx) {
	if ns := t.Credentials().UserNS; ns != nil {
		sx.UID, sx.GID = ns.UID(sx.UID), ns.GID(sx.GID)
	}
}

func chownStat(t *process.Thread, uid, gid uint32) (fs.SetStat, error) {
	var s fs.SetStat
	ns := t.Credentials().UserNS
	if uid != ^uint32(0) {
		k, ok := ns.MapUIDToKernel(uid)
		if !ok {
			return s, unix.EINVAL
		}
		uid = k
	}
	if gid != ^uint32(0) {
		k, ok := ns.MapGIDToKernel(gid)
		if !ok {
			return s, unix.EINVAL
		}
		gid = k
	}
	if uid != ^uint32(0) {
		s.Mask |= linux.STATX_UID
		s.UID = uid
	}
	if gid != ^uint32(0) {
		s.Mask |= linux.STATX_GID
		s.GID = gid
	}
	return s, nil
}

func Chown(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	st, err := chownStat(t, a.Uint(1), a.Uint(2))
	if err != nil {
		return 0, err
	}
	return setStatPath(t, unix.AT_FDCWD, a.Ptr(0), 0, true, st, false)
}

func Lchown(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	st, err := chownStat(t, a.Uint(1), a.Uint(2))
	if err != nil {
		return 0, err
	}
	return setStatPath(t, unix.AT_FDCWD, a.Ptr(0), 0, false, st, false)
}

func Fchown(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	st, err := chownStat(t, a.Uint(1), a.Uint(2))
	if err != nil {
		return 0, err
	}
	return setStatFD(t, a.Int(0), st, false)
}

func Fchownat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Uint(4)
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	st, err := chownStat(t, a.Uint(2), a.Uint(3))
	if err != nil {
		return 0, err
	}
	return setStatPath(t, a.Int(0), a.Ptr(1), flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0, st, false)
}

func Truncate(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	length := a.Int64(1)
	if length < 0 {
		return 0, unix.EINVAL
	}
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
	if err != nil {
		return 0, err
	}
	if loc.Node.Type() == unix.S_IFDIR {
		return 0, unix.EISDIR
	}
	if err := vfs.Access(ctx, loc, 2); err != nil {
		return 0, err
	}
	if err := t.S.VFS.CheckWrite(ctx, loc); err != nil {
		return 0, err // ETXTBSY: a program runs it
	}
	return 0, vfs.SetStat(ctx, loc, fs.SetStat{Mask: linux.STATX_SIZE, Size: uint64(length)}, false)
}

func Ftruncate(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	return 0, f.Truncate(fsContext(t), a.Int64(1))
}

// Times.

const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
)

// timesStat builds a SetStat from atime and mtime (sec, nsec) pairs with
// UTIME_NOW/UTIME_OMIT; now reports whether every time set is "now".
func timesStat(ts [2][2]int64, haveTimes bool) (fs.SetStat, bool, error) {
	now := fs.Now()
	if !haveTimes {
		return fs.SetStat{Mask: linux.STATX_ATIME | linux.STATX_MTIME, Atime: now, Mtime: now}, true, nil
	}
	var s fs.SetStat
	allNow := true
	for i, tv := range ts {
		var v linux.StatxTimestamp
		switch tv[1] {
		case utimeOmit:
			continue
		case utimeNow:
			v = now
		default:
			if tv[1] < 0 || tv[1] >= 1e9 {
				return s, false, unix.EINVAL
			}
			v = linux.StatxTimestamp{Sec: tv[0], Nsec: uint32(tv[1])}
			allNow = false
		}
		if i == 0 {
			s.Mask |= linux.STATX_ATIME
			s.Atime = v
		} else {
			s.Mask |= linux.STATX_MTIME
			s.Mtime = v
		}
	}
	return s, allNow, nil
}

// copyInTimes reads two {sec, x} pairs; x is multiplied by scale to get
// nanoseconds (1 for timespec, 1000 for timeval).
func copyInTimes(t *process.Thread, addr uintptr, scale int64) ([2][2]int64, error) {
	var ts [2][2]int64
	var b [32]byte
	if _, err := t.CopyInBytes(hostarch.Addr(addr), b[:]); err != nil {
		return ts, unix.EFAULT
	}
	for i := 0; i < 2; i++ {
		ts[i][0] = int64(binary.LittleEndian.Uint64(b[16*i:]))
		x := int64(binary.LittleEndian.Uint64(b[16*i+8:]))
		if scale != 1 {
			if x < 0 || x >= 1e6 {
				return ts, unix.EINVAL
			}
			x *= scale
		}
		ts[i][1] = x
	}
	return ts, nil
}

func utimesCommon(t *process.Thread, dirfd int32, pathAddr uintptr, flags uint32, ts [2][2]int64, haveTimes bool) (uintptr, error) {
	s, now, err := timesStat(ts, haveTimes)
	if err != nil {
		return 0, err
	}
	if s.Mask == 0 {
		// Both omitted: still check that the file exists.
		ctx := fsContext(t)
		if pathAddr != 0 {
			_, err := resolveAt(t, ctx, dirfd, pathAddr, flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
			return 0, err
		}
		return 0, nil
	}
	if pathAddr == 0 {
		// futimens: dirfd is the file.
		if dirfd == unix.AT_FDCWD {
			return 0, unix.EFAULT
		}
		return setStatFD(t, dirfd, s, now)
	}
	return setStatPath(t, dirfd, pathAddr, flags, flags&unix.AT_SYMLINK_NOFOLLOW == 0, s, now)
}

func Utimensat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	dirfd, pathAddr, timesAddr, flags := a.Int(0), a.Ptr(1), a.Ptr(2), a.Uint(3)
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	var ts [2][2]int64
	if timesAddr != 0 {
		var err error
		if ts, err = copyInTimes(t, timesAddr, 1); err != nil {
			return 0, err
		}
	}
	return utimesCommon(t, dirfd, pathAddr, flags, ts, timesAddr != 0)
}

func Utime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	var ts [2][2]int64
	if a.Ptr(1) != 0 {
		var b [16]byte
		if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(1)), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		ts[0][0] = int64(binary.LittleEndian.Uint64(b[0:]))
		ts[1][0] = int64(binary.LittleEndian.Uint64(b[8:]))
	}
	return utimesCommon(t, unix.AT_FDCWD, a.Ptr(0), 0, ts, a.Ptr(1) != 0)
}

func futimesat(t *process.Thread, dirfd int32, pathAddr, timesAddr uintptr) (uintptr, error) {
	var ts [2][2]int64
	if timesAddr != 0 {
		var err error
		if ts, err = copyInTimes(t, timesAddr, 1000); err != nil {
			return 0, err
		}
	}
	if pathAddr == 0 {
		return 0, unix.EFAULT
	}
	return utimesCommon(t, dirfd, pathAddr, 0, ts, timesAddr != 0)
}

func Utimes(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return futimesat(t, unix.AT_FDCWD, a.Ptr(0), a.Ptr(1))
}

func Futimesat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return futimesat(t, a.Int(0), a.Ptr(1), a.Ptr(2))
}

// Syncing and hints.

func Fsync(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Sync(fsContext(t))
}

// Sync is sync(2): it waits for the write-back of every writable host
// volume (in-memory filesystems have nothing to flush). Like Linux's, it
// reports no error.
func Sync(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	for _, hf := range writableHostFS(t) {
		hf.SyncAll(t.Task)
	}
	return 0, nil
}

// Syncfs is syncfs(2): it waits for the write-back of the filesystem fd
// is on and returns its first write-back error.
func Syncfs(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if m := f.Location().Mount; m != nil {
		if hf, ok := m.FS.(*hostfs.FS); ok && !hf.ReadOnly() {
			return 0, hf.SyncAll(t.Task)
		}
	}
	return 0, nil
}

// writableHostFS returns the writable host filesystems mounted in t's
// mount namespace (each once), whatever t's root.
func writableHostFS(t *process.Thread) []*hostfs.FS {
	var out []*hostfs.FS
	seen := make(map[*hostfs.FS]bool)
	for _, m := range t.FS.Namespace().Mounts() {
		if hf, ok := m.FS.(*hostfs.FS); ok && !m.ReadOnly && !hf.ReadOnly() && !seen[hf] {
			seen[hf] = true
			out = append(out, hf)
		}
	}
	return out
}

func Fallocate(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, f.Allocate(fsContext(t), a.Uint(1), a.Int64(2), a.Int64(3))
}

func Fadvise64(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Node().Type() == unix.S_IFIFO {
		return 0, unix.ESPIPE
	}
	if adv := a.Int(3); adv < 0 || adv > 5 {
		return 0, unix.EINVAL
	}
	if a.Int64(2) < 0 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

func Readahead(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.Readable() {
		return 0, unix.EBADF
	}
	if f.Node().Type() != unix.S_IFREG {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// Working directory, root and umask.

func Getcwd(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	buf, size := a.Ptr(0), a[1]
	cwd := t.FS.Getcwd()
	b := append([]byte(cwd), 0)
	if uintptr(len(b)) > size {
		return 0, unix.ERANGE
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(buf), b); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(b)), nil
}

func Chdir(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
	if err != nil {
		return 0, err
	}
	if err := vfs.CheckSearch(ctx, loc); err != nil {
		return 0, err
	}
	t.FS.SetCwd(loc)
	return 0, nil
}

func Fchdir(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	loc := f.Location()
	if err := vfs.CheckSearch(fsContext(t), loc); err != nil {
		return 0, err
	}
	t.FS.SetCwd(loc)
	return 0, nil
}

// Chroot is chroot(2): the path must be a searchable directory, and the
// caller needs CAP_SYS_CHROOT (checked last, as Linux).
func Chroot(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
	if err != nil {
		return 0, err
	}
	if err := vfs.CheckSearch(ctx, loc); err != nil {
		return 0, err
	}
	if !ctx.Creds.HasCapabilityIn(ctx.Creds.UserNS, linux.CAP_SYS_CHROOT) {
		return 0, unix.EPERM
	}
	t.FS.SetRoot(loc)
	return 0, nil
}

func Umask(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.FS.SwapUmask(a.Uint(0) & 0777)), nil
}

// Extended attributes: sentry/vfs/xattr.go checks, the filesystems keep
// them (tmpfs and the overlay in the sentry, volumes on the host).

// xattrTarget is the file an xattr call is about: a path (followed or
// not) or a descriptor (EBADF for an O_PATH one).
type xattrTarget struct {
	path   uintptr
	follow bool
	fd     int32
	byFD   bool
	// at marks the *xattrat calls: fd is their dirfd, whose descriptor
	// is checked only when reached (an empty path with AT_EMPTY_PATH).
	at bool
}

func xattrByPath(a arch.SyscallArguments, follow bool) xattrTarget {
	return xattrTarget{path: a.Ptr(0), fd: unix.AT_FDCWD, follow: follow}
}

func xattrByFD(a arch.SyscallArguments) xattrTarget { return xattrTarget{fd: a.Int(0), byFD: true} }

// xattrAt is the target of setxattrat and its siblings (dirfd, path,
// at_flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH, else EINVAL). An empty (or
// NULL) path with AT_EMPTY_PATH is the descriptor itself, as f*xattr.
func xattrAt(t *process.Thread, a arch.SyscallArguments) (xattrTarget, error) {
	dirfd, pathAddr, flags := a.Int(0), a.Ptr(1), a.Uint(2)
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return xattrTarget{}, unix.EINVAL
	}
	x := xattrTarget{path: pathAddr, fd: dirfd, follow: flags&unix.AT_SYMLINK_NOFOLLOW == 0, at: true}
	if flags&unix.AT_EMPTY_PATH != 0 {
		empty := pathAddr == 0
		if !empty {
			b := make([]byte, 1)
			if _, err := t.CopyInBytes(hostarch.Addr(pathAddr), b); err != nil {
				return xattrTarget{}, unix.EFAULT
			}
			empty = b[0] == 0
		}
		x.byFD = empty
	}
	return x, nil
}

// xattrArgs reads struct xattr_args (value, size, flags) of usize bytes:
// EINVAL below its first version's 16 bytes, E2BIG past a page or with
// unknown non-zero bytes, EFAULT.
func xattrArgs(t *process.Thread, addr uintptr, usize uint64) (value uintptr, size uint64, flags uint32, err error) {
	if usize < 16 {
		return 0, 0, 0, unix.EINVAL
	}
	if usize > 4096 {
		return 0, 0, 0, unix.E2BIG
	}
	b := make([]byte, usize)
	if _, err := t.CopyInBytes(hostarch.Addr(addr), b); err != nil {
		return 0, 0, 0, unix.EFAULT
	}
	for _, c := range b[16:] {
		if c != 0 {
			return 0, 0, 0, unix.E2BIG
		}
	}
	return uintptr(binary.LittleEndian.Uint64(b)), uint64(binary.LittleEndian.Uint32(b[8:])), binary.LittleEndian.Uint32(b[12:]), nil
}

// checkFD is the descriptor check the f*xattr calls make before anything
// else.
func (x xattrTarget) checkFD(t *process.Thread) error {
	if !x.byFD || x.at {
		return nil
	}
	f, err := getFile(t, x.fd)
	if err != nil {
		return err
	}
	defer f.DecRef()
	if f.IsPath() {
		return unix.EBADF
	}
	return nil
}

func (x xattrTarget) resolve(t *process.Thread, ctx *fs.Context) (vfs.Location, error) {
	if !x.byFD {
		return resolveAt(t, ctx, x.fd, x.path, 0, x.follow)
	}
	f, err := getFile(t, x.fd)
	if err != nil {
		return vfs.Location{}, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return vfs.Location{}, unix.EBADF
	}
	return f.Location(), nil
}

// xattrName reads an attribute's name: ERANGE if empty or longer than
// XATTR_NAME_MAX, EFAULT for a bad pointer.
func xattrName(t *process.Thread, addr uintptr) (string, error) {
	name, err := t.CopyInString(addr, vfs.XattrNameMax)
	if err == unix.ENAMETOOLONG {
		return "", unix.ERANGE
	}
	if err != nil {
		return "", unix.EFAULT
	}
	if name == "" {
		return "", unix.ERANGE
	}
	return name, nil
}

func getxattr(t *process.Thread, x xattrTarget, nameAddr, valueAddr uintptr, size uint64) (uintptr, error) {
	if err := x.checkFD(t); err != nil {
		return 0, err
	}
	name, err := xattrName(t, nameAddr)
	if err != nil {
		return 0, err
	}
	ctx := fsContext(t)
	loc, err := x.resolve(t, ctx)
	if err != nil {
		return 0, err
	}
	v, err := vfs.GetXattr(ctx, loc, name)
	if err != nil {
		return 0, err
	}
	return copyOutSized(t, valueAddr, size, v)
}

// copyOutSized is getxattr's and listxattr's size protocol for b: size 0
// asks for its length, a smaller size is ERANGE (sizes past
// XATTR_SIZE_MAX count as that).
func copyOutSized(t *process.Thread, addr uintptr, size uint64, b []byte) (uintptr, error) {
	size = min(size, vfs.XattrSizeMax)
	if size == 0 {
		return uintptr(len(b)), nil
	}
	if uint64(len(b)) > size {
		return 0, unix.ERANGE
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), b); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(b)), nil
}

func setxattr(t *process.Thread, x xattrTarget, nameAddr, valueAddr uintptr, size uint64, flags uint32) (uintptr, error) {
	if err := x.checkFD(t); err != nil {
		return 0, err
	}
	if flags&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return 0, unix.EINVAL
	}
	name, err := xattrName(t, nameAddr)
	if err != nil {
		return 0, err
	}
	if size > vfs.XattrSizeMax {
		return 0, unix.E2BIG
	}
	value := make([]byte, size)
	if size > 0 {
		if _, err := t.CopyInBytes(hostarch.Addr(valueAddr), value); err != nil {
			return 0, unix.EFAULT
		}
	}
	ctx := fsContext(t)
	loc, err := x.resolve(t, ctx)
	if err != nil {
		return 0, err
	}
	return 0, vfs.SetXattr(ctx, loc, name, value, flags)
}

func listxattr(t *process.Thread, x xattrTarget, listAddr uintptr, size uint64) (uintptr, error) {
	ctx := fsContext(t)
	loc, err := x.resolve(t, ctx)
	if err != nil {
		return 0, err
	}
	names, err := vfs.ListXattr(ctx, loc)
	if err != nil {
		return 0, err
	}
	var buf []byte
	for _, n := range names {
		buf = append(append(buf, n...), 0)
	}
	if len(buf) > vfs.XattrSizeMax {
		return 0, unix.E2BIG
	}
	return copyOutSized(t, listAddr, size, buf)
}

func removexattr(t *process.Thread, x xattrTarget, nameAddr uintptr) (uintptr, error) {
	if err := x.checkFD(t); err != nil {
		return 0, err
	}
	name, err := xattrName(t, nameAddr)
	if err != nil {
		return 0, err
	}
	ctx := fsContext(t)
	loc, err := x.resolve(t, ctx)
	if err != nil {
		return 0, err
	}
	return 0, vfs.RemoveXattr(ctx, loc, name)
}

func Getxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return getxattr(t, xattrByPath(a, true), a.Ptr(1), a.Ptr(2), uint64(a[3]))
}

func Lgetxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return getxattr(t, xattrByPath(a, false), a.Ptr(1), a.Ptr(2), uint64(a[3]))
}

func Fgetxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return getxattr(t, xattrByFD(a), a.Ptr(1), a.Ptr(2), uint64(a[3]))
}

func Listxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return listxattr(t, xattrByPath(a, true), a.Ptr(1), uint64(a[2]))
}

func Llistxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return listxattr(t, xattrByPath(a, false), a.Ptr(1), uint64(a[2]))
}

func Flistxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return listxattr(t, xattrByFD(a), a.Ptr(1), uint64(a[2]))
}

func Setxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setxattr(t, xattrByPath(a, true), a.Ptr(1), a.Ptr(2), uint64(a[3]), a.Uint(4))
}

func Lsetxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setxattr(t, xattrByPath(a, false), a.Ptr(1), a.Ptr(2), uint64(a[3]), a.Uint(4))
}

func Fsetxattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return setxattr(t, xattrByFD(a), a.Ptr(1), a.Ptr(2), uint64(a[3]), a.Uint(4))
}

func Removexattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return removexattr(t, xattrByPath(a, true), a.Ptr(1))
}

func Lremovexattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return removexattr(t, xattrByPath(a, false), a.Ptr(1))
}

func Fremovexattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return removexattr(t, xattrByFD(a), a.Ptr(1))
}

func Getxattrat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	x, err := xattrAt(t, a)
	if err != nil {
		return 0, err
	}
	value, size, flags, err := xattrArgs(t, a.Ptr(4), uint64(a[5]))
	if err != nil {
		return 0, err
	}
	if flags != 0 {
		return 0, unix.EINVAL
	}
	return getxattr(t, x, a.Ptr(3), value, size)
}

func Setxattrat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	x, err := xattrAt(t, a)
	if err != nil {
		return 0, err
	}
	value, size, flags, err := xattrArgs(t, a.Ptr(4), uint64(a[5]))
	if err != nil {
		return 0, err
	}
	return setxattr(t, x, a.Ptr(3), value, size, flags)
}

func Listxattrat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	x, err := xattrAt(t, a)
	if err != nil {
		return 0, err
	}
	return listxattr(t, x, a.Ptr(3), uint64(a[4]))
}

func Removexattrat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	x, err := xattrAt(t, a)
	if err != nil {
		return 0, err
	}
	return removexattr(t, x, a.Ptr(3))
}
