package kernel

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// keptValue records on which host thread it was released.
type keptValue struct {
	released chan int32
}

func newKeptValue() *keptValue { return &keptValue{released: make(chan int32, 1)} }

func (v *keptValue) Release() { v.released <- int32(unix.Gettid()) }

// waitIdle waits until n host threads are idle in k.
func waitIdle(t *testing.T, k *Kernel, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		k.idleMu.Lock()
		got := len(k.idle)
		k.idleMu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle host threads after a minute, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNextTaskRunsOnExitedTasksHostThreadWithWhatItKept(t *testing.T) {
	k := New(Config{CPUs: 1})
	k.hostThreadIdle = time.Hour // no expiry on a slow machine
	defer k.Shutdown()
	v := newKeptValue()
	var firstTID int32
	a := k.NewTask(TaskOptions{Name: "first", Entry: func(tk *Task) {
		firstTID = int32(unix.Gettid())
		if got := tk.TakeKept(); got != nil {
			t.Errorf("a task on a new host thread took %v", got)
		}
		tk.Keep(v, "as")
	}})
	a.Start()
	<-a.Exited()
	waitIdle(t, k, 1)

	type seen struct {
		tid  int32
		kept Keepable
	}
	res := make(chan seen, 1)
	// A task with another key, or none, does not take the thread.
	for _, key := range []any{nil, "other"} {
		o := k.NewTask(TaskOptions{Name: "other", ReuseKey: key, Entry: func(tk *Task) {
			if got := tk.TakeKept(); got != nil {
				t.Errorf("a task with key %v took %v", key, got)
			}
		}})
		o.Start()
		<-o.Exited()
	}
	b := k.NewTask(TaskOptions{Name: "second", ReuseKey: "as", Entry: func(tk *Task) {
		res <- seen{int32(unix.Gettid()), tk.TakeKept()}
	}})
	b.Start()
	<-b.Exited()
	s := <-res
	if s.tid != firstTID {
		t.Errorf("second task ran on host thread %d, want the first's %d", s.tid, firstTID)
	}
	if s.tid != b.hostTID {
		t.Errorf("second task's hostTID = %d, it ran on %d", b.hostTID, s.tid)
	}
	if s.kept != Keepable(v) {
		t.Errorf("second task took %v, want what the first kept", s.kept)
	}
	select {
	case tid := <-v.released:
		t.Errorf("a value taken by the next task was released (on %d)", tid)
	default:
	}
}

func TestKeptIsReleasedOnItsThreadWhenNoTaskComes(t *testing.T) {
	k := New(Config{CPUs: 1})
	k.hostThreadIdle = 10 * time.Millisecond
	defer k.Shutdown()
	v := newKeptValue()
	replaced := newKeptValue()
	var tid int32
	a := k.NewTask(TaskOptions{Name: "keeper", Entry: func(tk *Task) {
		tid = int32(unix.Gettid())
		tk.Keep(replaced, "as")
		tk.Keep(v, "as")
	}})
	a.Start()
	<-a.Exited()
	select {
	case got := <-replaced.released:
		if got != tid {
			t.Errorf("a replaced value was released on host thread %d, want %d", got, tid)
		}
	case <-time.After(time.Minute):
		t.Fatal("a value replaced by a second Keep was never released")
	}
	select {
	case got := <-v.released:
		if got != tid {
			t.Errorf("released on host thread %d, want the task's %d", got, tid)
		}
	case <-time.After(time.Minute):
		t.Fatal("what an exited task kept was not released after its thread idled")
	}
}

func TestShutdownReleasesIdleHostThreads(t *testing.T) {
	k := New(Config{CPUs: 1})
	v := newKeptValue()
	a := k.NewTask(TaskOptions{Name: "keeper", Entry: func(tk *Task) { tk.Keep(v, "as") }})
	a.Start()
	<-a.Exited()
	waitIdle(t, k, 1)
	k.Shutdown()
	select {
	case <-v.released:
	case <-time.After(time.Minute):
		t.Fatal("Shutdown left an idle host thread holding what its task kept")
	}
	// A task exiting after Shutdown does not idle.
	b := k.NewTask(TaskOptions{Name: "late", Entry: func(tk *Task) { tk.Keep(newKeptValue(), "as") }})
	b.Start()
	<-b.Exited()
	time.Sleep(10 * time.Millisecond)
	k.idleMu.Lock()
	n := len(k.idle)
	k.idleMu.Unlock()
	if n != 0 {
		t.Errorf("%d host threads idle after Shutdown", n)
	}
}

// TestTaskWithoutMatchTakesBareHostThread: a task that kept nothing leaves
// its host thread bare, and the next task with no matching keyed thread (a
// fork's child, a kthread) runs there instead of on a new thread; a thread
// keeping something for another key is not given it.
func TestTaskWithoutMatchTakesBareHostThread(t *testing.T) {
	k := New(Config{CPUs: 1})
	k.hostThreadIdle = time.Hour // no expiry on a slow machine
	defer k.Shutdown()
	tidOf := func(name string, key any, body func(*Task)) int32 {
		res := make(chan int32, 1)
		tk := k.NewTask(TaskOptions{Name: name, ReuseKey: key, Entry: func(tk *Task) {
			res <- int32(unix.Gettid())
			if body != nil {
				body(tk)
			}
		}})
		tk.Start()
		<-tk.Exited()
		return <-res
	}
	v := newKeptValue()
	keeper := tidOf("keeper", nil, func(tk *Task) { tk.Keep(v, "as") })
	waitIdle(t, k, 1)
	bare := tidOf("bare", "other", nil)
	if bare == keeper {
		t.Fatalf("a task with key %q ran on the thread kept for %q", "other", "as")
	}
	waitIdle(t, k, 2)
	for _, key := range []any{nil, "third"} {
		if got := tidOf("next", key, nil); got != bare {
			t.Errorf("a task with key %v ran on host thread %d, want the bare idle thread %d", key, got, bare)
		}
		waitIdle(t, k, 2)
	}
	if got := tidOf("same", "as", func(tk *Task) {
		if kept := tk.TakeKept(); kept != Keepable(v) {
			t.Errorf("the task of the kept key took %v, want what its predecessor kept", kept)
		}
	}); got != keeper {
		t.Errorf("the task of the kept key ran on %d, want the keeping thread %d", got, keeper)
	}
}

// TestKeepingHostThreadDisplacesBareOne: at the bound, a thread that kept
// something takes the place of the oldest bare idle thread.
func TestKeepingHostThreadDisplacesBareOne(t *testing.T) {
	k := New(Config{CPUs: 1})
	k.hostThreadIdle = time.Hour
	defer k.Shutdown()
	// maxIdleHostThreads bare tasks and a keeper, all alive at once (each
	// sleeps until released), so each has a thread of its own.
	started := make(chan struct{}, maxIdleHostThreads+1)
	sleeper := func(release chan struct{}, body func(*Task)) func(*Task) {
		return func(tk *Task) {
			started <- struct{}{}
			tk.PrepareToBlock()
			go func() { <-release; k.Wake(tk) }()
			tk.Schedule()
			if body != nil {
				body(tk)
			}
		}
	}
	releaseBare, releaseKeeper := make(chan struct{}), make(chan struct{})
	var bare []*Task
	for i := 0; i < maxIdleHostThreads; i++ {
		tk := k.NewTask(TaskOptions{Name: "bare", Entry: sleeper(releaseBare, nil)})
		tk.Start()
		bare = append(bare, tk)
	}
	v := newKeptValue()
	keeper := k.NewTask(TaskOptions{Name: "keeper", Entry: sleeper(releaseKeeper, func(tk *Task) { tk.Keep(v, "as") })})
	keeper.Start()
	for i := 0; i < maxIdleHostThreads+1; i++ {
		<-started
	}
	close(releaseBare)
	for _, tk := range bare {
		<-tk.Exited()
	}
	waitIdle(t, k, maxIdleHostThreads)
	close(releaseKeeper)
	<-keeper.Exited()
	deadline := time.Now().Add(time.Minute)
	for {
		k.idleMu.Lock()
		n, kept := len(k.idle), 0
		for _, ht := range k.idle {
			if ht.key == "as" {
				kept++
			}
		}
		k.idleMu.Unlock()
		if kept == 1 {
			if n != maxIdleHostThreads {
				t.Errorf("%d idle host threads, want the bound %d", n, maxIdleHostThreads)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the keeping thread never idled (%d idle)", n)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-v.released:
		t.Error("the keeping thread released what it kept instead of idling")
	default:
	}
}

// countingPrewaker counts its Prewake calls.
type countingPrewaker struct {
	calls atomic.Int32
}

func (p *countingPrewaker) Prewake() { p.calls.Add(1) }

// TestGrantPrewakes checks that each grant of a CPU to a waiting task
// calls its host thread's Prewaker (right after it wakes the task's
// thread, so the task may be running by then: not checked), that the
// Prewaker stays with a kept thing for the next task on the thread,
// whose first grant calls it, and that TakeKept forgets it.
func TestGrantPrewakes(t *testing.T) {
	k := New(Config{CPUs: 1})
	k.hostThreadIdle = time.Hour
	defer k.Shutdown()

	p := &countingPrewaker{}
	var q WaitQueue
	var ready atomic.Bool
	blocked := make(chan struct{})
	a := k.NewTask(TaskOptions{Name: "sleeper", Entry: func(tk *Task) {
		tk.SetPrewaker(p)
		close(blocked)
		q.Wait(tk, ready.Load, WaitOpts{Timeout: Forever})
		tk.Keep(newKeptValue(), "as")
	}})
	a.Start()
	<-blocked
	// Wait until the task sleeps (its CPU idle), then wake it.
	for a.State() != TaskSleeping {
		time.Sleep(time.Millisecond)
	}
	before := p.calls.Load()
	ready.Store(true)
	q.NotifyAll()
	<-a.Exited()
	if got := p.calls.Load() - before; got != 1 {
		t.Errorf("a wake-up's grant made %d Prewake calls, want 1", got)
	}
	waitIdle(t, k, 1)

	// The next task on the kept thread: its first grant prewakes what
	// the previous task left; once it took the kept thing, nothing.
	before = p.calls.Load()
	took := make(chan int32, 1)
	var q2 WaitQueue
	var ready2 atomic.Bool
	b := k.NewTask(TaskOptions{Name: "successor", ReuseKey: "as", Entry: func(tk *Task) {
		// The grant calls Prewake right after it wakes this thread,
		// so it may come a moment after the task starts: wait for it
		// (bounded) before taking the kept thing, which forgets it.
		for deadline := time.Now().Add(10 * time.Second); p.calls.Load() == before && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		took <- p.calls.Load()
		tk.TakeKept()
		q2.Wait(tk, ready2.Load, WaitOpts{Timeout: Forever})
	}})
	b.Start()
	if got := <-took - before; got != 1 {
		t.Errorf("the successor's first grant made %d Prewake calls, want 1", got)
	}
	for b.State() != TaskSleeping {
		time.Sleep(time.Millisecond)
	}
	ready2.Store(true)
	q2.NotifyAll()
	<-b.Exited()
	if got := p.calls.Load() - before; got != 1 {
		t.Errorf("after TakeKept the task's grants made %d more Prewake calls, want 0", got-1)
	}
}
