package kvm

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"golang.org/x/sys/unix"
)

// FP state (platform.FPStateContext).
//
// The FP state of a context is its vCPU's: KVM keeps it across exits and
// KVM_GET_XSAVE/KVM_SET_XSAVE read and write it in the standard
// (non-compacted) XSAVE format, which is the contract's. The area is as
// long as the components the guest's XCR0 enables (Platform.xstateSize,
// from CPUID leaf 0xd); its software-reserved bytes describe it as Linux's
// do (FP_XSTATE_MAGIC1, sizes, the enabled features). On a CPU without
// XSAVE it is the 512-byte FXSAVE area. (KVM_GET_FPU is of no use here: it
// does not return MXCSR.)

var _ platform.FPStateContext = (*context)(nil)

// XSAVE area layout.
const (
	fxsaveSize      = 512
	xsaveHeaderSize = 64
	swBytesOffset   = 464 // struct _fpx_sw_bytes in the legacy area
	xstateBVOffset  = 512
	xcompBVOffset   = 520
	mxcsrOffset     = 24
	fpXstateMagic1  = 0x46505853
	fpXstateMagic2  = 4 // the size of FP_XSTATE_MAGIC2 after the area
	// mxcsrFeatureMask are the MXCSR bits a CPU with DAZ accepts; KVM
	// refuses the rest (and its own answer is checked too).
	mxcsrFeatureMask = 0xffff
	xfeaturesFPSSE   = xcr0X87 | xcr0SSE
)

// xstateSizeFor returns the size of the standard XSAVE area holding the
// components of xcr0, from the CPUID table c.
func xstateSizeFor(c *kvmCPUID, xcr0 uint64) int {
	size := fxsaveSize + xsaveHeaderSize
	for i := uint32(2); i < 64; i++ {
		if xcr0&(1<<i) == 0 {
			continue
		}
		if e := c.entry(0xd, i); e != nil && int(e.EBX+e.EAX) > size {
			size = int(e.EBX + e.EAX)
		}
	}
	return size
}

// fpVCPU returns the context's vCPU for an FP state access in pas.
func (c *context) fpVCPU(pas platform.AddressSpace) (*vcpu, error) {
	if _, ok := pas.(*addressSpace); !ok {
		return nil, fmt.Errorf("kvm: FP state of a foreign address space %T", pas)
	}
	if c.dead != nil {
		return nil, c.dead
	}
	if c.v == nil {
		return nil, fmt.Errorf("%w: kvm: FP state of a released context", platform.ErrContextDead)
	}
	return c.v, nil
}

// FPState implements platform.FPStateContext.FPState.
func (c *context) FPState(pas platform.AddressSpace) ([]byte, error) {
	v, err := c.fpVCPU(pas)
	if err != nil {
		return nil, err
	}
	n := c.p.xstateSize
	out := make([]byte, n)
	var x kvmXSave
	if e := ioctlPtr(v.fd, ioctlGetXSave, unsafe.Pointer(&x)); e != 0 {
		return nil, fmt.Errorf("kvm: KVM_GET_XSAVE: %w", e)
	}
	copy(out, xsaveBytes(&x))
	sw := out[swBytesOffset:fxsaveSize]
	clear(sw)
	if n > fxsaveSize {
		le := binary.LittleEndian
		le.PutUint32(sw[0:], fpXstateMagic1)
		le.PutUint32(sw[4:], uint32(n+fpXstateMagic2)) // extended_size
		le.PutUint64(sw[8:], c.p.features.xcr0)        // xfeatures
		le.PutUint32(sw[16:], uint32(n))               // xstate_size
	}
	return out, nil
}

// SetFPState implements platform.FPStateContext.SetFPState.
func (c *context) SetFPState(pas platform.AddressSpace, state []byte) error {
	v, err := c.fpVCPU(pas)
	if err != nil {
		return err
	}
	n := c.p.xstateSize
	if len(state) != n && len(state) != fxsaveSize {
		return platform.ErrInvalidFPState
	}
	le := binary.LittleEndian
	if le.Uint32(state[mxcsrOffset:])&^mxcsrFeatureMask != 0 {
		return platform.ErrInvalidFPState
	}
	var x kvmXSave
	b := xsaveBytes(&x)
	copy(b, state)
	clear(b[swBytesOffset:fxsaveSize])
	if len(state) == fxsaveSize {
		// A legacy area: x87 and SSE from it, every other component
		// in its initial state.
		le.PutUint64(b[xstateBVOffset:], xfeaturesFPSSE)
	} else {
		bv := le.Uint64(b[xstateBVOffset:])
		if bv&^c.p.features.xcr0 != 0 || le.Uint64(b[xcompBVOffset:]) != 0 {
			return platform.ErrInvalidFPState
		}
		for _, r := range b[xcompBVOffset+8 : fxsaveSize+xsaveHeaderSize] {
			if r != 0 {
				return platform.ErrInvalidFPState
			}
		}
	}
	if e := ioctlPtr(v.fd, ioctlSetXSave, unsafe.Pointer(&x)); e != 0 {
		if e == unix.EINVAL {
			return platform.ErrInvalidFPState
		}
		return fmt.Errorf("kvm: KVM_SET_XSAVE: %w", e)
	}
	return nil
}

// xsaveBytes returns x as bytes.
func xsaveBytes(x *kvmXSave) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(x)), unsafe.Sizeof(*x))
}

// FXSAVE legacy area offsets.
const (
	fxFCW   = 0
	fxFSW   = 2
	fxMXCSR = 24
	fxXMM   = 160
)
