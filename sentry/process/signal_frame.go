package process

// x86-64 signal frames (Linux's arch/x86/kernel/signal_64.c layout).
//
// A handler runs on a struct rt_sigframe written below the interrupted
// stack pointer (past the 128-byte red zone) or at the top of the
// alternate stack:
//
//	sp+0    pretcode          sa_restorer: the handler's return address
//	sp+8    struct ucontext   uc_flags, uc_link, uc_stack,
//	                          uc_mcontext (struct sigcontext, 256 bytes),
//	                          uc_sigmask (8 bytes)
//	sp+312  struct siginfo    128 bytes
//	above   the FP state      the XSAVE area (64-byte aligned) followed by
//	                          FP_XSTATE_MAGIC2, or a 512-byte FXSAVE area
//
// sp is 16-byte aligned minus 8, as after a call. The handler gets
// rdi=signo, rsi=&info, rdx=&uc, rax=0, and FP state in its initial
// state. rt_sigreturn reads the frame back at rsp-8 (the handler's ret
// popped pretcode).

import (
	"encoding/binary"
	"errors"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Frame layout.
const (
	frameSize         = 440
	framePretcode     = 0
	frameUcFlags      = 8
	frameUcLink       = 16
	frameUcStack      = 24 // ss_sp, ss_flags (+pad), ss_size
	frameMcontext     = 48
	frameUcSigmask    = 304
	frameSiginfo      = 312
	sigcontextSize    = 256
	redZoneSize       = 128
	fxsaveAreaSize    = 512
	xsaveHeaderSize   = 64
	fpSwBytesOffset   = 464
	fpXstateMagic1    = 0x46505853
	fpXstateMagic2    = 0x46505845
	fpXstateMagic2Len = 4
	fpXstateBVOffset  = 512
	xfeaturesFPSSE    = 0x3

	ucFPXstate        = 0x1
	ucSigcontextSS    = 0x2
	ucStrictRestoreSS = 0x4
)

// sigcontext offsets within uc_mcontext.
const (
	scR8 = 8 * iota
	scR9
	scR10
	scR11
	scR12
	scR13
	scR14
	scR15
	scRdi
	scRsi
	scRbp
	scRbx
	scRdx
	scRax
	scRcx
	scRsp
	scRip
	scEflags
	scSegments // cs, gs, fs, ss: 16 bits each
	scErr
	scTrapno
	scOldmask
	scCr2
	scFpstate
)

// Flags a program may change through the sigcontext (Linux's FIX_EFLAGS).
const (
	eflagsCF     = 0x1
	eflagsPF     = 0x4
	eflagsAF     = 0x10
	eflagsZF     = 0x40
	eflagsSF     = 0x80
	eflagsTF     = 0x100
	eflagsDF     = 0x400
	eflagsOF     = 0x800
	eflagsRF     = 0x10000
	eflagsAC     = 0x40000
	fixEflags    = eflagsAC | eflagsOF | eflagsDF | eflagsTF | eflagsSF | eflagsZF | eflagsAF | eflagsPF | eflagsCF | eflagsRF
	ssAutoDisarm = 1 << 31
)

var (
	errNoRestorer    = errors.New("the handler has no SA_RESTORER")
	errFrameOverflow = errors.New("the frame does not fit the alternate signal stack")
)

// hostFPSize is the size of the FP state the platform reports (0: not
// known yet).
var hostFPSize atomic.Int64

// fpContext returns the thread's platform context if it can read and
// write FP state.
func (t *Thread) fpContext() platform.FPStateContext {
	fc, _ := t.ctx.(platform.FPStateContext)
	return fc
}

// fpState returns the thread's FP state, or nil if the platform cannot
// give it.
func (t *Thread) fpState() []byte {
	fc := t.fpContext()
	if fc == nil {
		return nil
	}
	st, err := fc.FPState(t.MM().AddressSpace())
	if err != nil {
		t.Log().Debugf("cannot read the FP state: %v", err)
		return nil
	}
	hostFPSize.Store(int64(len(st)))
	return st
}

// ResetFPState gives the thread the FP state a new program starts with
// (execve: x87 and SSE at their defaults, every other component in its
// initial state): the image may run in the host thread that ran the old
// one, whose registers would otherwise carry over.
// Preconditions: t is the calling thread; its memory manager has an
// address space.
func (t *Thread) ResetFPState() {
	fc := t.fpContext()
	if fc == nil {
		return
	}
	if err := fc.SetFPState(t.MM().AddressSpace(), initialFPState()); err != nil {
		t.Log().Debugf("cannot reset the FP state for execve: %v", err)
	}
}

// initialFPState returns the FP state a handler starts with: the x87 and
// SSE control words at their reset values, every register clear, every
// extended component in its initial state.
func initialFPState() []byte {
	st := make([]byte, fxsaveAreaSize)
	binary.LittleEndian.PutUint16(st[0:], 0x37f)   // FCW
	binary.LittleEndian.PutUint32(st[24:], 0x1f80) // MXCSR
	binary.LittleEndian.PutUint32(st[28:], 0xffff) // MXCSR_MASK (ignored on load)
	return st
}

// setupSignalFrame writes the frame for a handler of sig (action act)
// and points t's registers at the handler. oldMask is the mask the
// handler's return restores. It returns an error (and changes nothing) if
// the frame cannot be written.
func (t *Thread) setupSignalFrame(sig int, info *linux.SignalInfo, act *SignalAction, oldMask linux.SignalSet, fault faultInfo) error {
	if act.Flags&linux.SA_RESTORER == 0 {
		// x86-64 handlers return through sa_restorer; Linux refuses
		// to deliver without one.
		return errNoRestorer
	}
	m := t.MM()
	regs := &t.Regs
	sp := regs.Rsp
	onStack := t.onAltStack(sp)
	sp -= redZoneSize
	entering := false
	if act.Flags&linux.SA_ONSTACK != 0 && t.AltStack.Size != 0 && !t.onAltStack(sp) {
		sp = t.AltStack.Addr + t.AltStack.Size
		entering = true
	}

	// The FP state, 64-byte aligned, above the frame.
	fp := t.fpState()
	var fpAddr uint64
	var fpBuf []byte
	xsave := len(fp) > fxsaveAreaSize
	if fp != nil {
		fpBuf = encodeFPFrame(fp)
		size := len(fpBuf)
		sp = (sp - uint64(size)) &^ 63
		fpAddr = sp
	}

	sp -= frameSize
	sp = (sp &^ 15) - 8
	if (onStack || entering) && !t.altStackContains(sp) {
		return errFrameOverflow
	}

	var f [frameSize]byte
	ucFlags := uint64(ucSigcontextSS | ucStrictRestoreSS)
	if xsave {
		ucFlags |= ucFPXstate
	}
	ss := linux.SignalStack{Addr: t.AltStack.Addr, Flags: t.altStackRawFlags(), Size: t.AltStack.Size}
	encodeSigframe(&f, regs, act.Restorer, ucFlags, ss, oldMask, fault, fpAddr)
	info.FixSignalCodeForUser()
	info.MarshalBytes(f[frameSiginfo:])

	if fpBuf != nil {
		if _, err := m.CopyOut(uintptr(fpAddr), fpBuf); err != nil {
			return err
		}
	}
	if _, err := m.CopyOut(uintptr(sp), f[:]); err != nil {
		return err
	}

	if t.AltStack.Flags&ssAutoDisarm != 0 {
		// Saved in uc_stack; rt_sigreturn re-arms it.
		t.AltStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	}
	regs.Rsp = sp
	regs.Rip = act.Handler
	regs.Rdi = uint64(sig)
	regs.Rsi = sp + frameSiginfo
	regs.Rdx = sp + frameUcFlags
	regs.Rax = 0
	regs.Eflags &^= eflagsDF | eflagsRF | eflagsTF
	regs.Cs = arch.UserCS
	regs.Ss = arch.UserSS
	if fp != nil {
		if err := t.fpContext().SetFPState(m.AddressSpace(), initialFPState()); err != nil {
			t.Log().Debugf("cannot reset the FP state for a handler: %v", err)
		}
	}
	return nil
}

// encodeFPFrame returns the FP area of a signal frame for the host FP
// state fp (an FXSAVE image of 512 bytes, or a larger XSAVE one): fp with
// its software-reserved bytes describing an extended frame
// (FP_XSTATE_MAGIC1, the sizes, the features saved) and FP_XSTATE_MAGIC2
// after it, as Linux writes it; an FXSAVE image with those bytes cleared.
func encodeFPFrame(fp []byte) []byte {
	xsave := len(fp) > fxsaveAreaSize
	size := len(fp)
	if xsave {
		size += fpXstateMagic2Len
	}
	buf := make([]byte, size)
	copy(buf, fp)
	sw := buf[fpSwBytesOffset:fxsaveAreaSize]
	clear(sw)
	if xsave {
		le := binary.LittleEndian
		xfeatures := le.Uint64(fp[fpSwBytesOffset+8:])
		if le.Uint32(fp[fpSwBytesOffset:]) != fpXstateMagic1 {
			xfeatures = le.Uint64(fp[fpXstateBVOffset:]) | 3
		}
		le.PutUint32(sw[0:], fpXstateMagic1)
		le.PutUint32(sw[4:], uint32(len(fp)+fpXstateMagic2Len)) // extended_size
		le.PutUint64(sw[8:], xfeatures)
		le.PutUint32(sw[16:], uint32(len(fp))) // xstate_size
		le.PutUint32(buf[len(fp):], fpXstateMagic2)
	}
	return buf
}

// encodeSigframe writes the rt_sigframe of a handler entered from regs
// into f, but for its siginfo: the restorer as return address, the
// ucontext (flags, no link, the alternate stack ss as sigaltstack would
// report it, the sigcontext with the fault's error code, trap number and
// address, the FP area's address fpAddr) and the mask to restore.
func encodeSigframe(f *[frameSize]byte, regs *arch.Registers, restorer, ucFlags uint64, ss linux.SignalStack, oldMask linux.SignalSet, fault faultInfo, fpAddr uint64) {
	le := binary.LittleEndian
	le.PutUint64(f[framePretcode:], restorer)
	le.PutUint64(f[frameUcFlags:], ucFlags)
	le.PutUint64(f[frameUcLink:], 0)
	le.PutUint64(f[frameUcStack:], ss.Addr)
	le.PutUint32(f[frameUcStack+8:], ss.Flags)
	le.PutUint64(f[frameUcStack+16:], ss.Size)
	sc := f[frameMcontext : frameMcontext+sigcontextSize]
	for _, w := range [...]struct {
		off int
		v   uint64
	}{
		{scR8, regs.R8}, {scR9, regs.R9}, {scR10, regs.R10}, {scR11, regs.R11},
		{scR12, regs.R12}, {scR13, regs.R13}, {scR14, regs.R14}, {scR15, regs.R15},
		{scRdi, regs.Rdi}, {scRsi, regs.Rsi}, {scRbp, regs.Rbp}, {scRbx, regs.Rbx},
		{scRdx, regs.Rdx}, {scRax, regs.Rax}, {scRcx, regs.Rcx}, {scRsp, regs.Rsp},
		{scRip, regs.Rip}, {scEflags, regs.Eflags},
		{scErr, fault.err}, {scTrapno, fault.trapno}, {scOldmask, uint64(oldMask)},
		{scCr2, fault.cr2}, {scFpstate, fpAddr},
	} {
		le.PutUint64(sc[w.off:], w.v)
	}
	le.PutUint16(sc[scSegments:], arch.UserCS)
	le.PutUint16(sc[scSegments+6:], arch.UserSS)
	le.PutUint64(f[frameUcSigmask:], uint64(oldMask))
}

// SignalReturn serves rt_sigreturn: it restores the registers, signal
// mask, alternate stack and FP state saved in the frame at rsp-8. A frame
// the program made unreadable or invalid raises SIGSEGV (which kills the
// program unless it handles SIGSEGV). The segment selectors are always a
// 64-bit user thread's: the frame cannot choose them.
// Preconditions: t is the calling thread, stopped in rt_sigreturn.
func (t *Thread) SignalReturn() {
	m := t.MM()
	regs := &t.Regs
	frame := regs.Rsp - 8
	var f [frameSize]byte
	if _, err := m.CopyIn(uintptr(frame), f[:]); err != nil {
		t.Log().Debugf("rt_sigreturn: unreadable frame at %#x: SIGSEGV", frame)
		t.forceSigsegv(0)
		return
	}
	mask, fpstate, ss := decodeSigreturnFrame(&f, regs)
	t.SetSignalMask(mask)
	if err := t.restoreFPState(fpstate); err != nil {
		t.Log().Debugf("rt_sigreturn: bad FP state at %#x (%v): SIGSEGV", fpstate, err)
		t.forceSigsegv(0)
		return
	}
	// The alternate stack; Linux ignores every error but EFAULT here,
	// and the frame was readable.
	t.SetSignalStack(ss)
}

// restoreFPState loads the FP state saved at addr by a signal frame (0:
// the initial state). Errors: EFAULT when it is unreadable,
// platform.ErrInvalidFPState when the CPU would refuse it.
func (t *Thread) restoreFPState(addr uint64) error {
	fc := t.fpContext()
	if fc == nil {
		return nil
	}
	as := t.MM().AddressSpace()
	if addr == 0 {
		return fc.SetFPState(as, initialFPState())
	}
	m := t.MM()
	legacy := make([]byte, fxsaveAreaSize)
	if _, err := m.CopyIn(uintptr(addr), legacy); err != nil {
		return unix.EFAULT
	}
	hostSize := int(hostFPSize.Load())
	if hostSize == 0 {
		if st := t.fpState(); st != nil {
			hostSize = len(st)
		}
	}
	st, err := fpStateFromFrame(legacy, func(n int) ([]byte, error) {
		area := make([]byte, n)
		if _, err := m.CopyIn(uintptr(addr), area); err != nil {
			return nil, err
		}
		return area, nil
	}, hostSize)
	if err != nil {
		return err
	}
	return fc.SetFPState(as, st)
}
