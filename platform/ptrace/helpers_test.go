package ptrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

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
	insnHlt     = []byte{0xf4}                         // hlt
	insnDiv0    = []byte{0x31, 0xc9, 0xf7, 0xf1}       // xor %ecx,%ecx; div %ecx
	insnCallRax = []byte{0xff, 0xd0}                   // call *%rax
	insnInt80   = []byte{0xcd, 0x80}                   // int $0x80
	insnFsLoad  = []byte{0x64, 0x48, 0x8b, 0x1c, 0x25, 0, 0, 0, 0}
	// mov %fs:0,%rbx
)

// loadRbx returns "mov addr32,%rbx".
func loadRbx(addr uint32) []byte {
	return le32([]byte{0x48, 0x8b, 0x1c, 0x25}, addr)
}

// storeImm returns "movq $imm,addr32".
func storeImm(addr, imm uint32) []byte {
	return le32(le32([]byte{0x48, 0xc7, 0x04, 0x25}, addr), imm)
}

// cmpZero returns "cmpq $0,addr32".
func cmpZero(addr uint32) []byte {
	return append(le32([]byte{0x48, 0x83, 0x3c, 0x25}, addr), 0x00)
}

// movabsRax returns "movabs $imm,%rax".
func movabsRax(imm uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{0x48, 0xb8}, imm)
}

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// env is a platform, one address space and one context of the calling
// test goroutine, which it locks to its OS thread for good (the thread
// exits with the test, taking any leftover tracees with it).
type env struct {
	t   testing.TB
	mf  *memfile.MemoryFile
	p   *Platform
	as  *addressSpace
	ctx *context
}

func newEnv(t testing.TB) *env {
	t.Helper()
	runtime.LockOSThread()
	mf, err := memfile.New(64 << 20)
	if err != nil {
		t.Fatalf("memfile.New: %v", err)
	}
	p, err := New(mf)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	pas, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	pc, err := p.NewContext()
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	e := &env{t: t, mf: mf, p: p, as: pas.(*addressSpace), ctx: pc.(*context)}
	t.Cleanup(func() {
		e.ctx.Release()
		e.as.Release()
		e.p.Release()
		e.mf.Release()
	})
	return e
}

// mapBytes allocates a page, fills it with b and maps it at addr.
func (e *env) mapBytes(addr uintptr, b []byte, at hostarch.AccessType) memfile.FileRange {
	e.t.Helper()
	return mapBytesIn(e.t, e.mf, e.as, addr, b, at)
}

func mapBytesIn(t testing.TB, mf *memfile.MemoryFile, as platform.AddressSpace, addr uintptr, b []byte, at hostarch.AccessType) memfile.FileRange {
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

// loadCode maps code at codeAddr (r-x) and a stack page, and returns the
// initial registers.
func (e *env) loadCode(code []byte) arch.Registers {
	e.t.Helper()
	e.mapBytes(codeAddr, code, hostarch.ReadExecute)
	e.mapBytes(stackAddr, nil, hostarch.ReadWrite)
	return arch.NewInitialRegisters(codeAddr, stackTop)
}

func (e *env) switchTo(regs *arch.Registers) platform.Stop {
	e.t.Helper()
	stop, err := e.ctx.Switch(e.as, regs)
	if err != nil {
		e.t.Fatalf("Switch: %v", err)
	}
	return stop
}

// wantSyscall checks that stop is a syscall stop of sysno.
func wantSyscall(t testing.TB, stop platform.Stop, regs *arch.Registers, sysno uintptr) {
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

// readMaps returns /proc/pid/maps.
func readMaps(t testing.TB, pid int32) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/maps")
	if err != nil {
		t.Fatalf("reading maps: %v", err)
	}
	return string(b)
}

func procStatus(t testing.TB, pid int32, field string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("reading status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }

func isContextDead(err error) bool { return errors.Is(err, platform.ErrContextDead) }

func readDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

func mustAlloc(t testing.TB, e *env) memfile.FileRange {
	t.Helper()
	fr, err := e.mf.Allocate(1)
	if err != nil {
		t.Fatal(err)
	}
	return fr
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
