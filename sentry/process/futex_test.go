package process

import (
	"runtime"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
)

// TestFutexWakeAfterUnlock checks that a futex wake chooses its waiters
// under Futexes.mu and wakes them only after it is dropped (wakeList): a
// waiter asleep in its wait queue is still asleep when wakeLocked returns,
// marked woken, and runs once the list is notified. Waking under the lock
// made the woken thread's own next futex call find the lock taken.
func TestFutexWakeAfterUnlock(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 2, Tick: time.Hour})
	defer k.Shutdown()
	var f Futexes
	key := mm.FutexKey{Addr: 0x1000}
	w := &futexWaiter{key: key, bitset: FutexBitsetAny}
	f.waiters = map[mm.FutexKey][]*futexWaiter{key: {w}}
	done := make(chan error, 1)
	task := k.NewTask(kernel.TaskOptions{Name: "waiter", Entry: func(tk *kernel.Task) {
		done <- w.wq.Wait(tk, w.woken.Load, kernel.WaitOpts{Timeout: kernel.Forever})
	}})
	task.Start()
	for task.State() != kernel.TaskSleeping {
		runtime.Gosched()
	}

	var l wakeList
	f.mu.Lock()
	if n := f.wakeLocked(key, 1, FutexBitsetAny, &l); n != 1 {
		t.Fatalf("wakeLocked chose %d waiters, want 1", n)
	}
	if !w.woken.Load() {
		t.Error("the waiter is not marked woken under the lock")
	}
	if s := task.State(); s != kernel.TaskSleeping {
		t.Errorf("the waiter is %v with Futexes.mu held, want it still asleep", s)
	}
	if len(f.waiters[key]) != 0 {
		t.Errorf("the woken waiter is still queued: %v", f.waiters[key])
	}
	f.mu.Unlock()
	l.notify()
	if err := <-done; err != nil {
		t.Fatalf("the waiter's wait: %v", err)
	}
}

// TestFutexWakeListMany checks that a wake list of more waiters than it
// holds inline notifies every one, in order.
func TestFutexWakeListMany(t *testing.T) {
	var f Futexes
	key := mm.FutexKey{Addr: 0x2000}
	var ws []*futexWaiter
	for i := 0; i < 7; i++ {
		ws = append(ws, &futexWaiter{key: key, bitset: FutexBitsetAny})
	}
	f.waiters = map[mm.FutexKey][]*futexWaiter{key: append([]*futexWaiter(nil), ws...)}
	var l wakeList
	if n := f.wakeLocked(key, 6, FutexBitsetAny, &l); n != 6 {
		t.Fatalf("wakeLocked chose %d waiters, want 6", n)
	}
	var got []*futexWaiter
	got = append(got, l.few[:l.n]...)
	got = append(got, l.more...)
	if len(got) != 6 {
		t.Fatalf("the list holds %d waiters, want 6", len(got))
	}
	for i, w := range got {
		if w != ws[i] || !w.woken.Load() {
			t.Errorf("list entry %d: %p (woken %v), want %p woken", i, w, w.woken.Load(), ws[i])
		}
	}
	if rest := f.waiters[key]; len(rest) != 1 || rest[0] != ws[6] || ws[6].woken.Load() {
		t.Errorf("left queued: %v, want only the seventh waiter, not woken", rest)
	}
	l.notify() // nobody waits in the queues: a no-op
}
