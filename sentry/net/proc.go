package net

import (
	"encoding/binary"
	"fmt"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// The device-level files of /proc/net, in Linux's formats.

// ProcDev renders /proc/net/dev (dev_seq_show): the devices' counters.
func (s *Stack) ProcDev() string {
	var b strings.Builder
	b.WriteString("Inter-|   Receive                                                |  Transmit\n")
	b.WriteString(" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")
	for _, d := range s.Devices() {
		st := d.Stats()
		fmt.Fprintf(&b, "%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
			d.name, st.RxBytes, st.RxPackets, st.RxErrors, st.RxDropped, 0, 0, 0, st.RxMulticast,
			st.TxBytes, st.TxPackets, st.TxErrors, st.TxDropped, 0, 0, 0, 0)
	}
	return b.String()
}

// IPv6 address flags and scopes of /proc/net/if_inet6 and netlink.
const (
	ifaPermanent    = 0x80
	rtScopeUniverse = 0
	rtScopeLink     = 253
	rtScopeHost     = 254
)

// AddrScope returns the RT_SCOPE_* of an address (host for loopback,
// link for link-local, universe otherwise).
func AddrScope(a tcpip.Address) uint8 {
	switch {
	case a.BitLen() == 32 && a.As4()[0] == 127, a == header.IPv6Loopback:
		return rtScopeHost
	case header.IsV6LinkLocalUnicastAddress(a), a.BitLen() == 32 && a.As4()[0] == 169 && a.As4()[1] == 254:
		return rtScopeLink
	}
	return rtScopeUniverse
}

// ProcIfInet6 renders /proc/net/if_inet6: every IPv6 address with its
// interface index, prefix length, scope (Linux's IPV6_ADDR_* scope bits)
// and flags.
func (s *Stack) ProcIfInet6() string {
	var b strings.Builder
	for _, d := range s.Devices() {
		for _, pa := range s.Addresses(d) {
			if pa.Protocol != ipv6.ProtocolNumber {
				continue
			}
			a := pa.AddressWithPrefix.Address.As16()
			scope := 0x00 // global
			switch AddrScope(pa.AddressWithPrefix.Address) {
			case rtScopeHost:
				scope = 0x10 // IPV6_ADDR_LOOPBACK
			case rtScopeLink:
				scope = 0x20 // IPV6_ADDR_LINKLOCAL
			}
			fmt.Fprintf(&b, "%x %02x %02x %02x %02x %8s\n", a[:], d.index, pa.AddressWithPrefix.PrefixLen, scope, ifaPermanent, d.name)
		}
	}
	return b.String()
}

// Route flags of /proc/net/route.
const (
	rtfUp      = 0x1
	rtfGateway = 0x2
	rtfHost    = 0x4
)

// ProcRoute renders /proc/net/route: the IPv4 routes of the main table
// (routes to loopback addresses are the local table's in Linux and are not
// shown, as there).
func (s *Stack) ProcRoute() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-127s\n", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT")
	for _, r := range s.Routes() {
		if r.Destination.ID().BitLen() != 32 || isLoopbackRoute(r) {
			continue
		}
		d := s.DeviceByIndex(int32(r.NIC))
		if d == nil {
			continue
		}
		flags := rtfUp
		gw := uint32(0)
		if r.Gateway.BitLen() == 32 {
			flags |= rtfGateway
			g := r.Gateway.As4()
			gw = binary.LittleEndian.Uint32(g[:])
		}
		if r.Destination.Prefix() == 32 {
			flags |= rtfHost
		}
		dst := r.Destination.ID().As4()
		mask := r.Destination.Mask()
		line := fmt.Sprintf("%s\t%08X\t%08X\t%04X\t%d\t%d\t%d\t%08X\t%d\t%d\t%d",
			d.name, binary.LittleEndian.Uint32(dst[:]), gw, flags, 0, 0, 0, binary.LittleEndian.Uint32(mask.AsSlice()), r.MTU, 0, 0)
		fmt.Fprintf(&b, "%-127s\n", line)
	}
	return b.String()
}

// isLoopbackRoute reports whether r is one of lo's own routes.
func isLoopbackRoute(r tcpip.Route) bool { return r.NIC == LoopbackIndex }

// ProcSnmp renders /proc/net/snmp from the stack's counters.
func (s *Stack) ProcSnmp(tcpCurrEstab, udpInUse int) string {
	st := s.tcpip.Stats()
	ip := st.IP
	icmp := st.ICMP.V4
	tcp := st.TCP
	udp := st.UDP
	var b strings.Builder
	fmt.Fprintf(&b, "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits\n")
	fmt.Fprintf(&b, "Ip: 2 %d %d %d %d 0 0 0 %d %d %d 0 0 0 0 0 0 0 0 %d\n", DefaultTTL,
		ip.PacketsReceived.Value(), ip.MalformedPacketsReceived.Value(), ip.InvalidDestinationAddressesReceived.Value(),
		ip.PacketsDelivered.Value(), ip.PacketsSent.Value(), ip.OutgoingPacketErrors.Value(), ip.PacketsSent.Value())
	in, out := icmp.PacketsReceived, icmp.PacketsSent
	inMsgs := in.EchoRequest.Value() + in.EchoReply.Value() + in.DstUnreachable.Value() + in.SrcQuench.Value() + in.Redirect.Value() +
		in.TimeExceeded.Value() + in.ParamProblem.Value() + in.Timestamp.Value() + in.TimestampReply.Value()
	outMsgs := out.EchoRequest.Value() + out.EchoReply.Value() + out.DstUnreachable.Value() + out.SrcQuench.Value() + out.Redirect.Value() +
		out.TimeExceeded.Value() + out.ParamProblem.Value() + out.Timestamp.Value() + out.TimestampReply.Value()
	fmt.Fprintf(&b, "Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps\n")
	fmt.Fprintf(&b, "Icmp: %d %d 0 %d %d %d %d %d %d %d %d %d 0 0 %d %d %d 0 %d %d %d %d %d %d %d %d %d 0 0\n",
		inMsgs, in.Invalid.Value(), in.DstUnreachable.Value(), in.TimeExceeded.Value(), in.ParamProblem.Value(), in.SrcQuench.Value(),
		in.Redirect.Value(), in.EchoRequest.Value(), in.EchoReply.Value(), in.Timestamp.Value(), in.TimestampReply.Value(),
		outMsgs, out.Dropped.Value(), out.RateLimited.Value(), out.DstUnreachable.Value(), out.TimeExceeded.Value(), out.ParamProblem.Value(),
		out.SrcQuench.Value(), out.Redirect.Value(), out.EchoRequest.Value(), out.EchoReply.Value(), out.Timestamp.Value(), out.TimestampReply.Value())
	fmt.Fprintf(&b, "IcmpMsg: InType0 InType8 OutType0 OutType8\n")
	fmt.Fprintf(&b, "IcmpMsg: %d %d %d %d\n", in.EchoReply.Value(), in.EchoRequest.Value(), out.EchoReply.Value(), out.EchoRequest.Value())
	fmt.Fprintf(&b, "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n")
	fmt.Fprintf(&b, "Tcp: 1 200 120000 -1 %d %d %d %d %d %d %d %d %d %d %d\n",
		tcp.ActiveConnectionOpenings.Value(), tcp.PassiveConnectionOpenings.Value(), tcp.FailedConnectionAttempts.Value(),
		tcp.EstablishedResets.Value(), tcpCurrEstab, tcp.ValidSegmentsReceived.Value(), tcp.SegmentsSent.Value(),
		tcp.Retransmits.Value(), tcp.InvalidSegmentsReceived.Value(), tcp.ResetsSent.Value(), tcp.ChecksumErrors.Value())
	fmt.Fprintf(&b, "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n")
	fmt.Fprintf(&b, "Udp: %d %d %d %d %d %d %d 0 0\n",
		udp.PacketsReceived.Value(), udp.UnknownPortErrors.Value(), udp.MalformedPacketsReceived.Value()+udp.ReceiveBufferErrors.Value(),
		udp.PacketsSent.Value(), udp.ReceiveBufferErrors.Value(), udp.PacketSendErrors.Value(), udp.ChecksumErrors.Value())
	fmt.Fprintf(&b, "UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n")
	fmt.Fprintf(&b, "UdpLite: 0 0 0 0 0 0 0 0 0\n")
	return b.String()
}

// ProcNetstat renders /proc/net/netstat: the TcpExt and IpExt counters
// the stack keeps (the others are zero).
func (s *Stack) ProcNetstat() string {
	st := s.tcpip.Stats()
	tcp := st.TCP
	var b strings.Builder
	b.WriteString("TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPSackRecovery\n")
	fmt.Fprintf(&b, "TcpExt: %d %d %d 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 %d %d %d %d %d %d\n",
		tcp.ListenOverflowSynCookieSent.Value(), tcp.ListenOverflowSynCookieRcvd.Value(), tcp.ListenOverflowInvalidSynCookieRcvd.Value(),
		tcp.ListenOverflowSynDrop.Value(), tcp.ListenOverflowSynDrop.Value()+tcp.ListenOverflowAckDrop.Value(),
		tcp.FastRetransmit.Value(), tcp.SlowStartRetransmits.Value(), tcp.Timeouts.Value(), tcp.SACKRecovery.Value())
	b.WriteString("IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps\n")
	var rx, tx uint64
	for _, d := range s.Devices() {
		ds := d.Stats()
		rx += ds.RxBytes
		tx += ds.TxBytes
	}
	fmt.Fprintf(&b, "IpExt: 0 0 0 0 0 0 %d %d 0 0 0 0 0 %d 0 0 0 0\n", rx, tx, st.IP.PacketsReceived.Value())
	return b.String()
}
