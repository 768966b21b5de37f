// Package seccomp is seccomp(2) as a program inside the sandbox sees it:
// the filters a thread installs (classic BPF, checked with Linux's seccomp
// rules and run by gvisor.dev/gvisor/pkg/bpf's interpreter over a struct
// seccomp_data), their evaluation with Linux's precedence when a thread
// has several, and the user-notification listener that
// SECCOMP_FILTER_FLAG_NEW_LISTENER returns (listener.go).
//
// This is not the sentry's own confinement (sentry/sandbox): that is a
// host seccomp filter on the sentry process. Filters here are data the
// sentry evaluates at each syscall of a filtered thread; the host never
// sees them.
//
// What a thread's filters do with the verdict (kill, trap, errno, trace,
// notify) belongs to package process (seccomp.go there), which owns
// threads, signals and exits.
//
// Locking: a Filter is immutable once made, except its user count
// (atomic). A chain of filters is shared by every thread that inherited
// it and is only ever extended at the leaf, by making a new Filter whose
// prev is the old leaf. Listener.mu protects a listener's notifications;
// it is a leaf lock, never held across a wait or a notification.
package seccomp

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// Modes, as /proc/PID/status's Seccomp: line and PR_GET_SECCOMP say.
const (
	ModeDisabled = 0
	ModeStrict   = 1
	ModeFilter   = 2
)

// Filter flags (seccomp(2)'s SECCOMP_FILTER_FLAG_*).
const (
	FlagTSync            = 1 << 0
	FlagLog              = 1 << 1
	FlagSpecAllow        = 1 << 2
	FlagNewListener      = 1 << 3
	FlagTSyncESRCH       = 1 << 4
	FlagWaitKillableRecv = 1 << 5
	// FlagsAll are the flags this kernel knows (others are EINVAL).
	FlagsAll = FlagTSync | FlagLog | FlagSpecAllow | FlagNewListener | FlagTSyncESRCH | FlagWaitKillableRecv
)

// Return actions (SECCOMP_RET_*), including LOG, which gVisor's ABI
// package does not name.
const (
	RetKillProcess = uint32(linux.SECCOMP_RET_KILL_PROCESS)
	RetKillThread  = uint32(linux.SECCOMP_RET_KILL_THREAD)
	RetTrap        = uint32(linux.SECCOMP_RET_TRAP)
	RetErrno       = uint32(linux.SECCOMP_RET_ERRNO)
	RetUserNotif   = uint32(linux.SECCOMP_RET_USER_NOTIF)
	RetTrace       = uint32(linux.SECCOMP_RET_TRACE)
	RetLog         = uint32(0x7ffc0000)
	RetAllow       = uint32(linux.SECCOMP_RET_ALLOW)

	// RetActionFull masks the action of a filter's return value;
	// RetData its 16 bits of data.
	RetActionFull = uint32(linux.SECCOMP_RET_ACTION_FULL)
	RetData       = uint32(linux.SECCOMP_RET_DATA)
)

// ActionAvailable reports whether action (exactly, without data) is one
// this kernel knows (SECCOMP_GET_ACTION_AVAIL).
func ActionAvailable(action uint32) bool {
	switch action {
	case RetKillProcess, RetKillThread, RetTrap, RetErrno, RetUserNotif, RetTrace, RetLog, RetAllow:
		return true
	}
	return false
}

// DataSize is sizeof(struct seccomp_data); NotifSize and NotifRespSize
// are those of struct seccomp_notif and seccomp_notif_resp
// (SECCOMP_GET_NOTIF_SIZES).
const (
	DataSize      = 64
	NotifSize     = 80
	NotifRespSize = 24
)

// maxInsnsPerPath bounds the instructions a syscall runs through a
// thread's whole chain, each filter costing 4 more than its length (as
// Linux's MAX_INSNS_PER_PATH).
const maxInsnsPerPath = (1 << 18) / 8

// Filter is one installed filter program, linked to the filter installed
// before it (prev). A thread's filters are the chain from its leaf.
type Filter struct {
	prog bpf.Program
	prev *Filter
	// pathLen is the instructions of this filter and its ancestors,
	// each counted with Linux's penalty of 4.
	pathLen int
	// count is the number of filters in the chain ending here.
	count int
	// log is SECCOMP_FILTER_FLAG_LOG: actions other than ALLOW are
	// logged.
	log bool
	// listener is the user-notification listener made with the filter
	// (NEW_LISTENER), or nil.
	listener *Listener
	// allowAll is, per syscall number, whether the chain ending here
	// allows it whatever its arguments and instruction pointer (each
	// filter's constAllow, and its prev's): such syscalls skip the
	// interpreter, as Linux's seccomp action cache.
	allowAll *[maxCachedSyscall / 64]uint64
	// constAllow is this filter's own part of allowAll.
	constAllow *[maxCachedSyscall / 64]uint64
	// users counts the threads whose chain includes the filter (each
	// thread counts once on its leaf, each filter once on its prev):
	// when it drops to zero the listener reports POLLHUP.
	users atomic.Int64
}

// Prev returns the filter installed before f, or nil.
func (f *Filter) Prev() *Filter { return f.prev }

// Count returns the number of filters in the chain that ends at f (0 for
// nil): /proc/PID/status's Seccomp_filters.
func (f *Filter) Count() int {
	if f == nil {
		return 0
	}
	return f.count
}

// Log reports whether the filter was installed with
// SECCOMP_FILTER_FLAG_LOG.
func (f *Filter) Log() bool { return f.log }

// Listener returns the filter's user-notification listener, or nil.
func (f *Filter) Listener() *Listener { return f.listener }

// HasListener reports whether any filter of the chain ending at f has a
// listener (a second NEW_LISTENER on the chain is EBUSY).
func (f *Filter) HasListener() bool {
	for ; f != nil; f = f.prev {
		if f.listener != nil {
			return true
		}
	}
	return false
}

// IsAncestorOf reports whether f is in the chain that ends at leaf; a nil
// f is everybody's ancestor (TSYNC's rule for another thread's filters).
func (f *Filter) IsAncestorOf(leaf *Filter) bool {
	if f == nil {
		return true
	}
	for ; leaf != nil; leaf = leaf.prev {
		if leaf == f {
			return true
		}
	}
	return false
}

// Get counts one more user of the chain ending at f (a thread that
// inherits or adopts it).
func (f *Filter) Get() {
	if f != nil {
		f.users.Add(1)
	}
}

// Put drops a user of the chain ending at f (a thread that exited or
// replaced its leaf). A filter left without users drops its own hold on
// its prev, and its listener reports POLLHUP.
func (f *Filter) Put() {
	for f != nil {
		if f.users.Add(-1) != 0 {
			return
		}
		if f.listener != nil {
			f.listener.filterGone()
		}
		f = f.prev
	}
}

// New checks insns with Linux's seccomp rules (seccomp_check_filter and
// the classic BPF checks) and makes a filter, with its listener if
// flags has FlagNewListener, to be attached to a thread's chain
// (Attach). FlagLog and FlagWaitKillableRecv are the other flags it
// takes. EINVAL for a program Linux refuses.
func New(insns []linux.BPFInstruction, flags uint32) (*Filter, error) {
	if len(insns) == 0 || len(insns) > bpf.MaxInstructions {
		return nil, unix.EINVAL
	}
	prog := make([]bpf.Instruction, len(insns))
	for i, in := range insns {
		ins, err := checkInstruction(bpf.Instruction(in))
		if err != nil {
			return nil, err
		}
		prog[i] = ins
	}
	p, err := bpf.Compile(prog, false)
	if err != nil || !storesBeforeLoads(prog) {
		return nil, unix.EINVAL
	}
	f := &Filter{prog: p, log: flags&FlagLog != 0, pathLen: len(insns) + 4, count: 1, constAllow: constAllowed(prog)}
	if flags&FlagNewListener != 0 {
		f.listener = newListener(flags&FlagWaitKillableRecv != 0)
	}
	return f, nil
}

// Attach links f after prev (the thread's current leaf, nil for none):
// ENOMEM when the chain would run more than Linux's 32768 instructions
// per syscall. The caller's hold on prev becomes f's.
func (f *Filter) Attach(prev *Filter) error {
	f.prev = prev
	f.pathLen = f.prog.Length() + 4
	f.count = 1
	if prev != nil {
		f.pathLen += prev.pathLen
		f.count += prev.count
	}
	if f.pathLen > maxInsnsPerPath {
		f.prev = nil
		return unix.ENOMEM
	}
	f.allowAll = f.constAllow
	if prev != nil {
		all := *f.constAllow
		for i := range all {
			all[i] &= prev.allowAll[i]
		}
		f.allowAll = &all
	}
	return nil
}

// Detach undoes an Attach that did not take effect.
func (f *Filter) Detach() { f.prev = nil }

// checkInstruction applies Linux's seccomp_check_filter to one
// instruction: only 32-bit absolute loads of seccomp_data at aligned
// offsets, the length loads rewritten to the constant 64, arithmetic
// without modulo, and the plain jumps, stores and returns are allowed.
func checkInstruction(in bpf.Instruction) (bpf.Instruction, error) {
	switch in.OpCode {
	case bpf.Ld | bpf.W | bpf.Abs:
		if in.K >= DataSize || in.K&3 != 0 {
			return in, unix.EINVAL
		}
	case bpf.Ld | bpf.W | bpf.Len:
		in.OpCode = bpf.Ld | bpf.Imm
		in.K = DataSize
	case bpf.Ldx | bpf.W | bpf.Len:
		in.OpCode = bpf.Ldx | bpf.Imm
		in.K = DataSize
	case bpf.Ret | bpf.K, bpf.Ret | bpf.A,
		bpf.Alu | bpf.Add | bpf.K, bpf.Alu | bpf.Add | bpf.X,
		bpf.Alu | bpf.Sub | bpf.K, bpf.Alu | bpf.Sub | bpf.X,
		bpf.Alu | bpf.Mul | bpf.K, bpf.Alu | bpf.Mul | bpf.X,
		bpf.Alu | bpf.Div | bpf.K, bpf.Alu | bpf.Div | bpf.X,
		bpf.Alu | bpf.And | bpf.K, bpf.Alu | bpf.And | bpf.X,
		bpf.Alu | bpf.Or | bpf.K, bpf.Alu | bpf.Or | bpf.X,
		bpf.Alu | bpf.Xor | bpf.K, bpf.Alu | bpf.Xor | bpf.X,
		bpf.Alu | bpf.Lsh | bpf.K, bpf.Alu | bpf.Lsh | bpf.X,
		bpf.Alu | bpf.Rsh | bpf.K, bpf.Alu | bpf.Rsh | bpf.X,
		bpf.Alu | bpf.Neg,
		bpf.Ld | bpf.Imm, bpf.Ldx | bpf.Imm,
		bpf.Misc | bpf.Tax, bpf.Misc | bpf.Txa,
		bpf.Ld | bpf.Mem, bpf.Ldx | bpf.Mem,
		bpf.St, bpf.Stx,
		bpf.Jmp | bpf.Ja,
		bpf.Jmp | bpf.Jeq | bpf.K, bpf.Jmp | bpf.Jeq | bpf.X,
		bpf.Jmp | bpf.Jge | bpf.K, bpf.Jmp | bpf.Jge | bpf.X,
		bpf.Jmp | bpf.Jgt | bpf.K, bpf.Jmp | bpf.Jgt | bpf.X,
		bpf.Jmp | bpf.Jset | bpf.K, bpf.Jmp | bpf.Jset | bpf.X:
	default:
		return in, unix.EINVAL
	}
	return in, nil
}

// storesBeforeLoads is Linux's check_load_and_stores: every load of a
// scratch register M[k] must follow a store to it on every path (jumps
// only go forward). Preconditions: prog passed bpf.Compile's checks.
func storesBeforeLoads(prog []bpf.Instruction) bool {
	masks := make([]uint16, len(prog))
	for i := range masks {
		masks[i] = 0xffff
	}
	valid := uint16(0)
	for pc, in := range prog {
		valid &= masks[pc]
		switch {
		case in.OpCode == bpf.St || in.OpCode == bpf.Stx:
			valid |= 1 << (in.K & 15)
		case in.OpCode == bpf.Ld|bpf.Mem || in.OpCode == bpf.Ldx|bpf.Mem:
			if valid&(1<<(in.K&15)) == 0 {
				return false
			}
		case in.OpCode == bpf.Jmp|bpf.Ja:
			masks[pc+1+int(in.K)] &= valid
			valid = 0xffff
		case in.OpCode&0x07 == bpf.Jmp:
			masks[pc+1+int(in.JumpIfTrue)] &= valid
			masks[pc+1+int(in.JumpIfFalse)] &= valid
			valid = 0xffff
		}
	}
	return true
}

// EncodeData lays d out as struct seccomp_data, the input filters read.
func EncodeData(b *[DataSize]byte, d *linux.SeccompData) {
	binary.LittleEndian.PutUint32(b[0:], uint32(d.Nr))
	binary.LittleEndian.PutUint32(b[4:], d.Arch)
	binary.LittleEndian.PutUint64(b[8:], d.InstructionPointer)
	for i, a := range d.Args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
}

// actionOnly is Linux's ACTION_ONLY: the action as a signed number, so
// that KILL_PROCESS (0x80000000) orders before everything.
func actionOnly(ret uint32) int32 { return int32(ret & RetActionFull) }

// Evaluate runs every filter of the chain ending at leaf, newest first,
// over d and returns the verdict with the highest precedence (the lowest
// action, as Linux orders them: KILL_PROCESS, KILL_THREAD, TRAP, ERRNO,
// USER_NOTIF, TRACE, LOG, ALLOW; the newest filter wins a tie) and the
// filter that gave it (nil for ALLOW with no filter disagreeing). A
// program that fails at run time counts as KILL_PROCESS.
func Evaluate(leaf *Filter, d *linux.SeccompData) (ret uint32, match *Filter) {
	if leaf == nil {
		return RetAllow, nil
	}
	if nr := uint32(d.Nr); d.Arch == linux.AUDIT_ARCH_X86_64 && nr < maxCachedSyscall &&
		leaf.allowAll[nr/64]&(1<<(nr%64)) != 0 {
		return RetAllow, nil
	}
	return evaluate(leaf, d)
}

// evaluate is Evaluate without the cache: every filter runs.
func evaluate(leaf *Filter, d *linux.SeccompData) (ret uint32, match *Filter) {
	var in [DataSize]byte
	EncodeData(&in, d)
	ret = RetAllow
	for f := leaf; f != nil; f = f.prev {
		cur, err := bpf.Exec[bpf.LittleEndian](f.prog, bpf.Input(in[:]))
		if err != nil {
			cur = RetKillProcess
		}
		if actionOnly(cur) < actionOnly(ret) {
			ret, match = cur, f
		}
	}
	return ret, match
}

// maxCachedSyscall bounds the syscall numbers the allow cache covers
// (x86-64's are below 512).
const maxCachedSyscall = 512

// constAllowed returns, for each x86-64 syscall number, whether prog
// returns SECCOMP_RET_ALLOW for it whatever the other fields of
// seccomp_data: prog is run with only nr and arch known, and any step
// that would depend on the arguments, the instruction pointer, X or
// scratch memory gives up (not cached, the interpreter decides), as
// Linux's seccomp_is_const_allow.
func constAllowed(prog []bpf.Instruction) *[maxCachedSyscall / 64]uint64 {
	var bits [maxCachedSyscall / 64]uint64
	for nr := uint32(0); nr < maxCachedSyscall; nr++ {
		if constAllow(prog, nr, linux.AUDIT_ARCH_X86_64) {
			bits[nr/64] |= 1 << (nr % 64)
		}
	}
	return &bits
}

func constAllow(prog []bpf.Instruction, nr, arch uint32) bool {
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.OpCode {
		case bpf.Ld | bpf.W | bpf.Abs:
			switch in.K {
			case 0:
				a = nr
			case 4:
				a = arch
			default:
				return false
			}
		case bpf.Ld | bpf.Imm:
			a = in.K
		case bpf.Alu | bpf.And | bpf.K:
			a &= in.K
		case bpf.Jmp | bpf.Ja:
			pc += int(in.K)
		case bpf.Jmp | bpf.Jeq | bpf.K, bpf.Jmp | bpf.Jge | bpf.K, bpf.Jmp | bpf.Jgt | bpf.K, bpf.Jmp | bpf.Jset | bpf.K:
			var cond bool
			switch in.OpCode & 0xf0 {
			case bpf.Jeq:
				cond = a == in.K
			case bpf.Jge:
				cond = a >= in.K
			case bpf.Jgt:
				cond = a > in.K
			case bpf.Jset:
				cond = a&in.K != 0
			}
			if cond {
				pc += int(in.JumpIfTrue)
			} else {
				pc += int(in.JumpIfFalse)
			}
		case bpf.Ret | bpf.K:
			return in.K == RetAllow
		default:
			return false
		}
	}
	return false
}
