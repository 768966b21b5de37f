package sem

import (
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// newKernel boots a kernel with cpus CPUs, shut down when the test ends.
func newKernel(tb testing.TB, cpus int) *kernel.Kernel {
	tb.Helper()
	k := kernel.New(kernel.Config{CPUs: cpus})
	k.ReserveTID()
	tb.Cleanup(k.Shutdown)
	return k
}

// spawn runs fn as a task and returns a channel closed when it returned.
func spawn(k *kernel.Kernel, name string, fn func(t *kernel.Task)) <-chan struct{} {
	tk := k.NewTask(kernel.TaskOptions{Name: name, Entry: fn})
	tk.Start()
	return tk.Exited()
}

// waitFor polls cond for up to a minute (a hang detector, not a timing
// check).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	tb.Fatalf("timed out waiting for %s", what)
}

func ops(o ...linux.Sembuf) []linux.Sembuf { return o }

// TestSemaphoreAsMutex: tasks on two CPUs take a semaphore (value 1) as a
// mutex around an unsynchronised counter, sleeping in the kernel's wait
// queues when it is taken; no increment is lost, and the waiters were
// woken through the queue.
func TestSemaphoreAsMutex(t *testing.T) {
	k := newKernel(t, 2)
	r := NewRegistry(ipc.NewBudget(0))
	id, err := r.Get(Caller{}, linux.IPC_PRIVATE, 1, 0600)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetValue(Caller{}, id, 0, 1); err != nil {
		t.Fatal(err)
	}
	const tasks, iters = 4, 200
	counter := 0
	var errMu sync.Mutex
	var errs []error
	var exits []<-chan struct{}
	for i := 0; i < tasks; i++ {
		exits = append(exits, spawn(k, "sem", func(tk *kernel.Task) {
			for j := 0; j < iters; j++ {
				if err := r.Op(Caller{PID: 1}, tk, id, ops(linux.Sembuf{SemOp: -1}), nil, -1); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
					return
				}
				c := counter
				tk.Yield()
				counter = c + 1
				r.Op(Caller{PID: 1}, tk, id, ops(linux.Sembuf{SemOp: 1}), nil, -1)
			}
		}))
	}
	for _, e := range exits {
		<-e
	}
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if counter != tasks*iters {
		t.Fatalf("counter %d, want %d", counter, tasks*iters)
	}
	if v, _ := r.Value(Caller{}, id, 0, linux.GETVAL); v != 1 {
		t.Fatalf("value %d, want 1", v)
	}
}

// TestRemoveWakesWaitersAndUndo: IPC_RMID ends a waiting semop with
// EIDRM; an interrupted one returns EINTR; an undo list's exit applies
// its adjustments, clamped at zero.
func TestRemoveWakesWaitersAndUndo(t *testing.T) {
	k := newKernel(t, 2)
	r := NewRegistry(ipc.NewBudget(0))
	id, _ := r.Get(Caller{}, linux.IPC_PRIVATE, 2, 0600)

	var got error
	var tk *kernel.Task
	var tkMu sync.Mutex
	done := spawn(k, "waiter", func(t *kernel.Task) {
		tkMu.Lock()
		tk = t
		tkMu.Unlock()
		got = r.Op(Caller{}, t, id, ops(linux.Sembuf{SemNum: 1, SemOp: -1}), nil, -1)
	})
	waitFor(t, "the interruptible waiter", func() bool {
		n, _ := r.Value(Caller{}, id, 1, linux.GETNCNT)
		return n == 1
	})
	tkMu.Lock()
	tk.Interrupt()
	tkMu.Unlock()
	<-done
	if got != unix.EINTR {
		t.Fatalf("interrupted semop = %v, want EINTR", got)
	}
	if n, _ := r.Value(Caller{}, id, 1, linux.GETNCNT); n != 0 {
		t.Fatalf("GETNCNT %d after the interrupt", n)
	}

	// Undo: +3 with SEM_UNDO, then the value is taken down to 1 by
	// another; the exit's -3 stops at 0.
	l := r.NewUndoList()
	<-spawn(k, "undo", func(t *kernel.Task) {
		r.Op(Caller{}, t, id, ops(linux.Sembuf{SemOp: 3, SemFlg: linux.SEM_UNDO}), l, -1)
		r.Op(Caller{}, t, id, ops(linux.Sembuf{SemOp: -2}), nil, -1)
	})
	l.Exit(7)
	if v, _ := r.Value(Caller{}, id, 0, linux.GETVAL); v != 0 {
		t.Fatalf("value after the undo %d, want 0", v)
	}
	if p, _ := r.Value(Caller{}, id, 0, linux.GETPID); p != 7 {
		t.Fatalf("GETPID after the undo %d, want 7", p)
	}

	done = spawn(k, "waiter2", func(t *kernel.Task) {
		got = r.Op(Caller{}, t, id, ops(linux.Sembuf{SemOp: -1}), nil, -1)
	})
	waitFor(t, "the second waiter", func() bool {
		n, _ := r.Value(Caller{}, id, 0, linux.GETNCNT)
		return n == 1
	})
	if err := r.Remove(Caller{}, id); err != nil {
		t.Fatal(err)
	}
	<-done
	if got != unix.EIDRM {
		t.Fatalf("semop on a removed set = %v, want EIDRM", got)
	}
}

// TestRemoveAll: a dying IPC namespace's sets go, and their budget with
// them.
func TestRemoveAll(t *testing.T) {
	b := ipc.NewBudget(1 << 20)
	r := NewRegistry(b)
	for range 3 {
		if _, err := r.Get(Caller{}, linux.IPC_PRIVATE, 4, 0600); err != nil {
			t.Fatal(err)
		}
	}
	if b.Used() == 0 {
		t.Fatal("sets charged nothing")
	}
	r.RemoveAll()
	if b.Used() != 0 {
		t.Errorf("budget still charged %d after RemoveAll", b.Used())
	}
	if info, _ := r.Info(true); info.SemUsz != 0 {
		t.Errorf("%d sets left", info.SemUsz)
	}
}
