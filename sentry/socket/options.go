package socket

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
)

// Buffer sizes, as Linux's net.core sysctls and sock.h constants. The
// sandbox has the defaults of a fresh Linux network namespace.
const (
	// WmemDefault and RmemDefault are a new socket's SO_SNDBUF and
	// SO_RCVBUF (/proc/sys/net/core/{w,r}mem_default).
	WmemDefault = 212992
	RmemDefault = 212992
	// WmemMax and RmemMax bound what setsockopt may ask for (before
	// Linux doubles it).
	WmemMax = 212992
	RmemMax = 212992
	// MinSndbuf and MinRcvbuf are SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF
	// on x86-64.
	MinSndbuf = 4608
	MinRcvbuf = 2304
)

// CoreProcFiles are /proc/sys/net/core's files for the registry's
// settings (families add their own).
func (r *Registry) CoreProcFiles() []ProcFile {
	itoa := func(v int) func() string {
		return func() string { return itoaString(v) + "\n" }
	}
	return []ProcFile{
		{Path: "core/optmem_max", Sys: true, Read: itoa(OptMemMax)},
		{Path: "core/rmem_default", Sys: true, Read: itoa(RmemDefault)},
		{Path: "core/rmem_max", Sys: true, Read: itoa(RmemMax)},
		{Path: "core/somaxconn", Sys: true, Read: func() string { return itoaString(r.Somaxconn()) + "\n" }, Write: func(data []byte) error {
			// proc_dointvec_minmax, at least 0.
			v, err := ParseSysctlInts(data, 1)
			if err != nil || v[0] < 0 {
				return unix.EINVAL
			}
			r.somaxconn.Store(int32(v[0]))
			return nil
		}},
		{Path: "core/wmem_default", Sys: true, Read: itoa(WmemDefault)},
		{Path: "core/wmem_max", Sys: true, Read: itoa(WmemMax)},
	}
}

func itoaString(v int) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// GenericOptions holds the SOL_SOCKET options Linux keeps in struct sock
// for every family, with sk_getsockopt's and sk_setsockopt's encodings
// and rules. A family embeds it, serves the options whose meaning it
// implements itself, and passes the others to Get and Set. Options that
// only matter to a family's protocol (SO_REUSEADDR for TCP, SO_BROADCAST
// for UDP) are stored here and read back by the family.
//
// Locking: mu protects every field; it is a leaf.
type GenericOptions struct {
	mu        sync.Mutex
	sndbuf    int
	rcvbuf    int
	reuseAddr bool
	reusePort bool
	keepAlive bool
	broadcast bool
	dontRoute bool
	oobInline bool
	passCred  bool
	timestamp bool
	linger    [2]int32 // l_onoff, l_linger
	priority  int32
	rcvlowat  int32
	mark      uint32
}

// InitGenericOptions sets a new socket's defaults.
func (o *GenericOptions) InitGenericOptions() {
	o.sndbuf, o.rcvbuf, o.rcvlowat = WmemDefault, RmemDefault, 1
}

// SendBufferSize returns SO_SNDBUF as Linux keeps it (doubled).
func (o *GenericOptions) SendBufferSize() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sndbuf
}

// RecvBufferSize returns SO_RCVBUF as Linux keeps it (doubled).
func (o *GenericOptions) RecvBufferSize() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rcvbuf
}

// RcvLowat returns SO_RCVLOWAT (at least 1).
func (o *GenericOptions) RcvLowat() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return int(o.rcvlowat)
}

// PassCred returns SO_PASSCRED.
func (o *GenericOptions) PassCred() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.passCred
}

// SetPassCred sets SO_PASSCRED.
func (o *GenericOptions) SetPassCred(v bool) {
	o.mu.Lock()
	o.passCred = v
	o.mu.Unlock()
}

// Flag returns a boolean option (SO_REUSEADDR, SO_REUSEPORT,
// SO_KEEPALIVE, SO_BROADCAST, SO_DONTROUTE, SO_OOBINLINE, SO_TIMESTAMP).
func (o *GenericOptions) Flag(name int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p := o.flagLocked(name); p != nil {
		return *p
	}
	return false
}

func (o *GenericOptions) flagLocked(name int) *bool {
	switch name {
	case unix.SO_REUSEADDR:
		return &o.reuseAddr
	case unix.SO_REUSEPORT:
		return &o.reusePort
	case unix.SO_KEEPALIVE:
		return &o.keepAlive
	case unix.SO_BROADCAST:
		return &o.broadcast
	case unix.SO_DONTROUTE:
		return &o.dontRoute
	case unix.SO_OOBINLINE:
		return &o.oobInline
	case unix.SO_PASSCRED:
		return &o.passCred
	case unix.SO_TIMESTAMP:
		return &o.timestamp
	}
	return nil
}

// Get returns a generic option's value, or ENOPROTOOPT. size is the
// caller's buffer length (the caller truncates).
func (o *GenericOptions) Get(name, size int) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p := o.flagLocked(name); p != nil {
		return Bool32(*p), nil
	}
	switch name {
	case unix.SO_SNDBUF:
		return Int32(int32(o.sndbuf)), nil
	case unix.SO_RCVBUF:
		return Int32(int32(o.rcvbuf)), nil
	case unix.SO_LINGER:
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(o.linger[0]))
		binary.LittleEndian.PutUint32(b[4:], uint32(o.linger[1]))
		return b, nil
	case unix.SO_PRIORITY:
		return Int32(o.priority), nil
	case unix.SO_RCVLOWAT:
		return Int32(o.rcvlowat), nil
	case unix.SO_SNDLOWAT:
		return Int32(1), nil
	case unix.SO_MARK:
		return Int32(int32(o.mark)), nil
	case unix.SO_ERROR:
		return Int32(0), nil
	case unix.SO_PEERSEC:
		// No LSM: security_socket_getpeersec_stream's answer.
		return nil, unix.ENOPROTOOPT
	}
	return nil, unix.ENOPROTOOPT
}

// Set sets a generic option as Linux's sk_setsockopt: every value but
// SO_LINGER's is an int (EINVAL when shorter); ENOPROTOOPT for options
// it does not know. privileged is CAP_NET_ADMIN (SO_MARK, SO_PRIORITY
// above 6, SO_SNDBUFFORCE).
func (o *GenericOptions) Set(name int, val []byte, privileged bool) error {
	v, err := IntArg(val)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if p := o.flagLocked(name); p != nil {
		*p = v != 0
		return nil
	}
	switch name {
	case unix.SO_SNDBUF, unix.SO_SNDBUFFORCE:
		if name == unix.SO_SNDBUFFORCE && !privileged {
			return unix.EPERM
		}
		u := uint32(v)
		if name == unix.SO_SNDBUF {
			u = min(u, WmemMax)
		}
		o.sndbuf = int(max(min(int64(u)*2, 1<<31-1), MinSndbuf))
	case unix.SO_RCVBUF, unix.SO_RCVBUFFORCE:
		if name == unix.SO_RCVBUFFORCE && !privileged {
			return unix.EPERM
		}
		u := uint32(v)
		if name == unix.SO_RCVBUF {
			u = min(u, RmemMax)
		}
		o.rcvbuf = int(max(min(int64(u)*2, 1<<31-1), MinRcvbuf))
	case unix.SO_LINGER:
		if len(val) < 8 {
			return unix.EINVAL
		}
		o.linger[0] = int32(binary.LittleEndian.Uint32(val))
		o.linger[1] = int32(binary.LittleEndian.Uint32(val[4:]))
		if o.linger[0] != 0 {
			o.linger[0] = 1
		}
	case unix.SO_PRIORITY:
		if (v < 0 || v > 6) && !privileged {
			return unix.EPERM
		}
		o.priority = v
	case unix.SO_RCVLOWAT:
		if v < 0 {
			v = 1<<31 - 1
		}
		if v == 0 {
			v = 1
		}
		o.rcvlowat = v
	case unix.SO_SNDLOWAT:
		return unix.ENOPROTOOPT
	case unix.SO_MARK:
		if !privileged {
			return unix.EPERM
		}
		o.mark = uint32(v)
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}
