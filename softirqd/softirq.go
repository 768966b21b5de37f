package softirqd

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Vector is a softirq number, with Linux's numbering.
type Vector int

// The softirq vectors (Linux's include/linux/interrupt.h order: a lower
// number runs first).
const (
	HI Vector = iota
	TIMER
	NET_TX
	NET_RX
	BLOCK
	IRQ_POLL
	TASKLET
	SCHED
	HRTIMER
	RCU
	// NrVectors is the number of softirq vectors.
	NrVectors
)

var vectorNames = [NrVectors]string{"HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU"}

// String returns the vector's name as /proc/softirqs shows it.
func (v Vector) String() string {
	if v >= 0 && v < NrVectors {
		return vectorNames[v]
	}
	return fmt.Sprintf("Vector(%d)", int(v))
}

// Budget of one do_softirq at an irq-exit point (Linux's
// MAX_SOFTIRQ_RESTART and MAX_SOFTIRQ_TIME).
const (
	MaxRestart = 10
	MaxTime    = 2 * time.Millisecond
)

// Handler is a softirq action. It runs on cpu, in the context of the task
// holding that CPU, with no lock of this package held. It must not block
// or give up the CPU; it may wake tasks, raise softirqs (RaiseOn(cpu, ...)
// re-raises on its own CPU), schedule tasklets and arm timers.
type Handler func(cpu int)

// Errors of Register.
var (
	ErrBadVector      = errors.New("softirqd: no such softirq vector")
	ErrReservedVector = errors.New("softirqd: vector is served by the package itself")
)

// Softirqs is the softirq machinery of one kernel.
type Softirqs struct {
	k        *kernel.Kernel
	handlers [NrVectors]atomic.Pointer[Handler]
	cpus     []*cpuState
	// deferral: see SetDeferral; kickApps: see SetKickApps.
	deferral atomic.Bool
	kickApps atomic.Bool
	stopped  atomic.Bool
	// taskletDone is notified when a tasklet finishes running while a
	// Kill waits (killers counts those waiters).
	taskletDone kernel.WaitQueue
	killers     atomic.Int32
}

// cpuState is one CPU's softirq state.
type cpuState struct {
	id  int
	cpu *kernel.CPU

	// pending is the bitmap of raised vectors.
	pending atomic.Uint32
	// running is set while softirqs run on this CPU (serialises
	// do_softirq against re-entry; a raise that sees it leaves the bit to
	// the runner). runner is the task running them.
	running atomic.Bool
	runner  atomic.Pointer[kernel.Task]
	// bhDepth counts LocalBHDisable nesting by bhOwner, the task holding
	// the CPU.
	bhDepth atomic.Int32
	bhOwner atomic.Pointer[kernel.Task]
	// overflow: an irq-exit run left work over and ksoftirqd owns it;
	// irq-exit points defer to it until the pending bitmap drains.
	overflow atomic.Bool

	// ksoftirqd/N: woken is true while it is awake or a wake-up is on
	// its way (wakers skip the notification then); wq is where it sleeps.
	ksoftirqd atomic.Pointer[kernel.Kthread]
	woken     atomic.Bool
	wq        kernel.WaitQueue

	tasklets [2]taskletList // [0] TASKLET, [1] HI
	timers   timerBase

	// Statistics.
	handled   [NrVectors]atomic.Uint64
	timeNs    atomic.Int64 // time spent running softirqs
	overflows atomic.Uint64
	wakeups   atomic.Uint64
	kicks     atomic.Uint64
}

// Start builds the softirq machinery of k and plugs it in: it registers
// the HI, TIMER and TASKLET actions, creates ksoftirqd/N bound to each CPU
// N (children of kthreadd, fair class, nice 0), then makes the per-CPU
// timer bases the kernel's TimerService and installs the irq-exit handler.
// It blocks until kthreadd has created the threads.
//
// Preconditions: k.StartKthreadd was called.
func Start(k *kernel.Kernel) (*Softirqs, error) {
	if k.Kthreadd() == nil {
		return nil, kernel.ErrNoKthreadd
	}
	s := &Softirqs{k: k}
	s.deferral.Store(true)
	n := k.NumCPUs()
	s.cpus = make([]*cpuState, n)
	for i := 0; i < n; i++ {
		cs := &cpuState{id: i, cpu: k.CPU(i)}
		cs.timers.init(s, i)
		s.cpus[i] = cs
	}
	s.setHandler(HI, func(cpu int) { s.taskletAction(cpu, true) })
	s.setHandler(TIMER, func(cpu int) { s.cpus[cpu].timers.expire() })
	s.setHandler(TASKLET, func(cpu int) { s.taskletAction(cpu, false) })
	for i, cs := range s.cpus {
		cs := cs
		// Created, not run: ksoftirqd/N gets its host thread when
		// first woken (wakeKsoftirqd), which a sandbox whose softirqs
		// all run at irq-exit points never does.
		kt, err := k.KthreadCreate(kernel.KthreadOptions{
			Name:  fmt.Sprintf("ksoftirqd/%d", i),
			CPU:   i,
			Bound: true,
		}, func(kt *kernel.Kthread) int { return s.ksoftirqd(cs, kt) })
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("softirqd: creating ksoftirqd/%d: %w", i, err)
		}
		cs.ksoftirqd.Store(kt)
	}
	k.SetTimerService(s)
	k.SetIRQExitHandler(s.irqExit)
	return s, nil
}

// Stop stops every ksoftirqd/N and the host timers, for teardown (tests,
// sandbox exit). Timers armed afterwards never fire. It blocks until the
// threads have exited.
func (s *Softirqs) Stop() {
	if s.stopped.Swap(true) {
		return
	}
	for _, cs := range s.cpus {
		cs.timers.stop()
		if kt := cs.ksoftirqd.Load(); kt != nil {
			kt.Stop()
		}
	}
}

// Kernel returns the kernel the machinery belongs to.
func (s *Softirqs) Kernel() *kernel.Kernel { return s.k }

func (s *Softirqs) setHandler(v Vector, h Handler) { s.handlers[v].Store(&h) }

// Register installs h as the action of vector v (open_softirq). A later
// Register of the same vector replaces it. HI, TIMER and TASKLET are
// served by the package (tasklets and timers) and cannot be registered.
func (s *Softirqs) Register(v Vector, h Handler) error {
	if v < 0 || v >= NrVectors {
		return ErrBadVector
	}
	if v == HI || v == TIMER || v == TASKLET {
		return ErrReservedVector
	}
	s.setHandler(v, h)
	return nil
}

// SetDeferral switches the hand-off to ksoftirqd on (the default) or off.
// Off is a test switch: irq-exit points then run softirqs until none are
// pending, with no budget and no deferral (what a kernel without ksoftirqd
// does), which the storm test uses to show the starvation ksoftirqd
// prevents. It does not block.
func (s *Softirqs) SetDeferral(on bool) { s.deferral.Store(on) }

// SetKickApps switches the sentry's IPI on: a softirq raised for a CPU
// whose task runs application code then kicks that task back into the
// sentry (kernel.CPU.KickApp) instead of waking ksoftirqd, so it runs at
// the task's next irq-exit point without a context switch. Off (the
// default), such a raise wakes ksoftirqd, which preempts the task.
//
// Preconditions for on: the sentry's run loop calls Task.IRQExit each time
// a task comes back from application code (after LeaveApp); without it a
// kicked task would go straight back to application code and the softirq
// would wait for the CPU's next irq-exit point.
func (s *Softirqs) SetKickApps(on bool) { s.kickApps.Store(on) }

// Raise raises v on the CPU t holds (raise_softirq). From a softirq
// handler, or with bottom halves disabled, the bit is left to the running
// do_softirq or to LocalBHEnable; otherwise, as in Linux outside interrupt
// context, ksoftirqd of the CPU is woken (it finds nothing to do if t
// passes an irq-exit point first). Sentry code that wants the work done at
// once in its own context brackets the raise with LocalBHDisable and
// LocalBHEnable. It does not block.
//
// Preconditions: t is the calling task and holds a CPU.
func (s *Softirqs) Raise(t *kernel.Task, v Vector) {
	s.RaiseOn(t.CPU().ID(), v)
}

// RaiseOn raises v on cpu (raise_softirq_on): the top half of the sentry's
// interrupts. It may be called from any goroutine, including softirq
// handlers and non-task goroutines; see the package comment for who then
// runs the softirq. It never blocks.
func (s *Softirqs) RaiseOn(cpu int, v Vector) {
	if cpu < 0 || cpu >= len(s.cpus) || v < 0 || v >= NrVectors {
		return
	}
	cs := s.cpus[cpu]
	cs.pending.Or(1 << uint(v))
	s.ensureRunner(cs)
}

// ensureRunner makes sure somebody on cs's CPU will run its pending
// softirqs soon. The caller set the pending bit before calling it; every
// party that could otherwise miss the bit clears its own flag first and
// reads the pending bits after (all atomics are sequentially consistent),
// so either it sees the bit or this sees its flag still set.
func (s *Softirqs) ensureRunner(cs *cpuState) {
	if cs.running.Load() {
		// The runner re-reads pending after it clears running.
		return
	}
	if cs.bhDepth.Load() > 0 {
		// LocalBHEnable re-reads pending after the count drops to 0.
		return
	}
	if cs.woken.Load() {
		// ksoftirqd re-reads pending after clearing woken.
		return
	}
	if s.kickApps.Load() && cs.cpu.KickApp() {
		// The holder comes back from application code and passes
		// an irq-exit point (the sentry's run loop calls IRQExit).
		cs.kicks.Add(1)
		return
	}
	s.wakeKsoftirqd(cs)
}

// wakeKsoftirqd wakes ksoftirqd/N unless it is awake already.
func (s *Softirqs) wakeKsoftirqd(cs *cpuState) {
	if cs.woken.CompareAndSwap(false, true) {
		cs.wakeups.Add(1)
		if kt := cs.ksoftirqd.Load(); kt != nil {
			// Its first wake-up starts it (Start); it looks at
			// pending before it first sleeps.
			kt.Run()
		}
		cs.wq.NotifyOne()
	}
}

// irqExit is the kernel's irq-exit handler: the task t holding c is at an
// irq-exit point.
func (s *Softirqs) irqExit(c *kernel.CPU, t *kernel.Task) {
	if c == nil {
		return
	}
	id := c.ID()
	if id < 0 || id >= len(s.cpus) {
		return
	}
	cs := s.cpus[id]
	if cs.pending.Load() == 0 {
		return
	}
	if kt := cs.ksoftirqd.Load(); kt != nil && kt.Task() == t {
		// ksoftirqd at a preemption point: its own loop runs them.
		return
	}
	if cs.bhDepth.Load() > 0 && cs.bhOwner.Load() == t {
		return
	}
	s.runAtIRQExit(cs, t)
}

// runAtIRQExit is do_softirq at an irq-exit point (or LocalBHEnable).
func (s *Softirqs) runAtIRQExit(cs *cpuState, t *kernel.Task) {
	if !s.deferral.Load() {
		s.doSoftirq(cs, t, false)
		return
	}
	if cs.overflow.Load() {
		// ksoftirqd owns the overflow; make sure it is awake.
		s.wakeKsoftirqd(cs)
		return
	}
	if s.doSoftirq(cs, t, true) {
		cs.overflows.Add(1)
		cs.overflow.Store(true)
		s.wakeKsoftirqd(cs)
	}
}

// doSoftirq runs cs's pending softirqs in the context of t, which holds
// cs's CPU. Bounded, it stops after MaxRestart rounds, MaxTime, or when t
// is asked to reschedule, and reports whether work was left over;
// unbounded, it runs until nothing is pending. It returns false at once
// if softirqs are already running on the CPU (a handler reached an
// irq-exit point or LocalBHEnable).
func (s *Softirqs) doSoftirq(cs *cpuState, t *kernel.Task, bounded bool) (left bool) {
	if !cs.running.CompareAndSwap(false, true) {
		return false
	}
	cs.runner.Store(t)
	start := time.Now()
	restarts := MaxRestart
	for {
		pending := cs.pending.Swap(0)
		for pending != 0 {
			v := bits.TrailingZeros32(pending)
			pending &^= 1 << uint(v)
			cs.handled[v].Add(1)
			if h := s.handlers[v].Load(); h != nil {
				(*h)(cs.id)
			}
		}
		if cs.pending.Load() == 0 {
			break
		}
		if bounded {
			restarts--
			if restarts <= 0 || time.Since(start) >= MaxTime || t.NeedResched() {
				left = true
				break
			}
		}
	}
	cs.timeNs.Add(int64(time.Since(start)))
	cs.runner.Store(nil)
	cs.running.Store(false)
	if !left && cs.pending.Load() != 0 {
		// Raised between the last check and clearing running: its
		// raiser saw running and left it to us.
		s.ensureRunner(cs)
	}
	return left
}

// ksoftirqd is the body of ksoftirqd/N (run_ksoftirqd in a loop): it sleeps
// until softirqs are pending on its CPU, runs them in budgeted rounds with
// a preemption point after each, and clears the CPU's overflow once
// nothing is left.
func (s *Softirqs) ksoftirqd(cs *cpuState, kt *kernel.Kthread) int {
	t := kt.Task()
	for {
		cs.wq.Wait(t, func() bool {
			// Cleared before every look at pending, not once
			// before the wait: a wake-up whose softirqs an irq-exit
			// point ran first would otherwise leave woken set
			// while ksoftirqd sleeps again, and wakers would skip
			// it from then on.
			cs.woken.Store(false)
			return cs.pending.Load() != 0 || kt.ShouldStop()
		}, kernel.WaitOpts{Timeout: kernel.Forever})
		cs.woken.Store(true)
		if kt.ShouldStop() {
			return 0
		}
		for cs.pending.Load() != 0 && !kt.ShouldStop() {
			s.doSoftirq(cs, t, true)
			t.PreemptPoint()
		}
		cs.overflow.Store(false)
	}
}

// LocalBHDisable disables bottom halves on the CPU t holds
// (local_bh_disable): until the matching LocalBHEnable, softirqs do not run
// on that CPU at t's irq-exit points. Calls nest. It does not block.
//
// Preconditions: t is the calling task and holds a CPU; it neither blocks
// nor passes a preemption point before LocalBHEnable (it must not lose
// the CPU while bottom halves are disabled).
func (s *Softirqs) LocalBHDisable(t *kernel.Task) {
	cs := s.cpus[t.CPU().ID()]
	if cs.bhDepth.Load() > 0 && cs.bhOwner.Load() != t {
		// The previous owner lost the CPU with bottom halves
		// disabled (a broken precondition); take the count over.
		if kernel.Debug {
			panic("softirqd: bottom halves left disabled by a task that gave up its CPU")
		}
		cs.bhDepth.Store(0)
	}
	if cs.bhDepth.Load() == 0 {
		cs.bhOwner.Store(t)
	}
	cs.bhDepth.Add(1)
}

// LocalBHEnable re-enables bottom halves (local_bh_enable): when the
// outermost disable is undone and softirqs are pending, they run now in
// t's context, as at an irq-exit point (with the budget). It does not
// block beyond that budget.
//
// Preconditions: t called LocalBHDisable on the CPU it still holds.
func (s *Softirqs) LocalBHEnable(t *kernel.Task) {
	cs := s.cpus[t.CPU().ID()]
	if cs.bhOwner.Load() != t || cs.bhDepth.Load() <= 0 {
		if kernel.Debug {
			panic("softirqd: LocalBHEnable by a task that did not disable bottom halves on its CPU")
		}
		return
	}
	if cs.bhDepth.Add(-1) > 0 {
		return
	}
	cs.bhOwner.Store(nil)
	if cs.pending.Load() != 0 {
		s.runAtIRQExit(cs, t)
	}
}

// InSoftirq reports whether softirqs are running on cpu right now
// (in_softirq for that CPU). It does not block.
func (s *Softirqs) InSoftirq(cpu int) bool { return s.cpus[cpu].running.Load() }

// Pending returns the bitmap of vectors raised on cpu and not yet run
// (bit v for Vector v). It does not block.
func (s *Softirqs) Pending(cpu int) uint32 { return s.cpus[cpu].pending.Load() }

// Ksoftirqd returns ksoftirqd/cpu (nil before Start created it).
func (s *Softirqs) Ksoftirqd(cpu int) *kernel.Kthread { return s.cpus[cpu].ksoftirqd.Load() }
