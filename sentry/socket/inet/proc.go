package inet

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// ProcFiles implements socket.ProcFiler: the INET socket tables, the
// stack's and devices' counters under /proc/net, and the sysctls programs
// read under /proc/sys/net. Only the AF_INET family answers (the two
// families share one stack).
func (f *Family) ProcFiles() []socket.ProcFile {
	if f.domain != unix.AF_INET {
		return nil
	}
	n := f.net
	st := n.Stack
	files := []socket.ProcFile{
		{Path: "tcp", Read: func() string { return n.procTCP(unix.AF_INET) }},
		{Path: "tcp6", Read: func() string { return n.procTCP(unix.AF_INET6) }},
		{Path: "udp", Read: func() string { return n.procUDP(unix.AF_INET) }},
		{Path: "udp6", Read: func() string { return n.procUDP(unix.AF_INET6) }},
		{Path: "sockstat", Read: n.procSockstat},
		{Path: "sockstat6", Read: n.procSockstat6},
		{Path: "snmp", Read: func() string { est, udp := n.counts(); return st.ProcSnmp(est, udp) }},
		{Path: "netstat", Read: st.ProcNetstat},
		{Path: "dev", Read: st.ProcDev},
		{Path: "if_inet6", Read: st.ProcIfInet6},
		{Path: "route", Read: st.ProcRoute},
		{Path: "softnet_stat", Read: st.SoftnetStat},
	}
	sys := func(path string, read func() string) {
		files = append(files, socket.ProcFile{Path: path, Sys: true, Read: read})
	}
	rw := func(path string, read func() string, write func([]byte) error) {
		files = append(files, socket.ProcFile{Path: path, Sys: true, Read: read, Write: write})
	}
	static := func(path, v string) { sys(path, func() string { return v + "\n" }) }
	rw("ipv4/ip_local_port_range", func() string {
		lo, hi := st.TCPIP().PortRange()
		return fmt.Sprintf("%d\t%d\n", lo, hi)
	}, func(data []byte) error {
		// ipv4_local_port_range: each in 1..65535, low <= high, and
		// low not below ip_unprivileged_port_start.
		lo, hi := st.TCPIP().PortRange()
		v, err := socket.ParseSysctlInts(data, 2)
		if err != nil {
			return err
		}
		r := [2]int64{int64(lo), int64(hi)}
		copy(r[:], v)
		if r[0] < 1 || r[1] > 65535 || r[1] < 1 || r[0] > 65535 || r[1] < r[0] || r[0] < int64(n.unprivPortStart.Load()) {
			return unix.EINVAL
		}
		return translate(st.TCPIP().SetPortRange(uint16(r[0]), uint16(r[1])))
	})
	rw("ipv4/tcp_rmem", func() string { return n.bufRange(&n.rmem) }, func(data []byte) error {
		// Measured on Linux 6.18: tcp_rmem refuses values below 4096.
		return n.setBufRange(&n.rmem, data, 4096)
	})
	rw("ipv4/tcp_wmem", func() string { return n.bufRange(&n.wmem) }, func(data []byte) error {
		return n.setBufRange(&n.wmem, data, 1)
	})
	rw("ipv4/ping_group_range", func() string {
		n.pingMu.Lock()
		defer n.pingMu.Unlock()
		return fmt.Sprintf("%d\t%d\n", n.pingLow, n.pingHigh)
	}, func(data []byte) error {
		// ipv4_ping_group_range: GIDs 0..2^31-1; a high below the
		// low disables ICMP sockets ("1 0").
		v, err := socket.ParseSysctlInts(data, 2)
		if err != nil {
			return err
		}
		n.pingMu.Lock()
		defer n.pingMu.Unlock()
		r := [2]int64{int64(n.pingLow), int64(n.pingHigh)}
		copy(r[:], v)
		if r[0] < 0 || r[1] < 0 {
			return unix.EINVAL
		}
		if r[1] < r[0] {
			r = [2]int64{1, 0}
		}
		n.pingLow, n.pingHigh = uint32(r[0]), uint32(r[1])
		return nil
	})
	sys("ipv4/tcp_sack", func() string {
		var o tcpip.TCPSACKEnabled
		st.TCPIP().TransportProtocolOption(tcp.ProtocolNumber, &o)
		if o {
			return "1\n"
		}
		return "0\n"
	})
	static("ipv4/ip_default_ttl", fmt.Sprint(net.DefaultTTL))
	rw("ipv4/ip_forward", func() string {
		return fmt.Sprintf("%d\n", n.ipForward.Load())
	}, func(data []byte) error {
		v, err := socket.ParseSysctlInts(data, 1)
		if err != nil {
			return err
		}
		if err := st.TCPIP().SetForwardingDefaultAndAllNICs(ipv4.ProtocolNumber, v[0] != 0); err != nil {
			return translate(err)
		}
		n.ipForward.Store(v[0])
		return nil
	})
	rw("ipv4/ip_unprivileged_port_start", func() string {
		return fmt.Sprintf("%d\n", n.unprivPortStart.Load())
	}, func(data []byte) error {
		// ipv4_privileged_ports: 0..65535, and not above the local
		// port range's low end.
		v, err := socket.ParseSysctlInts(data, 1)
		if err != nil {
			return err
		}
		lo, _ := st.TCPIP().PortRange()
		if v[0] < 0 || v[0] > 65535 || v[0] > int64(lo) {
			return unix.EINVAL
		}
		n.unprivPortStart.Store(uint32(v[0]))
		return nil
	})
	static("ipv4/tcp_syncookies", "1")
	static("ipv4/tcp_timestamps", "1")
	static("ipv4/tcp_window_scaling", "1")
	static("ipv4/tcp_keepalive_time", "7200")
	static("ipv4/tcp_keepalive_intvl", "75")
	static("ipv4/tcp_keepalive_probes", "9")
	static("ipv4/tcp_fin_timeout", "60")
	static("ipv4/tcp_congestion_control", "reno")
	static("ipv4/tcp_available_congestion_control", "reno cubic")
	static("ipv4/tcp_max_syn_backlog", "4096")
	static("ipv6/conf/all/disable_ipv6", "0")
	static("ipv6/conf/default/disable_ipv6", "0")
	static("ipv6/bindv6only", "0")
	static("core/netdev_budget", fmt.Sprint(net.NetdevBudget))
	static("core/netdev_budget_usecs", fmt.Sprint(net.NetdevBudgetTime.Microseconds()))
	static("core/netdev_max_backlog", fmt.Sprint(net.MaxBacklog))
	static("core/dev_weight", "64")
	return files
}

// bufRange renders tcp_rmem or tcp_wmem.
func (n *Net) bufRange(r *[3]int64) string {
	n.memMu.Lock()
	defer n.memMu.Unlock()
	return fmt.Sprintf("%d\t%d\t%d\n", r[0], r[1], r[2])
}

// setBufRange is a write to tcp_rmem (r == &n.rmem) or tcp_wmem: up to
// three values (min, default, max), each at least least (Linux keeps them
// as written, in any order); the stack gets them ordered.
func (n *Net) setBufRange(r *[3]int64, data []byte, least int64) error {
	v, err := socket.ParseSysctlInts(data, 3)
	if err != nil {
		return err
	}
	n.memMu.Lock()
	defer n.memMu.Unlock()
	nr := *r
	copy(nr[:], v)
	for _, x := range nr {
		if x < least {
			return unix.EINVAL
		}
	}
	*r = nr
	lo, hi := int(nr[0]), max(int(nr[0]), int(nr[2]))
	def := min(max(int(nr[1]), lo), hi)
	var terr tcpip.Error
	if r == &n.rmem {
		terr = n.Stack.TCPIP().SetTransportProtocolOption(tcp.ProtocolNumber, &tcpip.TCPReceiveBufferSizeRangeOption{Min: lo, Default: def, Max: hi})
	} else {
		terr = n.Stack.TCPIP().SetTransportProtocolOption(tcp.ProtocolNumber, &tcpip.TCPSendBufferSizeRangeOption{Min: lo, Default: def, Max: hi})
	}
	if terr != nil {
		return translate(terr)
	}
	return nil
}

// counts returns the number of established TCP connections and of UDP
// sockets.
func (n *Net) counts() (tcpEstab, udp int) {
	for _, s := range n.sockets() {
		switch {
		case s.isStream():
			st := linuxTCPState(s.ep.State())
			if st == int(tcp.StateEstablished) || st == int(tcp.StateCloseWait) {
				tcpEstab++
			}
		case s.isUDP():
			udp++
		}
	}
	return
}

// procAddr renders an address as /proc/net/tcp does: the IPv4 address's
// 32 bits as a native-endian word, an IPv6 address as four such words,
// then the port.
func procAddr(domain int, a tcpip.FullAddress) string {
	if domain == unix.AF_INET {
		var v [4]byte
		switch {
		case a.Addr.BitLen() == 32:
			v = a.Addr.As4()
		case isV4Mapped(a.Addr):
			b := a.Addr.As16()
			copy(v[:], b[12:])
		}
		return fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(v[:]), a.Port)
	}
	var v [16]byte
	switch a.Addr.BitLen() {
	case 32:
		v = v4Mapped(a.Addr).As16()
	case 128:
		v = a.Addr.As16()
	}
	return fmt.Sprintf("%08X%08X%08X%08X:%04X", binary.LittleEndian.Uint32(v[0:]), binary.LittleEndian.Uint32(v[4:]),
		binary.LittleEndian.Uint32(v[8:]), binary.LittleEndian.Uint32(v[12:]), a.Port)
}

// tableEntry is one socket's row.
type tableEntry struct {
	s      *sock
	state  int
	local  tcpip.FullAddress
	remote tcpip.FullAddress
	ino    uint64
	uid    uint32
}

// table returns the live sockets of transport trans and domain, listening
// ones first, then by inode.
func (n *Net) table(domain int, trans tcpip.TransportProtocolNumber) []tableEntry {
	var out []tableEntry
	for _, s := range n.sockets() {
		if s.domain != domain || s.trans != trans || s.stype == unix.SOCK_RAW {
			continue
		}
		e := tableEntry{s: s}
		e.local, _ = s.ep.GetLocalAddress()
		e.remote, _ = s.ep.GetRemoteAddress()
		s.mu.Lock()
		e.ino, e.uid = s.ino, s.uid
		s.mu.Unlock()
		if s.isStream() {
			e.state = linuxTCPState(s.ep.State())
		} else if e.remote.Port != 0 {
			e.state = int(tcp.StateEstablished)
		} else {
			e.state = int(tcp.StateClose)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		li, lj := out[i].state == int(tcp.StateListen), out[j].state == int(tcp.StateListen)
		if li != lj {
			return li
		}
		return out[i].ino < out[j].ino
	})
	return out
}

// procTCP renders /proc/net/tcp or tcp6 (tcp4_seq_show, tcp6_seq_show).
func (n *Net) procTCP(domain int) string {
	var b strings.Builder
	if domain == unix.AF_INET {
		fmt.Fprintf(&b, "%-149s\n", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode")
	} else {
		b.WriteString("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	}
	for i, e := range n.table(domain, tcp.ProtocolNumber) {
		var tx int
		if ep, ok := e.s.ep.(*tcp.Endpoint); ok {
			tx, _ = tcpOutq(ep)
		}
		rx, _ := e.s.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
		if e.state == int(tcp.StateListen) {
			tx, rx = 0, 0
		}
		line := fmt.Sprintf("%4d: %s %s %02X %08X:%08X %02X:%08X %08X %5d %8d %d 1 0000000000000000 20 4 0 10 -1",
			i, procAddr(domain, e.local), procAddr(domain, e.remote), e.state, tx, rx, 0, 0, 0, e.uid, 0, e.ino)
		if domain == unix.AF_INET {
			fmt.Fprintf(&b, "%-149s\n", line)
		} else {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// procUDP renders /proc/net/udp or udp6 (udp4_seq_show, udp6_seq_show).
func (n *Net) procUDP(domain int) string {
	var b strings.Builder
	if domain == unix.AF_INET {
		fmt.Fprintf(&b, "%-127s\n", "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops")
	} else {
		b.WriteString("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n")
	}
	for i, e := range n.table(domain, udpProto) {
		rx, _ := e.s.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
		line := fmt.Sprintf("%5d: %s %s %02X %08X:%08X %02X:%08X %08X %5d %8d %d 2 0000000000000000 0",
			i, procAddr(domain, e.local), procAddr(domain, e.remote), e.state, 0, rx, 0, 0, 0, e.uid, 0, e.ino)
		if domain == unix.AF_INET {
			fmt.Fprintf(&b, "%-127s\n", line)
		} else {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// procSockstat renders /proc/net/sockstat.
func (n *Net) procSockstat() string {
	var tcp4, udp4, raw4, used int
	for _, s := range n.sockets() {
		used++
		if s.domain != unix.AF_INET {
			continue
		}
		switch {
		case s.isStream():
			tcp4++
		case s.isUDP():
			udp4++
		case s.stype == unix.SOCK_RAW:
			raw4++
		}
	}
	return fmt.Sprintf("sockets: used %d\nTCP: inuse %d orphan 0 tw 0 alloc %d mem 0\nUDP: inuse %d mem 0\nUDPLITE: inuse 0\nRAW: inuse %d\nFRAG: inuse 0 memory 0\n",
		used, tcp4, tcp4, udp4, raw4)
}

// procSockstat6 renders /proc/net/sockstat6.
func (n *Net) procSockstat6() string {
	var tcp6, udp6, raw6 int
	for _, s := range n.sockets() {
		if s.domain != unix.AF_INET6 {
			continue
		}
		switch {
		case s.isStream():
			tcp6++
		case s.isUDP():
			udp6++
		case s.stype == unix.SOCK_RAW:
			raw6++
		}
	}
	return fmt.Sprintf("TCP6: inuse %d\nUDP6: inuse %d\nUDPLITE6: inuse 0\nRAW6: inuse %d\nFRAG6: inuse 0 memory 0\n", tcp6, udp6, raw6)
}
