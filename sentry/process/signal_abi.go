package process

// The signal ABI's decoding: what rt_sigaction, rt_sigprocmask, sigaltstack
// and rt_sigreturn take from a program, as pure functions of the bytes and
// arguments (no thread, no memory), so that the syscalls use them and
// FuzzSignalABI (signal_abi_fuzz_test.go) can hammer them. Every error is
// the errno Linux gives; nothing here may panic on any input.

import (
	"encoding/binary"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// SigsetSize is sizeof(sigset_t) for the rt_sig* syscalls.
const SigsetSize = 8

// sigactionSize is sizeof(struct sigaction) of the rt_sigaction ABI
// (handler, flags, restorer, mask).
const sigactionSize = 32

// DecodeSigaction checks rt_sigaction's signal and sigsetsize and decodes
// the new action act (nil: none given). SIGKILL and SIGSTOP take no action
// (EINVAL); the action's mask never holds them.
func DecodeSigaction(sig int, sigsetsize uint64, act []byte) (SignalAction, error) {
	var a SignalAction
	if sigsetsize != SigsetSize || sig < 1 || sig > linux.SignalMaximum {
		return a, unix.EINVAL
	}
	if act == nil {
		return a, nil
	}
	if len(act) < sigactionSize {
		return a, unix.EFAULT
	}
	if sig == int(linux.SIGKILL) || sig == int(linux.SIGSTOP) {
		return a, unix.EINVAL
	}
	a.UnmarshalBytes(act[:sigactionSize])
	a.Mask &^= unblockable
	return a, nil
}

// ApplySigprocmask computes rt_sigprocmask's new mask from the old one,
// how and the set's bytes (nil: no set given, the mask stays). SIGKILL and
// SIGSTOP are never blocked.
func ApplySigprocmask(how int32, sigsetsize uint64, old linux.SignalSet, set []byte) (linux.SignalSet, error) {
	if sigsetsize != SigsetSize {
		return old, unix.EINVAL
	}
	if set == nil {
		return old, nil
	}
	if len(set) < SigsetSize {
		return old, unix.EFAULT
	}
	s := linux.SignalSet(binary.LittleEndian.Uint64(set))
	var mask linux.SignalSet
	switch how {
	case unix.SIG_BLOCK:
		mask = old | s
	case unix.SIG_UNBLOCK:
		mask = old &^ s
	case unix.SIG_SETMASK:
		mask = s
	default:
		return old, unix.EINVAL
	}
	return mask &^ unblockable, nil
}

// DecodeSignalStack decodes a stack_t (ss_sp, ss_flags, ss_size).
func DecodeSignalStack(b []byte) (linux.SignalStack, error) {
	if len(b) < 24 {
		return linux.SignalStack{}, unix.EFAULT
	}
	le := binary.LittleEndian
	return linux.SignalStack{Addr: le.Uint64(b), Flags: le.Uint32(b[8:]), Size: le.Uint64(b[16:])}, nil
}

// checkSignalStack is sigaltstack's rule for a new alternate stack ss
// when the thread is (onStack) or is not running on its current one: the
// stack to install, or EPERM (on it), EINVAL (bad flags), ENOMEM (too
// small). SS_DISABLE installs an empty stack that keeps the flags.
func checkSignalStack(ss linux.SignalStack, onStack bool) (linux.SignalStack, error) {
	if onStack {
		return linux.SignalStack{}, unix.EPERM
	}
	mode := ss.Flags &^ ssAutoDisarm
	if mode != 0 && mode != linux.SS_ONSTACK && mode != linux.SS_DISABLE {
		return linux.SignalStack{}, unix.EINVAL
	}
	if mode == linux.SS_DISABLE {
		return linux.SignalStack{Flags: ss.Flags}, nil
	}
	if ss.Size < MinSignalStackSize {
		return linux.SignalStack{}, unix.ENOMEM
	}
	return ss, nil
}

// decodeSigreturnFrame restores regs from the rt_sigframe f (read at
// rsp-8): every general register and rip from the sigcontext, the flags a
// program may change (FIX_EFLAGS) and no others, a 64-bit user thread's
// segment selectors whatever the frame says, no syscall in progress. It
// returns the saved signal mask, the FP state's address (0: none) and the
// saved alternate stack.
func decodeSigreturnFrame(f *[frameSize]byte, regs *arch.Registers) (mask linux.SignalSet, fpstate uint64, ss linux.SignalStack) {
	le := binary.LittleEndian
	mask = linux.SignalSet(le.Uint64(f[frameUcSigmask:]))
	sc := f[frameMcontext : frameMcontext+sigcontextSize]
	r := func(off int) uint64 { return le.Uint64(sc[off:]) }
	regs.R8, regs.R9, regs.R10, regs.R11 = r(scR8), r(scR9), r(scR10), r(scR11)
	regs.R12, regs.R13, regs.R14, regs.R15 = r(scR12), r(scR13), r(scR14), r(scR15)
	regs.Rdi, regs.Rsi, regs.Rbp, regs.Rbx = r(scRdi), r(scRsi), r(scRbp), r(scRbx)
	regs.Rdx, regs.Rax, regs.Rcx, regs.Rsp = r(scRdx), r(scRax), r(scRcx), r(scRsp)
	regs.Rip = r(scRip)
	regs.Eflags = regs.Eflags&^fixEflags | r(scEflags)&fixEflags
	regs.Cs, regs.Ss = arch.UserCS, arch.UserSS
	// No syscall to restart: the interrupted one (if any) was dealt
	// with when the handler was set up.
	regs.Orig_rax = ^uint64(0)
	ss = linux.SignalStack{
		Addr:  le.Uint64(f[frameUcStack:]),
		Flags: le.Uint32(f[frameUcStack+8:]),
		Size:  le.Uint64(f[frameUcStack+16:]),
	}
	return mask, r(scFpstate), ss
}

// fpStateFromFrame decides what FP state a signal frame's FP area
// restores: legacy is its first 512 bytes (the FXSAVE area with the
// software-reserved bytes), readArea reads its first n bytes (the XSAVE
// area and FP_XSTATE_MAGIC2) and hostSize is the size of the host's FP
// state (0 or 512: FXSAVE only). An extended frame whose sizes fit the
// host and whose magics are right gives an XSAVE image of hostSize bytes
// in which the components outside the frame's xfeatures are in their
// initial state and x87/SSE are always loaded; anything else is taken as a
// legacy frame: its 512 bytes, x87 and SSE only. legacy is not modified.
func fpStateFromFrame(legacy []byte, readArea func(n int) ([]byte, error), hostSize int) ([]byte, error) {
	if len(legacy) < fxsaveAreaSize {
		return nil, unix.EFAULT
	}
	le := binary.LittleEndian
	sw := legacy[fpSwBytesOffset:]
	magic1, extSize := le.Uint32(sw[0:]), int(le.Uint32(sw[4:]))
	xfeatures, xsize := le.Uint64(sw[8:]), int(le.Uint32(sw[16:]))
	if hostSize > fxsaveAreaSize && magic1 == fpXstateMagic1 &&
		xsize >= fxsaveAreaSize+xsaveHeaderSize && xsize <= hostSize && xsize+fpXstateMagic2Len <= extSize {
		area, err := readArea(xsize + fpXstateMagic2Len)
		if err != nil {
			return nil, unix.EFAULT
		}
		if len(area) >= xsize+fpXstateMagic2Len && le.Uint32(area[xsize:]) == fpXstateMagic2 {
			st := make([]byte, hostSize)
			copy(st, area[:xsize])
			bv := le.Uint64(st[fpXstateBVOffset:])
			le.PutUint64(st[fpXstateBVOffset:], bv&xfeatures|xfeaturesFPSSE)
			clear(st[fpSwBytesOffset:fxsaveAreaSize])
			return st, nil
		}
	}
	st := make([]byte, fxsaveAreaSize)
	copy(st, legacy[:fxsaveAreaSize])
	clear(st[fpSwBytesOffset:])
	return st, nil
}
