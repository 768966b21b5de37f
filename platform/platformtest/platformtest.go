// Package platformtest is the conformance suite of the platform contract
// (package platform): the checks every platform — ptrace, KVM, systrap —
// must pass, written once against the platform interfaces and run by each
// platform's own tests:
//
//	func TestPlatform(t *testing.T) {
//		platformtest.Run(t, func(mf *memfile.MemoryFile) (platform.Platform, error) {
//			return New(mf)
//		}, platformtest.Options{})
//	}
//
// Run runs every contract check as a subtest of t (go test -run
// 'TestPlatform/Interrupt' picks some). Each subtest gets a fresh Env: a
// memory file, a platform made by the constructor, one address space and
// one context of the subtest's goroutine, which is locked to its OS
// thread for good (the thread exits with the subtest, taking any host
// state of the platform's left behind with it).
//
// The package also holds what platform-specific tests share: Env and its
// helpers (mapping pages, running a context, checking a stop), and
// hand-assembled x86-64 snippets to build tiny programs from. A platform
// package's own tests (its internals: stub processes, page tables, vCPUs)
// build on NewEnv and reach the platform's concrete types through Env.P,
// Env.AS and Env.Ctx.
//
// The programs run at fixed addresses: code at CodeAddr, data at DataAddr,
// a stack page at StackAddr (StackTop is its end). Every check only uses
// the platform interfaces; Options says where a platform legitimately
// differs (what a fault reports, which extra addresses MapFile refuses).
//
// Locking: none of its own. An Env belongs to the test goroutine that made
// it; helpers that run code on other threads say so.
package platformtest

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// PageSize is the x86-64 page size.
const PageSize = hostarch.PageSize

// Test address-space layout.
const (
	CodeAddr  = 0x400000
	DataAddr  = 0x500000
	StackAddr = 0x7ff000
	StackTop  = StackAddr + PageSize
)

// Hand-assembled x86-64 snippets (AT&T syntax in the comments).
var (
	InsnGetpid  = []byte{0xb8, 0x27, 0x00, 0x00, 0x00} // mov $39,%eax
	InsnExit    = []byte{0xb8, 0x3c, 0x00, 0x00, 0x00} // mov $60,%eax
	InsnSyscall = []byte{0x0f, 0x05}                   // syscall
	InsnRaxRbx  = []byte{0x48, 0x89, 0xc3}             // mov %rax,%rbx
	InsnJmpSelf = []byte{0xeb, 0xfe}                   // jmp .
	InsnInt3    = []byte{0xcc}                         // int3
	InsnUd2     = []byte{0x0f, 0x0b}                   // ud2
	InsnHlt     = []byte{0xf4}                         // hlt
	InsnCli     = []byte{0xfa}                         // cli
	InsnOut     = []byte{0xe6, 0x80}                   // out %al,$0x80
	InsnWrmsr   = []byte{0x0f, 0x30}                   // wrmsr
	InsnLgdt    = []byte{0x0f, 0x01, 0x14, 0x24}       // lgdt (%rsp)
	InsnDiv0    = []byte{0x31, 0xc9, 0xf7, 0xf1}       // xor %ecx,%ecx; div %ecx
	InsnCallRax = []byte{0xff, 0xd0}                   // call *%rax
	InsnInt80   = []byte{0xcd, 0x80}                   // int $0x80
	InsnFsLoad  = []byte{0x64, 0x48, 0x8b, 0x1c, 0x25, 0, 0, 0, 0}
	// mov %fs:0,%rbx

	// GetpidLoop is "loop: mov $39,%eax; syscall; jmp loop".
	GetpidLoop = Cat(InsnGetpid, InsnSyscall, []byte{0xeb, 0xf7})
)

// LoadRbx returns "mov addr32,%rbx".
func LoadRbx(addr uint32) []byte {
	return le32([]byte{0x48, 0x8b, 0x1c, 0x25}, addr)
}

// LoadRbxAbs returns "movabs imm64,%rax; mov (%rax),%rbx".
func LoadRbxAbs(addr uint64) []byte {
	return Cat(MovabsRax(addr), []byte{0x48, 0x8b, 0x18})
}

// StoreImm returns "movq $imm,addr32".
func StoreImm(addr, imm uint32) []byte {
	return le32(le32([]byte{0x48, 0xc7, 0x04, 0x25}, addr), imm)
}

// CmpZero returns "cmpq $0,addr32".
func CmpZero(addr uint32) []byte {
	return append(le32([]byte{0x48, 0x83, 0x3c, 0x25}, addr), 0x00)
}

// MovabsRax returns "movabs $imm,%rax".
func MovabsRax(imm uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{0x48, 0xb8}, imm)
}

// Le32 appends v to b, little-endian (an imm32 or disp32 operand).
func Le32(b []byte, v uint32) []byte { return le32(b, v) }

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// Cat concatenates instructions into a program.
func Cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// NewPlatform makes the platform under test on mf.
type NewPlatform func(mf *memfile.MemoryFile) (platform.Platform, error)

// Env is a memory file, a platform, one address space and one context of
// the test goroutine that made it.
type Env struct {
	T   testing.TB
	MF  *memfile.MemoryFile
	P   platform.Platform
	AS  platform.AddressSpace
	Ctx platform.Context
	// New is the constructor P was made with (for tests that make a
	// second platform).
	New NewPlatform
}

// NewEnv makes an Env with a 64 MiB memory file and locks the calling
// goroutine to its OS thread for good. Everything is released when the
// test ends.
func NewEnv(t testing.TB, newPlatform NewPlatform) *Env {
	t.Helper()
	runtime.LockOSThread()
	mf, err := memfile.New(64 << 20)
	if err != nil {
		t.Fatalf("memfile.New: %v", err)
	}
	p, err := newPlatform(mf)
	if err != nil {
		mf.Release()
		t.Fatalf("New: %v", err)
	}
	as, err := p.NewAddressSpace()
	if err != nil {
		p.Release()
		mf.Release()
		t.Fatalf("NewAddressSpace: %v", err)
	}
	c, err := p.NewContext()
	if err != nil {
		as.Release()
		p.Release()
		mf.Release()
		t.Fatalf("NewContext: %v", err)
	}
	e := &Env{T: t, MF: mf, P: p, AS: as, Ctx: c, New: newPlatform}
	t.Cleanup(func() {
		e.Ctx.Release()
		e.AS.Release()
		e.P.Release()
		e.MF.Release()
	})
	return e
}

// MapBytes allocates a page, fills it with b and maps it at addr in e.AS.
func (e *Env) MapBytes(addr uintptr, b []byte, at hostarch.AccessType) memfile.FileRange {
	e.T.Helper()
	return MapBytesIn(e.T, e.MF, e.AS, addr, b, at)
}

// MapBytesIn allocates a page of mf, fills it with b and maps it at addr
// in as.
func MapBytesIn(t testing.TB, mf *memfile.MemoryFile, as platform.AddressSpace, addr uintptr, b []byte, at hostarch.AccessType) memfile.FileRange {
	t.Helper()
	fr, err := mf.Allocate(1)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	copy(mf.Slice(fr), b)
	if err := as.MapFile(addr, fr, at); err != nil {
		t.Fatalf("MapFile(%#x): %v", addr, err)
	}
	return fr
}

// Alloc allocates a page of e.MF.
func (e *Env) Alloc() memfile.FileRange {
	e.T.Helper()
	fr, err := e.MF.Allocate(1)
	if err != nil {
		e.T.Fatal(err)
	}
	return fr
}

// LoadCode maps code at CodeAddr (r-x) and a stack page at StackAddr, and
// returns the initial registers (platform.LoadProgram; the pages live as
// long as e.MF).
func (e *Env) LoadCode(code []byte) arch.Registers {
	e.T.Helper()
	regs, _, err := platform.LoadProgram(e.MF, e.AS, CodeAddr, code, StackAddr)
	if err != nil {
		e.T.Fatalf("LoadProgram: %v", err)
	}
	return regs
}

// SwitchTo runs e.Ctx in e.AS until it stops; an error fails the test.
func (e *Env) SwitchTo(regs *arch.Registers) platform.Stop {
	e.T.Helper()
	stop, err := e.Ctx.Switch(e.AS, regs)
	if err != nil {
		e.T.Fatalf("Switch: %v", err)
	}
	return stop
}

// WantSyscall checks that stop is a 64-bit syscall stop of sysno.
func WantSyscall(t testing.TB, stop platform.Stop, regs *arch.Registers, sysno uintptr) {
	t.Helper()
	if stop.Kind != platform.StopSyscall {
		t.Fatalf("stop = %+v, want syscall %d (rip %#x)", stop, sysno, regs.Rip)
	}
	if regs.SyscallNo() != sysno {
		t.Fatalf("syscall %d, want %d", regs.SyscallNo(), sysno)
	}
	if stop.Syscall32 {
		t.Fatalf("syscall %d from a syscall instruction reported as a 32-bit one (rip %#x rcx %#x)", sysno, regs.Rip, regs.Rcx)
	}
}

// RunOnNewContext runs the program at rip (stack at StackTop) in e.AS on
// a new context of a new OS thread until it stops, and returns its
// registers. Anything but a syscall stop fails the test (reported as
// what); ok says whether it was a syscall stop.
func (e *Env) RunOnNewContext(t testing.TB, what string, rip uintptr) (regs arch.Registers, ok bool) {
	<-OnThread(func() {
		c, err := e.P.NewContext()
		if err != nil {
			t.Errorf("%s: NewContext: %v", what, err)
			return
		}
		defer c.Release()
		regs = arch.NewInitialRegisters(rip, StackTop)
		stop, err := c.Switch(e.AS, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			t.Errorf("%s: %+v %v", what, stop, err)
			return
		}
		ok = true
	})
	return regs, ok
}

// OnThread runs f on a new goroutine locked to a new OS thread (which
// exits afterwards) and returns a channel closed when f returns.
func OnThread(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		f()
	}()
	return done
}

// IsContextDead reports whether err is (or wraps) platform.ErrContextDead.
func IsContextDead(err error) bool { return errors.Is(err, platform.ErrContextDead) }

// CountFDs returns how many descriptors the test process has open.
func CountFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
