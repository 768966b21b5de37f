package process

// Cgroups: the processes of one container, managed together.

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Cgroup is a set of processes listed, signalled and frozen together: the
// processes of one container (the OCI runtime's `ps`, `kill --all`,
// `pause` and `resume`). A process joins its creator's cgroup when it is
// forked and leaves it when it exits, as in Linux's cgroup.procs.
//
// Freezing is Linux's cgroup freezer: every thread of every member stops
// at its next return to application code (a thread asleep in an
// interruptible syscall is woken, and the syscall is restarted when the
// cgroup is thawed, so the program does not see it) and stays parked
// until Thaw. Signals sent meanwhile stay pending, except SIGKILL, which
// ends a frozen process.
//
// Its task limit is Linux's pids controller (pids.max): a clone that
// would make more tasks (threads and processes, zombies until reaped)
// than the limit fails with EAGAIN, however many the sandbox as a whole
// may still hold; each container of a pod has its own.
//
// Locking: mu protects members; frozen is atomic; tasks is protected by
// the sandbox's tasklist lock (Sandbox.mu), under which tasks are counted
// (tasklimits.go); pidsMax is immutable. mu is a leaf: it is taken under
// ThreadGroup.mu (fork and exit) and never held while taking another
// lock.
type Cgroup struct {
	// Name is the cgroup's name (the container's ID).
	Name string

	// pidsMax bounds tasks (0: no limit).
	pidsMax int
	// tasks counts the cgroup's tasks, as the sandbox's counts do.
	tasks int

	mu      sync.Mutex
	members map[*ThreadGroup]struct{}

	frozen atomic.Bool
	// thawed wakes frozen threads on Thaw and when their group exits.
	thawed kernel.WaitQueue
}

// NewCgroup returns an empty cgroup whose task limit is pidsMax (0: no
// limit).
func NewCgroup(name string, pidsMax int) *Cgroup {
	return &Cgroup{Name: name, pidsMax: max(pidsMax, 0), members: make(map[*ThreadGroup]struct{})}
}

// PidsMax returns the cgroup's task limit (0: none).
func (c *Cgroup) PidsMax() int { return c.pidsMax }

// Members returns the live processes of the cgroup.
func (c *Cgroup) Members() []*ThreadGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*ThreadGroup, 0, len(c.members))
	for tg := range c.members {
		out = append(out, tg)
	}
	return out
}

func (c *Cgroup) add(tg *ThreadGroup) {
	c.mu.Lock()
	c.members[tg] = struct{}{}
	c.mu.Unlock()
}

func (c *Cgroup) remove(tg *ThreadGroup) {
	c.mu.Lock()
	delete(c.members, tg)
	c.mu.Unlock()
}

// Frozen reports whether the cgroup is frozen.
func (c *Cgroup) Frozen() bool { return c.frozen.Load() }

// Freeze stops every thread of every member at its next return to
// application code. It does not wait for them to park.
func (c *Cgroup) Freeze() {
	c.frozen.Store(true)
	for _, tg := range c.Members() {
		for _, th := range tg.Threads() {
			th.Task.Interrupt()
		}
	}
}

// Thaw releases the frozen threads.
func (c *Cgroup) Thaw() {
	c.frozen.Store(false)
	c.thawed.NotifyAll()
}

// Cgroup returns the cgroup tg belongs to (nil for none).
func (tg *ThreadGroup) Cgroup() *Cgroup { return tg.cgroup }

// joinFreezeIfFrozen parks the calling thread while its cgroup is frozen
// and reports whether it did. It returns early when the thread is exiting.
// Preconditions: t is the calling thread; t.TG.mu is not held.
func (t *Thread) joinFreezeIfFrozen() bool {
	c := t.TG.cgroup
	if c == nil || !c.frozen.Load() {
		return false
	}
	c.thawed.Wait(t.Task, func() bool {
		return !c.frozen.Load() || t.exiting.Load()
	}, kernel.WaitOpts{Timeout: kernel.Forever})
	return true
}
