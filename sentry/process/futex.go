package process

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
)

// Futexes is the sandbox's table of futex waiters, keyed as Linux keys
// them (mm.FutexKey). Locking: Futexes.mu is taken before
// mm.MemoryManager.mu (the value check reads application memory under it,
// so a waker that changes the word and then wakes cannot slip between the
// check and the queueing).
type Futexes struct {
	mu      sync.Mutex
	waiters map[mm.FutexKey][]*futexWaiter
	// pi are the contended PI futexes (futex_pi.go).
	pi map[mm.FutexKey]*piFutex
}

type futexWaiter struct {
	key    mm.FutexKey
	bitset uint32
	woken  atomic.Bool
	wq     kernel.WaitQueue
	// vec, when set, is the futex_waitv wait this waiter is one word of
	// (idx); a wake is reported there.
	vec *futexVec
	idx int
	// rq is set for a FUTEX_WAIT_REQUEUE_PI waiter (futex_pi.go).
	rq *requeuePI
}

// futexVec is one futex_waitv: a thread sleeping on several words.
type futexVec struct {
	woken atomic.Int32 // index of the first word woken, -1 before
	wq    kernel.WaitQueue
}

// FutexBitsetAny matches every waiter.
const FutexBitsetAny = ^uint32(0)

// Wait blocks t while the word at addr holds val, until a Wake on the same
// key with an overlapping bitset, the timeout (ETIMEDOUT; zero means
// none; deadline is absolute when abs), or an interruption (EINTR).
// EAGAIN if the word does not hold val.
func (f *Futexes) Wait(t *Thread, addr uintptr, private bool, val, bitset uint32, timeout time.Duration) error {
	if bitset == 0 {
		return unix.EINVAL
	}
	m := t.MM()
	key, err := m.FutexKey(addr, private)
	if err != nil {
		return err
	}
	w := &futexWaiter{key: key, bitset: bitset}
	f.mu.Lock()
	err = f.queueLocked(m, addr, val, w)
	f.mu.Unlock()
	if err != nil {
		return err
	}

	o := kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true}
	if timeout > 0 {
		o.Timeout = timeout
	} else if timeout < 0 {
		o.Timeout = kernel.NoWait
	}
	werr := w.wq.Wait(t.Task, w.woken.Load, o)
	if w.woken.Load() {
		return nil
	}
	f.mu.Lock()
	f.removeLocked(w)
	f.mu.Unlock()
	if w.woken.Load() {
		return nil
	}
	switch werr {
	case kernel.ErrTimedOut:
		return unix.ETIMEDOUT
	case kernel.ErrInterrupted:
		return unix.EINTR
	}
	return werr
}

// queueLocked queues w (on w.key) if the word at addr holds val: EAGAIN
// if it does not.
// Preconditions: f.mu is held.
func (f *Futexes) queueLocked(m *mm.MemoryManager, addr uintptr, val uint32, w *futexWaiter) error {
	cur, err := m.LoadUint32(addr)
	if err != nil {
		return err
	}
	if cur != val {
		return unix.EAGAIN
	}
	if f.waiters == nil {
		f.waiters = make(map[mm.FutexKey][]*futexWaiter)
	}
	f.waiters[w.key] = append(f.waiters[w.key], w)
	return nil
}

func (f *Futexes) removeLocked(w *futexWaiter) {
	ws := f.waiters[w.key]
	for i, o := range ws {
		if o == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(f.waiters, w.key)
	} else {
		f.waiters[w.key] = ws
	}
}

// wakeList is the waiters a wake chose under Futexes.mu, to be woken
// after it is dropped (notify), as Linux's futex_wake wakes its wake_q
// after the hash bucket's lock. Waking is a host wake-up of the waiter's
// thread (and, on systrap, of its stub: kernel/handoff.go), microseconds
// during which the lock would otherwise be held: the woken thread's own
// next futex call (a ping-pong's wake back) then found it taken and
// parked its goroutine in Go's runtime, several more host wake-ups.
// The first few are kept in the list itself, so that it stays on the
// waker's stack (no slice into itself, which would move it to the heap).
type wakeList struct {
	n    int
	few  [4]*futexWaiter
	more []*futexWaiter
}

// add appends w.
func (l *wakeList) add(w *futexWaiter) {
	if l.n < len(l.few) {
		l.few[l.n] = w
		l.n++
		return
	}
	l.more = append(l.more, w)
}

// notify wakes the waiters chosen. Each was marked woken under the lock,
// so one that returns meanwhile (a timeout, a signal) reports the wake,
// and a notify of a queue it left wakes nobody.
// Preconditions: Futexes.mu is not held.
func (l *wakeList) notify() {
	for _, w := range l.few[:l.n] {
		w.notify()
	}
	for _, w := range l.more {
		w.notify()
	}
}

// notify wakes w's task (and its futex_waitv's).
func (w *futexWaiter) notify() {
	w.wq.NotifyAll()
	if w.vec != nil {
		w.vec.wq.NotifyAll()
	}
}

// wakeLocked chooses up to n waiters of key whose bitset overlaps bitset,
// marks them woken and adds them to l, whose notify wakes them.
func (f *Futexes) wakeLocked(key mm.FutexKey, n int, bitset uint32, l *wakeList) int {
	ws := f.waiters[key]
	woken := 0
	kept := ws[:0]
	for _, w := range ws {
		if woken < n && w.bitset&bitset != 0 {
			w.woken.Store(true)
			if w.vec != nil {
				w.vec.woken.CompareAndSwap(-1, int32(w.idx))
			}
			l.add(w)
			woken++
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		delete(f.waiters, key)
	} else {
		f.waiters[key] = kept
	}
	return woken
}

// Wake wakes up to n waiters on the futex at addr and returns how many.
// As Linux's futex_wake counts a waiter before comparing with n, an n of
// zero or less wakes one.
func (f *Futexes) Wake(m *mm.MemoryManager, addr uintptr, private bool, n int, bitset uint32) (int, error) {
	return f.WakeStrict(m, addr, private, max(n, 1), bitset)
}

// WakeStrict is Wake where n is exact: futex_wake(2) (FLAGS_STRICT) wakes
// nobody for 0.
func (f *Futexes) WakeStrict(m *mm.MemoryManager, addr uintptr, private bool, n int, bitset uint32) (int, error) {
	if bitset == 0 {
		return 0, unix.EINVAL
	}
	key, err := m.FutexKey(addr, private)
	if err != nil {
		return 0, err
	}
	var l wakeList
	defer l.notify() // after the unlock: deferred first, runs last
	f.mu.Lock()
	defer f.mu.Unlock()
	// A FUTEX_WAIT_REQUEUE_PI waiter may only be requeued (Linux's
	// futex_wake: EINVAL).
	seen := 0
	for _, w := range f.waiters[key] {
		if seen >= n {
			break
		}
		if w.bitset&bitset != 0 {
			if w.rq != nil {
				return 0, unix.EINVAL
			}
			seen++
		}
	}
	return f.wakeLocked(key, n, bitset, &l), nil
}

// Requeue wakes up to nwake waiters of addr and moves up to nrequeue of the
// rest to addr2. With check, the word at addr must hold val (EAGAIN).
// Negative counts are EINVAL; a zero nwake wakes none (Linux's
// futex_requeue).
func (f *Futexes) Requeue(m *mm.MemoryManager, addr, addr2 uintptr, private bool, nwake, nrequeue int, check bool, val uint32) (int, error) {
	return f.Requeue2(m, addr, addr2, private, private, nwake, nrequeue, check, val)
}

// Requeue2 is Requeue with a private flag per word (futex_requeue(2)).
func (f *Futexes) Requeue2(m *mm.MemoryManager, addr, addr2 uintptr, private, private2 bool, nwake, nrequeue int, check bool, val uint32) (int, error) {
	if nwake < 0 || nrequeue < 0 {
		return 0, unix.EINVAL
	}
	k1, err := m.FutexKey(addr, private)
	if err != nil {
		return 0, err
	}
	k2, err := m.FutexKey(addr2, private2)
	if err != nil {
		return 0, err
	}
	var l wakeList
	defer l.notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	if check {
		cur, err := m.LoadUint32(addr)
		if err != nil {
			return 0, err
		}
		if cur != val {
			return 0, unix.EAGAIN
		}
	}
	woken := f.wakeLocked(k1, nwake, FutexBitsetAny, &l)
	ws := f.waiters[k1]
	if k1 == k2 {
		// Requeued onto their own word: they stay where they are
		// (Linux's requeue within one hash bucket), counted as moved.
		return woken + min(len(ws), nrequeue), nil
	}
	moved := 0
	for len(ws) > 0 && moved < nrequeue {
		w := ws[0]
		ws = ws[1:]
		w.key = k2
		f.waiters[k2] = append(f.waiters[k2], w)
		moved++
	}
	if len(ws) == 0 {
		delete(f.waiters, k1)
	} else {
		f.waiters[k1] = ws
	}
	return woken + moved, nil
}

// WakeOp performs FUTEX_WAKE_OP: atomically apply op to the word at addr2,
// wake up to n waiters of addr, and, if the old value of addr2 passes the
// op's comparison, up to n2 waiters of addr2. Counts of zero or less wake
// one, as in Wake.
func (f *Futexes) WakeOp(m *mm.MemoryManager, addr, addr2 uintptr, private bool, n, n2 int, op uint32) (int, error) {
	n, n2 = max(n, 1), max(n2, 1)
	k1, err := m.FutexKey(addr, private)
	if err != nil {
		return 0, err
	}
	k2, err := m.FutexKey(addr2, private)
	if err != nil {
		return 0, err
	}
	var l wakeList
	defer l.notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := m.Uint32(addr2, true)
	if err != nil {
		return 0, err
	}
	opcode := (op >> 28) & 0x7
	shiftArg := op&(8<<28) != 0
	cmp := (op >> 24) & 0xf
	// Both arguments are signed 12-bit fields.
	oparg := int32(op<<8) >> 20
	cmparg := int32(op<<20) >> 20
	if shiftArg {
		// Linux masks a shift outside 0..31 (and logs it) rather than
		// failing.
		oparg = 1 << (oparg & 31)
	}
	var old uint32
	for {
		old = atomic.LoadUint32(p)
		var nv uint32
		switch opcode {
		case 0: // SET
			nv = uint32(oparg)
		case 1: // ADD
			nv = old + uint32(oparg)
		case 2: // OR
			nv = old | uint32(oparg)
		case 3: // ANDN
			nv = old &^ uint32(oparg)
		case 4: // XOR
			nv = old ^ uint32(oparg)
		default:
			return 0, unix.ENOSYS
		}
		if atomic.CompareAndSwapUint32(p, old, nv) {
			break
		}
	}
	var ok bool
	so, sc := int32(old), cmparg
	switch cmp {
	case 0:
		ok = so == sc
	case 1:
		ok = so != sc
	case 2:
		ok = so < sc
	case 3:
		ok = so <= sc
	case 4:
		ok = so > sc
	case 5:
		ok = so >= sc
	default:
		// The operation is done, but nobody is woken (as in Linux).
		return 0, unix.ENOSYS
	}
	woken := f.wakeLocked(k1, n, FutexBitsetAny, &l)
	if ok {
		woken += f.wakeLocked(k2, n2, FutexBitsetAny, &l)
	}
	return woken, nil
}

// FutexWaitvWord is one word of WaitV.
type FutexWaitvWord struct {
	Addr    uintptr
	Val     uint32
	Private bool
}

// WaitV is futex_waitv: t sleeps until one of the words is woken and
// returns its index. Every word must hold its value (EAGAIN otherwise,
// checked with all of them queued, so no wake between the checks is
// lost). Timeout as in Wait.
func (f *Futexes) WaitV(t *Thread, words []FutexWaitvWord, timeout time.Duration) (int, error) {
	m := t.MM()
	vec := &futexVec{}
	vec.woken.Store(-1)
	ws := make([]*futexWaiter, len(words))
	for i, w := range words {
		key, err := m.FutexKey(w.Addr, w.Private)
		if err != nil {
			return 0, err
		}
		ws[i] = &futexWaiter{key: key, bitset: FutexBitsetAny, vec: vec, idx: i}
	}
	f.mu.Lock()
	for i, w := range ws {
		if err := f.queueLocked(m, words[i].Addr, words[i].Val, w); err != nil {
			for _, q := range ws[:i] {
				f.removeLocked(q)
			}
			f.mu.Unlock()
			return 0, err
		}
	}
	f.mu.Unlock()

	o := kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true}
	if timeout > 0 {
		o.Timeout = timeout
	} else if timeout < 0 {
		o.Timeout = kernel.NoWait
	}
	woken := func() bool { return vec.woken.Load() >= 0 }
	werr := vec.wq.Wait(t.Task, woken, o)
	f.mu.Lock()
	for _, w := range ws {
		f.removeLocked(w)
	}
	f.mu.Unlock()
	if i := vec.woken.Load(); i >= 0 {
		return int(i), nil
	}
	switch werr {
	case kernel.ErrTimedOut:
		return 0, unix.ETIMEDOUT
	case kernel.ErrInterrupted:
		return 0, unix.EINTR
	}
	return 0, werr
}
