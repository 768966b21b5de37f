package procfs

import (
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/workqueue"
)

// /proc/vmstat.
//
// The event counters (pgpgin, pgpgout: KiB read from and written to host
// files) are kept per CPU by package hostfs, where the I/O happens. As
// Linux's vmstat_update does, a per-CPU delayed work item on mm_percpu_wq
// (StartVmstat) runs on each CPU's kworker once per interval and folds
// that CPU's deltas into the global totals below, which /proc/vmstat
// shows; so the file lags the truth by up to one interval, like Linux's.
// The gauges and the zone's own events come from the memory zone's
// snapshot when the file is opened (meminfo.go).
//
// Locking: the totals are atomics; no locks.

// vmstatTotals are the folded global event counters, in bytes. They are
// process-wide: one sentry runs one sandbox.
var vmstatTotals struct {
	read, written atomic.Uint64
	folds         atomic.Uint64
}

// vmstatFoldHook, if set (tests), is called by every fold with the
// worker and the CPU it folds.
var vmstatFoldHook func(t *kernel.Task, cpu int)

// FoldVmstatCPU moves CPU cpu's per-CPU counters into the global totals
// (Linux's refresh_cpu_vm_stats). t is the worker running the fold (nil
// outside a worker). It does not block.
func FoldVmstatCPU(t *kernel.Task, cpu int) {
	if h := vmstatFoldHook; h != nil {
		h(t, cpu)
	}
	r, w := hostfs.TakeCPUPageIO(cpu)
	vmstatTotals.read.Add(r)
	vmstatTotals.written.Add(w)
	vmstatTotals.folds.Add(1)
}

// VmstatInterval is how often each CPU's counters are folded
// (vm.stat_interval, 1 s).
const VmstatInterval = time.Second

// StartVmstat starts the per-CPU folds of sys's kernel on mm_percpu_wq
// every interval (VmstatInterval if 0) and returns the updater (Stop it at
// shutdown). It does not block.
func StartVmstat(sys *workqueue.System, interval time.Duration) (*workqueue.VmstatUpdater, error) {
	if interval <= 0 {
		interval = VmstatInterval
	}
	return workqueue.StartVmstatUpdater(sys.MMPerCPU, interval, FoldVmstatCPU)
}
