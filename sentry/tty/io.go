package tty

// Reads and writes on both sides of a terminal, with Linux's blocking
// rules. Every wait is on a kernel wait queue through fs.Context, so a
// task blocked on a terminal gives up its sandbox CPU.

import (
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// vtimeUnit is the unit of VTIME: tenths of a second.
const vtimeUnit = 100 * time.Millisecond

// ReplicaRead reads input (n_tty_read): a line in canonical mode, bytes
// as VMIN and VTIME say otherwise. A hung-up terminal reads as end of
// file; a background process gets SIGTTIN (or EIO). It may block.
func (t *Terminal) ReplicaRead(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	if t.HungUp() {
		return 0, nil
	}
	if p := caller(ctx); p != nil {
		if err := p.CheckTerminalAccess(t, int(unix.SIGTTIN)); err != nil {
			return 0, err
		}
	}
	if len(dst) == 0 {
		return 0, nil
	}
	nonblock := fl&unix.O_NONBLOCK != 0
	t.mu.Lock()
	canon := t.icanon() && !t.lflag(linux.EXTPROC)
	minimum := 0
	timeout := time.Duration(-1) // forever
	var interByte time.Duration
	if !canon {
		vmin, vtime := int(t.cc(linux.VMIN)), time.Duration(t.cc(linux.VTIME))*vtimeUnit
		if vmin > 0 {
			minimum = vmin
			interByte = vtime
		} else {
			minimum = 1
			timeout = vtime
		}
	}
	done := 0
	var ev events
	var sigs []signalSend
	for done < len(dst) {
		if !t.inputAvailableLocked(0) {
			if t.hungUp || timeout == 0 {
				break
			}
			if nonblock {
				t.mu.Unlock()
				t.notify(ev)
				if done > 0 {
					return done, nil
				}
				return 0, unix.EAGAIN
			}
			t.mu.Unlock()
			t.notify(ev)
			sendSigs := sigs
			sigs, ev = nil, 0
			t.sendSignals(sendSigs)
			cond := func() bool {
				t.mu.Lock()
				defer t.mu.Unlock()
				return t.hungUp || t.inputAvailableLocked(0)
			}
			var err error
			if timeout > 0 {
				start := time.Now()
				err = ctx.BlockTimeout(&t.inWQ, cond, timeout)
				timeout -= time.Since(start)
				if timeout <= 0 {
					timeout = 0
				}
			} else {
				err = ctx.Block(&t.inWQ, cond)
			}
			if err == unix.ETIMEDOUT {
				timeout = 0
				t.mu.Lock()
				continue
			}
			if err != nil {
				if done > 0 {
					return done, nil
				}
				return 0, err
			}
			t.mu.Lock()
			continue
		}
		if canon {
			n, more := t.copyCanon(dst[done:])
			done += n
			if more {
				continue
			}
		} else {
			done += t.copyRaw(dst[done:])
		}
		e, s := t.receiveLocked()
		ev |= e | evInput
		sigs = append(sigs, s...)
		if done >= minimum {
			break
		}
		if interByte > 0 {
			timeout = interByte
		}
	}
	t.mu.Unlock()
	t.sendSignals(sigs)
	t.notify(ev)
	return done, nil
}

// ReplicaWrite writes output (n_tty_write): post-processed per OPOST,
// blocking while the master has not taken 64 KiB or output is stopped.
// With TOSTOP a background process gets SIGTTOU. EIO once hung up.
func (t *Terminal) ReplicaWrite(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	t.mu.Lock()
	hung, tostop := t.hungUp, t.lflag(linux.TOSTOP)
	t.mu.Unlock()
	if hung {
		return 0, unix.EIO
	}
	if tostop {
		if err := t.checkChange(ctx); err != nil {
			return 0, err
		}
	}
	done := 0
	for {
		t.mu.Lock()
		if t.hungUp {
			t.mu.Unlock()
			if done > 0 {
				return done, nil
			}
			return 0, unix.EIO
		}
		n := t.writeLocked(src[done:])
		t.mu.Unlock()
		done += n
		if n > 0 {
			t.notify(evNewOutput)
		}
		if done == len(src) {
			return done, nil
		}
		if fl&unix.O_NONBLOCK != 0 {
			if done > 0 {
				return done, nil
			}
			return 0, unix.EAGAIN
		}
		err := ctx.Block(&t.outWQ, func() bool {
			t.mu.Lock()
			defer t.mu.Unlock()
			return t.hungUp || (!t.stopped && len(t.out) < outMax)
		})
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
}

// MasterRead reads what the replica wrote and the echoes (the master's
// raw read): in packet mode each read starts with a status byte. EIO once
// the replica was closed by everyone and nothing is left. It may block.
func (t *Terminal) MasterRead(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	for {
		t.mu.Lock()
		if t.packet && t.pktStatus != 0 {
			dst[0] = t.pktStatus
			t.pktStatus = 0
			t.mu.Unlock()
			return 1, nil
		}
		if len(t.out) > 0 {
			off := 0
			if t.packet {
				dst[0] = linux.TIOCPKT_DATA
				off = 1
			}
			n := copy(dst[off:], t.out)
			t.out = t.out[n:]
			if len(t.out) == 0 {
				t.out = nil
			}
			t.mu.Unlock()
			t.notify(evOutput)
			return off + n, nil
		}
		closed := t.replicaClosed
		t.mu.Unlock()
		if closed {
			return 0, unix.EIO
		}
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&t.outWQ, func() bool {
			t.mu.Lock()
			defer t.mu.Unlock()
			return len(t.out) > 0 || t.replicaClosed || (t.packet && t.pktStatus != 0)
		}); err != nil {
			return 0, err
		}
	}
}

// MasterWrite feeds the replica's input through the line discipline. It
// blocks while 64 KiB of input wait for the replica's reader.
func (t *Terminal) MasterWrite(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	done := 0
	for {
		done += t.Input(src[done:])
		if done == len(src) {
			return done, nil
		}
		if fl&unix.O_NONBLOCK != 0 {
			if done > 0 {
				return done, nil
			}
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&t.inWQ, func() bool { return t.InputRoom() > 0 }); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
}

// drain waits until a driver has taken all output (tty_wait_until_sent);
// a sandbox master's output is delivered as soon as it is queued. It
// blocks; EINTR if interrupted.
func (t *Terminal) drain(ctx *fs.Context) error {
	if t.driver == nil {
		return nil
	}
	return ctx.Block(&t.outWQ, func() bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.hungUp || len(t.out) == 0
	})
}
