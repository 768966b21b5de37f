package mm

import (
	"slices"

	"github.com/runsc-lite/runsc-lite/kswapd"

	"github.com/runsc-lite/runsc-lite/platform"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Fork returns a copy-on-write copy of the address space over as (fork).
// Private pages are shared between parent and child and marked
// copy-on-write in both: the first write by either side copies the page.
// Shared mappings keep sharing their object. The parent's platform
// mappings of private writable pages are dropped so its next write faults
// and copies.
func (m *MemoryManager) Fork(as platform.AddressSpace) *MemoryManager {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := New(m.zone, as, m.maxAddr)
	// The child is already visible to reclaim (registry): keep it
	// locked until its page table is complete.
	c.mu.Lock()
	defer c.mu.Unlock()
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
	for a, p := range m.pages {
		if p.swapSlot != 0 {
			// Both address spaces hold a reference on the slot.
			if sw := m.zone.Swap(); sw != nil {
				sw.Dup(p.swapSlot)
				c.pages[a] = &pte{swapSlot: p.swapSlot}
				c.nrSwap++
			}
			continue
		}
		m.mf.IncRef(frameRange(p.frame))
		np := &pte{frame: p.frame, obj: p.obj, objOff: p.objOff}
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
	}
	slices.Sort(protect)
	if len(protect) <= forkCopyPages {
		protect = m.copyForParentLocked(protect)
	}
	// One unmap per run of consecutive pages, not per page: each is a
	// host call in the parent's address space (an injected munmap on
	// ptrace).
	for i := 0; i < len(protect); {
		j := i + 1
		for j < len(protect) && protect[j] == protect[j-1]+PageSize {
			j++
		}
		for _, a := range protect[i:j] {
			m.pages[a].mapped = hostarch.AccessType{}
		}
		m.as.get().Unmap(protect[i], uintptr(j-i)*PageSize)
		i = j
	}
	return c
}

// forkCopyPages bounds the pages Fork copies for the parent at once
// (copyForParentLocked): 256 KiB of memcpy, against two faults and two
// platform calls per page the parent writes after the fork otherwise.
const forkCopyPages = 64

// copyForParentLocked breaks copy-on-write at fork, for the parent, on the
// pages at addrs (sorted): the pages the platform maps writable in the
// parent, that is, the ones it wrote since its last fork, which it is
// likely to write again at once (its stack, its allocator's data). Each
// gets a copy in a new frame, mapped writable in the parent with one
// platform call per run of consecutive pages; the child keeps the old
// frame, now its alone, so its own first write copies nothing either.
// Native fork write-protects both sides instead, and the parent's next
// write to each page faults; on a platform where a fault and a mapping
// are host round trips (ptrace: a stopped stub, an injected mmap) that
// was the biggest part of a fork. Pages in locked (mlock) vmas keep the
// ordinary path, as do runs the zone has no frames for. It returns the
// pages left for the caller to write-protect.
// Preconditions: m.mu is held; every page at addrs is populated, private
// and mapped writable in the parent, and marked copy-on-write.
func (m *MemoryManager) copyForParentLocked(addrs []uintptr) []uintptr {
	as := m.as.get()
	if as == nil {
		return addrs
	}
	var left []uintptr
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
		fr, err := m.zone.Allocate(uint64(len(run)), kswapd.Anon, m, uint64(run[0]))
		if err != nil {
			left = append(left, run...)
			continue
		}
		want := v.perms
		for k, a := range run {
			p := m.pages[a]
			dst := fr.Start + uint64(k)*PageSize
			copy(m.mf.Slice(frameRange(dst)), m.mf.Slice(frameRange(p.frame)))
			m.releasePteLocked(p)
			p.frame = dst
			p.cow = false
			p.obj, p.objOff = nil, 0
			p.mapped = want
		}
		if err := as.MapFile(run[0], fr, want); err != nil {
			// The old frames stay mapped: take them away (the
			// next access faults and maps the new ones).
			for _, a := range run {
				m.pages[a].mapped = hostarch.AccessType{}
			}
			as.Unmap(run[0], uintptr(len(run))*PageSize)
		}
	}
	return left
}
