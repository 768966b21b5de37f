package ptrace

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// TestStubCodeAssembles assembles the stub's code with the host assembler
// and compares the bytes with stubCode.
func TestStubCodeAssembles(t *testing.T) {
	as, err := exec.LookPath("as")
	if err != nil {
		t.Skipf("no assembler: %v", err)
	}
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		t.Skipf("no objcopy: %v", err)
	}
	const src = `
	.text
entry:	int3
	jmp entry
inject:	syscall
done:	int3
	jmp done
batch:	test %r13, %r13
	jz batch_done
	mov 0(%r12), %rax
	mov 8(%r12), %rdi
	mov 16(%r12), %rsi
	mov 24(%r12), %rdx
	mov 32(%r12), %r10
	mov 40(%r12), %r8
	mov 48(%r12), %r9
batch_syscall:
	syscall
	cmp $-4095, %rax
	jae batch_done
	add $64, %r12
	dec %r13
	jmp batch
batch_done:
	int3
	jmp batch_done
`
	dir := t.TempDir()
	s, o, bin := filepath.Join(dir, "stub.s"), filepath.Join(dir, "stub.o"), filepath.Join(dir, "stub.bin")
	if err := os.WriteFile(s, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(as, "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v: %s", err, out)
	}
	if out, err := exec.Command(objcopy, "-O", "binary", "-j", ".text", o, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v: %s", err, out)
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stubCode, want) {
		t.Errorf("stubCode = % x, the assembler says % x", stubCode, want)
	}
}

// TestStubELF checks the stub image with debug/elf.
func TestStubELF(t *testing.T) {
	img := stubImage(nil)
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("debug/elf: %v", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || f.Entry != stubEntry {
		t.Errorf("header: %+v", f.FileHeader)
	}
	var loads int
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			loads++
			if p.Vaddr != stubBase || p.Off != 0 || p.Filesz != uint64(len(img)) || p.Flags != elf.PF_R|elf.PF_X {
				t.Errorf("PT_LOAD: %+v", p.ProgHeader)
			}
		case elf.PT_GNU_STACK:
			if p.Flags&elf.PF_X != 0 {
				t.Errorf("executable stack")
			}
		default:
			t.Errorf("unexpected program header %v", p.Type)
		}
	}
	if loads != 1 {
		t.Errorf("%d PT_LOAD headers", loads)
	}
	if !bytes.Equal(img[stubSyscall-stubBase:stubSyscall-stubBase+2], []byte{0x0f, 0x05}) {
		t.Errorf("no syscall instruction at stubSyscall")
	}
	if img[stubSyscallReturn-stubBase] != 0xcc {
		t.Errorf("no int3 after the syscall instruction")
	}
	if stubBase <= maxUserAddress || stubScratch < maxUserAddress || stubBase+pageSize > hostTaskTop {
		t.Errorf("layout: stub %#x scratch %#x max user %#x", stubBase, stubScratch, maxUserAddress)
	}
}

// TestStubFilter runs the seccomp program in gVisor's BPF interpreter.
func TestStubFilter(t *testing.T) {
	insns, err := stubFilter()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := bpf.Compile(insns, false)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	data := func(nr int32, arch uint32, ip, flags uint64) bpf.Input {
		b := make([]byte, 64)
		binary.LittleEndian.PutUint32(b[0:], uint32(nr))
		binary.LittleEndian.PutUint32(b[4:], arch)
		binary.LittleEndian.PutUint64(b[8:], ip)
		binary.LittleEndian.PutUint64(b[16+3*8:], flags)
		return b
	}
	const shared = unix.MAP_SHARED | unix.MAP_FIXED
	for _, tc := range []struct {
		nr    int32
		arch  uint32
		ip    uint64
		want  linux.BPFAction
		flags uint64
	}{
		// The batch loop: mmap(MAP_SHARED|MAP_FIXED) and munmap only.
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubBatchSyscallReturn, linux.SECCOMP_RET_ALLOW, shared},
		{unix.SYS_MUNMAP, linux.AUDIT_ARCH_X86_64, stubBatchSyscallReturn, linux.SECCOMP_RET_ALLOW, 0},
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubBatchSyscallReturn, linux.SECCOMP_RET_KILL_PROCESS, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS},
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubBatchSyscallReturn, linux.SECCOMP_RET_KILL_PROCESS, shared | 1<<32},
		{unix.SYS_MPROTECT, linux.AUDIT_ARCH_X86_64, stubBatchSyscallReturn, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_EXECVE, linux.AUDIT_ARCH_X86_64, stubBatchSyscallReturn, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_MMAP, unix.AUDIT_ARCH_I386, stubBatchSyscallReturn, linux.SECCOMP_RET_KILL_PROCESS, shared},
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubBatchSyscallReturn + 2, linux.SECCOMP_RET_KILL_PROCESS, shared},
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubSyscallReturn, linux.SECCOMP_RET_ALLOW, 0},
		{unix.SYS_EXECVE, linux.AUDIT_ARCH_X86_64, stubSyscallReturn, linux.SECCOMP_RET_ALLOW, 0},
		{unix.SYS_MMAP, unix.AUDIT_ARCH_I386, stubSyscallReturn, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubSyscall, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubSyscallReturn + 1, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_MMAP, linux.AUDIT_ARCH_X86_64, stubSyscallReturn ^ 1<<32, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_GETPID, linux.AUDIT_ARCH_X86_64, 0x400007, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_GETTIMEOFDAY, linux.AUDIT_ARCH_X86_64, vsyscallBase, linux.SECCOMP_RET_TRAP, 0},
		{unix.SYS_TIME, linux.AUDIT_ARCH_X86_64, vsyscallBase + 0x400, linux.SECCOMP_RET_TRAP, 0},
		{unix.SYS_TIME, linux.AUDIT_ARCH_X86_64, vsyscallBase + 0x1000, linux.SECCOMP_RET_KILL_PROCESS, 0},
		{unix.SYS_TIME, linux.AUDIT_ARCH_X86_64, 0xffffffff00600000, linux.SECCOMP_RET_KILL_PROCESS, 0},
	} {
		got, err := bpf.Exec[bpf.NativeEndian](prog, data(tc.nr, tc.arch, tc.ip, tc.flags))
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		if linux.BPFAction(got) != tc.want {
			t.Errorf("nr %d arch %#x ip %#x: %v, want %v", tc.nr, tc.arch, tc.ip, linux.BPFAction(got), tc.want)
		}
	}
}
