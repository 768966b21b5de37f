package workqueue

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// workerFlags are a worker's WORKER_* flags. Only the worker's own task
// changes them (under the pool lock), so the worker's Sleeping and
// Running hooks read them without the lock.
type workerFlags uint32

const (
	wfIdle workerFlags = 1 << iota
	wfPrep
	wfCPUIntensive
	wfRescuer
	// wfNotRunning: a worker with any of these is not counted in
	// nr_running (concurrency management rule 1).
	wfNotRunning = wfIdle | wfPrep | wfCPUIntensive | wfRescuer
)

// Pool tuning (Linux's values, workqueue.c).
const (
	// maxIdleWorkersRatio: keep at most one idle worker per this many
	// busy ones (beyond the two always kept).
	maxIdleWorkersRatio = 4
	// minIdleKept: idle workers never retired.
	minIdleKept = 2
)

// workerPool is a set of workers serving the items of every pwq attached
// to it (worker_pool). All its fields after mu are protected by mu.
type workerPool struct {
	sys         *System
	id          int
	cpu         int // -1 for an unbound pool
	nice        int
	cpus        kernel.CPUSet
	concurrency int // running workers wanted (rule 2)

	mu            sync.Mutex
	worklist      workList
	nrRunning     int
	nrWorkers     int
	nrIdle        int
	idle          []*worker // oldest first; woken from the end
	workers       map[*worker]struct{}
	busy          map[*Work]*worker
	ids           map[int]bool
	managerActive bool
	manager       *worker
	idleArmed     bool
	maydayArmed   bool
	dead          bool
	// Statistics for the dump.
	created, retired, createFailed, maydays uint64
}

func newPool(sys *System, id, cpu, nice int) *workerPool {
	p := &workerPool{
		sys:     sys,
		id:      id,
		cpu:     cpu,
		nice:    nice,
		workers: make(map[*worker]struct{}),
		busy:    make(map[*Work]*worker),
		ids:     make(map[int]bool),
	}
	n := sys.k.NumCPUs()
	if cpu >= 0 {
		p.cpus.Set(cpu)
		p.concurrency = 1
	} else {
		p.cpus = kernel.AllCPUs(n)
		p.concurrency = n
	}
	return p
}

// workerName names worker id of the pool (see the package comment).
func (p *workerPool) workerName(id int) string {
	if p.cpu >= 0 {
		h := ""
		if p.nice < 0 {
			h = "H"
		}
		return fmt.Sprintf("kworker/%d:%d%s", p.cpu, id, h)
	}
	return fmt.Sprintf("kworker/u%d:%d", p.id, id)
}

// timerCPU is the CPU whose timer base runs the pool's timers.
func (p *workerPool) timerCPU() int {
	if p.cpu >= 0 {
		return p.cpu
	}
	return 0
}

// The predicates of concurrency management (package comment, rules 3-8).
// Preconditions: p.mu is held.

func (p *workerPool) needMoreWorker() bool {
	return !p.worklist.empty() && p.nrRunning < p.concurrency
}

func (p *workerPool) mayStartWorking() bool { return p.nrIdle > 0 }

func (p *workerPool) keepWorking() bool {
	return !p.worklist.empty() && p.nrRunning <= p.concurrency
}

func (p *workerPool) needToCreateWorker() bool {
	return p.needMoreWorker() && !p.mayStartWorking()
}

func (p *workerPool) tooManyWorkers() bool {
	nrIdle := p.nrIdle
	if p.managerActive {
		nrIdle++
	}
	nrBusy := p.nrWorkers - nrIdle
	return nrIdle > minIdleKept && (nrIdle-minIdleKept)*maxIdleWorkersRatio >= nrBusy
}

// wakeUpWorkerLocked wakes the most recently idle worker.
// Preconditions: p.mu is held.
func (p *workerPool) wakeUpWorkerLocked() {
	if n := len(p.idle); n > 0 {
		p.idle[n-1].kick()
	}
}

// worker is a kworker (or a rescuer) of a pool.
type worker struct {
	pool *workerPool // fixed for workers; nil for a rescuer
	id   int
	name string
	kt   *kernel.Kthread
	task *kernel.Task
	// rescueWQ is the workqueue a rescuer serves.
	rescueWQ *Workqueue

	// Protected by the lock of the pool the worker serves; flags and
	// sleeping change only on the worker's own task.
	flags        workerFlags
	sleeping     bool
	current      *Work
	currentPwq   *poolWorkqueue
	currentStart time.Time
	scheduled    workList
	lastActive   time.Time
	detached     bool
	processed    uint64

	kicked kernel.Completion
	waitq  kernel.WaitQueue
	// die tells the worker to exit at its next wake-up.
	die atomic.Bool
}

// kick wakes the worker if it waits for work (wake_up_process); a worker
// or rescuer that never ran starts now (kernel.Kthread.Run). It does not
// block.
func (wk *worker) kick() {
	if wk.kt != nil {
		wk.kt.Run()
	}
	if wk.rescueWQ != nil {
		wk.waitq.NotifyAll()
		return
	}
	wk.kicked.Complete()
}

// setFlagsLocked and clearFlagsLocked change the worker's flags, keeping
// nr_running right. Preconditions: the pool lock is held; called by the
// worker's own task while it runs.
func (wk *worker) setFlagsLocked(p *workerPool, f workerFlags) {
	if wk.flags&wfNotRunning == 0 && f&wfNotRunning != 0 {
		p.nrRunning--
	}
	wk.flags |= f
}

func (wk *worker) clearFlagsLocked(p *workerPool, f workerFlags) {
	old := wk.flags
	wk.flags &^= f
	if old&wfNotRunning != 0 && wk.flags&wfNotRunning == 0 {
		p.nrRunning++
	}
}

// hookSleeping is the worker's Sleeping hook (wq_worker_sleeping, rule
// 5). It runs on the worker's own task just before it gives up its CPU to
// sleep; it does not block.
func (wk *worker) hookSleeping(*kernel.Task) {
	if wk.flags&wfNotRunning != 0 || wk.sleeping {
		return
	}
	p := wk.pool
	p.mu.Lock()
	wk.sleeping = true
	p.nrRunning--
	if p.needMoreWorker() {
		p.wakeUpWorkerLocked()
	}
	p.mu.Unlock()
}

// hookRunning is the worker's Running hook (wq_worker_running).
func (wk *worker) hookRunning(*kernel.Task) {
	if !wk.sleeping {
		return
	}
	p := wk.pool
	p.mu.Lock()
	wk.sleeping = false
	if wk.flags&wfNotRunning == 0 {
		p.nrRunning++
	}
	p.mu.Unlock()
}

// enterIdleLocked makes the worker idle (worker_enter_idle). It returns
// whether the caller must arm the idle timer (after dropping the lock).
// Preconditions: p.mu is held; the worker has PREP set.
func (p *workerPool) enterIdleLocked(wk *worker) bool {
	wk.flags |= wfIdle
	wk.lastActive = time.Now()
	p.nrIdle++
	p.idle = append(p.idle, wk)
	if !p.idleArmed && p.tooManyWorkers() {
		p.idleArmed = true
		return true
	}
	return false
}

// leaveIdleLocked takes the worker off the idle list.
// Preconditions: p.mu is held.
func (p *workerPool) leaveIdleLocked(wk *worker) {
	if wk.flags&wfIdle == 0 {
		return
	}
	wk.flags &^= wfIdle
	p.nrIdle--
	for i, x := range p.idle {
		if x == wk {
			copy(p.idle[i:], p.idle[i+1:])
			p.idle[len(p.idle)-1] = nil
			p.idle = p.idle[:len(p.idle)-1]
			break
		}
	}
}

// detachLocked removes a worker from the pool for good.
// Preconditions: p.mu is held; the worker is idle or about to exit.
func (p *workerPool) detachLocked(wk *worker) {
	if wk.detached {
		return
	}
	wk.detached = true
	if wk.flags&wfIdle != 0 {
		// Not through leaveIdleLocked: only the worker changes its
		// flags; the idle count and list are the pool's.
		p.nrIdle--
		for i, x := range p.idle {
			if x == wk {
				copy(p.idle[i:], p.idle[i+1:])
				p.idle[len(p.idle)-1] = nil
				p.idle = p.idle[:len(p.idle)-1]
				break
			}
		}
	}
	delete(p.workers, wk)
	delete(p.ids, wk.id)
	p.nrWorkers--
}

// allocIDLocked takes the smallest free worker ID.
func (p *workerPool) allocIDLocked() int {
	id := 0
	for p.ids[id] {
		id++
	}
	p.ids[id] = true
	return id
}

// run is a worker's kthread function (worker_thread).
func (wk *worker) run(kt *kernel.Kthread) int {
	p := wk.pool
	t := kt.Task()
	t.SetWorkerHooks(kernel.WorkerHooks{Sleeping: wk.hookSleeping, Running: wk.hookRunning})
	for {
		p.mu.Lock()
		if wk.die.Load() || kt.ShouldStop() {
			p.detachLocked(wk)
			p.mu.Unlock()
			return 0
		}
		p.leaveIdleLocked(wk)
		for p.needMoreWorker() {
			if !p.mayStartWorking() && p.manageWorkersLocked(wk) {
				continue // the lock was dropped: recheck
			}
			wk.clearFlagsLocked(p, wfPrep)
			for {
				if w := p.worklist.front(); w != nil && p.assignWorkLocked(w, wk) {
					p.processScheduledLocked(wk)
				}
				if !p.keepWorking() {
					break
				}
			}
			wk.setFlagsLocked(p, wfPrep)
			break
		}
		arm := p.enterIdleLocked(wk)
		p.mu.Unlock()
		if arm {
			p.armIdleTimer(p.sys.cfg.IdleTimeout)
		}
		wk.kicked.Wait(t)
		// Several kicks may have piled up; one wake-up serves them all.
		for wk.kicked.Done() {
			wk.kicked.Wait(t)
		}
	}
}

// assignWorkLocked moves w from the worklist to wk's scheduled list and
// returns true, or, if another worker of the pool is running w, to that
// worker's list and returns false (rule 9, assign_work).
// Preconditions: p.mu is held; w is on p.worklist.
func (p *workerPool) assignWorkLocked(w *Work, wk *worker) bool {
	p.worklist.remove(w)
	if other := p.busy[w]; other != nil && other != wk {
		other.scheduled.pushBack(w)
		return false
	}
	wk.scheduled.pushBack(w)
	return true
}

// processScheduledLocked runs wk's scheduled items, including those handed
// to it meanwhile. Preconditions: p.mu is held (dropped around each item).
func (p *workerPool) processScheduledLocked(wk *worker) {
	for w := wk.scheduled.front(); w != nil; w = wk.scheduled.front() {
		p.processOneLocked(wk, w)
	}
}

// processOneLocked runs one item (process_one_work).
// Preconditions: p.mu is held (dropped while the item runs); w is the
// first item of wk.scheduled.
func (p *workerPool) processOneLocked(wk *worker, w *Work) {
	pwq := w.pwq
	color := w.color
	fn := w.Func
	wk.scheduled.remove(w)
	p.busy[w] = wk
	wk.current, wk.currentPwq = w, pwq
	wk.currentStart = time.Now()
	seq := w.inst.start()
	// From here the item may be queued again, even by itself.
	w.state.And(^workPending)
	intensive := pwq.wq.flags&CPUIntensive != 0
	if intensive {
		wk.setFlagsLocked(p, wfCPUIntensive)
	}
	// Unbound pools fan out up to their concurrency; a CPU-intensive
	// item lets another worker take the rest.
	if p.needMoreWorker() {
		p.wakeUpWorkerLocked()
	}
	p.mu.Unlock()

	if fn != nil {
		fn(wk.task, w)
	}
	wk.task.PreemptPoint()

	p.mu.Lock()
	if intensive {
		wk.clearFlagsLocked(p, wfCPUIntensive)
	}
	if p.busy[w] == wk {
		delete(p.busy, w)
	}
	wk.current, wk.currentPwq = nil, nil
	wk.processed++
	pwq.executed++
	w.inst.finish(seq)
	pwq.retireLocked(color)
}

// stealLocked takes a pending item off whatever list of the pool it is on
// (worklist, a worker's scheduled list, or its pwq's inactive list).
// Preconditions: p.mu is held; w.list != nil and w.pool == p.
func (p *workerPool) stealLocked(w *Work) {
	pwq := w.pwq
	w.list.remove(w)
	if w.inactive {
		w.inactive = false
		pwq.wq.colorPut(w.color)
		return
	}
	pwq.retireLocked(w.color)
}

// manageWorkersLocked makes wk the pool's manager, if there is none, and
// creates workers until one is idle (manage_workers, rule 6). It returns
// false at once if another worker manages; true once it managed, with the
// lock dropped and retaken in between.
// Preconditions: p.mu is held; called by wk's own task, wk has PREP set.
func (p *workerPool) manageWorkersLocked(wk *worker) bool {
	if p.managerActive {
		return false
	}
	p.managerActive = true
	p.manager = wk
	armMayday := !p.maydayArmed
	p.maydayArmed = true
	for p.needToCreateWorker() && !p.dead && !wk.die.Load() {
		p.mu.Unlock()
		if armMayday {
			armMayday = false
			p.armMaydayTimer(p.sys.cfg.MaydayInitial)
		}
		if err := p.createWorker(wk.task, true); err != nil {
			p.sys.log.WithError(err).WithField("pool", p.id).Debug("workqueue: cannot create worker, retrying")
			var q kernel.WaitQueue
			q.Wait(wk.task, func() bool { return false }, kernel.WaitOpts{Timeout: p.sys.cfg.CreateCooldown})
		}
		p.mu.Lock()
	}
	p.managerActive = false
	p.manager = nil
	return true
}

// createWorker creates a worker and makes it idle in the pool
// (create_worker), and with run starts it at once; without, the worker
// gets its host thread at its first kick (a pool's first worker, made at
// Init, which a short sandbox may never need). It blocks; t is the calling
// task or nil.
// Preconditions: p.mu is not held.
func (p *workerPool) createWorker(t *kernel.Task, run bool) error {
	p.mu.Lock()
	id := p.allocIDLocked()
	p.mu.Unlock()
	fail := func(err error) error {
		p.mu.Lock()
		delete(p.ids, id)
		p.createFailed++
		p.mu.Unlock()
		return err
	}
	if f := p.sys.createFault.Load(); f != nil {
		if err := (*f)(p.id); err != nil {
			return fail(err)
		}
	}
	wk := &worker{pool: p, id: id, name: p.workerName(id), flags: wfPrep}
	opts := kernel.KthreadOptions{
		Name:  wk.name,
		CPU:   p.cpu,
		Bound: p.cpu >= 0,
		Nice:  p.nice,
		Flags: kernel.PFWqWorker,
	}
	var kt *kernel.Kthread
	var err error
	blockingCall(t, func() { kt, err = p.sys.k.KthreadCreate(opts, wk.run) })
	if err != nil {
		return fail(err)
	}
	wk.kt = kt
	wk.task = kt.Task()
	p.mu.Lock()
	if p.dead {
		wk.die.Store(true)
	}
	p.workers[wk] = struct{}{}
	p.nrWorkers++
	p.created++
	arm := p.enterIdleLocked(wk)
	p.mu.Unlock()
	if arm {
		p.armIdleTimer(p.sys.cfg.IdleTimeout)
	}
	if run {
		kt.Run()
	}
	return nil
}

// armIdleTimer arms the idle timer (p.idleArmed is already set).
// Preconditions: p.mu is not held.
func (p *workerPool) armIdleTimer(d time.Duration) {
	p.sys.k.AfterFunc(p.timerCPU(), d, p.idleTimeout)
}

// idleTimeout retires the workers idle for longer than IdleTimeout while
// the pool has too many (rule 8, idle_worker_timeout). Timer context: it
// does not block.
func (p *workerPool) idleTimeout() {
	now := time.Now()
	var rearm time.Duration
	p.mu.Lock()
	p.idleArmed = false
	for p.tooManyWorkers() && len(p.idle) > 0 {
		wk := p.idle[0]
		expires := wk.lastActive.Add(p.sys.cfg.IdleTimeout)
		if now.Before(expires) {
			rearm = expires.Sub(now)
			break
		}
		p.detachLocked(wk)
		p.retired++
		wk.die.Store(true)
		wk.kick()
	}
	if rearm > 0 {
		p.idleArmed = true
	}
	if p.needMoreWorker() {
		p.wakeUpWorkerLocked()
	}
	p.mu.Unlock()
	if rearm > 0 {
		p.armIdleTimer(rearm)
	}
}

// armMaydayTimer arms the mayday timer (p.maydayArmed is already set).
// Preconditions: p.mu is not held.
func (p *workerPool) armMaydayTimer(d time.Duration) {
	p.sys.k.AfterFunc(p.timerCPU(), d, p.maydayTimeout)
}

// maydayTimeout calls the rescuers while the manager cannot create a
// worker (rule 7, pool_mayday_timeout). Timer context: it does not block.
func (p *workerPool) maydayTimeout() {
	p.mu.Lock()
	if !p.managerActive || p.dead || !p.needToCreateWorker() {
		p.maydayArmed = false
		p.mu.Unlock()
		return
	}
	for w := p.worklist.front(); w != nil; w = w.next {
		p.sendMaydayLocked(w.pwq)
	}
	p.mu.Unlock()
	p.armMaydayTimer(p.sys.cfg.MaydayInterval)
}

// sendMaydayLocked asks pwq's workqueue's rescuer to run pwq's items.
// Preconditions: p.mu is held.
func (p *workerPool) sendMaydayLocked(pwq *poolWorkqueue) {
	wq := pwq.wq
	r := wq.rescuer.Load()
	if r == nil {
		return
	}
	wq.maydayMu.Lock()
	if !pwq.onMayday {
		pwq.onMayday = true
		pwq.maydays++
		p.maydays++
		wq.maydays = append(wq.maydays, pwq)
	}
	wq.maydayMu.Unlock()
	r.kick()
}
