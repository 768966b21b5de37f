// Package inet is the sandbox's AF_INET and AF_INET6 sockets: TCP, UDP and
// ICMP datagram ("ping") sockets over the endpoints of the sandbox's
// network stack (sentry/net, on gvisor.dev/gvisor/pkg/tcpip). It
// implements the socket layer's Family and Socket (sentry/socket); the
// socket file, the syscalls and their argument decoding are that layer's.
//
// # Blocking and readiness
//
// Each socket registers one waiter.Entry on its tcpip endpoint's
// waiter.Queue when it is created. The entry's callback, run by whoever
// changes the endpoint's state (a NET_RX softirq delivering a datagram, a
// TCP segment processor, a timer), wakes the tasks blocked on the socket's
// kernel.WaitQueue and the poll/epoll watchers of its fs.Notifier. A
// blocking call tries the endpoint without waiting, and when tcpip says
// "would block" it sleeps on that wait queue through the socket layer's
// Blocking (releasing its sandbox CPU) until the readiness it needs holds,
// then tries again. No goroutine waits on behalf of a call.
//
// # Calls into the stack
//
// Every call into an endpoint that may transmit (write, read, connect,
// shutdown, close, some options) is bracketed by net.Stack.Enter and Exit:
// the packets it queues are transmitted and (on loopback) delivered at
// Exit, in the caller's context, on its CPU. Calls into tcpip never block,
// and copies to and from the caller's memory inside them do not give up
// the CPU, as Enter requires.
//
// # Locking
//
// sock.mu protects the few fields tcpip does not keep (the socket's
// timestamps option, its /proc inode); it is a leaf. The socket table's
// mu is a leaf. No lock of this package is held while calling into tcpip
// or while waiting.
package inet

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Family is AF_INET or AF_INET6 over one stack.
type Family struct {
	domain int
	net    *Net
}

// Net is what the two families share: the stack, the table of live
// sockets (/proc/net/tcp and friends) and the sysctls they read.
type Net struct {
	Stack *net.Stack

	mu    sync.Mutex
	socks map[*sock]struct{}

	// PingGroupRange is net.ipv4.ping_group_range: the groups allowed
	// to create ICMP datagram sockets (Debian's default: every group).
	pingMu            sync.Mutex
	pingLow, pingHigh uint32

	// rmem and wmem are net.ipv4.tcp_rmem and tcp_wmem as written
	// (min, default, max); the stack has them ordered.
	memMu      sync.Mutex
	rmem, wmem [3]int64

	// unprivPortStart is net.ipv4.ip_unprivileged_port_start: binding a
	// port below it takes CAP_NET_BIND_SERVICE (Linux's default 1024;
	// Docker sets 0 in its containers).
	unprivPortStart atomic.Uint32
	// ipForward is net.ipv4.ip_forward as last written (Linux keeps the
	// integer; any value but 0 turns forwarding on in the stack).
	ipForward atomic.Int64

	// Hold and Drop, when set, count the live sockets as users of the
	// network namespace the stack is (sentry/process/netns.go): the
	// last to go closes it. Set once, before the first socket.
	Hold, Drop func()
	// Admin, when set, says whether the caller may configure the
	// stack's devices (CAP_NET_ADMIN over a namespace of the sandbox's
	// making); nil: nobody may (the sandbox's first stack).
	Admin func(ctx *socket.Context) bool
}

// Register adds the AF_INET and AF_INET6 families over st to reg and
// returns what they share.
func Register(reg *socket.Registry, st *net.Stack) *Net {
	n := &Net{Stack: st, socks: make(map[*sock]struct{}), pingLow: 0, pingHigh: 2147483647}
	n.unprivPortStart.Store(1024)
	var ro tcpip.TCPReceiveBufferSizeRangeOption
	st.TCPIP().TransportProtocolOption(tcp.ProtocolNumber, &ro)
	n.rmem = [3]int64{int64(ro.Min), int64(ro.Default), int64(ro.Max)}
	var wo tcpip.TCPSendBufferSizeRangeOption
	st.TCPIP().TransportProtocolOption(tcp.ProtocolNumber, &wo)
	n.wmem = [3]int64{int64(wo.Min), int64(wo.Default), int64(wo.Max)}
	reg.Register(&Family{domain: unix.AF_INET, net: n})
	reg.Register(&Family{domain: unix.AF_INET6, net: n})
	return n
}

// Domain implements socket.Family.
func (f *Family) Domain() int { return f.domain }

// netProto returns the network protocol of the family's endpoints.
func (f *Family) netProto() tcpip.NetworkProtocolNumber {
	if f.domain == unix.AF_INET6 {
		return ipv6.ProtocolNumber
	}
	return ipv4.ProtocolNumber
}

// Socket implements socket.Family: Linux's inet_create and inet6_create
// for the protocols the sandbox has (TCP, UDP and ICMP echo sockets).
func (f *Family) Socket(ctx *socket.Context, stype, protocol int) (socket.Socket, error) {
	var trans tcpip.TransportProtocolNumber
	switch stype {
	case unix.SOCK_STREAM:
		if protocol != 0 && protocol != unix.IPPROTO_TCP {
			return nil, unix.EPROTONOSUPPORT
		}
		trans, protocol = tcp.ProtocolNumber, unix.IPPROTO_TCP
	case unix.SOCK_DGRAM:
		switch {
		case protocol == 0 || protocol == unix.IPPROTO_UDP:
			trans, protocol = udp.ProtocolNumber, unix.IPPROTO_UDP
		case protocol == unix.IPPROTO_ICMP && f.domain == unix.AF_INET:
			trans = icmp.ProtocolNumber4
		case protocol == unix.IPPROTO_ICMPV6 && f.domain == unix.AF_INET6:
			trans = icmp.ProtocolNumber6
		default:
			return nil, unix.EPROTONOSUPPORT
		}
		if trans != udp.ProtocolNumber && !f.net.pingAllowed(ctx) {
			return nil, unix.EACCES
		}
	case unix.SOCK_RAW:
		// inet_create's order: the protocol's range, then the
		// capability, then IPPROTO_IP (no wildcard raw protocol).
		if protocol < 0 || protocol >= ipprotoMax {
			return nil, unix.EINVAL
		}
		if !ctx.HasCapability(linux.CAP_NET_RAW) {
			return nil, unix.EPERM
		}
		if protocol == 0 {
			return nil, unix.EPROTONOSUPPORT
		}
		trans = tcpip.TransportProtocolNumber(protocol)
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	var wq waiter.Queue
	var ep tcpip.Endpoint
	var err tcpip.Error
	if stype == unix.SOCK_RAW {
		// A raw socket of IPPROTO_RAW only sends (its packets carry
		// their own IP header); the others also receive a copy of
		// every packet of their protocol.
		ep, err = f.net.Stack.TCPIP().NewRawEndpoint(trans, f.netProto(), &wq, protocol != unix.IPPROTO_RAW)
		if err == nil && protocol == unix.IPPROTO_RAW {
			ep.SocketOptions().SetHeaderIncluded(true)
		}
	} else {
		ep, err = f.net.Stack.TCPIP().NewEndpoint(trans, f.netProto(), &wq)
	}
	if err != nil {
		return nil, translate(err)
	}
	var uid, gid uint32
	if ctx != nil {
		uid, gid = ctx.Cred.EUID, ctx.Cred.EGID
	}
	owner := net.NewOwner(uid, gid)
	ep.SetOwner(owner)
	return f.net.newSock(f.domain, stype, protocol, trans, ep, &wq, owner, uid), nil
}

// ipprotoMax is Linux's IPPROTO_MAX (263 since IPPROTO_MPTCP, 262):
// protocol numbers are below it.
const ipprotoMax = 263

// Pair implements socket.Family: INET sockets come in no pairs.
func (f *Family) Pair(*socket.Context, int, int) (socket.Socket, socket.Socket, error) {
	return nil, nil, unix.EOPNOTSUPP
}

// pingAllowed applies net.ipv4.ping_group_range to the caller's groups.
func (n *Net) pingAllowed(ctx *socket.Context) bool {
	n.pingMu.Lock()
	lo, hi := n.pingLow, n.pingHigh
	n.pingMu.Unlock()
	in := func(g uint32) bool { return g >= lo && g <= hi }
	if ctx == nil || ctx.Context == nil || ctx.Creds == nil {
		return in(0)
	}
	if in(ctx.Creds.EffectiveGID) {
		return true
	}
	for _, g := range ctx.Creds.Groups {
		if in(g) {
			return true
		}
	}
	return false
}

// newSock wraps an endpoint in a socket and registers it in the table.
func (n *Net) newSock(domain, stype, protocol int, trans tcpip.TransportProtocolNumber, ep tcpip.Endpoint, wq *waiter.Queue, owner *net.Owner, uid uint32) *sock {
	s := &sock{
		net:      n,
		domain:   domain,
		stype:    stype,
		protocol: protocol,
		trans:    trans,
		ep:       ep,
		wq:       wq,
		owner:    owner,
		uid:      uid,
		cookie:   nextCookie.Add(1),
	}
	s.generic.InitGenericOptions()
	s.entry = waiter.NewFunctionEntry(waiter.AllEvents|waiter.EventRdHUp, s.notify)
	wq.EventRegister(&s.entry)
	n.mu.Lock()
	n.socks[s] = struct{}{}
	n.mu.Unlock()
	if n.Hold != nil {
		n.Hold()
	}
	return s
}

// nextCookie numbers sockets for SO_COOKIE.
var nextCookie atomic.Uint64

// udpProto is UDP's transport protocol number.
const udpProto = udp.ProtocolNumber

// sockets returns the live sockets (for /proc/net).
func (n *Net) sockets() []*sock {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*sock, 0, len(n.socks))
	for s := range n.socks {
		out = append(out, s)
	}
	return out
}

// sock is one AF_INET or AF_INET6 socket.
type sock struct {
	net             *Net
	domain          int
	stype, protocol int
	trans           tcpip.TransportProtocolNumber
	ep              tcpip.Endpoint
	wq              *waiter.Queue
	owner           *net.Owner
	entry           waiter.Entry
	waitq           kernel.WaitQueue
	notifier        fs.Notifier
	mu              sync.Mutex
	timestamp       int // 0, SO_TIMESTAMP or SO_TIMESTAMPNS
	local           localOpts
	// generic keeps the SOL_SOCKET options tcpip does not (priority,
	// SO_OOBINLINE, SO_DONTROUTE) and applies Linux's buffer-size rule.
	generic  socket.GenericOptions
	cookie   uint64 // SO_COOKIE
	ino      uint64
	uid      uint32
	released bool
}

// notify is the endpoint's waiter callback: it wakes blocked callers and
// poll/epoll watchers. It runs on whatever goroutine changed the
// endpoint's state and never blocks.
func (s *sock) notify(mask waiter.EventMask) {
	s.waitq.NotifyAll()
	s.notifier.Notify(uint32(mask.ToLinux()))
}

// enter and exit bracket a call into the endpoint (see the package
// comment). Calls without a task (the sentry's own) are not bracketed.
func (s *sock) enter(ctx *socket.Context) bool {
	if ctx == nil || ctx.Context == nil || ctx.Task == nil || ctx.Task.CPU() == nil {
		return false
	}
	s.net.Stack.Enter(ctx.Task, s.owner)
	return true
}

func (s *sock) exit(ctx *socket.Context, entered bool) {
	if entered {
		s.net.Stack.Exit(ctx.Task)
	}
}

// Type implements socket.Socket.
func (s *sock) Type() (int, int) { return s.stype, s.protocol }

// isStream reports whether this is a TCP socket.
func (s *sock) isStream() bool { return s.stype == unix.SOCK_STREAM }

// isUDP reports whether the socket is a UDP one (not a raw one of
// IPPROTO_UDP).
func (s *sock) isUDP() bool { return s.stype == unix.SOCK_DGRAM && s.trans == udpProto }

// readiness returns the endpoint's events of mask (tcpip may report
// EventRdHUp whatever the mask: it is masked here).
func (s *sock) readiness(mask waiter.EventMask) waiter.EventMask {
	return s.ep.Readiness(mask) & mask
}

// Readiness implements fs.Waitable.
func (s *sock) Readiness(mask uint32) uint32 {
	m := waiter.EventMaskFromLinux(mask) | waiter.EventErr | waiter.EventHUp
	ev := uint32(s.readiness(m).ToLinux()) & (mask | unix.POLLERR | unix.POLLHUP)
	if s.isStream() {
		switch tcp.EndpointState(s.ep.State()) {
		case tcp.StateTimeWait, tcp.StateClose:
			// tcpip reports everything of a closed connection;
			// Linux's tcp_poll reports POLLERR only with an error
			// pending (StateError).
			ev &^= unix.POLLERR
		}
	}
	return ev
}

// Watch implements fs.Waitable.
func (s *sock) Watch(mask uint32, fn fs.WatchFunc) func() { return s.notifier.Watch(mask, fn) }

// Release implements socket.Socket: the endpoint is closed (a TCP
// connection is shut down gracefully, or reset under SO_LINGER 0 or with
// unread data, as tcpip and Linux do).
func (s *sock) Release() {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return
	}
	s.released = true
	s.mu.Unlock()
	s.wq.EventUnregister(&s.entry)
	s.ep.Close()
	s.net.mu.Lock()
	delete(s.net.socks, s)
	s.net.mu.Unlock()
	s.waitq.NotifyAll()
	if s.net.Drop != nil {
		s.net.Drop()
	}
}

// SetIno implements socket.Inoder: the /proc/net tables list the socket
// file's inode.
func (s *sock) SetIno(ino uint64) {
	s.mu.Lock()
	s.ino = ino
	s.mu.Unlock()
}
