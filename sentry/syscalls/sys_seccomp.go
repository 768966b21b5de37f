package syscalls

import (
	"encoding/binary"
	"errors"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/seccomp"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// seccomp(2)'s operations.
const (
	seccompSetModeStrict  = 0
	seccompSetModeFilter  = linux.SECCOMP_SET_MODE_FILTER
	seccompGetActionAvail = linux.SECCOMP_GET_ACTION_AVAIL
	seccompGetNotifSizes  = linux.SECCOMP_GET_NOTIF_SIZES
)

// Seccomp is seccomp(operation, flags, args).
func Seccomp(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doSeccomp(t, a.Uint(0), a.Uint(1), a.Ptr(2))
}

// seccompPrctl is prctl's PR_GET_SECCOMP and PR_SET_SECCOMP (mode, and
// for SECCOMP_MODE_FILTER the program in arg3).
func seccompPrctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a.Int(0) == unix.PR_GET_SECCOMP {
		return uintptr(t.SeccompMode()), nil
	}
	switch a.Uint(1) {
	case seccomp.ModeStrict:
		return doSeccomp(t, seccompSetModeStrict, 0, 0)
	case seccomp.ModeFilter:
		return doSeccomp(t, seccompSetModeFilter, 0, a.Ptr(2))
	}
	return 0, unix.EINVAL
}

func doSeccomp(t *process.Thread, op, flags uint32, uargs uintptr) (uintptr, error) {
	switch op {
	case seccompSetModeStrict:
		if flags != 0 || uargs != 0 {
			return 0, unix.EINVAL
		}
		return 0, t.SetSeccompStrict()
	case seccompSetModeFilter:
		return seccompSetFilter(t, flags, uargs)
	case seccompGetActionAvail:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		var b [4]byte
		if _, err := t.CopyInBytes(hostarch.Addr(uargs), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		if !seccomp.ActionAvailable(binary.LittleEndian.Uint32(b[:])) {
			return 0, unix.EOPNOTSUPP
		}
		return 0, nil
	case seccompGetNotifSizes:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		sizes := linux.SeccompNotifSizes{Notif: seccomp.NotifSize, Notif_resp: seccomp.NotifRespSize, Data: seccomp.DataSize}
		if _, err := sizes.CopyOut(t, hostarch.Addr(uargs)); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	}
	return 0, unix.EINVAL
}

// seccompSetFilter is SECCOMP_SET_MODE_FILTER, with Linux's order of
// checks: flags, the struct sock_fprog (EFAULT, EINVAL for a length of 0
// or more than 4096), permission (no_new_privs or CAP_SYS_ADMIN, else
// EACCES), the program (EFAULT, EINVAL), the listener's descriptor, then
// the attachment (process.AttachSeccompFilter).
func seccompSetFilter(t *process.Thread, flags uint32, uargs uintptr) (uintptr, error) {
	if flags&^seccomp.FlagsAll != 0 {
		return 0, unix.EINVAL
	}
	// A TSYNC failure's TID and a new listener's fd would share the
	// return value: together only with TSYNC_ESRCH.
	if flags&seccomp.FlagNewListener != 0 && flags&seccomp.FlagTSync != 0 && flags&seccomp.FlagTSyncESRCH == 0 {
		return 0, unix.EINVAL
	}
	if flags&seccomp.FlagWaitKillableRecv != 0 && flags&seccomp.FlagNewListener == 0 {
		return 0, unix.EINVAL
	}
	var fprog [16]byte // struct sock_fprog: u16 len, pad, u64 filter
	if _, err := t.CopyInBytes(hostarch.Addr(uargs), fprog[:]); err != nil {
		return 0, unix.EFAULT
	}
	n := int(binary.LittleEndian.Uint16(fprog[0:]))
	insnsAddr := binary.LittleEndian.Uint64(fprog[8:])
	if n == 0 || n > 4096 {
		return 0, unix.EINVAL
	}
	c := t.Credentials()
	if !c.NoNewPrivs && !c.HasCapability(linux.CAP_SYS_ADMIN) {
		return 0, unix.EACCES
	}
	raw := make([]byte, 8*n)
	if _, err := t.CopyInBytes(hostarch.Addr(insnsAddr), raw); err != nil {
		return 0, unix.EFAULT
	}
	insns := make([]linux.BPFInstruction, n)
	for i := range insns {
		b := raw[8*i:]
		insns[i] = linux.BPFInstruction{
			OpCode:      binary.LittleEndian.Uint16(b[0:]),
			JumpIfTrue:  b[2],
			JumpIfFalse: b[3],
			K:           binary.LittleEndian.Uint32(b[4:]),
		}
	}
	listen := flags&seccomp.FlagNewListener != 0
	f, err := seccomp.New(insns, flags)
	if err != nil {
		return 0, err
	}
	var file *vfs.FileDescription
	fd := -1
	if listen {
		l := f.Listener()
		file = vfs.NewAnonymousFile(seccomp.ListenerName, l, l, unix.O_RDWR)
		defer file.DecRef()
		r, err := installFile(t, file, true)
		if err != nil {
			return 0, err
		}
		fd = int(r)
	}
	if err := t.AttachSeccompFilter(f, flags); err != nil {
		if fd >= 0 {
			t.FDs.Remove(int32(fd))
		}
		var ts process.SeccompTSyncError
		if errors.As(err, &ts) {
			return uintptr(ts.TID), nil
		}
		return 0, err
	}
	if fd >= 0 {
		return uintptr(fd), nil
	}
	return 0, nil
}

// seccompAddFD is SECCOMP_IOCTL_NOTIF_ADDFD on listener l: struct
// seccomp_notif_addfd {u64 id; u32 flags; u32 srcfd; u32 newfd; u32
// newfd_flags}, with Linux's checks (EINVAL for unknown flags, newfd
// flags other than O_CLOEXEC, a newfd without SECCOMP_ADDFD_FLAG_SETFD;
// EBADF for srcfd).
func seccompAddFD(t *process.Thread, l *seccomp.Listener, arg uintptr) (uintptr, error) {
	const (
		addfdSetFD = 1 << 0
		addfdSend  = 1 << 1
	)
	var b [24]byte
	if _, err := t.CopyInBytes(hostarch.Addr(arg), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	id := binary.LittleEndian.Uint64(b[0:])
	flags := binary.LittleEndian.Uint32(b[8:])
	srcfd := int32(binary.LittleEndian.Uint32(b[12:]))
	newfd := binary.LittleEndian.Uint32(b[16:])
	newfdFlags := binary.LittleEndian.Uint32(b[20:])
	if newfdFlags&^unix.O_CLOEXEC != 0 || flags&^(addfdSetFD|addfdSend) != 0 {
		return 0, unix.EINVAL
	}
	if newfd != 0 && flags&addfdSetFD == 0 {
		return 0, unix.EINVAL
	}
	f, err := getFile(t, srcfd)
	if err != nil {
		return 0, unix.EBADF
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF // fget refuses O_PATH descriptors
	}
	fd, err := l.AddFD(id, f, int32(newfd), flags&addfdSetFD != 0, newfdFlags&unix.O_CLOEXEC != 0, flags&addfdSend != 0)
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}
