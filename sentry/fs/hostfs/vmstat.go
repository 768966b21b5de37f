package hostfs

import (
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// Page I/O counters for /proc/vmstat (pgpgin, pgpgout, nr_dirty): bytes
// read from and written to host files, counted per sandbox CPU by the
// task that did the I/O (each CPU adds to its own cache line), and folded
// into global totals by procfs's per-CPU vmstat update on that CPU. The
// counters are process-wide: one sentry runs one sandbox.

// maxCounterCPUs bounds the per-CPU arrays; higher CPU IDs share slots.
const maxCounterCPUs = 256

type cpuPageIO struct {
	read, written atomic.Uint64
	_             [48]byte // one cache line per CPU
}

var (
	pageIO     [maxCounterCPUs]cpuPageIO
	dirtyBytes atomic.Int64
)

func cpuOf(t *kernel.Task) int {
	if t == nil {
		return 0
	}
	if c := t.CPU(); c != nil {
		return c.ID() % maxCounterCPUs
	}
	return 0
}

func countIn(t *kernel.Task, n int) {
	if n > 0 {
		pageIO[cpuOf(t)].read.Add(uint64(n))
	}
}

func countOut(t *kernel.Task, n int) {
	if n > 0 {
		pageIO[cpuOf(t)].written.Add(uint64(n))
	}
}

func addDirty(n int64) { dirtyBytes.Add(n) }

// TakeCPUPageIO returns the bytes read from and written to host files on
// CPU cpu since the last call for that CPU, and zeroes them (the per-CPU
// delta a vmstat fold moves into the global counters). It does not block.
func TakeCPUPageIO(cpu int) (read, written uint64) {
	c := &pageIO[cpu%maxCounterCPUs]
	return c.read.Swap(0), c.written.Swap(0)
}

// DirtyBytes returns the bytes currently held in write-behind buffers and
// not yet written to the host.
func DirtyBytes() int64 { return max(dirtyBytes.Load(), 0) }
