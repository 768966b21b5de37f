package netlink

import (
	"encoding/binary"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"golang.org/x/sys/unix"
)

// fakeSource is a loopback-only configuration.
type fakeSource struct{}

func (fakeSource) Links() []Link {
	return []Link{{Index: 1, Name: "lo", Flags: unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING | unix.IFF_LOWER_UP,
		MTU: 65536, ARPType: unix.ARPHRD_LOOPBACK, HW: make([]byte, 6), Broadcast: make([]byte, 6), TxQLen: 1000, Qdisc: "noqueue"}}
}

func (fakeSource) Addrs() []Addr {
	return []Addr{{Family: unix.AF_INET, PrefixLen: 8, Flags: 0x80, Scope: 254, Index: 1, Addr: []byte{127, 0, 0, 1}, Label: "lo"}}
}

func (fakeSource) Routes() []Route {
	return []Route{{Family: unix.AF_INET, DstLen: 8, Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Dst: []byte{127, 0, 0, 0}, OIF: 1}}
}

func buildRequest(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, 16+len(payload))
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	binary.LittleEndian.PutUint16(b[4:], typ)
	binary.LittleEndian.PutUint16(b[6:], flags)
	binary.LittleEndian.PutUint32(b[8:], seq)
	copy(b[16:], payload)
	return b
}

// messages splits a datagram into (type, payload) pairs.
func messages(t *testing.T, d []byte) (types []uint16, payloads [][]byte) {
	for len(d) >= 16 {
		l := int(binary.LittleEndian.Uint32(d))
		if l < 16 || l > len(d) {
			t.Fatalf("bad message length %d of %d", l, len(d))
		}
		types = append(types, binary.LittleEndian.Uint16(d[4:]))
		payloads = append(payloads, d[16:l])
		d = d[align4(l):]
	}
	return
}

// TestDumps sends the requests getifaddrs sends (a link dump, then an
// address dump) and a change, and checks the replies' shape.
func TestDumps(t *testing.T) {
	f := NewFamily(fakeSource{})
	ctx := &socket.Context{Cred: socket.Credentials{PID: 42}}
	s, err := f.Socket(ctx, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if _, err := f.Socket(ctx, unix.SOCK_RAW, unix.NETLINK_AUDIT); err != unix.EPROTONOSUPPORT {
		t.Errorf("NETLINK_AUDIT: %v, want EPROTONOSUPPORT", err)
	}
	sendReq := func(b []byte) {
		if _, err := s.SendMsg(ctx, usermem.BytesSequence(b), &socket.SendOptions{Blocking: &socket.Blocking{}}); err != nil {
			t.Fatal(err)
		}
	}
	recvAll := func() (types []uint16, payloads [][]byte) {
		for {
			buf := make([]byte, 8192)
			r, err := s.RecvMsg(ctx, usermem.BytesSequence(buf), &socket.RecvOptions{Blocking: &socket.Blocking{NonBlock: true}})
			if err == unix.EAGAIN {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ty, pl := messages(t, buf[:r.N])
			types, payloads = append(types, ty...), append(payloads, pl...)
		}
	}
	sendReq(buildRequest(unix.RTM_GETLINK, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, 1, make([]byte, 16)))
	types, payloads := recvAll()
	if len(types) != 2 || types[0] != unix.RTM_NEWLINK || types[1] != unix.NLMSG_DONE {
		t.Fatalf("link dump: types %v", types)
	}
	if idx := binary.LittleEndian.Uint32(payloads[0][4:]); idx != 1 {
		t.Errorf("link index %d", idx)
	}
	sn, _ := s.SockName(ctx)
	if port := binary.LittleEndian.Uint32(sn[4:]); port != 42 {
		t.Errorf("autobound port %d, want the pid 42", port)
	}
	sendReq(buildRequest(unix.RTM_GETADDR, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, 2, []byte{unix.AF_INET, 0, 0, 0, 0, 0, 0, 0}))
	types, payloads = recvAll()
	if len(types) != 2 || types[0] != unix.RTM_NEWADDR || payloads[0][1] != 8 {
		t.Fatalf("address dump: types %v", types)
	}
	// A change is refused with EPERM, and acknowledged as an error.
	sendReq(buildRequest(unix.RTM_NEWADDR, unix.NLM_F_REQUEST|unix.NLM_F_ACK, 3, make([]byte, 8)))
	types, payloads = recvAll()
	if len(types) != 1 || types[0] != unix.NLMSG_ERROR || int32(binary.LittleEndian.Uint32(payloads[0])) != -int32(unix.EPERM) {
		t.Fatalf("RTM_NEWADDR: types %v", types)
	}
	// MSG_PEEK|MSG_TRUNC reports the datagram's size without taking it.
	sendReq(buildRequest(unix.RTM_GETROUTE, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, 4, make([]byte, 12)))
	r, err := s.RecvMsg(ctx, usermem.BytesSequence(nil), &socket.RecvOptions{Flags: unix.MSG_PEEK | unix.MSG_TRUNC, Blocking: &socket.Blocking{}})
	if err != nil || r.MsgLen == 0 || r.Flags&unix.MSG_TRUNC == 0 {
		t.Fatalf("peek: %+v %v", r, err)
	}
	types, _ = recvAll()
	if len(types) != 2 || types[0] != unix.RTM_NEWROUTE {
		t.Fatalf("route dump after peek: types %v", types)
	}
}
