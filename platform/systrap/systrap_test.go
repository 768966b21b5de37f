package systrap

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// newPlatform makes the platform under test. The tests below use only
// the platform contract (plus this package's escape checks), so that they
// can move to a shared suite.
func newPlatform(mf *memfile.MemoryFile) (platform.Platform, error) { return New(mf) }

// Test address-space layout.
const (
	codeAddr  = 0x400000
	dataAddr  = 0x500000
	stackAddr = 0x7ff000
	stackTop  = stackAddr + pageSize
)

// Hand-assembled x86-64 snippets (AT&T syntax in the comments).
var (
	insnGetpid  = []byte{0xb8, 0x27, 0x00, 0x00, 0x00} // mov $39,%eax
	insnExit    = []byte{0xb8, 0x3c, 0x00, 0x00, 0x00} // mov $60,%eax
	insnSyscall = []byte{0x0f, 0x05}                   // syscall
	insnRaxRbx  = []byte{0x48, 0x89, 0xc3}             // mov %rax,%rbx
	insnJmpSelf = []byte{0xeb, 0xfe}                   // jmp .
	insnInt3    = []byte{0xcc}                         // int3
	insnUd2     = []byte{0x0f, 0x0b}                   // ud2
	insnDiv0    = []byte{0x31, 0xc9, 0xf7, 0xf1}       // xor %ecx,%ecx; div %ecx
	insnJmpRax  = []byte{0xff, 0xe0}                   // jmp *%rax
	insnInt80   = []byte{0xcd, 0x80}                   // int $0x80
	insnFsLoad  = []byte{0x64, 0x48, 0x8b, 0x1c, 0x25, 0, 0, 0, 0}
	// mov %fs:0,%rbx
	insnGsLoad = []byte{0x65, 0x48, 0x8b, 0x14, 0x25, 8, 0, 0, 0}
	// mov %gs:8,%rdx
	insnStmxcsr = []byte{0x0f, 0xae, 0x1c, 0x25, 0x00, 0x00, 0x50, 0x00} // stmxcsr dataAddr
)

// loadRbx returns "mov addr32,%rbx".
func loadRbx(addr uint32) []byte {
	return binary.LittleEndian.AppendUint32([]byte{0x48, 0x8b, 0x1c, 0x25}, addr)
}

// storeRbx returns "mov %rbx,addr32".
func storeRbx(addr uint32) []byte {
	return binary.LittleEndian.AppendUint32([]byte{0x48, 0x89, 0x1c, 0x25}, addr)
}

// movabsRax returns "movabs $imm,%rax".
func movabsRax(imm uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{0x48, 0xb8}, imm)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// env is a platform, one address space and one context of the calling
// goroutine, which it locks to its OS thread for good.
type env struct {
	t   testing.TB
	mf  *memfile.MemoryFile
	p   platform.Platform
	as  platform.AddressSpace
	ctx platform.Context
}

func newEnv(t testing.TB) *env {
	t.Helper()
	runtime.LockOSThread()
	mf, err := memfile.New(64 << 20)
	if err != nil {
		t.Fatalf("memfile.New: %v", err)
	}
	p, err := newPlatform(mf)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	ctx, err := p.NewContext()
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	e := &env{t: t, mf: mf, p: p, as: as, ctx: ctx}
	t.Cleanup(func() {
		e.ctx.Release()
		e.as.Release()
		e.p.Release()
		e.mf.Release()
	})
	return e
}

func (e *env) mapBytes(as platform.AddressSpace, addr uintptr, b []byte, at hostarch.AccessType) memfile.FileRange {
	e.t.Helper()
	fr, err := e.mf.Allocate(1)
	if err != nil {
		e.t.Fatalf("Allocate: %v", err)
	}
	copy(e.mf.Slice(fr), b)
	if err := as.MapFile(addr, fr, at); err != nil {
		e.t.Fatalf("MapFile(%#x): %v", addr, err)
	}
	return fr
}

// loadCode maps code at codeAddr (r-x) and a stack page in as.
func (e *env) loadCode(as platform.AddressSpace, code []byte) arch.Registers {
	e.t.Helper()
	e.mapBytes(as, codeAddr, code, hostarch.ReadExecute)
	e.mapBytes(as, stackAddr, nil, hostarch.ReadWrite)
	return arch.NewInitialRegisters(codeAddr, stackTop)
}

func (e *env) switchTo(ctx platform.Context, as platform.AddressSpace, regs *arch.Registers) platform.Stop {
	e.t.Helper()
	stop, err := ctx.Switch(as, regs)
	if err != nil {
		e.t.Fatalf("Switch: %v", err)
	}
	return stop
}

func wantSyscall(t testing.TB, stop platform.Stop, regs *arch.Registers, sysno uintptr) {
	t.Helper()
	if stop.Kind != platform.StopSyscall || regs.SyscallNo() != sysno || stop.Syscall32 {
		t.Fatalf("stop = %+v (syscall %d, rip %#x), want syscall %d", stop, regs.SyscallNo(), regs.Rip, sysno)
	}
}

func wantFault(t testing.TB, stop platform.Stop, signo unix.Signal, addr uintptr, at hostarch.AccessType) {
	t.Helper()
	if stop.Kind != platform.StopFault || stop.Signo != int(signo) || stop.Addr != addr || stop.Access != at {
		t.Fatalf("stop = %+v, want %v fault at %#x (%v)", stop, signo, addr, at)
	}
}

// TestGetpid runs the syscall round trip: the syscall's number and the
// return value the sentry sets travel both ways, and registers survive.
func TestGetpid(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(e.as, cat(insnGetpid, insnSyscall, insnRaxRbx, insnExit, insnSyscall))
	regs.R12, regs.R15 = 0x1212, 0x1515
	for i := 0; i < 3; i++ {
		r := regs
		stop := e.switchTo(e.ctx, e.as, &r)
		wantSyscall(t, stop, &r, unix.SYS_GETPID)
		if r.Rip != codeAddr+7 || r.Rcx != r.Rip || r.R12 != 0x1212 || r.R15 != 0x1515 {
			t.Fatalf("registers at the syscall: rip %#x rcx %#x r12 %#x r15 %#x", r.Rip, r.Rcx, r.R12, r.R15)
		}
		r.Rax = uint64(1000 + i)
		stop = e.switchTo(e.ctx, e.as, &r)
		wantSyscall(t, stop, &r, unix.SYS_EXIT)
		if r.Rbx != uint64(1000+i) {
			t.Fatalf("rbx = %d, want the return value %d", r.Rbx, 1000+i)
		}
	}
}

// TestFaults checks read, write and fetch faults and the other
// synchronous signals.
func TestFaults(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(e.as, cat(loadRbx(dataAddr), storeRbx(dataAddr), insnInt3, insnUd2, insnDiv0))
	r := regs
	wantFault(t, e.switchTo(e.ctx, e.as, &r), unix.SIGSEGV, dataAddr, hostarch.Read)
	if r.Rip != codeAddr {
		t.Fatalf("rip %#x at the read fault, want %#x", r.Rip, codeAddr)
	}
	e.mapBytes(e.as, dataAddr, nil, hostarch.Read)
	wantFault(t, e.switchTo(e.ctx, e.as, &r), unix.SIGSEGV, dataAddr, hostarch.Write)
	e.as.Unmap(dataAddr, pageSize)
	e.mapBytes(e.as, dataAddr, nil, hostarch.ReadWrite)
	stop := e.switchTo(e.ctx, e.as, &r)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGTRAP) {
		t.Fatalf("int3: %+v", stop)
	}
	stop = e.switchTo(e.ctx, e.as, &r)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGILL) {
		t.Fatalf("ud2: %+v", stop)
	}
	r.Rip += 2
	stop = e.switchTo(e.ctx, e.as, &r)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGFPE) {
		t.Fatalf("div 0: %+v", stop)
	}
	// An instruction fetch from an unmapped page.
	r = regs
	r.Rip = 0x900000
	wantFault(t, e.switchTo(e.ctx, e.as, &r), unix.SIGSEGV, 0x900000, hostarch.Execute)
}

// TestSegmentBasesAndInt80 checks that Fs_base and Gs_base reach the thread and that a
// 32-bit syscall is told apart.
func TestSegmentBasesAndInt80(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(e.as, cat(insnFsLoad, insnGsLoad, insnGetpid, insnSyscall, insnInt80))
	data := e.mapBytes(e.as, dataAddr, nil, hostarch.ReadWrite)
	binary.LittleEndian.PutUint64(e.mf.Slice(data), 0xfeedface)
	binary.LittleEndian.PutUint64(e.mf.Slice(data)[16:], 0xdecade)
	regs.Fs_base, regs.Gs_base = dataAddr, dataAddr+8
	stop := e.switchTo(e.ctx, e.as, &regs)
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	if regs.Rbx != 0xfeedface || regs.Rdx != 0xdecade || regs.Fs_base != dataAddr || regs.Gs_base != dataAddr+8 {
		t.Fatalf("rbx %#x rdx %#x fs_base %#x gs_base %#x, want 0xfeedface 0xdecade %#x %#x", regs.Rbx, regs.Rdx, regs.Fs_base, regs.Gs_base, dataAddr, dataAddr+8)
	}
	regs.Rax = 20 // i386 getpid
	stop = e.switchTo(e.ctx, e.as, &regs)
	if stop.Kind != platform.StopSyscall || !stop.Syscall32 || regs.SyscallNo() != 20 {
		t.Fatalf("int $0x80: %+v, syscall %d", stop, regs.SyscallNo())
	}
}

// TestInterrupt checks Interrupt before and during Switch.
func TestInterrupt(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(e.as, insnJmpSelf)
	e.ctx.Interrupt()
	if stop := e.switchTo(e.ctx, e.as, &regs); stop.Kind != platform.StopInterrupt {
		t.Fatalf("Switch after Interrupt: %+v", stop)
	}
	for i := 0; i < 3; i++ {
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(10 * time.Millisecond)
			e.ctx.Interrupt()
		}()
		stop := e.switchTo(e.ctx, e.as, &regs)
		<-done
		if stop.Kind != platform.StopInterrupt || regs.Rip != codeAddr {
			t.Fatalf("Switch interrupted: %+v at rip %#x", stop, regs.Rip)
		}
	}
}

// TestThreads runs contexts in one address space on several OS threads
// at once, and one context in two address spaces (as exec does).
func TestThreads(t *testing.T) {
	e := newEnv(t)
	e.loadCode(e.as, cat(insnGetpid, insnSyscall, insnRaxRbx, insnExit, insnSyscall))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ctx, err := e.p.NewContext()
			if err != nil {
				errs <- err
				return
			}
			defer ctx.Release()
			for i := 0; i < 50; i++ {
				r := arch.NewInitialRegisters(codeAddr, stackTop)
				if stop, err := ctx.Switch(e.as, &r); err != nil || stop.Kind != platform.StopSyscall {
					errs <- errors.Join(err, errors.New("no getpid stop"))
					return
				}
				r.Rax = uint64(g*100 + i)
				if stop, err := ctx.Switch(e.as, &r); err != nil || stop.Kind != platform.StopSyscall || r.Rbx != uint64(g*100+i) {
					errs <- errors.Join(err, errors.New("wrong exit stop"))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Another address space, as after exec, then back.
	as2, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	r := e.loadCode(as2, cat(insnExit, insnSyscall))
	wantSyscall(t, e.switchTo(e.ctx, as2, &r), &r, unix.SYS_EXIT)
	as2.Release()
	r = arch.NewInitialRegisters(codeAddr, stackTop)
	wantSyscall(t, e.switchTo(e.ctx, e.as, &r), &r, unix.SYS_GETPID)
}

// TestFPState changes MXCSR through SetFPState and reads it back from the
// application.
func TestFPState(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(e.as, cat(insnGetpid, insnSyscall, insnStmxcsr, insnExit, insnSyscall))
	data := e.mapBytes(e.as, dataAddr, nil, hostarch.ReadWrite)
	wantSyscall(t, e.switchTo(e.ctx, e.as, &regs), &regs, unix.SYS_GETPID)
	fpc := e.ctx.(platform.FPStateContext)
	st, err := fpc.FPState(e.as)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(st[24:]); got != 0x1f80 {
		t.Fatalf("MXCSR %#x, want the initial 0x1f80", got)
	}
	binary.LittleEndian.PutUint32(st[24:], 0x1f80|0x6000) // round toward zero
	if err := fpc.SetFPState(e.as, st); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), st...)
	binary.LittleEndian.PutUint32(bad[24:], 0xffffffff)
	if err := fpc.SetFPState(e.as, bad); !errors.Is(err, platform.ErrInvalidFPState) {
		t.Fatalf("SetFPState with reserved MXCSR bits: %v", err)
	}
	wantSyscall(t, e.switchTo(e.ctx, e.as, &regs), &regs, unix.SYS_EXIT)
	if got := binary.LittleEndian.Uint32(e.mf.Slice(data)); got != 0x7f80 {
		t.Fatalf("application's MXCSR %#x, want 0x7f80", got)
	}
}

// TestStubDeath checks that a stub thread killed from outside ends its
// Switch with ErrContextDead.
func TestStubDeath(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(e.as, insnJmpSelf)
	c := e.ctx.(*context)
	go func() {
		time.Sleep(20 * time.Millisecond)
		for _, th := range c.threads {
			unix.Kill(int(th.st.Tid()), unix.SIGKILL)
		}
	}()
	// c.threads is filled by the Switch below before the kill lands: a
	// thread is made before Switch resumes it.
	_, err := e.ctx.Switch(e.as, &regs)
	if !errors.Is(err, platform.ErrContextDead) {
		t.Fatalf("Switch with its stub thread killed: %v, want ErrContextDead", err)
	}
}

// TestStubCodeEscapes jumps into the stub's code: to each of its syscall
// instructions and to the handler, with registers of the application's
// choosing. Each is reported as a fault or a trapped syscall, the
// context stays usable, and no host syscall is made for the application.
func TestStubCodeEscapes(t *testing.T) {
	e := newEnv(t)
	for _, target := range []uint64{
		stubFutexReturn - 2, stubArchPrctlReturn - 2, stubSigreturnReturn - 2, stubBootstrap,
		stubHandler, stubRestorer,
	} {
		addr := stubCodeBase + target
		regs := e.loadCode(e.as, cat(movabsRax(addr), insnJmpRax))
		// rsp on the application's stack, syscall registers of an
		// mmap of the memory file.
		regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8 = 0x10000, 0x1000, 7, 1, 0
		stop, err := e.ctx.Switch(e.as, &regs)
		if err != nil {
			t.Fatalf("jump to %#x: %v", addr, err)
		}
		if stop.Kind == platform.StopInterrupt {
			t.Fatalf("jump to %#x: %+v", addr, stop)
		}
		t.Logf("jump to stub+%#x: %+v rip %#x", target, stop, regs.Rip)
		// The context still works.
		r := e.loadCode(e.as, cat(insnGetpid, insnSyscall))
		wantSyscall(t, e.switchTo(e.ctx, e.as, &r), &r, unix.SYS_GETPID)
		e.as.Unmap(codeAddr, pageSize)
		e.as.Unmap(stackAddr, pageSize)
	}
}
