package process

import (
	"sync"
	"time"
)

// CPU time a process keeps after its threads are gone (Linux's
// signal_struct utime/stime, cutime/cstime): a thread that exits adds its
// time to its group's exited totals, and a child that its parent waits for
// (or that is reaped because nobody will) adds its own total and its
// children's to the parent's children totals. getrusage, times, wait4's
// rusage, waitid's si_utime/si_stime, /proc/PID/stat and the interval
// timers read them.
//
// Locking: cpuTotals.mu is a leaf; it may be taken with ThreadGroup.mu or
// Sandbox.mu held.
type cpuTotals struct {
	mu                        sync.Mutex
	exitedUser, exitedSys     time.Duration
	exitedNvcsw, exitedNivcsw uint64
	childUser, childSys       time.Duration
	childNvcsw, childNivcsw   uint64
}

// noteThreadExitLocked adds the exiting thread t's CPU time to its group's
// exited totals. Preconditions: tg.mu is held and t was just removed from
// tg.threads (so no reader counts it twice).
func (tg *ThreadGroup) noteThreadExitLocked(t *Thread) {
	u, s := t.Task.Times()
	nv, niv := t.Task.ContextSwitches()
	tg.cpu.mu.Lock()
	tg.cpu.exitedUser += u
	tg.cpu.exitedSys += s
	tg.cpu.exitedNvcsw += nv
	tg.cpu.exitedNivcsw += niv
	tg.cpu.mu.Unlock()
}

// usage returns the CPU time and context switches of the whole process:
// its live threads and those that have exited.
func (tg *ThreadGroup) usage() (user, sys time.Duration, nv, niv uint64) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for _, th := range tg.threads {
		u, s := th.Task.Times()
		v, iv := th.Task.ContextSwitches()
		user, sys, nv, niv = user+u, sys+s, nv+v, niv+iv
	}
	tg.cpu.mu.Lock()
	defer tg.cpu.mu.Unlock()
	return user + tg.cpu.exitedUser, sys + tg.cpu.exitedSys,
		nv + tg.cpu.exitedNvcsw, niv + tg.cpu.exitedNivcsw
}

// CPUTimes returns the user and system CPU time of the whole process: its
// live threads and those that have exited.
func (tg *ThreadGroup) CPUTimes() (user, sys time.Duration) {
	user, sys, _, _ = tg.usage()
	return user, sys
}

// ContextSwitches returns the voluntary and involuntary context switches
// of the whole process, exited threads included.
func (tg *ThreadGroup) ContextSwitches() (nv, niv uint64) {
	_, _, nv, niv = tg.usage()
	return nv, niv
}

// ChildrenCPUTimes returns the user and system CPU time of the children
// the process has reaped, and of theirs (RUSAGE_CHILDREN).
func (tg *ThreadGroup) ChildrenCPUTimes() (user, sys time.Duration) {
	tg.cpu.mu.Lock()
	defer tg.cpu.mu.Unlock()
	return tg.cpu.childUser, tg.cpu.childSys
}

// ChildrenContextSwitches is ChildrenCPUTimes for context switches.
func (tg *ThreadGroup) ChildrenContextSwitches() (nv, niv uint64) {
	tg.cpu.mu.Lock()
	defer tg.cpu.mu.Unlock()
	return tg.cpu.childNvcsw, tg.cpu.childNivcsw
}

// zombieTotals returns what a zombie c hands its parent when reaped: its
// own CPU time (every thread has exited) plus its reaped children's.
func (c *ThreadGroup) zombieTotals() (user, sys time.Duration, nv, niv uint64) {
	c.cpu.mu.Lock()
	defer c.cpu.mu.Unlock()
	return c.cpu.exitedUser + c.cpu.childUser, c.cpu.exitedSys + c.cpu.childSys,
		c.cpu.exitedNvcsw + c.cpu.childNvcsw, c.cpu.exitedNivcsw + c.cpu.childNivcsw
}

// noteChildReaped adds the reaped zombie c's totals to parent's children
// totals.
func (parent *ThreadGroup) noteChildReaped(c *ThreadGroup) {
	u, s, nv, niv := c.zombieTotals()
	parent.cpu.mu.Lock()
	parent.cpu.childUser += u
	parent.cpu.childSys += s
	parent.cpu.childNvcsw += nv
	parent.cpu.childNivcsw += niv
	parent.cpu.mu.Unlock()
}
