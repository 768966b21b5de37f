// Package netlink is the sandbox's AF_NETLINK family, NETLINK_ROUTE only:
// the requests programs make to learn the network configuration
// (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH, RTM_GETRULE dumps
// and single gets), answered from a Source, the sandbox's network stack
// (or, with --network=host, the host's interfaces). glibc's getifaddrs
// and if_nameindex, iproute2's ip, hostname -I and Go's net.Interfaces
// read the network this way. Changes (RTM_NEW*, RTM_DEL*, RTM_SET*) are
// refused with EPERM in an NLMSG_ERROR, as for a process without
// CAP_NET_ADMIN in its network namespace; other netlink protocols are
// EPROTONOSUPPORT.
//
// A request is answered when it is sent: the replies are queued on the
// socket as datagrams, which recvmsg takes one at a time (MSG_PEEK and
// MSG_TRUNC behave as Linux's: iproute2 peeks to size its buffer).
//
// Locking: sock.mu protects the reply queue and the socket's options; it
// is a leaf, never held while waiting or while asking the Source.
package netlink

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Link is a network interface as RTM_NEWLINK describes it.
type Link struct {
	Index     int32
	Name      string
	Flags     uint32 // IFF_*
	MTU       uint32
	ARPType   uint16
	HW        []byte // link address (nil: none)
	Broadcast []byte
	TxQLen    uint32
	Qdisc     string
	OperState uint8 // IF_OPER_*
	Stats     LinkStats
}

// LinkStats are an interface's counters (struct rtnl_link_stats64's
// first fields).
type LinkStats struct {
	RxPackets, TxPackets, RxBytes, TxBytes, RxErrors, TxErrors, RxDropped, TxDropped, Multicast uint64
}

// Addr is an interface address as RTM_NEWADDR describes it.
type Addr struct {
	Family    uint8 // AF_INET, AF_INET6
	PrefixLen uint8
	Flags     uint8 // IFA_F_*
	Scope     uint8 // RT_SCOPE_*
	Index     int32
	Addr      []byte
	Broadcast []byte
	Label     string
}

// Route is a route as RTM_NEWROUTE describes it.
type Route struct {
	Family   uint8
	DstLen   uint8
	Table    uint8 // RT_TABLE_*
	Protocol uint8 // RTPROT_*
	Scope    uint8 // RT_SCOPE_*
	Type     uint8 // RTN_*
	Dst      []byte
	Gateway  []byte
	PrefSrc  []byte
	OIF      int32
	Priority uint32
}

// Source is the network configuration NETLINK_ROUTE reports.
type Source interface {
	Links() []Link
	Addrs() []Addr
	Routes() []Route
}

// Family is AF_NETLINK over a Source, or, with host set, over the host's
// own NETLINK_ROUTE (--network=host).
type Family struct {
	src  Source
	host *hostRoute
	// ports numbers sockets bound with pid 0 beyond the first of a
	// process (Linux: negative numbers).
	ports atomic.Int32
	mu    sync.Mutex
	bound map[uint32]bool // port IDs in use
}

// NewFamily returns AF_NETLINK answering from src.
func NewFamily(src Source) *Family {
	return &Family{src: src, bound: make(map[uint32]bool)}
}

// Domain implements socket.Family.
func (f *Family) Domain() int { return unix.AF_NETLINK }

// Socket implements socket.Family: SOCK_RAW or SOCK_DGRAM, NETLINK_ROUTE.
func (f *Family) Socket(ctx *socket.Context, stype, protocol int) (socket.Socket, error) {
	if stype != unix.SOCK_RAW && stype != unix.SOCK_DGRAM {
		return nil, unix.ESOCKTNOSUPPORT
	}
	if protocol != unix.NETLINK_ROUTE {
		return nil, unix.EPROTONOSUPPORT
	}
	s := &sock{f: f, stype: stype, rcvbuf: 212992, sndbuf: 212992}
	s.host = f.host
	if ctx != nil {
		s.pid = ctx.Cred.PID
	}
	return s, nil
}

// Pair implements socket.Family.
func (f *Family) Pair(*socket.Context, int, int) (socket.Socket, socket.Socket, error) {
	return nil, nil, unix.EOPNOTSUPP
}

// sockaddrNlSize is sizeof(struct sockaddr_nl).
const sockaddrNlSize = 12

// sock is one NETLINK_ROUTE socket.
type sock struct {
	f     *Family
	stype int
	pid   int32 // the creating process (its first socket's port ID)

	mu       sync.Mutex
	port     uint32 // 0 until bound (explicitly or by the first send)
	groups   uint32
	queue    [][]byte // reply datagrams
	rcvbuf   int32
	sndbuf   int32
	opts     map[int]int32 // NETLINK_* flags
	released bool

	// host answers the socket's queries with --network=host (the
	// family's, shared by its sockets).
	host *hostRoute

	waitq    kernel.WaitQueue
	notifier fs.Notifier
}

// Type implements socket.Socket.
func (s *sock) Type() (int, int) { return s.stype, unix.NETLINK_ROUTE }

// autobind gives the socket a port ID if it has none: the process's PID
// for its first socket, then unique negative numbers, as Linux's
// netlink_autobind.
func (s *sock) autobindLocked() {
	if s.port != 0 {
		return
	}
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.pid > 0 && !f.bound[uint32(s.pid)] {
		s.port = uint32(s.pid)
	} else {
		for {
			p := uint32(-4096 + f.ports.Add(-1))
			if !f.bound[p] {
				s.port = p
				break
			}
		}
	}
	f.bound[s.port] = true
}

// Bind implements socket.Socket: struct sockaddr_nl with a port ID (0:
// the kernel picks) and multicast groups (recorded; the configuration
// does not change, so no notification is ever sent).
func (s *sock) Bind(ctx *socket.Context, addr []byte) error {
	if len(addr) < sockaddrNlSize {
		return unix.EINVAL
	}
	if binary.LittleEndian.Uint16(addr) != unix.AF_NETLINK {
		return unix.EINVAL
	}
	port := binary.LittleEndian.Uint32(addr[4:])
	groups := binary.LittleEndian.Uint32(addr[8:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.port != 0 {
		if port != 0 && port != s.port {
			return unix.EINVAL
		}
	} else if port != 0 {
		s.f.mu.Lock()
		if s.f.bound[port] {
			s.f.mu.Unlock()
			return unix.EADDRINUSE
		}
		s.f.bound[port] = true
		s.f.mu.Unlock()
		s.port = port
	} else {
		s.autobindLocked()
	}
	s.groups = groups
	return nil
}

// Listen implements socket.Socket.
func (s *sock) Listen(*socket.Context, int) error { return unix.EOPNOTSUPP }

// Accept implements socket.Socket.
func (s *sock) Accept(*socket.Context, *socket.Blocking) (socket.Socket, error) {
	return nil, unix.EOPNOTSUPP
}

// Connect implements socket.Socket: only the kernel (port 0) can be the
// peer.
func (s *sock) Connect(ctx *socket.Context, addr []byte, b *socket.Blocking) error {
	if len(addr) < 2 {
		return unix.EINVAL
	}
	if binary.LittleEndian.Uint16(addr) == unix.AF_UNSPEC {
		return nil
	}
	if len(addr) < sockaddrNlSize || binary.LittleEndian.Uint16(addr) != unix.AF_NETLINK {
		return unix.EINVAL
	}
	s.mu.Lock()
	s.autobindLocked()
	s.mu.Unlock()
	return nil
}

// Shutdown implements socket.Socket.
func (s *sock) Shutdown(*socket.Context, int) error { return nil }

func nlAddr(port, groups uint32) []byte {
	b := make([]byte, sockaddrNlSize)
	binary.LittleEndian.PutUint16(b, unix.AF_NETLINK)
	binary.LittleEndian.PutUint32(b[4:], port)
	binary.LittleEndian.PutUint32(b[8:], groups)
	return b
}

// SockName implements socket.Socket.
func (s *sock) SockName(*socket.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return nlAddr(s.port, s.groups), nil
}

// PeerName implements socket.Socket: the kernel.
func (s *sock) PeerName(*socket.Context) ([]byte, error) { return nlAddr(0, 0), nil }

// SendMsg implements socket.Socket: every netlink message in the datagram
// is a request, answered at once.
func (s *sock) SendMsg(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	if len(o.To) > 0 {
		if len(o.To) < sockaddrNlSize || binary.LittleEndian.Uint16(o.To) != unix.AF_NETLINK {
			return 0, unix.EINVAL
		}
		if binary.LittleEndian.Uint32(o.To[4:]) != 0 {
			// Only the kernel answers in the sandbox.
			return 0, unix.ECONNREFUSED
		}
	}
	n := src.Len()
	s.mu.Lock()
	sndbuf := int(s.sndbuf)
	s.mu.Unlock()
	if n > max(sndbuf, 32768) {
		return 0, unix.EMSGSIZE
	}
	buf := make([]byte, n)
	if _, err := src.Read(buf); err != nil && n > 0 {
		return 0, unix.EFAULT
	}
	s.mu.Lock()
	s.autobindLocked()
	port := s.port
	s.mu.Unlock()
	var replies [][]byte
	if s.host != nil {
		replies = forEachRequest(buf, func(r *request) [][]byte { return s.host.answer(r, port) })
	} else {
		replies = forEachRequest(buf, func(r *request) [][]byte { return answer(ctx, s.f.src, r, port) })
	}
	if len(replies) > 0 {
		s.mu.Lock()
		s.queue = append(s.queue, replies...)
		s.mu.Unlock()
		s.waitq.NotifyAll()
		s.notifier.Notify(unix.POLLIN)
	}
	return n, nil
}

// RecvMsg implements socket.Socket: one reply datagram, waiting for one
// (releasing the CPU) when none is queued.
func (s *sock) RecvMsg(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	if o.Flags&unix.MSG_ERRQUEUE != 0 {
		return socket.RecvResult{}, unix.EAGAIN
	}
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			d := s.queue[0]
			if o.Flags&unix.MSG_PEEK == 0 {
				s.queue[0] = nil
				s.queue = s.queue[1:]
			}
			s.mu.Unlock()
			n, err := dst.Write(d)
			if err != nil && err != errShortWrite && n == 0 && len(d) > 0 {
				return socket.RecvResult{}, unix.EFAULT
			}
			r := socket.RecvResult{N: n, MsgLen: len(d), From: nlAddr(0, 0)}
			if n < len(d) {
				r.Flags |= unix.MSG_TRUNC
			}
			return r, nil
		}
		s.mu.Unlock()
		if err := o.Blocking.Wait(ctx, &s.waitq, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.queue) > 0 || s.released
		}); err != nil {
			return socket.RecvResult{}, err
		}
	}
}

// GetSockOpt implements socket.Socket.
func (s *sock) GetSockOpt(ctx *socket.Context, level, name, size int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_RCVBUF:
			return socket.Int32(s.rcvbuf), nil
		case unix.SO_SNDBUF:
			return socket.Int32(s.sndbuf), nil
		case unix.SO_ERROR:
			return socket.Int32(0), nil
		case unix.SO_PASSCRED:
			return socket.Int32(s.opts[-unix.SO_PASSCRED]), nil
		}
	case unix.SOL_NETLINK:
		switch name {
		case unix.NETLINK_PKTINFO, unix.NETLINK_BROADCAST_ERROR, unix.NETLINK_NO_ENOBUFS,
			unix.NETLINK_LISTEN_ALL_NSID, unix.NETLINK_CAP_ACK, unix.NETLINK_EXT_ACK, unix.NETLINK_GET_STRICT_CHK:
			return socket.Int32(s.opts[name]), nil
		}
	}
	return nil, unix.ENOPROTOOPT
}

// SetSockOpt implements socket.Socket.
func (s *sock) SetSockOpt(ctx *socket.Context, level, name int, val []byte) error {
	v, err := socket.IntArg(val)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts == nil {
		s.opts = make(map[int]int32)
	}
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_RCVBUF, unix.SO_RCVBUFFORCE:
			s.rcvbuf = max(min(v, 212992)*2, 2304)
			return nil
		case unix.SO_SNDBUF, unix.SO_SNDBUFFORCE:
			s.sndbuf = max(min(v, 212992)*2, 4608)
			return nil
		case unix.SO_PASSCRED:
			s.opts[-unix.SO_PASSCRED] = boolInt(v)
			return nil
		case unix.SO_TIMESTAMP_OLD, unix.SO_TIMESTAMPNS_OLD, unix.SO_ATTACH_FILTER, unix.SO_DETACH_FILTER:
			return nil
		}
	case unix.SOL_NETLINK:
		switch name {
		case unix.NETLINK_ADD_MEMBERSHIP:
			if v > 0 && v <= 32 {
				s.groups |= 1 << (v - 1)
			}
			return nil
		case unix.NETLINK_DROP_MEMBERSHIP:
			if v > 0 && v <= 32 {
				s.groups &^= 1 << (v - 1)
			}
			return nil
		case unix.NETLINK_PKTINFO, unix.NETLINK_BROADCAST_ERROR, unix.NETLINK_NO_ENOBUFS,
			unix.NETLINK_LISTEN_ALL_NSID, unix.NETLINK_CAP_ACK, unix.NETLINK_EXT_ACK, unix.NETLINK_GET_STRICT_CHK:
			s.opts[name] = boolInt(v)
			return nil
		}
	}
	return unix.ENOPROTOOPT
}

func boolInt(v int32) int32 {
	if v != 0 {
		return 1
	}
	return 0
}

// Ioctl implements socket.Socket.
func (s *sock) Ioctl(ctx *socket.Context, cmd uint32, arg uintptr) (uintptr, error) {
	return 0, unix.ENOTTY
}

// Readiness implements fs.Waitable.
func (s *sock) Readiness(mask uint32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := uint32(unix.POLLOUT | linux.POLLWRNORM)
	if len(s.queue) > 0 {
		ev |= unix.POLLIN | linux.POLLRDNORM
	}
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable.
func (s *sock) Watch(mask uint32, fn fs.WatchFunc) func() { return s.notifier.Watch(mask, fn) }

// Release implements socket.Socket.
func (s *sock) Release() {
	s.mu.Lock()
	s.released = true
	s.queue = nil
	port := s.port
	s.mu.Unlock()
	if port != 0 {
		s.f.mu.Lock()
		delete(s.f.bound, port)
		s.f.mu.Unlock()
	}
	s.waitq.NotifyAll()
}
