package kernel

import (
	"container/heap"
	"fmt"
	"math/bits"
	"time"
)

// Scheduling policies, with Linux's numbers (sched_setscheduler).
const (
	SchedNormal   = 0
	SchedFIFO     = 1
	SchedRR       = 2
	SchedBatch    = 3
	SchedIdle     = 5
	SchedDeadline = 6 // not supported: EINVAL at the syscall
)

// Scheduler parameters (Linux's defaults for a small machine).
const (
	// schedLatency is the period in which every runnable fair task
	// should run once (sysctl_sched_latency).
	schedLatency = 6 * time.Millisecond
	// minGranularity is the shortest fair slice (sched_min_granularity).
	minGranularity = 750 * time.Microsecond
	// wakeupGranularity is how far ahead in vruntime a waking task must
	// be to preempt the running one (sched_wakeup_granularity).
	wakeupGranularity = 1 * time.Millisecond
	// rrTimeslice is SCHED_RR's quantum (RR_TIMESLICE, 100ms).
	rrTimeslice = 100 * time.Millisecond
	// MaxRTPrio is the number of real-time priorities (1..99 used).
	MaxRTPrio = 100
	// nice0Weight is the load weight of a nice-0 task.
	nice0Weight = 1024
	// idleWeight is the weight of a SCHED_IDLE task (WEIGHT_IDLEPRIO).
	idleWeight = 3
)

// niceToWeight is Linux's sched_prio_to_weight table: each nice step is
// about 10% of CPU, weights 1.25x apart.
var niceToWeight = [40]uint64{
	/* -20 */ 88761, 71755, 56483, 46273, 36291,
	/* -15 */ 29154, 23254, 18705, 14949, 11916,
	/* -10 */ 9548, 7620, 6100, 4904, 3906,
	/*  -5 */ 3121, 2501, 1991, 1586, 1277,
	/*   0 */ 1024, 820, 655, 526, 423,
	/*   5 */ 335, 272, 215, 172, 137,
	/*  10 */ 110, 87, 70, 56, 45,
	/*  15 */ 36, 29, 23, 18, 15,
}

// NiceWeight returns the load weight of nice value n.
func NiceWeight(n int) uint64 { return niceToWeight[min(max(n, -20), 19)+20] }

// SchedParams are a task's scheduling class and priority.
type SchedParams struct {
	Policy int
	// RTPriority is 1..99 for SCHED_FIFO/SCHED_RR, 0 otherwise.
	RTPriority int
	// Nice is -20..19 (fair policies).
	Nice int
}

func (p SchedParams) isRT() bool { return p.Policy == SchedFIFO || p.Policy == SchedRR }

// entity is a task's scheduling state, protected by the lock of the CPU
// whose run queue holds it (or by the task itself while it runs).
type entity struct {
	params   SchedParams
	weight   uint64
	vruntime int64 // fair class: weighted ns of CPU time
	// heapIndex is the position in the fair heap (-1: not queued).
	heapIndex int
	// rtNext/rtPrev link the task in its RT priority list.
	rtNext, rtPrev *Task
	queued         bool
	// relative marks a vruntime kept relative to a queue's floor (while
	// asleep or migrating).
	relative bool
	// sliceStart is when the task last got the CPU.
	sliceStart time.Time
	// rrLeft is the SCHED_RR time left in the current quantum.
	rrLeft time.Duration
}

// runQueue is one CPU's runnable tasks: an O(1) bitmap of real-time
// priority lists (LK's run queue with Linux's 100 levels) and a fair queue
// ordered by vruntime (a heap: O(log n) pick, insert and remove).
type runQueue struct {
	rtBitmap [2]uint64 // bit p set: list p non-empty
	rtHead   [MaxRTPrio]*Task
	rtTail   [MaxRTPrio]*Task
	nrRT     int

	fair        fairHeap
	fairWeight  uint64
	minVruntime int64
}

func (r *runQueue) len() int    { return r.nrRT + len(r.fair) }
func (r *runQueue) empty() bool { return r.len() == 0 }

// push queues a runnable task: at the tail of its RT list, or by vruntime.
func (r *runQueue) push(t *Task) {
	e := &t.se
	if Debug {
		assert(!e.queued, "task %d queued twice", t.tid)
	}
	e.queued = true
	if e.params.isRT() {
		p := e.params.RTPriority
		e.rtNext, e.rtPrev = nil, r.rtTail[p]
		if r.rtTail[p] != nil {
			r.rtTail[p].se.rtNext = t
		} else {
			r.rtHead[p] = t
		}
		r.rtTail[p] = t
		r.rtBitmap[p/64] |= 1 << (p % 64)
		r.nrRT++
		return
	}
	heap.Push(&r.fair, t)
	r.fairWeight += e.weight
}

// pushFront queues an RT task at the head of its list (a preempted
// SCHED_FIFO task keeps its place, as in Linux).
func (r *runQueue) pushFront(t *Task) {
	e := &t.se
	if !e.params.isRT() {
		r.push(t)
		return
	}
	e.queued = true
	p := e.params.RTPriority
	e.rtPrev, e.rtNext = nil, r.rtHead[p]
	if r.rtHead[p] != nil {
		r.rtHead[p].se.rtPrev = t
	} else {
		r.rtTail[p] = t
	}
	r.rtHead[p] = t
	r.rtBitmap[p/64] |= 1 << (p % 64)
	r.nrRT++
}

// remove takes a queued task off the queue.
func (r *runQueue) remove(t *Task) {
	e := &t.se
	if Debug {
		assert(e.queued, "removing unqueued task %d", t.tid)
	}
	e.queued = false
	if e.params.isRT() {
		p := e.params.RTPriority
		if e.rtPrev != nil {
			e.rtPrev.se.rtNext = e.rtNext
		} else {
			r.rtHead[p] = e.rtNext
		}
		if e.rtNext != nil {
			e.rtNext.se.rtPrev = e.rtPrev
		} else {
			r.rtTail[p] = e.rtPrev
		}
		e.rtNext, e.rtPrev = nil, nil
		if r.rtHead[p] == nil {
			r.rtBitmap[p/64] &^= 1 << (p % 64)
		}
		r.nrRT--
		return
	}
	heap.Remove(&r.fair, e.heapIndex)
	r.fairWeight -= e.weight
}

// highestRT returns the highest non-empty RT priority, or -1. It is a
// count-leading-zeros over two words: O(1).
func (r *runQueue) highestRT() int {
	if r.rtBitmap[1] != 0 {
		return 127 - bits.LeadingZeros64(r.rtBitmap[1])
	}
	if r.rtBitmap[0] != 0 {
		return 63 - bits.LeadingZeros64(r.rtBitmap[0])
	}
	return -1
}

// peek returns the task pick would return, without removing it.
func (r *runQueue) peek() *Task {
	if p := r.highestRT(); p >= 0 {
		return r.rtHead[p]
	}
	if len(r.fair) > 0 {
		return r.fair[0]
	}
	return nil
}

// pop removes and returns the next task to run: the head of the highest
// RT list, else the fair task with the smallest vruntime.
func (r *runQueue) pop() *Task {
	t := r.peek()
	if t != nil {
		r.remove(t)
		if !t.se.params.isRT() {
			r.updateMinVruntime(t.se.vruntime)
		}
	}
	return t
}

// updateMinVruntime advances the queue's vruntime floor (it never goes
// back, so sleepers cannot bank unbounded credit).
func (r *runQueue) updateMinVruntime(curr int64) {
	m := curr
	if len(r.fair) > 0 && r.fair[0].se.vruntime < m {
		m = r.fair[0].se.vruntime
	}
	if m > r.minVruntime {
		r.minVruntime = m
	}
}

// tasks lists the queued tasks (for dumps), RT first.
func (r *runQueue) tasks() []*Task {
	var ts []*Task
	for p := MaxRTPrio - 1; p >= 0; p-- {
		for t := r.rtHead[p]; t != nil; t = t.se.rtNext {
			ts = append(ts, t)
		}
	}
	return append(ts, r.fair...)
}

// stealable returns a queued task that may run on cpu, preferring fair
// tasks (cheap to move), or nil.
func (r *runQueue) stealable(cpu int) *Task {
	for i := len(r.fair) - 1; i >= 0; i-- {
		if t := r.fair[i]; t.Affinity().Has(cpu) {
			return t
		}
	}
	for p := MaxRTPrio - 1; p >= 0; p-- {
		for t := r.rtHead[p]; t != nil; t = t.se.rtNext {
			if t.Affinity().Has(cpu) {
				return t
			}
		}
	}
	return nil
}

// fairHeap orders fair tasks by vruntime.
type fairHeap []*Task

func (h fairHeap) Len() int { return len(h) }
func (h fairHeap) Less(i, j int) bool {
	if h[i].se.vruntime != h[j].se.vruntime {
		return h[i].se.vruntime < h[j].se.vruntime
	}
	return h[i].tid < h[j].tid
}
func (h fairHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].se.heapIndex = i
	h[j].se.heapIndex = j
}
func (h *fairHeap) Push(x any) {
	t := x.(*Task)
	t.se.heapIndex = len(*h)
	*h = append(*h, t)
}
func (h *fairHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.se.heapIndex = -1
	return t
}

// fairSlice is how long a fair task runs before the tick preempts it:
// its weighted share of the latency period, at least minGranularity.
func (c *CPU) fairSliceLocked(t *Task) time.Duration {
	total := c.rq.fairWeight + t.se.weight
	period := schedLatency
	if n := len(c.rq.fair) + 1; time.Duration(n)*minGranularity > period {
		period = time.Duration(n) * minGranularity
	}
	s := time.Duration(uint64(period) * t.se.weight / total)
	return max(s, minGranularity)
}

// chargeLocked accounts delta of CPU time to the running task: vruntime
// for fair tasks, the quantum for SCHED_RR.
func (c *CPU) chargeLocked(t *Task, delta time.Duration) {
	e := &t.se
	switch e.params.Policy {
	case SchedFIFO:
	case SchedRR:
		e.rrLeft -= delta
	default:
		e.vruntime += int64(uint64(delta) * nice0Weight / e.weight)
		c.rq.updateMinVruntime(e.vruntime)
	}
}

// placeLocked sets a fair task's vruntime as it joins this CPU's queue
// after sleeping or migrating: no further back than half a latency
// period behind the queue's floor, so a long sleeper gets a prompt turn
// but cannot monopolise the CPU.
func (c *CPU) placeLocked(t *Task) {
	e := &t.se
	if e.params.isRT() {
		return
	}
	floor := c.rq.minVruntime - int64(schedLatency/2)
	if e.vruntime < floor {
		e.vruntime = floor
	}
}

// shouldPreemptLocked reports whether a newly queued task should take the
// CPU from the running one now (Linux's check_preempt_curr).
// Preconditions: c.mu is held; c.curr != nil.
func (c *CPU) shouldPreemptLocked(t *Task) bool {
	cur := &c.curr.se
	n := &t.se
	switch {
	case n.params.isRT() && cur.params.isRT():
		return n.params.RTPriority > cur.params.RTPriority
	case n.params.isRT():
		return true
	case cur.params.isRT():
		return false
	case n.params.Policy == SchedIdle && cur.params.Policy != SchedIdle:
		return false
	case cur.params.Policy == SchedIdle && n.params.Policy != SchedIdle:
		return true
	case n.params.Policy == SchedBatch:
		// Batch tasks never preempt on wake-up.
		return false
	}
	// The running task's vruntime including its slice in progress.
	running := cur.vruntime + int64(uint64(time.Since(c.currSince))*nice0Weight/cur.weight)
	return running-n.vruntime > int64(wakeupGranularity)*nice0Weight/int64(n.weight)
}

// tickExpiredLocked reports whether the running task's slice is over and
// another task is waiting for this CPU.
func (c *CPU) tickExpiredLocked(now time.Time) bool {
	t := c.curr
	if t == nil || c.rq.empty() {
		return false
	}
	e := &t.se
	ran := now.Sub(e.sliceStart)
	switch e.params.Policy {
	case SchedFIFO:
		// Runs until it blocks or yields, unless something of higher
		// priority is waiting.
		return c.rq.highestRT() > e.params.RTPriority
	case SchedRR:
		if c.rq.highestRT() > e.params.RTPriority {
			return true
		}
		return e.rrLeft-ran <= 0 && c.rq.highestRT() == e.params.RTPriority
	}
	if c.rq.nrRT > 0 {
		return true
	}
	return ran >= c.fairSliceLocked(t)
}

// SchedParams returns the task's scheduling parameters.
func (t *Task) SchedParams() SchedParams {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.se.params
}

// SetSchedParams changes the task's policy and priority
// (sched_setscheduler, setpriority). The change takes effect at once: a
// queued task is requeued, a running one re-evaluated at its next tick.
func (t *Task) SetSchedParams(p SchedParams) error {
	switch p.Policy {
	case SchedFIFO, SchedRR:
		if p.RTPriority < 1 || p.RTPriority > 99 {
			return fmt.Errorf("real-time priority %d out of range 1-99", p.RTPriority)
		}
	case SchedNormal, SchedBatch, SchedIdle:
		if p.RTPriority != 0 {
			return fmt.Errorf("priority %d for a non-real-time policy", p.RTPriority)
		}
	default:
		return fmt.Errorf("unsupported policy %d", p.Policy)
	}
	p.Nice = min(max(p.Nice, -20), 19)
	// Find the CPU whose queue may hold the task and lock it, so the
	// parameters never change under a queued task.
	for {
		c := t.cpu.Load()
		if c == nil {
			t.mu.Lock()
			if t.cpu.Load() == nil {
				t.setParamsLocked(p)
				t.mu.Unlock()
				return nil
			}
			t.mu.Unlock()
			continue
		}
		c.mu.Lock()
		if t.cpu.Load() != c {
			c.mu.Unlock()
			continue
		}
		queued := t.se.queued
		if queued {
			c.rq.remove(t)
		}
		t.mu.Lock()
		t.setParamsLocked(p)
		t.mu.Unlock()
		if queued {
			c.placeLocked(t)
			c.rq.push(t)
			if c.curr != nil && c.curr != t && c.shouldPreemptLocked(t) {
				c.curr.preempt()
			}
		} else if c.curr == t && !c.rq.empty() {
			if next := c.rq.peek(); next != nil && c.shouldPreemptLocked(next) {
				t.needResched.Store(true)
			}
		}
		c.mu.Unlock()
		return nil
	}
}

// setParamsLocked. Preconditions: t.mu held and t not queued.
func (t *Task) setParamsLocked(p SchedParams) {
	t.se.params = p
	t.nice = p.Nice
	switch p.Policy {
	case SchedIdle:
		t.se.weight = idleWeight
	default:
		t.se.weight = NiceWeight(p.Nice)
	}
	if p.Policy == SchedRR {
		t.se.rrLeft = rrTimeslice
	}
}

// SetAffinity restricts the task to mask (sched_setaffinity). A task that
// is queued on or running on a CPU outside the mask moves: a queued one at
// once, a running one at its next preemption point.
// Preconditions: mask is not empty and names existing CPUs.
func (t *Task) SetAffinity(mask CPUSet) {
	t.mu.Lock()
	t.affinity = mask
	t.mu.Unlock()
	c := t.cpu.Load()
	if c == nil || mask.Has(c.id) {
		return
	}
	c.mu.Lock()
	if t.cpu.Load() == c && t.se.queued {
		c.dequeueRelativeLocked(t)
		c.mu.Unlock()
		t.k.enqueue(t)
		return
	}
	running := c.curr == t
	c.mu.Unlock()
	if running {
		// Its next preemption point moves it (requeue checks
		// affinity).
		t.preempt()
	}
}
