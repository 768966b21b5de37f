// Package eventfd implements eventfd(2) files: a 64-bit counter that
// write(2) adds to and read(2) takes (all of it, or one unit in semaphore
// mode), with Linux's blocking rules. A read blocks while the counter is
// zero; a write blocks while adding would take the counter past
// 0xfffffffffffffffe. Blocking goes through kernel wait queues, so a
// blocked task releases its sandbox CPU. The file is an fs.Waitable, so
// poll, select and epoll see it.
//
// An EventFD is also the fs.Node of its anonymous file (what fstat
// describes: an "anon_inode:[eventfd]").
//
// Locking: EventFD.mu protects the counter. It is a leaf lock, never held
// across a wait or a notification.
package eventfd

import (
	"encoding/binary"
	"sync"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Max is the largest value the counter can hold (ULLONG_MAX - 1).
const Max = ^uint64(0) - 1

// Name is the file's name in /proc/PID/fd.
const Name = "anon_inode:[eventfd]"

// anonInode is the anonymous inode every one of these files shares.
var anonInode = fs.NewAnonInode()

// EventFD is one eventfd file.
type EventFD struct {
	fs.StreamFile
	semaphore bool
	created   linux.StatxTimestamp

	mu  sync.Mutex
	val uint64

	rq       kernel.WaitQueue // readers waiting for a non-zero counter
	wq       kernel.WaitQueue // writers waiting for room
	notifier fs.Notifier
}

// New returns an eventfd whose counter starts at initval; semaphore is
// EFD_SEMAPHORE.
func New(initval uint64, semaphore bool) *EventFD {
	return &EventFD{semaphore: semaphore, val: initval, created: fs.Now()}
}

// Value returns the counter (/proc/PID/fdinfo's eventfd-count).
func (e *EventFD) Value() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.val
}

// Semaphore reports whether the eventfd is in semaphore mode.
func (e *EventFD) Semaphore() bool { return e.semaphore }

// Type implements fs.Node: anonymous inodes have no file type bits.
func (e *EventFD) Type() uint32 { return 0 }

// Stat implements fs.Node: the shared anonymous inode, mode 0600.
func (e *EventFD) Stat(ctx *fs.Context) (linux.Statx, error) {
	return anonInode.Stat(e.created, 0), nil
}

// Open implements fs.Node: an anonymous inode cannot be reopened through
// /proc/PID/fd (ENXIO, as Linux).
func (e *EventFD) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	return nil, unix.ENXIO
}

// take removes what a read returns, or 0 if the counter is zero.
func (e *EventFD) take() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.val == 0 {
		return 0
	}
	v := e.val
	if e.semaphore {
		v = 1
	}
	e.val -= v
	return v
}

// Read implements fs.File.Read: it fills dst's first 8 bytes with the
// counter (or 1 in semaphore mode) and returns 8. EINVAL if dst is shorter
// than 8 bytes; EAGAIN with O_NONBLOCK while the counter is zero. It
// blocks otherwise.
func (e *EventFD) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	if len(dst) < 8 {
		return 0, unix.EINVAL
	}
	var v uint64
	got := func() bool {
		v = e.take()
		return v != 0
	}
	if !got() {
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&e.rq, got); err != nil {
			return 0, err
		}
	}
	e.wq.NotifyAll()
	e.notifier.Notify(unix.POLLOUT)
	binary.LittleEndian.PutUint64(dst, v)
	return 8, nil
}

// add adds v if it fits and reports whether it did.
func (e *EventFD) add(v uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if Max-e.val < v {
		return false
	}
	e.val += v
	return true
}

// Write implements fs.File.Write: it adds the 8-byte value src holds and
// returns 8. EINVAL if src is not exactly 8 bytes (Linux 6 refuses longer
// writes too) or the value is 0xffffffffffffffff; EAGAIN with O_NONBLOCK
// when the counter would overflow. It blocks otherwise.
func (e *EventFD) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	if len(src) != 8 {
		return 0, unix.EINVAL
	}
	v := binary.LittleEndian.Uint64(src)
	if v == ^uint64(0) {
		return 0, unix.EINVAL
	}
	added := func() bool { return e.add(v) }
	if !added() {
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&e.wq, added); err != nil {
			return 0, err
		}
	}
	// Linux wakes readers after every successful write, even of 0.
	e.rq.NotifyAll()
	e.notifier.Notify(unix.POLLIN)
	return 8, nil
}

// Release implements fs.File.Release. Nothing is held.
func (e *EventFD) Release() {}

// Readiness implements fs.Waitable: readable while the counter is
// non-zero, writable while at least 1 can be added.
func (e *EventFD) Readiness(mask uint32) uint32 {
	e.mu.Lock()
	v := e.val
	e.mu.Unlock()
	var ev uint32
	if v > 0 {
		ev |= unix.POLLIN | linux.POLLRDNORM
	}
	if v < Max {
		ev |= unix.POLLOUT | linux.POLLWRNORM
	}
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable.
func (e *EventFD) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return e.notifier.Watch(mask, fn)
}
