package net

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"sort"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// --network=sandbox: the sandbox's stack takes over the interfaces of a
// host network namespace (the one a CNI plugin or a test prepared), as
// runsc does. For each interface that is up, other than lo, it opens an
// AF_PACKET socket bound to it, creates a device with the same name, MAC
// and MTU, moves the interface's addresses into the stack (deleting them
// from the host interface, so the host kernel neither answers ARP for
// them nor resets connections it does not know) and copies the routes
// through it.

// HostLink is a host interface as the takeover found it.
type HostLink struct {
	Index   int32
	Name    string
	Flags   uint32
	MTU     uint32
	MAC     tcpip.LinkAddress
	Qdisc   string
	ARPType uint16
}

// hostLinkJSON is HostLink on the wire, its MAC as text (the address is
// raw bytes, which JSON strings would mangle).
type hostLinkJSON struct {
	Index   int32
	Name    string
	Flags   uint32
	MTU     uint32
	MAC     string
	Qdisc   string
	ARPType uint16
}

// MarshalJSON implements json.Marshaler.
func (l HostLink) MarshalJSON() ([]byte, error) {
	return json.Marshal(hostLinkJSON{l.Index, l.Name, l.Flags, l.MTU, l.MAC.String(), l.Qdisc, l.ARPType})
}

// UnmarshalJSON implements json.Unmarshaler.
func (l *HostLink) UnmarshalJSON(b []byte) error {
	var j hostLinkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = HostLink{Index: j.Index, Name: j.Name, Flags: j.Flags, MTU: j.MTU, Qdisc: j.Qdisc, ARPType: j.ARPType}
	if j.MAC != "" {
		mac, err := tcpip.ParseMACAddress(j.MAC)
		if err != nil {
			return fmt.Errorf("link %s: %w", j.Name, err)
		}
		l.MAC = mac
	}
	return nil
}

// HostAddr is a host interface address.
type HostAddr struct {
	Index     int32
	Prefix    netip.Prefix
	Broadcast netip.Addr
	Flags     uint8
	Scope     uint8
}

// HostRoute is a host route of the main table that is not an interface
// prefix route.
type HostRoute struct {
	Dst      netip.Prefix
	Gateway  netip.Addr
	OIF      int32
	Priority uint32
}

// TakenLink is a host interface prepared for the stack (PrepareTakeOver):
// its configuration as found, and an AF_PACKET socket bound to it. It
// travels as JSON from the OCI CLI to the sentry, FD as a passed
// descriptor.
type TakenLink struct {
	Link   HostLink    `json:"link"`
	Addrs  []HostAddr  `json:"addrs,omitempty"`
	Routes []HostRoute `json:"routes,omitempty"`
	// FD is the AF_PACKET socket; whoever holds the TakenLink owns it.
	FD int `json:"-"`
}

// TakeOver moves every up, non-loopback interface of the network namespace
// nsPath (the calling process's own when nsPath is "") into the stack. It
// returns the interfaces taken; none is not an error.
func (s *Stack) TakeOver(nsPath string) ([]HostLink, error) {
	taken, err := PrepareTakeOver(nsPath)
	if err != nil {
		return nil, err
	}
	if err := s.Adopt(taken); err != nil {
		return nil, err
	}
	links := make([]HostLink, len(taken))
	for i, t := range taken {
		links[i] = t.Link
	}
	return links, nil
}

// PrepareTakeOver is the privileged half of TakeOver: in the network
// namespace nsPath ("": the caller's), for every up, non-loopback Ethernet
// interface it opens an AF_PACKET socket bound to it and removes the
// interface's addresses from the host (so that the host kernel neither
// answers ARP for them nor resets connections it does not know); Adopt
// does the rest. It needs CAP_NET_RAW and CAP_NET_ADMIN in that
// namespace: the OCI CLI runs it for a confined sentry whose namespace a
// hook filled after create (Docker's libnetwork) and passes the sockets.
// On error nothing stays open, but addresses already removed stay so.
func PrepareTakeOver(nsPath string) ([]TakenLink, error) {
	var taken []TakenLink
	err := inNetns(nsPath, func() error {
		all, addrs, routes, err := readHostConfig()
		if err != nil {
			return err
		}
		for _, l := range all {
			if l.Flags&unix.IFF_LOOPBACK != 0 || l.Flags&unix.IFF_UP == 0 || l.ARPType != unix.ARPHRD_ETHER {
				continue
			}
			t := TakenLink{Link: l, FD: -1}
			for _, a := range addrs {
				if a.Index == l.Index {
					t.Addrs = append(t.Addrs, a)
				}
			}
			for _, r := range routes {
				if r.OIF == l.Index {
					t.Routes = append(t.Routes, r)
				}
			}
			if t.FD, err = packetSocket(l.Index); err != nil {
				return fmt.Errorf("taking over %s: %w", l.Name, err)
			}
			taken = append(taken, t)
			for _, a := range t.Addrs {
				if err := deleteHostAddr(a); err != nil {
					return fmt.Errorf("taking over %s: removing %s from the host: %w", l.Name, a.Prefix, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		CloseTaken(taken)
		return nil, err
	}
	return taken, nil
}

// CloseTaken closes the sockets of links nobody adopted.
func CloseTaken(links []TakenLink) {
	for _, t := range links {
		if t.FD >= 0 {
			unix.Close(t.FD)
		}
	}
}

// Adopt makes a device of each prepared link (PrepareTakeOver) and gives
// it the link's addresses and routes; the stack owns the sockets from
// then on, whatever the result (on error the ones not adopted are
// closed). It makes no host call a confined sentry may not make.
func (s *Stack) Adopt(links []TakenLink) error {
	for i, t := range links {
		if err := s.adoptLink(t); err != nil {
			CloseTaken(links[i+1:])
			return fmt.Errorf("taking over %s: %w", t.Link.Name, err)
		}
	}
	return nil
}

// inNetns runs fn with the calling thread in the network namespace at
// path ("" : the current one). Sockets fn creates stay in that namespace.
func inNetns(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(orig)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining network namespace %s: %w", path, err)
	}
	defer unix.Setns(orig, unix.CLONE_NEWNET)
	return fn()
}

// packetSocket opens an AF_PACKET socket bound to interface index, as the
// device's link to it.
func packetSocket(index int32) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: int(index)}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding AF_PACKET socket: %w", err)
	}
	// Frames the host sends (our own transmissions included) are not
	// received; checksum status comes with each frame.
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	return fd, nil
}

// adoptLink creates the device for t and gives it t's addresses and
// routes.
func (s *Stack) adoptLink(t TakenLink) error {
	l, fd := t.Link, t.FD
	s.mu.Lock()
	if s.irq == nil {
		c, err := newIRQController()
		if err != nil {
			s.mu.Unlock()
			unix.Close(fd)
			return err
		}
		s.irq = c
	}
	irq := s.irq
	nics := len(s.devices)
	s.mu.Unlock()

	p := &packetNIC{fd: fd, ep: irq, mtu: int(l.MTU)}
	p.rx.init()
	d, err := s.addDevice(deviceSpec{
		name:      l.Name,
		arpType:   header.ARPHardwareEther,
		flags:     l.Flags,
		mtu:       l.MTU,
		mac:       l.MAC,
		headerLen: header.EthernetMinimumSize,
		qdisc:     l.Qdisc,
		driver:    p,
	})
	if err != nil {
		unix.Close(fd)
		return err
	}
	p.dev = d
	// Interrupts of the devices are spread over the CPUs (IRQ affinity).
	d.irqCPU = nics % len(s.cpus)
	d.rx.poll = p.poll

	// The addresses moved: gone from the host, assigned in the stack.
	for _, a := range t.Addrs {
		pa := tcpip.ProtocolAddress{AddressWithPrefix: tcpip.AddressWithPrefix{
			Address:   tcpip.AddrFromSlice(a.Prefix.Addr().AsSlice()),
			PrefixLen: a.Prefix.Bits(),
		}}
		if a.Prefix.Addr().Is4() {
			pa.Protocol = ipv4.ProtocolNumber
		} else {
			pa.Protocol = ipv6.ProtocolNumber
		}
		if err := s.AddAddress(d, pa); err != nil {
			return err
		}
		if a.Broadcast.IsValid() {
			s.SetBroadcast(pa.AddressWithPrefix.Address, tcpip.AddrFromSlice(a.Broadcast.AsSlice()))
		}
	}
	for _, r := range t.Routes {
		if !r.Gateway.IsValid() {
			continue
		}
		dst := tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(r.Dst.Masked().Addr().AsSlice()), PrefixLen: r.Dst.Bits()}
		s.tcpip.AddRoute(tcpip.Route{Destination: dst.Subnet(), Gateway: tcpip.AddrFromSlice(r.Gateway.AsSlice()), NIC: d.index})
	}
	return irq.add(p)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// readHostConfig dumps the links, addresses and main-table routes of the
// calling thread's network namespace.
func readHostConfig() ([]HostLink, []HostAddr, []HostRoute, error) {
	var links []HostLink
	err := dump(unix.RTM_GETLINK, unix.AF_UNSPEC, func(m syscall.NetlinkMessage) {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			return
		}
		ifi := (*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		l := HostLink{Index: ifi.Index, Flags: ifi.Flags, ARPType: ifi.Type}
		attrs, _ := syscall.ParseNetlinkRouteAttr(&m)
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				l.Name = cstring(a.Value)
			case unix.IFLA_MTU:
				l.MTU = binary.LittleEndian.Uint32(a.Value)
			case unix.IFLA_ADDRESS:
				l.MAC = tcpip.LinkAddress(a.Value)
			case unix.IFLA_QDISC:
				l.Qdisc = cstring(a.Value)
			}
		}
		links = append(links, l)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var addrs []HostAddr
	err = dump(unix.RTM_GETADDR, unix.AF_UNSPEC, func(m syscall.NetlinkMessage) {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			return
		}
		ifa := (*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
		a := HostAddr{Index: int32(ifa.Index), Flags: ifa.Flags, Scope: ifa.Scope}
		attrs, _ := syscall.ParseNetlinkRouteAttr(&m)
		var addr, local netip.Addr
		for _, at := range attrs {
			v, _ := netip.AddrFromSlice(at.Value)
			switch at.Attr.Type {
			case unix.IFA_ADDRESS:
				addr = v
			case unix.IFA_LOCAL:
				local = v
			case unix.IFA_BROADCAST:
				a.Broadcast = v
			}
		}
		if local.IsValid() {
			addr = local
		}
		if !addr.IsValid() {
			return
		}
		a.Prefix = netip.PrefixFrom(addr, int(ifa.Prefixlen))
		addrs = append(addrs, a)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var routes []HostRoute
	err = dump(unix.RTM_GETROUTE, unix.AF_UNSPEC, func(m syscall.NetlinkMessage) {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			return
		}
		rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
		if rt.Table != unix.RT_TABLE_MAIN || rt.Type != unix.RTN_UNICAST {
			return
		}
		r := HostRoute{}
		attrs, _ := syscall.ParseNetlinkRouteAttr(&m)
		var dst netip.Addr
		for _, at := range attrs {
			switch at.Attr.Type {
			case unix.RTA_DST:
				dst, _ = netip.AddrFromSlice(at.Value)
			case unix.RTA_GATEWAY:
				r.Gateway, _ = netip.AddrFromSlice(at.Value)
			case unix.RTA_OIF:
				r.OIF = int32(binary.LittleEndian.Uint32(at.Value))
			case unix.RTA_PRIORITY:
				r.Priority = binary.LittleEndian.Uint32(at.Value)
			}
		}
		if !dst.IsValid() {
			if rt.Family == unix.AF_INET {
				dst = netip.IPv4Unspecified()
			} else {
				dst = netip.IPv6Unspecified()
			}
		}
		r.Dst = netip.PrefixFrom(dst, int(rt.Dst_len))
		routes = append(routes, r)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	// Most specific routes first, as the stack matches in order.
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].Dst.Bits() > routes[j].Dst.Bits() })
	return links, addrs, routes, nil
}

// dump runs one NETLINK_ROUTE dump request and calls fn per message.
func dump(typ, family int, fn func(syscall.NetlinkMessage)) error {
	b, err := syscall.NetlinkRIB(typ, family)
	if err != nil {
		return fmt.Errorf("netlink dump %d: %w", typ, err)
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		fn(m)
	}
	return nil
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// deleteHostAddr removes a from its host interface (RTM_DELADDR).
func deleteHostAddr(a HostAddr) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	addr := a.Prefix.Addr().AsSlice()
	fam := uint8(unix.AF_INET6)
	if a.Prefix.Addr().Is4() {
		fam = unix.AF_INET
	}
	attr := func(typ uint16, v []byte) []byte {
		b := make([]byte, (4+len(v)+3)&^3)
		binary.LittleEndian.PutUint16(b, uint16(4+len(v)))
		binary.LittleEndian.PutUint16(b[2:], typ)
		copy(b[4:], v)
		return b
	}
	body := []byte{fam, uint8(a.Prefix.Bits()), 0, a.Scope, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(body[4:], uint32(a.Index))
	body = append(body, attr(unix.IFA_LOCAL, addr)...)
	body = append(body, attr(unix.IFA_ADDRESS, addr)...)
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	msg = append(msg, body...)
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	binary.LittleEndian.PutUint16(msg[4:], unix.RTM_DELADDR)
	binary.LittleEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.LittleEndian.PutUint32(msg[8:], 1)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if e := int32(binary.LittleEndian.Uint32(m.Data)); e != 0 && unix.Errno(-e) != unix.EADDRNOTAVAIL {
				return unix.Errno(-e)
			}
		}
	}
	return nil
}
