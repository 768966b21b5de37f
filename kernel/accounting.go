package kernel

import (
	"sync/atomic"
	"time"
)

// This file is the scheduler's accounting beyond Task.Runtime and the
// context-switch counters: the user/system split of a task's and a CPU's
// time, the time a task waited on a run queue (schedstat's run_delay), the
// number of turns it had on a CPU (schedstat's pcount), and whether a
// sleeping task sleeps uninterruptibly (state D, counted by /proc/loadavg
// and procs_blocked).
//
// The hooks that feed it are one line each in the core: EnterApp and
// LeaveApp (task.go), enqueueLocked and switchLocked (cpu.go), and
// WaitQueue.Wait (waitqueue.go). All fields are atomics: they are written
// under the lock of the CPU that holds the task (or by the task itself) and
// read by /proc from any goroutine.

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow returns monotonic nanoseconds since package initialisation. It
// is cheaper than time.Now (no wall-clock read).
func monoNow() int64 { return int64(time.Since(monoBase)) }

// taskAcct is a task's accounting state.
type taskAcct struct {
	// appSince is monoNow at the last EnterApp; meaningful while the
	// task's appRunning is set.
	appSince atomic.Int64
	// appNs is the total time spent in application code (user time).
	appNs atomic.Int64
	// queuedAt is monoNow when the task last became runnable, or 0 while
	// it is not waiting on a run queue. A migration between queues keeps
	// it, so the wait is measured from the moment the task became
	// runnable to the moment a CPU picks it.
	queuedAt atomic.Int64
	// runDelay is the total time spent runnable but waiting for a CPU.
	runDelay atomic.Int64
	// slices counts the times the task was handed a CPU.
	slices atomic.Uint64
	// uninterruptible is set while the task sleeps in a wait that a
	// signal cannot end (Linux's TASK_UNINTERRUPTIBLE, state D).
	uninterruptible atomic.Bool
}

// enterApp is called by the task itself on the way into application code.
func (a *taskAcct) enterApp() { a.appSince.Store(monoNow()) }

// leaveApp is called by the task itself on the way back from application
// code: the time in between is user time, for the task and for the CPU it
// holds.
func (a *taskAcct) leaveApp(t *Task) {
	d := monoNow() - a.appSince.Load()
	if d <= 0 {
		return
	}
	a.appNs.Add(d)
	if c := t.cpu.Load(); c != nil {
		c.acct.userNs.Add(d)
	}
}

// queued notes that the task became runnable (idempotent across
// migrations). Called from CPU.enqueueLocked.
func (a *taskAcct) queued() {
	a.queuedAt.CompareAndSwap(0, monoNow())
}

// picked notes that a CPU was handed to the task: the wait since it became
// runnable ends and a new turn begins. Called from CPU.switchLocked.
func (a *taskAcct) picked() {
	if q := a.queuedAt.Swap(0); q != 0 {
		if d := monoNow() - q; d > 0 {
			a.runDelay.Add(d)
		}
	}
	a.slices.Add(1)
}

// cpuAcct is a CPU's accounting state beyond busy and idle time.
type cpuAcct struct {
	// userNs is the time tasks holding the CPU spent in application
	// code (completed stretches only; the stretch in progress is added
	// by CPUTimes).
	userNs atomic.Int64
}

// appTimeInProgress returns how long t has been in application code in
// its current stretch, or 0 if it is not there.
func (t *Task) appTimeInProgress() time.Duration {
	if !t.appRunning.Load() {
		return 0
	}
	if d := monoNow() - t.acct.appSince.Load(); d > 0 {
		return time.Duration(d)
	}
	return 0
}

// Times returns the task's CPU time split into user time (running
// application code) and system time (running sentry code on the task's
// behalf). Their sum is Runtime. A kthread has no user time.
func (t *Task) Times() (user, system time.Duration) {
	total := t.Runtime()
	user = time.Duration(t.acct.appNs.Load()) + t.appTimeInProgress()
	// The two are measured with separate clock reads: keep user within
	// the total.
	user = min(user, total)
	return user, total - user
}

// SchedStat returns schedstat's three numbers: the time the task ran on a
// CPU, the time it waited on a run queue while runnable (including the
// wait in progress), and the number of turns it had on a CPU.
func (t *Task) SchedStat() (run, wait time.Duration, slices uint64) {
	wait = time.Duration(t.acct.runDelay.Load())
	if q := t.acct.queuedAt.Load(); q != 0 {
		if d := monoNow() - q; d > 0 {
			wait += time.Duration(d)
		}
	}
	return t.Runtime(), wait, t.acct.slices.Load()
}

// Uninterruptible reports whether the task is asleep in a wait that a
// signal cannot end (/proc state D). Kthreads are never reported so: like
// Linux's kthreads sleeping in TASK_IDLE they are idle ('I'), not blocked.
func (t *Task) Uninterruptible() bool {
	if t.IsKthread() || !t.acct.uninterruptible.Load() {
		return false
	}
	s := t.State()
	return s == TaskSleeping || s == TaskBlocking
}

// CPUTimes returns the CPU's time since boot split into user time
// (application code), system time (sentry code of the task holding it)
// and idle time. user + system is the busy time of Times.
func (c *CPU) CPUTimes() (user, system, idle time.Duration) {
	c.mu.Lock()
	busy, idle := c.busy, c.idleTotal
	if c.curr != nil {
		busy += time.Since(c.currSince)
	} else if !c.idleSince.IsZero() {
		idle += time.Since(c.idleSince)
	}
	user = time.Duration(c.acct.userNs.Load())
	if c.curr != nil {
		user += c.curr.appTimeInProgress()
	}
	c.mu.Unlock()
	user = min(user, busy)
	return user, busy - user, idle
}

// NrUninterruptible returns the number of tasks asleep uninterruptibly
// (/proc/stat's procs_blocked, and with the running tasks the load the
// load average decays toward).
func (k *Kernel) NrUninterruptible() int {
	n := 0
	for _, t := range k.Tasks() {
		if t.Uninterruptible() {
			n++
		}
	}
	return n
}

// NrRunning returns the number of runnable tasks on every CPU, the running
// ones included.
func (k *Kernel) NrRunning() int {
	n := 0
	for _, c := range k.cpus {
		n += c.NrRunning()
	}
	return n
}
