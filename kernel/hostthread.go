package kernel

import (
	"runtime"
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
// So when a task's body has returned, the task has given its CPU away and
// it left something for a successor with Keep (its platform Context), its
// goroutine, still locked to the same host thread, waits a while for the
// next task started with the same key (TaskOptions.ReuseKey; the sentry
// uses the address space, where the kept Context's stub thread is), at
// most maxIdleHostThreads of them at a time and for at most
// hostThreadIdle each. Start hands such a task to the most recently idled
// thread with its key, which gives it what the old task kept (TakeKept);
// if none comes, the thread releases it and exits. A task with no key, or
// whose key no idle thread has, gets a new goroutine and host thread as
// before: handing a task to a parked locked thread costs Go a thread
// hand-off, which only pays when the kept value saves more (a fork's
// child, in a new address space, would gain nothing from its parent's
// thread's Context). Nothing of the old task is visible to the new one:
// the kernel state is per Task, and the new task's first grant pins the
// thread again (pinned starts at -1).
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
	// kept is what the last task left, and key its ReuseKey (owned by
	// the thread's goroutine; key also read under Kernel.idleMu while
	// the thread is idle).
	kept Keepable
	key  any
	// next receives the next task to run, or nil to exit. Buffered (1).
	next chan *Task
}

// runHostThread locks a new goroutine's host thread and runs t on it, then
// every task handed to the thread while it idles.
func (k *Kernel) runHostThread(t *Task) {
	// The host thread belongs to the tasks it runs and dies with the
	// goroutine (no UnlockOSThread): a ptrace tracer thread must not go
	// back to Go's pool.
	runtime.LockOSThread()
	ht := &hostThread{tid: int32(unix.Gettid()), next: make(chan *Task, 1)}
	for t != nil {
		t.host = ht
		t.run()
		t = k.idleHostThread(ht)
	}
	if ht.kept != nil {
		ht.kept.Release()
		ht.kept = nil
	}
}

// takeIdleHostThread returns the most recently idled host thread whose
// last task kept something under key, or nil.
func (k *Kernel) takeIdleHostThread(key any) *hostThread {
	if key == nil {
		return nil
	}
	k.idleMu.Lock()
	defer k.idleMu.Unlock()
	for i := len(k.idle) - 1; i >= 0; i-- {
		if ht := k.idle[i]; ht.key == key {
			k.idle = append(k.idle[:i], k.idle[i+1:]...)
			return ht
		}
	}
	return nil
}

// idleHostThread waits for a task to run on ht (its own goroutine), and
// returns it, or nil when ht should exit.
func (k *Kernel) idleHostThread(ht *hostThread) *Task {
	if ht.kept == nil || ht.key == nil {
		return nil
	}
	k.idleMu.Lock()
	if k.idleClosed || len(k.idle) >= maxIdleHostThreads {
		k.idleMu.Unlock()
		return nil
	}
	k.idle = append(k.idle, ht)
	k.idleMu.Unlock()
	timer := time.NewTimer(k.hostThreadIdle)
	defer timer.Stop()
	select {
	case t := <-ht.next:
		return t
	case <-timer.C:
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
	// Taken just as the timer fired: a task (or Shutdown's nil) is on
	// its way.
	return <-ht.next
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
		ht.next <- nil
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
	return v
}
