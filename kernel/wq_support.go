package kernel

import "time"

// This file holds the one primitive the workqueue package needs that the
// rest of the core does not offer: a running task moving itself to
// another CPU. A workqueue's rescuer kthread serves every pool of its
// workqueue and must run each pool's items on that pool's CPU, so before
// it takes a bound pool's items it rebinds itself (Linux's rescuer does
// the same through worker_attach_to_pool and set_cpus_allowed_ptr).

// MoveSelf restricts the calling task to the CPUs in aff and, if the CPU it
// holds is not one of them, gives that CPU up and returns once it runs on
// an allowed one. It does not sleep (the task stays runnable), so a
// workqueue worker's Sleeping hook is not called. An empty aff means every
// CPU.
//
// Preconditions: t is the calling task and holds a CPU; aff contains at
// least one of the kernel's CPUs.
func (t *Task) MoveSelf(aff CPUSet) {
	if aff.Empty() {
		aff = AllCPUs(len(t.k.cpus))
	}
	t.mu.Lock()
	t.affinity = aff
	t.mu.Unlock()
	c := t.cpu.Load()
	if aff.Has(c.id) {
		return
	}
	c.mu.Lock()
	assert(c.curr == t, "MoveSelf of task %d not running on cpu %d", t.tid, c.id)
	t.needResched.Store(false)
	c.putPrevLocked(t, time.Now())
	t.nvcsw.Add(1)
	t.state.Store(int32(TaskRunnable))
	// Leave with the vruntime relative to this queue's floor, as a task
	// migrated by the balancer does.
	t.se.vruntime -= c.rq.minVruntime
	t.se.relative = true
	t.syncGrace = 0
	next := c.switchLocked(c.currSince)
	c.mu.Unlock()
	next.grantCPU()
	// selectCPU honours the new affinity.
	t.k.enqueue(t)
	t.waitForCPU()
}
