// Package timerfd implements timerfd(2) files: a timer on one of the
// sentry's clocks (a softirqd.Timer, so it expires from the TIMER softirq
// of the CPU that armed it) whose expirations accumulate in a counter that
// read(2) takes. A read blocks while the counter is zero (EAGAIN with
// O_NONBLOCK). The file is an fs.Waitable, readable while the counter is
// non-zero, so poll, select and epoll see it.
//
// A TimerFD is also the fs.Node of its anonymous file
// ("anon_inode:[timerfd]").
//
// Locking: TimerFD.mu protects the counter and is held around every Set
// and Stop of the timer, so that the expiry callback (which takes mu and
// checks softirqd.Timer.Stale) never counts an expiry of a setting that
// was replaced. Lock order: TimerFD.mu, then the timer's own locks. mu is
// never held across a wait or a notification.
package timerfd

import (
	"encoding/binary"
	"sync"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Name is the file's name in /proc/PID/fd.
const Name = "anon_inode:[timerfd]"

// anonInode is the anonymous inode every one of these files shares.
var anonInode = fs.NewAnonInode()

// TimerFD is one timerfd file.
type TimerFD struct {
	fs.StreamFile
	created linux.StatxTimestamp
	tm      *softirqd.Timer

	mu    sync.Mutex
	count uint64 // expirations not yet read

	rq       kernel.WaitQueue // readers waiting for an expiration
	notifier fs.Notifier
}

// New returns a disarmed timerfd on clock, whose timer runs on s. It
// returns softirqd.ErrBadClock for a clock timers cannot use.
func New(s *softirqd.Softirqs, clock softirqd.ClockID) (*TimerFD, error) {
	f := &TimerFD{created: fs.Now()}
	tm, err := s.NewTimer(clock, f.expire)
	if err != nil {
		return nil, err
	}
	f.tm = tm
	return f, nil
}

// expire is the timer's callback (TIMER softirq context): it adds the
// firing's expirations to the counter and wakes readers and watchers.
func (f *TimerFD) expire(e softirqd.Expiry) {
	f.mu.Lock()
	if f.tm.Stale(e) {
		f.mu.Unlock()
		return
	}
	f.count += e.Count
	f.mu.Unlock()
	f.rq.NotifyAll()
	f.notifier.Notify(unix.POLLIN)
}

// Set arms the timer on cpu's base (timerfd_settime): spec.Value is the
// first expiry, relative or, with abs, an absolute reading of the clock;
// 0 disarms. Expirations not yet read are discarded, as Linux does. It
// returns the previous setting with the time that was left. It never
// blocks.
func (f *TimerFD) Set(cpu int, spec softirqd.TimerSpec, abs bool) softirqd.TimerSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count = 0
	return f.tm.Set(cpu, spec, abs)
}

// Get returns the current setting with the time left to the next expiry
// (timerfd_gettime). It never blocks.
func (f *TimerFD) Get() softirqd.TimerSpec { return f.tm.Get() }

// Count returns the expirations not yet read (/proc/PID/fdinfo's ticks).
func (f *TimerFD) Count() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// Clock returns the timer's clock.
func (f *TimerFD) Clock() softirqd.ClockID { return f.tm.Clock() }

// take removes and returns the counter.
func (f *TimerFD) take() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.count
	f.count = 0
	return v
}

// Type implements fs.Node: anonymous inodes have no file type bits.
func (f *TimerFD) Type() uint32 { return 0 }

// Stat implements fs.Node: the shared anonymous inode, mode 0600.
func (f *TimerFD) Stat(ctx *fs.Context) (linux.Statx, error) {
	return anonInode.Stat(f.created, 0), nil
}

// Open implements fs.Node: an anonymous inode cannot be reopened through
// /proc/PID/fd (ENXIO, as Linux).
func (f *TimerFD) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	return nil, unix.ENXIO
}

// Read implements fs.File.Read: it stores the number of expirations since
// the last read (or settime) in dst's first 8 bytes, resets it and returns
// 8. EINVAL if dst is shorter than 8 bytes; EAGAIN with O_NONBLOCK while
// there is none. It blocks otherwise.
func (f *TimerFD) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	if len(dst) < 8 {
		return 0, unix.EINVAL
	}
	var v uint64
	got := func() bool {
		v = f.take()
		return v != 0
	}
	if !got() {
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&f.rq, got); err != nil {
			return 0, err
		}
	}
	binary.LittleEndian.PutUint64(dst, v)
	return 8, nil
}

// Write implements fs.File.Write: a timerfd cannot be written (EINVAL, as
// Linux, whose timerfd has no write operation).
func (f *TimerFD) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// Release implements fs.File.Release: the timer is disarmed.
func (f *TimerFD) Release() {
	f.mu.Lock()
	f.tm.Stop()
	f.mu.Unlock()
}

// Readiness implements fs.Waitable: readable while expirations wait.
func (f *TimerFD) Readiness(mask uint32) uint32 {
	var ev uint32
	if f.Count() > 0 {
		ev |= unix.POLLIN | linux.POLLRDNORM
	}
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable.
func (f *TimerFD) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return f.notifier.Watch(mask, fn)
}
