package inet

import (
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Bind implements socket.Socket.
func (s *sock) Bind(ctx *socket.Context, b []byte) error {
	addr, err := s.bindAddr(b)
	if err != nil {
		return err
	}
	if addr.Port != 0 && uint32(addr.Port) < s.net.unprivPortStart.Load() && !ctx.HasCapability(linux.CAP_NET_BIND_SERVICE) {
		// CAP_NET_BIND_SERVICE below net.ipv4.ip_unprivileged_port_start.
		return unix.EACCES
	}
	switch terr := s.ep.Bind(addr); terr.(type) {
	case nil:
		return nil
	case *tcpip.ErrNoPortAvailable:
		// bind(2) reports an exhausted ephemeral range as EADDRINUSE.
		return unix.EADDRINUSE
	default:
		return translate(terr)
	}
}

// Listen implements socket.Socket.
func (s *sock) Listen(ctx *socket.Context, backlog int) error {
	return translate(s.ep.Listen(backlog))
}

// Accept implements socket.Socket: it waits (releasing the CPU) until a
// connection is in the accept queue.
func (s *sock) Accept(ctx *socket.Context, b *socket.Blocking) (socket.Socket, error) {
	for {
		ep, wq, terr := s.ep.Accept(nil)
		if terr == nil {
			return s.accepted(ep, wq), nil
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			return nil, translate(terr)
		}
		if err := b.Wait(ctx, &s.waitq, func() bool {
			return s.readiness(waiter.ReadableEvents) != 0
		}); err != nil {
			return nil, err
		}
	}
}

// accepted wraps a connection taken from the accept queue. Its endpoint
// keeps the listener's packet owner; the new socket steers through its
// own owner's flow.
func (s *sock) accepted(ep tcpip.Endpoint, wq *waiter.Queue) *sock {
	var uid, gid uint32
	if s.owner != nil {
		uid, gid = s.owner.KUID(), s.owner.KGID()
	}
	ns := s.net.newSock(s.domain, s.stype, s.protocol, s.trans, ep, wq, net.NewOwner(uid, gid), s.uid)
	ns.setFlow()
	// Readiness that arrived before the entry was registered.
	ns.notify(waiter.AllEvents)
	return ns
}

// setFlow records the connected socket's flow in its owner, so its
// packets are steered to the CPU its task runs on.
func (s *sock) setFlow() {
	la, err1 := s.ep.GetLocalAddress()
	ra, err2 := s.ep.GetRemoteAddress()
	if err1 != nil || err2 != nil {
		return
	}
	s.owner.SetFlow(s.trans, la.Addr, la.Port, ra.Addr, ra.Port)
}

// Connect implements socket.Socket. A TCP connect waits for the handshake
// (releasing the CPU) unless the socket is non-blocking (EINPROGRESS; the
// result is then SO_ERROR's) or SO_SNDTIMEO passes (EINPROGRESS, as
// Linux).
func (s *sock) Connect(ctx *socket.Context, b []byte, blk *socket.Blocking) error {
	addr, unspec, err := s.peerAddr(b, true)
	if err != nil {
		return err
	}
	if unspec {
		if s.isStream() {
			// Linux's tcp_disconnect: the connection is aborted.
			entered := s.enter(ctx)
			terr := s.ep.Disconnect()
			s.exit(ctx, entered)
			if _, ok := terr.(*tcpip.ErrNotSupported); ok {
				return nil
			}
			return translate(terr)
		}
		terr := s.ep.Disconnect()
		if _, ok := terr.(*tcpip.ErrNotSupported); ok {
			return unix.EAFNOSUPPORT
		}
		return translate(terr)
	}
	entered := s.enter(ctx)
	terr := s.ep.Connect(addr)
	s.exit(ctx, entered)
	switch terr.(type) {
	case nil:
		s.setFlow()
		return nil
	case *tcpip.ErrConnectStarted:
	case *tcpip.ErrAlreadyConnecting:
		return unix.EALREADY
	case *tcpip.ErrNoPortAvailable:
		if s.isStream() {
			// TCP reports an exhausted ephemeral range as
			// EADDRNOTAVAIL, UDP as EAGAIN.
			return unix.EADDRNOTAVAIL
		}
		return unix.EAGAIN
	default:
		return translate(terr)
	}
	if !blk.CanWait() {
		return unix.EINPROGRESS
	}
	err = blk.Wait(ctx, &s.waitq, func() bool {
		return s.readiness(waiter.WritableEvents|waiter.EventErr|waiter.EventHUp) != 0 ||
			tcp.EndpointState(s.ep.State()) != tcp.StateSynSent && tcp.EndpointState(s.ep.State()) != tcp.StateConnecting
	})
	switch err {
	case nil:
	case unix.EAGAIN:
		// SO_SNDTIMEO passed: the handshake goes on.
		return unix.EINPROGRESS
	default:
		return err
	}
	// Connect again to learn the result (nil once, then EISCONN).
	entered = s.enter(ctx)
	terr = s.ep.Connect(addr)
	s.exit(ctx, entered)
	if terr == nil {
		s.setFlow()
		return nil
	}
	if _, ok := terr.(*tcpip.ErrAlreadyConnecting); ok {
		return unix.EALREADY
	}
	return translate(terr)
}

// Shutdown implements socket.Socket.
func (s *sock) Shutdown(ctx *socket.Context, how int) error {
	var f tcpip.ShutdownFlags
	switch how {
	case unix.SHUT_RD:
		f = tcpip.ShutdownRead
	case unix.SHUT_WR:
		f = tcpip.ShutdownWrite
	case unix.SHUT_RDWR:
		f = tcpip.ShutdownRead | tcpip.ShutdownWrite
	default:
		return unix.EINVAL
	}
	entered := s.enter(ctx)
	terr := s.ep.Shutdown(f)
	s.exit(ctx, entered)
	return translate(terr)
}

// SockName implements socket.Socket.
func (s *sock) SockName(*socket.Context) ([]byte, error) {
	a, terr := s.ep.GetLocalAddress()
	if terr != nil {
		return nil, translate(terr)
	}
	return encodeAddr(s.domain, a), nil
}

// PeerName implements socket.Socket.
func (s *sock) PeerName(*socket.Context) ([]byte, error) {
	a, terr := s.ep.GetRemoteAddress()
	if terr != nil {
		return nil, translate(terr)
	}
	return encodeAddr(s.domain, a), nil
}
