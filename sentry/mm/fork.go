package mm

import (
	"slices"

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
	// One unmap per run of consecutive pages, not per page: each is a
	// host call in the parent's address space (an injected munmap on
	// ptrace).
	slices.Sort(protect)
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
