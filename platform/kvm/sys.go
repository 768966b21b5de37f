package kvm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The KVM API, by number (linux/kvm.h, asm/kvm.h for x86-64). Structures
// are declared with the kernel's exact layout; sizes are checked in
// sys_test.go.

const kvmAPIVersion = 12

// ioctls on /dev/kvm, a VM and a vCPU.
const (
	ioctlGetAPIVersion       = 0xae00
	ioctlCreateVM            = 0xae01
	ioctlCheckExtension      = 0xae03
	ioctlGetVCPUMmapSize     = 0xae04
	ioctlGetSupportedCPUID   = 0xc008ae05
	ioctlCreateVCPU          = 0xae41
	ioctlSetUserMemoryRegion = 0x4020ae46
	ioctlSetTSSAddr          = 0xae47
	ioctlRun                 = 0xae80
	ioctlGetRegs             = 0x8090ae81
	ioctlSetRegs             = 0x4090ae82
	ioctlGetSregs            = 0x8138ae83
	ioctlSetSregs            = 0x4138ae84
	ioctlSetMSRs             = 0x4008ae89
	ioctlSetCPUID2           = 0x4008ae90
	ioctlGetXSave            = 0x9000aea4
	ioctlSetXSave            = 0x5000aea5
	ioctlSetXCRs             = 0x4188aea7
	ioctlGetVCPUEvents       = 0x8040ae9f
	ioctlEnableCap           = 0x4068aea3
)

// HostIoctls are the ioctl requests the platform issues: the confined
// sentry's seccomp filter allows exactly these (sentry/sandbox).
// TestHostIoctlsComplete checks that every ioctl constant above is here.
var HostIoctls = []uintptr{
	ioctlGetAPIVersion, ioctlCreateVM, ioctlCheckExtension, ioctlGetVCPUMmapSize,
	ioctlGetSupportedCPUID, ioctlCreateVCPU, ioctlSetUserMemoryRegion, ioctlSetTSSAddr,
	ioctlRun, ioctlGetRegs, ioctlSetRegs, ioctlGetSregs, ioctlSetSregs, ioctlSetMSRs,
	ioctlSetCPUID2, ioctlGetXSave, ioctlSetXSave, ioctlSetXCRs, ioctlGetVCPUEvents,
	ioctlEnableCap,
}

// Capabilities (KVM_CAP_*).
const (
	capUserMemory     = 0x3
	capSetTSSAddr     = 0x4
	capExtCPUID       = 0x7
	capNrVCPUs        = 0x9
	capNrMemslots     = 0xa
	capVCPUEvents     = 0x29
	capMaxVCPUs       = 0x42
	capSyncRegs       = 0x4a
	capXSave          = 0x37
	capXCRs           = 0x38
	capImmediateExit  = 0x88
	capDisableQuirks2 = 213
)

// KVM_X86_QUIRK_* that make KVM differ from hardware in ways an
// application could see.
const (
	// quirkFixHypercallInsn: KVM rewrites a vmcall/vmmcall of the other
	// vendor in guest memory instead of raising #UD.
	quirkFixHypercallInsn = 1 << 5
	// quirkMwaitNeverUD: MONITOR/MWAIT never raise #UD.
	quirkMwaitNeverUD = 1 << 6
)

// kvmEnableCap is struct kvm_enable_cap.
type kvmEnableCap struct {
	Cap   uint32
	Flags uint32
	Args  [4]uint64
	_     [64]uint8
}

// Exit reasons (KVM_EXIT_*).
const (
	exitUnknown       = 0
	exitException     = 1
	exitIO            = 2
	exitDebug         = 4
	exitHLT           = 5
	exitMMIO          = 6
	exitShutdown      = 8
	exitFailEntry     = 9
	exitIntr          = 10
	exitInternalError = 17
	exitSystemEvent   = 24
)

var exitNames = map[uint32]string{
	exitUnknown:       "KVM_EXIT_UNKNOWN",
	exitException:     "KVM_EXIT_EXCEPTION",
	exitIO:            "KVM_EXIT_IO",
	exitDebug:         "KVM_EXIT_DEBUG",
	exitHLT:           "KVM_EXIT_HLT",
	exitMMIO:          "KVM_EXIT_MMIO",
	exitShutdown:      "KVM_EXIT_SHUTDOWN (triple fault)",
	exitFailEntry:     "KVM_EXIT_FAIL_ENTRY",
	exitIntr:          "KVM_EXIT_INTR",
	exitInternalError: "KVM_EXIT_INTERNAL_ERROR",
	exitSystemEvent:   "KVM_EXIT_SYSTEM_EVENT",
}

func exitName(r uint32) string {
	if n, ok := exitNames[r]; ok {
		return n
	}
	return fmt.Sprintf("exit reason %d", r)
}

// KVM_SYNC_X86_* bits of kvm_run.kvm_valid_regs and kvm_dirty_regs.
const syncRegs = 0x1

// kvm_run offsets.
const (
	runExitReason = 0x08
	runExitData   = 0x20 // the exit union (hw, fail_entry, internal, io, ...)
	runValidRegs  = 0x120
	runDirtyRegs  = 0x128
	runSyncRegs   = 0x130 // struct kvm_sync_regs; regs first
)

// kvmRegs is struct kvm_regs.
type kvmRegs struct {
	Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	Rip, Rflags                            uint64
}

// kvmSegment is struct kvm_segment.
type kvmSegment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// kvmDtable is struct kvm_dtable.
type kvmDtable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// kvmSregs is struct kvm_sregs.
type kvmSregs struct {
	CS, DS, ES, FS, GS, SS kvmSegment
	TR, LDT                kvmSegment
	GDT, IDT               kvmDtable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	InterruptBitmap        [4]uint64
}

// kvmXSave is struct kvm_xsave (the 4096-byte legacy size).
type kvmXSave struct {
	Region [1024]uint32
}

// kvmXCRs is struct kvm_xcrs.
type kvmXCRs struct {
	NrXCRs uint32
	Flags  uint32
	XCRs   [16]struct {
		XCR      uint32
		Reserved uint32
		Value    uint64
	}
	Padding [16]uint64
}

// kvmVCPUEvents is struct kvm_vcpu_events; only the fields this package
// reads are named.
type kvmVCPUEvents struct {
	ExceptionInjected  uint8
	ExceptionNr        uint8
	ExceptionHasError  uint8
	ExceptionPending   uint8
	ExceptionErrorCode uint32
	InterruptInjected  uint8
	InterruptNr        uint8
	InterruptSoft      uint8
	InterruptShadow    uint8
	NMIInjected        uint8
	NMIPending         uint8
	NMIMasked          uint8
	_                  uint8
	SIPIVector         uint32
	Flags              uint32
	_                  [40]uint8
}

// kvmCPUIDEntry is struct kvm_cpuid_entry2.
type kvmCPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// maxCPUIDEntries bounds KVM_GET_SUPPORTED_CPUID.
const maxCPUIDEntries = 256

// kvmCPUID is struct kvm_cpuid2 with room for maxCPUIDEntries entries.
type kvmCPUID struct {
	Nent    uint32
	_       uint32
	Entries [maxCPUIDEntries]kvmCPUIDEntry
}

// kvmMSREntry is struct kvm_msr_entry.
type kvmMSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// kvmMSRs is struct kvm_msrs with room for 16 entries.
type kvmMSRs struct {
	NMSRs   uint32
	_       uint32
	Entries [16]kvmMSREntry
}

// kvmUserspaceMemoryRegion is struct kvm_userspace_memory_region.
type kvmUserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// ioctl issues an ioctl other than KVM_RUN, retrying it when a signal
// interrupts it (the Go runtime preempts threads with SIGURG, and some KVM
// ioctls, KVM_CREATE_VM among them, give up with EINTR).
func ioctl(fd int, req uintptr, arg uintptr) (uintptr, unix.Errno) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if e != unix.EINTR {
			return r, e
		}
	}
}

// ioctlPtr is ioctl with a pointer argument.
func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) unix.Errno {
	_, e := ioctl(fd, req, uintptr(p))
	return e
}

// kvmRun enters the guest: it blocks for as long as the guest runs, so it
// goes through Syscall and lets the Go scheduler use the P meanwhile.
func kvmRun(fd int) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlRun, 0)
	return e
}

// checkExtension returns KVM_CHECK_EXTENSION(capability) on fd, 0 when the
// capability is absent.
func checkExtension(fd int, capability uintptr) int {
	r, e := ioctl(fd, ioctlCheckExtension, capability)
	if e != 0 {
		return 0
	}
	return int(r)
}
