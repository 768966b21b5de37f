package unix

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
)

// Garbage collection of in-flight descriptors (Linux's net/unix/garbage.c).
//
// A descriptor sent with SCM_RIGHTS is a reference held by the message
// until it is received. When the descriptor is an AF_UNIX socket, its
// references can form a cycle that no process can reach: socket A queued
// in B and B queued in A, both closed; each keeps the other alive. The
// collector finds such sockets: a candidate is a socket all of whose
// references are in flight (file references == in-flight count);
// references from candidates' queues to other candidates are discounted;
// a candidate with references left is reachable from outside, and so is
// everything queued in it, transitively; the candidates left over are
// garbage, and their queues are purged, which drops the cycle's
// references and releases the sockets.
//
// As Linux, the collector runs when an AF_UNIX socket is released while
// descriptors are in flight, and when a send finds many in flight, so a
// cycle is reclaimed at the latest by the next release of any AF_UNIX
// socket in the sandbox.
//
// Locking: gcMu serializes every change of in-flight references
// (queueing, receiving, peeking and dropping messages with rights) with
// the collector; it is taken before any endpoint lock. A receiver that
// meets a message with rights under its endpoint lock drops the lock,
// takes gcMu, and looks again.

// inflightTrigger is how many in-flight sockets make a send run the
// collector (UNIX_INFLIGHT_TRIGGER_GC).
const inflightTrigger = 16000

type gcState struct {
	gcMu sync.Mutex
	// inflight counts the in-flight references to each AF_UNIX socket
	// file of this family.
	inflight map[*vfs.FileDescription]int
	total    atomic.Int64
	running  atomic.Bool
}

// endpointOf returns the AF_UNIX endpoint behind a description, or nil.
func (f *Family) endpointOf(fd *vfs.FileDescription) *endpoint {
	sf := socket.FromDescription(fd)
	if sf == nil {
		return nil
	}
	e, ok := sf.Socket().(*endpoint)
	if !ok || e.fam != f {
		return nil
	}
	return e
}

// inflightLocked counts rights as queued. Preconditions: gcMu is held.
func (f *Family) inflightLocked(rights []*vfs.FileDescription) {
	for _, r := range rights {
		if f.endpointOf(r) == nil {
			continue
		}
		if f.gc.inflight == nil {
			f.gc.inflight = make(map[*vfs.FileDescription]int)
		}
		f.gc.inflight[r]++
		f.gc.total.Add(1)
	}
}

// notInflightLocked counts rights as no longer queued. Preconditions:
// gcMu is held.
func (f *Family) notInflightLocked(rights []*vfs.FileDescription) {
	for _, r := range rights {
		if n, ok := f.gc.inflight[r]; ok {
			if n <= 1 {
				delete(f.gc.inflight, r)
			} else {
				f.gc.inflight[r] = n - 1
			}
			f.gc.total.Add(-1)
		}
	}
}

// gcAfterRelease runs the collector after e was released, if anything
// is in flight.
func (f *Family) gcAfterRelease(*endpoint) {
	if f.gc.total.Load() > 0 {
		f.collect()
	}
}

// collect finds unreachable in-flight sockets and purges their queues,
// until a pass finds none. Only one collection runs at a time; a release
// during one (the purge releases sockets) does not start another.
func (f *Family) collect() {
	if !f.gc.running.CompareAndSwap(false, true) {
		return
	}
	defer f.gc.running.Store(false)
	for {
		var drop []*message
		f.gc.gcMu.Lock()
		garbage := f.findGarbageLocked()
		for _, e := range garbage {
			e.mu.Lock()
			drop = append(drop, e.queue.takeAll()...)
			pending := e.pending
			e.mu.Unlock()
			for _, p := range pending {
				p.mu.Lock()
				drop = append(drop, p.queue.takeAll()...)
				p.mu.Unlock()
			}
		}
		f.gc.gcMu.Unlock()
		if len(drop) == 0 {
			return
		}
		dropMessages(f, drop)
	}
}

// findGarbageLocked returns the candidates no process can reach.
// Preconditions: gcMu is held.
func (f *Family) findGarbageLocked() []*endpoint {
	type cand struct {
		e    *endpoint
		refs int64
	}
	cands := make(map[*vfs.FileDescription]*cand)
	for fd, n := range f.gc.inflight {
		if fd.Refs() != int64(n) {
			continue
		}
		if e := f.endpointOf(fd); e != nil {
			cands[fd] = &cand{e: e, refs: int64(n)}
		}
	}
	if len(cands) == 0 {
		return nil
	}
	queued := func(e *endpoint) []*vfs.FileDescription {
		e.mu.Lock()
		defer e.mu.Unlock()
		var out []*vfs.FileDescription
		for _, m := range e.queue.msgs[e.queue.head:] {
			out = append(out, m.rights...)
		}
		for _, p := range e.pending {
			// A listener's unaccepted connections hold their own queues.
			p.mu.Lock()
			for _, m := range p.queue.msgs[p.queue.head:] {
				out = append(out, m.rights...)
			}
			p.mu.Unlock()
		}
		return out
	}
	// Discount references from candidates' queues.
	for _, c := range cands {
		for _, r := range queued(c.e) {
			if t, ok := cands[r]; ok {
				t.refs--
			}
		}
	}
	// Candidates still referenced are reachable, and so is what they
	// hold.
	var work []*cand
	for _, c := range cands {
		if c.refs > 0 {
			work = append(work, c)
		}
	}
	alive := make(map[*cand]bool)
	for len(work) > 0 {
		c := work[len(work)-1]
		work = work[:len(work)-1]
		if alive[c] {
			continue
		}
		alive[c] = true
		for _, r := range queued(c.e) {
			if t, ok := cands[r]; ok && !alive[t] {
				work = append(work, t)
			}
		}
	}
	var out []*endpoint
	for _, c := range cands {
		if !alive[c] {
			out = append(out, c.e)
		}
	}
	return out
}
