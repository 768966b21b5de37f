package syscalls

// Process file descriptors (sentry/fs/pidfd): pidfd_open, CLONE_PIDFD,
// pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD).

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/pidfd"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

// pPIDFD is waitid's P_PIDFD.
const pPIDFD = 3

// newPidFD installs a pidfd for tg in t's table, close-on-exec as Linux
// makes every pidfd, with O_NONBLOCK if asked.
func newPidFD(t *process.Thread, tg *process.ThreadGroup, flags uint32) (int32, error) {
	p := pidfd.New(tg)
	f := vfs.NewAnonymousFile(pidfd.Name, p, p, unix.O_RDWR|flags&unix.O_NONBLOCK)
	defer f.DecRef()
	fd, err := installFile(t, f, true)
	return int32(fd), err
}

// getPidFD returns the process the pidfd fd names: EBADF when fd is not
// open or not a pidfd.
func getPidFD(t *process.Thread, fd int32) (*process.ThreadGroup, uint32, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, 0, err
	}
	defer f.DecRef()
	p, ok := f.Impl().(*pidfd.PidFD)
	if !ok {
		return nil, 0, unix.EBADF
	}
	return p.Process(), f.Flags(), nil
}

// reaped reports whether tg has been waited for (its PID may be reused).
func reaped(t *process.Thread, tg *process.ThreadGroup) bool {
	return t.S.ThreadGroupByID(tg.TGID()) != tg
}

// PidfdOpen is pidfd_open(pid, flags): pid must be a process (thread
// group leader; ENOENT for another thread, as Linux 6.9); PIDFD_NONBLOCK
// is the only flag (PIDFD_THREAD is EINVAL).
func PidfdOpen(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pid, flags := a.Int(0), a.Uint(1)
	if flags&^unix.O_NONBLOCK != 0 || pid <= 0 {
		return 0, unix.EINVAL
	}
	tg := t.S.ThreadGroupByID(kernelPID(t, pid))
	if tg == nil {
		if findThread(t, 0, pid) != nil {
			return 0, unix.ENOENT
		}
		return 0, unix.ESRCH
	}
	fd, err := newPidFD(t, tg, flags)
	return uintptr(fd), err
}

// clonePidFD is CLONE_PIDFD's part of clone and clone3: it checks that the
// pidfd can be stored at addr before the child exists, and returns the
// hook that installs it once the child does.
func clonePidFD(t *process.Thread, flags uint64, addr uintptr) (func(nt *process.Thread), error) {
	if flags&unix.CLONE_PIDFD == 0 {
		return nil, nil
	}
	if flags&unix.CLONE_THREAD != 0 {
		// Thread pidfds (Linux 6.9) are not served.
		return nil, unix.EINVAL
	}
	minus1 := primitive.Int32(-1)
	if _, err := minus1.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return nil, unix.EFAULT
	}
	return func(nt *process.Thread) {
		// Linux reserves the descriptor before the child exists and
		// fails the clone with EMFILE; here a full table leaves -1
		// in the word.
		fd, err := newPidFD(t, nt.TG, 0)
		if err != nil {
			fd = -1
		}
		v := primitive.Int32(fd)
		v.CopyOut(t, hostarch.Addr(addr))
	}, nil
}

// PidfdSendSignal is pidfd_send_signal(pidfd, sig, info, flags).
func PidfdSendSignal(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	sig := int(a.Int(1))
	if a[3] != 0 {
		return 0, unix.EINVAL
	}
	tg, _, err := getPidFD(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	if sig < 0 || sig > linux.SignalMaximum {
		return 0, unix.EINVAL
	}
	if reaped(t, tg) {
		return 0, unix.ESRCH
	}
	var info *linux.SignalInfo
	if a.Ptr(2) != 0 {
		var signo primitive.Int32
		if _, err := signo.CopyIn(t, hostarch.Addr(a.Ptr(2))); err != nil {
			return 0, unix.EFAULT
		}
		if int(signo) != sig {
			return 0, unix.EINVAL
		}
		if info, err = copyInQueuedInfo(t, a.Ptr(2), sig, tg == t.TG); err != nil {
			return 0, err
		}
	}
	select {
	case <-tg.Exited():
		// A zombie: the signal is accepted and has nobody to reach.
		if !t.MaySignal(tg, sig) {
			return 0, unix.EPERM
		}
		return 0, nil
	default:
	}
	return 0, killOne(t, tg, sig, info)
}

// PidfdGetfd is pidfd_getfd(pidfd, targetfd, flags): a duplicate of
// another process's descriptor, close-on-exec, under the ptrace access
// rule.
func PidfdGetfd(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a[2] != 0 {
		return 0, unix.EINVAL
	}
	tg, _, err := getPidFD(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	ths := tg.Threads()
	if len(ths) == 0 || reaped(t, tg) {
		return 0, unix.ESRCH
	}
	if !t.MayPtrace(ths[0]) {
		return 0, unix.EPERM
	}
	if ths[0].FDs == nil {
		return 0, unix.EBADF
	}
	f, err := ths[0].FDs.Get(a.Int(1))
	if err != nil {
		return 0, unix.EBADF
	}
	defer f.DecRef()
	return installFile(t, f, true)
}
