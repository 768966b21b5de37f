package mm

import (
	"github.com/runsc-lite/runsc-lite/kswapd"
	"golang.org/x/sys/unix"
)

// SharedMemory is memory that lives apart from any address space: a System
// V shared memory segment (Linux's shmem file behind shm_file). Its pages
// are frames of the memory file, allocated on first touch through the
// zone, shared by every mapping (shmat maps it with MMapOpts.Shared) and
// counted as Shmem. They are on the anonymous LRU: with swap, reclaim
// writes them out (unmapping them from every attach) and the next touch
// reads them back, as Linux's shmem; SetLocked (SHM_LOCK) makes them
// unevictable. The segment holds one reference of its own on them
// (Release drops it): they and their swap slots are freed when the
// segment is destroyed and no mapping is left.
type SharedMemory struct {
	obj  *cacheObject
	size uint64
}

// NewSharedMemory returns size bytes (rounded up to pages) of shared
// memory in z's memory file, holding no page yet.
func NewSharedMemory(z *kswapd.Zone, size uint64) *SharedMemory {
	o := newAnonObject(z)
	o.segment = true
	o.limit = (size + PageSize - 1) &^ (PageSize - 1)
	return &SharedMemory{obj: o, size: o.limit}
}

// Size returns the size in bytes (whole pages).
func (s *SharedMemory) Size() uint64 { return s.size }

// Release drops the segment's own reference: the pages go once no mapping
// maps them.
func (s *SharedMemory) Release() { s.obj.decMap(true, nil) }

// ResidentPages returns how many of its pages are in memory.
func (s *SharedMemory) ResidentPages() uint64 {
	s.obj.mu.Lock()
	defer s.obj.mu.Unlock()
	return uint64(len(s.obj.pages))
}

// SwappedPages returns how many of its pages are out on swap.
func (s *SharedMemory) SwappedPages() uint64 {
	s.obj.mu.Lock()
	defer s.obj.mu.Unlock()
	return uint64(len(s.obj.swapped))
}

// SetLocked is SHM_LOCK (true) and SHM_UNLOCK: locked memory is never
// reclaimed.
func (s *SharedMemory) SetLocked(locked bool) { s.obj.setLocked(locked) }

// DetachShared is shmdt(2)'s unmapping: the mapping of a SharedMemory that
// starts at addr (a vma whose offset in its segment equals its distance
// from addr) is removed, and then every other piece of the same segment's
// attachment up to the segment's size above addr (fragments left by
// mprotect or munmap), as Linux's shmdt walks them. EINVAL when addr is
// not page aligned or no attachment starts there.
func (m *MemoryManager) DetachShared(addr uintptr) error {
	if addr%PageSize != 0 {
		return unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	matches := func(v *vma) bool {
		return v.obj != nil && v.obj.segment && uint64(v.start-addr)/PageSize == v.offset/PageSize
	}
	_, i := m.findLocked(addr)
	if idx, _ := m.findLocked(addr); idx >= 0 {
		i = idx
	}
	var obj *cacheObject
	var size uint64
	var ranges [][2]uintptr
	for ; i < len(m.vmas); i++ {
		if v := m.vmas[i]; matches(v) {
			obj, size = v.obj, v.obj.limit
			ranges = append(ranges, [2]uintptr{v.start, v.end})
			i++
			break
		}
	}
	if obj == nil {
		return unix.EINVAL
	}
	for ; i < len(m.vmas) && uint64(m.vmas[i].end-addr) <= size; i++ {
		if v := m.vmas[i]; v.obj == obj && matches(v) {
			ranges = append(ranges, [2]uintptr{v.start, v.end})
		}
	}
	for _, r := range ranges {
		m.removeRangeLocked(r[0], r[1])
	}
	return nil
}

// Intersects reports whether any mapping overlaps [addr, addr+length).
func (m *MemoryManager) Intersects(addr, length uintptr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.isFreeLocked(addr, addr+length)
}
