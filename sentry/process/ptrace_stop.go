package process

// The tracee's side of ptrace: the stops (syscall entry and exit,
// signal-delivery, group stop, events, PTRACE_INTERRUPT's trap) that a
// traced thread enters on its own goroutine, and their notification to the
// tracer. See ptrace.go for the state machine and the locking rules.

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/platform"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// ptraceKilledLocked reports whether a stop of t must end (or not begin)
// because t is dying: any exit for an ordinary stop, only SIGKILL for the
// PTRACE_EVENT_EXIT stop of an exiting thread.
func (t *Thread) ptraceKilled(exitStop bool) bool {
	if exitStop {
		return t.TG.sigkilled.Load()
	}
	return t.exiting.Load()
}

// ptraceStop enters a ptrace-stop whose wait status is report<<8|0x7f
// (report: the signal, with the event in bits 8-15), notifies the tracer
// (SIGCHLD with cld, and its wait) and waits until the tracer resumes or
// detaches it. info is the stop's siginfo (PTRACE_GETSIGINFO), nil for
// none. It returns the resume signal and true, or false if t was not
// traced or is dying (exitStop: see ptraceKilled).
// Preconditions: t is the calling thread and holds no lock.
func (t *Thread) ptraceStop(report int32, cld int32, info *linux.SignalInfo, kind int, exitStop bool) (int, bool) {
	fp := t.fpSnapshot()
	s := t.S
	p := &t.ptrace
	s.mu.Lock()
	if p.tracer == nil || t.ptraceKilled(exitStop) {
		s.mu.Unlock()
		return 0, false
	}
	if p.singlestep && t.Regs.Eflags&eflagsTF != 0 {
		// The trap flag was ours: the tracer does not see it.
		t.Regs.Eflags &^= eflagsTF
	}
	p.stopped, p.listening, p.resumed, p.resumeSig = true, false, false, 0
	p.report, p.cld, p.siginfo, p.stopKind = report, cld, info, kind
	p.fp, p.fpDirty = fp, false
	tracer := p.tracer
	s.mu.Unlock()
	t.ptraceNotifyTracer(tracer, cld, report&0x7f)
	for {
		p.wq.Wait(t.Task, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return p.resumed || p.tracer == nil || t.ptraceKilled(exitStop) || (p.listening && p.trapNotify.Load())
		}, kernel.WaitOpts{Timeout: kernel.Forever})
		s.mu.Lock()
		if p.listening && !p.resumed && p.tracer != nil && !t.ptraceKilled(exitStop) {
			// SIGCONT or PTRACE_INTERRUPT while listening: trap
			// again with PTRACE_EVENT_STOP.
			p.trapNotify.Store(false)
			p.trapPending.Store(false)
			sig := t.eventStopSignal()
			p.listening, p.stopped = false, true
			p.report = sig | linux.PTRACE_EVENT_STOP<<8
			p.siginfo = t.ptraceSiginfo(sig, p.report)
			tracer = p.tracer
			s.mu.Unlock()
			t.ptraceNotifyTracer(tracer, linux.CLD_STOPPED, sig)
			continue
		}
		break
	}
	// s.mu is held.
	ok := p.resumed && !t.ptraceKilled(exitStop)
	sig := p.resumeSig
	p.stopped, p.listening, p.resumed, p.report = false, false, false, 0
	fp, dirty := p.fp, p.fpDirty
	p.fp, p.fpDirty = nil, false
	if p.singlestep && p.tracer != nil {
		t.Regs.Eflags |= eflagsTF
	}
	s.mu.Unlock()
	if dirty && fp != nil {
		if err := t.setFPState(fp); err != nil {
			t.Log().Debugf("ptrace: the tracer's FP state was refused: %v", err)
		}
	}
	return sig, ok
}

// setFPState loads st through the thread's platform context.
// Preconditions: t is the calling thread.
func (t *Thread) setFPState(st []byte) error {
	fpc, ok := t.ctx.(platform.FPStateContext)
	if !ok || t.ctx == nil || t.MM() == nil {
		return nil
	}
	return fpc.SetFPState(t.MM().AddressSpace(), st)
}

// eventStopSignal is the signal of a PTRACE_EVENT_STOP: the group's stop
// signal while a group stop is in progress, SIGTRAP otherwise.
// Preconditions: s.mu is held (it is taken before ThreadGroup.mu).
func (t *Thread) eventStopSignal() int32 {
	tg := t.TG
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.sig.stopPending || tg.sig.stopped {
		return int32(tg.sig.stopSig)
	}
	return int32(unix.SIGTRAP)
}

// ptraceSiginfo returns the siginfo Linux's ptrace_do_notify gives a
// stop that is not a signal's delivery: si_code is the report, si_pid and
// si_uid the tracee's.
func (t *Thread) ptraceSiginfo(sig, report int32) *linux.SignalInfo {
	info := &linux.SignalInfo{Signo: sig, Code: report}
	info.SetPID(t.TID())
	info.SetUID(int32(t.Credentials().RealUID))
	return info
}

// ptraceNotifyTracer wakes the tracer's wait and sends its process
// SIGCHLD (code cld, status) unless its SIGCHLD action has SA_NOCLDSTOP.
func (t *Thread) ptraceNotifyTracer(tracer *Thread, cld, status int32) {
	ttg := tracer.TG
	ttg.childEvents.NotifyAll()
	if ttg.Action(int(linux.SIGCHLD)).Flags&linux.SA_NOCLDSTOP != 0 {
		return
	}
	info := &linux.SignalInfo{Signo: int32(linux.SIGCHLD), Code: cld}
	info.SetPID(t.TID())
	info.SetUID(int32(t.Credentials().RealUID))
	info.SetStatus(status)
	ttg.SendSignalInfo(info)
}

// syscallTrapReport is the report of a syscall stop: SIGTRAP, with 0x80
// under PTRACE_O_TRACESYSGOOD.
func (t *Thread) syscallTrapReport() int32 {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ptrace.options&linux.PTRACE_O_TRACESYSGOOD != 0 {
		return int32(unix.SIGTRAP) | 0x80
	}
	return int32(unix.SIGTRAP)
}

// ptraceMode returns how the tracee was last resumed.
func (t *Thread) ptraceModeNow() ptraceMode {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ptrace.tracer == nil {
		return ptraceRun
	}
	return t.ptrace.mode
}

// ptraceSingleStepping reports whether the tracee was resumed with
// PTRACE_SINGLESTEP.
func (t *Thread) ptraceSingleStepping() bool {
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.ptrace.tracer != nil && t.ptrace.singlestep
}

// ptraceSyscall serves a syscall of a traced thread: the syscall-entry
// stop (PTRACE_SYSCALL, PTRACE_SYSEMU), the syscall itself with the
// registers as the tracer left them (orig_rax -1 skips it; SYSEMU always
// does), and the syscall-exit stop.
func (t *Thread) ptraceSyscall() {
	sysno := t.Regs.Orig_rax
	mode := t.ptraceModeNow()
	run := true
	if mode != ptraceRun {
		report := t.syscallTrapReport()
		t.ptraceStop(report, linux.CLD_TRAPPED, t.ptraceSiginfo(report, report), PtraceStopSyscallEntry, false)
		if t.exiting.Load() {
			return
		}
		if mode == ptraceSysemu || int32(t.Regs.Orig_rax) == -1 {
			// Emulated by the tracer, or cancelled (Linux reads
			// the number as an int): rax is what the tracer left
			// there.
			run = false
		} else {
			// The number is an int to Linux: upper bits a tracer
			// set are not part of it.
			t.Regs.Orig_rax = uint64(uint32(t.Regs.Orig_rax))
		}
	}
	if run {
		t.S.Syscalls.Dispatch(t)
	}
	if t.exiting.Load() || mode == ptraceSysemu {
		return
	}
	if t.Regs.Orig_rax == 0 && t.Regs.Rax == 0 && (sysno == unix.SYS_EXECVE || sysno == unix.SYS_EXECVEAT) {
		// A successful execve replaced the registers; Linux keeps
		// orig_rax.
		t.Regs.Orig_rax = sysno
	}
	if t.ptraceSingleStepping() {
		// A single-step over a syscall instruction traps when the
		// syscall returns, in place of the syscall-exit stop
		// (Linux's user_single_step_report: TRAP_BRKPT).
		t.ForceSignal(int(unix.SIGTRAP), 1, uintptr(t.Regs.Rip))
		return
	}
	if t.ptraceModeNow() == ptraceSyscall {
		report := t.syscallTrapReport()
		t.ptraceStop(report, linux.CLD_TRAPPED, t.ptraceSiginfo(report, report), PtraceStopSyscallExit, false)
	}
}

// PtraceSeccomp enters the PTRACE_EVENT_SECCOMP stop of a
// SECCOMP_RET_TRACE filter result with data (SECCOMP_RET_DATA), and
// reports whether the syscall must be skipped: there is no tracer with
// PTRACE_O_TRACESECCOMP (Linux then fails it with ENOSYS, which the caller
// sets), or the tracer set orig_rax to -1. Preconditions: t is the calling
// thread, stopped at the syscall's entry.
func (t *Thread) PtraceSeccomp(data uint16) (skip bool) {
	if !t.Traced() {
		return true
	}
	s := t.S
	s.mu.Lock()
	enabled := t.ptrace.tracer != nil && t.ptrace.options&linux.PTRACE_O_TRACESECCOMP != 0
	if enabled {
		t.ptrace.eventMsg = uint64(data)
		t.ptrace.seccompData = data
	}
	s.mu.Unlock()
	if !enabled {
		return true
	}
	report := int32(unix.SIGTRAP) | linux.PTRACE_EVENT_SECCOMP<<8
	t.ptraceStop(report, linux.CLD_TRAPPED, t.ptraceSiginfo(int32(unix.SIGTRAP), report), PtraceStopSeccomp, false)
	return t.exiting.Load() || int32(t.Regs.Orig_rax) == -1
}

// ptraceSignalStop is the signal-delivery-stop of info. It returns what
// to deliver: nil when the tracer suppressed it (or t is dying), info
// (possibly changed by PTRACE_SETSIGINFO), or a new SI_USER siginfo when
// the tracer chose another signal.
// Preconditions: t is the calling thread and holds no lock.
func (t *Thread) ptraceSignalStop(info *linux.SignalInfo) *linux.SignalInfo {
	sig, ok := t.ptraceStop(info.Signo, linux.CLD_TRAPPED, info, PtraceStopOther, false)
	if !ok {
		if t.exiting.Load() {
			return nil
		}
		if t.Traced() {
			return nil
		}
		// Detached before the stop: delivered as it is.
		return info
	}
	if sig == 0 {
		return nil
	}
	if int32(sig) != info.Signo {
		s := t.S
		s.mu.Lock()
		tracer := t.ptrace.tracer
		s.mu.Unlock()
		n := &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_USER}
		if tracer != nil {
			n.SetPID(tracer.TG.tgid)
			n.SetUID(int32(tracer.Credentials().RealUID))
		}
		info = n
	}
	return info
}

// ptraceGroupStop reports the group stop by sig to the tracer and waits
// for it to resume t: a plain stop with no siginfo for a tracee attached
// with PTRACE_ATTACH or TRACEME (which is how tracers tell it from a
// signal-delivery-stop), PTRACE_EVENT_STOP for a seized one. The resume
// signal is ignored, as Linux does.
func (t *Thread) ptraceGroupStop(sig int) {
	s := t.S
	s.mu.Lock()
	seized := t.ptrace.seized.Load()
	s.mu.Unlock()
	if seized {
		// As a trap stop: the signal is the stop's if it is still
		// on, SIGTRAP if SIGCONT ended it meanwhile.
		t.ptraceTrapStop()
		return
	}
	t.ptraceStop(int32(sig), linux.CLD_STOPPED, nil, PtraceStopOther, false)
}

// ptraceTrapStop is the PTRACE_EVENT_STOP asked by PTRACE_INTERRUPT,
// pending in a seized new child, or reporting a group stop or its end
// (SIGCONT) to a seized tracer.
func (t *Thread) ptraceTrapStop() {
	t.ptrace.trapPending.Store(false)
	t.ptrace.trapNotify.Store(false)
	s := t.S
	s.mu.Lock()
	sig := t.eventStopSignal()
	s.mu.Unlock()
	report := sig | linux.PTRACE_EVENT_STOP<<8
	t.ptraceStop(report, linux.CLD_STOPPED, t.ptraceSiginfo(sig, report), PtraceStopOther, false)
}

// ptraceEvent enters the stop of PTRACE_EVENT_event with message msg if
// the tracer asked for it, and reports whether it did.
func (t *Thread) ptraceEvent(event int, msg uint64) bool {
	if !t.Traced() {
		return false
	}
	s := t.S
	s.mu.Lock()
	enabled := t.ptrace.tracer != nil && t.ptrace.options&(1<<uint(event)) != 0
	if enabled {
		if event >= linux.PTRACE_EVENT_FORK && event <= linux.PTRACE_EVENT_VFORK_DONE {
			// A TID: as the tracer's PID namespace sees it.
			msg = uint64(uint32(t.ptrace.tracer.PIDNS().Local(int32(msg))))
		}
		t.ptrace.eventMsg = msg
	}
	s.mu.Unlock()
	if !enabled {
		return false
	}
	report := int32(unix.SIGTRAP) | int32(event)<<8
	t.ptraceStop(report, linux.CLD_TRAPPED, t.ptraceSiginfo(int32(unix.SIGTRAP), report), PtraceStopOther, event == linux.PTRACE_EVENT_EXIT)
	return true
}

// PtraceExec reports a successful execve of t (which had TID oldTID
// before it): PTRACE_EVENT_EXEC under PTRACE_O_TRACEEXEC, else a SIGTRAP
// for a tracee not attached with PTRACE_SEIZE. Called by execve after
// the point of no return.
func (t *Thread) PtraceExec(oldTID int32) {
	if !t.Traced() {
		return
	}
	if t.ptraceEvent(linux.PTRACE_EVENT_EXEC, uint64(oldTID)) {
		return
	}
	s := t.S
	s.mu.Lock()
	legacy := t.ptrace.tracer != nil && !t.ptrace.seized.Load()
	s.mu.Unlock()
	if legacy {
		info := &linux.SignalInfo{Signo: int32(unix.SIGTRAP), Code: linux.SI_USER}
		info.SetPID(t.TG.tgid)
		info.SetUID(int32(t.Credentials().RealUID))
		t.SendSignalInfo(info)
	}
}

// ptraceCloneAttach makes the new thread nt, made by the traced thread t
// with flags, a tracee of t's tracer when t's options ask for it (or
// CLONE_PTRACE), and returns the event t must report (0 for none). The
// new tracee starts with a SIGSTOP pending, or for a seized tracer a
// PTRACE_EVENT_STOP. Preconditions: nt has not started.
func (t *Thread) ptraceCloneAttach(nt *Thread, flags uint64, exitSignal int) int {
	if !t.Traced() {
		return 0
	}
	ev := 0
	if flags&unix.CLONE_UNTRACED == 0 {
		switch {
		case flags&unix.CLONE_VFORK != 0:
			ev = linux.PTRACE_EVENT_VFORK
		case exitSignal != int(unix.SIGCHLD):
			ev = linux.PTRACE_EVENT_CLONE
		default:
			ev = linux.PTRACE_EVENT_FORK
		}
	}
	s := t.S
	s.mu.Lock()
	p := &t.ptrace
	if p.tracer == nil || (ev != 0 && p.options&(1<<uint(ev)) == 0) {
		ev = 0
	}
	if p.tracer == nil || (ev == 0 && flags&unix.CLONE_PTRACE == 0) {
		s.mu.Unlock()
		return 0
	}
	seized := p.seized.Load()
	nt.attachLocked(p.tracer, seized, p.options)
	s.mu.Unlock()
	if seized {
		nt.ptrace.trapPending.Store(true)
		nt.Task.Interrupt()
	} else {
		nt.TG.send(nt, &linux.SignalInfo{Signo: int32(unix.SIGSTOP), Code: linux.SI_USER}, nil)
	}
	return ev
}

// ptraceExitEvent is PTRACE_EVENT_EXIT of a thread on its way out, for
// the thread whose own doing the exit is (exit, exit_group, a fatal
// signal it dequeued): the others are killed as by SIGKILL, which Linux
// does not stop.
func (t *Thread) ptraceExitEvent() {
	if !t.Traced() || !t.exitSelf {
		return
	}
	t.ptraceEvent(linux.PTRACE_EVENT_EXIT, uint64(t.threadExitStatus()))
}

// threadExitStatus is the wait status of the thread's exit: its own
// (exit) or its group's.
func (t *Thread) threadExitStatus() WaitStatus {
	if t.haveExitStatus {
		return t.exitStatus
	}
	t.TG.mu.Lock()
	defer t.TG.mu.Unlock()
	return t.TG.status
}

// ptraceThreadExited records the exit of the traced thread t for its
// tracer's wait and notifies the tracer; a group leader's is reported
// when its whole group has exited (ptraceGroupExited). It reports whether
// it did (the tracer's reap then releases the thread's TID:
// ptraceReleaseZombieLocked).
func (t *Thread) ptraceThreadExited() bool {
	if !t.Traced() {
		return false
	}
	st := t.threadExitStatus()
	s := t.S
	s.mu.Lock()
	p := &t.ptrace
	tracer := p.tracer
	if tracer == nil {
		s.mu.Unlock()
		return false
	}
	p.zombie, p.exitStatus = true, st
	p.stopped, p.listening, p.report = false, false, 0
	leader := t == t.TG.leader
	s.mu.Unlock()
	if !leader {
		t.ptraceNotifyExit(tracer, st)
	}
	return true
}

// ptraceNotifyExit tells the tracer that t exited with st.
func (t *Thread) ptraceNotifyExit(tracer *Thread, st WaitStatus) {
	ttg := tracer.TG
	ttg.childEvents.NotifyAll()
	ttg.SendSignalInfo(exitSignalInfo(int(linux.SIGCHLD), t.TID(), t.Credentials().RealUID, st))
}

// ptraceGroupExited is called when the group tg, whose leader is traced,
// has exited: it reports the leader's exit to the tracer and says
// whether the group's parent must wait for the tracer's reap to hear of
// it (the tracer is not the parent).
// Preconditions: s.mu is held.
func (tg *ThreadGroup) ptraceGroupExitedLocked(parent *ThreadGroup) (tracer *Thread, deferParent bool) {
	l := tg.leader
	if l == nil || l.ptrace.tracer == nil || !l.ptrace.zombie {
		return nil, false
	}
	tracer = l.ptrace.tracer
	tg.mu.Lock()
	l.ptrace.exitStatus = tg.status
	tg.mu.Unlock()
	if tracer.TG != parent {
		l.ptrace.deferParent = true
		return tracer, true
	}
	return tracer, false
}

// ptraceReleaseZombieLocked ends the tracer's hold on the exited tracee
// t (reaped by the tracer, or the tracer exited): a thread's TID is
// freed; a leader whose group's parent was kept waiting is to hear of the
// exit now, which the returned function (nil if none) does once the
// caller has released Sandbox.mu (sending a signal may take it).
// Preconditions: s.mu is held; t is detached.
func (t *Thread) ptraceReleaseZombieLocked() (post func()) {
	if t != t.TG.leader {
		t.S.releaseTaskLocked(t)
		return nil
	}
	p := &t.ptrace
	if !p.deferParent {
		return nil
	}
	p.deferParent = false
	tg := t.TG
	parent := tg.parent
	if parent == nil || !tg.zombie {
		return nil
	}
	return func() {
		autoreap := tg.NotifyParentOfExit(parent, tg.exitSignal)
		s := tg.s
		s.mu.Lock()
		if _, ok := parent.children[tg]; ok && autoreap {
			s.reapLocked(parent, tg)
		}
		s.mu.Unlock()
		parent.childEvents.NotifyAll()
	}
}
