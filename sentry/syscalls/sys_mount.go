package syscalls

// mount(2), umount2(2) and pivot_root(2): the sandbox's programs change
// their mount namespace's tree (sentry/vfs/mountns.go) with CAP_SYS_ADMIN,
// as Linux requires. What they can mount is the sandbox's own: a new
// tmpfs, proc or sysfs, the IPC namespace's mqueue filesystem, the
// sandbox's devpts, or a bind of a file or directory they can already
// reach — never a host path.

import (
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/sysfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// mountPropagation are the flags that change a mount's propagation type.
const mountPropagation = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE

// mountAttrFlags are the per-mount flags a mount or remount sets.
const mountAttrFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME |
	unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_NOSYMFOLLOW

// mountFlagsText is what /proc/mounts shows after rw/ro for flags, in
// Linux's show_mnt_opts order (MS_STRICTATIME, which clears noatime, as a
// "strictatime" word that is not shown).
func mountFlagsText(flags uint64) string {
	var o []string
	for _, f := range []struct {
		bit  uint64
		name string
	}{{unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"},
		{unix.MS_NOATIME, "noatime"}, {unix.MS_NODIRATIME, "nodiratime"}, {unix.MS_NOSYMFOLLOW, "nosymfollow"}} {
		if flags&f.bit != 0 && !(f.bit == unix.MS_NOATIME && flags&unix.MS_STRICTATIME != 0) {
			o = append(o, f.name)
		}
	}
	if flags&unix.MS_STRICTATIME != 0 {
		// Not shown (neither is relatime then), but kept: a locked
		// mount's atime flags are compared (sentry/vfs/mountlock.go).
		o = append(o, "strictatime")
	}
	return strings.Join(o, ",")
}

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
	if !ctx.Creds.HasCapabilityIn(t.FS.Namespace().Owner(), linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	v := t.FS.VFS()
	// Linux's path_mount order: remount, bind, propagation, move, new.
	switch {
	case flags&unix.MS_REMOUNT != 0:
		// The call's flags replace the mount's (mount(8) passes
		// the ones it keeps), with or without MS_BIND.
		target = v.Top(target)
		const atimeFlags = unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME
		// Without MS_BIND it reconfigures the filesystem too, which
		// needs CAP_SYS_ADMIN in its user namespace (do_remount).
		mayReconfigure := flags&unix.MS_BIND != 0 || target.Mount == nil ||
			ctx.Creds.HasCapabilityIn(target.Mount.FSOwner(), linux.CAP_SYS_ADMIN)
		return 0, v.Remount(target, flags&unix.MS_RDONLY != 0, flags&unix.MS_NOEXEC != 0, mountFlagsText(flags), flags&atimeFlags == 0, mayReconfigure, flags&unix.MS_BIND == 0)
	case flags&unix.MS_BIND != 0:
		src, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
		if err != nil {
			return 0, err
		}
		return 0, v.BindAt(src, target, flags&unix.MS_REC != 0, vfs.MountOptions{})
	case flags&mountPropagation != 0:
		kinds := map[uint64]int{unix.MS_SHARED: vfs.PropShared, unix.MS_PRIVATE: vfs.PropPrivate,
			unix.MS_SLAVE: vfs.PropSlave, unix.MS_UNBINDABLE: vfs.PropUnbindable}
		kind, ok := kinds[flags&mountPropagation]
		if !ok || flags&^(mountPropagation|unix.MS_REC|unix.MS_SILENT) != 0 {
			return 0, unix.EINVAL
		}
		return 0, v.SetPropagation(v.Top(target), kind, flags&unix.MS_REC != 0)
	case flags&unix.MS_MOVE != 0:
		src, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
		if err != nil {
			return 0, err
		}
		return 0, v.Move(src, target, fsContexts(t))
	}
	fstype, err := t.CopyInString(a.Ptr(2), 256)
	if err != nil {
		return 0, unix.EFAULT
	}
	o := vfs.MountOptions{ReadOnly: flags&unix.MS_RDONLY != 0, NoExec: flags&unix.MS_NOEXEC != 0,
		Flags: mountFlagsText(flags)}
	var f fs.Filesystem
	// o.Owner is the user namespace the instance belongs to (Linux's
	// fc->user_ns), where the mounter needs CAP_SYS_ADMIN: every type
	// here is one Linux marks FS_USERNS_MOUNT, mountable from a user
	// namespace that owns what the instance shows.
	o.Owner = ctx.Creds.UserNS
	switch fstype {
	case "tmpfs":
		f = tmpfs.New(01777, 0, 0)
		o.Source = "tmpfs"
	case "proc":
		// An instance for the mounter's PID namespace.
		f = procfs.NewForPIDNS(t.S, t.PIDNS())
		o.Source = "proc"
		o.Owner = t.PIDNS().Owner()
	case "sysfs":
		f = sysfs.New(t.S.Kernel.NumCPUs())
		o.Source = "sysfs"
		// The sandbox's one network namespace's: its first user
		// namespace's.
		o.Owner = nil
	case "mqueue":
		// A mount shows the queues of the mounter's IPC namespace.
		if t.IPC() == nil {
			return 0, unix.ENODEV
		}
		f = t.IPC().MQueue.Filesystem()
		o.Source = "mqueue"
		o.Owner = t.IPC().Owner()
	case "devpts":
		// Every mount shows the sandbox's one devpts (newinstance is
		// not separate).
		for _, m := range t.FS.Namespace().Mounts() {
			if m.FS.Name() == "devpts" {
				f = m.FS
				o.Data = m.Data
				break
			}
		}
		if f == nil {
			return 0, unix.ENODEV
		}
		o.Source = "devpts"
	default:
		return 0, unix.ENODEV
	}
	if source, err := t.CopyInString(a.Ptr(0), 256); err == nil && source != "" {
		o.Source = source
	}
	if !ctx.Creds.HasCapabilityIn(o.Owner, linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	return 0, v.MountOver(target, f, o)
}

func Umount2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Int(1)
	if flags&^(unix.MNT_FORCE|unix.MNT_DETACH|unix.MNT_EXPIRE|unix.UMOUNT_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MNT_EXPIRE != 0 && flags&(unix.MNT_FORCE|unix.MNT_DETACH) != 0 {
		return 0, unix.EINVAL
	}
	ctx := fsContext(t)
	target, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, flags&unix.UMOUNT_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	if !ctx.Creds.HasCapabilityIn(t.FS.Namespace().Owner(), linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	v := t.FS.VFS()
	target = v.Top(target)
	if target.Mount == nil || target.Mount.Namespace() != t.FS.Namespace() {
		return 0, unix.EINVAL
	}
	if flags&unix.MNT_EXPIRE != 0 {
		// Nothing here expires mounts: the first call only marks.
		return 0, unix.EAGAIN
	}
	return 0, v.Unmount(target, flags&unix.MNT_DETACH != 0, fsContexts(t))
}

// PivotRoot is pivot_root(2): the caller's mount namespace gets new_root
// as its root and the old root mounted on put_old.
func PivotRoot(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ctx := fsContext(t)
	newRoot, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(0), 0, true)
	if err != nil {
		return 0, err
	}
	putOld, err := resolveAt(t, ctx, unix.AT_FDCWD, a.Ptr(1), 0, true)
	if err != nil {
		return 0, err
	}
	if !ctx.Creds.HasCapabilityIn(t.FS.Namespace().Owner(), linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	return 0, t.FS.VFS().PivotRoot(t.FS.Root(), newRoot, putOld, fsContexts(t))
}

// fsContexts returns the filesystem contexts of the sandbox's threads (each
// once), which pivot_root and MS_MOVE move and umount2 finds busy: found
// when needed rather than tracked at every fork.
func fsContexts(t *process.Thread) []*vfs.FSContext {
	seen := make(map[*vfs.FSContext]bool)
	var out []*vfs.FSContext
	for _, tg := range t.S.ThreadGroups() {
		for _, th := range tg.Threads() {
			if c := th.FS; c != nil && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}
