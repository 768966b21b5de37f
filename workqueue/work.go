package workqueue

import (
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Func is a work item's function. t is the worker (or rescuer) task
// running it, holding a CPU; the function may block through kernel
// primitives (wait queues, completions) with t, which lets the pool run
// other items meanwhile. w is the item itself (it may queue itself again).
type Func func(t *kernel.Task, w *Work)

// Work.state bits: PENDING, and a count of cancellers in the bits above
// it. Queueing needs the whole word to be zero, so an item being
// cancelled cannot be queued.
const (
	workPending   uint32 = 1
	workCanceling uint32 = 2
)

// Work is a work item (Linux's work_struct). Its zero value with Func set
// is ready to use; NewWork builds one. A Work must not be copied once
// used, and Func and Name must not change while it is pending or running.
type Work struct {
	// Func is what the item runs.
	Func Func
	// Name labels the item in the debug dump (default: Func's name).
	Name string

	state atomic.Uint32
	// pool is the pool the item is queued on, or last ran on.
	pool atomic.Pointer[workerPool]
	// dwork is set when the item is the Work of a DelayedWork.
	dwork atomic.Pointer[DelayedWork]

	// Protected by pool's lock while the item is queued there.
	pwq        *poolWorkqueue
	color      uint64
	inactive   bool
	list       *workList
	prev, next *Work

	inst instances
}

// NewWork returns a work item running fn.
func NewWork(fn Func) *Work { return &Work{Func: fn} }

// Pending reports whether the item is queued and not yet started (or is
// being cancelled).
func (w *Work) Pending() bool { return w.state.Load()&workPending != 0 }

// Busy reports whether the item is pending or running.
func (w *Work) Busy() bool {
	if w.Pending() {
		return true
	}
	w.inst.mu.Lock()
	defer w.inst.mu.Unlock()
	return len(w.inst.running) > 0
}

func (w *Work) name() string {
	if w.Name != "" {
		return w.Name
	}
	if w.Func == nil {
		return "<nil>"
	}
	if f := runtime.FuncForPC(reflect.ValueOf(w.Func).Pointer()); f != nil {
		return f.Name()
	}
	return "?"
}

// instances numbers the item's queueings so Flush can wait for exactly
// the ones that were queued or running when it was called. Every
// queueing of an idle item starts a new instance; it is pending until a
// worker starts it (or it is cancelled) and running until its function
// returns.
type instances struct {
	mu      sync.Mutex
	queued  uint64   // the last instance's number
	pending uint64   // the pending instance's number, 0 if none
	running []uint64 // instances being run (normally at most one)
	waiters []flushWaiter
}

type flushWaiter struct {
	target uint64
	w      *waiter
}

// begin starts a new pending instance. The caller has just set PENDING.
func (in *instances) begin() {
	in.mu.Lock()
	in.queued++
	in.pending = in.queued
	in.mu.Unlock()
}

// start moves the pending instance to running and returns its number.
func (in *instances) start() uint64 {
	in.mu.Lock()
	seq := in.pending
	in.pending = 0
	in.running = append(in.running, seq)
	in.mu.Unlock()
	return seq
}

// finish ends a running instance.
func (in *instances) finish(seq uint64) {
	in.mu.Lock()
	for i, s := range in.running {
		if s == seq {
			in.running = append(in.running[:i], in.running[i+1:]...)
			break
		}
	}
	in.releaseLocked()
	in.mu.Unlock()
}

// drop ends the pending instance without running it (cancelled).
func (in *instances) drop() {
	in.mu.Lock()
	in.pending = 0
	in.releaseLocked()
	in.mu.Unlock()
}

// doneLocked reports whether every instance up to target has finished.
func (in *instances) doneLocked(target uint64) bool {
	if in.pending != 0 && in.pending <= target {
		return false
	}
	for _, s := range in.running {
		if s <= target {
			return false
		}
	}
	return true
}

func (in *instances) releaseLocked() {
	kept := in.waiters[:0]
	for _, fw := range in.waiters {
		if in.doneLocked(fw.target) {
			fw.w.done()
		} else {
			kept = append(kept, fw)
		}
	}
	for i := len(kept); i < len(in.waiters); i++ {
		in.waiters[i] = flushWaiter{}
	}
	in.waiters = kept
}

// wait blocks until every instance queued so far has finished. It
// returns false at once if none was pending or running.
func (in *instances) wait(t *kernel.Task) bool {
	in.mu.Lock()
	target := in.queued
	if in.doneLocked(target) {
		in.mu.Unlock()
		return false
	}
	wt := newWaiter()
	in.waiters = append(in.waiters, flushWaiter{target: target, w: wt})
	in.mu.Unlock()
	wt.wait(t)
	return true
}

// Flush waits until the item's last queueing has finished executing
// (flush_work): the pending instance, if any, has run, and so has the one
// running at the call. It returns false without waiting if the item was
// idle. A pending DelayedWork's timer is waited for; DelayedWork.Flush
// fires it at once instead. It blocks.
// Preconditions: t is the calling task (nil from a non-task goroutine);
// not called from the item itself.
func (w *Work) Flush(t *kernel.Task) bool { return w.inst.wait(t) }

// tryGrab makes one attempt at taking a pending item off its timer or
// list (try_to_grab_pending). On success PENDING stays set and belongs to
// the caller. It fails when the item is not pending or is in transit
// (being queued, or its timer firing); the caller retries or gives up.
func (w *Work) tryGrab() bool {
	if w.state.Load()&workPending == 0 {
		return false
	}
	if dw := w.dwork.Load(); dw != nil && dw.disarm() {
		return true
	}
	p := w.pool.Load()
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.pool.Load() != p || w.list == nil {
		return false
	}
	p.stealLocked(w)
	return true
}

// cancel takes the pending instance away, if there is one, and returns
// whether there was. Preconditions: the caller holds a canceller count.
func (w *Work) cancel() bool {
	for w.state.Load()&workPending != 0 {
		if w.tryGrab() {
			w.state.And(^workPending)
			w.inst.drop()
			return true
		}
		// In transit: the queuer is between setting PENDING and putting
		// the item on a list; it does not sleep in between.
		runtime.Gosched()
	}
	return false
}

// Cancel removes the item if it is pending (cancel_work) and returns
// whether it was. It does not wait for a running instance. It does not
// block (it may spin briefly while the item is being queued).
func (w *Work) Cancel() bool {
	w.state.Add(workCanceling)
	defer w.state.Add(^(workCanceling - 1))
	return w.cancel()
}

// CancelSync removes the item if it is pending and waits for a running
// instance to finish (cancel_work_sync); while it runs, the item cannot be
// queued (not even by itself), so it returns with the item idle. It
// returns whether the item was pending. It blocks.
// Preconditions: t is the calling task (nil from a non-task goroutine);
// not called from the item itself.
func (w *Work) CancelSync(t *kernel.Task) bool {
	w.state.Add(workCanceling)
	defer w.state.Add(^(workCanceling - 1))
	was := w.cancel()
	w.inst.wait(t)
	return was
}

// workList is an intrusive FIFO of work items. An item is on at most one
// list; the lock of the pool owning the list protects it.
type workList struct {
	head, tail *Work
	n          int
}

func (l *workList) empty() bool  { return l.head == nil }
func (l *workList) front() *Work { return l.head }

func (l *workList) pushBack(w *Work) {
	w.list = l
	w.next = nil
	w.prev = l.tail
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	l.n++
}

func (l *workList) remove(w *Work) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next, w.list = nil, nil, nil
	l.n--
}

// waiter is a one-shot event that a task waits for through a Completion
// (releasing its CPU) and a plain goroutine through a channel.
type waiter struct {
	ch chan struct{}
	c  kernel.Completion
}

func newWaiter() *waiter { return &waiter{ch: make(chan struct{})} }

func (w *waiter) done() {
	close(w.ch)
	w.c.CompleteAll()
}

func (w *waiter) wait(t *kernel.Task) {
	if t != nil {
		w.c.Wait(t)
		return
	}
	<-w.ch
}

// BlockingIO runs f, which may block in the host (a slow pwrite or fsync
// on a host file, a host socket), on a helper goroutine while t sleeps, so
// t's CPU is free meanwhile; for a worker, the pool is told it sleeps
// (concurrency management) and starts another worker for the next items.
// It costs a goroutine and two CPU hand-offs, so use it for host calls that
// may take long, not for every fast one. It blocks and returns when f has.
// Preconditions: t is the calling task (nil: f runs directly).
func BlockingIO(t *kernel.Task, f func()) { blockingCall(t, f) }

// blockingCall runs f, which may block on Go primitives (such as
// KthreadCreate waiting for kthreadd), without holding t's CPU: f runs on
// a helper goroutine while t sleeps. With t nil, f runs directly.
func blockingCall(t *kernel.Task, f func()) {
	if t == nil {
		f()
		return
	}
	wt := newWaiter()
	go func() {
		f()
		wt.done()
	}()
	wt.wait(t)
}
