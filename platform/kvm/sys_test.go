package kvm

import (
	"testing"
	"unsafe"
)

// TestStructLayouts checks the KVM structures against the sizes of
// linux/kvm.h (x86-64).
func TestStructLayouts(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"kvm_regs", unsafe.Sizeof(kvmRegs{}), 0x90},
		{"kvm_segment", unsafe.Sizeof(kvmSegment{}), 0x18},
		{"kvm_dtable", unsafe.Sizeof(kvmDtable{}), 0x10},
		{"kvm_sregs", unsafe.Sizeof(kvmSregs{}), 0x138},
		{"kvm_sregs.cr0", unsafe.Offsetof(kvmSregs{}.CR0), 0xe0},
		{"kvm_sregs.efer", unsafe.Offsetof(kvmSregs{}.EFER), 0x108},
		{"kvm_sregs.interrupt_bitmap", unsafe.Offsetof(kvmSregs{}.InterruptBitmap), 0x118},
		{"kvm_xsave", unsafe.Sizeof(kvmXSave{}), 0x1000},
		{"kvm_xcrs", unsafe.Sizeof(kvmXCRs{}), 0x188},
		{"kvm_vcpu_events", unsafe.Sizeof(kvmVCPUEvents{}), 0x40},
		{"kvm_vcpu_events.interrupt", unsafe.Offsetof(kvmVCPUEvents{}.InterruptInjected), 8},
		{"kvm_vcpu_events.nmi", unsafe.Offsetof(kvmVCPUEvents{}.NMIInjected), 12},
		{"kvm_cpuid_entry2", unsafe.Sizeof(kvmCPUIDEntry{}), 0x28},
		{"kvm_msr_entry", unsafe.Sizeof(kvmMSREntry{}), 0x10},
		{"kvm_msrs.entries", unsafe.Offsetof(kvmMSRs{}.Entries), 8},
		{"kvm_cpuid2.entries", unsafe.Offsetof(kvmCPUID{}.Entries), 8},
		{"kvm_userspace_memory_region", unsafe.Sizeof(kvmUserspaceMemoryRegion{}), 0x20},
		{"kvm_enable_cap", unsafe.Sizeof(kvmEnableCap{}), 104},
	} {
		if c.got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// The ioctl numbers encode the sizes of their arguments.
	for _, c := range []struct {
		name string
		req  uintptr
		size uintptr
	}{
		{"KVM_GET_REGS", ioctlGetRegs, unsafe.Sizeof(kvmRegs{})},
		{"KVM_SET_REGS", ioctlSetRegs, unsafe.Sizeof(kvmRegs{})},
		{"KVM_GET_SREGS", ioctlGetSregs, unsafe.Sizeof(kvmSregs{})},
		{"KVM_SET_SREGS", ioctlSetSregs, unsafe.Sizeof(kvmSregs{})},
		{"KVM_GET_XSAVE", ioctlGetXSave, unsafe.Sizeof(kvmXSave{})},
		{"KVM_SET_XSAVE", ioctlSetXSave, unsafe.Sizeof(kvmXSave{})},
		{"KVM_SET_XCRS", ioctlSetXCRs, unsafe.Sizeof(kvmXCRs{})},
		{"KVM_GET_VCPU_EVENTS", ioctlGetVCPUEvents, unsafe.Sizeof(kvmVCPUEvents{})},
		{"KVM_SET_USER_MEMORY_REGION", ioctlSetUserMemoryRegion, unsafe.Sizeof(kvmUserspaceMemoryRegion{})},
		{"KVM_ENABLE_CAP", ioctlEnableCap, unsafe.Sizeof(kvmEnableCap{})},
	} {
		if got := c.req >> 16 & 0x3fff; got != c.size {
			t.Errorf("%s encodes size %#x, want %#x", c.name, got, c.size)
		}
	}
}
