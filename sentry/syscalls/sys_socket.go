package syscalls

import (
	"encoding/binary"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Socket syscalls. Each handler sequences the socket layer's pieces in
// Linux's order of checks: the descriptor (EBADF, ENOTSOCK), the
// arguments decoded by package socket (sockaddrs, msghdr, cmsgs), then
// the family's operation. Blocking, readiness and the options every
// family shares are package socket's; what a family does is its own.
// read/write/readv/writev on sockets come here too (sockRecv, sockSend).

// Linux's limits on socket(2)'s arguments.
const (
	afMax        = 46  // AF_MAX
	sockMax      = 11  // SOCK_MAX
	sockTypeMask = 0xf // SOCK_TYPE_MASK
)

// sockContext returns the socket layer's view of the calling thread.
func sockContext(t *process.Thread) *socket.Context {
	ctx := &socket.Context{Context: fsContext(t), VFS: t.S.VFS, FS: t.FS, Sockets: t.NetNS().Sockets}
	ctx.Cred.PID = t.Task.TGID()
	ctx.PIDs = t.PIDNS()
	c := t.Credentials()
	ctx.Creds = c
	ctx.Cred.UID, ctx.Cred.GID = c.RealUID, c.RealGID
	ctx.Cred.EUID, ctx.Cred.EGID = c.EffectiveUID, c.EffectiveGID
	ctx.Cred.SUID, ctx.Cred.SGID = c.SavedUID, c.SavedGID
	ctx.SIGPIPE = func() { sendSignal(t, t.TG, int(unix.SIGPIPE)) }
	return ctx
}

// getSocket returns fd's description (with a reference) and its socket:
// EBADF if fd is not open, ENOTSOCK if it is not a socket.
func getSocket(t *process.Thread, fd int32) (*vfs.FileDescription, *socket.File, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, nil, err
	}
	sf := socket.FromDescription(f)
	if sf == nil {
		f.DecRef()
		return nil, nil, unix.ENOTSOCK
	}
	return f, sf, nil
}

// finalEINTR makes an interrupted socket call with a timeout final, as
// Linux's sock_intr_errno.
func finalEINTR(t *process.Thread, err error, b *socket.Blocking) error {
	if err == unix.EINTR && b.HasTimeout() {
		t.SetNoRestart()
	}
	return err
}

// sockSend sends seq on sf with MSG_* flags.
func sockSend(t *process.Thread, f *vfs.FileDescription, sf *socket.File, seq *usermem.IOSequence, flags int, to []byte, ctl socket.ControlMessages) (int, error) {
	b := sf.SendBlocking(flags, f.Flags())
	n, err := sf.Send(sockContext(t), seq, flags, b, to, ctl)
	return n, finalEINTR(t, err, b)
}

// sockRecv receives into seq from sf with MSG_* flags; wantControl is
// false when the caller has no control buffer. A buffer that cannot be
// written is the family's EFAULT, with Linux's consequences (a stream
// keeps its data, a datagram is gone).
func sockRecv(t *process.Thread, f *vfs.FileDescription, sf *socket.File, seq *usermem.IOSequence, flags int, wantControl bool) (socket.RecvResult, error) {
	b := sf.RecvBlocking(flags, f.Flags())
	r, err := sf.Recv(sockContext(t), seq, flags, b, wantControl)
	return r, finalEINTR(t, err, b)
}

// sockRead is read(2)/readv(2) on a socket: recv with no flags; a read of
// nothing returns 0 at once (sock_read_iter).
func sockRead(t *process.Thread, f *vfs.FileDescription, sf *socket.File, iovs []usermem.IOVec) (uintptr, error) {
	seq := usermem.NewIOSequence(t, iovs)
	if seq.Len() == 0 {
		return 0, nil
	}
	r, err := sockRecv(t, f, sf, seq, 0, false)
	r.Control.Release()
	return uintptr(r.N), err
}

// sockWrite is write(2)/writev(2) on a socket: send with no flags.
func sockWrite(t *process.Thread, f *vfs.FileDescription, sf *socket.File, iovs []usermem.IOVec) (uintptr, error) {
	n, err := sockSend(t, f, sf, usermem.NewIOSequence(t, iovs), 0, nil, socket.ControlMessages{})
	return uintptr(n), err
}

// Socket is socket(domain, type, protocol).
func Socket(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	domain, typ, protocol := int(a.Int(0)), int(a.Int(1)), int(a.Int(2))
	flags := typ &^ sockTypeMask
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	stype := typ & sockTypeMask
	if domain < 0 || domain >= afMax {
		return 0, unix.EAFNOSUPPORT
	}
	if stype >= sockMax {
		return 0, unix.EINVAL
	}
	fam := t.NetNS().Sockets.Family(domain)
	if fam == nil {
		return 0, unix.EAFNOSUPPORT
	}
	ctx := sockContext(t)
	s, err := fam.Socket(ctx, stype, protocol)
	if err != nil {
		return 0, err
	}
	f := socket.NewFile(ctx, domain, s, uint32(flags&unix.SOCK_NONBLOCK))
	defer f.DecRef()
	return installFile(t, f, flags&unix.SOCK_CLOEXEC != 0)
}

// Socketpair is socketpair(domain, type, protocol, sv): the descriptor
// array is checked before the sockets are made (Linux writes the reserved
// numbers there first).
func Socketpair(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	domain, typ, protocol, sv := int(a.Int(0)), int(a.Int(1)), int(a.Int(2)), a.Ptr(3)
	flags := typ &^ sockTypeMask
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	if t.MM().Accessible(sv, 8, true) < 8 {
		return 0, unix.EFAULT
	}
	stype := typ & sockTypeMask
	if domain < 0 || domain >= afMax {
		return 0, unix.EAFNOSUPPORT
	}
	if stype >= sockMax {
		return 0, unix.EINVAL
	}
	fam := t.NetNS().Sockets.Family(domain)
	if fam == nil {
		return 0, unix.EAFNOSUPPORT
	}
	ctx := sockContext(t)
	s1, s2, err := fam.Pair(ctx, stype, protocol)
	if err != nil {
		return 0, err
	}
	nb := uint32(flags & unix.SOCK_NONBLOCK)
	f1 := socket.NewFile(ctx, domain, s1, nb)
	defer f1.DecRef()
	f2 := socket.NewFile(ctx, domain, s2, nb)
	defer f2.DecRef()
	cloexec := flags&unix.SOCK_CLOEXEC != 0
	fd1, err := installFile(t, f1, cloexec)
	if err != nil {
		return 0, err
	}
	fd2, err := installFile(t, f2, cloexec)
	if err != nil {
		t.FDs.Remove(int32(fd1))
		return 0, err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(fd1))
	binary.LittleEndian.PutUint32(b[4:], uint32(fd2))
	if _, err := t.CopyOutBytes(hostarch.Addr(sv), b[:]); err != nil {
		t.FDs.Remove(int32(fd1))
		t.FDs.Remove(int32(fd2))
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Bind is bind(fd, addr, addrlen).
func Bind(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	addr, err := socket.CopyInAddress(t, a.Ptr(1), int64(a.Int(2)))
	if err != nil {
		return 0, err
	}
	return 0, sf.Socket().Bind(sockContext(t), addr)
}

// Listen is listen(fd, backlog): the backlog is clamped to somaxconn
// (a negative one too, as an unsigned compare does).
func Listen(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	backlog := int(a.Int(1))
	if somax := t.NetNS().Sockets.Somaxconn(); uint32(a.Int(1)) > uint32(somax) {
		backlog = somax
	}
	return 0, sf.Socket().Listen(sockContext(t), backlog)
}

// Accept is accept(fd, addr, addrlen).
func Accept(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return accept(t, a.Int(0), a.Ptr(1), a.Ptr(2), 0)
}

// Accept4 is accept4(fd, addr, addrlen, flags).
func Accept4(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return accept(t, a.Int(0), a.Ptr(1), a.Ptr(2), int(a.Int(3)))
}

func accept(t *process.Thread, fd int32, addr, lenAddr uintptr, flags int) (uintptr, error) {
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	f, sf, err := getSocket(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	ctx := sockContext(t)
	b := sf.RecvBlocking(0, f.Flags())
	ns, err := sf.Socket().Accept(ctx, b)
	if err != nil {
		return 0, finalEINTR(t, err, b)
	}
	nf := socket.NewFile(ctx, sf.Family(), ns, uint32(flags&unix.SOCK_NONBLOCK))
	defer nf.DecRef()
	if addr != 0 {
		peer, err := ns.PeerName(ctx)
		if err != nil {
			return 0, unix.ECONNABORTED
		}
		if err := socket.CopyOutAddress(t, addr, lenAddr, peer); err != nil {
			return 0, err
		}
	}
	return installFile(t, nf, flags&unix.SOCK_CLOEXEC != 0)
}

// Connect is connect(fd, addr, addrlen): the address is read before the
// descriptor is known to be a socket, as Linux does.
func Connect(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	addr, err := socket.CopyInAddress(t, a.Ptr(1), int64(a.Int(2)))
	if err != nil {
		return 0, err
	}
	sf := socket.FromDescription(f)
	if sf == nil {
		return 0, unix.ENOTSOCK
	}
	b := sf.SendBlocking(0, f.Flags())
	return 0, finalEINTR(t, sf.Socket().Connect(sockContext(t), addr, b), b)
}

// Getsockname is getsockname(fd, addr, addrlen).
func Getsockname(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return sockName(t, a, false)
}

// Getpeername is getpeername(fd, addr, addrlen).
func Getpeername(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return sockName(t, a, true)
}

func sockName(t *process.Thread, a arch.SyscallArguments, peer bool) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	ctx := sockContext(t)
	var name []byte
	if peer {
		name, err = sf.Socket().PeerName(ctx)
	} else {
		name, err = sf.Socket().SockName(ctx)
	}
	if err != nil {
		return 0, err
	}
	return 0, socket.CopyOutAddress(t, a.Ptr(1), a.Ptr(2), name)
}

// Shutdown is shutdown(fd, how).
func Shutdown(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	how := int(a.Int(1))
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return 0, unix.EINVAL
	}
	return 0, sf.Socket().Shutdown(sockContext(t), how)
}

// Sendto is sendto(fd, buf, len, flags, addr, addrlen) (and send).
func Sendto(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var to []byte
	if a.Ptr(4) != 0 {
		if to, err = socket.CopyInAddress(t, a.Ptr(4), int64(a.Int(5))); err != nil {
			return 0, err
		}
	}
	n, err := sockSend(t, f, sf, usermem.Single(t, a.Ptr(1), uint64(a[2])), int(a.Int(3)), to, socket.ControlMessages{})
	return uintptr(n), err
}

// Recvfrom is recvfrom(fd, buf, len, flags, addr, addrlen) (and recv).
// The sender's address is written after the data was taken: a bad
// address length then fails the call with the data gone, as on Linux.
func Recvfrom(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	flags := int(a.Int(3))
	r, err := sockRecv(t, f, sf, usermem.Single(t, a.Ptr(1), uint64(a[2])), flags, false)
	r.Control.Release()
	if err != nil {
		return 0, err
	}
	if a.Ptr(4) != 0 {
		if err := socket.CopyOutAddress(t, a.Ptr(4), a.Ptr(5), r.From); err != nil {
			return 0, err
		}
	}
	return recvCount(r, flags), nil
}

// recvCount is what a receive returns: the datagram's whole length when
// the caller asked with MSG_TRUNC.
func recvCount(r socket.RecvResult, flags int) uintptr {
	if flags&unix.MSG_TRUNC != 0 {
		return uintptr(r.MsgLen)
	}
	return uintptr(r.N)
}

// fdLookup returns the sender's descriptor lookup for SCM_RIGHTS.
func fdLookup(t *process.Thread) socket.FDLookup {
	return func(fd int32) (*vfs.FileDescription, error) { return t.FDs.Get(fd) }
}

// sendMsg is one sendmsg: decode the msghdr at addr and send.
// extraFlags are msg_flags bits the caller honours (sendmmsg: MSG_EOR).
func sendMsg(t *process.Thread, f *vfs.FileDescription, sf *socket.File, addr uintptr, flags int, extraFlags int) (int, error) {
	m, err := socket.CopyInMsghdr(t, addr)
	if err != nil {
		return 0, err
	}
	to, iovs, ctl, err := m.SendArgs(t)
	if err != nil {
		return 0, err
	}
	flags |= int(m.Flags) & extraFlags
	var cm socket.ControlMessages
	if len(ctl) > 0 {
		cmsgs, err := socket.ParseControl(ctl)
		if err != nil {
			return 0, err
		}
		if cm, err = socket.DecodeSendControl(sockContext(t), cmsgs, sf.Family(), fdLookup(t)); err != nil {
			return 0, err
		}
		defer cm.Release()
	}
	return sockSend(t, f, sf, usermem.NewIOSequence(t, iovs), flags, to, cm)
}

// Sendmsg is sendmsg(fd, msg, flags).
func Sendmsg(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	n, err := sendMsg(t, f, sf, a.Ptr(1), int(a.Int(2)), 0)
	return uintptr(n), err
}

// Sendmmsg is sendmmsg(fd, msgvec, vlen, flags): it stops at the first
// error or short send, and reports an error only if nothing was sent.
func Sendmmsg(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vec, vlen, flags := a.Ptr(1), min(uint32(a.Uint(2)), usermem.MaxIOV), int(a.Int(3))
	done := uint32(0)
	for done < vlen {
		entry := vec + uintptr(done)*socket.MmsghdrSize
		m, err := socket.CopyInMsghdr(t, entry)
		if err != nil {
			if done > 0 {
				break
			}
			return 0, err
		}
		want := 0
		if iovs, err := m.RecvArgs(t); err == nil {
			for _, v := range iovs {
				want += v.Len
			}
		}
		n, err := sendMsg(t, f, sf, entry, flags, unix.MSG_EOR)
		if err != nil {
			if done > 0 {
				break
			}
			return 0, err
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(n))
		if _, err := t.CopyOutBytes(hostarch.Addr(entry+socket.MsghdrSize), b[:]); err != nil {
			if done > 0 {
				break
			}
			return 0, unix.EFAULT
		}
		done++
		if n < want {
			break
		}
	}
	return uintptr(done), nil
}

// recvMsg is one recvmsg into the msghdr at addr; it returns the byte
// count.
func recvMsg(t *process.Thread, f *vfs.FileDescription, sf *socket.File, addr uintptr, flags int) (uintptr, error) {
	m, err := socket.CopyInMsghdr(t, addr)
	if err != nil {
		return 0, err
	}
	iovs, err := m.RecvArgs(t)
	if err != nil {
		return 0, err
	}
	r, err := sockRecv(t, f, sf, usermem.NewIOSequence(t, iovs), flags, m.Control != 0)
	if err != nil {
		return 0, err
	}
	// The control messages: built in full, then written. A control
	// buffer that cannot be written takes nothing (Linux's put_user of
	// each part fails): descriptors are then dropped with MSG_CTRUNC.
	null := m.Control == 0
	if !null && m.ControlLen > 0 && !r.Control.Empty() {
		need := 0
		if r.Control.Creds != nil {
			need += socket.CmsgSpace(socket.UcredSize)
		}
		for _, o := range r.Control.Other {
			need += socket.CmsgSpace(len(o.Data))
		}
		if len(r.Control.Rights) > 0 {
			need += socket.CmsgSpace(4 * len(r.Control.Rights))
		}
		need = int(min(uint64(need), m.ControlLen))
		if t.MM().Accessible(m.Control, need, true) < need {
			null = true
		}
	}
	cb := socket.NewControlBuffer(m.ControlLen, null)
	if r.Control.Creds != nil {
		// Kernel IDs travel; the receiver sees them through its maps
		// (user IDs) and its PID namespace (the pid).
		u := r.Control.Creds.ShownTo(t.Credentials().UserNS)
		u.PID = t.PIDOfTask(u.PID)
		cb.Put(unix.SOL_SOCKET, unix.SCM_CREDENTIALS, socket.EncodeUcred(u))
	}
	for _, o := range r.Control.Other {
		cb.Put(o.Level, o.Type, o.Data)
	}
	cloexec := flags&unix.MSG_CMSG_CLOEXEC != 0
	cb.PutRights(r.Control.Rights, func(fd *vfs.FileDescription) (int32, error) {
		n, err := installFile(t, fd, cloexec)
		return int32(n), err
	})
	if b := cb.Bytes(); len(b) > 0 {
		t.CopyOutBytes(hostarch.Addr(m.Control), b)
	}
	if m.Name != 0 {
		if err := socket.CopyOutAddress(t, m.Name, addr+8, r.From); err != nil {
			return 0, err
		}
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:4], uint32(r.Flags|cb.Flags()|flags&unix.MSG_CMSG_CLOEXEC))
	if _, err := t.CopyOutBytes(hostarch.Addr(addr+48), b[:4]); err != nil {
		return 0, unix.EFAULT
	}
	binary.LittleEndian.PutUint64(b[:], uint64(len(cb.Bytes())))
	if _, err := t.CopyOutBytes(hostarch.Addr(addr+40), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return recvCount(r, flags), nil
}

// Recvmsg is recvmsg(fd, msg, flags).
func Recvmsg(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return recvMsg(t, f, sf, a.Ptr(1), int(a.Int(2)))
}

// msgWaitForOne is MSG_WAITFORONE.
const msgWaitForOne = 0x10000

// Recvmmsg is recvmmsg(fd, msgvec, vlen, flags, timeout): up to vlen
// messages; after the first, MSG_WAITFORONE stops waiting; the timeout
// is checked between messages (as Linux, it does not bound a wait) and
// what is left of it written back. An error after some messages is not
// reported.
func Recvmmsg(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	vec, vlen, flags, tsAddr := a.Ptr(1), min(uint32(a.Uint(2)), usermem.MaxIOV), int(a.Int(3)), a.Ptr(4)
	var deadline time.Time
	if tsAddr != 0 {
		d, err := copyInTimespec(t, tsAddr)
		if err != nil {
			return 0, err
		}
		deadline = time.Now().Add(d)
	}
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	done := uint32(0)
	for done < vlen {
		entry := vec + uintptr(done)*socket.MmsghdrSize
		n, err := recvMsg(t, f, sf, entry, flags&^msgWaitForOne)
		if err != nil {
			if done == 0 {
				return 0, err
			}
			break
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(n))
		if _, err := t.CopyOutBytes(hostarch.Addr(entry+socket.MsghdrSize), b[:]); err != nil {
			if done == 0 {
				return 0, unix.EFAULT
			}
			break
		}
		done++
		if flags&msgWaitForOne != 0 {
			flags |= unix.MSG_DONTWAIT
		}
		if tsAddr != 0 && !time.Now().Before(deadline) {
			break
		}
	}
	if tsAddr != 0 {
		left := max(time.Until(deadline), 0)
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], uint64(left/time.Second))
		binary.LittleEndian.PutUint64(b[8:], uint64(left%time.Second))
		if _, err := t.CopyOutBytes(hostarch.Addr(tsAddr), b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(done), nil
}

// Getsockopt is getsockopt(fd, level, name, optval, optlen): the value is
// cut to the caller's length, and the length written back.
func Getsockopt(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	level, name, valAddr, lenAddr := int(a.Int(1)), int(a.Int(2)), a.Ptr(3), a.Ptr(4)
	var lb [4]byte
	if _, err := t.CopyInBytes(hostarch.Addr(lenAddr), lb[:]); err != nil {
		return 0, unix.EFAULT
	}
	size := int(int32(binary.LittleEndian.Uint32(lb[:])))
	if size < 0 {
		return 0, unix.EINVAL
	}
	v, err := sf.GetSockOpt(sockContext(t), level, name, size)
	if err != nil {
		return 0, err
	}
	n := min(size, len(v))
	if n > 0 {
		if _, err := t.CopyOutBytes(hostarch.Addr(valAddr), v[:n]); err != nil {
			return 0, unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint32(lb[:], uint32(n))
	if _, err := t.CopyOutBytes(hostarch.Addr(lenAddr), lb[:]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Setsockopt is setsockopt(fd, level, name, optval, optlen).
func Setsockopt(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, sf, err := getSocket(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	level, name, valAddr, optlen := int(a.Int(1)), int(a.Int(2)), a.Ptr(3), int(a.Int(4))
	if optlen < 0 {
		return 0, unix.EINVAL
	}
	val := make([]byte, min(optlen, socket.MaxOptLen))
	if len(val) > 0 {
		if _, err := t.CopyInBytes(hostarch.Addr(valAddr), val); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, sf.SetSockOpt(sockContext(t), level, name, val)
}
