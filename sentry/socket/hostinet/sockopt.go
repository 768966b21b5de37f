package hostinet

import (
	"cmp"
	"slices"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// The options a sandboxed program may get and set on its host socket, by
// level: those that configure the socket itself. Options that would reach
// beyond it (SO_ATTACH_FILTER and BPF, SO_MARK and SO_BINDTODEVICE,
// IP_TRANSPARENT, raw and packet options) are ENOPROTOOPT.
var allowed = map[int]map[int]bool{
	unix.SOL_SOCKET: set(unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_KEEPALIVE, unix.SO_BROADCAST, unix.SO_LINGER,
		unix.SO_SNDBUF, unix.SO_RCVBUF, unix.SO_ERROR, unix.SO_ACCEPTCONN, unix.SO_OOBINLINE, unix.SO_PRIORITY,
		unix.SO_RCVLOWAT, unix.SO_SNDLOWAT, unix.SO_TIMESTAMP_OLD, unix.SO_TIMESTAMPNS_OLD, unix.SO_TIMESTAMP_NEW,
		unix.SO_TIMESTAMPNS_NEW, unix.SO_DONTROUTE, unix.SO_PEERCRED, unix.SO_PASSCRED, unix.SO_COOKIE,
		unix.SO_INCOMING_CPU, unix.SO_BUSY_POLL),
	unix.IPPROTO_TCP: set(unix.TCP_NODELAY, unix.TCP_CORK, unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT,
		unix.TCP_MAXSEG, unix.TCP_INFO, unix.TCP_QUICKACK, unix.TCP_USER_TIMEOUT, unix.TCP_CONGESTION,
		unix.TCP_SYNCNT, unix.TCP_LINGER2, unix.TCP_DEFER_ACCEPT, unix.TCP_WINDOW_CLAMP, unix.TCP_NOTSENT_LOWAT,
		unix.TCP_INQ, unix.TCP_FASTOPEN, unix.TCP_FASTOPEN_CONNECT),
	unix.IPPROTO_IP: set(unix.IP_TTL, unix.IP_TOS, unix.IP_RECVTOS, unix.IP_RECVTTL, unix.IP_PKTINFO,
		unix.IP_MTU_DISCOVER, unix.IP_MTU, unix.IP_MULTICAST_TTL, unix.IP_MULTICAST_LOOP, unix.IP_MULTICAST_IF,
		unix.IP_ADD_MEMBERSHIP, unix.IP_DROP_MEMBERSHIP, unix.IP_RECVERR, unix.IP_FREEBIND,
		unix.IP_BIND_ADDRESS_NO_PORT, unix.IP_OPTIONS, unix.IP_RETOPTS, unix.IP_RECVORIGDSTADDR),
	unix.IPPROTO_IPV6: set(unix.IPV6_V6ONLY, unix.IPV6_UNICAST_HOPS, unix.IPV6_MULTICAST_HOPS,
		unix.IPV6_MULTICAST_LOOP, unix.IPV6_MULTICAST_IF, unix.IPV6_TCLASS, unix.IPV6_RECVTCLASS,
		unix.IPV6_RECVPKTINFO, unix.IPV6_RECVHOPLIMIT, unix.IPV6_RECVERR, unix.IPV6_JOIN_GROUP,
		unix.IPV6_LEAVE_GROUP, unix.IPV6_MTU, unix.IPV6_MTU_DISCOVER),
	unix.IPPROTO_UDP:    set(unix.UDP_CORK, unix.UDP_SEGMENT, unix.UDP_GRO),
	unix.IPPROTO_ICMPV6: set(unix.ICMPV6_FILTER),
}

// HostOptions are the (level, name) pairs the sentry gets or sets on its
// host sockets: the options above and SO_PROTOCOL (a new socket's). The
// confined sentry's seccomp allow-list has them with --network=host.
func HostOptions() [][2]int {
	opts := [][2]int{{unix.SOL_SOCKET, unix.SO_PROTOCOL}}
	for level, names := range allowed {
		for name := range names {
			opts = append(opts, [2]int{level, name})
		}
	}
	slices.SortFunc(opts, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return opts
}

func set(names ...int) map[int]bool {
	m := make(map[int]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// maxOptLen bounds the value of a passed-through option.
const maxOptLen = 4096

// GetSockOpt implements socket.Socket.
func (s *sock) GetSockOpt(ctx *socket.Context, level, name, size int) ([]byte, error) {
	if !allowed[level][name] {
		return nil, unix.ENOPROTOOPT
	}
	buf := make([]byte, min(max(size, 0), maxOptLen))
	l := uint32(len(buf))
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), uintptr(level), uintptr(name), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return nil, e
	}
	return buf[:min(int(l), len(buf))], nil
}

// SetSockOpt implements socket.Socket.
func (s *sock) SetSockOpt(ctx *socket.Context, level, name int, val []byte) error {
	if level == unix.SOL_SOCKET && !ctx.HasCapability(linux.CAP_NET_ADMIN) {
		// The host would check the sentry's capability; Linux checks
		// the caller's: without CAP_NET_ADMIN these are EPERM (with
		// it, SO_MARK and the FORCE sizes still reach beyond the
		// socket: ENOPROTOOPT below).
		switch name {
		case unix.SO_MARK, unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE:
			if _, err := socket.IntArg(val); err != nil {
				return err
			}
			return unix.EPERM
		case unix.SO_PRIORITY:
			if v, err := socket.IntArg(val); err == nil && (v < 0 || v > 6) {
				return unix.EPERM
			}
		}
	}
	if !allowed[level][name] {
		return unix.ENOPROTOOPT
	}
	if len(val) > maxOptLen {
		return unix.EINVAL
	}
	var p unsafe.Pointer
	if len(val) > 0 {
		p = unsafe.Pointer(&val[0])
	}
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(s.fd), uintptr(level), uintptr(name), uintptr(p), uintptr(len(val)), 0)
	return errnoErr(e)
}
