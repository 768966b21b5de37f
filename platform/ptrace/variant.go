package ptrace

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// Stub variants: what a platform built on this one's stub processes
// (platform/systrap) uses of it. Such a platform gets, unchanged, the
// zygote, the forked per-address-space stubs with their master goroutines,
// MapFile/Unmap by injected mmap/munmap, the death watcher and the
// reaping; it adds code to the stub page, its own seccomp filter and
// setup, and runs its stub threads its own way after taking them from
// NewStubThread.

// Stub page layout for variants.
const (
	// StubBase is the address of the stub's code page.
	StubBase = stubBase
	// StubVariantCodeOffset is where a variant's code starts in the
	// stub page.
	StubVariantCodeOffset = 0x180
	// StubInjectReturn is the instruction pointer of every syscall
	// injected by the platform (seccomp_data.instruction_pointer): a
	// variant's filter must allow any syscall from there in the stub
	// process, and may refuse them in threads it runs itself.
	StubInjectReturn = stubSyscallReturn
	// StubBatchReturn is the instruction pointer of the syscalls of the
	// platform's batch loop (mmap and munmap only): a variant's filter
	// must allow those two from there in the stub process, and must
	// refuse them in threads it runs itself.
	StubBatchReturn = stubBatchSyscallReturn
	// StubBatchLoop is the batch loop's first instruction (for tests of
	// application code that jumps there).
	StubBatchLoop = stubBatch
	// StubBatchPage is the address of the page of batched requests
	// (batch.go); a variant must not map anything there.
	StubBatchPage = batchPageAddr
	// StubScratch is the page the platform maps during the zygote's
	// setup; a variant's setup must not use it.
	StubScratch = stubScratch
	// MaxUserAddress is the platform's MaxUserAddress.
	MaxUserAddress = maxUserAddress
	// StubMemFD is the memory file's descriptor number in every stub.
	StubMemFD = stubMemFD
	// VsyscallBase is the legacy vsyscall page.
	VsyscallBase = vsyscallBase
)

// StubVariant describes a variant of the stub (NewVariant).
type StubVariant struct {
	// Code is machine code loaded at StubBase+StubVariantCodeOffset.
	Code []byte
	// Filter replaces the stub's seccomp program (stubFilter). It must
	// allow every syscall made from StubInjectReturn.
	Filter []bpf.Instruction
	// Setup runs in the zygote after its capabilities are dropped and
	// before the filter is installed, with sys injecting a syscall into
	// it. Every stub is forked from the zygote, so what Setup does
	// (signal handlers, say) holds in every stub.
	Setup func(sys func(sysno uintptr, args ...uintptr) (uintptr, error)) error
}

// StubThread is a stub thread of an address space of a variant platform,
// held by the OS thread that created it (NewStubThread), which traces it
// until Detach.
type StubThread struct {
	as *addressSpace
	t  *stubThread
	// tracer is the host tid of the creating OS thread.
	tracer int32
	// injecting says the thread serves injections (ServeInjections):
	// it stays traced by tracer.
	injecting bool
}

// NewStubThread creates a stub thread in pas (an address space of this
// platform) and leaves it stopped, traced by the calling OS thread. The
// thread starts with the stub process's registers, signal handlers,
// seccomp filter and signal mask. It is watched for death like every stub
// thread: the platform's DeathWatcher reports pas if it dies other than by
// Kill.
func NewStubThread(pas platform.AddressSpace) (*StubThread, error) {
	as, ok := pas.(*addressSpace)
	if !ok {
		return nil, fmt.Errorf("ptrace: stub thread in a foreign address space %T", pas)
	}
	t, err := as.newSeizedThread(true)
	if err != nil {
		return nil, err
	}
	s := &StubThread{as: as, t: t, tracer: gettid()}
	// A recycling's unmaps left to the first use (recycleHere) cover the
	// variant's per-thread pages above the application's range: they
	// must run before the new thread's are mapped (Inject). They run in
	// the new thread, stopped and traced by this OS thread, with the
	// rest of what was deferred (a fork's pre-map), rather than through
	// the master (a channel hop each way per injection).
	if err := as.applyDeferredIn(t, s.tracer); err != nil {
		s.Kill()
		s.Close()
		return nil, err
	}
	return s, nil
}

// applyDeferredIn applies what was left to the first use of as
// (applyDeferred) by injecting it into t, a stub thread of as that the
// calling OS thread, tracer, has just seized and holds stopped.
func (as *addressSpace) applyDeferredIn(t *stubThread, tracer int32) error {
	if !as.hasDeferred.Load() {
		return nil
	}
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return errASReleased
	}
	prev, had := as.tracers[tracer]
	as.tracers[tracer] = t
	as.mu.Unlock()
	err := as.applyDeferred()
	as.mu.Lock()
	if as.tracers != nil && as.tracers[tracer] == t {
		if had {
			as.tracers[tracer] = prev
		} else {
			delete(as.tracers, tracer)
		}
	}
	as.mu.Unlock()
	return err
}

// NewInjector creates a stub thread in pas that serves the injections of
// the calling OS thread there (ServeInjections). Unlike NewStubThread it
// leaves the address space's spare thread, made for the next thread of
// the process, alone, and asks for no other.
func NewInjector(pas platform.AddressSpace) (*StubThread, error) {
	as, ok := pas.(*addressSpace)
	if !ok {
		return nil, fmt.Errorf("ptrace: stub thread in a foreign address space %T", pas)
	}
	t, err := as.newSeizedThread(false)
	if err != nil {
		return nil, err
	}
	s := &StubThread{as: as, t: t, tracer: gettid()}
	if err := s.ServeInjections(); err != nil {
		s.Kill()
		s.Close()
		return nil, err
	}
	// What was left to the first use runs in it (it maps nothing of
	// its own that the deferred unmaps could cover).
	if err := as.applyDeferred(); err != nil {
		s.Kill()
		s.Close()
		return nil, err
	}
	return s, nil
}

// ServeInjections makes the thread serve the syscalls the platform injects
// into its address space (MapFile, Unmap, MapBatch) when they are made
// from the creating OS thread, its tracer: they are injected into it
// directly instead of going through the address space's master (a Go
// channel hop each way and a wake-up of the master's host thread). The
// thread stays stopped and traced and never runs application code.
// Preconditions: called by the creating OS thread, instead of Detach.
func (s *StubThread) ServeInjections() error {
	if err := s.as.register(s.t, s.tracer); err != nil {
		return err
	}
	s.injecting = true
	return nil
}

// Tid is the thread's host id.
func (s *StubThread) Tid() int32 { return s.t.tid }

// Pidfd is the thread's pidfd, valid until Close.
func (s *StubThread) Pidfd() int { return s.t.pidfd }

// Inject runs a syscall in the thread.
// Preconditions: called by the creating OS thread, before Detach.
func (s *StubThread) Inject(sysno uintptr, args ...uintptr) (uintptr, error) {
	if err := s.as.applyDeferred(); err != nil {
		return 0, err
	}
	var a [6]uintptr
	copy(a[:], args)
	return injectSyscall(s.t.tid, &s.as.initRegs, sysno, a)
}

// Detach sets the thread's registers to regs (the segment selectors and
// Orig_rax forced as Switch does) and lets it run untraced.
// Preconditions: called by the creating OS thread.
func (s *StubThread) Detach(regs *arch.Registers) error {
	r := *regs
	r.Cs, r.Ss = arch.UserCS, arch.UserSS
	r.Ds, r.Es, r.Fs, r.Gs = 0, 0, 0, 0
	r.Orig_rax = ^uint64(0)
	if e := ptraceSetRegs(s.t.tid, &r); e != 0 {
		return stubError(s.t.tid, "PTRACE_SETREGS", e)
	}
	if e := ptraceDetach(s.t.tid, 0); e != 0 {
		return stubError(s.t.tid, "PTRACE_DETACH", e)
	}
	return nil
}

// Exited reports whether the thread has exited (it is not reaped).
func (s *StubThread) Exited() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PIDFD, s.t.pidfd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, nil)
	if err != nil {
		return err != unix.EINTR
	}
	switch info.Code {
	case cldExited, cldKilled, cldDumped:
		return true
	}
	return false
}

// KeepForSuccessor keeps the thread alive, with [addr, addr+length) above
// the application's range (a variant's region of it) still mapped and fr,
// the memory-file pages mapped there, when its address space is released
// and the stub recycled into the pool: the thread, and fr, then belong to
// the address space the stub serves next (TakeHandedOn,
// TakeHandedOnRegion), as a ptrace Context's does (RecycleAfter). It
// reports whether the address space will try (false: it is not
// recyclable, or keeps another thread). injector, if not nil, is a thread
// of the same address space serving injections (ServeInjections) for the
// same OS thread: it goes with s where it can (when s is the address
// space's only other thread), so that the successor's mapping changes
// from that OS thread need no master hop and no new injector, and is
// killed otherwise; its TakeHandedOn says which.
// Preconditions: before the address space is released.
func (s *StubThread) KeepForSuccessor(addr, length uintptr, fr memfile.FileRange, injector *StubThread) bool {
	var inj *stubThread
	var injTracer int32
	if injector != nil && injector.as == s.as && injector.injecting {
		inj, injTracer = injector.t, injector.tracer
	}
	return s.as.keepForSuccessor(s.t, 0, [2]uintptr{addr, length}, fr, inj, injTracer)
}

// HandingOn reports whether the address space's Release left the thread,
// kept by KeepForSuccessor, alive for the recycling (else it killed it,
// and fr is the caller's again).
func (s *StubThread) HandingOn() bool {
	s.as.mu.RLock()
	defer s.as.mu.RUnlock()
	return s.as.handingOn == s.t
}

// TakeHandedOn moves the thread, kept by KeepForSuccessor (or passed to
// it as the injector), to the address space its stub now serves and
// returns it, or returns nil if it has none (yet, or it was shut down
// instead).
func (s *StubThread) TakeHandedOn() platform.AddressSpace {
	var tracer int32
	if s.injecting {
		tracer = s.tracer
	}
	n := s.as.handedOn(s.t, tracer)
	if n == nil {
		return nil
	}
	s.as = n
	return n
}

// ApplyDeferred applies what was left to the first use of pas, an address
// space of the platform (a fork's pre-map, MapBatchBeforeRun; a
// recycling's unmaps, recycleHere), if anything, through the calling
// thread's stub thread there or the master. A variant's Switch calls it
// before it runs the application; an error means that the stub's
// mappings are not what the sentry thinks (the Context cannot run).
func ApplyDeferred(pas platform.AddressSpace) error {
	as, ok := pas.(*addressSpace)
	if !ok || !as.hasDeferred.Load() {
		return nil
	}
	return as.applyDeferred()
}

// HasDeferred reports whether pas, an address space of the platform, has
// something left to its first use (ApplyDeferred would inject it).
func HasDeferred(pas platform.AddressSpace) bool {
	as, ok := pas.(*addressSpace)
	return ok && as.hasDeferred.Load()
}

// TakeHandedOnRegion returns, once, what a thread kept by
// KeepForSuccessor in pas's predecessor keeps mapped (its address and
// memory-file pages), now pas's to free.
func TakeHandedOnRegion(pas platform.AddressSpace) (addr uintptr, fr memfile.FileRange, ok bool) {
	as, isAS := pas.(*addressSpace)
	if !isAS {
		return 0, memfile.FileRange{}, false
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	addr, fr = as.handedOnAddr, as.handedOnFR
	as.handedOnFR = memfile.FileRange{}
	return addr, fr, fr.Length() > 0
}

// Kill kills and reaps the thread and removes it from its address space.
// The pidfd stays open (and names the dead thread) until Close.
func (s *StubThread) Kill() {
	s.t.kill()
	s.t.reap()
	if s.as.forget(s.t, s.tracer) {
		s.t.decRef()
	}
}

// Close lets go of the pidfd. Preconditions: Kill was called; nobody uses
// Pidfd any more.
func (s *StubThread) Close() { s.t.decRef() }

// Offsets in struct seccomp_data (of the syscall number and of the low
// halves of the arguments).
const (
	seccompDataArg3 = 16 + 3*8
)

// AddBatchRule adds to b, at label at, the rule for syscalls made from
// StubBatchReturn, the batch loop's syscall instruction: mmap with flags
// MAP_SHARED|MAP_FIXED (the only mappings the platform makes: of the
// memory file, at addresses it chose) and munmap go to label allow,
// anything else to deny. A stub filter that allows any syscall from
// StubBatchReturn would let a batch page written by the application do
// anything the stub can; the page is read-only in the stub and the
// application cannot run the loop in a stub thread (ptrace: PTRACE_SYSEMU
// stops its syscalls first; systrap: the thread filter traps them), but
// the filter is the last line.
func AddBatchRule(b *bpf.ProgramBuilder, at, allow, deny string) error {
	if err := b.AddLabel(at); err != nil {
		return err
	}
	mmap := at + "Mmap"
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataNR)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, unix.SYS_MUNMAP, allow, 0)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, unix.SYS_MMAP, mmap, deny)
	if err := b.AddLabel(mmap); err != nil {
		return err
	}
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg3+4)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, 0, 0, deny)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArg3)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, unix.MAP_SHARED|unix.MAP_FIXED, allow, deny)
	return nil
}

// FPThread is the lookup of a context's thread for FPStateContext, shared
// by this platform's contexts and its variants': the thread the context
// last ran in when pas is that address space (lastAS, last), otherwise
// threadFor's (which makes one on first use, as Switch would). name is
// the platform's name, for the error about a foreign address space.
func FPThread[A interface {
	comparable
	platform.AddressSpace
}, T comparable](name string, pas platform.AddressSpace, lastAS A, last T, threadFor func(A) (T, error)) (T, error) {
	var none T
	as, ok := pas.(A)
	if !ok {
		return none, fmt.Errorf("%s: FP state of a foreign address space %T", name, pas)
	}
	if as == lastAS && last != none {
		return last, nil
	}
	return threadFor(as)
}

// FilterReturn is a label of a seccomp program and the action returned
// there (FinishFilter).
type FilterReturn struct {
	Label  string
	Action linux.BPFAction
}

// FinishFilter ends the stub seccomp program built in b with its return
// labels and assembles it.
func FinishFilter(b *bpf.ProgramBuilder, rets []FilterReturn) ([]bpf.Instruction, error) {
	for _, r := range rets {
		if err := b.AddLabel(r.Label); err != nil {
			return nil, err
		}
		b.AddStmt(bpf.Ret|bpf.K, uint32(r.Action))
	}
	insns, err := b.Instructions()
	if err != nil {
		return nil, fmt.Errorf("building the stub seccomp program: %w", err)
	}
	return insns, nil
}
