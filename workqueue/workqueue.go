package workqueue

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Flags say how a workqueue's items are run (Linux's WQ_* flags, same
// values).
type Flags uint32

const (
	// Unbound items run in the unbound pools, on any CPU.
	Unbound Flags = 1 << 1
	// MemReclaim gives the workqueue a rescuer kthread that runs its items
	// when the pool cannot create a worker.
	MemReclaim Flags = 1 << 3
	// HighPri items run in the high-priority pools (nice -20).
	HighPri Flags = 1 << 4
	// CPUIntensive items do not count for concurrency management while
	// they run: they neither hold up other items nor are held up.
	CPUIntensive Flags = 1 << 5
	// Ordered items run one at a time in queueing order (implies Unbound
	// and max_active 1; Linux's __WQ_ORDERED).
	Ordered Flags = 1 << 17
)

func (f Flags) String() string {
	var s []string
	for _, x := range []struct {
		f Flags
		n string
	}{{Unbound, "UNBOUND"}, {MemReclaim, "MEM_RECLAIM"}, {HighPri, "HIGHPRI"}, {CPUIntensive, "CPU_INTENSIVE"}, {Ordered, "ORDERED"}} {
		if f&x.f != 0 {
			s = append(s, x.n)
		}
	}
	if len(s) == 0 {
		return "0"
	}
	return strings.Join(s, "|")
}

// max_active limits (WQ_MAX_ACTIVE, WQ_DFL_ACTIVE).
const (
	MaxActive     = 512
	DefaultActive = MaxActive / 2
)

// AnyCPU as a CPU argument lets the workqueue choose (round robin over the
// CPUs for a per-CPU workqueue; unbound workqueues ignore the CPU).
const AnyCPU = -1

// Workqueue is a named queue of work items with flags and max_active
// (workqueue_struct).
type Workqueue struct {
	sys       *System
	name      string
	flags     Flags
	maxActive int
	pwqs      []*poolWorkqueue // per CPU, or one for an unbound workqueue
	rr        atomic.Uint32    // AnyCPU round robin
	dead      atomic.Bool

	// colorMu protects the flush colors: every queued item carries the
	// color current when it was queued; FlushQueue advances the color and
	// waits for the items of the older ones.
	colorMu  sync.Mutex
	color    uint64
	inflight []colorCount // ascending colors with items in flight
	nrFlight int
	flushers []colorFlusher

	delayedMu sync.Mutex
	delayed   map[*DelayedWork]struct{} // armed timers

	maydayMu sync.Mutex
	maydays  []*poolWorkqueue
	rescuer  atomic.Pointer[worker]
	rescuerC chan struct{} // closed once the rescuer is created (or failed)
}

type colorCount struct {
	color uint64
	n     int
}

type colorFlusher struct {
	color uint64
	w     *waiter
}

// poolWorkqueue links a workqueue to a pool (pool_workqueue). Its fields
// are protected by the pool's lock.
type poolWorkqueue struct {
	wq        *Workqueue
	pool      *workerPool
	maxActive int
	nrActive  int
	inactive  workList
	onMayday  bool // protected by wq.maydayMu
	// Statistics for the dump.
	executed, rescued, maydays uint64
}

// Name returns the workqueue's name.
func (wq *Workqueue) Name() string { return wq.name }

// Flags returns the workqueue's flags.
func (wq *Workqueue) Flags() Flags { return wq.flags }

// MaxActive returns the workqueue's max_active per pool.
func (wq *Workqueue) MaxActive() int { return wq.maxActive }

// normCPU maps a CPU argument to a valid CPU or AnyCPU.
func (wq *Workqueue) normCPU(cpu int) int {
	if cpu < 0 {
		return AnyCPU
	}
	return cpu % wq.sys.k.NumCPUs()
}

// pickCPU chooses a CPU for AnyCPU.
func (wq *Workqueue) pickCPU() int {
	return int(wq.rr.Add(1)-1) % wq.sys.k.NumCPUs()
}

// pwqFor returns the pwq an item queued for cpu goes to.
func (wq *Workqueue) pwqFor(cpu int) *poolWorkqueue {
	if len(wq.pwqs) == 1 {
		return wq.pwqs[0]
	}
	if cpu < 0 {
		cpu = wq.pickCPU()
	}
	return wq.pwqs[cpu%len(wq.pwqs)]
}

// Queue queues w on the workqueue (queue_work): on a CPU the workqueue
// chooses for a per-CPU workqueue (see AnyCPU; use QueueOn for a given
// CPU). It returns false if w was already pending (or the workqueue is
// destroyed). It does not block and may be called from any goroutine,
// including timer callbacks and work items.
func (wq *Workqueue) Queue(w *Work) bool { return wq.QueueOn(AnyCPU, w) }

// QueueOn queues w to run on cpu (queue_work_on): a per-CPU workqueue's
// item runs on a worker bound to cpu; an unbound workqueue ignores cpu.
// It returns false if w was already pending (or the workqueue is
// destroyed). It does not block.
func (wq *Workqueue) QueueOn(cpu int, w *Work) bool {
	if wq.dead.Load() {
		return false
	}
	if !w.state.CompareAndSwap(0, workPending) {
		return false
	}
	w.inst.begin()
	wq.insert(wq.normCPU(cpu), w)
	return true
}

// insert puts a pending item on the right pwq (__queue_work).
// Preconditions: the caller owns PENDING; no pool lock is held.
func (wq *Workqueue) insert(cpu int, w *Work) {
	pwq := wq.pwqFor(cpu)
	// Non-reentrancy: an item still running in another pool from this
	// workqueue goes back there, so it never runs twice at once.
	if last := w.pool.Load(); last != nil && last != pwq.pool {
		last.mu.Lock()
		if wk := last.busy[w]; wk != nil && wk.currentPwq != nil && wk.currentPwq.wq == wq {
			pwq = wk.currentPwq
		}
		last.mu.Unlock()
	}
	p := pwq.pool
	p.mu.Lock()
	w.pwq = pwq
	w.pool.Store(p)
	w.color = wq.colorGet()
	if pwq.nrActive < pwq.maxActive {
		pwq.nrActive++
		w.inactive = false
		p.worklist.pushBack(w)
		if p.needMoreWorker() {
			p.wakeUpWorkerLocked()
		}
	} else {
		w.inactive = true
		pwq.inactive.pushBack(w)
	}
	p.mu.Unlock()
}

// retireLocked accounts for an active item of the pwq leaving it (run or
// stolen): the next inactive item becomes active.
// Preconditions: pwq.pool.mu is held.
func (pwq *poolWorkqueue) retireLocked(color uint64) {
	pwq.nrActive--
	if w := pwq.inactive.front(); w != nil && pwq.nrActive < pwq.maxActive {
		pwq.inactive.remove(w)
		w.inactive = false
		pwq.nrActive++
		p := pwq.pool
		p.worklist.pushBack(w)
		if p.needMoreWorker() {
			p.wakeUpWorkerLocked()
		}
	}
	pwq.wq.colorPut(color)
}

// colorGet counts a new item in flight with the current color.
// Preconditions: the item's pool lock is held.
func (wq *Workqueue) colorGet() uint64 {
	wq.colorMu.Lock()
	c := wq.color
	if n := len(wq.inflight); n > 0 && wq.inflight[n-1].color == c {
		wq.inflight[n-1].n++
	} else {
		wq.inflight = append(wq.inflight, colorCount{color: c, n: 1})
	}
	wq.nrFlight++
	wq.colorMu.Unlock()
	return c
}

// colorPut counts an item of color out of flight and releases the
// flushers that were waiting only for older colors.
func (wq *Workqueue) colorPut(color uint64) {
	wq.colorMu.Lock()
	for i := range wq.inflight {
		if wq.inflight[i].color == color {
			wq.inflight[i].n--
			break
		}
	}
	wq.nrFlight--
	for len(wq.inflight) > 0 && wq.inflight[0].n == 0 {
		wq.inflight = wq.inflight[1:]
	}
	for len(wq.flushers) > 0 && (len(wq.inflight) == 0 || wq.inflight[0].color > wq.flushers[0].color) {
		wq.flushers[0].w.done()
		wq.flushers[0] = colorFlusher{}
		wq.flushers = wq.flushers[1:]
	}
	wq.colorMu.Unlock()
}

// FlushQueue waits until every item queued on the workqueue before the
// call has finished (flush_workqueue). Items queued meanwhile, including
// items re-queued by themselves, are not waited for, so it ends even while
// others keep queueing. Armed delayed items are not waited for. It
// blocks.
// Preconditions: t is the calling task (nil from a non-task goroutine);
// not called from an item of this workqueue.
func (wq *Workqueue) FlushQueue(t *kernel.Task) {
	wq.colorMu.Lock()
	my := wq.color
	wq.color++
	if wq.nrFlight == 0 {
		wq.colorMu.Unlock()
		return
	}
	wt := newWaiter()
	wq.flushers = append(wq.flushers, colorFlusher{color: my, w: wt})
	wq.colorMu.Unlock()
	wt.wait(t)
}

func (wq *Workqueue) addDelayed(dw *DelayedWork) {
	wq.delayedMu.Lock()
	wq.delayed[dw] = struct{}{}
	wq.delayedMu.Unlock()
}

func (wq *Workqueue) removeDelayed(dw *DelayedWork) {
	wq.delayedMu.Lock()
	delete(wq.delayed, dw)
	wq.delayedMu.Unlock()
}

// idle reports whether nothing is queued, running or armed.
func (wq *Workqueue) idle() bool {
	wq.colorMu.Lock()
	n := wq.nrFlight
	wq.colorMu.Unlock()
	wq.delayedMu.Lock()
	n += len(wq.delayed)
	wq.delayedMu.Unlock()
	return n == 0
}

// Drain waits until the workqueue is empty (drain_workqueue): armed
// delayed items are queued at once, and it flushes again and again until
// no item is queued, running or armed, so chains of items queuing items on
// this workqueue are run to their end. Other callers must stop queueing
// for it to finish. It blocks.
// Preconditions: as FlushQueue.
func (wq *Workqueue) Drain(t *kernel.Task) {
	for {
		wq.delayedMu.Lock()
		armed := make([]*DelayedWork, 0, len(wq.delayed))
		for dw := range wq.delayed {
			armed = append(armed, dw)
		}
		wq.delayedMu.Unlock()
		for _, dw := range armed {
			dw.kick()
		}
		wq.FlushQueue(t)
		if wq.idle() {
			return
		}
	}
}

// Destroy drains the workqueue, refuses all later queueing (Queue returns
// false), stops its rescuer and forgets it (destroy_workqueue). Items
// pending at the call all run. It blocks.
// Preconditions: as FlushQueue.
func (wq *Workqueue) Destroy(t *kernel.Task) {
	wq.Drain(t)
	if wq.dead.Swap(true) {
		return
	}
	// A queuer racing with the first drain may have slipped in.
	wq.Drain(t)
	blockingCall(t, func() {
		<-wq.rescuerC
		if r := wq.rescuer.Load(); r != nil {
			r.kt.Stop()
		}
	})
	wq.sys.forget(wq)
}

// String names the workqueue for messages.
func (wq *Workqueue) String() string { return fmt.Sprintf("workqueue %q", wq.name) }
