package process

// Robust futex lists (set_robust_list): when a thread exits, every futex it
// still owns on its robust list is marked FUTEX_OWNER_DIED and one waiter
// is woken, so that the next pthread_mutex_lock of a robust mutex returns
// EOWNERDEAD instead of blocking forever. This is Linux's exit_robust_list
// and handle_futex_death.
//
// Locking: exitRobustList takes Futexes.mu (through Wake) and
// mm.MemoryManager.mu (through Uint32/CopyIn) one at a time, never together
// with a ThreadGroup.mu.

import (
	"encoding/binary"
	"sync/atomic"
)

const (
	// robustListLimit bounds the walk, as Linux's ROBUST_LIST_LIMIT does,
	// so that a circular list cannot keep an exiting thread busy.
	robustListLimit = 2048

	futexTIDMask    = 0x3fffffff
	futexOwnerDied  = 0x40000000
	futexWaitersBit = 0x80000000
)

// exitRobustList walks t's robust list (t.RobustList, the address of a
// struct robust_list_head { list; futex_offset; list_op_pending; }) and
// releases every futex still owned by t. Any fault (a bad pointer, an
// unmapped or read-only word) ends the walk quietly: the list is the
// program's memory and a corrupted one must not hurt the sentry.
//
// Preconditions: t is exiting and its memory manager is still alive; t
// holds no ThreadGroup or Futexes lock.
func (t *Thread) exitRobustList() {
	head := t.RobustList
	m := t.MM()
	if head == 0 || m == nil {
		return
	}
	t.RobustList = 0
	var buf [24]byte
	if _, err := m.CopyIn(head, buf[:]); err != nil {
		return
	}
	entry := uintptr(binary.LittleEndian.Uint64(buf[0:8]))
	offset := int64(binary.LittleEndian.Uint64(buf[8:16]))
	pending := uintptr(binary.LittleEndian.Uint64(buf[16:24]))
	tid := uint32(t.TID())

	// Bit 0 of a list pointer marks a PI futex (FUTEX_LOCK_PI); such a
	// futex is only marked, never woken here.
	pendingPI := pending&1 != 0
	pending &^= 1
	for i := 0; i < robustListLimit && entry&^1 != head; i++ {
		pi := entry&1 != 0
		e := entry &^ 1
		var next [8]byte
		if _, err := m.CopyIn(e, next[:]); err != nil {
			return
		}
		// The pending entry is handled once, after the walk.
		if e != pending {
			t.futexOwnerDied(e+uintptr(offset), tid, pi, false)
		}
		entry = uintptr(binary.LittleEndian.Uint64(next[:]))
	}
	if pending != 0 {
		t.futexOwnerDied(pending+uintptr(offset), tid, pendingPI, true)
	}
}

// futexOwnerDied is handle_futex_death for the futex word at addr: if tid
// owns it, the word becomes OWNER_DIED (keeping WAITERS) and, for a
// non-PI futex with waiters, one waiter is woken. For the pending entry a
// word of 0 means the owner died between taking the lock and listing it:
// a waiter is woken so that it retries.
func (t *Thread) futexOwnerDied(addr uintptr, tid uint32, pi, pendingOp bool) {
	m := t.MM()
	if addr%4 != 0 {
		return
	}
	p, err := m.Uint32(addr, true)
	if err != nil {
		return
	}
	for {
		old := atomic.LoadUint32(p)
		if pendingOp && !pi && old == 0 {
			// Shared key, as Linux wakes: glibc waits on robust mutexes
			// with shared futexes (a private mapping gives the same key).
			t.S.Futexes.Wake(m, addr, false, 1, FutexBitsetAny)
			return
		}
		if old&futexTIDMask != tid {
			return
		}
		nv := old&futexWaitersBit | futexOwnerDied
		if !atomic.CompareAndSwapUint32(p, old, nv) {
			continue
		}
		if !pi && old&futexWaitersBit != 0 {
			t.S.Futexes.Wake(m, addr, false, 1, FutexBitsetAny)
		}
		return
	}
}

// ExecReleaseFutexes is execve's futex_exec_release, called at the point of
// no return while the old image is still mapped: the robust futexes the
// thread still holds are released (their waiters see FUTEX_OWNER_DIED) and
// clear_child_tid, an address in the old image, is forgotten.
func (t *Thread) ExecReleaseFutexes() {
	t.exitRobustList()
	t.exitPI(false)
	t.ClearChildTID = 0
}
