package mm

import (
	"sort"
	"sync"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Both kinds of page owner answer the zone.
var (
	_ kswapd.Owner = (*MemoryManager)(nil)
	_ kswapd.Owner = (*cacheObject)(nil)
)

// frameNumber converts a memory-file offset (what ptes and cache pages
// hold) to the frame number the zone speaks in (MarkAccessed, SetOwner,
// Owner methods, Swap.In and Out).
func frameNumber(off uint64) uint64 { return off / PageSize }

// registry lists the live memory managers. There are no reverse mappings:
// reclaim finds the ptes mapping a frame by looking in every live memory
// manager (at the same address for a page shared by fork, in the vmas of
// the file's object for a page-cache page).
var registry struct {
	mu  sync.Mutex
	mms map[*MemoryManager]struct{}
}

func register(m *MemoryManager) {
	registry.mu.Lock()
	if registry.mms == nil {
		registry.mms = make(map[*MemoryManager]struct{})
	}
	registry.mms[m] = struct{}{}
	registry.mu.Unlock()
}

func unregister(m *MemoryManager) {
	registry.mu.Lock()
	delete(registry.mms, m)
	registry.mu.Unlock()
}

// liveMemoryManagers returns the live memory managers over mf.
func liveMemoryManagers(mf *memfile.MemoryFile) []*MemoryManager {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	out := make([]*MemoryManager, 0, len(registry.mms))
	for m := range registry.mms {
		if m.mf == mf {
			out = append(out, m)
		}
	}
	return out
}

// anonPte returns m's pte at addr if it is a resident private anonymous
// page in frame. Preconditions: m.mu is held.
func (m *MemoryManager) anonPteLocked(addr uintptr, frame uint64) *pte {
	p := m.pages[addr]
	if p == nil || p.swapSlot != 0 || p.obj != nil || p.frame != frame {
		return nil
	}
	return p
}

type sharer struct {
	m *MemoryManager
	p *pte
}

// lockSharersLocked finds the other address spaces' ptes at addr holding
// frame (a page shared by fork), locking each memory manager found with
// TryLock. ok is false when some memory manager was busy (nothing is left
// locked then). The caller unlocks the returned memory managers.
// Preconditions: m.mu is held.
func (m *MemoryManager) lockSharersLocked(addr uintptr, frame uint64) (out []sharer, ok bool) {
	for _, o := range liveMemoryManagers(m.mf) {
		if o == m {
			continue
		}
		if !o.mu.TryLock() {
			unlockSharers(out)
			return nil, false
		}
		if p := o.anonPteLocked(addr, frame); p != nil {
			out = append(out, sharer{o, p})
		} else {
			o.mu.Unlock()
		}
	}
	return out, true
}

func unlockSharers(s []sharer) {
	for _, x := range s {
		x.m.mu.Unlock()
	}
}

// Reclaim implements kswapd.Owner for the memory manager's private
// anonymous pages (key: the virtual address): the page is written to swap
// and every pte holding it (this address space's and, for a page shared
// by fork, the other address spaces' at the same address) becomes a swap
// entry. Without swap, with a busy memory manager, or when not every
// reference could be found, the page is kept.
func (m *MemoryManager) Reclaim(frameNo, key uint64, sw *kswapd.Swap) kswapd.ReclaimResult {
	frame := frameNo * PageSize
	if !m.mu.TryLock() {
		return kswapd.Keep
	}
	defer m.mu.Unlock()
	addr := uintptr(key)
	p := m.anonPteLocked(addr, frame)
	if p == nil {
		// The page left this address space (its copy-on-write
		// sharer wrote, or it exited); another sharer at the same
		// address may hold it now: hand the page over.
		others, ok := m.lockSharersLocked(addr, frame)
		if !ok {
			return kswapd.Keep
		}
		defer unlockSharers(others)
		if len(others) > 0 {
			m.zone.SetOwner(frameNo, kswapd.Anon, others[0].m, key)
			return kswapd.Keep
		}
		return kswapd.Gone
	}
	if m.lockedAtLocked(addr) {
		return kswapd.Activate // mlocked (mlock.go)
	}
	if sw == nil {
		return kswapd.Keep
	}
	var others []sharer
	if m.mf.RefCount(frame) > 1 {
		var ok bool
		if others, ok = m.lockSharersLocked(addr, frame); !ok {
			return kswapd.Keep
		}
		defer unlockSharers(others)
		// Counted with every sharer found locked: if each reference
		// is one of theirs, none can come or go meanwhile.
		if int32(len(others)+1) != m.mf.RefCount(frame) {
			return kswapd.Keep
		}
		for _, s := range others {
			if s.m.lockedAtLocked(addr) {
				return kswapd.Activate
			}
		}
	}
	all := append(others, sharer{m, p})
	// Unmap first so nothing writes the page while it goes out.
	for _, s := range all {
		if s.p.mapped.Any() {
			s.m.as.get().Unmap(addr, PageSize)
			s.p.mapped = hostarch.AccessType{}
		}
	}
	slot, err := sw.Out(frameNo)
	if err != nil {
		return kswapd.Keep
	}
	for i, s := range all {
		if i > 0 {
			sw.Dup(slot)
		}
		s.p.swapSlot = slot
		s.p.frame = 0
		s.p.cow = false
		s.p.deactivated = false
		s.m.nrSwap++
		m.mf.DecRef(frameRange(frame))
	}
	return kswapd.Reclaimed
}

// Deactivate implements kswapd.Owner: the page at key is unmapped from
// the platform (in every address space sharing it that is not busy), so
// its next use faults and is seen by the zone.
func (m *MemoryManager) Deactivate(frameNo, key uint64) {
	frame := frameNo * PageSize
	if !m.mu.TryLock() {
		return
	}
	defer m.mu.Unlock()
	addr := uintptr(key)
	if m.anonPteLocked(addr, frame) == nil {
		return
	}
	m.deactivatePteLocked(addr, frame)
	if m.mf.RefCount(frame) > 1 {
		others, ok := m.lockSharersLocked(addr, frame)
		if !ok {
			return
		}
		for _, s := range others {
			s.m.deactivatePteLocked(addr, frame)
		}
		unlockSharers(others)
	}
}

// deactivatePteLocked unmaps the page at addr from the platform if it is
// mapped and holds frame; the next fault maps it again (and only it, not
// its fault-around window) and marks it accessed.
// Preconditions: m.mu is held.
func (m *MemoryManager) deactivatePteLocked(addr uintptr, frame uint64) {
	p := m.pages[addr]
	if p == nil || p.swapSlot != 0 || p.frame != frame {
		return
	}
	p.deactivated = true
	if p.mapped.Any() {
		m.as.get().Unmap(addr, PageSize)
		p.mapped = hostarch.AccessType{}
	}
}

// dropObjectPageLocked removes every pte of m mapping frame as the page at
// off of o (shared or private mappings of the file) and returns how many
// it removed. The caller accounts for them in the object.
// Preconditions: m.mu is held.
func (m *MemoryManager) dropObjectPageLocked(o *cacheObject, off, frame uint64) int {
	n := 0
	for _, v := range m.vmas {
		if v.obj != o || off < v.offset || off >= v.offset+uint64(v.end-v.start) {
			continue
		}
		a := v.start + uintptr(off-v.offset)
		p := m.pages[a]
		if p == nil || p.swapSlot != 0 || p.obj != o || p.frame != frame {
			continue
		}
		if p.mapped.Any() {
			m.as.get().Unmap(a, PageSize)
		}
		delete(m.pages, a)
		m.mf.DecRef(frameRange(frame))
		n++
	}
	return n
}

// RSS returns the pages the address space holds (for the OOM killer and
// /proc/PID/status): resident private anonymous pages, resident file
// pages (page-cache pages mapped shared or not yet copied), resident
// shared anonymous pages, and pages out on swap. It walks the page table
// under m.mu.
func (m *MemoryManager) RSS() (anon, file, shmem, swap uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pages {
		switch {
		case p.swapSlot != 0:
			swap++
		case p.obj == nil:
			anon++
		case p.obj.anon:
			shmem++
		default:
			file++
		}
	}
	return
}

// releasePteLocked drops what a pte holds (its frame reference, or its
// swap slot) before the caller deletes it; the caller unmaps the
// platform. Preconditions: m.mu is held.
func (m *MemoryManager) releasePteLocked(p *pte) {
	m.releasePteDeferLocked(p, nil)
}

// releasePteDeferLocked is releasePteLocked that, with frames non-nil,
// appends the frame to *frames for the caller to give back in one batch
// (memfile.DecRefFrames) instead of dropping its reference now.
func (m *MemoryManager) releasePteDeferLocked(p *pte, frames *[]uint64) {
	if p.swapSlot != 0 {
		if sw := m.zone.Swap(); sw != nil {
			sw.Free(p.swapSlot)
		}
		p.swapSlot = 0
		m.nrSwap--
		return
	}
	if p.obj != nil {
		p.obj.unmapPage(p.objOff, p.frame)
	}
	if frames != nil {
		*frames = append(*frames, p.frame)
		return
	}
	m.mf.DecRef(frameRange(p.frame))
}

// swapInLocked reads the swapped-out page at pa back into a new frame.
// Preconditions: m.mu is held; p.swapSlot != 0.
func (m *MemoryManager) swapInLocked(pa uintptr, p *pte) error {
	sw := m.zone.Swap()
	if sw == nil {
		return errSwapGone
	}
	fr, err := m.zone.Allocate(1, kswapd.Anon, m, uint64(pa))
	if err != nil {
		return err
	}
	if err := sw.In(p.swapSlot, frameNumber(fr.Start)); err != nil {
		m.mf.DecRef(fr)
		return err
	}
	sw.Free(p.swapSlot)
	m.nrSwap--
	p.swapSlot = 0
	p.frame = fr.Start
	p.cow = false
	p.deactivated = false
	p.mapped = hostarch.AccessType{}
	return nil
}

// swapReadaheadLocked swaps in the other swapped-out pages of pa's
// fault-around window (within v) after a major fault on pa (Linux's swap
// readahead, by virtual address): a program walking memory that went out
// together takes one fault per window, not one per page, and the window
// is mapped in one platform call. It stops quietly when memory is short:
// these pages are only a guess.
// Preconditions: m.mu is held.
func (m *MemoryManager) swapReadaheadLocked(v *vma, pa uintptr) {
	lo := max(v.start, pa&^(faultAroundPages*PageSize-1))
	hi := min(v.end, lo+faultAroundPages*PageSize)
	for a := lo; a < hi; a += PageSize {
		if p := m.pages[a]; a != pa && p != nil && p.swapSlot != 0 {
			if err := m.swapInLocked(a, p); err != nil {
				return
			}
		}
	}
}

// ReclaimPages implements kswapd.BatchOwner: the anonymous pages among
// frames that only this address space holds go to swap together — one
// lock, one platform unmap per run of consecutive addresses, one swap write
// per run of slots. Pages shared with other address spaces, and every page
// when the batch cannot be done at once, take Reclaim's path one by one.
func (m *MemoryManager) ReclaimPages(frameNos, keys []uint64, sw *kswapd.Swap, results []kswapd.ReclaimResult) {
	single := func(i int) { results[i] = m.Reclaim(frameNos[i], keys[i], sw) }
	if sw == nil || !m.mu.TryLock() {
		for i := range frameNos {
			single(i)
		}
		return
	}
	type out struct {
		i    int
		addr uintptr
		p    *pte
	}
	var sel []out
	var rest []int
	for i, fn := range frameNos {
		addr := uintptr(keys[i])
		p := m.anonPteLocked(addr, fn*PageSize)
		if p == nil || m.mf.RefCount(fn*PageSize) != 1 {
			rest = append(rest, i)
			continue
		}
		if m.lockedAtLocked(addr) {
			results[i] = kswapd.Activate // mlocked, as in Reclaim
			continue
		}
		sel = append(sel, out{i, addr, p})
	}
	if len(sel) > 0 {
		// Unmap first so nothing writes the pages while they go out;
		// one platform call per run of consecutive addresses.
		sort.Slice(sel, func(a, b int) bool { return sel[a].addr < sel[b].addr })
		var runStart, runEnd uintptr
		flush := func() {
			if runEnd > runStart {
				m.as.get().Unmap(runStart, runEnd-runStart)
			}
			runStart, runEnd = 0, 0
		}
		for _, s := range sel {
			if !s.p.mapped.Any() {
				continue
			}
			if s.addr != runEnd {
				flush()
				runStart = s.addr
			}
			runEnd = s.addr + PageSize
			s.p.mapped = hostarch.AccessType{}
		}
		flush()
		frames := make([]uint64, len(sel))
		for k, s := range sel {
			frames[k] = frameNos[s.i]
		}
		slots, err := sw.OutBatch(frames)
		if err != nil {
			// Swap full or failing: the pages stay (unmapped; the next
			// access maps them again).
			for _, s := range sel {
				results[s.i] = kswapd.Keep
			}
		} else {
			for k, s := range sel {
				frame := s.p.frame
				s.p.swapSlot = slots[k]
				s.p.frame = 0
				s.p.cow = false
				s.p.deactivated = false
				m.nrSwap++
				m.mf.DecRef(frameRange(frame))
				results[s.i] = kswapd.Reclaimed
			}
		}
	}
	m.mu.Unlock()
	for _, i := range rest {
		single(i)
	}
}
