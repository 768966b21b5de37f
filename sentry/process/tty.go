package process

// Controlling terminals and terminal job control (Linux's
// tty_jobctrl.c): which terminal a process's session controls, who may
// read and change it (SIGTTIN, SIGTTOU), taking and giving it up
// (TIOCSCTTY, TIOCNOTTY, setsid), the foreground process group
// (TIOCSPGRP), and what the session hears when its leader exits or the
// terminal hangs up (SIGHUP).
//
// A process's controlling terminal is ThreadGroup.ctty, protected by
// Sandbox.mu (the tasklist lock), inherited by fork and cleared by setsid,
// as Linux's signal->tty. The terminal keeps its own record of the
// session it controls and its foreground group (tty.Terminal.Control),
// taken under its lock after Sandbox.mu.

import (
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// capSysAdmin is CAP_SYS_ADMIN.
const capSysAdmin = 21

var _ tty.Process = (*Thread)(nil)
var _ tty.Sessions = (*Sandbox)(nil)

// ControllingTerminal implements tty.Process.
func (t *Thread) ControllingTerminal() *tty.Terminal {
	t.S.mu.Lock()
	defer t.S.mu.Unlock()
	return t.TG.ctty
}

// ControllingTerminal returns the process's controlling terminal, or nil.
func (tg *ThreadGroup) ControllingTerminal() *tty.Terminal {
	tg.s.mu.Lock()
	defer tg.s.mu.Unlock()
	return tg.ctty
}

// TerminalInfo returns what /proc/PID/stat shows of the controlling
// terminal: its device number (0 for none) and foreground process group
// (-1 for none).
func (tg *ThreadGroup) TerminalInfo() (ttyNr uint32, tpgid int32) {
	term := tg.ControllingTerminal()
	if term == nil {
		return 0, -1
	}
	maj, min := term.Device()
	fg := term.Foreground()
	if fg == 0 {
		fg = -1
	}
	return min&0xff | maj<<8 | (min&^0xff)<<12, fg
}

// Capable implements tty.Process: cap is in the thread's effective set.
func (t *Thread) Capable(cap int) bool {
	return t.Credentials().HasCapability(linux.Capability(cap))
}

// signalIgnoredOrBlocked is Linux's is_ignored: the thread blocks sig or
// the process's action for it is SIG_IGN.
func (t *Thread) signalIgnoredOrBlocked(sig int) bool {
	tg := t.TG
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return t.SignalMask&sigBit(sig) != 0 || tg.actions[sig].Handler == linux.SIG_IGN
}

// CheckTerminalAccess implements tty.Process (__tty_check_change).
func (t *Thread) CheckTerminalAccess(term *tty.Terminal, sig int) error {
	tg := t.TG
	s := t.S
	s.mu.Lock()
	if tg.ctty != term {
		s.mu.Unlock()
		return nil
	}
	pgid := tg.pgid
	s.mu.Unlock()
	fg := term.Foreground()
	if fg == 0 || fg == pgid {
		return nil
	}
	if t.signalIgnoredOrBlocked(sig) {
		if sig == int(unix.SIGTTIN) {
			return unix.EIO
		}
		return nil
	}
	if tg.processGroupOrphaned() {
		return unix.EIO
	}
	s.SignalProcessGroup(pgid, sig)
	// The syscall is restarted once the stopped group is continued
	// (or ends with EINTR if a handler without SA_RESTART runs), as
	// Linux's ERESTARTSYS.
	return unix.EINTR
}

// SetControllingTerminal implements tty.Process (tiocsctty).
func (t *Thread) SetControllingTerminal(term *tty.Terminal, steal, readable bool) error {
	tg := t.TG
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	leader := tg.sid == tg.tgid
	sid, _ := term.Control()
	if leader && sid == tg.sid {
		return nil
	}
	if !leader || tg.ctty != nil {
		return unix.EPERM
	}
	if sid != 0 {
		if !steal || !t.Capable(capSysAdmin) {
			return unix.EPERM
		}
		s.clearSessionTerminalLocked(sid)
	}
	if !readable && !t.Capable(capSysAdmin) {
		return unix.EPERM
	}
	tg.ctty = term
	term.SetControl(tg.sid, tg.pgid)
	return nil
}

// OpenedTerminal implements tty.Process (tty_open_proc_set_tty).
func (t *Thread) OpenedTerminal(term *tty.Terminal) {
	tg := t.TG
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	if tg.sid != tg.tgid || tg.ctty != nil {
		return
	}
	if sid, _ := term.Control(); sid != 0 {
		return
	}
	tg.ctty = term
	term.SetControl(tg.sid, tg.pgid)
}

// ReleaseControllingTerminal implements tty.Process (tiocnotty): a
// session leader gives the terminal up for its whole session, whose
// foreground group gets SIGHUP and SIGCONT; another process only forgets
// it.
func (t *Thread) ReleaseControllingTerminal(term *tty.Terminal) error {
	tg := t.TG
	s := t.S
	s.mu.Lock()
	if tg.ctty != term {
		s.mu.Unlock()
		return unix.ENOTTY
	}
	if tg.sid != tg.tgid {
		tg.ctty = nil
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	s.disassociate(tg, false)
	return nil
}

// disassociate is Linux's disassociate_ctty for session leader tg: the
// terminal's foreground group gets SIGHUP (and SIGCONT unless the leader
// is exiting), and the session loses the terminal. The session loses it
// before the signals go: Linux signals first and clears a moment later,
// and a member woken by the SIGHUP on another CPU could open /dev/tty in
// between; natively the leader, already running, always wins that race.
func (s *Sandbox) disassociate(tg *ThreadGroup, exiting bool) {
	s.mu.Lock()
	term := tg.ctty
	sid := tg.sid
	s.mu.Unlock()
	if term == nil {
		return
	}
	fg := term.Foreground()
	s.mu.Lock()
	if cs, _ := term.Control(); cs == sid {
		term.SetControl(0, 0)
	}
	s.clearSessionTerminalLocked(sid)
	s.mu.Unlock()
	if fg > 0 {
		s.SignalProcessGroup(fg, int(unix.SIGHUP))
		if !exiting {
			s.SignalProcessGroup(fg, int(unix.SIGCONT))
		}
	}
}

// clearSessionTerminalLocked makes every process of session sid forget
// its controlling terminal (session_clear_tty).
// Preconditions: s.mu is held.
func (s *Sandbox) clearSessionTerminalLocked(sid int32) {
	for _, o := range s.tgs {
		if o.sid == sid {
			if o.ctty != nil {
				if cs, _ := o.ctty.Control(); cs == sid {
					o.ctty.SetControl(0, 0)
				}
			}
			o.ctty = nil
		}
	}
}

// SetForegroundProcessGroup implements tty.Process (tiocspgrp after the
// access check). A number that is a process but leads no group is
// accepted when that process is in the caller's session, as Linux's
// session_of_pgrp allows.
func (t *Thread) SetForegroundProcessGroup(term *tty.Terminal, pgid int32) error {
	tg := t.TG
	s := t.S
	s.mu.Lock()
	defer s.mu.Unlock()
	sid, _ := term.Control()
	if tg.ctty != term || sid != tg.sid {
		return unix.ENOTTY
	}
	var target *ThreadGroup
	for _, o := range s.tgs {
		if o.pgid == pgid && !o.zombie {
			target = o
			break
		}
	}
	if target == nil {
		target = s.tgs[pgid]
	}
	if target == nil {
		return unix.ESRCH
	}
	if target.sid != tg.sid {
		return unix.EPERM
	}
	term.SetForeground(pgid)
	return nil
}

// SignalProcessGroup implements tty.Sessions: sig from the kernel to every
// live process of group pgid.
func (s *Sandbox) SignalProcessGroup(pgid int32, sig int) {
	for _, tg := range s.ProcessGroupMembers(pgid) {
		tg.SendSignalInfo(KernelSignalInfo(sig))
	}
}

// HangupSession implements tty.Sessions (tty_signal_session_leader).
func (s *Sandbox) HangupSession(term *tty.Terminal) {
	s.mu.Lock()
	sid, _ := term.Control()
	var leader *ThreadGroup
	for _, o := range s.tgs {
		if o.ctty == term {
			o.ctty = nil
		}
		if sid != 0 && o.tgid == sid && o.sid == sid && !o.zombie {
			leader = o
		}
	}
	term.SetControl(0, 0)
	s.mu.Unlock()
	if leader != nil {
		leader.SendSignalInfo(KernelSignalInfo(int(unix.SIGHUP)))
		leader.SendSignalInfo(KernelSignalInfo(int(unix.SIGCONT)))
	}
}

// TakeControllingTerminal makes term the controlling terminal of the
// session tg leads, with tg's process group in the foreground, taking it
// from any other session: the sentry's doing for a process it starts on a
// terminal (the sandbox's init on the host terminal, an OCI exec with a
// console). EPERM if tg does not lead a session.
func (tg *ThreadGroup) TakeControllingTerminal(term *tty.Terminal) error {
	s := tg.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if tg.sid != tg.tgid {
		return unix.EPERM
	}
	if sid, _ := term.Control(); sid != 0 && sid != tg.sid {
		s.clearSessionTerminalLocked(sid)
	}
	tg.ctty = term
	term.SetControl(tg.sid, tg.pgid)
	return nil
}

// exitTerminal is what a dying process does for job control (do_exit's
// disassociate_ctty and exit_notify's kill_orphaned_pgrp): a session
// leader's terminal hangs up on its foreground group, and a process group
// this exit leaves orphaned with stopped members gets SIGHUP and SIGCONT.
// children are tg's children before they were re-parented.
// Preconditions: tg's last thread has exited; no lock is held.
func (tg *ThreadGroup) exitTerminal(oldParent *ThreadGroup, children []*ThreadGroup) {
	s := tg.s
	if tg.sid == tg.tgid {
		s.disassociate(tg, true)
	}
	s.mu.Lock()
	var orphaned []int32
	// Our own group, if we were its link to the session.
	if p := oldParent; p != nil && p.pgid != tg.pgid && p.sid == tg.sid &&
		s.willBeOrphanedLocked(tg.pgid, tg) {
		orphaned = append(orphaned, tg.pgid)
	}
	// Our children's groups, if we were theirs.
	for _, c := range children {
		if c.pgid != tg.pgid && c.sid == tg.sid && s.willBeOrphanedLocked(c.pgid, nil) {
			orphaned = append(orphaned, c.pgid)
		}
	}
	s.mu.Unlock()
	seen := map[int32]bool{}
	for _, pg := range orphaned {
		if seen[pg] {
			continue
		}
		seen[pg] = true
		if !s.hasStoppedMember(pg) {
			continue
		}
		s.SignalProcessGroup(pg, int(unix.SIGHUP))
		s.SignalProcessGroup(pg, int(unix.SIGCONT))
	}
}

// willBeOrphanedLocked reports whether process group pgid has no member
// (other than ignore) whose parent is in another group of the same
// session (will_become_orphaned_pgrp).
// Preconditions: s.mu is held.
func (s *Sandbox) willBeOrphanedLocked(pgid int32, ignore *ThreadGroup) bool {
	for _, o := range s.tgs {
		if o.pgid != pgid || o == ignore || o.zombie {
			continue
		}
		if p := o.parent; p != nil && p.pgid != pgid && p.sid == o.sid {
			return false
		}
	}
	return true
}

// hasStoppedMember reports whether a process of group pgid is stopped.
func (s *Sandbox) hasStoppedMember(pgid int32) bool {
	for _, tg := range s.ProcessGroupMembers(pgid) {
		tg.mu.Lock()
		stopped := tg.signals().stopped
		tg.mu.Unlock()
		if stopped {
			return true
		}
	}
	return false
}
