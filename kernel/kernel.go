// Package kernel is the sandbox's kernel core: CPUs, tasks, the scheduler
// that hands CPUs to tasks, wait queues and the kthread API with kthreadd.
//
// # Tasks and CPUs
//
// A Task is a goroutine locked to its own host thread plus scheduling state.
// User threads and kernel threads are both Tasks. A task runs (sentry code or
// application code) only while it holds one of the kernel's CPUs; the CPU is
// handed to it by the scheduler and handed on by the task itself when it
// blocks, yields, is preempted or exits. Holding CPU k means the task's host
// thread is pinned to the (k mod H)th of the H host CPUs the sentry may run
// on (see CPU.hostCPU).
//
// Why goroutine-per-task with a locked thread: ptrace is per host thread
// (the thread that attached a tracee is the only one that may drive it), so
// a task that runs application code must always run on the same host
// thread; a syscall that does not block is then served on that thread with
// no goroutine crossing at all. The CPU is a token the scheduler passes
// between these threads, not a thread of its own.
//
// # Task states
//
//	Created ──Start──▶ Runnable ──granted a CPU──▶ Running
//	Running ──Block (prepare)──▶ Blocking ──Schedule──▶ Sleeping
//	Blocking ──Wake──▶ Running        (woken before it gave up the CPU)
//	Sleeping ──Wake──▶ Runnable       (queued on a CPU's run queue)
//	Running ──Yield/preempt──▶ Runnable
//	Running ──exit──▶ Dead
//
// The same diagram, with the kthread states on top, is in ARCHITECTURE.md.
//
// # Lock order
//
//	Kernel.tasksMu  (task table)
//	  CPU.mu        (one run queue at a time; never two CPU locks at once
//	                 except in balance, which takes them in CPU index order)
//	    WaitQueue.mu is never held while taking CPU.mu: wakers collect the
//	    tasks to wake under WaitQueue.mu and call Wake after dropping it.
//	    Task.mu (affinity) is read before a CPU lock is taken, or under it.
//	No lock is held across a hand-off's host calls (grantCPU pins and
//	wakes the chosen task's thread after CPU.mu is dropped: handoff.go),
//	nor across a synchronous wake-up's re-placement (sync.go).
//
// Invariant checks (LK's ASSERT) run when Debug is true; tests turn it on.
package kernel

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/runsc-lite/runsc-lite/kernel/hostcpus"
)

// Debug turns on invariant checks throughout the package.
var Debug = false

// assert panics when cond is false. Call it as `if Debug { assert(...) }`
// so a disabled check costs nothing on hot paths (the variadic arguments
// would otherwise be boxed on every call).
func assert(cond bool, format string, args ...any) {
	if !cond {
		panic("kernel: invariant violated: " + fmt.Sprintf(format, args...))
	}
}

// Config says how to build a kernel.
type Config struct {
	// CPUs is the number of sandbox CPUs (default: the host's count).
	CPUs int
	// Tick is the scheduler tick period (default 4ms, HZ=250).
	Tick time.Duration
}

// Kernel is one sandbox's kernel core.
type Kernel struct {
	cpus     []*CPU
	hostCPUs []int // the host CPUs the sentry may run on, ascending
	tick     time.Duration
	boot     time.Time

	tasksMu sync.Mutex
	tasks   map[int32]*Task
	lastTID int32

	kthreadd *Task
	// kthreadq holds kthread_create requests for kthreadd; Shutdown
	// closes it (kthreadq.mu is a leaf lock).
	kthreadq kthreadQueue

	// idleMu protects idle and idleClosed: host threads of exited tasks
	// waiting for a new task (hostthread.go).
	idleMu     sync.Mutex
	idle       []*hostThread
	idleClosed bool
	// hostThreadIdle is how long an idle host thread waits for a task.
	hostThreadIdle time.Duration

	ctxSwitches atomic.Uint64 // all CPUs, for /proc/stat's ctxt
	// hostHeld counts, per host CPU the sentry started with (indexed
	// like hostCPUs), the sandbox CPUs backed by it that a task holds
	// (CPU.curr set); hostsBusy counts the host CPUs whose count is not
	// zero: HostCPUsBusy. With more sandbox CPUs than host CPUs several
	// sandbox CPUs share a host CPU, and holding two of them occupies one.
	hostHeld  []atomic.Int32
	hostsBusy atomic.Int32
	forks     atomic.Uint64 // tasks created, for /proc/stat's processes
	syncStats syncStats     // synchronous wake-ups (sync.go)

	stopTick chan struct{}
	tickWG   sync.WaitGroup

	// load is the load average calculator, fed by the tick (loadavg.go).
	load loadAvg

	plugins
}

// New builds a kernel with cfg's CPUs and starts its per-CPU ticks. It
// does not start kthreadd; call StartKthreadd once the PID of the first
// user task has been reserved (the sandbox's init is PID 1, kthreadd 2).
func New(cfg Config) *Kernel {
	host := hostcpus.Allowed()
	n := cfg.CPUs
	if n <= 0 {
		n = len(host)
	}
	tick := cfg.Tick
	if tick <= 0 {
		tick = 4 * time.Millisecond
	}
	k := &Kernel{
		hostCPUs:       host,
		hostHeld:       make([]atomic.Int32, len(host)),
		tick:           tick,
		boot:           time.Now(),
		tasks:          make(map[int32]*Task),
		stopTick:       make(chan struct{}),
		hostThreadIdle: hostThreadIdle,
	}
	for i := 0; i < n; i++ {
		k.cpus = append(k.cpus, newCPU(k, i))
	}
	k.tickWG.Add(1)
	go k.tickLoop()
	return k
}

// NumCPUs returns the number of sandbox CPUs.
func (k *Kernel) NumCPUs() int { return len(k.cpus) }

// HostCPUsBusy reports whether the sandbox's tasks hold a CPU on every
// host CPU the sentry has (never with fewer sandbox CPUs than host CPUs;
// with more, two held sandbox CPUs on one host CPU occupy one): a snapshot, for a platform deciding whether its own host threads
// may use a host CPU besides the task's without taking it from another
// task of the sandbox (systrap's spin). It never blocks and may be
// called from any goroutine.
func (k *Kernel) HostCPUsBusy() bool { return int(k.hostsBusy.Load()) >= len(k.hostCPUs) }

// heldCPUs returns how many sandbox CPUs a task holds (tests).
func (k *Kernel) heldCPUs() int32 {
	var n int32
	for i := range k.hostHeld {
		n += k.hostHeld[i].Load()
	}
	return n
}

// CPU returns CPU i.
func (k *Kernel) CPU(i int) *CPU { return k.cpus[i] }

// BootTime returns when the kernel was built.
func (k *Kernel) BootTime() time.Time { return k.boot }

// ContextSwitches returns the number of CPU hand-offs since boot.
func (k *Kernel) ContextSwitches() uint64 { return k.ctxSwitches.Load() }

// Forks returns the number of tasks created since boot.
func (k *Kernel) Forks() uint64 { return k.forks.Load() }

// ReserveTID takes the next free TID for a task that will be created later
// with that TID (the sandbox's init reserves 1 before kthreadd takes 2).
func (k *Kernel) ReserveTID() int32 {
	k.tasksMu.Lock()
	defer k.tasksMu.Unlock()
	return k.allocTIDLocked()
}

// ReserveTIDAt takes TID tid for a task that will be created with it
// (clone3's set_tid naming the sandbox's own PID namespace's ID); false
// if a task has it or it is reserved already.
func (k *Kernel) ReserveTIDAt(tid int32) bool {
	k.tasksMu.Lock()
	defer k.tasksMu.Unlock()
	if _, used := k.tasks[tid]; used || tid <= 0 {
		return false
	}
	k.tasks[tid] = nil
	return true
}

func (k *Kernel) allocTIDLocked() int32 {
	for {
		k.lastTID++
		if k.lastTID <= 0 || k.lastTID >= 1<<22 {
			k.lastTID = 1
		}
		if _, ok := k.tasks[k.lastTID]; !ok {
			// Hold the TID with a nil entry until the task is
			// registered.
			k.tasks[k.lastTID] = nil
			return k.lastTID
		}
	}
}

// TaskByTID returns the live task with that TID, or nil.
func (k *Kernel) TaskByTID(tid int32) *Task {
	k.tasksMu.Lock()
	defer k.tasksMu.Unlock()
	return k.tasks[tid]
}

// Tasks returns every registered task, sorted by TID.
func (k *Kernel) Tasks() []*Task {
	k.tasksMu.Lock()
	ts := make([]*Task, 0, len(k.tasks))
	for _, t := range k.tasks {
		if t != nil {
			ts = append(ts, t)
		}
	}
	k.tasksMu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].tid < ts[j].tid })
	return ts
}

// Shutdown stops the ticks. Tasks still alive are left to their owners.
func (k *Kernel) Shutdown() {
	select {
	case <-k.stopTick:
	default:
		close(k.stopTick)
	}
	k.tickWG.Wait()
	k.stopIdleHostThreads()
	if k.kthreadd != nil {
		k.kthreadq.close()
	}
}

// tickLoop is every CPU's timer interrupt: on each tick it charges the
// running task and asks it to reschedule when its slice is over and
// something else is waiting for its CPU.
func (k *Kernel) tickLoop() {
	defer k.tickWG.Done()
	tk := time.NewTicker(k.tick)
	defer tk.Stop()
	ticks := 0
	for {
		select {
		case <-k.stopTick:
			return
		case now := <-tk.C:
			for _, c := range k.cpus {
				c.tick(now)
			}
			k.load.tick(k, now) // load average (loadavg.go)
			ticks++
			if ticks%balanceTicks == 0 {
				k.balance()
			}
		}
	}
}

// DumpAll logs every task and run queue (LK's dump_all_threads).
func (k *Kernel) DumpAll(log logrus.FieldLogger) {
	for _, c := range k.cpus {
		log.Info(c.dump())
	}
	for _, t := range k.Tasks() {
		log.Info(t.dump())
	}
}

// balanceTicks is how often (in ticks) the periodic balancer runs.
const balanceTicks = 8

// balance is the periodic load balancer: when the busiest CPU has at least
// two more runnable tasks than the idlest, one queued task that may run on
// the idlest moves there. Locks are taken in CPU index order.
func (k *Kernel) balance() {
	if len(k.cpus) < 2 {
		return
	}
	var busiest, idlest *CPU
	hi, lo := -1, int(^uint(0)>>1)
	for _, c := range k.cpus {
		l := c.load()
		if l > hi {
			busiest, hi = c, l
		}
		if l < lo {
			idlest, lo = c, l
		}
	}
	if busiest == idlest || hi-lo < 2 {
		return
	}
	a, b := busiest, idlest
	if a.id > b.id {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
	var next *Task
	if t := busiest.rq.stealable(idlest.id); t != nil {
		busiest.dequeueRelativeLocked(t)
		idlest.enqueueLocked(t, false)
		if idlest.curr == nil {
			next = idlest.switchLocked(time.Now())
		} else if idlest.shouldPreemptLocked(t) {
			idlest.curr.preempt()
		}
	}
	b.mu.Unlock()
	a.mu.Unlock()
	next.grantCPU()
}
