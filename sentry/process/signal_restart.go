package process

// Restart of interrupted syscalls.
//
// Syscall handlers do not know about signal handlers: a blocking handler
// interrupted by a signal (kernel.ErrInterrupted from an interruptible
// wait) returns EINTR, and the dispatcher leaves -EINTR in rax. When the
// thread then acts on its signals (returnToUser), Linux's rules decide
// whether the program sees EINTR or the syscall runs again. Linux encodes
// the rule in the error the syscall returns (ERESTARTSYS, ERESTARTNOHAND,
// ERESTART_RESTARTBLOCK, ERESTARTNOINTR); here restartClass derives it
// from the syscall number and arguments, which are still in the registers
// (Orig_rax and the argument registers) when the run loop gets control
// back:
//
//	restartSys      (read, write, wait4, futex without timeout, ...):
//	                restarted if no handler runs or the handler has
//	                SA_RESTART; EINTR otherwise.
//	restartNoHandler (pause, rt_sigsuspend, select, ppoll, ...) and
//	restartBlock    (nanosleep, clock_nanosleep, futex and poll with a
//	                timeout): restarted only if no handler runs.
//	restartAlways   (FUTEX_LOCK_PI, LOCK_PI2, WAIT_REQUEUE_PI: Linux's
//	                ERESTARTNOINTR): restarted even after a handler ran.
//	noRestart       (epoll_wait, rt_sigtimedwait, and every syscall not
//	                listed): always EINTR.
//
// A restart rewinds rip over the 2-byte syscall instruction and puts the
// syscall number back in rax, so the same syscall runs again with the
// same arguments — except a restartBlock syscall whose handler left a
// restart block (SetRestartBlock: nanosleep, relative clock_nanosleep,
// poll and futex waits with a timeout remember their absolute deadline):
// then restart_syscall runs instead, as on Linux, and continues the wait
// with the time left, so a sleep stopped by SIGSTOP and continued ends when
// it would have.

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// restartKind is how an interrupted syscall is restarted.
type restartKind int

const (
	noRestart restartKind = iota
	restartSys
	// restartAlways is Linux's ERESTARTNOINTR: restarted even after a
	// handler ran (FUTEX_LOCK_PI).
	restartAlways
	restartNoHandler
	restartBlock
)

// The futex2 waits (Linux's ERESTARTSYS; their timeouts are absolute).
const (
	sysFutexWaitv = 449
	sysFutexWait  = 455
)

// syscallInsnLen is the length of the syscall instruction (0f 05).
const syscallInsnLen = 2

// restartClass returns how syscall sysno with args is restarted after it
// returned EINTR.
func restartClass(sysno uintptr, args arch.SyscallArguments) restartKind {
	switch sysno {
	case unix.SYS_READ, unix.SYS_READV, unix.SYS_PREAD64, unix.SYS_PREADV, unix.SYS_PREADV2,
		unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_PWRITE64, unix.SYS_PWRITEV, unix.SYS_PWRITEV2,
		unix.SYS_SENDFILE, unix.SYS_SPLICE, unix.SYS_TEE, unix.SYS_COPY_FILE_RANGE,
		unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_CREAT,
		unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_IOCTL, unix.SYS_FLOCK, unix.SYS_FCNTL,
		unix.SYS_ACCEPT, unix.SYS_ACCEPT4, unix.SYS_CONNECT, unix.SYS_RECVFROM, unix.SYS_RECVMSG,
		unix.SYS_SENDTO, unix.SYS_SENDMSG, unix.SYS_SENDMMSG, unix.SYS_RECVMMSG, unix.SYS_GETRANDOM, unix.SYS_FSYNC, unix.SYS_FDATASYNC,
		unix.SYS_MQ_TIMEDSEND, unix.SYS_MQ_TIMEDRECEIVE,
		sysFutexWaitv, sysFutexWait:
		return restartSys
	case unix.SYS_MSGSND, unix.SYS_MSGRCV:
		// Linux's ERESTARTNOHAND (semop and semtimedop are never
		// restarted).
		return restartNoHandler
	case unix.SYS_FUTEX:
		switch int32(args[1]) &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME) {
		case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
			if args[3] != 0 {
				return restartBlock
			}
			return restartSys
		case linux.FUTEX_LOCK_PI, FutexLockPI2, linux.FUTEX_WAIT_REQUEUE_PI:
			return restartAlways
		}
		return noRestart
	case unix.SYS_PAUSE, unix.SYS_RT_SIGSUSPEND, unix.SYS_SELECT, unix.SYS_PSELECT6, unix.SYS_PPOLL:
		return restartNoHandler
	case unix.SYS_NANOSLEEP:
		return restartBlock
	case unix.SYS_CLOCK_NANOSLEEP:
		if int32(args[1])&unix.TIMER_ABSTIME != 0 {
			return restartNoHandler
		}
		return restartBlock
	case unix.SYS_POLL:
		if int32(args[2]) >= 0 {
			return restartBlock
		}
		return restartNoHandler
	}
	return noRestart
}

// restartsWith reports whether a syscall of class k is restarted when a
// handler with flags runs (handler true) or when no handler runs.
func (k restartKind) restartsWith(handler bool, flags uint64) bool {
	switch k {
	case restartAlways:
		return true
	case restartSys:
		return !handler || flags&linux.SA_RESTART != 0
	case restartNoHandler, restartBlock:
		return !handler
	}
	return false
}

// restartSyscall rewinds t's registers so that syscall sysno (of restart
// class k) runs again, or restart_syscall when a restart block waits.
func (t *Thread) restartSyscall(sysno uint64, k restartKind) {
	t.Regs.Rax = sysno
	if k == restartBlock && t.restartBlock != nil {
		t.Regs.Rax = unix.SYS_RESTART_SYSCALL
	}
	t.Regs.Rip -= syscallInsnLen
}

// SetNoRestart makes an EINTR of the current syscall final whatever its
// restart class, as Linux's sock_intr_errno returns plain EINTR instead
// of ERESTARTSYS for a socket call that had a timeout (SO_RCVTIMEO,
// SO_SNDTIMEO). The dispatcher clears it when the next syscall starts
// (ClearNoRestart).
func (t *Thread) SetNoRestart() { t.noRestart = true }

// ClearNoRestart forgets SetNoRestart (at each syscall's entry).
func (t *Thread) ClearNoRestart() { t.noRestart = false }

// SetRestartBlock is what an interrupted restartBlock-class syscall calls
// before returning EINTR: if the syscall is restarted, restart_syscall
// runs fn instead of the syscall itself.
func (t *Thread) SetRestartBlock(fn func(t *Thread) (uintptr, error)) { t.restartBlock = fn }

// TakeRestartBlock returns and clears the restart block (restart_syscall),
// nil when there is none.
func (t *Thread) TakeRestartBlock() func(t *Thread) (uintptr, error) {
	fn := t.restartBlock
	t.restartBlock = nil
	return fn
}
