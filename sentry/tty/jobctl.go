package tty

// Job control: what terminals ask of processes. The process table lives
// in the sentry's process package, which implements these interfaces;
// this package only decides when to ask.

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// Process is the calling process as terminal job control sees it (Linux's
// current->signal: its session, process group and controlling terminal).
// The sentry's process.Thread implements it; a terminal finds it as the
// Ext of the calling task.
type Process interface {
	// CheckTerminalAccess is Linux's __tty_check_change for the caller
	// on t with sig (SIGTTOU to change or write, SIGTTIN to read). It
	// returns nil when t is not the caller's controlling terminal or
	// the caller is in its foreground process group. Otherwise: when
	// sig is ignored or blocked, nil for SIGTTOU and EIO for SIGTTIN;
	// when the caller's process group is orphaned, EIO; else sig goes
	// to the caller's process group and the result is EINTR (the
	// syscall restarts once the group is continued).
	CheckTerminalAccess(t *Terminal, sig int) error
	// ControllingTerminal returns the caller's controlling terminal, or
	// nil.
	ControllingTerminal() *Terminal
	// SetControllingTerminal makes t the caller's controlling terminal
	// (TIOCSCTTY): the caller must lead its session and have none
	// (EPERM); a terminal controlling another session is taken from it
	// only when steal and the caller is privileged (else EPERM);
	// readable is whether the caller's file is open for reading (a
	// write-only file needs privilege).
	SetControllingTerminal(t *Terminal, steal, readable bool) error
	// OpenedTerminal is tty_open's side effect: a session leader
	// without a controlling terminal that opens t without O_NOCTTY,
	// while t controls no session, acquires it.
	OpenedTerminal(t *Terminal)
	// ReleaseControllingTerminal is TIOCNOTTY: ENOTTY unless t is the
	// caller's controlling terminal; a session leader's session loses
	// it (its foreground group gets SIGHUP and SIGCONT).
	ReleaseControllingTerminal(t *Terminal) error
	// SetForegroundProcessGroup is TIOCSPGRP after the access check:
	// ENOTTY unless t controls the caller's session, ESRCH for no such
	// process group, EPERM for a group of another session.
	SetForegroundProcessGroup(t *Terminal, pgid int32) error
	// Capable reports whether the caller holds capability cap
	// (CAP_SYS_ADMIN for TIOCSTI and stealing a terminal).
	Capable(cap int) bool
}

// Sessions is the sandbox's process table as terminals need it when no
// process is calling (input from a host terminal, a hangup).
type Sessions interface {
	// SignalProcessGroup sends sig from the kernel to every process of
	// process group pgid (kill_pgrp with SEND_SIG_PRIV).
	SignalProcessGroup(pgid int32, sig int)
	// HangupSession tells the session t controls that t hung up
	// (tty_signal_session_leader): every member loses t as controlling
	// terminal and the session leader gets SIGHUP and SIGCONT. It calls
	// t.SetControl(0, 0).
	HangupSession(t *Terminal)
}

// capSysAdmin is CAP_SYS_ADMIN.
const capSysAdmin = 21

// caller returns the calling process, or nil for the sentry itself.
func caller(ctx *fs.Context) Process {
	if ctx == nil || ctx.Task == nil {
		return nil
	}
	p, _ := ctx.Task.Ext.(Process)
	return p
}

// checkChange is tty_check_change (SIGTTOU) for the caller.
func (t *Terminal) checkChange(ctx *fs.Context) error {
	if p := caller(ctx); p != nil {
		return p.CheckTerminalAccess(t, int(unix.SIGTTOU))
	}
	return nil
}

// isControlling reports whether t is the caller's controlling terminal.
func (t *Terminal) isControlling(ctx *fs.Context) bool {
	p := caller(ctx)
	return p != nil && p.ControllingTerminal() == t
}

// capable reports whether the caller holds cap (the sentry itself does).
func capable(ctx *fs.Context, cap int) bool {
	p := caller(ctx)
	return p == nil || p.Capable(cap)
}

// Opened is called when a replica file is opened with flags: it performs
// tty_open's acquisition of a controlling terminal.
func (t *Terminal) Opened(ctx *fs.Context, flags uint32) {
	// A write-only open does not acquire it: holding the controlling
	// terminal grants reopening it for reading.
	if flags&unix.O_NOCTTY != 0 || flags&unix.O_ACCMODE == unix.O_WRONLY {
		return
	}
	if p := caller(ctx); p != nil {
		p.OpenedTerminal(t)
	}
}
