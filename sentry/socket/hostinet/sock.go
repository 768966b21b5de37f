package hostinet

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Family is AF_INET or AF_INET6 as host sockets.
type Family struct {
	domain int
	net    *Net
}

// Domain implements socket.Family.
func (f *Family) Domain() int { return f.domain }

// Socket implements socket.Family: TCP, UDP and ICMP echo sockets, created
// on the host (which then applies its own rules: ping_group_range...).
func (f *Family) Socket(ctx *socket.Context, stype, protocol int) (socket.Socket, error) {
	switch stype {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM:
	case unix.SOCK_RAW:
		// Without CAP_NET_RAW, Linux's EPERM; with it, the sentry
		// itself holds no CAP_NET_RAW on the host: EPERM too.
		return nil, unix.EPERM
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	fd, err := unix.Socket(f.domain, stype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		return nil, err
	}
	return f.net.newSock(fd, f.domain, stype)
}

// Pair implements socket.Family.
func (f *Family) Pair(*socket.Context, int, int) (socket.Socket, socket.Socket, error) {
	return nil, nil, unix.EOPNOTSUPP
}

func (n *Net) newSock(fd, domain, stype int) (*sock, error) {
	proto, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	s := &sock{net: n, fd: fd, domain: domain, stype: stype, protocol: proto}
	if err := n.add(s); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}

// sock is one host socket.
type sock struct {
	net             *Net
	fd              int
	domain          int
	stype, protocol int

	// events are the host events the interrupt saw and NET_RX has not
	// delivered yet; queued says the socket is on a ready list.
	events atomic.Uint32
	queued atomic.Bool
	// initial is what the host reported ready when the socket was
	// added to the epoll instance, with initialPending set, until the
	// interrupt has seen the socket's first event (Net.add).
	initial atomic.Uint32

	waitq    kernel.WaitQueue
	notifier fs.Notifier

	mu       sync.Mutex
	ino      uint64
	released bool

	// recvMu makes a stream's peek, copy-out and consume one step
	// (RecvMsg), so two readers never take the same bytes.
	recvMu sync.Mutex
}

// Type implements socket.Socket.
func (s *sock) Type() (int, int) { return s.stype, s.protocol }

// SetIno implements socket.Inoder.
func (s *sock) SetIno(ino uint64) {
	s.mu.Lock()
	s.ino = ino
	s.mu.Unlock()
}

// Readiness implements fs.Waitable: the host's answer to poll.
func (s *sock) Readiness(mask uint32) uint32 {
	pfd := []unix.PollFd{{Fd: int32(s.fd), Events: int16(mask | unix.POLLRDHUP)}}
	if _, err := unix.Poll(pfd, 0); err != nil {
		return 0
	}
	return uint32(uint16(pfd[0].Revents)) & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable.
func (s *sock) Watch(mask uint32, fn fs.WatchFunc) func() { return s.notifier.Watch(mask, fn) }

// wait waits on the socket until the host reports one of mask.
func (s *sock) wait(ctx *socket.Context, b *socket.Blocking, mask uint32) error {
	return b.Wait(ctx, &s.waitq, func() bool { return s.Readiness(mask) != 0 })
}

// Release implements socket.Socket.
func (s *sock) Release() {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return
	}
	s.released = true
	s.mu.Unlock()
	s.net.remove(s)
	unix.Close(s.fd)
	s.waitq.NotifyAll()
}

// rawAddr calls bind or connect (fd, sockaddr, len) on the host. Each
// has its own call with a constant number, which the sentry's seccomp
// allow-list's test reads off the machine code.
func (s *sock) rawAddr(connect bool, addr []byte) error {
	var p, l uintptr
	if len(addr) > 0 {
		p, l = uintptr(unsafe.Pointer(&addr[0])), uintptr(len(addr))
	}
	var e unix.Errno
	if connect {
		_, _, e = unix.Syscall(unix.SYS_CONNECT, uintptr(s.fd), p, l)
	} else {
		_, _, e = unix.Syscall(unix.SYS_BIND, uintptr(s.fd), p, l)
	}
	runtime.KeepAlive(addr)
	return errnoErr(e)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Bind implements socket.Socket.
func (s *sock) Bind(ctx *socket.Context, addr []byte) error {
	if port := sockaddrPort(addr); port != 0 && port < 1024 && !ctx.HasCapability(linux.CAP_NET_BIND_SERVICE) {
		// The host checks the sentry's capability; Linux checks the
		// caller's (ip_unprivileged_port_start is 1024).
		return unix.EACCES
	}
	return s.rawAddr(false, addr)
}

// sockaddrPort returns the port of an AF_INET or AF_INET6 address (0 for
// anything else: the host reports what is wrong with it).
func sockaddrPort(addr []byte) uint16 {
	if len(addr) < 4 {
		return 0
	}
	if fam := binary.NativeEndian.Uint16(addr); fam != unix.AF_INET && fam != unix.AF_INET6 {
		return 0
	}
	return binary.BigEndian.Uint16(addr[2:])
}

// Listen implements socket.Socket.
func (s *sock) Listen(ctx *socket.Context, backlog int) error {
	return unix.Listen(s.fd, backlog)
}

// Accept implements socket.Socket.
func (s *sock) Accept(ctx *socket.Context, b *socket.Blocking) (socket.Socket, error) {
	for {
		nfd, _, err := unix.Accept4(s.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == nil {
			return s.net.newSock(nfd, s.domain, s.stype)
		}
		if err != unix.EAGAIN {
			return nil, err
		}
		if err := s.wait(ctx, b, unix.POLLIN); err != nil {
			return nil, err
		}
	}
}

// Connect implements socket.Socket: a host connect that is in progress is
// waited for (unless non-blocking: EINPROGRESS).
func (s *sock) Connect(ctx *socket.Context, addr []byte, b *socket.Blocking) error {
	err := s.rawAddr(true, addr)
	if err != unix.EINPROGRESS || s.stype != unix.SOCK_STREAM {
		return err
	}
	if !b.CanWait() {
		return unix.EINPROGRESS
	}
	switch err := s.wait(ctx, b, unix.POLLOUT); err {
	case nil:
	case unix.EAGAIN:
		return unix.EINPROGRESS
	default:
		return err
	}
	// Connecting again learns the result and marks the socket connected
	// (as Linux's blocking connect returns), so a later connect says
	// EISCONN.
	switch err := s.rawAddr(true, addr); err {
	case nil, unix.EISCONN:
		return nil
	default:
		return err
	}
}

// Shutdown implements socket.Socket.
func (s *sock) Shutdown(ctx *socket.Context, how int) error { return unix.Shutdown(s.fd, how) }

// name runs getsockname, or getpeername for peer (each with its own call,
// as rawAddr).
func (s *sock) name(peer bool) ([]byte, error) {
	var buf [socket.MaxAddrLen]byte
	l := uint32(len(buf))
	var e unix.Errno
	if peer {
		_, _, e = unix.Syscall(unix.SYS_GETPEERNAME, uintptr(s.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)))
	} else {
		_, _, e = unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(s.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)))
	}
	if e != 0 {
		return nil, e
	}
	return append([]byte(nil), buf[:min(int(l), len(buf))]...), nil
}

// SockName implements socket.Socket.
func (s *sock) SockName(*socket.Context) ([]byte, error) { return s.name(false) }

// PeerName implements socket.Socket.
func (s *sock) PeerName(*socket.Context) ([]byte, error) { return s.name(true) }

// ioChunk bounds one host send or receive (and the sentry buffer it
// goes through).
const ioChunk = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, ioChunk); return &b }}

// sendFlags are the MSG_* flags passed to the host.
const sendFlags = unix.MSG_EOR | unix.MSG_MORE | unix.MSG_OOB | unix.MSG_CONFIRM | unix.MSG_DONTROUTE

// SendMsg implements socket.Socket: a datagram goes whole in one host
// sendmsg; a stream in chunks, waiting for room as needed.
func (s *sock) SendMsg(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	if len(o.Control.Rights) > 0 {
		return 0, unix.EINVAL
	}
	cmsgs := encodeControl(o.Control.Other)
	flags := o.Flags&sendFlags | unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	if s.stype != unix.SOCK_STREAM && src.Len() > len(buf) {
		buf = make([]byte, src.Len())
	}
	total := 0
	for first := true; first || src.Len() > 0; first = false {
		n := min(src.Len(), len(buf))
		if s.stype != unix.SOCK_STREAM {
			n = src.Len()
		}
		if k, err := src.Read(buf[:n]); k < n {
			if total > 0 {
				return total, nil
			}
			if err == nil {
				err = unix.EFAULT
			}
			return 0, unix.EFAULT
		}
		data := buf[:n]
		for sent := false; !sent || len(data) > 0; {
			k, err := s.sendmsg(data, cmsgs, o.To, flags)
			if err == nil {
				sent, cmsgs = true, nil
				total += k
				data = data[k:]
				if s.stype != unix.SOCK_STREAM {
					return total, nil
				}
				continue
			}
			if err != unix.EAGAIN {
				if total > 0 {
					return total, nil
				}
				if err == unix.EPIPE && s.stype == unix.SOCK_STREAM {
					ctx.RaiseSIGPIPE(o.Flags)
				}
				return 0, err
			}
			if werr := s.wait(ctx, o.Blocking, unix.POLLOUT); werr != nil {
				if total > 0 {
					return total, nil
				}
				return 0, werr
			}
		}
	}
	return total, nil
}

// sendmsg is one host sendmsg.
func (s *sock) sendmsg(data, control, to []byte, flags int) (int, error) {
	var msg unix.Msghdr
	var iov unix.Iovec
	if len(data) > 0 {
		iov.Base = &data[0]
		iov.SetLen(len(data))
		msg.Iov = &iov
		msg.SetIovlen(1)
	}
	if len(to) > 0 {
		msg.Name = &to[0]
		msg.Namelen = uint32(len(to))
	}
	if len(control) > 0 {
		msg.Control = &control[0]
		msg.SetControllen(len(control))
	}
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// recvFlags are the MSG_* flags passed to the host.
const recvFlags = unix.MSG_PEEK | unix.MSG_TRUNC | unix.MSG_OOB | unix.MSG_ERRQUEUE

// RecvMsg implements socket.Socket.
func (s *sock) RecvMsg(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := (*bp)[:min(dst.Len(), ioChunk)]
	waitAll := o.Flags&unix.MSG_WAITALL != 0 && s.stype == unix.SOCK_STREAM && o.Flags&unix.MSG_PEEK == 0
	flags := o.Flags&recvFlags | unix.MSG_DONTWAIT
	// A stream's bytes leave the host socket only once they are in the
	// caller's memory: they are peeked, copied out, and then consumed as
	// far as the copy went, so a fault leaves them for the next read, as
	// Linux's tcp_recvmsg does. (A datagram whose copy faults is dropped,
	// as in Linux's udp_recvmsg.)
	keep := s.stype == unix.SOCK_STREAM && o.Flags&(unix.MSG_PEEK|unix.MSG_OOB|unix.MSG_ERRQUEUE) == 0
	if keep {
		flags |= unix.MSG_PEEK
	}
	var ctl [512]byte
	var r socket.RecvResult
	for {
		if keep {
			s.recvMu.Lock()
		}
		n, cl, mflags, from, err := s.recvmsg(buf[:min(len(buf), dst.Len())], ctl[:], flags)
		if err == nil {
			k := min(n, len(buf))
			if k > 0 {
				w, werr := dst.Write(buf[:k])
				if keep && w > 0 {
					var drop [512]byte
					if _, _, _, _, cerr := s.recvmsg(buf[:w], drop[:], flags&^unix.MSG_PEEK); cerr != nil {
						s.recvMu.Unlock()
						return r, cerr
					}
				}
				if keep {
					s.recvMu.Unlock()
				}
				if werr != nil && w < k {
					if r.N+w > 0 {
						r.N += w
						return r, nil
					}
					return r, unix.EFAULT
				}
			} else if keep {
				s.recvMu.Unlock()
			}
			r.N += k
			r.MsgLen += n
			if s.stype != unix.SOCK_STREAM {
				r.MsgLen = n
			}
			r.Flags |= mflags & (unix.MSG_TRUNC | unix.MSG_CTRUNC | unix.MSG_EOR | unix.MSG_OOB | unix.MSG_ERRQUEUE)
			if len(from) > 0 && r.From == nil {
				r.From = from
			}
			r.Control.Other = append(r.Control.Other, decodeControl(ctl[:cl])...)
			if !waitAll || n == 0 || dst.Len() == 0 {
				return r, nil
			}
			continue
		}
		if keep {
			s.recvMu.Unlock()
		}
		if err != unix.EAGAIN || o.Flags&unix.MSG_ERRQUEUE != 0 {
			if r.N > 0 {
				return r, nil
			}
			return r, err
		}
		if r.N > 0 && !waitAll {
			return r, nil
		}
		if werr := s.wait(ctx, o.Blocking, unix.POLLIN|unix.POLLPRI); werr != nil {
			if r.N > 0 {
				return r, nil
			}
			return r, werr
		}
	}
}

// recvmsg is one host recvmsg: the byte count (the whole datagram's with
// MSG_TRUNC), the control bytes, msg_flags and the source address.
func (s *sock) recvmsg(data, control []byte, flags int) (n, cl, mflags int, from []byte, err error) {
	var msg unix.Msghdr
	var iov unix.Iovec
	if len(data) > 0 {
		iov.Base = &data[0]
		iov.SetLen(len(data))
		msg.Iov = &iov
		msg.SetIovlen(1)
	}
	var name [socket.MaxAddrLen]byte
	msg.Name = &name[0]
	msg.Namelen = uint32(len(name))
	msg.Control = &control[0]
	msg.SetControllen(len(control))
	if s.stype != unix.SOCK_STREAM {
		// The whole datagram's length, to report truncation.
		flags |= unix.MSG_TRUNC
	}
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return 0, 0, 0, nil, e
	}
	if msg.Namelen > 0 && s.stype != unix.SOCK_STREAM {
		from = append([]byte(nil), name[:min(int(msg.Namelen), len(name))]...)
	}
	return int(r), int(msg.Controllen), int(msg.Flags), from, nil
}

// encodeControl builds a cmsg buffer from the program's control messages
// (IP and IPv6 levels; the host checks them).
func encodeControl(msgs []socket.RawControl) []byte {
	var b []byte
	for _, m := range msgs {
		space := unix.CmsgSpace(len(m.Data))
		h := make([]byte, space)
		binary.LittleEndian.PutUint64(h, uint64(unix.CmsgLen(len(m.Data))))
		binary.LittleEndian.PutUint32(h[8:], uint32(m.Level))
		binary.LittleEndian.PutUint32(h[12:], uint32(m.Type))
		copy(h[16:], m.Data)
		b = append(b, h...)
	}
	return b
}

// decodeControl splits a host cmsg buffer into control messages.
func decodeControl(b []byte) []socket.RawControl {
	var out []socket.RawControl
	for len(b) >= 16 {
		l := int(binary.LittleEndian.Uint64(b))
		if l < 16 || l > len(b) {
			break
		}
		out = append(out, socket.RawControl{
			Level: int32(binary.LittleEndian.Uint32(b[8:])),
			Type:  int32(binary.LittleEndian.Uint32(b[12:])),
			Data:  append([]byte(nil), b[16:l]...),
		})
		b = b[min(unix.CmsgSpace(l-16), len(b)):]
	}
	return out
}

// Ioctl implements socket.Socket: the queue sizes and the interface
// queries (SIOCGIF*, SIOCGIFCONF) answered by the host.
func (s *sock) Ioctl(ctx *socket.Context, cmd uint32, arg uintptr) (uintptr, error) {
	if ctx == nil || ctx.Context == nil || ctx.Mem == nil {
		return 0, unix.EFAULT
	}
	switch {
	case slices.Contains(queueIoctls, uintptr(cmd)):
		v, err := unix.IoctlGetInt(s.fd, uint(cmd))
		if err != nil {
			return 0, err
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(arg), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case slices.Contains(ifreqIoctls, uintptr(cmd)):
		var ifr [40]byte
		if _, err := ctx.Mem.CopyInBytes(hostarch.Addr(arg), ifr[:]); err != nil {
			return 0, unix.EFAULT
		}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), uintptr(cmd), uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
			return 0, e
		}
		if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(arg), ifr[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case cmd == unix.SIOCGIFCONF:
		return 0, s.ifconf(ctx, arg)
	}
	return 0, unix.ENOTTY
}

// DeviceIoctl implements socket.DeviceIoctler: the interface queries of a
// socket of another family (AF_UNIX, AF_NETLINK) go to the host through a
// host socket made for the call, as Linux's dev_ioctl answers them on any
// socket. The address queries are AF_INET's own (ENOTTY), and any other
// request of the socket ioctl range is EOPNOTSUPP.
func (f *Family) DeviceIoctl(ctx *socket.Context, cmd uint32, arg uintptr) (uintptr, error) {
	switch {
	case cmd == unix.SIOCGIFADDR || cmd == unix.SIOCGIFNETMASK || cmd == unix.SIOCGIFBRDADDR || cmd == unix.SIOCGIFDSTADDR:
		return 0, unix.ENOTTY
	case cmd != unix.SIOCGIFCONF && !slices.Contains(ifreqIoctls, uintptr(cmd)):
		return 0, unix.EOPNOTSUPP
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return (&sock{fd: fd}).Ioctl(ctx, cmd, arg)
}

// queueIoctls read an int of the socket's queues.
var queueIoctls = []uintptr{unix.SIOCINQ, unix.SIOCOUTQ, unix.SIOCOUTQNSD, unix.SIOCATMARK}

// ifreqIoctls are the interface queries on a struct ifreq.
var ifreqIoctls = []uintptr{unix.SIOCGIFFLAGS, unix.SIOCGIFINDEX, unix.SIOCGIFNAME, unix.SIOCGIFMTU, unix.SIOCGIFHWADDR,
	unix.SIOCGIFADDR, unix.SIOCGIFNETMASK, unix.SIOCGIFBRDADDR, unix.SIOCGIFTXQLEN, unix.SIOCGIFMETRIC,
	unix.SIOCGIFMAP, unix.SIOCGIFDSTADDR}

// HostIoctls are the ioctl requests the sentry makes on its host sockets:
// the confined sentry's seccomp allow-list has them with --network=host.
func HostIoctls() []uintptr {
	return slices.Concat(queueIoctls, ifreqIoctls, []uintptr{unix.SIOCGIFCONF})
}

// ifconf is SIOCGIFCONF through a sentry buffer.
func (s *sock) ifconf(ctx *socket.Context, arg uintptr) error {
	var ifc [16]byte
	if _, err := ctx.Mem.CopyInBytes(hostarch.Addr(arg), ifc[:]); err != nil {
		return unix.EFAULT
	}
	length := int(int32(binary.LittleEndian.Uint32(ifc[:])))
	ubuf := uintptr(binary.LittleEndian.Uint64(ifc[8:]))
	if length < 0 {
		return unix.EINVAL
	}
	length = min(length, 64<<10)
	var buf []byte
	var host [16]byte
	binary.LittleEndian.PutUint32(host[:], uint32(length))
	if ubuf != 0 && length > 0 {
		buf = make([]byte, length)
		binary.LittleEndian.PutUint64(host[8:], uint64(uintptr(unsafe.Pointer(&buf[0]))))
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), unix.SIOCGIFCONF, uintptr(unsafe.Pointer(&host[0]))); e != 0 {
		return e
	}
	n := int(int32(binary.LittleEndian.Uint32(host[:])))
	if ubuf != 0 && n > 0 {
		if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(ubuf), buf[:n]); err != nil {
			return unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint32(ifc[:], uint32(n))
	if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(arg), ifc[:4]); err != nil {
		return unix.EFAULT
	}
	return nil
}
