// Package mqueue is POSIX message queues (mq_open, mq_unlink,
// mq_timedsend, mq_timedreceive, mq_notify, mq_getsetattr) and the mqueue
// filesystem that shows them, one per IPC namespace: every mount of it
// (the sandbox mounts one on /dev/mqueue) shows the same queues, and
// reading a queue's file gives Linux's "QSIZE:... NOTIFY:... SIGNO:...
// NOTIFY_PID:..." line.
//
// A queue keeps its messages by priority, first in first out within one.
// A sender finding the queue full, or a receiver finding it empty, sleeps
// on the queue (a kernel wait queue, releasing its CPU) unless its
// description is O_NONBLOCK (EAGAIN), until an absolute CLOCK_REALTIME
// deadline (ETIMEDOUT) or a signal (EINTR; restarted with SA_RESTART, as
// Linux's ERESTARTSYS). A message sent while a receiver waits goes
// straight to the first receiver, and a receiver taking a message from a
// full queue takes the first waiting sender's message in, as Linux's
// pipelined_send and pipelined_receive: waiters are served in arrival
// order. A queue that was empty and receives a message with nobody
// waiting notifies the process registered with mq_notify (a signal with
// SI_MESGQ, or the netlink cookie of SIGEV_THREAD when a socket that can
// take it was given), once. Queue files are readable in poll and epoll
// while they hold a message and writable while they have room.
//
// Limits are Linux's, from /proc/sys/fs/mqueue: queues_max (without
// CAP_SYS_RESOURCE), msg_max and msgsize_max (hard limits with it),
// msg_default and msgsize_default, and each user's RLIMIT_MSGQUEUE,
// counted in bytes as Linux counts them. Queued messages are charged to
// the namespace's ipc.Budget.
//
// Locking: Registry.mu protects the name table, the limits and the
// per-user counts; Queue.mu a queue's messages, waiters, attributes and
// registration. Order: Registry.mu → Queue.mu. Neither is held across a
// wait, a notification's signal or a poll callback.
package mqueue

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Magic is the mqueue filesystem's statfs f_type (MQUEUE_MAGIC).
const Magic = 0x19800202

// fileSize is what stat reports as a queue file's size (FILENT_SIZE).
const fileSize = 80

// Sizes Linux counts against RLIMIT_MSGQUEUE per message slot: struct
// msg_msg and struct posix_msg_tree_node on x86-64.
const (
	msgHeaderSize = 48
	treeNodeSize  = 48
)

// Limits are the /proc/sys/fs/mqueue sysctls.
type Limits struct {
	QueuesMax      int64
	MsgMax         int64
	MsgsizeMax     int64
	MsgDefault     int64
	MsgsizeDefault int64
}

// DefaultLimits are Linux's defaults.
var DefaultLimits = Limits{
	QueuesMax:      linux.DFLT_QUEUESMAX,
	MsgMax:         linux.DFLT_MSGMAX,
	MsgsizeMax:     linux.DFLT_MSGSIZEMAX,
	MsgDefault:     int64(linux.DFLT_MSG),
	MsgsizeDefault: int64(linux.DFLT_MSGSIZE),
}

// Registry is one IPC namespace's message queues and their filesystem.
type Registry struct {
	budget       *ipc.Budget
	major, minor uint32
	fs           *Filesystem
	// RLimit returns the caller's RLIMIT_MSGQUEUE (bytes) for queues
	// created through open(2) on a mount; nil means unlimited.
	RLimit func(ctx *fs.Context) uint64

	mu        sync.Mutex
	limits    Limits
	queues    map[string]*Queue
	count     int
	userBytes map[uint32]uint64
	rootAttr  nodeAttr
	nextIno   uint64
}

// nodeAttr are a node's changeable attributes.
type nodeAttr struct {
	mode                uint32
	uid, gid            uint32
	atime, mtime, ctime linux.StatxTimestamp
}

// NewRegistry returns an empty registry charging messages to budget.
func NewRegistry(budget *ipc.Budget) *Registry {
	r := &Registry{
		budget:    budget,
		limits:    DefaultLimits,
		queues:    make(map[string]*Queue),
		userBytes: make(map[uint32]uint64),
		nextIno:   2,
	}
	now := fs.Now()
	r.rootAttr = nodeAttr{mode: unix.S_ISVTX | 0777, atime: now, mtime: now, ctime: now}
	r.major, r.minor = fs.NewAnonDev()
	r.fs = &Filesystem{r: r}
	return r
}

// Filesystem returns the mqueue filesystem (the same for every mount).
func (r *Registry) Filesystem() *Filesystem { return r.fs }

// Limits returns the sysctls.
func (r *Registry) Limits() Limits {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.limits
}

// SetLimits replaces the sysctls (the caller checked their ranges).
func (r *Registry) SetLimits(l Limits) {
	r.mu.Lock()
	r.limits = l
	r.mu.Unlock()
}

// Attr are a queue's attributes (struct mq_attr).
type Attr struct {
	Flags, MaxMsg, MsgSize, CurMsgs int64
}

// message is one queued message.
type message struct {
	prio uint32
	data []byte
}

// Queue is one message queue: a node of the filesystem.
type Queue struct {
	r    *Registry
	name string
	ino  uint64

	mu      sync.Mutex
	attr    nodeAttr
	maxMsg  int64
	msgSize int64
	msgs    []*message // by priority, highest first; FIFO within one
	qsize   int64
	// refs are the name (until unlinked) and the open descriptions.
	refs int
	// user and charge are whose RLIMIT_MSGQUEUE count the queue is in,
	// and by how much.
	user   uint32
	charge uint64
	// receivers and senders wait in arrival order.
	receivers, senders []*waiter
	notify             *Notification
	notifier           fs.Notifier
}

// waiter is a sleeping mq_timedreceive (msg filled when served) or
// mq_timedsend (msg handed over when served).
type waiter struct {
	msg  *message
	done bool
	wq   kernel.WaitQueue
}

// Notification is an mq_notify registration.
type Notification struct {
	// Notify is SIGEV_NONE, SIGEV_SIGNAL or SIGEV_THREAD.
	Notify int32
	Signo  int32
	Value  uint64
	// Owner is the registering process.
	Owner Target
	// Socket and Cookie are SIGEV_THREAD's netlink socket and cookie.
	Socket NotifySocket
	Cookie []byte
}

// Target is the process a notification is for; the syscall layer makes
// it from a thread group.
type Target interface {
	// PID is the process's kernel ID (the sandbox's PID namespace's).
	PID() int32
	// PIDFor is the process's ID as the reader of the queue file sees it
	// (NOTIFY_PID: pid_vnr, 0 outside the reader's PID namespace).
	PIDFor(reader *fs.Context) int32
	// Valid reports whether the process is alive and has not executed
	// another program since it registered.
	Valid() bool
	// Signal sends signo with SI_MESGQ, value and the sender's PID and
	// UID.
	Signal(signo int32, value uint64, from Sender)
}

// NotifySocket is a netlink socket that takes SIGEV_THREAD's cookie
// (glibc's helper thread reads it there).
type NotifySocket interface {
	DeliverNotifyCookie(cookie []byte) error
}

// Sender is who sends a message (for the notification's siginfo); Ref is
// the caller's own handle on the sending thread, passed to Target.Signal.
type Sender struct {
	PID int32
	UID uint32
	Ref any
}

func (q *Queue) userCharge() uint64 {
	treeNodes := min(q.maxMsg, linux.MQ_PRIO_MAX)
	return uint64(q.maxMsg)*msgHeaderSize + uint64(treeNodes)*treeNodeSize + uint64(q.maxMsg)*uint64(q.msgSize)
}

// checkAttrLocked is mqueue_get_inode's check of a new queue's
// attributes (privileged: CAP_SYS_RESOURCE, judged against the hard
// limits).
func (r *Registry) checkAttrLocked(a *Attr, privileged bool) error {
	if a.MaxMsg <= 0 || a.MsgSize <= 0 {
		return unix.EINVAL
	}
	l := r.limits
	if privileged {
		if a.MaxMsg > linux.HARD_MSGMAX || a.MsgSize > linux.HARD_MSGSIZEMAX {
			return unix.EINVAL
		}
	} else if a.MaxMsg > l.MsgMax || a.MsgSize > l.MsgsizeMax {
		return unix.EINVAL
	}
	if uint64(a.MsgSize) > ^uint64(0)/uint64(a.MaxMsg) {
		return unix.EOVERFLOW
	}
	return nil
}

// CreateOpts describe a new queue.
type CreateOpts struct {
	Mode     uint32
	UID, GID uint32
	// Attr are the attributes asked for (checked by CheckAttr), nil for
	// the defaults.
	Attr *Attr
	// Charged is the user whose RLIMIT_MSGQUEUE count the queue joins
	// (the creator's real UID).
	Charged uint32
	// Privileged is CAP_SYS_RESOURCE (past queues_max, and the hard
	// limits for the attributes).
	Privileged bool
	// RLimit is the creator's RLIMIT_MSGQUEUE in bytes.
	RLimit uint64
}

// validName reports whether name can name a queue (one path component).
func validName(name string) error {
	switch {
	case name == "" || name == "." || name == ".." || strings.Contains(name, "/"):
		return unix.EACCES
	case len(name) > 255:
		return unix.ENAMETOOLONG
	}
	return nil
}

// Lookup returns the queue called name. ENOENT if there is none.
func (r *Registry) Lookup(name string) (*Queue, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, ok := r.queues[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return q, nil
}

// Create makes queue name and returns it opened once (the File holds
// that reference). EEXIST if it exists; then, in Linux's
// order, ENOSPC past queues_max without privilege; EINVAL or EOVERFLOW for
// attributes out of bounds; EMFILE past the creator's RLIMIT_MSGQUEUE.
func (r *Registry) Create(name string, o CreateOpts) (*Queue, *File, error) {
	if err := validName(name); err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.queues[name]; ok {
		return nil, nil, unix.EEXIST
	}
	if r.count >= int(r.limits.QueuesMax) && !o.Privileged {
		return nil, nil, unix.ENOSPC
	}
	if o.Attr != nil {
		if err := r.checkAttrLocked(o.Attr, o.Privileged); err != nil {
			return nil, nil, err
		}
	}
	now := fs.Now()
	q := &Queue{
		r: r, name: name, ino: r.nextIno,
		attr:    nodeAttr{mode: o.Mode & 07777, uid: o.UID, gid: o.GID, atime: now, mtime: now, ctime: now},
		maxMsg:  r.limits.MsgDefault,
		msgSize: r.limits.MsgsizeDefault,
		refs:    2,
		user:    o.Charged,
	}
	if o.Attr != nil {
		q.maxMsg, q.msgSize = o.Attr.MaxMsg, o.Attr.MsgSize
	}
	charge := q.userCharge()
	used := r.userBytes[o.Charged]
	if used+charge < used || used+charge > o.RLimit {
		return nil, nil, unix.EMFILE
	}
	r.userBytes[o.Charged] = used + charge
	q.charge = charge
	r.nextIno++
	r.count++
	r.queues[name] = q
	r.rootAttr.mtime, r.rootAttr.ctime = now, now
	return q, &File{q: q}, nil
}

// Unlink removes queue name; it lives on while descriptions hold it.
// ENOENT if there is none.
func (r *Registry) Unlink(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	r.mu.Lock()
	q, ok := r.queues[name]
	if !ok {
		r.mu.Unlock()
		return unix.ENOENT
	}
	delete(r.queues, name)
	now := fs.Now()
	r.rootAttr.mtime, r.rootAttr.ctime = now, now
	r.mu.Unlock()
	q.decRef()
	return nil
}

// decRef drops a reference; the last one frees the queue's count and
// charge (Linux's mqueue_evict_inode).
func (q *Queue) decRef() {
	r := q.r
	r.mu.Lock()
	q.mu.Lock()
	q.refs--
	last := q.refs == 0
	var freed int64
	if last {
		for _, m := range q.msgs {
			freed += int64(len(m.data)) + msgHeaderSize
		}
		q.msgs = nil
		q.qsize = 0
		q.notify = nil
	}
	q.mu.Unlock()
	if last {
		r.count--
		if r.userBytes[q.user] <= q.charge {
			delete(r.userBytes, q.user)
		} else {
			r.userBytes[q.user] -= q.charge
		}
	}
	r.mu.Unlock()
	r.budget.Uncharge(freed)
}

// Touch records an attribute change (mq_getsetattr).
func (q *Queue) Touch() {
	q.mu.Lock()
	q.touch(true, false)
	q.mu.Unlock()
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Attr returns the queue's attributes (Flags is the caller's).
func (q *Queue) Attr() Attr {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Attr{MaxMsg: q.maxMsg, MsgSize: q.msgSize, CurMsgs: int64(len(q.msgs))}
}

// Permissions returns the queue's mode, owner and group.
func (q *Queue) Permissions() (mode, uid, gid uint32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.attr.mode, q.attr.uid, q.attr.gid
}

func (q *Queue) touch(atime, mtime bool) {
	now := fs.Now()
	if atime {
		q.attr.atime = now
	}
	if mtime {
		q.attr.mtime = now
	}
	q.attr.ctime = now
}

// insertLocked is msg_insert.
func (q *Queue) insertLocked(m *message) {
	i := sort.Search(len(q.msgs), func(i int) bool { return q.msgs[i].prio < m.prio })
	q.msgs = append(q.msgs, nil)
	copy(q.msgs[i+1:], q.msgs[i:])
	q.msgs[i] = m
	q.qsize += int64(len(m.data))
}

// Send is mq_timedsend: data at priority prio (below MQ_PRIO_MAX; the
// caller checked, and that data fits msgsize: EMSGSIZE otherwise). It
// waits while the queue is full until deadline (zero: no deadline) unless
// nonblock. Errors: EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR, ENOMEM.
func (q *Queue) Send(ctx *fs.Context, data []byte, prio uint32, nonblock bool, deadline time.Time, from Sender) error {
	q.mu.Lock()
	if int64(len(data)) > q.msgSize {
		q.mu.Unlock()
		return unix.EMSGSIZE
	}
	if err := q.r.budget.Charge(int64(len(data)) + msgHeaderSize); err != nil {
		q.mu.Unlock()
		return err
	}
	m := &message{prio: prio, data: data}
	if int64(len(q.msgs)) >= q.maxMsg {
		if nonblock {
			q.mu.Unlock()
			q.r.budget.Uncharge(int64(len(data)) + msgHeaderSize)
			return unix.EAGAIN
		}
		w := &waiter{msg: m}
		q.senders = append(q.senders, w)
		q.mu.Unlock()
		err := q.wait(ctx, w, deadline)
		if err != nil {
			q.r.budget.Uncharge(int64(len(data)) + msgHeaderSize)
		}
		return err
	}
	var notify *Notification
	if len(q.receivers) > 0 {
		// pipelined_send: the first receiver takes it.
		w := q.receivers[0]
		q.receivers = q.receivers[1:]
		w.msg, w.done = m, true
		w.wq.NotifyAll()
	} else {
		q.insertLocked(m)
		if q.notify != nil && len(q.msgs) == 1 {
			notify = q.notify
			q.notify = nil
		}
	}
	q.touch(true, true)
	q.mu.Unlock()
	q.notifier.Notify(unix.POLLIN)
	if notify != nil {
		notify.fire(from)
	}
	return nil
}

// fire delivers a notification (__do_notify).
func (n *Notification) fire(from Sender) {
	switch n.Notify {
	case linux.SIGEV_SIGNAL:
		if n.Signo != 0 && n.Owner.Valid() {
			n.Owner.Signal(n.Signo, n.Value, from)
		}
	case linux.SIGEV_THREAD:
		c := append([]byte(nil), n.Cookie...)
		c[len(c)-1] = linux.NOTIFY_WOKENUP
		n.Socket.DeliverNotifyCookie(c)
	}
}

// Receive is mq_timedreceive: the oldest message of the highest priority.
// bufSize must be at least msgsize (EMSGSIZE). It waits while the queue
// is empty, as Send does. Errors: EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR.
func (q *Queue) Receive(ctx *fs.Context, bufSize int64, nonblock bool, deadline time.Time) ([]byte, uint32, error) {
	q.mu.Lock()
	if bufSize < q.msgSize {
		q.mu.Unlock()
		return nil, 0, unix.EMSGSIZE
	}
	if len(q.msgs) == 0 {
		if nonblock {
			q.mu.Unlock()
			return nil, 0, unix.EAGAIN
		}
		w := &waiter{}
		q.receivers = append(q.receivers, w)
		q.mu.Unlock()
		if err := q.wait(ctx, w, deadline); err != nil {
			return nil, 0, err
		}
		q.r.budget.Uncharge(int64(len(w.msg.data)) + msgHeaderSize)
		return w.msg.data, w.msg.prio, nil
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	q.qsize -= int64(len(m.data))
	if len(q.senders) > 0 {
		// pipelined_receive: the first sender's message comes in.
		w := q.senders[0]
		q.senders = q.senders[1:]
		q.insertLocked(w.msg)
		w.done = true
		w.wq.NotifyAll()
	}
	q.touch(true, true)
	q.mu.Unlock()
	q.r.budget.Uncharge(int64(len(m.data)) + msgHeaderSize)
	q.notifier.Notify(unix.POLLOUT)
	return m.data, m.prio, nil
}

// wait sleeps until w is served, the deadline passes or a signal comes.
// A waiter served meanwhile counts as served.
func (q *Queue) wait(ctx *fs.Context, w *waiter, deadline time.Time) error {
	timeout := kernel.Forever
	if !deadline.IsZero() {
		timeout = max(time.Until(deadline), 0)
	}
	err := ctx.BlockTimeout(&w.wq, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return w.done
	}, timeout)
	q.mu.Lock()
	defer q.mu.Unlock()
	if w.done {
		return nil
	}
	remove := func(l []*waiter) []*waiter {
		for i, x := range l {
			if x == w {
				return append(l[:i:i], l[i+1:]...)
			}
		}
		return l
	}
	q.receivers = remove(q.receivers)
	q.senders = remove(q.senders)
	if err == nil {
		err = unix.EINTR
	}
	return err
}

// SetNotification is mq_notify: n nil removes the caller's (pid's)
// registration; otherwise it registers n. EBUSY if another live process
// is registered.
func (q *Queue) SetNotification(pid int32, n *Notification) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	cur := q.notify
	if cur != nil && !cur.Owner.Valid() {
		// Its process has gone (or exec'd and closed the queue):
		// Linux dropped the registration when it closed its
		// descriptors.
		cur, q.notify = nil, nil
	}
	if n == nil {
		if cur != nil && cur.Owner.PID() == pid {
			q.notify = nil
			q.touch(true, false)
		}
		return nil
	}
	if cur != nil {
		return unix.EBUSY
	}
	q.notify = n
	q.touch(true, false)
	return nil
}

// Flush is what a close(2) of a description of the queue by process pid
// does (mqueue_flush_file): pid's registration goes.
func (q *Queue) Flush(pid int32) {
	q.mu.Lock()
	if q.notify != nil && q.notify.Owner.PID() == pid {
		q.notify = nil
	}
	q.mu.Unlock()
}

// status is the queue file's contents as ctx reads them.
func (q *Queue) status(ctx *fs.Context) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var notify, signo, pid int32
	if n := q.notify; n != nil && n.Owner.Valid() {
		notify, pid = n.Notify, n.Owner.PIDFor(ctx)
		if n.Notify == linux.SIGEV_SIGNAL {
			signo = n.Signo
		}
	}
	return fmt.Sprintf("QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n", q.qsize, notify, signo, pid)
}

// readiness is mqueue_poll_file.
func (q *Queue) readiness(mask uint32) uint32 {
	q.mu.Lock()
	n, maxMsg := int64(len(q.msgs)), q.maxMsg
	q.mu.Unlock()
	var ev uint32
	if n > 0 {
		ev |= unix.POLLIN | linux.POLLRDNORM
	}
	if n < maxMsg {
		ev |= unix.POLLOUT | linux.POLLWRNORM
	}
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}
