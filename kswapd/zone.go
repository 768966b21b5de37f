package kswapd

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
)

const pageSize = memfile.PageSize

// Config configures a Zone.
type Config struct {
	// SwapSize is the size of the swap file in bytes (--swap); 0 turns
	// swap off.
	SwapSize uint64
	// SwapDir is the host directory the (unlinked) swap file is created
	// in; empty means os.TempDir().
	SwapDir string
	// Log receives the OOM killer's report and kswapd's debug lines (nil:
	// logrus's standard logger).
	Log *logrus.Logger
}

// Zone is the sandbox's one memory zone: the memory file with its
// watermarks, LRU lists, swap, kswapd0 and the OOM killer.
type Zone struct {
	mf    *memfile.MemoryFile
	cfg   Config
	log   *logrus.Logger
	total uint64 // frames of the memory file

	// mu is the LRU lock: it protects lru (the descriptors and lists).
	// It is a leaf, taken under memfile.MemoryFile.mu by the free hook.
	mu  sync.Mutex
	lru lruSet

	sysctlMu   sync.Mutex // serialises the watermark setters
	wm         atomic.Pointer[Watermarks]
	swappiness atomic.Uint64

	swap *Swap // nil without swap

	events [NrEvents]atomic.Uint64
	stats  [NrStats]atomic.Int64

	// kswapd0 (nil until Start).
	kswapd         atomic.Pointer[kernel.Kthread]
	kswapdWake     atomic.Bool // a wake-up is pending
	kswapdWQ       kernel.WaitQueue
	kswapdFailures atomic.Int32 // balance passes that freed nothing in a row

	// Workingset detection (workingset.go): shadow entries of evicted
	// file pages and the eviction clock under mu; the thrash window's
	// counters and verdict are atomics.
	shadow          map[shadowKey]uint64
	evictionClock   uint64
	windowStolen    atomic.Uint64
	windowRefaulted atomic.Uint64
	thrashing       atomic.Bool

	// noProgress counts direct reclaims in a row that freed nothing but
	// found busy pages (should_reclaim_retry's retries).
	noProgress atomic.Int32

	// Waiting for free memory (the OOM path): freeWaiters counts tasks
	// asleep on freeWQ, which the memory file's freed notification wakes.
	freeWQ      kernel.WaitQueue
	freeWaiters atomic.Int32

	// The OOM killer.
	oomMu         sync.Mutex // one OOM kill at a time (Linux's oom_lock); protects the victim fields
	oomCandidates atomic.Pointer[OOMCandidates]
	lastVictim    int32     // PID of the last process killed
	lastKill      time.Time // when
}

// New creates the zone over mf: it computes the watermarks from mf's size
// as Linux does at boot, creates the swap file when cfg.SwapSize > 0 and
// installs the zone's free hook on mf. kswapd0 starts with Start; without
// it the zone still works (allocation, direct reclaim, OOM), only nothing
// reclaims in the background.
func New(mf *memfile.MemoryFile, cfg Config) (*Zone, error) {
	total := mf.TotalPages()
	if total >= uint64(nilFrame) {
		return nil, fmt.Errorf("kswapd: memory file of %d pages is too large (at most %d)", total, nilFrame-1)
	}
	z := &Zone{mf: mf, cfg: cfg, log: cfg.Log, total: total}
	if z.log == nil {
		z.log = logrus.StandardLogger()
	}
	z.lru.init(total)
	wm := ComputeWatermarks(total, DefaultMinFreeKbytes(total), defaultWatermarkScaleFactor)
	z.wm.Store(&wm)
	z.swappiness.Store(defaultSwappiness)
	if cfg.SwapSize > 0 {
		sw, err := newSwap(z, cfg.SwapSize, cfg.SwapDir)
		if err != nil {
			return nil, err
		}
		z.swap = sw
	}
	mf.SetFreeHook(z.framesFreed)
	mf.SetFreedNotify(z.memoryFreed)
	return z, nil
}

// Stop stops kswapd0 (when it runs) and releases the swap file. It blocks
// until kswapd0 has exited. The zone keeps working without them: swap is
// off afterwards.
func (z *Zone) Stop() {
	if kt := z.kswapd.Swap(nil); kt != nil {
		z.kswapdWake.Store(true)
		z.kswapdWQ.NotifyAll()
		kt.Stop()
	}
	if z.swap != nil {
		z.swap.close()
	}
}

// MemoryFile returns the zone's memory file.
func (z *Zone) MemoryFile() *memfile.MemoryFile { return z.mf }

// TotalPages returns the number of pages of the zone (the memory file's
// frames).
func (z *Zone) TotalPages() uint64 { return z.total }

// FreePages returns the number of free pages. It does not block.
func (z *Zone) FreePages() uint64 { return z.mf.FreePages() }

// SetOOMCandidates installs the function the OOM killer lists processes
// with (nil: none, so the OOM path fails with ErrOOM). It does not block.
func (z *Zone) SetOOMCandidates(f OOMCandidates) {
	if f == nil {
		z.oomCandidates.Store(nil)
		return
	}
	z.oomCandidates.Store(&f)
}

// Allocate returns npages contiguous zeroed frames, each with one
// reference, and puts them on kind's LRU list as owner's pages at key,
// key+PageSize, ... It never blocks and takes no lock of the caller's: when
// the allocation would take free memory below the min watermark it fails
// with ErrNoMemory (the caller drops its locks, calls Reclaim, retries);
// below the low watermark it wakes kswapd0. Unevictable pages (kernel
// memory: page tables, shared anonymous memory) may use part of the reserve
// under min, as Linux's atomic allocations do: they fail only below min/4.
func (z *Zone) Allocate(npages uint64, kind Kind, owner Owner, key uint64) (memfile.FileRange, error) {
	wm := z.wm.Load()
	reserve := wm.Min
	if kind == Unevictable {
		reserve = wm.Min / 4
	}
	fr, err := z.mf.AllocateAbove(npages, reserve)
	if err != nil {
		z.wakeKswapd()
		return memfile.FileRange{}, ErrNoMemory
	}
	l := inactiveList(kind)
	var refaults uint64
	z.mu.Lock()
	for f := fr.Start / pageSize; f < fr.End/pageSize; f++ {
		fn := uint32(f)
		p := z.lru.page(fn)
		pkey := key + (f-fr.Start/pageSize)*pageSize
		l := l
		if kind == File && z.refaultLocked(owner, pkey) {
			// Part of the working set: straight to the active list.
			refaults++
			l = activeList(kind)
		}
		if p.list != lruNone || p.flags&pgIsolated != 0 {
			// A stale entry (a SetOwner of a frame that was
			// free): drop it, and make a scanner holding it
			// notice.
			z.lru.forget(fn)
			p.gen++
		}
		p.flags = 0
		p.kind = kind
		p.owner = owner
		p.key = pkey
		z.lru.addHead(fn, l)
	}
	z.mu.Unlock()
	if refaults > 0 {
		z.Count(WorkingsetRefault, refaults)
		z.windowRefaulted.Add(refaults)
	}
	if z.mf.FreePages() < wm.Low {
		z.wakeKswapd()
	}
	return fr, nil
}

// SetOwner re-labels the page in frame (a page that moved: mremap, a COW
// copy's old frame handed to the remaining sharer, a swapped-in page). A
// page of another kind moves to that kind's inactive list; a page the zone
// had forgotten (Reclaimed or Gone while another reference kept it) goes
// back on one. It does not block.
//
// Preconditions: the caller holds a reference on frame.
func (z *Zone) SetOwner(frame uint64, kind Kind, owner Owner, key uint64) {
	if frame >= z.total || z.mf.RefCount(frame*pageSize) == 0 {
		// Not the caller's page (a broken precondition): a free
		// frame must not go on a list.
		return
	}
	f := uint32(frame)
	z.mu.Lock()
	defer z.mu.Unlock()
	p := z.lru.page(f)
	oldKind := p.kind
	p.kind = kind
	p.owner = owner
	p.key = key
	if p.flags&pgIsolated != 0 {
		// The scanner puts it back on kind's list.
		p.flags |= pgRelabelled
		return
	}
	if p.list == lruNone || oldKind != kind {
		z.lru.move(f, inactiveList(kind))
	}
}

// MarkAccessed records a use of the page in frame (mark_page_accessed):
// an inactive referenced page is activated, otherwise it becomes
// referenced. It does not block.
func (z *Zone) MarkAccessed(frame uint64) {
	if frame >= z.total {
		return
	}
	f := uint32(frame)
	z.mu.Lock()
	p := z.lru.page(f)
	switch {
	case p.flags&pgIsolated != 0, p.list == lruActiveAnon, p.list == lruActiveFile:
		p.flags |= pgReferenced
	case p.list == lruInactiveAnon || p.list == lruInactiveFile:
		if p.flags&pgReferenced == 0 {
			p.flags |= pgReferenced
			break
		}
		p.flags &^= pgReferenced
		z.lru.move(f, activeList(p.kind))
		z.mu.Unlock()
		z.Count(PgActivate, 1)
		return
	}
	z.mu.Unlock()
}

// framesFreed is the memory file's free hook: the frames of fr are free.
// Called with memfile.MemoryFile.mu held.
func (z *Zone) framesFreed(fr memfile.FileRange) {
	z.mu.Lock()
	for f := fr.Start / pageSize; f < fr.End/pageSize && f < z.total; f++ {
		p := z.lru.lookup(uint32(f))
		if p == nil || p.list == lruNone && p.owner == nil && p.flags == 0 {
			continue // never the zone's (a platform page)
		}
		z.lru.forget(uint32(f))
		p.gen++
	}
	z.mu.Unlock()
}

// memoryFreed is the memory file's freed notification: wake whoever waits
// for free memory.
func (z *Zone) memoryFreed(pages uint64) {
	if z.freeWaiters.Load() > 0 {
		z.freeWQ.NotifyAll()
	}
}

// Count adds n to a /proc/vmstat counter. It does not block.
func (z *Zone) Count(e Event, n uint64) {
	if e >= 0 && e < NrEvents {
		z.events[e].Add(n)
	}
}

// AddStat adds delta to a /proc/meminfo gauge. It does not block.
func (z *Zone) AddStat(s Stat, delta int64) {
	if s >= 0 && s < NrStats {
		z.stats[s].Add(delta)
	}
}

// Snapshot returns the zone's current state. It takes the LRU lock
// briefly.
func (z *Zone) Snapshot() Snapshot {
	wm := z.wm.Load()
	s := Snapshot{
		TotalPages:           z.total,
		FreePages:            z.mf.FreePages(),
		Min:                  wm.Min,
		Low:                  wm.Low,
		High:                 wm.High,
		MinFreeKbytes:        wm.MinFreeKbytes,
		WatermarkScaleFactor: wm.WatermarkScaleFactor,
		Swappiness:           z.swappiness.Load(),
	}
	z.mu.Lock()
	s.ActiveAnon = z.lru.length(lruActiveAnon)
	s.InactiveAnon = z.lru.length(lruInactiveAnon)
	s.ActiveFile = z.lru.length(lruActiveFile)
	s.InactiveFile = z.lru.length(lruInactiveFile)
	s.Unevictable = z.lru.length(lruUnevictable)
	z.mu.Unlock()
	if z.swap != nil {
		s.SwapTotal = z.swap.Total()
		s.SwapFree = z.swap.FreeSlots()
	}
	for i := range s.Stats {
		s.Stats[i] = z.stats[i].Load()
	}
	for i := range s.Events {
		s.Events[i] = z.events[i].Load()
	}
	return s
}

// Swap returns the swap space, nil when swap is off.
func (z *Zone) Swap() *Swap { return z.swap }
