package platformtest

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// si_code values the checks expect (Linux's).
const (
	segvMapErr = 1    // SEGV_MAPERR
	segvAccErr = 2    // SEGV_ACCERR
	illIllOpn  = 2    // ILL_ILLOPN
	fpeIntDiv  = 1    // FPE_INTDIV
	fpeFltDiv  = 3    // FPE_FLTDIV
	trapTrace  = 2    // TRAP_TRACE
	siKernel   = 0x80 // SI_KERNEL
)

// Options says where a platform legitimately differs from the others.
// The zero value asks for the strictest reading of the contract except
// where a field says otherwise.
type Options struct {
	// Require, if set, is called with each check's *testing.T before
	// anything else: it skips the check (t.Skip with the reason) where
	// the platform cannot run on this host, or fails it where it must.
	Require func(testing.TB)

	// UnmappedAccessUnknown: a fault on an unmapped page reports Read
	// whatever the access (a store included), as platform.Stop allows
	// for a platform that cannot tell (ptrace: the host's siginfo does
	// not say). When false, a store to an unmapped page must report
	// Write.
	UnmappedAccessUnknown bool

	// BadMapAddrs are addresses, besides the ones every platform
	// refuses (0, unaligned, at or above MaxUserAddress, non-canonical),
	// at which MapFile must fail (the ptrace stub's own pages).
	BadMapAddrs []uintptr
}

// check is one contract check.
type check struct {
	name string
	fn   func(t *testing.T, e *Env, o *Options)
}

// Run runs the platform contract checks on the platforms newPlatform
// makes, each as a subtest of t with a fresh Env.
func Run(t *testing.T, newPlatform NewPlatform, o Options) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if o.Require != nil {
				o.Require(t)
			}
			c.fn(t, NewEnv(t, newPlatform), &o)
		})
	}
}

// Names returns the names of Run's subtests.
func Names() []string {
	var names []string
	for _, c := range checks {
		names = append(names, c.name)
	}
	return names
}

var checks = []check{
	{"SyscallRoundTrip", testSyscallRoundTrip},
	{"AllRegisters", testAllRegisters},
	{"GarbageSyscallNumbers", testGarbageSyscallNumbers},
	{"Int80", testInt80},
	{"TLS", testTLS},
	{"FaultThenMap", testFaultThenMap},
	{"WriteFaults", testWriteFaults},
	{"ExecuteFault", testExecuteFault},
	{"Unmap", testUnmap},
	{"Remap", testRemap},
	{"MapFileChecks", testMapFileChecks},
	{"MapBatch", testMapBatch},
	{"SynchronousSignals", testSynchronousSignals},
	{"FloatingPointExceptions", testFloatingPointExceptions},
	{"Hypercalls", testHypercalls},
	{"BadRegisters", testBadRegisters},
	{"FPUState", testFPUState},
	{"FPStateContext", testFPStateContext},
	{"TwoAddressSpaces", testTwoAddressSpaces},
	{"PlatformRelease", testPlatformRelease},
	{"InterruptRunning", testInterruptRunning},
	{"InterruptSpinningRegisters", testInterruptSpinningRegisters},
	{"InterruptBeforeSwitch", testInterruptBeforeSwitch},
	{"InterruptStress", testInterruptStress},
	{"TwoContextsSharedMemory", testTwoContextsSharedMemory},
	{"ConcurrentContexts", testConcurrentContexts},
	{"ShootdownRunning", testShootdownRunning},
	{"MapFileAtStops", testMapFileAtStops},
}

// testSyscallRoundTrip: a syscall stops with its number, rip after the
// instruction, -ENOSYS in rax and rcx/r11 as the instruction left them;
// every other register is preserved, and the sentry's return value
// reaches the program.
func testSyscallRoundTrip(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(
		InsnGetpid, InsnSyscall, // +0: getpid
		InsnRaxRbx,            // +7: rbx = the sentry's return value
		InsnExit, InsnSyscall, // +10: exit
		InsnJmpSelf,
	))
	regs.Rdi = 0x1122334455667788
	regs.R15 = 0xfeedface
	regs.Rcx = 0x5555 // clobbered by syscall
	regs.Rbp, regs.R8, regs.R12 = 1, 2, 3

	stop := e.SwitchTo(&regs)
	WantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rip != CodeAddr+7 {
		t.Errorf("rip = %#x, want %#x", regs.Rip, CodeAddr+7)
	}
	if regs.Rdi != 0x1122334455667788 || regs.R15 != 0xfeedface || regs.Rbp != 1 || regs.R8 != 2 || regs.R12 != 3 {
		t.Errorf("rdi %#x r15 %#x rbp %d r8 %d r12 %d: not preserved", regs.Rdi, regs.R15, regs.Rbp, regs.R8, regs.R12)
	}
	if regs.Rsp != StackTop {
		t.Errorf("rsp = %#x, want %#x", regs.Rsp, StackTop)
	}
	if int64(regs.Rax) != -int64(unix.ENOSYS) {
		t.Errorf("rax at the syscall stop = %#x, want -ENOSYS", regs.Rax)
	}
	// As on Linux: the syscall instruction left rip in rcx and rflags in
	// r11.
	if regs.Rcx != regs.Rip || regs.R11 != regs.Eflags {
		t.Errorf("rcx %#x r11 %#x, want rip %#x and rflags %#x", regs.Rcx, regs.R11, regs.Rip, regs.Eflags)
	}
	if regs.Eflags&(1<<9) == 0 || regs.Eflags&0x3000 != 0 {
		t.Errorf("rflags %#x: want IF set, IOPL 0", regs.Eflags)
	}
	if regs.Cs != 0x33 || regs.Ss != 0x2b {
		t.Errorf("cs %#x ss %#x, want Linux's 64-bit user segments 0x33, 0x2b", regs.Cs, regs.Ss)
	}

	regs.SetReturn(0xabcdef)
	stop = e.SwitchTo(&regs)
	WantSyscall(t, stop, &regs, unix.SYS_EXIT)
	if regs.Rbx != 0xabcdef {
		t.Errorf("rbx = %#x, want the return value 0xabcdef", regs.Rbx)
	}
	if regs.Rdi != 0x1122334455667788 {
		t.Errorf("rdi = %#x: not preserved", regs.Rdi)
	}
}

// testAllRegisters sets every general register, runs a syscall and checks
// them all (the sentry's registers must round-trip through the platform).
func testAllRegisters(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(InsnSyscall, InsnSyscall))
	vals := []*uint64{&regs.Rbx, &regs.Rdx, &regs.Rsi, &regs.Rdi, &regs.Rbp,
		&regs.R8, &regs.R9, &regs.R10, &regs.R12, &regs.R13, &regs.R14, &regs.R15}
	for i, p := range vals {
		*p = 0x0101010101010101 * uint64(i+1)
	}
	regs.Rax = 12345
	regs.Eflags = arch.UserFlags | 0x1 | 0x40 | 0x400 // CF, ZF, DF
	stop := e.SwitchTo(&regs)
	WantSyscall(t, stop, &regs, 12345)
	for i, p := range vals {
		if *p != 0x0101010101010101*uint64(i+1) {
			t.Errorf("register %d = %#x", i, *p)
		}
	}
	if regs.Eflags&0x441 != 0x441 {
		t.Errorf("rflags %#x lost CF, ZF or DF", regs.Eflags)
	}
}

// testGarbageSyscallNumbers: any value in rax is a syscall number the
// sentry sees (and refuses), never a host call.
func testGarbageSyscallNumbers(t *testing.T, e *Env, _ *Options) {
	// mov %rdi,%rax; syscall; jmp back.
	regs := e.LoadCode([]byte{0x48, 0x89, 0xf8, 0x0f, 0x05, 0xeb, 0xf9})
	for _, nr := range []uint64{0xdeadbeef, 1 << 40, ^uint64(0), 0x40000000 | 1, 100000} {
		regs.Rdi = nr
		regs.Rip = CodeAddr
		stop := e.SwitchTo(&regs)
		if stop.Kind != platform.StopSyscall || regs.Orig_rax != nr {
			t.Errorf("syscall %#x: stop %+v orig_rax %#x", nr, stop, regs.Orig_rax)
		}
	}
}

// testInt80: int $0x80 is reported as a 32-bit syscall (the sentry does
// not serve the i386 ABI), with rip after it and the return value going
// back to the program; a syscall instruction whose rcx the program set
// to anything is still a 64-bit one.
func testInt80(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(
		[]byte{0xb8, 0x14, 0, 0, 0}, InsnInt80, // +0: mov $20,%eax (i386 getpid); int $0x80
		InsnRaxRbx,              // +7
		InsnGetpid, InsnSyscall, // +10
	))
	regs.Rcx = 0x1234
	stop := e.SwitchTo(&regs)
	if stop.Kind != platform.StopSyscall || !stop.Syscall32 || regs.Orig_rax != 20 {
		t.Fatalf("int $0x80: stop %+v orig_rax %d, want a 32-bit syscall 20", stop, regs.Orig_rax)
	}
	if regs.Rip != CodeAddr+7 {
		t.Errorf("rip %#x after int $0x80, want %#x", regs.Rip, CodeAddr+7)
	}
	regs.SetReturn(77)
	regs.Rcx = 0x1234
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 77 {
		t.Errorf("rbx %d, want int $0x80's return value 77", regs.Rbx)
	}
}

// testTLS: fs_base and gs_base reach the program, and a new base takes
// effect at the next Switch.
func testTLS(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(InsnFsLoad, InsnGetpid, InsnSyscall,
		// mov %gs:8,%rdx
		[]byte{0x65, 0x48, 0x8b, 0x14, 0x25, 8, 0, 0, 0}, InsnGetpid, InsnSyscall))
	var val [16]byte
	binary.LittleEndian.PutUint64(val[:], 0x5eed)
	binary.LittleEndian.PutUint64(val[8:], 0x6eed)
	e.MapBytes(DataAddr, val[:], hostarch.Read)
	regs.Fs_base = DataAddr
	regs.Gs_base = DataAddr
	stop := e.SwitchTo(&regs)
	WantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x5eed || regs.Fs_base != DataAddr {
		t.Errorf("rbx = %#x, fs_base = %#x", regs.Rbx, regs.Fs_base)
	}
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rdx != 0x6eed {
		t.Errorf("rdx = %#x through gs", regs.Rdx)
	}
	regs.Rip = CodeAddr
	regs.Fs_base = DataAddr + 8
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x6eed {
		t.Errorf("rbx = %#x with the new fs_base", regs.Rbx)
	}
}

// testFaultThenMap: a read of an unmapped page is a SIGSEGV MAPERR at the
// address, with rip at the faulting instruction; after MapFile the
// instruction is retried and reads the page.
func testFaultThenMap(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(LoadRbx(DataAddr+8), InsnGetpid, InsnSyscall))

	stop := e.SwitchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != DataAddr+8 || stop.Code != segvMapErr {
		t.Fatalf("stop = %+v, want a SIGSEGV MAPERR at %#x", stop, DataAddr+8)
	}
	if stop.Access != hostarch.Read {
		t.Errorf("access = %v, want Read", stop.Access)
	}
	if regs.Rip != CodeAddr {
		t.Errorf("rip = %#x, want the faulting instruction %#x", regs.Rip, CodeAddr)
	}
	var val [16]byte
	binary.LittleEndian.PutUint64(val[8:], 0x0123456789)
	e.MapBytes(DataAddr, val[:], hostarch.Read)
	stop = e.SwitchTo(&regs)
	WantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x0123456789 {
		t.Errorf("rbx = %#x, want the value in the page", regs.Rbx)
	}
}

// testWriteFaults: a store to an unmapped page is a MAPERR, to a read-only
// one a write ACCERR; after widening the store lands in the memory file,
// and narrowing again makes it fault again (no stale writable entry).
func testWriteFaults(t *testing.T, e *Env, o *Options) {
	regs := e.LoadCode(Cat(StoreImm(DataAddr+16, 0x42), InsnGetpid, InsnSyscall))
	stop := e.SwitchTo(&regs)
	wantAccess := hostarch.Write
	if o.UnmappedAccessUnknown {
		wantAccess = hostarch.Read
	}
	if stop.Kind != platform.StopFault || stop.Code != segvMapErr || stop.Access != wantAccess || stop.Addr != DataAddr+16 {
		t.Fatalf("stop = %+v, want a MAPERR (access %v) at %#x", stop, wantAccess, DataAddr+16)
	}
	fr := e.MapBytes(DataAddr, nil, hostarch.Read)
	stop = e.SwitchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != DataAddr+16 || stop.Code != segvAccErr {
		t.Fatalf("stop = %+v, want a SIGSEGV ACCERR at %#x", stop, DataAddr+16)
	}
	if stop.Access != hostarch.Write {
		t.Errorf("access = %v, want Write", stop.Access)
	}
	if err := e.AS.MapFile(DataAddr, fr, hostarch.ReadWrite); err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	stop = e.SwitchTo(&regs)
	WantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if got := binary.LittleEndian.Uint64(e.MF.Slice(fr)[16:]); got != 0x42 {
		t.Errorf("memory = %#x, want 0x42", got)
	}
	if err := e.AS.MapFile(DataAddr, fr, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	regs.Rip = CodeAddr
	stop = e.SwitchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Code != segvAccErr || stop.Access != hostarch.Write {
		t.Fatalf("after narrowing: stop = %+v, want a write ACCERR", stop)
	}
}

// testExecuteFault: a jump to an unmapped page is an execute MAPERR there
// (after the call's push), to a readable or read-write but not executable
// one an execute ACCERR; once executable, the code runs.
func testExecuteFault(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(MovabsRax(DataAddr), InsnCallRax))
	stop := e.SwitchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != DataAddr || stop.Access != hostarch.Execute || regs.Rip != DataAddr || stop.Code != segvMapErr {
		t.Fatalf("stop = %+v rip %#x, want an execute MAPERR at %#x", stop, regs.Rip, DataAddr)
	}
	if regs.Rsp != StackTop-8 {
		t.Errorf("rsp %#x, want the call's push", regs.Rsp)
	}
	fr := e.MapBytes(DataAddr, Cat(InsnGetpid, InsnSyscall), hostarch.Read)
	for _, at := range []hostarch.AccessType{hostarch.Read, hostarch.ReadWrite} {
		if err := e.AS.MapFile(DataAddr, fr, at); err != nil {
			t.Fatal(err)
		}
		stop = e.SwitchTo(&regs)
		if stop.Kind != platform.StopFault || stop.Code != segvAccErr || stop.Access != hostarch.Execute || stop.Addr != DataAddr {
			t.Fatalf("%v page: stop = %+v, want an execute ACCERR", at, stop)
		}
	}
	if err := e.AS.MapFile(DataAddr, fr, hostarch.ReadExecute); err != nil {
		t.Fatal(err)
	}
	stop = e.SwitchTo(&regs)
	WantSyscall(t, stop, &regs, unix.SYS_GETPID)
}

// testUnmap: an unmapped page faults again; unmapping what is not mapped,
// up to the whole user range, is fine.
func testUnmap(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(LoadRbx(DataAddr), InsnGetpid, InsnSyscall))
	e.MapBytes(DataAddr, []byte{7}, hostarch.Read)
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 7 {
		t.Fatalf("rbx = %d", regs.Rbx)
	}
	e.AS.Unmap(DataAddr, PageSize)
	regs.Rip = CodeAddr
	stop := e.SwitchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != DataAddr {
		t.Fatalf("after Unmap: stop = %+v", stop)
	}
	e.AS.Unmap(0x10000000, 16*PageSize)
	e.AS.Unmap(PageSize, e.P.MaxUserAddress()-PageSize)
	regs.Rip = CodeAddr
	if stop := e.SwitchTo(&regs); stop.Kind != platform.StopFault || stop.Addr != CodeAddr {
		t.Errorf("after unmapping everything: stop = %+v, want a fetch fault at %#x", stop, CodeAddr)
	}
}

// testRemap points a page at another frame between two runs: the program
// must not see the old one (no cached translation).
func testRemap(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(LoadRbx(DataAddr), InsnGetpid, InsnSyscall, []byte{0xeb, 0xef}))
	e.MapBytes(DataAddr, []byte{1}, hostarch.Read)
	for i := byte(2); i < 20; i++ {
		WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		if regs.Rbx != uint64(i-1) {
			t.Fatalf("round %d: rbx = %d", i, regs.Rbx)
		}
		e.MapBytes(DataAddr, []byte{i}, hostarch.Read)
	}
}

// testMapFileChecks: MapFile refuses page 0, unaligned addresses, the
// range at and above MaxUserAddress, non-canonical addresses, the
// platform's own pages and empty access; the last user page is usable.
func testMapFileChecks(t *testing.T, e *Env, o *Options) {
	fr := e.Alloc()
	max := e.P.MaxUserAddress()
	bad := append([]uintptr{0, 123, max, max - PageSize/2, 1 << 47}, o.BadMapAddrs...)
	for _, addr := range bad {
		if err := e.AS.MapFile(addr, fr, hostarch.Read); err == nil {
			t.Errorf("MapFile(%#x) succeeded", addr)
		}
	}
	if err := e.AS.MapFile(max-PageSize, fr, hostarch.Read); err != nil {
		t.Errorf("MapFile of the last page: %v", err)
	}
	if err := e.AS.MapFile(CodeAddr, fr, hostarch.NoAccess); err == nil {
		t.Errorf("MapFile with no access succeeded")
	}
	regs := e.LoadCode(Cat(LoadRbxAbs(uint64(max-PageSize+8)), InsnGetpid, InsnSyscall))
	copy(e.MF.Slice(fr)[8:], []byte{0x99})
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x99 {
		t.Errorf("rbx %#x from the last page", regs.Rbx)
	}
}

// testSynchronousSignals checks the exceptions an application can raise,
// and that privileged instructions fault as on Linux and never reach the
// host; the context works on after each.
func testSynchronousSignals(t *testing.T, e *Env, _ *Options) {
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
		{"int3", InsnInt3, unix.SIGTRAP, siKernel, atPC},
		{"ud2", InsnUd2, unix.SIGILL, illIllOpn, atRip},
		{"div0", InsnDiv0, unix.SIGFPE, fpeIntDiv, atRip},
		{"hlt", InsnHlt, unix.SIGSEGV, siKernel, 0},
		{"cli", InsnCli, unix.SIGSEGV, siKernel, 0},
		{"sti", []byte{0xfb}, unix.SIGSEGV, siKernel, 0},
		{"out", InsnOut, unix.SIGSEGV, siKernel, 0},
		{"in", []byte{0xe4, 0x80}, unix.SIGSEGV, siKernel, 0},
		{"outsb", []byte{0x6e}, unix.SIGSEGV, siKernel, 0},
		{"wrmsr", InsnWrmsr, unix.SIGSEGV, siKernel, 0},
		{"rdmsr", []byte{0x0f, 0x32}, unix.SIGSEGV, siKernel, 0},
		{"lgdt", InsnLgdt, unix.SIGSEGV, siKernel, 0},
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
		{"non-canonical load", LoadRbxAbs(0x0000800000000000), unix.SIGSEGV, siKernel, 0},
		// #SS (SIGBUS) on hardware; QEMU's emulation raises #GP
		// (SIGSEGV) instead: both are accepted below.
		{"non-canonical stack", []byte{0x48, 0xbc, 0x10, 0, 0, 0, 0, 0x80, 0, 0, 0x50}, unix.SIGBUS, siKernel, 0},
	} {
		func() {
			fr := e.MapBytes(CodeAddr, tc.code, hostarch.ReadExecute)
			defer e.MF.DecRef(fr)
			regs := arch.NewInitialRegisters(CodeAddr, StackTop)
			stop := e.SwitchTo(&regs)
			if tc.name == "non-canonical stack" && stop.Signo == int(unix.SIGSEGV) {
				stop.Signo = int(unix.SIGBUS)
			}
			if stop.Kind != platform.StopFault || stop.Signo != int(tc.signo) || stop.Code != tc.code2 {
				t.Errorf("%s: stop = %+v at rip %#x, want signal %v code %#x", tc.name, stop, regs.Rip, tc.signo, tc.code2)
				return
			}
			switch tc.addr {
			case atRip:
				if stop.Addr != uintptr(regs.Rip) || regs.Rip < CodeAddr || regs.Rip >= CodeAddr+uint64(len(tc.code)) {
					t.Errorf("%s: addr = %#x, rip = %#x", tc.name, stop.Addr, regs.Rip)
				}
			case atPC:
				if regs.Rip != CodeAddr+uint64(len(tc.code)) {
					t.Errorf("%s: rip = %#x after the trap", tc.name, regs.Rip)
				}
			default:
				if stop.Addr != 0 {
					t.Errorf("%s: addr %#x, want 0", tc.name, stop.Addr)
				}
			}
			// The context still works.
			e.MapBytes(DataAddr, Cat(InsnGetpid, InsnSyscall), hostarch.ReadExecute)
			regs.Rip = DataAddr
			regs.Rsp = StackTop
			WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		}()
	}
}

// testFloatingPointExceptions unmasks x87 and SSE exceptions and divides
// by zero: SIGFPE FPE_FLTDIV.
func testFloatingPointExceptions(t *testing.T, e *Env, _ *Options) {
	e.MapBytes(StackAddr, nil, hostarch.ReadWrite)
	for _, tc := range []struct {
		name string
		code []byte
	}{
		// SSE: ldmxcsr of 0x1f80 &^ ZM (0x200); pxor xmm1; mov $1 → xmm0
		// (cvtsi2sd); divsd %xmm1,%xmm0.
		{"sse", Cat(
			[]byte{0xc7, 0x44, 0x24, 0xf8, 0x80, 0x1d, 0, 0}, // movl $0x1d80,-8(%rsp)
			[]byte{0x0f, 0xae, 0x54, 0x24, 0xf8},             // ldmxcsr -8(%rsp)
			[]byte{0x66, 0x0f, 0xef, 0xc9},                   // pxor %xmm1,%xmm1
			[]byte{0xb8, 1, 0, 0, 0},                         // mov $1,%eax
			[]byte{0xf2, 0x0f, 0x2a, 0xc0},                   // cvtsi2sd %eax,%xmm0
			[]byte{0xf2, 0x0f, 0x5e, 0xc1},                   // divsd %xmm1,%xmm0
			InsnGetpid, InsnSyscall,
		)},
		// x87: fldcw with ZM clear; fld1; fldz; fdivrp; fwait.
		{"x87", Cat(
			[]byte{0x66, 0xc7, 0x44, 0x24, 0xf8, 0x7b, 0x03}, // movw $0x37b,-8(%rsp)
			[]byte{0xd9, 0x6c, 0x24, 0xf8},                   // fldcw -8(%rsp)
			[]byte{0xd9, 0xe8},                               // fld1
			[]byte{0xd9, 0xee},                               // fldz
			[]byte{0xde, 0xf9},                               // fdivrp (1/0)
			[]byte{0x9b},                                     // fwait
			InsnGetpid, InsnSyscall,
		)},
	} {
		// A fresh context each time, so the FPU starts clean.
		c, err := e.P.NewContext()
		if err != nil {
			t.Fatal(err)
		}
		fr := e.MapBytes(CodeAddr, tc.code, hostarch.ReadExecute)
		regs := arch.NewInitialRegisters(CodeAddr, StackTop)
		stop, err := c.Switch(e.AS, &regs)
		c.Release()
		e.MF.DecRef(fr)
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

// testHypercalls: vmcall/vmmcall from the application never reach a
// hypervisor's host side. They raise #UD (or #GP), or a KVM answers them
// itself with an error in rax.
func testHypercalls(t *testing.T, e *Env, _ *Options) {
	for _, insn := range [][]byte{{0x0f, 0x01, 0xc1}, {0x0f, 0x01, 0xd9}} {
		fr := e.MapBytes(CodeAddr, Cat([]byte{0xb8, 0, 0, 0, 0}, insn, InsnRaxRbx, InsnGetpid, InsnSyscall), hostarch.ReadExecute)
		regs := arch.NewInitialRegisters(CodeAddr, StackTop)
		stop := e.SwitchTo(&regs)
		e.MF.DecRef(fr)
		switch {
		case stop.Kind == platform.StopFault && (stop.Signo == int(unix.SIGILL) || stop.Signo == int(unix.SIGSEGV)):
			t.Logf("% x: %+v", insn, stop)
		case stop.Kind == platform.StopSyscall && int64(regs.Rbx) < 0:
			t.Logf("% x: answered by the hypervisor with rax %d", insn, int64(regs.Rbx))
		default:
			t.Errorf("% x: stop %+v rbx %#x", insn, stop, regs.Rbx)
		}
	}
}

// testBadRegisters: registers no CPU would run with (non-canonical
// addresses, kernel segments, IOPL, the trap flag) give a fault or are
// sanitized, never a host error or a privilege; the context works on.
func testBadRegisters(t *testing.T, e *Env, _ *Options) {
	good := e.LoadCode(Cat(InsnGetpid, InsnSyscall))
	for _, tc := range []struct {
		name string
		mod  func(*arch.Registers)
		want platform.StopKind
	}{
		{"noncanonical rip", func(r *arch.Registers) { r.Rip = 0x800000000000 }, platform.StopFault},
		{"kernel rip", func(r *arch.Registers) { r.Rip = 0xffffffff81000000 }, platform.StopFault},
		{"noncanonical fs_base", func(r *arch.Registers) { r.Fs_base = 0x8000000000000000 }, platform.StopFault},
		{"noncanonical gs_base", func(r *arch.Registers) { r.Gs_base = 0x0000900000000000 }, platform.StopFault},
		{"noncanonical rsp", func(r *arch.Registers) { r.Rsp = 0x0000900000000000 }, platform.StopSyscall},
		{"bad segments", func(r *arch.Registers) { r.Cs, r.Ss, r.Fs, r.Gs = 0x10, 0, 0x1234, 0xffff }, platform.StopSyscall},
		{"iopl 3 and VM", func(r *arch.Registers) { r.Eflags = 0x3202 | 1<<17 | 1<<19 | 1<<20 }, platform.StopSyscall},
		// TF among the ones: a trap after the first instruction.
		{"all ones", func(r *arch.Registers) {
			r.Rax, r.Rsp, r.Eflags, r.Orig_rax = ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)
		}, platform.StopFault},
		{"trap flag", func(r *arch.Registers) { r.Eflags |= 1 << 8 }, platform.StopFault},
	} {
		regs := good
		tc.mod(&regs)
		stop, err := e.Ctx.Switch(e.AS, &regs)
		if err != nil {
			t.Fatalf("%s: Switch: %v", tc.name, err)
		}
		t.Logf("%s: stop %+v rip %#x rflags %#x", tc.name, stop, regs.Rip, regs.Eflags)
		if stop.Kind != tc.want {
			t.Errorf("%s: stop = %+v, want %v", tc.name, stop, tc.want)
		}
		if stop.Kind == platform.StopSyscall && regs.Eflags&0x3000 != 0 {
			t.Errorf("%s: IOPL %d reached the application", tc.name, regs.Eflags>>12&3)
		}
		if tc.name == "trap flag" && (stop.Signo != int(unix.SIGTRAP) || stop.Code != trapTrace) {
			t.Errorf("trap flag: stop %+v, want SIGTRAP TRAP_TRACE", stop)
		}
		// The context still works.
		regs = good
		WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	}
	// With IOPL requested, port I/O still faults.
	fr := e.MapBytes(CodeAddr, InsnOut, hostarch.ReadExecute)
	defer e.MF.DecRef(fr)
	regs := good
	regs.Eflags = 0x3202
	if stop := e.SwitchTo(&regs); stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) {
		t.Errorf("out with IOPL 3 asked for: stop %+v", stop)
	}
}

// testFPUState: the FPU state survives exits, belongs to the context (it
// survives another context running in the address space in between), and
// a new context starts from the initial state (xmm0 0, MXCSR 0x1f80, FCW
// 0x37f) even where others ran before.
func testFPUState(t *testing.T, e *Env, _ *Options) {
	// movabs $0x1234567890,%rax; movq %rax,%xmm0; getpid; syscall;
	// movq %xmm0,%rbx; getpid; syscall
	e.MapBytes(CodeAddr, Cat(MovabsRax(0x1234567890), []byte{0x66, 0x48, 0x0f, 0x6e, 0xc0}, InsnGetpid, InsnSyscall,
		[]byte{0x66, 0x48, 0x0f, 0x7e, 0xc3}, InsnGetpid, InsnSyscall), hostarch.ReadExecute)
	// Another context's program: xmm0 = 0xdead; getpid.
	e.MapBytes(CodeAddr+PageSize, Cat(MovabsRax(0xdead), []byte{0x66, 0x48, 0x0f, 0x6e, 0xc0}, InsnGetpid, InsnSyscall), hostarch.ReadExecute)
	// A fresh context's: rbx = xmm0, esi = mxcsr, edx = fcw; getpid.
	e.MapBytes(CodeAddr+2*PageSize, Cat([]byte{0x66, 0x48, 0x0f, 0x7e, 0xc3},
		[]byte{0x0f, 0xae, 0x5c, 0x24, 0xf8}, []byte{0x8b, 0x74, 0x24, 0xf8},
		[]byte{0xd9, 0x7c, 0x24, 0xf0}, []byte{0x0f, 0xb7, 0x54, 0x24, 0xf0},
		InsnGetpid, InsnSyscall), hostarch.ReadExecute)
	e.MapBytes(StackAddr, nil, hostarch.ReadWrite)

	regs := arch.NewInitialRegisters(CodeAddr, StackTop)
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)

	if _, ok := e.RunOnNewContext(t, "other context", CodeAddr+PageSize); !ok {
		return
	}
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x1234567890 {
		t.Errorf("xmm0 = %#x after exits and another context ran, want 0x1234567890", regs.Rbx)
	}
	if r, ok := e.RunOnNewContext(t, "fresh context", CodeAddr+2*PageSize); ok && (r.Rbx != 0 || r.Rsi != 0x1f80 || r.Rdx != 0x37f) {
		t.Errorf("fresh context: xmm0 %#x mxcsr %#x fcw %#x, want 0, 0x1f80, 0x37f", r.Rbx, r.Rsi, r.Rdx)
	}
}

// Offsets in the XSAVE area (platform.FPStateContext's layout).
const (
	fxFCW          = 0
	fxMXCSR        = 24
	fxXMM          = 160
	fxsaveSize     = 512
	swBytesOffset  = 464
	xstateBVOffset = 512
	xcompBVOffset  = 520
	fpXstateMagic1 = 0x46505853
)

// testFPStateContext reads and writes the FP state of a context stopped
// in the middle of a program (platform.FPStateContext): what the program
// put in xmm3 is there, invalid states are refused and change nothing,
// and a changed state (full or a 512-byte legacy area) reaches the
// program.
func testFPStateContext(t *testing.T, e *Env, _ *Options) {
	fc, ok := e.Ctx.(platform.FPStateContext)
	if !ok {
		t.Skipf("%s contexts do not implement platform.FPStateContext", e.P.Name())
	}
	// xmm3 = 0x3333; getpid; rbx = xmm5; getpid.
	regs := e.LoadCode(Cat(MovabsRax(0x3333), []byte{0x66, 0x48, 0x0f, 0x6e, 0xd8}, InsnGetpid, InsnSyscall,
		[]byte{0x66, 0x48, 0x0f, 0x7e, 0xeb}, InsnGetpid, InsnSyscall))
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	st, err := fc.FPState(e.AS)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(st) < fxsaveSize || le.Uint64(st[fxXMM+3*16:]) != 0x3333 || le.Uint32(st[fxMXCSR:]) != 0x1f80 || le.Uint16(st[fxFCW:]) != 0x37f {
		t.Fatalf("FP state: %d bytes, xmm3 %#x, mxcsr %#x, fcw %#x", len(st), le.Uint64(st[fxXMM+3*16:]), le.Uint32(st[fxMXCSR:]), le.Uint16(st[fxFCW:]))
	}
	if len(st) > fxsaveSize {
		// struct _fpx_sw_bytes: magic1, extended_size, xfeatures,
		// xstate_size.
		sw := st[swBytesOffset:]
		if le.Uint32(sw) != fpXstateMagic1 || int(le.Uint32(sw[16:])) != len(st) || le.Uint64(sw[8:])&3 != 3 {
			t.Errorf("software bytes % x", sw[:24])
		}
	}
	t.Logf("FP state of %d bytes, XSTATE_BV %#x", len(st), le.Uint64(st[xstateBVOffset:]))

	bad := func(name string, mod func([]byte) []byte) {
		b := mod(append([]byte(nil), st...))
		if err := fc.SetFPState(e.AS, b); !errors.Is(err, platform.ErrInvalidFPState) {
			t.Errorf("%s: SetFPState = %v, want ErrInvalidFPState", name, err)
		}
	}
	bad("short", func(b []byte) []byte { return b[:100] })
	bad("reserved MXCSR bits", func(b []byte) []byte { le.PutUint32(b[fxMXCSR:], 0x11f80); return b })
	if len(st) > fxsaveSize {
		bad("compacted", func(b []byte) []byte { le.PutUint64(b[xcompBVOffset:], 1<<63|3); return b })
		// A component the host's XCR0 (xfeatures) does not enable.
		xfeatures := le.Uint64(st[swBytesOffset+8:])
		unknown := uint64(1) << 9
		for i := 2; i < 63; i++ {
			if xfeatures&(1<<i) == 0 {
				unknown = 1 << i
				break
			}
		}
		bad("unknown component", func(b []byte) []byte { le.PutUint64(b[xstateBVOffset:], unknown|3); return b })
		bad("reserved header", func(b []byte) []byte { b[xcompBVOffset+20] = 1; return b })
	}

	le.PutUint64(st[fxXMM+5*16:], 0x5555)
	if err := fc.SetFPState(e.AS, st); err != nil {
		t.Fatal(err)
	}
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x5555 {
		t.Errorf("xmm5 = %#x after SetFPState, want 0x5555", regs.Rbx)
	}
	legacy := append([]byte(nil), st[:fxsaveSize]...)
	le.PutUint64(legacy[fxXMM+5*16:], 0x7777)
	if err := fc.SetFPState(e.AS, legacy); err != nil {
		t.Fatal(err)
	}
	regs.Rip -= 12 // back to "movq %xmm5,%rbx"
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0x7777 {
		t.Errorf("xmm5 = %#x after a legacy SetFPState, want 0x7777", regs.Rbx)
	}
}

// testTwoAddressSpaces moves one context between address spaces that map
// different pages at the same address (as a task does across exec), and
// on after one is released; switching into the released one fails.
func testTwoAddressSpaces(t *testing.T, e *Env, _ *Options) {
	code := Cat(LoadRbx(DataAddr), InsnGetpid, InsnSyscall)
	var spaces []platform.AddressSpace
	for i := 0; i < 3; i++ {
		as, err := e.P.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		defer as.Release()
		MapBytesIn(t, e.MF, as, CodeAddr, code, hostarch.ReadExecute)
		MapBytesIn(t, e.MF, as, DataAddr, []byte{byte(10 + i)}, hostarch.Read)
		spaces = append(spaces, as)
	}
	for round := 0; round < 6; round++ {
		i := round % 2
		regs := arch.NewInitialRegisters(CodeAddr, 0)
		stop, err := e.Ctx.Switch(spaces[i], &regs)
		if err != nil || stop.Kind != platform.StopSyscall || regs.Rbx != uint64(10+i) {
			t.Fatalf("round %d: %+v %v rbx %d, want %d", round, stop, err, regs.Rbx, 10+i)
		}
	}
	spaces[1].Release()
	for _, i := range []int{2, 0, 2} {
		regs := arch.NewInitialRegisters(CodeAddr, 0)
		stop, err := e.Ctx.Switch(spaces[i], &regs)
		if err != nil || stop.Kind != platform.StopSyscall || regs.Rbx != uint64(10+i) {
			t.Fatalf("after release: %+v %v rbx %d, want %d", stop, err, regs.Rbx, 10+i)
		}
	}
	regs := arch.NewInitialRegisters(CodeAddr, 0)
	if _, err := e.Ctx.Switch(spaces[1], &regs); err == nil {
		t.Errorf("Switch into a released address space succeeded")
	}
}

// testPlatformRelease: a released platform makes no address space.
func testPlatformRelease(t *testing.T, e *Env, _ *Options) {
	p, err := e.New(e.MF)
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	if as, err := p.NewAddressSpace(); err == nil {
		as.Release()
		t.Errorf("NewAddressSpace after Release succeeded")
	}
}
