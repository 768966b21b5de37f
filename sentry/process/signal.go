package process

// Signals: generation (this file), delivery at return to application code
// (signal_deliver.go), signal frames and rt_sigreturn (signal_frame.go),
// the signal-waiting syscalls and sigaltstack (signal_wait.go), job control
// (signal_jobctl.go), interval timers (signal_timer.go), restart of
// interrupted syscalls (signal_restart.go) and host signals
// (signal_host.go). The state lives in signal_state.go; its locking rules
// are there (ThreadGroup.mu is the signal lock).
//
// The model is Linux's: a signal is process-directed (kill, sigqueue, the
// kernel's SIGCHLD) or thread-directed (tgkill, faults, SIGPIPE). It is
// queued on the group or the thread, a thread that does not block it is
// chosen and interrupted (kernel.Task.Interrupt: application code is kicked
// back to the sentry, an interruptible wait returns ErrInterrupted), and
// the thread acts on it before it next runs application code: ignore,
// terminate the group, stop the group, or run the handler on a signal
// frame. Fatal signals with the default action kill the group at once, as
// Linux's complete_signal does.

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// signalDefault is a signal's default action.
type signalDefault int

const (
	defaultTerminate signalDefault = iota
	defaultCore
	defaultIgnore
	defaultStop
	defaultContinue
)

// defaultAction returns sig's default action (signal(7)).
func defaultAction(sig int) signalDefault {
	switch linux.Signal(sig) {
	case linux.SIGQUIT, linux.SIGILL, linux.SIGTRAP, linux.SIGABRT, linux.SIGBUS,
		linux.SIGFPE, linux.SIGSEGV, linux.SIGXCPU, linux.SIGXFSZ, linux.SIGSYS:
		return defaultCore
	case linux.SIGCHLD, linux.SIGURG, linux.SIGWINCH:
		return defaultIgnore
	case linux.SIGCONT:
		return defaultContinue
	case linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU:
		return defaultStop
	}
	return defaultTerminate
}

var (
	stopSignals    = linux.MakeSignalSet(linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU)
	unblockable    = linux.MakeSignalSet(linux.SIGKILL, linux.SIGSTOP)
	sigcontSet     = linux.MakeSignalSet(linux.SIGCONT)
	defaultIgnored = linux.MakeSignalSet(linux.SIGCHLD, linux.SIGURG, linux.SIGWINCH, linux.SIGCONT)
)

// validSignal reports whether sig is a signal number (1..64).
func validSignal(sig int) bool { return sig >= 1 && sig <= linux.SignalMaximum }

// ignoredLocked reports whether the group's action for sig is to ignore
// it (SIG_IGN, or SIG_DFL with an ignore or continue default).
// Preconditions: tg.mu is held.
func (tg *ThreadGroup) ignoredLocked(sig int) bool {
	if sig == int(linux.SIGKILL) || sig == int(linux.SIGSTOP) {
		return false
	}
	switch tg.actions[sig].Handler {
	case linux.SIG_IGN:
		return true
	case linux.SIG_DFL:
		return defaultIgnored&sigBit(sig) != 0
	}
	return false
}

// fatalLocked reports whether sig, if delivered now, would kill the group
// (SIG_DFL with a terminate or core default).
// Preconditions: tg.mu is held.
func (tg *ThreadGroup) fatalLocked(sig int) bool {
	if sig == int(linux.SIGKILL) {
		return true
	}
	if tg.actions[sig].Handler != linux.SIG_DFL {
		return false
	}
	d := defaultAction(sig)
	return d == defaultTerminate || d == defaultCore
}

// blockedLocked reports whether t blocks sig (including, during
// rt_sigtimedwait, the mask it had before the wait).
// Preconditions: t.TG.mu is held.
func (t *Thread) blockedLocked(sig int) bool {
	if t.SignalMask&sigBit(sig) != 0 {
		return true
	}
	ts := t.signals()
	return ts.inSigwait && ts.realMask&sigBit(sig) != 0
}

// UserSignalInfo returns the siginfo of a signal sent by kill(2) from
// sender (nil: from the sentry itself, si_pid 0).
func UserSignalInfo(sig int, sender *Thread) *linux.SignalInfo {
	info := &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_USER}
	if sender != nil {
		info.SetPID(sender.TG.tgid)
		info.SetUID(int32(sender.Credentials().RealUID))
	}
	return info
}

// KernelSignalInfo returns the siginfo of a signal the kernel sends
// (SI_KERNEL).
func KernelSignalInfo(sig int) *linux.SignalInfo {
	return &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_KERNEL}
}

// SendSignal sends sig to the thread group from the kernel (SI_KERNEL).
// Signal 0 only checks the group exists. It does not block.
// Errors: EINVAL for a bad signal number.
func (tg *ThreadGroup) SendSignal(sig int) error {
	if sig == 0 {
		return nil
	}
	if !validSignal(sig) {
		return unix.EINVAL
	}
	return tg.SendSignalInfo(KernelSignalInfo(sig))
}

// SendSignalInfo sends a process-directed signal described by info
// (info.Signo is the signal). It does not block.
// Errors: EINVAL for a bad signal number; EAGAIN when a real-time signal
// sent by a program would exceed RLIMIT_SIGPENDING.
func (tg *ThreadGroup) SendSignalInfo(info *linux.SignalInfo) error {
	return tg.send(nil, info, nil)
}

// SendSignalInfo sends a thread-directed signal (tgkill, a fault, SIGPIPE)
// described by info to t. It does not block.
// Errors: as ThreadGroup.SendSignalInfo.
func (t *Thread) SendSignalInfo(info *linux.SignalInfo) error {
	return t.TG.send(t, info, nil)
}

// SendSignalFrom is SendSignalInfo for a signal a program sends (kill,
// sigqueue) from thread sender, to the group or (target non-nil) to one
// of its threads. The sandbox's init is protected as the init of a Linux
// PID namespace is: a signal another process of the sandbox sends it
// while its action is the default is discarded — SIGKILL and SIGSTOP
// included (pid_namespaces(7)). Its own signals, the kernel's (faults,
// SIGPIPE, timers) and those forwarded from outside the sandbox keep
// their default effect (see ARCHITECTURE.md, "PID 1").
func (tg *ThreadGroup) SendSignalFrom(sender *Thread, target *Thread, info *linux.SignalInfo) error {
	return tg.send(target, info, sender)
}

// send queues info on tg (target nil) or on its thread target, and
// interrupts a thread that will act on it. sender is the thread of
// another program sending it, or nil for the kernel's own signals.
func (tg *ThreadGroup) send(target *Thread, info *linux.SignalInfo, sender *Thread) error {
	sig := int(info.Signo)
	if !validSignal(sig) {
		return unix.EINVAL
	}
	info = tg.localSignalInfo(info)
	gs := tg.signals()
	// Whatever happens below, a signalfd reader or watcher re-checks
	// what is pending once the group's lock is released.
	defer gs.signalfd.notify()
	tg.mu.Lock()
	if tg.exiting || (target != nil && target.exiting.Load()) {
		tg.mu.Unlock()
		return nil
	}
	if tg.actions[sig].Handler == linux.SIG_DFL && tg.initIgnoresLocked(sig, info, sender) {
		// An init without a handler for it ignores the signal,
		// unless it is blocked (a handler may be installed before it
		// is unblocked, or sigwaitinfo may take it; if it is still
		// without one when delivered, delivery drops it:
		// initDrops).
		owner := target
		if owner == nil {
			owner = tg.leader
		}
		if owner == nil || !owner.blockedLocked(sig) {
			tg.mu.Unlock()
			return nil
		}
	}
	if sig == int(linux.SIGKILL) {
		tg.mu.Unlock()
		tg.Exit(KilledBy(sig))
		return nil
	}
	var ev jobEvent
	// Job control takes effect when the signal is sent, whatever its
	// disposition (Linux's prepare_signal).
	if stopSignals&sigBit(sig) != 0 {
		tg.discardLocked(sigcontSet)
	}
	if sig == int(linux.SIGCONT) {
		tg.discardLocked(stopSignals)
		ev = tg.continueLocked()
	}
	// An ignored signal is dropped, unless it is blocked (the action may
	// change before it is unblocked).
	maskOwner := target
	if maskOwner == nil {
		maskOwner = tg.leader
	}
	// A tracee's ignored signals are queued all the same: its tracer
	// sees them (signal-delivery-stop) before they are ignored.
	if tg.ignoredLocked(sig) && (maskOwner == nil || maskOwner.exiting.Load() || !maskOwner.blockedLocked(sig)) && !(maskOwner != nil && maskOwner.Traced()) {
		tg.mu.Unlock()
		tg.afterContinue(ev)
		return nil
	}
	q := &gs.pending
	if target != nil {
		q = &target.signals().pending
	}
	if sig < linux.FirstRTSignal && q.has(sig) {
		// Standard signals do not queue.
		tg.mu.Unlock()
		tg.afterContinue(ev)
		return nil
	}
	if gs.queued < tg.sigpendingLimit() || (sig < linux.FirstRTSignal && info.Code >= 0) {
		q.push(info)
		gs.queued++
	} else if sig >= linux.FirstRTSignal && info.Code != linux.SI_USER && info.Code != linux.SI_KERNEL {
		// A real-time signal queued by a program (sigqueue) over
		// the limit.
		tg.mu.Unlock()
		tg.afterContinue(ev)
		return unix.EAGAIN
	} else {
		// Pending without its siginfo, as Linux does.
		q.set |= sigBit(sig)
	}

	// Choose the thread that acts on it. A stopped (or stopping) group
	// acts on nothing but SIGKILL and SIGCONT until it is continued
	// (Linux's wants_signal): its threads find the signal when they
	// resume.
	var chosen *Thread
	if gs.stopPending {
		// Nobody now.
	} else if target != nil {
		if target.SignalMask&sigBit(sig) == 0 {
			chosen = target
		}
	} else {
		chosen = tg.chooseThreadLocked(sig)
	}
	// A signal a thread waits for in rt_sigtimedwait is not fatal, nor
	// one a tracer will see first (signal-delivery-stop).
	if chosen != nil && tg.fatalLocked(sig) && !chosen.blockedLocked(sig) && !chosen.Traced() {
		tg.mu.Unlock()
		tg.afterContinue(ev)
		tg.Exit(KilledBy(sig))
		return nil
	}
	tg.mu.Unlock()
	tg.afterContinue(ev)
	if chosen != nil {
		chosen.Task.Interrupt()
	}
	return nil
}

// initIgnoresLocked reports whether tg is an init that ignores sig,
// described by info and sent by sender, while it has no handler for it:
// the sandbox's init (of `do`, or of the first container) ignores what
// another process of the sandbox sends it (SendSignalFrom); a container's
// init (unkillable: Linux's SIGNAL_UNKILLABLE) ignores every signal but
// SIGKILL and SIGSTOP sent from outside the sandbox. tg.mu is held.
func (tg *ThreadGroup) initIgnoresLocked(sig int, info *linux.SignalInfo, sender *Thread) bool {
	if tg.unkillable {
		return !(fromOutside(info) && (sig == int(linux.SIGKILL) || sig == int(linux.SIGSTOP)))
	}
	if ns := tg.nestedInitOf(); ns != nil {
		// A nested namespace's init: what its own namespace sends
		// it (itself included, as Linux's SIGNAL_UNKILLABLE), and
		// what an ancestor's sends but SIGKILL and SIGSTOP.
		if sender == nil {
			return false
		}
		return ns.Contains(sender) || (sig != int(linux.SIGKILL) && sig != int(linux.SIGSTOP))
	}
	return sender != nil && sender.TG != tg && tg.s.init == tg
}

// nestedInitOf returns the nested PID namespace tg is the init of, or nil.
func (tg *ThreadGroup) nestedInitOf() *PIDNamespace {
	if tg.leader == nil {
		return nil
	}
	ns := tg.leader.pidns
	if ns == nil || ns.parent == nil || ns.Init() != tg {
		return nil
	}
	return ns
}

// initDrops reports whether init-like tg drops sig, described by info,
// when it is delivered with the default action (it was blocked when
// sent): initIgnoresLocked's rule, as far as info tells the sender.
func (tg *ThreadGroup) initDrops(sig int, info *linux.SignalInfo) bool {
	if sig == int(linux.SIGKILL) {
		return false
	}
	if tg.unkillable {
		return !(fromOutside(info) && sig == int(linux.SIGSTOP))
	}
	return (tg.s.init == tg || tg.nestedInitOf() != nil) && fromOtherProcess(info, tg)
}

// fromOutside reports whether info is a signal sent from outside the
// sandbox (the runtime's kill; a host signal forwarded).
func fromOutside(info *linux.SignalInfo) bool {
	return info.Code == linux.SI_USER && info.PID() == 0
}

// fromOtherProcess reports whether info is a signal another process of
// the sandbox sent to tg (kill, tgkill, sigqueue with the sender's PID):
// what the sandbox's init does not act on without a handler.
func fromOtherProcess(info *linux.SignalInfo, tg *ThreadGroup) bool {
	switch info.Code {
	case linux.SI_USER, linux.SI_QUEUE, linux.SI_TKILL:
		pid := info.PID()
		return pid != 0 && pid != tg.ownPID()
	}
	return false
}

// chooseThreadLocked returns the thread that should act on a
// process-directed sig: the leader if it does not block it, else a thread
// that does not block it and is not already interrupted, else any that
// does not block it; nil if every thread blocks it.
// Preconditions: tg.mu is held.
func (tg *ThreadGroup) chooseThreadLocked(sig int) *Thread {
	var fallback *Thread
	bit := sigBit(sig)
	if l := tg.leader; l != nil && !l.exiting.Load() && l.SignalMask&bit == 0 {
		if !l.Task.Interrupted() {
			return l
		}
		fallback = l
	}
	for _, th := range tg.threads {
		if th.exiting.Load() || th.SignalMask&bit != 0 {
			continue
		}
		if !th.Task.Interrupted() {
			return th
		}
		if fallback == nil {
			fallback = th
		}
	}
	return fallback
}

// sigpendingLimit returns RLIMIT_SIGPENDING's soft limit.
func (tg *ThreadGroup) sigpendingLimit() int {
	if tg.Limits == nil {
		return 1 << 20
	}
	l := tg.Limits.Get(unix.RLIMIT_SIGPENDING).Cur
	if l > 1<<20 {
		return 1 << 20
	}
	return int(l)
}

// discardLocked removes every pending instance of the signals in set from
// the group and its threads.
// Preconditions: tg.mu is held.
func (tg *ThreadGroup) discardLocked(set linux.SignalSet) {
	gs := tg.signals()
	gs.queued -= gs.pending.discard(set)
	for _, th := range tg.threads {
		gs.queued -= th.signals().pending.discard(set)
	}
	if gs.queued < 0 {
		gs.queued = 0
	}
}

// dequeueLocked removes the next signal t should act on (its own pending
// signals first, then the group's) among those not in mask, and returns
// its siginfo, or nil if none.
// Preconditions: t.TG.mu is held.
func (t *Thread) dequeueLocked(mask linux.SignalSet) *linux.SignalInfo {
	gs := t.TG.signals()
	ts := t.signals()
	q := &ts.pending
	sig := q.next(mask)
	if s := gs.pending.next(mask); sig == 0 || (s != 0 && syncSignals&sigBit(sig) == 0 && syncSignals&sigBit(s) != 0) {
		if s != 0 {
			q, sig = &gs.pending, s
		}
	}
	if sig == 0 {
		return nil
	}
	info := q.take(sig)
	if info == nil {
		info = UserSignalInfo(sig, nil)
	} else if gs.queued > 0 {
		gs.queued--
	}
	return info
}

// deliverableLocked reports whether t has a pending signal it does not
// block, or a group stop to join.
// Preconditions: t.TG.mu is held.
func (t *Thread) deliverableLocked() bool {
	gs := t.TG.signals()
	return (t.signals().pending.set|gs.pending.set)&^t.SignalMask != 0 ||
		(gs.stopPending && t.signals().stopJoined != gs.stopGen) || t.ptrace.trapPending.Load() || t.ptrace.trapNotify.Load()
}

// recalcInterruptLocked makes t's interrupted mark say whether it has
// something to act on (Linux's recalc_sigpending), and reports it.
// Preconditions: t is the calling thread; t.TG.mu is held.
func (t *Thread) recalcInterruptLocked() bool {
	t.Task.ClearInterrupt()
	if t.deliverableLocked() || t.exiting.Load() {
		t.Task.Interrupt()
		return true
	}
	return false
}

// SetSignalAction replaces the action for signal sig and returns the old
// one (rt_sigaction). SIGKILL and SIGSTOP are removed from its mask. A
// signal whose new action is to ignore it is discarded from every pending
// set, blocked or not (POSIX).
// Preconditions: 1 <= sig <= 64; sig is not SIGKILL or SIGSTOP.
func (tg *ThreadGroup) SetSignalAction(sig int, a SignalAction) SignalAction {
	a.Mask &^= unblockable
	tg.mu.Lock()
	defer tg.mu.Unlock()
	old := tg.actions[sig]
	tg.actions[sig] = a
	if tg.ignoredLocked(sig) {
		tg.discardLocked(sigBit(sig))
	}
	return old
}

// SetSignalMask replaces the calling thread's blocked set (SIGKILL and
// SIGSTOP cannot be blocked). A pending signal it unblocks is delivered
// before the thread next runs application code; process-directed signals
// it now blocks are handed to another thread that does not.
// Preconditions: t is the calling thread.
func (t *Thread) SetSignalMask(mask linux.SignalSet) {
	mask &^= unblockable
	tg := t.TG
	tg.mu.Lock()
	newlyBlocked := mask &^ t.SignalMask
	t.SignalMask = mask
	t.recalcInterruptLocked()
	var others []*Thread
	if shared := tg.signals().pending.set & newlyBlocked; shared != 0 {
		linux.ForEachSignal(shared, func(s linux.Signal) {
			if th := tg.chooseThreadLocked(int(s)); th != nil && th != t {
				others = append(others, th)
			}
		})
	}
	tg.mu.Unlock()
	for _, th := range others {
		th.Task.Interrupt()
	}
}

// PendingSignals returns the signals pending for t or its group that t
// blocks (rt_sigpending).
func (t *Thread) PendingSignals() linux.SignalSet {
	tg := t.TG
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return (t.signals().pending.set | tg.signals().pending.set) & t.SignalMask
}

// SignalSets returns the group's pending (process-directed), ignored and
// caught signal sets, as /proc/PID/status shows them (ShdPnd, SigIgn,
// SigCgt).
func (tg *ThreadGroup) SignalSets() (pending, ignored, caught linux.SignalSet) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for sig := 1; sig <= linux.SignalMaximum; sig++ {
		switch tg.actions[sig].Handler {
		case linux.SIG_DFL:
		case linux.SIG_IGN:
			ignored |= sigBit(sig)
		default:
			caught |= sigBit(sig)
		}
	}
	return tg.signals().pending.set, ignored, caught
}

// ThreadPendingSignals returns the signals pending for t alone (SigPnd).
func (t *Thread) ThreadPendingSignals() linux.SignalSet {
	t.TG.mu.Lock()
	defer t.TG.mu.Unlock()
	return t.signals().pending.set
}

// ForceSignal delivers a synchronous signal caused by the thread's own
// execution (a fault): sig with si_code code and si_addr addr. If the
// thread blocks or ignores sig, its action is reset to the default and it
// is unblocked, as Linux's force_sig_fault does: a fault cannot be
// ignored. The signal is acted on before the thread next runs application
// code.
// Preconditions: t is the calling thread.
func (t *Thread) ForceSignal(sig int, code int32, addr uintptr) {
	if !validSignal(sig) {
		sig = int(linux.SIGSEGV)
	}
	t.Log().Debugf("synchronous signal %d (code %d, addr %#x) at rip %#x", sig, code, addr, t.Regs.Rip)
	info := &linux.SignalInfo{Signo: int32(sig), Code: code}
	switch linux.Signal(sig) {
	case linux.SIGSEGV, linux.SIGBUS, linux.SIGILL, linux.SIGFPE, linux.SIGTRAP:
		info.SetAddr(uint64(addr))
	}
	t.forceSignalInfo(info, faultInfo{sig: sig, trapno: trapFor(sig), err: faultErrorCode(sig, code), cr2: uint64(addr)})
}

// forceSignalInfo queues info on t, unblocking it and resetting an
// ignoring action (see ForceSignal).
func (t *Thread) forceSignalInfo(info *linux.SignalInfo, fi faultInfo) {
	sig := int(info.Signo)
	tg := t.TG
	tg.mu.Lock()
	if sig == int(linux.SIGKILL) {
		tg.mu.Unlock()
		tg.Exit(KilledBy(sig))
		return
	}
	if t.SignalMask&sigBit(sig) != 0 || tg.actions[sig].Handler == linux.SIG_IGN {
		tg.actions[sig].Handler = linux.SIG_DFL
		t.SignalMask &^= sigBit(sig)
	}
	if tg.fatalLocked(sig) && !t.Traced() {
		tg.mu.Unlock()
		tg.Exit(KilledBy(sig))
		return
	}
	ts := t.signals()
	ts.fault = fi
	if !ts.pending.has(sig) {
		ts.pending.push(info)
		tg.signals().queued++
	}
	tg.mu.Unlock()
	t.Task.Interrupt()
}

// x86 trap numbers for the sigcontext.
const (
	trapDivideError = 0
	trapBreakpoint  = 3
	trapInvalidOp   = 6
	trapGP          = 13
	trapPageFault   = 14
)

func trapFor(sig int) uint64 {
	switch linux.Signal(sig) {
	case linux.SIGSEGV, linux.SIGBUS:
		return trapPageFault
	case linux.SIGFPE:
		return trapDivideError
	case linux.SIGILL:
		return trapInvalidOp
	case linux.SIGTRAP:
		return trapBreakpoint
	}
	return 0
}

// faultErrorCode approximates the page-fault error code of a SIGSEGV: a
// user-mode access (4), to a present page for SEGV_ACCERR (1).
func faultErrorCode(sig int, code int32) uint64 {
	if sig != int(linux.SIGSEGV) && sig != int(linux.SIGBUS) {
		return 0
	}
	e := uint64(4)
	if code == 2 /* SEGV_ACCERR */ {
		e |= 1
	}
	return e
}

// interruptibleSleep blocks t until it is interrupted (a signal to act
// on, or the group exiting) or timeout passes (kernel.Forever: never).
// It returns kernel.ErrInterrupted or kernel.ErrTimedOut.
func interruptibleSleep(t *Thread, timeout time.Duration) error {
	var wq kernel.WaitQueue
	return wq.Wait(t.Task, func() bool { return false }, kernel.WaitOpts{Timeout: timeout, Interruptible: true})
}
