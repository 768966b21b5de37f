package netlink

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// hostRoute answers NETLINK_ROUTE requests with --network=host: queries
// (RTM_GET*) go to a NETLINK_ROUTE socket of the sentry in the host's
// network namespace and the replies come back with the sandbox socket's
// port ID; changes are refused with EPERM, as everywhere else. The host
// socket is made with the family, at start-up: the confined sentry may
// not make sockets of this kind (its seccomp allow-list), only use it.
type hostRoute struct {
	mu sync.Mutex // held across a request and its replies
	fd int
}

// NewHostFamily returns AF_NETLINK (NETLINK_ROUTE) answered by the host;
// Close releases its host socket.
func NewHostFamily() (*Family, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("host NETLINK_ROUTE socket: %w", err)
	}
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &Family{host: &hostRoute{fd: fd}, bound: make(map[uint32]bool)}, nil
}

// Close releases the host socket of a family made by NewHostFamily.
func (f *Family) Close() {
	if f.host != nil {
		f.host.close()
	}
}

// isQuery reports whether typ is an RTM_GET* request.
func isQuery(typ uint16) bool {
	return typ >= unix.RTM_BASE && typ <= unix.RTM_MAX && (typ-unix.RTM_BASE)%4 == 2
}

// answer forwards one query to the host and returns the replies, packed
// in datagrams, with nlmsg_pid set to port.
func (h *hostRoute) answer(r *request, port uint32) [][]byte {
	if r.flags&unix.NLM_F_REQUEST == 0 || r.typ < unix.NLMSG_MIN_TYPE {
		if r.flags&unix.NLM_F_ACK != 0 {
			return [][]byte{errorMsg(r, port, 0)}
		}
		return nil
	}
	if !isQuery(r.typ) {
		if isChange(r.typ) {
			return [][]byte{errorMsg(r, port, unix.EPERM)}
		}
		return [][]byte{errorMsg(r, port, unix.EOPNOTSUPP)}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 {
		return [][]byte{errorMsg(r, port, unix.EBADF)}
	}
	buf := make([]byte, 64<<10)
	// Replies an earlier request left (its reader timed out) are not
	// this request's.
	for {
		if _, _, err := unix.Recvfrom(h.fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	req := append([]byte(nil), r.raw...)
	binary.LittleEndian.PutUint32(req[12:], 0)
	if err := unix.Sendto(h.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return [][]byte{errorMsg(r, port, err.(unix.Errno))}
	}
	dump := r.flags&unix.NLM_F_DUMP == unix.NLM_F_DUMP
	wantAck := r.flags&unix.NLM_F_ACK != 0
	var msgs [][]byte
	for done := false; !done; {
		n, _, err := unix.Recvfrom(h.fd, buf, 0)
		if err != nil {
			return [][]byte{errorMsg(r, port, err.(unix.Errno))}
		}
		for d := buf[:n]; len(d) >= nlmsgHdrLen; {
			l := int(binary.LittleEndian.Uint32(d))
			if l < nlmsgHdrLen || l > len(d) {
				break
			}
			m := append([]byte(nil), d[:l]...)
			binary.LittleEndian.PutUint32(m[12:], port)
			msgs = append(msgs, m)
			typ := binary.LittleEndian.Uint16(m[4:])
			flags := binary.LittleEndian.Uint16(m[6:])
			switch {
			case typ == unix.NLMSG_DONE, typ == unix.NLMSG_ERROR:
				done = true
			case !dump && flags&unix.NLM_F_MULTI == 0 && !wantAck:
				done = true
			}
			d = d[min(align4(l), len(d)):]
		}
	}
	return pack(msgs)
}

func (h *hostRoute) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd >= 0 {
		unix.Close(h.fd)
		h.fd = -1
	}
}
