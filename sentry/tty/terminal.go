// Package tty is the sentry's terminal subsystem: the line discipline
// (Linux's n_tty: canonical and raw input, echo, signals from the
// keyboard, flow control, VMIN/VTIME reads, output post-processing), the
// settings and ioctls of a terminal, and the controlling-terminal state
// that job control reads (the session a terminal controls and its
// foreground process group).
//
// A Terminal is one pseudo-terminal pair. Its replica side is what
// programs see as /dev/pts/N; its master side is either a /dev/ptmx file
// in the sandbox (package sentry/fs/devpts) or a host terminal driven by a
// HostLink (the sandbox's /dev/pts/0 when runsc-lite runs on a terminal,
// or the console of an OCI container). Either way every terminal semantic
// is the sentry's own: the host terminal is put in raw mode and sees only
// the bytes a real terminal's wire would carry.
//
// Data flows through two queues:
//
//	master write ─▶ pending (≤64 KiB, Linux's flip buffer) ─▶ line discipline
//	                 ─▶ read buffer (4 KiB, lines marked) ─▶ replica read
//	replica write ─▶ output processing (OPOST) ─▶ out (≤64 KiB) ─▶ master read
//	echoes        ─▶ echo (while output is stopped) ─▶ out
//
// Job control decisions that need the process table (SIGTTIN/SIGTTOU,
// TIOCSCTTY, TIOCSPGRP, hangups) are asked of the caller through the
// Process interface and of the sandbox through Sessions (jobctl.go); the
// sentry's process package implements both.
//
// Locking: Terminal.mu protects everything mutable in a Terminal. It is a
// leaf with respect to the kernel (never held across a wait, a wake-up or
// a notification) and is taken after process.Sandbox.mu (the process
// table calls SetControl and friends with its lock held); nothing in this
// package calls into the process package with mu held.
package tty

import (
	"strconv"
	"sync"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

const (
	// bufSize is the line discipline's read buffer (N_TTY_BUF_SIZE).
	bufSize = 4096
	// pendingMax bounds input written by the master that the line
	// discipline has not taken yet (the tty layer's 64 KiB flip-buffer
	// limit).
	pendingMax = 65536
	// outMax bounds processed output the master has not read.
	outMax = 65536
	// echoMax bounds echoes held back while output is stopped.
	echoMax = bufSize
)

// ReplicaMajor is the device major of /dev/pts/N for N < 256 (Linux's
// UNIX98_PTY_SLAVE_MAJOR; 136+N/256 beyond).
const ReplicaMajor = 136

// events are the changes a state update must announce once mu is
// released.
type events uint8

const (
	evInput  events = 1 << iota // the read buffer changed: replica readers, master writers
	evOutput                    // out changed: master readers, replica writers, drains
	evDriver                    // out has new data for the driver (with evOutput)

	evNewOutput = evOutput | evDriver
)

// Driver is what a terminal's master side does beyond queueing, for a
// master that is not a sandbox file (a HostLink). Its methods are called
// without Terminal.mu held and must not block.
type Driver interface {
	// OutputReady is called when out has data for the driver to take.
	OutputReady()
	// InputRoom is called when the line discipline may accept input
	// again.
	InputRoom()
}

// Terminal is one pseudo-terminal: its settings, window size, line
// discipline state, queues, and controlling-terminal state.
type Terminal struct {
	index    uint32
	sessions Sessions

	mu      sync.Mutex
	termios linux.KernelTermios
	locked  linux.KernelTermios // TIOCSLCKTRMIOS
	winsize linux.Winsize

	// Input: master → replica.
	pending   []byte
	rbuf      [bufSize]byte
	rline     [bufSize]bool // a line ends at this byte (read_flags)
	reof      [bufSize]bool // ...and the byte is an EOF character (not data)
	readHead  uint64        // next byte the line discipline writes
	canonHead uint64        // end of the last complete line (canonical mode)
	readTail  uint64        // next byte a reader takes
	lineStart uint64        // where the line being read started
	lnext     bool          // the previous byte was VLNEXT
	erasing   bool          // inside an ECHOPRT erase ("\...")
	column    int           // output column (for erasing tabs)
	canonCol  int           // column where the current input line started

	// Output: replica → master.
	out         []byte
	outGen      uint64 // changes when out is flushed (a driver's peeked bytes are gone)
	echo        []byte // echoes held back while output is stopped
	stopped     bool   // by VSTOP (IXON) or TCOOFF
	flowStopped bool   // by TCOOFF

	// Packet mode of the master (TIOCPKT).
	packet    bool
	pktStatus byte

	// Open and life state.
	masterOpen     bool // the master side exists (a ptmx file or a host link)
	replicaOpens   int
	replicaClosed  bool // the replica was opened and then closed by all (TTY_OTHER_CLOSED)
	hungUp         bool // the master went away: the replica is hung up
	ptyLocked      bool // TIOCSPTLCK: the replica cannot be opened
	exclusive      bool // TIOCEXCL
	replicaCreated linux.StatxTimestamp

	// Controlling-terminal state (set through the process package):
	// the session this terminal controls and its foreground process
	// group; 0 for none.
	session, pgrp int32

	driver Driver

	inWQ             kernel.WaitQueue
	outWQ            kernel.WaitQueue
	replicaNotifier  fs.Notifier
	masterNotifier   fs.Notifier
	replicaOwnerUID  uint32
	replicaOwnerGID  uint32
	replicaOwnerMode uint32
}

// New returns a terminal with index index (its /dev/pts number), with
// the default settings of a new pseudo-terminal and a master side that is
// open. sessions may be nil (no job control: tests).
func New(index uint32, sessions Sessions) *Terminal {
	t := &Terminal{
		index:          index,
		sessions:       sessions,
		termios:        defaultReplicaTermios(),
		masterOpen:     true,
		replicaCreated: fs.Now(),
	}
	return t
}

// Index returns the terminal's number (N of /dev/pts/N).
func (t *Terminal) Index() uint32 { return t.index }

// Device returns the replica's device number (major, minor).
func (t *Terminal) Device() (uint32, uint32) {
	return ReplicaMajor + t.index/256, t.index % 256
}

// Name returns the replica's path, /dev/pts/N.
func (t *Terminal) Name() string { return "/dev/pts/" + strconv.FormatUint(uint64(t.index), 10) }

// Created returns when the terminal was made (the times of /dev/pts/N).
func (t *Terminal) Created() linux.StatxTimestamp { return t.replicaCreated }

// notify announces ev. Preconditions: mu is not held.
func (t *Terminal) notify(ev events) {
	if ev == 0 {
		return
	}
	if ev&evInput != 0 {
		t.inWQ.NotifyAll()
		t.replicaNotifier.Notify(unix.POLLIN | linux.POLLRDNORM | unix.POLLHUP)
		t.masterNotifier.Notify(unix.POLLOUT | linux.POLLWRNORM)
		if d := t.driver; d != nil {
			d.InputRoom()
		}
	}
	if ev&evOutput != 0 {
		t.outWQ.NotifyAll()
		t.masterNotifier.Notify(unix.POLLIN | linux.POLLRDNORM | unix.POLLPRI | unix.POLLHUP)
		t.replicaNotifier.Notify(unix.POLLOUT | linux.POLLWRNORM)
		if d := t.driver; d != nil && ev&evDriver != 0 {
			d.OutputReady()
		}
	}
}

// SetDriver makes d the terminal's master-side driver. It is called once,
// before the terminal is used.
func (t *Terminal) SetDriver(d Driver) { t.driver = d }

// SetReplicaOwner records the owner and mode /dev/pts/N shows.
func (t *Terminal) SetReplicaOwner(uid, gid, mode uint32) {
	t.mu.Lock()
	t.replicaOwnerUID, t.replicaOwnerGID, t.replicaOwnerMode = uid, gid, mode
	t.mu.Unlock()
}

// ReplicaOwner returns the owner and mode of /dev/pts/N.
func (t *Terminal) ReplicaOwner() (uid, gid, mode uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.replicaOwnerUID, t.replicaOwnerGID, t.replicaOwnerMode
}

// SetReplicaMode changes the mode of /dev/pts/N (chmod).
func (t *Terminal) SetReplicaMode(mode uint32) {
	t.mu.Lock()
	t.replicaOwnerMode = mode & 07777
	t.mu.Unlock()
}

// SetReplicaIDs changes the owner of /dev/pts/N (chown).
func (t *Terminal) SetReplicaIDs(uid, gid uint32, setUID, setGID bool) {
	t.mu.Lock()
	if setUID {
		t.replicaOwnerUID = uid
	}
	if setGID {
		t.replicaOwnerGID = gid
	}
	t.mu.Unlock()
}

// Termios returns the terminal's settings.
func (t *Terminal) Termios() linux.KernelTermios {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.termios
}

// SetTermios replaces the settings as TCSETS does, without job-control
// checks (the sentry configuring a terminal: a host terminal's settings
// become the sandbox terminal's).
func (t *Terminal) SetTermios(nt linux.KernelTermios) {
	t.mu.Lock()
	ev, sigs := t.setTermiosLocked(nt)
	t.mu.Unlock()
	t.sendSignals(sigs)
	t.notify(ev)
}

// WindowSize returns the window size.
func (t *Terminal) WindowSize() linux.Winsize {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.winsize
}

// SetWindowSize changes the window size and, if it changed, sends
// SIGWINCH to the foreground process group (tty_do_resize).
func (t *Terminal) SetWindowSize(ws linux.Winsize) {
	t.mu.Lock()
	changed := t.winsize != ws
	t.winsize = ws
	pgrp := t.pgrp
	t.mu.Unlock()
	if changed && pgrp > 0 && t.sessions != nil {
		t.sessions.SignalProcessGroup(pgrp, int(unix.SIGWINCH))
	}
}

// Control returns the session this terminal controls and its foreground
// process group (0 for none).
func (t *Terminal) Control() (session, pgrp int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.session, t.pgrp
}

// SetControl makes the terminal the controlling terminal of session with
// foreground group pgrp (0, 0: of none). Only the process package calls
// it, with the process table locked.
func (t *Terminal) SetControl(session, pgrp int32) {
	t.mu.Lock()
	t.session, t.pgrp = session, pgrp
	t.mu.Unlock()
}

// SetForeground changes the foreground process group. Only the process
// package calls it, after its checks.
func (t *Terminal) SetForeground(pgrp int32) {
	t.mu.Lock()
	t.pgrp = pgrp
	t.mu.Unlock()
}

// Foreground returns the foreground process group (0: none).
func (t *Terminal) Foreground() int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pgrp
}

// OpenReplica accounts for a new open of the replica. It fails with EIO
// when the master is gone or the replica is locked (TIOCSPTLCK), and with
// EBUSY when the terminal is exclusive (TIOCEXCL) and the opener is not
// privileged.
func (t *Terminal) OpenReplica(privileged bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.masterOpen || t.hungUp || t.ptyLocked {
		return unix.EIO
	}
	if t.exclusive && !privileged {
		return unix.EBUSY
	}
	t.replicaOpens++
	t.replicaClosed = false
	return nil
}

// CloseReplica accounts for the last close of one replica file. When the
// last one goes the master sees a hangup (POLLHUP, EIO once drained).
func (t *Terminal) CloseReplica() {
	t.mu.Lock()
	t.replicaOpens--
	if t.replicaOpens == 0 {
		t.replicaClosed = true
	}
	t.mu.Unlock()
	t.notify(evOutput | evInput)
}

// ReplicaOpen reports whether any replica file is open.
func (t *Terminal) ReplicaOpen() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.replicaOpens > 0
}

// MasterOpen reports whether the master side still exists.
func (t *Terminal) MasterOpen() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.masterOpen
}

// SetLocked sets the replica lock (TIOCSPTLCK; a new /dev/ptmx terminal
// starts locked until unlockpt).
func (t *Terminal) SetLocked(locked bool) {
	t.mu.Lock()
	t.ptyLocked = locked
	t.mu.Unlock()
}

// CloseMaster is the master's last close: the replica is hung up (its
// session leader gets SIGHUP and SIGCONT and loses its controlling
// terminal; reads see end of file, writes EIO).
func (t *Terminal) CloseMaster() {
	t.mu.Lock()
	t.masterOpen = false
	t.mu.Unlock()
	t.Hangup()
}

// Hangup hangs up the replica (Linux's tty_vhangup): the session it
// controls is told (SIGHUP and SIGCONT to the session leader, which with
// every member loses the controlling terminal), pending input and output
// are dropped, and the replica's files see end of file and EIO.
func (t *Terminal) Hangup() {
	t.mu.Lock()
	if t.hungUp {
		t.mu.Unlock()
		return
	}
	t.hungUp = true
	t.resetInputLocked()
	t.pending = nil
	t.out = nil
	t.echo = nil
	t.mu.Unlock()
	if t.sessions != nil {
		t.sessions.HangupSession(t)
	}
	t.mu.Lock()
	t.session, t.pgrp = 0, 0
	t.mu.Unlock()
	t.notify(evInput | evOutput)
}

// HungUp reports whether the replica is hung up.
func (t *Terminal) HungUp() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hungUp
}

// WatchReplica and WatchMaster register epoll/poll watchers of a side.
func (t *Terminal) WatchReplica(mask uint32, fn fs.WatchFunc) func() {
	return t.replicaNotifier.Watch(mask, fn)
}

// WatchMaster registers a watcher of the master side.
func (t *Terminal) WatchMaster(mask uint32, fn fs.WatchFunc) func() {
	return t.masterNotifier.Watch(mask, fn)
}

// ReplicaReadiness returns the events of mask that hold for the replica
// (n_tty_poll).
func (t *Terminal) ReplicaReadiness(mask uint32) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r uint32
	if t.hungUp {
		r = unix.POLLIN | unix.POLLOUT | unix.POLLERR | unix.POLLHUP | linux.POLLRDNORM | linux.POLLWRNORM
		return r & (mask | unix.POLLERR | unix.POLLHUP)
	}
	amt := 0
	if t.termios.ControlCharacters[linux.VTIME] == 0 {
		amt = int(t.termios.ControlCharacters[linux.VMIN])
	}
	if t.inputAvailableLocked(amt) {
		r |= unix.POLLIN | linux.POLLRDNORM
	}
	if len(t.out) < outMax && !t.stopped {
		r |= unix.POLLOUT | linux.POLLWRNORM
	}
	return r & (mask | unix.POLLERR | unix.POLLHUP)
}

// MasterReadiness returns the events of mask that hold for the master.
func (t *Terminal) MasterReadiness(mask uint32) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r uint32
	if len(t.out) > 0 {
		r |= unix.POLLIN | linux.POLLRDNORM
	}
	if t.packet && t.pktStatus != 0 {
		r |= unix.POLLPRI | unix.POLLIN | linux.POLLRDNORM
	}
	if t.replicaClosed {
		r |= unix.POLLHUP
	}
	if len(t.pending) < pendingMax {
		r |= unix.POLLOUT | linux.POLLWRNORM
	}
	return r & (mask | unix.POLLERR | unix.POLLHUP)
}
