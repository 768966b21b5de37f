package unix

import (
	"encoding/binary"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	sys "golang.org/x/sys/unix"
)

// Bind implements socket.Socket as unix_bind: a bare family autobinds;
// otherwise the address must be valid, a path gets a socket inode
// (EADDRINUSE if the name exists), an abstract name a table entry
// (EADDRINUSE if taken for this type); a bound socket is EINVAL (after
// the path's inode was made and removed again, as Linux).
func (e *endpoint) Bind(ctx *socket.Context, b []byte) error {
	if len(b) == pathOffset && binary.LittleEndian.Uint16(b) == sys.AF_UNIX {
		return e.autobind()
	}
	pa, err := parseAddr(b)
	if err != nil {
		return err
	}
	e.bindMu.Lock()
	defer e.bindMu.Unlock()
	f := e.fam
	if pa.abstract {
		if e.addr.Load() != nil {
			return sys.EINVAL
		}
		f.mu.Lock()
		k := abstractKey{e.netns, pa.name, e.stype}
		if _, used := f.abstract[k]; used {
			f.mu.Unlock()
			return sys.EADDRINUSE
		}
		f.abstract[k] = e
		f.mu.Unlock()
		e.addr.Store(&address{raw: sockaddr([]byte(pa.name)), abstract: true})
		return nil
	}
	key, err := bindPath(ctx, pa.path)
	if err != nil {
		return err
	}
	if e.addr.Load() != nil {
		unlinkPath(ctx, pa.path)
		return sys.EINVAL
	}
	f.mu.Lock()
	f.bound[key] = e
	f.mu.Unlock()
	e.addr.Store(&address{raw: sockaddr(append([]byte(pa.path), 0)), path: pa.path, key: key})
	return nil
}

// autobind gives an unbound socket an abstract name of five hex digits
// (unix_autobind); a bound socket keeps its name and succeeds.
func (e *endpoint) autobind() error {
	e.bindMu.Lock()
	defer e.bindMu.Unlock()
	if e.addr.Load() != nil {
		return nil
	}
	f := e.fam
	f.mu.Lock()
	name, err := f.autobindNameLocked(e.netns, e.stype)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	f.abstract[abstractKey{e.netns, name, e.stype}] = e
	f.mu.Unlock()
	e.addr.Store(&address{raw: sockaddr([]byte(name)), abstract: true})
	return nil
}

// Listen implements socket.Socket as unix_listen: streams and
// seqpackets only (EOPNOTSUPP), bound ones only, not connected ones
// (EINVAL). Listening again changes the backlog.
func (e *endpoint) Listen(ctx *socket.Context, backlog int) error {
	if e.stype == sys.SOCK_DGRAM {
		return sys.EOPNOTSUPP
	}
	if e.addr.Load() == nil {
		return sys.EINVAL
	}
	e.mu.Lock()
	if e.state != stateClose && e.state != stateListen {
		e.mu.Unlock()
		return sys.EINVAL
	}
	grew := backlog > e.backlog
	e.backlog = backlog
	e.state = stateListen
	e.listenCred = peerCredOf(ctx)
	e.mu.Unlock()
	if grew {
		e.peerWait.NotifyAll()
	}
	e.notify(sys.POLLOUT)
	return nil
}

// Accept implements socket.Socket as unix_accept: listeners only
// (EINVAL; EOPNOTSUPP for datagram sockets); it waits for a connection
// (EINVAL once the listener is shut down for reading).
func (e *endpoint) Accept(ctx *socket.Context, b *socket.Blocking) (socket.Socket, error) {
	if e.stype == sys.SOCK_DGRAM {
		return nil, sys.EOPNOTSUPP
	}
	for {
		e.mu.Lock()
		if e.state != stateListen {
			e.mu.Unlock()
			return nil, sys.EINVAL
		}
		if len(e.pending) > 0 {
			c := e.pending[0]
			e.pending[0] = nil
			e.pending = e.pending[1:]
			e.mu.Unlock()
			e.peerWait.NotifyAll()
			return c, nil
		}
		if e.shutdown&rcvShutdown != 0 {
			e.mu.Unlock()
			return nil, sys.EINVAL
		}
		e.mu.Unlock()
		if err := b.Wait(ctx, &e.readQ, func() bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return len(e.pending) > 0 || e.state != stateListen || e.shutdown&rcvShutdown != 0
		}); err != nil {
			return nil, err
		}
	}
}

// Connect implements socket.Socket: unix_stream_connect for streams and
// seqpackets, unix_dgram_connect for datagrams.
func (e *endpoint) Connect(ctx *socket.Context, addr []byte, b *socket.Blocking) error {
	if e.stype == sys.SOCK_DGRAM {
		return e.dgramConnect(ctx, addr)
	}
	pa, err := parseAddr(addr)
	if err != nil {
		return err
	}
	if e.PassCred() {
		if err := e.autobind(); err != nil {
			return err
		}
	}
	for {
		other, err := e.fam.lookup(ctx, e.netns, pa, e.stype)
		if hs, ok := err.(*errHostSocket); ok {
			return e.connectHost(ctx, hs.target, addr)
		}
		if err != nil {
			return err
		}
		lockPair(e, other)
		if other.dead {
			unlockPair(e, other)
			continue
		}
		if other.state != stateListen || other.shutdown&rcvShutdown != 0 {
			unlockPair(e, other)
			return sys.ECONNREFUSED
		}
		if len(other.pending) > other.backlog {
			unlockPair(e, other)
			if !b.CanWait() {
				return sys.EAGAIN
			}
			if err := b.Wait(ctx, &other.peerWait, func() bool {
				other.mu.Lock()
				defer other.mu.Unlock()
				return other.dead || other.state != stateListen || len(other.pending) <= other.backlog
			}); err != nil {
				return err
			}
			continue
		}
		if e.state != stateClose {
			st := e.state
			unlockPair(e, other)
			if st == stateEstablished {
				return sys.EISCONN
			}
			return sys.EINVAL
		}
		// The server's end of the connection, queued on the listener
		// until accept takes it (Linux's embryo).
		srv := e.fam.newEndpoint(e.stype, e.netns)
		srv.peer = e
		srv.state = stateEstablished
		srv.peerCred, srv.hasPeerCred = peerCredOf(ctx), true
		srv.addr.Store(other.addr.Load())
		e.peer = srv
		e.state = stateEstablished
		e.peerCred, e.hasPeerCred = other.listenCred, true
		other.pending = append(other.pending, srv)
		unlockPair(e, other)
		other.notify(sys.POLLIN)
		e.notify(sys.POLLOUT)
		return nil
	}
}

// dgramConnect is unix_dgram_connect: AF_UNSPEC disconnects; otherwise
// the named socket becomes the default destination and the only source
// this one receives from (EPERM if it is connected to another).
func (e *endpoint) dgramConnect(ctx *socket.Context, addr []byte) error {
	if len(addr) < pathOffset {
		return sys.EINVAL
	}
	var other *endpoint
	if binary.LittleEndian.Uint16(addr) != sys.AF_UNSPEC {
		pa, err := parseAddr(addr)
		if err != nil {
			return err
		}
		if e.PassCred() {
			if err := e.autobind(); err != nil {
				return err
			}
		}
		for {
			o, err := e.fam.lookup(ctx, e.netns, pa, e.stype)
			if hs, ok := err.(*errHostSocket); ok {
				return e.connectHost(ctx, hs.target, addr)
			}
			if err != nil {
				return err
			}
			lockPair(e, o)
			if o.dead {
				unlockPair(e, o)
				continue
			}
			if o.peer != nil && o.peer != e {
				unlockPair(e, o)
				return sys.EPERM
			}
			other = o
			break
		}
	} else {
		e.mu.Lock()
	}
	old := e.peer
	e.peer = other
	if other != nil {
		if other != e {
			if other.senders == nil {
				other.senders = make(map[*endpoint]struct{})
			}
			other.senders[e] = struct{}{}
		}
		unlockPair(e, other)
	} else {
		e.mu.Unlock()
	}
	if old != nil && old != other && old != e {
		old.mu.Lock()
		delete(old.senders, e)
		old.mu.Unlock()
	}
	e.notify(sys.POLLOUT)
	return nil
}
