package inet

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzSockaddr feeds arbitrary socket addresses to the decoding of bind,
// connect and sendto for every kind of INET socket: it must never panic,
// must only fail with the errnos Linux uses for addresses, and what it
// accepts must be an address of the right size that encodes back to
// itself.
func FuzzSockaddr(f *testing.F) {
	v4 := make([]byte, 16)
	binary.LittleEndian.PutUint16(v4, unix.AF_INET)
	copy(v4[4:], []byte{127, 0, 0, 1})
	v6 := make([]byte, 28)
	binary.LittleEndian.PutUint16(v6, unix.AF_INET6)
	v6[23] = 1
	mapped := append([]byte(nil), v6...)
	copy(mapped[8:24], []byte{10: 0xff, 11: 0xff, 12: 127, 15: 1})
	for _, seed := range [][]byte{v4, v4[:15], v6, v6[:24], v6[:23], mapped, {0, 0}, {}, {2}, make([]byte, 128)} {
		for sel := byte(0); sel < 16; sel++ {
			f.Add(sel, seed)
		}
	}
	allowed := map[error]bool{nil: true, unix.EINVAL: true, unix.EAFNOSUPPORT: true, unix.ENETUNREACH: true}
	f.Fuzz(func(t *testing.T, sel byte, b []byte) {
		domain := unix.AF_INET
		if sel&1 != 0 {
			domain = unix.AF_INET6
		}
		stream, v6only, connect := sel&2 != 0, sel&4 != 0, sel&8 != 0
		a, err := bindAddr(domain, v6only, b)
		if !allowed[err] {
			t.Fatalf("bind: unexpected error %v", err)
		}
		if err == nil {
			checkAddr(t, domain, a.Addr.BitLen())
		}
		p, unspec, err := peerAddr(domain, stream, v6only, b, connect)
		if !allowed[err] {
			t.Fatalf("peer: unexpected error %v", err)
		}
		if err == nil && !unspec {
			checkAddr(t, domain, p.Addr.BitLen())
			enc := encodeAddr(domain, p)
			back, _, err := peerAddr(domain, stream, false, enc, connect)
			if err != nil || back.Port != p.Port {
				t.Fatalf("%x encodes to %x, which decodes to %+v, %v", b, enc, back, err)
			}
		}
	})
}

func checkAddr(t *testing.T, domain, bits int) {
	t.Helper()
	switch {
	case bits == 0:
	case domain == unix.AF_INET && bits == 32:
	case domain == unix.AF_INET6 && bits == 128:
	default:
		t.Fatalf("a %d-bit address for domain %d", bits, domain)
	}
}
