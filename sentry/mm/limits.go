package mm

// Address-space limits: RLIMIT_AS bounds every mapping, RLIMIT_DATA the
// data mappings (private, writable, not a stack: Linux's
// is_data_mapping, the heap included), and the overcommit heuristic
// (Linux's default vm.overcommit_memory=0, OVERCOMMIT_GUESS) refuses a
// single private writable mapping larger than the sandbox's memory and swap
// together, so brk(16 TiB) fails as it does on Linux. The counters are kept
// up to date on every change of a vma (accountLocked), so a check is O(1).

import (
	"github.com/runsc-lite/runsc-lite/kswapd"
	"golang.org/x/sys/unix"
)

// VMLimits are the caller's RLIMIT_AS and RLIMIT_DATA soft limits in
// bytes (unix.RLIM_INFINITY for none). Linux checks the limits of the
// thread making the call, so every call that grows an address space takes
// them.
type VMLimits struct {
	AS, Data uint64
}

// NoVMLimits is no RLIMIT_AS or RLIMIT_DATA (the loader's mappings).
var NoVMLimits = VMLimits{AS: unix.RLIM_INFINITY, Data: unix.RLIM_INFINITY}

// isData reports whether v counts against RLIMIT_DATA.
func isData(v *vma) bool { return v.private && v.perms.Write && !v.growsDown }

// accountLocked adds (sign 1) or removes (sign -1) v's pages to the
// address space's totals.
// Preconditions: m.mu is held.
func (m *MemoryManager) accountLocked(v *vma, sign int64) {
	n := int64(v.end-v.start) / PageSize * sign
	m.totalVM += n
	if isData(v) {
		m.dataVM += n
	}
}

// mayExpandLocked returns ENOMEM if growing the address space by npages
// (data pages if data) would pass lim (Linux's may_expand_vm).
// Preconditions: m.mu is held.
func (m *MemoryManager) mayExpandLocked(npages int64, data bool, lim VMLimits) error {
	if npages <= 0 {
		return nil
	}
	if lim.AS != unix.RLIM_INFINITY && uint64(m.totalVM+npages) > lim.AS/PageSize {
		return unix.ENOMEM
	}
	if data && lim.Data != unix.RLIM_INFINITY && uint64(m.dataVM+npages) > lim.Data/PageSize {
		return unix.ENOMEM
	}
	return nil
}

// overcommitOK reports whether a private writable mapping of npages may be
// made: no more than the sandbox's memory plus swap (Linux's
// __vm_enough_memory under OVERCOMMIT_GUESS). It does not block.
func (m *MemoryManager) overcommitOK(npages uint64) bool { return OvercommitOK(m.zone, npages) }

// OvercommitOK is the overcommit heuristic (OVERCOMMIT_GUESS) for npages
// of memory in z: no single reservation larger than the memory and swap.
// Accounted shared memory (shmget without SHM_NORESERVE) is checked too.
func OvercommitOK(z *kswapd.Zone, npages uint64) bool {
	limit := z.TotalPages()
	if sw := z.Swap(); sw != nil {
		limit += sw.Total()
	}
	return npages <= limit
}

// pagesInLocked returns how many mapped pages [start, end) holds.
// Preconditions: m.mu is held.
func (m *MemoryManager) pagesInLocked(start, end uintptr) (total, data int64) {
	_, i := m.findLocked(start)
	if j, _ := m.findLocked(start); j >= 0 {
		i = j
	}
	for ; i < len(m.vmas) && m.vmas[i].start < end; i++ {
		v := m.vmas[i]
		n := int64(min(v.end, end)-max(v.start, start)) / PageSize
		total += n
		if isData(v) {
			data += n
		}
	}
	return total, data
}

// DataPages returns the pages of data mappings (/proc/PID/status VmData).
func (m *MemoryManager) DataPages() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(m.dataVM)
}
