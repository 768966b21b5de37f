package syscalls

// mount(2) and umount2(2): the sandbox's programs change its mount table
// (its one mount namespace) with CAP_SYS_ADMIN, as Linux requires. What
// they can mount is the sandbox's own: a new tmpfs or proc, the IPC
// namespace's mqueue filesystem, or a bind of a directory they can already
// reach — never a host path.

import (
	"path"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// mountPropagation are the flags that only change propagation, which a
// single mount namespace does not have.
const mountPropagation = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE | unix.MS_REC

func Mount(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := uint64(a[3])
	if flags&0xffff0000 == unix.MS_MGC_VAL {
		flags &^= 0xffff0000
	}
	ctx := fsContext(t)
	target, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(1), 0, true)
	if err != nil {
		return 0, err
	}
	if flags&unix.MS_NOUSER != 0 {
		return 0, unix.EINVAL
	}
	if !ctx.Creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	o := vfs.MountOptions{ReadOnly: flags&unix.MS_RDONLY != 0}
	switch {
	case flags&(unix.MS_REMOUNT|unix.MS_MOVE) != 0:
		return 0, unix.EINVAL
	case flags&unix.MS_BIND != 0:
		src, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
		if err != nil {
			return 0, err
		}
		root, ok := src.Node.(fs.Directory)
		if !ok || src.Node.Type() != unix.S_IFDIR || src.Mount == nil || src.Mount.FS == nil {
			// Binds of single files are not supported.
			return 0, unix.EINVAL
		}
		o.Source, o.FSType, o.Flags, o.Data = src.Mount.Source, src.Mount.FSType, src.Mount.Flags, src.Mount.Data
		o.ReadOnly = o.ReadOnly || src.Mount.ReadOnly
		o.NoExec = src.Mount.NoExec
		o.RootPath = path.Join("/", src.Mount.RootPath, src.Path[len(src.Mount.Point):])
		o.Root = root
		return 0, t.S.VFS.MountOver(target, src.Mount.FS, o)
	case flags&mountPropagation != 0 && flags&^(mountPropagation|unix.MS_SILENT) == 0:
		return 0, nil
	}
	fstype, err := t.CopyInString(a.Ptr(2), 256)
	if err != nil {
		return 0, unix.EFAULT
	}
	var f fs.Filesystem
	switch fstype {
	case "tmpfs":
		f = tmpfs.New(01777, 0, 0)
		o.Source = "tmpfs"
	case "proc":
		f = procfs.New(t.S)
		o.Source, o.Flags, o.NoExec = "proc", "nosuid,nodev,noexec", true
	case "mqueue":
		// Every mount shows the IPC namespace's one set of queues.
		if t.S.IPC == nil {
			return 0, unix.ENODEV
		}
		f = t.S.IPC.MQueue.Filesystem()
		o.Source = "mqueue"
	default:
		return 0, unix.ENODEV
	}
	if source, err := t.CopyInString(a.Ptr(0), 256); err == nil && source != "" {
		o.Source = source
	}
	return 0, t.S.VFS.MountOver(target, f, o)
}

func Umount2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Int(1)
	if flags&^(unix.MNT_FORCE|unix.MNT_DETACH|unix.MNT_EXPIRE|unix.UMOUNT_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	ctx := fsContext(t)
	target, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, flags&unix.UMOUNT_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	if !ctx.Creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	return 0, t.S.VFS.Unmount(target)
}
