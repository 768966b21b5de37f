package kernel

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Mutex is a sleeping mutex for tasks (Linux's struct rt_mutex): a task
// that finds it held releases its CPU until the owner hands it over.
// Unlike a Go sync.Mutex, a task waiting for it does not hold a sandbox
// CPU, so on a single CPU the owner can run and release it.
//
// # Priority inheritance
//
// When a real-time task waits for a Mutex, the owner runs with the
// waiter's priority (as SCHED_FIFO at the highest waiting real-time
// priority) until it unlocks, and the boost follows chains (an owner that
// is itself waiting for another Mutex passes the boost on to that one's
// owner, up to maxPIChain links). This bounds priority inversion: a
// low-priority owner cannot be starved by a medium-priority task while a
// high-priority task waits. Without it, on one CPU a SCHED_FIFO spinner of
// medium priority would keep a fair owner from ever running, and the
// high-priority waiter would wait forever; kernel/mutex_test.go shows both
// cases. Only real-time waiters boost: a fair owner waited for by fair
// tasks keeps its nice value (the fair class already gives it a share).
//
// The boost is applied with SetSchedParams and undone at Unlock, which
// restores the owner's own parameters unless they were changed while it
// was boosted (sched_setscheduler on the owner wins). SchedParams shows
// the boosted parameters while the boost lasts.
//
// Unlock hands the Mutex directly to the highest-priority waiter (FIFO
// among equals), so a waiter cannot be overtaken by a task that arrives
// later.
//
// Locking: the contended paths take piMu, then Mutex.mu, then (through
// SetSchedParams) CPU.mu and Task.mu; no path takes piMu while holding
// any of those. Wake is called with no lock held. The uncontended paths
// take only Mutex.mu.
type Mutex struct {
	// NoPI turns priority inheritance off for this Mutex (tests use it
	// to show the inversion that inheritance prevents).
	NoPI bool

	mu      sync.Mutex
	owner   *Task
	waiters []*mutexWaiter
}

// mutexWaiter is one task waiting in Lock.
type mutexWaiter struct {
	t       *Task
	granted bool // protected by Mutex.mu: the Mutex was handed to t
}

// maxPIChain bounds the boost propagation along a chain of owners (a
// deadlock cycle would otherwise loop forever).
const maxPIChain = 64

// piMu protects piState.
var piMu sync.Mutex

// piState is the priority-inheritance bookkeeping of every task involved
// in a contended Mutex. Entries exist only while contention lasts.
var piState = struct {
	// blockedOn is the Mutex a task waits for.
	blockedOn map[*Task]*Mutex
	// owned is, per owner, the Mutexes it holds that have waiters.
	owned map[*Task]map[*Mutex]struct{}
	// boost is, per boosted owner, its own parameters and the ones the
	// boost applied.
	boost map[*Task]piBoost
}{
	blockedOn: make(map[*Task]*Mutex),
	owned:     make(map[*Task]map[*Mutex]struct{}),
	boost:     make(map[*Task]piBoost),
}

type piBoost struct {
	base, applied SchedParams
}

// rtRank is the real-time priority of p, 0 for the fair policies.
func rtRank(p SchedParams) int {
	if p.isRT() {
		return p.RTPriority
	}
	return 0
}

// TryLock takes the Mutex for t if it is free and reports whether it did.
// It never blocks.
func (m *Mutex) TryLock(t *Task) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner == nil {
		m.owner = t
		return true
	}
	return false
}

// Owner returns the task holding the Mutex, or nil.
func (m *Mutex) Owner() *Task {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owner
}

// ErrDeadlock is returned by LockWait when t waiting for the Mutex would
// close a cycle of tasks each waiting for a Mutex the next one holds
// (Linux's rt_mutex deadlock detection, EDEADLK).
var ErrDeadlock = errors.New("mutex deadlock")

// Lock takes the Mutex for t, blocking t (which releases its CPU) until the
// owner hands it over. Signals do not end the wait (the task sleeps in
// state D).
// Preconditions: t is the calling task and holds a CPU; t does not hold m.
func (m *Mutex) Lock(t *Task) {
	if m.TryLock(t) {
		return
	}
	m.lockSlow(t, WaitOpts{Timeout: Forever}, false)
}

// LockWait is Lock that may give up, as a PI futex's FUTEX_LOCK_PI does:
// with o.Timeout the wait ends with ErrTimedOut, with o.Interruptible an
// interruption ends it with ErrInterrupted, and when t waiting would
// deadlock (the chain of owners and the Mutexes they wait for leads back
// to t) it returns ErrDeadlock without waiting. A Mutex handed over at
// the moment the wait ends is kept (nil). A task giving up takes its
// priority back from the owners it boosted.
// Preconditions: t is the calling task and holds a CPU; t does not hold m.
func (m *Mutex) LockWait(t *Task, o WaitOpts) error {
	if m.TryLock(t) {
		return nil
	}
	if o.Timeout == NoWait {
		return ErrTimedOut
	}
	return m.lockSlow(t, o, true)
}

// deadlockLocked reports whether t waiting for m closes a cycle.
// Preconditions: piMu is held.
func (m *Mutex) deadlockLocked(t *Task) bool {
	for i := 0; i < maxPIChain; i++ {
		m.mu.Lock()
		o := m.owner
		m.mu.Unlock()
		if o == nil {
			return false
		}
		if o == t {
			return true
		}
		m = piState.blockedOn[o]
		if m == nil {
			return false
		}
	}
	// Linux gives up on chains longer than max_lock_depth with EDEADLK.
	return true
}

func (m *Mutex) lockSlow(t *Task, o WaitOpts, detect bool) error {
	piMu.Lock()
	if detect && m.deadlockLocked(t) {
		piMu.Unlock()
		return ErrDeadlock
	}
	m.mu.Lock()
	assert(m.owner != t, "task %d locks a Mutex it holds", t.tid)
	if m.owner == nil {
		m.owner = t
		m.mu.Unlock()
		piMu.Unlock()
		return nil
	}
	w := &mutexWaiter{t: t}
	m.waiters = append(m.waiters, w)
	owner := m.owner
	m.mu.Unlock()
	piState.blockedOn[t] = m
	set := piState.owned[owner]
	if set == nil {
		set = make(map[*Mutex]struct{})
		piState.owned[owner] = set
	}
	set[m] = struct{}{}
	if !m.NoPI {
		piAdjustChain(owner)
	}
	piMu.Unlock()

	var timedOut atomic.Bool
	if o.Timeout > 0 {
		tm := t.AfterFunc(o.Timeout, func() {
			timedOut.Store(true)
			t.k.Wake(t)
		})
		defer tm.Stop()
	}
	for {
		t.PrepareToBlock()
		m.mu.Lock()
		granted := w.granted
		m.mu.Unlock()
		if granted {
			t.CancelBlock()
			return nil
		}
		var err error
		if timedOut.Load() {
			err = ErrTimedOut
		}
		if o.Interruptible && t.Interrupted() {
			err = ErrInterrupted
		}
		if err != nil {
			t.CancelBlock()
			if m.giveUp(w) {
				return nil
			}
			return err
		}
		t.acct.uninterruptible.Store(!o.Interruptible)
		// An Unlock since PrepareToBlock woke the Blocking task, and
		// Schedule returns at once.
		t.Schedule()
		t.acct.uninterruptible.Store(false)
	}
}

// giveUp takes w out of m's waiters and the owner's boost back, unless
// the Mutex was handed to w meanwhile: then it reports true.
func (m *Mutex) giveUp(w *mutexWaiter) bool {
	piMu.Lock()
	defer piMu.Unlock()
	m.mu.Lock()
	if w.granted {
		m.mu.Unlock()
		return true
	}
	for i, o := range m.waiters {
		if o == w {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			break
		}
	}
	owner := m.owner
	empty := len(m.waiters) == 0
	m.mu.Unlock()
	delete(piState.blockedOn, w.t)
	if empty {
		if set := piState.owned[owner]; set != nil {
			delete(set, m)
			if len(set) == 0 {
				delete(piState.owned, owner)
			}
		}
	}
	if !m.NoPI {
		piAdjustChain(owner)
	}
	return false
}

// Unlock releases the Mutex: to its highest-priority waiter, which is
// woken, or to nobody. A boost the caller had because of this Mutex ends;
// if the new owner then outranks the caller, the caller is asked to
// reschedule (it yields at its next preemption point). It never blocks.
// It returns the new owner, or nil.
// Preconditions: t holds m.
func (m *Mutex) Unlock(t *Task) *Task {
	m.mu.Lock()
	assert(m.owner == t, "task %d unlocks a Mutex owned by task %d", t.tid, tidOf(m.owner))
	if len(m.waiters) == 0 {
		m.owner = nil
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()

	piMu.Lock()
	m.mu.Lock()
	if len(m.waiters) == 0 {
		m.owner = nil
		m.mu.Unlock()
		piMu.Unlock()
		return nil
	}
	best := 0
	for i, w := range m.waiters {
		if rtRank(w.t.SchedParams()) > rtRank(m.waiters[best].t.SchedParams()) {
			best = i
		}
	}
	w := m.waiters[best]
	m.waiters = append(m.waiters[:best], m.waiters[best+1:]...)
	w.granted = true
	m.owner = w.t
	more := len(m.waiters) > 0
	m.mu.Unlock()

	if set := piState.owned[t]; set != nil {
		delete(set, m)
		if len(set) == 0 {
			delete(piState.owned, t)
		}
	}
	delete(piState.blockedOn, w.t)
	if more {
		set := piState.owned[w.t]
		if set == nil {
			set = make(map[*Mutex]struct{})
			piState.owned[w.t] = set
		}
		set[m] = struct{}{}
	}
	// The old owner loses what this Mutex's waiters gave it; the new one
	// inherits from the waiters that remain.
	piAdjustChain(t)
	piAdjustChain(w.t)
	piMu.Unlock()

	w.t.k.Wake(w.t)
	return w.t
}

// piAdjustChain recomputes the boost of o and, as long as that changes
// something, of the owner of the Mutex o waits for, and so on.
// Preconditions: piMu is held.
func piAdjustChain(o *Task) {
	for i := 0; o != nil && i < maxPIChain; i++ {
		if !piAdjust(o) {
			return
		}
		m := piState.blockedOn[o]
		if m == nil || m.NoPI {
			return
		}
		m.mu.Lock()
		o = m.owner
		m.mu.Unlock()
	}
}

// piAdjust gives o the highest real-time priority among the waiters of
// the Mutexes it owns, or its own parameters back when none outranks it.
// It reports whether o's parameters changed.
// Preconditions: piMu is held.
func piAdjust(o *Task) bool {
	b, boosted := piState.boost[o]
	base := o.SchedParams()
	if boosted {
		base = b.base
	}
	top := 0
	for m := range piState.owned[o] {
		if m.NoPI {
			continue
		}
		m.mu.Lock()
		for _, w := range m.waiters {
			top = max(top, rtRank(w.t.SchedParams()))
		}
		m.mu.Unlock()
	}
	if top > rtRank(base) {
		want := SchedParams{Policy: SchedFIFO, RTPriority: top, Nice: base.Nice}
		if boosted && b.applied == want {
			return false
		}
		if boosted && o.SchedParams() != b.applied {
			// Changed by someone else while boosted: that is the
			// new base.
			base = o.SchedParams()
		}
		piState.boost[o] = piBoost{base: base, applied: want}
		o.SetSchedParams(want)
		return true
	}
	if !boosted {
		return false
	}
	delete(piState.boost, o)
	if o.SchedParams() == b.applied {
		o.SetSchedParams(b.base)
	}
	return true
}
