package kernel

import (
	"sync"
	"sync/atomic"
	"time"
)

// Semaphore is a counting semaphore whose waiters are tasks that release
// their CPU while they wait (Akaros's struct semaphore, Linux's struct
// semaphore). Up never blocks and may be called from any goroutine,
// including non-task ones (timers, host I/O callbacks); Down blocks.
//
// # The signal-before-sleep race
//
// A waiter registers itself, drops the semaphore's lock, and only then
// gives up its CPU. An Up can land in that window (Akaros's case: "the
// signal wins the race and beats the call to sleep_on()"). Two things make
// it harmless here:
//
//   - Up hands the unit directly to the waiter it picks (granted is set
//     under the lock) instead of incrementing the count, so no later Down
//     can steal it and the waiter does not need to re-check a shared count.
//   - The waiter marks itself Blocking (PrepareToBlock) and only then
//     re-checks its grant under the lock. An Up before that check is seen
//     by the check; an Up after it wakes a Blocking task, which turns it
//     back to Running, so its Schedule returns at once: the waiter
//     "unwinds" without sleeping, which is exactly Akaros's manual unwind,
//     done by the task state machine.
//
// A timed-out or interrupted waiter that was granted the unit in the same
// instant keeps it (Down reports success), so no unit is ever lost.
//
// Locking: Semaphore.mu is a leaf lock; Wake is called after it is
// dropped (see the package lock order).
type Semaphore struct {
	mu      sync.Mutex
	count   int
	waiters []*semWaiter // FIFO
}

// semWaiter is one task waiting in Down.
type semWaiter struct {
	t       *Task
	granted bool // protected by Semaphore.mu
}

// NewSemaphore returns a semaphore holding n units.
func NewSemaphore(n int) *Semaphore { return &Semaphore{count: n} }

// semBeforeSleep, when set (tests only), runs in Down after the waiter has
// registered and dropped the lock and before it gives up its CPU: the
// window in which the signal-before-sleep race happens.
var semBeforeSleep func(s *Semaphore, t *Task)

// Up releases one unit: to the longest waiting task if there is one (it is
// woken), else to the count. It never blocks.
func (s *Semaphore) Up() {
	s.mu.Lock()
	if len(s.waiters) == 0 {
		s.count++
		s.mu.Unlock()
		return
	}
	w := s.waiters[0]
	s.waiters[0] = nil
	s.waiters = s.waiters[1:]
	w.granted = true
	s.mu.Unlock()
	w.t.k.Wake(w.t)
}

// TryDown takes a unit if one is free and reports whether it did. It never
// blocks.
func (s *Semaphore) TryDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count > 0 {
		s.count--
		return true
	}
	return false
}

// Down takes a unit, blocking t (which releases its CPU) until one is
// available. Signals do not end the wait.
// Preconditions: t is the calling task and holds a CPU.
func (s *Semaphore) Down(t *Task) {
	s.down(t, Forever, false)
}

// DownTimeout is Down with a timeout (Forever, NoWait or a duration) and,
// if interruptible, an end on Task.Interrupt. It returns nil once it holds
// a unit, ErrTimedOut or ErrInterrupted otherwise.
// Preconditions: t is the calling task and holds a CPU.
func (s *Semaphore) DownTimeout(t *Task, d time.Duration, interruptible bool) error {
	return s.down(t, d, interruptible)
}

// Count returns the number of free units (negative counts are not used:
// waiters are kept in a list instead).
func (s *Semaphore) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Waiters returns the number of tasks waiting in Down.
func (s *Semaphore) Waiters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters)
}

func (s *Semaphore) down(t *Task, d time.Duration, interruptible bool) error {
	s.mu.Lock()
	// The early bail-out: a free unit is taken without sleeping.
	if s.count > 0 {
		s.count--
		s.mu.Unlock()
		return nil
	}
	if d == NoWait {
		s.mu.Unlock()
		return ErrTimedOut
	}
	w := &semWaiter{t: t}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()

	var timedOut atomic.Bool
	if d > 0 {
		tm := t.AfterFunc(d, func() {
			timedOut.Store(true)
			t.k.Wake(t)
		})
		defer tm.Stop()
	}
	for {
		t.PrepareToBlock()
		s.mu.Lock()
		granted := w.granted
		s.mu.Unlock()
		if granted {
			t.CancelBlock()
			return nil
		}
		var err error
		if timedOut.Load() {
			err = ErrTimedOut
		} else if interruptible && t.Interrupted() {
			err = ErrInterrupted
		}
		if err != nil {
			t.CancelBlock()
			return s.abandon(w, err)
		}
		if h := semBeforeSleep; h != nil {
			h(s, t)
		}
		t.acct.uninterruptible.Store(!interruptible)
		// If Up ran since PrepareToBlock, its Wake made the task
		// Running again and Schedule returns at once.
		t.Schedule()
		t.acct.uninterruptible.Store(false)
	}
}

// abandon takes a waiter that gives up (timeout, interrupt) off the list,
// unless it was granted a unit meanwhile, which it then keeps.
func (s *Semaphore) abandon(w *semWaiter, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted {
		return nil
	}
	for i, x := range s.waiters {
		if x == w {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			break
		}
	}
	return err
}
