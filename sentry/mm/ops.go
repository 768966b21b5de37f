package mm

import (
	"github.com/runsc-lite/runsc-lite/kswapd"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// checkMappedLocked reports whether every page of [start, end) is mapped.
func (m *MemoryManager) checkMappedLocked(start, end uintptr) bool {
	for a := start; a < end; {
		v := m.vmaAtLocked(a)
		if v == nil {
			return false
		}
		a = v.end
	}
	return true
}

// Mremap resizes or moves the mapping at [oldAddr, oldAddr+oldSize)
// (mremap(2)). flags are MREMAP_MAYMOVE and MREMAP_FIXED. Moving a mapping
// moves its pages; nothing is copied. Growing is bound by lim and the
// overcommit limit (ENOMEM).
func (m *MemoryManager) Mremap(oldAddr, oldSize, newSize uintptr, flags int, newAddr uintptr, lim VMLimits) (uintptr, error) {
	const mayMove, fixed = unix.MREMAP_MAYMOVE, unix.MREMAP_FIXED
	if oldAddr%PageSize != 0 || flags&^(mayMove|fixed|unix.MREMAP_DONTUNMAP) != 0 {
		return 0, unix.EINVAL
	}
	if flags&fixed != 0 && flags&mayMove == 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MREMAP_DONTUNMAP != 0 {
		return 0, unix.EINVAL
	}
	oldSize, ok1 := pageUp(oldSize)
	newSize, ok2 := pageUp(newSize)
	if !ok1 || !ok2 || newSize == 0 || oldSize == 0 {
		return 0, unix.EINVAL
	}
	oldEnd := oldAddr + oldSize
	if oldEnd < oldAddr || newSize > m.maxAddr {
		return 0, unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.vmaAtLocked(oldAddr)
	if v == nil || v.end < oldEnd {
		return 0, unix.EFAULT
	}
	if v.special != nil && newSize != oldSize {
		// A special mapping may move, never change size (Linux's
		// special_mapping_mremap).
		return 0, unix.EINVAL
	}
	if newSize > oldSize {
		grow := int64(newSize-oldSize) / PageSize
		if err := m.mayExpandLocked(grow, isData(v), lim); err != nil {
			return 0, err
		}
		if v.private && v.perms.Write && !v.noReserve && !m.overcommitOK(uint64(grow)) {
			return 0, unix.ENOMEM
		}
	}
	if flags&fixed != 0 {
		if newAddr%PageSize != 0 || newAddr < minUserAddress || newAddr+newSize > m.maxAddr {
			return 0, unix.EINVAL
		}
		if newAddr < oldEnd && oldAddr < newAddr+newSize {
			return 0, unix.EINVAL
		}
		m.removeRangeLocked(newAddr, newAddr+newSize)
		return m.moveLocked(oldAddr, oldSize, newAddr, newSize), nil
	}
	if newSize <= oldSize {
		m.removeRangeLocked(oldAddr+newSize, oldEnd)
		return oldAddr, nil
	}
	// Grow in place when the mapping ends at oldEnd and the space after it
	// is free.
	if v.end == oldEnd && oldAddr+newSize <= m.maxAddr && m.isFreeLocked(oldEnd, oldAddr+newSize) {
		m.accountLocked(v, -1)
		v.end = oldAddr + newSize
		m.accountLocked(v, 1)
		return oldAddr, nil
	}
	if flags&mayMove == 0 {
		return 0, unix.ENOMEM
	}
	dst, err := m.findAvailableLocked(0, newSize)
	if err != nil {
		return 0, err
	}
	return m.moveLocked(oldAddr, oldSize, dst, newSize), nil
}

// moveLocked moves the mapping [old, old+oldSize) to [dst, dst+newSize),
// carrying its pages. Preconditions: the old range lies in one vma; the
// destination is free.
func (m *MemoryManager) moveLocked(old, oldSize, dst, newSize uintptr) uintptr {
	m.splitLocked(old)
	m.splitLocked(old + oldSize)
	i, _ := m.findLocked(old)
	v := m.vmas[i]
	m.accountLocked(v, -1)
	m.vmas = append(m.vmas[:i], m.vmas[i+1:]...)
	keep := min(oldSize, newSize)
	anyMapped := false
	// The references of the pages left behind (a shrinking move) are
	// dropped after the platform unmap: until then the application can
	// still reach their frames.
	var frames []uint64
	m.forEachPageLocked(old, old+oldSize, func(a uintptr, p *pte) {
		if p.mapped.Any() {
			anyMapped = true
		}
		delete(m.pages, a)
		if a-old < keep {
			p.mapped = hostarch.AccessType{}
			na := dst + (a - old)
			m.pages[na] = p
			if p.swapSlot == 0 && p.obj == nil && v.special == nil {
				// The zone finds an anonymous page by its address.
				m.zone.SetOwner(frameNumber(p.frame), kswapd.Anon, m, uint64(na))
			}
		} else {
			m.releasePteDeferLocked(p, &frames)
		}
	})
	if anyMapped {
		m.as.get().Unmap(old, oldSize)
	}
	m.mf.DecRefFrames(frames)
	nv := *v
	nv.start, nv.end = dst, dst+newSize
	m.insertLocked(&nv)
	return dst
}

// Madvise applies advice to [addr, addr+length). MADV_DONTNEED, MADV_FREE
// and MADV_REMOVE drop the pages (private anonymous memory reads back as
// zeros, private file memory as the file); other advice is accepted.
func (m *MemoryManager) Madvise(addr, length uintptr, advice int) error {
	if addr%PageSize != 0 {
		return unix.EINVAL
	}
	l, ok := pageUp(length)
	if !ok || addr+l < addr {
		return unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch advice {
	case unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_REMOVE:
		if !m.checkMappedLocked(addr, addr+l) {
			return unix.ENOMEM
		}
		m.dropPagesLocked(addr, addr+l, true)
	case unix.MADV_NORMAL, unix.MADV_RANDOM, unix.MADV_SEQUENTIAL, unix.MADV_WILLNEED,
		unix.MADV_DONTFORK, unix.MADV_DOFORK, unix.MADV_MERGEABLE, unix.MADV_UNMERGEABLE,
		unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE, unix.MADV_DONTDUMP, unix.MADV_DODUMP,
		unix.MADV_COLD, unix.MADV_PAGEOUT:
		if !m.checkMappedLocked(addr, addr+l) {
			return unix.ENOMEM
		}
	default:
		return unix.EINVAL
	}
	return nil
}

// Msync writes back the dirty shared file pages of [addr, addr+length).
func (m *MemoryManager) Msync(addr, length uintptr) error {
	if addr%PageSize != 0 {
		return unix.EINVAL
	}
	l, ok := pageUp(length)
	if !ok || addr+l < addr {
		return unix.ENOMEM
	}
	end := addr + l
	m.mu.Lock()
	if !m.checkMappedLocked(addr, end) {
		m.mu.Unlock()
		return unix.ENOMEM
	}
	type job struct {
		o          *cacheObject
		mp         Mappable
		start, end uint64
	}
	var jobs []job
	for a := addr; a < end; {
		v := m.vmaAtLocked(a)
		e := min(v.end, end)
		if !v.private && v.obj != nil && !v.obj.anon {
			jobs = append(jobs, job{v.obj, v.mappable, v.offsetOf(a), v.offsetOf(e)})
		}
		a = e
	}
	m.mu.Unlock()
	for _, j := range jobs {
		if err := j.o.writeback(j.start, j.end, j.mp); err != nil {
			return unix.EIO
		}
	}
	return nil
}

// Mincore reports which pages of [addr, addr+length) are resident: in
// this address space's page table and not swapped out, or, for a file or
// shared mapping, in the object behind it.
func (m *MemoryManager) Mincore(addr, length uintptr) ([]byte, error) {
	if addr%PageSize != 0 {
		return nil, unix.EINVAL
	}
	l, ok := pageUp(length)
	if !ok || addr+l < addr {
		return nil, unix.ENOMEM
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.checkMappedLocked(addr, addr+l) {
		return nil, unix.ENOMEM
	}
	vec := make([]byte, l/PageSize)
	var v *vma
	for i := range vec {
		a := addr + uintptr(i)*PageSize
		if p := m.pages[a]; p != nil {
			if p.swapSlot == 0 {
				vec[i] = 1
			}
			continue
		}
		// A page this address space has not touched is resident if
		// its file's page cache (or shared region) holds it.
		if v == nil || a >= v.end {
			v = m.vmaAtLocked(a)
		}
		if v != nil && v.obj != nil {
			v.obj.mu.Lock()
			if v.obj.pages[v.offsetOf(a)] != nil {
				vec[i] = 1
			}
			v.obj.mu.Unlock()
		}
	}
	return vec, nil
}

func frameRange(frame uint64) memfileRange {
	return memfileRange{Start: frame, End: frame + PageSize}
}

// Accessible returns how many of the n bytes at addr the application could
// read (or, with write, write) without faulting, counting from addr. Read
// paths use it to limit a read to the part of the buffer that can take the
// data, so nothing is consumed from a file or pipe that then cannot be
// delivered.
func (m *MemoryManager) Accessible(addr uintptr, n int, write bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	done := 0
	for done < n {
		a := addr + uintptr(done)
		if a < addr {
			break
		}
		v := m.vmaAtLocked(a)
		if v == nil || (write && !v.perms.Write) || (!write && !v.readable()) {
			break
		}
		done += int(min(uint64(v.end-a), uint64(n-done)))
	}
	return done
}
