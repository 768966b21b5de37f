package epoll

import (
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// TestWakeUpsThroughEpollAndPollAreSync: a writer that wakes a task
// waiting for its pipe in epoll_wait or poll wakes it synchronously
// (fs.WatchFunc): two tasks on a 2-CPU kernel pass a byte back and forth
// over two pipes, one waiting in an epoll instance, the other in Poll, and
// the kernel's counters show the woken task placed on its waker's CPU and
// taking it from the waker when it blocks. Before, readiness watchers were
// woken the ordinary way: none placed. No timings; the tick is an hour
// long so that only the wake-ups decide placements.
func TestWakeUpsThroughEpollAndPollAreSync(t *testing.T) {
	const rounds = 200
	k := kernel.New(kernel.Config{CPUs: 2, Tick: time.Hour})
	defer k.Shutdown()
	ar, aw := pipeFiles() // to the epoll side
	br, bw := pipeFiles() // to the poll side
	ep := New()
	mustAdd(t, ep, ar, 3, ev(unix.EPOLLIN, 3))
	var errs [2]error
	runTasks(t, k, func(task *kernel.Task, ctx *fs.Context) {
		for i := 0; i < rounds && errs[0] == nil; i++ {
			if _, err := bw.f.Write(ctx, []byte{'x'}, 0); err != nil {
				errs[0] = err
				break
			}
			task.PreemptPoint() // the end of write(2)
			if _, err := ep.Wait(ctx, 1, kernel.Forever); err != nil {
				errs[0] = err
				break
			}
			task.PreemptPoint()
			_, errs[0] = ar.f.Read(ctx, make([]byte, 1), unix.O_NONBLOCK)
			task.PreemptPoint()
		}
	}, func(task *kernel.Task, ctx *fs.Context) {
		files := []PollFile{{Waitable: br.Waitable(), Events: unix.POLLIN | pollErrHup}}
		for i := 0; i < rounds && errs[1] == nil; i++ {
			if _, err := Poll(ctx, files, kernel.Forever); err != nil {
				errs[1] = err
				break
			}
			task.PreemptPoint()
			if _, err := br.f.Read(ctx, make([]byte, 1), unix.O_NONBLOCK); err != nil {
				errs[1] = err
				break
			}
			task.PreemptPoint()
			_, errs[1] = aw.f.Write(ctx, []byte{'y'}, 0)
			task.PreemptPoint()
		}
	})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("ping-pong: %v, %v", errs[0], errs[1])
	}
	placed, direct, expired := k.SyncWakeStats()
	t.Logf("%d round trips: placed %d, direct %d, expired %d", rounds, placed, direct, expired)
	if placed == 0 || direct == 0 {
		t.Errorf("placed %d, direct %d: readiness waiters were not woken synchronously", placed, direct)
	}
}
