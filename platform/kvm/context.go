package kvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// siginfo codes.
const (
	segvMapErr = 1
	segvAccErr = 2
	busAdrAln  = 1
	illIllOpn  = 2
	fpeIntDiv  = 1
	fpeFltDiv  = 3
	fpeFltOvf  = 4
	fpeFltUnd  = 5
	fpeFltRes  = 6
	fpeFltInv  = 7
	trapBrkpt  = 1
	trapTrace  = 2
	siKernel   = 0x80
)

// Page-fault error code bits.
const (
	pfPresent = 1 << 0
	pfWrite   = 1 << 1
	pfRsvd    = 1 << 3
	pfFetch   = 1 << 4
)

// context is a platform.Context: the application state of one task that
// is not in its registers (its FP state, its pending interrupt), run on
// the vCPU of the sandbox CPU the task holds, which it owns for the
// duration of each Switch.
type context struct {
	p   *Platform
	tid int32

	// The following belong to the context's thread.

	// cpu is the sandbox CPU the context is bound to (BindCPU).
	cpu int
	// v is cpu's vCPU as last looked up, or nil.
	v *vcpu
	// dead is set when the vCPU failed: every Switch returns it.
	dead error
	// fp is the context's FP state while no vCPU holds it (fpHome is
	// nil), or nil for the initial state. A thread that takes the vCPU
	// holding it writes it there, under that vCPU's fpMu (fpstate.go).
	fp *kvmXSave

	// fpHome is the vCPU whose KVM FP state is the context's, or nil. It
	// is set only by the context's thread and cleared by whoever moves
	// the state out, always under that vCPU's fpMu.
	fpHome atomic.Pointer[vcpu]
	// cur is the vCPU the context is in Switch on, for Interrupt.
	cur atomic.Pointer[vcpu]
	// pending is set by Interrupt and consumed by Switch.
	pending atomic.Bool
	// released is set by Release.
	released atomic.Bool

	// quiet logs fatal errors at debug level (the self-test's context).
	quiet bool

	// mu serialises Interrupt's kick with Release, so that no kick is
	// under way once Release has returned (and the platform may unmap
	// the vCPUs).
	mu sync.Mutex
}

func newContext(p *Platform) *context {
	return &context{p: p, tid: int32(unix.Gettid())}
}

// BindCPU implements platform.CPUBinder.BindCPU: the next Switch runs on
// the vCPU of sandbox CPU cpu. It does not block.
//
// Preconditions: called by the context's thread, which holds sandbox CPU
// cpu until its next Switch returns.
func (c *context) BindCPU(cpu int) {
	if cpu == c.cpu {
		return
	}
	c.cpu = cpu
	c.v = nil
}

// Interrupt implements platform.Context.Interrupt: it kicks the vCPU the
// context is running on, if any (a stale kick of a vCPU another context
// has taken meanwhile only makes that context re-enter once).
func (c *context) Interrupt() {
	c.pending.Store(true)
	c.mu.Lock()
	if v := c.cur.Load(); v != nil {
		v.kick()
	}
	c.mu.Unlock()
}

// Release implements platform.Context.Release: a vCPU that holds the
// context's FP state forgets it belongs to the context.
func (c *context) Release() {
	c.mu.Lock()
	already := c.released.Swap(true)
	c.mu.Unlock()
	if already {
		return
	}
	c.dropFPHome()
	c.v = nil
}

// canonical reports whether a is a canonical 48-bit address.
func canonical(a uint64) bool {
	return a < 1<<47 || a >= 0xffff800000000000
}

// acquire returns the vCPU of the context's CPU, owned by the context:
// its vCPU is created on first use, and a failed one replaced.
//
// The kernel runs one task per CPU at a time, and a context owns the vCPU
// only inside Switch, so the vCPU is always free here; if it is not, the
// kernel broke that rule, and the Switch fails (killing only this task's
// process) rather than run two threads on one vCPU.
func (c *context) acquire() (*vcpu, error) {
	for {
		v := c.v
		if v == nil {
			var err error
			if v, err = c.p.cpuVCPU(c.cpu); err != nil {
				return nil, err
			}
			c.v = v
		}
		if !v.owner.CompareAndSwap(nil, c) {
			c.p.log.Warnf("kvm: thread %d: vCPU %d of sandbox CPU %d is in use by another context: two tasks run on one CPU", c.tid, v.id, c.cpu)
			return nil, fmt.Errorf("kvm: vCPU %d of sandbox CPU %d is in use by another context (two tasks on one CPU)", v.id, c.cpu)
		}
		if v.retired.Load() {
			v.owner.Store(nil)
			c.v = nil
			continue
		}
		if v.tid.Load() != c.tid {
			v.tid.Store(c.tid)
		}
		return v, nil
	}
}

// Switch implements platform.Context.Switch on the vCPU of the context's
// CPU (BindCPU), which it owns until it returns. The context's FP state
// is moved into the vCPU if the vCPU last ran another context (fpstate.go).
//
// Like the ptrace platform it forces the segment selectors in regs to a
// 64-bit user thread's (cs 0x33, ss 0x2b, ds, es, fs, gs 0) and Orig_rax to
// -1; the TLS bases are Fs_base and Gs_base. A non-canonical rip or TLS
// base, which a real kernel's iret or wrmsr would refuse, stops with
// SIGSEGV without running anything, as does an FP state KVM refuses.
//
// Errors: ErrContextDead (wrapped) when the vCPU failed; the vCPU is then
// retired and the CPU gets a new one. Another error when the CPU has no
// vCPU (too many CPUs for KVM) or its vCPU is in use.
func (c *context) Switch(pas platform.AddressSpace, regs *arch.Registers) (platform.Stop, error) {
	as, ok := pas.(*addressSpace)
	if !ok || as.p != c.p {
		return platform.Stop{}, fmt.Errorf("kvm: Switch into a foreign address space %T", pas)
	}
	if c.dead != nil {
		return platform.Stop{}, c.dead
	}
	if c.released.Load() {
		return platform.Stop{}, fmt.Errorf("%w: kvm: Switch on a released context", platform.ErrContextDead)
	}
	if as.released.Load() {
		return platform.Stop{}, fmt.Errorf("kvm: Switch into a released address space")
	}
	v, err := c.acquire()
	if err != nil {
		return platform.Stop{}, err
	}

	// Publish that the context runs on v, and v in as, before looking at
	// pending (which Interrupt sets before looking at cur) and before
	// reading the TLB generation (see addressSpace.shootdown).
	c.cur.Store(v)
	v.running.Store(as)
	v.setImmediateExit(false)
	stop, err := c.switchOn(v, as, regs)
	v.running.Store(nil)
	c.cur.Store(nil)
	if err != nil && errors.Is(err, platform.ErrContextDead) {
		c.dead = err
		v.broken = true
		c.p.retire(v)
		c.v = nil
	}
	v.owner.Store(nil)
	return stop, err
}

// switchOn is the body of Switch once the context owns v.
func (c *context) switchOn(v *vcpu, as *addressSpace, regs *arch.Registers) (platform.Stop, error) {
	if c.pending.Load() && c.pending.Swap(false) {
		return platform.Stop{Kind: platform.StopInterrupt}, nil
	}
	regs.Cs, regs.Ss = userCS, userSS
	regs.Ds, regs.Es, regs.Fs, regs.Gs = 0, 0, 0, 0
	regs.Orig_rax = ^uint64(0)
	if !canonical(regs.Rip) || !canonical(regs.Fs_base) || !canonical(regs.Gs_base) {
		c.p.log.Debugf("kvm: non-canonical rip %#x, fs_base %#x or gs_base %#x: reporting SIGSEGV", regs.Rip, regs.Fs_base, regs.Gs_base)
		return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: siKernel}, nil
	}
	if c.fpHome.Load() != v {
		if err := c.loadFP(v); err != nil {
			if errors.Is(err, platform.ErrInvalidFPState) {
				// Only a state that passed SetFPState's checks
				// gets here: KVM checks more. Linux kills a
				// sigreturn with such a state with SIGSEGV.
				c.p.log.Debugf("kvm: %v: reporting SIGSEGV", err)
				return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: siKernel}, nil
			}
			return platform.Stop{}, c.fatal(v, err.Error())
		}
	}
	return c.run(v, as, regs)
}

// Entry modes of the run loop.
const (
	// modeEnter enters ring 3 with regs: through the entry stub, or, if
	// the vCPU stopped in ring 3 and no system state has to change,
	// directly.
	modeEnter = iota
	// modeContinue resumes the guest where it stopped (it is in a stub
	// on its way to a hlt, or an exception is being delivered).
	modeContinue
)

// run is the body of Switch.
func (c *context) run(v *vcpu, as *addressSpace, regs *arch.Registers) (platform.Stop, error) {
	r := v.regs
	mode := modeEnter
	for {
		if mode == modeEnter {
			if err := v.enter(as, regs); err != nil {
				return platform.Stop{}, c.fatal(v, err.Error())
			}
		} else if c.p.sync {
			*v.u64(runDirtyRegs) = 0
		}
		e := kvmRun(v.fd)
		v.exits.Add(1)
		v.stats.runs++
		v.setImmediateExit(false)
		if !c.p.sync {
			if ge := ioctlPtr(v.fd, ioctlGetRegs, unsafe.Pointer(r)); ge != 0 {
				return platform.Stop{}, c.fatal(v, fmt.Sprintf("KVM_GET_REGS: %v", ge))
			}
		}
		rip := r.Rip
		// Only an interrupt leaves the guest in ring 3; every other
		// exit is at a hlt or in a stub, in ring 0.
		v.inUser = e == unix.EINTR && rip < 1<<47
		if rip >= codeVA+entryOff && rip <= codeVA+entryEndOff {
			// The CR3 reload may not have happened.
			v.forceFlush = true
		}
		if e == unix.EINTR {
			v.stats.interrupts++
			switch {
			case rip >= codeVA+entryOff && rip <= codeVA+entryEndOff:
				// Not yet in ring 3: regs still hold the state.
				if c.pending.Swap(false) {
					return platform.Stop{Kind: platform.StopInterrupt}, nil
				}
				mode = modeEnter
			case rip >= codeVA+syscallOff && rip < codeVA+vectorsEnd:
				// On the way to a hlt: let it get there.
				mode = modeContinue
			case rip < 1<<47:
				var ev kvmVCPUEvents
				if ee := ioctlPtr(v.fd, ioctlGetVCPUEvents, unsafe.Pointer(&ev)); ee != 0 {
					return platform.Stop{}, c.fatal(v, fmt.Sprintf("KVM_GET_VCPU_EVENTS: %v", ee))
				}
				if ev.ExceptionInjected != 0 || ev.ExceptionPending != 0 || ev.InterruptInjected != 0 || ev.NMIInjected != 0 {
					// An exception is being delivered:
					// changing rip now would deliver it
					// in ring 0. Let it reach its stub.
					mode = modeContinue
					continue
				}
				v.userRegs(regs)
				if c.pending.Swap(false) {
					return platform.Stop{Kind: platform.StopInterrupt}, nil
				}
				// A TLB shootdown's kick (or a stray signal):
				// re-enter, flushing if needed.
				mode = modeEnter
			default:
				return platform.Stop{}, c.fatal(v, fmt.Sprintf("interrupted at unexpected rip %#x", rip))
			}
			continue
		}
		if e != 0 {
			return platform.Stop{}, c.fatal(v, fmt.Sprintf("KVM_RUN: %v", e))
		}
		reason := v.exitReason()
		if reason != exitHLT {
			return platform.Stop{}, c.fatal(v, v.exitDetail(reason))
		}
		switch rip {
		case codeVA + syscallExitOff:
			v.syscallRegs(regs)
			return platform.Stop{Kind: platform.StopSyscall}, nil
		case codeVA + excExitOff:
			stop, again, err := c.exception(v, regs)
			if err != nil {
				return platform.Stop{}, err
			}
			if again {
				mode = modeEnter
				continue
			}
			return stop, nil
		}
		return platform.Stop{}, c.fatal(v, fmt.Sprintf("hlt at unexpected rip %#x", rip))
	}
}

// enter sets the guest up to run regs in ring 3 of as.
//
// From ring 0 (the vCPU stopped at a hlt, in a stub, or was just reset) it
// goes through the entry stub: the general registers in kvm_run (or by
// KVM_SET_REGS), rip and rflags in the iretq frame, rax in the frame and,
// in the guest's rax, the CR3 to reload if the TLB must be flushed.
//
// A vCPU interrupted in ring 3 is still there; if it needs no flush and no
// new system registers, it simply resumes with regs. Otherwise
// setSystemState brings it back to ring 0 first.
func (v *vcpu) enter(as *addressSpace, regs *arch.Registers) error {
	gen := as.tlbGen.Load()
	flush := v.forceFlush || v.tlbGen != gen
	if as != v.curAS || regs.Fs_base != v.fsBase || regs.Gs_base != v.gsBase || (v.inUser && flush) {
		if err := v.setSystemState(as, regs.Fs_base, regs.Gs_base); err != nil {
			return err
		}
		flush = true
	}
	if v.inUser {
		v.stats.userEntry++
		return v.prepareUserEntry(regs)
	}
	var cr3 uint64
	if flush {
		cr3 = as.pt.root
		v.stats.flushes++
	}
	v.tlbGen = gen
	v.forceFlush = false

	fr := (*[6]uint64)(unsafe.Pointer(&v.mainPage[frameOff]))
	fr[0] = regs.Rax
	fr[1] = regs.Rip
	fr[2] = userCS
	fr[3] = regs.Eflags&userFlagsMask | userFlagsSet
	fr[4] = regs.Rsp
	fr[5] = userSS

	r := v.regs
	r.Rax = cr3
	r.Rbx, r.Rcx, r.Rdx = regs.Rbx, regs.Rcx, regs.Rdx
	r.Rsi, r.Rdi, r.Rbp = regs.Rsi, regs.Rdi, regs.Rbp
	r.R8, r.R9, r.R10, r.R11 = regs.R8, regs.R9, regs.R10, regs.R11
	r.R12, r.R13, r.R14, r.R15 = regs.R12, regs.R13, regs.R14, regs.R15
	r.Rsp = vcpuMainVA(v.id) + frameOff
	r.Rip = codeVA + entryOff
	r.Rflags = ring0Flags
	return v.pushRegs()
}

// prepareUserEntry sets regs as the registers of a vCPU that is in ring 3.
func (v *vcpu) prepareUserEntry(regs *arch.Registers) error {
	r := v.regs
	r.Rax, r.Rbx, r.Rcx, r.Rdx = regs.Rax, regs.Rbx, regs.Rcx, regs.Rdx
	r.Rsi, r.Rdi, r.Rbp, r.Rsp = regs.Rsi, regs.Rdi, regs.Rbp, regs.Rsp
	r.R8, r.R9, r.R10, r.R11 = regs.R8, regs.R9, regs.R10, regs.R11
	r.R12, r.R13, r.R14, r.R15 = regs.R12, regs.R13, regs.R14, regs.R15
	r.Rip = regs.Rip
	r.Rflags = regs.Eflags&userFlagsMask | userFlagsSet
	return v.pushRegs()
}

// pushRegs hands v.regs to KVM for the next entry.
func (v *vcpu) pushRegs() error {
	if v.p.sync {
		*v.u64(runDirtyRegs) = syncRegs
		return nil
	}
	if e := ioctlPtr(v.fd, ioctlSetRegs, unsafe.Pointer(v.regs)); e != 0 {
		return fmt.Errorf("KVM_SET_REGS: %v", e)
	}
	return nil
}

// copyGPRs copies the general registers other than rax, rsp and rip from
// the vCPU into regs.
func (v *vcpu) copyGPRs(regs *arch.Registers) {
	r := v.regs
	regs.Rbx, regs.Rcx, regs.Rdx = r.Rbx, r.Rcx, r.Rdx
	regs.Rsi, regs.Rdi, regs.Rbp = r.Rsi, r.Rdi, r.Rbp
	regs.R8, regs.R9, regs.R10, regs.R11 = r.R8, r.R9, r.R10, r.R11
	regs.R12, regs.R13, regs.R14, regs.R15 = r.R12, r.R13, r.R14, r.R15
}

// userRegs copies the registers of a vCPU stopped in ring 3 into regs.
func (v *vcpu) userRegs(regs *arch.Registers) {
	r := v.regs
	v.copyGPRs(regs)
	regs.Rax, regs.Rsp, regs.Rip, regs.Eflags = r.Rax, r.Rsp, r.Rip, r.Rflags
}

// syscallRegs copies the registers at the syscall stub into regs as the
// application's at a syscall stop: rip and rflags from rcx and r11 (where
// the syscall instruction put them), the number in Orig_rax, -ENOSYS in
// rax.
func (v *vcpu) syscallRegs(regs *arch.Registers) {
	r := v.regs
	v.copyGPRs(regs)
	regs.Orig_rax = r.Rax
	regs.Rax = enosysReturn
	regs.Rsp = r.Rsp
	regs.Rip = r.Rcx
	regs.Eflags = r.R11
}

// excFrame is what the exception stubs and the CPU leave on the stack.
type excFrame struct {
	cr2, rax, vector, errorCode uint64
	rip, cs, rflags, rsp, ss    uint64
}

const excFrameSize = 9 * 8

// readFrame reads the exception frame at guest virtual address rsp, which
// must lie in one of the vCPU's ring-0 stacks.
func (v *vcpu) readFrame(rsp uint64) (excFrame, bool) {
	var page []byte
	var base uint64
	switch {
	case rsp >= vcpuMainVA(v.id) && rsp <= vcpuMainVA(v.id)+pageSize-excFrameSize:
		page, base = v.mainPage, vcpuMainVA(v.id)
	case rsp >= vcpuISTVA(v.id) && rsp <= vcpuISTVA(v.id)+pageSize-excFrameSize:
		page, base = v.istPage, vcpuISTVA(v.id)
	default:
		return excFrame{}, false
	}
	if rsp%8 != 0 {
		return excFrame{}, false
	}
	b := page[rsp-base:]
	le := binary.LittleEndian
	return excFrame{
		cr2: le.Uint64(b[0:]), rax: le.Uint64(b[8:]), vector: le.Uint64(b[16:]), errorCode: le.Uint64(b[24:]),
		rip: le.Uint64(b[32:]), cs: le.Uint64(b[40:]), rflags: le.Uint64(b[48:]), rsp: le.Uint64(b[56:]), ss: le.Uint64(b[64:]),
	}, true
}

// exception decodes the exception the vCPU halted on. again means the
// exception needs no stop (the run loop re-enters with regs).
func (c *context) exception(v *vcpu, regs *arch.Registers) (stop platform.Stop, again bool, err error) {
	f, ok := v.readFrame(v.regs.Rsp)
	if !ok {
		return stop, false, c.fatal(v, fmt.Sprintf("exception stub with rsp %#x outside the vCPU's stacks", v.regs.Rsp))
	}
	if f.cs&3 != 3 {
		if f.rip == codeVA+entryIretqOff && (f.vector == vecGP || f.vector == vecSS || f.vector == vecNP) {
			// iretq refused the state regs asked for; regs still
			// hold it. A real kernel would deliver SIGSEGV.
			c.p.log.Debugf("kvm: iretq to rip %#x rsp %#x rflags %#x refused (vector %d, error %#x): reporting SIGSEGV", regs.Rip, regs.Rsp, regs.Eflags, f.vector, f.errorCode)
			return platform.Stop{Kind: platform.StopFault, Signo: int(unix.SIGSEGV), Code: siKernel}, false, nil
		}
		return stop, false, c.fatal(v, fmt.Sprintf("exception %d (error %#x, cr2 %#x) in ring 0 at rip %#x", f.vector, f.errorCode, f.cr2, f.rip))
	}
	v.copyGPRs(regs)
	regs.Rax, regs.Rip, regs.Eflags, regs.Rsp = f.rax, f.rip, f.rflags, f.rsp
	if f.vector == vecInt80 {
		regs.Orig_rax = f.rax
		regs.Rax = enosysReturn
		return platform.Stop{Kind: platform.StopSyscall, Syscall32: true}, false, nil
	}
	stop = platform.Stop{Kind: platform.StopFault}
	fault := func(sig unix.Signal, code int32, addr uint64) {
		stop.Signo, stop.Code, stop.Addr = int(sig), code, uintptr(addr)
	}
	switch f.vector {
	case vecDE:
		fault(unix.SIGFPE, fpeIntDiv, f.rip)
	case vecDB:
		code := int32(trapBrkpt)
		if f.rflags&flagTF != 0 {
			code = trapTrace
		}
		fault(unix.SIGTRAP, code, f.rip)
	case vecNMI:
		// Not the application's doing: carry on.
		return stop, true, nil
	case vecBP:
		fault(unix.SIGTRAP, siKernel, 0)
	case vecUD:
		fault(unix.SIGILL, illIllOpn, f.rip)
	case vecNP, vecSS:
		fault(unix.SIGBUS, siKernel, 0)
	case vecPF:
		if f.errorCode&pfRsvd != 0 {
			return stop, false, c.fatal(v, fmt.Sprintf("page fault with reserved bits at %#x (error %#x): corrupt page tables", f.cr2, f.errorCode))
		}
		code := int32(segvMapErr)
		if f.errorCode&pfPresent != 0 && f.cr2 < maxUserAddress {
			code = segvAccErr
		}
		fault(unix.SIGSEGV, code, f.cr2)
		switch {
		case f.errorCode&pfFetch != 0:
			stop.Access = hostarch.Execute
		case f.errorCode&pfWrite != 0:
			stop.Access = hostarch.Write
		default:
			stop.Access = hostarch.Read
		}
	case vecMF, vecXM:
		fault(unix.SIGFPE, v.fpeCode(f.vector), f.rip)
	case vecAC:
		fault(unix.SIGBUS, busAdrAln, 0)
	case vecDF, vecMC:
		return stop, false, c.fatal(v, fmt.Sprintf("exception %d from ring 3 at rip %#x", f.vector, f.rip))
	default:
		// #OF, #BR, #NM, #TS, #GP, #VE, #CP and the reserved ones.
		fault(unix.SIGSEGV, siKernel, 0)
	}
	return stop, false, nil
}

// fpeCode returns the si_code of a floating-point exception (#MF from the
// x87 status and control words, #XM from MXCSR), as Linux computes it.
func (v *vcpu) fpeCode(vector uint64) int32 {
	var x kvmXSave
	if e := v.getXSave(&x); e != 0 {
		return 0
	}
	b := xsaveBytes(&x)
	le := binary.LittleEndian
	var err uint32
	if vector == vecMF {
		err = uint32(le.Uint16(b[fxFSW:])) &^ uint32(le.Uint16(b[fxFCW:])) & 0x3f
	} else {
		mxcsr := le.Uint32(b[fxMXCSR:])
		err = ^(mxcsr >> 7) & mxcsr & 0x3f
	}
	switch {
	case err&0x01 != 0:
		return fpeFltInv
	case err&0x04 != 0:
		return fpeFltDiv
	case err&0x08 != 0:
		return fpeFltOvf
	case err&0x12 != 0:
		return fpeFltUnd
	case err&0x20 != 0:
		return fpeFltRes
	}
	return 0
}

// exitDetail describes an exit the platform does not expect.
func (v *vcpu) exitDetail(reason uint32) string {
	d := exitName(reason)
	switch reason {
	case exitFailEntry:
		d += fmt.Sprintf(" (hardware reason %#x)", *v.u64(runExitData))
	case exitInternalError:
		d += fmt.Sprintf(" (suberror %d)", *(*uint32)(unsafe.Add(v.run, runExitData)))
	case exitUnknown:
		d += fmt.Sprintf(" (hardware reason %#x)", *v.u64(runExitData))
	}
	return d
}

// fatal logs a register dump of v and returns the error that kills the
// context.
func (c *context) fatal(v *vcpu, what string) error {
	log := c.p.log.Warnf
	if c.quiet {
		log = c.p.log.Debugf
	}
	log("kvm: vCPU %d (thread %d): %s; %s", v.id, c.tid, what, v.dump())
	return fmt.Errorf("%w: kvm: vCPU %d: %s", platform.ErrContextDead, v.id, what)
}

// enosysReturn is rax at a syscall stop, as ptrace shows it: -ENOSYS.
const enosysReturn = ^uint64(unix.ENOSYS) + 1
