package inet

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/syserr"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Sizes of the INET socket addresses.
const (
	sockaddrInSize  = 16 // struct sockaddr_in
	sockaddrIn6Size = 28 // struct sockaddr_in6
	// sin6LenRFC2133 is the size of a sockaddr_in6 without sin6_scope_id,
	// which Linux still accepts.
	sin6LenRFC2133 = 24
)

// sockaddr is a decoded INET socket address.
type sockaddr struct {
	family uint16
	addr   tcpip.FullAddress
}

// parseSockaddr decodes b as the address of a call on a socket of domain,
// by the family b names. It checks only what every call checks (length
// and a known family); the calls apply their own family rules (bindAddr,
// peerAddr). AF_UNSPEC is returned with an empty address.
func parseSockaddr(domain int, b []byte) (sockaddr, error) {
	if len(b) < 2 {
		return sockaddr{}, unix.EINVAL
	}
	fam := binary.LittleEndian.Uint16(b)
	switch fam {
	case unix.AF_INET, unix.AF_INET6:
		sa, err := decodeAs(fam, b)
		return sa, err
	case unix.AF_UNSPEC:
		if domain == unix.AF_INET && len(b) >= sockaddrInSize {
			// inet_bind's exception: AF_UNSPEC with INADDR_ANY.
			sa, err := decodeAs(unix.AF_INET, b)
			sa.family = unix.AF_UNSPEC
			return sa, err
		}
		return sockaddr{family: fam}, nil
	}
	return sockaddr{family: fam}, unix.EAFNOSUPPORT
}

// decodeAs decodes b as a sockaddr_in (fam AF_INET) or sockaddr_in6,
// whatever its family field says: EINVAL when it is too short.
func decodeAs(fam uint16, b []byte) (sockaddr, error) {
	if fam == unix.AF_INET {
		if len(b) < sockaddrInSize {
			return sockaddr{}, unix.EINVAL
		}
		var a [4]byte
		copy(a[:], b[4:8])
		fa := tcpip.FullAddress{Port: binary.BigEndian.Uint16(b[2:])}
		if a != ([4]byte{}) {
			fa.Addr = tcpip.AddrFrom4(a)
		}
		return sockaddr{family: fam, addr: fa}, nil
	}
	if len(b) < sin6LenRFC2133 {
		return sockaddr{}, unix.EINVAL
	}
	var a [16]byte
	copy(a[:], b[8:24])
	fa := tcpip.FullAddress{Port: binary.BigEndian.Uint16(b[2:])}
	if a != ([16]byte{}) {
		fa.Addr = tcpip.AddrFrom16(a)
	}
	if len(b) >= sockaddrIn6Size && header.IsV6LinkLocalUnicastAddress(fa.Addr) {
		fa.NIC = tcpip.NICID(binary.LittleEndian.Uint32(b[24:]))
	}
	return sockaddr{family: fam, addr: fa}, nil
}

// v4Mapped returns the IPv4-mapped IPv6 form of a (a v6 socket's endpoint
// takes IPv4 addresses that way); the empty (any) address maps to
// ::ffff:0.0.0.0.
func v4Mapped(a tcpip.Address) tcpip.Address {
	var b [16]byte
	b[10], b[11] = 0xff, 0xff
	if a.BitLen() == 32 {
		v := a.As4()
		copy(b[12:], v[:])
	}
	return tcpip.AddrFrom16(b)
}

// bindAddr decodes bind(2)'s address as inet_bind and inet6_bind do.
func (s *sock) bindAddr(b []byte) (tcpip.FullAddress, error) {
	return bindAddr(s.domain, s.domain == unix.AF_INET6 && s.ep.SocketOptions().GetV6Only(), b)
}

// bindAddr decodes bind(2)'s address for a socket of domain (IPv6-only
// when v6only).
func bindAddr(domain int, v6only bool, b []byte) (tcpip.FullAddress, error) {
	if domain == unix.AF_INET {
		if len(b) < sockaddrInSize {
			return tcpip.FullAddress{}, unix.EINVAL
		}
		fam := binary.LittleEndian.Uint16(b)
		sa, err := decodeAs(unix.AF_INET, b)
		if err != nil {
			return tcpip.FullAddress{}, err
		}
		switch {
		case fam == unix.AF_INET:
		case fam == unix.AF_UNSPEC && sa.addr.Addr.BitLen() == 0:
		default:
			return tcpip.FullAddress{}, unix.EAFNOSUPPORT
		}
		return sa.addr, nil
	}
	if len(b) < sin6LenRFC2133 {
		return tcpip.FullAddress{}, unix.EINVAL
	}
	sa, err := parseSockaddr(domain, b)
	if err != nil && err != unix.EAFNOSUPPORT {
		return tcpip.FullAddress{}, err
	}
	if sa.family != unix.AF_INET6 {
		return tcpip.FullAddress{}, unix.EAFNOSUPPORT
	}
	if isV4Mapped(sa.addr.Addr) && v6only {
		return tcpip.FullAddress{}, unix.EINVAL
	}
	return sa.addr, nil
}

// isV4Mapped reports whether a is an IPv4-mapped IPv6 address.
func isV4Mapped(a tcpip.Address) bool {
	if a.BitLen() != 128 {
		return false
	}
	b := a.As16()
	for _, x := range b[:10] {
		if x != 0 {
			return false
		}
	}
	return b[10] == 0xff && b[11] == 0xff
}

// peerAddr decodes the address of connect(2) or sendto(2) (a destination)
// as tcp_v4_connect, ip4_datagram_connect, udp_sendmsg and their IPv6
// versions do. unspec reports an AF_UNSPEC address (connect: dissolve the
// association).
func (s *sock) peerAddr(b []byte, connect bool) (addr tcpip.FullAddress, unspec bool, err error) {
	return peerAddr(s.domain, s.isStream(), s.domain == unix.AF_INET6 && s.ep.SocketOptions().GetV6Only(), b, connect)
}

// peerAddr decodes a destination for a socket of domain (a stream one
// when stream, IPv6-only when v6only).
func peerAddr(domain int, stream, v6only bool, b []byte, connect bool) (addr tcpip.FullAddress, unspec bool, err error) {
	if len(b) < 2 {
		return addr, false, unix.EINVAL
	}
	fam := binary.LittleEndian.Uint16(b)
	if fam == unix.AF_UNSPEC && (connect || domain == unix.AF_INET) {
		if connect {
			return addr, true, nil
		}
		// udp_sendmsg treats AF_UNSPEC as AF_INET.
	}
	if domain == unix.AF_INET {
		if len(b) < sockaddrInSize {
			return addr, false, unix.EINVAL
		}
		if fam != unix.AF_INET && fam != unix.AF_UNSPEC {
			return addr, false, unix.EAFNOSUPPORT
		}
		sa, err := decodeAs(unix.AF_INET, b)
		return sa.addr, false, err
	}
	// AF_INET6: a datagram socket also takes AF_INET addresses, unless
	// it is IPv6-only.
	if fam == unix.AF_INET && !stream {
		if v6only {
			if connect {
				return addr, false, unix.EAFNOSUPPORT
			}
			return addr, false, unix.ENETUNREACH
		}
		sa, err := decodeAs(unix.AF_INET, b)
		if err != nil {
			return addr, false, err
		}
		sa.addr.Addr = v4Mapped(sa.addr.Addr)
		return sa.addr, false, nil
	}
	if len(b) < sin6LenRFC2133 {
		return addr, false, unix.EINVAL
	}
	if fam != unix.AF_INET6 {
		return addr, false, unix.EAFNOSUPPORT
	}
	sa, err := decodeAs(unix.AF_INET6, b)
	if err != nil {
		return addr, false, err
	}
	if isV4Mapped(sa.addr.Addr) && v6only {
		return addr, false, unix.ENETUNREACH
	}
	return sa.addr, false, nil
}

// encodeAddr returns a as a socket address of domain: a sockaddr_in, or a
// sockaddr_in6 (IPv4 addresses in their mapped form, link-local ones with
// their interface as scope).
func encodeAddr(domain int, a tcpip.FullAddress) []byte {
	if domain == unix.AF_INET {
		b := make([]byte, sockaddrInSize)
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], a.Port)
		if a.Addr.BitLen() == 32 {
			v := a.Addr.As4()
			copy(b[4:], v[:])
		} else if isV4Mapped(a.Addr) {
			v := a.Addr.As16()
			copy(b[4:], v[12:])
		}
		return b
	}
	b := make([]byte, sockaddrIn6Size)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], a.Port)
	switch a.Addr.BitLen() {
	case 32:
		m := v4Mapped(a.Addr)
		copy(b[8:], m.AsSlice())
	case 128:
		copy(b[8:], a.Addr.AsSlice())
		if header.IsV6LinkLocalUnicastAddress(a.Addr) {
			binary.LittleEndian.PutUint32(b[24:], uint32(a.NIC))
		}
	}
	return b
}

// translate turns a tcpip error into the errno Linux returns.
func translate(err tcpip.Error) error {
	if err == nil {
		return nil
	}
	switch err.(type) {
	case *tcpip.ErrWouldBlock:
		return unix.EAGAIN
	case *tcpip.ErrClosedForReceive:
		return nil
	}
	e := syserr.TranslateNetstackError(err)
	if e == nil {
		return nil
	}
	return unix.Errno(e.ToLinux())
}
