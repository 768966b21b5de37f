package mm

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// FutexKey identifies a futex word as Linux's get_futex_key does: a word in
// a private mapping (or any word of a private futex) is named by its
// address space and address; a word in a shared mapping by the memory-file
// frame behind it, so processes sharing the page share the futex.
type FutexKey struct {
	MM     *MemoryManager
	Addr   uintptr
	Frame  uint64
	Shared bool
}

// FutexKey returns the key of the 4-byte aligned futex word at addr.
// Errors: EINVAL (misaligned), EFAULT (not mapped readable).
func (m *MemoryManager) FutexKey(addr uintptr, private bool) (FutexKey, error) {
	if addr%4 != 0 {
		return FutexKey{}, unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.vmaAtLocked(addr)
	if v == nil || !v.perms.Read {
		return FutexKey{}, unix.EFAULT
	}
	if private || v.shared == nil {
		return FutexKey{MM: m, Addr: addr}, nil
	}
	p, err := m.populateLocked(v, pageDown(addr), false)
	if err != nil {
		return FutexKey{}, unix.EFAULT
	}
	return FutexKey{Frame: p.frame + uint64(addr%PageSize), Shared: true}, nil
}

// Uint32 returns a pointer, in the sentry's view of the memory file, to the
// aligned 32-bit word at addr, for atomic operations that must be atomic
// against application threads (futex compare and FUTEX_WAKE_OP). With
// write, the page is made writable first (copy-on-write broken, shared
// page marked dirty). The pointer is valid while the page stays mapped;
// callers use it immediately.
func (m *MemoryManager) Uint32(addr uintptr, write bool) (*uint32, error) {
	if addr%4 != 0 {
		return nil, unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.vmaAtLocked(addr)
	if v == nil || !v.perms.Read || (write && !v.perms.Write) {
		return nil, unix.EFAULT
	}
	pa := pageDown(addr)
	p, err := m.populateLocked(v, pa, false)
	if err != nil {
		return nil, unix.EFAULT
	}
	if write {
		if err := m.makeWritableLocked(v, pa, p); err != nil {
			return nil, unix.EFAULT
		}
	}
	page := m.mf.Slice(frameRange(p.frame))
	return (*uint32)(unsafe.Pointer(&page[addr%PageSize])), nil
}

// LoadUint32 atomically reads the word at addr.
func (m *MemoryManager) LoadUint32(addr uintptr) (uint32, error) {
	p, err := m.Uint32(addr, false)
	if err != nil {
		return 0, err
	}
	return atomic.LoadUint32(p), nil
}

var _ = hostarch.PageSize
