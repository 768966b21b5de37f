package process

// Job control: group stops (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU with the
// default action), SIGCONT, and their reporting to the parent (SIGCHLD
// with CLD_STOPPED/CLD_CONTINUED, wait4's WUNTRACED and WCONTINUED).
//
// A stop starts when a thread dequeues a stop signal: the group's
// stopPending is set and every thread is interrupted. Each thread joins
// the stop at its next return to application code (a thread blocked in an
// interruptible syscall leaves it with EINTR, which is restarted after
// SIGCONT as Linux restarts it when no handler ran) and parks on the
// group's stopWQ. The last thread to park completes the stop and notifies
// the parent. SIGCONT (at send time, whatever its disposition) or the
// group's exit releases them.

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// jobEvent is the result of a job-control change: whether stopped
// threads must be released, and what to report to the parent.
type jobEvent struct {
	resume bool
	// code is CLD_STOPPED or CLD_CONTINUED, 0 for nothing to report;
	// status is the stop signal or SIGCONT.
	code   int32
	status int32
}

// StoppedBy returns the wait status of a child stopped by sig.
func StoppedBy(sig int) WaitStatus { return WaitStatus((sig&0xff)<<8 | 0x7f) }

// ContinuedStatus is the wait status of a child continued by SIGCONT.
const ContinuedStatus WaitStatus = 0xffff

// Stopped reports whether the status is a stop, and by which signal.
func (w WaitStatus) Stopped() (int, bool) {
	if w&0xff == 0x7f && w != ContinuedStatus {
		return int(w>>8) & 0xff, true
	}
	return 0, false
}

// Continued reports whether the status is a continue.
func (w WaitStatus) Continued() bool { return w == ContinuedStatus }

// continueLocked ends a group stop (SIGCONT).
// Preconditions: tg.mu is held.
func (tg *ThreadGroup) continueLocked() (ev jobEvent) {
	gs := tg.signals()
	if !gs.stopPending && !gs.stopped {
		return jobEvent{}
	}
	wasStopped := gs.stopped
	gs.stopPending, gs.stopped = false, false
	// A seized tracee reports the stop's end (PTRACE_EVENT_STOP): at
	// once if it listens, else when it next returns to user mode.
	for _, th := range tg.threads {
		if th.Traced() && th.ptrace.seized.Load() {
			th.ptrace.trapNotify.Store(true)
		}
	}
	gs.stopReport = 0
	ev.resume = true
	if wasStopped {
		gs.contReport = true
		ev.code, ev.status = linux.CLD_CONTINUED, int32(linux.SIGCONT)
	}
	return ev
}

// afterContinue releases stopped threads and notifies the parent, after
// continueLocked, with tg.mu released.
func (tg *ThreadGroup) afterContinue(ev jobEvent) {
	if ev.resume {
		tg.signals().stopWQ.NotifyAll()
		for _, th := range tg.Threads() {
			if th.ptrace.trapNotify.Load() {
				th.ptrace.wq.NotifyAll()
				th.Task.Interrupt()
			}
		}
	}
	if ev.code != 0 {
		tg.notifyParent(ev)
	}
}

// initiateStopLocked starts a group stop by sig and returns the threads
// to interrupt so that they join it.
// Preconditions: tg.mu is held.
func (tg *ThreadGroup) initiateStopLocked(sig int) []*Thread {
	gs := tg.signals()
	if gs.stopPending || tg.exiting {
		return nil
	}
	gs.stopPending, gs.stopSig = true, sig
	gs.stopGen++
	gs.contReport = false
	return append([]*Thread(nil), tg.threads...)
}

// liveThreadsLocked counts the threads not on their way out.
// Preconditions: tg.mu is held.
func (tg *ThreadGroup) liveThreadsLocked() int {
	n := 0
	for _, th := range tg.threads {
		if !th.exiting.Load() {
			n++
		}
	}
	return n
}

// joinStopLocked parks t until the group stop ends (SIGCONT) or the group
// exits. It is called with tg.mu held, releases it while parked and
// returns with it held.
// Preconditions: t is the calling thread; gs.stopPending.
func (t *Thread) joinStopLocked() {
	tg := t.TG
	gs := tg.signals()
	gen, sig := gs.stopGen, gs.stopSig
	gs.parked++
	var ev jobEvent
	if !gs.stopped && gs.parked >= tg.liveThreadsLocked() {
		gs.stopped = true
		gs.stopReport = gs.stopSig
		ev.code, ev.status = linux.CLD_STOPPED, int32(gs.stopSig)
	}
	tg.mu.Unlock()
	if ev.code != 0 {
		tg.notifyParent(ev)
	}
	for {
		if t.Traced() {
			// A tracee reports the stop to its tracer and runs
			// again when the tracer resumes it (ptrace_stop.go);
			// one detached meanwhile stays in the stop.
			t.ptraceGroupStop(sig)
			tg.mu.Lock()
			on := gs.stopPending && gs.stopGen == gen
			tg.mu.Unlock()
			if t.Traced() || !on || t.exiting.Load() {
				break
			}
			continue
		}
		gs.stopWQ.Wait(t.Task, func() bool {
			tg.mu.Lock()
			defer tg.mu.Unlock()
			return !gs.stopPending || t.exiting.Load() || t.Traced()
		}, kernel.WaitOpts{Timeout: kernel.Forever})
		if !t.Traced() || t.exiting.Load() {
			break
		}
		// Attached while parked: the stop becomes a ptrace-stop
		// if it is still on.
		tg.mu.Lock()
		on := gs.stopPending && gs.stopGen == gen
		tg.mu.Unlock()
		if !on {
			break
		}
	}
	tg.mu.Lock()
	gs.parked--
	t.signals().stopJoined = gen
}

// notifyParent tells the group's parent about a stop or continue: it
// wakes the parent's wait4/waitid and sends it SIGCHLD unless its SIGCHLD
// action has SA_NOCLDSTOP.
func (tg *ThreadGroup) notifyParent(ev jobEvent) {
	parent := tg.Parent()
	if parent == nil {
		return
	}
	parent.childEvents.NotifyAll()
	if parent.Action(int(linux.SIGCHLD)).Flags&linux.SA_NOCLDSTOP != 0 {
		return
	}
	info := &linux.SignalInfo{Signo: int32(linux.SIGCHLD), Code: ev.code}
	info.SetPID(tg.tgid)
	if l := tg.Leader(); l != nil {
		info.SetUID(int32(l.Credentials().RealUID))
	}
	info.SetStatus(ev.status)
	parent.SendSignalInfo(info)
}

// takeJobEvent returns the stop or continue event of child c that a wait
// with options o reports, consuming it unless o.NoReap.
// Preconditions: Sandbox.mu is held (it is taken before ThreadGroup.mu).
func (c *ThreadGroup) takeJobEvent(o WaitOptions) (WaitResult, bool) {
	if !o.Stopped && !o.Cont {
		return WaitResult{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exiting || c.zombie {
		return WaitResult{}, false
	}
	gs := c.signals()
	res := WaitResult{PID: c.tgid}
	if c.leader != nil {
		res.UID = c.leader.Credentials().RealUID
	}
	switch {
	case o.Stopped && gs.stopReport != 0:
		res.Status = StoppedBy(gs.stopReport)
		if !o.NoReap {
			gs.stopReport = 0
		}
		return res, true
	case o.Cont && gs.contReport:
		res.Status = ContinuedStatus
		if !o.NoReap {
			gs.contReport = false
		}
		return res, true
	}
	return WaitResult{}, false
}

// processGroupOrphaned reports whether the group's process group is
// orphaned: no member has a parent in another process group of the same
// session. The terminal stop signals (SIGTSTP, SIGTTIN, SIGTTOU) are
// discarded for orphaned groups, as POSIX requires.
func (tg *ThreadGroup) processGroupOrphaned() bool {
	s := tg.s
	s.mu.Lock()
	defer s.mu.Unlock()
	pg, sid := tg.pgid, tg.sid
	for _, o := range s.tgs {
		if o.pgid != pg || o.zombie {
			continue
		}
		if p := o.parent; p != nil && p.pgid != pg && p.sid == sid {
			return false
		}
	}
	return true
}

// NotifyParentOfExit sends parent the signal that announces tg's death
// (exitSignal, normally SIGCHLD; 0 for none) with its siginfo: CLD_EXITED
// and the exit code, or CLD_KILLED and the signal; si_pid and si_uid are
// tg's. It reports whether tg should be reaped at once instead of staying
// a zombie (Linux's autoreap): exitSignal is SIGCHLD and the parent
// ignores SIGCHLD (no signal is then sent) or set SA_NOCLDWAIT.
// Preconditions: tg has exited (its status is final).
func (tg *ThreadGroup) NotifyParentOfExit(parent *ThreadGroup, exitSignal int) (autoreap bool) {
	if parent == nil {
		return false
	}
	tg.mu.Lock()
	status := tg.status
	var uid uint32
	if tg.leader != nil {
		uid = tg.leader.Credentials().RealUID
	}
	tg.mu.Unlock()
	if exitSignal == int(linux.SIGCHLD) {
		act := parent.Action(exitSignal)
		if act.Handler == linux.SIG_IGN {
			return true
		}
		autoreap = act.Flags&linux.SA_NOCLDWAIT != 0
	}
	if !validSignal(exitSignal) {
		return autoreap
	}
	parent.SendSignalInfo(exitSignalInfo(exitSignal, tg.tgid, uid, status))
	return autoreap
}

// exitSignalInfo is the siginfo of signal sig announcing the exit of pid
// (owned by uid) with status: CLD_EXITED and the exit code, or CLD_KILLED
// and the signal.
func exitSignalInfo(sig int, pid int32, uid uint32, status WaitStatus) *linux.SignalInfo {
	info := &linux.SignalInfo{Signo: int32(sig)}
	info.SetPID(pid)
	info.SetUID(int32(uid))
	if s, ok := status.Signaled(); ok {
		info.Code = linux.CLD_KILLED
		info.SetStatus(int32(s))
	} else {
		info.Code = linux.CLD_EXITED
		info.SetStatus(int32(status.ExitCode()))
	}
	return info
}
