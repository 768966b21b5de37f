package mm

// Memory locking (mlock, mlock2, munlock, mlockall, munlockall): a vma
// marked locked has its pages populated (unless MLOCK_ONFAULT) and kswapd
// cannot take them: Reclaim answers Activate for a private page in a
// locked vma of any address space holding it, and a page-cache page
// mapped by a locked vma stays too (Linux's unevictable LRU, VM_LOCKED).
// Locks are not inherited by fork and end at exec (a new address space),
// as on Linux. VmLck in /proc/PID/status is LockedPages.

import (
	"errors"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"golang.org/x/sys/unix"
)

// MlockOpts say how Mlock changes a range.
type MlockOpts struct {
	// Lock locks (mlock, mlock2) or unlocks (munlock).
	Lock bool
	// OnFault is MLOCK_ONFAULT: pages are locked as they are faulted in,
	// not populated now.
	OnFault bool
	// LimitPages is RLIMIT_MEMLOCK in pages; ignored when Unlimited
	// (CAP_IPC_LOCK or RLIM_INFINITY).
	LimitPages uint64
	Unlimited  bool
}

// lockedPagesLocked counts the pages of locked vmas, or only those of
// [start, end).
func (m *MemoryManager) lockedPagesLocked(start, end uintptr) uint64 {
	var n uint64
	for _, v := range m.vmas {
		if !v.locked {
			continue
		}
		s, e := max(v.start, start), min(v.end, end)
		if e > s {
			n += uint64(e-s) / PageSize
		}
	}
	return n
}

// LockedPages is the number of pages in locked vmas (VmLck).
func (m *MemoryManager) LockedPages() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lockedPagesLocked(0, ^uintptr(0))
}

// Mlock locks or unlocks the vmas of [addr, addr+length) (addr rounded
// down to a page, the length up). ENOMEM when part of the range is not
// mapped (nothing changes then) or locking would pass the limit; EINVAL
// on wrap-around.
func (m *MemoryManager) Mlock(addr, length uintptr, o MlockOpts) error {
	start := pageDown(addr)
	end, ok := pageUp(addr + length)
	if !ok || addr+length < addr {
		return unix.EINVAL
	}
	if end == start {
		return nil
	}
	m.mu.Lock()
	if !m.checkMappedLocked(start, end) {
		m.mu.Unlock()
		return unix.ENOMEM
	}
	if o.Lock && !o.Unlimited {
		total := m.lockedPagesLocked(0, ^uintptr(0))
		already := m.lockedPagesLocked(start, end)
		if total-already+uint64(end-start)/PageSize > o.LimitPages {
			m.mu.Unlock()
			return unix.ENOMEM
		}
	}
	m.setLockedLocked(start, end, o.Lock, o.OnFault)
	m.mu.Unlock()
	if o.Lock && !o.OnFault {
		m.populateRange(start, end)
	}
	return nil
}

// setLockedLocked splits the vmas at start and end and marks those
// between.
func (m *MemoryManager) setLockedLocked(start, end uintptr, lock, onFault bool) {
	m.splitLocked(start)
	m.splitLocked(end)
	_, i := m.findLocked(start)
	for ; i < len(m.vmas) && m.vmas[i].start < end; i++ {
		m.vmas[i].locked = lock
		m.vmas[i].lockOnFault = lock && onFault
	}
}

// populateRange faults in every accessible page of [start, end), for
// writing in writable private vmas (copy-on-write broken now, as Linux's
// populate does), reclaiming when the zone is short. Errors are ignored,
// as __mm_populate's are for mlock: PROT_NONE vmas and pages beyond the
// end of a file stay unpopulated.
func (m *MemoryManager) populateRange(start, end uintptr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for a := start; a < end; a += PageSize {
		for tries := 0; ; tries++ {
			v := m.vmaAtLocked(a)
			if v == nil || !v.locked {
				break
			}
			if !v.readable() && !v.perms.Write && !v.perms.Execute {
				a = v.end - PageSize
				break
			}
			p, err := m.populateLocked(v, a, false)
			if err == nil && v.private && v.perms.Write {
				err = m.makeWritableLocked(v, a, p)
			}
			if errors.Is(err, kswapd.ErrNoMemory) && tries < maxReclaimRetries && m.reclaimUnlocked() {
				continue
			}
			if err == nil {
				m.zone.MarkAccessed(frameNumber(p.frame))
			}
			break
		}
	}
}

// MlockAll is mlockall(flags) (current: MCL_CURRENT, future: MCL_FUTURE,
// onFault: MCL_ONFAULT). ENOMEM when the address space's size passes the
// limit.
func (m *MemoryManager) MlockAll(current, future, onFault bool, limitPages uint64, unlimited bool) error {
	m.mu.Lock()
	if current && !unlimited {
		var total uint64
		for _, v := range m.vmas {
			total += uint64(v.end-v.start) / PageSize
		}
		if total > limitPages {
			m.mu.Unlock()
			return unix.ENOMEM
		}
	}
	m.lockFuture = future
	m.lockFutureOnFault = future && onFault
	var ranges [][2]uintptr
	if current {
		for _, v := range m.vmas {
			v.locked = true
			v.lockOnFault = onFault
			ranges = append(ranges, [2]uintptr{v.start, v.end})
		}
	}
	m.mu.Unlock()
	if current && !onFault {
		for _, r := range ranges {
			m.populateRange(r[0], r[1])
		}
	}
	return nil
}

// MunlockAll is munlockall: every vma unlocked, MCL_FUTURE forgotten.
func (m *MemoryManager) MunlockAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lockFuture, m.lockFutureOnFault = false, false
	for _, v := range m.vmas {
		v.locked, v.lockOnFault = false, false
	}
}

// lockedAtLocked reports whether addr is in a locked vma of m.
func (m *MemoryManager) lockedAtLocked(addr uintptr) bool {
	v := m.vmaAtLocked(addr)
	return v != nil && v.locked
}

// mapsLockedLocked reports whether a locked vma of m maps offset off of o.
func (m *MemoryManager) mapsLockedLocked(o *cacheObject, off uint64) bool {
	for _, v := range m.vmas {
		if v.locked && v.obj == o && off >= v.offset && off < v.offset+uint64(v.end-v.start) {
			return true
		}
	}
	return false
}
