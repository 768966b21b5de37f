package inet

import (
	"encoding/binary"
	"net/netip"

	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// ifreqSize is sizeof(struct ifreq); ifconfSize sizeof(struct ifconf).
const (
	ifreqSize  = 40
	ifconfSize = 16
)

// Ioctl implements socket.Socket: the queue sizes (FIONREAD/SIOCINQ,
// SIOCOUTQ, SIOCOUTQNSD), SIOCATMARK, and the interface queries of
// net-tools and older programs (SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFINDEX,
// SIOCGIFNAME, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFADDR, SIOCGIFNETMASK,
// SIOCGIFBRDADDR, SIOCGIFTXQLEN, SIOCGIFMETRIC) answered from the
// sandbox's devices.
func (s *sock) Ioctl(ctx *socket.Context, cmd uint32, arg uintptr) (uintptr, error) {
	if ctx == nil || ctx.Context == nil || ctx.Mem == nil {
		return 0, unix.EFAULT
	}
	mem := ctx.Mem
	putInt := func(v int32) (uintptr, error) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		if _, err := mem.CopyOutBytes(hostarch.Addr(arg), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	}
	switch cmd {
	case unix.SIOCINQ: // FIONREAD
		if s.isStream() && linuxTCPState(s.ep.State()) == tcpListen {
			return 0, unix.EINVAL
		}
		v, terr := s.ep.GetSockOptInt(tcpipReceiveQueueSize)
		if terr != nil {
			return 0, translate(terr)
		}
		return putInt(int32(v))
	case unix.SIOCOUTQ, unix.SIOCOUTQNSD:
		if s.isStream() && linuxTCPState(s.ep.State()) == tcpListen {
			return 0, unix.EINVAL
		}
		if ep, ok := s.ep.(*tcp.Endpoint); ok {
			n, ok := tcpOutq(ep)
			if !ok {
				return 0, unix.EOPNOTSUPP
			}
			return putInt(int32(n))
		}
		v, terr := s.ep.GetSockOptInt(tcpipSendQueueSize)
		if terr != nil {
			return 0, translate(terr)
		}
		return putInt(int32(v))
	case unix.SIOCATMARK:
		return putInt(0)
	case unix.SIOCGIFCONF:
		return 0, ifconf(s.net.Stack, ctx, arg)
	case unix.SIOCGIFFLAGS, unix.SIOCGIFINDEX, unix.SIOCGIFNAME, unix.SIOCGIFMTU, unix.SIOCGIFHWADDR,
		unix.SIOCGIFADDR, unix.SIOCGIFNETMASK, unix.SIOCGIFBRDADDR, unix.SIOCGIFTXQLEN, unix.SIOCGIFMETRIC,
		unix.SIOCGIFMAP, unix.SIOCGIFDSTADDR:
		return 0, ifreqIoctl(s.net.Stack, ctx, cmd, arg)
	case unix.SIOCSIFFLAGS:
		return 0, setIfFlags(s.net, ctx, arg)
	case unix.SIOCSIFMTU, unix.SIOCSIFADDR, unix.SIOCSIFNETMASK, unix.SIOCSIFHWADDR:
		// Changing interfaces is not supported from inside.
		return 0, unix.EPERM
	}
	return 0, unix.ENOTTY
}

// DeviceIoctl implements socket.DeviceIoctler: Linux's dev_ioctl, which
// answers the interface ioctls of any socket whose family does not know
// them (an AF_UNIX or AF_NETLINK socket: busybox ip and ifconfig ask
// through those). The queries by name or index and SIOCGIFCONF are
// answered from the sandbox's devices; the address queries
// (SIOCGIFADDR...) are AF_INET's own (ENOTTY elsewhere, as in Linux), and
// any other request of the socket ioctl range is EOPNOTSUPP.
func (f *Family) DeviceIoctl(ctx *socket.Context, cmd uint32, arg uintptr) (uintptr, error) {
	if ctx == nil || ctx.Context == nil || ctx.Mem == nil {
		return 0, unix.EFAULT
	}
	switch cmd {
	case unix.SIOCGIFCONF:
		return 0, ifconf(f.net.Stack, ctx, arg)
	case unix.SIOCGIFFLAGS, unix.SIOCGIFINDEX, unix.SIOCGIFNAME, unix.SIOCGIFMTU, unix.SIOCGIFHWADDR,
		unix.SIOCGIFTXQLEN, unix.SIOCGIFMETRIC, unix.SIOCGIFMAP:
		return 0, ifreqIoctl(f.net.Stack, ctx, cmd, arg)
	case unix.SIOCGIFADDR, unix.SIOCGIFNETMASK, unix.SIOCGIFBRDADDR, unix.SIOCGIFDSTADDR,
		unix.SIOCSIFADDR, unix.SIOCSIFNETMASK, unix.SIOCSIFBRDADDR, unix.SIOCSIFDSTADDR:
		return 0, unix.ENOTTY
	case unix.SIOCSIFFLAGS:
		return 0, setIfFlags(f.net, ctx, arg)
	case unix.SIOCSIFMTU, unix.SIOCSIFHWADDR:
		return 0, unix.EPERM
	}
	return 0, unix.EOPNOTSUPP
}

// setIfFlags is SIOCSIFFLAGS: in a network namespace of the sandbox's
// making (Net.Admin set), a holder of CAP_NET_ADMIN over it brings a
// loopback device up or down (dev_change_flags' IFF_UP; the other flags
// are left as they are); the sandbox's first namespace is not the
// program's to change (EPERM).
func setIfFlags(n *Net, ctx *socket.Context, arg uintptr) error {
	if n.Admin == nil || !n.Admin(ctx) {
		return unix.EPERM
	}
	var ifr [ifreqSize]byte
	if _, err := ctx.Mem.CopyInBytes(hostarch.Addr(arg), ifr[:]); err != nil {
		return unix.EFAULT
	}
	name := ifr[:unix.IFNAMSIZ]
	l := 0
	for l < len(name) && name[l] != 0 {
		l++
	}
	d := n.Stack.DeviceByName(string(name[:l]))
	if d == nil {
		return unix.ENODEV
	}
	flags := uint32(binary.LittleEndian.Uint16(ifr[16:]))
	if err := n.Stack.SetUp(d, flags&unix.IFF_UP != 0); err != nil {
		if e, ok := err.(unix.Errno); ok {
			return e
		}
		return unix.EINVAL
	}
	return nil
}

// ifreqIoctl serves one SIOCGIF* request on the struct ifreq at arg.
func ifreqIoctl(st *net.Stack, ctx *socket.Context, cmd uint32, arg uintptr) error {
	var ifr [ifreqSize]byte
	if _, err := ctx.Mem.CopyInBytes(hostarch.Addr(arg), ifr[:]); err != nil {
		return unix.EFAULT
	}
	var d *net.Device
	if cmd == unix.SIOCGIFNAME {
		d = st.DeviceByIndex(int32(binary.LittleEndian.Uint32(ifr[16:])))
	} else {
		name := ifr[:unix.IFNAMSIZ]
		n := 0
		for n < len(name) && name[n] != 0 {
			n++
		}
		d = st.DeviceByName(string(name[:n]))
	}
	if d == nil {
		return unix.ENODEV
	}
	u := ifr[16:]
	clear(u)
	switch cmd {
	case unix.SIOCGIFNAME:
		clear(ifr[:unix.IFNAMSIZ])
		copy(ifr[:unix.IFNAMSIZ-1], d.Name())
	case unix.SIOCGIFFLAGS:
		binary.LittleEndian.PutUint16(u, uint16(d.Flags()))
	case unix.SIOCGIFINDEX:
		binary.LittleEndian.PutUint32(u, uint32(d.Index()))
	case unix.SIOCGIFMTU:
		binary.LittleEndian.PutUint32(u, d.MTU())
	case unix.SIOCGIFTXQLEN:
		binary.LittleEndian.PutUint32(u, uint32(d.TxQueueLen()))
	case unix.SIOCGIFMETRIC, unix.SIOCGIFMAP:
	case unix.SIOCGIFHWADDR:
		binary.LittleEndian.PutUint16(u, d.ARPType())
		copy(u[2:16], d.HardwareAddr())
	case unix.SIOCGIFADDR, unix.SIOCGIFNETMASK, unix.SIOCGIFBRDADDR, unix.SIOCGIFDSTADDR:
		a, ok := firstV4(st, d)
		if !ok {
			return unix.EADDRNOTAVAIL
		}
		binary.LittleEndian.PutUint16(u, unix.AF_INET)
		var v [4]byte
		switch cmd {
		case unix.SIOCGIFADDR, unix.SIOCGIFDSTADDR:
			v = a.Addr().As4()
		case unix.SIOCGIFNETMASK:
			for i := 0; i < a.Bits(); i++ {
				v[i/8] |= 0x80 >> (i % 8)
			}
		case unix.SIOCGIFBRDADDR:
			// An address has a broadcast address only on a
			// broadcast device (lo has none: 0.0.0.0, as Linux).
			if d.Flags()&unix.IFF_BROADCAST != 0 {
				v = a.Addr().As4()
				for i := a.Bits(); i < 32; i++ {
					v[i/8] |= 0x80 >> (i % 8)
				}
			}
		}
		copy(u[4:8], v[:])
	}
	if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(arg), ifr[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// firstV4 returns d's first IPv4 address with its prefix.
func firstV4(st *net.Stack, d *net.Device) (netip.Prefix, bool) {
	for _, pa := range st.Addresses(d) {
		if pa.Protocol == ipv4.ProtocolNumber {
			a := pa.AddressWithPrefix
			return netip.PrefixFrom(netip.AddrFrom4(a.Address.As4()), a.PrefixLen), true
		}
	}
	return netip.Prefix{}, false
}

// ifconf is SIOCGIFCONF: one struct ifreq (name and IPv4 address) per
// device with an IPv4 address; a NULL buffer asks for the length needed.
func ifconf(st *net.Stack, ctx *socket.Context, arg uintptr) error {
	var ifc [ifconfSize]byte
	if _, err := ctx.Mem.CopyInBytes(hostarch.Addr(arg), ifc[:]); err != nil {
		return unix.EFAULT
	}
	length := int(int32(binary.LittleEndian.Uint32(ifc[0:])))
	buf := uintptr(binary.LittleEndian.Uint64(ifc[8:]))
	var reqs [][ifreqSize]byte
	for _, d := range st.Devices() {
		a, ok := firstV4(st, d)
		if !ok {
			continue
		}
		var r [ifreqSize]byte
		copy(r[:unix.IFNAMSIZ-1], d.Name())
		binary.LittleEndian.PutUint16(r[16:], unix.AF_INET)
		v := a.Addr().As4()
		copy(r[20:24], v[:])
		reqs = append(reqs, r)
	}
	n := 0
	if buf == 0 {
		n = len(reqs) * ifreqSize
	} else {
		for _, r := range reqs {
			if n+ifreqSize > length {
				break
			}
			if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(buf+uintptr(n)), r[:]); err != nil {
				return unix.EFAULT
			}
			n += ifreqSize
		}
	}
	binary.LittleEndian.PutUint32(ifc[0:], uint32(n))
	if _, err := ctx.Mem.CopyOutBytes(hostarch.Addr(arg), ifc[:4]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// tcpListen is TCP_LISTEN (tcp_states.h).
const tcpListen = 10

// The queue-size options of GetSockOptInt.
const (
	tcpipReceiveQueueSize = tcpip.ReceiveQueueSizeOption
	tcpipSendQueueSize    = tcpip.SendQueueSizeOption
)
