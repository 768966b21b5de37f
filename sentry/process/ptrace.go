package process

// ptrace(2) as the sentry serves it to sandboxed programs (strace, gdb):
// the tracer-tracee relationship, the tracer's requests on a stopped
// tracee (this file), the tracee's stops (ptrace_stop.go) and their
// reporting through wait4/waitid (ptrace_wait.go). This is not the ptrace
// platform (platform/ptrace), which uses the host's ptrace to run stubs:
// here ptrace is emulated on the sentry's own task model.
//
// State machine of a tracee thread (Linux's TASK_TRACED and jobctl bits):
//
//	running --(syscall entry/exit, signal dequeued, event, group stop,
//	           PTRACE_INTERRUPT)--> ptrace-stopped (report pending)
//	ptrace-stopped --(tracer's wait)--> ptrace-stopped (report consumed)
//	ptrace-stopped --(CONT/SYSCALL/SYSEMU/SINGLESTEP/DETACH)--> running
//	ptrace-stopped --(LISTEN, seized group stop only)--> listening
//	listening --(SIGCONT, a new stop, PTRACE_INTERRUPT)--> ptrace-stopped
//	                                                        (PTRACE_EVENT_STOP)
//	any --(SIGKILL, exit_group of another thread)--> exiting
//	exiting --(PTRACE_O_TRACEEXIT)--> ptrace-stopped (PTRACE_EVENT_EXIT)
//	exited --(tracer's wait)--> detached and, if the tracer is its
//	                            parent, reaped
//
// Locking: every field of ptraceTracee without an "atomic" type, and every
// Thread's tracees set, is protected by Sandbox.mu (the tasklist lock, as
// Linux protects ->ptrace and ->ptraced with tasklist_lock). A tracee in a
// ptrace-stop is parked in ptraceTracee.wq; while it is stopped its
// registers (Thread.Regs) and its FP state snapshot belong to the tracer,
// which reads and writes them with Sandbox.mu held; the tracee takes
// Sandbox.mu again before it resumes, which orders those writes before its
// own reads. Lock order: Sandbox.mu before ThreadGroup.mu (as everywhere);
// a tracee never holds ThreadGroup.mu when it stops, and the stop's wait
// queue lock is a leaf.

import (
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// ptraceMode is how a tracee was resumed.
type ptraceMode int

const (
	// ptraceRun: PTRACE_CONT, no syscall stops.
	ptraceRun ptraceMode = iota
	// ptraceSyscall: PTRACE_SYSCALL, stops at syscall entry and exit.
	ptraceSyscall
	// ptraceSysemu: PTRACE_SYSEMU, stops at syscall entry, and the
	// syscall is not executed.
	ptraceSysemu
)

// Kinds of ptrace-stop, for PTRACE_GET_SYSCALL_INFO.
const (
	PtraceStopOther = iota
	PtraceStopSyscallEntry
	PtraceStopSyscallExit
	PtraceStopSeccomp
)

// ptraceOptions are the PTRACE_O_* bits this sentry honours (all of
// Linux's but PTRACE_O_SUSPEND_SECCOMP, which needs CAP_SYS_ADMIN and
// checkpoint/restore).
const ptraceOptions = linux.PTRACE_O_TRACESYSGOOD | linux.PTRACE_O_TRACEFORK |
	linux.PTRACE_O_TRACEVFORK | linux.PTRACE_O_TRACECLONE | linux.PTRACE_O_TRACEEXEC |
	linux.PTRACE_O_TRACEVFORKDONE | linux.PTRACE_O_TRACEEXIT | linux.PTRACE_O_TRACESECCOMP |
	linux.PTRACE_O_EXITKILL

// ptraceTracee is a thread's state as a tracee.
type ptraceTracee struct {
	// traced mirrors tracer != nil for the fast paths (atomic).
	traced atomic.Bool
	// trapPending asks the tracee to enter a PTRACE_EVENT_STOP
	// (PTRACE_INTERRUPT, the first stop of a seized new child).
	trapPending atomic.Bool
	// trapNotify asks a seized tracee to report the end of a group
	// stop (SIGCONT) with a PTRACE_EVENT_STOP, at once if it listens
	// (Linux's JOBCTL_TRAP_NOTIFY).
	trapNotify atomic.Bool
	// seized: attached with PTRACE_SEIZE (atomic: job control reads it
	// under ThreadGroup.mu).
	seized atomic.Bool

	tracer  *Thread
	options uint32
	mode    ptraceMode
	// singlestep: resumed with PTRACE_SINGLESTEP (TF set by us).
	singlestep bool

	// stopped: in a ptrace-stop, available to the tracer's requests.
	stopped bool
	// listening: PTRACE_LISTEN'd; still stopped, not available.
	listening bool
	// report is the wait status of the stop (sig | event<<8) not yet
	// consumed by the tracer's wait, 0 for none; cld is its waitid code
	// (CLD_TRAPPED, CLD_STOPPED for a group stop).
	report int32
	cld    int32
	// siginfo is the stop's siginfo (PTRACE_GETSIGINFO).
	siginfo *linux.SignalInfo
	// eventMsg is PTRACE_GETEVENTMSG's value.
	eventMsg uint64
	// stopKind is PtraceStop*; seccompData the SECCOMP_RET_DATA of a
	// seccomp stop.
	stopKind    int
	seccompData uint16
	// resumed is set by the tracer's resume; resumeSig is its signal.
	resumed   bool
	resumeSig int
	// fp is the FP state snapshot taken at the stop; fpDirty says the
	// tracer changed it.
	fp      []byte
	fpDirty bool

	// zombie: the thread exited; exitStatus is what the tracer's wait
	// reports. deferParent: the group's exit is reported to its parent
	// only once the tracer has reaped this (leader) thread.
	zombie      bool
	exitStatus  WaitStatus
	deferParent bool

	// debugRegs are the values written to the user area's debug
	// registers (never programmed into the platform).
	debugRegs [8]uint64

	// wq is where the stopped tracee waits.
	wq kernel.WaitQueue
}

// ptraceTracer is a thread's state as a tracer. Protected by Sandbox.mu.
type ptraceTracer struct {
	tracees map[*Thread]struct{}
}

// Traced reports whether the thread is traced (lock-free).
func (t *Thread) Traced() bool { return t.ptrace.traced.Load() }

// TracerPID returns the TGID of the thread's tracer, 0 if none
// (/proc/PID/status TracerPid).
func (t *Thread) TracerPID() int32 {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if tr := t.ptrace.tracer; tr != nil {
		return tr.TG.tgid
	}
	return 0
}

// PtraceStopped reports whether the thread is in a ptrace-stop
// (/proc/PID/status "t (tracing stop)").
func (t *Thread) PtraceStopped() bool {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.ptrace.stopped || t.ptrace.listening
}

// GroupStopped reports whether the thread's group is in a completed group
// stop (/proc/PID/status "T (stopped)").
func (t *Thread) GroupStopped() bool {
	t.TG.mu.Lock()
	defer t.TG.mu.Unlock()
	return t.TG.sig.stopped
}

// mayPtrace reports whether t may trace (or inspect) target under Linux's
// ptrace access rules without an LSM (Yama off, __ptrace_may_access):
// the same real, effective and saved user and group IDs, or
// CAP_SYS_PTRACE in the target's user namespace; and a target that is
// dumpable (dumpable.go), or CAP_SYS_PTRACE in the user namespace of its
// address space.
func (t *Thread) mayPtrace(target *Thread) bool {
	if t.TG == target.TG {
		return true
	}
	c, tc := t.Credentials(), target.Credentials()
	// CAP_SYS_PTRACE in the target's user namespace for other IDs, in
	// its address space's (the one it last exec'd in) for a target that
	// is not dumpable (ptrace_has_cap).
	if !(c.RealUID == tc.RealUID && c.RealUID == tc.EffectiveUID && c.RealUID == tc.SavedUID &&
		c.RealGID == tc.RealGID && c.RealGID == tc.EffectiveGID && c.RealGID == tc.SavedGID) &&
		!c.HasCapabilityIn(tc.UserNS, linux.CAP_SYS_PTRACE) {
		return false
	}
	return target.TG.Dumpable() == DumpableUser || c.HasCapabilityIn(target.TG.mmUserNS.Load(), linux.CAP_SYS_PTRACE)
}

// MayPtrace is mayPtrace for other packages (/proc/PID/mem and the like).
func (t *Thread) MayPtrace(target *Thread) bool { return t.mayPtrace(target) }

// attachLocked makes tracer trace t.
// Preconditions: s.mu is held; t is not traced.
func (t *Thread) attachLocked(tracer *Thread, seized bool, options uint32) {
	p := &t.ptrace
	p.tracer = tracer
	p.seized.Store(seized)
	p.options = options
	p.mode = ptraceRun
	p.singlestep = false
	p.stopped, p.listening, p.report = false, false, 0
	p.traced.Store(true)
	if tracer.ptracer.tracees == nil {
		tracer.ptracer.tracees = make(map[*Thread]struct{})
	}
	tracer.ptracer.tracees[t] = struct{}{}
}

// detachLocked ends the tracing of t and resumes it if it was stopped.
// Preconditions: s.mu is held; t is traced.
func (t *Thread) detachLocked(sig int) {
	p := &t.ptrace
	if tr := p.tracer; tr != nil {
		delete(tr.ptracer.tracees, t)
	}
	p.tracer = nil
	p.traced.Store(false)
	p.trapPending.Store(false)
	p.mode = ptraceRun
	p.report = 0
	p.resumeSig = sig
	p.resumed = true
	p.listening = false
	p.wq.NotifyAll()
}

// PtraceTraceme makes t's parent its tracer (PTRACE_TRACEME).
// Errors: EPERM if t is already traced or has no parent.
func (t *Thread) PtraceTraceme() error {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ptrace.tracer != nil {
		return unix.EPERM
	}
	parent := t.TG.parent
	if parent == nil || parent.leader == nil {
		return unix.EPERM
	}
	tracer := parent.leader
	if pt, ok := t.TG.leader.Task.Parent().Ext.(*Thread); ok && pt != nil && pt.TG == parent && !pt.exiting.Load() {
		// The thread that forked us (Linux's real_parent).
		tracer = pt
	}
	if tracer.exiting.Load() {
		return unix.EPERM
	}
	t.attachLocked(tracer, false, 0)
	return nil
}

// PtraceAttach makes t the tracer of thread tid (PTRACE_ATTACH, or
// PTRACE_SEIZE with options when seize). ATTACH sends the tracee SIGSTOP;
// SEIZE leaves it running. A tracee already in a group stop re-reports
// that stop to its new tracer.
// Errors: ESRCH (no such thread), EPERM (itself, a thread of its own
// process, already traced, or not permitted), EIO (bad options).
func (t *Thread) PtraceAttach(tid int32, seize bool, options uint32) error {
	if seize && options&^ptraceOptions != 0 {
		return unix.EIO
	}
	// tid is in t's PID namespace.
	if tid = t.KernelPID(tid); tid == 0 {
		return unix.ESRCH
	}
	target := t.S.ThreadByTID(tid)
	if target == nil || target.exiting.Load() {
		if t.S.Kernel.TaskByTID(tid) != nil {
			// A kernel thread.
			return unix.EPERM
		}
		return unix.ESRCH
	}
	if target.TG == t.TG {
		return unix.EPERM
	}
	if !t.mayPtrace(target) {
		return unix.EPERM
	}
	s := t.S
	s.mu.Lock()
	if target.ptrace.tracer != nil || target.TG.zombie {
		s.mu.Unlock()
		return unix.EPERM
	}
	target.attachLocked(t, seize, options)
	s.mu.Unlock()
	if !seize {
		info := &linux.SignalInfo{Signo: int32(unix.SIGSTOP), Code: linux.SI_USER}
		target.TG.send(target, info, nil)
	}
	// A thread parked in a group stop becomes a ptrace-stop.
	target.TG.sig.stopWQ.NotifyAll()
	return nil
}

// ThreadByTID returns the live thread with that TID, or nil.
func (s *Sandbox) ThreadByTID(tid int32) *Thread {
	kt := s.Kernel.TaskByTID(tid)
	if kt == nil {
		return nil
	}
	th, _ := kt.Ext.(*Thread)
	return th
}

// PtraceTracee returns the thread tid that t traces, for a request that
// needs it stopped (stopped) or not (PTRACE_KILL, PTRACE_INTERRUPT).
// Errors: ESRCH when tid is not t's tracee or not stopped.
func (t *Thread) PtraceTracee(tid int32, stopped bool) (*Thread, error) {
	target := t.S.ThreadByTID(t.KernelPID(tid))
	if target == nil {
		return nil, unix.ESRCH
	}
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &target.ptrace
	if p.tracer != t || p.zombie {
		return nil, unix.ESRCH
	}
	if stopped && (!p.stopped || p.resumed) {
		return nil, unix.ESRCH
	}
	return target, nil
}

// PtraceResume resumes the stopped tracee t (CONT, SYSCALL, SYSEMU,
// SINGLESTEP, and their SYSEMU_SINGLESTEP combination) delivering sig
// (0: none) if the stop was a signal-delivery-stop.
// Errors: EIO for a bad signal.
func (t *Thread) PtraceResume(req int64, sig int) error {
	if sig < 0 || sig > linux.SignalMaximum {
		return unix.EIO
	}
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &t.ptrace
	switch req {
	case linux.PTRACE_SYSCALL:
		p.mode = ptraceSyscall
	case linux.PTRACE_SYSEMU, linux.PTRACE_SYSEMU_SINGLESTEP:
		p.mode = ptraceSysemu
	default:
		p.mode = ptraceRun
	}
	p.singlestep = req == linux.PTRACE_SINGLESTEP || req == linux.PTRACE_SYSEMU_SINGLESTEP
	p.resumeSig = sig
	p.resumed = true
	p.wq.NotifyAll()
	return nil
}

// PtraceListen lets a seized tracee stopped in a group stop
// (PTRACE_EVENT_STOP) wait for the end of that stop without running.
// Errors: EIO if the tracee is not seized or not in such a stop.
func (t *Thread) PtraceListen() error {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &t.ptrace
	if !p.seized.Load() || p.siginfo == nil || p.siginfo.Code>>8 != linux.PTRACE_EVENT_STOP {
		return unix.EIO
	}
	p.listening = true
	p.stopped = false
	p.wq.NotifyAll()
	return nil
}

// PtraceInterrupt makes the seized tracee t enter a PTRACE_EVENT_STOP.
// Errors: EIO if it is not seized.
func (t *Thread) PtraceInterrupt() error {
	s := t.S
	s.mu.Lock()
	p := &t.ptrace
	if !p.seized.Load() {
		s.mu.Unlock()
		return unix.EIO
	}
	listening := p.listening
	s.mu.Unlock()
	p.trapPending.Store(true)
	if listening {
		p.trapNotify.Store(true)
		p.wq.NotifyAll()
	}
	t.Task.Interrupt()
	return nil
}

// PtraceDetach detaches the stopped tracee t and resumes it with sig.
// Errors: EIO for a bad signal.
func (t *Thread) PtraceDetach(sig int) error {
	if sig < 0 || sig > linux.SignalMaximum {
		return unix.EIO
	}
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ptrace.tracer != nil {
		t.detachLocked(sig)
	}
	return nil
}

// PtraceKill kills the tracee's process (PTRACE_KILL).
func (t *Thread) PtraceKill() {
	t.TG.Exit(KilledBy(int(unix.SIGKILL)))
}

// PtraceSetOptions replaces the tracee's options.
// Errors: EINVAL for unknown bits.
func (t *Thread) PtraceSetOptions(opts uint32) error {
	if opts&^ptraceOptions != 0 {
		return unix.EINVAL
	}
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	t.ptrace.options = opts
	return nil
}

// PtraceEventMsg returns PTRACE_GETEVENTMSG's value.
func (t *Thread) PtraceEventMsg() uint64 {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.ptrace.eventMsg
}

// PtraceSiginfo returns a copy of the stop's siginfo.
// Errors: EINVAL if the stop has none.
func (t *Thread) PtraceSiginfo() (linux.SignalInfo, error) {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ptrace.siginfo == nil {
		return linux.SignalInfo{}, unix.EINVAL
	}
	return *t.ptrace.siginfo, nil
}

// PtraceSetSiginfo replaces the stop's siginfo (what a
// signal-delivery-stop delivers).
// Errors: EINVAL if the stop has none.
func (t *Thread) PtraceSetSiginfo(info linux.SignalInfo) error {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ptrace.siginfo == nil {
		return unix.EINVAL
	}
	*t.ptrace.siginfo = info
	return nil
}

// PtraceStopKind returns the kind of the tracee's stop (PtraceStop*) and,
// for a seccomp stop, its SECCOMP_RET_DATA.
func (t *Thread) PtraceStopKind() (int, uint16) {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.ptrace.stopKind, t.ptrace.seccompData
}

// PtraceRegs runs fn on the stopped tracee's registers and debug
// registers, which fn may change, with the tracee held in its stop.
// Errors: ESRCH if it is no longer stopped; fn's.
func (t *Thread) PtraceRegs(fn func(r *arch.Registers, debug *[8]uint64) error) error {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if !t.ptrace.stopped {
		return unix.ESRCH
	}
	return fn(&t.Regs, &t.ptrace.debugRegs)
}

// PtraceSignalMask returns the stopped tracee's blocked set.
func (t *Thread) PtraceSignalMask() linux.SignalSet {
	t.TG.mu.Lock()
	defer t.TG.mu.Unlock()
	return t.SignalMask
}

// PtraceSetSignalMask replaces the stopped tracee's blocked set
// (PTRACE_SETSIGMASK; SIGKILL and SIGSTOP stay unblocked).
func (t *Thread) PtraceSetSignalMask(mask linux.SignalSet) {
	t.TG.mu.Lock()
	t.SignalMask = mask &^ unblockable
	t.TG.mu.Unlock()
	t.Task.Interrupt()
}

// PtraceFPState returns a copy of the stopped tracee's FP state (the
// XSAVE layout of platform.FPStateContext), or nil if the platform has
// none.
func (t *Thread) PtraceFPState() []byte {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), t.ptrace.fp...)
}

// PtraceSetFPState replaces the stopped tracee's FP state from b at
// offset off (a prefix or part of the XSAVE layout); the tracee loads it
// when it resumes.
// Errors: EIO if the platform has no FP state or b runs past it.
func (t *Thread) PtraceSetFPState(off int, b []byte) error {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &t.ptrace
	if p.fp == nil || off < 0 || off+len(b) > len(p.fp) {
		return unix.EIO
	}
	copy(p.fp[off:], b)
	p.fpDirty = true
	return nil
}

// fpSnapshot reads the thread's FP state through its platform context.
// Preconditions: t is the calling thread.
func (t *Thread) fpSnapshot() []byte {
	fpc, ok := t.ctx.(platform.FPStateContext)
	if !ok || t.ctx == nil || t.MM() == nil {
		return nil
	}
	st, err := fpc.FPState(t.MM().AddressSpace())
	if err != nil {
		return nil
	}
	return st
}

// ptraceExitTracer detaches every tracee of the exiting thread t
// (Linux's exit_ptrace): those with PTRACE_O_EXITKILL are killed, the
// others resumed.
func (t *Thread) ptraceExitTracer() {
	s := t.S
	s.mu.Lock()
	var kill []*ThreadGroup
	var posts []func()
	for tr := range t.ptracer.tracees {
		if tr.ptrace.options&linux.PTRACE_O_EXITKILL != 0 {
			kill = append(kill, tr.TG)
		}
		zombie := tr.ptrace.zombie
		tr.detachLocked(0)
		if zombie {
			if post := tr.ptraceReleaseZombieLocked(); post != nil {
				posts = append(posts, post)
			}
		}
	}
	t.ptracer.tracees = nil
	s.mu.Unlock()
	for _, post := range posts {
		post()
	}
	for _, tg := range kill {
		tg.Exit(KilledBy(int(unix.SIGKILL)))
	}
}
