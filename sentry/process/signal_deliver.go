package process

// Delivery: what a thread does with its pending signals before it runs
// application code again (Linux's exit_to_user_mode_loop/get_signal).

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// returnToUser is called by the run loop before every switch into
// application code. It acts on pending signals (default actions, group
// stops, handler frames), restarts or fails an interrupted syscall, and
// reports whether the thread goes on running application code (false: it
// is exiting).
//
// Its fast path (nothing pending, no interrupted syscall) is two atomic
// loads and two register compares.
//
// Preconditions: t is the calling thread; t.Regs are the registers it
// resumes with. After a syscall stop Orig_rax holds the syscall number;
// after any other stop it is -1.
func (t *Thread) returnToUser() bool {
	if t.exiting.Load() {
		return false
	}
	interrupted := int64(t.Regs.Orig_rax) >= 0 && int64(t.Regs.Rax) == -int64(unix.EINTR)
	if !interrupted && !t.Task.Interrupted() {
		return true
	}
	return t.handleSignals(interrupted)
}

// handleSignals is returnToUser's slow path. interrupted says the last
// syscall returned EINTR.
func (t *Thread) handleSignals(interrupted bool) bool {
	tg := t.TG
	gs := tg.signals()
	ts := t.signals()
	sysno := t.Regs.Orig_rax
	restart := noRestart
	if interrupted && !t.noRestart {
		restart = restartClass(uintptr(sysno), t.Regs.SyscallArgs())
		if t.seccomp.notifRestart {
			// A seccomp user notification interrupted by a
			// signal: ERESTARTSYS, whatever the syscall.
			restart = restartSys
		}
	}
	// The syscall is over as far as restarting goes, whatever happens
	// next.
	t.Regs.Orig_rax = ^uint64(0)
	handled := false
	for {
		tg.mu.Lock()
		if t.exiting.Load() {
			tg.mu.Unlock()
			return false
		}
		if t.ptrace.trapPending.Load() || t.ptrace.trapNotify.Load() {
			// PTRACE_INTERRUPT, or a seized new child's first
			// stop (ptrace_stop.go).
			tg.mu.Unlock()
			t.ptraceTrapStop()
			continue
		}
		if gs.stopPending && ts.stopJoined != gs.stopGen {
			t.joinStopLocked()
			tg.mu.Unlock()
			continue
		}
		t.Task.ClearInterrupt()
		// Checked after clearing the interrupt: Freeze sets the flag
		// before it interrupts, so a freeze is never missed.
		if tg.cgroup != nil && tg.cgroup.Frozen() {
			tg.mu.Unlock()
			t.joinFreezeIfFrozen()
			continue
		}
		info := t.dequeueLocked(t.SignalMask)
		if info == nil {
			// Nothing (more) to act on: a temporary mask
			// (rt_sigsuspend) ends here if no handler took it.
			if ts.haveSavedMask {
				t.SignalMask = ts.savedMask
				ts.haveSavedMask = false
			}
			tg.mu.Unlock()
			if !handled && restart.restartsWith(false, 0) {
				t.restartSyscall(sysno, restart)
			}
			return true
		}
		sig := int(info.Signo)
		if sig != int(linux.SIGKILL) && t.Traced() {
			// Signal-delivery-stop: the tracer decides what is
			// delivered.
			tg.mu.Unlock()
			if info = t.ptraceSignalStop(info); info == nil {
				continue
			}
			sig = int(info.Signo)
			tg.mu.Lock()
			if t.blockedLocked(sig) {
				// The tracer's signal is blocked: it waits.
				ts.pending.push(info)
				gs.queued++
				tg.mu.Unlock()
				continue
			}
		}
		act := tg.actions[sig]
		if act.Handler == linux.SIG_IGN && sig != int(linux.SIGKILL) && sig != int(linux.SIGSTOP) {
			tg.mu.Unlock()
			continue
		}
		if act.Handler == linux.SIG_DFL || sig == int(linux.SIGKILL) || sig == int(linux.SIGSTOP) {
			tg.mu.Unlock()
			if tg.initDrops(sig, info) {
				// A signal init blocked when it was sent,
				// still without a handler: init ignores it
				// (ThreadGroup.initIgnoresLocked).
				continue
			}
			switch defaultAction(sig) {
			case defaultIgnore, defaultContinue:
				continue
			case defaultStop:
				if sig != int(linux.SIGSTOP) && tg.processGroupOrphaned() {
					continue
				}
				tg.mu.Lock()
				others := tg.initiateStopLocked(sig)
				tg.mu.Unlock()
				for _, th := range others {
					if th != t {
						th.Task.Interrupt()
					}
				}
				continue
			}
			t.exitSelf = true
			tg.Exit(KilledBy(sig))
			return false
		}

		// A handler: build its frame.
		if act.Flags&linux.SA_RESETHAND != 0 {
			tg.actions[sig].Handler = linux.SIG_DFL
		}
		oldMask, hadSaved := t.SignalMask, ts.haveSavedMask
		if hadSaved {
			oldMask = ts.savedMask
			ts.haveSavedMask = false
		}
		newMask := t.SignalMask | act.Mask
		if act.Flags&linux.SA_NODEFER == 0 {
			newMask |= sigBit(sig)
		}
		var fault faultInfo
		if ts.fault.sig == sig {
			fault = ts.fault
			ts.fault = faultInfo{}
		}
		tg.mu.Unlock()

		if !handled && restart.restartsWith(true, act.Flags) {
			t.restartSyscall(sysno, restart)
		}
		handled = true
		if err := t.setupSignalFrame(sig, info, &act, oldMask, fault); err != nil {
			t.Log().Debugf("signal %d: cannot set up the signal frame (%v): SIGSEGV", sig, err)
			if hadSaved {
				tg.mu.Lock()
				ts.savedMask, ts.haveSavedMask = oldMask, true
				tg.mu.Unlock()
			}
			t.forceSigsegv(sig)
			continue
		}
		tg.mu.Lock()
		t.SignalMask = newMask &^ unblockable
		tg.mu.Unlock()
	}
}

// forceSigsegv kills the thread's group with SIGSEGV after a signal frame
// could not be written or read back (Linux's force_sigsegv): a SIGSEGV
// handler still runs if there is one, unless it was SIGSEGV's own frame
// that failed.
func (t *Thread) forceSigsegv(failed int) {
	if failed == int(linux.SIGSEGV) {
		t.TG.mu.Lock()
		t.TG.actions[linux.SIGSEGV].Handler = linux.SIG_DFL
		t.TG.mu.Unlock()
	}
	t.forceSignalInfo(KernelSignalInfo(int(linux.SIGSEGV)), faultInfo{})
}
