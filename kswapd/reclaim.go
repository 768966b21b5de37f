package kswapd

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
)

// This file is page reclaim, after Linux's mm/vmscan.c: shrink_lruvec over
// the four evictable lists, shrink_inactive_list (isolate a batch from the
// tail, ask the owners to let go), shrink_active_list (refill the inactive
// list from the active one), get_scan_count (how hard to scan anon against
// file) and direct reclaim.

// Reclaim tuning, as Linux's.
const (
	swapClusterMax    = 32 // SWAP_CLUSTER_MAX: pages isolated per batch
	defPriority       = 12 // DEF_PRIORITY: scan lru_size >> priority per pass
	maxReclaimRetries = 16 // MAX_RECLAIM_RETRIES
	kswapdNap         = 100 * time.Millisecond
	congestionWait    = 10 * time.Millisecond
	kswapdThrottle    = time.Millisecond // kswapd0's pause after a pass of only busy pages
)

// oomWait is how long the OOM path waits for a victim's memory (a variable
// for tests).
var oomWait = time.Second

// scanControl is one reclaim pass's parameters and results (struct
// scan_control).
type scanControl struct {
	t        *kernel.Task // the reclaiming task, or nil
	kswapd   bool         // kswapd0 (counts pgscan_kswapd, not _direct)
	priority int
	// nrToReclaim: stop once this many pages were freed.
	nrToReclaim uint64

	nrScanned, nrReclaimed, nrKept uint64
	mayAnon                        bool // set by scanCount

	// Scratch space reused by the batches of one pass.
	batch   []isolatedPage
	results []ReclaimResult
}

// isolatedPage is a page a scanner took off its list, with what it knew of
// it then.
type isolatedPage struct {
	frame uint32
	gen   uint32
	from  lruList
	owner Owner
	key   uint64
}

// Linux's list order in shrink_lruvec.
var evictableLists = [...]lruList{lruInactiveAnon, lruActiveAnon, lruInactiveFile, lruActiveFile}

// inactiveIsLowLocked is Linux's inactive_is_low: the inactive list of a
// kind is too short when inactive * ratio < active, where the ratio is
// int_sqrt(10 * GiB of the two lists) (1 below 1 GiB).
// Preconditions: z.mu is held.
func (z *Zone) inactiveIsLowLocked(k Kind) bool {
	inactive := z.lru.length(inactiveList(k))
	active := z.lru.length(activeList(k))
	ratio := uint64(1)
	if gb := (inactive + active) >> (30 - 12); gb > 0 {
		ratio = intSqrt(10 * gb)
	}
	return inactive*ratio < active
}

func (z *Zone) inactiveIsLow(k Kind) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.inactiveIsLowLocked(k)
}

// canSwap reports whether anonymous pages can be reclaimed now: swap
// exists and has free slots.
func (z *Zone) canSwap() bool {
	return z.swap != nil && !z.swap.closed.Load() && z.swap.FreeSlots() > 0
}

// scanCount decides how many pages of each list to scan at sc's priority
// (get_scan_count): file only without swap (or at swappiness 0, or while
// the inactive file list is long enough to trim: Linux's cache_trim_mode),
// anon only when the page cache is tiny, otherwise both in the ratio
// swappiness : 200-swappiness.
func (z *Zone) scanCount(sc *scanControl) [nrLists]uint64 {
	var nr [nrLists]uint64
	swappiness := z.swappiness.Load()
	free := z.mf.FreePages()
	high := z.wm.Load().High
	z.mu.Lock()
	var size [nrLists]uint64
	for _, l := range evictableLists {
		size[l] = z.lru.length(l)
	}
	fileLow := z.inactiveIsLowLocked(File)
	z.mu.Unlock()

	const (
		scanFract = iota
		scanFile
		scanAnon
		scanEqual
	)
	mode := scanFract
	file := size[lruInactiveFile] + size[lruActiveFile]
	switch {
	case !z.canSwap():
		mode = scanFile
	case file+free <= high && size[lruInactiveAnon] > 0:
		// pgdat_file_is_tiny: the page cache cannot restore the
		// watermark by itself.
		mode = scanAnon
	case sc.priority == 0 && swappiness > 0:
		mode = scanEqual
	case swappiness == 0:
		mode = scanFile
	case !fileLow && size[lruInactiveFile]>>uint(sc.priority) > 0:
		mode = scanFile
	}
	sc.mayAnon = mode != scanFile
	for _, l := range evictableLists {
		scan := size[l] >> uint(sc.priority)
		isFile := l == lruInactiveFile || l == lruActiveFile
		switch mode {
		case scanFile:
			if !isFile {
				scan = 0
			}
		case scanAnon:
			if isFile {
				scan = 0
			}
		case scanFract:
			ap, fp := swappiness, maxSwappiness-swappiness
			if isFile {
				scan = (scan*fp + ap + fp - 1) / (ap + fp)
			} else {
				scan = (scan*ap + ap + fp - 1) / (ap + fp)
			}
		}
		nr[l] = scan
	}
	return nr
}

// shrinkNode is one reclaim pass over the lists at sc's priority
// (shrink_lruvec). It returns with sc's counts updated.
func (z *Zone) shrinkNode(sc *scanControl) {
	nr := z.scanCount(sc)
	for {
		any := false
		for _, l := range evictableLists {
			if nr[l] == 0 {
				continue
			}
			any = true
			n := min(nr[l], swapClusterMax)
			nr[l] -= n
			if l.active() {
				if z.inactiveIsLow(kindOf(l)) {
					z.shrinkActive(sc, l, n)
				}
			} else {
				z.shrinkInactive(sc, l, n)
			}
		}
		if !any || sc.nrReclaimed >= sc.nrToReclaim {
			break
		}
		if sc.t != nil {
			sc.t.PreemptPoint()
		}
	}
	// Keep the anonymous inactive list filled even when anon was not
	// scanned (shrink_lruvec's ageing of anon when swap is usable).
	if z.canSwap() && z.inactiveIsLow(Anon) {
		z.shrinkActive(sc, lruActiveAnon, swapClusterMax)
	}
	if sc.nrReclaimed > 0 {
		z.kswapdFailures.Store(0)
	}
}

// kindOf returns the kind of an evictable list.
func kindOf(l lruList) Kind {
	if l == lruInactiveFile || l == lruActiveFile {
		return File
	}
	return Anon
}

// isolateLocked looks at up to n pages from the tail of list l: a page
// without an owner rotates to l's head; a referenced one loses the bit and
// goes to the head of referencedTo (l itself: its second chance on the
// active list; the active list: activation from the inactive one); the
// rest are taken off their list, marked isolated and put in sc.batch. It
// returns how many owned pages it looked at and how many were referenced.
// Preconditions: z.mu is held.
func (z *Zone) isolateLocked(sc *scanControl, l, referencedTo lruList, n uint64) (scanned, referenced uint64) {
	batch := sc.batch[:0]
	n = min(n, z.lru.length(l))
	for i := uint64(0); i < n; i++ {
		f, ok := z.lru.tail(l)
		if !ok {
			break
		}
		p := z.lru.page(f)
		if p.owner == nil {
			z.lru.move(f, l)
			continue
		}
		scanned++
		if p.flags&pgReferenced != 0 {
			p.flags &^= pgReferenced
			z.lru.move(f, referencedTo)
			referenced++
			continue
		}
		z.lru.unlink(f)
		p.flags |= pgIsolated
		batch = append(batch, isolatedPage{frame: f, gen: p.gen, from: l, owner: p.owner, key: p.key})
	}
	sc.batch = batch
	return scanned, referenced
}

// shrinkActive moves up to n pages from the tail of the active list l to
// the inactive list (shrink_active_list): a referenced page gets a second
// chance (its bit is cleared and it goes back to the head of l); any other
// is deactivated, and its owner arranges for its next use to be seen.
func (z *Zone) shrinkActive(sc *scanControl, l lruList, n uint64) {
	z.mu.Lock()
	z.isolateLocked(sc, l, l, n)
	z.mu.Unlock()
	batch := sc.batch
	if len(batch) == 0 {
		return
	}
	for _, ip := range batch {
		ip.owner.Deactivate(uint64(ip.frame), ip.key)
	}
	var moved uint64
	z.mu.Lock()
	for _, ip := range batch {
		p := z.lru.page(ip.frame)
		if p.gen != ip.gen || p.flags&pgIsolated == 0 {
			continue // freed meanwhile
		}
		p.flags &^= pgIsolated | pgRelabelled
		z.lru.addHead(ip.frame, inactiveList(p.kind))
		moved++
	}
	z.mu.Unlock()
	z.Count(PgDeactivate, moved)
}

// shrinkInactive takes up to n pages from the tail of the inactive list l
// and reclaims them (shrink_inactive_list + shrink_folio_list): a
// referenced page is activated instead; the others are isolated, the LRU
// lock dropped, and each owner asked to let go.
func (z *Zone) shrinkInactive(sc *scanControl, l lruList, n uint64) {
	z.mu.Lock()
	scanned, activated := z.isolateLocked(sc, l, activeList(kindOf(l)), n)
	z.mu.Unlock()
	batch := sc.batch
	if sc.kswapd {
		z.Count(PgScanKswapd, scanned)
	} else {
		z.Count(PgScanDirect, scanned)
	}
	z.Count(PgActivate, activated)
	sc.nrScanned += scanned
	reclaimed := z.reclaimBatch(sc, batch, false)
	if sc.kswapd {
		z.Count(PgStealKswapd, reclaimed)
	} else {
		z.Count(PgStealDirect, reclaimed)
	}
	sc.nrReclaimed += reclaimed
}

// reclaimBatch asks the owner of every isolated page to let go of it, then
// puts back what is left (Keep: the head of the inactive list, or of the
// list it came from when force; Activate: the active list) and forgets what
// is gone. It returns how many pages were freed. Called with no lock held.
func (z *Zone) reclaimBatch(sc *scanControl, batch []isolatedPage, force bool) uint64 {
	if len(batch) == 0 {
		return 0
	}
	if cap(sc.results) < len(batch) {
		sc.results = make([]ReclaimResult, len(batch))
	}
	results := sc.results[:len(batch)]
	for i := 0; i < len(batch); {
		ip := batch[i]
		j := i + 1
		for j < len(batch) && batch[j].owner == ip.owner {
			j++
		}
		if bo, ok := ip.owner.(BatchOwner); ok && j-i > 1 {
			frames := make([]uint64, 0, j-i)
			keys := make([]uint64, 0, j-i)
			for _, b := range batch[i:j] {
				frames = append(frames, uint64(b.frame))
				keys = append(keys, b.key)
			}
			bo.ReclaimPages(frames, keys, z.swap, results[i:j])
		} else {
			for k := i; k < j; k++ {
				results[k] = batch[k].owner.Reclaim(uint64(batch[k].frame), batch[k].key, z.swap)
			}
		}
		i = j
	}
	var reclaimed, activated, kept, fileSteals uint64
	z.mu.Lock()
	for i, ip := range batch {
		res := results[i]
		if res == Reclaimed && !force && ip.from != lruNone && kindOf(ip.from) == File {
			z.rememberEvictionLocked(ip.owner, ip.key)
			fileSteals++
		}
		p := z.lru.page(ip.frame)
		if p.gen != ip.gen || p.flags&pgIsolated == 0 {
			// Freed (and maybe reused) meanwhile.
			if res == Reclaimed {
				reclaimed++
			}
			continue
		}
		relabelled := p.flags&pgRelabelled != 0
		p.flags &^= pgIsolated | pgRelabelled
		switch {
		case relabelled:
			// SetOwner gave the page to someone else while the
			// old owner was asked: the result is about the old one.
			z.lru.addHead(ip.frame, inactiveList(p.kind))
		case res == Reclaimed || res == Gone:
			// The owner let go but another reference keeps the
			// frame, or the frame no longer holds its page: the
			// zone forgets it (SetOwner puts it back).
			z.lru.forget(ip.frame)
		case res == Activate:
			p.flags &^= pgReferenced
			z.lru.addHead(ip.frame, activeList(p.kind))
			activated++
		default: // Keep
			kept++
			if force && ip.from != lruNone && kindOf(ip.from) == p.kind {
				z.lru.addHead(ip.frame, ip.from)
			} else {
				z.lru.addHead(ip.frame, inactiveList(p.kind))
			}
		}
	}
	z.mu.Unlock()
	z.noteFileSteals(fileSteals)
	z.Count(PgActivate, activated)
	sc.nrKept += kept
	return reclaimed
}

// Reclaim is the slow path of an allocation that failed with ErrNoMemory:
// direct reclaim in the calling task (counts an allocation stall), and
// when nothing can be reclaimed the OOM killer. It returns nil when the
// caller should retry the allocation and ErrOOM when it should give up. t
// is the calling task (nil when the caller has none at hand: waits then
// keep the CPU). It blocks: owners write pages back or out to swap, and
// the OOM path waits (at most about a second) for a victim's memory.
//
// Preconditions: the caller holds no lock an Owner method takes.
func (z *Zone) Reclaim(t *kernel.Task, npages uint64) error {
	z.Count(AllocStall, 1)
	z.wakeKswapd()
	target := z.wm.Load().Min + npages
	if z.mf.FreePages() >= target {
		return nil
	}
	if z.thrashing.CompareAndSwap(true, false) {
		// Nearly everything reclaim stole lately came straight back
		// (workingset.go): reclaiming more only feeds the churn. Only
		// the OOM killer can free memory that stays free.
		return z.outOfMemory(t, npages)
	}
	var progress, kept uint64
	var scratch scanControl
	for prio := defPriority; prio >= 0; prio-- {
		sc := scanControl{t: t, priority: prio, nrToReclaim: max(npages, swapClusterMax),
			batch: scratch.batch, results: scratch.results}
		z.shrinkNode(&sc)
		scratch = sc
		progress += sc.nrReclaimed
		kept += sc.nrKept
		if z.mf.FreePages() >= target {
			z.noProgress.Store(0)
			return nil
		}
		if t != nil {
			t.PreemptPoint()
		}
	}
	if progress > 0 {
		z.noProgress.Store(0)
		return nil
	}
	if kept > 0 && z.noProgress.Add(1) <= maxReclaimRetries {
		// Pages are busy (being written back): wait a little for
		// them rather than kill (Linux's reclaim throttling).
		z.waitForFree(t, func() bool { return z.mf.FreePages() >= target }, congestionWait)
		return nil
	}
	z.noProgress.Store(0)
	return z.outOfMemory(t, npages)
}

// waitForFree waits until cond is true or timeout passes, as t (giving up
// its CPU) or, with t nil, by polling. It returns whether cond became true.
func (z *Zone) waitForFree(t *kernel.Task, cond func() bool, timeout time.Duration) bool {
	if t != nil {
		z.freeWaiters.Add(1)
		defer z.freeWaiters.Add(-1)
		return z.freeWQ.Wait(t, cond, kernel.WaitOpts{Timeout: timeout}) == nil
	}
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// DropCaches implements writes to /proc/sys/vm/drop_caches: mode&1 drops
// every page-cache page whose owner lets go (referenced or not) and counts
// drop_pagecache. It blocks while it works; t is the writing task (nil
// allowed).
func (z *Zone) DropCaches(t *kernel.Task, mode int) {
	if mode&1 == 0 {
		return
	}
	z.Count(DropPageCache, 1)
	sc := scanControl{t: t}
	for _, l := range [...]lruList{lruInactiveFile, lruActiveFile} {
		z.mu.Lock()
		left := z.lru.length(l)
		z.mu.Unlock()
		for left > 0 {
			batch := sc.batch[:0]
			z.mu.Lock()
			for len(batch) < swapClusterMax && left > 0 {
				f, ok := z.lru.tail(l)
				if !ok {
					left = 0
					break
				}
				left--
				p := z.lru.page(f)
				if p.owner == nil {
					z.lru.move(f, l)
					continue
				}
				z.lru.unlink(f)
				p.flags |= pgIsolated
				batch = append(batch, isolatedPage{frame: f, gen: p.gen, from: l, owner: p.owner, key: p.key})
			}
			z.mu.Unlock()
			sc.batch = batch
			z.reclaimBatch(&sc, batch, true)
			if t != nil {
				t.PreemptPoint()
			}
		}
	}
}
