package netlink

import (
	"encoding/binary"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"io"

	"golang.org/x/sys/unix"
)

// errShortWrite is what a receive buffer too small for a datagram gives.
var errShortWrite = io.ErrShortWrite

// Sizes of the fixed parts of rtnetlink messages.
const (
	nlmsgHdrLen   = 16
	ifinfomsgLen  = 16
	ifaddrmsgLen  = 8
	rtmsgLen      = 12
	fibRuleHdrLen = 12
	// dumpChunk is how many bytes of a dump one datagram carries
	// (NLMSG_GOODSIZE on 4 KiB pages): every reader's buffer takes it.
	dumpChunk = 3776
)

func align4(n int) int { return (n + 3) &^ 3 }

// msg builds one netlink message.
type msg struct {
	b []byte
}

func newMsg(typ, flags uint16, seq, port uint32, fixed int) *msg {
	m := &msg{b: make([]byte, nlmsgHdrLen+fixed, 256)}
	binary.LittleEndian.PutUint16(m.b[4:], typ)
	binary.LittleEndian.PutUint16(m.b[6:], flags)
	binary.LittleEndian.PutUint32(m.b[8:], seq)
	binary.LittleEndian.PutUint32(m.b[12:], port)
	return m
}

// body returns the fixed part after the header.
func (m *msg) body() []byte { return m.b[nlmsgHdrLen:] }

func (m *msg) attr(typ uint16, data []byte) {
	l := 4 + len(data)
	m.b = append(m.b, make([]byte, align4(l))...)
	a := m.b[len(m.b)-align4(l):]
	binary.LittleEndian.PutUint16(a, uint16(l))
	binary.LittleEndian.PutUint16(a[2:], typ)
	copy(a[4:], data)
}

func (m *msg) attrU32(typ uint16, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	m.attr(typ, b[:])
}

func (m *msg) attrU8(typ uint16, v uint8) { m.attr(typ, []byte{v}) }

func (m *msg) attrString(typ uint16, s string) { m.attr(typ, append([]byte(s), 0)) }

func (m *msg) done() []byte {
	binary.LittleEndian.PutUint32(m.b, uint32(len(m.b)))
	return m.b
}

// request is one parsed netlink message.
type request struct {
	typ, flags uint16
	seq        uint32
	raw        []byte // the whole message
	payload    []byte
}

// forEachRequest answers every request in buf with answer and returns the
// reply datagrams.
func forEachRequest(buf []byte, answer func(r *request) [][]byte) [][]byte {
	var out [][]byte
	for len(buf) >= nlmsgHdrLen {
		l := int(binary.LittleEndian.Uint32(buf))
		if l < nlmsgHdrLen || l > len(buf) {
			break
		}
		r := request{
			typ:     binary.LittleEndian.Uint16(buf[4:]),
			flags:   binary.LittleEndian.Uint16(buf[6:]),
			seq:     binary.LittleEndian.Uint32(buf[8:]),
			raw:     buf[:l],
			payload: buf[nlmsgHdrLen:l],
		}
		out = append(out, answer(&r)...)
		if align4(l) >= len(buf) {
			break
		}
		buf = buf[align4(l):]
	}
	return out
}

// answer answers one request.
func answer(ctx *socket.Context, src Source, r *request, port uint32) [][]byte {
	if r.flags&unix.NLM_F_REQUEST == 0 || r.typ < unix.NLMSG_MIN_TYPE {
		if r.flags&unix.NLM_F_ACK != 0 {
			return [][]byte{errorMsg(r, port, 0)}
		}
		return nil
	}
	dump := r.flags&unix.NLM_F_DUMP == unix.NLM_F_DUMP
	var msgs [][]byte
	var err error
	switch r.typ {
	case unix.RTM_GETLINK:
		msgs, err = getLink(src, r, port, dump)
	case unix.RTM_GETADDR:
		if !dump {
			err = unix.EOPNOTSUPP
			break
		}
		msgs = dumpAddrs(src, r, port)
	case unix.RTM_GETROUTE:
		if dump {
			msgs = dumpRoutes(src, r, port)
		} else {
			msgs, err = getRoute(src, r, port)
		}
	case unix.RTM_GETRULE:
		if !dump {
			err = unix.EOPNOTSUPP
			break
		}
		msgs = dumpRules(r, port)
	case unix.RTM_GETNEIGH, unix.RTM_GETQDISC, unix.RTM_GETTCLASS, unix.RTM_GETTFILTER, unix.RTM_GETNETCONF,
		unix.RTM_GETNSID, unix.RTM_GETADDRLABEL, unix.RTM_GETMULTICAST, unix.RTM_GETANYCAST, unix.RTM_GETNEIGHTBL:
		if !dump {
			err = unix.EOPNOTSUPP
			break
		}
	default:
		if ch, ok := src.(Changer); ok && isChange(r.typ) {
			err = ch.Change(ctx, r.typ, r.flags, r.payload)
		} else if isChange(r.typ) {
			// No CAP_NET_ADMIN over the sandbox's network.
			err = unix.EPERM
		} else {
			err = unix.EOPNOTSUPP
		}
	}
	if err != nil {
		return [][]byte{errorMsg(r, port, err.(unix.Errno))}
	}
	var out [][]byte
	if dump {
		out = pack(append(msgs, doneMsg(r, port)))
	} else {
		out = msgs
	}
	if r.flags&unix.NLM_F_ACK != 0 {
		out = append(out, errorMsg(r, port, 0))
	}
	return out
}

// isChange reports whether typ is an RTM_NEW*, RTM_DEL* or RTM_SET*.
func isChange(typ uint16) bool {
	if typ < unix.RTM_BASE || typ > unix.RTM_MAX {
		return false
	}
	switch (typ - unix.RTM_BASE) % 4 {
	case 0, 1: // NEW, DEL
		return true
	case 3: // SET (RTM_SETLINK...)
		return true
	}
	return false
}

// pack puts the messages of a dump into datagrams of at most dumpChunk
// bytes (a message larger than that goes alone).
func pack(msgs [][]byte) [][]byte {
	var out [][]byte
	var cur []byte
	for _, m := range msgs {
		if len(cur) > 0 && len(cur)+len(m) > dumpChunk {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, m...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// errorMsg is NLMSG_ERROR for r: err 0 is an acknowledgement (carrying
// only the request's header), otherwise the request is echoed whole.
func errorMsg(r *request, port uint32, err unix.Errno) []byte {
	echo := r.raw
	if err == 0 {
		echo = r.raw[:nlmsgHdrLen]
	}
	flags := uint16(0)
	if err == 0 {
		flags = 0x100 // NLM_F_CAPPED
	}
	m := newMsg(unix.NLMSG_ERROR, flags, r.seq, port, 4+len(echo))
	binary.LittleEndian.PutUint32(m.body(), uint32(-int32(err)))
	copy(m.body()[4:], echo)
	return m.done()
}

func doneMsg(r *request, port uint32) []byte {
	m := newMsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, r.seq, port, 4)
	return m.done()
}

// filterIndex and filterName read an RTM_GETLINK request's interface.
func linkFilter(r *request) (index int32, name string) {
	if len(r.payload) >= ifinfomsgLen {
		index = int32(binary.LittleEndian.Uint32(r.payload[4:]))
		for a := r.payload[ifinfomsgLen:]; len(a) >= 4; {
			l := int(binary.LittleEndian.Uint16(a))
			if l < 4 || l > len(a) {
				break
			}
			if binary.LittleEndian.Uint16(a[2:]) == unix.IFLA_IFNAME {
				v := a[4:l]
				for i, c := range v {
					if c == 0 {
						v = v[:i]
						break
					}
				}
				name = string(v)
			}
			if align4(l) >= len(a) {
				break
			}
			a = a[align4(l):]
		}
	}
	return
}

func getLink(src Source, r *request, port uint32, dump bool) ([][]byte, error) {
	var out [][]byte
	index, name := linkFilter(r)
	flags := uint16(0)
	if dump {
		flags = unix.NLM_F_MULTI
	}
	for _, l := range src.Links() {
		if !dump {
			if (index != 0 && l.Index != index) || (index == 0 && name != l.Name) {
				continue
			}
		}
		out = append(out, linkMsg(&l, r.seq, port, flags))
	}
	if !dump && len(out) == 0 {
		return nil, unix.ENODEV
	}
	return out, nil
}

// linkMsg is RTM_NEWLINK for l, with the attributes ip link prints.
func linkMsg(l *Link, seq, port uint32, flags uint16) []byte {
	m := newMsg(unix.RTM_NEWLINK, flags, seq, port, ifinfomsgLen)
	b := m.body()
	b[0] = unix.AF_UNSPEC
	binary.LittleEndian.PutUint16(b[2:], l.ARPType)
	binary.LittleEndian.PutUint32(b[4:], uint32(l.Index))
	binary.LittleEndian.PutUint32(b[8:], l.Flags)
	m.attrString(unix.IFLA_IFNAME, l.Name)
	m.attrU32(unix.IFLA_TXQLEN, l.TxQLen)
	m.attrU8(unix.IFLA_OPERSTATE, l.OperState)
	m.attrU8(unix.IFLA_LINKMODE, 0)
	m.attrU32(unix.IFLA_MTU, l.MTU)
	m.attrU32(unix.IFLA_GROUP, 0)
	m.attrU32(unix.IFLA_PROMISCUITY, 0)
	m.attrU32(unix.IFLA_NUM_TX_QUEUES, 1)
	m.attrU32(unix.IFLA_NUM_RX_QUEUES, 1)
	carrier := uint8(0)
	if l.Flags&unix.IFF_LOWER_UP != 0 {
		carrier = 1
	}
	m.attrU8(unix.IFLA_CARRIER, carrier)
	if l.Qdisc != "" {
		m.attrString(unix.IFLA_QDISC, l.Qdisc)
	}
	if l.HW != nil {
		m.attr(unix.IFLA_ADDRESS, l.HW)
		m.attr(unix.IFLA_BROADCAST, l.Broadcast)
	}
	st := l.Stats
	s64 := make([]byte, 8*25)
	for i, v := range []uint64{st.RxPackets, st.TxPackets, st.RxBytes, st.TxBytes, st.RxErrors, st.TxErrors, st.RxDropped, st.TxDropped, st.Multicast} {
		binary.LittleEndian.PutUint64(s64[8*i:], v)
	}
	m.attr(unix.IFLA_STATS64, s64)
	s32 := make([]byte, 4*24)
	for i := 0; i < 9; i++ {
		binary.LittleEndian.PutUint32(s32[4*i:], uint32(binary.LittleEndian.Uint64(s64[8*i:])))
	}
	m.attr(unix.IFLA_STATS, s32)
	return m.done()
}

// requestFamily returns the address family a dump request asks for (its
// first byte; 0 for all).
func requestFamily(r *request) uint8 {
	if len(r.payload) >= 1 {
		return r.payload[0]
	}
	return 0
}

func dumpAddrs(src Source, r *request, port uint32) [][]byte {
	fam := requestFamily(r)
	var out [][]byte
	for _, a := range src.Addrs() {
		if fam != 0 && a.Family != fam {
			continue
		}
		out = append(out, addrMsg(&a, r.seq, port))
	}
	return out
}

// addrMsg is RTM_NEWADDR for a.
func addrMsg(a *Addr, seq, port uint32) []byte {
	m := newMsg(unix.RTM_NEWADDR, unix.NLM_F_MULTI, seq, port, ifaddrmsgLen)
	b := m.body()
	b[0], b[1], b[2], b[3] = a.Family, a.PrefixLen, a.Flags, a.Scope
	binary.LittleEndian.PutUint32(b[4:], uint32(a.Index))
	m.attr(unix.IFA_ADDRESS, a.Addr)
	if a.Family == unix.AF_INET {
		m.attr(unix.IFA_LOCAL, a.Addr)
		if a.Broadcast != nil {
			m.attr(unix.IFA_BROADCAST, a.Broadcast)
		}
		m.attrString(unix.IFA_LABEL, a.Label)
	}
	m.attrU32(unix.IFA_FLAGS, uint32(a.Flags))
	ci := make([]byte, 16) // struct ifa_cacheinfo: forever
	binary.LittleEndian.PutUint32(ci[0:], 0xffffffff)
	binary.LittleEndian.PutUint32(ci[4:], 0xffffffff)
	m.attr(unix.IFA_CACHEINFO, ci)
	return m.done()
}

func dumpRoutes(src Source, r *request, port uint32) [][]byte {
	fam := requestFamily(r)
	var out [][]byte
	for _, rt := range src.Routes() {
		if fam != 0 && rt.Family != fam {
			continue
		}
		out = append(out, routeMsg(&rt, r.seq, port, unix.NLM_F_MULTI))
	}
	return out
}

// routeMsg is RTM_NEWROUTE for rt.
func routeMsg(rt *Route, seq, port uint32, flags uint16) []byte {
	m := newMsg(unix.RTM_NEWROUTE, flags, seq, port, rtmsgLen)
	b := m.body()
	b[0], b[1], b[2], b[3] = rt.Family, rt.DstLen, 0, 0
	b[4], b[5], b[6], b[7] = rt.Table, rt.Protocol, rt.Scope, rt.Type
	m.attrU32(unix.RTA_TABLE, uint32(rt.Table))
	if rt.Dst != nil && rt.DstLen > 0 {
		m.attr(unix.RTA_DST, rt.Dst)
	}
	if rt.Family == unix.AF_INET6 || rt.Priority != 0 {
		m.attrU32(unix.RTA_PRIORITY, rt.Priority)
	}
	if rt.PrefSrc != nil {
		m.attr(unix.RTA_PREFSRC, rt.PrefSrc)
	}
	if rt.Gateway != nil {
		m.attr(unix.RTA_GATEWAY, rt.Gateway)
	}
	if rt.OIF != 0 {
		m.attrU32(unix.RTA_OIF, uint32(rt.OIF))
	}
	if rt.Family == unix.AF_INET6 {
		m.attrU8(unix.RTA_PREF, 0)
	}
	return m.done()
}

// getRoute answers `ip route get ADDR`: the route the destination takes
// (most specific, main table before local).
func getRoute(src Source, r *request, port uint32) ([][]byte, error) {
	if len(r.payload) < rtmsgLen {
		return nil, unix.EINVAL
	}
	fam := r.payload[0]
	var dst []byte
	for a := r.payload[rtmsgLen:]; len(a) >= 4; {
		l := int(binary.LittleEndian.Uint16(a))
		if l < 4 || l > len(a) {
			break
		}
		if binary.LittleEndian.Uint16(a[2:]) == unix.RTA_DST {
			dst = append([]byte(nil), a[4:l]...)
		}
		if align4(l) >= len(a) {
			break
		}
		a = a[align4(l):]
	}
	if dst == nil {
		return nil, unix.EINVAL
	}
	var best *Route
	for _, rt := range src.Routes() {
		rt := rt
		if rt.Family != fam || rt.Type == unix.RTN_BROADCAST || rt.Type == unix.RTN_MULTICAST || !prefixContains(rt.Dst, rt.DstLen, dst) {
			continue
		}
		if best == nil || rt.DstLen > best.DstLen || (rt.DstLen == best.DstLen && rt.Table == unix.RT_TABLE_LOCAL) {
			best = &rt
		}
	}
	if best == nil {
		return nil, unix.ENETUNREACH
	}
	out := *best
	out.Dst, out.DstLen = dst, uint8(8*len(dst))
	if out.PrefSrc == nil {
		for _, a := range src.Addrs() {
			if a.Index == out.OIF && a.Family == fam {
				out.PrefSrc = a.Addr
				break
			}
		}
	}
	return [][]byte{routeMsg(&out, r.seq, port, 0)}, nil
}

// prefixContains reports whether addr is in prefix/bits.
func prefixContains(prefix []byte, bits uint8, addr []byte) bool {
	if bits == 0 {
		return true
	}
	if len(prefix) != len(addr) {
		return false
	}
	for i := 0; i < int(bits); i++ {
		bit := byte(0x80 >> (i % 8))
		if prefix[i/8]&bit != addr[i/8]&bit {
			return false
		}
	}
	return true
}

// dumpRules answers RTM_GETRULE: Linux's three default IPv4 rules
// (lookup local, main, default), the only ones the sandbox has.
func dumpRules(r *request, port uint32) [][]byte {
	fam := requestFamily(r)
	var out [][]byte
	for _, f := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if fam != 0 && fam != f {
			continue
		}
		rules := []struct {
			prio  uint32
			table uint8
		}{{0, unix.RT_TABLE_LOCAL}, {32766, unix.RT_TABLE_MAIN}, {32767, unix.RT_TABLE_DEFAULT}}
		for _, rl := range rules {
			if f == unix.AF_INET6 && rl.table == unix.RT_TABLE_DEFAULT {
				continue
			}
			m := newMsg(unix.RTM_NEWRULE, unix.NLM_F_MULTI, r.seq, port, fibRuleHdrLen)
			b := m.body()
			b[0] = f
			b[4] = rl.table
			b[7] = unix.FR_ACT_TO_TBL
			m.attrU32(unix.FRA_TABLE, uint32(rl.table))
			if rl.prio != 0 {
				m.attrU32(unix.FRA_PRIORITY, rl.prio)
			}
			m.attrU8(unix.FRA_PROTOCOL, unix.RTPROT_KERNEL)
			out = append(out, m.done())
		}
	}
	return out
}
