package kernel

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// This file is the hand-off: how a sandbox CPU passes from one task's host
// thread to another's.
//
// Every task's goroutine is locked to its own host thread, so a hand-off is
// a host thread wake-up. It is done with one futex word per task (grant)
// and the host's futex calls, not a Go channel: a channel send readies the
// goroutine in Go's scheduler, which must then find a P for it and pass the
// P to the goroutine's locked thread (startlockedm), and the sender's own
// park hands its P to yet another thread. Measured on one host CPU
// (BenchmarkHostHandoff), that is two to three host thread switches per
// hand-off; a futex wake of the parked thread is one.
//
// The granter also moves the woken thread to the CPU's host CPU before it
// wakes it (sched_setaffinity on the thread), so the host wakes it where it
// will run instead of on its old host CPU followed by a migration.
//
// Protocol, per host thread (hostthread.go; a thread runs one task at a
// time): grant is 1 when a CPU was handed to the thread's task and not yet
// taken. The granter (the task that chose it in switchLocked, after
// dropping the CPU's lock) pins the thread, stores 1 and wakes the word;
// the task waits until it can swap 1 for 0. An idle thread waits on the
// same word for its next task (Start queues the task; its first grant is
// the wake-up). pinned is written when the thread is made and afterwards
// only by granters, each before its store to grant (so the task and the
// next granter see it through grant's atomics, or through Kernel.idleMu
// for the next task on the thread).

// futexWait blocks the calling host thread while *w == val (or until a
// wake or a signal: callers re-check). Private futex: the sentry's own
// memory.
func futexWait(w *atomic.Uint32, val uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)),
		linux.FUTEX_WAIT|linux.FUTEX_PRIVATE_FLAG, uintptr(val), 0, 0, 0)
}

// futexWaitTimeout is futexWait for at most d.
func futexWaitTimeout(w *atomic.Uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)),
		linux.FUTEX_WAIT|linux.FUTEX_PRIVATE_FLAG, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes one host thread waiting on w.
func futexWake(w *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)),
		linux.FUTEX_WAKE|linux.FUTEX_PRIVATE_FLAG, 1, 0, 0, 0)
}

// grantCPU wakes a task that switchLocked chose to run (t.cpu is set): its
// thread is pinned to the CPU's host CPU and woken. nil is a no-op (the CPU
// went idle).
//
// Preconditions: no CPU lock is held (the wake-up may switch the host CPU
// to t's thread at once); t was returned by switchLocked.
func (t *Task) grantCPU() {
	if t == nil {
		return
	}
	h := t.host
	if hc := t.cpu.Load().hostCPU; hc != h.pinned {
		var set unix.CPUSet
		set.Set(hc)
		if unix.SchedSetaffinity(int(h.tid), &set) == nil {
			h.pinned = hc
		}
	}
	h.grant.Store(1)
	futexWake(&h.grant)
	// After the thread's wake-up: a stub woken first, on the CPU the
	// granter runs on, could preempt the granter before it wakes the
	// thread (measured: most prewakes then missed). The task may run
	// already; the Prewaker serializes itself with the task's context.
	if pw := h.prewake.Load(); pw != nil {
		(*pw).Prewake()
	}
}

// Prewaker is what a task's host thread has besides itself to wake before
// its task runs: the platform's side of the task (a systrap Context's stub
// thread, asleep in its handler since the task blocked, which the task's
// first Switch would otherwise wake only after the host has woken the
// task's own thread). grantCPU calls Prewake right after it wakes the
// thread, so the two host wake-ups overlap instead of following each
// other.
type Prewaker interface {
	// Prewake starts what the task will resume first. It is called by
	// the granter, not the task's goroutine, just after the task's
	// thread was woken, so the task may be running already: Prewake
	// must serialize itself with the task's use of what it wakes. It
	// must not block for long and must tolerate being called for
	// nothing (the task may block again before it resumes anything).
	Prewake()
}

// SetPrewaker makes p what a grant of a CPU to tasks on t's host thread
// prewakes (nil: nothing). It stays with the host thread until it is
// cleared (the sentry clears it before it keeps or releases a Context)
// or TakeKept forgets it.
// Preconditions: called on t's own goroutine.
func (t *Task) SetPrewaker(p Prewaker) {
	if p == nil {
		t.host.prewake.Store(nil)
		return
	}
	t.host.prewake.Store(&p)
}

// waitForCPU parks the task's thread until a CPU is handed to it.
func (t *Task) waitForCPU() {
	h := t.host
	for !h.grant.CompareAndSwap(1, 0) {
		futexWait(&h.grant, 0)
	}
	t.onCPU()
}
