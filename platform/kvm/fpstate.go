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
// The FP state is the context's, not the vCPU's: a vCPU backs a sandbox
// CPU and runs whichever tasks hold that CPU in turn. It moves lazily. A
// vCPU's KVM FP state is that of one context, its fpOwner, and the
// context's fpHome points back at the vCPU; a context not at home on any
// vCPU keeps its state in context.fp (nil: the initial state). When a
// context switches onto a vCPU that is not its home, it first brings its
// state home from the vCPU it was on (KVM_GET_XSAVE there), then evicts
// the vCPU's owner (KVM_GET_XSAVE into that context's fp) and loads its
// own (KVM_SET_XSAVE). A task that re-enters the vCPU it last ran on, the
// common case, costs no FP ioctl at all.
//
// Locking: vcpu.fpMu guards the vCPU's fpOwner, every change of a context's
// fpHome away from or to that vCPU, and KVM's copy of the state while
// the vCPU is not in KVM_RUN. A context's fp is written under the fpMu of
// its home when it has one, and by its own thread when it has none. At
// most one fpMu is held at a time. A thread may issue KVM_GET_XSAVE or
// KVM_SET_XSAVE on a vCPU it does not own: under fpMu, while the vCPU
// holds the caller's state, no one can be in KVM_RUN on it (entering
// requires making the vCPU one's own home first, under the same lock).
//
// The state is exchanged with KVM in the standard (non-compacted) XSAVE
// format, which is the contract's. The area is as long as the components
// the guest's XCR0 enables (Platform.xstateSize, from CPUID leaf 0xd); its
// software-reserved bytes describe it as Linux's do (FP_XSTATE_MAGIC1,
// sizes, the enabled features). On a CPU without XSAVE it is the 512-byte
// FXSAVE area. (KVM_GET_FPU is of no use here: it does not return MXCSR.)

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

// initialXSave returns the initial x87/SSE/AVX state: FCW 0x37f, MXCSR
// 0x1f80, everything else in its initial configuration.
func initialXSave() *kvmXSave {
	x := new(kvmXSave)
	x.Region[0] = 0x37f  // FCW (FSW 0)
	x.Region[6] = 0x1f80 // MXCSR
	x.Region[7] = 0xffff // MXCSR_MASK
	x.Region[128] = 0x3  // XSTATE_BV: x87 and SSE from here, the rest init
	return x
}

// initialFP is the initial state, read-only.
var initialFP = initialXSave()

// getXSave reads the vCPU's FP state (KVM_GET_XSAVE). Preconditions: the
// caller owns v or holds v.fpMu while v holds its own state.
func (v *vcpu) getXSave(x *kvmXSave) unix.Errno {
	if v.fpIO != nil {
		return v.fpIO(false, x)
	}
	return ioctlPtr(v.fd, ioctlGetXSave, unsafe.Pointer(x))
}

// setXSave replaces the vCPU's FP state (KVM_SET_XSAVE). Preconditions: as
// for getXSave.
func (v *vcpu) setXSave(x *kvmXSave) unix.Errno {
	if v.fpIO != nil {
		return v.fpIO(true, x)
	}
	return ioctlPtr(v.fd, ioctlSetXSave, unsafe.Pointer(x))
}

// loadFP makes v the home of the context's FP state: it brings the state
// back from the vCPU it is on, saves the state of v's owner into that
// context, and loads the context's into v.
//
// Preconditions: the caller is the context's thread and owns v; c.fpHome
// is not v.
//
// Errors: ErrInvalidFPState (wrapped) if KVM refuses the context's state,
// which is then reset to the initial state; another error if an ioctl
// failed.
func (c *context) loadFP(v *vcpu) error {
	if h := c.fpHome.Load(); h != nil {
		if err := c.fetchFP(h); err != nil {
			return err
		}
	}
	v.fpMu.Lock()
	defer v.fpMu.Unlock()
	if o := v.fpOwner; o != nil {
		x := o.fp
		if x == nil {
			x = new(kvmXSave)
		}
		if e := v.getXSave(x); e != 0 {
			return fmt.Errorf("KVM_GET_XSAVE (the state of thread %d's context): %v", o.tid, e)
		}
		c.p.fpSaves.Add(1)
		o.fp = x
		o.fpHome.Store(nil)
		v.fpOwner = nil
	}
	x := c.fp
	if x == nil {
		x = initialFP
	}
	if e := v.setXSave(x); e != 0 {
		if e == unix.EINVAL {
			c.fp = nil
			return fmt.Errorf("%w: KVM_SET_XSAVE refused the context's FP state", platform.ErrInvalidFPState)
		}
		return fmt.Errorf("KVM_SET_XSAVE: %v", e)
	}
	c.p.fpLoads.Add(1)
	v.fpOwner = c
	c.fpHome.Store(v)
	return nil
}

// fetchFP moves the context's FP state out of h, if h still holds it,
// into c.fp. Preconditions: the caller is the context's thread.
func (c *context) fetchFP(h *vcpu) error {
	h.fpMu.Lock()
	defer h.fpMu.Unlock()
	if c.fpHome.Load() != h {
		return nil // moved out meanwhile
	}
	x := c.fp
	if x == nil {
		x = new(kvmXSave)
	}
	if e := h.getXSave(x); e != 0 {
		return fmt.Errorf("KVM_GET_XSAVE (from vCPU %d): %v", h.id, e)
	}
	c.p.fpSaves.Add(1)
	c.fp = x
	h.fpOwner = nil
	c.fpHome.Store(nil)
	return nil
}

// dropFPHome makes the vCPU holding the context's FP state forget it.
func (c *context) dropFPHome() {
	h := c.fpHome.Load()
	if h == nil {
		return
	}
	h.fpMu.Lock()
	if c.fpHome.Load() == h {
		h.fpOwner = nil
		c.fpHome.Store(nil)
	}
	h.fpMu.Unlock()
}

// withFP calls home with the vCPU holding the context's FP state, under
// its fpMu, or, if none does, away (with no lock held). Preconditions:
// the caller is the context's thread.
func (c *context) withFP(home func(h *vcpu) error, away func() error) error {
	for {
		h := c.fpHome.Load()
		if h == nil {
			return away()
		}
		h.fpMu.Lock()
		if c.fpHome.Load() == h {
			err := home(h)
			h.fpMu.Unlock()
			return err
		}
		h.fpMu.Unlock()
	}
}

// checkFPAccess checks FPState's and SetFPState's preconditions.
func (c *context) checkFPAccess(pas platform.AddressSpace) error {
	if _, ok := pas.(*addressSpace); !ok {
		return fmt.Errorf("kvm: FP state of a foreign address space %T", pas)
	}
	if c.dead != nil {
		return c.dead
	}
	if c.released.Load() {
		return fmt.Errorf("%w: kvm: FP state of a released context", platform.ErrContextDead)
	}
	return nil
}

// FPState implements platform.FPStateContext.FPState. It reads the state
// from the vCPU holding it (one KVM_GET_XSAVE), or from the context, and
// leaves it where it is.
func (c *context) FPState(pas platform.AddressSpace) ([]byte, error) {
	if err := c.checkFPAccess(pas); err != nil {
		return nil, err
	}
	var x kvmXSave
	err := c.withFP(func(h *vcpu) error {
		if e := h.getXSave(&x); e != 0 {
			return fmt.Errorf("kvm: KVM_GET_XSAVE: %w", e)
		}
		return nil
	}, func() error {
		if c.fp != nil {
			x = *c.fp
		} else {
			x = *initialFP
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n := c.p.xstateSize
	out := make([]byte, n)
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

// SetFPState implements platform.FPStateContext.SetFPState. The state is
// checked as KVM checks it; it goes into the vCPU holding the context's
// state (one KVM_SET_XSAVE, which checks it again), or into the context,
// to be loaded by the next Switch.
func (c *context) SetFPState(pas platform.AddressSpace, state []byte) error {
	if err := c.checkFPAccess(pas); err != nil {
		return err
	}
	x, err := c.p.parseFPState(state)
	if err != nil {
		return err
	}
	return c.withFP(func(h *vcpu) error {
		if e := h.setXSave(x); e != 0 {
			if e == unix.EINVAL {
				return platform.ErrInvalidFPState
			}
			return fmt.Errorf("kvm: KVM_SET_XSAVE: %w", e)
		}
		return nil
	}, func() error {
		c.fp = x
		return nil
	})
}

// parseFPState checks state (the contract's layout, or a 512-byte legacy
// area) and returns it as KVM_SET_XSAVE takes it.
func (p *Platform) parseFPState(state []byte) (*kvmXSave, error) {
	n := p.xstateSize
	if len(state) != n && len(state) != fxsaveSize {
		return nil, platform.ErrInvalidFPState
	}
	le := binary.LittleEndian
	if le.Uint32(state[mxcsrOffset:])&^mxcsrFeatureMask != 0 {
		return nil, platform.ErrInvalidFPState
	}
	x := new(kvmXSave)
	b := xsaveBytes(x)
	copy(b, state)
	clear(b[swBytesOffset:fxsaveSize])
	if len(state) == fxsaveSize {
		// A legacy area: x87 and SSE from it, every other component
		// in its initial state.
		le.PutUint64(b[xstateBVOffset:], xfeaturesFPSSE)
		return x, nil
	}
	bv := le.Uint64(b[xstateBVOffset:])
	if bv&^p.features.xcr0 != 0 || le.Uint64(b[xcompBVOffset:]) != 0 {
		return nil, platform.ErrInvalidFPState
	}
	for _, r := range b[xcompBVOffset+8 : fxsaveSize+xsaveHeaderSize] {
		if r != 0 {
			return nil, platform.ErrInvalidFPState
		}
	}
	return x, nil
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
