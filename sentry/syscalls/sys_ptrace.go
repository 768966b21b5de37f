package syscalls

// ptrace(2): the request decoding (the user area, register sets, siginfo,
// PTRACE_GET_SYSCALL_INFO). The tracing itself — attach, stops, resume,
// wait — is package process's (ptrace.go, ptrace_stop.go, ptrace_wait.go).

import (
	"encoding/binary"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

const (
	// ptraceGetSyscallInfo is PTRACE_GET_SYSCALL_INFO (Linux 5.3).
	ptraceGetSyscallInfo = 0x420e
	// userRegsSize is sizeof(struct user_regs_struct); userSize
	// sizeof(struct user); userDebugRegs offsetof(struct user,
	// u_debugreg).
	userRegsSize  = 27 * 8
	userSize      = 912
	userDebugRegs = 848
	// fxsaveSize is sizeof(struct user_i387_struct).
	fxsaveSize = 512
	// auditArchX86_64 is AUDIT_ARCH_X86_64.
	auditArchX86_64 = 0xc000003e
)

// Ptrace is ptrace(request, pid, addr, data).
func Ptrace(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	req, pid, addr, data := a.Int64(0), a.Int(1), a.Ptr(2), a.Ptr(3)
	switch req {
	case linux.PTRACE_TRACEME:
		return 0, t.PtraceTraceme()
	case linux.PTRACE_ATTACH:
		return 0, t.PtraceAttach(pid, false, 0)
	case linux.PTRACE_SEIZE:
		if addr != 0 {
			return 0, unix.EIO
		}
		return 0, t.PtraceAttach(pid, true, uint32(data))
	case linux.PTRACE_KILL:
		target, err := t.PtraceTracee(pid, false)
		if err != nil {
			return 0, err
		}
		target.PtraceKill()
		return 0, nil
	case linux.PTRACE_INTERRUPT:
		target, err := t.PtraceTracee(pid, false)
		if err != nil {
			return 0, err
		}
		if addr != 0 || data != 0 {
			return 0, unix.EIO
		}
		return 0, target.PtraceInterrupt()
	}
	target, err := t.PtraceTracee(pid, true)
	if err != nil {
		return 0, err
	}
	switch req {
	case linux.PTRACE_PEEKTEXT, linux.PTRACE_PEEKDATA:
		m := target.MM()
		if m == nil {
			return 0, unix.EIO
		}
		var w [8]byte
		if n, _ := m.ForceCopyIn(addr, w[:]); n != len(w) {
			return 0, unix.EIO
		}
		if _, err := t.CopyOutBytes(hostarch.Addr(data), w[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PTRACE_POKETEXT, linux.PTRACE_POKEDATA:
		m := target.MM()
		if m == nil {
			return 0, unix.EIO
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], uint64(data))
		if n, _ := m.ForceCopyOut(addr, w[:]); n != len(w) {
			return 0, unix.EIO
		}
		return 0, nil
	case linux.PTRACE_PEEKUSR:
		if addr&7 != 0 || addr >= userSize {
			return 0, unix.EIO
		}
		var v uint64
		err := target.PtraceRegs(func(r *arch.Registers, dr *[8]uint64) error {
			switch {
			case addr < userRegsSize:
				v = regsWords(r)[addr/8]
			case addr >= userDebugRegs && addr < userDebugRegs+64:
				v = dr[(addr-userDebugRegs)/8]
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], v)
		if _, err := t.CopyOutBytes(hostarch.Addr(data), w[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PTRACE_POKEUSR:
		if addr&7 != 0 || addr >= userSize {
			return 0, unix.EIO
		}
		return 0, target.PtraceRegs(func(r *arch.Registers, dr *[8]uint64) error {
			switch {
			case addr < userRegsSize:
				n := *r
				regsWords(&n)[addr/8] = uint64(data)
				if err := checkRegs(r, &n); err != nil {
					return err
				}
				*r = n
			case addr >= userDebugRegs && addr < userDebugRegs+64:
				return pokeDebugReg(dr, int((addr-userDebugRegs)/8), uint64(data))
			}
			// The rest of struct user is ignored, as Linux does.
			return nil
		})
	case linux.PTRACE_GETREGS:
		var b []byte
		target.PtraceRegs(func(r *arch.Registers, _ *[8]uint64) error {
			b = regsBytes(r)
			return nil
		})
		if _, err := t.CopyOutBytes(hostarch.Addr(data), b); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PTRACE_SETREGS:
		b := make([]byte, userRegsSize)
		if _, err := t.CopyInBytes(hostarch.Addr(data), b); err != nil {
			return 0, unix.EFAULT
		}
		return 0, target.PtraceRegs(func(r *arch.Registers, _ *[8]uint64) error { return setRegsBytes(r, b) })
	case linux.PTRACE_GETFPREGS:
		fp := target.PtraceFPState()
		if len(fp) < fxsaveSize {
			return 0, unix.EIO
		}
		if _, err := t.CopyOutBytes(hostarch.Addr(data), fp[:fxsaveSize]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PTRACE_SETFPREGS:
		b := make([]byte, fxsaveSize)
		if _, err := t.CopyInBytes(hostarch.Addr(data), b); err != nil {
			return 0, unix.EFAULT
		}
		return 0, target.PtraceSetFPState(0, fxsaveArea(b))
	case linux.PTRACE_GETREGSET, linux.PTRACE_SETREGSET:
		return 0, ptraceRegset(t, target, req == linux.PTRACE_SETREGSET, addr, data)
	case linux.PTRACE_GETSIGINFO:
		info, err := target.PtraceSiginfo()
		if err != nil {
			return 0, err
		}
		if _, err := info.CopyOut(t, hostarch.Addr(data)); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PTRACE_SETSIGINFO:
		var info linux.SignalInfo
		if _, err := info.CopyIn(t, hostarch.Addr(data)); err != nil {
			return 0, unix.EFAULT
		}
		return 0, target.PtraceSetSiginfo(info)
	case linux.PTRACE_GETSIGMASK, linux.PTRACE_SETSIGMASK:
		if addr != 8 {
			return 0, unix.EINVAL
		}
		var w [8]byte
		if req == linux.PTRACE_GETSIGMASK {
			binary.LittleEndian.PutUint64(w[:], uint64(target.PtraceSignalMask()))
			if _, err := t.CopyOutBytes(hostarch.Addr(data), w[:]); err != nil {
				return 0, unix.EFAULT
			}
			return 0, nil
		}
		if _, err := t.CopyInBytes(hostarch.Addr(data), w[:]); err != nil {
			return 0, unix.EFAULT
		}
		target.PtraceSetSignalMask(linux.SignalSet(binary.LittleEndian.Uint64(w[:])))
		return 0, nil
	case linux.PTRACE_GETEVENTMSG:
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], target.PtraceEventMsg())
		if _, err := t.CopyOutBytes(hostarch.Addr(data), w[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PTRACE_SETOPTIONS:
		return 0, target.PtraceSetOptions(uint32(data))
	case linux.PTRACE_CONT, linux.PTRACE_SYSCALL, linux.PTRACE_SYSEMU,
		linux.PTRACE_SINGLESTEP, linux.PTRACE_SYSEMU_SINGLESTEP:
		return 0, target.PtraceResume(req, int(data))
	case linux.PTRACE_DETACH:
		return 0, target.PtraceDetach(int(data))
	case linux.PTRACE_LISTEN:
		return 0, target.PtraceListen()
	case linux.PTRACE_ARCH_PRCTL:
		return 0, ptraceArchPrctl(t, target, addr, int(data))
	case ptraceGetSyscallInfo:
		return ptraceSyscallInfo(t, target, addr, data)
	}
	// PTRACE_PEEKSIGINFO, PTRACE_GET_THREAD_AREA (no 32-bit TLS),
	// PTRACE_SINGLEBLOCK, PTRACE_SECCOMP_GET_FILTER/METADATA, the i386
	// requests.
	return 0, unix.EIO
}

// regsWords views the registers as struct user_regs_struct's words.
func regsWords(r *arch.Registers) *[27]uint64 {
	return (*[27]uint64)(unsafe.Pointer(&r.PtraceRegs))
}

// regsBytes returns the registers as struct user_regs_struct.
func regsBytes(r *arch.Registers) []byte {
	b := make([]byte, userRegsSize)
	for i, w := range regsWords(r) {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return b
}

// setRegsBytes replaces the registers with b (struct user_regs_struct)
// if checkRegs accepts them.
func setRegsBytes(r *arch.Registers, b []byte) error {
	n := *r
	w := regsWords(&n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	if err := checkRegs(r, &n); err != nil {
		return err
	}
	*r = n
	return nil
}

// eflagsUser are the flags a tracer may change (Linux's FLAG_MASK).
const eflagsUser = 0x00000001 | 0x00000004 | 0x00000010 | 0x00000040 | 0x00000080 |
	0x00000100 | 0x00000400 | 0x00000800 | 0x00040000 | 0x00200000 | 0x00000200

// checkRegs validates new registers n as Linux's putreg does and fixes
// what Linux fixes: segment selectors must be user (RPL 3) or null where
// allowed, fs_base and gs_base canonical user addresses, and only the
// user-changeable flags change.
func checkRegs(old, n *arch.Registers) error {
	const taskSizeMax = (1 << 47) - 4096
	if n.Fs_base >= taskSizeMax || n.Gs_base >= taskSizeMax {
		return unix.EIO
	}
	for _, sel := range []uint64{n.Ds, n.Es, n.Fs, n.Gs} {
		if sel > 0xffff || (sel != 0 && sel&3 != 3) {
			return unix.EIO
		}
	}
	if n.Cs&3 != 3 || n.Ss&3 != 3 || n.Cs > 0xffff || n.Ss > 0xffff {
		return unix.EIO
	}
	n.Eflags = (old.Eflags &^ eflagsUser) | (n.Eflags & eflagsUser)
	// The platform runs 64-bit code with the sentry's selectors; the
	// tracer's values are kept for what it reads back.
	return nil
}

// pokeDebugReg writes debug register i. The sentry does not program
// hardware breakpoints into the platform: addresses (DR0-DR3) and DR6 are
// kept so that a debugger reads back what it wrote, but enabling a
// breakpoint in DR7 is refused with EIO, which debuggers report (gdb
// then uses software watchpoints) rather than silently losing it.
func pokeDebugReg(dr *[8]uint64, i int, v uint64) error {
	switch i {
	case 4, 5:
		return unix.EIO
	case 7:
		if v&0xff != 0 {
			return unix.EIO
		}
	}
	dr[i] = v
	return nil
}

// fxsaveArea returns b (a 512-byte FXSAVE area from a tracer) with the
// software-reserved bytes cleared, so that the platform does not take
// them for an XSAVE frame description.
func fxsaveArea(b []byte) []byte {
	out := append([]byte(nil), b...)
	for i := 464; i < 512 && i < len(out); i++ {
		out[i] = 0
	}
	return out
}

// ptraceRegset serves PTRACE_GETREGSET/SETREGSET: iov (data) describes
// the buffer; its length is updated to what was transferred.
func ptraceRegset(t *process.Thread, target *process.Thread, set bool, note, iovAddr uintptr) error {
	var iov [16]byte
	if _, err := t.CopyInBytes(hostarch.Addr(iovAddr), iov[:]); err != nil {
		return unix.EFAULT
	}
	base := uintptr(binary.LittleEndian.Uint64(iov[:8]))
	length := binary.LittleEndian.Uint64(iov[8:])
	var size int
	switch note {
	case linux.NT_PRSTATUS:
		size = userRegsSize
	case linux.NT_PRFPREG:
		size = fxsaveSize
	case linux.NT_X86_XSTATE:
		size = len(target.PtraceFPState())
		if size <= fxsaveSize {
			return unix.ENODEV
		}
	default:
		return unix.EINVAL
	}
	n := size
	if length < uint64(n) {
		n = int(length)
	}
	if set {
		if note == linux.NT_PRSTATUS && n < userRegsSize {
			// Linux writes the leading registers only; the
			// sentry takes whole words.
			n &^= 7
		}
		b := make([]byte, n)
		if _, err := t.CopyInBytes(hostarch.Addr(base), b); err != nil {
			return unix.EFAULT
		}
		switch note {
		case linux.NT_PRSTATUS:
			err := target.PtraceRegs(func(r *arch.Registers, _ *[8]uint64) error {
				full := regsBytes(r)
				copy(full, b)
				return setRegsBytes(r, full)
			})
			if err != nil {
				return err
			}
		case linux.NT_PRFPREG:
			if err := target.PtraceSetFPState(0, fxsaveArea(b)); err != nil {
				return err
			}
		case linux.NT_X86_XSTATE:
			if n < fxsaveSize {
				return unix.EINVAL
			}
			if err := target.PtraceSetFPState(0, b); err != nil {
				return err
			}
		}
	} else {
		var b []byte
		switch note {
		case linux.NT_PRSTATUS:
			target.PtraceRegs(func(r *arch.Registers, _ *[8]uint64) error {
				b = regsBytes(r)
				return nil
			})
		default:
			b = target.PtraceFPState()
			if len(b) < fxsaveSize {
				return unix.ENODEV
			}
		}
		if _, err := t.CopyOutBytes(hostarch.Addr(base), b[:n]); err != nil {
			return unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint64(iov[8:], uint64(n))
	if _, err := t.CopyOutBytes(hostarch.Addr(iovAddr+8), iov[8:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// ptraceArchPrctl is PTRACE_ARCH_PRCTL: arch_prctl's FS/GS base requests
// on the tracee (addr is the value or where to store it).
func ptraceArchPrctl(t *process.Thread, target *process.Thread, addr uintptr, code int) error {
	const (
		archSetGS = 0x1001
		archSetFS = 0x1002
		archGetFS = 0x1003
		archGetGS = 0x1004
	)
	var v uint64
	err := target.PtraceRegs(func(r *arch.Registers, _ *[8]uint64) error {
		n := *r
		switch code {
		case archSetFS:
			n.Fs_base = uint64(addr)
		case archSetGS:
			n.Gs_base = uint64(addr)
		case archGetFS:
			v = r.Fs_base
			return nil
		case archGetGS:
			v = r.Gs_base
			return nil
		default:
			return unix.EINVAL
		}
		if err := checkRegs(r, &n); err != nil {
			return unix.EPERM
		}
		*r = n
		return nil
	})
	if err != nil || (code != archGetFS && code != archGetGS) {
		return err
	}
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], v)
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), w[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// ptraceSyscallInfo is PTRACE_GET_SYSCALL_INFO: struct
// ptrace_syscall_info for the tracee's stop, at most size bytes of it
// copied to addr; it returns the full size.
func ptraceSyscallInfo(t *process.Thread, target *process.Thread, size, addr uintptr) (uintptr, error) {
	const (
		opNone    = 0
		opEntry   = 1
		opExit    = 2
		opSeccomp = 3
	)
	kind, data := target.PtraceStopKind()
	var r arch.Registers
	target.PtraceRegs(func(regs *arch.Registers, _ *[8]uint64) error {
		r = *regs
		return nil
	})
	b := make([]byte, 88)
	binary.LittleEndian.PutUint32(b[4:], auditArchX86_64)
	binary.LittleEndian.PutUint64(b[8:], r.Rip)
	binary.LittleEndian.PutUint64(b[16:], r.Rsp)
	n := 24
	switch kind {
	case process.PtraceStopSyscallEntry, process.PtraceStopSeccomp:
		b[0] = opEntry
		binary.LittleEndian.PutUint64(b[24:], r.Orig_rax)
		for i, v := range r.SyscallArgs() {
			binary.LittleEndian.PutUint64(b[32+8*i:], uint64(v))
		}
		n = 80
		if kind == process.PtraceStopSeccomp {
			b[0] = opSeccomp
			binary.LittleEndian.PutUint32(b[80:], uint32(data))
			n = 84
		}
	case process.PtraceStopSyscallExit:
		b[0] = opExit
		binary.LittleEndian.PutUint64(b[24:], r.Rax)
		if rv := int64(r.Rax); rv < 0 && rv >= -4095 {
			b[32] = 1
		}
		n = 33
	default:
		b[0] = opNone
	}
	c := n
	if size < uintptr(c) {
		c = int(size)
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), b[:c]); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(n), nil
}
