package ptrace

import (
	"sync"

	"github.com/runsc-lite/runsc-lite/platform"
	"golang.org/x/sys/unix"
)

// deathWatcher implements platform.DeathWatcher: it polls the pidfds of
// every stub process and stub thread (a pidfd becomes readable when its
// process exits) on one goroutine, and reports the address space of a stub
// that died while watched. The platform stops watching a stub (unwatch)
// before it kills it itself, so only deaths from outside (kill -9 from the
// host, the OOM killer) are reported.
//
// Locking: mu protects fn, watched and dead; it is a leaf, and fn is
// called without it.
type deathWatcher struct {
	epfd int
	// wake is an eventfd in the epoll set: written to stop the goroutine.
	wake int

	mu      sync.Mutex
	stopped bool
	fn      func(platform.AddressSpace)
	// watched maps a watched pidfd to its address space.
	watched map[int32]*addressSpace
	// dead are the address spaces already reported.
	dead map[*addressSpace]bool
}

// newDeathWatcher starts the watcher goroutine.
func newDeathWatcher() (*deathWatcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	d := &deathWatcher{epfd: epfd, wake: wake, watched: map[int32]*addressSpace{}, dead: map[*addressSpace]bool{}}
	go d.run()
	return d, nil
}

// WatchDeaths implements platform.DeathWatcher.WatchDeaths.
func (p *Platform) WatchDeaths(fn func(platform.AddressSpace)) {
	p.deaths.mu.Lock()
	p.deaths.fn = fn
	p.deaths.mu.Unlock()
}

// watch reports as if the process behind pidfd dies before unwatch.
func (d *deathWatcher) watch(as *addressSpace, pidfd int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	if unix.EpollCtl(d.epfd, unix.EPOLL_CTL_ADD, pidfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(pidfd)}) == nil {
		d.watched[int32(pidfd)] = as
	}
}

// unwatch stops watching pidfd (idempotent). Call it before killing the
// process, and before closing pidfd.
func (d *deathWatcher) unwatch(pidfd int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.watched[int32(pidfd)]; ok && !d.stopped {
		delete(d.watched, int32(pidfd))
		unix.EpollCtl(d.epfd, unix.EPOLL_CTL_DEL, pidfd, nil)
	}
}

// rewatch reports as, from now on, if the process behind pidfd, watched,
// dies: its stub thread moved to as (recycle).
func (d *deathWatcher) rewatch(pidfd int, as *addressSpace) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.watched[int32(pidfd)]; ok {
		d.watched[int32(pidfd)] = as
	}
}

// forget drops as's report record when it is released.
func (d *deathWatcher) forget(as *addressSpace) {
	d.mu.Lock()
	delete(d.dead, as)
	d.mu.Unlock()
}

// stop ends the goroutine, which closes the descriptors.
func (d *deathWatcher) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		d.stopped = true
		one := [8]byte{1}
		unix.Write(d.wake, one[:])
	}
}

func (d *deathWatcher) run() {
	events := make([]unix.EpollEvent, 16)
	for {
		n, err := unix.EpollWait(d.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == d.wake {
				d.mu.Lock()
				unix.Close(d.epfd)
				unix.Close(d.wake)
				d.mu.Unlock()
				return
			}
			d.mu.Lock()
			as, ok := d.watched[ev.Fd]
			if ok {
				delete(d.watched, ev.Fd)
				unix.EpollCtl(d.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			}
			fn := d.fn
			report := ok && !d.dead[as] && !as.isReleased() && fn != nil
			if report {
				d.dead[as] = true
			}
			d.mu.Unlock()
			if report {
				fn(as)
			}
		}
	}
}
