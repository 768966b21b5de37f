package kernel

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Host threads that outlive their tasks (issue 16, item 4).
//
// A task's goroutine is locked to a host thread for the task's whole life,
// because a ptrace tracer thread must not go back to Go's pool. Making a
// host thread for every task and letting it die at the task's exit costs a
// clone and an exit on the host, and, worse, whatever the platform had
// bound to that thread (a ptrace Context's stub threads can only be driven
// by the thread that traces them) has to be made again for the next task.
//
// So when a task's body has returned and the task has given its CPU away,
// its goroutine, still locked to the same host thread, waits a while for
// the next task to start, at most maxIdleHostThreads of them at a time and
// for at most hostThreadIdle each; if none comes, the thread releases what
// it kept and exits. A task may leave something for a successor with Keep
// (the sentry leaves its platform Context under its address space, where
// the Context's stub thread is): such a thread waits for the next task
// started with the same key (TaskOptions.ReuseKey), which takes it
// (TakeKept). A thread that kept nothing is bare: any task whose key no
// idle thread has takes it (a fork's child, a kthread) instead of a new
// goroutine, which would have cost Go a new host thread (a clone, often
// through its template thread, as the creator's thread is locked) and the
// old thread's exit. A thread that kept something is never given a task of
// another key, and when the idle threads are at their bound it takes the
// place of the oldest bare one.
//
// The idle thread sleeps on its grant word (handoff.go), and Start queues
// the task on the creator's side at once, so the scheduler's grant of the
// task's first CPU is the one host wake-up that starts it, as for any
// hand-off. (Until wave 7 Start sent the task over a Go channel to the
// idle goroutine, which cost Go's locked-thread hand-off, startlockedm,
// two to three host switches, before the task had even queued itself; so
// only threads with a kept Context were worth waking.) Nothing of the old
// task is visible to the new one: the kernel state is per Task. What the
// host thread keeps is its own: its grant word and the host CPU it is
// pinned to, so a new task granted the CPU its predecessor had costs no
// sched_setaffinity.
//
// Locking: Kernel.idleMu is a leaf lock protecting Kernel.idle and
// Kernel.idleClosed; Kernel.hostThreadIdle is immutable once a task ran.

// Keepable is what a task leaves to the next task on its host thread
// (Task.Keep). Release is called on that host thread if no task takes it.
type Keepable interface {
	Release()
}

const (
	// maxIdleHostThreads bounds the host threads waiting for a task.
	maxIdleHostThreads = 8
)

// hostThreadIdle is how long an idle host thread waits for a task before
// it exits (Kernel.hostThreadIdle, which tests shorten).
const hostThreadIdle = 2 * time.Second

// hostThread is a host thread that runs tasks one after the other.
type hostThread struct {
	tid int32
	// grant is 1 while a CPU handed to the thread's task is not yet
	// taken; the thread waits on it, for its task's CPU and, idle, for a
	// task (handoff.go). It is the host thread's, not the task's, so that
	// a task handed to an idle thread is woken by the grant of its first
	// CPU, like any hand-off.
	grant atomic.Uint32
	// pinned is the host CPU the thread is pinned to (-1: none yet);
	// written by granters before their store to grant (handoff.go). It
	// outlives the task: a task on a kept thread that gets the CPU its
	// predecessor had costs no sched_setaffinity.
	pinned int
	// next is the task handed to the idle thread, or nil with grant set
	// to tell it to exit; written by its taker (Start or Shutdown) after
	// removing the thread from Kernel.idle and before the grant.
	next *Task
	// kept is what the last task left, and key its ReuseKey (owned by
	// the thread's goroutine; key also read under Kernel.idleMu while
	// the thread is idle).
	kept Keepable
	key  any
	// prewake is started by each grant of a CPU to the thread's task,
	// right after the thread's own wake-up (handoff.go, Task.SetPrewaker); set
	// by the thread's goroutine, read by granters.
	prewake atomic.Pointer[Prewaker]
}

// runHostThread locks a new goroutine's host thread and runs t on it, then
// every task handed to the thread while it idles.
func (k *Kernel) runHostThread(t *Task) {
	// The host thread belongs to the tasks it runs and dies with the
	// goroutine (no UnlockOSThread): a ptrace tracer thread must not go
	// back to Go's pool.
	runtime.LockOSThread()
	ht := &hostThread{tid: int32(unix.Gettid()), pinned: -1}
	t.attach(ht)
	t.state.Store(int32(TaskSleeping))
	k.Wake(t)
	for t != nil {
		t.waitForCPU()
		t.run()
		t = k.idleHostThread(ht)
	}
	ht.prewake.Store(nil)
	if ht.kept != nil {
		ht.kept.Release()
		ht.kept = nil
	}
}

// startOnIdleHostThread hands t to the most recently idled host thread
// whose last task kept something under t's ReuseKey and makes t runnable,
// reporting whether there was one. The thread sleeps on its grant word,
// so the scheduler's grant of t's first CPU is what wakes it: a task
// started this way costs one host wake-up, as a hand-off does.
func (k *Kernel) startOnIdleHostThread(t *Task) bool {
	var ht *hostThread
	k.idleMu.Lock()
	// The most recent thread that kept something under t's key, else the
	// most recent bare one; never a thread keeping something for another
	// key (it waits for that key's next task).
	pick := -1
	for i := len(k.idle) - 1; i >= 0; i-- {
		o := k.idle[i]
		if t.reuseKey != nil && o.key == t.reuseKey {
			pick = i
			break
		}
		if o.key == nil && pick < 0 {
			pick = i
		}
	}
	if pick >= 0 {
		ht = k.idle[pick]
		k.idle = append(k.idle[:pick], k.idle[pick+1:]...)
	}
	k.idleMu.Unlock()
	if ht == nil {
		return false
	}
	ht.next = t
	t.attach(ht)
	t.state.Store(int32(TaskSleeping))
	k.Wake(t)
	return true
}

// idleHostThread waits on ht (its own goroutine) for a task handed to it
// and granted a CPU, and returns it (the grant not yet taken: the caller
// takes it with waitForCPU), or nil when ht should exit.
func (k *Kernel) idleHostThread(ht *hostThread) *Task {
	if ht.key == nil && ht.kept != nil {
		// Kept for no key: no task could take it.
		ht.kept.Release()
		ht.kept = nil
	}
	if ht.kept == nil {
		ht.prewake.Store(nil)
	}
	ht.next = nil
	var evicted *hostThread
	k.idleMu.Lock()
	if !k.idleClosed && len(k.idle) >= maxIdleHostThreads && ht.key != nil {
		// A thread that kept something is worth more than a bare
		// one: the oldest bare thread makes room.
		for i, o := range k.idle {
			if o.key == nil {
				evicted = o
				k.idle = append(k.idle[:i], k.idle[i+1:]...)
				break
			}
		}
	}
	if k.idleClosed || len(k.idle) >= maxIdleHostThreads {
		k.idleMu.Unlock()
		return nil
	}
	k.idle = append(k.idle, ht)
	k.idleMu.Unlock()
	if evicted != nil {
		evicted.next = nil
		evicted.grant.Store(1)
		futexWake(&evicted.grant)
	}
	deadline := time.Now().Add(k.hostThreadIdle)
	for ht.grant.Load() == 0 {
		left := time.Until(deadline)
		if left > 0 {
			futexWaitTimeout(&ht.grant, 0, left)
			continue
		}
		k.idleMu.Lock()
		for i, o := range k.idle {
			if o == ht {
				k.idle = append(k.idle[:i], k.idle[i+1:]...)
				k.idleMu.Unlock()
				return nil
			}
		}
		k.idleMu.Unlock()
		// Taken just as the time ran out: a task (or Shutdown's
		// nil) is on its way.
		for ht.grant.Load() == 0 {
			futexWait(&ht.grant, 0)
		}
	}
	if ht.next == nil {
		// Shutdown.
		ht.grant.Store(0)
	}
	return ht.next
}

// stopIdleHostThreads makes every idle host thread exit, now and from now
// on (Shutdown).
func (k *Kernel) stopIdleHostThreads() {
	k.idleMu.Lock()
	idle := k.idle
	k.idle = nil
	k.idleClosed = true
	k.idleMu.Unlock()
	for _, ht := range idle {
		ht.next = nil
		ht.grant.Store(1)
		futexWake(&ht.grant)
	}
}

// Keep leaves v to the next task started with ReuseKey key that runs on
// t's host thread (TakeKept); if no such task comes, v.Release is called
// on the thread. A later Keep replaces (and releases) an earlier one.
// Preconditions: called on t's own goroutine; key is comparable.
func (t *Task) Keep(v Keepable, key any) {
	if old := t.host.kept; old != nil && old != v {
		old.Release()
	}
	t.host.kept, t.host.key = v, key
}

// TakeKept returns what the previous task on t's host thread left with
// Keep, and forgets it; nil if nothing.
// Preconditions: called on t's own goroutine.
func (t *Task) TakeKept() Keepable {
	v := t.host.kept
	t.host.kept, t.host.key = nil, nil
	t.host.prewake.Store(nil)
	return v
}
