package seccomp

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// ListenerName is the listener's name in /proc/PID/fd.
const ListenerName = "anon_inode:seccomp notify"

// The listener's ioctls (linux/seccomp.h). ID_VALID had the wrong
// direction bits before Linux 5.17; both numbers are accepted, as Linux
// does.
const (
	ioctlNotifRecv       = linux.SECCOMP_IOCTL_NOTIF_RECV
	ioctlNotifSend       = linux.SECCOMP_IOCTL_NOTIF_SEND
	ioctlNotifIDValid    = 0x40082102
	ioctlNotifIDValidOld = 0x80082102
	// IoctlNotifAddFD is served by the ioctl syscall itself (it needs
	// the supervisor's descriptor table): see Listener.AddFD.
	IoctlNotifAddFD    = 0x40182103
	ioctlNotifSetFlags = linux.SECCOMP_IOCTL_NOTIF_SET_FLAGS
)

// anonInode is the anonymous inode every one of these files shares.
var anonInode = fs.NewAnonInode()

// notifState is where a notification is in its life (Linux's
// SECCOMP_NOTIFY_INIT, SENT, REPLIED).
type notifState int

const (
	notifInit notifState = iota
	notifSent
	notifReplied
)

// FDInstaller puts a file in a notification's target's descriptor table
// (SECCOMP_IOCTL_NOTIF_ADDFD): at newfd if setfd (replacing what was
// there; EBADF beyond RLIMIT_NOFILE), else at the lowest free number
// (EMFILE). It returns the number.
type FDInstaller func(f *vfs.FileDescription, newfd int32, setfd, cloexec bool) (int32, error)

// notification is one filtered syscall waiting for the supervisor.
type notification struct {
	id      uint64
	pid     int32
	data    linux.SeccompData
	install FDInstaller
	state   notifState
	// The reply: the syscall's result, or CONTINUE.
	val    int64
	errval int32
	cont   bool
}

// Listener is the user-notification side of a filter: the file a
// supervisor reads notifications from (SECCOMP_IOCTL_NOTIF_RECV) and
// answers (SECCOMP_IOCTL_NOTIF_SEND), with poll readiness (POLLIN: a
// notification to receive; POLLOUT: one received and not yet answered;
// POLLHUP: no thread uses the filter any more). A Listener is also the
// fs.Node of its anonymous file.
type Listener struct {
	fs.StreamFile
	created linux.StatxTimestamp

	mu     sync.Mutex
	nextID uint64
	notifs []*notification // in arrival order; replied ones leave
	closed bool            // the file is gone: notifications get ENOSYS
	gone   bool            // no thread uses the filter
	// waitKillable is SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: once
	// received, a notification's wait ends only with its answer or the
	// thread's death, not with a signal.
	waitKillable bool

	recvq    kernel.WaitQueue // supervisors waiting in RECV
	replyq   kernel.WaitQueue // filtered threads waiting for their reply
	notifier fs.Notifier
}

func newListener(waitKillable bool) *Listener {
	var b [8]byte
	rand.Read(b[:])
	return &Listener{nextID: binary.LittleEndian.Uint64(b[:]), created: fs.Now(), waitKillable: waitKillable}
}

// Notify is SECCOMP_RET_USER_NOTIF for the calling task: it queues a
// notification of d from pid and blocks, releasing the CPU, until the
// supervisor answers. It returns the answer: the syscall's result (errval,
// a negative errno, when it is not 0, else val) or cont
// (SECCOMP_USER_NOTIF_FLAG_CONTINUE: run the syscall). ENOSYS when the
// listener is closed (before or meanwhile); kernel.ErrInterrupted when a
// signal came first, the notification then withdrawn (the syscall
// restarts and notifies again, as Linux's ERESTARTSYS) — with
// WAIT_KILLABLE_RECV, only until the supervisor has received it; after
// that only the thread's death (dying) ends the wait. install serves
// ADDFD for this notification.
func (l *Listener) Notify(task *kernel.Task, pid int32, d *linux.SeccompData, install FDInstaller, dying func() bool) (val int64, errval int32, cont bool, err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, 0, false, unix.ENOSYS
	}
	n := &notification{id: l.nextID, pid: pid, data: *d, install: install}
	l.nextID++
	l.notifs = append(l.notifs, n)
	l.mu.Unlock()
	l.recvq.NotifyAll()
	l.notifier.Notify(unix.POLLIN)

	for {
		l.mu.Lock()
		killable := l.waitKillable && n.state == notifSent
		l.mu.Unlock()
		done := func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			switch {
			case n.state == notifReplied || l.closed:
				return true
			case killable:
				return dying()
			}
			// Received meanwhile: the wait becomes killable.
			return l.waitKillable && n.state == notifSent
		}
		werr := l.replyq.Wait(task, done, kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: !killable})
		l.mu.Lock()
		switch {
		case n.state == notifReplied:
			l.mu.Unlock()
			return n.val, n.errval, n.cont, nil
		case l.closed:
			l.removeLocked(n)
			l.mu.Unlock()
			return 0, 0, false, unix.ENOSYS
		case werr != nil:
			l.removeLocked(n)
			l.mu.Unlock()
			return 0, 0, false, werr
		case killable && dying():
			l.removeLocked(n)
			l.mu.Unlock()
			return 0, 0, false, kernel.ErrInterrupted
		}
		l.mu.Unlock()
	}
}

func (l *Listener) removeLocked(n *notification) {
	for i, m := range l.notifs {
		if m == n {
			l.notifs = append(l.notifs[:i], l.notifs[i+1:]...)
			return
		}
	}
}

// filterGone is called when the last thread using the filter has gone.
func (l *Listener) filterGone() {
	l.mu.Lock()
	l.gone = true
	l.mu.Unlock()
	l.recvq.NotifyAll()
	l.notifier.Notify(unix.POLLHUP)
}

// Type implements fs.Node: anonymous inodes have no file type bits.
func (l *Listener) Type() uint32 { return 0 }

// Stat implements fs.Node: an anonymous inode, mode 0600.
func (l *Listener) Stat(ctx *fs.Context) (linux.Statx, error) {
	return anonInode.Stat(l.created, 0), nil
}

// Open implements fs.Node: an anonymous inode cannot be reopened through
// /proc/PID/fd (ENXIO).
func (l *Listener) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	return nil, unix.ENXIO
}

// Read implements fs.File: the listener has no read (EINVAL, as Linux).
func (l *Listener) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// Write implements fs.File: the listener has no write (EINVAL).
func (l *Listener) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// Release implements fs.File: the supervisor is gone. Every waiting
// notification fails with ENOSYS, and so does every later one.
func (l *Listener) Release() {
	l.mu.Lock()
	l.closed = true
	l.notifs = nil
	l.mu.Unlock()
	l.replyq.NotifyAll()
}

// Readiness implements fs.Waitable.
func (l *Listener) Readiness(mask uint32) uint32 {
	l.mu.Lock()
	var ev uint32
	for _, n := range l.notifs {
		switch n.state {
		case notifInit:
			ev |= unix.POLLIN | linux.POLLRDNORM
		case notifSent:
			ev |= unix.POLLOUT | linux.POLLWRNORM
		}
	}
	if l.gone {
		ev |= unix.POLLHUP
	}
	l.mu.Unlock()
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable.
func (l *Listener) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return l.notifier.Watch(mask, fn)
}

// Ioctl implements fs.Ioctler: SECCOMP_IOCTL_NOTIF_RECV, _SEND,
// _ID_VALID and _SET_FLAGS (ADDFD: AddFD, through the ioctl syscall).
func (l *Listener) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case ioctlNotifRecv:
		return 0, l.recv(ctx, hostarch.Addr(arg))
	case ioctlNotifSend:
		return 0, l.send(ctx, hostarch.Addr(arg))
	case ioctlNotifIDValid, ioctlNotifIDValidOld:
		var id [8]byte
		if _, err := ctx.Mem.CopyInBytes(hostarch.Addr(arg), id[:]); err != nil {
			return 0, unix.EFAULT
		}
		want := binary.LittleEndian.Uint64(id[:])
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, n := range l.notifs {
			if n.id == want && n.state == notifSent {
				return 0, nil
			}
		}
		return 0, unix.ENOENT
	case ioctlNotifSetFlags:
		// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP only asks the scheduler
		// to run the woken thread on the waker's CPU: accepted.
		if arg&^uintptr(linux.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0 {
			return 0, unix.EINVAL
		}
		return 0, nil
	}
	return 0, unix.ENOTTY
}

// recv is SECCOMP_IOCTL_NOTIF_RECV: the oldest notification nobody has
// received, copied out as struct seccomp_notif, whose buffer must come in
// zeroed (EINVAL otherwise). It blocks until there is one.
func (l *Listener) recv(ctx *fs.Context, addr hostarch.Addr) error {
	var buf [NotifSize]byte
	if _, err := ctx.Mem.CopyInBytes(addr, buf[:]); err != nil {
		return unix.EFAULT
	}
	for _, b := range buf {
		if b != 0 {
			return unix.EINVAL
		}
	}
	var n *notification
	take := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, m := range l.notifs {
			if m.state == notifInit {
				m.state = notifSent
				n = m
				return true
			}
		}
		return false
	}
	if err := ctx.Block(&l.recvq, take); err != nil {
		return err
	}
	if l.waitKillable {
		// The target's wait turns killable now.
		l.replyq.NotifyAll()
	}
	out := linux.SeccompNotif{ID: n.id, Pid: n.pid, Data: n.data}
	if _, err := out.CopyOut(ctx.Mem, addr); err != nil {
		// Not received after all: somebody else may take it.
		l.mu.Lock()
		if n.state == notifSent {
			n.state = notifInit
		}
		l.mu.Unlock()
		l.recvq.NotifyAll()
		return unix.EFAULT
	}
	l.notifier.Notify(unix.POLLOUT)
	return nil
}

// send is SECCOMP_IOCTL_NOTIF_SEND: the answer to a received
// notification. EINVAL for unknown flags or CONTINUE with a result,
// ENOENT for an id that is not waiting (answered, or withdrawn by a
// signal), EINPROGRESS for one not yet received.
func (l *Listener) send(ctx *fs.Context, addr hostarch.Addr) error {
	var resp linux.SeccompNotifResp
	if _, err := resp.CopyIn(ctx.Mem, addr); err != nil {
		return unix.EFAULT
	}
	if resp.Flags&^linux.SECCOMP_USER_NOTIF_FLAG_CONTINUE != 0 {
		return unix.EINVAL
	}
	cont := resp.Flags&linux.SECCOMP_USER_NOTIF_FLAG_CONTINUE != 0
	if cont && (resp.Error != 0 || resp.Val != 0) {
		return unix.EINVAL
	}
	l.mu.Lock()
	var n *notification
	for _, m := range l.notifs {
		if m.id == resp.ID {
			n = m
			break
		}
	}
	switch {
	case n == nil:
		l.mu.Unlock()
		return unix.ENOENT
	case n.state != notifSent:
		l.mu.Unlock()
		return unix.EINPROGRESS
	}
	n.state = notifReplied
	n.val, n.errval, n.cont = resp.Val, resp.Error, cont
	l.removeLocked(n)
	l.mu.Unlock()
	l.replyq.NotifyAll()
	return nil
}

// AddFD is SECCOMP_IOCTL_NOTIF_ADDFD once its arguments are decoded: f
// (the supervisor's srcfd) is installed in the target of the received
// notification id, and with send (SECCOMP_ADDFD_FLAG_SEND) the
// notification is answered with the new number as the syscall's result.
// It returns the number. ENOENT for an id that is not waiting,
// EINPROGRESS for one not yet received.
func (l *Listener) AddFD(id uint64, f *vfs.FileDescription, newfd int32, setfd, cloexec, send bool) (int32, error) {
	l.mu.Lock()
	var n *notification
	for _, m := range l.notifs {
		if m.id == id {
			n = m
			break
		}
	}
	switch {
	case n == nil:
		l.mu.Unlock()
		return 0, unix.ENOENT
	case n.state != notifSent:
		l.mu.Unlock()
		return 0, unix.EINPROGRESS
	case n.install == nil:
		l.mu.Unlock()
		return 0, unix.ENOSYS
	}
	install := n.install
	l.mu.Unlock()
	// Not under l.mu: replacing a descriptor may release a file, the
	// listener itself among them.
	fd, err := install(f, newfd, setfd, cloexec)
	if err != nil || !send {
		return fd, err
	}
	l.mu.Lock()
	if n.state == notifSent {
		n.state = notifReplied
		n.val, n.errval, n.cont = int64(fd), 0, false
		l.removeLocked(n)
	}
	l.mu.Unlock()
	l.replyq.NotifyAll()
	return fd, nil
}
