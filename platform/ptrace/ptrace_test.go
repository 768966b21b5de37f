package ptrace

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

func TestName(t *testing.T) {
	e := newEnv(t)
	if got := e.p.Name(); got != "ptrace" {
		t.Errorf("Name() = %q", got)
	}
	if got := e.p.MaxUserAddress(); got != maxUserAddress || got >= stubBase {
		t.Errorf("MaxUserAddress() = %#x", got)
	}
}

func TestSyscallRoundTrip(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(
		insnGetpid, insnSyscall, // +0: getpid
		insnRaxRbx,            // +7: rbx = the sentry's return value
		insnExit, insnSyscall, // +10: exit
		insnJmpSelf,
	))
	regs.Rdi = 0x1122334455667788
	regs.R15 = 0xfeedface

	stop := e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rip != codeAddr+7 {
		t.Errorf("rip = %#x, want %#x", regs.Rip, codeAddr+7)
	}
	if regs.Rdi != 0x1122334455667788 || regs.R15 != 0xfeedface {
		t.Errorf("rdi = %#x, r15 = %#x: not preserved", regs.Rdi, regs.R15)
	}
	if regs.Rsp != stackTop {
		t.Errorf("rsp = %#x, want %#x", regs.Rsp, stackTop)
	}
	if int64(regs.Rax) != -int64(unix.ENOSYS) {
		t.Errorf("rax at the syscall stop = %#x, want -ENOSYS", regs.Rax)
	}

	regs.SetReturn(0xabcdef)
	stop = e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_EXIT)
	if regs.Rbx != 0xabcdef {
		t.Errorf("rbx = %#x, want the return value 0xabcdef", regs.Rbx)
	}
	if regs.Rdi != 0x1122334455667788 {
		t.Errorf("rdi = %#x: not preserved", regs.Rdi)
	}
}

func TestGarbageSyscallNumbers(t *testing.T) {
	e := newEnv(t)
	// mov %rdi,%rax; syscall; jmp back.
	regs := e.loadCode([]byte{0x48, 0x89, 0xf8, 0x0f, 0x05, 0xeb, 0xf9})
	for _, nr := range []uint64{0xdeadbeef, 1 << 40, ^uint64(0), 0x40000000 | 1, 100000} {
		regs.Rdi = nr
		regs.Rip = codeAddr
		stop := e.switchTo(&regs)
		if stop.Kind != platform.StopSyscall || regs.Orig_rax != nr {
			t.Errorf("syscall %#x: stop %+v orig_rax %#x", nr, stop, regs.Orig_rax)
		}
	}
}

func TestTLS(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnFsLoad, insnGetpid, insnSyscall))
	var val [8]byte
	binary.LittleEndian.PutUint64(val[:], 0x5eed)
	e.mapBytes(dataAddr, val[:], hostarch.Read)
	regs.Fs_base = dataAddr
	stop := e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x5eed || regs.Fs_base != dataAddr {
		t.Errorf("rbx = %#x, fs_base = %#x", regs.Rbx, regs.Fs_base)
	}
}

func TestFaultThenMap(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(loadRbx(dataAddr+8), insnGetpid, insnSyscall))

	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != dataAddr+8 || stop.Code != segvMapErr {
		t.Fatalf("stop = %+v, want a SIGSEGV MAPERR at %#x", stop, dataAddr+8)
	}
	if stop.Access != hostarch.Read {
		t.Errorf("access = %v, want Read", stop.Access)
	}
	if regs.Rip != codeAddr {
		t.Errorf("rip = %#x, want the faulting instruction %#x", regs.Rip, codeAddr)
	}

	var val [16]byte
	binary.LittleEndian.PutUint64(val[8:], 0x0123456789)
	e.mapBytes(dataAddr, val[:], hostarch.Read)
	stop = e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x0123456789 {
		t.Errorf("rbx = %#x, want the value in the page", regs.Rbx)
	}
}

func TestWriteToReadOnly(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(storeImm(dataAddr+16, 0x42), insnGetpid, insnSyscall))
	fr := e.mapBytes(dataAddr, nil, hostarch.Read)

	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != dataAddr+16 || stop.Code != segvAccErr {
		t.Fatalf("stop = %+v, want a SIGSEGV ACCERR at %#x", stop, dataAddr+16)
	}
	if stop.Access != hostarch.Write {
		t.Errorf("access = %v, want Write", stop.Access)
	}
	if err := e.as.MapFile(dataAddr, fr, hostarch.ReadWrite); err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	stop = e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if got := binary.LittleEndian.Uint64(e.mf.Slice(fr)[16:]); got != 0x42 {
		t.Errorf("memory = %#x, want 0x42", got)
	}
}

func TestExecuteFault(t *testing.T) {
	e := newEnv(t)
	// Jump to an unmapped page, then to a mapped non-executable one.
	regs := e.loadCode(cat(movabsRax(dataAddr), insnCallRax))
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != dataAddr || stop.Access != hostarch.Execute || regs.Rip != dataAddr {
		t.Fatalf("stop = %+v rip %#x, want an execute fault at %#x", stop, regs.Rip, dataAddr)
	}
	fr := e.mapBytes(dataAddr, cat(insnGetpid, insnSyscall), hostarch.Read)
	stop = e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Code != segvAccErr || stop.Access != hostarch.Execute {
		t.Fatalf("stop = %+v, want an execute ACCERR", stop)
	}
	if err := e.as.MapFile(dataAddr, fr, hostarch.ReadExecute); err != nil {
		t.Fatal(err)
	}
	stop = e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
}

func TestUnmap(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(loadRbx(dataAddr), insnGetpid, insnSyscall))
	e.mapBytes(dataAddr, []byte{7}, hostarch.Read)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 7 {
		t.Fatalf("rbx = %d", regs.Rbx)
	}
	e.as.Unmap(dataAddr, pageSize)
	regs.Rip = codeAddr
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != dataAddr {
		t.Fatalf("after Unmap: stop = %+v", stop)
	}
	// Unmapping what is not mapped is fine.
	e.as.Unmap(0x10000000, 16*pageSize)
}

func TestMapFileChecks(t *testing.T) {
	e := newEnv(t)
	fr, err := e.mf.Allocate(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []uintptr{0, 123, maxUserAddress, stubBase, stubScratch, maxUserAddress - pageSize/2} {
		if err := e.as.MapFile(addr, fr, hostarch.Read); err == nil {
			t.Errorf("MapFile(%#x) succeeded", addr)
		}
	}
	if err := e.as.MapFile(maxUserAddress-pageSize, fr, hostarch.Read); err != nil {
		t.Errorf("MapFile of the last page: %v", err)
	}
	if err := e.as.MapFile(codeAddr, fr, hostarch.NoAccess); err == nil {
		t.Errorf("MapFile with no access succeeded")
	}
}

func TestSynchronousSignals(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		code  []byte
		signo unix.Signal
		code2 int32
		addr  uintptr // 1: the faulting rip
	}{
		{"int3", insnInt3, unix.SIGTRAP, siKernel, 0},
		{"ud2", insnUd2, unix.SIGILL, 2 /* ILL_ILLOPN */, 1},
		{"hlt", insnHlt, unix.SIGSEGV, siKernel, 0},
		{"div0", insnDiv0, unix.SIGFPE, 1 /* FPE_INTDIV */, 1},
	} {
		func() {
			t.Logf("%s", tc.name)
			fr := e.mapBytes(codeAddr, tc.code, hostarch.ReadExecute)
			defer e.mf.DecRef(fr)
			regs := arch.NewInitialRegisters(codeAddr, stackTop)
			stop := e.switchTo(&regs)
			if stop.Kind != platform.StopFault || stop.Signo != int(tc.signo) || stop.Code != tc.code2 {
				t.Fatalf("%s: stop = %+v, want signal %v code %#x", tc.name, stop, tc.signo, tc.code2)
			}
			if tc.addr == 1 && stop.Addr != uintptr(regs.Rip) {
				t.Errorf("addr = %#x, rip = %#x", stop.Addr, regs.Rip)
			}
			// The context still works.
			e.mapBytes(dataAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
			regs.Rip = dataAddr
			wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
		}()
	}
}

func TestBadRegisters(t *testing.T) {
	e := newEnv(t)
	good := e.loadCode(cat(insnGetpid, insnSyscall))
	for _, tc := range []struct {
		name string
		mod  func(*arch.Registers)
	}{
		{"noncanonical rip", func(r *arch.Registers) { r.Rip = 0x800000000000 }},
		{"kernel rip", func(r *arch.Registers) { r.Rip = 0xffffffff81000000 }},
		{"stub rip", func(r *arch.Registers) { r.Rip = stubSyscall }},
		{"noncanonical fs_base", func(r *arch.Registers) { r.Fs_base = 0x8000000000000000 }},
		{"noncanonical gs_base", func(r *arch.Registers) { r.Gs_base = 0x0000900000000000 }},
		{"bad segments", func(r *arch.Registers) { r.Cs, r.Ss, r.Fs, r.Gs = 0x23, 0, 0x1234, 0xffff }},
		{"all ones", func(r *arch.Registers) {
			r.Rax, r.Rsp, r.Eflags, r.Orig_rax = ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)
		}},
		{"trap flag", func(r *arch.Registers) { r.Eflags |= 0x100 }},
	} {
		func() {
			regs := good
			tc.mod(&regs)
			stop, err := e.ctx.Switch(e.as, &regs)
			if err != nil {
				t.Fatalf("%s: Switch: %v", tc.name, err)
			}
			t.Logf("%s: stop %+v", tc.name, stop)
			if tc.name == "stub rip" {
				// The stub's syscall instruction is not in the
				// application's address space: a fetch fault.
				if stop.Kind != platform.StopFault || stop.Addr != stubSyscall {
					t.Errorf("%s: stop = %+v, want a fault at %#x", tc.name, stop, uint64(stubSyscall))
				}
			} else if tc.name != "trap flag" && tc.name != "bad segments" && stop.Kind != platform.StopFault {
				t.Errorf("%s: stop = %+v, want a fault", tc.name, stop)
			}
			// The context still works.
			regs = good
			wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
		}()
	}
}

func TestVsyscall(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(movabsRax(vsyscallBase), insnCallRax))
	stop := e.switchTo(&regs)
	t.Logf("stop %+v rip %#x rsp %#x", stop, regs.Rip, regs.Rsp)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != vsyscallBase {
		t.Fatalf("stop = %+v, want SIGSEGV at the vsyscall page", stop)
	}
	if regs.Rip != vsyscallBase || regs.Rsp != stackTop-8 {
		t.Errorf("rip %#x rsp %#x, want %#x %#x", regs.Rip, regs.Rsp, uint64(vsyscallBase), stackTop-8)
	}
	// The context still works.
	regs = arch.NewInitialRegisters(codeAddr, stackTop)
	e.mapBytes(codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

// TestInt80: int $0x80 is reported as a 32-bit syscall (the sentry does
// not serve the i386 ABI), with rip after it; a syscall instruction whose
// rcx the program set to anything is still a 64-bit one.
func TestInt80(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(
		[]byte{0xb8, 0x14, 0, 0, 0}, insnInt80, // +0: mov $20,%eax (i386 getpid); int $0x80
		insnGetpid, insnSyscall, // +7
	))
	regs.Rcx = 0x1234
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopSyscall || !stop.Syscall32 || regs.Orig_rax != 20 {
		t.Fatalf("int $0x80: stop %+v orig_rax %d, want a 32-bit syscall 20", stop, regs.Orig_rax)
	}
	if regs.Rip != codeAddr+7 {
		t.Errorf("rip %#x after int $0x80, want %#x", regs.Rip, codeAddr+7)
	}
	regs.SetReturn(0)
	regs.Rcx = 0x1234
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

// TestStubPageJump: the application calling the stub's syscall
// instruction or its int3 gets an instruction fetch fault there, as if
// nothing were mapped (nothing is, in the application's address space),
// and the stub still works.
func TestStubPageJump(t *testing.T) {
	e := newEnv(t)
	for _, target := range []uint64{stubSyscall, stubEntry, stubSyscallReturn} {
		regs := e.loadCode(cat(movabsRax(target), insnCallRax))
		stop := e.switchTo(&regs)
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Code != segvMapErr ||
			stop.Addr != uintptr(target) || stop.Access != hostarch.Execute {
			t.Errorf("call %#x: stop %+v, want SIGSEGV MAPERR execute at %#x", target, stop, target)
		}
		if regs.Rip != target || regs.Rsp != stackTop-8 {
			t.Errorf("call %#x: rip %#x rsp %#x, want %#x %#x", target, regs.Rip, regs.Rsp, target, stackTop-8)
		}
		if regs.Rax != target {
			t.Errorf("call %#x: rax %#x, want the program's own (the target)", target, regs.Rax)
		}
	}
	regs := arch.NewInitialRegisters(codeAddr, stackTop)
	e.mapBytes(codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

func TestStubMaps(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	st := e.ctx.lastThread
	for _, pid := range []int32{e.as.pid, st.tid} {
		maps := readMaps(t, pid)
		t.Logf("/proc/%d/maps:\n%s", pid, maps)
		for _, bad := range []string{"[vdso]", "[vvar]", "[stack]", "[heap]", "[vvar_vclock]"} {
			if strings.Contains(maps, bad) {
				t.Errorf("stub %d has %s mapped", pid, bad)
			}
		}
		var n int
		for _, l := range strings.Split(strings.TrimSpace(maps), "\n") {
			f := strings.Fields(l)
			switch {
			case strings.HasPrefix(l, "7fffff000000-7fffff001000 r-xp"):
			case strings.HasPrefix(l, "00400000-00401000 r-xs"), strings.HasPrefix(l, "007ff000-00800000 rw-s"):
			case len(f) == 6 && f[5] == "[vsyscall]":
			default:
				t.Errorf("stub %d: unexpected mapping %q", pid, l)
			}
			n++
		}
		if got := procStatus(t, pid, "Seccomp"); got != "2" {
			t.Errorf("stub %d: Seccomp: %s, want 2", pid, got)
		}
		if got := procStatus(t, pid, "NoNewPrivs"); got != "1" {
			t.Errorf("stub %d: NoNewPrivs: %s, want 1", pid, got)
		}
		fds, err := readDir("/proc/" + itoa(pid) + "/fd")
		if err != nil || len(fds) != 1 || fds[0] != "0" {
			t.Errorf("stub %d: fds %v (%v), want just 0", pid, fds, err)
		}
	}
}

func TestSeccompKillsStraySyscall(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall, insnJmpSelf))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	st := e.ctx.lastThread

	// Run the application's syscall instruction with PTRACE_CONT rather
	// than PTRACE_SYSEMU: the syscall reaches seccomp, from an
	// instruction pointer that is not the stub's.
	regs.Rip = codeAddr
	regs.Orig_rax = ^uint64(0)
	if e := ptraceSetRegs(st.tid, &regs); e != 0 {
		t.Fatalf("PTRACE_SETREGS: %v", e)
	}
	if e := ptraceResume(unix.PTRACE_CONT, st.tid); e != 0 {
		t.Fatalf("PTRACE_CONT: %v", e)
	}
	var status waitStatus
	if e := wait4(st.tid, &status, unix.WALL); e != 0 {
		t.Fatalf("wait4: %v", e)
	}
	ws := unix.WaitStatus(status)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("status %#x: want killed by SIGSYS", uint32(status))
	}

	// The task is dead; the address space is not.
	regs.Rip = codeAddr
	if _, err := e.ctx.Switch(e.as, &regs); !isContextDead(err) {
		t.Errorf("Switch after the kill: %v, want ErrContextDead", err)
	}
	if err := e.as.MapFile(dataAddr, mustAlloc(t, e), hostarch.Read); err != nil {
		t.Errorf("MapFile after the kill: %v", err)
	}
	// A new context works.
	c2, _ := e.p.NewContext()
	defer c2.Release()
	regs.Rip = codeAddr
	stop, err := c2.Switch(e.as, &regs)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
}

func TestStubName(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	for _, pid := range []int32{e.as.pid, e.ctx.lastThread.tid} {
		if got := procStatus(t, pid, "Name"); got != stubName {
			t.Errorf("stub %d is called %q", pid, got)
		}
		// Every signal unblocked, so the interrupt signal and
		// faults always get through.
		if got := procStatus(t, pid, "SigBlk"); got != "0000000000000000" {
			t.Errorf("stub %d blocks signals %s", pid, got)
		}
	}
}

// TestStubNoCapabilities: the zygote, an address space's stub and a stub
// thread have empty capability sets (even when the sentry runs as root
// with every capability), no_new_privs and the seccomp filter. Escaped
// would be any capability bit set in a process running application code.
func TestStubNoCapabilities(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	for _, pid := range []int32{e.p.zygote.pid, e.as.pid, e.ctx.lastThread.tid} {
		for _, f := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if got := procStatus(t, pid, f); got != "0000000000000000" {
				t.Errorf("stub %d: %s: %s, want none", pid, f, got)
			}
		}
		if got := procStatus(t, pid, "Seccomp"); got != "2" {
			t.Errorf("stub %d: Seccomp: %s, want 2", pid, got)
		}
		if got := procStatus(t, pid, "NoNewPrivs"); got != "1" {
			t.Errorf("stub %d: NoNewPrivs: %s, want 1", pid, got)
		}
	}
}

// TestStubsForkedFromZygote: an address space's stub is a process of its
// own, not the zygote, and a child of the sentry (CLONE_PARENT), so the
// sentry reaps it. (That no stub is exec'd after New is shown by the
// confined sandbox, which has no /proc to exec through: test/.)
func TestStubsForkedFromZygote(t *testing.T) {
	e := newEnv(t)
	if got := procStatus(t, e.as.pid, "PPid"); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("stub %d: PPid %s, want the sentry %d", e.as.pid, got, os.Getpid())
	}
	if e.as.pid == e.p.zygote.pid {
		t.Fatalf("the address space runs in the zygote itself")
	}
}

// TestZygoteKilled: the zygote killed from the host (kill -9 of a stub
// PID) costs nothing but itself: new address spaces are forked from a
// live address space's stub, emptied of its application's mappings.
// Failed would be NewAddressSpace failing, or the new address space
// seeing the old one's code.
func TestZygoteKilled(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	if err := unix.Kill(int(e.p.zygote.pid), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pas, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace with the zygote dead: %v", err)
	}
	defer pas.Release()
	c, _ := e.p.NewContext()
	defer c.Release()
	// The old address space's code is not mapped in the new one.
	regs := arch.NewInitialRegisters(codeAddr, 0)
	stop, err := c.Switch(pas, &regs)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != platform.StopFault || stop.Addr != codeAddr {
		t.Fatalf("stop %+v in a fresh address space, want a fault at %#x", stop, codeAddr)
	}
	mapBytesIn(t, e.mf, pas, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	regs = arch.NewInitialRegisters(codeAddr, 0)
	stop, err = c.Switch(pas, &regs)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
}
