package epoll

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// DefaultMask is the readiness of a file without a poll method (regular
// files, directories): always readable and writable (DEFAULT_POLLMASK).
const DefaultMask = unix.POLLIN | unix.POLLOUT | linux.POLLRDNORM | linux.POLLWRNORM

// PollFile is one file of a poll(2) or select(2).
type PollFile struct {
	// Waitable is the file's poll interface; nil for a file that is
	// always ready (DefaultMask), or for an entry to skip (see Skip).
	Waitable fs.Waitable
	// Skip marks an entry Poll ignores (a negative or invalid
	// descriptor, whose answer the caller makes itself).
	Skip bool
	// Events are the events to report. poll(2) adds POLLERR and POLLHUP
	// to what the program asked; select(2) asks for its sets' events.
	Events uint32
	// Revents is Poll's answer.
	Revents uint32
}

// readiness returns the events of f that hold now.
func (f *PollFile) readiness() uint32 {
	want := f.Events
	if f.Waitable == nil {
		return DefaultMask & want
	}
	return f.Waitable.Readiness(want) & want
}

// scan fills every Revents and returns how many are non-zero.
func scan(files []PollFile) int {
	n := 0
	for i := range files {
		f := &files[i]
		if f.Skip {
			continue
		}
		f.Revents = f.readiness()
		if f.Revents != 0 {
			n++
		}
	}
	return n
}

// Poll is the wait of poll(2) and select(2): it fills each file's Revents
// and returns how many files have events, blocking (releasing the CPU)
// until one has, the timeout passes (0, no error) or the task is
// interrupted (EINTR). timeout is kernel.Forever to wait without limit and
// 0 not to wait.
//
// Preconditions: no Go mutex is held by the caller.
func Poll(ctx *fs.Context, files []PollFile, timeout time.Duration) (int, error) {
	if n := scan(files); n > 0 || timeout == 0 {
		return n, nil
	}
	var wq kernel.WaitQueue
	var cancels []func()
	for i := range files {
		f := &files[i]
		if f.Skip || f.Waitable == nil {
			continue
		}
		cancels = append(cancels, f.Waitable.Watch(watchMask(f.Events), func(waker *kernel.Task) { wq.NotifyAllSync(waker) }))
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	var n int
	err := ctx.BlockTimeout(&wq, func() bool {
		n = scan(files)
		return n > 0
	}, timeout)
	switch err {
	case nil:
		return n, nil
	case unix.ETIMEDOUT:
		return 0, nil
	}
	return 0, err
}

// Sleep blocks for timeout, releasing the CPU, as a poll of no files does.
// It returns nil when the timeout passed and EINTR if the task was
// interrupted. kernel.Forever waits until an interruption.
func Sleep(ctx *fs.Context, timeout time.Duration) error {
	if timeout == 0 {
		return nil
	}
	var wq kernel.WaitQueue
	err := ctx.BlockTimeout(&wq, func() bool { return false }, timeout)
	if err == unix.ETIMEDOUT {
		return nil
	}
	return err
}
