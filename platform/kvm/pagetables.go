package kvm

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

const pageSize = 4096

// Page-table entry bits (4-level paging, no PCID, no protection keys).
const (
	ptePresent  = 1 << 0
	pteWrite    = 1 << 1
	pteUser     = 1 << 2
	pteAccessed = 1 << 5
	pteDirty    = 1 << 6
	pteNX       = 1 << 63
	pteAddrMask = 0x000ffffffffff000

	// pteTable is the attributes of an entry that points to a lower
	// table: everything allowed, the leaf decides. Accessed is preset so
	// the CPU never writes to the tables.
	pteTable = ptePresent | pteWrite | pteAccessed
)

// ptEntries is the number of entries of one table.
const ptEntries = 512

// table is one page-table page.
type table [ptEntries]uint64

// physMem is the guest's physical memory as the sentry sees it: the memory
// file, at guest physical address memBase. Page-table pages are frames of
// the file, allocated and freed through it.
type physMem struct {
	mf *memfile.MemoryFile
	// mapping is the sentry's mapping of the whole file.
	mapping []byte
}

func newPhysMem(mf *memfile.MemoryFile) *physMem {
	return &physMem{mf: mf, mapping: mf.Slice(memfile.FileRange{Start: 0, End: mf.Size()})}
}

// hostAddr returns the address of the sentry's mapping of the file.
func (m *physMem) hostAddr() uintptr { return uintptr(unsafe.Pointer(&m.mapping[0])) }

// gpa returns the guest physical address of file offset off.
func gpa(off uint64) uint64 { return memBase + off }

// table returns the page-table page at guest physical address pa.
func (m *physMem) table(pa uint64) *table {
	off := pa&pteAddrMask - memBase
	return (*table)(unsafe.Pointer(&m.mapping[off]))
}

// bytes returns the page at file offset off.
func (m *physMem) page(off uint64) []byte {
	return m.mapping[off : off+pageSize : off+pageSize]
}

// allocPage returns a zeroed frame of the file.
func (m *physMem) allocPage() (memfile.FileRange, error) {
	fr, err := m.mf.Allocate(1)
	if err != nil {
		return memfile.FileRange{}, fmt.Errorf("kvm: allocating a page-table page: %w", err)
	}
	return fr, nil
}

// pageTables is one tree of x86-64 4-level page tables in frames of the
// memory file. The sentry edits it through its mapping of the file, the
// guest walks it by physical address.
//
// Entries are written with single atomic stores, so a vCPU walking the
// tree concurrently sees either the old or the new entry. Intermediate
// tables are never freed before the whole tree is released.
//
// Locking: the owner serialises edits (addressSpace.mu, Platform.mu).
type pageTables struct {
	mem *physMem
	// user makes intermediate entries user-accessible (the leaves
	// decide); kernel trees have none.
	user bool
	// root is the guest physical address of the PML4.
	root uint64
	// pages are the frames of every table the tree allocated.
	pages []memfile.FileRange
}

func newPageTables(mem *physMem, user bool) (*pageTables, error) {
	pt := &pageTables{mem: mem, user: user}
	fr, err := mem.allocPage()
	if err != nil {
		return nil, err
	}
	pt.pages = append(pt.pages, fr)
	pt.root = gpa(fr.Start)
	return pt, nil
}

// release frees every table page of the tree. Preconditions: no vCPU uses
// the tree any longer.
func (pt *pageTables) release() {
	for _, fr := range pt.pages {
		pt.mem.mf.DecRef(fr)
	}
	pt.pages = nil
	pt.root = 0
}

func pteIndex(va uint64, level int) int {
	return int(va>>(12+9*uint(level))) & (ptEntries - 1)
}

// walk returns the last-level table (level 0) covering va, creating the
// missing tables if create.
func (pt *pageTables) walk(va uint64, create bool) (*table, error) {
	t := pt.mem.table(pt.root)
	for level := 3; level > 0; level-- {
		e := &t[pteIndex(va, level)]
		v := atomic.LoadUint64(e)
		if v&ptePresent == 0 {
			if !create {
				return nil, nil
			}
			fr, err := pt.mem.allocPage()
			if err != nil {
				return nil, err
			}
			pt.pages = append(pt.pages, fr)
			v = gpa(fr.Start) | pteTable
			if pt.user {
				v |= pteUser
			}
			atomic.StoreUint64(e, v)
		}
		t = pt.mem.table(v)
	}
	return t, nil
}

// leafEntry returns the leaf entry mapping the page at file offset off with
// the given rights.
func leafEntry(off uint64, write, exec, user bool) uint64 {
	e := gpa(off) | ptePresent | pteAccessed
	if write {
		e |= pteWrite | pteDirty
	}
	if !exec {
		e |= pteNX
	}
	if user {
		e |= pteUser
	}
	return e
}

// isUpgrade reports whether replacing the present entry old by new only
// adds rights to the same frame, which needs no TLB flush: a stale,
// narrower TLB entry at most causes one spurious page fault, which
// invalidates it.
func isUpgrade(old, new uint64) bool {
	if old&pteAddrMask != new&pteAddrMask || new&ptePresent == 0 {
		return false
	}
	if old&pteWrite != 0 && new&pteWrite == 0 {
		return false
	}
	if old&pteNX == 0 && new&pteNX != 0 {
		return false
	}
	return old&pteUser == new&pteUser
}

// mapRange maps n pages of the file from offset off at va with leaf
// attributes from leafEntry(…, write, exec, user). It returns whether an
// entry that was present changed in a way that needs a TLB flush.
//
// Preconditions: va and off page aligned; va+n pages canonical and within
// one half.
func (pt *pageTables) mapRange(va, off, n uint64, write, exec, user bool) (flush bool, err error) {
	var t *table
	for i := uint64(0); i < n; i++ {
		a := va + i*pageSize
		if t == nil || pteIndex(a, 0) == 0 {
			if t, err = pt.walk(a, true); err != nil {
				return flush, err
			}
		}
		e := &t[pteIndex(a, 0)]
		nv := leafEntry(off+i*pageSize, write, exec, user)
		old := atomic.SwapUint64(e, nv)
		if old&ptePresent != 0 && old != nv && !isUpgrade(old, nv) {
			flush = true
		}
	}
	return flush, nil
}

// unmapRange clears every entry in [start, end) and returns whether any
// was present (and so may be cached in a TLB).
func (pt *pageTables) unmapRange(start, end uint64) (flush bool) {
	va := start
	for va < end {
		// Walk down as far as tables exist; skip what is absent.
		t := pt.mem.table(pt.root)
		level := 3
		for ; level > 0; level-- {
			v := atomic.LoadUint64(&t[pteIndex(va, level)])
			if v&ptePresent == 0 {
				break
			}
			t = pt.mem.table(v)
		}
		if level > 0 {
			// Nothing is mapped in the rest of this level-entry's span.
			span := uint64(1) << (12 + 9*uint(level))
			next := (va &^ (span - 1)) + span
			if next <= va { // wrapped
				return flush
			}
			va = next
			continue
		}
		// Clear to the end of this table or of the range.
		for ; va < end; va += pageSize {
			i := pteIndex(va, 0)
			if atomic.SwapUint64(&t[i], 0)&ptePresent != 0 {
				flush = true
			}
			if i == ptEntries-1 {
				va += pageSize
				break
			}
		}
	}
	return flush
}

// lookup returns the leaf entry for va, or 0.
func (pt *pageTables) lookup(va uint64) uint64 {
	t, _ := pt.walk(va, false)
	if t == nil {
		return 0
	}
	return atomic.LoadUint64(&t[pteIndex(va, 0)])
}

// rootEntry returns entry i of the PML4.
func (pt *pageTables) rootEntry(i int) uint64 {
	return atomic.LoadUint64(&pt.mem.table(pt.root)[i])
}

// setRootEntry sets entry i of the PML4 (to share a kernel subtree).
func (pt *pageTables) setRootEntry(i int, v uint64) {
	atomic.StoreUint64(&pt.mem.table(pt.root)[i], v)
}
