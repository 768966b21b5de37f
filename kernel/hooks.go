package kernel

import (
	"sync/atomic"
	"time"
)

// This file holds the points where the kthread subsystems plug into the
// kernel core without the core importing them: the timer service (the
// TIMER softirq's timer bases replace Go's timers here), the irq-exit
// handler (where pending softirqs run), and the sleep/wake callbacks of
// workqueue workers (concurrency management).

// Timer is a pending one-shot timer.
type Timer interface {
	// Stop cancels the timer; it reports whether it was still pending.
	Stop() bool
}

// TimerService arms one-shot timers on a CPU's timer base.
type TimerService interface {
	// AfterFunc calls f once, from the timer base of cpu, after d. f
	// runs in softirq (interrupt) context: it must not block; it may
	// wake tasks.
	AfterFunc(cpu int, d time.Duration, f func()) Timer
}

// goTimers is the timer service used before (or without) the softirq
// machinery: Go's own timers.
type goTimers struct{}

func (goTimers) AfterFunc(_ int, d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

type timerServiceBox struct{ ts TimerService }

// SetTimerService makes ts the source of every kernel timer (wait queue
// timeouts and everything built on them). Call it at boot, before tasks
// use timers.
func (k *Kernel) SetTimerService(ts TimerService) {
	k.timers.Store(&timerServiceBox{ts})
}

// AfterFunc arms a timer on cpu's timer base (see TimerService).
func (k *Kernel) AfterFunc(cpu int, d time.Duration, f func()) Timer {
	if b := k.timers.Load(); b != nil {
		return b.ts.AfterFunc(cpu, d, f)
	}
	return goTimers{}.AfterFunc(cpu, d, f)
}

// AfterFunc arms a timer on the calling task's current CPU.
func (t *Task) AfterFunc(d time.Duration, f func()) Timer {
	cpu := 0
	if c := t.cpu.Load(); c != nil {
		cpu = c.id
	}
	return t.k.AfterFunc(cpu, d, f)
}

// IRQExitHandler runs pending deferred work (softirqs) on cpu. It is
// called by the task currently holding cpu, at the kernel's irq-exit
// points, with no kernel lock held. It may block only briefly (it is
// bounded by its own budget) and must not release the CPU.
type IRQExitHandler func(c *CPU, t *Task)

type irqExitBox struct{ h IRQExitHandler }

// SetIRQExitHandler installs the irq-exit handler (the softirq machinery).
func (k *Kernel) SetIRQExitHandler(h IRQExitHandler) {
	k.irqExit.Store(&irqExitBox{h})
}

// IRQExit is an irq-exit point: the calling task, holding a CPU, has just
// come back from application code (the sentry's equivalent of returning
// from an interrupt). Pending softirqs of that CPU run here.
// Preconditions: t is the calling task and holds a CPU.
func (t *Task) IRQExit() {
	if b := t.k.irqExit.Load(); b != nil {
		b.h(t.cpu.Load(), t)
	}
}

// WorkerHooks are a workqueue worker's callbacks (Linux's
// wq_worker_sleeping / wq_worker_running): the kernel tells the worker's
// pool when the worker blocks and when it runs again, so the pool can keep
// one worker running per CPU.
type WorkerHooks struct {
	// Sleeping is called by the worker's own task just before it gives
	// up its CPU to sleep (not when preempted). It must not block; it
	// may wake other tasks.
	Sleeping func(t *Task)
	// Running is called by the worker's own task when it holds a CPU
	// again after sleeping.
	Running func(t *Task)
}

type workerHooksBox struct{ h WorkerHooks }

// SetWorkerHooks installs h on a task (before it starts).
func (t *Task) SetWorkerHooks(h WorkerHooks) {
	t.workerHooks.Store(&workerHooksBox{h})
}

// irqExitAndTimers are the kernel's plug-in points (see above).
type plugins struct {
	timers  atomic.Pointer[timerServiceBox]
	irqExit atomic.Pointer[irqExitBox]
}
