package workqueue

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"golang.org/x/sys/unix"
)

// This file holds what the sentry's own users of workqueues need, so that
// their packages only call into it:
//
//   - HostFDCloser: deferred release of host file descriptors on close
//     (Linux's delayed_fput), so a close(2) never waits for the host.
//   - Writeback and WritebackSet: write-behind of a host-backed file's
//     dirty data, with fsync/fdatasync/syncfs/sync waiting for it (the
//     bdi flusher's job).
//   - VmstatUpdater: a per-CPU delayed work that folds per-CPU counters
//     every interval (vmstat_update).

// HostFDCloser closes host file descriptors on a workqueue. Close hands a
// descriptor over and returns at once; a work item closes every
// descriptor handed over so far in one batch.
//
// Wiring (hostfs, hostfd): instead of unix.Close(fd) in a file's Release,
// call closer.Close(fd), with one closer per sandbox built on the unbound
// system workqueue:
//
//	closer := workqueue.NewHostFDCloser(sys.Unbound, nil)
//	func (f *File) Release() { f.once.Do(func() { closer.Close(f.fd) }) }
//
// A descriptor must not be used after it is handed over.
type HostFDCloser struct {
	wq      *Workqueue
	closeFn func(t *kernel.Task, fd int) error

	mu   sync.Mutex
	fds  []int
	work Work

	closed, failed atomic.Uint64
}

// NewHostFDCloser returns a closer whose items run on wq. closeFn closes
// one descriptor (nil: unix.Close); it runs on a worker task t.
func NewHostFDCloser(wq *Workqueue, closeFn func(t *kernel.Task, fd int) error) *HostFDCloser {
	if closeFn == nil {
		closeFn = func(_ *kernel.Task, fd int) error { return unix.Close(fd) }
	}
	c := &HostFDCloser{wq: wq, closeFn: closeFn}
	c.work.Name = "delayed_fput"
	c.work.Func = c.run
	return c
}

// Close hands fd over to be closed soon. It does not block. If the
// workqueue is destroyed, fd is closed at once by the caller.
func (c *HostFDCloser) Close(fd int) {
	c.mu.Lock()
	c.fds = append(c.fds, fd)
	c.mu.Unlock()
	if !c.wq.Queue(&c.work) && c.wq.dead.Load() {
		c.run(nil, &c.work)
	}
}

func (c *HostFDCloser) run(t *kernel.Task, _ *Work) {
	c.mu.Lock()
	fds := c.fds
	c.fds = nil
	c.mu.Unlock()
	for _, fd := range fds {
		// close(2) is not retried, even on EINTR: the descriptor is
		// gone either way.
		if err := c.closeFn(t, fd); err != nil {
			c.failed.Add(1)
		} else {
			c.closed.Add(1)
		}
	}
}

// Flush waits until every descriptor handed over before the call is
// closed. It blocks; t is the calling task or nil.
func (c *HostFDCloser) Flush(t *kernel.Task) { c.work.Flush(t) }

// Stats returns how many descriptors were closed and how many closes
// failed.
func (c *HostFDCloser) Stats() (closed, failed uint64) { return c.closed.Load(), c.failed.Load() }

// Writeback is the write-behind of one host-backed file: the file's owner
// keeps the dirty data (its page cache) and calls MarkDirty after each
// write; a delayed work item calls write on a kworker some time later, and
// Sync (fsync, fdatasync) waits until everything dirtied before it is
// written.
//
// Wiring (hostfs File with a write cache):
//
//	f.wb = workqueue.NewWriteback(sys.Writeback, 5*time.Second, f.writeDirty)
//	WriteAt: copy into the cache, then f.wb.MarkDirty()
//	Sync (fsync/fdatasync): f.wb.Sync(task); then fsync/fdatasync the host fd
//	Release: f.wb.Close(task) before the host fd is closed
//
// where f.writeDirty pwrites every dirty range to the host fd and marks it
// clean, returning the first error.
type Writeback struct {
	wq    *Workqueue
	delay time.Duration
	write func(t *kernel.Task) error
	dw    DelayedWork

	mu      sync.Mutex
	dirtied uint64 // generation of the last MarkDirty
	written uint64 // last generation written back in full
	err     error  // first write error not yet returned by Sync
	writes  uint64
	closed  bool
}

// NewWriteback returns the write-behind of one file. write must write all
// the data dirty when it is called to the host file (it runs on a worker
// task t and may block through t); delay is how long dirty data may wait
// (Linux's dirty_expire_centisecs, 30 s; a few seconds suit a sandbox).
func NewWriteback(wq *Workqueue, delay time.Duration, write func(t *kernel.Task) error) *Writeback {
	wb := &Writeback{wq: wq, delay: delay, write: write}
	wb.dw.Name = "wb_workfn"
	wb.dw.Func = wb.run
	return wb
}

// MarkDirty records that the file has new dirty data and makes sure a
// writeback is scheduled (the first dirtying starts the clock). It does
// not block.
func (wb *Writeback) MarkDirty() {
	wb.mu.Lock()
	wb.dirtied++
	closed := wb.closed
	wb.mu.Unlock()
	if !closed {
		wb.wq.QueueDelayed(&wb.dw, wb.delay)
	}
}

// Dirty reports whether data dirtied has not been written back yet.
func (wb *Writeback) Dirty() bool {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.written < wb.dirtied
}

// Writes returns how many times write was called.
func (wb *Writeback) Writes() uint64 {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.writes
}

func (wb *Writeback) run(t *kernel.Task, _ *Work) {
	wb.mu.Lock()
	gen := wb.dirtied
	if gen == wb.written {
		wb.mu.Unlock()
		return
	}
	wb.writes++
	wb.mu.Unlock()
	err := wb.write(t)
	wb.mu.Lock()
	if err != nil {
		// The data stays dirty: the next Sync or MarkDirty retries.
		if wb.err == nil {
			wb.err = err
		}
	} else if gen > wb.written {
		wb.written = gen
	}
	wb.mu.Unlock()
}

// ErrWritebackClosed is returned by Sync after Close.
var ErrWritebackClosed = errors.New("workqueue: writeback closed")

// Sync starts writeback at once if data is dirty and waits until all data
// dirtied before the call is written (fsync, fdatasync). It returns the
// first write error since the last Sync, if any (the data then stays
// dirty). It blocks; t is the calling task or nil.
// Preconditions: not called from wb's own write.
func (wb *Writeback) Sync(t *kernel.Task) error {
	wb.mu.Lock()
	target := wb.dirtied
	wb.mu.Unlock()
	for {
		wb.mu.Lock()
		if err := wb.err; err != nil {
			wb.err = nil
			wb.mu.Unlock()
			return err
		}
		if wb.written >= target {
			wb.mu.Unlock()
			return nil
		}
		closed := wb.closed
		wb.mu.Unlock()
		if closed {
			// No more items: write in the caller.
			wb.run(t, &wb.dw.Work)
			continue
		}
		wb.wq.ModDelayed(&wb.dw, 0)
		wb.dw.Flush(t)
	}
}

// Close writes back what is dirty, waits for it and stops the delayed
// work for good (the file's last close). It returns Sync's error. It
// blocks; t is the calling task or nil.
func (wb *Writeback) Close(t *kernel.Task) error {
	err := wb.Sync(t)
	wb.mu.Lock()
	wb.closed = true
	wb.mu.Unlock()
	wb.dw.CancelSync(t)
	return err
}

// WritebackSet is the set of files with write-behind of one filesystem
// (syncfs) or of the whole sandbox (sync).
type WritebackSet struct {
	mu    sync.Mutex
	files map[*Writeback]struct{}
}

// Add puts wb in the set.
func (s *WritebackSet) Add(wb *Writeback) {
	s.mu.Lock()
	if s.files == nil {
		s.files = make(map[*Writeback]struct{})
	}
	s.files[wb] = struct{}{}
	s.mu.Unlock()
}

// Remove takes wb out of the set.
func (s *WritebackSet) Remove(wb *Writeback) {
	s.mu.Lock()
	delete(s.files, wb)
	s.mu.Unlock()
}

// Sync starts writeback of every dirty file of the set at once (so they
// are written in parallel on the unbound pool), waits for all of them and
// returns the first error (syncfs, sync). It blocks; t is the calling task
// or nil.
func (s *WritebackSet) Sync(t *kernel.Task) error {
	s.mu.Lock()
	wbs := make([]*Writeback, 0, len(s.files))
	for wb := range s.files {
		wbs = append(wbs, wb)
	}
	s.mu.Unlock()
	for _, wb := range wbs {
		if wb.Dirty() {
			wb.wq.ModDelayed(&wb.dw, 0)
		}
	}
	var first error
	for _, wb := range wbs {
		if err := wb.Sync(t); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// VmstatUpdater runs fold(t, cpu) on every CPU, on that CPU, every
// interval, through one per-CPU delayed work item per CPU that re-queues
// itself (vmstat_update on mm_percpu_wq).
//
// Wiring (mm / procfs): keep the vmstat counters per CPU (each CPU adds
// to its own without sharing a cache line); fold moves CPU cpu's deltas
// into the global counters /proc/vmstat reads, and may fold the CPU's
// share of the load-average inputs (runnable and uninterruptible counts)
// the same way, as Linux's calc_load_fold does:
//
//	u, _ := workqueue.StartVmstatUpdater(sys.MMPerCPU, time.Second, func(t *kernel.Task, cpu int) {
//		vmstat.FoldCPU(cpu)
//	})
type VmstatUpdater struct {
	wq       *Workqueue
	interval time.Duration
	fold     func(t *kernel.Task, cpu int)
	works    []*DelayedWork
	stopped  atomic.Bool
	folds    []atomic.Uint64
}

// StartVmstatUpdater starts the per-CPU updates on wq, which must be a
// per-CPU workqueue (fold must run on the CPU whose counters it folds).
// fold runs on CPU cpu's worker; it must not block for long.
func StartVmstatUpdater(wq *Workqueue, interval time.Duration, fold func(t *kernel.Task, cpu int)) (*VmstatUpdater, error) {
	if wq.flags&Unbound != 0 {
		return nil, errors.New("workqueue: vmstat updates need a per-CPU workqueue")
	}
	if interval <= 0 {
		return nil, errors.New("workqueue: vmstat interval must be positive")
	}
	n := wq.sys.k.NumCPUs()
	u := &VmstatUpdater{wq: wq, interval: interval, fold: fold, folds: make([]atomic.Uint64, n)}
	for cpu := 0; cpu < n; cpu++ {
		dw := &DelayedWork{}
		dw.Name = "vmstat_update"
		dw.Func = func(t *kernel.Task, _ *Work) {
			u.fold(t, cpu)
			u.folds[cpu].Add(1)
			if !u.stopped.Load() {
				u.wq.QueueDelayedOn(cpu, dw, u.interval)
			}
		}
		u.works = append(u.works, dw)
	}
	for cpu, dw := range u.works {
		wq.QueueDelayedOn(cpu, dw, interval)
	}
	return u, nil
}

// Folds returns how many times CPU cpu's counters were folded.
func (u *VmstatUpdater) Folds(cpu int) uint64 { return u.folds[cpu].Load() }

// Stop ends the updates and waits for a running one. It blocks; t is the
// calling task or nil.
func (u *VmstatUpdater) Stop(t *kernel.Task) {
	u.stopped.Store(true)
	for _, dw := range u.works {
		dw.CancelSync(t)
	}
}
