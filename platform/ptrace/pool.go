package ptrace

import (
	"golang.org/x/sys/unix"
)

// Stub reuse and spare stub threads (issue 16, item 4).
//
// Starting an address space from scratch costs a stub fork from the zygote
// (an injected clone, a PR_SET_PDEATHSIG, a detach into group-stop), a new
// master thread that seizes it, and, on the first Switch, a stub thread
// made the same way and seized by the Context's thread: about a dozen
// ptrace stops, each a host wake-up of a process that has just been made,
// 0.5-1 ms together on this project's machine. Tearing one down is a kill
// and a reap of each. A fork+exit+wait paid all of it.
//
// Instead, a released address space's stub process is recycled by its own
// master, off the releasing task's path: the master reaps the killed stub
// threads, unmaps the whole application range (one injected munmap: the
// same state as a fresh fork of the zygote, which the application could
// not have changed otherwise, as none of its syscalls ever runs on the
// host), clones one spare stub thread into group-stop, and offers the
// result, under a new addressSpace value (so no stale reference to the
// released one can reach it), to the platform's pool. NewAddressSpace takes
// from the pool first, and a Context's first Switch into an address space
// seizes its spare thread when it has one instead of asking the master for
// a new one. A process that makes a second thread asks its master for
// another spare in the background, so thread create+join pays only the
// seize and the kill.
//
// The refill is the master's own work: ptrace requests for a stub can only
// come from its tracer thread, so the sandbox's workqueue could do no more
// than hand it to that thread.
//
// When the released address space's only stub thread is one a Context kept
// for the next (RecycleAfter: a fork's child that exits), there is nothing
// to reap and no spare to make, and Release recycles the stub itself
// (recycleHere): the unmapping of the application range is left to the
// successor's first Switch, whose thread traces the kept thread (the
// first op of its deferred batch, with a fork's pre-map), and the master
// is not woken at all; it serves the successor on the same channels.
//
// The pool is bounded (stubPoolSize address spaces, each a stub process,
// a spare stub thread and a master thread on the host); an address space
// released while the pool is full, or after the platform was, is killed
// as before. A pooled stub killed from outside is noticed when it is
// taken (its pidfd is readable) and shut down.

// stubPoolSize bounds the address spaces kept for reuse.
const stubPoolSize = 4

// takePooled returns a recycled address space from the pool, or nil.
func (p *Platform) takePooled() *addressSpace {
	for {
		p.mu.Lock()
		n := len(p.pool)
		if n == 0 || p.released {
			p.mu.Unlock()
			return nil
		}
		as := p.pool[n-1]
		p.pool = p.pool[:n-1]
		p.mu.Unlock()
		if !pidfdAlive(as.pidfd) {
			// Killed from outside while pooled.
			as.release(false)
			continue
		}
		p.mu.Lock()
		p.spaces[as] = struct{}{}
		p.mu.Unlock()
		// A death reported while pooled (its spare thread's, say) had
		// no user to kill; report the next one to the new user.
		p.deaths.forget(as)
		p.deaths.watch(as, as.pidfd)
		return as
	}
}

// offerPooled puts as, recycled, in the pool. It returns false if the pool
// is full or the platform released: the caller then shuts as down.
func (p *Platform) offerPooled(as *addressSpace) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released || len(p.pool) >= stubPoolSize {
		return false
	}
	p.pool = append(p.pool, as)
	return true
}

// drainPool shuts down every pooled address space (Platform.Release).
func (p *Platform) drainPool() {
	p.mu.Lock()
	pool := p.pool
	p.pool = nil
	p.mu.Unlock()
	for _, as := range pool {
		as.release(false)
	}
}

// poolHasRoom reports whether a released address space's stub should be
// recycled (offerPooled decides for good).
func (p *Platform) poolHasRoom() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.released && len(p.pool) < stubPoolSize
}

// pidfdAlive reports whether the process behind pidfd has not exited (a
// pidfd polls readable once it has).
func pidfdAlive(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 0
}

// Pooled reports whether the pool of p holds the stub process pid,
// recycled and ready for the next NewAddressSpace. The recycling runs on
// the stub's master in the background, so a test of a variant waits for
// it here before it takes the stub (ptrace's own tests read the pool).
func Pooled(p *Platform, pid int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, as := range p.pool {
		if int(as.pid) == pid {
			return true
		}
	}
	return false
}
