package kvm

import (
	"encoding/binary"
)

// The guest's ring 0: its virtual layout, its machine code and its system
// tables. Everything here lives in pages of the memory file that only the
// platform uses, mapped supervisor-only in the upper canonical half of every
// address space (PML4 slot 511), where ring 3 cannot reach it.

// Guest physical layout: the memory file is the only memory slot, at
// memBase. Below it (the 4 GiB under memBase) there is nothing, so the
// three pages KVM_SET_TSS_ADDR asks for on Intel can sit at tssAddr.
const (
	memBase = 1 << 32
	tssAddr = 0xfffbd000
)

// Guest virtual layout of ring 0.
const (
	// kernelBase is the start of PML4 slot 511.
	kernelBase = 0xffffff8000000000

	codeVA = kernelBase          // the stubs below, r-x
	gdtVA  = kernelBase + 0x1000 // the GDT, rw-
	idtVA  = kernelBase + 0x2000 // the IDT, r--

	// vcpuAreaVA is where the per-vCPU pages start: vCPU i has
	// vcpuAreaVA + i*vcpuStride: its "main" page (TSS, entry frame, ring-0
	// stack), an unmapped guard page, its IST page (the stack of double
	// faults, NMIs and machine checks) and another guard page.
	vcpuAreaVA = kernelBase + 0x10000
	vcpuStride = 0x4000
	vcpuISTOff = 0x2000

	// Offsets in a vCPU's main page.
	tssOff   = 0x000 // the 64-bit TSS (104 bytes)
	frameOff = 0x800 // the entry frame: rax, then an iretq frame
	// The ring-0 stack (RSP0) grows down from the end of the page.
)

// vcpuMainVA returns the guest virtual address of vCPU id's main page.
func vcpuMainVA(id int) uint64 { return vcpuAreaVA + uint64(id)*vcpuStride }

// vcpuISTVA returns the guest virtual address of vCPU id's IST page.
func vcpuISTVA(id int) uint64 { return vcpuMainVA(id) + vcpuISTOff }

// GDT selectors. They are Linux's, so that what a program sees in its
// segment registers is what it sees on Linux: STAR makes syscall load
// kernelCS/kernelSS and sysret (unused here) userCS/userSS.
const (
	kernelCS = 0x10
	kernelSS = 0x18
	userSS   = 0x2b // index 5, RPL 3
	userCS   = 0x33 // index 6, RPL 3
	tssSel   = 0x40 // index 8 (16 bytes)
	gdtLimit = 10*8 - 1

	// starValue is MSR_STAR: syscall CS in 47:32, sysret base in 63:48.
	starValue = uint64(0x23)<<48 | uint64(kernelCS)<<32
)

// Offsets in the code page. The code is (AT&T syntax):
//
//	entry:       test %rax,%rax        the host sets rax to a CR3 to load
//	             jz 1f                 (flushing the TLB) or to 0, and rsp
//	             mov %rax,%cr3         to the entry frame: the
//	1:           pop %rax              application's rax and the iretq
//	iret:        iretq                 frame that enters ring 3
//
//	syscall:     hlt                   LSTAR: exit to the host, which reads
//	             jmp syscall           rcx (rip) and r11 (rflags)
//
//	common:      push %rax             every exception, after its stub has
//	             mov %cr2,%rax         pushed an error code (or 0) and the
//	             push %rax             vector number: exit to the host with
//	exc:         hlt                   [cr2, rax, vector, error, iretq frame]
//	             jmp exc               on the stack
//
//	vector N:    [push $0]; push $N; jmp common
//
// The hlt instructions are the only way out of the guest: with no
// in-kernel interrupt controller KVM turns each into KVM_EXIT_HLT with rip
// just past it, which tells the host which one it was. The host never
// resumes the guest after one of them: it always re-enters at entry.
const (
	entryOff       = 0x00
	entryIretqOff  = 0x09
	entryEndOff    = 0x0b
	syscallOff     = 0x40
	syscallExitOff = 0x41 // rip after the syscall hlt
	commonOff      = 0x80
	excExitOff     = 0x86 // rip after the exception hlt
	vectorsOff     = 0x100
	vectorStride   = 16
	// Vectors 0-31 have stubs in slots 0-31; int $0x80 has slot 32.
	int80Slot   = 32
	vectorSlots = 33
	vectorsEnd  = vectorsOff + vectorSlots*vectorStride
)

// Exception vectors.
const (
	vecDE    = 0  // divide error
	vecDB    = 1  // debug
	vecNMI   = 2  // non-maskable interrupt
	vecBP    = 3  // int3
	vecOF    = 4  // into
	vecBR    = 5  // bound
	vecUD    = 6  // invalid opcode
	vecNM    = 7  // device not available
	vecDF    = 8  // double fault
	vecTS    = 10 // invalid TSS
	vecNP    = 11 // segment not present
	vecSS    = 12 // stack-segment fault
	vecGP    = 13 // general protection
	vecPF    = 14 // page fault
	vecMF    = 16 // x87 floating point
	vecAC    = 17 // alignment check
	vecMC    = 18 // machine check
	vecXM    = 19 // SIMD floating point
	vecVE    = 20 // virtualization exception
	vecCP    = 21 // control protection
	vecInt80 = 0x80
)

// hasErrorCode reports whether the CPU pushes an error code for vector v.
func hasErrorCode(v int) bool {
	switch v {
	case vecDF, vecTS, vecNP, vecSS, vecGP, vecPF, vecAC, vecCP, 29, 30:
		return true
	}
	return false
}

// slotVector returns the vector of stub slot i.
func slotVector(i int) int {
	if i == int80Slot {
		return vecInt80
	}
	return i
}

// codePage returns the ring-0 code page (4096 bytes).
func codePage() []byte {
	p := make([]byte, pageSize)
	// Fill with int3 so a stray jump traps (and, from ring 0, ends in a
	// double fault the host reports) rather than sliding.
	for i := range p {
		p[i] = 0xcc
	}
	copy(p[entryOff:], []byte{
		0x48, 0x85, 0xc0, // test %rax,%rax
		0x74, 0x03, // jz +3
		0x0f, 0x22, 0xd8, // mov %rax,%cr3
		0x58,       // pop %rax
		0x48, 0xcf, // iretq
	})
	copy(p[syscallOff:], []byte{
		0xf4,       // hlt
		0xeb, 0xfd, // jmp .-1 (the hlt)
	})
	copy(p[commonOff:], []byte{
		0x50,             // push %rax
		0x0f, 0x20, 0xd0, // mov %cr2,%rax
		0x50,       // push %rax
		0xf4,       // hlt
		0xeb, 0xfd, // jmp .-1 (the hlt)
	})
	for i := 0; i < vectorSlots; i++ {
		v := slotVector(i)
		off := vectorsOff + i*vectorStride
		var stub []byte
		if !hasErrorCode(v) {
			stub = append(stub, 0x6a, 0x00) // push $0
		}
		stub = append(stub, 0x68) // push $v (imm32)
		stub = binary.LittleEndian.AppendUint32(stub, uint32(v))
		// jmp common (rel32 from the end of the jmp).
		rel := int32(commonOff - (off + len(stub) + 5))
		stub = append(stub, 0xe9)
		stub = binary.LittleEndian.AppendUint32(stub, uint32(rel))
		copy(p[off:], stub)
	}
	return p
}

// Segment descriptors (Linux's values, accessed bits preset so the CPU
// never writes to the GDT).
const (
	descKernelCode = 0x00af9b000000ffff // 64-bit, DPL 0, execute/read
	descKernelData = 0x00cf93000000ffff // DPL 0, read/write
	descUserData   = 0x00cff3000000ffff // DPL 3, read/write
	descUserCode   = 0x00affb000000ffff // 64-bit, DPL 3, execute/read
)

// gdtPage returns the GDT page. The TSS descriptor carries no base: the
// CPU only reads it on ltr, which the guest never executes (each vCPU's
// TR, with its own base, is set through KVM_SET_SREGS).
func gdtPage() []byte {
	p := make([]byte, pageSize)
	le := binary.LittleEndian
	le.PutUint64(p[kernelCS:], descKernelCode)
	le.PutUint64(p[kernelSS:], descKernelData)
	le.PutUint64(p[userSS&^3:], descUserData)
	le.PutUint64(p[userCS&^3:], descUserCode)
	// 64-bit busy TSS, limit 103, present.
	le.PutUint64(p[tssSel:], 0x00008b0000000067)
	return p
}

// IDT gate attributes.
const (
	gateKernel = 0x8e // present, DPL 0, 64-bit interrupt gate
	gateUser   = 0xee // present, DPL 3 (int3, into, int $0x80 from ring 3)
)

// idtPage returns the IDT page: 256 gates, the 33 with stubs present.
func idtPage() []byte {
	p := make([]byte, pageSize)
	le := binary.LittleEndian
	for i := 0; i < vectorSlots; i++ {
		v := slotVector(i)
		addr := uint64(codeVA) + uint64(vectorsOff+i*vectorStride)
		attr := byte(gateKernel)
		if v == vecBP || v == vecOF || v == vecInt80 {
			attr = gateUser
		}
		ist := byte(0)
		if v == vecDF || v == vecNMI || v == vecMC {
			ist = 1
		}
		g := p[v*16 : v*16+16]
		le.PutUint16(g[0:], uint16(addr))
		le.PutUint16(g[2:], kernelCS)
		g[4] = ist
		g[5] = attr
		le.PutUint16(g[6:], uint16(addr>>16))
		le.PutUint32(g[8:], uint32(addr>>32))
	}
	return p
}

// initVCPUPage writes the TSS of vCPU id into its main page p: RSP0 at the
// top of the main page, IST1 at the top of the IST page, and an I/O map
// base beyond the TSS limit (no port is ever allowed from ring 3).
func initVCPUPage(p []byte, id int) {
	clear(p)
	le := binary.LittleEndian
	t := p[tssOff:]
	le.PutUint64(t[4:], vcpuMainVA(id)+pageSize) // RSP0
	le.PutUint64(t[36:], vcpuISTVA(id)+pageSize) // IST1
	le.PutUint16(t[102:], 104)                   // I/O map base
}
