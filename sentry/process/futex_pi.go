package process

// Priority-inheritance futexes (FUTEX_LOCK_PI, FUTEX_LOCK_PI2,
// FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI, and the PI side of FUTEX_WAIT_REQUEUE_PI
// and FUTEX_CMP_REQUEUE_PI), as Linux's kernel/futex/pi.c does them.
//
// The futex word holds the owner's TID, FUTEX_WAITERS when the kernel must
// be told of an unlock, and FUTEX_OWNER_DIED after a robust owner died.
// An uncontended lock and unlock never enter the sentry (userspace
// compare-and-swaps 0 <-> TID). When a locker finds the word owned, it sets
// FUTEX_WAITERS and the sentry gives the futex a piFutex (Linux's
// futex_pi_state): a kernel.Mutex proxy-locked for the owner's task, on
// which the locker then sleeps. The kernel Mutex is what boosts the owner:
// while a SCHED_FIFO/RR task waits, the owner runs at the waiter's
// real-time priority, so the sandbox's scheduler cannot let a task of
// medium priority starve it (priority inversion). FUTEX_UNLOCK_PI hands the
// Mutex, and the word, to the highest-priority waiter; a thread that exits
// owning piFutexes hands them on the same way (Linux's exit_pi_state_list),
// and the new owner keeps FUTEX_OWNER_DIED if the robust list walk set it.
//
// A piFutex lives while lockers are in flight on it (refs); once the last
// one has left, the owner is again known only from the word.
//
// Locking: Futexes.mu, then kernel.Mutex's locks (piMu, ...), then
// mm.MemoryManager.mu (WithUint32). Nobody sleeps holding Futexes.mu: a
// locker takes its reference under it and sleeps in LockWait after
// releasing it.

import (
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
)

// FutexLockPI2 is FUTEX_LOCK_PI2 (Linux 5.14): FUTEX_LOCK_PI whose timeout
// is on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME is given.
const FutexLockPI2 = 13

// piFutex is the kernel side of a contended PI futex.
type piFutex struct {
	key mm.FutexKey
	mu  kernel.Mutex
	// refs counts the lockers between attaching and leaving
	// (Futexes.mu).
	refs int
}

// PILockOpts are the options of LockPI.
type PILockOpts struct {
	// Try is FUTEX_TRYLOCK_PI: never sleep.
	Try bool
	// Deadline ends the wait with ETIMEDOUT (zero: none). It is
	// absolute, in the clock Now reads.
	Deadline time.Duration
	// Now reads the deadline's clock.
	Now func() time.Duration
}

// casWord applies fn to the word at addr until the compare-and-swap holds,
// returning the old and new values. fn returns ok=false to leave the word
// alone (nothing is stored).
func casWord(m *mm.MemoryManager, addr uintptr, fn func(old uint32) (uint32, bool)) (old, nv uint32, ok bool, err error) {
	err = m.WithUint32(addr, true, func(p *uint32) {
		for {
			old = atomic.LoadUint32(p)
			nv, ok = fn(old)
			if !ok || atomic.CompareAndSwapUint32(p, old, nv) {
				return
			}
		}
	})
	return old, nv, ok, err
}

// piOwnerLocked finds the thread whose TID is tid, for attaching a new
// piFutex to it: nil when there is none or it has already handed on its
// PI futexes at exit (Linux's ESRCH from attach_to_pi_owner).
// Preconditions: f.mu is held.
func piOwnerLocked(t *Thread, tid uint32) *Thread {
	if tid == 0 {
		return nil
	}
	tk := t.S.Kernel.TaskByTID(int32(tid))
	if tk == nil {
		return nil
	}
	th, ok := tk.Ext.(*Thread)
	if !ok || th.piExited {
		return nil
	}
	return th
}

// LockPI is FUTEX_LOCK_PI/LOCK_PI2/TRYLOCK_PI on the word at addr.
// Errors as Linux: EDEADLK (the caller owns it, or waiting would close a
// cycle), ESRCH (the TID in the word names no thread), EWOULDBLOCK (Try,
// held), ETIMEDOUT, EINTR (interrupted; the dispatcher restarts it),
// EFAULT, EINVAL.
func (f *Futexes) LockPI(t *Thread, addr uintptr, private bool, o PILockOpts) error {
	m := t.MM()
	key, err := m.FutexKey(addr, private)
	if err != nil {
		return err
	}
	me := uint32(t.TID())
	f.mu.Lock()
	pf, err := f.attachPILocked(t, m, key, addr, me, o.Try, false)
	f.mu.Unlock()
	if pf == nil || err != nil {
		return err
	}
	return f.waitPI(t, m, pf, addr, me, o)
}

// attachPILocked is futex_lock_pi_atomic: it takes the futex if the word
// names no owner and no locker is queued (nil, nil), or sets FUTEX_WAITERS
// and returns the piFutex to sleep on with a reference taken. setWaiters
// makes a free futex's new owner see FUTEX_WAITERS (requeue_pi).
// Preconditions: f.mu is held.
func (f *Futexes) attachPILocked(t *Thread, m *mm.MemoryManager, key mm.FutexKey, addr uintptr, me uint32, try, setWaiters bool) (*piFutex, error) {
	pf := f.pi[key]
	for {
		cur, err := m.LoadUint32(addr)
		if err != nil {
			return nil, err
		}
		if cur&futexTIDMask == me {
			return nil, unix.EDEADLK
		}
		if pf == nil && cur&futexTIDMask == 0 {
			// Free (perhaps with OWNER_DIED kept for the new owner
			// to see): take it.
			nv := cur&futexOwnerDied | me
			if setWaiters {
				nv |= futexWaitersBit
			}
			if _, _, ok, err := casWord(m, addr, func(old uint32) (uint32, bool) { return nv, old == cur }); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
			return nil, nil
		}
		// Held: the owner must come to the kernel to unlock.
		if _, _, ok, err := casWord(m, addr, func(old uint32) (uint32, bool) { return cur | futexWaitersBit, old == cur }); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		if pf == nil {
			owner := piOwnerLocked(t, cur&futexTIDMask)
			if owner == nil {
				return nil, unix.ESRCH
			}
			if try {
				return nil, unix.EWOULDBLOCK
			}
			pf = &piFutex{key: key}
			pf.mu.TryLock(owner.Task)
			if f.pi == nil {
				f.pi = make(map[mm.FutexKey]*piFutex)
			}
			f.pi[key] = pf
		} else if try {
			return nil, unix.EWOULDBLOCK
		}
		pf.refs++
		return pf, nil
	}
}

// waitPI sleeps on pf's Mutex until it is handed to t, then makes the word
// name t (keeping OWNER_DIED: Linux's fixup_pi_state_owner).
func (f *Futexes) waitPI(t *Thread, m *mm.MemoryManager, pf *piFutex, addr uintptr, me uint32, o PILockOpts) error {
	wo := kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true}
	if o.Deadline != 0 {
		wo.Timeout = o.Deadline - o.Now()
		if wo.Timeout <= 0 {
			wo.Timeout = kernel.NoWait
		}
	}
	werr := pf.mu.LockWait(t.Task, wo)
	f.mu.Lock()
	defer f.mu.Unlock()
	pf.refs--
	if pf.refs == 0 {
		delete(f.pi, pf.key)
	}
	switch werr {
	case nil:
	case kernel.ErrDeadlock:
		return unix.EDEADLK
	case kernel.ErrTimedOut:
		return unix.ETIMEDOUT
	case kernel.ErrInterrupted:
		return unix.EINTR
	default:
		return werr
	}
	_, _, _, err := casWord(m, addr, func(old uint32) (uint32, bool) {
		if old&futexTIDMask == me {
			return old, false
		}
		return old&futexOwnerDied | me | futexWaitersBit, true
	})
	if err != nil {
		// The word went away under the new owner: it still owns the
		// kernel Mutex until the last locker leaves.
		return err
	}
	return nil
}

// UnlockPI is FUTEX_UNLOCK_PI: the caller must own the word (EPERM). The
// futex goes to the highest-priority locker waiting in the sentry, whose
// TID the word then holds with FUTEX_WAITERS, or the word becomes 0.
func (f *Futexes) UnlockPI(t *Thread, addr uintptr, private bool) error {
	m := t.MM()
	key, err := m.FutexKey(addr, private)
	if err != nil {
		return err
	}
	me := uint32(t.TID())
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := m.LoadUint32(addr)
	if err != nil {
		return err
	}
	if cur&futexTIDMask != me {
		return unix.EPERM
	}
	if pf := f.pi[key]; pf != nil {
		if pf.mu.Owner() != t.Task {
			return unix.EPERM
		}
		if next := pf.mu.Unlock(t.Task); next != nil {
			_, _, _, err := casWord(m, addr, func(uint32) (uint32, bool) {
				return uint32(next.TID()) | futexWaitersBit, true
			})
			return err
		}
	}
	_, _, _, err = casWord(m, addr, func(uint32) (uint32, bool) { return 0, true })
	return err
}

// exitPI hands every contended PI futex t owns to its top waiter (Linux's
// exit_pi_state_list, also run at execve); the new owner fixes the word
// when it runs. When t exits, no new locker attaches to it (ESRCH).
func (t *Thread) exitPI(exiting bool) {
	f := &t.S.Futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	if exiting {
		t.piExited = true
	}
	for _, pf := range f.pi {
		if pf.mu.Owner() == t.Task {
			pf.mu.Unlock(t.Task)
		}
	}
}

// requeuePI is the state of a FUTEX_WAIT_REQUEUE_PI waiter, written under
// Futexes.mu by FUTEX_CMP_REQUEUE_PI.
type requeuePI struct {
	key2 mm.FutexKey
	tid  uint32
	// outcome: 0 still waiting on the first word, rqAcquired (the
	// requeuer made the waiter the PI futex's owner), rqRequeued (the
	// waiter must lock the PI futex itself).
	outcome int
}

const (
	rqAcquired = 1 + iota
	rqRequeued
)

// WaitRequeuePI is FUTEX_WAIT_REQUEUE_PI: t waits on the non-PI word at
// addr (holding val) until FUTEX_CMP_REQUEUE_PI moves it to the PI futex
// at addr2, which it then owns when it returns 0. A plain FUTEX_WAKE
// ends the wait with EAGAIN, as on Linux. o's deadline covers both
// waits.
func (f *Futexes) WaitRequeuePI(t *Thread, addr, addr2 uintptr, private bool, val uint32, o PILockOpts) error {
	if addr == addr2 {
		return unix.EINVAL
	}
	m := t.MM()
	key, err := m.FutexKey(addr, private)
	if err != nil {
		return err
	}
	key2, err := m.FutexKey(addr2, private)
	if err != nil {
		return err
	}
	rq := &requeuePI{key2: key2, tid: uint32(t.TID())}
	w := &futexWaiter{key: key, bitset: FutexBitsetAny, rq: rq}
	f.mu.Lock()
	err = f.queueLocked(m, addr, val, w)
	f.mu.Unlock()
	if err != nil {
		return err
	}

	wo := kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true}
	if o.Deadline != 0 {
		if wo.Timeout = o.Deadline - o.Now(); wo.Timeout <= 0 {
			wo.Timeout = kernel.NoWait
		}
	}
	werr := w.wq.Wait(t.Task, w.woken.Load, wo)
	f.mu.Lock()
	if !w.woken.Load() {
		f.removeLocked(w)
	}
	outcome, woken := rq.outcome, w.woken.Load()
	f.mu.Unlock()
	switch {
	case outcome == rqAcquired:
		return nil
	case outcome == rqRequeued:
		return f.LockPI(t, addr2, private, o)
	case woken:
		return unix.EAGAIN
	case werr == kernel.ErrTimedOut:
		return unix.ETIMEDOUT
	case werr == kernel.ErrInterrupted:
		return unix.EINTR
	}
	return werr
}

// CmpRequeuePI is FUTEX_CMP_REQUEUE_PI: if the word at addr holds val,
// its first waiter (each must be a FUTEX_WAIT_REQUEUE_PI waiter for
// addr2: EINVAL otherwise) is given the PI futex at addr2 if it is free,
// and up to nrequeue waiters are moved to it: they lock it (and boost its
// owner) as soon as they run. It returns how many were given the futex or
// moved. nwake must be 1.
func (f *Futexes) CmpRequeuePI(t *Thread, addr, addr2 uintptr, private bool, nwake, nrequeue int, val uint32) (int, error) {
	if nwake != 1 || nrequeue < 0 || addr == addr2 {
		return 0, unix.EINVAL
	}
	m := t.MM()
	k1, err := m.FutexKey(addr, private)
	if err != nil {
		return 0, err
	}
	k2, err := m.FutexKey(addr2, private)
	if err != nil {
		return 0, err
	}
	// The waiters taken are woken after f.mu is dropped (wakeList).
	var l wakeList
	defer l.notify()
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := m.LoadUint32(addr)
	if err != nil {
		return 0, err
	}
	if cur != val {
		return 0, unix.EAGAIN
	}
	ws := f.waiters[k1]
	if len(ws) == 0 {
		return 0, nil
	}
	for _, w := range ws {
		if w.rq == nil || w.rq.key2 != k2 {
			return 0, unix.EINVAL
		}
	}
	done := 0
	take := func(w *futexWaiter, outcome int) {
		w.rq.outcome = outcome
		w.woken.Store(true)
		l.add(w)
		done++
	}
	rest := ws
	// The top waiter gets the PI futex if nobody holds it
	// (futex_proxy_trylock_atomic).
	top := ws[0]
	word, err := m.LoadUint32(addr2)
	if err != nil {
		return 0, err
	}
	if word&futexTIDMask == top.rq.tid {
		return 0, unix.EDEADLK
	}
	if f.pi[k2] == nil && word&futexTIDMask == 0 {
		_, _, ok, err := casWord(m, addr2, func(old uint32) (uint32, bool) {
			return old&futexOwnerDied | top.rq.tid | futexWaitersBit, old == word
		})
		if err != nil {
			return 0, err
		}
		if ok {
			take(top, rqAcquired)
			rest = ws[1:]
		}
	}
	moved := 0
	for len(rest) > 0 && moved < nrequeue {
		if moved == 0 {
			// The lockers to come need the owner to come to the
			// kernel to unlock, and the owner to exist.
			if _, _, _, err := casWord(m, addr2, func(old uint32) (uint32, bool) {
				word = old
				return old | futexWaitersBit, old&futexTIDMask != 0
			}); err != nil {
				return done, err
			}
			if tid := word & futexTIDMask; tid != 0 && f.pi[k2] == nil && piOwnerLocked(t, tid) == nil {
				if done > 0 {
					break
				}
				return 0, unix.ESRCH
			}
		}
		take(rest[0], rqRequeued)
		rest = rest[1:]
		moved++
	}
	if len(rest) == 0 {
		delete(f.waiters, k1)
	} else {
		f.waiters[k1] = append([]*futexWaiter(nil), rest...)
	}
	return done, nil
}
