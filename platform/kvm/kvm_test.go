package kvm

// Tests that need a standard KVM (they skip elsewhere; test/kvm/run.sh
// runs them inside a QEMU guest that has one).

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

func TestName(t *testing.T) {
	e := newEnv(t)
	if got := e.p.Name(); got != "kvm" {
		t.Errorf("Name() = %q", got)
	}
	if got := e.p.MaxUserAddress(); got != maxUserAddress {
		t.Errorf("MaxUserAddress() = %#x", got)
	}
	t.Logf("sync regs %v, max vCPUs %d, features %+v", e.p.sync, e.p.maxVCPUs, e.p.features)
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
	regs.Rcx = 0x5555 // clobbered by syscall
	regs.Rbp, regs.R8, regs.R12 = 1, 2, 3

	stop := e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rip != codeAddr+7 {
		t.Errorf("rip = %#x, want %#x", regs.Rip, codeAddr+7)
	}
	if regs.Rdi != 0x1122334455667788 || regs.R15 != 0xfeedface || regs.Rbp != 1 || regs.R8 != 2 || regs.R12 != 3 {
		t.Errorf("rdi %#x r15 %#x rbp %d r8 %d r12 %d: not preserved", regs.Rdi, regs.R15, regs.Rbp, regs.R8, regs.R12)
	}
	if regs.Rsp != stackTop {
		t.Errorf("rsp = %#x, want %#x", regs.Rsp, stackTop)
	}
	if int64(regs.Rax) != -int64(unix.ENOSYS) {
		t.Errorf("rax at the syscall stop = %#x, want -ENOSYS", regs.Rax)
	}
	// As on Linux: the syscall instruction left rip in rcx and rflags in
	// r11.
	if regs.Rcx != regs.Rip || regs.R11 != regs.Eflags {
		t.Errorf("rcx %#x r11 %#x, want rip %#x and rflags %#x", regs.Rcx, regs.R11, regs.Rip, regs.Eflags)
	}
	if regs.Eflags&flagIF == 0 || regs.Eflags&0x3000 != 0 {
		t.Errorf("rflags %#x: want IF set, IOPL 0", regs.Eflags)
	}
	if regs.Cs != userCS || regs.Ss != userSS {
		t.Errorf("cs %#x ss %#x", regs.Cs, regs.Ss)
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

// TestAllRegisters sets every general register, runs a syscall and checks
// them all (the sentry's registers must round-trip through the guest).
func TestAllRegisters(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnSyscall, insnSyscall))
	vals := []*uint64{&regs.Rbx, &regs.Rdx, &regs.Rsi, &regs.Rdi, &regs.Rbp,
		&regs.R8, &regs.R9, &regs.R10, &regs.R12, &regs.R13, &regs.R14, &regs.R15}
	for i, p := range vals {
		*p = 0x0101010101010101 * uint64(i+1)
	}
	regs.Rax = 12345
	regs.Eflags = arch.UserFlags | 0x1 | 0x40 | 0x400 // CF, ZF, DF
	stop := e.switchTo(&regs)
	wantSyscall(t, stop, &regs, 12345)
	for i, p := range vals {
		if *p != 0x0101010101010101*uint64(i+1) {
			t.Errorf("register %d = %#x", i, *p)
		}
	}
	if regs.Eflags&0x441 != 0x441 {
		t.Errorf("rflags %#x lost CF, ZF or DF", regs.Eflags)
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

func TestInt80(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnInt80, insnRaxRbx, insnInt80))
	stop := e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if !stop.Syscall32 {
		t.Errorf("int $0x80 not reported as a 32-bit syscall: %+v", stop)
	}
	if regs.Rip != codeAddr+7 {
		t.Errorf("rip %#x after int $0x80", regs.Rip)
	}
	regs.SetReturn(77)
	e.switchTo(&regs)
	if regs.Rbx != 77 {
		t.Errorf("rbx %d", regs.Rbx)
	}
}

func TestTLS(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnFsLoad, insnGetpid, insnSyscall,
		// mov %gs:8,%rcx... use rdx: 65 48 8b 14 25 08 00 00 00
		[]byte{0x65, 0x48, 0x8b, 0x14, 0x25, 8, 0, 0, 0}, insnGetpid, insnSyscall))
	var val [16]byte
	binary.LittleEndian.PutUint64(val[:], 0x5eed)
	binary.LittleEndian.PutUint64(val[8:], 0x6eed)
	e.mapBytes(dataAddr, val[:], hostarch.Read)
	regs.Fs_base = dataAddr
	regs.Gs_base = dataAddr
	stop := e.switchTo(&regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x5eed || regs.Fs_base != dataAddr {
		t.Errorf("rbx = %#x, fs_base = %#x", regs.Rbx, regs.Fs_base)
	}
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rdx != 0x6eed {
		t.Errorf("rdx = %#x through gs", regs.Rdx)
	}
	// A new base takes effect at the next Switch.
	regs.Rip = codeAddr
	regs.Fs_base = dataAddr + 8
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x6eed {
		t.Errorf("rbx = %#x with the new fs_base", regs.Rbx)
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

func TestWriteFaults(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(storeImm(dataAddr+16, 0x42), insnGetpid, insnSyscall))
	// Unmapped: a write MAPERR (KVM knows the access, ptrace does not).
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Code != segvMapErr || stop.Access != hostarch.Write || stop.Addr != dataAddr+16 {
		t.Fatalf("stop = %+v, want a write MAPERR at %#x", stop, dataAddr+16)
	}
	// Read-only: a write ACCERR.
	fr := e.mapBytes(dataAddr, nil, hostarch.Read)
	stop = e.switchTo(&regs)
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
	// Read-only again (a narrowing: the TLB must forget the writable
	// entry).
	if err := e.as.MapFile(dataAddr, fr, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	regs.Rip = codeAddr
	stop = e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Code != segvAccErr || stop.Access != hostarch.Write {
		t.Fatalf("after narrowing: stop = %+v, want a write ACCERR", stop)
	}
}

func TestExecuteFault(t *testing.T) {
	e := newEnv(t)
	// Jump to an unmapped page, then to a mapped non-executable one.
	regs := e.loadCode(cat(movabsRax(dataAddr), insnCallRax))
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != dataAddr || stop.Access != hostarch.Execute || regs.Rip != dataAddr || stop.Code != segvMapErr {
		t.Fatalf("stop = %+v rip %#x, want an execute MAPERR at %#x", stop, regs.Rip, dataAddr)
	}
	if regs.Rsp != stackTop-8 {
		t.Errorf("rsp %#x, want the call's push", regs.Rsp)
	}
	fr := e.mapBytes(dataAddr, cat(insnGetpid, insnSyscall), hostarch.ReadWrite)
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
	e.as.Unmap(pageSize, maxUserAddress-pageSize)
}

// TestRemap points a page at another frame between two runs: the vCPU
// must not use its cached translation.
func TestRemap(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(loadRbx(dataAddr), insnGetpid, insnSyscall, []byte{0xeb, 0xef}))
	e.mapBytes(dataAddr, []byte{1}, hostarch.Read)
	for i := byte(2); i < 20; i++ {
		wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
		if regs.Rbx != uint64(i-1) {
			t.Fatalf("round %d: rbx = %d", i, regs.Rbx)
		}
		e.mapBytes(dataAddr, []byte{i}, hostarch.Read)
	}
}

func TestMapFileChecks(t *testing.T) {
	e := newEnv(t)
	fr, err := e.mf.Allocate(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []uintptr{0, 123, maxUserAddress, maxUserAddress - pageSize/2, 1 << 47} {
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
	bad := fr
	bad.End = e.mf.Size() + pageSize
	bad.Start = e.mf.Size()
	if err := e.as.MapFile(codeAddr, bad, hostarch.Read); err == nil {
		t.Errorf("MapFile beyond the memory file succeeded")
	}
	// The last page is usable.
	regs := e.loadCode(cat(movabsRax(maxUserAddress-pageSize+8), []byte{0x48, 0x8b, 0x18}, insnGetpid, insnSyscall))
	copy(e.mf.Slice(fr)[8:], []byte{0x99})
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x99 {
		t.Errorf("rbx %#x from the last page", regs.Rbx)
	}
}

// TestSynchronousSignals checks the exceptions an application can raise
// and that privileged instructions fault as on Linux and never reach the
// host.
func TestSynchronousSignals(t *testing.T) {
	e := newEnv(t)
	const (
		atRip = 1 // Addr is the faulting rip
		atPC  = 2 // rip is after the instruction (a trap)
	)
	for _, tc := range []struct {
		name  string
		code  []byte
		signo unix.Signal
		code2 int32
		addr  int
	}{
		{"int3", insnInt3, unix.SIGTRAP, siKernel, atPC},
		{"ud2", insnUd2, unix.SIGILL, illIllOpn, atRip},
		{"div0", insnDiv0, unix.SIGFPE, fpeIntDiv, atRip},
		{"hlt", insnHlt, unix.SIGSEGV, siKernel, 0},
		{"cli", insnCli, unix.SIGSEGV, siKernel, 0},
		{"sti", []byte{0xfb}, unix.SIGSEGV, siKernel, 0},
		{"out", insnOut, unix.SIGSEGV, siKernel, 0},
		{"in", []byte{0xe4, 0x80}, unix.SIGSEGV, siKernel, 0},
		{"outsb", []byte{0x6e}, unix.SIGSEGV, siKernel, 0},
		{"wrmsr", insnWrmsr, unix.SIGSEGV, siKernel, 0},
		{"rdmsr", []byte{0x0f, 0x32}, unix.SIGSEGV, siKernel, 0},
		{"lgdt", insnLgdt, unix.SIGSEGV, siKernel, 0},
		{"lidt", []byte{0x0f, 0x01, 0x1c, 0x24}, unix.SIGSEGV, siKernel, 0},
		{"ltr", []byte{0x0f, 0x00, 0xd8}, unix.SIGSEGV, siKernel, 0},
		{"mov cr3", []byte{0x0f, 0x22, 0xd8}, unix.SIGSEGV, siKernel, 0},
		{"read cr3", []byte{0x0f, 0x20, 0xd8}, unix.SIGSEGV, siKernel, 0},
		{"mov dr7", []byte{0x0f, 0x23, 0xf8}, unix.SIGSEGV, siKernel, 0},
		{"clts", []byte{0x0f, 0x06}, unix.SIGSEGV, siKernel, 0},
		{"wbinvd", []byte{0x0f, 0x09}, unix.SIGSEGV, siKernel, 0},
		{"invlpg", []byte{0x0f, 0x01, 0x38}, unix.SIGSEGV, siKernel, 0},
		{"swapgs", []byte{0x0f, 0x01, 0xf8}, unix.SIGSEGV, siKernel, 0},
		{"sysretq", []byte{0x48, 0x0f, 0x07}, unix.SIGSEGV, siKernel, 0},
		{"int $0x81", []byte{0xcd, 0x81}, unix.SIGSEGV, siKernel, 0},
		{"int $2", []byte{0xcd, 0x02}, unix.SIGSEGV, siKernel, 0},
		{"int $14", []byte{0xcd, 0x0e}, unix.SIGSEGV, siKernel, 0},
		{"non-canonical load", loadRbxAbs(0x0000800000000000), unix.SIGSEGV, siKernel, 0},
		// #SS (SIGBUS) on hardware; QEMU's emulation raises #GP
		// (SIGSEGV) instead: both are accepted below.
		{"non-canonical stack", []byte{0x48, 0xbc, 0x10, 0, 0, 0, 0, 0x80, 0, 0, 0x50}, unix.SIGBUS, siKernel, 0},
	} {
		func() {
			fr := e.mapBytes(codeAddr, tc.code, hostarch.ReadExecute)
			defer e.mf.DecRef(fr)
			regs := arch.NewInitialRegisters(codeAddr, stackTop)
			stop := e.switchTo(&regs)
			if tc.name == "non-canonical stack" && stop.Signo == int(unix.SIGSEGV) {
				stop.Signo = int(unix.SIGBUS)
			}
			if stop.Kind != platform.StopFault || stop.Signo != int(tc.signo) || stop.Code != tc.code2 {
				t.Errorf("%s: stop = %+v at rip %#x, want signal %v code %#x", tc.name, stop, regs.Rip, tc.signo, tc.code2)
				return
			}
			switch tc.addr {
			case atRip:
				if stop.Addr != uintptr(regs.Rip) || regs.Rip < codeAddr || regs.Rip >= codeAddr+uint64(len(tc.code)) {
					t.Errorf("%s: addr = %#x, rip = %#x", tc.name, stop.Addr, regs.Rip)
				}
			case atPC:
				if regs.Rip != codeAddr+uint64(len(tc.code)) {
					t.Errorf("%s: rip = %#x after the trap", tc.name, regs.Rip)
				}
			default:
				if stop.Addr != 0 {
					t.Errorf("%s: addr %#x, want 0", tc.name, stop.Addr)
				}
			}
			// The context still works.
			e.mapBytes(dataAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
			regs.Rip = dataAddr
			regs.Rsp = stackTop
			wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
		}()
	}
}

// TestFloatingPointExceptions unmasks x87 and SSE exceptions and divides
// by zero.
func TestFloatingPointExceptions(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(stackAddr, nil, hostarch.ReadWrite)
	for _, tc := range []struct {
		name string
		code []byte
	}{
		// SSE: ldmxcsr of 0x1f80 &^ ZM (0x200); pxor xmm1; mov $1 → xmm0
		// (cvtsi2sd); divsd %xmm1,%xmm0.
		{"sse", cat(
			[]byte{0xc7, 0x44, 0x24, 0xf8, 0x80, 0x1d, 0, 0}, // movl $0x1d80,-8(%rsp)
			[]byte{0x0f, 0xae, 0x54, 0x24, 0xf8},             // ldmxcsr -8(%rsp)
			[]byte{0x66, 0x0f, 0xef, 0xc9},                   // pxor %xmm1,%xmm1
			[]byte{0xb8, 1, 0, 0, 0},                         // mov $1,%eax
			[]byte{0xf2, 0x0f, 0x2a, 0xc0},                   // cvtsi2sd %eax,%xmm0
			[]byte{0xf2, 0x0f, 0x5e, 0xc1},                   // divsd %xmm1,%xmm0
			insnGetpid, insnSyscall,
		)},
		// x87: fldcw with ZM clear; fld1; fldz; fdivrp; fwait.
		{"x87", cat(
			[]byte{0x66, 0xc7, 0x44, 0x24, 0xf8, 0x7b, 0x03}, // movw $0x37b,-8(%rsp)
			[]byte{0xd9, 0x6c, 0x24, 0xf8},                   // fldcw -8(%rsp)
			[]byte{0xd9, 0xe8},                               // fld1
			[]byte{0xd9, 0xee},                               // fldz
			[]byte{0xde, 0xf9},                               // fdivrp (1/0)
			[]byte{0x9b},                                     // fwait
			insnGetpid, insnSyscall,
		)},
	} {
		// A fresh context each time, so the FPU starts clean.
		c, err := e.p.NewContext()
		if err != nil {
			t.Fatal(err)
		}
		fr := e.mapBytes(codeAddr, tc.code, hostarch.ReadExecute)
		regs := arch.NewInitialRegisters(codeAddr, stackTop)
		stop, err := c.Switch(e.as, &regs)
		c.Release()
		e.mf.DecRef(fr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.name == "sse" && stop.Kind == platform.StopSyscall {
			// QEMU's software emulation never raises SIMD
			// floating-point exceptions.
			t.Logf("%s: no exception raised: this CPU (emulator) does not trap unmasked SIMD exceptions", tc.name)
			continue
		}
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGFPE) || stop.Code != fpeFltDiv {
			t.Errorf("%s: stop = %+v at rip %#x, want SIGFPE FPE_FLTDIV", tc.name, stop, regs.Rip)
		}
	}
}

// TestIsolation probes the guest's address space from ring 3: nothing but
// the application's own pages is reachable, not the ring-0 pages, not the
// vsyscall page, not guest-physical addresses, not anything beyond the
// application's range.
func TestIsolation(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(stackAddr, nil, hostarch.ReadWrite)
	v := e.vcpu()
	probes := []uint64{
		codeVA, codeVA + syscallOff, gdtVA, idtVA, vcpuMainVA(v.id), vcpuISTVA(v.id),
		vcpuMainVA(v.id) + pageSize, kernelBase + 0x100000, 0xffffffffff600000,
		0xffffffff81000000, 0xffff800000000000, 0xfffffffffffff000,
		maxUserAddress, 1<<47 - pageSize, 0, pageSize, memBase, memBase + codeAddr,
		e.p.kernel.root &^ (pageSize - 1), e.as.pt.root, 0x0000800000000000, 0x8000000000000000,
	}
	// And a spread over the whole user range.
	for a := uint64(1 << 20); a < maxUserAddress; a = a*3 + pageSize {
		probes = append(probes, a&^(pageSize-1))
	}
	for _, a := range probes {
		for _, kind := range []string{"read", "write", "exec"} {
			var code []byte
			switch kind {
			case "read":
				code = loadRbxAbs(a)
			case "write":
				code = cat(movabsRax(a), []byte{0x48, 0x89, 0x18}) // mov %rbx,(%rax)
			case "exec":
				code = cat(movabsRax(a), []byte{0xff, 0xe0}) // jmp *%rax
			}
			fr := e.mapBytes(codeAddr, cat(code, insnGetpid, insnSyscall), hostarch.ReadExecute)
			regs := arch.NewInitialRegisters(codeAddr, stackTop)
			stop := e.switchTo(&regs)
			e.mf.DecRef(fr)
			if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) && stop.Signo != int(unix.SIGBUS) {
				t.Errorf("%s of %#x: stop = %+v, want SIGSEGV", kind, a, stop)
				continue
			}
			if canonical(a) && stop.Addr != uintptr(a) {
				t.Errorf("%s of %#x: fault address %#x", kind, a, stop.Addr)
			}
			if canonical(a) && stop.Code != segvMapErr {
				t.Errorf("%s of %#x: si_code %d, want SEGV_MAPERR (ring 0 must look unmapped)", kind, a, stop.Code)
			}
		}
	}
	// UMIP (where the CPU has it) hides the descriptor tables' addresses.
	fr := e.mapBytes(codeAddr, cat([]byte{0x0f, 0x01, 0x44, 0x24, 0xf0}, insnGetpid, insnSyscall), hostarch.ReadExecute) // sgdt -16(%rsp)
	regs := arch.NewInitialRegisters(codeAddr, stackTop)
	stop := e.switchTo(&regs)
	e.mf.DecRef(fr)
	if e.p.features.umip {
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) {
			t.Errorf("sgdt with UMIP: stop %+v", stop)
		}
	} else {
		t.Logf("no UMIP: sgdt gives %+v", stop)
	}
	t.Logf("%d addresses probed", len(probes))
}

// TestHypercalls: vmcall/vmmcall from ring 3 never reach the host. KVM
// answers them itself (-KVM_EPERM in rax) or they raise #UD.
func TestHypercalls(t *testing.T) {
	e := newEnv(t)
	for _, insn := range [][]byte{{0x0f, 0x01, 0xc1}, {0x0f, 0x01, 0xd9}} {
		fr := e.mapBytes(codeAddr, cat([]byte{0xb8, 0, 0, 0, 0}, insn, insnRaxRbx, insnGetpid, insnSyscall), hostarch.ReadExecute)
		regs := arch.NewInitialRegisters(codeAddr, stackTop)
		stop := e.switchTo(&regs)
		e.mf.DecRef(fr)
		switch {
		case stop.Kind == platform.StopFault && (stop.Signo == int(unix.SIGILL) || stop.Signo == int(unix.SIGSEGV)):
			t.Logf("% x: %+v", insn, stop)
		case stop.Kind == platform.StopSyscall && int64(regs.Rbx) < 0:
			t.Logf("% x: answered by KVM with rax %d", insn, int64(regs.Rbx))
		default:
			t.Errorf("% x: stop %+v rbx %#x", insn, stop, regs.Rbx)
		}
	}
}

func TestBadRegisters(t *testing.T) {
	e := newEnv(t)
	good := e.loadCode(cat(insnGetpid, insnSyscall))
	for _, tc := range []struct {
		name string
		mod  func(*arch.Registers)
		want platform.StopKind
	}{
		{"noncanonical rip", func(r *arch.Registers) { r.Rip = 0x800000000000 }, platform.StopFault},
		{"kernel rip", func(r *arch.Registers) { r.Rip = 0xffffffff81000000 }, platform.StopFault},
		{"ring-0 stub rip", func(r *arch.Registers) { r.Rip = codeVA + syscallOff }, platform.StopFault},
		{"noncanonical fs_base", func(r *arch.Registers) { r.Fs_base = 0x8000000000000000 }, platform.StopFault},
		{"noncanonical gs_base", func(r *arch.Registers) { r.Gs_base = 0x0000900000000000 }, platform.StopFault},
		{"noncanonical rsp", func(r *arch.Registers) { r.Rsp = 0x0000900000000000 }, platform.StopSyscall},
		{"bad segments", func(r *arch.Registers) { r.Cs, r.Ss, r.Fs, r.Gs = 0x10, 0, 0x1234, 0xffff }, platform.StopSyscall},
		{"iopl 3 and VM", func(r *arch.Registers) { r.Eflags = 0x3202 | 1<<17 | 1<<19 | 1<<20 }, platform.StopSyscall},
		// TF among the ones: a trap after the first instruction.
		{"all ones", func(r *arch.Registers) {
			r.Rax, r.Rsp, r.Eflags, r.Orig_rax = ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)
		}, platform.StopFault},
		{"trap flag", func(r *arch.Registers) { r.Eflags |= flagTF }, platform.StopFault},
	} {
		regs := good
		tc.mod(&regs)
		stop, err := e.ctx.Switch(e.as, &regs)
		if err != nil {
			t.Fatalf("%s: Switch: %v", tc.name, err)
		}
		t.Logf("%s: stop %+v rip %#x rflags %#x", tc.name, stop, regs.Rip, regs.Eflags)
		if stop.Kind != tc.want {
			t.Errorf("%s: stop = %+v, want %v", tc.name, stop, tc.want)
		}
		if stop.Kind == platform.StopSyscall && regs.Eflags&0x3000 != 0 {
			t.Errorf("%s: IOPL %d reached ring 3", tc.name, regs.Eflags>>12&3)
		}
		if tc.name == "trap flag" && (stop.Signo != int(unix.SIGTRAP) || stop.Code != trapTrace) {
			t.Errorf("trap flag: stop %+v, want SIGTRAP TRAP_TRACE", stop)
		}
		// The context still works.
		regs = good
		wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	}
	// With IOPL requested, port I/O still faults.
	fr := e.mapBytes(codeAddr, insnOut, hostarch.ReadExecute)
	defer e.mf.DecRef(fr)
	regs := good
	regs.Eflags = 0x3202
	if stop := e.switchTo(&regs); stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) {
		t.Errorf("out with IOPL 3 asked for: stop %+v", stop)
	}
}

// TestFPUState: the FPU state survives exits, belongs to the context (it
// survives another context running on the same vCPU in between), and a
// new context starts from the initial state on a vCPU that ran others.
func TestFPUState(t *testing.T) {
	e := newEnv(t)
	// movabs $0x1234567890,%rax; movq %rax,%xmm0; getpid; syscall;
	// movq %xmm0,%rbx; getpid; syscall
	e.mapBytes(codeAddr, cat(movabsRax(0x1234567890), []byte{0x66, 0x48, 0x0f, 0x6e, 0xc0}, insnGetpid, insnSyscall,
		[]byte{0x66, 0x48, 0x0f, 0x7e, 0xc3}, insnGetpid, insnSyscall), hostarch.ReadExecute)
	// Another context's program: xmm0 = 0xdead; getpid.
	e.mapBytes(codeAddr+pageSize, cat(movabsRax(0xdead), []byte{0x66, 0x48, 0x0f, 0x6e, 0xc0}, insnGetpid, insnSyscall), hostarch.ReadExecute)
	// A fresh context's: rbx = xmm0, esi = mxcsr, edx = fcw; getpid.
	e.mapBytes(codeAddr+2*pageSize, cat([]byte{0x66, 0x48, 0x0f, 0x7e, 0xc3},
		[]byte{0x0f, 0xae, 0x5c, 0x24, 0xf8}, []byte{0x8b, 0x74, 0x24, 0xf8},
		[]byte{0xd9, 0x7c, 0x24, 0xf0}, []byte{0x0f, 0xb7, 0x54, 0x24, 0xf0},
		insnGetpid, insnSyscall), hostarch.ReadExecute)
	e.mapBytes(stackAddr, nil, hostarch.ReadWrite)

	regs := arch.NewInitialRegisters(codeAddr, stackTop)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)

	<-onThread(func() {
		c, err := e.p.NewContext()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Release()
		r := arch.NewInitialRegisters(codeAddr+pageSize, stackTop)
		if stop, err := c.Switch(e.as, &r); err != nil || stop.Kind != platform.StopSyscall {
			t.Errorf("other context: %+v %v", stop, err)
		}
	})

	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x1234567890 {
		t.Errorf("xmm0 = %#x after exits and another context ran, want 0x1234567890", regs.Rbx)
	}
	// A new context (on the same vCPU) starts clean.
	<-onThread(func() {
		c, err := e.p.NewContext()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Release()
		r := arch.NewInitialRegisters(codeAddr+2*pageSize, stackTop)
		if stop, err := c.Switch(e.as, &r); err != nil || stop.Kind != platform.StopSyscall {
			t.Errorf("fresh context: %+v %v", stop, err)
			return
		}
		if r.Rbx != 0 || r.Rsi != 0x1f80 || r.Rdx != 0x37f {
			t.Errorf("fresh context: xmm0 %#x mxcsr %#x fcw %#x, want 0, 0x1f80, 0x37f", r.Rbx, r.Rsi, r.Rdx)
		}
	})
}

// TestTwoAddressSpaces moves one context between address spaces that map
// different pages at the same address, and on after one is released.
func TestTwoAddressSpaces(t *testing.T) {
	e := newEnv(t)
	code := cat(loadRbx(dataAddr), insnGetpid, insnSyscall)
	var spaces []platform.AddressSpace
	for i := 0; i < 3; i++ {
		as, err := e.p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		defer as.Release()
		mapBytesIn(t, e.mf, as, codeAddr, code, hostarch.ReadExecute)
		mapBytesIn(t, e.mf, as, dataAddr, []byte{byte(10 + i)}, hostarch.Read)
		spaces = append(spaces, as)
	}
	for round := 0; round < 6; round++ {
		i := round % 2
		regs := arch.NewInitialRegisters(codeAddr, 0)
		stop, err := e.ctx.Switch(spaces[i], &regs)
		if err != nil || stop.Kind != platform.StopSyscall || regs.Rbx != uint64(10+i) {
			t.Fatalf("round %d: %+v %v rbx %d, want %d", round, stop, err, regs.Rbx, 10+i)
		}
	}
	// Release the one the vCPU last ran (its page tables are freed) and
	// go on in another.
	spaces[1].Release()
	for _, i := range []int{2, 0, 2} {
		regs := arch.NewInitialRegisters(codeAddr, 0)
		stop, err := e.ctx.Switch(spaces[i], &regs)
		if err != nil || stop.Kind != platform.StopSyscall || regs.Rbx != uint64(10+i) {
			t.Fatalf("after release: %+v %v rbx %d, want %d", stop, err, regs.Rbx, 10+i)
		}
	}
	if _, err := e.ctx.Switch(spaces[1], new(arch.Registers)); err == nil {
		t.Errorf("Switch into a released address space succeeded")
	}
}

// TestManyContexts: vCPUs belong to CPUs, not contexts. Contexts on one
// CPU share its vCPU; one vCPU is made per CPU, once.
func TestManyContexts(t *testing.T) {
	e := newEnv(t)
	e.loadCode(cat(insnGetpid, insnSyscall))
	before := e.p.nextID
	for round := 0; round < 3; round++ {
		var cs []platform.Context
		for i := 0; i < 8; i++ {
			c, err := e.p.NewContext()
			if err != nil {
				t.Fatal(err)
			}
			if round > 0 {
				c.(platform.CPUBinder).BindCPU(i)
			}
			regs := arch.NewInitialRegisters(codeAddr, stackTop)
			if stop, err := c.Switch(e.as, &regs); err != nil || stop.Kind != platform.StopSyscall {
				t.Fatalf("round %d context %d: %+v %v", round, i, stop, err)
			}
			cs = append(cs, c)
		}
		for _, c := range cs {
			c.Release()
		}
		want := 1
		if round > 0 {
			want = 8
		}
		if got := e.p.nextID - before; got != want {
			t.Errorf("round %d: %d vCPUs made, want %d", round, got, want)
		}
	}
}

// TestWithoutSyncRegs runs the basics through KVM_SET_REGS/KVM_GET_REGS,
// as on a KVM without KVM_CAP_SYNC_REGS.
func TestWithoutSyncRegs(t *testing.T) {
	requireKVM(t)
	useSyncRegs = false
	e := newEnv(t)
	useSyncRegs = true
	if e.p.sync {
		t.Fatalf("sync regs in use")
	}
	regs := e.loadCode(cat(insnGetpid, insnSyscall, insnRaxRbx, loadRbx(dataAddr), insnGetpid, insnSyscall,
		cmpZero(dataAddr+8), []byte{0x74, 0xf5}, insnGetpid, insnSyscall))
	regs.R14 = 0x1414
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	regs.SetReturn(5)
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != dataAddr {
		t.Fatalf("stop %+v", stop)
	}
	if regs.Rbx != 5 || regs.R14 != 0x1414 {
		t.Errorf("rbx %d r14 %#x", regs.Rbx, regs.R14)
	}
	e.mapBytes(dataAddr, []byte{9}, hostarch.Read)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 9 {
		t.Errorf("rbx %d", regs.Rbx)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		e.ctx.Interrupt()
	}()
	if stop := e.switchTo(&regs); stop.Kind != platform.StopInterrupt {
		t.Fatalf("stop %+v, want interrupt", stop)
	}
}

// fpStateCode: xmm3 = 0x3333; getpid; rbx = xmm5; getpid.
var fpStateCode = cat(movabsRax(0x3333), []byte{0x66, 0x48, 0x0f, 0x6e, 0xd8}, insnGetpid, insnSyscall,
	[]byte{0x66, 0x48, 0x0f, 0x7e, 0xeb}, insnGetpid, insnSyscall)

// checkFPStateContext reads and writes the FP state of e's context
// stopped after the first getpid of fpStateCode.
func checkFPStateContext(t *testing.T, e *env) {
	t.Helper()
	regs := e.loadCode(fpStateCode)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	st, err := e.ctx.FPState(e.as)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(st) != e.p.xstateSize || le.Uint64(st[fxXMM+3*16:]) != 0x3333 || le.Uint32(st[fxMXCSR:]) != 0x1f80 || le.Uint16(st[fxFCW:]) != 0x37f {
		t.Fatalf("FP state: %d bytes, xmm3 %#x, mxcsr %#x, fcw %#x", len(st), le.Uint64(st[fxXMM+3*16:]), le.Uint32(st[fxMXCSR:]), le.Uint16(st[fxFCW:]))
	}
	if len(st) > fxsaveSize {
		sw := st[swBytesOffset:]
		if le.Uint32(sw) != fpXstateMagic1 || int(le.Uint32(sw[16:])) != len(st) || le.Uint64(sw[8:]) != e.p.features.xcr0 {
			t.Errorf("software bytes % x", sw[:24])
		}
	}
	t.Logf("FP state of %d bytes, XSTATE_BV %#x", len(st), le.Uint64(st[xstateBVOffset:]))

	// Invalid states are refused and change nothing.
	bad := func(name string, mod func([]byte) []byte) {
		b := mod(append([]byte(nil), st...))
		if err := e.ctx.SetFPState(e.as, b); !errors.Is(err, platform.ErrInvalidFPState) {
			t.Errorf("%s: SetFPState = %v, want ErrInvalidFPState", name, err)
		}
	}
	bad("short", func(b []byte) []byte { return b[:100] })
	bad("reserved MXCSR bits", func(b []byte) []byte { le.PutUint32(b[fxMXCSR:], 0x11f80); return b })
	if len(st) > fxsaveSize {
		bad("compacted", func(b []byte) []byte { le.PutUint64(b[xcompBVOffset:], 1<<63|3); return b })
		bad("unknown component", func(b []byte) []byte { le.PutUint64(b[xstateBVOffset:], 1<<9|3); return b })
		bad("reserved header", func(b []byte) []byte { b[xcompBVOffset+20] = 1; return b })
	}

	// A changed state takes effect.
	le.PutUint64(st[fxXMM+5*16:], 0x5555)
	if err := e.ctx.SetFPState(e.as, st); err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x5555 {
		t.Errorf("xmm5 = %#x after SetFPState, want 0x5555", regs.Rbx)
	}
	// So does a legacy area.
	legacy := append([]byte(nil), st[:fxsaveSize]...)
	le.PutUint64(legacy[fxXMM+5*16:], 0x7777)
	if err := e.ctx.SetFPState(e.as, legacy); err != nil {
		t.Fatal(err)
	}
	regs.Rip -= 12 // back to "movq %xmm5,%rbx"
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x7777 {
		t.Errorf("xmm5 = %#x after a legacy SetFPState, want 0x7777", regs.Rbx)
	}
}

func TestFPStateContext(t *testing.T) {
	checkFPStateContext(t, newEnv(t))
}
