// Package kvm is the KVM platform: it runs application code in ring 3 of a
// KVM virtual machine whose only contents are the sandbox's memory file and
// a tiny ring 0 of this package's own, and returns every syscall and every
// exception to the sentry as a platform.Stop, exactly as the ptrace platform
// does. It targets standard KVM (Intel VMX and AMD SVM). SelfTest checks
// that the host's KVM behaves as such before the platform is used.
//
// # What it owns
//
// Per Platform: a VM (one per sandbox), whose only memory slot is the
// memory file (sentry/memfile) at guest physical address memBase = 4 GiB,
// over the sentry's own mapping of the file; the ring-0 pages (code, GDT,
// IDT) and the kernel half of the page tables, all frames of the memory
// file that the platform allocates and frees; one vCPU per sandbox CPU,
// made on first use (up to KVM_CAP_MAX_VCPUS), with two ring-0 pages each
// (TSS, entry frame and stack; a double-fault stack).
// Per AddressSpace: a tree of 4-level page tables in frames of the memory
// file, built by the sentry, whose PML4 slot 511 points to the shared
// kernel subtree. Per Context (one per task): its FP state, its pending
// interrupt and the CPU it is bound to (platform.CPUBinder; CPU 0 until
// bound). The general registers and TLS bases travel in the registers
// given to Switch.
//
// # CPUs
//
// A vCPU is driven only by the host thread of the task that holds its
// sandbox CPU: the sentry binds the task's context to that CPU before
// Switch, and Switch owns the CPU's vCPU until it returns (an atomic owner
// field; the kernel runs one task per CPU at a time, so it is always free,
// and a Switch that finds it taken fails, killing only its task's process,
// instead of sharing it). Between Switches the vCPU keeps what the last
// context left in it: CR3, TLS bases, the TLB generation, and that
// context's FP state (see FP state); the next context changes only what
// differs. A vCPU that fails is retired and its CPU gets a new one (with
// a new KVM id: KVM never frees one).
//
// # The guest
//
// Ring 0 (ring0.go) is about forty bytes of code: an entry stub that
// optionally reloads CR3 (the TLB flush) and irets to ring 3 from a frame
// the host wrote; a syscall stub at LSTAR that is a single hlt; and one stub
// per exception vector that pushes the vector, rax and CR2 and halts. With
// no in-kernel interrupt controller each hlt is a KVM_EXIT_HLT whose rip
// says which stub it was. The host never resumes a hlt: from ring 0 every
// entry sets rip to the entry stub, rsp to the vCPU's entry frame and all
// general registers through kvm_run's sync regs (KVM_CAP_SYNC_REGS;
// KVM_SET_REGS/KVM_GET_REGS where it is missing), so a syscall round trip is
// exactly one KVM_RUN. A vCPU that was interrupted in ring 3 is resumed
// there directly with the new registers. System registers (CR3, FS and GS
// bases) are set with KVM_SET_SREGS only when they change (a switch of
// address space or TLS base), or to bring a vCPU interrupted in ring 3 back
// to ring 0 when its TLB must be flushed. The guest runs with SMEP, SMAP
// and UMIP where the CPU has them, NX, no I/O permission for ring 3 (IOPL
// 0, no I/O map), and the application's rflags are filtered (no IOPL, VM,
// VIF or VIP). CPUID is KVM's supported set without AMX; XCR0 enables x87,
// SSE, AVX and AVX-512 as offered. KVM's quirks that rewrite vmcall in
// guest memory and turn mwait's #UD into a nop are disabled where KVM
// allows it.
//
// Nothing of the sentry is mapped in the guest: its virtual address space
// is the application's pages below MaxUserAddress and the ring-0 pages at
// kernelBase, supervisor-only. Page tables themselves are not mapped at all.
//
// # Stops
//
//   - syscall: the hlt at LSTAR; rip and rflags come from rcx and r11 as
//     the syscall instruction left them; Orig_rax is the number and rax
//     -ENOSYS, as on ptrace. int $0x80 is reported the same way (as the
//     ptrace platform reports it).
//   - exceptions: decoded from the frame the stub pushed: page faults
//     carry CR2 and the access from the error code (read, write or
//     execute; KVM, unlike ptrace, can tell), other vectors map to the
//     signal and si_code Linux would raise. An exception in ring 0 other
//     than a refused iretq (an impossible user state: SIGSEGV), a double
//     fault, a triple fault (KVM_EXIT_SHUTDOWN), a failed VM entry or any
//     exit the design does not expect kills the context: Switch logs a
//     register dump and returns an error wrapping platform.ErrContextDead,
//     and the vCPU is retired (its CPU gets a new one).
//   - interrupts: Interrupt sets a pending flag and, if the context is in
//     Switch, sets kvm_run.immediate_exit of the vCPU it runs on and, if
//     that vCPU is in KVM_RUN, sends SIGURG to the thread running it
//     (the signal the Go runtime itself uses to preempt threads, so nothing
//     in the sentry minds a stray one). KVM_RUN returns EINTR; where the
//     guest stopped decides what happens: in ring 3 with no event being
//     delivered, Switch returns StopInterrupt with the registers there; in
//     the entry stub, with the registers Switch was given; in a syscall or
//     exception stub, or in the middle of delivering an exception, the guest
//     is resumed as it is until it reaches its hlt, and the interrupt stays
//     pending for the next Switch.
//
// # FP state
//
// The x87/SSE/AVX state is the context's. KVM keeps it in the vCPU across
// exits; it moves only when a vCPU changes hands: a context entering a
// vCPU whose FP state is another context's saves that one
// (KVM_GET_XSAVE into the other context) and loads its own
// (KVM_SET_XSAVE), bringing it first from the vCPU it last ran on if it
// moved. A task re-entering the vCPU it last ran on costs nothing. A
// context starts with the initial state. The context implements
// platform.FPStateContext on whichever copy is current (fpstate.go).
//
// # TLB
//
// An address space counts its TLB generations (tlbGen). MapFile and Unmap
// bump it whenever an entry that was present is removed, narrowed or
// pointed elsewhere (adding rights to the same frame needs no flush: a
// stale entry at most causes one spurious fault, which invalidates it).
// Before every entry a vCPU compares the generation it last flushed at with
// the address space's and, if they differ, has the entry stub reload CR3.
// vCPUs running in the address space at that moment are kicked out (as by
// Interrupt, but without a pending interrupt) and MapFile/Unmap wait until
// each has left KVM_RUN; they re-enter through the entry stub and flush.
// Switching a vCPU to another address space (another task's process
// taking the CPU, or a context moving) sets CR3 with KVM_SET_SREGS (never
// by the entry stub, whose own code would be fetched through the old
// tables, possibly freed) and flushes too: no PCIDs are used, so a CR3
// load drops every user entry.
//
// # Limitations
//
//   - Only AMD SVM can be exercised here (inside QEMU TCG); the Intel VMX
//     path is the same code and only unit-tested.
//   - A sandbox has at most KVM_CAP_MAX_VCPUS CPUs (minus retired
//     vCPUs): a Switch on a CPU beyond fails.
//   - Handing a vCPU to another host thread costs what KVM_RUN charges
//     for a new thread: in Linux 6.1 an RCU grace period (about 12 ms in
//     the QEMU guest, TestHandOffCost); newer kernels use a rwlock.
//   - Intermediate page-table pages are freed only with their address
//     space.
//   - CPUID is KVM's (the hypervisor bit is set); RDTSC runs natively.
//     vmmcall (and, where the quirk cannot be disabled, vmcall) from ring 3
//     is answered by KVM itself with -KVM_EPERM in rax instead of raising
//     #UD: it never reaches the host either way.
//
// # Locking
//
//   - Platform.mu protects cpuVCPUs, the kernel page tables and released.
//     addressSpace.mu serialises edits of an address space's page tables.
//     vcpu.fpMu guards which context's FP state a vCPU holds
//     (fpstate.go). Lock order: Platform.mu → vcpu.fpMu; otherwise at
//     most one of these at a time, all leaves but for memfile's own lock,
//     and none is held while waiting for a vCPU to leave the guest.
//   - vcpu.owner hands a vCPU's other fields (registers, CR3 and TLB
//     state, stats) from one Switch to the next. A context's fields
//     belong to its OS thread except pending, cur, fpHome and released
//     (atomics) and fp (see fpstate.go); context.mu serialises
//     Interrupt's kick with Release (a leaf lock).
package kvm

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// useSyncRegs lets tests exercise the path taken when KVM lacks
// KVM_CAP_SYNC_REGS.
var useSyncRegs = true

// maxUserAddress is the end of the application's address range, the same
// as the ptrace platform's so that both lay programs out identically.
const maxUserAddress = 0x7fff00000000

// Platform is the KVM platform.
type Platform struct {
	mf  *memfile.MemoryFile
	mem *physMem

	kvmFD int
	vmFD  int

	// runSize is the size of a vCPU's kvm_run mapping.
	runSize int
	// sync is whether KVM_CAP_SYNC_REGS is used.
	sync bool
	// maxVCPUs bounds vCPU ids.
	maxVCPUs int
	// features are what the guest CPU offers.
	features cpuFeatures
	// cpuid is the CPUID table every vCPU gets.
	cpuid *kvmCPUID
	// xstateSize is the size of the FP state FPState returns.
	xstateSize int

	// kernel is the tree with only the kernel half mapped: the CR3 of a
	// vCPU that runs no address space. Its PML4 slot 511 is shared by
	// every address space.
	kernel *pageTables
	// ring0 are the code, GDT and IDT frames.
	ring0 []memfile.FileRange

	pid int

	// log receives register dumps of failed vCPUs (warnings) and debug
	// messages; SetLogger replaces it.
	log *logrus.Logger

	mu sync.Mutex
	// cpuVCPUs is the vCPU of each sandbox CPU (nil: not made yet, or
	// retired after a failure), made on first use.
	cpuVCPUs []*vcpu
	// nextID is the next KVM vCPU id (ids of retired vCPUs are not
	// reused: KVM keeps a vCPU until the VM goes).
	nextID   int
	released bool

	// vcpus is every vCPU made so far (copy on write, under mu), for TLB
	// shootdowns.
	vcpus atomic.Pointer[[]*vcpu]
	// shootdowns counts TLB shootdowns (for the debug log).
	shootdowns atomic.Uint64
	// fpSaves and fpLoads count FP state transfers out of and into
	// vCPUs (KVM_GET_XSAVE/KVM_SET_XSAVE when a vCPU changes hands).
	fpSaves, fpLoads atomic.Uint64
}

var (
	_ platform.Platform     = (*Platform)(nil)
	_ platform.AddressSpace = (*addressSpace)(nil)
	_ platform.Context      = (*context)(nil)
	_ platform.CPUBinder    = (*context)(nil)
)

// capabilityError names a capability KVM lacks.
func capabilityError(name string) error {
	return fmt.Errorf("kvm: /dev/kvm lacks %s", name)
}

// openKVM opens /dev/kvm and checks the API version and the capabilities
// the platform cannot do without.
func openKVM() (int, error) {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("kvm: opening /dev/kvm: %w", err)
	}
	if v, e := ioctl(fd, ioctlGetAPIVersion, 0); e != 0 || v != kvmAPIVersion {
		unix.Close(fd)
		return -1, fmt.Errorf("kvm: KVM_GET_API_VERSION = %d (%v), want %d", v, e, kvmAPIVersion)
	}
	for _, c := range []struct {
		c    uintptr
		name string
	}{
		{capUserMemory, "KVM_CAP_USER_MEMORY"},
		{capImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"},
		{capExtCPUID, "KVM_CAP_EXT_CPUID"},
		{capVCPUEvents, "KVM_CAP_VCPU_EVENTS"},
		{capXSave, "KVM_CAP_XSAVE"},
	} {
		if checkExtension(fd, c.c) <= 0 {
			unix.Close(fd)
			return -1, capabilityError(c.name)
		}
	}
	return fd, nil
}

// New returns a KVM platform whose guest physical memory is mf. It fails
// with a one-line error naming what is missing when /dev/kvm cannot be
// opened or lacks a capability or CPU feature the platform needs. It does
// not check that KVM behaves: SelfTest does.
func New(mf *memfile.MemoryFile) (*Platform, error) {
	kvmFD, err := openKVM()
	if err != nil {
		return nil, err
	}
	p := &Platform{mf: mf, mem: newPhysMem(mf), kvmFD: kvmFD, vmFD: -1, pid: os.Getpid(), log: logrus.StandardLogger()}
	if err := p.init(); err != nil {
		p.Release()
		return nil, err
	}
	return p, nil
}

func (p *Platform) init() error {
	r, e := ioctl(p.kvmFD, ioctlCreateVM, 0)
	if e != 0 {
		return fmt.Errorf("kvm: KVM_CREATE_VM: %w", e)
	}
	p.vmFD = int(r)
	unix.CloseOnExec(p.vmFD)

	p.sync = useSyncRegs && checkExtension(p.vmFD, capSyncRegs)&syncRegs != 0
	p.maxVCPUs = checkExtension(p.vmFD, capMaxVCPUs)
	if p.maxVCPUs <= 0 {
		p.maxVCPUs = checkExtension(p.vmFD, capNrVCPUs)
	}
	if p.maxVCPUs <= 0 {
		p.maxVCPUs = 4
	}
	// Best effort: behave like hardware for vmcall and mwait.
	if q := checkExtension(p.vmFD, capDisableQuirks2) & (quirkFixHypercallInsn | quirkMwaitNeverUD); q != 0 {
		c := kvmEnableCap{Cap: capDisableQuirks2, Args: [4]uint64{uint64(q)}}
		if e := ioctlPtr(p.vmFD, ioctlEnableCap, unsafe.Pointer(&c)); e != 0 {
			p.log.Debugf("kvm: disabling quirks %#x: %v", q, e)
		}
	}
	if checkExtension(p.vmFD, capSetTSSAddr) > 0 {
		if _, e := ioctl(p.vmFD, ioctlSetTSSAddr, tssAddr); e != 0 {
			return fmt.Errorf("kvm: KVM_SET_TSS_ADDR: %w", e)
		}
	}

	cpuid, err := supportedCPUID(p.kvmFD)
	if err != nil {
		return err
	}
	if p.features, err = checkCPUID(cpuid); err != nil {
		return err
	}
	p.cpuid = guestCPUID(cpuid, p.features)
	p.xstateSize = fxsaveSize
	if p.features.xsave {
		p.xstateSize = xstateSizeFor(p.cpuid, p.features.xcr0)
		if p.xstateSize > int(unsafe.Sizeof(kvmXSave{})) {
			return fmt.Errorf("kvm: the guest's XSAVE area (%d bytes for XCR0 %#x) does not fit KVM_GET_XSAVE", p.xstateSize, p.features.xcr0)
		}
	}
	if end := memBase + p.mf.Size(); p.features.physBits < 64 && end > 1<<p.features.physBits {
		return fmt.Errorf("kvm: the memory file (%d MiB) does not fit below the guest's %d-bit physical address limit", p.mf.Size()>>20, p.features.physBits)
	}

	region := kvmUserspaceMemoryRegion{
		Slot:          0,
		GuestPhysAddr: memBase,
		MemorySize:    p.mf.Size(),
		UserspaceAddr: uint64(p.mem.hostAddr()),
	}
	if e := ioctlPtr(p.vmFD, ioctlSetUserMemoryRegion, unsafe.Pointer(&region)); e != 0 {
		return fmt.Errorf("kvm: KVM_SET_USER_MEMORY_REGION (%d MiB of memory file): %w", p.mf.Size()>>20, e)
	}

	r, e = ioctl(p.kvmFD, ioctlGetVCPUMmapSize, 0)
	if e != 0 || r < pageSize {
		return fmt.Errorf("kvm: KVM_GET_VCPU_MMAP_SIZE = %d: %v", r, e)
	}
	p.runSize = int(r)
	return p.initRing0()
}

// initRing0 builds the ring-0 pages and the kernel page tables.
func (p *Platform) initRing0() error {
	kernel, err := newPageTables(p.mem, false)
	if err != nil {
		return err
	}
	p.kernel = kernel
	for _, pg := range []struct {
		va          uint64
		content     []byte
		write, exec bool
	}{
		{codeVA, codePage(), false, true},
		{gdtVA, gdtPage(), true, false},
		{idtVA, idtPage(), false, false},
	} {
		fr, err := p.mem.allocPage()
		if err != nil {
			return err
		}
		p.ring0 = append(p.ring0, fr)
		copy(p.mem.page(fr.Start), pg.content)
		if _, err := p.kernel.mapRange(pg.va, fr.Start, 1, pg.write, pg.exec, false); err != nil {
			return err
		}
	}
	return nil
}

// SetLogger sends the platform's log (register dumps of failed vCPUs as
// warnings, statistics at Release as debug messages) to log instead of
// logrus's standard logger. Preconditions: no context exists yet.
func (p *Platform) SetLogger(log *logrus.Logger) { p.log = log }

// Name implements platform.Platform.Name.
func (p *Platform) Name() string { return "kvm" }

// MaxUserAddress implements platform.Platform.MaxUserAddress.
func (p *Platform) MaxUserAddress() uintptr { return maxUserAddress }

// NewAddressSpace implements platform.Platform.NewAddressSpace. It
// allocates the new address space's PML4 from the memory file and does
// not block.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	p.mu.Lock()
	released := p.released
	p.mu.Unlock()
	if released {
		return nil, fmt.Errorf("kvm: platform released")
	}
	return newAddressSpace(p)
}

// NewContext implements platform.Platform.NewContext: it returns a context
// of the calling thread, bound to sandbox CPU 0 until BindCPU says
// otherwise. It allocates no vCPU (vCPUs belong to CPUs) and does not
// block.
//
// Preconditions: the caller is locked to its OS thread for the life of the
// context.
func (p *Platform) NewContext() (platform.Context, error) {
	p.mu.Lock()
	released := p.released
	p.mu.Unlock()
	if released {
		return nil, fmt.Errorf("kvm: platform released")
	}
	return newContext(p), nil
}

// Release implements platform.Platform.Release: it closes the vCPUs and
// the VM and frees the ring-0 pages.
func (p *Platform) Release() {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return
	}
	p.released = true
	p.cpuVCPUs = nil
	p.mu.Unlock()
	var st vcpuStats
	if vs := p.vcpus.Load(); vs != nil {
		for _, v := range *vs {
			st.add(v.stats)
			v.close()
			p.mf.DecRef(v.main)
			p.mf.DecRef(v.ist)
		}
		p.log.Debugf("kvm: %d vCPUs made; %d KVM_RUN, %d interrupted, %d direct re-entries into ring 3, %d TLB flushes, %d system-register loads, %d shootdowns, %d FP state saves, %d loads",
			len(*vs), st.runs, st.interrupts, st.userEntry, st.flushes, st.sregs, p.shootdowns.Load(), p.fpSaves.Load(), p.fpLoads.Load())
	}
	if p.kernel != nil {
		p.kernel.release()
	}
	for _, fr := range p.ring0 {
		p.mf.DecRef(fr)
	}
	p.ring0 = nil
	if p.vmFD >= 0 {
		unix.Close(p.vmFD)
		p.vmFD = -1
	}
	if p.kvmFD >= 0 {
		unix.Close(p.kvmFD)
		p.kvmFD = -1
	}
}
