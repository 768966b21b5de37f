package syscalls

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

// inotify(7): the instance is sentry/fs/inotify's; the VFS tells it what
// happens to files.

func InotifyInit(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return newInotify(t, 0)
}

func InotifyInit1(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return newInotify(t, a.Uint(0))
}

func newInotify(t *process.Thread, flags uint32) (uintptr, error) {
	if flags&^(unix.IN_NONBLOCK|unix.IN_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	in, err := inotify.New(t.Credentials().EffectiveUID)
	if err != nil {
		return 0, err
	}
	f := vfs.NewAnonymousFile(inotify.Name, in, in, unix.O_RDONLY|flags&unix.O_NONBLOCK)
	defer f.DecRef()
	return installFile(t, f, flags&unix.IN_CLOEXEC != 0)
}

// inotifyOf returns fd's inotify instance: EBADF for a bad descriptor,
// EINVAL for another file.
func inotifyOf(t *process.Thread, fd int32) (*inotify.Instance, *vfs.FileDescription, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, nil, err
	}
	in, ok := f.Impl().(*inotify.Instance)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EINVAL
	}
	return in, f, nil
}

func InotifyAddWatch(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fd, pathAddr, mask := a.Int(0), a.Ptr(1), a.Uint(2)
	if err := inotify.ValidMask(mask); err != nil {
		return 0, err
	}
	in, f, err := inotifyOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	ctx := fsContext(t)
	loc, err := resolveAt(t, ctx, unix.AT_FDCWD, pathAddr, 0, mask&unix.IN_DONT_FOLLOW == 0)
	if err != nil {
		return 0, err
	}
	isDir := loc.Node.Type() == unix.S_IFDIR
	if mask&unix.IN_ONLYDIR != 0 && !isDir {
		return 0, unix.ENOTDIR
	}
	// The watcher must be able to read the file (inotify_find_inode).
	if err := vfs.Access(ctx, loc, 4); err != nil && loc.Node.Type() != unix.S_IFLNK {
		return 0, err
	}
	key, err := fs.NodeKey(ctx, loc.Node)
	if err != nil {
		return 0, err
	}
	var fsys any
	if loc.Mount != nil {
		fsys = loc.Mount.FS
	}
	wd, err := in.AddWatch(key, isDir, fsys, mask)
	return uintptr(wd), err
}

func InotifyRmWatch(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	in, f, err := inotifyOf(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, in.RmWatch(a.Int(1))
}
