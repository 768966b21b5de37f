package syscalls

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

// memfdNameMax is MFD_NAME_MAX_LEN: NAME_MAX less "memfd:".
const memfdNameMax = 255 - len("memfd:")

// MemfdCreate is memfd_create(2): an unlinked file of the sentry's
// internal tmpfs (sentry/fs/tmpfs NewMemfd), named "/memfd:NAME (deleted)"
// in /proc/PID/fd, with seals (F_ADD_SEALS) if MFD_ALLOW_SEALING and its
// execute bits sealed if MFD_NOEXEC_SEAL. MFD_HUGETLB is EINVAL: the
// sandbox has no hugetlbfs.
func MemfdCreate(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	addr, flags := a.Ptr(0), a.Uint(1)
	const known = unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING | unix.MFD_NOEXEC_SEAL | unix.MFD_EXEC
	if flags&^known != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MFD_EXEC != 0 && flags&unix.MFD_NOEXEC_SEAL != 0 {
		return 0, unix.EINVAL
	}
	if addr == 0 {
		return 0, unix.EFAULT
	}
	name, err := t.CopyInString(addr, memfdNameMax)
	switch {
	case err == unix.ENAMETOOLONG:
		return 0, unix.EINVAL
	case err != nil:
		return 0, unix.EFAULT
	}
	ctx := fsContext(t)
	noExec := flags&unix.MFD_NOEXEC_SEAL != 0
	inode, file, err := tmpfs.NewMemfd(ctx, flags&unix.MFD_ALLOW_SEALING != 0 || noExec, noExec)
	if err != nil {
		return 0, err
	}
	f := vfs.NewAnonymousFile("/memfd:"+name+" (deleted)", inode, file, unix.O_RDWR|unix.O_LARGEFILE)
	defer f.DecRef()
	return installFile(t, f, flags&unix.MFD_CLOEXEC != 0)
}
