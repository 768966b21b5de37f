package unix

import (
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	sys "golang.org/x/sys/unix"
)

// message is one queued send (Linux's skb on the receive queue).
type message struct {
	data []byte
	// off is how much of data a stream receiver has read.
	off    int
	rights []*vfs.FileDescription
	// cred are the sender's credentials (or those it claimed with
	// SCM_CREDENTIALS), delivered to receivers with SO_PASSCRED.
	cred socket.Ucred
	// sender is charged truesize until the message is consumed (nil
	// once uncharged); from is the sending socket, whose address a
	// receiver reports.
	sender   *endpoint
	from     *endpoint
	truesize int64
	// pool is the pool m and its buffer came from (nil: allocated for
	// this message alone).
	pool *sync.Pool
}

// Messages and their data buffers are recycled: a stream of 64 KiB
// writes would otherwise allocate (and the Go runtime zero) two 36 KiB
// buffers per write and leave them to the collector, and a 1-byte round
// trip would allocate a message and a buffer per send. A message popped
// by its receiver, or dropped, goes back to its pool once nothing refers
// to it (free); a buffer's stale bytes are never seen, as data is always
// the prefix a send filled.
const smallMessage = 512

var (
	smallMessages = sync.Pool{New: func() any { return &message{data: make([]byte, smallMessage)} }}
	chunkMessages = sync.Pool{New: func() any { return &message{data: make([]byte, maxStreamChunk)} }}
)

// newMessage returns a message whose data has room for n bytes (callers
// cut data to what they filled).
func newMessage(n int) *message {
	var pool *sync.Pool
	switch {
	case n <= smallMessage:
		pool = &smallMessages
	case n <= maxStreamChunk:
		pool = &chunkMessages
	default:
		return &message{data: make([]byte, n)}
	}
	m := pool.Get().(*message)
	m.pool = pool
	m.data = m.data[:n]
	return m
}

// free returns m to its pool.
//
// Preconditions: m is off every queue, uncharged, and its rights are
// taken; nothing refers to m or its data any more.
func (m *message) free() {
	pool := m.pool
	if pool == nil {
		return
	}
	*m = message{data: m.data[:cap(m.data)]}
	pool.Put(m)
}

// unread returns the bytes a receiver has not consumed.
func (m *message) unread() []byte { return m.data[m.off:] }

// Sizes behind Linux's skb accounting (x86-64, 4 KiB pages).
const (
	skbSize        = 256  // SKB_TRUESIZE's sizeof(struct sk_buff), aligned
	skbSharedInfo  = 320  // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	skbMaxHead     = 3776 // SKB_MAX_HEAD(0): the linear part of a page
	unixSkbFragsSz = 32768
	pageSize       = 4096
)

// truesize approximates the memory Linux charges to the sender for a
// message of n bytes (skb->truesize): the sk_buff, a kmalloc'd head of
// up to a page (rounded to its power-of-two cache) and page fragments
// for the rest. For small messages it is exact: a 1-byte datagram costs
// 768 bytes, so a default 212992-byte SO_SNDBUF holds 278 of them.
func truesize(n int) int64 {
	head := min(n, skbMaxHead)
	alloc := 64
	for alloc < (head+63)&^63+skbSharedInfo {
		alloc <<= 1
	}
	frags := n - head
	frags = (frags + pageSize - 1) &^ (pageSize - 1)
	return int64(skbSize + alloc + frags)
}

// maxStreamChunk is the most one stream message carries
// (SKB_MAX_HEAD(0) + UNIX_SKB_FRAGS_SZ).
const maxStreamChunk = skbMaxHead + unixSkbFragsSz

// msgQueue is a receive queue: a FIFO of messages and the count of their
// unread bytes.
//
// Locking: the owning endpoint's mu.
type msgQueue struct {
	msgs  []*message
	head  int
	bytes int
}

func (q *msgQueue) len() int { return len(q.msgs) - q.head }

func (q *msgQueue) peek() *message {
	if q.head == len(q.msgs) {
		return nil
	}
	return q.msgs[q.head]
}

// at returns the i-th queued message, or nil.
func (q *msgQueue) at(i int) *message {
	if q.head+i >= len(q.msgs) {
		return nil
	}
	return q.msgs[q.head+i]
}

func (q *msgQueue) push(m *message) {
	if q.head > 0 && q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	}
	q.msgs = append(q.msgs, m)
	q.bytes += len(m.data) - m.off
}

// pop removes the first message.
func (q *msgQueue) pop() *message {
	m := q.msgs[q.head]
	q.msgs[q.head] = nil
	q.head++
	q.bytes -= len(m.data) - m.off
	if q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	}
	return m
}

// consume marks n bytes of the first message read.
func (q *msgQueue) consume(m *message, n int) {
	m.off += n
	q.bytes -= n
}

// takeAll empties the queue.
func (q *msgQueue) takeAll() []*message {
	out := q.msgs[q.head:]
	q.msgs, q.head, q.bytes = nil, 0, 0
	return out
}

// hasRights reports whether any queued message carries descriptors.
func (q *msgQueue) hasRights() bool {
	for _, m := range q.msgs[q.head:] {
		if len(m.rights) > 0 {
			return true
		}
	}
	return false
}

// uncharge returns a consumed message's truesize to its sender, which
// may then send more.
func (m *message) uncharge() {
	if s := m.sender; s != nil {
		m.sender = nil
		s.wmem.Add(-m.truesize)
		s.notify(sys.POLLOUT)
	}
}

// dropMessages releases messages nobody will read (from a queue of fam's):
// their senders get their send buffer back and their descriptors are
// closed.
//
// Preconditions: no endpoint lock and not fam.gc.gcMu are held.
func dropMessages(fam *Family, msgs []*message) {
	var rights []*vfs.FileDescription
	for _, m := range msgs {
		m.uncharge()
		rights = append(rights, m.rights...)
	}
	if len(rights) > 0 {
		fam.gc.gcMu.Lock()
		for _, m := range msgs {
			fam.notInflightLocked(m.rights)
			m.rights = nil
		}
		fam.gc.gcMu.Unlock()
		for _, f := range rights {
			f.DecRef()
		}
	}
	for _, m := range msgs {
		m.free()
	}
}
