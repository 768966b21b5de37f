// Package systrap is the systrap platform: application code runs in stub
// threads under a seccomp filter that traps every syscall with SIGSYS, and
// a signal handler of ours hands each syscall and fault to the sentry over
// shared memory, without ptrace stops.
//
// # What it owns
//
// It is built on the ptrace platform's stub processes (ptrace.NewVariant):
// the zygote, one forked stub process per address space with its master
// goroutine, MapFile/Unmap by mmap/munmap injected into that stub process,
// the death watcher and the reaping are platform/ptrace's. This package
// owns the variant: the handler code in the stub page (src/stub.S,
// assembled by src/gen.sh into stubcode.go), the stub's seccomp filter,
// the signal handlers, and per address space the per-thread regions of
// shared memory (addressSpace.regions); per Context one stub thread per
// address space it ran in, which it created through ptrace, set up and
// detached: from then on nothing traces it.
//
// # Memory layout of a stub
//
//	0x7fff00000000           MaxUserAddress (the application's range ends);
//	                         ptrace's batch page (read-only)
//	0x7fff7ffff000           the zygote's setup page (signal actions)
//	0x7fff80000000 + n*64K   region n: message page, then 60 KiB of
//	                         alternate signal stack (one per stub thread)
//	0x7fffff000000           the stub page: ptrace's injection code at
//	                         +0xc0, this package's code at +0x180
//
// Each region is 16 pages of the sentry's memory file, mapped shared in
// the stub and seen by the sentry through memfile.Slice: both sides read
// and write it directly.
//
// # The round trip
//
// A stub thread runs application code with an empty host signal mask.
// A syscall from any instruction address but the stub's own makes the
// filter return SECCOMP_RET_TRAP; the host delivers SIGSYS on the
// thread's alternate stack, in its region, saving the general registers
// and the FP/XSAVE state in the signal frame there. The handler (SIGSYS,
// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP and the interrupt signal
// SIGURG all run it, with every signal blocked) finds its message page by
// masking its stack pointer, stores the signal number and the frame's
// siginfo and ucontext addresses there, sets the state word to "event",
// futex-wakes it when the sentry sleeps, polls it for "resume" as many
// times as the sentry last said (msgStubPolls: an adaptive budget, so
// that a short syscall needs no wake of the stub), and futex-waits while
// it stays "event". The sentry's
// task thread, waiting on the same word (a bounded spin, then a futex wait
// with a timeout after which it checks that the thread is alive), reads
// the registers from the frame's mcontext and the syscall number and
// faulting address from its siginfo, and returns the Stop. The next
// Switch writes the registers into the frame, sets the state to
// "resume" and wakes the word; the handler, if the sentry changed the fs
// or gs base, sets it with arch_prctl, and returns into the restorer, whose
// rt_sigreturn loads the registers and FP state from the frame: the
// application resumes. The FP state is read and written in the frame
// (FPStateContext) and so follows the task across address spaces, unlike
// on ptrace.
//
// A new stub thread is made by the ptrace platform (ptrace.NewStubThread),
// traced by the Context's OS thread, which injects: the mapping of its
// region (when new), sigaltstack on it and a second
// seccomp filter of its own that traps syscalls from the injection
// address (threadFilter); it then sets rip to the bootstrap's syscall,
// sends SIGCONT (ptrace hands threads over in group-stop) and
// detaches. The bootstrap traps into the handler: the thread is parked,
// ready for its first Switch.
//
// # Interrupt
//
// Interrupt sets an atomic pending flag and, when a Switch is running,
// sends SIGURG to the stub thread through its pidfd. The handler reports
// it like any signal; Switch returns StopInterrupt if pending was set and
// otherwise resumes. As on ptrace, pending is the source of truth.
//
// # The filter
//
// The stub's seccomp filter (stubFilter, in every stub) allows: any
// syscall from the ptrace injection address (only ever reached by the
// ptrace platform's injections: in systrap's own threads the second
// filter traps it); mmap(MAP_SHARED|MAP_FIXED) and munmap from the
// ptrace platform's batch loop (likewise trapped in systrap's threads); futex from the handler's one syscall instruction, with
// FUTEX_WAIT or FUTEX_WAKE (shared) on an address in the regions;
// arch_prctl(ARCH_SET_FS or ARCH_SET_GS) from the handler's other one;
// rt_sigreturn from the restorer's; sched_yield from the yields' (after
// the stub's poll). Everything else, including every 32-bit syscall and
// the vsyscall page's emulation, traps. Application code that jumps to
// the stub's code reaches those four calls with its own registers: a
// futex on a message word (the sentry checks what it reads there and
// never trusts the page beyond the registers the application could have
// set anyway), setting its own fs or gs base, a sigreturn into registers
// it chooses, or a sched_yield it could make by trapping one. The message pages are writable by the application (they are
// in its host address space): forging one makes the sentry serve a
// syscall with registers the application chose for a thread of its own
// address space, which it could have made anyway. A syscall that traps
// at a stub address is reported as an instruction fetch fault there, as
// on ptrace. A forged rt_sigreturn could load a host signal mask that
// keeps the interrupt signal out: a thread that leaves an interrupt
// unanswered for interruptGrace is killed (its process dies).
//
// # Locking
//
//   - addressSpace.mu protects the region table (leaf).
//   - context.mu serialises Interrupt's signal with the closing of the
//     pidfd it signals (leaf).
//   - Platform.mu protects the map from ptrace address spaces to ours
//     (leaf).
//   - Everything else in a context belongs to its OS thread.
package systrap

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel/hostcpus"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

//go:generate src/gen.sh

const (
	pageSize = 4096

	// regionSize is the size (and alignment) of a stub thread's region.
	// It must match REGION_MASK in src/stub.S.
	regionSize = 0x10000
	// regionsBase is the address of region 0.
	regionsBase = 0x7fff80000000
	// maxRegions bounds the stub threads of one address space.
	maxRegions = (ptrace.StubScratch - regionsBase) / regionSize
	// setupScratch is the zygote's setup page.
	setupScratch = regionsBase - pageSize

	// stubCodeBase is where stubCode is loaded.
	stubCodeBase = ptrace.StubBase + ptrace.StubVariantCodeOffset

	// interruptSignal is Interrupt's signal.
	interruptSignal = unix.SIGURG
)

// Message page offsets (src/stub.S).
const (
	msgState    = 0
	msgSigno    = 4
	msgSiginfo  = 8
	msgUcontext = 16
	msgFSBase   = 24
	msgSetBase  = 32 // bit 0: set msgFSBase; bit 1: set msgGSBase
	msgGSBase   = 40
	// msgSentryWaiting is nonzero while the sentry may sleep on the
	// state word: only then does the stub wake it.
	msgSentryWaiting = 36
	// msgStubWaiting is nonzero while the stub may sleep on the state
	// word: only then does the sentry wake it.
	msgStubWaiting = 48
	// msgStubPolls is how many times the stub polls the state word for
	// "resume" before it sleeps (the sentry's choice, written with each
	// resume for the stub's next event).
	msgStubPolls = 52
	// msgStubYields is how many sched_yields the stub makes after its
	// polls, looking for "resume" after each, before it sleeps (the
	// sentry's choice, written with msgStubPolls).
	msgStubYields = 56
	// msgStubSeen is the TSC at which the stub saw "resume" during its
	// yields (0 if it saw it otherwise); the sentry clears it.
	msgStubSeen = 64

	stateEvent  = 1
	stateResume = 2

	// msgSetup is where the sentry puts the arguments of a new thread's
	// injected setup calls.
	msgSetup = 1024
)

// handledSignals are the signals whose action is the stub's handler.
var handledSignals = []unix.Signal{unix.SIGSYS, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, interruptSignal}

// Platform is the systrap platform.
type Platform struct {
	pt *ptrace.Platform
	mf *memfile.MemoryFile

	// spin is how long a task thread polls the message word before it
	// sleeps on it (0 on a one-CPU host: the stub cannot answer while we
	// spin).
	spin time.Duration
	// stubSpin is how long a stub polls for the sentry's answer before
	// it sleeps (0 where the sentry does not spin), and pollNs what one
	// of its polls costs (measured at start).
	stubSpin time.Duration
	pollNs   float64
	// pin: stub threads are pinned to their task's host CPU
	// (RUNSC_LITE_SYSTRAP_PIN=1, for measurements; context.PinHostCPU).
	pin bool
	// prewakeSpin is how long a stub woken by Prewake polls for its
	// task's resume before it sleeps again (0: no prewakes;
	// RUNSC_LITE_SYSTRAP_PREWAKE_US).
	prewakeSpin time.Duration
	// stubYields is how many sched_yields a stub makes after its poll
	// before it sleeps (only where it polls at all).
	stubYields uint32
	// yieldLate is how many TSC ticks after "resume" a stub in its
	// yields may see it and still count as a hit of the yields' policy
	// (yieldLateness), 0 if the TSC's rate could not be measured.
	yieldLate uint64
	// cpus are the host CPUs the sentry was started with (hostcpus),
	// where stub threads are placed (context.stubCPUs).
	cpus unix.CPUSet
	// hostCPUsBusy reports whether the sandbox's tasks hold every host
	// CPU (SetHostCPUsBusy; nil: never said), for context.crowded.
	hostCPUsBusy atomic.Pointer[func() bool]

	mu sync.Mutex
	// spaces maps the ptrace platform's address spaces to ours.
	spaces map[platform.AddressSpace]*addressSpace
}

// SetHostCPUsBusy implements platform.HostCPUsBusyUser.
func (p *Platform) SetHostCPUsBusy(busy func() bool) { p.hostCPUsBusy.Store(&busy) }

var (
	_ platform.HostCPUsBusyUser = (*Platform)(nil)
	_ platform.Platform         = (*Platform)(nil)
	_ platform.DeathWatcher     = (*Platform)(nil)
	_ platform.FPStateContext   = (*context)(nil)
)

// New returns a systrap platform whose address spaces map pages of mf. It
// fails when the host does not deliver seccomp traps (no seccomp filters,
// no SECCOMP_RET_TRAP): the caller then falls back to ptrace. Like
// ptrace.New it must run while /proc is in view.
func New(mf *memfile.MemoryFile) (*Platform, error) {
	filter, err := stubFilter()
	if err != nil {
		return nil, err
	}
	pt, err := ptrace.NewVariant(mf, ptrace.StubVariant{
		Code:   stubCode,
		Filter: filter,
		Setup:  func(sys func(uintptr, ...uintptr) (uintptr, error)) error { return setupZygote(mf, sys) },
	})
	if err != nil {
		return nil, fmt.Errorf("systrap: %w", err)
	}
	p := &Platform{
		pt:          pt,
		mf:          mf,
		spin:        spinFromEnv("RUNSC_LITE_SYSTRAP_SPIN_US", defaultSpin),
		stubSpin:    spinFromEnv("RUNSC_LITE_SYSTRAP_STUB_SPIN_US", defaultStubSpin),
		pollNs:      pollCost(),
		yieldLate:   uint64(yieldLateness.Nanoseconds()) * tscPerUs() / 1000,
		pin:         os.Getenv("RUNSC_LITE_SYSTRAP_PIN") == "1",
		prewakeSpin: spinFromEnv("RUNSC_LITE_SYSTRAP_PREWAKE_US", defaultPrewakeSpin),
		stubYields:  countFromEnv("RUNSC_LITE_SYSTRAP_STUB_YIELDS", defaultStubYields),
		spaces:      make(map[platform.AddressSpace]*addressSpace),
	}
	p.cpus = hostcpus.Set()
	if err := p.selfTest(); err != nil {
		pt.Release()
		return nil, fmt.Errorf("systrap: seccomp traps do not work on this host: %w", err)
	}
	return p, nil
}

// setupZygote installs the stub's handler for handledSignals in the
// zygote and empties its signal mask (and so in every stub, which are
// forks of it, and their threads).
func setupZygote(mf *memfile.MemoryFile, sys func(uintptr, ...uintptr) (uintptr, error)) error {
	fr, err := mf.Allocate(1)
	if err != nil {
		return err
	}
	defer mf.DecRef(fr)
	buf := mf.Slice(fr)
	le := binary.LittleEndian
	// struct kernel_sigaction { handler, flags, restorer, mask }
	le.PutUint64(buf[0:], stubCodeBase+stubHandler)
	le.PutUint64(buf[8:], linux.SA_SIGINFO|linux.SA_ONSTACK|linux.SA_RESTORER)
	le.PutUint64(buf[16:], stubCodeBase+stubRestorer)
	le.PutUint64(buf[24:], ^uint64(0))
	if _, err := sys(unix.SYS_MMAP, setupScratch, pageSize, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED, ptrace.StubMemFD, uintptr(fr.Start)); err != nil {
		return fmt.Errorf("mapping the setup page: %w", err)
	}
	for _, sig := range handledSignals {
		if _, err := sys(unix.SYS_RT_SIGACTION, uintptr(sig), setupScratch, 0, 8); err != nil {
			return fmt.Errorf("rt_sigaction(%v): %w", sig, err)
		}
	}
	// An empty signal mask (the page's bytes 64-71), inherited by every
	// stub and stub thread.
	if _, err := sys(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, setupScratch+64, 0, 8); err != nil {
		return fmt.Errorf("rt_sigprocmask: %w", err)
	}
	if _, err := sys(unix.SYS_MUNMAP, setupScratch, pageSize); err != nil {
		return fmt.Errorf("unmapping the setup page: %w", err)
	}
	return nil
}

// Offsets in struct seccomp_data.
const (
	seccompDataNR     = 0
	seccompDataArch   = 4
	seccompDataIPLow  = 8
	seccompDataIPHigh = 12
	seccompDataArg0   = 16
	seccompDataArg1   = 24
)

func lo(v uint64) uint32 { return uint32(v) }
func hi(v uint64) uint32 { return uint32(v >> 32) }

// stubFilter returns the seccomp program of every stub (see the package
// comment).
func stubFilter() ([]bpf.Instruction, error) {
	const (
		allow   = "allow"
		trap    = "trap"
		futex   = "futex"
		archFS  = "archFS"
		sigret  = "sigret"
		yield   = "yield"
		inStubs = "inStubs"
		batch   = "batch"
	)
	b := bpf.NewProgramBuilder()
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArch)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, linux.AUDIT_ARCH_X86_64, 0, trap)
	// Every allowed instruction address is in the stub page, whose
	// high half is that of the regions too.
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataIPHigh)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, hi(ptrace.StubInjectReturn), inStubs, trap)
	if err := b.AddLabel(inStubs); err != nil {
		return nil, err
	}
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataIPLow)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, lo(ptrace.StubInjectReturn), allow, 0)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, lo(ptrace.StubBatchReturn), batch, 0)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, lo(stubCodeBase+stubFutexReturn), futex, 0)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, lo(stubCodeBase+stubArchPrctlReturn), archFS, 0)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, lo(stubCodeBase+stubYieldReturn), yield, 0)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, lo(stubCodeBase+stubSigreturnReturn), sigret, trap)

	// futex(addr in the regions, FUTEX_WAIT or FUTEX_WAKE, ...)
	if err := b.AddLabel(futex); err != nil {
		return nil, err
	}
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataNR)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, unix.SYS_FUTEX, 0, trap)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg1+4)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, 0, 0, trap)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg1)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jgt|bpf.K, linux.FUTEX_WAKE, trap, 0)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg0+4)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, hi(regionsBase), 0, trap)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg0)
	b.AddJumpLabels(bpf.Jmp|bpf.Jge|bpf.K, lo(regionsBase), allow, trap)

	// arch_prctl(ARCH_SET_FS or ARCH_SET_GS, ...)
	if err := b.AddLabel(archFS); err != nil {
		return nil, err
	}
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataNR)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, unix.SYS_ARCH_PRCTL, 0, trap)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg0+4)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, 0, 0, trap)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg0)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, linux.ARCH_SET_FS, allow, 0)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, linux.ARCH_SET_GS, allow, trap)

	// sched_yield() (the stub's wait after its poll)
	if err := b.AddLabel(yield); err != nil {
		return nil, err
	}
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataNR)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, unix.SYS_SCHED_YIELD, allow, trap)

	// rt_sigreturn()
	if err := b.AddLabel(sigret); err != nil {
		return nil, err
	}
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataNR)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, unix.SYS_RT_SIGRETURN, allow, trap)

	// mmap and munmap from ptrace's batch loop (in systrap's own
	// threads the second filter traps them).
	if err := ptrace.AddBatchRule(b, batch, allow, trap); err != nil {
		return nil, err
	}

	return ptrace.FinishFilter(b, []ptrace.FilterReturn{
		{Label: allow, Action: linux.SECCOMP_RET_ALLOW},
		{Label: trap, Action: linux.SECCOMP_RET_TRAP},
	})
}

// threadFilter returns the second seccomp program of each of systrap's
// stub threads: it traps syscalls from the ptrace injection address and
// from its batch loop, which the stub filter allows for the stub
// process's sake.
func threadFilter() ([]bpf.Instruction, error) {
	b := bpf.NewProgramBuilder()
	const (
		allow = "allow"
		trap  = "trap"
	)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataIPHigh)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, hi(ptrace.StubInjectReturn), 0, allow)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataIPLow)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, lo(ptrace.StubInjectReturn), trap, 0)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, lo(ptrace.StubBatchReturn), trap, allow)
	return ptrace.FinishFilter(b, []ptrace.FilterReturn{
		{Label: allow, Action: linux.SECCOMP_RET_ALLOW},
		{Label: trap, Action: linux.SECCOMP_RET_TRAP},
	})
}

// Name implements platform.Platform.Name.
func (p *Platform) Name() string { return "systrap" }

// MaxUserAddress implements platform.Platform.MaxUserAddress.
func (p *Platform) MaxUserAddress() uintptr { return ptrace.MaxUserAddress }

// NewAddressSpace implements platform.Platform.NewAddressSpace.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	inner, err := p.pt.NewAddressSpace()
	if err != nil {
		return nil, err
	}
	as := &addressSpace{AddressSpace: inner, p: p}
	as.adoptHandedOn()
	p.mu.Lock()
	p.spaces[inner] = as
	p.mu.Unlock()
	return as, nil
}

// NewContext implements platform.Platform.NewContext.
func (p *Platform) NewContext() (platform.Context, error) {
	return newContext(p), nil
}

// WatchDeaths implements platform.DeathWatcher.
func (p *Platform) WatchDeaths(fn func(platform.AddressSpace)) {
	p.pt.WatchDeaths(func(inner platform.AddressSpace) {
		p.mu.Lock()
		as := p.spaces[inner]
		p.mu.Unlock()
		if as != nil {
			fn(as)
		}
	})
}

// Release implements platform.Platform.Release.
func (p *Platform) Release() { p.pt.Release() }
