// Package ptrace is the ptrace platform: it runs application code in host
// processes ("stubs") traced by the sentry, and returns every syscall and
// fault to the sentry as a platform.Stop.
//
// # What it owns
//
// Per Platform the zygote (a stub process every other stub is forked from,
// with its own master goroutine) and the death watcher (deaths.go); per
// AddressSpace one stub process, the "master" goroutine that traces it and
// the stub threads cloned from it; per Context the map from AddressSpace to
// the stub thread the Context runs in. It owns no application memory: the
// sentry's memory file (sentry/memfile) is passed into every stub at fd 0
// and ranges of it are mapped there with injected mmap calls.
//
// # The stub
//
// The stub is a static ELF64 built at run time (stubImage): one PT_LOAD
// page, r-x, at stubBase = 0x7fffff000000, above MaxUserAddress =
// 0x7fff00000000, holding the ELF headers and the code at stubBase+0xc0:
//
//	+0xc0 entry:  int3; jmp entry     never runs (see below)
//	+0xc3 inject: syscall             the injection point
//	+0xc5 done:   int3; jmp done      the tracer's "syscall returned" trap
//	+0xc8 batch:  a loop of syscalls over the batch page's entries
//	              (r12, r13); its syscall at +0xef; int3 at +0x102 when
//	              done or at the first error (batch.go)
//
// It is exec'd once per Platform, as the zygote, from a sealed memfd (via
// /proc/self/fd/N, so New must run while /proc is in view: the confined
// sentry has none afterwards) by the zygote's master with PTRACE_TRACEME,
// Pdeathsig SIGKILL, a new session and ADDR_NO_RANDOMIZE (so the host
// stack cannot land on stubBase). The post-exec SIGTRAP stops it before its
// first instruction. To run a syscall in a stub process or
// thread (injectSyscall), its tracer sets rip to inject and the syscall
// registers, PTRACE_CONTs, and waits for the SIGTRAP of the int3 at done;
// the registers are not restored, as the next Switch sets them all anyway.
// Setup injects:
//
//   - close_range(1, ~0): the stub keeps only the memory file, at fd 0;
//   - munmap of [0, stubBase) and [stubBase+4096, 0x7ffffffff000): the
//     host's stack, vDSO and vvar are gone, only the stub page is left;
//   - prctl(PR_SET_NO_NEW_PRIVS) and seccomp(SECCOMP_SET_MODE_FILTER) with
//     a filter (stubFilter) that allows a syscall only when its instruction
//     pointer is inject+2, traps vsyscall emulation, and kills the process
//     otherwise. The program is passed through one memory-file page mapped
//     for the occasion at stubBase-4096 and written through the sentry's
//     view of the memory file (the same page carries the name set with
//     PR_SET_NAME, "runsc-lite-stub");
//   - before the filter, every capability is dropped: securebits locked
//     (no root exemption on exec), the bounding set emptied (while the
//     stub still has CAP_SETPCAP), then capset of empty sets (the same
//     page carries its arguments).
//
// Every address space's stub is a fork of the zygote (forkStub: an
// injected clone(CLONE_PARENT|CLONE_PTRACE)), so it inherits all of the
// above; it gets PR_SET_PDEATHSIG, is detached into group-stop and seized
// by the new address space's master, like a stub thread (below). Should
// the zygote be killed from the host, a live address space's stub is
// forked instead and its application mappings dropped. No stub is ever
// exec'd after New.
//
// A released address space's stub is not killed but recycled (pool.go):
// its master reaps its killed stub threads, unmaps the application range,
// clones a spare stub thread and puts it, as a new addressSpace, in a
// bounded pool that NewAddressSpace takes from before it forks a new stub;
// a Context's first Switch into an address space seizes its spare thread
// when it has one. A process that makes a second thread gets spares made
// in the background by its master.
//
// Application syscalls run under PTRACE_SYSEMU and never reach seccomp
// (the kernel stops and skips them first); the filter is defence in depth.
//
// # Thread model
//
// Every AddressSpace has a master goroutine locked to its own OS thread
// (never unlocked, so the thread dies with the goroutine and with it, by
// PTRACE_O_EXITKILL, the stub). The master is the stub process's tracer;
// its real parent is the zygote's master's thread (CLONE_PARENT), whose
// death its Pdeathsig follows. It serves requests over a channel:
// inject a syscall (for MapFile/Unmap called from a thread that has no
// stub thread in the address space), create a stub thread, shut down.
//
// A stub thread is a process of its own that shares the stub's memory:
// the master injects clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|
// CLONE_PARENT|CLONE_PTRACE). Without CLONE_THREAD a SIGKILL or group-stop
// of one stub thread touches no other; CLONE_PARENT makes the sentry (the
// zygote's master thread) its real parent, so any sentry thread can reap it
// and no zombie is left behind; CLONE_PTRACE makes it start traced by the
// master, stopped (a PTRACE_EVENT_STOP, the stub being seized). The master
// waits for that stop, injects PR_SET_PDEATHSIG, detaches with SIGSTOP
// (the thread enters group-stop), waits for the group-stop as its parent's
// process and hands the thread (tid and a pidfd) to the Context's OS thread,
// which PTRACE_SEIZEs it (PTRACE_O_EXITKILL|PTRACE_O_TRACESYSGOOD) and
// consumes its PTRACE_EVENT_STOP. From then on that OS thread is the stub
// thread's tracer and every ptrace request for it comes from there. The
// seccomp filter is inherited through clone.
//
// A Context holds one stub thread per AddressSpace it has switched into
// (created on first Switch), so a task can move between address spaces
// (exec); the threads of released address spaces are dropped on the next
// Switch into another one. A Context whose task exited is recycled rather
// than released (Recycle, platform.RecyclableContext): it stays with its OS
// thread, which the kernel hands to the next task started
// (kernel/hostthread.go), and keeps its stub threads, so a new thread of
// the same process runs in a stub thread already traced by its own OS
// thread, with no hand-over. Switch is exactly PTRACE_SETREGS,
// PTRACE_SYSEMU, wait4, PTRACE_GETREGS per syscall round trip (plus
// PTRACE_GETSIGINFO on a fault), with no allocation. That it runs on the
// Context's thread is checked for free: ptrace from any other thread fails
// with ESRCH, and only then is gettid compared.
//
// Interrupt sends SIGSTOP to the running stub thread through its pidfd
// (ptrace requests could only come from the tracer thread; a pidfd, unlike
// a tid, can never name a recycled process). Switch turns the resulting
// signal-delivery-stop into StopInterrupt and suppresses the signal. An
// atomic pending flag is the source of truth, so an interrupt is never
// lost, and a stale signal (sent just as Switch returned for another
// reason) is suppressed without producing a spurious StopInterrupt.
//
// Signals that the application did not raise (si_code <= 0: kill, tgkill
// from anywhere) and asynchronous ones are suppressed. Faults are decoded
// from PTRACE_GETSIGINFO; see faultAccess for how Stop.Access is inferred.
// A call into the vsyscall page is reported as an execute fault there.
//
// A stub killed from outside (kill -9 from the host) is noticed at once:
// the death watcher polls every stub's pidfd and reports its address space
// (platform.DeathWatcher), whose processes the sentry then kills. The
// platform unwatches a stub before it kills it itself.
//
// Stub threads are killed at once by Context.Release and
// AddressSpace.Release and reaped with waitid(P_PIDFD), which works from
// any sentry thread because the sentry is both their real parent and their
// tracer: by the address space's master in the background (a Context's
// thread in a live address space, every thread of a recycled one), or by
// AddressSpace.Release itself when the stub is not recycled.
//
// MapFile and Unmap inject mmap/munmap into a stub thread of the address
// space: the calling OS thread's own one if it has one there (it is its
// tracer and the thread is stopped), the stub process (through the master)
// otherwise. MapBatch (platform.BatchMapper, batch.go) does the same with
// one injection of the batch loop for up to 64 mmap/munmap entries,
// written to a read-only page mapped in the stub at 0x7fff00000000; the
// filter allows only mmap(MAP_SHARED|MAP_FIXED) and munmap from the loop.
//
// # Variants
//
// platform/systrap runs on these stubs too (variant.go): NewVariant adds
// its code to the stub page at +0x180, replaces the filter and adds to
// the zygote's setup; NewStubThread hands it a stub thread seized by the
// calling OS thread, which it sets up and detaches. Everything else above
// (stub processes, masters, mapping, deaths, reaping) is shared.
//
// # Limitations
//
//   - Only the general registers travel through Switch (the contract's
//     arch.Registers). Floating-point/vector state lives in each stub
//     thread: it persists across Switches in one address space but does not
//     follow a Context into another address space, and a new Context
//     starts with the host's initial FP state.
//   - CPUID, RDTSC and the like run natively on the host.
//   - int $0x80 (and sysenter, on CPUs that run it in 64-bit mode) are
//     caught by SYSEMU like syscall and are reported as StopSyscall with
//     Stop.Syscall32 and the 32-bit syscall number in Orig_rax. They are
//     told apart from syscall at no cost: syscall leaves rip in rcx, they
//     do not. A program that sets rcx to the address after its int $0x80
//     has it served as a 64-bit syscall (still by the sentry).
//   - The stub page is readable and executable for the application (it
//     is mapped in the stub process above the application's range).
//     Execution there is reported as what it is in the application's
//     address space, an instruction fetch fault (stubPageFault): at the
//     syscall instruction or int3 jumped to; for a jump to other bytes of
//     the page, at the instruction that trapped or faulted, which may lie
//     after the target.
//   - The page-fault error code is not available to a tracer, so
//     Stop.Access is sometimes Read for an access that was not a read (the
//     contract allows it).
//
// # Locking
//
//   - addressSpace.mu (RWMutex) protects released, threads, tracers,
//     spare, taken, wantSpare, recycling, dying, dyingBatch and dropped.
//   - addressSpace.deferMu protects a deferred batch (batch.go) and is
//     held while it is applied; it is taken before batchMu, never by the
//     master.
//   - addressSpace.batchMu serialises the batch page's users and is held
//     across a batch's injection (which may wait for the master); it is
//     taken before addressSpace.mu, and the master takes it only in
//     killStub, when no batch can be in flight.
//   - context.mu serialises Interrupt's signal with the closing of the
//     pidfd it signals.
//   - Platform.mu protects Platform.released, spaces, pool and orphans.
//   - The other three are leaf locks: none is held while another is
//     taken, while waiting for the master, or across a host call that
//     blocks; the master takes addressSpace.mu only.
//   - Context fields other than pending, runningFD and mu belong to the
//     Context's OS thread and are not locked.
//   - A stubThread's pidfd is closed when both its AddressSpace and its
//     Context have let go of it (refs), the Context's part under
//     context.mu, so a pidfd is never signalled after it was closed.
package ptrace

import (
	"fmt"
	"sync"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/bpf"
)

// Platform is the ptrace platform.
type Platform struct {
	mf *memfile.MemoryFile

	// filter is the stub's seccomp program.
	filter []bpf.Instruction

	// variant is the stub variant of a platform built on this one
	// (NewVariant); zero for the ptrace platform itself.
	variant StubVariant

	// zygote is the stub process every address space's stub is forked
	// from. Immutable after New.
	zygote *addressSpace

	// deaths reports stubs killed from outside (deaths.go).
	deaths *deathWatcher

	mu       sync.Mutex
	released bool
	// spaces are the live address spaces (the zygote's stand-ins should
	// it be killed).
	spaces map[*addressSpace]struct{}
	// pool holds recycled address spaces ready for reuse (pool.go).
	pool []*addressSpace
	// orphans are batch pages of stubs killed by their masters
	// (batch.go), freed by Release.
	orphans []memfile.FileRange
}

var (
	_ platform.Platform     = (*Platform)(nil)
	_ platform.AddressSpace = (*addressSpace)(nil)
	_ platform.Context      = (*context)(nil)
	_ platform.DeathWatcher = (*Platform)(nil)
)

// New returns a ptrace platform whose address spaces map pages of mf. It
// starts the zygote: the only stub ever exec'd (through /proc/self/fd, so
// New must run while /proc is in view), stripped, without capabilities
// and under the stub's seccomp filter; every address space's stub is a
// fork of it.
func New(mf *memfile.MemoryFile) (*Platform, error) {
	return NewVariant(mf, StubVariant{})
}

// NewVariant is New for a platform built on the ptrace platform's stub
// processes (platform/systrap): v adds code to the stub page, replaces the
// stub's seccomp filter and adds to the zygote's setup.
func NewVariant(mf *memfile.MemoryFile, v StubVariant) (*Platform, error) {
	filter := v.Filter
	if filter == nil {
		var err error
		if filter, err = stubFilter(); err != nil {
			return nil, err
		}
	}
	if len(v.Code) > pageSize-StubVariantCodeOffset {
		return nil, fmt.Errorf("ptrace: %d bytes of variant stub code do not fit the stub page", len(v.Code))
	}
	if err := quietStopNotifications(); err != nil {
		return nil, fmt.Errorf("ptrace: SA_NOCLDSTOP on SIGCHLD: %w", err)
	}
	fd, err := writeStub(stubImage(v.Code))
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	p := &Platform{
		mf:      mf,
		filter:  filter,
		variant: v,
		spaces:  make(map[*addressSpace]struct{}),
	}
	if p.deaths, err = newDeathWatcher(); err != nil {
		return nil, fmt.Errorf("ptrace: watching the stubs: %w", err)
	}
	if p.zygote, err = newAddressSpace(p, fd); err != nil {
		p.deaths.stop()
		return nil, err
	}
	return p, nil
}

// writeStub puts img in a sealed, executable memfd numbered 3 or above (so
// that it survives the fd shuffling of ForkExec until the exec).
func writeStub(img []byte) (int, error) {
	const name = "runsc-lite-ptrace-stub"
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err == unix.EINVAL {
		// Kernels before 6.3 know no MFD_EXEC; their memfds are
		// executable anyway.
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("ptrace: memfd_create for the stub: %w", err)
	}
	defer unix.Close(fd)
	if n, err := unix.Write(fd, img); err != nil || n != len(img) {
		return -1, fmt.Errorf("ptrace: writing the stub (%d of %d bytes): %v", n, len(img), err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return -1, fmt.Errorf("ptrace: sealing the stub: %w", err)
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return -1, fmt.Errorf("ptrace: dup of the stub fd: %w", err)
	}
	return nfd, nil
}

// Name implements platform.Platform.Name.
func (p *Platform) Name() string { return "ptrace" }

// MaxUserAddress implements platform.Platform.MaxUserAddress.
func (p *Platform) MaxUserAddress() uintptr { return maxUserAddress }

// NewAddressSpace implements platform.Platform.NewAddressSpace. It forks
// a stub from the zygote, with its own master goroutine, and returns once
// the stub is traced by that goroutine.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	p.mu.Lock()
	released := p.released
	p.mu.Unlock()
	if released {
		return nil, fmt.Errorf("ptrace: platform released")
	}
	if as := p.takePooled(); as != nil {
		return as, nil
	}
	return newAddressSpace(p, -1)
}

// forkStub forks a stub for a new address space and leaves it in
// group-stop for the new master to seize: from the zygote, or, should the
// zygote have been killed from the host, from the stub of any live address
// space (emptied of its application mappings). It returns the stub's pid
// and the registers to base injections on.
func (p *Platform) forkStub() (int32, *arch.Registers, error) {
	rep := p.zygote.call(&request{op: opFork})
	if rep.err == nil {
		return rep.pid, &p.zygote.initRegs, nil
	}
	if !isDead(rep.err) && rep.err != errASReleased {
		return 0, nil, rep.err
	}
	firstErr := rep.err
	p.mu.Lock()
	var spaces []*addressSpace
	for as := range p.spaces {
		spaces = append(spaces, as)
	}
	p.mu.Unlock()
	for _, as := range spaces {
		rep := as.call(&request{op: opFork, clean: true})
		if rep.err == nil {
			return rep.pid, &as.initRegs, nil
		}
	}
	return 0, nil, fmt.Errorf("ptrace: no stub left to fork a new one from: %w", firstErr)
}

// NewContext implements platform.Platform.NewContext.
//
// Preconditions: the caller is locked to its OS thread for the life of the
// context.
func (p *Platform) NewContext() (platform.Context, error) {
	return newContext(p), nil
}

// Release implements platform.Platform.Release: it kills the zygote.
// Address spaces are released by their owners.
func (p *Platform) Release() {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return
	}
	p.released = true
	p.mu.Unlock()
	p.drainPool()
	p.zygote.Release()
	p.deaths.stop()
	p.freeOrphans()
}
