// Package epoll implements readiness waiting over files that are
// fs.Waitable: epoll instances (epoll_create/epoll_ctl/epoll_wait, with
// level- and edge-triggered and one-shot interests, and epoll instances
// inside other instances) and the one-shot waits of poll(2) and select(2)
// (Poll). The syscall layer (sentry/syscalls/sys_poll.go) turns file
// descriptors into the Targets and pollfd/fd_set arrays these take.
//
// How an instance works, as Linux's eventpoll: each interest registers a
// watch (fs.Waitable.Watch) on its file. A watch callback only queues the
// interest on the instance's ready list and wakes the instance's waiters;
// epoll_wait then asks every queued interest's file for its current
// readiness. An interest with events is reported; level-triggered
// interests go back on the ready list (so the next wait asks again),
// edge-triggered ones wait for the next callback, one-shot ones are
// disabled until EPOLL_CTL_MOD re-arms them. An interest whose file has no
// events left is dropped from the list. Blocked waiters sleep on a
// kernel.WaitQueue, releasing their CPU.
//
// An instance does not hold a reference to the files it watches (Linux does
// not either): the interest goes when the last reference to the file goes,
// if the Target offers a release hook (OnRelease, see Target).
//
// Locking: lock order is nestMu → Instance.mu → the locks inside watched
// files (their Readiness and Watch take them; a nested instance's mu is
// taken after its parent's, and loops are refused at EPOLL_CTL_ADD). Watch
// callbacks are called by files with none of their locks held and take
// Instance.mu themselves. No lock is held across a wait.
package epoll

import (
	"sync"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Control bits of epoll_event.events, beyond the poll events.
const (
	EdgeTriggered = unix.EPOLLET
	OneShot       = unix.EPOLLONESHOT
	Wakeup        = unix.EPOLLWAKEUP
	Exclusive     = unix.EPOLLEXCLUSIVE
	// privateBits are the control bits (Linux's EP_PRIVATE_BITS).
	privateBits = EdgeTriggered | OneShot | Wakeup | Exclusive
	// exclusiveOKBits are the events EPOLLEXCLUSIVE may be combined with.
	exclusiveOKBits = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLERR | unix.EPOLLHUP | Wakeup | EdgeTriggered | Exclusive
)

// MaxNests is how deep epoll instances may be nested (EP_MAX_NESTS).
const MaxNests = 4

// EventSize is sizeof(struct epoll_event) on x86-64 (packed: 4 + 8).
const EventSize = 12

// Name is an instance's name in /proc/PID/fd.
const Name = "anon_inode:[eventpoll]"

// Event is one struct epoll_event.
type Event struct {
	Events uint32
	Data   uint64
}

// Target is a file an instance can watch: a *vfs.FileDescription.
//
// If the Target also has a method
//
//	OnRelease(fn func()) (cancel func())
//
// that calls fn when the last reference to the file goes, the instance uses
// it to drop its interests in the file then, as Linux does. Without it an
// interest stays until EPOLL_CTL_DEL or the instance's own release.
type Target interface {
	// Waitable returns the file's poll interface, or nil for files that
	// do not support poll (regular files, directories).
	Waitable() fs.Waitable
	// Node returns the file's node (its type decides EPERM).
	Node() fs.Node
}

// releaseNotifier is a Target with a release hook.
type releaseNotifier interface {
	OnRelease(fn func()) (cancel func())
}

// key identifies an interest: the file and the descriptor number it was
// added under (Linux's epoll_filefd).
type key struct {
	target Target
	fd     int32
}

// interest is one file watched by an instance (Linux's epitem).
//
// Locking: every field but the immutable ones (ep, key, waitable, child)
// is protected by ep.mu.
type interest struct {
	ep       *Instance
	key      key
	waitable fs.Waitable
	child    *Instance // the target's instance when it is an epoll

	events uint32 // requested events and control bits; ERR|HUP always
	data   uint64

	cancelWatch   func()
	cancelRelease func()
	removed       bool

	// Ready list links; queued says whether it is on the list.
	queued     bool
	prev, next *interest
}

// Instance is one epoll instance. It is also the fs.File and fs.Node of its
// anonymous file.
type Instance struct {
	fs.StreamFile
	created linux.StatxTimestamp

	// mu protects interest, ready, released and the mutable fields of
	// every interest of the instance.
	mu       sync.Mutex
	interest map[key]*interest
	// ready is the ready list: a circular list through a sentinel.
	ready    interest
	released bool

	wq       kernel.WaitQueue // tasks in epoll_wait
	notifier fs.Notifier      // instances and polls watching this one

	// parents counts the interests of other instances in this one;
	// protected by nestMu.
	parents map[*Instance]int
}

// nestMu serializes the loop and depth checks of epoll instances added to
// other instances with the changes to the nesting graph (Linux's
// epnested_mutex).
var nestMu sync.Mutex

// anonInode is the anonymous inode every one of these files shares.
var anonInode = fs.NewAnonInode()

// New returns an empty instance.
func New() *Instance {
	ep := &Instance{interest: make(map[key]*interest), created: fs.Now()}
	ep.ready.prev, ep.ready.next = &ep.ready, &ep.ready
	return ep
}

// enqueueLocked puts it at the tail of the ready list unless it is there.
//
// Preconditions: ep.mu is held.
func (ep *Instance) enqueueLocked(it *interest) {
	if it.queued {
		return
	}
	it.queued = true
	it.prev = ep.ready.prev
	it.next = &ep.ready
	ep.ready.prev.next = it
	ep.ready.prev = it
}

// dequeueLocked takes it off the ready list if it is there.
//
// Preconditions: ep.mu is held.
func (ep *Instance) dequeueLocked(it *interest) {
	if !it.queued {
		return
	}
	it.prev.next = it.next
	it.next.prev = it.prev
	it.prev, it.next = nil, nil
	it.queued = false
}

// watchMask returns the poll events a watch for events must hear about:
// the requested ones with their synonyms (files notify POLLIN and POLLOUT,
// not always POLLRDNORM and POLLWRNORM), and always POLLERR and POLLHUP.
func watchMask(events uint32) uint32 {
	m := events&^privateBits | unix.POLLERR | unix.POLLHUP
	if m&(unix.POLLIN|linux.POLLRDNORM) != 0 {
		m |= unix.POLLIN | linux.POLLRDNORM
	}
	if m&(unix.POLLOUT|linux.POLLWRNORM) != 0 {
		m |= unix.POLLOUT | linux.POLLWRNORM
	}
	return m
}

// pollLocked returns the events of it that hold now (0 for a disabled
// one-shot interest).
//
// Preconditions: ep.mu is held.
func (it *interest) pollLocked() uint32 {
	want := it.events &^ privateBits
	if want == 0 {
		return 0
	}
	return it.waitable.Readiness(want) & want
}

// callback is the interest's watch callback: queue it and wake the
// instance's waiters, synchronously when the file's change came from a
// waker about to block (fs.WatchFunc; Linux's ep_poll_callback passes a
// sync wake-up on to the epoll_wait waiter the same way). It never blocks.
func (it *interest) callback(waker *kernel.Task) {
	ep := it.ep
	ep.mu.Lock()
	if it.removed || ep.released || it.events&^privateBits == 0 {
		ep.mu.Unlock()
		return
	}
	ep.enqueueLocked(it)
	ep.mu.Unlock()
	ep.wakeSync(waker)
}

// wake tells waiters and watchers of ep that an interest is ready. As
// Linux's ep_poll_callback, they are told even when the interest was
// queued already: an edge-triggered parent must hear of every new event.
func (ep *Instance) wake() { ep.wakeSync(nil) }

// wakeSync is wake on behalf of waker (see fs.WatchFunc; nil: wake).
func (ep *Instance) wakeSync(waker *kernel.Task) {
	ep.wq.NotifyAllSync(waker)
	ep.notifier.NotifySync(waker, unix.POLLIN|linux.POLLRDNORM)
}

// checkEvents validates the events of an EPOLL_CTL_ADD or MOD.
func checkEvents(events uint32, child *Instance) error {
	if events&Exclusive != 0 {
		if events&^exclusiveOKBits != 0 || child != nil {
			return unix.EINVAL
		}
	}
	return nil
}

// Add is EPOLL_CTL_ADD: it watches target (open as descriptor fd) for
// ev.Events, reporting ev.Data. Errors: EEXIST if (target, fd) is already
// watched; EPERM if the file does not support poll (regular files,
// directories); EINVAL for ep itself or a bad EPOLLEXCLUSIVE; ELOOP for an
// instance whose addition would make a loop or nest instances deeper than
// MaxNests. It never blocks.
func (ep *Instance) Add(target Target, fd int32, ev Event) error {
	if !CanPoll(target) {
		return unix.EPERM
	}
	w := target.Waitable()
	child, _ := w.(*Instance)
	if child == ep {
		return unix.EINVAL
	}
	if err := checkEvents(ev.Events, child); err != nil {
		return err
	}
	k := key{target: target, fd: fd}
	it := &interest{ep: ep, key: k, waitable: w, child: child, events: ev.Events | unix.EPOLLERR | unix.EPOLLHUP, data: ev.Data}

	if child != nil {
		nestMu.Lock()
		if err := ep.loopCheckLocked(child); err != nil {
			nestMu.Unlock()
			return err
		}
	}
	ep.mu.Lock()
	if ep.released {
		ep.mu.Unlock()
		if child != nil {
			nestMu.Unlock()
		}
		return unix.EBADF
	}
	if _, ok := ep.interest[k]; ok {
		ep.mu.Unlock()
		if child != nil {
			nestMu.Unlock()
		}
		return unix.EEXIST
	}
	ep.interest[k] = it
	ep.mu.Unlock()
	if child != nil {
		if child.parents == nil {
			child.parents = make(map[*Instance]int)
		}
		child.parents[ep]++
		nestMu.Unlock()
	}

	// Watches and hooks are set up without ep.mu: a file may call the
	// callback from inside Watch.
	cancelWatch := w.Watch(watchMask(it.events), it.callback)
	var cancelRelease func()
	if rn, ok := target.(releaseNotifier); ok {
		cancelRelease = rn.OnRelease(func() { ep.drop(it) })
	}

	ep.mu.Lock()
	if it.removed {
		// Deleted (or released) while the watch was being set up.
		ep.mu.Unlock()
		cancelWatch()
		if cancelRelease != nil {
			cancelRelease()
		}
		return nil
	}
	it.cancelWatch, it.cancelRelease = cancelWatch, cancelRelease
	ready := it.pollLocked() != 0
	if ready {
		ep.enqueueLocked(it)
	}
	ep.mu.Unlock()
	if ready {
		ep.wake()
	}
	return nil
}

// CanPoll reports whether target may be watched by an instance: Linux
// refuses files without a poll method (EPERM), which regular files and
// directories never have, even when a filesystem answers readiness for
// them (host stdio redirected from a file).
func CanPoll(target Target) bool {
	if target.Waitable() == nil {
		return false
	}
	if n := target.Node(); n != nil {
		switch n.Type() {
		case unix.S_IFREG, unix.S_IFDIR:
			return false
		}
	}
	return true
}

// Modify is EPOLL_CTL_MOD: it replaces the events and data of the interest
// in (target, fd), re-arming a disabled one-shot interest. Errors: ENOENT
// if it is not watched; EINVAL for EPOLLEXCLUSIVE (which cannot be
// modified, nor added by MOD). It never blocks.
func (ep *Instance) Modify(target Target, fd int32, ev Event) error {
	if ev.Events&Exclusive != 0 {
		return unix.EINVAL
	}
	k := key{target: target, fd: fd}
	ep.mu.Lock()
	it, ok := ep.interest[k]
	if !ok {
		ep.mu.Unlock()
		return unix.ENOENT
	}
	if it.events&Exclusive != 0 {
		ep.mu.Unlock()
		return unix.EINVAL
	}
	it.events = ev.Events | unix.EPOLLERR | unix.EPOLLHUP
	it.data = ev.Data
	cancelOld := it.cancelWatch
	ep.mu.Unlock()

	// The watch mask may have changed: watch again, then drop the old
	// watch (a callback of either only queues the interest).
	cancelNew := it.waitable.Watch(watchMask(ev.Events), it.callback)
	if cancelOld != nil {
		cancelOld()
	}

	ep.mu.Lock()
	if it.removed {
		ep.mu.Unlock()
		cancelNew()
		return nil
	}
	it.cancelWatch = cancelNew
	ready := it.pollLocked() != 0
	if ready {
		ep.enqueueLocked(it)
	}
	ep.mu.Unlock()
	if ready {
		ep.wake()
	}
	return nil
}

// Delete is EPOLL_CTL_DEL: it stops watching (target, fd). ENOENT if it
// was not watched. It never blocks.
func (ep *Instance) Delete(target Target, fd int32) error {
	k := key{target: target, fd: fd}
	ep.mu.Lock()
	it, ok := ep.interest[k]
	ep.mu.Unlock()
	if !ok {
		return unix.ENOENT
	}
	if !ep.drop(it) {
		return unix.ENOENT
	}
	return nil
}

// drop removes it from ep and cancels its watch and hook. It returns false
// if it was removed already.
func (ep *Instance) drop(it *interest) bool {
	if it.child != nil {
		nestMu.Lock()
		defer nestMu.Unlock()
	}
	ep.mu.Lock()
	if it.removed {
		ep.mu.Unlock()
		return false
	}
	it.removed = true
	if ep.interest[it.key] == it {
		delete(ep.interest, it.key)
	}
	ep.dequeueLocked(it)
	cw, cr := it.cancelWatch, it.cancelRelease
	it.cancelWatch, it.cancelRelease = nil, nil
	ep.mu.Unlock()
	if it.child != nil {
		if it.child.parents[ep]--; it.child.parents[ep] <= 0 {
			delete(it.child.parents, ep)
		}
	}
	if cw != nil {
		cw()
	}
	if cr != nil {
		cr()
	}
	return true
}

// loopCheckLocked refuses to add child to ep when ep is reachable from
// child (ELOOP) or the nesting would be deeper than MaxNests (ELOOP).
//
// Preconditions: nestMu is held.
func (ep *Instance) loopCheckLocked(child *Instance) error {
	depth, loop := child.depthBelow(ep, 0, map[*Instance]int{})
	if loop || depth > MaxNests {
		return unix.ELOOP
	}
	if depth+1+ep.depthAbove(0, map[*Instance]int{}) > MaxNests {
		return unix.ELOOP
	}
	return nil
}

// children returns the instances ep watches.
func (ep *Instance) children() []*Instance {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []*Instance
	for _, it := range ep.interest {
		if it.child != nil {
			out = append(out, it.child)
		}
	}
	return out
}

// depthBelow returns the longest chain of instances below ep (0 when it
// watches none) and whether inserting is among them (a loop).
//
// Preconditions: nestMu is held.
func (ep *Instance) depthBelow(inserting *Instance, depth int, memo map[*Instance]int) (int, bool) {
	if d, ok := memo[ep]; ok {
		return d, false
	}
	result := 0
	for _, c := range ep.children() {
		if c == inserting || depth > MaxNests {
			return MaxNests + 1, c == inserting
		}
		d, loop := c.depthBelow(inserting, depth+1, memo)
		if loop {
			return MaxNests + 1, true
		}
		result = max(result, d+1)
		if result > MaxNests {
			break
		}
	}
	memo[ep] = result
	return result, false
}

// depthAbove returns the longest chain of instances watching ep (0 when
// none does).
//
// Preconditions: nestMu is held.
func (ep *Instance) depthAbove(depth int, memo map[*Instance]int) int {
	if d, ok := memo[ep]; ok {
		return d
	}
	result := 0
	if depth <= MaxNests {
		for p := range ep.parents {
			result = max(result, p.depthAbove(depth+1, memo)+1)
		}
	}
	memo[ep] = result
	return result
}

// Harvest takes up to max ready events without blocking (Linux's
// ep_send_events): each queued interest's file is asked for its events
// now; interests with none are dropped from the ready list,
// level-triggered ones that reported go back to its tail, one-shot ones
// are disabled.
func (ep *Instance) Harvest(max int) []Event {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.released || max <= 0 || !ep.anyQueuedLocked() {
		return nil
	}
	// Detach the list so that re-queued level-triggered interests are
	// not seen twice.
	var scan []*interest
	for it := ep.ready.next; it != &ep.ready; it = it.next {
		scan = append(scan, it)
	}
	for _, it := range scan {
		ep.dequeueLocked(it)
	}
	var out []Event
	var requeue []*interest
	for i, it := range scan {
		if len(out) == max {
			// Not looked at: back to the front, in order.
			for j := len(scan) - 1; j >= i; j-- {
				ep.pushFrontLocked(scan[j])
			}
			break
		}
		rev := it.pollLocked()
		if rev == 0 {
			continue
		}
		out = append(out, Event{Events: rev, Data: it.data})
		switch {
		case it.events&OneShot != 0:
			it.events &= privateBits
		case it.events&EdgeTriggered == 0:
			requeue = append(requeue, it)
		}
	}
	for _, it := range requeue {
		ep.enqueueLocked(it)
	}
	return out
}

// pushFrontLocked puts it at the head of the ready list.
//
// Preconditions: ep.mu is held; it is not queued.
func (ep *Instance) pushFrontLocked(it *interest) {
	it.queued = true
	it.next = ep.ready.next
	it.prev = &ep.ready
	ep.ready.next.prev = it
	ep.ready.next = it
}

func (ep *Instance) anyQueuedLocked() bool { return ep.ready.next != &ep.ready }

// Wait is epoll_wait: it returns up to max ready events, blocking
// (releasing the CPU) until there is one, the timeout passes (no events,
// no error) or the task is interrupted (EINTR). timeout is kernel.Forever
// to wait without limit and 0 not to wait.
//
// Preconditions: max > 0; no Go mutex is held by the caller.
func (ep *Instance) Wait(ctx *fs.Context, max int, timeout time.Duration) ([]Event, error) {
	var evs []Event
	cond := func() bool {
		evs = ep.Harvest(max)
		return len(evs) > 0
	}
	err := ctx.BlockTimeout(&ep.wq, cond, timeout)
	switch err {
	case nil:
		return evs, nil
	case unix.ETIMEDOUT:
		return nil, nil
	case unix.EAGAIN:
		if timeout == 0 {
			return nil, nil
		}
	}
	return nil, err
}

// Readiness implements fs.Waitable: an instance is readable when an
// interest on its ready list has events now (which it does not consume).
func (ep *Instance) Readiness(mask uint32) uint32 {
	if mask&(unix.POLLIN|linux.POLLRDNORM) == 0 {
		return 0
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.released {
		return 0
	}
	for it := ep.ready.next; it != &ep.ready; it = it.next {
		if it.pollLocked() != 0 {
			return (unix.POLLIN | linux.POLLRDNORM) & mask
		}
	}
	return 0
}

// Watch implements fs.Waitable: fn is called whenever an interest is
// queued on the ready list.
func (ep *Instance) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return ep.notifier.Watch(mask, fn)
}

// Len returns the number of interests (for /proc/PID/fdinfo and tests).
func (ep *Instance) Len() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return len(ep.interest)
}

// Read implements fs.File: an epoll file cannot be read (EINVAL).
func (ep *Instance) Read(*fs.Context, []byte, uint32) (int, error) { return 0, unix.EINVAL }

// Write implements fs.File: an epoll file cannot be written (EINVAL).
func (ep *Instance) Write(*fs.Context, []byte, uint32) (int, error) { return 0, unix.EINVAL }

// Release implements fs.File: every interest is dropped.
func (ep *Instance) Release() {
	ep.mu.Lock()
	if ep.released {
		ep.mu.Unlock()
		return
	}
	ep.released = true
	its := make([]*interest, 0, len(ep.interest))
	for _, it := range ep.interest {
		its = append(its, it)
	}
	ep.mu.Unlock()
	for _, it := range its {
		ep.drop(it)
	}
	ep.wq.Destroy(unix.EBADF)
}

// Type implements fs.Node: anonymous inodes have no file type bits.
func (ep *Instance) Type() uint32 { return 0 }

// Stat implements fs.Node: the shared anonymous inode, mode 0600.
func (ep *Instance) Stat(ctx *fs.Context) (linux.Statx, error) {
	return anonInode.Stat(ep.created, 0), nil
}

// Open implements fs.Node: an anonymous inode cannot be reopened through
// /proc/PID/fd (ENXIO).
func (ep *Instance) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	return nil, unix.ENXIO
}
