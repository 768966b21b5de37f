package unix

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	sys "golang.org/x/sys/unix"
)

// SendMsg implements socket.Socket.
func (e *endpoint) SendMsg(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	if e.fam.gc.total.Load() > inflightTrigger && len(o.Control.Rights) > 0 {
		e.fam.collect()
	}
	if e.stype == sys.SOCK_STREAM {
		return e.streamSend(ctx, src, o)
	}
	return e.dgramSend(ctx, src, o)
}

// RecvMsg implements socket.Socket.
func (e *endpoint) RecvMsg(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	if o.Flags&sys.MSG_ERRQUEUE != 0 {
		// AF_UNIX has no error queue.
		return socket.RecvResult{}, sys.EAGAIN
	}
	if e.stype == sys.SOCK_STREAM {
		return e.streamRecv(ctx, dst, o)
	}
	return e.dgramRecv(ctx, dst, o)
}

// sendCred returns the credentials a message from the caller carries.
func sendCred(ctx *socket.Context, o *socket.SendOptions) socket.Ucred {
	if o.Control.Creds != nil {
		return *o.Control.Creds
	}
	return sendCredOf(ctx)
}

// takeRights returns the caller's rights with a reference of the
// message's own.
func takeRights(rs []*vfs.FileDescription) []*vfs.FileDescription {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*vfs.FileDescription, len(rs))
	for i, r := range rs {
		r.IncRef()
		out[i] = r
	}
	return out
}

// waitSendBuffer waits until e may allocate another message
// (sock_alloc_send_pskb): a pending error or a send shutdown end the
// wait with that error or EPIPE.
func (e *endpoint) waitSendBuffer(ctx *socket.Context, b *socket.Blocking) error {
	check := func() (bool, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.err != 0 {
			err := e.err
			e.err = 0
			return true, err
		}
		if e.shutdown&sendShutdown != 0 {
			return true, sys.EPIPE
		}
		return e.wmem.Load() < int64(e.SendBufferSize()), nil
	}
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := b.Wait(ctx, &e.writeQ, func() bool {
			ok, err := check()
			if err != nil {
				// Leave the error for the next check.
				e.mu.Lock()
				if errno, isErrno := err.(sys.Errno); isErrno && errno != sys.EPIPE {
					e.err = errno
				}
				e.mu.Unlock()
				return true
			}
			return ok
		}); err != nil {
			return err
		}
	}
}

// streamSend is unix_stream_sendmsg: the data goes to the peer in
// messages of at most half the send buffer, each allocated when the
// sender's in-flight bytes are below its SO_SNDBUF; descriptors go with
// the first. A peer that is gone or shut down for reading is EPIPE, with
// SIGPIPE when nothing was sent.
func (e *endpoint) streamSend(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	if o.Flags&sys.MSG_OOB != 0 {
		return 0, sys.EOPNOTSUPP
	}
	e.mu.Lock()
	st, p, h, sd := e.state, e.peer, e.host, e.shutdown
	e.mu.Unlock()
	if len(o.To) > 0 {
		if st == stateEstablished {
			return 0, sys.EISCONN
		}
		return 0, sys.EOPNOTSUPP
	}
	if h != nil {
		return h.send(ctx, src, o)
	}
	if p == nil {
		return 0, sys.ENOTCONN
	}
	if sd&sendShutdown != 0 {
		ctx.RaiseSIGPIPE(o.Flags)
		return 0, sys.EPIPE
	}
	cred := sendCred(ctx, o)
	total := src.Len()
	sent := 0
	rightsSent := false
	for sent < total {
		size := min(total-sent, e.SendBufferSize()/2-64, maxStreamChunk)
		if err := e.waitSendBuffer(ctx, o.Blocking); err != nil {
			if sent > 0 {
				return sent, nil
			}
			return 0, err
		}
		m := newMessage(size)
		n, err := src.Read(m.data)
		if err != nil && n == 0 {
			m.free()
			if sent > 0 {
				return sent, nil
			}
			return 0, sys.EFAULT
		}
		m.data = m.data[:n]
		m.cred, m.sender, m.from, m.truesize = cred, e, e, truesize(n)
		if !rightsSent {
			m.rights = takeRights(o.Control.Rights)
			rightsSent = true
		}
		if err := e.deliver(ctx.Waker(), p, m); err != nil {
			m.free()
			if sent == 0 {
				ctx.RaiseSIGPIPE(o.Flags)
				return 0, sys.EPIPE
			}
			return sent, nil
		}
		sent += n
		if n < size {
			break
		}
	}
	return sent, nil
}

// deliver queues m on the connected peer p, charging e: EPIPE when p is
// gone or shut down for reading (m is then dropped). waker is the sending
// task (nil for the sentry): the peer's reader is woken synchronously.
func (e *endpoint) deliver(waker *kernel.Task, p *endpoint, m *message) error {
	f := e.fam
	// Once m is queued and p.mu released, the receiver may consume and
	// free m: what is needed after that is read before.
	rights := len(m.rights) > 0
	if rights {
		f.gc.gcMu.Lock()
	}
	p.mu.Lock()
	if p.dead || p.shutdown&rcvShutdown != 0 {
		p.mu.Unlock()
		if rights {
			f.gc.gcMu.Unlock()
		}
		for _, r := range m.rights {
			r.DecRef()
		}
		return sys.EPIPE
	}
	if rights {
		f.inflightLocked(m.rights)
	}
	e.wmem.Add(m.truesize)
	p.queue.push(m)
	p.mu.Unlock()
	if rights {
		f.gc.gcMu.Unlock()
	}
	p.notifySync(waker, sys.POLLIN)
	return nil
}

// lockForReceive locks e for a receive, with gcMu too when the message
// the receive would take first carries descriptors (first is the index
// of that message in the queue). It returns whether gcMu is held.
func (e *endpoint) lockForReceive(gcHeld bool, first int) bool {
	for {
		e.mu.Lock()
		m := e.queue.at(first)
		if gcHeld || m == nil || len(m.rights) == 0 {
			return gcHeld
		}
		e.mu.Unlock()
		e.fam.gc.gcMu.Lock()
		gcHeld = true
	}
}

func (e *endpoint) unlockForReceive(gcHeld bool) {
	e.mu.Unlock()
	if gcHeld {
		e.fam.gc.gcMu.Unlock()
	}
}

// streamRecv is unix_stream_read_generic: it copies from queued messages
// until the buffer is full or no message is left (waiting for at least
// one byte, or for the whole buffer with MSG_WAITALL). It stops after a
// message that carried descriptors, and, when this socket has
// SO_PASSCRED, before a message from other credentials. Without data it
// reports a pending error, then end of file after a shutdown. MSG_PEEK
// leaves everything queued (and clones descriptors).
func (e *endpoint) streamRecv(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	if o.Flags&sys.MSG_OOB != 0 {
		return socket.RecvResult{}, sys.EINVAL
	}
	e.mu.Lock()
	st, h := e.state, e.host
	e.mu.Unlock()
	if st != stateEstablished {
		return socket.RecvResult{}, sys.EINVAL
	}
	if h != nil {
		return h.recv(ctx, dst, o)
	}
	peek := o.Flags&sys.MSG_PEEK != 0
	size := dst.Len()
	// sock_rcvlowat: SO_RCVLOWAT bytes (the whole buffer with
	// MSG_WAITALL), but at least one, even for an empty buffer.
	target := max(min(e.RcvLowat(), size), 1)
	if o.Flags&sys.MSG_WAITALL != 0 && size > 1 {
		target = size
	}
	e.recvMu.Lock()
	defer e.recvMu.Unlock()
	passcred := e.PassCred()
	var (
		res       socket.RecvResult
		copied    int
		cred      socket.Ucred
		haveCred  bool
		rights    []*vfs.FileDescription
		uncharged []*message
		gcHeld    bool
		from      *endpoint
		idx       int // PEEK: index of the message being read
		err       error
	)
	gcHeld = e.lockForReceive(false, 0)
loop:
	for {
		var m *message
		if peek {
			m = e.queue.at(idx)
		} else {
			m = e.queue.peek()
		}
		if m == nil {
			if copied >= target {
				break
			}
			if e.err != 0 {
				err = e.err
				e.err = 0
				break
			}
			if e.shutdown&rcvShutdown != 0 {
				break
			}
			if !o.Blocking.CanWait() {
				err = sys.EAGAIN
				break
			}
			e.unlockForReceive(gcHeld)
			gcHeld = false
			e.recvMu.Unlock()
			werr := o.Blocking.Wait(ctx, &e.readQ, func() bool {
				e.mu.Lock()
				defer e.mu.Unlock()
				return e.queue.at(idx) != nil || e.err != 0 || e.shutdown&rcvShutdown != 0
			})
			e.recvMu.Lock()
			gcHeld = e.lockForReceive(false, idx)
			if werr != nil {
				err = werr
				break
			}
			continue
		}
		if len(m.rights) > 0 && !gcHeld {
			e.unlockForReceive(false)
			gcHeld = e.lockForReceive(false, idx)
			continue
		}
		if haveCred {
			if m.cred != cred {
				break
			}
		} else if passcred {
			cred, haveCred = m.cred, true
		}
		if from == nil {
			from = m.from
		}
		data := m.unread()
		chunk := min(len(data), size)
		n, werr := dst.Write(data[:chunk])
		if werr != nil && n < chunk {
			if copied == 0 {
				err = sys.EFAULT
			}
			break
		}
		copied += n
		size -= n
		if !peek {
			e.queue.consume(m, n)
			if len(m.rights) > 0 {
				e.fam.notInflightLocked(m.rights)
				rights = append(rights, m.rights...)
				m.rights = nil
			}
			if len(m.unread()) > 0 {
				break
			}
			e.queue.pop()
			uncharged = append(uncharged, m)
			if len(rights) > 0 {
				break
			}
		} else {
			if len(m.rights) > 0 {
				rights = append(rights, takeRights(m.rights)...)
				break
			}
			if n < len(data) {
				break
			}
			idx++
		}
		if size == 0 {
			break loop
		}
	}
	e.unlockForReceive(gcHeld)
	for _, m := range uncharged {
		m.uncharge()
		m.free()
	}
	if copied == 0 && err != nil {
		socket.ReleaseRights(rights)
		return socket.RecvResult{}, err
	}
	res.N, res.MsgLen = copied, copied
	if from != nil {
		if a := from.addr.Load(); a != nil {
			res.From = a.raw
		}
	}
	res.Control.Rights = rights
	if haveCred {
		c := cred
		res.Control.Creds = &c
	}
	return res, nil
}
