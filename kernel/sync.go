package kernel

import "sync/atomic"

// Synchronous wake-ups (Linux's WF_SYNC).
//
// A pipe or socket writer that wakes a reader usually blocks a moment later
// in its own read, waiting for the answer. Woken the ordinary way, the
// reader goes to an idle CPU — another host CPU — and the waker's CPU goes
// idle a syscall later: two cross-CPU host wake-ups per round trip, the
// slowest thing this machine does (tens of µs on a VM). A synchronous
// wake-up instead queues the woken task on the waker's CPU when the waker
// is alone there, so when the waker blocks, switchLocked hands the CPU
// straight to it: one host thread switch on one host CPU.
//
// The hint can be wrong (the writer keeps writing, or computes). The wakee
// then must not wait behind it while another CPU idles, so the placement
// expires: at the waker's second preemption point after the wake-up (the
// end of the syscall that woke, then the end of the next one: a write
// followed by a read that does not block) or at the second tick of the
// CPU after the wake-up (application code that runs on: at most two tick
// periods, 8 ms), whichever comes first, the wakee is placed again as an
// ordinary wake-up would place it. (Releasing at the first tick would
// break up a busy ping-pong pair every few ticks: some wakee is waiting
// for its waker half the time.) The waker giving up
// the CPU any other way (preemption, exit) also hands it to the wakee.
//
// Only the sentry's pipes and AF_UNIX sockets wake synchronously, as Linux
// does (pipe_read/pipe_write and sock_def_readable use the _sync wake-ups),
// and the hint reaches a reader waiting in poll, select or epoll_wait for
// them too (fs.WatchFunc carries the waker to the poll's wait queue, as
// ep_poll_callback passes Linux's sync wake-up on).
// FUTEX_WAKE does not, here as in Linux: a futex waker (Go's runtime waking
// an idle worker, a mutex unlock) usually runs on, and its next syscall may
// be far away.
//
// Locking: CPU.syncWakee, syncWaker and syncTicked are protected by CPU.mu;
// Task.syncGrace is touched only by the task's own goroutine. No lock is
// added to the order: the placement takes the waker's CPU lock alone (the
// wakee's affinity, Task.mu, is read before it), and an expiry drops that
// lock before it queues the wakee elsewhere.

// syncGracePoints is how many of the waker's preemption points a
// synchronous placement survives (see above).
const syncGracePoints = 2

// syncStats count synchronous wake-ups (for tests and benchmarks).
type syncStats struct {
	placed  atomic.Uint64 // queued on the waker's CPU
	direct  atomic.Uint64 // got the waker's CPU when the waker let it go
	expired atomic.Uint64 // placed again as an ordinary wake-up
}

// SyncWakeStats returns how many synchronous wake-ups were placed on the
// waker's CPU, how many of those tasks then took that CPU from the waker
// directly, and how many expired and were placed again.
func (k *Kernel) SyncWakeStats() (placed, direct, expired uint64) {
	return k.syncStats.placed.Load(), k.syncStats.direct.Load(), k.syncStats.expired.Load()
}

// WakeSync is Wake from a running task that is about to block (the
// _sync wake-ups of Linux). When waker is alone on its CPU and t may run
// there, t is queued behind it instead of being handed another CPU. A nil
// waker (a wake-up from outside any task) makes it a plain Wake.
//
// Preconditions: waker, if not nil, is the calling task and holds a CPU.
func (k *Kernel) WakeSync(t, waker *Task) bool {
	if waker == nil || waker == t {
		return k.Wake(t)
	}
	return k.wake(t, waker)
}

// enqueueSync queues a woken task on waker's CPU if waker is alone there,
// else as enqueue does.
func (k *Kernel) enqueueSync(t, waker *Task) {
	c := waker.cpu.Load()
	if c == nil || !t.Affinity().Has(c.id) {
		k.enqueue(t)
		return
	}
	c.mu.Lock()
	if c.curr != waker || !c.rq.empty() || c.syncWakee != nil {
		c.mu.Unlock()
		k.enqueue(t)
		return
	}
	c.enqueueLocked(t, false)
	c.syncWakee, c.syncWaker, c.syncTicked = t, waker, false
	if t.se.params.isRT() && c.shouldPreemptLocked(t) {
		// A real-time wakee does not wait for the waker to block.
		waker.preempt()
	}
	c.mu.Unlock()
	waker.syncGrace = syncGracePoints
	k.syncStats.placed.Add(1)
}

// syncPreemptPoint counts one of the waker's preemption points against its
// synchronous placement and releases the wakee when the grace is over.
// Preconditions: t is the calling task, holding a CPU.
func (t *Task) syncPreemptPoint() {
	t.syncGrace--
	if t.syncGrace > 0 {
		return
	}
	c := t.cpu.Load()
	c.mu.Lock()
	if c.syncWaker != t {
		c.mu.Unlock()
		return
	}
	w := c.releaseSyncWakeeLocked()
	c.mu.Unlock()
	if w != nil {
		t.k.enqueue(w)
	}
}

// releaseSyncWakeeLocked ends a synchronous placement that did not pay
// off: the wakee, if still queued here, is taken off the queue and
// returned for the caller to queue again (enqueue, after dropping c.mu).
// Preconditions: c.mu is held.
func (c *CPU) releaseSyncWakeeLocked() *Task {
	w := c.syncWakee
	c.syncWakee, c.syncWaker = nil, nil
	if w == nil || !w.se.queued || w.cpu.Load() != c {
		return nil
	}
	c.dequeueRelativeLocked(w)
	c.k.syncStats.expired.Add(1)
	return w
}
