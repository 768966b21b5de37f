package unix

import (
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	sys "golang.org/x/sys/unix"
)

// dgramSend is unix_dgram_sendmsg (and unix_seqpacket_sendmsg): one
// message, at most SO_SNDBUF-32 bytes (EMSGSIZE), to the named socket or
// the peer (ENOTCONN without either). A receiver connected to another
// socket refuses it (EPERM); a connected peer that is gone makes this
// socket unconnected with ECONNREFUSED (EPIPE for seqpackets); a receiver
// shut down for reading is EPIPE; an unconnected receiver holding more
// than max_dgram_qlen datagrams makes the sender wait. No SIGPIPE.
func (e *endpoint) dgramSend(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	if o.Flags&sys.MSG_OOB != 0 {
		return 0, sys.EOPNOTSUPP
	}
	seqpacket := e.stype == sys.SOCK_SEQPACKET
	to := o.To
	if seqpacket {
		e.mu.Lock()
		if e.err != 0 {
			err := e.err
			e.err = 0
			e.mu.Unlock()
			return 0, err
		}
		st, h := e.state, e.host
		e.mu.Unlock()
		if st != stateEstablished {
			return 0, sys.ENOTCONN
		}
		if h != nil {
			return h.send(ctx, src, o)
		}
		to = nil
	}
	var pa parsedAddr
	var other *endpoint
	if len(to) > 0 {
		var err error
		if pa, err = parseAddr(to); err != nil {
			return 0, err
		}
	} else {
		e.mu.Lock()
		other = e.peer
		h := e.host
		e.mu.Unlock()
		if h != nil {
			return h.send(ctx, src, o)
		}
		if other == nil {
			return 0, sys.ENOTCONN
		}
	}
	if e.PassCred() && !seqpacket {
		if err := e.autobind(); err != nil {
			return 0, err
		}
	}
	n := src.Len()
	if n > e.SendBufferSize()-32 {
		return 0, sys.EMSGSIZE
	}
	if err := e.waitSendBuffer(ctx, o.Blocking); err != nil {
		return 0, err
	}
	m := newMessage(n)
	if k, err := src.Read(m.data); err != nil && k < n {
		m.free()
		return 0, sys.EFAULT
	}
	m.cred, m.sender, m.from, m.truesize = sendCred(ctx, o), e, e, truesize(n)
	m.rights = takeRights(o.Control.Rights)
	// Once m is queued and other.mu released, the receiver may consume
	// and free m.
	rights := len(m.rights) > 0
	dropM := func() {
		for _, r := range m.rights {
			r.DecRef()
		}
		m.free()
	}
	f := e.fam
	for {
		if other == nil {
			o2, err := f.lookup(ctx, e.netns, pa, e.stype)
			if _, ok := err.(*errHostSocket); ok {
				err = sys.ECONNREFUSED
			}
			if err != nil {
				dropM()
				return 0, err
			}
			other = o2
		}
		if rights {
			f.gc.gcMu.Lock()
		}
		other.mu.Lock()
		unlock := func() {
			other.mu.Unlock()
			if rights {
				f.gc.gcMu.Unlock()
			}
		}
		if other.peer != nil && other.peer != e {
			unlock()
			dropM()
			return 0, sys.EPERM
		}
		if other.dead {
			unlock()
			if seqpacket {
				dropM()
				return 0, sys.EPIPE
			}
			e.mu.Lock()
			wasPeer := e.peer == other
			if wasPeer {
				e.peer = nil
			}
			e.mu.Unlock()
			if wasPeer {
				dropM()
				return 0, sys.ECONNREFUSED
			}
			if len(to) == 0 {
				dropM()
				return 0, sys.ENOTCONN
			}
			other = nil
			continue
		}
		if other.shutdown&rcvShutdown != 0 {
			unlock()
			dropM()
			return 0, sys.EPIPE
		}
		if other != e && other.dgramFullLocked(e) {
			unlock()
			if !o.Blocking.CanWait() {
				dropM()
				return 0, sys.EAGAIN
			}
			o2 := other
			if err := o.Blocking.Wait(ctx, &o2.peerWait, func() bool {
				o2.mu.Lock()
				defer o2.mu.Unlock()
				return o2.dead || !o2.dgramFullLocked(e)
			}); err != nil {
				dropM()
				return 0, err
			}
			if len(to) > 0 {
				other = nil
			}
			continue
		}
		if rights {
			f.inflightLocked(m.rights)
		}
		e.wmem.Add(m.truesize)
		other.queue.push(m)
		unlock()
		other.notifySync(ctx.Waker(), sys.POLLIN)
		return n, nil
	}
}

// dgramRecv is unix_dgram_recvmsg (and unix_seqpacket_recvmsg): one
// message, cut to the buffer (MSG_TRUNC in the flags; MSG_TRUNC asked
// returns its whole length). A pending error comes first. With no message
// and a read shutdown it returns end of file (a non-blocking datagram
// receive says EAGAIN instead).
func (e *endpoint) dgramRecv(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	if o.Flags&sys.MSG_OOB != 0 {
		return socket.RecvResult{}, sys.EOPNOTSUPP
	}
	seqpacket := e.stype == sys.SOCK_SEQPACKET
	e.mu.Lock()
	st, h := e.state, e.host
	e.mu.Unlock()
	if seqpacket && st != stateEstablished {
		return socket.RecvResult{}, sys.ENOTCONN
	}
	if h != nil {
		return h.recv(ctx, dst, o)
	}
	peek := o.Flags&sys.MSG_PEEK != 0
	e.recvMu.Lock()
	defer e.recvMu.Unlock()
	gcHeld := e.lockForReceive(false, 0)
	for {
		if e.err != 0 {
			err := e.err
			e.err = 0
			e.unlockForReceive(gcHeld)
			return socket.RecvResult{}, err
		}
		m := e.queue.peek()
		if m == nil {
			shut := e.shutdown&rcvShutdown != 0
			e.unlockForReceive(gcHeld)
			if shut {
				if seqpacket || o.Blocking.CanWait() {
					return socket.RecvResult{}, nil
				}
				return socket.RecvResult{}, sys.EAGAIN
			}
			e.recvMu.Unlock()
			err := o.Blocking.Wait(ctx, &e.readQ, func() bool {
				e.mu.Lock()
				defer e.mu.Unlock()
				return e.queue.len() > 0 || e.err != 0 || e.shutdown&rcvShutdown != 0
			})
			e.recvMu.Lock()
			if err != nil {
				return socket.RecvResult{}, err
			}
			gcHeld = e.lockForReceive(false, 0)
			continue
		}
		if len(m.rights) > 0 && !gcHeld {
			e.unlockForReceive(false)
			gcHeld = e.lockForReceive(false, 0)
			continue
		}
		var res socket.RecvResult
		wasFull := e.queue.len() > MaxDgramQlen
		if a := m.from.addr.Load(); a != nil {
			res.From = a.raw
		}
		n := min(len(m.data), dst.Len())
		if n < len(m.data) {
			res.Flags |= sys.MSG_TRUNC
		}
		k, werr := dst.Write(m.data[:n])
		var rights []*vfs.FileDescription
		if !peek {
			e.queue.pop()
			if len(m.rights) > 0 {
				e.fam.notInflightLocked(m.rights)
				rights = m.rights
				m.rights = nil
			}
		} else {
			rights = takeRights(m.rights)
		}
		passcred := e.PassCred()
		msgLen, cred := len(m.data), m.cred
		e.unlockForReceive(gcHeld)
		if !peek {
			m.uncharge()
			m.free()
			if wasFull {
				e.peerWait.NotifyAll()
				e.notifySenders()
			}
		}
		if werr != nil && k < n {
			socket.ReleaseRights(rights)
			return socket.RecvResult{}, sys.EFAULT
		}
		res.N, res.MsgLen = k, msgLen
		res.Control.Rights = rights
		if passcred {
			res.Control.Creds = &cred
		}
		return res, nil
	}
}

// notifySenders tells the datagram sockets connected to e that its queue
// has room (Linux's peer_wake).
func (e *endpoint) notifySenders() {
	e.mu.Lock()
	ss := make([]*endpoint, 0, len(e.senders))
	for s := range e.senders {
		ss = append(ss, s)
	}
	e.mu.Unlock()
	for _, s := range ss {
		s.notify(sys.POLLOUT)
	}
}
