package syscalls

// POSIX message queues: mq_open, mq_unlink, mq_timedsend,
// mq_timedreceive, mq_notify and mq_getsetattr over sentry/fs/mqueue, the
// sandbox's IPC namespace's queues (the same ones its mqueue mounts show).

import (
	"encoding/binary"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/mqueue"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// mqAttrSize is sizeof(struct mq_attr).
const mqAttrSize = 64

func getMqAttr(t *process.Thread, addr uintptr) (mqueue.Attr, error) {
	var b [mqAttrSize]byte
	if _, err := t.CopyInBytes(hostarch.Addr(addr), b[:]); err != nil {
		return mqueue.Attr{}, unix.EFAULT
	}
	le := binary.LittleEndian
	return mqueue.Attr{
		Flags:   int64(le.Uint64(b[0:])),
		MaxMsg:  int64(le.Uint64(b[8:])),
		MsgSize: int64(le.Uint64(b[16:])),
		CurMsgs: int64(le.Uint64(b[24:])),
	}, nil
}

func putMqAttr(t *process.Thread, addr uintptr, a mqueue.Attr) error {
	var b [mqAttrSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(a.Flags))
	le.PutUint64(b[8:], uint64(a.MaxMsg))
	le.PutUint64(b[16:], uint64(a.MsgSize))
	le.PutUint64(b[24:], uint64(a.CurMsgs))
	return copyOutBytes(t, addr, b[:])
}

func MqOpen(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	nameAddr, oflag, mode, attrAddr := a.Ptr(0), a.Uint(1), a.Uint(2), a.Ptr(3)
	var attr *mqueue.Attr
	if attrAddr != 0 {
		at, err := getMqAttr(t, attrAddr)
		if err != nil {
			return 0, err
		}
		attr = &at
	}
	name, err := copyInPath(t, nameAddr)
	if err != nil {
		return 0, err
	}
	r := ns.MQueue
	creds := t.Credentials()
	q, err := r.Lookup(name)
	var impl *mqueue.File
	switch {
	case err == unix.ENOENT:
		if oflag&unix.O_CREAT == 0 {
			return 0, unix.ENOENT
		}
		// may_create in the queues' directory.
		var root linux.Statx
		if root, err = r.Filesystem().Root().Stat(fsContext(t)); err != nil {
			return 0, err
		}
		if !fs.HasPerm(creds, uint32(root.Mode), root.UID, root.GID, 3) {
			return 0, unix.EACCES
		}
		q, impl, err = r.Create(name, mqueue.CreateOpts{
			Mode:       mode &^ t.FS.Umask() & 07777,
			UID:        creds.FSUID,
			GID:        creds.FSGID,
			Charged:    creds.RealUID,
			Attr:       attr,
			Privileged: creds.HasCapability(linux.CAP_SYS_RESOURCE),
			RLimit:     t.TG.Limits.Get(unix.RLIMIT_MSGQUEUE).Cur,
		})
		if err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	default:
		if oflag&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
			return 0, unix.EEXIST
		}
		acc := oflag & unix.O_ACCMODE
		if acc == unix.O_ACCMODE {
			return 0, unix.EINVAL
		}
		want := map[uint32]uint32{unix.O_RDONLY: 4, unix.O_WRONLY: 2, unix.O_RDWR: 6}[acc]
		qm, uid, gid := q.Permissions()
		if !fs.HasPerm(creds, unix.S_IFREG|qm, uid, gid, want) {
			return 0, unix.EACCES
		}
		f, err := q.Open(fsContext(t), oflag)
		if err != nil {
			return 0, err
		}
		impl = f.(*mqueue.File)
	}
	fd := vfs.NewAnonymousFile("/"+name, q, impl, oflag&(unix.O_ACCMODE|unix.O_NONBLOCK))
	defer fd.DecRef()
	// The descriptor is always close-on-exec (Linux's do_mq_open).
	return installFile(t, fd, true)
}

func MqUnlink(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	name, err := copyInPath(t, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	r := ns.MQueue
	q, err := r.Lookup(name)
	if err != nil {
		return 0, err
	}
	// may_delete: write and search on the directory, and its sticky bit.
	ctx := fsContext(t)
	root, err := r.Filesystem().Root().Stat(ctx)
	if err != nil {
		return 0, err
	}
	creds := ctx.Creds
	if !fs.HasPerm(creds, uint32(root.Mode), root.UID, root.GID, 3) {
		return 0, unix.EACCES
	}
	if root.Mode&unix.S_ISVTX != 0 {
		_, uid, _ := q.Permissions()
		if creds.FSUID != uid && creds.FSUID != root.UID && !creds.HasCapability(linux.CAP_FOWNER) {
			return 0, unix.EPERM
		}
	}
	return 0, r.Unlink(name)
}

// mqFile returns the queue file of descriptor fd (EBADF if it is not
// one) with a reference.
func mqFile(t *process.Thread, fd int32) (*vfs.FileDescription, *mqueue.Queue, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, nil, err
	}
	mf, ok := f.Impl().(*mqueue.File)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EBADF
	}
	return f, mf.Queue(), nil
}

// mqDeadline reads an absolute CLOCK_REALTIME timeout (zero: none).
// Errors: EFAULT, EINVAL for an invalid timespec.
func mqDeadline(t *process.Thread, addr uintptr) (time.Time, error) {
	if addr == 0 {
		return time.Time{}, nil
	}
	var ts linux.Timespec
	if _, err := ts.CopyIn(t, hostarch.Addr(addr)); err != nil {
		return time.Time{}, unix.EFAULT
	}
	if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
		return time.Time{}, unix.EINVAL
	}
	return time.Unix(ts.Sec, ts.Nsec), nil
}

func MqTimedsend(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if _, err := ipcNS(t); err != nil {
		return 0, err
	}
	fd, addr, size, prio := a.Int(0), a.Ptr(1), uint64(a[2]), a.Uint(3)
	deadline, err := mqDeadline(t, a.Ptr(4))
	if err != nil {
		return 0, err
	}
	if prio >= linux.MQ_PRIO_MAX {
		return 0, unix.EINVAL
	}
	f, q, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.Writable() {
		return 0, unix.EBADF
	}
	if size > uint64(q.Attr().MsgSize) {
		return 0, unix.EMSGSIZE
	}
	data := make([]byte, size)
	if _, err := t.CopyInBytes(hostarch.Addr(addr), data); err != nil {
		return 0, unix.EFAULT
	}
	from := mqueue.Sender{PID: t.TG.TGID(), UID: t.Credentials().RealUID, Ref: t}
	return 0, q.Send(fsContext(t), data, prio, f.Flags()&unix.O_NONBLOCK != 0, deadline, from)
}

func MqTimedreceive(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if _, err := ipcNS(t); err != nil {
		return 0, err
	}
	fd, addr, size, prioAddr := a.Int(0), a.Ptr(1), int64(a[2]), a.Ptr(3)
	deadline, err := mqDeadline(t, a.Ptr(4))
	if err != nil {
		return 0, err
	}
	f, q, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.Readable() {
		return 0, unix.EBADF
	}
	if size < 0 {
		size = 1<<63 - 1
	}
	data, prio, err := q.Receive(fsContext(t), size, f.Flags()&unix.O_NONBLOCK != 0, deadline)
	if err != nil {
		return 0, err
	}
	if prioAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], prio)
		if err := copyOutBytes(t, prioAddr, b[:]); err != nil {
			return 0, err
		}
	}
	if err := copyOutBytes(t, addr, data); err != nil {
		return 0, err
	}
	return uintptr(len(data)), nil
}

// mqTarget is a notification's process.
type mqTarget struct {
	tg  *process.ThreadGroup
	gen uint64
}

func (m *mqTarget) PID() int32 { return m.tg.TGID() }

func (m *mqTarget) PIDFor(reader *fs.Context) int32 {
	if reader != nil && reader.Task != nil {
		if th, ok := reader.Task.Ext.(*process.Thread); ok {
			return th.PIDOf(m.tg)
		}
	}
	return m.tg.TGID()
}

func (m *mqTarget) Valid() bool { return m.tg.Alive() && m.tg.ExecGeneration() == m.gen }

func (m *mqTarget) Signal(signo int32, value uint64, from mqueue.Sender) {
	info := &linux.SignalInfo{Signo: signo, Code: linux.SI_MESGQ}
	info.SetPID(from.PID)
	info.SetUID(int32(from.UID))
	info.SetSigval(value)
	sender, _ := from.Ref.(*process.Thread)
	if sender != nil && sender.TG == m.tg {
		sender = nil
	}
	m.tg.SendSignalFrom(sender, nil, info)
}

// sigeventSize is sizeof(struct sigevent).
const sigeventSize = 64

func MqNotify(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if _, err := ipcNS(t); err != nil {
		return 0, err
	}
	fd, sevAddr := a.Int(0), a.Ptr(1)
	var n *mqueue.Notification
	if sevAddr != 0 {
		var b [sigeventSize]byte
		if _, err := t.CopyInBytes(hostarch.Addr(sevAddr), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		le := binary.LittleEndian
		n = &mqueue.Notification{
			Value:  le.Uint64(b[0:]),
			Signo:  int32(le.Uint32(b[8:])),
			Notify: int32(le.Uint32(b[12:])),
			Owner:  &mqTarget{tg: t.TG, gen: t.TG.ExecGeneration()},
		}
		switch n.Notify {
		case linux.SIGEV_NONE:
		case linux.SIGEV_SIGNAL:
			if n.Signo < 0 || n.Signo > linux.SignalMaximum {
				return 0, unix.EINVAL
			}
		case linux.SIGEV_THREAD:
			cookie := make([]byte, linux.NOTIFY_COOKIE_LEN)
			if _, err := t.CopyInBytes(hostarch.Addr(n.Value), cookie); err != nil {
				return 0, unix.EFAULT
			}
			sf, err := getFile(t, n.Signo)
			if err != nil {
				return 0, err
			}
			sock, ok := sf.Impl().(mqueue.NotifySocket)
			isSock := sf.Node().Type() == unix.S_IFSOCK
			sf.DecRef()
			switch {
			case ok:
			case isSock:
				return 0, unix.EINVAL
			default:
				return 0, unix.ENOTSOCK
			}
			n.Socket, n.Cookie = sock, cookie
		default:
			return 0, unix.EINVAL
		}
	}
	f, q, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, q.SetNotification(t.TG.TGID(), n)
}

func MqGetsetattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if _, err := ipcNS(t); err != nil {
		return 0, err
	}
	fd, newAddr, oldAddr := a.Int(0), a.Ptr(1), a.Ptr(2)
	var nw *mqueue.Attr
	if newAddr != 0 {
		at, err := getMqAttr(t, newAddr)
		if err != nil {
			return 0, err
		}
		if at.Flags&^unix.O_NONBLOCK != 0 {
			return 0, unix.EINVAL
		}
		nw = &at
	}
	f, q, err := mqFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	old := q.Attr()
	old.Flags = int64(f.Flags() & unix.O_NONBLOCK)
	if nw != nil {
		fl := f.Flags() &^ unix.O_NONBLOCK
		if nw.Flags&unix.O_NONBLOCK != 0 {
			fl |= unix.O_NONBLOCK
		}
		f.SetFlags(fl)
		q.Touch()
	}
	if oldAddr != 0 {
		return 0, putMqAttr(t, oldAddr, old)
	}
	return 0, nil
}
