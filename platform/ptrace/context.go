package ptrace

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// siginfo codes.
const (
	segvMapErr = 1
	segvAccErr = 2
	segvPkuErr = 4
	siKernel   = 0x80
	sysSeccomp = 1
)

// maxInsnLen is the longest x86 instruction.
const maxInsnLen = 15

// context is a platform.Context: the stub threads one task runs in, all
// traced by the task's OS thread.
type context struct {
	p *Platform

	// tid is the host thread that created the context and traces its
	// stub threads.
	tid int32

	// The following belong to the OS thread tid and are not locked.

	// lastAS and lastThread cache the last threads lookup.
	lastAS     *addressSpace
	lastThread *stubThread
	// threads maps an address space to this context's stub thread in it.
	threads map[*addressSpace]*stubThread
	// status and info are wait4's and PTRACE_GETSIGINFO's buffers.
	status waitStatus
	info   siginfo

	// hostCPU is the host CPU stub threads are pinned to (-1: none).
	hostCPU int

	// pending is set by Interrupt and consumed by Switch.
	pending atomic.Bool

	// runningFD is the pidfd of the stub thread Switch is running, or -1.
	runningFD atomic.Int32

	// mu serialises Interrupt's use of runningFD's pidfd with the closing
	// of pidfds by this context.
	mu sync.Mutex
}

func newContext(p *Platform) *context {
	c := &context{
		p:       p,
		tid:     gettid(),
		threads: make(map[*addressSpace]*stubThread),
		hostCPU: -1,
	}
	c.runningFD.Store(-1)
	return c
}

// Switch implements platform.Context.Switch.
//
// Switch forces the segment selectors in regs to those of a 64-bit user
// thread (cs 0x33, ss 0x2b, ds, es, fs, gs 0) and Orig_rax to -1 (no
// syscall in progress, so the host kernel never restarts anything behind
// the sentry's back); the TLS base is Fs_base.
func (c *context) Switch(pas platform.AddressSpace, regs *arch.Registers) (platform.Stop, error) {
	as, ok := pas.(*addressSpace)
	if !ok {
		return platform.Stop{}, fmt.Errorf("ptrace: Switch into a foreign address space %T", pas)
	}
	t := c.lastThread
	if as != c.lastAS {
		var err error
		if t, err = c.threadFor(as); err != nil {
			return platform.Stop{}, err
		}
	}
	if as.hasDeferred.Load() {
		// A fork's child's pre-mapping (MapBatchBeforeRun), injected
		// into t by this thread, its tracer.
		if err := as.applyDeferred(); err != nil {
			logrus.WithError(err).Warn("ptrace: Switch")
			return platform.Stop{}, platform.ErrContextDead
		}
	}

	// Publish the running thread before looking at pending; Interrupt
	// does the opposite. One of the two sees the other.
	c.runningFD.Store(int32(t.pidfd))
	if c.pending.Load() && c.pending.Swap(false) {
		c.runningFD.Store(-1)
		return platform.Stop{Kind: platform.StopInterrupt}, nil
	}
	stop, err := c.run(t, regs)
	c.runningFD.Store(-1)
	platform.Counts.Stops.Add(1)
	return stop, err
}

// run is the body of Switch.
func (c *context) run(t *stubThread, regs *arch.Registers) (platform.Stop, error) {
	regs.Cs = arch.UserCS
	regs.Ss = arch.UserSS
	regs.Ds, regs.Es, regs.Fs, regs.Gs = 0, 0, 0, 0
	regs.Orig_rax = ^uint64(0)
	if e := ptraceSetRegs(t.tid, regs); e != 0 {
		if e == unix.EIO || e == unix.EINVAL {
			// The host refuses the registers (e.g. a
			// non-canonical Fs_base): what the application
			// would get from a real kernel is a SIGSEGV.
			logrus.Debugf("ptrace: PTRACE_SETREGS: %v: reporting SIGSEGV", e)
			return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: siKernel}, nil
		}
		return platform.Stop{}, c.hostError(t, "PTRACE_SETREGS", e)
	}
	for {
		if e := ptraceResume(unix.PTRACE_SYSEMU, t.tid); e != 0 {
			return platform.Stop{}, c.hostError(t, "PTRACE_SYSEMU", e)
		}
		if e := wait4(t.tid, &c.status, unix.WALL); e != 0 {
			return platform.Stop{}, c.hostError(t, "wait4", e)
		}
		s := c.status
		if !s.stopped() {
			return platform.Stop{}, stubExited(t.tid, s)
		}
		sig := s.stopSignal()
		if sig == syscallStop {
			if e := ptraceGetRegs(t.tid, regs); e != 0 {
				return platform.Stop{}, c.hostError(t, "PTRACE_GETREGS", e)
			}
			if inStubPage(regs.Rip - 2) {
				// The application jumped to one of the stub's
				// syscall instructions (the injection point,
				// the batch loop's), which are not in its
				// address space: an instruction fetch fault
				// there, as natively.
				regs.Rax = regs.Orig_rax
				return stubPageFault(regs, regs.Rip-2), nil
			}
			// A syscall instruction leaves rip in rcx (and rflags
			// in r11); int $0x80 and sysenter, the 32-bit ones that
			// SYSEMU stops on too, do not touch rcx.
			return platform.Stop{Kind: platform.StopSyscall, Syscall32: regs.Rcx != regs.Rip}, nil
		}
		if s.event() != 0 {
			// A group-stop (someone stopped the thread and the
			// stop got through): resume.
			continue
		}
		switch unix.Signal(sig) {
		case unix.SIGSTOP:
			// Interrupt's signal, or a stale one whose interrupt
			// was already reported, or one from outside. Only
			// pending says which.
			if c.pending.Swap(false) {
				if e := ptraceGetRegs(t.tid, regs); e != 0 {
					return platform.Stop{}, c.hostError(t, "PTRACE_GETREGS", e)
				}
				return platform.Stop{Kind: platform.StopInterrupt}, nil
			}
			platform.Counts.StaleInterrupts.Add(1)
		case unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS:
			if e := ptraceGetSiginfo(t.tid, &c.info); e != 0 {
				return platform.Stop{}, c.hostError(t, "PTRACE_GETSIGINFO", e)
			}
			if c.info.Code <= 0 {
				// Sent by a process (kill, tgkill, sigqueue),
				// not raised by the application: ignore.
				continue
			}
			if e := ptraceGetRegs(t.tid, regs); e != 0 {
				return platform.Stop{}, c.hostError(t, "PTRACE_GETREGS", e)
			}
			if inStubPage(regs.Rip) {
				// Application code jumped into the stub page
				// and trapped or faulted there (the int3s: rip
				// is after the instruction).
				at := regs.Rip
				if unix.Signal(sig) == unix.SIGTRAP && inStubPage(at-1) {
					at--
				}
				return stubPageFault(regs, at), nil
			}
			return c.fault(regs), nil
		}
		// Any other signal is not the application's doing: resuming
		// with PTRACE_SYSEMU suppresses it.
	}
}

// inStubPage reports whether addr is in the stub's page, which is mapped
// in every stub process above the application's range.
func inStubPage(addr uint64) bool { return addr >= stubBase && addr < stubBase+pageSize }

// stubPageFault reports the application's arrival at address at in the
// stub page as what it is in the application's address space, where
// nothing is mapped there: an instruction fetch fault at at (SIGSEGV,
// SEGV_MAPERR), with rip at at. The stub's instructions never run for
// the application: its syscall would be caught by PTRACE_SYSEMU like any
// other, and its int3s trap, but a program that jumps there gets what it
// gets natively.
func stubPageFault(regs *arch.Registers, at uint64) platform.Stop {
	regs.Rip = at
	regs.Orig_rax = ^uint64(0)
	return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: segvMapErr, Addr: uintptr(at), Access: hostarch.Execute}
}

// fault decodes the signal in c.info, raised by the application with
// registers regs, into a Stop.
func (c *context) fault(regs *arch.Registers) platform.Stop {
	si := &c.info
	stop := platform.Stop{
		Kind:  platform.StopFault,
		Signo: int(si.Signo),
		Code:  si.Code,
		Addr:  uintptr(si.Addr),
	}
	switch unix.Signal(si.Signo) {
	case unix.SIGSEGV:
		switch si.Code {
		case segvMapErr, segvAccErr, segvPkuErr:
			stop.Access = faultAccess(si.Code, si.Addr, regs.Rip)
		}
	case unix.SIGBUS:
		stop.Access = hostarch.Read
	case unix.SIGSYS:
		if si.Code == sysSeccomp {
			// The application called into the vsyscall page and
			// the stub's filter trapped the kernel's emulation,
			// which then emulated a ret. Undo the ret and report
			// what a kernel without vsyscall emulation would: an
			// instruction fetch fault at the vsyscall address.
			call := si.Addr
			if regs.Rip != call {
				regs.Rip = call
				regs.Rsp -= 8
			}
			stop.Signo = int(unix.SIGSEGV)
			stop.Code = segvMapErr
			stop.Addr = uintptr(call)
			stop.Access = hostarch.Execute
		}
	}
	return stop
}

// faultAccess infers the access of a SIGSEGV at addr with code (MAPERR,
// ACCERR or PKUERR) raised by the instruction at rip. The host does not
// report the page-fault error code to a tracer, so:
//
//   - addr == rip: the instruction could not be fetched: Execute;
//   - addr within the longest instruction after rip: an instruction fetch
//     across a page boundary or a data access: unknown, Read;
//   - ACCERR elsewhere: every page the platform maps is readable in the
//     host page tables (x86 has no write-only or, without protection
//     keys, which report PKUERR, execute-only pages), so a data access
//     that was refused is a Write;
//   - otherwise: unknown, Read.
func faultAccess(code int32, addr, rip uint64) hostarch.AccessType {
	switch {
	case addr == rip:
		return hostarch.Execute
	case addr > rip && addr-rip < maxInsnLen:
		return hostarch.Read
	case code == segvAccErr:
		return hostarch.Write
	}
	return hostarch.Read
}

// hostError turns the failure of a ptrace or wait4 on t into Switch's
// error. It also asserts, at no cost on the hot path, that Switch runs on
// the context's thread: ptrace from any other thread fails with ESRCH.
func (c *context) hostError(t *stubThread, what string, e unix.Errno) error {
	if e == unix.ESRCH {
		if tid := gettid(); tid != c.tid {
			return fmt.Errorf("ptrace: Switch called on host thread %d; the context belongs to thread %d", tid, c.tid)
		}
	}
	return stubError(t.tid, what, e)
}

// threadFor returns the context's stub thread in as, creating it on first
// use. It is Switch's slow path.
func (c *context) threadFor(as *addressSpace) (*stubThread, error) {
	if tid := gettid(); tid != c.tid {
		return nil, fmt.Errorf("ptrace: Switch called on host thread %d; the context belongs to thread %d", tid, c.tid)
	}
	// Drop the threads of address spaces released since, but for one
	// handed on to the address space its stub now serves.
	c.takeHandedOn()
	for oas, t := range c.threads {
		if oas.isReleased() {
			c.dropThread(oas, t)
		}
	}
	t, ok := c.threads[as]
	if !ok {
		var err error
		if t, err = c.newThread(as); err != nil {
			return nil, err
		}
		c.threads[as] = t
		if c.hostCPU >= 0 {
			pinThread(t.tid, c.hostCPU)
		}
	}
	c.lastAS, c.lastThread = as, t
	return t, nil
}

// PinHostCPU implements platform.HostCPUPinner: every stub thread of the
// context, and any it creates later, runs on host CPU cpu.
// Preconditions: called by the context's owning thread.
func (c *context) PinHostCPU(cpu int) error {
	if cpu == c.hostCPU {
		return nil
	}
	c.hostCPU = cpu
	var firstErr error
	for _, t := range c.threads {
		if err := pinThread(t.tid, cpu); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func pinThread(tid int32, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(int(tid), &set)
}

// newThread creates the context's stub thread in as and seizes it.
func (c *context) newThread(as *addressSpace) (*stubThread, error) {
	if t := as.takeSpare(); t != nil {
		if err := c.seize(as, t); err == nil {
			return t, nil
		}
		// A spare killed while it waited: make one the ordinary way.
	}
	rep := as.call(&request{op: opNewThread})
	if rep.err != nil {
		return nil, rep.err
	}
	t := rep.thread
	if err := c.seize(as, t); err != nil {
		return nil, err
	}
	return t, nil
}

// seize makes the context's thread the tracer of t, a stub thread of as in
// group-stop, and registers it; on failure it drops t.
func (c *context) seize(as *addressSpace, t *stubThread) error {
	if err := seizeStopped(t); err != nil {
		c.dropThread(as, t)
		return err
	}
	if err := as.register(t, c.tid); err != nil {
		c.dropThread(as, t)
		return err
	}
	return nil
}

// seizeStopped makes the calling OS thread the tracer of t, a stub thread
// in group-stop, and leaves t in the PTRACE_EVENT_STOP that follows.
func seizeStopped(t *stubThread) error {
	if e := ptraceSeize(t.tid, stubPtraceOptions); e != 0 {
		return stubError(t.tid, "PTRACE_SEIZE", e)
	}
	// The thread was in group-stop: the seize makes it report
	// PTRACE_EVENT_STOP.
	var status waitStatus
	for {
		if e := wait4(t.tid, &status, unix.WALL); e != 0 {
			return stubError(t.tid, "wait4 after PTRACE_SEIZE", e)
		}
		if !status.stopped() {
			return stubExited(t.tid, status)
		}
		if status.event() == unix.PTRACE_EVENT_STOP {
			return nil
		}
		// A signal got in first: suppress it.
		if e := ptraceResume(unix.PTRACE_CONT, t.tid); e != 0 {
			return stubError(t.tid, "PTRACE_CONT", e)
		}
	}
}

// newSeizedThread takes a spare stub thread of as (if spare) or creates
// one, and seizes it from the calling OS thread, which becomes its
// tracer; the thread is left in a PTRACE_EVENT_STOP. On failure the
// thread is killed and let go of. A thread that will not run a task (a
// variant's injector) leaves the spare, and the count of contexts that
// ask for more, to the contexts.
func (as *addressSpace) newSeizedThread(spare bool) (*stubThread, error) {
	drop := func(t *stubThread) {
		t.kill()
		t.reap()
		if as.forget(t, 0) {
			t.decRef()
		}
		t.decRef()
	}
	if spare {
		if t := as.takeSpare(); t != nil {
			if err := seizeStopped(t); err == nil {
				return t, nil
			}
			drop(t)
		}
	}
	rep := as.call(&request{op: opNewThread})
	if rep.err != nil {
		return nil, rep.err
	}
	t := rep.thread
	if err := seizeStopped(t); err != nil {
		drop(t)
		return nil, err
	}
	return t, nil
}

// dropThread kills and reaps t, the context's stub thread in as, and lets
// go of it.
func (c *context) dropThread(as *addressSpace, t *stubThread) {
	asRef := as.forget(t, c.tid)
	t.kill()
	// The address space's master reaps t in the background (and drops
	// the address space's reference); a released address space's
	// Release reaped it or left it to the master with the others.
	if asRef && !as.reapLater(t) {
		t.reap()
		c.mu.Lock()
		t.decRef()
		c.mu.Unlock()
	}
	c.mu.Lock()
	t.decRef()
	c.mu.Unlock()
	delete(c.threads, as)
	if c.lastThread == t {
		c.lastAS, c.lastThread = nil, nil
	}
}

// Interrupt implements platform.Context.Interrupt.
func (c *context) Interrupt() {
	c.pending.Store(true)
	if c.runningFD.Load() < 0 {
		return
	}
	c.mu.Lock()
	if fd := c.runningFD.Load(); fd >= 0 {
		// The pidfd names the stub thread for good, even if it died
		// meanwhile; and it cannot be closed while we hold mu.
		unix.PidfdSendSignal(int(fd), unix.SIGSTOP, nil, 0)
	}
	c.mu.Unlock()
}

var _ platform.RecyclableContext = (*context)(nil)

// Recycle implements platform.RecyclableContext.Recycle: the context keeps
// its stub threads, so a new task on the same OS thread that switches into
// an address space where the context has one runs there at once, with no
// stub thread made, handed over, seized or killed.
func (c *context) Recycle() bool {
	if gettid() != c.tid {
		return false
	}
	c.pending.Store(false)
	return true
}

var _ platform.HandOnContext = (*context)(nil)

// RecycleAfter implements platform.HandOnContext.RecycleAfter: the
// context's stub thread in as stays alive, stopped and traced by this OS
// thread, when as is released and its stub recycled into the pool
// (pool.go), and belongs to the address space the stub serves next. The
// next task started there (a fork's child in a fork+exit+wait loop) is
// started on this OS thread (platform.ReuseKey) and switches into it at
// once: no stub thread is cloned into group-stop for it, seized, killed
// or reaped. Its registers are all set by Switch and its FP state by the
// new task's SetFPState (sentry/process gives a kept Context only to a
// task with its creator's FP state to set).
func (c *context) RecycleAfter(pas platform.AddressSpace) bool {
	as, ok := pas.(*addressSpace)
	if !ok || gettid() != c.tid {
		return false
	}
	t := c.threads[as]
	if t == nil || !as.keepForSuccessor(t, c.tid, [2]uintptr{}, memfile.FileRange{}, nil, 0) {
		return false
	}
	c.pending.Store(false)
	return true
}

// takeHandedOn moves the context's stub threads kept in released address
// spaces for their successors (RecycleAfter) to those successors.
func (c *context) takeHandedOn() {
	for oas, t := range c.threads {
		if !oas.isReleased() {
			continue
		}
		// A thread killed from outside meanwhile is dropped (below)
		// and replaced as any other would be.
		if n := oas.handedOn(t, c.tid); n != nil && pidfdAlive(t.pidfd) {
			delete(c.threads, oas)
			c.threads[n] = t
			if c.lastThread == t {
				c.lastAS = n
			}
		}
	}
}

// Release implements platform.Context.Release.
func (c *context) Release() {
	c.takeHandedOn()
	for as, t := range c.threads {
		c.dropThread(as, t)
	}
	c.lastAS, c.lastThread = nil, nil
}

// FP state (platform.FPStateContext).
//
// The FP state of a stub thread is read and written with
// PTRACE_GETREGSET/SETREGSET NT_X86_XSTATE (the standard-format XSAVE
// area), or NT_PRFPREG (the 512-byte FXSAVE area) on a CPU without XSAVE.
// The kernel only accepts a whole XSAVE area of exactly its own size, so
// the size it reports is learnt on first use and kept in xstateSize.

var _ platform.FPStateContext = (*context)(nil)

const (
	// fxsaveSize is the size of the FXSAVE legacy area.
	fxsaveSize = 512
	// xstateProbeSize bounds the XSAVE area on first use (the largest
	// today, with AMX tile data, is about 11 KiB).
	xstateProbeSize = 32 << 10
	// xstateBVOffset is the offset of XSTATE_BV in the XSAVE header.
	xstateBVOffset = 512
	// xfeaturesFPSSE are the x87 and SSE state components.
	xfeaturesFPSSE = 0x3
)

// xstateSize is the host's XSAVE area size: 0 before the first
// FPState, -1 when the host has no XSAVE (NT_PRFPREG is used instead).
var xstateSize atomic.Int64

// fpThread returns the context's stub thread in pas, creating it if the
// context never ran there.
func (c *context) fpThread(pas platform.AddressSpace) (*stubThread, error) {
	return FPThread("ptrace", pas, c.lastAS, c.lastThread, c.threadFor)
}

// FPState implements platform.FPStateContext.FPState.
func (c *context) FPState(pas platform.AddressSpace) ([]byte, error) {
	t, err := c.fpThread(pas)
	if err != nil {
		return nil, err
	}
	if size := xstateSize.Load(); size >= 0 {
		n := int(size)
		if n == 0 {
			n = xstateProbeSize
		}
		buf := make([]byte, n)
		got, e := ptraceRegset(unix.PTRACE_GETREGSET, t.tid, unix.NT_X86_XSTATE, buf)
		switch {
		case e == 0 && got > fxsaveSize:
			xstateSize.Store(int64(got))
			return withSwBytes(buf[:got]), nil
		case e == 0, e == unix.ENODEV, e == unix.EINVAL:
			xstateSize.Store(-1)
		default:
			return nil, c.hostError(t, "PTRACE_GETREGSET NT_X86_XSTATE", e)
		}
	}
	buf := make([]byte, fxsaveSize)
	if _, e := ptraceRegset(unix.PTRACE_GETREGSET, t.tid, unix.NT_PRFPREG, buf); e != 0 {
		return nil, c.hostError(t, "PTRACE_GETREGSET NT_PRFPREG", e)
	}
	return buf, nil
}

// Offsets in the FXSAVE area's software-reserved bytes.
const (
	// swBytesOffset is where the software-reserved bytes start: the
	// kernel's ptrace XSAVE area has the user XCR0 there (gdb's
	// convention), a signal frame's has struct _fpx_sw_bytes.
	swBytesOffset = 464
	// fpXstateMagic1 and fpXstateMagic2Len: _fpx_sw_bytes.magic1, and
	// the length of the magic2 word that follows a signal frame's XSAVE
	// area (part of extended_size).
	fpXstateMagic1    = 0x46505853
	fpXstateMagic2Len = 4
)

// withSwBytes rewrites the software-reserved bytes of an XSAVE area read
// with PTRACE_GETREGSET, which hold the host's XCR0, into the struct
// _fpx_sw_bytes that platform.FPStateContext promises (as the kernel
// writes it into a signal frame): magic1, extended_size, xfeatures,
// xstate_size. SetFPState's kernel side ignores these bytes.
func withSwBytes(buf []byte) []byte {
	le := binary.LittleEndian
	sw := buf[swBytesOffset:fxsaveSize]
	xcr0 := le.Uint64(sw)
	clear(sw)
	le.PutUint32(sw[0:], fpXstateMagic1)
	le.PutUint32(sw[4:], uint32(len(buf)+fpXstateMagic2Len))
	le.PutUint64(sw[8:], xcr0)
	le.PutUint32(sw[16:], uint32(len(buf)))
	return buf
}

// SetFPState implements platform.FPStateContext.SetFPState.
func (c *context) SetFPState(pas platform.AddressSpace, state []byte) error {
	t, err := c.fpThread(pas)
	if err != nil {
		return err
	}
	if xstateSize.Load() == 0 {
		// Learn the size.
		if _, err := c.FPState(pas); err != nil {
			return err
		}
	}
	size := int(xstateSize.Load())
	note := uintptr(unix.NT_X86_XSTATE)
	buf := state
	switch {
	case size < 0:
		if len(state) != fxsaveSize {
			return platform.ErrInvalidFPState
		}
		note = unix.NT_PRFPREG
	case len(state) == fxsaveSize:
		// A legacy area: x87 and SSE from it, every other
		// component in its initial state.
		buf = make([]byte, size)
		copy(buf, state)
		binary.LittleEndian.PutUint64(buf[xstateBVOffset:], xfeaturesFPSSE)
	case len(state) != size:
		return platform.ErrInvalidFPState
	}
	if _, e := ptraceRegset(unix.PTRACE_SETREGSET, t.tid, note, buf); e != 0 {
		if e == unix.EINVAL || e == unix.EFAULT {
			return platform.ErrInvalidFPState
		}
		return c.hostError(t, "PTRACE_SETREGSET", e)
	}
	return nil
}

// ptraceRegset runs PTRACE_GETREGSET or PTRACE_SETREGSET (request) of
// regset note on tid with buf, and returns how many bytes the kernel
// transferred.
func ptraceRegset(request int, tid int32, note uintptr, buf []byte) (int, unix.Errno) {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(request), uintptr(tid), note, uintptr(unsafe.Pointer(&iov)), 0, 0)
	return int(iov.Len), e
}
