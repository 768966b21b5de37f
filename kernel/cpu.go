package kernel

import (
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"time"
)

// CPUSet is a set of sandbox CPUs (at most 1024, as Linux's default
// cpumask).
type CPUSet struct {
	bits [16]uint64
}

// AllCPUs returns the set {0, ..., n-1}.
func AllCPUs(n int) CPUSet {
	var s CPUSet
	for i := 0; i < n; i++ {
		s.Set(i)
	}
	return s
}

// Set adds cpu to the set.
func (s *CPUSet) Set(cpu int) { s.bits[cpu/64] |= 1 << (cpu % 64) }

// Has reports whether cpu is in the set.
func (s CPUSet) Has(cpu int) bool {
	return cpu >= 0 && cpu < 1024 && s.bits[cpu/64]&(1<<(cpu%64)) != 0
}

// Empty reports whether the set has no CPU.
func (s CPUSet) Empty() bool { return s == CPUSet{} }

// Count returns the number of CPUs in the set.
func (s CPUSet) Count() int {
	n := 0
	for _, w := range s.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// Bytes returns the set as a Linux cpumask of size bytes.
func (s CPUSet) Bytes(size int) []byte {
	b := make([]byte, size)
	for i := 0; i < size && i < 128; i++ {
		b[i] = byte(s.bits[i/8] >> (8 * (i % 8)))
	}
	return b
}

// CPUSetFromBytes reads a Linux cpumask.
func CPUSetFromBytes(b []byte) CPUSet {
	var s CPUSet
	for i := 0; i < len(b) && i < 128; i++ {
		s.bits[i/8] |= uint64(b[i]) << (8 * (i % 8))
	}
	return s
}

// Intersect returns s ∩ o.
func (s CPUSet) Intersect(o CPUSet) CPUSet {
	for i := range s.bits {
		s.bits[i] &= o.bits[i]
	}
	return s
}

// String formats the set as a Linux cpu list ("0-1,3").
func (s CPUSet) String() string {
	var parts []string
	for i := 0; i < 1024; i++ {
		if !s.Has(i) {
			continue
		}
		j := i
		for j+1 < 1024 && s.Has(j+1) {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(i))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", i, j))
		}
		i = j
	}
	return strings.Join(parts, ",")
}

// CPU is one of the sandbox's CPUs: a run queue and the task that holds it.
type CPU struct {
	k       *Kernel
	id      int
	hostCPU int // the host CPU tasks on this CPU are pinned to (Kernel.hostCPUs[hostIdx])
	hostIdx int // id mod H

	mu        sync.Mutex
	curr      *Task
	currSince time.Time
	rq        runQueue

	// Time accounting, protected by mu. idleSince is zero while a task
	// holds the CPU.
	busy      time.Duration
	idleSince time.Time
	idleTotal time.Duration
	// acct is the user-time accounting (accounting.go).
	acct cpuAcct
	// syncWakee is a task queued here by a synchronous wake-up whose
	// waker, syncWaker, still holds the CPU (sync.go); protected by mu.
	syncWakee, syncWaker *Task
	// syncTicked is set by the first tick that finds syncWakee queued.
	syncTicked bool
}

func newCPU(k *Kernel, id int) *CPU {
	return &CPU{
		k:         k,
		id:        id,
		hostCPU:   k.hostCPUs[id%len(k.hostCPUs)],
		hostIdx:   id % len(k.hostCPUs),
		idleSince: time.Now(),
	}
}

// taken and released count a task taking and giving up the CPU
// (CPU.curr set and cleared) in the kernel's per-host-CPU holder counts:
// HostCPUsBusy.
func (c *CPU) taken() {
	if c.k.hostHeld[c.hostIdx].Add(1) == 1 {
		c.k.hostsBusy.Add(1)
	}
}

func (c *CPU) released() {
	if c.k.hostHeld[c.hostIdx].Add(-1) == 0 {
		c.k.hostsBusy.Add(-1)
	}
}

// ID returns the CPU's index.
func (c *CPU) ID() int { return c.id }

// HostCPU returns the host CPU this CPU's work is pinned to.
func (c *CPU) HostCPU() int { return c.hostCPU }

// idle reports whether nothing holds the CPU and nothing waits for it.
func (c *CPU) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.curr == nil && c.rq.empty()
}

// load returns the number of tasks holding or waiting for the CPU.
func (c *CPU) load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.rq.len()
	if c.curr != nil {
		n++
	}
	return n
}

// NrRunning returns the number of runnable tasks on the CPU, the running
// one included (for /proc/loadavg and procs_running).
func (c *CPU) NrRunning() int { return c.load() }

// Times returns how long the CPU has been busy and idle since boot.
func (c *CPU) Times() (busy, idle time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	busy, idle = c.busy, c.idleTotal
	if c.curr != nil {
		busy += time.Since(c.currSince)
	} else if !c.idleSince.IsZero() {
		idle += time.Since(c.idleSince)
	}
	return
}

// putPrevLocked ends the running task's turn on the CPU at now: its CPU
// time and vruntime are charged. The caller then puts it where it belongs
// (run queue, asleep, dead) and calls switchLocked.
// Preconditions: c.mu is held; t is c.curr.
func (c *CPU) putPrevLocked(t *Task, now time.Time) {
	if Debug {
		assert(c.curr == t, "task %d is not running on cpu %d", t.tid, c.id)
	}
	delta := now.Sub(c.currSince)
	t.sumExec.Add(int64(delta))
	c.chargeLocked(t, delta)
	c.busy += delta
	c.curr = nil
	c.released()
	c.currSince = now
}

// enqueueLocked queues a runnable task on this CPU. A task that slept or
// migrated carries its vruntime relative to its old queue's floor; it is
// re-based on this queue's, with at most half a latency period of credit.
// Preconditions: c.mu is held.
func (c *CPU) enqueueLocked(t *Task, front bool) {
	e := &t.se
	if e.relative {
		e.vruntime = max(e.vruntime, -int64(schedLatency/2)) + c.rq.minVruntime
		e.relative = false
	}
	t.cpu.Store(c)
	t.acct.queued() // run-delay accounting (accounting.go)
	if front {
		c.rq.pushFront(t)
	} else {
		c.rq.push(t)
	}
}

// dequeueRelativeLocked takes a queued task off this CPU for migration,
// leaving its vruntime relative to this queue's floor.
// Preconditions: c.mu is held; t is queued here.
func (c *CPU) dequeueRelativeLocked(t *Task) {
	c.rq.remove(t)
	if t == c.syncWakee {
		c.syncWakee, c.syncWaker = nil, nil
	}
	t.se.vruntime -= c.rq.minVruntime
	t.se.relative = true
}

// switchLocked chooses the next runnable task to hold the CPU, pulling one
// from a busier CPU if its own queue is empty, or leaves the CPU idle. The
// previous holder has already been put away (putPrevLocked). It returns the
// chosen task, or nil; the caller wakes it with grantCPU after dropping
// c.mu (the host wake-up is not made under the lock: on one host CPU it
// may switch to the woken thread at once).
// Preconditions: c.mu is held; c.curr == nil.
func (c *CPU) switchLocked(now time.Time) *Task {
	if Debug {
		assert(c.curr == nil, "switch on cpu %d with task %d still running", c.id, tidOf(c.curr))
	}
	if c.rq.empty() {
		c.pullLocked()
	}
	next := c.rq.pop()
	if next == nil {
		if c.idleSince.IsZero() {
			c.idleSince = now
		}
		return nil
	}
	if !c.idleSince.IsZero() {
		c.idleTotal += now.Sub(c.idleSince)
		c.idleSince = time.Time{}
	}
	if Debug {
		assert(next.State() == TaskRunnable, "picked task %d in state %v", next.tid, next.State())
	}
	if next == c.syncWakee {
		// The synchronous wake-up paid off: the waker gave up this
		// CPU and its wakee takes it here (sync.go).
		c.k.syncStats.direct.Add(1)
	}
	// Whoever runs now, the waker's turn is over: a wakee still queued
	// is an ordinary queued task from here on.
	c.syncWakee, c.syncWaker = nil, nil
	c.curr = next
	c.taken()
	c.currSince = now
	if next.se.params.Policy == SchedRR && next.se.rrLeft <= 0 {
		next.se.rrLeft = rrTimeslice
	}
	next.se.sliceStart = now
	next.needResched.Store(false)
	next.cpu.Store(c)
	next.acct.picked() // run-delay and timeslice accounting (accounting.go)
	c.k.ctxSwitches.Add(1)
	return next
}

func tidOf(t *Task) int32 {
	if t == nil {
		return 0
	}
	return t.tid
}

// pullLocked moves one runnable task allowed here from the busiest other
// CPU (idle balancing). Other CPUs' locks are only tried, never waited
// for, so two CPUs pulling from each other cannot deadlock.
// Preconditions: c.mu is held.
func (c *CPU) pullLocked() {
	var busiest *CPU
	most := 0
	for _, o := range c.k.cpus {
		if o == c || !o.mu.TryLock() {
			continue
		}
		if n := o.rq.len(); n > most {
			if busiest != nil {
				busiest.mu.Unlock()
			}
			busiest, most = o, n
			continue
		}
		o.mu.Unlock()
	}
	if busiest == nil {
		return
	}
	if t := busiest.rq.stealable(c.id); t != nil {
		busiest.dequeueRelativeLocked(t)
		c.enqueueLocked(t, false)
	}
	busiest.mu.Unlock()
}

// tick is the CPU's timer interrupt: it asks the running task to give up
// the CPU when its slice is over and another task is waiting.
func (c *CPU) tick(now time.Time) {
	c.mu.Lock()
	curr := c.curr
	expired := c.tickExpiredLocked(now)
	// A synchronous wakee does not wait more than a full tick period
	// for its waker to block (sync.go): the first tick after the
	// placement marks it, the next releases it.
	var w *Task
	if c.syncWakee != nil {
		if c.syncTicked {
			w = c.releaseSyncWakeeLocked()
		}
		c.syncTicked = true
	}
	c.mu.Unlock()
	if w != nil {
		c.k.enqueue(w)
	}
	if expired {
		curr.preempt()
	}
}

func (c *CPU) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := "idle"
	if c.curr != nil {
		cur = fmt.Sprintf("%d (%s)", c.curr.tid, c.curr.comm)
	}
	var q []string
	for _, t := range c.rq.tasks() {
		q = append(q, fmt.Sprint(t.tid))
	}
	return fmt.Sprintf("cpu %d (host %d): running %s; queued [%s]", c.id, c.hostCPU, cur, strings.Join(q, " "))
}
