package kswapd

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
)

// PLACEHOLDER: the signatures below are the contract; the bodies are a
// minimal pass-through so the tree builds while the real zone is written.

// Config configures a Zone.
type Config struct {
	// SwapSize is the size of the swap file in bytes (--swap); 0 turns
	// swap off.
	SwapSize uint64
	// SwapDir is the host directory the (unlinked) swap file is created
	// in; empty means os.TempDir().
	SwapDir string
	// Log receives the OOM killer's report and kswapd's debug lines.
	Log *logrus.Logger
}

// Zone is the sandbox's one memory zone: the memory file with its
// watermarks, LRU lists, swap, kswapd0 and the OOM killer.
type Zone struct {
	mf  *memfile.MemoryFile
	cfg Config
}

// New creates the zone over mf. kswapd0 starts with Start.
func New(mf *memfile.MemoryFile, cfg Config) (*Zone, error) {
	return &Zone{mf: mf, cfg: cfg}, nil
}

// Start creates kswapd0 (a kthread, child of kthreadd).
func (z *Zone) Start(k *kernel.Kernel) error { return nil }

// Stop stops kswapd0 and releases the swap file.
func (z *Zone) Stop() {}

// MemoryFile returns the zone's memory file.
func (z *Zone) MemoryFile() *memfile.MemoryFile { return z.mf }

// SetOOMCandidates installs the function the OOM killer lists processes
// with.
func (z *Zone) SetOOMCandidates(f OOMCandidates) {}

// Allocate returns npages contiguous zeroed frames, each with one
// reference, and puts them on kind's LRU list as owner's pages at key,
// key+PageSize, ... It never blocks and takes no lock of the caller's: when
// the allocation would take free memory below the min watermark it fails
// with ErrNoMemory (the caller drops its locks, calls Reclaim, retries);
// below the low watermark it wakes kswapd0.
func (z *Zone) Allocate(npages uint64, kind Kind, owner Owner, key uint64) (memfile.FileRange, error) {
	return z.mf.Allocate(npages)
}

// SetOwner re-labels the page in frame (a page that moved: mremap, a COW
// copy's old frame handed to the remaining sharer, a swapped-in page).
func (z *Zone) SetOwner(frame uint64, kind Kind, owner Owner, key uint64) {}

// MarkAccessed records a use of the page in frame (mark_page_accessed):
// an inactive referenced page is activated, otherwise it becomes
// referenced.
func (z *Zone) MarkAccessed(frame uint64) {}

// Reclaim is the slow path of an allocation that failed with ErrNoMemory:
// direct reclaim in the calling task (counts an allocation stall), and
// when nothing can be reclaimed the OOM killer. It returns nil when the
// caller should retry the allocation and ErrOOM when it should give up. t
// is the calling task (nil when the caller has none at hand: waits then
// keep the CPU).
func (z *Zone) Reclaim(t *kernel.Task, npages uint64) error { return ErrOOM }

// Count adds n to a /proc/vmstat counter.
func (z *Zone) Count(e Event, n uint64) {}

// AddStat adds delta to a /proc/meminfo gauge.
func (z *Zone) AddStat(s Stat, delta int64) {}

// Snapshot returns the zone's current state.
func (z *Zone) Snapshot() Snapshot {
	used := z.mf.UsedPages()
	return Snapshot{TotalPages: z.mf.TotalPages(), FreePages: z.mf.TotalPages() - used}
}

// SetMinFreeKbytes sets vm.min_free_kbytes and recomputes the watermarks
// (EINVAL when out of range).
func (z *Zone) SetMinFreeKbytes(kb uint64) error { return nil }

// SetWatermarkScaleFactor sets vm.watermark_scale_factor (1..3000 as
// Linux; EINVAL otherwise) and recomputes the watermarks.
func (z *Zone) SetWatermarkScaleFactor(n uint64) error { return nil }

// SetSwappiness sets vm.swappiness (0..200; EINVAL otherwise).
func (z *Zone) SetSwappiness(n uint64) error { return nil }

// DropCaches implements writes to /proc/sys/vm/drop_caches: mode&1 drops
// every clean page-cache page that can be dropped. It blocks while it
// works; t is the writing task (nil allowed).
func (z *Zone) DropCaches(t *kernel.Task, mode int) {}

// Swap returns the swap space, nil when swap is off.
func (z *Zone) Swap() *Swap { return nil }

// Swap is the swap file: page-sized slots on the host's disk.
type Swap struct{}

// Out writes the page in frame to a free slot and returns the slot (never
// 0). It fails when swap is full.
func (s *Swap) Out(frame uint64) (uint64, error) { return 0, ErrNoMemory }

// In reads slot into frame. The slot keeps its reference.
func (s *Swap) In(slot, frame uint64) error { return nil }

// Dup adds a reference to slot (a swap entry copied by fork).
func (s *Swap) Dup(slot uint64) {}

// Free drops a reference to slot; the last one frees it.
func (s *Swap) Free(slot uint64) {}
