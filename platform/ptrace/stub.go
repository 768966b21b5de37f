package ptrace

import (
	"debug/elf"
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// Address-space layout of a stub process. See the package comment.
const (
	pageSize = 4096

	// maxUserAddress is Platform.MaxUserAddress: the application owns
	// [pageSize, maxUserAddress).
	maxUserAddress = 0x7fff00000000

	// stubBase is where the stub ELF's single PT_LOAD segment (one page,
	// r-x) is loaded. It is above maxUserAddress, so no application
	// mapping can replace it, and well below the host's initial stack
	// (the stub is exec'd with ADDR_NO_RANDOMIZE, so the stack sits just
	// under hostTaskTop).
	stubBase = 0x7fffff000000

	// stubCodeOffset is the offset of the code in the stub page (the ELF
	// header and program headers come first).
	stubCodeOffset = 0xc0

	// stubEntry is the ELF entry point: int3; jmp .-1. It never runs: the
	// tracer sees the post-exec SIGTRAP first and always sets rip before
	// resuming. If the stub ever ran untraced it would die of SIGTRAP.
	stubEntry = stubBase + stubCodeOffset

	// stubSyscall is the injection point: the only syscall instruction
	// in the stub. The tracer sets rip here (and rax, rdi, ...) and
	// resumes with PTRACE_CONT.
	stubSyscall = stubBase + stubCodeOffset + 3

	// stubSyscallReturn is the address just after the syscall
	// instruction: seccomp_data.instruction_pointer of every syscall the
	// stub is allowed to make.
	stubSyscallReturn = stubSyscall + 2

	// stubTrapReturn is rip at the SIGTRAP stop that ends an injected
	// syscall (just after the int3 that follows the syscall instruction).
	stubTrapReturn = stubSyscallReturn + 1

	// stubBatch is the batch loop (batch.go): with r12 at the first
	// entry of the address space's batch page and r13 the number of
	// entries, it runs each entry's syscall, stops at the first error
	// (rax then holds it and r13 counts the entries not done, the
	// failed one included), and traps.
	stubBatch = stubBase + stubCodeOffset + 0x8

	// stubBatchSyscallReturn is the instruction pointer of the batch
	// loop's syscalls; the filter allows only mmap and munmap from
	// there.
	stubBatchSyscallReturn = stubBase + stubCodeOffset + 0x31

	// stubBatchTrapReturn is rip at the SIGTRAP stop that ends a batch.
	stubBatchTrapReturn = stubBase + stubCodeOffset + 0x43

	// stubScratch is a page above maxUserAddress used only while the stub
	// is being set up (to pass the seccomp program).
	stubScratch = stubBase - pageSize

	// hostTaskTop is the top of the host's (4-level paging) user address
	// space. Setup unmaps everything in [0, hostTaskTop) but the stub page.
	hostTaskTop = 0x7ffffffff000

	// stubMemFD is the memory file's fd number in the stub.
	stubMemFD = 0

	// vsyscallBase is the x86-64 legacy vsyscall page.
	vsyscallBase = 0xffffffffff600000
)

// stubCode is the stub's machine code, loaded at stubEntry.
//
// A test (TestStubCodeAssembles) assembles the same instructions with the
// host assembler and compares the bytes.
var stubCode = []byte{
	// entry (stubEntry):
	0xcc,       // int3          ; never reached while traced; kills an untraced stub
	0xeb, 0xfd, // jmp entry     ; rel8 -3
	// inject (stubSyscall):
	0x0f, 0x05, // syscall       ; the injection point
	// done (stubSyscallReturn):
	0xcc,       // int3          ; SIGTRAP tells the tracer the syscall returned
	0xeb, 0xfd, // jmp done      ; rel8 -3: a stray resume just traps again
	// batch (stubBatch): r12 is the entry, r13 the entries left.
	0x4d, 0x85, 0xed, // test %r13, %r13
	0x74, 0x35, // jz batch_done
	0x49, 0x8b, 0x04, 0x24, // mov 0(%r12), %rax   ; sysno
	0x49, 0x8b, 0x7c, 0x24, 0x08, // mov 8(%r12), %rdi
	0x49, 0x8b, 0x74, 0x24, 0x10, // mov 16(%r12), %rsi
	0x49, 0x8b, 0x54, 0x24, 0x18, // mov 24(%r12), %rdx
	0x4d, 0x8b, 0x54, 0x24, 0x20, // mov 32(%r12), %r10
	0x4d, 0x8b, 0x44, 0x24, 0x28, // mov 40(%r12), %r8
	0x4d, 0x8b, 0x4c, 0x24, 0x30, // mov 48(%r12), %r9
	0x0f, 0x05, // syscall       ; mmap or munmap only (stubFilter)
	// (stubBatchSyscallReturn):
	0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, // cmp $-4095, %rax
	0x73, 0x09, // jae batch_done ; an error ends the batch (r13 says where)
	0x49, 0x83, 0xc4, 0x40, // add $64, %r12 ; next entry
	0x49, 0xff, 0xcd, // dec %r13
	0xeb, 0xc6, // jmp batch
	// batch_done:
	0xcc,       // int3          ; the batch is over (stubBatchTrapReturn)
	0xeb, 0xfd, // jmp batch_done
}

// stubImage returns the stub executable: a static ELF64 x86-64 ET_EXEC
// with one PT_LOAD segment (the whole file, r-x, at stubBase) and a
// PT_GNU_STACK header (non-executable stack, so the kernel never applies
// READ_IMPLIES_EXEC).
//
// extra (a variant's code, NewVariant) is placed at StubVariantCodeOffset.
func stubImage(extra []byte) []byte {
	const (
		ehdrSize = 64
		phdrSize = 56
		phnum    = 2
	)
	if ehdrSize+phnum*phdrSize > stubCodeOffset {
		panic("stub headers overlap the code")
	}
	size := stubCodeOffset + len(stubCode)
	if len(extra) > 0 {
		size = StubVariantCodeOffset + len(extra)
	}
	img := make([]byte, size)
	le := binary.LittleEndian

	// ELF header.
	copy(img[0:], elf.ELFMAG)
	img[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	img[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	img[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	img[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	le.PutUint16(img[16:], uint16(elf.ET_EXEC))    // e_type
	le.PutUint16(img[18:], uint16(elf.EM_X86_64))  // e_machine
	le.PutUint32(img[20:], uint32(elf.EV_CURRENT)) // e_version
	le.PutUint64(img[24:], stubEntry)              // e_entry
	le.PutUint64(img[32:], ehdrSize)               // e_phoff
	le.PutUint64(img[40:], 0)                      // e_shoff
	le.PutUint32(img[48:], 0)                      // e_flags
	le.PutUint16(img[52:], ehdrSize)               // e_ehsize
	le.PutUint16(img[54:], phdrSize)               // e_phentsize
	le.PutUint16(img[56:], phnum)                  // e_phnum
	le.PutUint16(img[58:], 0)                      // e_shentsize
	le.PutUint16(img[60:], 0)                      // e_shnum
	le.PutUint16(img[62:], 0)                      // e_shstrndx

	// PT_LOAD: the whole file at stubBase, r-x.
	ph := img[ehdrSize:]
	le.PutUint32(ph[0:], uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_X))
	le.PutUint64(ph[8:], 0)                 // p_offset
	le.PutUint64(ph[16:], stubBase)         // p_vaddr
	le.PutUint64(ph[24:], stubBase)         // p_paddr
	le.PutUint64(ph[32:], uint64(len(img))) // p_filesz
	le.PutUint64(ph[40:], uint64(len(img))) // p_memsz
	le.PutUint64(ph[48:], pageSize)         // p_align

	// PT_GNU_STACK: rw-.
	ph = img[ehdrSize+phdrSize:]
	le.PutUint32(ph[0:], uint32(elf.PT_GNU_STACK))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_W))
	le.PutUint64(ph[48:], 16) // p_align

	copy(img[stubCodeOffset:], stubCode)
	if len(extra) > 0 {
		copy(img[StubVariantCodeOffset:], extra)
	}
	return img
}

// Offsets in struct seccomp_data.
const (
	seccompDataNR     = 0
	seccompDataArch   = 4
	seccompDataIPLow  = 8
	seccompDataIPHigh = 12
)

// stubFilter returns the seccomp program installed in every stub process
// (and inherited by its stub threads):
//
//   - a syscall whose instruction pointer is stubSyscallReturn (an injected
//     syscall) is allowed;
//   - from stubBatchSyscallReturn (the batch loop) only mmap with
//     MAP_SHARED|MAP_FIXED and munmap are (AddBatchRule); anything
//     else kills the stub;
//   - a syscall made by the kernel's vsyscall emulation (instruction
//     pointer in the vsyscall page) traps with SIGSYS, which Switch turns
//     into a SIGSEGV fault at the vsyscall address;
//   - anything else kills the stub process.
//
// Application syscalls never reach the filter: under PTRACE_SYSEMU the
// kernel stops the thread and skips the syscall before seccomp runs. The
// filter is defence in depth against application code executing a
// syscall while the stub is not under SYSEMU.
func stubFilter() ([]bpf.Instruction, error) {
	b := bpf.NewProgramBuilder()
	const (
		kill  = "kill"
		allow = "allow"
		trap  = "trap"
		notIP = "notStubIP"
		batch = "batch"
	)
	// if (arch != AUDIT_ARCH_X86_64) kill
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataArch)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, linux.AUDIT_ARCH_X86_64, 0, kill)
	// if (ip == stubSyscallReturn) allow
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataIPHigh)
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, uint32(stubSyscallReturn>>32), 0, notIP)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataIPLow)
	b.AddJumpTrueLabel(bpf.Jmp|bpf.Jeq|bpf.K, uint32(stubSyscallReturn&0xffffffff), allow, 0)
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, uint32(stubBatchSyscallReturn&0xffffffff), batch, kill)
	// if (ip == stubBatchSyscallReturn) allow mmap(MAP_SHARED|MAP_FIXED)
	// and munmap only
	if err := AddBatchRule(b, batch, allow, kill); err != nil {
		return nil, err
	}
	// if (ip in the vsyscall page) trap
	if err := b.AddLabel(notIP); err != nil {
		return nil, err
	}
	b.AddJumpFalseLabel(bpf.Jmp|bpf.Jeq|bpf.K, uint32(uint64(vsyscallBase)>>32), 0, kill)
	b.AddStmt(bpf.Ld|bpf.Abs|bpf.W, seccompDataIPLow)
	b.AddStmt(bpf.Alu|bpf.And|bpf.K, ^uint32(pageSize-1))
	b.AddJumpLabels(bpf.Jmp|bpf.Jeq|bpf.K, uint32(uint64(vsyscallBase)&0xffffffff), trap, kill)
	return FinishFilter(b, []FilterReturn{
		{allow, linux.SECCOMP_RET_ALLOW},
		{trap, linux.SECCOMP_RET_TRAP},
		{kill, linux.SECCOMP_RET_KILL_PROCESS},
	})
}
