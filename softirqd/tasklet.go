package softirqd

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Tasklet state bits (one atomic word).
const (
	// tlSched: queued on a CPU's list, or parked, or held by Kill. A
	// tasklet is on at most one list because only the party that sets
	// this bit queues it.
	tlSched uint32 = 1 << iota
	// tlRun: its function is running (the try-lock that keeps it off two
	// CPUs at once).
	tlRun
	// tlParked: scheduled while disabled; off every list until Enable
	// (or Kill) takes it.
	tlParked
)

// Tasklet is a deferred function run from the TASKLET or HI softirq
// (Linux's tasklet_struct). Scheduling it again before it ran runs it once;
// it never runs on two CPUs at once; while disabled it does not run and a
// schedule is kept for Enable.
type Tasklet struct {
	s     *Softirqs
	fn    func()
	state atomic.Uint32
	count atomic.Int32 // disable depth

	// next links the tasklet on a list; protected by that list's mu
	// while queued, owned by the TASKLET action once it took the list.
	next *Tasklet
	// parkCPU and parkHi say where a parked tasklet goes back; written
	// before tlParked is set, read after it was cleared.
	parkCPU int
	parkHi  bool

	runs atomic.Uint64
}

// taskletList is one CPU's queue of scheduled tasklets for one vector.
type taskletList struct {
	mu         sync.Mutex
	head, tail *Tasklet
}

// NewTasklet returns an enabled, unscheduled tasklet that runs fn (in
// softirq context: fn must not block or give up the CPU).
func (s *Softirqs) NewTasklet(fn func()) *Tasklet {
	return &Tasklet{s: s, fn: fn}
}

// Runs returns how many times the tasklet's function has run.
func (tl *Tasklet) Runs() uint64 { return tl.runs.Load() }

// Schedule queues the tasklet on cpu's TASKLET list and raises TASKLET
// there (tasklet_schedule; callers usually pass their own CPU). It does
// nothing if the tasklet is already scheduled. It may be called from any
// goroutine and never blocks.
func (tl *Tasklet) Schedule(cpu int) { tl.schedule(cpu, false) }

// HiSchedule is Schedule on the HI softirq, which runs before every other
// vector (tasklet_hi_schedule).
func (tl *Tasklet) HiSchedule(cpu int) { tl.schedule(cpu, true) }

func (tl *Tasklet) schedule(cpu int, hi bool) {
	if cpu < 0 || cpu >= len(tl.s.cpus) {
		cpu = 0
	}
	if tl.state.Or(tlSched)&tlSched != 0 {
		return
	}
	tl.s.queueTasklet(cpu, hi, tl)
}

// queueTasklet appends tl to cpu's list and raises the list's vector.
// Preconditions: the caller owns tl's tlSched bit and tl is on no list.
func (s *Softirqs) queueTasklet(cpu int, hi bool, tl *Tasklet) {
	idx, v := 0, TASKLET
	if hi {
		idx, v = 1, HI
	}
	l := &s.cpus[cpu].tasklets[idx]
	l.mu.Lock()
	tl.next = nil
	if l.tail == nil {
		l.head = tl
	} else {
		l.tail.next = tl
	}
	l.tail = tl
	l.mu.Unlock()
	s.RaiseOn(cpu, v)
}

// taskletAction is the TASKLET (or HI) softirq on cpu: it takes the list
// and runs each tasklet that is enabled and not running elsewhere.
func (s *Softirqs) taskletAction(cpu int, hi bool) {
	idx := 0
	if hi {
		idx = 1
	}
	l := &s.cpus[cpu].tasklets[idx]
	l.mu.Lock()
	tl := l.head
	l.head, l.tail = nil, nil
	l.mu.Unlock()
	for tl != nil {
		next := tl.next
		tl.next = nil
		if tl.state.Or(tlRun)&tlRun != 0 {
			// Running on another CPU: try again later, here.
			s.queueTasklet(cpu, hi, tl)
			tl = next
			continue
		}
		if tl.count.Load() == 0 {
			// Cleared before the call so the function may schedule
			// its own tasklet again.
			tl.state.And(^tlSched)
			tl.fn()
			tl.runs.Add(1)
			tl.state.And(^tlRun)
		} else {
			tl.parkCPU, tl.parkHi = cpu, hi
			tl.state.Or(tlParked)
			tl.state.And(^tlRun)
			// Enable may have dropped the count between the check
			// and parking: whoever clears tlParked requeues it.
			if tl.count.Load() == 0 {
				tl.unpark()
			}
		}
		s.taskletSettled()
		tl = next
	}
}

// taskletSettled wakes Kill waiters after a tasklet ran or parked.
func (s *Softirqs) taskletSettled() {
	if s.killers.Load() > 0 {
		s.taskletDone.NotifyAll()
	}
}

// unpark requeues a parked tasklet where it was parked.
func (tl *Tasklet) unpark() {
	for {
		st := tl.state.Load()
		if st&tlParked == 0 {
			return
		}
		if tl.state.CompareAndSwap(st, st&^tlParked) {
			tl.s.queueTasklet(tl.parkCPU, tl.parkHi, tl)
			return
		}
	}
}

// DisableNosync disables the tasklet (tasklet_disable_nosync): it will not
// start running until the matching Enable. It does not wait for a run in
// progress and never blocks. Calls nest.
func (tl *Tasklet) DisableNosync() { tl.count.Add(1) }

// Disable disables the tasklet and waits until it is not running on any
// CPU (tasklet_disable). It spins for at most one run of the function
// (which must be short).
//
// Preconditions: not called from the tasklet's own function.
func (tl *Tasklet) Disable() {
	tl.count.Add(1)
	for tl.state.Load()&tlRun != 0 {
		runtime.Gosched()
	}
}

// Enable undoes one Disable (tasklet_enable). When the last one is undone,
// a schedule that arrived while disabled is honoured. It never blocks.
func (tl *Tasklet) Enable() {
	n := tl.count.Add(-1)
	if n < 0 {
		if kernel.Debug {
			panic("softirqd: tasklet enabled more often than disabled")
		}
		tl.count.Add(1)
		return
	}
	if n == 0 {
		tl.unpark()
	}
}

// Kill waits until the tasklet is neither scheduled nor running and
// leaves it unscheduled (tasklet_kill): a pending schedule runs first,
// except on a disabled tasklet, whose pending schedule is dropped. While
// Kill runs, new schedules are ignored. The tasklet may be scheduled again
// afterwards. t is the calling task, whose CPU is released while waiting,
// or nil from a goroutine that is not a task. It blocks.
//
// Preconditions: not called from softirq context.
func (tl *Tasklet) Kill(t *kernel.Task) {
	s := tl.s
	for owned := false; !owned; {
		st := tl.state.Load()
		switch {
		case st&tlSched == 0:
			owned = tl.state.CompareAndSwap(st, st|tlSched)
		case st&tlParked != 0:
			// Take the parked schedule over: it is on no list.
			owned = tl.state.CompareAndSwap(st, st&^tlParked)
		default:
			s.waitTasklet(t, func() bool {
				st := tl.state.Load()
				return st&tlSched == 0 || st&tlParked != 0
			})
		}
	}
	s.waitTasklet(t, func() bool { return tl.state.Load()&tlRun == 0 })
	tl.state.And(^tlSched)
}

// waitTasklet blocks until cond holds, notified by taskletSettled.
func (s *Softirqs) waitTasklet(t *kernel.Task, cond func() bool) {
	if t == nil {
		for !cond() {
			time.Sleep(20 * time.Microsecond)
		}
		return
	}
	s.killers.Add(1)
	defer s.killers.Add(-1)
	for !cond() {
		// The timeout is only a safety net: taskletSettled notifies.
		s.taskletDone.Wait(t, cond, kernel.WaitOpts{Timeout: 10 * time.Millisecond})
	}
}
