package unix

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	sys "golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Connection states (Linux's sk_state for AF_UNIX).
const (
	stateClose       = iota // unconnected (TCP_CLOSE)
	stateListen             // listening (TCP_LISTEN)
	stateEstablished        // connected (TCP_ESTABLISHED)
)

// Shutdown bits (sk_shutdown).
const (
	rcvShutdown  = 1
	sendShutdown = 2
	shutdownMask = rcvShutdown | sendShutdown
)

// endpoint is one AF_UNIX socket.
type endpoint struct {
	fam   *Family
	stype int
	id    uint64
	// netns is the network namespace the socket was made in (nil: the
	// sandbox's first): its abstract names are that namespace's.
	netns *NetNamespace
	socket.GenericOptions

	// wmem is the truesize of this socket's messages still queued at a
	// receiver (sk_wmem_alloc); receivers decrement it.
	wmem atomic.Int64
	// addr is the bound name (nil: unbound). Receivers read a sender's
	// without its lock; bindMu serializes binds, which call the VFS.
	addr   atomic.Pointer[address]
	bindMu sync.Mutex

	// recvMu serializes receivers (Linux's u->iolock), so one receive
	// takes its bytes without another's in between; it is released while
	// a receiver waits.
	recvMu sync.Mutex

	mu       sync.Mutex
	state    int
	ino      uint64
	peer     *endpoint
	shutdown int
	// err is a pending error (sk_err): ECONNRESET when the peer closed
	// with unread data. Reported once.
	err  sys.Errno
	dead bool
	// queue is the receive queue.
	queue msgQueue
	// pending are a listener's connections not yet accepted; backlog is
	// listen's argument.
	pending []*endpoint
	backlog int
	// listenCred is the listener's identity at listen(), what its
	// connectors see as their peer.
	listenCred  socket.Ucred
	peerCred    socket.Ucred
	hasPeerCred bool
	// senders are the datagram sockets connected to this one (told when
	// its queue has room again).
	senders map[*endpoint]struct{}
	// host is the relay of a socket connected to a host socket
	// (--host-uds=open), nil otherwise.
	host *hostConn

	// readQ: receivers and accepters; writeQ: senders waiting for their
	// wmem to drop; peerWait: others waiting for room in this socket's
	// queue (datagram senders, connectors of a full backlog).
	readQ, writeQ, peerWait kernel.WaitQueue
	notifier                fs.Notifier
}

// lockPair locks a and b (which may be the same) in id order.
func lockPair(a, b *endpoint) {
	switch {
	case a == b:
		a.mu.Lock()
	case a.id < b.id:
		a.mu.Lock()
		b.mu.Lock()
	default:
		b.mu.Lock()
		a.mu.Lock()
	}
}

func unlockPair(a, b *endpoint) {
	a.mu.Unlock()
	if a != b {
		b.mu.Unlock()
	}
}

// SetIno implements socket.Inoder.
func (e *endpoint) SetIno(ino uint64) {
	e.mu.Lock()
	e.ino = ino
	e.mu.Unlock()
}

// Type implements socket.Socket.
func (e *endpoint) Type() (int, int) { return e.stype, 0 }

// notify wakes e's waiters and pollers for events.
func (e *endpoint) notify(events uint32) { e.notifySync(nil, events) }

// notifySync is notify from a sending task that usually waits for the
// answer next: a reader is woken synchronously (Linux's sock_def_readable
// uses the _sync wake-up), to take the sender's CPU when it blocks, and so
// is a reader waiting in poll, select or epoll_wait (fs.WatchFunc).
func (e *endpoint) notifySync(waker *kernel.Task, events uint32) {
	if events&(sys.POLLIN|sys.POLLHUP|sys.POLLERR|sys.POLLRDHUP) != 0 {
		e.readQ.NotifyAllSync(waker)
	}
	if events&(sys.POLLOUT|sys.POLLHUP|sys.POLLERR) != 0 {
		e.writeQ.NotifyAll()
	}
	e.notifier.NotifySync(waker, events)
}

// Watch implements fs.Waitable.
func (e *endpoint) Watch(mask uint32, fn fs.WatchFunc) func() { return e.notifier.Watch(mask, fn) }

// writableLocked is unix_writable: not listening and at most a quarter
// of the send buffer in flight.
func (e *endpoint) writableLocked() bool {
	return e.state != stateListen && e.wmem.Load()<<2 <= int64(e.SendBufferSize())
}

// Readiness implements fs.Waitable as Linux's unix_poll (streams) and
// unix_dgram_poll (datagrams and seqpackets).
func (e *endpoint) Readiness(mask uint32) uint32 {
	e.mu.Lock()
	var ev uint32
	if e.err != 0 {
		ev |= sys.POLLERR
	}
	if e.shutdown == shutdownMask {
		ev |= sys.POLLHUP
	}
	if e.shutdown&rcvShutdown != 0 {
		ev |= sys.POLLRDHUP | sys.POLLIN | linux.POLLRDNORM
	}
	h := e.host
	if e.queue.len() > 0 || len(e.pending) > 0 {
		ev |= sys.POLLIN | linux.POLLRDNORM
	}
	if e.stype != sys.SOCK_DGRAM && e.state == stateClose {
		ev |= sys.POLLHUP
	}
	writable := e.writableLocked()
	peer := e.peer
	e.mu.Unlock()
	if h != nil {
		ev |= h.readiness()
		writable = writable && h.writable()
	}
	if mask&(sys.POLLOUT|linux.POLLWRNORM|linux.POLLWRBAND) != 0 {
		if writable && e.stype != sys.SOCK_STREAM && peer != nil && peer != e && peer.dgramFull(e) {
			writable = false
		}
		if writable {
			ev |= sys.POLLOUT | linux.POLLWRNORM | linux.POLLWRBAND
		}
	}
	return ev & (mask | sys.POLLHUP | sys.POLLERR)
}

// dgramFull reports whether a datagram from sender s must wait for room:
// s is not this socket's own peer and the queue holds more than
// max_dgram_qlen datagrams (unix_recvq_full).
//
// Preconditions: e.mu is not held.
func (e *endpoint) dgramFull(s *endpoint) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dgramFullLocked(s)
}

func (e *endpoint) dgramFullLocked(s *endpoint) bool {
	return e.peer != s && e.queue.len() > MaxDgramQlen
}

// SockName implements socket.Socket.
func (e *endpoint) SockName(ctx *socket.Context) ([]byte, error) {
	if a := e.addr.Load(); a != nil {
		return a.raw, nil
	}
	return unboundName, nil
}

// PeerName implements socket.Socket: ENOTCONN without a peer.
func (e *endpoint) PeerName(ctx *socket.Context) ([]byte, error) {
	e.mu.Lock()
	p := e.peer
	h := e.host
	e.mu.Unlock()
	if h != nil {
		return h.peerName, nil
	}
	if p == nil {
		return nil, sys.ENOTCONN
	}
	if a := p.addr.Load(); a != nil {
		return a.raw, nil
	}
	return unboundName, nil
}

// Shutdown implements socket.Socket as unix_shutdown: it never fails on
// an unconnected socket; a connected stream or seqpacket peer loses the
// matching direction.
func (e *endpoint) Shutdown(ctx *socket.Context, how int) error {
	mode := how + 1
	e.mu.Lock()
	e.shutdown |= mode
	p := e.peer
	h := e.host
	e.mu.Unlock()
	e.notify(sys.POLLIN | sys.POLLOUT | sys.POLLHUP | sys.POLLRDHUP)
	if h != nil {
		h.shutdown(how)
		return nil
	}
	if p != nil && e.stype != sys.SOCK_DGRAM {
		peerMode := 0
		if mode&rcvShutdown != 0 {
			peerMode |= sendShutdown
		}
		if mode&sendShutdown != 0 {
			peerMode |= rcvShutdown
		}
		p.mu.Lock()
		p.shutdown |= peerMode
		p.mu.Unlock()
		p.notify(sys.POLLIN | sys.POLLOUT | sys.POLLHUP | sys.POLLRDHUP)
	}
	return nil
}

// GetSockOpt implements socket.Socket.
func (e *endpoint) GetSockOpt(ctx *socket.Context, level, name, size int) ([]byte, error) {
	if level != sys.SOL_SOCKET {
		// AF_UNIX has no protocol-level options: its proto_ops have no
		// getsockopt.
		return nil, sys.EOPNOTSUPP
	}
	switch name {
	case sys.SO_PEERCRED:
		e.mu.Lock()
		c, ok := e.peerCred, e.hasPeerCred
		e.mu.Unlock()
		if !ok {
			c = socket.Ucred{PID: 0, UID: ^uint32(0), GID: ^uint32(0)}
		} else if ctx != nil && ctx.Context != nil && ctx.Creds != nil {
			// Kernel IDs, as the caller's user namespace names them.
			c = c.ShownTo(ctx.Creds.UserNS)
		}
		c.PID = ctx.LocalPID(c.PID)
		return socket.EncodeUcred(c), nil
	case sys.SO_ACCEPTCONN:
		e.mu.Lock()
		defer e.mu.Unlock()
		return socket.Bool32(e.state == stateListen), nil
	case sys.SO_ERROR:
		e.mu.Lock()
		err := e.err
		e.err = 0
		e.mu.Unlock()
		return socket.Int32(int32(err)), nil
	case sys.SO_PEEK_OFF:
		return socket.Int32(-1), nil
	case sys.SO_PASSSEC:
		return socket.Int32(0), nil
	case sys.SO_PEERGROUPS:
		// Without a peer's supplementary groups list kept, Linux's
		// answer for a socket with none.
		e.mu.Lock()
		ok := e.hasPeerCred
		e.mu.Unlock()
		if !ok {
			return nil, sys.ENODATA
		}
		return []byte{}, nil
	}
	return e.GenericOptions.Get(name, size)
}

// SetSockOpt implements socket.Socket.
func (e *endpoint) SetSockOpt(ctx *socket.Context, level, name int, val []byte) error {
	if level != sys.SOL_SOCKET {
		return sys.EOPNOTSUPP
	}
	if len(val) < 4 {
		return sys.EINVAL
	}
	switch name {
	case sys.SO_PASSSEC:
		return nil
	case sys.SO_PEERCRED, sys.SO_ACCEPTCONN, sys.SO_ERROR, sys.SO_PEERSEC, sys.SO_PEERGROUPS:
		return sys.ENOPROTOOPT
	}
	err := e.GenericOptions.Set(name, val, ctx.HasCapability(linux.CAP_NET_ADMIN))
	if err == nil && (name == sys.SO_SNDBUF || name == sys.SO_SNDBUFFORCE) {
		e.notify(sys.POLLOUT)
	}
	return err
}

// Ioctl implements socket.Socket: SIOCINQ (FIONREAD) and SIOCOUTQ.
func (e *endpoint) Ioctl(ctx *socket.Context, cmd uint32, arg uintptr) (uintptr, error) {
	var v int
	switch cmd {
	case sys.SIOCINQ:
		e.mu.Lock()
		if e.state == stateListen {
			e.mu.Unlock()
			return 0, sys.EINVAL
		}
		if e.stype == sys.SOCK_STREAM {
			v = e.queue.bytes
		} else if m := e.queue.peek(); m != nil {
			v = len(m.data)
		}
		h := e.host
		e.mu.Unlock()
		if h != nil {
			v = h.inq()
		}
	case sys.SIOCOUTQ:
		// unix_outq_len: the truesize in flight, not the bytes.
		v = int(e.wmem.Load())
	default:
		return 0, sys.ENOTTY
	}
	if ctx == nil || ctx.Context == nil || ctx.Mem == nil {
		return 0, sys.EFAULT
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(arg), b[:]); err != nil {
		return 0, sys.EFAULT
	}
	return 0, nil
}

// Release implements socket.Socket as unix_release_sock: the name goes,
// a connected stream or seqpacket peer sees both directions shut down
// (and ECONNRESET if this socket had unread data), pending connections
// of a listener are reset, and everything still queued is dropped.
func (e *endpoint) Release() {
	e.mu.Lock()
	e.dead = true
	e.shutdown = shutdownMask
	p := e.peer
	e.peer = nil
	addr := e.addr.Load()
	msgs := e.queue.takeAll()
	pending := e.pending
	e.pending = nil
	wasListening := e.state == stateListen
	e.state = stateClose
	h := e.host
	e.host = nil
	e.mu.Unlock()
	e.fam.forget(e, addr)
	e.notify(sys.POLLIN | sys.POLLOUT | sys.POLLHUP)
	e.peerWait.NotifyAll()
	if h != nil {
		h.close()
	}

	if p != nil && p != e {
		if e.stype != sys.SOCK_DGRAM {
			p.mu.Lock()
			p.shutdown = shutdownMask
			if len(msgs) > 0 {
				p.err = sys.ECONNRESET
			}
			p.mu.Unlock()
			p.notify(sys.POLLIN | sys.POLLOUT | sys.POLLHUP | sys.POLLRDHUP)
		} else {
			p.mu.Lock()
			delete(p.senders, e)
			p.mu.Unlock()
		}
	}
	for _, c := range pending {
		c.releaseEmbryo()
	}
	_ = wasListening
	dropMessages(e.fam, msgs)
	e.fam.gcAfterRelease(e)
}

// releaseEmbryo releases a connection its listener never accepted: the
// connecting side is reset (ECONNRESET, then end of file).
func (e *endpoint) releaseEmbryo() {
	e.mu.Lock()
	p := e.peer
	e.mu.Unlock()
	e.Release()
	if p != nil {
		p.mu.Lock()
		p.err = sys.ECONNRESET
		p.shutdown = shutdownMask
		p.mu.Unlock()
		p.notify(sys.POLLIN | sys.POLLOUT | sys.POLLHUP | sys.POLLERR | sys.POLLRDHUP)
	}
}
