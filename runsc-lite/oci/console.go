package oci

// Terminals. A container process with process.terminal gets a host
// pseudo-terminal made here: its replica goes to the sentry, which
// attaches it to the container's devpts as the process's /dev/pts/N
// (container.AttachTerminal: the sandbox's line discipline and job
// control serve it; the host pty only carries bytes), and its master goes
// to the caller: over --console-socket, as runc sends it (SCM_RIGHTS, the
// message being the master's name), or, for run and exec in the
// foreground without a socket, to this process, which relays between its
// own stdio and the master as runc does.

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"golang.org/x/sys/unix"
)

// console is a host pseudo-terminal pair.
type console struct {
	master, replica *os.File
}

// newConsole makes a pty pair with window size size (nil: the kernel's
// 0x0, until the client sets it).
func newConsole(size *container.ConsoleSize) (*console, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("making the console: %w", err)
	}
	master := os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, fmt.Errorf("making the console: unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("making the console: ptsname: %w", err)
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	rfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("making the console: %w", err)
	}
	c := &console{master: master, replica: os.NewFile(uintptr(rfd), name)}
	if size != nil {
		ws := &unix.Winsize{Row: size.Height, Col: size.Width}
		if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, ws); err != nil {
			c.close()
			return nil, fmt.Errorf("console size: %w", err)
		}
	}
	return c, nil
}

// send passes the master to the console socket at path, as runc does,
// and closes this process's copy. (x/sys, not the net package: see
// sentry/control's socket.go.)
func (c *console) send(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("console socket: connect %s: %w", path, err)
	}
	if err := unix.Sendmsg(fd, []byte(c.master.Name()), unix.UnixRights(int(c.master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("console socket: sending the console: %w", err)
	}
	c.master.Close()
	c.master = nil
	return nil
}

// closeReplica closes this process's copy of the replica, once the sentry
// has its own: the master then sees the end (EIO) when the sentry lets
// go of the terminal.
func (c *console) closeReplica() {
	if c != nil && c.replica != nil {
		c.replica.Close()
		c.replica = nil
	}
}

// close closes what this process still holds of the pair.
func (c *console) close() {
	if c == nil {
		return
	}
	c.closeReplica()
	if c.master != nil {
		c.master.Close()
		c.master = nil
	}
}

// takeSize gives the terminal the window size of this process's stdin,
// if that is a terminal, before the process starts (the relay follows
// later changes).
func (c *console) takeSize() {
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// relayDrain bounds how long the relay waits for the terminal's last
// output once the process has ended.
const relayDrain = 5 * time.Second

// relay copies this process's stdin to the master and the master's output
// to its stdout, with this process's terminal (if stdin is one) in raw
// mode and its window size followed, as runc does for a foreground
// container with a terminal. The returned function, called once the
// process has ended, waits for the last output (the master's EIO when the
// sentry has let go of the replica; at most relayDrain), restores the
// terminal and closes the master.
func (c *console) relay() (finish func()) {
	in := int(os.Stdin.Fd())
	var saved *unix.Termios
	if t, err := unix.IoctlGetTermios(in, unix.TCGETS); err == nil {
		saved = t
		raw := tty.RawMode(*t)
		unix.IoctlSetTermios(in, unix.TCSETS, &raw)
	}
	winch := make(chan os.Signal, 1)
	stopWinch := make(chan struct{})
	if saved != nil {
		c.takeSize()
		signal.Notify(winch, unix.SIGWINCH)
		go func() {
			for {
				select {
				case <-winch:
					c.takeSize()
				case <-stopWinch:
					return
				}
			}
		}()
	}
	master := c.master
	go io.Copy(master, os.Stdin)
	out := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, master)
		close(out)
	}()
	return func() {
		select {
		case <-out:
		case <-time.After(relayDrain):
		}
		signal.Stop(winch)
		close(stopWinch)
		if saved != nil {
			unix.IoctlSetTermios(in, unix.TCSETS, saved)
		}
		c.close()
	}
}
