package kernel

import (
	"errors"
	"sync"
	"time"
)

// ErrTimedOut is returned by a wait whose timeout expired first.
var ErrTimedOut = errors.New("wait timed out")

// WaitQueue is a queue of tasks waiting for a condition (LK's wait_queue_t,
// Linux's wait_queue_head_t). Waking only makes waiters re-check their
// condition; the condition itself lives with the caller.
type WaitQueue struct {
	mu      sync.Mutex
	waiters []*Task
	err     error // set by Destroy: every wait returns it
}

// Forever and NoWait are the special timeouts of Wait.
const (
	Forever time.Duration = -1
	NoWait  time.Duration = 0
)

// WaitOpts modify Wait.
type WaitOpts struct {
	// Timeout: Forever, NoWait, or how long to wait.
	Timeout time.Duration
	// Interruptible: return ErrInterrupted when the task is interrupted
	// (a signal is pending).
	Interruptible bool
}

// Wait blocks t, releasing its CPU, until cond() is true, the timeout
// passes (ErrTimedOut), the task is interrupted (ErrInterrupted, only when
// Interruptible), or the queue is destroyed (its error). cond is evaluated
// with no kernel lock held, by t, after it was queued, so a Notify between
// the check and the sleep is never lost.
//
// Preconditions: t is the calling task and holds a CPU.
func (q *WaitQueue) Wait(t *Task, cond func() bool, o WaitOpts) error {
	if cond() {
		return nil
	}
	if o.Timeout == NoWait {
		return ErrTimedOut
	}
	var timedOut bool
	var tmMu sync.Mutex
	var tm Timer
	if o.Timeout > 0 {
		tmMu.Lock()
		tm = t.AfterFunc(o.Timeout, func() {
			tmMu.Lock()
			timedOut = true
			tmMu.Unlock()
			t.k.Wake(t)
		})
		tmMu.Unlock()
		defer tm.Stop()
	}
	for {
		q.mu.Lock()
		if q.err != nil {
			q.mu.Unlock()
			return q.err
		}
		q.waiters = append(q.waiters, t)
		t.PrepareToBlock()
		q.mu.Unlock()

		// cond is evaluated exactly once per pass: it may consume what it
		// tests (a completion's count, a semaphore).
		var err error
		if cond() {
			t.CancelBlock()
			q.remove(t)
			return nil
		}
		tmMu.Lock()
		if timedOut {
			err = ErrTimedOut
		}
		tmMu.Unlock()
		if o.Interruptible && t.Interrupted() {
			err = ErrInterrupted
		}
		if err != nil {
			t.CancelBlock()
			q.remove(t)
			return err
		}
		// State D accounting (accounting.go): the sleep a signal
		// cannot end counts in the load average.
		t.acct.uninterruptible.Store(!o.Interruptible)
		t.Schedule()
		t.acct.uninterruptible.Store(false)
		q.remove(t)
	}
}

func (q *WaitQueue) remove(t *Task) {
	q.mu.Lock()
	for i, w := range q.waiters {
		if w == t {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			break
		}
	}
	q.mu.Unlock()
}

// NotifyOne wakes the longest-waiting task. It returns whether a task was
// woken. It never blocks and may be called from any goroutine.
func (q *WaitQueue) NotifyOne() bool { return q.NotifyOneSync(nil) }

// NotifyAll wakes every waiting task and returns how many there were.
func (q *WaitQueue) NotifyAll() int { return q.NotifyAllSync(nil) }

// NotifyOneSync is NotifyOne from a task about to block (a writer that
// will wait for the answer): the woken task may be queued on the waker's
// CPU to take it when the waker blocks (Kernel.WakeSync, sync.go). A nil
// waker makes it NotifyOne.
// Preconditions: waker, if not nil, is the calling task and holds a CPU.
func (q *WaitQueue) NotifyOneSync(waker *Task) bool {
	q.mu.Lock()
	if len(q.waiters) == 0 {
		q.mu.Unlock()
		return false
	}
	t := q.waiters[0]
	q.waiters = q.waiters[1:]
	q.mu.Unlock()
	t.k.WakeSync(t, waker)
	return true
}

// NotifyAllSync is NotifyAll from a task about to block (see
// NotifyOneSync).
func (q *WaitQueue) NotifyAllSync(waker *Task) int {
	q.mu.Lock()
	ws := q.waiters
	q.waiters = nil
	q.mu.Unlock()
	for _, t := range ws {
		t.k.WakeSync(t, waker)
	}
	return len(ws)
}

// Len returns the number of waiting tasks.
func (q *WaitQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiters)
}

// Destroy wakes every waiter with err, and makes every later Wait return
// err at once.
func (q *WaitQueue) Destroy(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	q.NotifyAll()
}

// Completion is a one-shot or counted event (Linux's struct completion).
type Completion struct {
	mu   sync.Mutex
	done uint
	all  bool
	wq   WaitQueue
}

// Complete releases one waiter (or one future waiter).
func (c *Completion) Complete() {
	c.mu.Lock()
	c.done++
	c.mu.Unlock()
	c.wq.NotifyOne()
}

// CompleteAll releases every waiter, present and future.
func (c *Completion) CompleteAll() {
	c.mu.Lock()
	c.all = true
	c.mu.Unlock()
	c.wq.NotifyAll()
}

// Done reports whether a Wait would return at once.
func (c *Completion) Done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all || c.done > 0
}

func (c *Completion) take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all {
		return true
	}
	if c.done > 0 {
		c.done--
		return true
	}
	return false
}

// Wait blocks t until the completion is completed. It blocks.
func (c *Completion) Wait(t *Task) {
	c.wq.Wait(t, c.take, WaitOpts{Timeout: Forever})
}

// WaitTimeout is Wait with a timeout; it returns ErrTimedOut if it passed.
func (c *Completion) WaitTimeout(t *Task, d time.Duration) error {
	return c.wq.Wait(t, c.take, WaitOpts{Timeout: d})
}
