package unix

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	sys "golang.org/x/sys/unix"
)

// Host sockets (--host-uds=open). A sandboxed AF_UNIX socket that
// connects to a host socket file on a --volume is relayed to a host
// socket of the sentry's own, connected to that file (hostfs
// ConnectSocket): sends become writes of the host socket, receives reads
// of it, readiness its poll events. The host socket is non-blocking; a
// task that must wait sleeps on its endpoint's wait queues, which a
// poller goroutine notifies when the host socket becomes ready for what
// someone waits for (as hostfd does for the sentry's stdio). Descriptors
// and credentials do not cross: SCM_RIGHTS on a relayed socket is
// EOPNOTSUPP, and what the host peer sends with its data is dropped by
// the host kernel (no control buffer is given).
//
// Without the flag, or for a host socket file outside a volume (the
// root's lower layer is reached through the overlay, never directly),
// connect gives ECONNREFUSED, as for any socket file nothing in the
// sandbox is bound to.

// hostTarget is a host socket file --host-uds=open allows connecting to.
type hostTarget struct {
	node *hostfs.Node
}

// hostTarget reports whether loc is a host socket file the sandbox may
// connect to.
func (f *Family) hostTarget(loc vfs.Location) (hostTarget, bool) {
	if !f.opts.HostUDS {
		return hostTarget{}, false
	}
	n, ok := loc.Node.(*hostfs.Node)
	if !ok || n.Type() != sys.S_IFSOCK {
		return hostTarget{}, false
	}
	return hostTarget{node: n}, true
}

// connectHost connects e to the host socket t names; addr is the
// sockaddr the program gave, which getpeername returns.
func (e *endpoint) connectHost(ctx *socket.Context, t hostTarget, addr []byte) error {
	e.mu.Lock()
	if e.state != stateClose || e.host != nil {
		st := e.state
		e.mu.Unlock()
		if st == stateListen {
			return sys.EINVAL
		}
		return sys.EISCONN
	}
	e.mu.Unlock()
	fd, err := t.node.ConnectSocket(e.stype)
	if err != nil {
		if errno, ok := err.(sys.Errno); ok {
			return errno
		}
		return sys.ECONNREFUSED
	}
	h, err := newHostConn(e, fd, append([]byte(nil), addr...))
	if err != nil {
		sys.Close(fd)
		return err
	}
	e.mu.Lock()
	if e.state != stateClose || e.host != nil || e.dead {
		e.mu.Unlock()
		h.close()
		return sys.EISCONN
	}
	e.host = h
	if e.stype != sys.SOCK_DGRAM {
		e.state = stateEstablished
	}
	e.mu.Unlock()
	e.notify(sys.POLLOUT)
	return nil
}

// hostConn is a sandbox socket's host socket.
//
// Locking: mu protects closed and serializes closing with the poller's
// use of the descriptors; want and the descriptors are otherwise atomic or
// immutable.
type hostConn struct {
	e        *endpoint
	fd       int
	kick     int // eventfd that wakes the poller
	peerName []byte

	want   atomic.Uint32 // events someone waits for
	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func newHostConn(e *endpoint, fd int, peerName []byte) (*hostConn, error) {
	kick, err := sys.Eventfd(0, sys.EFD_CLOEXEC|sys.EFD_NONBLOCK)
	if err != nil {
		return nil, sys.ENOBUFS
	}
	h := &hostConn{e: e, fd: fd, kick: kick, peerName: peerName, done: make(chan struct{})}
	go h.poll()
	return h, nil
}

// arm asks the poller to report events.
func (h *hostConn) arm(events uint32) {
	for {
		old := h.want.Load()
		if old&events == events {
			return
		}
		if h.want.CompareAndSwap(old, old|events) {
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		var one = [8]byte{1}
		sys.Write(h.kick, one[:])
	}
}

// poll is the poller goroutine: it waits in the host's poll for the armed
// events, tells the endpoint, and disarms what it reported (a task that
// still waits re-arms).
func (h *hostConn) poll() {
	defer close(h.done)
	var buf [8]byte
	for {
		want := h.want.Load()
		fds := []sys.PollFd{{Fd: int32(h.kick), Events: sys.POLLIN}, {Fd: int32(h.fd), Events: int16(want)}}
		if want == 0 {
			fds = fds[:1]
		}
		_, err := sys.Poll(fds, -1)
		if err != nil && err != sys.EINTR {
			return
		}
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if closed {
			return
		}
		if fds[0].Revents != 0 {
			sys.Read(h.kick, buf[:])
		}
		if len(fds) > 1 && fds[1].Revents != 0 {
			got := uint32(fds[1].Revents)
			h.want.And(^got)
			h.e.notify(got)
		}
	}
}

// pollNow returns the host socket's current events.
func (h *hostConn) pollNow() uint32 {
	fds := []sys.PollFd{{Fd: int32(h.fd), Events: sys.POLLIN | sys.POLLOUT | sys.POLLRDHUP}}
	if n, _ := sys.Poll(fds, 0); n <= 0 {
		return 0
	}
	return uint32(fds[0].Revents)
}

// readiness returns the events of the host socket that a poll of the
// sandbox's socket reports, and arms the poller for those it lacks.
func (h *hostConn) readiness() uint32 {
	ev := h.pollNow()
	if missing := (sys.POLLIN | sys.POLLOUT) &^ ev; missing != 0 && h.e.notifier.Watching() != 0 {
		h.arm(missing & h.e.notifier.Watching())
	}
	return ev &^ sys.POLLOUT
}

// writable reports whether the host socket takes data now.
func (h *hostConn) writable() bool { return h.pollNow()&sys.POLLOUT != 0 }

// inq is FIONREAD of the host socket.
func (h *hostConn) inq() int {
	n, err := sys.IoctlGetInt(h.fd, sys.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

// shutdown shuts the host socket down too.
func (h *hostConn) shutdown(how int) { sys.Shutdown(h.fd, how) }

// close stops the poller and closes the host descriptors.
func (h *hostConn) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	var one = [8]byte{1}
	sys.Write(h.kick, one[:])
	<-h.done
	sys.Close(h.fd)
	sys.Close(h.kick)
}

// waitHost waits until the host socket has events (POLLIN or POLLOUT).
func (h *hostConn) waitHost(ctx *socket.Context, b *socket.Blocking, events uint32) error {
	h.arm(events)
	q := &h.e.readQ
	if events&sys.POLLOUT != 0 {
		q = &h.e.writeQ
	}
	return b.Wait(ctx, q, func() bool {
		if h.pollNow()&(events|sys.POLLHUP|sys.POLLERR) != 0 {
			return true
		}
		h.arm(events)
		return false
	})
}

// maxHostIO bounds one relayed read or write.
const maxHostIO = 256 << 10

// send writes src to the host socket (one message for datagrams and
// seqpackets, as much as fits for streams, waiting for room as a blocking
// send does).
func (h *hostConn) send(ctx *socket.Context, src *usermem.IOSequence, o *socket.SendOptions) (int, error) {
	if len(o.Control.Rights) > 0 {
		return 0, sys.EOPNOTSUPP
	}
	stream := h.e.stype == sys.SOCK_STREAM
	total := src.Len()
	sent := 0
	for sent < total || (total == 0 && !stream && sent == 0) {
		n := min(total-sent, maxHostIO)
		if !stream {
			n = total
		}
		buf := make([]byte, n)
		k, err := src.Read(buf)
		if err != nil && k < n {
			if sent > 0 {
				return sent, nil
			}
			return 0, sys.EFAULT
		}
		for {
			w, err := sys.SendmsgN(h.fd, buf, nil, nil, sys.MSG_NOSIGNAL|sys.MSG_DONTWAIT)
			if err == nil {
				sent += w
				if w < len(buf) {
					// A stream took part: the rest goes back to the caller.
					return sent, nil
				}
				break
			}
			if err == sys.EINTR {
				continue
			}
			if err != sys.EAGAIN {
				if sent > 0 {
					return sent, nil
				}
				if err == sys.EPIPE && stream {
					ctx.RaiseSIGPIPE(o.Flags)
				}
				if errno, ok := err.(sys.Errno); ok {
					return 0, errno
				}
				return 0, sys.EIO
			}
			if werr := h.waitHost(ctx, o.Blocking, sys.POLLOUT); werr != nil {
				if sent > 0 {
					return sent, nil
				}
				return 0, werr
			}
		}
		if total == 0 {
			break
		}
	}
	return sent, nil
}

// recv reads from the host socket into dst.
func (h *hostConn) recv(ctx *socket.Context, dst *usermem.IOSequence, o *socket.RecvOptions) (socket.RecvResult, error) {
	flags := o.Flags & (sys.MSG_PEEK | sys.MSG_TRUNC | sys.MSG_WAITALL)
	buf := make([]byte, min(dst.Len(), maxHostIO))
	for {
		n, _, rflags, _, err := sys.Recvmsg(h.fd, buf, nil, flags|sys.MSG_DONTWAIT|sys.MSG_CMSG_CLOEXEC)
		if err == sys.EINTR {
			continue
		}
		if err == sys.EAGAIN {
			if werr := h.waitHost(ctx, o.Blocking, sys.POLLIN); werr != nil {
				return socket.RecvResult{}, werr
			}
			continue
		}
		if err != nil {
			if errno, ok := err.(sys.Errno); ok {
				return socket.RecvResult{}, errno
			}
			return socket.RecvResult{}, sys.EIO
		}
		k := min(n, len(buf))
		w, werr := dst.Write(buf[:k])
		if werr != nil && w < k {
			return socket.RecvResult{}, sys.EFAULT
		}
		return socket.RecvResult{N: w, MsgLen: n, Flags: rflags & (sys.MSG_TRUNC | sys.MSG_CTRUNC)}, nil
	}
}
