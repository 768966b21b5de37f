// Package platform is the contract between the sentry and the mechanisms that
// run application code: the ptrace platform (platform/ptrace) and the KVM
// platform (platform/kvm).
//
// A platform runs application machine code and reports why it stopped. It
// never serves a syscall itself: every syscall and fault comes back to the
// sentry as a Stop. The sentry owns all application memory (the memory file,
// sentry/memfile); a platform only maps ranges of that file at the addresses
// the sentry asks for.
//
// Three objects make up a platform:
//
//   - Platform: one per sandbox; creates address spaces and contexts.
//   - AddressSpace: one per application address space (a thread group);
//     holds which pages of the memory file are mapped where.
//   - Context: the execution state of one sentry task on this platform. It
//     is bound to the host thread of that task: every call to Switch is made
//     by the same locked OS thread (ptrace is per host thread; a KVM vCPU is
//     run by the thread that holds the sentry CPU).
//
// Locking: implementations document their own. Interrupt may be called from
// any goroutine at any time; every other method is called by the owning
// task only.
package platform

import (
	"errors"
	"fmt"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Platform creates the address spaces and contexts that run application
// code.
type Platform interface {
	// Name returns the platform's name as the --platform flag spells it.
	Name() string

	// MaxUserAddress returns the first address above the range an
	// application may map. Everything below it and at or above
	// hostarch.PageSize is the application's to use.
	MaxUserAddress() uintptr

	// NewAddressSpace returns a new, empty address space.
	//
	// It may block while host resources are set up (the ptrace platform
	// starts a stub process).
	NewAddressSpace() (AddressSpace, error)

	// NewContext returns a context for the calling task.
	//
	// Preconditions: the caller is locked to its OS thread
	// (runtime.LockOSThread) and stays locked for the context's life.
	NewContext() (Context, error)

	// Release frees everything the platform holds. Preconditions: every
	// AddressSpace and Context it made has been released.
	Release()
}

// AddressSpace is the set of memory-file pages mapped into one application
// address space.
type AddressSpace interface {
	// MapFile maps fr of the memory file at addr with access at, replacing
	// whatever was mapped at [addr, addr+fr.Length()).
	//
	// Preconditions: addr and fr are page aligned; addr+fr.Length() <=
	// MaxUserAddress; at is not empty. The caller is the task currently
	// running in this address space, or no task is running in it.
	MapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) error

	// Unmap removes every mapping in [addr, addr+length). Pages that were
	// not mapped are ignored. After Unmap returns no thread of the
	// address space can access those pages without faulting.
	//
	// Preconditions: as for MapFile.
	Unmap(addr, length uintptr)

	// Release tears the address space down. No context may switch into
	// it afterwards.
	Release()
}

// MapOp is one change of an address space's mappings in a batch
// (BatchMapper): with Access not empty, MapFile(Addr, FR, Access); with
// Access empty, Unmap(Addr, Length).
type MapOp struct {
	Addr   uintptr
	FR     memfile.FileRange
	Length uintptr
	Access hostarch.AccessType
}

// BatchMapper is implemented by address spaces whose mapping changes are
// host round trips (ptrace's and systrap's: an injected mmap or munmap
// each), which can apply several in one.
type BatchMapper interface {
	// MapBatch applies ops in order, with MapFile's and Unmap's
	// preconditions and effects, and returns how many it applied: on an
	// error, ops[:n] were applied, ops[n] failed and the rest were not
	// tried.
	MapBatch(ops []MapOp) (n int, err error)
}

// DeferredBatchMapper is implemented by BatchMappers that can leave a
// batch to the first thread that runs in the address space (a fork's
// child: its own thread injects directly where the forking thread would
// go through the platform's helper thread). MapBatchBeforeRun records ops
// and returns; they are applied in order before any application code runs
// in the address space and before any later MapFile, Unmap or MapBatch
// there. If applying them fails, every later Switch into the address
// space fails with ErrContextDead and every mapping change with an error
// (the caller's record of what is mapped would be wrong).
type DeferredBatchMapper interface {
	MapBatchBeforeRun(ops []MapOp)
}

// StopKind says why Context.Switch returned.
type StopKind int

const (
	// StopSyscall: the thread executed a syscall instruction. The syscall
	// has not been run; its number and arguments are in the registers and
	// the sentry sets the return value in rax before switching back.
	// Stop.Syscall32 says the instruction was a 32-bit one (int $0x80).
	StopSyscall StopKind = iota
	// StopFault: the thread faulted on a memory access (Stop.Addr,
	// Stop.Access), or raised another synchronous exception (Stop.Signo is
	// SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGTRAP with Stop.Code as si_code).
	StopFault
	// StopInterrupt: Interrupt was called. The thread's state is intact.
	StopInterrupt
)

func (k StopKind) String() string {
	switch k {
	case StopSyscall:
		return "syscall"
	case StopFault:
		return "fault"
	case StopInterrupt:
		return "interrupt"
	}
	return fmt.Sprintf("StopKind(%d)", int(k))
}

// Stop is the reason application execution stopped.
type Stop struct {
	Kind StopKind
	// Signo is the signal the hardware event maps to (StopFault).
	Signo int
	// Code is the si_code of that signal (SEGV_MAPERR, SEGV_ACCERR, ...).
	Code int32
	// Addr is the faulting address (StopFault).
	Addr uintptr
	// Access is the access that faulted, when the platform knows it. A
	// platform that cannot tell reports Read, and the sentry retries with
	// wider access when the page is mapped with less than its VMA allows.
	Access hostarch.AccessType
	// Syscall32 (StopSyscall) says the syscall was made by a 32-bit
	// system call instruction (int $0x80, or sysenter on a CPU that runs
	// it in 64-bit mode) rather than syscall: Orig_rax holds an i386
	// syscall number and the arguments are in ebx, ecx, edx, esi, edi,
	// ebp. The registers are as after a syscall instruction: rip just
	// after the 2-byte instruction, rax -ENOSYS.
	Syscall32 bool
}

// Context runs one task's application code.
type Context interface {
	// Switch runs the application with registers regs in address space as
	// until it stops, and returns why. On return regs hold the
	// application's registers at the stop.
	//
	// Preconditions: called by the OS thread that created the context; as
	// was made by the same platform and not released.
	//
	// Errors: ErrContextDead if the host side of the context died (for
	// example the stub process was killed from outside); the task cannot
	// continue and the sentry kills it.
	Switch(as AddressSpace, regs *arch.Registers) (Stop, error)

	// Interrupt makes a running Switch return StopInterrupt as soon as
	// possible, or, if no Switch is running, the next Switch return
	// StopInterrupt without running application code. It may be called
	// from any goroutine and never blocks.
	Interrupt()

	// Release frees the context's host resources.
	// Preconditions: called by the owning OS thread; no Switch running.
	Release()
}

// RecyclableContext is implemented by Contexts that can serve another task
// after theirs exited, on the same OS thread, instead of being released:
// the sentry keeps such a Context with the exited task's host thread and
// gives both to the next task that starts (kernel/hostthread.go), which
// saves what making a Context costs (on ptrace, a stub thread's hand-over
// to the new thread).
type RecyclableContext interface {
	// Recycle readies the Context for a new task: it forgets interrupts
	// meant for the old one and reports whether the Context can be
	// reused (false: release it). The new task's Switch sets all of the
	// registers; the FP state of the Context's thread in an address space
	// is the old task's until the new task sets it (FPStateContext).
	// Preconditions: called by the owning OS thread; no Switch running.
	Recycle() bool
}

// HandOnContext is implemented by Contexts that can outlive the address
// space of their task, the last there, when the host process behind it
// is recycled into another address space (a stub process back in the
// ptrace platform's pool): the Context keeps its stub thread there, and
// the next task switching into an address space with the same ReuseKey
// on the Context's OS thread finds it ready (a fork's child in a
// fork+exit+wait loop: no stub thread made, handed over, seized, killed
// or reaped per fork).
type HandOnContext interface {
	// RecycleAfter readies the Context, whose task was the last in as,
	// for a task in a later address space on as's host process, as
	// Recycle does, and reports whether it can (false: release it).
	// Preconditions: called by the owning OS thread before as is
	// released; no Switch running.
	RecycleAfter(as AddressSpace) bool
}

// ReuseKey returns the key under which a task in as may take a host
// thread an exited task kept its Context with (RecyclableContext,
// HandOnContext): the address space's host process where the address
// space has one that outlives it (an address space implementing
// ReuseKey() any), else as itself.
func ReuseKey(as AddressSpace) any {
	if k, ok := as.(interface{ ReuseKey() any }); ok {
		return k.ReuseKey()
	}
	return as
}

// ErrContextDead is returned by Switch when the context can no longer run
// application code.
var ErrContextDead = errors.New("platform context is dead")

// FPStateContext is implemented by Contexts that can read and replace the
// floating-point and extended register state (x87, SSE, AVX, ...) of the
// application thread they run. The sentry saves that state in signal
// frames and restores it on rt_sigreturn; a Context without it gives
// handlers the interrupted code's FP state and cannot restore it.
//
// The layout is the standard (non-compacted) XSAVE area of the host CPU,
// as PTRACE_GETREGSET NT_X86_XSTATE reports it: the 512-byte FXSAVE legacy
// area (whose bytes 464-511, the software-reserved area, carry the host's
// struct _fpx_sw_bytes), the 64-byte XSAVE header at 512, then the
// extended components. On a CPU without XSAVE it is the 512-byte FXSAVE
// area alone.
type FPStateContext interface {
	// FPState returns a copy of the FP state of the context's thread in
	// as.
	//
	// Preconditions: as for Switch; no Switch is running.
	FPState(as AddressSpace) ([]byte, error)

	// SetFPState replaces the FP state of the context's thread in as.
	// state is either as long as what FPState returns, or a 512-byte
	// FXSAVE area (the extended components then return to their initial
	// state).
	//
	// Preconditions: as for Switch; no Switch is running.
	//
	// Errors: ErrInvalidFPState if the state is malformed (a bad length,
	// reserved bits set in the XSAVE header or MXCSR); ErrContextDead if
	// the host side died.
	SetFPState(as AddressSpace, state []byte) error
}

// ErrInvalidFPState is returned by FPStateContext.SetFPState for a state
// the CPU would refuse to load.
var ErrInvalidFPState = errors.New("invalid floating-point state")

// HostCPUPinner is implemented by contexts whose application code runs on
// a host thread other than the caller's (the ptrace platform's stub
// threads). The sentry calls PinHostCPU from the owning thread when the
// task moves to a sandbox CPU backed by another host CPU, so application
// code runs where the task's sandbox CPU is, like the task's own thread.
// A failure is not fatal: the application merely runs unpinned.
type HostCPUPinner interface {
	PinHostCPU(cpu int) error
}

// HostCPUsBusyUser is implemented by platforms whose host threads may use
// a host CPU besides the one of the task they serve (systrap's stub
// threads while its task's thread spins). The sentry calls
// SetHostCPUsBusy once the kernel is built, with a function that reports
// whether the sandbox's tasks hold a CPU on every host CPU the sentry has
// (kernel.Kernel.HostCPUsBusy): a host CPU used besides the task's
// is then taken from another of the sandbox's tasks. The function never blocks
// and may be called from any thread.
type HostCPUsBusyUser interface {
	SetHostCPUsBusy(busy func() bool)
}

// CPUBinder is implemented by contexts that run application code on
// per-CPU state of the platform (the KVM platform: one vCPU per sandbox
// CPU). The sentry calls BindCPU from the owning thread, before Switch,
// with the kernel's id of the sandbox CPU the task holds (kernel.CPU.ID)
// whenever it differs from the last one bound; calling it before every
// Switch is also allowed. A context never bound runs on CPU 0. BindCPU
// does not block and cannot fail: a CPU the platform cannot back makes
// the next Switch fail.
//
// Preconditions: the caller holds sandbox CPU cpu until after its next
// Switch returns. The kernel runs one task per CPU at a time, so no two
// contexts bound to the same CPU are ever in Switch at once; a platform
// may check this and fail the Switch (the sentry then kills only that
// task's process) rather than share its per-CPU state.
type CPUBinder interface {
	BindCPU(cpu int)
}

// DeathWatcher is implemented by platforms whose address spaces run in
// host processes that can die on their own (the ptrace platform's stubs,
// killed from the host with kill -9). The sentry calls WatchDeaths once,
// before the first address space is made; from then on the platform calls
// fn, on a goroutine of its own and without holding any lock, once for
// each address space whose host side died other than by the sentry's own
// doing, so that the sentry ends the processes using it with SIGKILL at
// once (instead of when one of them next runs application code, which a
// process asleep in the sentry may never do).
type DeathWatcher interface {
	WatchDeaths(fn func(AddressSpace))
}
