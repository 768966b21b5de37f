package process

import (
	"encoding/binary"

	"github.com/runsc-lite/runsc-lite/platform"
	"golang.org/x/sys/unix"
)

// The legacy vsyscall page and the legacy 32-bit syscall instructions.
//
// The sandbox emulates the vsyscall page as Linux's vsyscall=xonly does
// (the default of Linux since 5.18 and of the hosts this runs on): a call
// to one of its three entries — gettimeofday at +0, time at +0x400,
// getcpu at +0x800 — runs that syscall in the sentry and returns to the
// caller; reading the page, calling anywhere else in it, or passing a bad
// pointer gets the SIGSEGV Linux sends. Both platforms report a call into
// the page as an instruction fetch fault at the called address with rip
// there and the return address on the stack (the ptrace platform traps
// the host's own emulation with its stub's seccomp filter and undoes it).
//
// The sandbox serves the 64-bit syscall ABI only. int $0x80 (and
// sysenter, which AMD CPUs refuse in 64-bit mode with SIGILL and Intel's
// run) is answered as by a Linux without IA-32 emulation
// (ia32_emulation=0): the instruction raises a general protection fault,
// SIGSEGV with si_code SI_KERNEL, rip at the instruction.
const (
	vsyscallBase = 0xffffffffff600000
	vsyscallSize = 0x1000
	// siKernel is si_code SI_KERNEL.
	siKernel = 0x80
	// segvMapErr is si_code SEGV_MAPERR.
	segvMapErr = 1
)

// vsyscallNumbers are the syscalls behind the page's three entries.
var vsyscallNumbers = [3]uintptr{unix.SYS_GETTIMEOFDAY, unix.SYS_TIME, unix.SYS_GETCPU}

// emulateVsyscall serves st if it is a call into the vsyscall page
// (an instruction fetch at rip there) and reports whether it was one.
func (t *Thread) emulateVsyscall(st platform.Stop) bool {
	addr := uint64(st.Addr)
	if st.Signo != int(unix.SIGSEGV) || addr < vsyscallBase || addr >= vsyscallBase+vsyscallSize || t.Regs.Rip != addr {
		return false
	}
	off := addr - vsyscallBase
	if off&0x3ff != 0 || off/0x400 >= uint64(len(vsyscallNumbers)) {
		t.Log().Debugf("misaligned vsyscall call to %#x", addr)
		t.ForceSignal(int(unix.SIGSEGV), siKernel, 0)
		return true
	}
	m := t.MM()
	var ret [8]byte
	if _, err := m.CopyIn(uintptr(t.Regs.Rsp), ret[:]); err != nil {
		t.ForceSignal(int(unix.SIGSEGV), siKernel, 0)
		return true
	}
	sysno := vsyscallNumbers[off/0x400]
	// Linux checks only that the output pointers are in the user range
	// (a NULL one is fine: the syscall ignores it) and sends SIGSEGV at
	// the first that is not, without running the call.
	type out struct {
		ptr  uint64
		size uint64
	}
	var outs []out
	switch sysno {
	case unix.SYS_GETTIMEOFDAY:
		outs = []out{{t.Regs.Rdi, 16}, {t.Regs.Rsi, 8}}
	case unix.SYS_TIME:
		outs = []out{{t.Regs.Rdi, 8}}
	case unix.SYS_GETCPU:
		outs = []out{{t.Regs.Rdi, 4}, {t.Regs.Rsi, 4}}
	}
	max := uint64(m.MaxUserAddress())
	for _, o := range outs {
		if o.ptr+o.size > max || o.ptr+o.size < o.ptr {
			t.ForceSignal(int(unix.SIGSEGV), segvMapErr, uintptr(o.ptr))
			return true
		}
	}
	t.Regs.Orig_rax = uint64(sysno)
	t.S.Syscalls.Dispatch(t)
	t.Regs.Orig_rax = ^uint64(0)
	if t.Exiting() {
		return true
	}
	if int64(t.Regs.Rax) == -int64(unix.EFAULT) {
		// A pointer in range but not mapped: Linux does not return
		// to the caller and sends SIGSEGV.
		t.ForceSignal(int(unix.SIGSEGV), siKernel, 0)
		return true
	}
	// The entry's ret.
	t.Regs.Rip = binary.LittleEndian.Uint64(ret[:])
	t.Regs.Rsp += 8
	return true
}

// refuseSyscall32 answers a syscall made by int $0x80 or sysenter: the
// general protection fault of a kernel without IA-32 emulation, at the
// instruction, with the program's registers as they were before it.
func (t *Thread) refuseSyscall32() {
	t.Log().Debugf("32-bit syscall %d (int $0x80 or sysenter) at rip %#x: SIGSEGV", t.Regs.Orig_rax, t.Regs.Rip-2)
	t.Regs.Rax = t.Regs.Orig_rax
	t.Regs.Orig_rax = ^uint64(0)
	t.Regs.Rip -= 2
	t.ForceSignal(int(unix.SIGSEGV), siKernel, 0)
}
