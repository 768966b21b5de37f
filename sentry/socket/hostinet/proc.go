package hostinet

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
)

// ProcFiles implements socket.ProcFiler (on AF_INET only): the sandbox's
// own sockets in /proc/net/tcp, tcp6, udp and udp6 (their state from the
// host), the host's interface files (the sandbox uses the host's
// network), and softnet_stat for the NET_RX work of host readiness.
func (f *Family) ProcFiles() []socket.ProcFile {
	if f.domain != unix.AF_INET {
		return nil
	}
	n := f.net
	host := func(name string) socket.ProcFile {
		return socket.ProcFile{Path: name, Read: func() string { return readAt(n.procNet, name) }}
	}
	files := []socket.ProcFile{
		{Path: "tcp", Read: func() string { return n.table(unix.AF_INET, unix.SOCK_STREAM) }},
		{Path: "tcp6", Read: func() string { return n.table(unix.AF_INET6, unix.SOCK_STREAM) }},
		{Path: "udp", Read: func() string { return n.table(unix.AF_INET, unix.SOCK_DGRAM) }},
		{Path: "udp6", Read: func() string { return n.table(unix.AF_INET6, unix.SOCK_DGRAM) }},
		{Path: "softnet_stat", Read: n.softnetStat},
		host("dev"), host("if_inet6"), host("route"), host("snmp"), host("netstat"), host("sockstat"),
	}
	for _, sys := range []string{"ipv4/ip_local_port_range", "ipv4/tcp_rmem", "ipv4/tcp_wmem", "ipv4/ping_group_range", "ipv4/ip_default_ttl"} {
		sys := sys
		files = append(files, socket.ProcFile{Path: sys, Sys: true, Read: func() string { return readAt(n.procSysNet, sys) }})
	}
	return files
}

// readAt reads the host file name under the directory descriptor dir (""
// when it cannot).
func readAt(dir int, name string) string {
	if dir < 0 {
		return ""
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	return string(b)
}

// softnetStat renders /proc/net/softnet_stat from the host-readiness
// NET_RX counters.
func (n *Net) softnetStat() string {
	var b strings.Builder
	for i, l := range n.cpus {
		fmt.Fprintf(&b, "%08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x\n",
			uint32(l.processed.Load()), 0, uint32(l.timeSqueeze.Load()), 0, 0, 0, 0, 0, 0, 0, 0, 0, i, 0, 0)
	}
	return b.String()
}

// procAddr renders a sockaddr as /proc/net/tcp does.
func procAddr(sa []byte) string {
	if len(sa) >= 16 && binary.LittleEndian.Uint16(sa) == unix.AF_INET {
		return fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(sa[4:8]), binary.BigEndian.Uint16(sa[2:]))
	}
	if len(sa) >= 24 && binary.LittleEndian.Uint16(sa) == unix.AF_INET6 {
		return fmt.Sprintf("%08X%08X%08X%08X:%04X", binary.LittleEndian.Uint32(sa[8:]), binary.LittleEndian.Uint32(sa[12:]),
			binary.LittleEndian.Uint32(sa[16:]), binary.LittleEndian.Uint32(sa[20:]), binary.BigEndian.Uint16(sa[2:]))
	}
	return "00000000:0000"
}

// table renders the sandbox's host sockets of a family and type.
func (n *Net) table(domain, stype int) string {
	n.mu.Lock()
	var socks []*sock
	for _, s := range n.socks {
		if s.domain == domain && s.stype == stype {
			socks = append(socks, s)
		}
	}
	n.mu.Unlock()
	sort.Slice(socks, func(i, j int) bool { return socks[i].ino < socks[j].ino })
	var b strings.Builder
	if stype == unix.SOCK_STREAM {
		b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	} else {
		b.WriteString("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n")
	}
	for i, s := range socks {
		local, _ := s.SockName(nil)
		remote, err := s.PeerName(nil)
		if err != nil {
			remote = make([]byte, len(local))
			if len(remote) >= 2 {
				copy(remote, local[:2])
			}
		}
		state := 7 // TCP_CLOSE
		if stype == unix.SOCK_STREAM {
			if info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				state = int(info.State)
			}
		} else if err == nil {
			state = 1 // a connected datagram socket: ESTABLISHED
		}
		rx, _ := unix.IoctlGetInt(s.fd, unix.SIOCINQ)
		tx, _ := unix.IoctlGetInt(s.fd, unix.SIOCOUTQ)
		s.mu.Lock()
		ino := s.ino
		s.mu.Unlock()
		fmt.Fprintf(&b, "%4d: %s %s %02X %08X:%08X 00:00000000 00000000 %5d %8d %d\n",
			i, procAddr(local), procAddr(remote), state, tx, rx, 0, 0, ino)
	}
	return b.String()
}
