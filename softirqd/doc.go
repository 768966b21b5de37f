// Package softirqd is the sandbox kernel's deferred-interrupt machinery,
// after Linux's kernel/softirq.c: softirq vectors with per-CPU pending
// bitmaps, do_softirq with a restart and time budget at irq-exit points,
// the per-CPU ksoftirqd/N kthreads that take the overflow, bottom-half
// disabling, tasklets, and the per-CPU timer bases that drive every
// sentry timer from the TIMER softirq (the kernel's TimerService).
//
// # Interrupts, softirqs and who runs them
//
// The sentry's interrupts are asynchronous events: a host timer firing, a
// host fd becoming ready. Their top half (a plain goroutine) only marks
// work: RaiseOn sets a bit in the target CPU's pending bitmap and makes
// sure somebody on that CPU will look at it soon:
//
//   - if softirqs are already running on that CPU, the runner's restart
//     loop sees the bit;
//   - if the task holding the CPU has bottom halves disabled, its
//     LocalBHEnable runs them;
//   - if the task holding the CPU runs application code, it is kicked back
//     into the sentry (kernel.CPU.KickApp, the sentry's IPI), whose run loop
//     passes an irq-exit point (Task.IRQExit) and runs them there (once
//     SetKickApps turned this on);
//   - otherwise (the CPU is idle, or its task is in sentry code that may not
//     reach an irq-exit point soon) ksoftirqd/N is woken, as Linux's
//     raise_softirq does outside interrupt context.
//
// Softirqs run on a CPU only in the context of the task holding it: at its
// irq-exit points (the kernel calls the handler installed with
// SetIRQExitHandler), at LocalBHEnable, or in ksoftirqd/N, which is bound
// to CPU N. Because a CPU has one holder at a time and a softirq handler
// never gives the CPU up, the softirqs of one CPU never run concurrently
// with each other; different CPUs run theirs in parallel, so a handler
// shared by several CPUs serialises its own data (as in Linux).
//
// At an irq-exit point, do_softirq runs the pending vectors lowest number
// first, restarting while new ones are raised, for at most 10 rounds and
// 2 ms and not past a reschedule request (MAX_SOFTIRQ_RESTART,
// MAX_SOFTIRQ_TIME, need_resched). Work left over marks the CPU as
// overflowed and wakes ksoftirqd/N; while it is overflowed, irq-exit points
// leave the softirqs to ksoftirqd/N (Linux's "let ksoftirqd do its job"),
// which runs them in budgeted rounds with a preemption point between
// rounds. ksoftirqd/N is an ordinary fair (SCHED_NORMAL, nice 0) task, so a
// softirq storm costs user tasks on that CPU about half of it, never all of
// it. SetDeferral(false) is the test switch that turns all of this off: an
// irq-exit point then runs softirqs until none are pending.
//
// # Tasklets
//
// A Tasklet is a function run from the HI or TASKLET softirq. Its state is
// one atomic word (scheduled, running, parked). Schedule queues it on one
// CPU's list once however often it is called before it runs; the running
// bit is a try-lock, so a tasklet never runs on two CPUs at once (a CPU that
// finds it running elsewhere requeues it and raises again). A disabled
// tasklet found on a list is parked off the lists (not spun on, unlike
// Linux) and Enable requeues it.
//
// # Timer bases
//
// Each CPU has a timer base: a 4-ary min-heap of pending timers ordered by
// expiry (ties in arming order) with each timer's heap index stored in it,
// and one host timer (a Go time.Timer) armed for the earliest expiry. The
// host timer is the interrupt: its top half raises TIMER on the base's CPU;
// the TIMER softirq pops every expired timer, re-arms periodic ones, re-arms
// the host timer for the new earliest expiry and then runs the callbacks.
//
// Why a heap and not a wheel: the sentry's timers are hrtimers in Linux's
// sense. nanosleep, timerfd, POSIX timers and itimers must expire at their
// exact time (the target is a 10 ms sleep within ±2 ms of native, and 1 ms
// timers), while a wheel rounds expiries to its granularity (Linux's
// timer_list wheel is 1 jiffy, 4 ms at HZ=250, at its finest level, coarser
// above). The host timer must be armed for the earliest expiry, which a
// heap gives in O(1); insertion and cancellation are O(log n) through the
// stored index (Stop of a wait timeout that did not fire is the common
// case). The wheel's O(1) advantage matters for millions of mostly
// cancelled timeouts per second; a per-CPU base here holds the pending
// timeouts of the sandbox's tasks, and 100k timers cost about 17 sift steps
// per operation (see TestManyTimers). Four children per node halve the
// heap's depth and keep siblings in one cache line.
//
// Deadlines are kept on CLOCK_MONOTONIC (the host's, which is the sandbox's:
// the sentry reads its clocks from the host). Timers on other clocks
// convert absolute deadlines when armed; CLOCK_REALTIME absolute timers
// re-check the real-time clock when they expire and re-queue themselves if
// the clock was stepped back, and ClockWasSet re-evaluates them after a
// step. Periodic timers are forwarded Linux's hrtimer_forward way: one
// callback reports how many periods elapsed (Expiry.Count), which is what
// timerfd reads and POSIX timer overruns need. A periodic timer never fires
// more often than every minPeriodicGap (its phase and counts stay exact),
// so a program cannot turn a 1 ns interval into a host-timer storm.
//
// # Lock order
//
//	Timer.mu            (one timer's settings; serialises Set/Stop)
//	  timerBase.mu      (one base's heap; never two bases at once)
//	taskletList.mu      (a leaf)
//
// No lock of this package is held while it calls into the kernel (Wake,
// wait queue notifications, KickApp), runs a softirq handler, a tasklet or
// a timer callback, or raises a softirq. The per-CPU softirq state (pending
// bits, the running flag, the bottom-half count, ksoftirqd's woken flag) is
// atomic; the comments at its uses give the orderings that make a raise
// never lost.
package softirqd
