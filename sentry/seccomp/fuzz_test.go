package seccomp

import (
	"encoding/binary"
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// FuzzSeccompFilter feeds arbitrary programs (8 bytes an instruction) and
// seccomp_data to the checks and the evaluation: New must refuse or accept
// without panicking, and for an accepted program the allow cache must
// never change the verdict the interpreter gives.
func FuzzSeccompFilter(f *testing.F) {
	enc := func(insns ...bpf.Instruction) []byte {
		var b []byte
		for _, in := range insns {
			b = binary.LittleEndian.AppendUint16(b, in.OpCode)
			b = append(b, in.JumpIfTrue, in.JumpIfFalse)
			b = binary.LittleEndian.AppendUint32(b, in.K)
		}
		return b
	}
	f.Add(enc(bpf.Stmt(bpf.Ret|bpf.K, RetAllow)), int32(39), uint32(linux.AUDIT_ARCH_X86_64), uint64(0))
	f.Add(enc(
		bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 0),
		bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, 39, 0, 1),
		bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 16),
		bpf.Jump(bpf.Jmp|bpf.Jgt|bpf.K, 5, 1, 0),
		bpf.Stmt(bpf.Ret|bpf.K, RetAllow),
		bpf.Stmt(bpf.Ret|bpf.K, RetErrno|1),
	), int32(39), uint32(linux.AUDIT_ARCH_X86_64), uint64(7))
	f.Add(enc(
		bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 4),
		bpf.Stmt(bpf.Alu|bpf.And|bpf.K, 0xff),
		bpf.Jump(bpf.Jmp|bpf.Jset|bpf.K, 0x3e, 0, 1),
		bpf.Stmt(bpf.St, 0),
		bpf.Stmt(bpf.Ld|bpf.Mem, 0),
		bpf.Stmt(bpf.Ret|bpf.A, 0),
	), int32(1), uint32(linux.AUDIT_ARCH_X86_64), uint64(1))
	f.Fuzz(func(t *testing.T, raw []byte, nr int32, arch uint32, arg0 uint64) {
		insns := make([]linux.BPFInstruction, len(raw)/8)
		for i := range insns {
			b := raw[8*i:]
			insns[i] = linux.BPFInstruction{
				OpCode:      binary.LittleEndian.Uint16(b),
				JumpIfTrue:  b[2],
				JumpIfFalse: b[3],
				K:           binary.LittleEndian.Uint32(b[4:]),
			}
		}
		flt, err := New(insns, 0)
		if err != nil {
			return
		}
		if err := flt.Attach(nil); err != nil {
			t.Fatalf("Attach of one filter: %v", err)
		}
		for _, d := range []linux.SeccompData{
			{Nr: nr, Arch: arch, Args: [6]uint64{arg0}},
			{Nr: nr, Arch: linux.AUDIT_ARCH_X86_64, InstructionPointer: arg0, Args: [6]uint64{0, arg0}},
		} {
			got, _ := Evaluate(flt, &d)
			want, _ := evaluate(flt, &d)
			if got != want {
				t.Fatalf("%v: cached verdict %#x, interpreter %#x", d, got, want)
			}
		}
	})
}
