package kernel

import (
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
