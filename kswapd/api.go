package kswapd

import (
	"errors"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

// This file is the contract between the zone and its users (the memory
// manager, the page cache, procfs, boot). See doc.go for how it works.
//
// A "frame" in this contract (Owner methods, SetOwner, MarkAccessed,
// Swap.In/Out) is a frame NUMBER: the memory-file offset divided by
// memfile.PageSize. Allocate returns byte ranges of the file, as memfile does.

// Kind says which LRU lists a page lives on.
type Kind uint8

const (
	// Anon pages are anonymous (private) memory: reclaimable only to swap.
	Anon Kind = iota
	// File pages are page-cache pages of a file: clean ones are dropped,
	// dirty ones written back first.
	File
	// Unevictable pages are never scanned (shared anonymous memory,
	// platform page tables, stub pages): counted, never reclaimed.
	Unevictable
)

// Owner is who a page on an LRU list belongs to: the memory manager for an
// anonymous page (key: its virtual address in that address space), the page
// cache for a file page (key: its offset in the file). The zone never
// touches a page's contents or mappings itself; it asks the owner.
//
// The zone calls Owner methods with none of its own locks held, from
// kswapd0 or from a task in direct reclaim; the owner takes its own locks
// (mm.mu, the cache's lock). An owner must never call back into a blocking
// zone method (Allocate is fine, Reclaim is not) from these methods.
type Owner interface {
	// Reclaim tries to take the page at key, currently in frame, out of
	// memory: an anonymous page is written to swap (sw; nil when swap is
	// off, and then an anonymous page cannot be reclaimed) and its
	// mappings replaced by a swap entry; a file page is written back if
	// dirty and dropped from the cache and from every address space
	// mapping it. On Reclaimed the owner has dropped all its references to
	// frame (the memory file frees it once no reference is left).
	Reclaim(frame, key uint64, sw *Swap) ReclaimResult
	// Deactivate is called when the page moves from the active to the
	// inactive list: the owner arranges for the next use of the page to
	// be observed (it unmaps the page from the platform address spaces,
	// so the next access faults and calls MarkAccessed).
	Deactivate(frame, key uint64)
}

// BatchOwner is an Owner that can reclaim several of its pages in one call:
// one lock taken, one platform unmap per run of addresses, one swap write
// per run of slots. results[i] is the outcome for frames[i] at keys[i], with
// Reclaim's meaning. The zone uses it for consecutive isolated pages of the
// same owner.
type BatchOwner interface {
	Owner
	ReclaimPages(frames, keys []uint64, sw *Swap, results []ReclaimResult)
}

// ReclaimResult is what became of a page the zone asked to reclaim.
type ReclaimResult uint8

const (
	// Reclaimed: the owner let go of the page.
	Reclaimed ReclaimResult = iota
	// Keep: the page cannot go now (busy, being written back, shared in a
	// way the owner cannot undo); it stays on the inactive list.
	Keep
	// Activate: the page turned out to be in use; it goes to the active
	// list.
	Activate
	// Gone: frame no longer holds the owner's page at key (it was freed or
	// replaced meanwhile); the zone forgets the entry.
	Gone
)

// Event is a /proc/vmstat counter.
type Event int

// The counters the zone keeps (names as in /proc/vmstat).
const (
	PgFault Event = iota
	PgMajFault
	PgScanKswapd
	PgStealKswapd
	PgScanDirect
	PgStealDirect
	AllocStall
	PswpIn
	PswpOut
	OOMKill
	WorkingsetRefault
	PgActivate
	PgDeactivate
	PgpgIn  // KiB read from files into the page cache
	PgpgOut // KiB written back from the page cache
	KswapdLowWmarkHitQuickly
	KswapdHighWmarkHitQuickly
	DropPageCache
	NrEvents
)

// Stat is a gauge kept by the page cache and memory manager for /proc/meminfo.
type Stat int

// The gauges (pages).
const (
	NrDirty     Stat = iota // dirty page-cache pages
	NrWriteback             // page-cache pages being written back
	NrMapped                // page-cache pages mapped into some address space
	NrShmem                 // shared anonymous pages
	NrStats
)

// ErrNoMemory is returned by Allocate when taking the pages would leave free
// memory below the min watermark (or no run of free frames exists): the
// caller drops its locks, calls Reclaim and retries.
var ErrNoMemory = memfile.ErrNoMemory

// ErrOOM is returned by Reclaim when nothing could be reclaimed and the OOM
// killer could not free memory either (no victim left, or the caller's
// own process was chosen): the caller gives up the allocation.
var ErrOOM = errors.New("out of memory")

// OOMCandidate is one process the OOM killer may choose.
type OOMCandidate struct {
	PID         int32
	Name        string
	UID         uint32
	OOMScoreAdj int // -1000..1000; -1000 means never
	// Pages the process holds (for badness and the log line).
	TotalVMPages, AnonRSS, FileRSS, ShmemRSS, SwapPages uint64
	// Dying is set for a process already killed and not yet gone: while
	// one is dying, the OOM killer waits for it instead of killing more.
	Dying bool
	// Kill sends SIGKILL to the process.
	Kill func()
}

// OOMCandidates lists the processes the OOM killer may choose.
type OOMCandidates func() []OOMCandidate

// Snapshot is the zone's state at one moment, for /proc/meminfo, /proc/vmstat,
// /proc/zoneinfo, sysinfo(2) and tests. All sizes are in pages.
type Snapshot struct {
	TotalPages, FreePages uint64
	// Watermarks.
	Min, Low, High uint64
	// Sysctls (/proc/sys/vm).
	MinFreeKbytes, WatermarkScaleFactor, Swappiness uint64
	// LRU list lengths.
	ActiveAnon, InactiveAnon, ActiveFile, InactiveFile, Unevictable uint64
	// SwapTotal and SwapFree are 0 without swap.
	SwapTotal, SwapFree uint64
	Stats               [NrStats]int64
	Events              [NrEvents]uint64
}

// EventNames are the /proc/vmstat names of the events, indexed by Event.
var EventNames = [NrEvents]string{
	PgFault:                   "pgfault",
	PgMajFault:                "pgmajfault",
	PgScanKswapd:              "pgscan_kswapd",
	PgStealKswapd:             "pgsteal_kswapd",
	PgScanDirect:              "pgscan_direct",
	PgStealDirect:             "pgsteal_direct",
	AllocStall:                "allocstall_normal",
	PswpIn:                    "pswpin",
	PswpOut:                   "pswpout",
	OOMKill:                   "oom_kill",
	WorkingsetRefault:         "workingset_refault_file",
	PgActivate:                "pgactivate",
	PgDeactivate:              "pgdeactivate",
	PgpgIn:                    "pgpgin",
	PgpgOut:                   "pgpgout",
	KswapdLowWmarkHitQuickly:  "kswapd_low_wmark_hit_quickly",
	KswapdHighWmarkHitQuickly: "kswapd_high_wmark_hit_quickly",
	DropPageCache:             "drop_pagecache",
}
