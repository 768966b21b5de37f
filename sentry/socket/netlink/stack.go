package netlink

import (
	"bytes"
	"sort"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// Route protocols, scopes and metrics as Linux gives the routes it makes
// for an address.
const (
	rtprotKernel     = 2
	rtprotBoot       = 3
	rtScopeUniverse  = 0
	rtScopeLink      = 253
	rtScopeHost      = 254
	ifaFPermanent    = 0x80
	ifOperUnknown    = 0
	ifOperDown       = 2
	ifOperUp         = 6
	ipv6PrefixMetric = 256
)

// StackSource is the sandbox stack's configuration as NETLINK_ROUTE shows
// it: its devices, their addresses, and the routes Linux would have made
// for them (local and broadcast routes in the local table, prefix routes
// in the main table) plus the stack's gateway routes.
type StackSource struct {
	Stack *net.Stack
}

// Links implements Source.
func (s StackSource) Links() []Link {
	var out []Link
	for _, d := range s.Stack.Devices() {
		st := d.Stats()
		l := Link{
			Index:   d.Index(),
			Name:    d.Name(),
			Flags:   d.Flags(),
			MTU:     d.MTU(),
			ARPType: d.ARPType(),
			TxQLen:  uint32(d.TxQueueLen()),
			Qdisc:   d.Qdisc(),
			Stats: LinkStats{
				RxPackets: st.RxPackets, TxPackets: st.TxPackets, RxBytes: st.RxBytes, TxBytes: st.TxBytes,
				RxErrors: st.RxErrors, TxErrors: st.TxErrors, RxDropped: st.RxDropped, TxDropped: st.TxDropped,
				Multicast: st.RxMulticast,
			},
		}
		if d.IsLoopback() {
			l.HW, l.Broadcast = make([]byte, 6), make([]byte, 6)
			l.OperState = ifOperUnknown
			if d.Flags()&unix.IFF_UP == 0 {
				l.OperState = ifOperDown
			}
		} else {
			l.HW = d.HardwareAddr()
			l.Broadcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			l.OperState = ifOperUp
		}
		out = append(out, l)
	}
	return out
}

// Addrs implements Source.
func (s StackSource) Addrs() []Addr {
	var v4, v6 []Addr
	for _, d := range s.Stack.Devices() {
		for _, pa := range s.Stack.Addresses(d) {
			a := pa.AddressWithPrefix
			ad := Addr{
				PrefixLen: uint8(a.PrefixLen),
				Flags:     ifaFPermanent,
				Scope:     net.AddrScope(a.Address),
				Index:     d.Index(),
				Addr:      a.Address.AsSlice(),
				Label:     d.Name(),
			}
			if bc, ok := s.Stack.Broadcast(d, a.Address); ok {
				ad.Broadcast = bc.AsSlice()
			}
			if pa.Protocol == ipv4.ProtocolNumber {
				ad.Family = unix.AF_INET
				v4 = append(v4, ad)
			} else {
				ad.Family = unix.AF_INET6
				v6 = append(v6, ad)
			}
		}
	}
	return append(v4, v6...)
}

// Routes implements Source.
func (s StackSource) Routes() []Route {
	var main, local []Route
	for _, d := range s.Stack.Devices() {
		idx := d.Index()
		for _, pa := range s.Stack.Addresses(d) {
			a := pa.AddressWithPrefix
			addr := a.Address.AsSlice()
			sub := a.Subnet()
			id := sub.ID()
			if pa.Protocol == ipv4.ProtocolNumber {
				local = append(local, Route{Family: unix.AF_INET, DstLen: 32, Table: unix.RT_TABLE_LOCAL, Protocol: rtprotKernel,
					Scope: rtScopeHost, Type: unix.RTN_LOCAL, Dst: addr, PrefSrc: addr, OIF: idx})
				prefix := Route{Family: unix.AF_INET, DstLen: uint8(a.PrefixLen), Protocol: rtprotKernel, Dst: id.AsSlice(), PrefSrc: addr, OIF: idx}
				if d.IsLoopback() {
					prefix.Table, prefix.Scope, prefix.Type = unix.RT_TABLE_LOCAL, rtScopeHost, unix.RTN_LOCAL
					local = append(local, prefix)
				} else if a.PrefixLen < 32 {
					prefix.Table, prefix.Scope, prefix.Type = unix.RT_TABLE_MAIN, rtScopeLink, unix.RTN_UNICAST
					main = append(main, prefix)
				}
				if a.PrefixLen < 31 {
					bc := sub.Broadcast()
					local = append(local, Route{Family: unix.AF_INET, DstLen: 32, Table: unix.RT_TABLE_LOCAL, Protocol: rtprotKernel,
						Scope: rtScopeLink, Type: unix.RTN_BROADCAST, Dst: bc.AsSlice(), PrefSrc: addr, OIF: idx})
				}
				continue
			}
			local = append(local, Route{Family: unix.AF_INET6, DstLen: 128, Table: unix.RT_TABLE_LOCAL, Protocol: rtprotKernel,
				Scope: rtScopeUniverse, Type: unix.RTN_LOCAL, Dst: addr, OIF: idx})
			if !d.IsLoopback() && a.PrefixLen < 128 {
				main = append(main, Route{Family: unix.AF_INET6, DstLen: uint8(a.PrefixLen), Table: unix.RT_TABLE_MAIN, Protocol: rtprotKernel,
					Scope: rtScopeUniverse, Type: unix.RTN_UNICAST, Dst: id.AsSlice(), OIF: idx, Priority: ipv6PrefixMetric})
			}
		}
	}
	for _, r := range s.Stack.Routes() {
		if r.Gateway.BitLen() == 0 {
			continue
		}
		gw := r.Gateway
		rt := Route{Table: unix.RT_TABLE_MAIN, Protocol: rtprotBoot, Scope: rtScopeUniverse, Type: unix.RTN_UNICAST,
			Gateway: gw.AsSlice(), OIF: int32(r.NIC), DstLen: uint8(r.Destination.Prefix())}
		if id := r.Destination.ID(); rt.DstLen > 0 {
			rt.Dst = id.AsSlice()
		}
		if r.Gateway.BitLen() == 32 {
			rt.Family = unix.AF_INET
		} else {
			rt.Family, rt.Priority = unix.AF_INET6, 1024
		}
		main = append(main, rt)
	}
	// The kernel's FIB dumps each table in address order, a prefix
	// before the longer prefixes inside it.
	sortRoutes(main)
	sortRoutes(local)
	return append(main, local...)
}

// sortRoutes orders routes by family, destination and prefix length.
func sortRoutes(rs []Route) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Family != b.Family {
			return a.Family < b.Family
		}
		if c := bytes.Compare(a.Dst, b.Dst); c != 0 {
			return c < 0
		}
		return a.DstLen < b.DstLen
	})
}

// NamespaceSource is the stack of a network namespace made by
// CLONE_NEWNET: its configuration is shown as StackSource's, and changed
// by the holders of CAP_NET_ADMIN in the user namespace that owns it
// (Linux's rtnetlink_rcv_msg checks netlink_net_capable). It brings
// loopback devices up and down (RTM_NEWLINK, RTM_SETLINK) and adds and
// removes their addresses (RTM_NEWADDR, RTM_DELADDR), what unshare -n, bwrap --unshare-net and
// systemd's PrivateNetwork do; other changes are EOPNOTSUPP.
type NamespaceSource struct {
	StackSource
	Owner *auth.UserNamespace
}

// Change implements Changer.
func (s NamespaceSource) Change(ctx *socket.Context, typ, flags uint16, payload []byte) error {
	if ctx != nil && !ctx.Creds.HasCapabilityIn(s.Owner, linux.CAP_NET_ADMIN) {
		return unix.EPERM
	}
	switch typ {
	case unix.RTM_NEWLINK, unix.RTM_SETLINK:
		c, err := ParseLinkChange(payload)
		if err != nil {
			return err
		}
		d := s.Stack.DeviceByIndex(c.Index)
		if c.Index == 0 && c.Name != "" {
			d = s.Stack.DeviceByName(c.Name)
		}
		if d == nil {
			return unix.ENODEV
		}
		if typ == unix.RTM_NEWLINK && flags&unix.NLM_F_CREATE != 0 && flags&unix.NLM_F_EXCL != 0 {
			return unix.EEXIST
		}
		if c.Change&unix.IFF_UP == 0 {
			return nil
		}
		return errno(s.Stack.SetUp(d, c.Flags&unix.IFF_UP != 0))
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		c, err := ParseAddrChange(payload)
		if err != nil {
			return err
		}
		d := s.Stack.DeviceByIndex(c.Index)
		if d == nil {
			return unix.ENODEV
		}
		var pa tcpip.ProtocolAddress
		switch {
		case c.Family == unix.AF_INET && len(c.Local) == 4 && c.PrefixLen <= 32:
			pa.Protocol = ipv4.ProtocolNumber
			pa.AddressWithPrefix = tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4Slice(c.Local), PrefixLen: int(c.PrefixLen)}
		case c.Family == unix.AF_INET6 && len(c.Local) == 16 && c.PrefixLen <= 128:
			pa.Protocol = ipv6.ProtocolNumber
			pa.AddressWithPrefix = tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16Slice(c.Local), PrefixLen: int(c.PrefixLen)}
		default:
			return unix.EINVAL
		}
		if !d.IsLoopback() {
			return unix.EOPNOTSUPP
		}
		if typ == unix.RTM_DELADDR {
			return errno(s.Stack.RemoveAddress(d, pa.AddressWithPrefix.Address))
		}
		if s.Stack.HasAddress(d, pa.AddressWithPrefix.Address) {
			if flags&unix.NLM_F_EXCL != 0 {
				return unix.EEXIST
			}
			return nil
		}
		return errno(s.Stack.AddAddress(d, pa))
	}
	return unix.EOPNOTSUPP
}

// errno turns a stack error into the errno NETLINK_ROUTE answers.
func errno(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EINVAL
}
