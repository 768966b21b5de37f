package process

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// fuzzFPSizes are host FP state sizes to decode frames against: FXSAVE
// only, and XSAVE images of an AVX and an AVX-512 host.
var fuzzFPSizes = []int{0, fxsaveAreaSize, 832, 2696}

// xsaveImage returns an XSAVE image of size bytes with a recognisable
// pattern and XSTATE_BV bv (an FXSAVE image when size is 512).
func xsaveImage(size int, bv uint64) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	if size >= fpXstateBVOffset+8 {
		binary.LittleEndian.PutUint64(b[fpXstateBVOffset:], bv)
	}
	return b
}

// FuzzSignalABI fuzzes what the signal syscalls decode from a program:
// rt_sigaction's and rt_sigprocmask's arguments, sigaltstack's stack_t,
// and rt_sigreturn's frame and FP area (the seeds below and
// testdata/fuzz/FuzzSignalABI run as a normal test; `make fuzz` runs the
// fuzzer for a bounded time). Nothing may panic; every error is an errno
// Linux gives there; SIGKILL and SIGSTOP are never blocked or caught; a
// restored frame cannot choose segment selectors, privileged flags or a
// syscall to restart; an FP area decodes to an image of the host's size
// (or a legacy one) with the software bytes cleared and x87/SSE always
// loaded; and a frame the sentry wrote decodes back to the registers and
// FP state it saved.
func FuzzSignalABI(f *testing.F) {
	var frame [frameSize]byte
	var regs arch.Registers
	regs.Rax, regs.Rbx, regs.Rcx, regs.Rdx, regs.Rsi, regs.Rdi, regs.Rbp = 1, 2, 3, 4, 5, 6, 7
	regs.Rsp, regs.R8, regs.R15, regs.Rip, regs.Eflags = 0x7ff000, 8, 15, 0x401000, 0x246
	encodeSigframe(&frame, &regs, 0x401234, ucSigcontextSS|ucStrictRestoreSS|ucFPXstate,
		linux.SignalStack{Addr: 0x600000, Flags: linux.SS_ONSTACK, Size: 8192}, linux.MakeSignalSet(linux.SIGUSR1), faultInfo{}, 0x7fe000)
	act := make([]byte, sigactionSize)
	binary.LittleEndian.PutUint64(act[0:], 0x401000)
	binary.LittleEndian.PutUint64(act[8:], linux.SA_RESTORER|linux.SA_SIGINFO)
	binary.LittleEndian.PutUint64(act[24:], ^uint64(0))
	ss := make([]byte, 24)
	binary.LittleEndian.PutUint64(ss[16:], 8192)
	f.Add(int32(unix.SIGUSR1), uint64(8), act, int32(unix.SIG_BLOCK), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ss, false, frame[:], encodeFPFrame(xsaveImage(832, 7)), uint8(2))
	f.Add(int32(unix.SIGKILL), uint64(8), act, int32(unix.SIG_SETMASK), []byte{0, 1, 0, 0, 0, 0, 0, 0}, ss, true, frame[:], encodeFPFrame(xsaveImage(fxsaveAreaSize, 0)), uint8(1))
	f.Add(int32(0), uint64(4), []byte(nil), int32(7), []byte(nil), []byte{1, 2}, false, []byte{}, []byte{}, uint8(0))
	f.Add(int32(65), uint64(8), act[:10], int32(unix.SIG_UNBLOCK), []byte{1}, make([]byte, 24), false, bytes.Repeat([]byte{0xff}, frameSize), bytes.Repeat([]byte{0xff}, 3000), uint8(3))
	f.Fuzz(func(t *testing.T, sig int32, sigsetsize uint64, act []byte, how int32, set []byte, ssb []byte, onStack bool, frameb []byte, fp []byte, hostIdx uint8) {
		// rt_sigaction.
		a, err := DecodeSigaction(int(sig), sigsetsize, act)
		switch {
		case err == nil:
			if a.Mask&unblockable != 0 {
				t.Fatalf("sigaction mask %#x holds SIGKILL or SIGSTOP", a.Mask)
			}
			if act != nil && (sig == int32(unix.SIGKILL) || sig == int32(unix.SIGSTOP)) {
				t.Fatalf("an action for signal %d accepted", sig)
			}
			if sig < 1 || sig > linux.SignalMaximum || sigsetsize != SigsetSize {
				t.Fatalf("sigaction(%d, size %d) accepted", sig, sigsetsize)
			}
		case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EFAULT):
			t.Fatalf("sigaction: %v", err)
		}
		// rt_sigprocmask.
		old := linux.SignalSet(0x5555)
		m, err := ApplySigprocmask(how, sigsetsize, old, set)
		if err == nil && set != nil && m&unblockable != 0 {
			t.Fatalf("sigprocmask(%d) blocks SIGKILL or SIGSTOP: %#x", how, m)
		}
		if err != nil && m != old {
			t.Fatalf("sigprocmask failed (%v) but changed the mask", err)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EFAULT) {
			t.Fatalf("sigprocmask: %v", err)
		}
		// sigaltstack.
		if st, err := DecodeSignalStack(ssb); err == nil {
			got, err := checkSignalStack(st, onStack)
			switch {
			case err == nil:
				mode := got.Flags &^ ssAutoDisarm
				if mode == linux.SS_DISABLE && (got.Addr != 0 || got.Size != 0) {
					t.Fatalf("a disabled stack with an address: %+v", got)
				}
				if mode != linux.SS_DISABLE && got.Size < MinSignalStackSize {
					t.Fatalf("a %d-byte stack accepted", got.Size)
				}
				if onStack {
					t.Fatalf("the stack changed while running on it")
				}
			case !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOMEM):
				t.Fatalf("sigaltstack: %v", err)
			}
		} else if len(ssb) >= 24 {
			t.Fatalf("a 24-byte stack_t not decoded: %v", err)
		}
		// rt_sigreturn: the frame.
		var fr [frameSize]byte
		copy(fr[:], frameb)
		var r arch.Registers
		r.Eflags, r.Cs, r.Ss, r.Orig_rax = 0x202, 0x23, 0, 17
		_, _, _ = decodeSigreturnFrame(&fr, &r)
		if r.Cs != arch.UserCS || r.Ss != arch.UserSS || r.Orig_rax != ^uint64(0) {
			t.Fatalf("the frame chose cs %#x ss %#x orig_rax %#x", r.Cs, r.Ss, r.Orig_rax)
		}
		if r.Eflags&^fixEflags != 0x202&^fixEflags {
			t.Fatalf("the frame changed privileged flags: %#x", r.Eflags)
		}
		// Round trip of a frame the sentry wrote from the decoded
		// registers.
		var again [frameSize]byte
		encodeSigframe(&again, &r, 0, 0, linux.SignalStack{}, 0, faultInfo{}, 0)
		r2 := r
		decodeSigreturnFrame(&again, &r2)
		if r2 != r {
			t.Fatalf("a frame written from %+v restores %+v", r, r2)
		}
		// rt_sigreturn: the FP area, against each host size.
		host := fuzzFPSizes[int(hostIdx)%len(fuzzFPSizes)]
		legacy := fp
		if len(legacy) > fxsaveAreaSize {
			legacy = legacy[:fxsaveAreaSize]
		}
		saved := bytes.Clone(fp)
		unreadable := false
		st, err := fpStateFromFrame(legacy, func(n int) ([]byte, error) {
			if n > len(fp) {
				// The extended area runs past what is mapped.
				unreadable = true
				return nil, unix.EFAULT
			}
			return fp[:n], nil
		}, host)
		if !bytes.Equal(fp, saved) {
			t.Fatalf("decoding changed the frame's bytes")
		}
		if len(fp) < fxsaveAreaSize {
			if err == nil {
				t.Fatalf("a %d-byte FP area decoded", len(fp))
			}
			return
		}
		if unreadable {
			if !errors.Is(err, unix.EFAULT) {
				t.Fatalf("an unreadable extended FP area: %v, want EFAULT", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("FP area of %d bytes: %v", len(fp), err)
		}
		if len(st) != fxsaveAreaSize && len(st) != host {
			t.Fatalf("FP state of %d bytes for a host of %d", len(st), host)
		}
		if !bytes.Equal(st[fpSwBytesOffset:fxsaveAreaSize], make([]byte, fxsaveAreaSize-fpSwBytesOffset)) {
			t.Fatalf("software bytes left in the FP state")
		}
		if len(st) > fxsaveAreaSize && binary.LittleEndian.Uint64(st[fpXstateBVOffset:])&xfeaturesFPSSE != xfeaturesFPSSE {
			t.Fatalf("x87/SSE not loaded: XSTATE_BV %#x", binary.LittleEndian.Uint64(st[fpXstateBVOffset:]))
		}
		// Round trip of an FP area the sentry wrote for a host image
		// of this size.
		if host > fxsaveAreaSize {
			var bv uint64 = 3
			if len(fp) >= fpXstateBVOffset+8 {
				bv |= binary.LittleEndian.Uint64(fp[fpXstateBVOffset:])
			}
			img := xsaveImage(host, bv)
			enc := encodeFPFrame(img)
			back, err := fpStateFromFrame(enc[:fxsaveAreaSize], func(n int) ([]byte, error) { return enc[:n], nil }, host)
			want := bytes.Clone(img)
			clear(want[fpSwBytesOffset:fxsaveAreaSize])
			if err != nil || !bytes.Equal(back, want) {
				t.Fatalf("an FP area written for a %d-byte host image does not decode back (%v)", host, err)
			}
		}
	})
}
