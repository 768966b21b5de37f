package workqueue

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/sirupsen/logrus"
)

// Config tunes the worker pools. Zero fields take Linux's values.
type Config struct {
	// IdleTimeout is how long a surplus idle worker lives
	// (IDLE_WORKER_TIMEOUT, 5 minutes).
	IdleTimeout time.Duration
	// CreateCooldown is the pause between failed worker creations
	// (CREATE_COOLDOWN, 1 second).
	CreateCooldown time.Duration
	// MaydayInitial is how long a manager may try before the rescuers are
	// called (MAYDAY_INITIAL_TIMEOUT, 10 ms); MaydayInterval how often
	// they are called again (MAYDAY_INTERVAL, 100 ms).
	MaydayInitial  time.Duration
	MaydayInterval time.Duration
	// Log receives the package's messages (default: logrus's standard
	// logger).
	Log logrus.FieldLogger
}

func (c *Config) setDefaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.CreateCooldown <= 0 {
		c.CreateCooldown = time.Second
	}
	if c.MaydayInitial <= 0 {
		c.MaydayInitial = 10 * time.Millisecond
	}
	if c.MaydayInterval <= 0 {
		c.MaydayInterval = 100 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = logrus.StandardLogger()
	}
}

// System is one kernel's workqueue machinery: its worker pools, its
// workqueues, and the system workqueues every subsystem may use.
type System struct {
	k   *kernel.Kernel
	cfg Config
	log logrus.FieldLogger

	cpuPools     [][2]*workerPool // [cpu][normal, highpri]
	unboundPools [2]*workerPool   // [normal, highpri]

	// createFault, if set, is asked before each worker creation and
	// makes it fail with its error (tests: rescuers, cooldown).
	createFault atomic.Pointer[func(poolID int) error]

	mu       sync.Mutex
	wqs      []*Workqueue
	shutdown bool

	// The system workqueues (Linux's system_wq and friends).

	// System ("events") is for short items of anyone (schedule_work).
	System *Workqueue
	// HighPri ("events_highpri") runs in the high-priority pools.
	HighPri *Workqueue
	// Long ("events_long") is for items that may run long.
	Long *Workqueue
	// Unbound ("events_unbound") runs items on any CPU.
	Unbound *Workqueue
	// MMPerCPU ("mm_percpu_wq", MemReclaim) runs per-CPU memory
	// management items such as the vmstat updater.
	MMPerCPU *Workqueue
	// Writeback ("writeback", Unbound|MemReclaim) runs write-behind of
	// dirty file data (Linux's bdi_wq).
	Writeback *Workqueue
}

// ErrShutdown is returned when creating a workqueue after Shutdown.
var ErrShutdown = errors.New("workqueue: system is shut down")

// Init builds the worker pools of k (two per CPU, two unbound), starts one
// worker in each, and creates the system workqueues. It blocks while
// kthreadd creates the workers.
// Preconditions: k.StartKthreadd was called; the caller is not a task
// (it waits for kthreadd on Go channels).
func Init(k *kernel.Kernel, cfg Config) (*System, error) {
	cfg.setDefaults()
	sys := &System{k: k, cfg: cfg, log: cfg.Log}
	n := k.NumCPUs()
	for c := 0; c < n; c++ {
		sys.cpuPools = append(sys.cpuPools, [2]*workerPool{
			newPool(sys, 2*c, c, 0),
			newPool(sys, 2*c+1, c, -20),
		})
	}
	sys.unboundPools = [2]*workerPool{newPool(sys, 2*n, -1, 0), newPool(sys, 2*n+1, -1, -20)}
	for _, p := range sys.pools() {
		// Not started: each gets its host thread at its first
		// kick (createWorker).
		if err := p.createWorker(nil, false); err != nil {
			return nil, fmt.Errorf("workqueue: first worker of pool %d: %w", p.id, err)
		}
	}
	for _, d := range []struct {
		wq    **Workqueue
		name  string
		flags Flags
	}{
		{&sys.System, "events", 0},
		{&sys.HighPri, "events_highpri", HighPri},
		{&sys.Long, "events_long", 0},
		{&sys.Unbound, "events_unbound", Unbound},
		{&sys.MMPerCPU, "mm_percpu_wq", MemReclaim},
		{&sys.Writeback, "writeback", Unbound | MemReclaim},
	} {
		wq, err := sys.NewWorkqueue(d.name, d.flags, 0)
		if err != nil {
			return nil, err
		}
		*d.wq = wq
	}
	return sys, nil
}

// Kernel returns the kernel whose kthreads run the items.
func (sys *System) Kernel() *kernel.Kernel { return sys.k }

// pools returns every pool in ID order.
func (sys *System) pools() []*workerPool {
	var ps []*workerPool
	for _, cp := range sys.cpuPools {
		ps = append(ps, cp[0], cp[1])
	}
	return append(ps, sys.unboundPools[0], sys.unboundPools[1])
}

// NewWorkqueue creates a workqueue (alloc_workqueue). maxActive limits
// the items of the workqueue running at once per pool (per CPU for a
// per-CPU workqueue); 0 means DefaultActive. Ordered forces Unbound and
// max_active 1. A MemReclaim workqueue gets a rescuer kthread named name,
// created in the background. It does not block.
func (sys *System) NewWorkqueue(name string, flags Flags, maxActive int) (*Workqueue, error) {
	if flags&Ordered != 0 {
		flags |= Unbound
		maxActive = 1
	}
	if maxActive <= 0 {
		maxActive = DefaultActive
	}
	maxActive = min(maxActive, MaxActive)
	wq := &Workqueue{
		sys:       sys,
		name:      name,
		flags:     flags,
		maxActive: maxActive,
		delayed:   make(map[*DelayedWork]struct{}),
		rescuerC:  make(chan struct{}),
	}
	hi := 0
	if flags&HighPri != 0 {
		hi = 1
	}
	if flags&Unbound != 0 {
		wq.pwqs = []*poolWorkqueue{{wq: wq, pool: sys.unboundPools[hi], maxActive: maxActive}}
	} else {
		for _, cp := range sys.cpuPools {
			wq.pwqs = append(wq.pwqs, &poolWorkqueue{wq: wq, pool: cp[hi], maxActive: maxActive})
		}
	}
	sys.mu.Lock()
	if sys.shutdown {
		sys.mu.Unlock()
		return nil, ErrShutdown
	}
	sys.wqs = append(sys.wqs, wq)
	sys.mu.Unlock()
	if flags&MemReclaim != 0 {
		wq.startRescuer()
	} else {
		close(wq.rescuerC)
	}
	return wq, nil
}

// NewOrdered creates an ordered workqueue (alloc_ordered_workqueue): its
// items run one at a time, in queueing order.
func (sys *System) NewOrdered(name string, flags Flags) (*Workqueue, error) {
	return sys.NewWorkqueue(name, flags|Ordered, 1)
}

// Workqueues returns the live workqueues in creation order.
func (sys *System) Workqueues() []*Workqueue {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	return append([]*Workqueue(nil), sys.wqs...)
}

func (sys *System) forget(wq *Workqueue) {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	for i, x := range sys.wqs {
		if x == wq {
			sys.wqs = append(sys.wqs[:i], sys.wqs[i+1:]...)
			return
		}
	}
}

// Workers returns the tasks of every live worker and rescuer.
func (sys *System) Workers() []*kernel.Task {
	var ts []*kernel.Task
	for _, p := range sys.pools() {
		p.mu.Lock()
		for wk := range p.workers {
			ts = append(ts, wk.task)
		}
		p.mu.Unlock()
	}
	for _, wq := range sys.Workqueues() {
		if r := wq.rescuer.Load(); r != nil {
			ts = append(ts, r.task)
		}
	}
	return ts
}

// Shutdown destroys every workqueue (running what is pending) and stops
// every worker, waiting for their kthreads to exit. It blocks.
// Preconditions: the caller is not a task; nothing queues any more.
func (sys *System) Shutdown() {
	for _, wq := range sys.Workqueues() {
		wq.Destroy(nil)
	}
	sys.mu.Lock()
	sys.shutdown = true
	sys.mu.Unlock()
	for _, p := range sys.pools() {
		for {
			p.mu.Lock()
			p.dead = true
			var kts []*kernel.Kthread
			for wk := range p.workers {
				wk.die.Store(true)
				wk.kick()
				kts = append(kts, wk.kt)
			}
			managing := p.managerActive
			p.mu.Unlock()
			for _, kt := range kts {
				<-kt.Exited()
			}
			if len(kts) == 0 && !managing {
				break
			}
			if len(kts) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// SetCreateFault makes every worker creation first call f with the pool's
// ID and fail with its error if it returns one; nil removes the fault.
// It is a test hook: it shows what the pools do when no worker can be
// created (rescuers, cooldown).
func (sys *System) SetCreateFault(f func(poolID int) error) {
	if f == nil {
		sys.createFault.Store(nil)
		return
	}
	sys.createFault.Store(&f)
}
