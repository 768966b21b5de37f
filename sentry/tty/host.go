package tty

// A host terminal as the master side of a sandbox terminal.
//
// The host terminal (runsc-lite's own terminal under `do`, or the replica
// of the pty whose master an OCI client holds) is put in raw mode: it
// only carries bytes, and the sandbox terminal's line discipline does
// everything a terminal does (echo, ^C, ^Z, canonical lines, job control
// signals), exactly as for a /dev/ptmx pair inside the sandbox. Two
// goroutines move the bytes — the host terminal is the sandbox's
// "hardware" and they are its interrupt handlers: a reader that feeds
// what the user types to Terminal.Input while the line discipline has
// room, and a writer that writes the terminal's output to the host. The
// window size follows the host's (SIGWINCH when the host terminal is
// runsc-lite's controlling terminal, otherwise a poll every 100 ms). When
// the link closes, pending output is written out and the host terminal's
// settings are restored.

import (
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// hostChunk is how much the link moves per host read or write.
const hostChunk = 4096

// winsizePoll is how often the window size of a host terminal that is not
// runsc-lite's controlling terminal (so sends it no SIGWINCH) is read.
const winsizePoll = 100 * time.Millisecond

// drainIdle is how long Close waits for the host to take output when no
// progress is made.
const drainIdle = 2 * time.Second

// HostOptions configure AttachHost.
type HostOptions struct {
	// Size, if not nil, is the initial window size, set on the host
	// terminal too (OCI's process.consoleSize); otherwise the host
	// terminal's own size is used.
	Size *linux.Winsize
	// Own says the sentry alone holds hostFD's open file description
	// (an OCI console, passed over a socket): the link makes it
	// non-blocking instead of opening the terminal again through
	// /proc/self/fd, which a confined sentry does not have.
	Own bool
}

// HostLink drives a terminal's master side from a host terminal.
//
// Locking: writeMu serializes writes to the host (their order is the
// output's); it is taken after no other lock and never held while
// calling into the terminal except PeekOutput/ConsumeOutput.
type HostLink struct {
	t        *Terminal
	fd       int
	nonblock bool // fd is the link's own non-blocking open file description
	saved    unix.Termios
	isCTTY   bool
	stopFD   int // eventfd: wakes the reader's and writer's polls to stop them
	outReady chan struct{}
	inRoom   chan struct{}
	stop     chan struct{}
	writeMu  sync.Mutex
	detached atomic.Bool // the descriptor is (about to be) closed: write no more
	written  atomic.Int64
	wg       sync.WaitGroup
	closed   sync.Once
}

// IsTerminal reports whether host descriptor fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// HostForeground reports whether runsc-lite may take over host terminal
// fd: it is not runsc-lite's controlling terminal, or runsc-lite's process
// group is its foreground group. (A runsc-lite started in the background
// of a shell must not put the shell's terminal in raw mode.)
func HostForeground(fd int) bool {
	if _, err := unix.IoctlGetInt(fd, unix.TIOCGSID); err != nil {
		return true
	}
	pg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}

// SameTerminal reports whether host descriptors a and b are the same
// terminal device.
func SameTerminal(a, b int) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(a, &sa) != nil || unix.Fstat(b, &sb) != nil {
		return false
	}
	return sa.Mode&unix.S_IFMT == unix.S_IFCHR && sa.Rdev == sb.Rdev && sb.Mode&unix.S_IFMT == unix.S_IFCHR
}

// AttachHost makes host terminal hostFD (duplicated; the caller keeps
// its own) the master side of t: t takes the host terminal's settings and
// window size, and the host terminal is put in raw mode until Close.
func AttachHost(t *Terminal, hostFD int, o HostOptions) (*HostLink, error) {
	fd, nonblock, err := openOwn(hostFD, o.Own)
	if err != nil {
		return nil, err
	}
	l := &HostLink{
		t:        t,
		fd:       fd,
		nonblock: nonblock,
		outReady: make(chan struct{}, 1),
		inRoom:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	if err := ioctlPtr(fd, unix.TCGETS2, unsafe.Pointer(&l.saved)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	_, err = unix.IoctlGetInt(fd, unix.TIOCGSID)
	l.isCTTY = err == nil
	l.stopFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}

	t.SetTermios(kernelTermios(&l.saved))
	if o.Size != nil {
		ws := unix.Winsize{Row: o.Size.Row, Col: o.Size.Col, Xpixel: o.Size.Xpixel, Ypixel: o.Size.Ypixel}
		unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &ws)
	}
	l.readWindowSize(false)

	raw := RawMode(l.saved)
	if err := ioctlPtr(fd, unix.TCSETS2, unsafe.Pointer(&raw)); err != nil {
		unix.Close(l.stopFD)
		unix.Close(fd)
		return nil, err
	}
	t.SetDriver(l)
	l.wg.Add(3)
	go l.reader()
	go l.writer()
	go l.watchWindow()
	return l, nil
}

// RawMode returns settings s in raw mode, as cfmakeraw(3) makes them: no
// echo, no signals, no input or output processing, 8-bit characters, a
// read returning as soon as one byte is there.
func RawMode(s unix.Termios) unix.Termios {
	s.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	s.Oflag &^= unix.OPOST
	s.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	s.Cflag &^= unix.CSIZE | unix.PARENB
	s.Cflag |= unix.CS8
	s.Cc[unix.VMIN], s.Cc[unix.VTIME] = 1, 0
	return s
}

// openOwn returns a descriptor of host terminal hostFD for the link: its
// own open file description of the same terminal when it can open one
// (through /proc/self/fd), made non-blocking so that tasks can write to
// the host without waiting (the caller's description, shared with the
// user's shell, stays blocking); otherwise a duplicate of hostFD, written
// by the writer goroutine only. With own, the description is the
// sentry's alone: a duplicate of hostFD, made non-blocking.
func openOwn(hostFD int, own bool) (fd int, nonblock bool, err error) {
	if own {
		if fd, err = unix.FcntlInt(uintptr(hostFD), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return -1, false, err
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return -1, false, err
		}
		return fd, true, nil
	}
	ownFD, err := unix.Open("/proc/self/fd/"+strconv.Itoa(hostFD), unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		if SameTerminal(ownFD, hostFD) {
			return ownFD, true, nil
		}
		unix.Close(ownFD)
	}
	fd, err = unix.FcntlInt(uintptr(hostFD), unix.F_DUPFD_CLOEXEC, 0)
	return fd, false, err
}

// HostIoctls are the ioctl requests made on the host terminal (by the
// launcher, at attach time, and by the link while the sandbox runs and
// when it restores the terminal): the confined sentry's seccomp filter
// allows them (sentry/sandbox).
var HostIoctls = []uintptr{
	unix.TCGETS, unix.TIOCGSID, unix.TIOCGPGRP, unix.TCGETS2, unix.TCSETS2,
	unix.TIOCSWINSZ, unix.TIOCGWINSZ,
}

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}

// kernelTermios converts the host's struct termios2.
func kernelTermios(h *unix.Termios) linux.KernelTermios {
	kt := linux.KernelTermios{
		InputFlags:     h.Iflag,
		OutputFlags:    h.Oflag,
		ControlFlags:   h.Cflag,
		LocalFlags:     h.Lflag,
		LineDiscipline: h.Line,
		InputSpeed:     h.Ispeed,
		OutputSpeed:    h.Ospeed,
	}
	copy(kt.ControlCharacters[:], h.Cc[:])
	return kt
}

// Terminal returns the linked terminal.
func (l *HostLink) Terminal() *Terminal { return l.t }

// OutputReady implements Driver: the caller (a task that wrote, or the
// reader after an echo) writes the output to the host itself when it can
// without blocking; otherwise the writer goroutine does.
func (l *HostLink) OutputReady() {
	if l.nonblock && l.writeMu.TryLock() {
		empty := l.flushLocked(false)
		l.writeMu.Unlock()
		if empty {
			return
		}
	}
	select {
	case l.outReady <- struct{}{}:
	default:
	}
}

// flushLocked writes queued output to the host until the queue is empty
// (true) or, when !wait, the host would block (false). With wait it
// blocks until the host takes the output or the link stops.
// Preconditions: writeMu is held.
func (l *HostLink) flushLocked(wait bool) bool {
	for !l.detached.Load() {
		b, gen := l.t.PeekOutput(hostChunk)
		if len(b) == 0 {
			return true
		}
		n, err := unix.Write(l.fd, b)
		if n > 0 {
			l.written.Add(int64(n))
			l.t.ConsumeOutput(n, gen)
			continue
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if !wait {
				return false
			}
			fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLOUT}, {Fd: int32(l.stopFD), Events: unix.POLLIN}}
			unix.Poll(fds, -1)
			if fds[1].Revents != 0 {
				return false
			}
			continue
		}
		// The host terminal is gone: drop the output.
		l.t.ConsumeOutput(len(b), gen)
	}
	return true
}

// InputRoom implements Driver.
func (l *HostLink) InputRoom() {
	select {
	case l.inRoom <- struct{}{}:
	default:
	}
}

// reader feeds host input to the terminal while it has room. A host
// terminal that goes away (its master closed) hangs the terminal up.
func (l *HostLink) reader() {
	defer l.wg.Done()
	buf := make([]byte, hostChunk)
	for {
		room := l.t.InputRoom()
		if room == 0 {
			select {
			case <-l.inRoom:
			case <-l.stop:
				return
			}
			continue
		}
		fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}, {Fd: int32(l.stopFD), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(l.fd, buf[:min(room, len(buf))])
		if n > 0 {
			l.t.Input(buf[:n])
			continue
		}
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		// End of file or EIO: the host side hung up.
		l.t.Hangup()
		return
	}
}

// writer writes the output the tasks could not write without blocking.
func (l *HostLink) writer() {
	defer l.wg.Done()
	for {
		select {
		case <-l.outReady:
		case <-l.stop:
			return
		}
		l.writeMu.Lock()
		l.flushLocked(true)
		l.writeMu.Unlock()
	}
}

// watchWindow follows the host terminal's window size.
func (l *HostLink) watchWindow() {
	defer l.wg.Done()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	defer signal.Stop(winch)
	var tick <-chan time.Time
	if !l.isCTTY {
		tk := time.NewTicker(winsizePoll)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-l.stop:
			return
		case <-winch:
		case <-tick:
		}
		l.readWindowSize(true)
	}
}

// readWindowSize copies the host's window size to the terminal (with
// SIGWINCH to its foreground group when signal and it changed).
func (l *HostLink) readWindowSize(signal bool) {
	ws, err := unix.IoctlGetWinsize(l.fd, unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	nw := linux.Winsize{Row: ws.Row, Col: ws.Col, Xpixel: ws.Xpixel, Ypixel: ws.Ypixel}
	if !signal {
		l.t.mu.Lock()
		l.t.winsize = nw
		l.t.mu.Unlock()
		return
	}
	l.t.SetWindowSize(nw)
}

// ConsoleWriter returns a writer whose bytes reach the host terminal
// through the terminal's output processing, for the sentry's own messages
// (its log) while the host terminal is raw.
func (l *HostLink) ConsoleWriter() io.Writer { return consoleWriter{l.t} }

type consoleWriter struct{ t *Terminal }

func (w consoleWriter) Write(p []byte) (int, error) {
	t := w.t
	t.mu.Lock()
	if t.hungUp {
		t.mu.Unlock()
		return len(p), nil
	}
	for _, c := range p {
		if t.oflag(linux.OPOST) {
			t.outputChar(c, t.appendOut)
		} else {
			t.out = append(t.out, c)
		}
	}
	t.mu.Unlock()
	t.notify(evNewOutput)
	return len(p), nil
}

// Close writes out the terminal's pending output (giving up after 2 s
// without progress), stops the link and restores the host terminal's
// settings. It is idempotent.
func (l *HostLink) Close() {
	l.closed.Do(func() {
		var one [8]byte
		one[0] = 1
		unix.Write(l.stopFD, one[:]) // the reader stops
		last, idle := l.written.Load(), time.Now()
		for l.t.OutputQueued() > 0 && !l.t.HungUp() {
			if l.nonblock {
				l.writeMu.Lock()
				l.flushLocked(false)
				l.writeMu.Unlock()
				if l.t.OutputQueued() == 0 {
					break
				}
				unix.Poll([]unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLOUT}}, 50)
			} else {
				l.OutputReady() // the writer's blocking writes
				time.Sleep(5 * time.Millisecond)
			}
			if w := l.written.Load(); w != last {
				last, idle = w, time.Now()
			} else if time.Since(idle) > drainIdle {
				break
			}
		}
		close(l.stop)
		ioctlPtr(l.fd, unix.TCSETS2, unsafe.Pointer(&l.saved))
		// Output produced from now on (a process still writing to the
		// terminal being detached) is not written to a descriptor that
		// is closed, or reused.
		l.detached.Store(true)
		if l.nonblock {
			// Wait out a flush in progress (it never blocks).
			l.writeMu.Lock()
			l.writeMu.Unlock()
		}
		done := make(chan struct{})
		go func() { l.wg.Wait(); close(done) }()
		select {
		case <-done:
			unix.Close(l.fd)
		case <-time.After(drainIdle):
			// The writer is stuck in a write nobody reads: leave
			// the descriptor to it.
		}
		unix.Close(l.stopFD)
	})
}
