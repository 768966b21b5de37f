package tty

// The input half of the line discipline (Linux's n_tty receive path): the
// master's bytes become the replica's input, with input mapping, special
// characters (signals, flow control, erase and kill, end of line and end
// of file), echo, and the read buffer a reader takes lines or bytes from.

import (
	"unicode"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// disabledChar is _POSIX_VDISABLE: a control character set to it is off.
const disabledChar = 0

func (t *Terminal) iflag(f uint32) bool { return t.termios.InputFlags&f != 0 }
func (t *Terminal) oflag(f uint32) bool { return t.termios.OutputFlags&f != 0 }
func (t *Terminal) lflag(f uint32) bool { return t.termios.LocalFlags&f != 0 }
func (t *Terminal) cc(i int) byte       { return t.termios.ControlCharacters[i] }

// icanon reports canonical mode.
func (t *Terminal) icanon() bool { return t.lflag(linux.ICANON) }

// iscntrl is the kernel's iscntrl: C0 controls, DEL and the C1 range.
func iscntrl(c byte) bool { return c < 32 || c == 127 || (c >= 128 && c < 160) }

// isContinuation reports a UTF-8 continuation byte when IUTF8 is set.
func (t *Terminal) isContinuation(c byte) bool {
	return t.iflag(linux.IUTF8) && c&0xc0 == 0x80
}

func (t *Terminal) readCount() int { return int(t.readHead - t.readTail) }

func (t *Terminal) put(c byte) {
	i := t.readHead % bufSize
	t.rbuf[i], t.rline[i], t.reof[i] = c, false, false
	t.readHead++
}

// isRaw reports whether no input processing applies at all (n_tty's
// "raw" flag): bytes go to the read buffer untouched.
func (t *Terminal) isRaw() bool {
	return !(t.iflag(linux.ISTRIP) || t.iflag(linux.IUCLC) || t.iflag(linux.IGNCR) ||
		t.iflag(linux.ICRNL) || t.iflag(linux.INLCR) || t.lflag(linux.ICANON) ||
		t.iflag(linux.IXON) || t.lflag(linux.ISIG) || t.lflag(linux.ECHO) || t.iflag(linux.PARMRK))
}

// isSpecial reports whether c needs more than queueing and echoing in the
// current mode (n_tty's char_map).
func (t *Terminal) isSpecial(c byte) bool {
	if c == disabledChar {
		return false
	}
	switch {
	case c == '\r' && (t.iflag(linux.IGNCR) || t.iflag(linux.ICRNL)):
		return true
	case c == '\n' && t.iflag(linux.INLCR):
		return true
	}
	if t.icanon() {
		if c == t.cc(linux.VERASE) || c == t.cc(linux.VKILL) || c == t.cc(linux.VEOF) || c == '\n' || c == t.cc(linux.VEOL) {
			return true
		}
		if t.lflag(linux.IEXTEN) && (c == t.cc(linux.VWERASE) || c == t.cc(linux.VLNEXT) || c == t.cc(linux.VEOL2) ||
			(t.lflag(linux.ECHO) && c == t.cc(linux.VREPRINT))) {
			return true
		}
	}
	if t.iflag(linux.IXON) && (c == t.cc(linux.VSTART) || c == t.cc(linux.VSTOP)) {
		return true
	}
	if t.lflag(linux.ISIG) && (c == t.cc(linux.VINTR) || c == t.cc(linux.VQUIT) || c == t.cc(linux.VSUSP)) {
		return true
	}
	return false
}

// room is how many bytes the read buffer takes now (receive_room). In
// canonical mode a full buffer without a complete line still takes one
// byte at a time, replacing its last byte, so that erase characters and
// a final newline are never refused.
func (t *Terminal) roomLocked() (n int, overflow bool) {
	room := bufSize - t.readCount()
	if t.iflag(linux.PARMRK) {
		room = (room + 2) / 3
	}
	room--
	if room > 0 {
		return room, false
	}
	if t.icanon() && t.canonHead == t.readTail {
		if room < 0 {
			t.readHead--
		}
		return 1, true
	}
	return 0, false
}

// signalSend is a signal the line discipline raises for the foreground
// process group once mu is released.
type signalSend struct {
	pgrp int32
	sig  int
}

// receiveLocked moves pending input into the read buffer as far as it
// has room (flush_to_ldisc + n_tty_receive_buf). It returns the events to
// announce and the signals to send.
func (t *Terminal) receiveLocked() (ev events, sigs []signalSend) {
	if t.hungUp {
		t.pending = nil
		return 0, nil
	}
	for len(t.pending) > 0 {
		room, _ := t.roomLocked()
		if room == 0 {
			break
		}
		n := min(room, len(t.pending))
		chunk := t.pending[:n]
		t.pending = t.pending[n:]
		if t.isRaw() {
			for _, c := range chunk {
				t.put(c)
			}
		} else {
			for _, c := range chunk {
				if s := t.receiveByte(c); s != nil {
					sigs = append(sigs, *s)
				}
			}
		}
		ev |= evInput
	}
	if len(t.pending) == 0 {
		t.pending = nil
	}
	if len(t.out) > 0 {
		ev |= evNewOutput
	}
	return ev, sigs
}

// receiveByte processes one input byte in a mode that is not raw.
func (t *Terminal) receiveByte(c byte) *signalSend {
	if t.iflag(linux.ISTRIP) {
		c &= 0x7f
	}
	if t.iflag(linux.IUCLC) && t.lflag(linux.IEXTEN) {
		c = byte(unicode.ToLower(rune(c)))
	}
	if t.lflag(linux.EXTPROC) {
		t.put(c)
		return nil
	}
	if t.lnext {
		t.lnext = false
		t.receiveNormal(c)
		return nil
	}
	if t.isSpecial(c) {
		return t.receiveSpecial(c)
	}
	t.receiveNormal(c)
	return nil
}

// receiveNormal queues and echoes an ordinary byte.
func (t *Terminal) receiveNormal(c byte) {
	if t.stopped && !t.flowStopped && t.iflag(linux.IXON) && t.iflag(linux.IXANY) {
		t.startLocked(false)
	}
	if t.lflag(linux.ECHO) {
		t.finishErasing()
		if t.canonHead == t.readHead {
			t.canonCol = t.column
		}
		t.echoChar(c)
	}
	if c == 0xff && t.iflag(linux.PARMRK) {
		t.put(c)
	}
	t.put(c)
}

// receiveSpecial handles a byte isSpecial selected (n_tty's
// receive_char_special).
func (t *Terminal) receiveSpecial(c byte) *signalSend {
	if t.iflag(linux.IXON) {
		if c == t.cc(linux.VSTART) {
			t.startLocked(false)
			return nil
		}
		if c == t.cc(linux.VSTOP) {
			t.stopLocked(false)
			return nil
		}
	}
	if t.lflag(linux.ISIG) {
		sig := 0
		switch c {
		case t.cc(linux.VINTR):
			sig = int(unix.SIGINT)
		case t.cc(linux.VQUIT):
			sig = int(unix.SIGQUIT)
		case t.cc(linux.VSUSP):
			sig = int(unix.SIGTSTP)
		}
		if sig != 0 {
			return t.signalChar(sig, c)
		}
	}
	if t.stopped && !t.flowStopped && t.iflag(linux.IXON) && t.iflag(linux.IXANY) {
		t.startLocked(false)
	}
	if c == '\r' {
		if t.iflag(linux.IGNCR) {
			return nil
		}
		if t.iflag(linux.ICRNL) {
			c = '\n'
		}
	} else if c == '\n' && t.iflag(linux.INLCR) {
		c = '\r'
	}
	if t.icanon() {
		iexten := t.lflag(linux.IEXTEN)
		echo := t.lflag(linux.ECHO)
		switch {
		case c == t.cc(linux.VERASE) || c == t.cc(linux.VKILL) || (iexten && c == t.cc(linux.VWERASE)):
			t.erase(c)
			return nil
		case iexten && c == t.cc(linux.VLNEXT):
			t.lnext = true
			if echo {
				t.finishErasing()
				if t.lflag(linux.ECHOCTL) {
					t.echoRaw('^')
					t.echoRaw('\b')
				}
			}
			return nil
		case iexten && echo && c == t.cc(linux.VREPRINT):
			t.finishErasing()
			t.echoChar(c)
			t.echoRaw('\n')
			for i := t.canonHead; i != t.readHead; i++ {
				t.echoChar(t.rbuf[i%bufSize])
			}
			return nil
		case c == '\n':
			if echo || t.lflag(linux.ECHONL) {
				t.echoRaw('\n')
			}
			t.endLine(c, false)
			return nil
		case c == t.cc(linux.VEOF):
			t.endLine(disabledChar, true)
			return nil
		case c == t.cc(linux.VEOL) || (iexten && c == t.cc(linux.VEOL2)):
			if echo {
				if t.canonHead == t.readHead {
					t.canonCol = t.column
				}
				t.echoChar(c)
			}
			if c == 0xff && t.iflag(linux.PARMRK) {
				t.put(c)
			}
			t.endLine(c, false)
			return nil
		}
	}
	if t.lflag(linux.ECHO) {
		t.finishErasing()
		if c == '\n' {
			t.echoRaw('\n')
		} else {
			if t.canonHead == t.readHead {
				t.canonCol = t.column
			}
			t.echoChar(c)
		}
	}
	if c == 0xff && t.iflag(linux.PARMRK) {
		t.put(c)
	}
	t.put(c)
	return nil
}

// endLine queues c as the end of a line (eof: c is the EOF character,
// which a reader does not see) and makes the line readable.
func (t *Terminal) endLine(c byte, eof bool) {
	i := t.readHead % bufSize
	t.put(c)
	t.rline[i], t.reof[i] = true, eof
	t.canonHead = t.readHead
}

// signalChar handles VINTR, VQUIT and VSUSP (n_tty_receive_signal_char):
// unless NOFLSH, input and pending output are flushed; the character is
// echoed (as ^C with ECHOCTL) and the signal goes to the foreground
// process group.
func (t *Terminal) signalChar(sig int, c byte) *signalSend {
	if !t.lflag(linux.NOFLSH) {
		t.echo = nil
		t.resetInputLocked()
		t.flushOutputLocked()
		if t.packet {
			t.pktStatus |= linux.TIOCPKT_FLUSHREAD
		}
	}
	if t.iflag(linux.IXON) {
		t.startLocked(false)
	}
	if t.lflag(linux.ECHO) {
		t.echoChar(c)
	}
	if t.pgrp <= 0 {
		return nil
	}
	return &signalSend{pgrp: t.pgrp, sig: sig}
}

// resetInputLocked empties the read buffer (n_tty_flush_buffer).
func (t *Terminal) resetInputLocked() {
	t.readHead, t.canonHead, t.readTail, t.lineStart = 0, 0, 0, 0
	t.erasing, t.lnext = false, false
	clear(t.rline[:])
	clear(t.reof[:])
}

// erase handles VERASE, VWERASE and VKILL in canonical mode (n_tty's
// eraser), echoing the erasure as the ECHO* flags ask.
func (t *Terminal) erase(c byte) {
	if t.readHead == t.canonHead {
		return
	}
	const (
		kindErase = iota
		kindWerase
		kindKill
	)
	kind := kindKill
	switch c {
	case t.cc(linux.VERASE):
		kind = kindErase
	case t.cc(linux.VWERASE):
		kind = kindWerase
	}
	echo := t.lflag(linux.ECHO)
	if kind == kindKill {
		if !echo {
			t.readHead = t.canonHead
			return
		}
		if !t.lflag(linux.ECHOK) || !t.lflag(linux.ECHOKE) || !t.lflag(linux.ECHOE) {
			t.readHead = t.canonHead
			t.finishErasing()
			t.echoChar(t.cc(linux.VKILL))
			if t.lflag(linux.ECHOK) {
				t.echoRaw('\n')
			}
			return
		}
	}
	seenAlnum := false
	for t.readHead != t.canonHead {
		head := t.readHead
		var ch byte
		// One character, possibly several UTF-8 bytes.
		for {
			head--
			ch = t.rbuf[head%bufSize]
			if !t.isContinuation(ch) || head == t.canonHead {
				break
			}
		}
		if t.isContinuation(ch) {
			break // never erase part of a character
		}
		if kind == kindWerase {
			if isAlnum(ch) || ch == '_' {
				seenAlnum = true
			} else if seenAlnum {
				break
			}
		}
		cnt := int(t.readHead - head)
		t.readHead = head
		if echo {
			switch {
			case t.lflag(linux.ECHOPRT):
				if !t.erasing {
					t.echoRaw('\\')
					t.erasing = true
				}
				t.echoChar(ch)
				for k := 1; k < cnt; k++ {
					head++
					t.echoRaw(t.rbuf[head%bufSize])
					if t.column > 0 {
						t.column--
					}
				}
			case kind == kindErase && !t.lflag(linux.ECHOE):
				t.echoChar(t.cc(linux.VERASE))
			case ch == '\t':
				t.eraseTab()
			default:
				if iscntrl(ch) && t.lflag(linux.ECHOCTL) {
					t.echoRawString("\b \b")
				}
				if !iscntrl(ch) || t.lflag(linux.ECHOCTL) {
					t.echoRawString("\b \b")
				}
			}
		}
		if kind == kindErase {
			break
		}
	}
	if t.readHead == t.canonHead && echo {
		t.finishErasing()
	}
}

// eraseTab backs the cursor over a tab just erased: how far depends on
// the columns the characters before it on the line took.
func (t *Terminal) eraseTab() {
	cols := 0
	afterTab := false
	for i := t.readHead; i != t.canonHead; {
		i--
		ch := t.rbuf[i%bufSize]
		if ch == '\t' {
			afterTab = true
			break
		} else if iscntrl(ch) {
			if t.lflag(linux.ECHOCTL) {
				cols += 2
			}
		} else if !t.isContinuation(ch) {
			cols++
		}
	}
	if !afterTab {
		cols += t.canonCol
	}
	for n := 8 - cols&7; n > 0; n-- {
		t.emitEcho('\b')
		if t.column > 0 {
			t.column--
		}
	}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// finishErasing closes an ECHOPRT erase with '/'.
func (t *Terminal) finishErasing() {
	if t.erasing {
		t.echoRaw('/')
		t.erasing = false
	}
}

// echoChar echoes an input character: control characters as ^X with
// ECHOCTL (tab excepted), others through output processing.
func (t *Terminal) echoChar(c byte) {
	if t.lflag(linux.ECHOCTL) && iscntrl(c) && c != '\t' {
		t.emitEcho('^')
		t.emitEcho(c ^ 0o100)
		t.column += 2
		return
	}
	t.echoRaw(c)
}

// echoRaw echoes c through output processing without ^X rendering.
func (t *Terminal) echoRaw(c byte) {
	if t.oflag(linux.OPOST) {
		t.outputChar(c, t.emitEcho)
		return
	}
	t.emitEcho(c)
}

func (t *Terminal) echoRawString(s string) {
	for i := 0; i < len(s); i++ {
		t.echoRaw(s[i])
	}
}

// emitEcho puts one byte of echo on its way to the master: held back
// while output is stopped, dropped beyond echoMax held bytes.
func (t *Terminal) emitEcho(c byte) {
	if t.stopped {
		if len(t.echo) < echoMax {
			t.echo = append(t.echo, c)
		}
		return
	}
	t.out = append(t.out, c)
}

// inputAvailableLocked reports whether a reader would get data now
// (input_available_p); amt is the minimum count in non-canonical mode.
func (t *Terminal) inputAvailableLocked(amt int) bool {
	if t.icanon() && !t.lflag(linux.EXTPROC) {
		return t.canonHead != t.readTail
	}
	if amt < 1 {
		amt = 1
	}
	return t.readCount() >= amt
}

// inqLocked is FIONREAD on the replica: in canonical mode the bytes of
// complete lines, EOF characters not counted.
func (t *Terminal) inqLocked() int {
	if !t.icanon() {
		return t.readCount()
	}
	n := 0
	for i := t.readTail; i != t.canonHead; i++ {
		if !(t.rline[i%bufSize] && t.reof[i%bufSize]) {
			n++
		}
	}
	return n
}

// copyRaw takes up to len(dst) bytes from the read buffer
// (copy_from_read_buf).
func (t *Terminal) copyRaw(dst []byte) int {
	n := min(len(dst), t.readCount())
	for i := 0; i < n; i++ {
		dst[i] = t.rbuf[(t.readTail+uint64(i))%bufSize]
	}
	t.readTail += uint64(n)
	return n
}

// copyCanon takes at most one line (canon_copy_from_read_buf). It returns
// the count and whether the read must go on: an EOF character met after
// part of its line was already read yields nothing and ends nothing.
func (t *Terminal) copyCanon(dst []byte) (int, bool) {
	n := min(len(dst), t.readCount())
	if n == 0 {
		return 0, false
	}
	// Find the end of the line within the n bytes.
	found := false
	var eol uint64
	for i := t.readTail; i != t.readTail+uint64(n); i++ {
		if t.rline[i%bufSize] {
			found, eol = true, i
			break
		}
	}
	take := uint64(n)
	if found {
		take = eol - t.readTail + 1
	}
	copyN := take
	eofPush := false
	if found && t.reof[eol%bufSize] {
		copyN--
		eofPush = copyN == 0 && t.readTail != t.lineStart
	}
	for i := uint64(0); i < copyN; i++ {
		dst[i] = t.rbuf[(t.readTail+i)%bufSize]
	}
	if found {
		t.rline[eol%bufSize], t.reof[eol%bufSize] = false, false
	}
	t.readTail += take
	if found {
		t.lineStart = t.readTail
	}
	return int(copyN), eofPush
}
