package ptrace

import (
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
)

// Raw host syscalls used by the platform. The ptrace requests are quick and
// never block, so they use RawSyscall; wait4 blocks for as long as the
// application runs, so it goes through Syscall to let the Go scheduler hand
// the P to another thread meanwhile.

// Wait status decoding (see wait(2) and ptrace(2)).
const (
	// syscallStop is the stop signal of a syscall-stop under
	// PTRACE_O_TRACESYSGOOD.
	syscallStop = int(unix.SIGTRAP) | 0x80
)

// waitStatus is a raw wait4 status.
type waitStatus uint32

func (s waitStatus) stopped() bool { return s&0xff == 0x7f }

// stopSignal is the signal of a stop (with bit 0x80 for syscall-stops).
func (s waitStatus) stopSignal() int { return int(s>>8) & 0xff }

// event is the PTRACE_EVENT_* of a stop, or 0.
func (s waitStatus) event() int { return int(s >> 16) }

func (s waitStatus) String() string { return unix.WaitStatus(s).Signal().String() }

func ptraceSetRegs(tid int32, regs *arch.Registers) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(regs)), 0, 0)
	return e
}

func ptraceGetRegs(tid int32, regs *arch.Registers) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(regs)), 0, 0)
	return e
}

// siginfo is a raw struct siginfo (128 bytes).
type siginfo struct {
	Signo int32
	Errno int32
	Code  int32
	_     int32
	// Addr is si_addr for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and
	// si_call_addr for SIGSYS; for signals sent by kill it holds si_pid
	// (low half) and si_uid (high half).
	Addr uint64
	_    [13]uint64
}

func ptraceGetSiginfo(tid int32, si *siginfo) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0, uintptr(unsafe.Pointer(si)), 0, 0)
	return e
}

// ptraceResume restarts a stopped tracee with request (PTRACE_SYSEMU,
// PTRACE_CONT, ...), suppressing any signal it stopped on.
func ptraceResume(request int, tid int32) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(request), uintptr(tid), 0, 0, 0, 0)
	return e
}

func ptraceSeize(tid int32, options uintptr) unix.Errno {
	platform.Counts.Seizes.Add(1)
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(tid), 0, options, 0, 0)
	return e
}

func ptraceSetOptions(tid int32, options uintptr) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SETOPTIONS, uintptr(tid), 0, options, 0, 0)
	return e
}

// ptraceDetach detaches from tid, delivering sig to it.
func ptraceDetach(tid int32, sig unix.Signal) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(tid), 0, uintptr(sig), 0, 0)
	return e
}

// wait4 waits for a state change of tid, retrying on EINTR.
func wait4(tid int32, status *waitStatus, options int) unix.Errno {
	for {
		_, _, e := unix.Syscall6(unix.SYS_WAIT4, uintptr(tid), uintptr(unsafe.Pointer(status)), uintptr(options), 0, 0, 0)
		if e != unix.EINTR {
			return e
		}
	}
}

func gettid() int32 {
	r, _, _ := unix.RawSyscall(unix.SYS_GETTID, 0, 0, 0)
	return int32(r)
}

// injectRegs returns the registers that make a stub thread stopped in the
// stub run syscall sysno with args at the injection point.
func injectRegs(base *arch.Registers, sysno uintptr, args [6]uintptr) arch.Registers {
	regs := *base
	regs.Rip = stubSyscall
	regs.Rax = uint64(sysno)
	// No syscall is in progress as far as the kernel's restart logic is
	// concerned.
	regs.Orig_rax = ^uint64(0)
	regs.Rdi = uint64(args[0])
	regs.Rsi = uint64(args[1])
	regs.Rdx = uint64(args[2])
	regs.R10 = uint64(args[3])
	regs.R8 = uint64(args[4])
	regs.R9 = uint64(args[5])
	return regs
}

// injectSyscall runs syscall sysno(args) in the stub thread tid, which the
// calling OS thread traces and which is in a ptrace stop. It returns the
// syscall's result. The thread's registers are left at the end of the
// injection sequence: callers that resume application code set them anew.
//
// Signal stops met on the way (a stale interrupt signal, a signal from
// outside) are suppressed: interrupts are tracked by the Context's pending
// flag, not by the host signal.
func injectSyscall(tid int32, base *arch.Registers, sysno uintptr, args [6]uintptr) (uintptr, error) {
	platform.Counts.Injections.Add(1)
	platform.Counts.InjectedSyscalls.Add(1)
	regs := injectRegs(base, sysno, args)
	if err := runInjected(tid, &regs, stubTrapReturn); err != nil {
		return 0, err
	}
	if r := int64(regs.Rax); r < 0 && r > -4096 {
		return 0, unix.Errno(-r)
	}
	return uintptr(regs.Rax), nil
}

// runInjected sets the registers of the stub thread tid (traced by the
// calling OS thread, in a ptrace stop) to regs, resumes it and waits for
// the trap at trapReturn that ends an injection; regs are then the
// thread's registers there.
func runInjected(tid int32, regs *arch.Registers, trapReturn uint64) error {
	if e := ptraceSetRegs(tid, regs); e != 0 {
		return stubError(tid, "PTRACE_SETREGS", e)
	}
	var status waitStatus
	for {
		if e := ptraceResume(unix.PTRACE_CONT, tid); e != 0 {
			return stubError(tid, "PTRACE_CONT", e)
		}
		if e := wait4(tid, &status, unix.WALL); e != 0 {
			return stubError(tid, "wait4", e)
		}
		if !status.stopped() {
			return stubExited(tid, status)
		}
		if status.stopSignal() != int(unix.SIGTRAP) || status.event() != 0 {
			// Not our int3: a signal-delivery-stop or a
			// group-stop. Suppress it and go on.
			continue
		}
		if e := ptraceGetRegs(tid, regs); e != 0 {
			return stubError(tid, "PTRACE_GETREGS", e)
		}
		if regs.Rip != trapReturn {
			// A SIGTRAP that is not the stub's int3 (sent from
			// outside, or the syscall has not run yet).
			continue
		}
		return nil
	}
}
