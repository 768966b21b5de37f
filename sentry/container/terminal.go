package container

// A process's terminal: a host terminal attached to the container's
// devpts (sentry/tty's HostLink), seen inside as /dev/pts/N.

import (
	"io"
	"os"
	"strconv"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devpts"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Terminal asks for a new process's terminal (New, Exec).
type Terminal struct {
	// Host is the host terminal to attach (an OCI console: the replica
	// of the pseudo-terminal whose master went over the console
	// socket); the process's stdin, stdout and stderr are all on it.
	// Nil: the terminal among the host descriptors the process's stdin
	// and stdout come from, if any (`do` on a terminal), for the
	// descriptors that are on it.
	Host *os.File
}

// Console is a host terminal serving as a terminal of the sandbox. A nil
// *Console (no terminal) is valid: its methods do nothing.
type Console struct {
	v     *vfs.VirtualFilesystem
	pts   *devpts.Filesystem
	term  *tty.Terminal
	link  *tty.HostLink
	stdio [3]bool // which of the process's descriptors 0-2 are this terminal
	log   *logrus.Logger
	// logOut is the log's output before it was routed through the
	// terminal (nil if it was not).
	logOut io.Writer
}

// AttachTerminal makes a host terminal a terminal of the sandbox: the
// lowest free /dev/pts/N of pts (so /dev/pts/0 for the first), with the
// host terminal's settings and window size (or size), and the host
// terminal in raw mode until Close. host is the terminal to use (an OCI
// console; the program's stdin, stdout and stderr will all be on it); nil
// means the terminal stdio's descriptors 0 or 1 (host descriptors of the
// sentry) are on: the first that is a terminal, if the sentry may take it
// over (tty.HostForeground), for the descriptors 0-2 that are that
// terminal. It returns nil (no terminal) when there is none. The
// terminal's replica is owned by creds.
//
// This is the API for an OCI runtime's process.terminal (New and Exec
// call it): with the replica of the pty whose master went over the
// console socket, install the result's stdio in the process's descriptor
// table (InstallStdio), make it the process's controlling terminal
// (SetControllingTerminal) and Close it when the process is gone.
func AttachTerminal(v *vfs.VirtualFilesystem, pts *devpts.Filesystem, host *os.File, stdio Stdio, size *linux.Winsize, creds *auth.Credentials, log *logrus.Logger) (*Console, error) {
	c := &Console{v: v, pts: pts, log: log}
	hostFD := -1
	if host != nil {
		if !tty.IsTerminal(int(host.Fd())) {
			return nil, &ExitError{Status: 1, Err: errNotTerminal(host.Name())}
		}
		hostFD = int(host.Fd())
		c.stdio = [3]bool{true, true, true}
	} else {
		// The terminal on stdin or stdout (stderr alone is only where
		// messages go: a program whose input and output are files
		// leaves the user's terminal, and what is typed ahead, alone).
		for i := int32(0); i < 2; i++ {
			fd, ok := stdio[i]
			if !ok || !tty.IsTerminal(fd) {
				continue
			}
			if tty.HostForeground(fd) {
				hostFD = fd
			} else {
				log.Debugf("terminal on descriptor %d: runsc-lite is in its background; passed through", fd)
			}
			break
		}
		if hostFD < 0 {
			return nil, nil
		}
		for i := int32(0); i < 3; i++ {
			fd, ok := stdio[i]
			c.stdio[i] = ok && tty.SameTerminal(fd, hostFD)
		}
	}
	fc := &fs.Creds{FSUID: creds.FSUID, FSGID: creds.FSGID}
	term, link, err := pts.AttachHost(hostFD, fc, tty.HostOptions{Size: size, Own: host != nil})
	if err != nil {
		if host != nil {
			return nil, err
		}
		log.Debugf("cannot attach the terminal on descriptor %d (%v): passed through", hostFD, err)
		return nil, nil
	}
	c.term, c.link = term, link
	log.Debugf("host terminal on descriptor %d is the sandbox's %s", hostFD, term.Name())
	if log.Out == os.Stderr && tty.SameTerminal(2, hostFD) {
		// The host terminal is raw now: the sentry's own messages to
		// it go through the terminal's output processing.
		c.logOut = log.Out
		log.SetOutput(link.ConsoleWriter())
	}
	return c, nil
}

// StdioTerminalForeground reports whether the terminal on this process's
// stdin or stdout (the first that is one), if any, may be taken
// over: it is not the process's controlling terminal, or the process is
// in its foreground. The launcher asks, for the sentry it starts in a
// session of its own.
func StdioTerminalForeground() bool {
	for i := 0; i < 2; i++ {
		if tty.IsTerminal(i) {
			return tty.HostForeground(i)
		}
	}
	return true
}

type errNotTerminal string

func (e errNotTerminal) Error() string { return "the console " + string(e) + " is not a terminal" }

// Terminal returns the sandbox terminal, or nil.
func (c *Console) Terminal() *tty.Terminal {
	if c == nil {
		return nil
	}
	return c.term
}

// OpenReplica returns a new description of the terminal's /dev/pts/N
// opened with flags (O_NOCTTY is added: the sentry gives the terminal to
// a session with SetControllingTerminal).
func (c *Console) OpenReplica(flags uint32) (*vfs.FileDescription, error) {
	loc, err := c.v.LocationIn(c.pts, strconv.FormatUint(uint64(c.term.Index()), 10), c.pts.ReplicaNode(c.term))
	if err != nil {
		return nil, err
	}
	return c.v.Open(fs.Background, loc, flags|unix.O_NOCTTY)
}

// InstallStdio installs a new process's descriptors in fds: /dev/pts/N
// for those of 0-2 on the terminal, the host descriptors of stdio for
// the others.
func (c *Console) InstallStdio(fds *vfs.FDTable, stdio Stdio) error {
	for fd, hostFD := range stdio {
		if c != nil && fd >= 0 && fd < 3 && c.stdio[fd] {
			continue
		}
		if err := fds.InstallHostFD(fd, hostFD); err != nil && err != unix.EBADF {
			return err
		}
	}
	if c == nil {
		return nil
	}
	var f *vfs.FileDescription
	for i := 0; i < 3; i++ {
		if !c.stdio[i] {
			continue
		}
		if f == nil {
			var err error
			if f, err = c.OpenReplica(unix.O_RDWR); err != nil {
				return err
			}
			defer f.DecRef()
		}
		if err := fds.InstallAt(int32(i), f, false); err != nil {
			return err
		}
	}
	return nil
}

// SetControllingTerminal makes the terminal the controlling terminal of
// the session tg leads, with tg's group in the foreground.
func (c *Console) SetControllingTerminal(tg *process.ThreadGroup) error {
	if c == nil {
		return nil
	}
	return tg.TakeControllingTerminal(c.term)
}

// Foreground returns a function reporting the terminal's foreground
// process group, for process.ForwardHostSignals; nil without a terminal.
func (c *Console) Foreground() func() int32 {
	if c == nil {
		return nil
	}
	return c.term.Foreground
}

// Close writes out what the sandbox left for the terminal, restores the
// host terminal's settings and the log's output, and takes the terminal
// out of the devpts (its replica, if still open, hangs up). It is
// idempotent.
func (c *Console) Close() {
	if c == nil || c.link == nil {
		return
	}
	c.link.Close()
	if c.logOut != nil {
		c.log.SetOutput(c.logOut)
		c.logOut = nil
	}
	c.pts.DetachHost(c.term)
}
