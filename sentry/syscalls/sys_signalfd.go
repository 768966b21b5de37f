package syscalls

// signalfd and signalfd4 (sentry/fs/signalfd), and vhangup.

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/signalfd"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func Signalfd(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doSignalfd(t, a.Int(0), a.Ptr(1), a.Ptr(2), 0)
}

func Signalfd4(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doSignalfd(t, a.Int(0), a.Ptr(1), a.Ptr(2), a.Uint(3))
}

// doSignalfd makes a signalfd for the mask at maskAddr (fd -1) or changes
// the mask of signalfd fd.
func doSignalfd(t *process.Thread, fd int32, maskAddr, size uintptr, flags uint32) (uintptr, error) {
	if size != sigsetSize || flags&^(unix.SFD_CLOEXEC|unix.SFD_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	mask, err := copyInSigset(t, maskAddr)
	if err != nil {
		return 0, err
	}
	if fd != -1 {
		f, err := getFile(t, fd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		sf, ok := f.Impl().(*signalfd.SignalFD)
		if !ok {
			return 0, unix.EINVAL
		}
		sf.SetMask(mask)
		return uintptr(fd), nil
	}
	sf := signalfd.New(t, mask)
	f := vfs.NewAnonymousFile(signalfd.Name, sf, sf, unix.O_RDWR|flags&unix.O_NONBLOCK)
	defer f.DecRef()
	return installFile(t, f, flags&unix.SFD_CLOEXEC != 0)
}

// Vhangup hangs up the caller's controlling terminal (CAP_SYS_TTY_CONFIG).
func Vhangup(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if !t.Credentials().HasCapability(linux.CAP_SYS_TTY_CONFIG) {
		return 0, unix.EPERM
	}
	if term := t.ControllingTerminal(); term != nil {
		term.Hangup()
	}
	return 0, nil
}
