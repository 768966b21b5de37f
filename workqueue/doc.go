// Package workqueue is the sandbox's deferred-work machinery: Linux's
// concurrency-managed workqueues (Documentation/core-api/workqueue.rst),
// run by real kernel threads of package kernel. It owns work items, delayed
// work items, workqueues, the worker pools that serve them, their kworker
// and rescuer kthreads, the system workqueues and the debug dump of all of
// it.
//
// # Model
//
// A work item (Work) is a function to run later in process context. It is
// queued on a workqueue (Workqueue), which only says how its items are to
// be run (flags, max_active); the items are executed by the workers of a
// worker pool. Between a workqueue and a pool sits a pool_workqueue (pwq):
// it counts the workqueue's active items in that pool against max_active
// and keeps the items over the limit on its inactive list.
//
// Pools:
//
//   - Per CPU there are two pools, normal (nice 0) and high priority
//     (nice -20). Their workers are bound to the CPU, so an item queued on
//     CPU k runs on CPU k. A per-CPU workqueue has one pwq per CPU.
//   - Unbound workqueues share two unbound pools (normal and high
//     priority) whose workers may run on every CPU. An unbound workqueue
//     has one pwq. Ordered workqueues are unbound with max_active 1.
//
// # Naming
//
// Pool IDs are assigned as in Linux: CPU c's normal pool is 2c, its high
// priority pool 2c+1, then the unbound pools follow (2N and 2N+1 with N
// CPUs). Workers are named after their pool and their ID in it (the
// smallest free one):
//
//	kworker/N:M    worker M of CPU N's normal pool
//	kworker/N:MH   worker M of CPU N's high-priority pool (nice -20)
//	kworker/uP:M   worker M of unbound pool P
//
// A workqueue with MemReclaim has a rescuer kthread named after the
// workqueue itself. Every worker and rescuer is a kthread, child of
// kthreadd, with PF_WQ_WORKER set, so it shows in the sandbox's ps -ef as
// [kworker/0:1] and its CPU time in /proc/PID/stat.
//
// # Concurrency management
//
// The rules, which the code follows (pool.go):
//
//  1. A pool counts its running workers (nr_running): workers that are
//     executing items and are not asleep. Idle workers, a worker between
//     items (PREP), the manager, a worker running an item of a
//     CPUIntensive workqueue and rescuers do not count.
//  2. A pool wants concurrency c running workers: 1 for a per-CPU pool,
//     the number of CPUs for an unbound pool. (Linux leaves unbound pools
//     unmanaged; here a worker is a host thread, so unbounded fan-out is
//     expensive, and "one running worker per CPU" is the right target.)
//  3. need_more_worker: items are waiting and nr_running < c. Queueing an
//     item wakes the most recently idle worker when this holds.
//  4. keep_working: items are waiting and nr_running <= c. A worker keeps
//     taking items while this holds, then goes idle.
//  5. When a counted worker blocks, the scheduler calls its Sleeping hook
//     (Linux's wq_worker_sleeping) on the worker's own task just before it
//     gives up its CPU: nr_running drops and, if rule 3 now holds, an idle
//     worker is woken. The hook never blocks and never creates a thread.
//     The Running hook (wq_worker_running) counts the worker back in when
//     it runs again. Preemption does not call the hooks.
//  6. A pool always tries to keep an idle worker in reserve, so rule 5 has
//     someone to wake: a worker that leaves idle and finds none left
//     becomes the pool's manager (at most one at a time) and creates a new
//     worker before it takes items. Creating a kthread blocks (kthreadd
//     does it); the manager sleeps through it, with PREP set, so it is not
//     counted. If creation fails it retries every CreateCooldown.
//  7. If the manager has not succeeded within MaydayInitial (then every
//     MaydayInterval), the pool sends a mayday for each waiting item's pwq
//     whose workqueue has a rescuer; the rescuer moves itself to the
//     pool's CPU and runs that pwq's items. This is the forward-progress
//     guarantee of MemReclaim workqueues.
//  8. Idle workers beyond two are retired once idle for IdleTimeout
//     (Linux: 5 minutes), keeping at most one idle worker per four busy
//     ones (too_many_workers).
//  9. A work item queued on one workqueue never runs twice at once:
//     queueing an item still running from that workqueue sends it to the
//     pool where it runs, and a worker that picks an item another worker
//     of its pool is running hands it to that worker (its scheduled list).
//
// Queueing an item that is already pending does nothing and returns false.
// An item is no longer pending once a worker has started it, so it may
// queue itself again from its own function.
//
// # Callers that block
//
// Functions that wait (Flush, FlushQueue, Drain, CancelSync, Destroy,
// BlockingIO, and the users in users.go) take the calling task, or nil from a goroutine
// that is not a task. A task waits through kernel.Completion so its CPU is
// released (and, for a worker, its pool is told through the Sleeping
// hook); a plain goroutine waits on a channel. Never pass nil from a task:
// it would hold its CPU while it waits.
//
// # Lock order
//
//	DelayedWork.mu              (timer arming; taken before queueing)
//	  workerPool.mu             (at most one pool at a time)
//	    Work.inst.mu            (instance/flush bookkeeping, leaf)
//	    Workqueue.colorMu       (flush colors, leaf)
//	    Workqueue.maydayMu      (rescuer requests, leaf)
//	    Workqueue.delayedMu     (armed delayed items, leaf)
//	    kernel.WaitQueue.mu -> kernel.CPU.mu   (waking workers)
//	System.mu                   (workqueue list; never held with the above)
//
// The locks of users.go (HostFDCloser, Writeback, WritebackSet) are leaves
// taken outside all of these.
//
// No kernel timer is armed or stopped while a pool lock is held (timer
// callbacks take pool locks). The Work.state word (PENDING bit and a count
// of cancellers) is atomic: whoever sets PENDING owns the item until it is
// on a list, on an armed timer or running.
package workqueue
