package tty

// Terminal ioctls (Linux's tty_ioctl, tty_mode_ioctl, n_tty_ioctl and
// the pty driver's). On the master most of them act on the replica, as
// Linux's real_tty does; the master's own are TIOCGPTN, TIOCSPTLCK,
// TIOCGPTLCK, TIOCPKT, TIOCGPKT and TIOCSIG.

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Side says which end of the terminal an ioctl came through, and what
// the file allows.
type Side struct {
	// Master is true for the master (ptmx) end.
	Master bool
	// Readable is whether the file was opened for reading (TIOCSCTTY).
	Readable bool
	// OwnExclusive is the master's own TIOCEXCL flag (the replica's is
	// the terminal's).
	OwnExclusive *bool
}

// Ioctl serves a terminal ioctl that came through side.
func (t *Terminal) Ioctl(ctx *fs.Context, side Side, cmd uint32, arg uintptr) (uintptr, error) {
	copyOut := func(b []byte) error { return ctx.CopyOutArg(arg, b) }
	copyIn := func(b []byte) error { return ctx.CopyInArg(arg, b) }
	putInt := func(v int32) (uintptr, error) { return 0, ctx.PutIntArg(arg, v) }
	getInt := func() (int32, error) { return ctx.IntArg(arg) }

	if !side.Master && t.HungUp() {
		// hung_up_tty_ioctl.
		if cmd == linux.TIOCSPGRP {
			return 0, unix.ENOTTY
		}
		return 0, unix.EIO
	}

	if side.Master {
		switch cmd {
		case linux.TIOCGPTN:
			return putInt(int32(t.index))
		case linux.TIOCSPTLCK:
			v, err := getInt()
			if err != nil {
				return 0, err
			}
			t.SetLocked(v != 0)
			return 0, nil
		case tiocgptlck:
			t.mu.Lock()
			l := t.ptyLocked
			t.mu.Unlock()
			return putInt(boolInt(l))
		case linux.TIOCPKT:
			v, err := getInt()
			if err != nil {
				return 0, err
			}
			t.mu.Lock()
			if v != 0 {
				if !t.packet {
					t.pktStatus = 0
					t.packet = true
				}
			} else {
				t.packet = false
			}
			t.mu.Unlock()
			return 0, nil
		case linux.TIOCGPKT:
			t.mu.Lock()
			p := t.packet
			t.mu.Unlock()
			return putInt(boolInt(p))
		case tiocsig:
			sig := int(arg)
			if sig != int(unix.SIGINT) && sig != int(unix.SIGQUIT) && sig != int(unix.SIGTSTP) {
				return 0, unix.EINVAL
			}
			if pg := t.Foreground(); pg > 0 && t.sessions != nil {
				t.sessions.SignalProcessGroup(pg, sig)
			}
			return 0, nil
		case linux.TCFLSH:
			// The master's own queues: its input is the replica's
			// output, its output the replica's pending input.
			if err := t.checkChange(ctx); err != nil {
				return 0, err
			}
			t.mu.Lock()
			switch arg {
			case linux.TCIFLUSH:
				t.out = nil
			case linux.TCOFLUSH:
				t.pending = nil
			case linux.TCIOFLUSH:
				t.out, t.pending = nil, nil
			default:
				t.mu.Unlock()
				return 0, unix.EINVAL
			}
			t.mu.Unlock()
			t.notify(evInput | evOutput)
			return 0, nil
		case linux.FIONREAD:
			return putInt(int32(t.OutputQueued()))
		case linux.TIOCOUTQ:
			return putInt(0)
		case linux.TIOCSTI:
			// Into the master's own input: what a master read returns.
			if !capable(ctx, capSysAdmin) {
				return 0, unix.EPERM
			}
			var b [1]byte
			if err := copyIn(b[:]); err != nil {
				return 0, err
			}
			t.mu.Lock()
			t.out = append(t.out, b[0])
			t.mu.Unlock()
			t.notify(evNewOutput)
			return 0, nil
		case tcxonc:
			if err := t.checkChange(ctx); err != nil {
				return 0, err
			}
			switch arg {
			case tcooff, tcoon:
				return 0, nil
			case tcioff:
				t.sendChar(linux.VSTOP)
				return 0, nil
			case tcion:
				t.sendChar(linux.VSTART)
				return 0, nil
			}
			return 0, unix.EINVAL
		case linux.TIOCEXCL, linux.TIOCNXCL:
			if side.OwnExclusive != nil {
				*side.OwnExclusive = cmd == linux.TIOCEXCL
			}
			return 0, nil
		case linux.TIOCGEXCL:
			v := false
			if side.OwnExclusive != nil {
				v = *side.OwnExclusive
			}
			return putInt(boolInt(v))
		}
	} else {
		switch cmd {
		case linux.TIOCGPTN, linux.TIOCSPTLCK, tiocgptlck, linux.TIOCPKT, linux.TIOCGPKT, tiocsig, linux.TIOCGPTPEER:
			return 0, unix.ENOTTY
		}
	}

	switch cmd {
	case linux.TCGETS:
		return 0, copyOut(marshalTermios(ptr(t.Termios())))
	case linux.TCGETS2:
		kt := t.Termios()
		return 0, copyOut(marshalBytes(&kt))
	case tcgeta:
		return 0, copyOut(marshalTermio(ptr(t.Termios())))
	case linux.TCSETS, linux.TCSETSW, linux.TCSETSF,
		linux.TCSETS2, linux.TCSETSW2, linux.TCSETSF2,
		tcseta, tcsetaw, tcsetaf:
		return 0, t.setTermiosIoctl(ctx, cmd, copyIn)
	case tiocglcktrmios:
		t.mu.Lock()
		l := t.locked
		t.mu.Unlock()
		return 0, copyOut(marshalTermios(&l))
	case tiocslcktrmios:
		if !capable(ctx, capSysAdmin) {
			return 0, unix.EPERM
		}
		var tt linux.Termios
		b := make([]byte, tt.SizeBytes())
		if err := copyIn(b); err != nil {
			return 0, err
		}
		t.mu.Lock()
		unmarshalTermios(&t.locked, b)
		t.mu.Unlock()
		return 0, nil
	case linux.TIOCGWINSZ:
		ws := t.WindowSize()
		return 0, copyOut(marshalBytes(&ws))
	case linux.TIOCSWINSZ:
		var ws linux.Winsize
		b := make([]byte, ws.SizeBytes())
		if err := copyIn(b); err != nil {
			return 0, err
		}
		ws.UnmarshalBytes(b)
		t.SetWindowSize(ws)
		return 0, nil
	case tiocgsoftcar:
		return putInt(boolInt(t.Termios().ControlFlags&linux.CLOCAL != 0))
	case tiocssoftcar:
		v, err := getInt()
		if err != nil {
			return 0, err
		}
		t.mu.Lock()
		if v != 0 {
			t.termios.ControlFlags |= linux.CLOCAL
		} else {
			t.termios.ControlFlags &^= linux.CLOCAL
		}
		t.mu.Unlock()
		return 0, nil
	case linux.TIOCSCTTY:
		p := caller(ctx)
		if p == nil {
			return 0, unix.EPERM
		}
		return 0, p.SetControllingTerminal(t, arg == 1, side.Readable)
	case linux.TIOCNOTTY:
		if side.Master {
			return 0, unix.ENOTTY
		}
		p := caller(ctx)
		if p == nil {
			return 0, unix.ENOTTY
		}
		return 0, p.ReleaseControllingTerminal(t)
	case linux.TIOCGPGRP:
		if !side.Master && !t.isControlling(ctx) {
			return 0, unix.ENOTTY
		}
		return putInt(t.Foreground())
	case linux.TIOCSPGRP:
		if err := t.checkChange(ctx); err != nil {
			if err == unix.EIO {
				return 0, unix.ENOTTY
			}
			return 0, err
		}
		pg, err := getInt()
		if err != nil {
			return 0, err
		}
		if pg < 0 {
			return 0, unix.EINVAL
		}
		p := caller(ctx)
		if p == nil {
			return 0, unix.ENOTTY
		}
		return 0, p.SetForegroundProcessGroup(t, pg)
	case linux.TIOCGSID:
		if !side.Master && !t.isControlling(ctx) {
			return 0, unix.ENOTTY
		}
		sid, _ := t.Control()
		if sid == 0 {
			return 0, unix.ENOTTY
		}
		return putInt(sid)
	case linux.TIOCEXCL, linux.TIOCNXCL:
		t.mu.Lock()
		t.exclusive = cmd == linux.TIOCEXCL
		t.mu.Unlock()
		return 0, nil
	case linux.TIOCGEXCL:
		t.mu.Lock()
		v := t.exclusive
		t.mu.Unlock()
		return putInt(boolInt(v))
	case linux.TIOCOUTQ:
		if t.driver != nil {
			return putInt(int32(t.OutputQueued()))
		}
		return putInt(0)
	case linux.FIONREAD:
		t.mu.Lock()
		n := t.inqLocked()
		t.mu.Unlock()
		return putInt(int32(n))
	case linux.TIOCGETD:
		return putInt(nTTY)
	case linux.TIOCSETD:
		if err := t.checkChange(ctx); err != nil {
			return 0, err
		}
		v, err := getInt()
		if err != nil {
			return 0, err
		}
		if v != nTTY {
			return 0, unix.EINVAL
		}
		return 0, nil
	case linux.TCFLSH:
		if err := t.checkChange(ctx); err != nil {
			return 0, err
		}
		t.mu.Lock()
		switch arg {
		case linux.TCIFLUSH:
			t.flushInputLocked()
		case linux.TCOFLUSH:
			t.flushOutputLocked()
		case linux.TCIOFLUSH:
			t.flushInputLocked()
			t.flushOutputLocked()
		default:
			t.mu.Unlock()
			return 0, unix.EINVAL
		}
		t.mu.Unlock()
		t.notify(evInput | evOutput)
		return 0, nil
	case tcxonc:
		if err := t.checkChange(ctx); err != nil {
			return 0, err
		}
		switch arg {
		case tcooff:
			t.mu.Lock()
			t.stopLocked(true)
			t.mu.Unlock()
		case tcoon:
			t.mu.Lock()
			t.startLocked(true)
			t.mu.Unlock()
			t.notify(evNewOutput)
		case tcioff:
			t.queueChar(linux.VSTOP)
		case tcion:
			t.queueChar(linux.VSTART)
		default:
			return 0, unix.EINVAL
		}
		return 0, nil
	case linux.TCSBRK, linux.TCSBRKP, linux.TIOCSBRK, linux.TIOCCBRK:
		if err := t.checkChange(ctx); err != nil {
			return 0, err
		}
		if cmd != linux.TIOCCBRK {
			if err := t.drain(ctx); err != nil {
				return 0, err
			}
		}
		// A pseudo-terminal has no line to send a break on.
		return 0, nil
	case linux.TIOCSTI:
		if !t.isControlling(ctx) && !capable(ctx, capSysAdmin) {
			return 0, unix.EPERM
		}
		var b [1]byte
		if err := copyIn(b[:]); err != nil {
			return 0, err
		}
		t.Input(b[:])
		return 0, nil
	case linux.TIOCGDEV:
		maj, min := t.Device()
		return putInt(int32(min&0xff | maj<<8 | (min&^0xff)<<12))
	case linux.TIOCVHANGUP:
		if !capable(ctx, capSysAdmin) {
			return 0, unix.EPERM
		}
		t.Hangup()
		return 0, nil
	}
	return 0, unix.ENOTTY
}

func ptr(kt linux.KernelTermios) *linux.KernelTermios { return &kt }

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// setTermiosIoctl is set_termios: the access check, the copy-in in the
// layout the command names, the speeds recomputed, then for the W and F
// variants a drain (and for F an input flush) before the change.
func (t *Terminal) setTermiosIoctl(ctx *fs.Context, cmd uint32, copyIn func([]byte) error) error {
	if err := t.checkChange(ctx); err != nil {
		return err
	}
	nt := t.Termios()
	switch cmd {
	case tcseta, tcsetaw, tcsetaf:
		b := make([]byte, termioSize)
		if err := copyIn(b); err != nil {
			return err
		}
		unmarshalTermio(&nt, b)
	case linux.TCSETS2, linux.TCSETSW2, linux.TCSETSF2:
		b := make([]byte, nt.SizeBytes())
		if err := copyIn(b); err != nil {
			return err
		}
		nt.UnmarshalBytes(b)
	default:
		var tt linux.Termios
		b := make([]byte, tt.SizeBytes())
		if err := copyIn(b); err != nil {
			return err
		}
		unmarshalTermios(&nt, b)
	}
	updateSpeeds(&nt)
	switch cmd {
	case linux.TCSETSF, linux.TCSETSF2, tcsetaf:
		t.mu.Lock()
		t.flushInputLocked()
		t.mu.Unlock()
		fallthrough
	case linux.TCSETSW, linux.TCSETSW2, tcsetaw:
		if err := t.drain(ctx); err != nil {
			return err
		}
	}
	t.SetTermios(nt)
	return nil
}

// setTermiosLocked installs new settings (tty_set_termios and
// n_tty_set_termios) and returns the events to announce.
func (t *Terminal) setTermiosLocked(nt linux.KernelTermios) (events, []signalSend) {
	old := t.termios
	applyLocked(&nt, &old, &t.locked)
	ptyHardware(&nt)
	t.termios = nt
	if t.packet {
		oldFlow := old.InputFlags&linux.IXON != 0 && old.ControlCharacters[linux.VSTOP] == '\023' && old.ControlCharacters[linux.VSTART] == '\021'
		newFlow := t.iflag(linux.IXON) && t.cc(linux.VSTOP) == '\023' && t.cc(linux.VSTART) == '\021'
		if oldFlow != newFlow {
			t.pktStatus &^= linux.TIOCPKT_DOSTOP | linux.TIOCPKT_NOSTOP
			if newFlow {
				t.pktStatus |= linux.TIOCPKT_DOSTOP
			} else {
				t.pktStatus |= linux.TIOCPKT_NOSTOP
			}
		}
	}
	if (old.LocalFlags^nt.LocalFlags)&(linux.ICANON|linux.EXTPROC) != 0 {
		clear(t.rline[:])
		clear(t.reof[:])
		t.lineStart = t.readTail
		if !t.icanon() || t.readCount() == 0 {
			t.canonHead = t.readTail
		} else {
			// What is buffered becomes one line ("pushed").
			t.rline[(t.readHead-1)%bufSize] = true
			t.canonHead = t.readHead
		}
		t.erasing, t.lnext = false, false
	}
	if !t.iflag(linux.IXON) && old.InputFlags&linux.IXON != 0 && !t.flowStopped {
		t.startLocked(false)
	}
	// Input the old settings held back may go through now.
	ev, sigs := t.receiveLocked()
	return ev | evInput | evNewOutput, sigs
}

// flushInputLocked drops unread input (TCIFLUSH).
func (t *Terminal) flushInputLocked() {
	t.pending = nil
	t.resetInputLocked()
	if t.packet {
		t.pktStatus |= linux.TIOCPKT_FLUSHREAD
	}
}

// queueChar writes control character i to the master, as a terminal
// sends XOFF/XON (TCIOFF/TCION), unless it is disabled.
func (t *Terminal) queueChar(i int) {
	t.mu.Lock()
	c := t.cc(i)
	if c != disabledChar {
		t.out = append(t.out, c)
	}
	t.mu.Unlock()
	t.notify(evNewOutput)
}

// sendChar sends control character i from the master to the replica's
// input (TCIOFF/TCION on the master).
func (t *Terminal) sendChar(i int) {
	t.mu.Lock()
	c := t.cc(i)
	t.mu.Unlock()
	if c != disabledChar {
		t.Input([]byte{c})
	}
}
