// Package msg is System V message queues (msgget, msgsnd, msgrcv, msgctl)
// of the sandbox's IPC namespace.
//
// A queue holds messages in arrival order. msgrcv takes the first message
// of any type (msgtyp 0), of one type (> 0), not of that type
// (MSG_EXCEPT), or the first of the lowest type up to -msgtyp (< 0);
// MSG_COPY copies the message at an index without taking it. A receiver
// with nothing to take sleeps on a kernel wait queue of its own; a sender
// hands its message straight to the first waiting receiver that wants it
// (Linux's pipelined_send), so which receiver gets which message is decided
// in arrival order, as on Linux. A sender finding the queue full
// (msg_qbytes bytes or as many messages) sleeps until there is room. Both
// return EINTR when a signal interrupts them (restarted only when no
// handler runs, Linux's ERESTARTNOHAND), EIDRM when the queue is removed.
//
// Queued messages are charged to the namespace's ipc.Budget.
//
// Locking: Registry.mu protects the table, every queue and every waiter's
// state; it is never held across a wait.
package msg

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// msgOverhead is what a message costs beyond its text (struct msg_msg).
const msgOverhead = 48

// Registry is the namespace's message queues.
type Registry struct {
	budget *ipc.Budget

	mu    sync.Mutex
	table *ipc.Table[*Queue]
	// kernel.msgmax, msgmnb, msgmni.
	ctlMax, ctlMNB, ctlMNI int32
	// hdrs and bytes are every queue's messages and bytes.
	hdrs, bytes int64
}

// NewRegistry returns an empty registry whose messages are charged to
// budget.
func NewRegistry(budget *ipc.Budget) *Registry {
	return &Registry{
		budget: budget,
		table:  ipc.NewTable[*Queue](),
		ctlMax: linux.MSGMAX, ctlMNB: linux.MSGMNB, ctlMNI: linux.MSGMNI,
	}
}

// Message is one message.
type Message struct {
	Type int64
	Text []byte
}

// Queue is one message queue.
type Queue struct {
	perm               ipc.Perm
	msgs               []*Message
	cbytes, qbytes     uint64
	stime, rtime       int64
	lspid, lrpid       int32
	receivers, senders []*waiter
	dead               bool
}

// IPCPerm implements ipc.Object.
func (q *Queue) IPCPerm() *ipc.Perm { return &q.perm }

// waiter is a sleeping msgrcv or msgsnd.
type waiter struct {
	// A receiver's request, and its process (msg_lrpid when a sender
	// hands it a message).
	pid     int32
	typ     int64
	mode    searchMode
	maxSize int
	noError bool
	// A sender's message size.
	size int
	// got is what a sender handed a receiver; err ends the wait
	// (EIDRM, E2BIG).
	got  *Message
	err  unix.Errno
	done bool
	wq   kernel.WaitQueue
}

type searchMode int

const (
	searchAny searchMode = iota
	searchEqual
	searchNotEqual
	searchLessEqual
	searchNumber
)

// modeOf is convert_mode.
func modeOf(typ int64, flags int32) (int64, searchMode) {
	switch {
	case flags&linux.MSG_COPY != 0:
		return typ, searchNumber
	case typ == 0:
		return 0, searchAny
	case typ < 0:
		if typ == math.MinInt64 {
			return math.MaxInt64, searchLessEqual
		}
		return -typ, searchLessEqual
	case flags&linux.MSG_EXCEPT != 0:
		return typ, searchNotEqual
	}
	return typ, searchEqual
}

func matches(m *Message, typ int64, mode searchMode) bool {
	switch mode {
	case searchEqual:
		return m.Type == typ
	case searchNotEqual:
		return m.Type != typ
	case searchLessEqual:
		return m.Type <= typ
	}
	return true
}

// find is find_msg: the index of the message wanted, or -1.
func (q *Queue) find(typ int64, mode searchMode) int {
	found := -1
	count := int64(0)
	for i, m := range q.msgs {
		if !matches(m, typ, mode) {
			continue
		}
		switch {
		case mode == searchLessEqual && m.Type != 1:
			typ = m.Type - 1
			found = i
		case mode == searchNumber:
			if typ == count {
				return i
			}
		default:
			return i
		}
		count++
	}
	return found
}

func (q *Queue) fits(size int) bool {
	return uint64(size)+q.cbytes <= q.qbytes && 1+uint64(len(q.msgs)) <= q.qbytes
}

// Caller is who makes a call.
type Caller struct {
	Creds *auth.Credentials
	PID   int32
}

// Get is msgget(2). Errors: ENOSPC past msgmni, and ipc.Get's.
func (r *Registry) Get(c Caller, key int32, flags int32) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ipc.Get(r.table, key, flags, c.Creds, func() (*Queue, error) {
		q := &Queue{perm: ipc.NewPerm(key, c.Creds, flags), qbytes: uint64(r.ctlMNB)}
		if err := r.table.Add(q, int(r.ctlMNI)); err != nil {
			return nil, err
		}
		return q, nil
	}, nil)
}

// MaxSize returns kernel.msgmax.
func (r *Registry) MaxSize() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.ctlMax)
}

// Send is msgsnd(2) of m (type >= 1, text at most msgmax: the caller
// checked) to queue id; nowait is IPC_NOWAIT. Errors: EINVAL, EACCES,
// EIDRM, EAGAIN (full, IPC_NOWAIT), EINTR, ENOMEM.
func (r *Registry) Send(c Caller, t *kernel.Task, id int32, m *Message, nowait bool) error {
	r.mu.Lock()
	q, err := r.table.Lookup(id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if !q.perm.Check(c.Creds, ipc.MayWrite) {
		r.mu.Unlock()
		return unix.EACCES
	}
	var w *waiter
	for {
		if q.dead {
			r.mu.Unlock()
			return unix.EIDRM
		}
		if q.fits(len(m.Text)) {
			break
		}
		if nowait {
			r.mu.Unlock()
			return unix.EAGAIN
		}
		if w == nil {
			w = &waiter{size: len(m.Text)}
		}
		w.done = false
		q.senders = append(q.senders, w)
		r.mu.Unlock()
		werr := w.wq.Wait(t, func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return w.done
		}, kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true})
		r.mu.Lock()
		q.removeSender(w)
		if werr != nil && !w.done {
			r.mu.Unlock()
			return unix.EINTR
		}
	}
	if err := r.budget.Charge(int64(len(m.Text)) + msgOverhead); err != nil {
		r.mu.Unlock()
		return err
	}
	q.lspid = c.PID
	q.stime = ipc.Now()
	if !q.pipelinedSend(m) {
		q.msgs = append(q.msgs, m)
		q.cbytes += uint64(len(m.Text))
		r.hdrs++
		r.bytes += int64(len(m.Text))
	} else {
		r.budget.Uncharge(int64(len(m.Text)) + msgOverhead)
	}
	r.mu.Unlock()
	return nil
}

func (q *Queue) removeSender(w *waiter) {
	for i, s := range q.senders {
		if s == w {
			q.senders = append(q.senders[:i:i], q.senders[i+1:]...)
			return
		}
	}
}

// pipelinedSend gives m to the first waiting receiver that wants it;
// receivers whose buffer is too small for it (without MSG_NOERROR) are
// woken with E2BIG on the way. It reports whether m was taken.
func (q *Queue) pipelinedSend(m *Message) bool {
	for i := 0; i < len(q.receivers); {
		w := q.receivers[i]
		if !matches(m, w.typ, w.mode) {
			i++
			continue
		}
		q.receivers = append(q.receivers[:i:i], q.receivers[i+1:]...)
		if w.maxSize < len(m.Text) && !w.noError {
			w.err, w.done = unix.E2BIG, true
			w.wq.NotifyAll()
			continue
		}
		q.lrpid = w.pid
		q.rtime = ipc.Now()
		w.got, w.done = m, true
		w.wq.NotifyAll()
		return true
	}
	return false
}

// wakeSendersLocked is ss_wakeup: senders whose message now fits are
// woken (they check again themselves).
func (q *Queue) wakeSendersLocked(all bool) {
	for _, w := range q.senders {
		if all || q.fits(w.size) {
			w.done = true
			w.wq.NotifyAll()
		}
	}
}

// ReceiveOpts are msgrcv(2)'s arguments.
type ReceiveOpts struct {
	Type    int64
	MaxSize int
	Flags   int32
}

// Receive is msgrcv(2): it returns the message taken (or copied, with
// MSG_COPY), its text cut to MaxSize with MSG_NOERROR. Errors: EINVAL
// (bad identifier; MSG_COPY with MSG_EXCEPT or without IPC_NOWAIT),
// EACCES, EIDRM, E2BIG (too long without MSG_NOERROR), ENOMSG (none, with
// IPC_NOWAIT), EINTR.
func (r *Registry) Receive(c Caller, t *kernel.Task, id int32, o ReceiveOpts) (*Message, error) {
	if id < 0 || o.MaxSize < 0 {
		return nil, unix.EINVAL
	}
	if o.Flags&linux.MSG_COPY != 0 && (o.Flags&linux.MSG_EXCEPT != 0 || o.Flags&linux.IPC_NOWAIT == 0) {
		return nil, unix.EINVAL
	}
	typ, mode := modeOf(o.Type, o.Flags)
	noError := o.Flags&linux.MSG_NOERROR != 0
	r.mu.Lock()
	q, err := r.table.Lookup(id)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	if !q.perm.Check(c.Creds, ipc.MayRead) {
		r.mu.Unlock()
		return nil, unix.EACCES
	}
	if q.dead {
		r.mu.Unlock()
		return nil, unix.EIDRM
	}
	if i := q.find(typ, mode); i >= 0 {
		m := q.msgs[i]
		if o.MaxSize < len(m.Text) && !noError {
			r.mu.Unlock()
			return nil, unix.E2BIG
		}
		if mode == searchNumber {
			r.mu.Unlock()
			if len(m.Text) > o.MaxSize {
				// copy_msg: MSG_NOERROR does not cut a copy.
				return nil, unix.EINVAL
			}
			return &Message{Type: m.Type, Text: m.Text}, nil
		}
		q.msgs = append(q.msgs[:i:i], q.msgs[i+1:]...)
		q.cbytes -= uint64(len(m.Text))
		r.hdrs--
		r.bytes -= int64(len(m.Text))
		r.budget.Uncharge(int64(len(m.Text)) + msgOverhead)
		q.rtime = ipc.Now()
		q.lrpid = c.PID
		q.wakeSendersLocked(false)
		r.mu.Unlock()
		return &Message{Type: m.Type, Text: cut(m.Text, o.MaxSize)}, nil
	}
	if o.Flags&linux.IPC_NOWAIT != 0 {
		r.mu.Unlock()
		return nil, unix.ENOMSG
	}
	w := &waiter{pid: c.PID, typ: typ, mode: mode, maxSize: o.MaxSize, noError: noError}
	q.receivers = append(q.receivers, w)
	r.mu.Unlock()
	werr := w.wq.Wait(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return w.done
	}, kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true})
	r.mu.Lock()
	defer r.mu.Unlock()
	if !w.done {
		for i, x := range q.receivers {
			if x == w {
				q.receivers = append(q.receivers[:i:i], q.receivers[i+1:]...)
				break
			}
		}
		_ = werr
		return nil, unix.EINTR
	}
	if w.err != 0 {
		return nil, w.err
	}
	m := w.got
	return &Message{Type: m.Type, Text: cut(m.Text, o.MaxSize)}, nil
}

func cut(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// Stat is msgctl IPC_STAT (byIndex false), MSG_STAT and MSG_STAT_ANY.
func (r *Registry) Stat(c Caller, id int32, byIndex, any bool) (linux.MsqidDS, int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.table.LookupStat(id, byIndex)
	if err != nil {
		return linux.MsqidDS{}, 0, err
	}
	if !any && !q.perm.Check(c.Creds, ipc.MayRead) {
		return linux.MsqidDS{}, 0, unix.EACCES
	}
	return linux.MsqidDS{
		MsgPerm:   q.perm.ToLinux(),
		MsgStime:  linux.TimeT(q.stime),
		MsgRtime:  linux.TimeT(q.rtime),
		MsgCtime:  linux.TimeT(q.perm.CTime),
		MsgCbytes: q.cbytes,
		MsgQnum:   uint64(len(q.msgs)),
		MsgQbytes: q.qbytes,
		MsgLspid:  q.lspid,
		MsgLrpid:  q.lrpid,
	}, q.perm.ID, nil
}

// Set is msgctl IPC_SET: owner, mode and msg_qbytes (raising it past
// msgmnb needs CAP_SYS_RESOURCE). Errors: EINVAL, EPERM.
func (r *Registry) Set(c Caller, id int32, ds *linux.MsqidDS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.table.LookupOwned(id, c.Creds)
	if err != nil {
		return err
	}
	if ds.MsgQbytes > uint64(r.ctlMNB) && !c.Creds.HasCapability(linux.CAP_SYS_RESOURCE) {
		return unix.EPERM
	}
	if err := q.perm.Set(ds.MsgPerm.UID, ds.MsgPerm.GID, ds.MsgPerm.Mode); err != nil {
		return err
	}
	q.qbytes = ds.MsgQbytes
	// Senders may fit now; receivers are unaffected.
	q.wakeSendersLocked(false)
	return nil
}

// Remove is msgctl IPC_RMID: the queue and its messages go; waiters get
// EIDRM. Errors: EINVAL, EPERM.
func (r *Registry) Remove(c Caller, id int32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.table.LookupOwned(id, c.Creds)
	if err != nil {
		return err
	}
	r.removeLocked(q)
	return nil
}

// RemoveAll removes every queue, as Linux does when an IPC namespace dies.
func (r *Registry) RemoveAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.table.All() {
		r.removeLocked(q)
	}
}

// removeLocked is IPC_RMID of q. Preconditions: r.mu is held.
func (r *Registry) removeLocked(q *Queue) {
	q.dead = true
	r.table.Remove(q)
	for _, m := range q.msgs {
		r.hdrs--
		r.bytes -= int64(len(m.Text))
		r.budget.Uncharge(int64(len(m.Text)) + msgOverhead)
	}
	q.msgs = nil
	for _, w := range q.receivers {
		w.err, w.done = unix.EIDRM, true
		w.wq.NotifyAll()
	}
	q.receivers = nil
	q.wakeSendersLocked(true)
}

// Info is msgctl IPC_INFO (usage false) and MSG_INFO (usage true), and the
// highest index in use (0 when none).
func (r *Registry) Info(usage bool) (linux.MsgInfo, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mi := linux.MsgInfo{
		MsgMax: r.ctlMax, MsgMnb: r.ctlMNB, MsgMni: r.ctlMNI,
		MsgSsz: linux.MSGSSZ, MsgSeg: linux.MSGSEG,
	}
	if usage {
		mi.MsgPool = int32(r.table.InUse())
		mi.MsgMap = int32(r.hdrs)
		mi.MsgTql = int32(r.bytes)
	} else {
		mi.MsgPool = linux.MSGPOOL
		mi.MsgMap = linux.MSGMAP
		mi.MsgTql = linux.MSGTQL
	}
	return mi, max(r.table.MaxIndex(), 0)
}

// ProcText is /proc/sysvipc/msg, in Linux's format; lspid and lrpid go
// through pidOf (the reader's PID namespace's view).
func (r *Registry) ProcText(pidOf func(int32) int32) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n")
	for _, q := range r.table.All() {
		p := &q.perm
		fmt.Fprintf(&b, "%10d %10d  %4o  %10d %10d %5d %5d %5d %5d %5d %5d %10d %10d %10d\n",
			p.Key, p.ID, p.Mode, q.cbytes, len(q.msgs), pidOf(q.lspid), pidOf(q.lrpid),
			p.UID, p.GID, p.CUID, p.CGID, q.stime, q.rtime, p.CTime)
	}
	return b.String()
}

// Limits returns kernel.msgmax, msgmnb and msgmni.
func (r *Registry) Limits() (maxSize, mnb, mni int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctlMax, r.ctlMNB, r.ctlMNI
}

// SetMax sets kernel.msgmax ([0, INT_MAX]).
func (r *Registry) SetMax(v int64) error { return r.setInt(&r.ctlMax, v, math.MaxInt32) }

// SetMNB sets kernel.msgmnb ([0, INT_MAX]).
func (r *Registry) SetMNB(v int64) error { return r.setInt(&r.ctlMNB, v, math.MaxInt32) }

// SetMNI sets kernel.msgmni ([0, IPCMNI]).
func (r *Registry) SetMNI(v int64) error { return r.setInt(&r.ctlMNI, v, ipc.MNI) }

func (r *Registry) setInt(p *int32, v, hi int64) error {
	if v < 0 || v > hi {
		return unix.EINVAL
	}
	r.mu.Lock()
	*p = int32(v)
	r.mu.Unlock()
	return nil
}

// NextID returns kernel.msg_next_id.
func (r *Registry) NextID() int32 { r.mu.Lock(); defer r.mu.Unlock(); return r.table.NextID }

// SetNextID sets kernel.msg_next_id.
func (r *Registry) SetNextID(v int64) error {
	if v < 0 || v > math.MaxInt32 {
		return unix.EINVAL
	}
	r.mu.Lock()
	r.table.NextID = int32(v)
	r.mu.Unlock()
	return nil
}
