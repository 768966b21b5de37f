package kernel

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// KthreadState is a kernel thread's life cycle state, as in the seeds'
// plan and Linux's kthread.c:
//
//	created ──Run──▶ running ⇄ blocked        (blocked: asleep on a wait queue)
//	running ──Park──▶ parked ──Unpark──▶ running
//	running ──Stop──▶ stopping ──fn returns──▶ exited
//	created ──Stop──▶ exited                  (fn never runs; Stop returns ErrKthreadNeverRan)
type KthreadState int32

const (
	KthreadCreated KthreadState = iota
	KthreadRunning
	KthreadParked
	KthreadStopping
	KthreadExited
)

var kthreadStateNames = [...]string{"created", "running", "parked", "stopping", "exited"}

func (s KthreadState) String() string {
	if int(s) < len(kthreadStateNames) {
		return kthreadStateNames[s]
	}
	return fmt.Sprintf("KthreadState(%d)", int32(s))
}

// Errors of the kthread API.
var (
	ErrKthreadNeverRan = errors.New("kthread stopped before it ran")
	ErrNoKthreadd      = errors.New("kthreadd is not running")
)

// Kthread is a kernel thread: a task with PF_KTHREAD, a child of kthreadd,
// that runs sentry code only.
//
// A created kthread's task is in the task table at once (its TID, a child
// of kthreadd, in /proc as an idle kthread) but gets its host thread only
// at Run, as Linux's kthread_create'd thread first runs at its
// wake_up_process: every kthread is a locked host thread, and a host
// thread made at boot for a kthread that a short sandbox never wakes (a
// pool's first worker, ksoftirqd/N, kswapd0, a rescuer) was a clone, its
// stack's page faults and host context switches to start and to end it
// (twelve of them were ~4 ms of a `do -- /bin/true`). Such users create
// the kthread with KthreadCreate and call Run from their wake-up path.
type Kthread struct {
	task *Task
	fn   func(kt *Kthread) int

	state      atomic.Int32
	shouldStop atomic.Bool
	shouldPark atomic.Bool

	ran     atomic.Bool // Run was called: the task has its host thread
	parked  Completion  // the thread reached its park point
	unpark  WaitQueue
	exited  chan struct{}
	result  int
	stopped bool // Stop ran before the thread ever ran fn
	mu      sync.Mutex
}

// Task returns the kthread's task.
func (kt *Kthread) Task() *Task { return kt.task }

// State returns the kthread's state.
func (kt *Kthread) State() KthreadState { return KthreadState(kt.state.Load()) }

// KthreadOptions describe a kthread to create.
type KthreadOptions struct {
	// Name is the thread's name ("kworker/0:1", "ksoftirqd/0").
	Name string
	// CPU, if >= 0 and Bound, binds the thread to that CPU.
	CPU   int
	Bound bool
	// Nice is the thread's nice value (kworker/N:MH run at -20).
	Nice int
	// Flags are extra PF_* flags (PF_WQ_WORKER).
	Flags TaskFlags
}

type kthreadRequest struct {
	opts KthreadOptions
	fn   func(*Kthread) int
	done chan *Kthread
}

// kthreadQueue is kthreadd's request queue: any goroutine adds to it and
// wakes kthreadd (the kthread_create_list of Linux). Once closed it takes
// no more requests; kthreadd serves those already queued, then exits.
type kthreadQueue struct {
	mu     sync.Mutex
	reqs   []*kthreadRequest
	closed bool
	wq     WaitQueue
}

// add queues r and wakes kthreadd; it reports false once the queue is
// closed.
func (q *kthreadQueue) add(r *kthreadRequest) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.reqs = append(q.reqs, r)
	q.mu.Unlock()
	q.wq.NotifyOne()
	return true
}

// close makes kthreadd exit after the requests already queued.
func (q *kthreadQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.reqs = append(q.reqs, nil)
	q.mu.Unlock()
	q.wq.NotifyOne()
}

// next waits for the next request; nil means the queue was closed.
func (q *kthreadQueue) next(t *Task) *kthreadRequest {
	var r *kthreadRequest
	q.wq.Wait(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		if len(q.reqs) > 0 {
			r = q.reqs[0]
			q.reqs = q.reqs[1:]
			return true
		}
		return false
	}, WaitOpts{Timeout: Forever})
	return r
}

// StartKthreadd creates kthreadd, the parent of every kernel thread. It
// takes the next TID, so the sandbox's init must have reserved TID 1
// first. It does not block.
func (k *Kernel) StartKthreadd() {
	kthreadd := k.NewTask(TaskOptions{
		Name:  "kthreadd",
		Flags: PFKthread,
		Entry: func(t *Task) {
			for {
				r := k.kthreadq.next(t)
				if r == nil {
					return
				}
				r.done <- k.spawnKthread(t, r)
			}
		},
	})
	k.kthreadd = kthreadd
	kthreadd.Start()
}

// Kthreadd returns kthreadd's task (nil before StartKthreadd).
func (k *Kernel) Kthreadd() *Task { return k.kthreadd }

func (k *Kernel) spawnKthread(parent *Task, r *kthreadRequest) *Kthread {
	kt := &Kthread{fn: r.fn, exited: make(chan struct{})}
	var aff CPUSet
	if r.opts.Bound {
		aff.Set(r.opts.CPU)
	}
	kt.task = k.NewTask(TaskOptions{
		Name:     r.opts.Name,
		Parent:   parent,
		Flags:    PFKthread | r.opts.Flags,
		Affinity: aff,
		Nice:     r.opts.Nice,
		Entry:    kt.body,
	})
	kt.task.Ext = kt
	return kt
}

// KthreadCreate asks kthreadd to create a kernel thread that will run fn
// once Run is called (kthread_create); its task gets its host thread then.
// It blocks until kthreadd has created the task; it may be called from any
// goroutine.
func (k *Kernel) KthreadCreate(opts KthreadOptions, fn func(*Kthread) int) (*Kthread, error) {
	if k.kthreadd == nil {
		return nil, ErrNoKthreadd
	}
	if opts.Bound && (opts.CPU < 0 || opts.CPU >= len(k.cpus)) {
		return nil, fmt.Errorf("kthread %q: CPU %d out of range [0, %d)", opts.Name, opts.CPU, len(k.cpus))
	}
	r := &kthreadRequest{opts: opts, fn: fn, done: make(chan *Kthread, 1)}
	if !k.kthreadq.add(r) {
		return nil, ErrNoKthreadd
	}
	return <-r.done, nil
}

// KthreadRun creates and starts a kernel thread (kthread_run).
func (k *Kernel) KthreadRun(opts KthreadOptions, fn func(*Kthread) int) (*Kthread, error) {
	kt, err := k.KthreadCreate(opts, fn)
	if err != nil {
		return nil, err
	}
	kt.Run()
	return kt, nil
}

func (kt *Kthread) body(t *Task) {
	kt.mu.Lock()
	stopped := kt.stopped
	kt.mu.Unlock()
	if !stopped {
		kt.state.Store(int32(KthreadRunning))
		kt.result = kt.fn(kt)
	}
	kt.state.Store(int32(KthreadExited))
	close(kt.exited)
}

// Run lets a created kthread start running its function (wake_up_process
// on a fresh kthread): its task is started, on a host thread of its own.
// Calls after the first do nothing, so a wake-up path may call it every
// time before it wakes the thread's wait queue. It does not block (it may
// be called from timer context and with leaf locks held, as Kernel.Wake).
func (kt *Kthread) Run() {
	if kt.ran.Load() || kt.ran.Swap(true) {
		return
	}
	kt.task.Start()
}

// ShouldStop reports whether Stop was called (kthread_should_stop). The
// thread's function checks it in its loop and returns when it is true.
func (kt *Kthread) ShouldStop() bool { return kt.shouldStop.Load() }

// Stop asks the thread to stop, wakes it, waits for its function to return
// and returns its result (kthread_stop). If the thread never ran, its
// function is not called and Stop returns ErrKthreadNeverRan.
// It blocks; caller is the calling task, or nil from a non-task goroutine.
func (kt *Kthread) Stop() (int, error) {
	kt.shouldStop.Store(true)
	if !kt.ran.Load() && kt.ran.CompareAndSwap(false, true) {
		// Never started (Run was not called, and now will do
		// nothing): it has no host thread, and leaves without one
		// rather than get one only to exit.
		kt.mu.Lock()
		kt.stopped = true
		kt.mu.Unlock()
		kt.task.discard()
		kt.state.Store(int32(KthreadExited))
		close(kt.exited)
		return 0, ErrKthreadNeverRan
	}
	neverRan := false
	kt.mu.Lock()
	if kt.State() == KthreadCreated {
		kt.stopped = true
		neverRan = true
	} else {
		kt.state.CompareAndSwap(int32(KthreadRunning), int32(KthreadStopping))
	}
	kt.mu.Unlock()
	kt.shouldPark.Store(false)
	kt.Run()
	kt.unpark.NotifyAll()
	kt.task.Interrupt()
	<-kt.exited
	if neverRan {
		return 0, ErrKthreadNeverRan
	}
	return kt.result, nil
}

// Join waits for the thread to exit on its own and returns its result.
func (kt *Kthread) Join() int {
	<-kt.exited
	return kt.result
}

// Exited returns a channel closed when the thread has exited.
func (kt *Kthread) Exited() <-chan struct{} { return kt.exited }

// Park asks the thread to park at its next ParkPoint and waits until it
// has (kthread_park). It blocks (from a non-task goroutine).
func (kt *Kthread) Park() {
	kt.shouldPark.Store(true)
	kt.task.Interrupt()
	for !kt.parked.Done() && kt.State() != KthreadExited {
		select {
		case <-kt.exited:
		default:
			// Parked is signalled through a completion the thread
			// completes; poll it without holding a CPU.
			parkedSpin()
		}
	}
}

// Unpark lets a parked thread continue (kthread_unpark).
func (kt *Kthread) Unpark() {
	kt.shouldPark.Store(false)
	kt.unpark.NotifyAll()
}

// ShouldPark reports whether Park was called (kthread_should_park).
func (kt *Kthread) ShouldPark() bool { return kt.shouldPark.Load() }

// ParkPoint parks the thread if Park was called, returning once unparked
// or stopped (kthread_parkme). Called by the thread itself.
func (kt *Kthread) ParkPoint() {
	if !kt.shouldPark.Load() {
		return
	}
	kt.state.Store(int32(KthreadParked))
	kt.parked.CompleteAll()
	kt.unpark.Wait(kt.task, func() bool {
		return !kt.shouldPark.Load() || kt.shouldStop.Load()
	}, WaitOpts{Timeout: Forever})
	kt.parked = Completion{}
	kt.task.ClearInterrupt()
	if kt.shouldStop.Load() {
		kt.state.Store(int32(KthreadStopping))
	} else {
		kt.state.Store(int32(KthreadRunning))
	}
}

// Bind restricts the thread to one CPU (kthread_bind). Preconditions: the
// thread has not run yet, or it is parked.
func (kt *Kthread) Bind(cpu int) {
	var s CPUSet
	s.Set(cpu)
	kt.task.mu.Lock()
	kt.task.affinity = s
	kt.task.mu.Unlock()
}

// parkedSpin waits a little for a kthread to reach its park point.
func parkedSpin() { time.Sleep(50 * time.Microsecond) }
