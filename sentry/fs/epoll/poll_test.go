package epoll

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

const pollErrHup = unix.POLLERR | unix.POLLHUP

// countingWaitable counts the watches set on a Waitable.
type countingWaitable struct {
	fs.Waitable
	watches atomic.Int32
}

func (c *countingWaitable) Watch(mask uint32, fn fs.WatchFunc) func() {
	c.watches.Add(1)
	return c.Waitable.Watch(mask, fn)
}

func TestPollImmediate(t *testing.T) {
	r, w := pipeFiles()
	files := []PollFile{
		{Waitable: r.Waitable(), Events: unix.POLLIN | pollErrHup},
		{Waitable: w.Waitable(), Events: unix.POLLOUT | pollErrHup},
		{Events: unix.POLLIN | linux.POLLRDNORM | pollErrHup}, // a regular file
		{Skip: true, Events: unix.POLLIN},
	}
	n, err := Poll(&fs.Context{}, files, 0)
	if err != nil || n != 2 {
		t.Fatalf("poll: %d %v", n, err)
	}
	if files[0].Revents != 0 || files[1].Revents != unix.POLLOUT || files[2].Revents != unix.POLLIN|linux.POLLRDNORM || files[3].Revents != 0 {
		t.Fatalf("revents %#x %#x %#x %#x", files[0].Revents, files[1].Revents, files[2].Revents, files[3].Revents)
	}
	w.close()
	n, _ = Poll(&fs.Context{}, files[:1], 0)
	if n != 1 || files[0].Revents != unix.POLLHUP {
		t.Fatalf("after close: %d %#x", n, files[0].Revents)
	}
}

// TestPollSelectMasks: select asks only for its sets' events, so a hang-up
// does not make a write-only select of a read end ready.
func TestPollSelectMasks(t *testing.T) {
	r, w := pipeFiles()
	w.close()
	files := []PollFile{{Waitable: r.Waitable(), Events: unix.POLLOUT | linux.POLLWRNORM | unix.POLLERR}}
	if n, _ := Poll(&fs.Context{}, files, 0); n != 0 {
		t.Fatalf("write select of a hung-up read end: %d %#x", n, files[0].Revents)
	}
}

func TestPollBlocksAndReleasesCPU(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 1})
	defer k.Shutdown()
	r, w := pipeFiles()
	r2, _ := pipeFiles()
	cw := &countingWaitable{Waitable: r.Waitable()}
	files := []PollFile{
		{Waitable: r2.Waitable(), Events: unix.POLLIN | pollErrHup},
		{Waitable: cw, Events: unix.POLLIN | pollErrHup},
	}
	var n int
	var err error
	runTasks(t, k, func(task *kernel.Task, ctx *fs.Context) {
		n, err = Poll(ctx, files, kernel.Forever)
	}, func(task *kernel.Task, ctx *fs.Context) {
		// Only one of the tasks holds the CPU: the poller must give it
		// up to let this one write.
		for cw.watches.Load() == 0 {
			task.Yield()
		}
		w.write("x")
	})
	if err != nil || n != 1 || files[1].Revents != unix.POLLIN || files[0].Revents != 0 {
		t.Fatalf("poll: %d %v %#x %#x", n, err, files[0].Revents, files[1].Revents)
	}
}

func TestPollTimeoutInterruptSleep(t *testing.T) {
	k := kernel.New(kernel.Config{CPUs: 2})
	defer k.Shutdown()
	r, _ := pipeFiles()
	files := []PollFile{{Waitable: r.Waitable(), Events: unix.POLLIN | pollErrHup}}
	var n int
	var err, serr error
	var took, slept time.Duration
	runTasks(t, k, func(task *kernel.Task, ctx *fs.Context) {
		start := time.Now()
		n, err = Poll(ctx, files, 30*time.Millisecond)
		took = time.Since(start)
		start = time.Now()
		serr = Sleep(ctx, 20*time.Millisecond)
		slept = time.Since(start)
	})
	if n != 0 || err != nil || took < 30*time.Millisecond {
		t.Fatalf("timeout: %d %v after %v", n, err, took)
	}
	if serr != nil || slept < 20*time.Millisecond {
		t.Fatalf("sleep: %v after %v", serr, slept)
	}

	var perr error
	var polling atomic.Bool
	poller := k.NewTask(kernel.TaskOptions{Name: "poller", Entry: func(task *kernel.Task) {
		polling.Store(true)
		_, perr = Poll(&fs.Context{Task: task}, files, kernel.Forever)
	}})
	poller.Start()
	// Interrupt the poll once it is asleep in it, not after a fixed time
	// that a loaded host may outlast.
	for deadline := time.Now().Add(time.Minute); !polling.Load() || poller.State() != kernel.TaskSleeping; {
		if time.Now().After(deadline) {
			t.Fatal("the poller did not block within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	poller.Interrupt()
	select {
	case <-poller.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("interrupted poll did not return")
	}
	if perr != unix.EINTR {
		t.Fatalf("interrupted poll: %v", perr)
	}
}
