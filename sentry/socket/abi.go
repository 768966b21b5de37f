package socket

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// The socket syscalls' argument decoding, in one place: sockaddrs
// (move_addr_to_kernel / move_addr_to_user), struct msghdr
// (__copy_msghdr), struct mmsghdr, cmsg chains (__scm_send's walk and
// checks) and the building of a receive's control buffer (put_cmsg,
// scm_detach_fds). Every function takes the caller's memory as a
// usermem.Memory and returns Linux's errnos; none of them trusts a length
// the program gave without bounding it first. abi_fuzz_test.go fuzzes
// them.

// Sizes of the structures decoded here (x86-64).
const (
	// MaxAddrLen is sizeof(struct sockaddr_storage).
	MaxAddrLen = 128
	// MsghdrSize is sizeof(struct msghdr).
	MsghdrSize = 56
	// MmsghdrSize is sizeof(struct mmsghdr): a msghdr and an unsigned
	// int, padded.
	MmsghdrSize = 64
	// CmsghdrSize is sizeof(struct cmsghdr).
	CmsghdrSize = 16
	// ScmMaxFD is SCM_MAX_FD: the most descriptors one message carries.
	ScmMaxFD = 253
	// UcredSize is sizeof(struct ucred).
	UcredSize = 12
	// OptMemMax is /proc/sys/net/core/optmem_max: a control buffer to
	// send may not reach it (ENOBUFS).
	OptMemMax = 131072
	// MaxOptLen bounds the bytes of a setsockopt value the socket layer
	// copies in: no option's value is longer.
	MaxOptLen = 64 << 10
)

// CopyInAddress reads a sockaddr of addrlen bytes at addr, as Linux's
// move_addr_to_kernel: EINVAL when addrlen is negative or larger than a
// sockaddr_storage, EFAULT when it cannot be read. A zero length gives an
// empty address (nil) without touching memory.
func CopyInAddress(mem usermem.Memory, addr uintptr, addrlen int64) ([]byte, error) {
	if addrlen < 0 || addrlen > MaxAddrLen {
		return nil, unix.EINVAL
	}
	if addrlen == 0 {
		return nil, nil
	}
	b := make([]byte, addrlen)
	if _, err := mem.CopyInBytes(hostarch.Addr(addr), b); err != nil {
		return nil, unix.EFAULT
	}
	return b, nil
}

// CopyOutAddress writes a sockaddr as Linux's move_addr_to_user: it reads
// the caller's buffer length (an int at lenAddr), copies
// min(that, len(sa)) bytes to addr and writes len(sa) back, so the caller
// learns the full length. EFAULT for unreadable or unwritable memory,
// EINVAL for a negative length.
func CopyOutAddress(mem usermem.Memory, addr, lenAddr uintptr, sa []byte) error {
	var lb [4]byte
	if _, err := mem.CopyInBytes(hostarch.Addr(lenAddr), lb[:]); err != nil {
		return unix.EFAULT
	}
	l := int(int32(binary.LittleEndian.Uint32(lb[:])))
	if l > len(sa) {
		l = len(sa)
	}
	if l < 0 {
		return unix.EINVAL
	}
	if l > 0 {
		if _, err := mem.CopyOutBytes(hostarch.Addr(addr), sa[:l]); err != nil {
			return unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint32(lb[:], uint32(len(sa)))
	if _, err := mem.CopyOutBytes(hostarch.Addr(lenAddr), lb[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// Msghdr is a decoded struct msghdr.
type Msghdr struct {
	Name       uintptr
	NameLen    int32
	IOV        uintptr
	IOVLen     uint64
	Control    uintptr
	ControlLen uint64
	Flags      int32
}

// DecodeMsghdr decodes the MsghdrSize bytes of a struct msghdr.
func DecodeMsghdr(b []byte) Msghdr {
	return Msghdr{
		Name:       uintptr(binary.LittleEndian.Uint64(b[0:])),
		NameLen:    int32(binary.LittleEndian.Uint32(b[8:])),
		IOV:        uintptr(binary.LittleEndian.Uint64(b[16:])),
		IOVLen:     binary.LittleEndian.Uint64(b[24:]),
		Control:    uintptr(binary.LittleEndian.Uint64(b[32:])),
		ControlLen: binary.LittleEndian.Uint64(b[40:]),
		Flags:      int32(binary.LittleEndian.Uint32(b[48:])),
	}
}

// CopyInMsghdr reads a struct msghdr at addr (EFAULT).
func CopyInMsghdr(mem usermem.Memory, addr uintptr) (Msghdr, error) {
	var b [MsghdrSize]byte
	if _, err := mem.CopyInBytes(hostarch.Addr(addr), b[:]); err != nil {
		return Msghdr{}, unix.EFAULT
	}
	return DecodeMsghdr(b[:]), nil
}

// nameLen applies __copy_msghdr's rules to msg_namelen: 0 without a
// name, EINVAL when negative, clamped to a sockaddr_storage.
func (m *Msghdr) nameLen() (int64, error) {
	if m.Name == 0 {
		return 0, nil
	}
	if m.NameLen < 0 {
		return 0, unix.EINVAL
	}
	return min(int64(m.NameLen), MaxAddrLen), nil
}

// iovecs reads the message's iovecs (EMSGSIZE beyond UIO_MAXIOV, as
// __copy_msghdr; then import_iovec's EFAULT and EINVAL).
func (m *Msghdr) iovecs(mem usermem.Memory) ([]usermem.IOVec, error) {
	if m.IOVLen > usermem.MaxIOV {
		return nil, unix.EMSGSIZE
	}
	return usermem.CopyInIOVecs(mem, m.IOV, int(m.IOVLen))
}

// SendArgs decodes what a sendmsg needs from m, in Linux's order: the
// destination address (__copy_msghdr), the iovecs, then the control
// buffer (ENOBUFS when msg_controllen exceeds INT_MAX or optmem_max,
// EFAULT when unreadable). to is nil without a name; control is nil
// without control data.
func (m *Msghdr) SendArgs(mem usermem.Memory) (to []byte, iovs []usermem.IOVec, control []byte, err error) {
	nl, err := m.nameLen()
	if err != nil {
		return nil, nil, nil, err
	}
	if nl > 0 {
		if to, err = CopyInAddress(mem, m.Name, nl); err != nil {
			return nil, nil, nil, err
		}
	}
	if iovs, err = m.iovecs(mem); err != nil {
		return nil, nil, nil, err
	}
	if m.ControlLen > 1<<31-1 {
		return nil, nil, nil, unix.ENOBUFS
	}
	if m.ControlLen > 0 {
		if m.ControlLen >= OptMemMax {
			return nil, nil, nil, unix.ENOBUFS
		}
		control = make([]byte, m.ControlLen)
		if _, err := mem.CopyInBytes(hostarch.Addr(m.Control), control); err != nil {
			return nil, nil, nil, unix.EFAULT
		}
	}
	return to, iovs, control, nil
}

// RecvArgs checks what a recvmsg needs from m: msg_namelen (EINVAL when
// negative) and the iovecs.
func (m *Msghdr) RecvArgs(mem usermem.Memory) ([]usermem.IOVec, error) {
	if _, err := m.nameLen(); err != nil {
		return nil, err
	}
	return m.iovecs(mem)
}

// Cmsg is one control message of a chain, its data still raw.
type Cmsg struct {
	Level, Type int32
	Data        []byte
}

// cmsgAlign is CMSG_ALIGN.
func cmsgAlign(n uint64) uint64 { return (n + 7) &^ 7 }

// CmsgLen is CMSG_LEN(n).
func CmsgLen(n int) int { return CmsghdrSize + n }

// CmsgSpace is CMSG_SPACE(n).
func CmsgSpace(n int) int { return CmsghdrSize + int(cmsgAlign(uint64(n))) }

// ParseControl walks a control buffer as Linux's for_each_cmsghdr with
// CMSG_OK: a header fits (16 bytes), its cmsg_len is at least a header
// and does not run past the buffer (else EINVAL); the next header starts
// CMSG_ALIGN(cmsg_len) later; a tail shorter than a header is ignored.
func ParseControl(buf []byte) ([]Cmsg, error) {
	var out []Cmsg
	size := uint64(len(buf))
	off := uint64(0)
	for off+CmsghdrSize <= size {
		l := binary.LittleEndian.Uint64(buf[off:])
		if l < CmsghdrSize || l > size-off {
			return nil, unix.EINVAL
		}
		out = append(out, Cmsg{
			Level: int32(binary.LittleEndian.Uint32(buf[off+8:])),
			Type:  int32(binary.LittleEndian.Uint32(buf[off+12:])),
			Data:  buf[off+CmsghdrSize : off+l],
		})
		next := off + cmsgAlign(l)
		if next < off {
			break
		}
		off = next
	}
	return out, nil
}

// FDLookup returns the description of a descriptor of the sender with a
// reference (fget_raw: O_PATH descriptions too), or an error (EBADF).
type FDLookup func(fd int32) (*vfs.FileDescription, error)

// DecodeSendControl turns a sendmsg's control messages into
// ControlMessages, as Linux's __scm_send: SOL_SOCKET messages must be
// SCM_RIGHTS (only on AF_UNIX, else EINVAL) or SCM_CREDENTIALS (exactly a
// struct ucred, checked by CheckCreds); other SOL_SOCKET types are
// EINVAL; messages of other levels go to Other for the family. SCM_RIGHTS
// with more than ScmMaxFD descriptors in all is EINVAL, a descriptor that
// is not open EBADF. On error nothing is held.
func DecodeSendControl(ctx *Context, cmsgs []Cmsg, family int, lookup FDLookup) (ControlMessages, error) {
	var cm ControlMessages
	for _, c := range cmsgs {
		if c.Level != unix.SOL_SOCKET {
			cm.Other = append(cm.Other, RawControl{Level: c.Level, Type: c.Type, Data: c.Data})
			continue
		}
		switch c.Type {
		case unix.SCM_RIGHTS:
			if family != unix.AF_UNIX {
				cm.Release()
				return ControlMessages{}, unix.EINVAL
			}
			num := len(c.Data) / 4
			if num <= 0 {
				continue
			}
			if num > ScmMaxFD || len(cm.Rights)+num > ScmMaxFD {
				cm.Release()
				return ControlMessages{}, unix.EINVAL
			}
			for i := 0; i < num; i++ {
				fd := int32(binary.LittleEndian.Uint32(c.Data[4*i:]))
				if fd < 0 {
					cm.Release()
					return ControlMessages{}, unix.EBADF
				}
				f, err := lookup(fd)
				if err != nil {
					cm.Release()
					return ControlMessages{}, unix.EBADF
				}
				cm.Rights = append(cm.Rights, f)
			}
		case unix.SCM_CREDENTIALS:
			if len(c.Data) != UcredSize {
				cm.Release()
				return ControlMessages{}, unix.EINVAL
			}
			u := Ucred{
				PID: int32(binary.LittleEndian.Uint32(c.Data)),
				UID: binary.LittleEndian.Uint32(c.Data[4:]),
				GID: binary.LittleEndian.Uint32(c.Data[8:]),
			}
			// The claimed pid is in the sender's PID namespace.
			u.PID = ctx.KernelPID(u.PID)
			u, err := CheckCreds(ctx, u)
			if err != nil {
				cm.Release()
				return ControlMessages{}, err
			}
			cm.Creds = &u
		default:
			cm.Release()
			return ControlMessages{}, unix.EINVAL
		}
	}
	return cm, nil
}

// CheckCreds is Linux's scm_check_creds: the claimed IDs, named in the
// caller's user namespace, must be mapped there and are -1 never
// (EINVAL); the pid must be the caller's own unless it holds
// CAP_SYS_ADMIN, the uid among its real, effective and saved ones unless
// CAP_SETUID in its user namespace, the gid likewise unless CAP_SETGID
// (EPERM). It returns the credentials with kernel IDs (what travels).
func CheckCreds(ctx *Context, u Ucred) (Ucred, error) {
	var ns *auth.UserNamespace
	if ctx != nil && ctx.Context != nil && ctx.Creds != nil {
		ns = ctx.Creds.UserNS
	}
	uid, uok := ns.MapUIDToKernel(u.UID)
	gid, gok := ns.MapGIDToKernel(u.GID)
	if !uok || !gok {
		return u, unix.EINVAL
	}
	u.UID, u.GID = uid, gid
	c := ctx.Cred
	inNS := func(cp linux.Capability) bool {
		return ctx == nil || ctx.Context == nil || ctx.Creds.HasCapabilityIn(ns, cp)
	}
	if u.PID != c.PID && !ctx.HasCapability(linux.CAP_SYS_ADMIN) {
		return u, unix.EPERM
	}
	if u.UID != c.UID && u.UID != c.EUID && u.UID != c.SUID && !inNS(linux.CAP_SETUID) {
		return u, unix.EPERM
	}
	if u.GID != c.GID && u.GID != c.EGID && u.GID != c.SGID && !inNS(linux.CAP_SETGID) {
		return u, unix.EPERM
	}
	return u, nil
}

// ShownTo returns u as a reader in user namespace ns sees it: the IDs
// mapped there, the overflow IDs when not.
func (u Ucred) ShownTo(ns *auth.UserNamespace) Ucred {
	u.UID, u.GID = ns.UID(u.UID), ns.GID(u.GID)
	return u
}

// ControlBuffer builds a receive's control messages as Linux's put_cmsg
// and scm_detach_fds do into a buffer of the caller's msg_controllen,
// truncating (MSG_CTRUNC) what does not fit. It only allocates what it
// writes, whatever msg_controllen claims.
type ControlBuffer struct {
	buf   []byte
	limit int // the caller's msg_controllen
	flags int
	// null is a NULL msg_control: nothing is written, anything to
	// deliver sets MSG_CTRUNC.
	null bool
}

// NewControlBuffer returns an empty buffer for a msg_controllen of n
// (null: the caller passed no control pointer).
func NewControlBuffer(n uint64, null bool) *ControlBuffer {
	if null {
		n = 0
	}
	return &ControlBuffer{limit: int(min(n, 1<<31-1)), null: null}
}

// room is what is left of the caller's buffer.
func (cb *ControlBuffer) room() int { return cb.limit - len(cb.buf) }

// grow appends n zero bytes and returns them.
func (cb *ControlBuffer) grow(n int) []byte {
	l := len(cb.buf)
	cb.buf = append(cb.buf, make([]byte, n)...)
	return cb.buf[l:]
}

// Put appends one message (put_cmsg): a buffer without room for a header
// takes nothing and sets MSG_CTRUNC; one with room for the header but not
// all the data takes what fits, with cmsg_len saying how much, and sets
// MSG_CTRUNC.
func (cb *ControlBuffer) Put(level, typ int32, data []byte) {
	if cb.null || cb.room() < CmsghdrSize {
		cb.flags |= unix.MSG_CTRUNC
		return
	}
	cmlen := CmsgLen(len(data))
	if cb.room() < cmlen {
		cb.flags |= unix.MSG_CTRUNC
		cmlen = cb.room()
	}
	space := min(CmsgSpace(len(data)), cb.room())
	h := cb.grow(space)
	binary.LittleEndian.PutUint64(h, uint64(cmlen))
	binary.LittleEndian.PutUint32(h[8:], uint32(level))
	binary.LittleEndian.PutUint32(h[12:], uint32(typ))
	copy(h[CmsghdrSize:cmlen], data)
}

// PutRights delivers SCM_RIGHTS as scm_detach_fds: as many descriptors as
// the buffer has room for are installed through install (which returns
// the new descriptor number or an error such as EMFILE, which ends the
// installing); the others are dropped, and MSG_CTRUNC set. Every reference
// in files is consumed.
func (cb *ControlBuffer) PutRights(files []*vfs.FileDescription, install func(*vfs.FileDescription) (int32, error)) {
	if len(files) == 0 {
		return
	}
	fdmax := 0
	if !cb.null && cb.room() > CmsghdrSize {
		fdmax = (cb.room() - CmsghdrSize) / 4
	}
	fdmax = min(fdmax, len(files))
	var fds []int32
	for i := 0; i < fdmax; i++ {
		fd, err := install(files[i])
		if err != nil {
			break
		}
		fds = append(fds, fd)
	}
	if n := len(fds); n > 0 {
		space := min(CmsgSpace(4*n), cb.room())
		h := cb.grow(space)
		binary.LittleEndian.PutUint64(h, uint64(CmsgLen(4*n)))
		binary.LittleEndian.PutUint32(h[8:], unix.SOL_SOCKET)
		binary.LittleEndian.PutUint32(h[12:], unix.SCM_RIGHTS)
		for i, fd := range fds {
			binary.LittleEndian.PutUint32(h[CmsghdrSize+4*i:], uint32(fd))
		}
	}
	if len(fds) < len(files) {
		cb.flags |= unix.MSG_CTRUNC
	}
	for _, f := range files {
		f.DecRef()
	}
}

// Bytes returns what was written (msg_controllen's new value is its
// length).
func (cb *ControlBuffer) Bytes() []byte { return cb.buf }

// Flags returns MSG_CTRUNC if something did not fit.
func (cb *ControlBuffer) Flags() int { return cb.flags }

// EncodeUcred encodes a struct ucred.
func EncodeUcred(u Ucred) []byte {
	b := make([]byte, UcredSize)
	binary.LittleEndian.PutUint32(b, uint32(u.PID))
	binary.LittleEndian.PutUint32(b[4:], u.UID)
	binary.LittleEndian.PutUint32(b[8:], u.GID)
	return b
}
