package kvm

import (
	"fmt"
	"unsafe"
)

// cpuFeatures are the guest CPU features the platform uses.
type cpuFeatures struct {
	xsave    bool   // XSAVE: set CR4.OSXSAVE and XCR0
	xcr0     uint64 // the XCR0 to set (x87, SSE, AVX, AVX-512 as offered)
	smep     bool
	smap     bool
	umip     bool
	rdtscp   bool
	physBits uint // MAXPHYADDR
}

// XCR0 components the guest may enable: x87, SSE, AVX and the three of
// AVX-512. Dynamic ones (AMX) would need the host's permission, and
// MPX/PKRU are of no use to applications here.
const (
	xcr0X87    = 1 << 0
	xcr0SSE    = 1 << 1
	xcr0AVX    = 1 << 2
	xcr0AVX512 = 0x7 << 5
)

// supportedCPUID returns KVM_GET_SUPPORTED_CPUID.
func supportedCPUID(kvmFD int) (*kvmCPUID, error) {
	c := &kvmCPUID{Nent: maxCPUIDEntries}
	if e := ioctlPtr(kvmFD, ioctlGetSupportedCPUID, unsafe.Pointer(c)); e != 0 {
		return nil, fmt.Errorf("kvm: KVM_GET_SUPPORTED_CPUID: %w", e)
	}
	return c, nil
}

func (c *kvmCPUID) entry(function, index uint32) *kvmCPUIDEntry {
	for i := uint32(0); i < c.Nent; i++ {
		e := &c.Entries[i]
		if e.Function == function && e.Index == index {
			return e
		}
	}
	return nil
}

// checkCPUID returns the features of the supported CPUID table c, or an
// error naming the first feature the platform cannot do without.
func checkCPUID(c *kvmCPUID) (cpuFeatures, error) {
	var f cpuFeatures
	ext := c.entry(0x80000001, 0)
	if ext == nil || ext.EDX&(1<<29) == 0 {
		return f, fmt.Errorf("kvm: the guest CPU lacks long mode (CPUID 0x80000001 EDX.LM)")
	}
	if ext.EDX&(1<<11) == 0 {
		return f, fmt.Errorf("kvm: the guest CPU lacks syscall (CPUID 0x80000001 EDX.SYSCALL)")
	}
	if ext.EDX&(1<<20) == 0 {
		return f, fmt.Errorf("kvm: the guest CPU lacks NX (CPUID 0x80000001 EDX.NX)")
	}
	f.rdtscp = ext.EDX&(1<<27) != 0
	l1 := c.entry(1, 0)
	if l1 == nil || l1.EDX&(1<<24) == 0 || l1.EDX&(1<<25) == 0 {
		return f, fmt.Errorf("kvm: the guest CPU lacks FXSR/SSE (CPUID 1 EDX)")
	}
	if l1.ECX&(1<<26) != 0 {
		if d := c.entry(0xd, 0); d != nil {
			supported := uint64(d.EAX) | uint64(d.EDX)<<32
			xcr0 := supported & (xcr0X87 | xcr0SSE | xcr0AVX | xcr0AVX512)
			if xcr0&xcr0AVX == 0 || xcr0&xcr0AVX512 != xcr0AVX512 {
				xcr0 &^= xcr0AVX512
			}
			if xcr0&(xcr0X87|xcr0SSE) == xcr0X87|xcr0SSE {
				f.xsave = true
				f.xcr0 = xcr0
			}
		}
	}
	if l7 := c.entry(7, 0); l7 != nil {
		f.smep = l7.EBX&(1<<7) != 0
		f.smap = l7.EBX&(1<<20) != 0
		f.umip = l7.ECX&(1<<2) != 0
	}
	f.physBits = 36
	if a := c.entry(0x80000008, 0); a != nil && a.EAX&0xff != 0 {
		f.physBits = uint(a.EAX & 0xff)
	}
	return f, nil
}

// guestCPUID returns the CPUID table of every vCPU: the supported one,
// without AMX (whose state KVM would refuse without a permission the
// sentry does not ask for) and with XSAVE's components limited to f.xcr0.
func guestCPUID(supported *kvmCPUID, f cpuFeatures) *kvmCPUID {
	c := *supported
	for i := uint32(0); i < c.Nent; i++ {
		e := &c.Entries[i]
		switch {
		case e.Function == 7 && e.Index == 0:
			e.EDX &^= 1<<22 | 1<<24 | 1<<25 // AMX-BF16, AMX-TILE, AMX-INT8
		case e.Function == 0xd && e.Index == 0:
			if f.xsave {
				e.EAX &= uint32(f.xcr0)
				e.EDX &= uint32(f.xcr0 >> 32)
			}
		case e.Function == 0xd && (e.Index == 17 || e.Index == 18):
			// AMX tile config and data components.
			e.EAX, e.EBX, e.ECX, e.EDX = 0, 0, 0, 0
		}
	}
	return &c
}

// setCPUID installs c on vCPU fd.
func setCPUID(fd int, c *kvmCPUID) error {
	if e := ioctlPtr(fd, ioctlSetCPUID2, unsafe.Pointer(c)); e != 0 {
		return fmt.Errorf("kvm: KVM_SET_CPUID2: %w", e)
	}
	return nil
}
