package netlink

import (
	"encoding/binary"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
)

// Changer is a Source whose configuration NETLINK_ROUTE may change (a
// network namespace's own stack, where the namespace's owner has
// CAP_NET_ADMIN). Change applies one RTM_NEW*/RTM_DEL*/RTM_SET* request
// and returns Linux's errno: EPERM without the capability, EOPNOTSUPP for
// what the source does not change.
type Changer interface {
	Change(ctx *socket.Context, typ, flags uint16, payload []byte) error
}

// LinkChange is an RTM_NEWLINK/RTM_SETLINK request: the interface (by
// index, or by IFLA_IFNAME when the index is 0) and the flags to change
// (ifi_change; 0 means all of them, as Linux reads an old request).
type LinkChange struct {
	Index         int32
	Name          string
	Flags, Change uint32
}

// ParseLinkChange decodes an ifinfomsg and its IFLA_IFNAME.
func ParseLinkChange(payload []byte) (LinkChange, error) {
	if len(payload) < ifinfomsgLen {
		return LinkChange{}, unix.EINVAL
	}
	r := request{payload: payload}
	index, name := linkFilter(&r)
	c := LinkChange{
		Index:  index,
		Name:   name,
		Flags:  binary.LittleEndian.Uint32(payload[8:]),
		Change: binary.LittleEndian.Uint32(payload[12:]),
	}
	if c.Change == 0 {
		c.Change = ^uint32(0)
	}
	return c, nil
}

// AddrChange is an RTM_NEWADDR/RTM_DELADDR request.
type AddrChange struct {
	Family    uint8
	PrefixLen uint8
	Index     int32
	// Local is IFA_LOCAL, or IFA_ADDRESS without it.
	Local []byte
}

// ParseAddrChange decodes an ifaddrmsg and its address attributes.
func ParseAddrChange(payload []byte) (AddrChange, error) {
	if len(payload) < ifaddrmsgLen {
		return AddrChange{}, unix.EINVAL
	}
	c := AddrChange{Family: payload[0], PrefixLen: payload[1], Index: int32(binary.LittleEndian.Uint32(payload[4:]))}
	var address []byte
	for a := payload[ifaddrmsgLen:]; len(a) >= 4; {
		l := int(binary.LittleEndian.Uint16(a))
		if l < 4 || l > len(a) {
			return AddrChange{}, unix.EINVAL
		}
		switch binary.LittleEndian.Uint16(a[2:]) {
		case unix.IFA_LOCAL:
			c.Local = append([]byte(nil), a[4:l]...)
		case unix.IFA_ADDRESS:
			address = append([]byte(nil), a[4:l]...)
		}
		if align4(l) >= len(a) {
			break
		}
		a = a[align4(l):]
	}
	if c.Local == nil {
		c.Local = address
	}
	return c, nil
}
