package kvm

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
)

// Control register and MSR values of every vCPU.
const (
	cr0PE = 1 << 0
	cr0MP = 1 << 1
	cr0ET = 1 << 4
	cr0NE = 1 << 5
	cr0WP = 1 << 16
	cr0AM = 1 << 18
	cr0PG = 1 << 31

	cr4PAE        = 1 << 5
	cr4OSFXSR     = 1 << 9
	cr4OSXMMEXCPT = 1 << 10
	cr4UMIP       = 1 << 11
	cr4OSXSAVE    = 1 << 18
	cr4SMEP       = 1 << 20
	cr4SMAP       = 1 << 21

	eferSCE = 1 << 0
	eferLME = 1 << 8
	eferLMA = 1 << 10
	eferNXE = 1 << 11

	guestCR0  = cr0PE | cr0MP | cr0ET | cr0NE | cr0WP | cr0AM | cr0PG
	guestEFER = eferSCE | eferLME | eferLMA | eferNXE

	msrSysenterCS  = 0x174
	msrSysenterESP = 0x175
	msrSysenterEIP = 0x176
	msrPAT         = 0x277
	msrSTAR        = 0xc0000081
	msrLSTAR       = 0xc0000082
	msrCSTAR       = 0xc0000083
	msrSFMask      = 0xc0000084
	msrKernelGS    = 0xc0000102
	msrTSCAux      = 0xc0000103

	// defaultPAT is the power-on PAT (write-back for PTE cache bits 0).
	defaultPAT = 0x0007040600070406

	// sfmask: rflags bits syscall clears (Linux's set: arithmetic flags,
	// TF, IF, DF, IOPL, NT, RF, AC, ID).
	sfmask = 0x257fd5

	// ring0Flags is rflags in ring 0: interrupts off, only the fixed bit.
	ring0Flags = 0x2
)

// rflags bits.
const (
	flagTF = 1 << 8
	flagIF = 1 << 9
	// userFlagsMask are the rflags bits an application may set: CF, PF,
	// AF, ZF, SF, TF, DF, OF, NT, RF, AC, ID. IF is always set, IOPL, VM,
	// VIF and VIP never.
	userFlagsMask = 0x254dd5
	userFlagsSet  = flagIF | 0x2
)

// vcpuStats are a vCPU's counters. They belong to the thread running the
// vCPU; Platform.Release sums them (when no vCPU runs).
type vcpuStats struct {
	runs       uint64 // KVM_RUN calls
	interrupts uint64 // returns with EINTR
	flushes    uint64 // entries that reloaded CR3
	sregs      uint64 // KVM_SET_SREGS for CR3, FS/GS base or ring 0
	userEntry  uint64 // direct re-entries into ring 3
}

func (s *vcpuStats) add(o vcpuStats) {
	s.runs += o.runs
	s.interrupts += o.interrupts
	s.flushes += o.flushes
	s.sregs += o.sregs
	s.userEntry += o.userEntry
}

// Ring 0's code and stack segments as KVM_SET_SREGS takes them.
var (
	kernelCodeSegment  = kvmSegment{Limit: 0xffffffff, Selector: kernelCS, Type: 11, Present: 1, S: 1, L: 1, G: 1}
	kernelStackSegment = kvmSegment{Limit: 0xffffffff, Selector: kernelSS, Type: 3, Present: 1, DB: 1, S: 1, G: 1}
)

// vcpu is one KVM vCPU and its ring-0 pages. It backs one sandbox CPU and
// is run by whichever context's thread holds that CPU: ownership passes
// with each Switch (owner), the FP state in it belongs to fpOwner.
type vcpu struct {
	p   *Platform
	id  int // the KVM vCPU id (ring-0 pages are laid out by it)
	cpu int // the sandbox CPU it backs
	fd  int

	// runMem is the mmap of kvm_run; run points at it. It stays mapped
	// until Platform.Release, even after the vCPU is retired, so that a
	// late kick never writes to an unmapped page.
	runMem []byte
	run    unsafe.Pointer

	// main and ist are the frames of the vCPU's main page (TSS, entry
	// frame, ring-0 stack) and IST page.
	main, ist memfile.FileRange
	mainPage  []byte
	istPage   []byte

	// owner is the context whose Switch is using the vCPU, or nil. The
	// fields below it, up to fpMu, belong to the owner's thread (a
	// successful CompareAndSwap of owner orders one owner's accesses
	// before the next one's).
	owner atomic.Pointer[context]

	// regs is where the general registers are exchanged with KVM: kvm_run's
	// sync regs, or ownRegs with KVM_GET_REGS/KVM_SET_REGS.
	regs    *kvmRegs
	ownRegs kvmRegs
	// curAS is the address space CR3 points into (nil: the kernel-only
	// tree); fsBase and gsBase are the guest's FS and GS bases.
	curAS          *addressSpace
	fsBase, gsBase uint64
	// tlbGen is the curAS generation the vCPU's TLB was last flushed at;
	// forceFlush forces a flush on the next entry regardless.
	tlbGen     uint64
	forceFlush bool
	// broken marks a vCPU in an unknown state: it is retired.
	broken bool
	// inUser is set when the vCPU last stopped in ring 3 (interrupted),
	// rather than at a hlt in ring 0.
	inUser bool
	// stats count what the vCPU did, for the debug log.
	stats vcpuStats

	// fpMu protects fpOwner and the FP state KVM holds for the vCPU
	// while the vCPU is not in KVM_RUN (see fpstate.go).
	fpMu sync.Mutex
	// fpOwner is the context whose FP state the vCPU holds, or nil.
	fpOwner *context
	// fpIO replaces KVM_GET_XSAVE/KVM_SET_XSAVE in tests without KVM.
	fpIO func(set bool, x *kvmXSave) unix.Errno

	// retired is set once the vCPU no longer backs its CPU (it failed).
	retired atomic.Bool
	// tid is the host thread that runs the vCPU (for kicks).
	tid atomic.Int32
	// running is the address space the vCPU is running in (set around
	// KVM_RUN and everything leading to it), or nil.
	running atomic.Pointer[addressSpace]
	// exits counts returns from KVM_RUN.
	exits atomic.Uint64
}

// cpuVCPU returns the vCPU of sandbox CPU cpu, creating and initialising
// it on first use. It blocks only for the ioctls that create a vCPU.
func (p *Platform) cpuVCPU(cpu int) (*vcpu, error) {
	if cpu < 0 {
		return nil, fmt.Errorf("kvm: no sandbox CPU %d", cpu)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return nil, fmt.Errorf("kvm: platform released")
	}
	if cpu < len(p.cpuVCPUs) && p.cpuVCPUs[cpu] != nil {
		return p.cpuVCPUs[cpu], nil
	}
	v, err := p.newVCPULocked(cpu)
	if err != nil {
		return nil, err
	}
	if err := v.reset(); err != nil {
		p.retireLocked(v)
		return nil, err
	}
	for len(p.cpuVCPUs) <= cpu {
		p.cpuVCPUs = append(p.cpuVCPUs, nil)
	}
	p.cpuVCPUs[cpu] = v
	return v, nil
}

// retire takes a failed vCPU away from its CPU (the CPU's next Switch
// creates a new one) and closes it. The FP state it held is lost: the
// context that failed on it is dead.
//
// Preconditions: the caller owns v (v.owner) and keeps owning it until
// retire returns.
func (p *Platform) retire(v *vcpu) {
	p.mu.Lock()
	p.retireLocked(v)
	p.mu.Unlock()
}

// retireLocked is retire with p.mu held.
func (p *Platform) retireLocked(v *vcpu) {
	v.retired.Store(true)
	if v.cpu < len(p.cpuVCPUs) && p.cpuVCPUs[v.cpu] == v {
		p.cpuVCPUs[v.cpu] = nil
	}
	v.fpMu.Lock()
	if o := v.fpOwner; o != nil {
		o.fpHome.CompareAndSwap(v, nil)
		v.fpOwner = nil
	}
	v.fpMu.Unlock()
	v.closeFD()
}

// newVCPULocked creates the vCPU of sandbox CPU cpu. Preconditions: p.mu
// is held.
func (p *Platform) newVCPULocked(cpu int) (*vcpu, error) {
	id := p.nextID
	if id >= p.maxVCPUs {
		return nil, fmt.Errorf("kvm: no vCPU for sandbox CPU %d: KVM_CAP_MAX_VCPUS is %d (vCPUs made so far, retired ones included)", cpu, p.maxVCPUs)
	}
	r, e := ioctl(p.vmFD, ioctlCreateVCPU, uintptr(id))
	if e != 0 {
		return nil, fmt.Errorf("kvm: KVM_CREATE_VCPU %d: %w", id, e)
	}
	p.nextID++
	v := &vcpu{p: p, id: id, cpu: cpu, fd: int(r)}
	unix.CloseOnExec(v.fd)
	mem, err := unix.Mmap(v.fd, 0, p.runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(v.fd)
		return nil, fmt.Errorf("kvm: mapping kvm_run of vCPU %d: %w", id, err)
	}
	v.runMem = mem
	v.run = unsafe.Pointer(&mem[0])
	if p.sync {
		*v.u64(runValidRegs) = syncRegs
		v.regs = (*kvmRegs)(unsafe.Add(v.run, runSyncRegs))
	} else {
		v.regs = &v.ownRegs
	}
	if err := setCPUID(v.fd, p.cpuid); err != nil {
		v.close()
		return nil, err
	}
	if v.main, err = p.mem.allocPage(); err != nil {
		v.close()
		return nil, err
	}
	if v.ist, err = p.mem.allocPage(); err != nil {
		p.mf.DecRef(v.main)
		v.close()
		return nil, err
	}
	v.mainPage = p.mem.page(v.main.Start)
	v.istPage = p.mem.page(v.ist.Start)
	initVCPUPage(v.mainPage, id)
	for _, m := range []struct {
		va  uint64
		off uint64
	}{{vcpuMainVA(id), v.main.Start}, {vcpuISTVA(id), v.ist.Start}} {
		if _, err := p.kernel.mapRange(m.va, m.off, 1, true, false, false); err != nil {
			p.mf.DecRef(v.main)
			p.mf.DecRef(v.ist)
			v.close()
			return nil, err
		}
	}
	all := []*vcpu{v}
	if old := p.vcpus.Load(); old != nil {
		all = append(append([]*vcpu(nil), (*old)...), v)
	}
	p.vcpus.Store(&all)
	return v, nil
}

// u64 returns the kvm_run field at off.
func (v *vcpu) u64(off uintptr) *uint64 { return (*uint64)(unsafe.Add(v.run, off)) }

// exitReason returns kvm_run.exit_reason.
func (v *vcpu) exitReason() uint32 { return *(*uint32)(unsafe.Add(v.run, runExitReason)) }

// setImmediateExit sets or clears kvm_run.immediate_exit. The word also
// holds request_interrupt_window, which the platform keeps 0.
func (v *vcpu) setImmediateExit(on bool) {
	var w uint32
	if on {
		w = 1 << 8
	}
	atomic.StoreUint32((*uint32)(v.run), w)
}

// kick makes the vCPU leave KVM_RUN as soon as possible: at once if it is
// in it (a signal to the thread running it), or when it next enters
// (immediate_exit). It may be called from any thread and does not block.
func (v *vcpu) kick() {
	v.setImmediateExit(true)
	if v.running.Load() != nil {
		if tid := v.tid.Load(); tid != 0 {
			unix.Tgkill(v.p.pid, int(tid), unix.SIGURG)
		}
	}
}

// closeFD closes the vCPU's file descriptor; its kvm_run mapping stays
// (see runMem).
func (v *vcpu) closeFD() {
	if v.fd >= 0 {
		unix.Close(v.fd)
		v.fd = -1
	}
}

// close releases the vCPU's host resources (its ring-0 frames stay with
// the platform, mapped, until Platform.Release). Preconditions: nothing
// can kick the vCPU any more (Platform.Release, or it was never
// published).
func (v *vcpu) close() {
	if v.runMem != nil {
		unix.Munmap(v.runMem)
		v.runMem = nil
		v.run = nil
		v.regs = &v.ownRegs
	}
	v.closeFD()
}

// reset puts a new vCPU in the state it starts from: long mode in ring 0
// on the kernel-only page tables, this package's GDT, IDT and TSS, syscall
// MSRs pointing at the syscall stub, the initial FPU state (no context's).
func (v *vcpu) reset() error {
	f := &v.p.features
	var s kvmSregs
	if e := ioctlPtr(v.fd, ioctlGetSregs, unsafe.Pointer(&s)); e != 0 {
		return fmt.Errorf("kvm: KVM_GET_SREGS: %w", e)
	}
	s.CS = kernelCodeSegment
	s.SS = kernelStackSegment
	unusable := kvmSegment{Unusable: 1}
	s.DS, s.ES, s.FS, s.GS = unusable, unusable, unusable, unusable
	s.LDT = kvmSegment{Type: 2, Unusable: 1}
	s.TR = kvmSegment{Base: vcpuMainVA(v.id) + tssOff, Limit: 103, Selector: tssSel, Type: 11, Present: 1}
	s.GDT = kvmDtable{Base: gdtVA, Limit: gdtLimit}
	s.IDT = kvmDtable{Base: idtVA, Limit: 256*16 - 1}
	s.CR0 = guestCR0
	s.CR2 = 0
	s.CR3 = v.p.kernel.root
	s.CR4 = cr4PAE | cr4OSFXSR | cr4OSXMMEXCPT
	if f.xsave {
		s.CR4 |= cr4OSXSAVE
	}
	if f.smep {
		s.CR4 |= cr4SMEP
	}
	if f.smap {
		s.CR4 |= cr4SMAP
	}
	if f.umip {
		s.CR4 |= cr4UMIP
	}
	s.CR8 = 0
	s.EFER = guestEFER
	s.InterruptBitmap = [4]uint64{}
	if e := ioctlPtr(v.fd, ioctlSetSregs, unsafe.Pointer(&s)); e != 0 {
		return fmt.Errorf("kvm: KVM_SET_SREGS (long mode, CR0 %#x CR4 %#x EFER %#x): %w", s.CR0, s.CR4, s.EFER, e)
	}
	v.curAS = nil
	v.fsBase, v.gsBase = 0, 0
	v.forceFlush = true
	v.inUser = false

	msrs := kvmMSRs{}
	for _, m := range []kvmMSREntry{
		{Index: msrSTAR, Data: starValue},
		{Index: msrLSTAR, Data: codeVA + syscallOff},
		{Index: msrCSTAR, Data: codeVA + syscallOff},
		{Index: msrSFMask, Data: sfmask},
		{Index: msrKernelGS},
		{Index: msrSysenterCS},
		{Index: msrSysenterESP},
		{Index: msrSysenterEIP},
		{Index: msrPAT, Data: defaultPAT},
	} {
		msrs.Entries[msrs.NMSRs] = m
		msrs.NMSRs++
	}
	if f.rdtscp {
		msrs.Entries[msrs.NMSRs] = kvmMSREntry{Index: msrTSCAux}
		msrs.NMSRs++
	}
	n, e := ioctl(v.fd, ioctlSetMSRs, uintptr(unsafe.Pointer(&msrs)))
	if e != 0 || n != uintptr(msrs.NMSRs) {
		idx := uint32(0)
		if e == 0 && n < uintptr(msrs.NMSRs) {
			idx = msrs.Entries[n].Index
		}
		return fmt.Errorf("kvm: KVM_SET_MSRS set %d of %d (MSR %#x refused): %v", n, msrs.NMSRs, idx, e)
	}

	if f.xsave {
		var x kvmXCRs
		x.NrXCRs = 1
		x.XCRs[0].Value = f.xcr0
		if e := ioctlPtr(v.fd, ioctlSetXCRs, unsafe.Pointer(&x)); e != 0 {
			return fmt.Errorf("kvm: KVM_SET_XCRS (XCR0 %#x): %w", f.xcr0, e)
		}
	}
	if err := v.resetFPU(); err != nil {
		return err
	}
	*v.regs = kvmRegs{Rflags: ring0Flags, Rip: codeVA + syscallOff}
	if e := ioctlPtr(v.fd, ioctlSetRegs, unsafe.Pointer(v.regs)); e != 0 {
		return fmt.Errorf("kvm: KVM_SET_REGS: %w", e)
	}
	return nil
}

// resetFPU gives the vCPU the initial x87/SSE/AVX state, owned by no
// context.
func (v *vcpu) resetFPU() error {
	if e := v.setXSave(initialXSave()); e != 0 {
		return fmt.Errorf("kvm: KVM_SET_XSAVE: %w", e)
	}
	return nil
}

// setSystemState points CR3 at as's tables, sets the FS and GS bases and
// puts the vCPU in ring 0 (one KVM_GET_SREGS and one KVM_SET_SREGS). The
// caller then enters through the entry stub, which flushes the TLB.
func (v *vcpu) setSystemState(as *addressSpace, fsBase, gsBase uint64) error {
	var s kvmSregs
	if e := ioctlPtr(v.fd, ioctlGetSregs, unsafe.Pointer(&s)); e != 0 {
		return fmt.Errorf("kvm: KVM_GET_SREGS: %w", e)
	}
	s.CR3 = as.pt.root
	s.FS.Base = fsBase
	s.GS.Base = gsBase
	s.CS = kernelCodeSegment
	s.SS = kernelStackSegment
	if e := ioctlPtr(v.fd, ioctlSetSregs, unsafe.Pointer(&s)); e != 0 {
		return fmt.Errorf("kvm: KVM_SET_SREGS (CR3 %#x, FS base %#x, GS base %#x): %w", s.CR3, fsBase, gsBase, e)
	}
	v.forceFlush = true
	v.inUser = false
	v.curAS = as
	v.stats.sregs++
	v.fsBase, v.gsBase = fsBase, gsBase
	return nil
}

// dump returns the vCPU's state, for the log, in one line.
func (v *vcpu) dump() string {
	r := v.regs
	if !v.p.sync {
		ioctlPtr(v.fd, ioctlGetRegs, unsafe.Pointer(r))
	}
	out := fmt.Sprintf("rip=%#x rsp=%#x rflags=%#x rax=%#x rbx=%#x rcx=%#x rdx=%#x rsi=%#x rdi=%#x rbp=%#x r8=%#x r9=%#x r10=%#x r11=%#x r12=%#x r13=%#x r14=%#x r15=%#x",
		r.Rip, r.Rsp, r.Rflags, r.Rax, r.Rbx, r.Rcx, r.Rdx, r.Rsi, r.Rdi, r.Rbp, r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15)
	var s kvmSregs
	if e := ioctlPtr(v.fd, ioctlGetSregs, unsafe.Pointer(&s)); e == 0 {
		out += fmt.Sprintf(" cs=%#x/dpl%d ss=%#x cr0=%#x cr2=%#x cr3=%#x cr4=%#x efer=%#x fs.base=%#x gs.base=%#x tr.base=%#x",
			s.CS.Selector, s.CS.DPL, s.SS.Selector, s.CR0, s.CR2, s.CR3, s.CR4, s.EFER, s.FS.Base, s.GS.Base, s.TR.Base)
	}
	var ev kvmVCPUEvents
	if e := ioctlPtr(v.fd, ioctlGetVCPUEvents, unsafe.Pointer(&ev)); e == 0 && (ev.ExceptionInjected != 0 || ev.ExceptionPending != 0) {
		out += fmt.Sprintf(" pending-exception=%d/err=%#x", ev.ExceptionNr, ev.ExceptionErrorCode)
	}
	return out
}
