package workqueue

import (
	"runtime"
	"sync"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// DelayedWork is a work item queued after a delay (delayed_work): a kernel
// timer on a CPU's timer base queues it when it expires. Its zero value
// with Work.Func set is ready to use. While the timer is armed the item
// is pending.
type DelayedWork struct {
	Work

	// mu protects the fields below; it is taken before any pool lock.
	mu    sync.Mutex
	armed bool
	gen   uint64 // bumped on every arm and disarm; stale timers see it
	timer kernel.Timer
	wq    *Workqueue
	cpu   int
}

// NewDelayedWork returns a delayed work item running fn.
func NewDelayedWork(fn Func) *DelayedWork {
	dw := &DelayedWork{}
	dw.Func = fn
	return dw
}

// arm queues dw on wq for cpu after d.
// Preconditions: the caller owns PENDING and has begun the instance.
func (dw *DelayedWork) arm(wq *Workqueue, cpu int, d time.Duration) {
	if d <= 0 {
		dw.mu.Lock()
		dw.wq, dw.cpu = wq, cpu
		wq.insert(cpu, &dw.Work)
		dw.mu.Unlock()
		return
	}
	if cpu < 0 {
		// As in Linux, an item for any CPU is queued where its timer
		// fires.
		cpu = wq.pickCPU()
	}
	dw.mu.Lock()
	dw.wq, dw.cpu = wq, cpu
	dw.gen++
	gen := dw.gen
	dw.armed = true
	dw.timer = nil
	wq.addDelayed(dw)
	dw.mu.Unlock()

	tm := wq.sys.k.AfterFunc(cpu, d, func() { dw.fire(gen) })
	dw.mu.Lock()
	if dw.armed && dw.gen == gen {
		dw.timer, tm = tm, nil
	}
	dw.mu.Unlock()
	if tm != nil {
		// Fired or disarmed before we could record it.
		tm.Stop()
	}
}

// fire is the timer callback (softirq context: it does not block).
func (dw *DelayedWork) fire(gen uint64) {
	dw.mu.Lock()
	if !dw.armed || dw.gen != gen {
		dw.mu.Unlock()
		return
	}
	dw.armed = false
	dw.timer = nil
	dw.wq.removeDelayed(dw)
	// Queue under dw.mu, so a canceller sees the item either on its
	// timer or on a list.
	dw.wq.insert(dw.cpu, &dw.Work)
	dw.mu.Unlock()
}

// disarm steals an armed timer. It reports whether it did; PENDING then
// belongs to the caller.
func (dw *DelayedWork) disarm() bool {
	dw.mu.Lock()
	if !dw.armed {
		dw.mu.Unlock()
		return false
	}
	dw.armed = false
	dw.gen++
	tm := dw.timer
	dw.timer = nil
	dw.wq.removeDelayed(dw)
	dw.mu.Unlock()
	if tm != nil {
		tm.Stop()
	}
	return true
}

// kick queues an armed item at once instead of at its timer's expiry. It
// reports whether the timer was armed.
func (dw *DelayedWork) kick() bool {
	dw.mu.Lock()
	if !dw.armed {
		dw.mu.Unlock()
		return false
	}
	dw.armed = false
	dw.gen++
	tm := dw.timer
	dw.timer = nil
	dw.wq.removeDelayed(dw)
	dw.wq.insert(dw.cpu, &dw.Work)
	dw.mu.Unlock()
	if tm != nil {
		tm.Stop()
	}
	return true
}

// Flush queues the item at once if its timer is armed, then waits for it
// as Work.Flush does (flush_delayed_work). It returns false without
// waiting if the item was idle. It blocks.
// Preconditions: as Work.Flush.
func (dw *DelayedWork) Flush(t *kernel.Task) bool {
	dw.kick()
	return dw.Work.Flush(t)
}

// Cancel disarms or dequeues the item if it is pending and returns whether
// it was (cancel_delayed_work). It does not wait for a running instance
// and does not block.
func (dw *DelayedWork) Cancel() bool {
	dw.dwork.Store(dw)
	return dw.Work.Cancel()
}

// CancelSync is Cancel that also waits for a running instance; the item is
// idle when it returns (cancel_delayed_work_sync). It blocks.
// Preconditions: as Work.CancelSync.
func (dw *DelayedWork) CancelSync(t *kernel.Task) bool {
	dw.dwork.Store(dw)
	return dw.Work.CancelSync(t)
}

// QueueDelayed queues dw on the workqueue after d, on any CPU (see
// QueueDelayedOn). It returns false if dw was already pending.
func (wq *Workqueue) QueueDelayed(dw *DelayedWork, d time.Duration) bool {
	return wq.QueueDelayedOn(AnyCPU, dw, d)
}

// QueueDelayedOn queues dw on the workqueue for cpu after d
// (queue_delayed_work_on); the timer runs on cpu's timer base. d <= 0
// queues at once. It returns false if dw was already pending (or the
// workqueue is destroyed). It does not block.
func (wq *Workqueue) QueueDelayedOn(cpu int, dw *DelayedWork, d time.Duration) bool {
	if wq.dead.Load() {
		return false
	}
	dw.dwork.Store(dw)
	if !dw.state.CompareAndSwap(0, workPending) {
		return false
	}
	dw.inst.begin()
	dw.arm(wq, wq.normCPU(cpu), d)
	return true
}

// ModDelayed sets dw to run on the workqueue after d from now, whether it
// was idle or pending (mod_delayed_work): a pending item's timer is moved
// (or the queued item taken back and re-armed). It returns true if dw was
// pending (or is being cancelled, in which case nothing is done), false
// if it was idle and has been queued. It does not block.
func (wq *Workqueue) ModDelayed(dw *DelayedWork, d time.Duration) bool {
	return wq.ModDelayedOn(AnyCPU, dw, d)
}

// ModDelayedOn is ModDelayed for a given CPU.
func (wq *Workqueue) ModDelayedOn(cpu int, dw *DelayedWork, d time.Duration) bool {
	if wq.dead.Load() {
		return false
	}
	dw.dwork.Store(dw)
	cpu = wq.normCPU(cpu)
	for {
		if dw.state.CompareAndSwap(0, workPending) {
			dw.inst.begin()
			dw.arm(wq, cpu, d)
			return false
		}
		s := dw.state.Load()
		if s&^workPending != 0 {
			// Being cancelled.
			return true
		}
		if dw.tryGrab() {
			// Same instance, new expiry: flushers keep waiting for it.
			dw.arm(wq, cpu, d)
			return true
		}
		runtime.Gosched()
	}
}
