package inet

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// Linux's bounds for TCP options.
const (
	// maxTCPKeepIdle and the like are Linux's bounds for the keepalive
	// options.
	maxTCPKeepIdle  = 32767
	maxTCPKeepIntvl = 32767
	maxTCPKeepCnt   = 127
	maxTCPSynCnt    = 127
	// tcpCMInq is TCP_CM_INQ, the control message TCP_INQ adds.
	tcpCMInq = 36
)

// localOpts are the TCP and IP options tcpip does not keep, kept by the
// socket as Linux keeps them (so getsockopt returns what setsockopt set).
type localOpts struct {
	freebind, transparent, noPort, tcpInq bool
	notsentLowat, busyPoll                int32
	ipOptions                             []byte
}

// GetSockOpt implements socket.Socket.
func (s *sock) GetSockOpt(ctx *socket.Context, level, name, size int) ([]byte, error) {
	switch level {
	case unix.SOL_SOCKET:
		return s.getSocket(name, size)
	case unix.IPPROTO_TCP:
		if !s.isStream() {
			return nil, unix.EOPNOTSUPP
		}
		return s.getTCP(name, size)
	case unix.IPPROTO_IP:
		return s.getIP(name, size)
	case unix.IPPROTO_IPV6:
		if s.domain != unix.AF_INET6 {
			return nil, unix.ENOPROTOOPT
		}
		return s.getIPv6(name, size)
	case unix.IPPROTO_UDP:
		if s.trans != udpProto && s.stype != unix.SOCK_RAW {
			return nil, unix.EOPNOTSUPP
		}
		return nil, unix.ENOPROTOOPT
	}
	return nil, unix.ENOPROTOOPT
}

// SetSockOpt implements socket.Socket.
func (s *sock) SetSockOpt(ctx *socket.Context, level, name int, val []byte) error {
	switch level {
	case unix.SOL_SOCKET:
		return s.setSocket(ctx, name, val)
	case unix.IPPROTO_TCP:
		if !s.isStream() {
			return unix.EOPNOTSUPP
		}
		entered := s.enter(ctx)
		err := s.setTCP(name, val)
		s.exit(ctx, entered)
		return err
	case unix.IPPROTO_IP:
		return s.setIP(name, val)
	case unix.IPPROTO_IPV6:
		if s.domain != unix.AF_INET6 {
			return unix.ENOPROTOOPT
		}
		return s.setIPv6(name, val)
	case unix.IPPROTO_UDP:
		if s.trans != udpProto && s.stype != unix.SOCK_RAW {
			return unix.EOPNOTSUPP
		}
		return unix.ENOPROTOOPT
	}
	return unix.ENOPROTOOPT
}

func int32Val(v int32) []byte { return socket.Int32(v) }

func boolVal(v bool) []byte { return socket.Bool32(v) }

// intOrByte decodes an option Linux takes as an int or, when shorter, a
// single byte (the IP options' do_ip_setsockopt rule): EINVAL when empty.
func intOrByte(val []byte) (int32, error) {
	switch {
	case len(val) >= 4:
		return int32(binary.LittleEndian.Uint32(val)), nil
	case len(val) >= 1:
		return int32(val[0]), nil
	}
	return 0, unix.EINVAL
}

func (s *sock) getSocket(name, size int) ([]byte, error) {
	ops := s.ep.SocketOptions()
	s.mu.Lock()
	lo := s.local
	ts := s.timestamp
	s.mu.Unlock()
	switch name {
	case unix.SO_ERROR:
		// Linux keeps one pending error, cleared by reading it; tcpip
		// may hold the same one twice (the connection's hard error and
		// the last error), so a read drains both.
		err := ops.GetLastError()
		if err != nil {
			ops.GetLastError()
		}
		return int32Val(int32(translateErrno0(err))), nil
	case unix.SO_ACCEPTCONN:
		return boolVal(s.isStream() && tcp.EndpointState(s.ep.State()) == tcp.StateListen), nil
	case unix.SO_REUSEADDR:
		return boolVal(ops.GetReuseAddress()), nil
	case unix.SO_REUSEPORT:
		return boolVal(ops.GetReusePort()), nil
	case unix.SO_KEEPALIVE:
		return boolVal(ops.GetKeepAlive()), nil
	case unix.SO_BROADCAST:
		return boolVal(ops.GetBroadcast()), nil
	case unix.SO_PASSCRED:
		return boolVal(ops.GetPassCred()), nil
	case unix.SO_NO_CHECK:
		return boolVal(ops.GetNoChecksum()), nil
	case unix.SO_OOBINLINE, unix.SO_DONTROUTE, unix.SO_PRIORITY:
		return s.generic.Get(name, size)
	case unix.SO_BUSY_POLL:
		return int32Val(lo.busyPoll), nil
	case unix.SO_SNDBUF:
		return int32Val(int32(ops.GetSendBufferSize())), nil
	case unix.SO_RCVBUF:
		return int32Val(int32(ops.GetReceiveBufferSize())), nil
	case unix.SO_RCVLOWAT:
		return int32Val(ops.GetRcvlowat()), nil
	case unix.SO_SNDLOWAT:
		return int32Val(1), nil
	case unix.SO_LINGER:
		l := ops.GetLinger()
		b := make([]byte, 8)
		if l.Enabled {
			binary.LittleEndian.PutUint32(b, 1)
		}
		binary.LittleEndian.PutUint32(b[4:], uint32(l.Timeout/time.Second))
		return b, nil
	case unix.SO_TIMESTAMP_OLD, unix.SO_TIMESTAMP_NEW:
		return boolVal(ts == unix.SO_TIMESTAMP), nil
	case unix.SO_TIMESTAMPNS_OLD, unix.SO_TIMESTAMPNS_NEW:
		return boolVal(ts == unix.SO_TIMESTAMPNS), nil
	case unix.SO_MARK:
		return int32Val(int32(ops.GetMark())), nil
	case unix.SO_BINDTODEVICE:
		nic := ops.GetBindToDevice()
		if nic == 0 {
			return []byte{}, nil
		}
		if d := s.net.Stack.DeviceByIndex(nic); d != nil {
			return append([]byte(d.Name()), 0), nil
		}
		return []byte{}, nil
	case unix.SO_BINDTOIFINDEX:
		return int32Val(ops.GetBindToDevice()), nil
	case unix.SO_PEERCRED:
		// An INET peer has no credentials: Linux reports pid 0 and
		// the overflow uid and gid.
		b := make([]byte, 12)
		binary.LittleEndian.PutUint32(b[4:], 65534)
		binary.LittleEndian.PutUint32(b[8:], 65534)
		return b, nil
	case unix.SO_PEERNAME:
		a, terr := s.ep.GetRemoteAddress()
		if terr != nil {
			return nil, unix.ENOTCONN
		}
		return encodeAddr(s.domain, a), nil
	case unix.SO_INCOMING_CPU:
		return int32Val(int32(max(s.owner.CPU(), 0))), nil
	case unix.SO_COOKIE:
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, s.cookie)
		return b, nil
	}
	return nil, unix.ENOPROTOOPT
}

// translateErrno0 is SO_ERROR's value: 0 for no error.
func translateErrno0(err tcpip.Error) unix.Errno {
	if err == nil {
		return 0
	}
	return translateErrno(err)
}

func (s *sock) setSocket(ctx *socket.Context, name int, val []byte) error {
	ops := s.ep.SocketOptions()
	switch name {
	case unix.SO_BINDTODEVICE:
		n := bytes.IndexByte(val, 0)
		if n < 0 {
			n = len(val)
		}
		if n >= unix.IFNAMSIZ {
			return unix.EINVAL
		}
		if n == 0 {
			return translate(ops.SetBindToDevice(0))
		}
		d := s.net.Stack.DeviceByName(string(val[:n]))
		if d == nil {
			return unix.ENODEV
		}
		return translate(ops.SetBindToDevice(d.Index()))
	case unix.SO_LINGER:
		if len(val) < 8 {
			return unix.EINVAL
		}
		on := binary.LittleEndian.Uint32(val) != 0
		secs := int32(binary.LittleEndian.Uint32(val[4:]))
		ops.SetLinger(tcpip.LingerOption{Enabled: on, Timeout: time.Duration(max(secs, 0)) * time.Second})
		return nil
	}
	privileged := ctx.HasCapability(linux.CAP_NET_ADMIN)
	switch name {
	case unix.SO_OOBINLINE, unix.SO_DONTROUTE, unix.SO_PRIORITY:
		return s.generic.Set(name, val, privileged)
	case unix.SO_SNDBUF, unix.SO_SNDBUFFORCE:
		// Linux's sizing rule (capped, doubled, at least the
		// minimum), then the endpoint's own bounds.
		if err := s.generic.Set(name, val, privileged); err != nil {
			return err
		}
		ops.SetSendBufferSize(int64(s.generic.SendBufferSize()), true)
		return nil
	case unix.SO_RCVBUF, unix.SO_RCVBUFFORCE:
		if err := s.generic.Set(name, val, privileged); err != nil {
			return err
		}
		ops.SetReceiveBufferSize(int64(s.generic.RecvBufferSize()), true)
		return nil
	}
	v, err := socket.IntArg(val)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case unix.SO_REUSEADDR:
		ops.SetReuseAddress(v != 0)
	case unix.SO_REUSEPORT:
		ops.SetReusePort(v != 0)
	case unix.SO_KEEPALIVE:
		ops.SetKeepAlive(v != 0)
	case unix.SO_BROADCAST:
		ops.SetBroadcast(v != 0)
	case unix.SO_PASSCRED:
		ops.SetPassCred(v != 0)
	case unix.SO_NO_CHECK:
		ops.SetNoChecksum(v != 0)
	case unix.SO_BUSY_POLL:
		if v < 0 {
			return unix.EINVAL
		}
		s.local.busyPoll = v
	case unix.SO_RCVLOWAT:
		if v < 0 {
			v = 1<<31 - 1
		}
		if v == 0 {
			v = 1
		}
		return translate(ops.SetRcvlowat(v))
	case unix.SO_SNDLOWAT:
		return unix.ENOPROTOOPT
	case unix.SO_TIMESTAMP_OLD, unix.SO_TIMESTAMP_NEW:
		if v != 0 {
			s.timestamp = unix.SO_TIMESTAMP
		} else if s.timestamp == unix.SO_TIMESTAMP {
			s.timestamp = 0
		}
	case unix.SO_TIMESTAMPNS_OLD, unix.SO_TIMESTAMPNS_NEW:
		if v != 0 {
			s.timestamp = unix.SO_TIMESTAMPNS
		} else if s.timestamp == unix.SO_TIMESTAMPNS {
			s.timestamp = 0
		}
	case unix.SO_MARK:
		if !privileged {
			return unix.EPERM
		}
		ops.SetMark(uint32(v))
	case unix.SO_BINDTOIFINDEX:
		if v != 0 && s.net.Stack.DeviceByIndex(v) == nil {
			return unix.ENODEV
		}
		return translate(ops.SetBindToDevice(v))
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}

func (s *sock) getTCP(name, size int) ([]byte, error) {
	ops := s.ep.SocketOptions()
	s.mu.Lock()
	lo := s.local
	s.mu.Unlock()
	getDur := func(o interface {
		tcpip.GettableSocketOption
	}, conv func() time.Duration) ([]byte, error) {
		if terr := s.ep.GetSockOpt(o); terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(conv() / time.Second)), nil
	}
	switch name {
	case unix.TCP_NODELAY:
		return boolVal(!ops.GetDelayOption()), nil
	case unix.TCP_CORK:
		return boolVal(ops.GetCorkOption()), nil
	case unix.TCP_QUICKACK:
		return boolVal(ops.GetQuickAck()), nil
	case unix.TCP_MAXSEG:
		v, terr := s.ep.GetSockOptInt(tcpip.MaxSegOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.TCP_KEEPIDLE:
		var o tcpip.KeepaliveIdleOption
		return getDur(&o, func() time.Duration { return time.Duration(o) })
	case unix.TCP_KEEPINTVL:
		var o tcpip.KeepaliveIntervalOption
		return getDur(&o, func() time.Duration { return time.Duration(o) })
	case unix.TCP_KEEPCNT:
		v, terr := s.ep.GetSockOptInt(tcpip.KeepaliveCountOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.TCP_USER_TIMEOUT:
		var o tcpip.TCPUserTimeoutOption
		if terr := s.ep.GetSockOpt(&o); terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(time.Duration(o) / time.Millisecond)), nil
	case unix.TCP_LINGER2:
		var o tcpip.TCPLingerTimeoutOption
		if terr := s.ep.GetSockOpt(&o); terr != nil {
			return nil, translate(terr)
		}
		if o < 0 {
			return int32Val(-1), nil
		}
		return int32Val(int32(time.Duration(o) / time.Second)), nil
	case unix.TCP_DEFER_ACCEPT:
		var o tcpip.TCPDeferAcceptOption
		return getDur(&o, func() time.Duration { return time.Duration(o) })
	case unix.TCP_SYNCNT:
		v, terr := s.ep.GetSockOptInt(tcpip.TCPSynCountOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.TCP_WINDOW_CLAMP:
		v, terr := s.ep.GetSockOptInt(tcpip.TCPWindowClampOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.TCP_CONGESTION:
		var o tcpip.CongestionControlOption
		if terr := s.ep.GetSockOpt(&o); terr != nil {
			return nil, translate(terr)
		}
		b := make([]byte, 16) // TCP_CA_NAME_MAX
		copy(b, o)
		return b, nil
	case unix.TCP_INFO:
		return s.tcpInfo(), nil
	case unix.TCP_INQ:
		return boolVal(lo.tcpInq), nil
	case unix.TCP_NOTSENT_LOWAT:
		return int32Val(lo.notsentLowat), nil
	}
	return nil, unix.ENOPROTOOPT
}

// tcpInfo returns struct tcp_info, filled from what tcpip knows.
func (s *sock) tcpInfo() []byte {
	var o tcpip.TCPInfoOption
	s.ep.GetSockOpt(&o)
	info := linux.TCPInfo{
		State:       uint8(linuxTCPState(s.ep.State())),
		CaState:     uint8(o.CcState),
		RTO:         uint32(o.RTO / time.Microsecond),
		RTT:         uint32(o.RTT / time.Microsecond),
		RTTVar:      uint32(o.RTTVar / time.Microsecond),
		SndSsthresh: o.SndSsthresh,
		SndCwnd:     o.SndCwnd,
	}
	if mss, err := s.ep.GetSockOptInt(tcpip.MaxSegOption); err == nil {
		info.SndMss, info.RcvMss, info.Advmss = uint32(mss), uint32(mss), uint32(mss)
	}
	b := make([]byte, info.SizeBytes())
	info.MarshalBytes(b)
	return b
}

// linuxTCPState maps tcpip's endpoint state to Linux's TCP state
// (tcp_states.h; tcpip's states 1-11 are Linux's).
func linuxTCPState(st uint32) int {
	switch s := tcp.EndpointState(st); s {
	case tcp.StateInitial, tcp.StateBound, tcp.StateError:
		return int(tcp.StateClose)
	case tcp.StateConnecting:
		return int(tcp.StateSynSent)
	default:
		return int(s)
	}
}

func (s *sock) setTCP(name int, val []byte) error {
	ops := s.ep.SocketOptions()
	switch name {
	case unix.TCP_CONGESTION:
		n := bytes.IndexByte(val, 0)
		if n < 0 {
			n = len(val)
		}
		o := tcpip.CongestionControlOption(val[:n])
		if terr := s.ep.SetSockOpt(&o); terr != nil {
			return unix.ENOENT
		}
		return nil
	}
	v, err := socket.IntArg(val)
	if err != nil {
		return err
	}
	switch name {
	case unix.TCP_NODELAY:
		ops.SetDelayOption(v == 0)
	case unix.TCP_CORK:
		ops.SetCorkOption(v != 0)
	case unix.TCP_QUICKACK:
		ops.SetQuickAck(v != 0)
	case unix.TCP_MAXSEG:
		if v != 0 && (v < 88 || v > 65535-40) {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.MaxSegOption, int(v)))
	case unix.TCP_KEEPIDLE:
		if v < 1 || v > maxTCPKeepIdle {
			return unix.EINVAL
		}
		o := tcpip.KeepaliveIdleOption(time.Duration(v) * time.Second)
		return translate(s.ep.SetSockOpt(&o))
	case unix.TCP_KEEPINTVL:
		if v < 1 || v > maxTCPKeepIntvl {
			return unix.EINVAL
		}
		o := tcpip.KeepaliveIntervalOption(time.Duration(v) * time.Second)
		return translate(s.ep.SetSockOpt(&o))
	case unix.TCP_KEEPCNT:
		if v < 1 || v > maxTCPKeepCnt {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.KeepaliveCountOption, int(v)))
	case unix.TCP_USER_TIMEOUT:
		if v < 0 {
			return unix.EINVAL
		}
		o := tcpip.TCPUserTimeoutOption(time.Duration(v) * time.Millisecond)
		return translate(s.ep.SetSockOpt(&o))
	case unix.TCP_LINGER2:
		o := tcpip.TCPLingerTimeoutOption(time.Duration(v) * time.Second)
		if v < 0 {
			o = -1
		}
		return translate(s.ep.SetSockOpt(&o))
	case unix.TCP_DEFER_ACCEPT:
		o := tcpip.TCPDeferAcceptOption(time.Duration(max(v, 0)) * time.Second)
		return translate(s.ep.SetSockOpt(&o))
	case unix.TCP_SYNCNT:
		if v < 1 || v > maxTCPSynCnt {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.TCPSynCountOption, int(v)))
	case unix.TCP_WINDOW_CLAMP:
		if v < 0 {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.TCPWindowClampOption, int(v)))
	case unix.TCP_INQ:
		s.mu.Lock()
		s.local.tcpInq = v != 0
		s.mu.Unlock()
	case unix.TCP_NOTSENT_LOWAT:
		s.mu.Lock()
		s.local.notsentLowat = v
		s.mu.Unlock()
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}

func (s *sock) getIP(name, size int) ([]byte, error) {
	ops := s.ep.SocketOptions()
	s.mu.Lock()
	lo := s.local
	s.mu.Unlock()
	switch name {
	case unix.IP_HDRINCL:
		return boolVal(ops.GetHeaderIncluded()), nil
	case unix.IP_TTL:
		v, terr := s.ep.GetSockOptInt(tcpip.IPv4TTLOption)
		if terr != nil {
			return nil, translate(terr)
		}
		if v == 0 {
			// Unset: the default TTL.
			v = 64
		}
		return int32Val(int32(v)), nil
	case unix.IP_TOS:
		v, terr := s.ep.GetSockOptInt(tcpip.IPv4TOSOption)
		if terr != nil {
			return nil, translate(terr)
		}
		if size < 4 {
			return []byte{byte(v)}, nil
		}
		return int32Val(int32(v)), nil
	case unix.IP_RECVTOS:
		return boolVal(ops.GetReceiveTOS()), nil
	case unix.IP_RECVTTL:
		return boolVal(ops.GetReceiveTTL()), nil
	case unix.IP_PKTINFO:
		return boolVal(ops.GetReceivePacketInfo()), nil
	case unix.IP_RECVORIGDSTADDR:
		return boolVal(ops.GetReceiveOriginalDstAddress()), nil
	case unix.IP_RECVERR:
		return boolVal(ops.GetIPv4RecvError()), nil
	case unix.IP_MULTICAST_TTL:
		v, terr := s.ep.GetSockOptInt(tcpip.MulticastTTLOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.IP_MULTICAST_LOOP:
		return boolVal(ops.GetMulticastLoop()), nil
	case unix.IP_MTU_DISCOVER:
		v, terr := s.ep.GetSockOptInt(tcpip.MTUDiscoverOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.IP_MTU:
		if _, terr := s.ep.GetRemoteAddress(); terr != nil {
			return nil, unix.ENOTCONN
		}
		return int32Val(int32(s.routeMTU())), nil
	case unix.IP_OPTIONS:
		return append([]byte(nil), lo.ipOptions...), nil
	case unix.IP_FREEBIND:
		return boolVal(lo.freebind), nil
	case unix.IP_TRANSPARENT:
		return boolVal(lo.transparent), nil
	case unix.IP_BIND_ADDRESS_NO_PORT:
		return boolVal(lo.noPort), nil
	}
	return nil, unix.ENOPROTOOPT
}

// routeMTU returns the MTU of the device the connected socket's packets
// leave by (IP_MTU): the loopback's, or the first other device's.
func (s *sock) routeMTU() uint32 {
	ra, _ := s.ep.GetRemoteAddress()
	for _, r := range s.net.Stack.Routes() {
		if r.Destination.Contains(ra.Addr) {
			if d := s.net.Stack.DeviceByIndex(int32(r.NIC)); d != nil {
				return d.MTU()
			}
		}
	}
	return 65536
}

func (s *sock) setIP(name int, val []byte) error {
	ops := s.ep.SocketOptions()
	switch name {
	case unix.IP_HDRINCL:
		if s.stype != unix.SOCK_RAW {
			return unix.ENOPROTOOPT
		}
		v, err := socket.IntArg(val)
		if err != nil {
			return err
		}
		ops.SetHeaderIncluded(v != 0)
		return nil
	case unix.IP_TTL:
		v, err := socket.IntArg(val)
		if err != nil {
			return err
		}
		if v == -1 {
			v = 0
		} else if v < 1 || v > 255 {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.IPv4TTLOption, int(v)))
	case unix.IP_TOS:
		v, err := intOrByte(val)
		if err != nil {
			return err
		}
		return translate(s.ep.SetSockOptInt(tcpip.IPv4TOSOption, int(uint8(v))))
	case unix.IP_MULTICAST_TTL:
		v, err := intOrByte(val)
		if err != nil {
			return err
		}
		if v == -1 {
			v = 1
		}
		if v < 0 || v > 255 {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.MulticastTTLOption, int(v)))
	case unix.IP_MTU_DISCOVER:
		v, err := socket.IntArg(val)
		if err != nil {
			return err
		}
		if v < 0 || v > 5 {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.MTUDiscoverOption, int(v)))
	case unix.IP_ADD_MEMBERSHIP, unix.IP_DROP_MEMBERSHIP:
		return s.setMembership(name == unix.IP_ADD_MEMBERSHIP, val)
	case unix.IP_OPTIONS, unix.IP_RETOPTS:
		// IP options (at most 40 bytes) are kept for getsockopt; the
		// stack sends none (ping sets an empty IP_RETOPTS).
		if len(val) > 40 {
			return unix.EINVAL
		}
		s.mu.Lock()
		s.local.ipOptions = append([]byte(nil), val...)
		s.mu.Unlock()
		return nil
	}
	v, err := intOrByte(val)
	if err != nil {
		return err
	}
	on := v != 0
	switch name {
	case unix.IP_RECVTOS:
		ops.SetReceiveTOS(on)
	case unix.IP_RECVTTL:
		ops.SetReceiveTTL(on)
	case unix.IP_PKTINFO:
		ops.SetReceivePacketInfo(on)
	case unix.IP_RECVORIGDSTADDR:
		ops.SetReceiveOriginalDstAddress(on)
	case unix.IP_RECVERR:
		ops.SetIPv4RecvError(on)
	case unix.IP_MULTICAST_LOOP:
		ops.SetMulticastLoop(on)
	case unix.IP_FREEBIND, unix.IP_TRANSPARENT, unix.IP_BIND_ADDRESS_NO_PORT:
		s.mu.Lock()
		switch name {
		case unix.IP_FREEBIND:
			s.local.freebind = on
		case unix.IP_TRANSPARENT:
			s.local.transparent = on
		default:
			s.local.noPort = on
		}
		s.mu.Unlock()
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}

// setMembership is IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP with a struct
// ip_mreq or ip_mreqn.
func (s *sock) setMembership(add bool, val []byte) error {
	if len(val) < 8 {
		return unix.EINVAL
	}
	var nic int32
	var iface [4]byte
	copy(iface[:], val[4:8])
	if len(val) >= 12 {
		nic = int32(binary.LittleEndian.Uint32(val[8:]))
	}
	var group [4]byte
	copy(group[:], val[0:4])
	m := tcpip.MembershipOption{NIC: tcpip.NICID(nic), MulticastAddr: tcpip.AddrFrom4(group)}
	if iface != ([4]byte{}) {
		m.InterfaceAddr = tcpip.AddrFrom4(iface)
	}
	if add {
		o := tcpip.AddMembershipOption(m)
		return translate(s.ep.SetSockOpt(&o))
	}
	o := tcpip.RemoveMembershipOption(m)
	return translate(s.ep.SetSockOpt(&o))
}

func (s *sock) getIPv6(name, size int) ([]byte, error) {
	ops := s.ep.SocketOptions()
	switch name {
	case unix.IPV6_V6ONLY:
		return boolVal(ops.GetV6Only()), nil
	case unix.IPV6_UNICAST_HOPS:
		v, terr := s.ep.GetSockOptInt(tcpip.IPv6HopLimitOption)
		if terr != nil {
			return nil, translate(terr)
		}
		if v < 0 {
			v = 64
		}
		return int32Val(int32(v)), nil
	case unix.IPV6_MULTICAST_HOPS:
		v, terr := s.ep.GetSockOptInt(tcpip.MulticastTTLOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.IPV6_MULTICAST_LOOP:
		return boolVal(ops.GetMulticastLoop()), nil
	case unix.IPV6_TCLASS:
		v, terr := s.ep.GetSockOptInt(tcpip.IPv6TrafficClassOption)
		if terr != nil {
			return nil, translate(terr)
		}
		return int32Val(int32(v)), nil
	case unix.IPV6_RECVTCLASS:
		return boolVal(ops.GetReceiveTClass()), nil
	case unix.IPV6_RECVHOPLIMIT:
		return boolVal(ops.GetReceiveHopLimit()), nil
	case unix.IPV6_RECVPKTINFO:
		return boolVal(ops.GetIPv6ReceivePacketInfo()), nil
	case unix.IPV6_RECVERR:
		return boolVal(ops.GetIPv6RecvError()), nil
	case unix.IPV6_MTU:
		if _, terr := s.ep.GetRemoteAddress(); terr != nil {
			return nil, unix.ENOTCONN
		}
		return int32Val(int32(s.routeMTU())), nil
	}
	return nil, unix.ENOPROTOOPT
}

func (s *sock) setIPv6(name int, val []byte) error {
	ops := s.ep.SocketOptions()
	v, err := socket.IntArg(val)
	if err != nil {
		return err
	}
	on := v != 0
	switch name {
	case unix.IPV6_V6ONLY:
		if !s.isStream() && s.trans != udpProto {
			return unix.EINVAL
		}
		if la, terr := s.ep.GetLocalAddress(); terr == nil && la.Port != 0 {
			// Linux: not once bound.
			return unix.EINVAL
		}
		ops.SetV6Only(on)
	case unix.IPV6_UNICAST_HOPS:
		if v < -1 || v > 255 {
			return unix.EINVAL
		}
		return translate(s.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, int(v)))
	case unix.IPV6_MULTICAST_HOPS:
		if v < -1 || v > 255 {
			return unix.EINVAL
		}
		if v == -1 {
			v = 1
		}
		return translate(s.ep.SetSockOptInt(tcpip.MulticastTTLOption, int(v)))
	case unix.IPV6_MULTICAST_LOOP:
		if v != 0 && v != 1 {
			return unix.EINVAL
		}
		ops.SetMulticastLoop(on)
	case unix.IPV6_TCLASS:
		if v < -1 || v > 255 {
			return unix.EINVAL
		}
		if v == -1 {
			v = 0
		}
		return translate(s.ep.SetSockOptInt(tcpip.IPv6TrafficClassOption, int(v)))
	case unix.IPV6_RECVTCLASS:
		ops.SetReceiveTClass(on)
	case unix.IPV6_RECVHOPLIMIT:
		ops.SetReceiveHopLimit(on)
	case unix.IPV6_RECVPKTINFO:
		ops.SetIPv6ReceivePacketInfo(on)
	case unix.IPV6_RECVERR:
		ops.SetIPv6RecvError(on)
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}
