package kernel

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// TaskState is where a task is in its life (see the package comment).
type TaskState int32

const (
	TaskCreated TaskState = iota
	TaskRunnable
	TaskRunning
	TaskBlocking
	TaskSleeping
	TaskDead
)

var taskStateNames = [...]string{"created", "runnable", "running", "blocking", "sleeping", "dead"}

func (s TaskState) String() string {
	if int(s) < len(taskStateNames) {
		return taskStateNames[s]
	}
	return fmt.Sprintf("TaskState(%d)", int32(s))
}

// TaskFlags are Linux's PF_* flags that the sandbox reports.
type TaskFlags uint32

const (
	// PFKthread marks a kernel thread (Linux's PF_KTHREAD).
	PFKthread TaskFlags = 0x00200000
	// PFWqWorker marks a workqueue worker (Linux's PF_WQ_WORKER).
	PFWqWorker TaskFlags = 0x00000020
)

// TaskOptions describe a task to create.
type TaskOptions struct {
	// Name is the task's comm (at most 15 bytes are kept, as in Linux).
	Name string
	// TID, if non-zero, is a TID obtained from ReserveTID or ReserveTIDAt.
	TID int32
	// TGID is the thread group; zero means the task leads its own.
	TGID int32
	// Parent is the task's parent (nil for the sandbox's init).
	Parent *Task
	// Flags are the task's PF_* flags.
	Flags TaskFlags
	// Affinity limits the CPUs the task may run on; empty means all.
	Affinity CPUSet
	// Nice is the task's initial nice value.
	Nice int
	// Entry is the task's body. It runs on the task's goroutine while the
	// task holds a CPU. When it returns the task exits.
	Entry func(t *Task)
	// HoldTID keeps the dead task in the task table (a zombie, visible in
	// /proc) until Kernel.Reap; otherwise it leaves at exit.
	HoldTID bool
	// ReuseKey, if not nil, lets Start run the task on the host thread of
	// an exited task that kept something under the same key (Task.Keep,
	// hostthread.go). Without a match (or a key) the task runs on a bare
	// idle host thread if there is one, else on a new one.
	ReuseKey any
}

// Task is a schedulable thread of the sandbox: a user thread or a kthread.
type Task struct {
	k     *Kernel
	tid   int32
	tgid  int32
	flags TaskFlags
	entry func(*Task)
	start time.Time

	// mu protects the fields below it.
	mu       sync.Mutex
	comm     string
	parent   *Task
	affinity CPUSet
	nice     int

	state atomic.Int32
	// hostTID is the task's host thread, set before the task is first
	// queued.
	hostTID int32
	// host is the host thread running the task (hostthread.go), set
	// before the task is first queued: granters pin it and wake it
	// through its grant word (handoff.go).
	host *hostThread
	// reuseKey is TaskOptions.ReuseKey. Immutable.
	reuseKey any
	cpu      atomic.Pointer[CPU]
	// se is the scheduling entity, protected by the lock of the CPU in
	// cpu (and t.mu for its params).
	se entity

	needResched atomic.Bool
	interrupted atomic.Bool
	appRunning  atomic.Bool
	appKick     atomic.Pointer[func()]

	sumExec atomic.Int64 // nanoseconds on a CPU
	nvcsw   atomic.Uint64
	nivcsw  atomic.Uint64
	// syncGrace counts down the preemption points a synchronous
	// wake-up of this task's waits for it to block (sync.go); only the
	// task's own goroutine touches it.
	syncGrace int

	exited  chan struct{} // closed when the goroutine has finished
	holdTID bool

	workerHooks atomic.Pointer[workerHooksBox]

	// acct is the user/system, run-delay and sleep-kind accounting
	// (accounting.go).
	acct taskAcct

	// Ext is the owner's per-task state: the sentry's thread for a user
	// task, the kthread for a kernel thread.
	Ext any
}

// NewTask creates a task in state Created. It is registered in the task
// table (and visible in /proc) at once; Start makes it runnable.
func (k *Kernel) NewTask(opts TaskOptions) *Task {
	k.tasksMu.Lock()
	tid := opts.TID
	if tid == 0 {
		tid = k.allocTIDLocked()
	}
	tgid := opts.TGID
	if tgid == 0 {
		tgid = tid
	}
	t := &Task{
		k:        k,
		tid:      tid,
		tgid:     tgid,
		flags:    opts.Flags,
		entry:    opts.Entry,
		start:    time.Now(),
		comm:     truncComm(opts.Name),
		parent:   opts.Parent,
		affinity: opts.Affinity,
		nice:     opts.Nice,
		exited:   make(chan struct{}),
		holdTID:  opts.HoldTID,
		reuseKey: opts.ReuseKey,
	}
	if t.affinity.Empty() {
		t.affinity = AllCPUs(len(k.cpus))
	}
	t.se.heapIndex = -1
	t.se.relative = true // starts at its first queue's vruntime floor
	t.setParamsLocked(SchedParams{Policy: SchedNormal, Nice: opts.Nice})
	k.tasks[tid] = t
	k.tasksMu.Unlock()
	k.forks.Add(1)
	return t
}

func truncComm(s string) string {
	if len(s) > 15 {
		return s[:15]
	}
	return s
}

// Kernel returns the task's kernel.
func (t *Task) Kernel() *Kernel { return t.k }

// TID returns the task's thread ID in the sandbox's PID namespace.
func (t *Task) TID() int32 { return t.tid }

// TGID returns the task's thread group ID.
func (t *Task) TGID() int32 { return t.tgid }

// Flags returns the task's PF_* flags.
func (t *Task) Flags() TaskFlags { return t.flags }

// IsKthread reports whether the task is a kernel thread.
func (t *Task) IsKthread() bool { return t.flags&PFKthread != 0 }

// Name returns the task's comm.
func (t *Task) Name() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.comm
}

// SetName sets the task's comm (prctl PR_SET_NAME, execve).
func (t *Task) SetName(s string) {
	t.mu.Lock()
	t.comm = truncComm(s)
	t.mu.Unlock()
}

// Parent returns the task's parent, or nil.
func (t *Task) Parent() *Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.parent
}

// SetParent re-parents the task.
func (t *Task) SetParent(p *Task) {
	t.mu.Lock()
	t.parent = p
	t.mu.Unlock()
}

// State returns the task's current state.
func (t *Task) State() TaskState { return TaskState(t.state.Load()) }

// StartTime returns when the task was created.
func (t *Task) StartTime() time.Time { return t.start }

// Runtime returns the task's total time on a CPU.
func (t *Task) Runtime() time.Duration {
	if c := t.cpu.Load(); c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		d := time.Duration(t.sumExec.Load())
		if c.curr == t {
			// Include the slice in progress.
			d += time.Since(c.currSince)
		}
		return d
	}
	return time.Duration(t.sumExec.Load())
}

// ContextSwitches returns voluntary and involuntary context switches.
func (t *Task) ContextSwitches() (voluntary, involuntary uint64) {
	return t.nvcsw.Load(), t.nivcsw.Load()
}

// CPU returns the CPU the task runs on or last ran on (nil before it first
// ran).
func (t *Task) CPU() *CPU { return t.cpu.Load() }

// Affinity returns the task's allowed CPUs.
func (t *Task) Affinity() CPUSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.affinity
}

// Nice returns the task's nice value.
func (t *Task) Nice() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nice
}

// SetNice sets the task's nice value, clamped to [-20, 19], keeping its
// policy.
func (t *Task) SetNice(n int) {
	p := t.SchedParams()
	p.Nice = n
	t.SetSchedParams(p)
}

// Exited returns a channel closed when the task's goroutine has finished.
func (t *Task) Exited() <-chan struct{} { return t.exited }

// Start makes a Created task runnable on a host thread: an idle one an
// exited task left under the task's ReuseKey, which Start queues the task
// for at once (hostthread.go), or a new one its new goroutine locks, which
// queues it from there. Start does not block.
func (t *Task) Start() {
	if Debug {
		assert(t.State() == TaskCreated, "Start of task %d in state %v", t.tid, t.State())
	}
	if t.k.startOnIdleHostThread(t) {
		return
	}
	go t.k.runHostThread(t)
}

// attach makes ht the task's host thread. Before the task is queued.
func (t *Task) attach(ht *hostThread) {
	t.host = ht
	t.hostTID = ht.tid
}

// run is the task's life on its host thread once it holds its first CPU
// (hostthread.go): run the body, exit.
func (t *Task) run() {
	defer close(t.exited)
	t.entry(t)
	t.exit()
}

// onCPU runs on the task's own thread right after it was granted a CPU
// (its granter has pinned the thread to the CPU's host CPU): the task is
// Running.
func (t *Task) onCPU() {
	if Debug {
		assert(t.cpu.Load() != nil, "task %d granted without a CPU", t.tid)
	}
	t.state.Store(int32(TaskRunning))
}

// exit ends the task: it gives its CPU away and leaves the task table.
// Preconditions: called by the task itself, holding its CPU.
func (t *Task) exit() {
	c := t.cpu.Load()
	c.mu.Lock()
	c.putPrevLocked(t, time.Now())
	t.state.Store(int32(TaskDead))
	next := c.switchLocked(c.currSince)
	c.mu.Unlock()
	next.grantCPU()
	if !t.holdTID {
		t.k.Reap(t)
	}
}

// discard ends a task that was never started (a kthread stopped before
// its first Run): it dies without having run, and leaves the task table
// unless it holds its TID.
// Preconditions: t is Created, and Start is never called on it.
func (t *Task) discard() {
	if Debug {
		assert(t.State() == TaskCreated, "discard of task %d in state %v", t.tid, t.State())
	}
	t.state.Store(int32(TaskDead))
	close(t.exited)
	if !t.holdTID {
		t.k.Reap(t)
	}
}

// Reap removes a dead task from the task table, freeing its TID.
func (k *Kernel) Reap(t *Task) {
	k.tasksMu.Lock()
	if k.tasks[t.tid] == t {
		delete(k.tasks, t.tid)
	}
	k.tasksMu.Unlock()
}

// Wake makes a blocking or sleeping task runnable. It returns false if the
// task was not asleep (already running or runnable). It never blocks and
// may be called from any goroutine, including non-task ones (timers,
// host I/O callbacks: the sentry's interrupts).
func (k *Kernel) Wake(t *Task) bool { return k.wake(t, nil) }

// wake is Wake, and WakeSync when waker is not nil.
func (k *Kernel) wake(t, waker *Task) bool {
	for {
		switch s := TaskState(t.state.Load()); s {
		case TaskBlocking:
			// Still on its CPU: it will see this and not sleep.
			if t.state.CompareAndSwap(int32(TaskBlocking), int32(TaskRunning)) {
				return true
			}
		case TaskSleeping:
			if t.state.CompareAndSwap(int32(TaskSleeping), int32(TaskRunnable)) {
				if waker != nil {
					k.enqueueSync(t, waker)
				} else {
					k.enqueue(t)
				}
				return true
			}
		default:
			return false
		}
	}
}

// enqueue puts a Runnable task on the run queue of the CPU chosen for it,
// handing it the CPU at once if that CPU is idle.
func (k *Kernel) enqueue(t *Task) {
	c := k.selectCPU(t)
	c.mu.Lock()
	c.enqueueLocked(t, false)
	var next *Task
	if c.curr == nil {
		next = c.switchLocked(time.Now())
	} else if !c.curr.needResched.Load() && c.shouldPreemptLocked(t) {
		c.curr.preempt()
	}
	c.mu.Unlock()
	next.grantCPU()
}

// selectCPU chooses where a waking task goes: its previous CPU if allowed
// and idle, else an idle allowed CPU, else the allowed CPU with the
// shortest run queue (previous CPU first on a tie).
func (k *Kernel) selectCPU(t *Task) *CPU {
	aff := t.Affinity()
	prev := t.cpu.Load()
	if prev != nil && aff.Has(prev.id) && prev.idle() {
		return prev
	}
	var best *CPU
	bestLoad := int(^uint(0) >> 1)
	if prev != nil && aff.Has(prev.id) {
		best, bestLoad = prev, prev.load()
	}
	for _, c := range k.cpus {
		if !aff.Has(c.id) {
			continue
		}
		if c.idle() {
			return c
		}
		if l := c.load(); l < bestLoad {
			best, bestLoad = c, l
		}
	}
	if Debug {
		assert(best != nil, "task %d has no allowed CPU (%v)", t.tid, aff)
	}
	if best == nil {
		best = k.cpus[0]
	}
	return best
}

// PrepareToBlock marks the running task as about to block. Between it and
// Schedule the task re-checks its wake-up condition; a Wake in between makes
// Schedule return at once, so no wake-up is lost.
// Preconditions: t is the calling task, Running.
func (t *Task) PrepareToBlock() {
	if Debug {
		assert(t.State() == TaskRunning, "PrepareToBlock of task %d in state %v", t.tid, t.State())
	}
	t.state.Store(int32(TaskBlocking))
}

// CancelBlock undoes PrepareToBlock when the condition turned out true.
func (t *Task) CancelBlock() {
	t.state.CompareAndSwap(int32(TaskBlocking), int32(TaskRunning))
}

// Schedule gives up the CPU if the task is still Blocking and returns once
// the task has been woken and holds a CPU again. It blocks.
// Preconditions: t is the calling task; PrepareToBlock was called.
func (t *Task) Schedule() {
	if t.State() == TaskBlocking {
		// A CPU about to go idle runs its pending softirqs first.
		t.IRQExit()
	}
	hooks := t.workerHooks.Load()
	if hooks != nil && hooks.h.Sleeping != nil && t.State() == TaskBlocking {
		hooks.h.Sleeping(t)
	}
	c := t.cpu.Load()
	c.mu.Lock()
	if t.State() != TaskBlocking {
		// Woken before it slept.
		c.mu.Unlock()
		if hooks != nil && hooks.h.Running != nil {
			hooks.h.Running(t)
		}
		return
	}
	now := time.Now()
	c.putPrevLocked(t, now)
	// Asleep, the task's vruntime is kept relative to this queue's floor
	// so it is fair wherever it wakes. This happens before the task is
	// published as Sleeping: from then on a Wake may queue it on another
	// CPU, under that CPU's lock, and must find its state complete.
	t.se.vruntime -= c.rq.minVruntime
	t.se.relative = true
	if !t.state.CompareAndSwap(int32(TaskBlocking), int32(TaskSleeping)) {
		// Woken in the meantime: keep the CPU.
		t.se.vruntime += c.rq.minVruntime
		t.se.relative = false
		c.curr = t
		c.taken()
		c.currSince = now
		c.mu.Unlock()
		if hooks != nil && hooks.h.Running != nil {
			hooks.h.Running(t)
		}
		return
	}
	t.nvcsw.Add(1)
	t.syncGrace = 0
	next := c.switchLocked(now)
	c.mu.Unlock()
	next.grantCPU()
	t.waitForCPU()
	if hooks != nil && hooks.h.Running != nil {
		hooks.h.Running(t)
	}
}

// Yield puts the running task at the back of its CPU's run queue and runs
// whatever is next (sched_yield). It returns when the task runs again.
func (t *Task) Yield() {
	t.requeue(true)
}

// PreemptPoint is called by the running task at safe points (syscall exit,
// return from application code): if the scheduler asked it to give up the
// CPU, it does so and returns when it holds a CPU again.
func (t *Task) PreemptPoint() {
	if t.syncGrace > 0 {
		t.syncPreemptPoint() // sync.go
	}
	if t.needResched.Load() {
		t.requeue(false)
	}
}

func (t *Task) requeue(voluntary bool) {
	t.needResched.Store(false)
	c := t.cpu.Load()
	c.mu.Lock()
	if !t.Affinity().Has(c.id) {
		// Its affinity no longer allows this CPU: leave it and queue
		// where it may run.
		c.putPrevLocked(t, time.Now())
		t.nivcsw.Add(1)
		t.state.Store(int32(TaskRunnable))
		t.se.vruntime -= c.rq.minVruntime
		t.se.relative = true
		t.syncGrace = 0
		next := c.switchLocked(c.currSince)
		c.mu.Unlock()
		next.grantCPU()
		t.k.enqueue(t)
		t.waitForCPU()
		return
	}
	if c.rq.empty() {
		c.mu.Unlock()
		return
	}
	c.putPrevLocked(t, time.Now())
	if voluntary {
		t.nvcsw.Add(1)
	} else {
		t.nivcsw.Add(1)
	}
	t.state.Store(int32(TaskRunnable))
	// A SCHED_FIFO task preempted by a higher priority keeps its place
	// at the head of its list; an RR task whose quantum ran out goes to
	// the tail with a fresh one.
	front := !voluntary && t.se.params.Policy == SchedFIFO
	if t.se.params.Policy == SchedRR && t.se.rrLeft <= 0 {
		t.se.rrLeft = rrTimeslice
	}
	c.enqueueLocked(t, front)
	t.syncGrace = 0
	next := c.switchLocked(c.currSince)
	c.mu.Unlock()
	if next != t {
		next.grantCPU()
		t.waitForCPU()
		return
	}
	// Picked again at once (the others queued are behind it): it keeps
	// the CPU without a host wake-up.
	t.onCPU()
}

// preempt asks a running task to give up its CPU at its next safe point,
// kicking it out of application code if it is there.
func (t *Task) preempt() {
	t.needResched.Store(true)
	if t.appRunning.Load() {
		if f := t.appKick.Load(); f != nil {
			(*f)()
		}
	}
}

// NeedResched reports whether the scheduler asked the task to yield.
func (t *Task) NeedResched() bool { return t.needResched.Load() }

// EnterApp and LeaveApp bracket the time the task runs application code.
// kick is how to force it out (the platform context's Interrupt); it is
// called by the tick, by a higher-priority wake-up and by Interrupt.
func (t *Task) EnterApp(kick *func()) {
	t.appKick.Store(kick)
	t.acct.enterApp() // user-time accounting (accounting.go)
	t.appRunning.Store(true)
}

// LeaveApp: see EnterApp.
func (t *Task) LeaveApp() {
	t.appRunning.Store(false)
	t.acct.leaveApp(t) // user-time accounting (accounting.go)
}

// ErrInterrupted is returned by interruptible waits when Interrupt was
// called on the task (a signal arrived).
var ErrInterrupted = errors.New("task interrupted")

// Interrupt marks the task interrupted (for example because a signal is
// pending for it): an interruptible wait returns ErrInterrupted and
// application code is kicked back to the sentry. It may be called from any
// goroutine.
func (t *Task) Interrupt() {
	t.interrupted.Store(true)
	t.k.Wake(t)
	if t.appRunning.Load() {
		if f := t.appKick.Load(); f != nil {
			(*f)()
		}
	}
}

// Interrupted reports whether Interrupt was called since the last
// ClearInterrupt.
func (t *Task) Interrupted() bool { return t.interrupted.Load() }

// ClearInterrupt clears the interrupted mark.
func (t *Task) ClearInterrupt() { t.interrupted.Store(false) }

func (t *Task) dump() string {
	cpu := -1
	if c := t.cpu.Load(); c != nil {
		cpu = c.id
	}
	v, iv := t.ContextSwitches()
	return fmt.Sprintf("task %d tgid %d %q state %v cpu %d nice %d affinity %v runtime %v csw %d/%d flags %#x",
		t.tid, t.tgid, t.Name(), t.State(), cpu, t.Nice(), t.Affinity(), t.Runtime(), v, iv, uint32(t.flags))
}
