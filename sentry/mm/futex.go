package mm

import (
	"errors"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// FutexKey identifies a futex word as Linux's get_futex_key does: a word in
// a private mapping (or any word of a private futex) is named by its
// address space and address; a word in a shared mapping by the object
// behind the mapping (the file's page cache, or the shared anonymous
// region) and its offset there, so processes sharing the page share the
// futex, and the key survives the page being reclaimed and read back into
// another frame.
type FutexKey struct {
	MM   *MemoryManager
	Addr uintptr
	// Frame is the word's offset in the shared object.
	Frame  uint64
	Shared bool
	obj    *cacheObject
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
	if v == nil || !v.readable() {
		return FutexKey{}, unix.EFAULT
	}
	if private || v.private || v.obj == nil {
		return FutexKey{MM: m, Addr: addr}, nil
	}
	return FutexKey{Frame: v.offsetOf(addr), Shared: true, obj: v.obj}, nil
}

// Uint32 returns a pointer, in the sentry's view of the memory file, to the
// aligned 32-bit word at addr, for atomic operations that must be atomic
// against application threads (futex compare and FUTEX_WAKE_OP). With
// write, the page is made writable first (copy-on-write broken, shared
// page marked dirty). The pointer is valid while the page stays mapped
// and resident: reclaim may take the page as soon as m.mu is released, so
// callers should prefer WithUint32, which holds it.
func (m *MemoryManager) Uint32(addr uintptr, write bool) (*uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.uint32Locked(addr, write)
}

// WithUint32 calls fn with a pointer to the aligned 32-bit word at addr
// (see Uint32) while the page is held resident: fn runs with the memory
// manager's lock held and must not block or call back into it. It
// returns EINVAL (misaligned) or EFAULT.
func (m *MemoryManager) WithUint32(addr uintptr, write bool, fn func(p *uint32)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.uint32Locked(addr, write)
	if err != nil {
		return err
	}
	fn(p)
	return nil
}

func (m *MemoryManager) uint32Locked(addr uintptr, write bool) (*uint32, error) {
	if addr%4 != 0 {
		return nil, unix.EINVAL
	}
	for tries := 0; ; tries++ {
		v := m.vmaAtLocked(addr)
		if v == nil || !v.readable() || (write && !v.perms.Write) {
			return nil, unix.EFAULT
		}
		pa := pageDown(addr)
		p, err := m.populateLocked(v, pa, false)
		if err == nil && write {
			err = m.makeWritableLocked(v, pa, p)
		}
		if errors.Is(err, kswapd.ErrNoMemory) && tries < maxReclaimRetries && m.reclaimUnlocked() {
			continue
		}
		if err != nil {
			return nil, unix.EFAULT
		}
		m.zone.MarkAccessed(frameNumber(p.frame))
		page := m.mf.Slice(frameRange(p.frame))
		return (*uint32)(unsafe.Pointer(&page[addr%PageSize])), nil
	}
}

// LoadUint32 atomically reads the word at addr.
func (m *MemoryManager) LoadUint32(addr uintptr) (uint32, error) {
	var v uint32
	err := m.WithUint32(addr, false, func(p *uint32) { v = atomic.LoadUint32(p) })
	return v, err
}

var _ = hostarch.PageSize
