package socket

import (
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// The socket file: what a socket descriptor's description holds. It is
// both the fs.File (read/write through the socket, ESPIPE for positional
// I/O) and the fs.Node (fstat: S_IFSOCK 0777 on the sockfs device;
// reopening through /proc/PID/fd is ENXIO, as Linux's sockfs).

var (
	sockfsMajor, sockfsMinor = fs.NewAnonDev()
	nextIno                  atomic.Uint64
)

// firstIno is where socket inode numbers start: Linux's sockfs numbers
// are large, and net-tools' netstat -p ignores "socket:[N]" links shorter
// than 11 characters (extract_type_1_socket_inode), so small numbers would
// hide every socket from it.
const firstIno = 10000

// HZ is the tick rate socket timeouts are counted in (Linux keeps
// SO_RCVTIMEO and SO_SNDTIMEO in jiffies, so what getsockopt returns is
// rounded to them; the sandbox's tick is 250 Hz, Debian's CONFIG_HZ).
const HZ = 250

// noTimeout is MAX_SCHEDULE_TIMEOUT: the timeout of a socket without one.
const noTimeout = -1

// File is an open socket.
type File struct {
	fs.StreamFile
	sock   Socket
	family int
	// reg is the registry the socket was made in (the device layer's
	// ioctls); nil for sockets made outside one.
	reg      *Registry
	ino      uint64
	uid, gid uint32
	created  linux.StatxTimestamp

	// rcvTimeo and sndTimeo are SO_RCVTIMEO and SO_SNDTIMEO in jiffies
	// (noTimeout: none; 0: never wait, as Linux after a negative
	// timeval).
	rcvTimeo atomic.Int64
	sndTimeo atomic.Int64
	released atomic.Bool
}

// NewFile wraps s, a socket of family, in a new description with flags
// (O_NONBLOCK; O_RDWR is implied). ctx's credentials own the file.
func NewFile(ctx *Context, family int, s Socket, flags uint32) *vfs.FileDescription {
	f := &File{sock: s, family: family, ino: firstIno + nextIno.Add(1), created: fs.Now()}
	if ctx != nil {
		f.reg = ctx.Sockets
	}
	f.rcvTimeo.Store(noTimeout)
	f.sndTimeo.Store(noTimeout)
	if ctx != nil && ctx.Context != nil && ctx.Creds != nil {
		f.uid, f.gid = ctx.Creds.FSUID, ctx.Creds.FSGID
	}
	if in, ok := s.(Inoder); ok {
		in.SetIno(f.ino)
	}
	return vfs.NewAnonymousFile("socket:["+strconv.FormatUint(f.ino, 10)+"]", f, f, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// FromDescription returns the socket file behind fd, or nil if fd is not
// a socket (the syscalls' ENOTSOCK).
func FromDescription(fd *vfs.FileDescription) *File {
	f, _ := fd.Impl().(*File)
	return f
}

// Socket returns the family's socket.
func (f *File) Socket() Socket { return f.sock }

// Family returns the socket's AF_* domain.
func (f *File) Family() int { return f.family }

// Ino returns the socket's inode number (socket:[N], /proc/net/unix).
func (f *File) Ino() uint64 { return f.ino }

// Type implements fs.Node.
func (f *File) Type() uint32 { return unix.S_IFSOCK }

// Stat implements fs.Node.
func (f *File) Stat(*fs.Context) (linux.Statx, error) {
	return linux.Statx{
		Mask:     fs.StatxBasic,
		Blksize:  4096,
		Nlink:    1,
		UID:      f.uid,
		GID:      f.gid,
		Mode:     unix.S_IFSOCK | 0777,
		Ino:      f.ino,
		Atime:    f.created,
		Mtime:    f.created,
		Ctime:    f.created,
		DevMajor: sockfsMajor,
		DevMinor: sockfsMinor,
	}, nil
}

// Open implements fs.Node: a socket cannot be reopened (ENXIO).
func (f *File) Open(*fs.Context, uint32) (fs.File, error) { return nil, unix.ENXIO }

// Release implements fs.File.
func (f *File) Release() {
	if f.released.Swap(true) {
		return
	}
	f.sock.Release()
}

// Readiness implements fs.Waitable.
func (f *File) Readiness(mask uint32) uint32 { return f.sock.Readiness(mask) }

// Watch implements fs.Waitable.
func (f *File) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) { return f.sock.Watch(mask, fn) }

// Ioctl implements fs.Ioctler through the family, then, for a request of
// the socket ioctl range the family does not know, through the device
// layer (DeviceIoctler), as Linux's sock_do_ioctl.
func (f *File) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	c := &Context{Context: ctx}
	n, err := f.sock.Ioctl(c, cmd, arg)
	if err != unix.ENOTTY || !IsDeviceIoctl(cmd) {
		return n, err
	}
	if d, ok := f.reg.Family(unix.AF_INET).(DeviceIoctler); ok {
		return d.DeviceIoctl(c, cmd, arg)
	}
	return n, err
}

// internalContext is the socket context of an fs-level call (sendfile
// and splice reach a socket through fs.File.Read/Write).
func internalContext(ctx *fs.Context) *Context {
	c := &Context{Context: ctx}
	if ctx != nil && ctx.Task != nil {
		c.Cred.PID = ctx.Task.TGID()
	}
	if ctx != nil && ctx.Creds != nil {
		c.Cred.UID, c.Cred.GID = ctx.Creds.RealUID, ctx.Creds.RealGID
		c.Cred.EUID, c.Cred.EGID = ctx.Creds.EffectiveUID, ctx.Creds.EffectiveGID
		c.Cred.SUID, c.Cred.SGID = ctx.Creds.SavedUID, ctx.Creds.SavedGID
	}
	return c
}

// Read implements fs.File for the sentry's own byte-buffer callers
// (sendfile, splice): recv(dst, 0). The syscalls read(2) and readv(2)
// use Recv with the caller's iovecs instead.
func (f *File) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	seq := usermem.BytesSequence(dst)
	r, err := f.Recv(internalContext(ctx), seq, 0, f.RecvBlocking(0, fl), false)
	r.Control.Release()
	return r.N, err
}

// Write implements fs.File for byte-buffer callers: send(src, 0).
func (f *File) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return f.Send(internalContext(ctx), usermem.BytesSequence(src), 0, f.SendBlocking(0, fl), nil, ControlMessages{})
}

// blocking returns the Blocking of a call with MSG_* flags on a
// description with status flags fl, against timeout (jiffies).
func blocking(flags int, fl uint32, timeo int64) *Blocking {
	b := &Blocking{NonBlock: flags&unix.MSG_DONTWAIT != 0 || fl&unix.O_NONBLOCK != 0}
	switch {
	case timeo == 0:
		b.NonBlock = true
	case timeo > 0:
		b.Deadline = time.Now().Add(time.Duration(timeo) * (time.Second / HZ))
	}
	return b
}

// RecvBlocking returns the Blocking of a receive (or accept) with MSG_*
// flags on a description with status flags fl.
func (f *File) RecvBlocking(flags int, fl uint32) *Blocking {
	return blocking(flags, fl, f.rcvTimeo.Load())
}

// SendBlocking returns the Blocking of a send (or connect).
func (f *File) SendBlocking(flags int, fl uint32) *Blocking {
	return blocking(flags, fl, f.sndTimeo.Load())
}

// Send sends src with MSG_* flags to addr (nil: the peer) with control
// messages, waiting as b allows (SendBlocking). The family raises SIGPIPE
// itself where Linux does (ctx.SIGPIPE).
func (f *File) Send(ctx *Context, src *usermem.IOSequence, flags int, b *Blocking, to []byte, ctl ControlMessages) (int, error) {
	return f.sock.SendMsg(ctx, src, &SendOptions{To: to, Flags: flags, Control: ctl, Blocking: b})
}

// Recv receives into dst with MSG_* flags, waiting as b allows
// (RecvBlocking); wantControl is false when the caller has no control
// buffer.
func (f *File) Recv(ctx *Context, dst *usermem.IOSequence, flags int, b *Blocking, wantControl bool) (RecvResult, error) {
	return f.sock.RecvMsg(ctx, dst, &RecvOptions{Flags: flags, WantControl: wantControl, Blocking: b})
}

// Socket-level options the socket layer serves itself.
const (
	soRcvtimeoOld = 20
	soSndtimeoOld = 21
	soRcvtimeoNew = 66
	soSndtimeoNew = 67
)

// timevalSize is sizeof(struct timeval) (and of __kernel_sock_timeval).
const timevalSize = 16

// GetSockOpt is getsockopt(2): the value, which the caller truncates to
// size. SOL_SOCKET's SO_TYPE, SO_DOMAIN, SO_PROTOCOL and the timeouts
// are served here, everything else by the family.
func (f *File) GetSockOpt(ctx *Context, level, name, size int) ([]byte, error) {
	if level == unix.SOL_SOCKET {
		stype, proto := f.sock.Type()
		switch name {
		case unix.SO_TYPE:
			return Int32(int32(stype)), nil
		case unix.SO_DOMAIN:
			return Int32(int32(f.family)), nil
		case unix.SO_PROTOCOL:
			return Int32(int32(proto)), nil
		case soRcvtimeoOld, soRcvtimeoNew:
			return timeoutValue(f.rcvTimeo.Load()), nil
		case soSndtimeoOld, soSndtimeoNew:
			return timeoutValue(f.sndTimeo.Load()), nil
		}
	}
	return f.sock.GetSockOpt(ctx, level, name, size)
}

// SetSockOpt is setsockopt(2).
func (f *File) SetSockOpt(ctx *Context, level, name int, val []byte) error {
	if level == unix.SOL_SOCKET {
		switch name {
		case soRcvtimeoOld, soRcvtimeoNew, soSndtimeoOld, soSndtimeoNew:
			if len(val) < 4 {
				return unix.EINVAL
			}
			j, err := timeoutJiffies(val)
			if err != nil {
				return err
			}
			if name == soRcvtimeoOld || name == soRcvtimeoNew {
				f.rcvTimeo.Store(j)
			} else {
				f.sndTimeo.Store(j)
			}
			return nil
		case unix.SO_TYPE, unix.SO_DOMAIN, unix.SO_PROTOCOL:
			if len(val) < 4 {
				return unix.EINVAL
			}
			return unix.ENOPROTOOPT
		}
	}
	return f.sock.SetSockOpt(ctx, level, name, val)
}

// timeoutJiffies decodes a struct timeval as Linux's sock_set_timeout:
// EINVAL when short, EDOM for microseconds out of range, a negative time
// means "never wait" (0), a zero time means no timeout.
func timeoutJiffies(val []byte) (int64, error) {
	if len(val) < timevalSize {
		return 0, unix.EINVAL
	}
	sec := int64(binary.LittleEndian.Uint64(val))
	usec := int64(binary.LittleEndian.Uint64(val[8:]))
	if usec < 0 || usec >= 1e6 {
		return 0, unix.EDOM
	}
	if sec < 0 {
		return 0, nil
	}
	if sec == 0 && usec == 0 {
		return noTimeout, nil
	}
	const maxSec = (1<<63-1)/HZ - 1
	if sec >= maxSec {
		return noTimeout, nil
	}
	return sec*HZ + (usec+1e6/HZ-1)/(1e6/HZ), nil
}

// timeoutValue encodes jiffies as the struct timeval getsockopt returns.
func timeoutValue(j int64) []byte {
	b := make([]byte, timevalSize)
	if j == noTimeout {
		return b
	}
	binary.LittleEndian.PutUint64(b, uint64(j/HZ))
	binary.LittleEndian.PutUint64(b[8:], uint64(j%HZ*1e6/HZ))
	return b
}

// Int32 encodes an int option value.
func Int32(v int32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(v))
	return b
}

// Bool32 encodes a boolean int option value.
func Bool32(v bool) []byte {
	if v {
		return Int32(1)
	}
	return Int32(0)
}

// IntArg decodes an int option argument as Linux's sk_setsockopt: EINVAL
// when shorter than an int.
func IntArg(val []byte) (int32, error) {
	if len(val) < 4 {
		return 0, unix.EINVAL
	}
	return int32(binary.LittleEndian.Uint32(val)), nil
}
