package mm

import (
	"cmp"
	"slices"

	"github.com/runsc-lite/runsc-lite/kswapd"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Fork returns a copy-on-write copy of the address space over as (fork).
// Private pages are shared between parent and child and marked
// copy-on-write in both: the first write by either side copies the page.
// Shared mappings keep sharing their object. The parent's platform
// mappings of private writable pages are dropped so its next write faults
// and copies, except the ones copied for the child at once
// (copyForChildLocked).
// Preconditions: the calling thread is the only one that can write m's
// memory meanwhile (its thread group has no other thread, and no other
// shares m); else ForkShared.
func (m *MemoryManager) Fork(as platform.AddressSpace) *MemoryManager {
	return m.fork(as, true)
}

// ForkShared is Fork for a parent whose memory other threads may write
// while it forks: no page is copied at fork, as the copy would race with
// their writes through the parent's platform mappings (a child could see a
// later write without an earlier one); every written page is
// write-protected in the parent first, and copied on the next write by
// either side, as Linux does.
func (m *MemoryManager) ForkShared(as platform.AddressSpace) *MemoryManager {
	return m.fork(as, false)
}

func (m *MemoryManager) fork(as platform.AddressSpace, copyHot bool) *MemoryManager {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := New(m.zone, as, m.maxAddr)
	// The child is already visible to reclaim (registry): keep it
	// locked until its page table is complete.
	c.mu.Lock()
	defer c.mu.Unlock()
	// The parent's pages are shared anew: it copies their windows early
	// only after as many copies again (copyAroundLocked), as a parent
	// whose child soon execs or exits would waste them.
	m.cowFaults = 0
	c.brkStart, c.brkEnd = m.brkStart, m.brkEnd
	c.argvStart, c.argvEnd = m.argvStart, m.argvEnd
	c.envStart, c.envEnd = m.envStart, m.envEnd
	c.auxv = append([]uint64(nil), m.auxv...)
	c.Membarrier.Store(m.Membarrier.Load())
	c.executable = m.executable
	if m.exeRef != nil {
		c.exeRef = m.exeRef.DupRef()
	}
	c.totalVM, c.dataVM = m.totalVM, m.dataVM
	// The copies are made by the parent (Linux's dup_mmap runs in it).
	pid := m.Owner()
	for _, v := range m.vmas {
		nv := *v
		// Memory locks are not inherited (Linux clears VM_LOCKED).
		nv.locked, nv.lockOnFault = false, false
		nv.holdRefs(pid)
		c.vmas = append(c.vmas, &nv)
	}
	var protect []uintptr
	var premap []premapPage
	// The child's page table in one map sized at once and one slab of
	// ptes, and its frames' references taken under one lock: per page,
	// growing the map and allocating were most of a fork's own CPU.
	c.pages = make(map[uintptr]*pte, len(m.pages))
	slab := make([]pte, len(m.pages))
	frames := make([]uint64, 0, len(m.pages))
	for a, p := range m.pages {
		np := &slab[0]
		slab = slab[1:]
		if p.swapSlot != 0 {
			// Both address spaces hold a reference on the slot.
			if sw := m.zone.Swap(); sw != nil {
				sw.Dup(p.swapSlot)
				np.swapSlot = p.swapSlot
				c.pages[a] = np
				c.nrSwap++
			}
			continue
		}
		frames = append(frames, p.frame)
		np.frame, np.obj, np.objOff = p.frame, p.obj, p.objOff
		if p.obj != nil {
			p.obj.mu.Lock()
			if cp := p.obj.pages[p.objOff]; cp != nil && cp.frame == p.frame {
				cp.mapcount++
			}
			p.obj.mu.Unlock()
		}
		v := m.vmaAtLocked(a)
		if v != nil && v.private {
			np.cow = true
			if !p.cow && p.mapped.Write {
				protect = append(protect, a)
			}
			p.cow = true
		}
		c.pages[a] = np
		if p.mapped.Any() && !p.deactivated {
			premap = append(premap, premapPage{a, np})
		}
	}
	m.mf.IncRefFrames(frames)
	slices.Sort(protect)
	hot := protect
	if copyHot && len(protect) <= forkCopyPages {
		protect = c.copyForChildLocked(m, protect)
	}
	q := mapQueue{as: m.as.get()}
	// One unmap per run of consecutive pages, not per page, all of them
	// in one batch: each is a host call in the parent's address space
	// (an injected munmap on ptrace).
	for i := 0; i < len(protect); {
		j := i + 1
		for j < len(protect) && protect[j] == protect[j-1]+PageSize {
			j++
		}
		for _, a := range protect[i:j] {
			m.pages[a].mapped = hostarch.AccessType{}
		}
		q.unmap(protect[i], uintptr(j-i)*PageSize)
		i = j
	}
	if q.as != nil && len(q.ops) > 0 {
		q.flush(nil)
	}
	slices.SortFunc(premap, func(x, y premapPage) int { return cmp.Compare(x.addr, y.addr) })
	c.premapLocked(premap, hot)
	return c
}

// forkPremapRuns bounds the runs of pages premapLocked maps in a fork's
// child: one batch page's worth of mmaps (64 entries) less the up to three
// unmaps of a recycled stub that run in front of them, so that they run in
// one injection of the child's stub (a few µs of host time each, no
// context switch).
const forkPremapRuns = 61

// mapRun is a run of pages one platform mapping maps: consecutive
// addresses on consecutive frames, with one access; hot says a page of it
// is hot (premapLocked).
type mapRun struct {
	start uintptr
	frame uint64
	n     uint64
	at    hostarch.AccessType
	hot   bool
}

// appendRun adds the page at a (frame, mapped with at) to runs: to the
// last run if it continues it, else as a new run.
func appendRun(runs []mapRun, a uintptr, frame uint64, at hostarch.AccessType, hot bool) []mapRun {
	if n := len(runs); n > 0 {
		r := &runs[n-1]
		if r.start+uintptr(r.n)*PageSize == a && r.frame+r.n*PageSize == frame && r.at == at {
			r.n++
			r.hot = r.hot || hot
			return runs
		}
	}
	return append(runs, mapRun{start: a, frame: frame, n: 1, at: at, hot: hot})
}

// premapPage is a page of a fork's child for premapLocked: its address
// and its pte.
type premapPage struct {
	addr uintptr
	p    *pte
}

// premapLocked maps in c, a fork's new child, the pages of pages (sorted):
// those its parent's platform mapped, with the access the child's page
// table allows (copy-on-write pages read-only, unless the child now holds
// their frame alone), in one platform batch. Native fork copies the
// parent's page tables; without this the child takes a fault, a stop and
// a mapping round trip on ptrace and systrap, for every page it touches
// (its stack, its text, its data), most of which it touches at once.
// Runs holding a page of hot (sorted; the pages the parent wrote since
// its last fork) go first when there are more than forkPremapRuns. Where
// the platform can (platform.DeferredBatchMapper) the batch is left to the
// child's own first Switch, which injects it without a hop to another
// host thread.
// Preconditions: c.mu is held; c is not running.
func (c *MemoryManager) premapLocked(pages []premapPage, hot []uintptr) {
	as := c.as.get()
	if as == nil || len(pages) == 0 {
		return
	}
	var runs []mapRun
	var v *vma
	for _, pp := range pages {
		a, p := pp.addr, pp.p
		if v == nil || a < v.start || a >= v.end {
			v = c.vmaAtLocked(a)
		}
		if v == nil || p.swapSlot != 0 {
			continue
		}
		_, isHot := slices.BinarySearch(hot, a)
		// Only a hot page can be the child's alone: every other
		// frame the parent holds too.
		if isHot && p.cow && p.obj == nil && v.private && c.mf.RefCount(p.frame) == 1 {
			// The parent copied this hot page for itself: the
			// frame is the child's alone (as in mapRangeLocked).
			p.cow = false
		}
		at := c.wantedAccessLocked(v, a, p)
		if !at.Any() {
			continue
		}
		runs = appendRun(runs, a, p.frame, at, isHot)
	}
	if len(runs) > forkPremapRuns {
		// Hot runs first, then the others in address order.
		slices.SortStableFunc(runs, func(x, y mapRun) int {
			switch {
			case x.hot == y.hot:
				return 0
			case x.hot:
				return -1
			}
			return 1
		})
		runs = runs[:forkPremapRuns]
	}
	q := mapQueue{as: as}
	for _, r := range runs {
		q.mapFile(r.start, memfile.FileRange{Start: r.frame, End: r.frame + r.n*PageSize}, r.at)
		for k := uint64(0); k < r.n; k++ {
			c.pages[r.start+uintptr(k)*PageSize].mapped = r.at
		}
	}
	if dm, ok := as.(platform.DeferredBatchMapper); ok {
		// Applied by the child's own first Switch, before it runs.
		dm.MapBatchBeforeRun(q.ops)
		return
	}
	q.flush(func(i int, _ *platform.MapOp, _ error) {
		r := runs[i]
		for k := uint64(0); k < r.n; k++ {
			c.pages[r.start+uintptr(k)*PageSize].mapped = hostarch.AccessType{}
		}
	})
}

// forkCopyPages bounds the pages Fork copies for the child at once
// (copyForChildLocked): 256 KiB of memcpy, against two faults and two
// platform calls per page the parent writes after the fork otherwise.
const forkCopyPages = 64

// copyForChildLocked breaks copy-on-write at fork, in c, the child of m,
// on the pages at addrs (sorted): the pages the platform maps writable in
// the parent, that is, the ones it wrote since its last fork, which it is
// likely to write again at once (its stack, its allocator's data), and
// the child too. Each gets a copy in a new frame for the child, which
// premapLocked maps writable there; the parent keeps its frames, now its
// alone again, and its mappings as they are: no platform call in the
// parent at all, and no host page fault on pages it re-touches. Native
// fork write-protects both sides instead, and the parent's next write to
// each page faults; on a platform where a fault and a mapping are host
// round trips (ptrace: a stopped stub, an injected mmap) that was the
// biggest part of a fork. (Until wave 9 the copies were the parent's,
// remapped over its old frames in one batch, and the child kept the old
// frames: the same copying, plus an injection of a host mmap per run in
// the parent and a host page fault per page it touched again.) Pages in
// locked (mlock) vmas keep the ordinary path, as do runs the zone has no
// frames for. It returns the pages left for the caller to
// write-protect.
// Preconditions: m.mu and c.mu are held; every page at addrs is
// populated, private and mapped writable in the parent, and marked
// copy-on-write on both sides, the child's pte holding a reference on the
// parent's frame.
func (c *MemoryManager) copyForChildLocked(m *MemoryManager, addrs []uintptr) []uintptr {
	var left []uintptr
	var old []uint64
	for i := 0; i < len(addrs); {
		v := m.vmaAtLocked(addrs[i])
		j := i + 1
		for j < len(addrs) && addrs[j] == addrs[j-1]+PageSize && addrs[j] < v.end {
			j++
		}
		run := addrs[i:j]
		i = j
		if v.locked || v.lockOnFault || !v.private {
			left = append(left, run...)
			continue
		}
		fr, err := c.zone.Allocate(uint64(len(run)), kswapd.Anon, c, uint64(run[0]))
		if err != nil {
			left = append(left, run...)
			continue
		}
		for k, a := range run {
			p, np := m.pages[a], c.pages[a]
			dst := fr.Start + uint64(k)*PageSize
			copy(m.mf.Slice(frameRange(dst)), m.mf.Slice(frameRange(p.frame)))
			// The child's reference on the parent's frame goes.
			c.releasePteDeferLocked(np, &old)
			np.frame = dst
			np.cow = false
			np.obj, np.objOff = nil, 0
			p.cow = false
		}
	}
	if len(old) > 0 {
		m.mf.DecRefFrames(old)
	}
	return left
}
