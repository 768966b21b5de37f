package tty

// The output half of the line discipline: post-processing of what the
// replica writes (OPOST), flow control (VSTOP/VSTART, TCOOFF), and the
// master's view of the output queue (packet mode).

import (
	"unicode"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// outputChar post-processes one byte for the terminal (do_output_char):
// newline and carriage-return mapping, tab expansion, upper-casing, and
// the output column. emit receives the resulting bytes.
func (t *Terminal) outputChar(c byte, emit func(byte)) {
	switch c {
	case '\n':
		if t.oflag(linux.ONLRET) {
			t.column = 0
		}
		if t.oflag(linux.ONLCR) {
			t.column, t.canonCol = 0, 0
			emit('\r')
			emit('\n')
			return
		}
		t.canonCol = t.column
	case '\r':
		if t.oflag(linux.ONOCR) && t.column == 0 {
			return
		}
		if t.oflag(linux.OCRNL) {
			c = '\n'
			if t.oflag(linux.ONLRET) {
				t.column, t.canonCol = 0, 0
			}
			break
		}
		t.column, t.canonCol = 0, 0
	case '\t':
		spaces := 8 - t.column&7
		t.column += spaces
		if t.termios.OutputFlags&linux.TABDLY == linux.XTABS {
			for ; spaces > 0; spaces-- {
				emit(' ')
			}
			return
		}
	case '\b':
		if t.column > 0 {
			t.column--
		}
	default:
		if !iscntrl(c) {
			if t.oflag(linux.OLCUC) {
				c = byte(unicode.ToUpper(rune(c)))
			}
			if !t.isContinuation(c) {
				t.column++
			}
		}
	}
	emit(c)
}

func (t *Terminal) appendOut(c byte) { t.out = append(t.out, c) }

// writeLocked queues as much of src as the output queue takes, processed
// as OPOST says, and returns how many bytes of src it consumed.
func (t *Terminal) writeLocked(src []byte) int {
	room := outMax - len(t.out)
	if room <= 0 || t.stopped {
		return 0
	}
	if !t.oflag(linux.OPOST) {
		n := min(room, len(src))
		t.out = append(t.out, src[:n]...)
		return n
	}
	n := 0
	for n < len(src) && len(t.out) < outMax {
		// Printable ASCII only moves the column (process_output_block's
		// fast path).
		if !t.oflag(linux.OLCUC) {
			k := n
			for k < len(src) && k-n < outMax-len(t.out) && src[k] >= ' ' && src[k] < 0x7f {
				k++
			}
			if k > n {
				t.out = append(t.out, src[n:k]...)
				t.column += k - n
				n = k
				continue
			}
		}
		// A byte may expand to 8 (a tab); the queue may run over its
		// bound by that much, as Linux's write room is a soft bound.
		t.outputChar(src[n], t.appendOut)
		n++
	}
	return n
}

// stopLocked stops output: by VSTOP with IXON, or by TCOOFF when
// tcooff (which only TCOON undoes).
func (t *Terminal) stopLocked(tcooff bool) {
	if tcooff {
		if t.flowStopped {
			return
		}
		t.flowStopped = true
	}
	if t.stopped {
		return
	}
	t.stopped = true
	if t.packet {
		t.pktStatus &^= linux.TIOCPKT_START
		t.pktStatus |= linux.TIOCPKT_STOP
	}
}

// startLocked restarts output and releases held-back echoes: VSTART,
// IXANY and ^C restart output stopped by VSTOP, not by TCOOFF; TCOON
// (tcoon) restarts both.
func (t *Terminal) startLocked(tcoon bool) {
	if tcoon {
		if !t.flowStopped {
			return
		}
		t.flowStopped = false
	}
	if !t.stopped || t.flowStopped {
		return
	}
	t.stopped = false
	if t.packet {
		t.pktStatus &^= linux.TIOCPKT_STOP
		t.pktStatus |= linux.TIOCPKT_START
	}
	if len(t.echo) > 0 {
		t.out = append(t.out, t.echo...)
		t.echo = nil
	}
}

// flushOutputLocked drops output the master side has not taken yet from
// the driver (a host link's unsent bytes); bytes in out are the master's
// read buffer already and stay, as a pty's do.
func (t *Terminal) flushOutputLocked() {
	if t.driver != nil {
		t.out = nil
		t.outGen++
	}
	if t.packet {
		t.pktStatus |= linux.TIOCPKT_FLUSHWRITE
	}
}

// PeekOutput returns a copy of up to max bytes of queued output, for a
// driver about to write them, and the queue's generation (which a flush
// changes). The driver then calls ConsumeOutput with what it wrote.
func (t *Terminal) PeekOutput(max int) ([]byte, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(max, len(t.out))
	return append([]byte(nil), t.out[:n]...), t.outGen
}

// ConsumeOutput removes n bytes a driver wrote from the front of the
// queue, unless the queue was flushed since PeekOutput returned gen.
func (t *Terminal) ConsumeOutput(n int, gen uint64) {
	t.mu.Lock()
	if t.outGen == gen {
		t.out = t.out[min(n, len(t.out)):]
		if len(t.out) == 0 {
			t.out = nil
		}
	}
	t.mu.Unlock()
	if n > 0 {
		t.notify(evOutput)
	}
}

// OutputQueued returns the bytes of output waiting for the master.
func (t *Terminal) OutputQueued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.out)
}

// Input queues src as if the master had written it, as far as there is
// room (64 KiB of unprocessed input), and runs the line discipline on it.
// It returns how many bytes it took; it never blocks. Signals the input
// raises (VINTR...) are sent before it returns.
func (t *Terminal) Input(src []byte) int {
	t.mu.Lock()
	if t.hungUp {
		t.mu.Unlock()
		return len(src)
	}
	n := min(len(src), pendingMax-len(t.pending))
	t.pending = append(t.pending, src[:n]...)
	ev, sigs := t.receiveLocked()
	t.mu.Unlock()
	t.sendSignals(sigs)
	t.notify(ev)
	return n
}

// InputRoom returns how many bytes Input would take now.
func (t *Terminal) InputRoom() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return pendingMax - len(t.pending)
}

// sendSignals sends what the line discipline raised. Preconditions: mu
// is not held.
func (t *Terminal) sendSignals(sigs []signalSend) {
	if t.sessions == nil {
		return
	}
	for _, s := range sigs {
		t.sessions.SignalProcessGroup(s.pgrp, s.sig)
	}
}
