package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

func ret(k uint32) linux.BPFInstruction {
	return linux.BPFInstruction(bpf.Stmt(bpf.Ret|bpf.K, k))
}

// onNr returns a program: action for syscall nr, ALLOW otherwise.
func onNr(nr int32, action uint32) []linux.BPFInstruction {
	return []linux.BPFInstruction{
		linux.BPFInstruction(bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 0)),
		linux.BPFInstruction(bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, uint32(nr), 0, 1)),
		ret(action),
		ret(RetAllow),
	}
}

func chain(t *testing.T, progs ...[]linux.BPFInstruction) *Filter {
	t.Helper()
	var leaf *Filter
	for _, p := range progs {
		f, err := New(p, 0)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := f.Attach(leaf); err != nil {
			t.Fatalf("Attach: %v", err)
		}
		leaf = f
	}
	return leaf
}

func TestEvaluatePrecedence(t *testing.T) {
	d := &linux.SeccompData{Nr: 39, Arch: linux.AUDIT_ARCH_X86_64}
	for _, c := range []struct {
		name    string
		actions []uint32
		want    uint32
	}{
		{"none disagrees", []uint32{RetAllow, RetAllow}, RetAllow},
		{"errno over allow", []uint32{RetErrno | 1, RetAllow}, RetErrno | 1},
		{"newest wins a tie", []uint32{RetErrno | 1, RetErrno | 2}, RetErrno | 2},
		{"kill_process over everything", []uint32{RetKillThread, RetKillProcess, RetTrap}, RetKillProcess},
		{"trap over errno", []uint32{RetErrno | 1, RetTrap | 3}, RetTrap | 3},
		{"user_notif over trace and log", []uint32{RetTrace, RetLog, RetUserNotif}, RetUserNotif},
		{"unknown 0x10000 between kill_thread and trap", []uint32{RetTrap, 0x00010000}, 0x00010000},
	} {
		var progs [][]linux.BPFInstruction
		for _, a := range c.actions {
			progs = append(progs, onNr(39, a))
		}
		got, _ := Evaluate(chain(t, progs...), d)
		if got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
	// Another syscall is allowed by every filter.
	got, match := Evaluate(chain(t, onNr(39, RetKillProcess)), &linux.SeccompData{Nr: 40})
	if got != RetAllow || match != nil {
		t.Errorf("unfiltered syscall: got %#x %v", got, match)
	}
}

func TestNewRefuses(t *testing.T) {
	st := func(code uint16, k uint32) linux.BPFInstruction { return linux.BPFInstruction(bpf.Stmt(code, k)) }
	for _, c := range []struct {
		name string
		prog []linux.BPFInstruction
	}{
		{"empty", nil},
		{"16-bit load", []linux.BPFInstruction{st(bpf.Ld|bpf.H|bpf.Abs, 0), ret(RetAllow)}},
		{"misaligned", []linux.BPFInstruction{st(bpf.Ld|bpf.W|bpf.Abs, 2), ret(RetAllow)}},
		{"past the data", []linux.BPFInstruction{st(bpf.Ld|bpf.W|bpf.Abs, 64), ret(RetAllow)}},
		{"indirect load", []linux.BPFInstruction{st(bpf.Ld|bpf.W|bpf.Ind, 0), ret(RetAllow)}},
		{"modulo", []linux.BPFInstruction{st(bpf.Alu|bpf.Mod|bpf.K, 3), ret(RetAllow)}},
		{"load before store", []linux.BPFInstruction{st(bpf.Ld|bpf.Mem, 1), ret(RetAllow)}},
		{"store on one path only", []linux.BPFInstruction{
			linux.BPFInstruction(bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, 0, 0, 1)),
			st(bpf.St, 2),
			st(bpf.Ld|bpf.Mem, 2),
			ret(RetAllow)}},
		{"no return", []linux.BPFInstruction{st(bpf.Ld|bpf.W|bpf.Abs, 0)}},
		{"division by zero", []linux.BPFInstruction{st(bpf.Alu|bpf.Div|bpf.K, 0), ret(RetAllow)}},
	} {
		if _, err := New(c.prog, 0); err != unix.EINVAL {
			t.Errorf("%s: got %v, want EINVAL", c.name, err)
		}
	}
	ok := []linux.BPFInstruction{st(bpf.St, 2), st(bpf.Ld|bpf.Mem, 2), st(bpf.Ld|bpf.W|bpf.Len, 0), ret(RetAllow)}
	if _, err := New(ok, 0); err != nil {
		t.Errorf("store then load, length load: %v", err)
	}
}

func TestChainLength(t *testing.T) {
	big := make([]linux.BPFInstruction, 4096)
	for i := range big {
		big[i] = ret(RetAllow)
	}
	var leaf *Filter
	for i := 0; ; i++ {
		f, err := New(big, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Attach(leaf); err != nil {
			if err != unix.ENOMEM || i != 7 {
				t.Fatalf("filter %d: %v, want ENOMEM at the 8th", i, err)
			}
			break
		}
		leaf = f
	}
	if leaf.Count() != 7 {
		t.Errorf("Count = %d, want 7", leaf.Count())
	}
}

// BenchmarkEvaluate is the cost of one syscall's check through a chain of
// one short filter (the common case of a small allow-list).
func BenchmarkEvaluate(b *testing.B) {
	f, _ := New(onNr(39, RetErrno|1), 0)
	f.Attach(nil)
	d := &linux.SeccompData{Nr: 40, Arch: linux.AUDIT_ARCH_X86_64}
	for b.Loop() {
		Evaluate(f, d)
	}
}

// longAllowList refuses 300 syscall numbers (1000 to 1299), one
// comparison each, and allows the rest: what a syscall allowed at the
// end of a linear list the size of Docker's profile runs through.
func longAllowList() []linux.BPFInstruction {
	prog := []linux.BPFInstruction{linux.BPFInstruction(bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 0))}
	for i := 0; i < 300; i++ {
		prog = append(prog, linux.BPFInstruction(bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, uint32(1000+i), 0, 1)), ret(RetErrno|1))
	}
	return append(prog, ret(RetAllow))
}

// BenchmarkEvaluateLong is a linear allow-list the size of Docker's
// profile (300 comparisons before the verdict) through Evaluate: the
// allow cache answers. BenchmarkEvaluateLongInterpreted is the same
// without the cache, what a syscall whose verdict depends on its
// arguments pays.
func BenchmarkEvaluateLong(b *testing.B) { benchLong(b, Evaluate) }

func BenchmarkEvaluateLongInterpreted(b *testing.B) { benchLong(b, evaluate) }

func benchLong(b *testing.B, eval func(*Filter, *linux.SeccompData) (uint32, *Filter)) {
	f, err := New(longAllowList(), 0)
	if err != nil {
		b.Fatal(err)
	}
	f.Attach(nil)
	d := &linux.SeccompData{Nr: 39, Arch: linux.AUDIT_ARCH_X86_64}
	for b.Loop() {
		eval(f, d)
	}
}

func TestAllowCache(t *testing.T) {
	// A syscall allowed whatever its arguments is cached; one whose
	// verdict reads an argument, or that a filter refuses, is not.
	st := func(code uint16, k uint32) linux.BPFInstruction { return linux.BPFInstruction(bpf.Stmt(code, k)) }
	jeq := func(k uint32, jt, jf uint8) linux.BPFInstruction {
		return linux.BPFInstruction(bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, k, jt, jf))
	}
	argDependent := []linux.BPFInstruction{
		st(bpf.Ld|bpf.W|bpf.Abs, 0), jeq(1, 0, 2),
		st(bpf.Ld|bpf.W|bpf.Abs, 16), jeq(1, 1, 0),
		ret(RetAllow), ret(RetErrno | 1),
	}
	leaf := chain(t, longAllowList(), argDependent)
	has := func(nr uint32) bool { return leaf.allowAll[nr/64]&(1<<(nr%64)) != 0 }
	if !has(39) || has(1) {
		t.Errorf("cache: getpid %v (want true), write %v (want false)", has(39), has(1))
	}
	for _, c := range []struct {
		d    linux.SeccompData
		want uint32
	}{
		{linux.SeccompData{Nr: 39, Arch: linux.AUDIT_ARCH_X86_64}, RetAllow},
		{linux.SeccompData{Nr: 1000, Arch: linux.AUDIT_ARCH_X86_64}, RetErrno | 1},
		{linux.SeccompData{Nr: 1, Arch: linux.AUDIT_ARCH_X86_64, Args: [6]uint64{1}}, RetErrno | 1},
		{linux.SeccompData{Nr: 1, Arch: linux.AUDIT_ARCH_X86_64, Args: [6]uint64{2}}, RetAllow},
	} {
		if got, _ := Evaluate(leaf, &c.d); got != c.want {
			t.Errorf("%v: %#x, want %#x", c.d, got, c.want)
		}
	}
}
