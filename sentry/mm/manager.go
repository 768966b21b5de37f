package mm

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

const (
	// minUserAddress is Linux's default vm.mmap_min_addr.
	minUserAddress = 0x10000
	// faultAroundPages is the window populated by one fault (64 KiB).
	faultAroundPages = 16
	// faultAroundFilePages is the wider window a read or execute fault
	// on a file mapping maps of the pages the page cache holds
	// (populateCachedLocked; 1 MiB).
	faultAroundFilePages = 256
	// stackGap is the room kept between the top of the mmap area and the
	// top of the address space for the main stack to live and grow in.
	stackGap = 256 << 20
)

// vma is one virtual memory area: [start, end) with uniform permissions
// and backing.
type vma struct {
	start, end uintptr
	perms      hostarch.AccessType
	maxPerms   hostarch.AccessType
	private    bool
	growsDown  bool
	// noReserve is MAP_NORESERVE: not subject to the overcommit check.
	noReserve bool
	// mappable is the file of a file mapping (private or shared).
	mappable Mappable
	// obj is the memory behind the mapping's pages when they are not
	// private anonymous memory: the file's page cache (shared file
	// mappings map its frames, private ones map them copy-on-write) or a
	// shared anonymous region. nil for anonymous private memory and for
	// private mappings of files without an identity (copied on touch).
	obj *cacheObject
	// special is the sentry's own pages a special mapping maps (the
	// vDSO and its parameter page); nil for any other mapping.
	special *SpecialPages
	// offset is the file (or object, or special pages') offset of start.
	offset uint64
	name   string
	// anonName is prctl(PR_SET_VMA_ANON_NAME)'s name of an anonymous
	// vma, shown in /proc/PID/maps.
	anonName string
	// locked is VM_LOCKED (mlock.go): kswapd leaves the pages alone;
	// lockOnFault is MLOCK_ONFAULT's VM_LOCKONFAULT.
	locked, lockOnFault bool
	// exe marks a mapping of the file the image runs (MMapOpts.
	// Executable): while the memory manager holds its ExecutableRef the
	// file cannot be written, so its cached pages cannot change.
	exe bool
	// file is the mapping's hold on its file description's write
	// access (MMapOpts.File); nil for none.
	file FileRef
}

func (v *vma) offsetOf(addr uintptr) uint64 { return v.offset + uint64(addr-v.start) }

// readable reports whether v's pages may be read. x86 page tables cannot
// express write-only pages, so on Linux/x86 PROT_WRITE alone reads too;
// /proc/PID/maps still shows the permissions asked for.
func (v *vma) readable() bool { return v.perms.Read || v.perms.Write }

// holdRefs takes the references a new copy of v holds (a split or fork):
// on its object and on its file. pid is the process making the copy (the
// memory manager's owner; for fork, the parent).
func (v *vma) holdRefs(pid int32) {
	if v.obj != nil {
		v.obj.incMap(!v.private)
	}
	mappedBy(v.mappable, pid)
	v.countWriteMap(1)
	if v.file != nil {
		v.file.IncRef()
	}
}

// countWriteMap tells a file that counts its shared mappings that may
// write (WriteMapCounter) that v comes (delta 1) or goes (-1).
func (v *vma) countWriteMap(delta int32) {
	if v.private || !v.maxPerms.Write {
		return
	}
	if c, ok := v.mappable.(WriteMapCounter); ok {
		c.WriteMapped(delta)
	}
}

// dropRefs drops v's references on its object (writing back the last
// shared mapping's dirty pages) and then on its file. It may block on
// write-back. pid is the process unmapping it.
func (v *vma) dropRefs(pid int32) {
	if v.obj != nil {
		v.obj.decMap(!v.private, v.mappable)
	}
	v.countWriteMap(-1)
	switch f := v.mappable.(type) {
	case ProcessMappedFile:
		f.UnmappedBy(pid)
	case MappedFile:
		f.Unmapped()
	}
	if v.file != nil {
		v.file.DecRef()
	}
}

// mappedBy tells mp's file that one more vma maps it, made by process pid.
func mappedBy(mp Mappable, pid int32) {
	switch f := mp.(type) {
	case ProcessMappedFile:
		f.MappedBy(pid)
	case MappedFile:
		f.Mapped()
	}
}

// pte is one populated page of the page table.
type pte struct {
	// frame is the memory-file offset of the page; the pte holds one
	// reference on it.
	frame uint64
	// cow marks a private page whose frame may be shared with another
	// address space (after fork) or with the page cache: a write must
	// copy it first.
	cow bool
	// mapped is the access the platform currently grants on the page
	// (empty: not mapped in the platform address space).
	mapped hostarch.AccessType
	// deactivated marks a page the zone unmapped to observe its next use:
	// only a fault on the page itself maps it again (not a neighbour's
	// fault-around), so that use is seen.
	deactivated bool
	// swapSlot is non-zero for a page out on swap: the pte holds one
	// reference on the slot, and frame means nothing.
	swapSlot uint64
	// obj and objOff name the cached page frame is, for a pte mapping a
	// frame of a cache object (shared mappings, private file pages not
	// yet written); obj is nil for private anonymous frames.
	obj    *cacheObject
	objOff uint64
}

// MemoryManager is one application address space.
type MemoryManager struct {
	zone *kswapd.Zone
	mf   *memfile.MemoryFile
	// as is the platform address space: set once, by New or
	// SetAddressSpace (under mu); read without mu by AddressSpace (every
	// switch into the application).
	as      addressSpaceSlot
	maxAddr uintptr

	// owner is the TGID of the process the address space belongs to
	// (SetOwner), told to the files its mappings map.
	owner atomic.Int32

	// lockFuture is mlockall's MCL_FUTURE (with MCL_ONFAULT:
	// lockFutureOnFault): new mappings are locked. Under mu.
	lockFuture, lockFutureOnFault bool

	// Membarrier holds the membarrier(2) MEMBARRIER_CMD_REGISTER_* bits
	// of the address space (Linux's mm->membarrier_state).
	Membarrier atomic.Uint32

	mu    sync.Mutex
	users int
	// handedOver says TakeAddressSpace gave as to a new image: m maps
	// nothing more in it and does not release it.
	handedOver bool
	vmas       []*vma // sorted by start, non-overlapping
	pages      map[uintptr]*pte
	// nrSwap counts the ptes that are swap entries.
	nrSwap int
	// cowFaults counts the write faults that copied an anonymous page
	// shared with another address space since the last fork
	// (copyAroundLocked).
	cowFaults int
	// totalVM and dataVM count the pages of all vmas and of the data
	// vmas (limits.go).
	totalVM, dataVM int64

	brkStart, brkEnd   uintptr
	argvStart, argvEnd uintptr
	envStart, envEnd   uintptr
	auxv               []uint64
	executable         string
	// exeRef holds the executable file for as long as the address
	// space runs it (writes to it are ETXTBSY); nil for none.
	exeRef ExecutableRef
}

// ExecutableRef is an address space's hold on the file it runs: while it
// is held the file cannot be written (the sentry's VFS answers ETXTBSY,
// as Linux does for mm->exe_file).
type ExecutableRef interface {
	// DupRef returns another hold on the same file (fork).
	DupRef() ExecutableRef
	// Release drops the hold.
	Release()
}

// New returns an empty memory manager over address space as, with one
// user, whose pages come from zone. maxAddr is the first address above the
// application's range (platform.Platform.MaxUserAddress).
//
// as may be nil for a memory manager being built (execve loads the new
// image before its point of no return): it can be mapped, read and
// written by the sentry, and gets its address space with
// SetAddressSpace before any thread runs in it.
func New(zone *kswapd.Zone, as platform.AddressSpace, maxAddr uintptr) *MemoryManager {
	m := &MemoryManager{
		zone:    zone,
		mf:      zone.MemoryFile(),
		maxAddr: maxAddr &^ (PageSize - 1),
		users:   1,
		pages:   make(map[uintptr]*pte),
	}
	m.as.set(as)
	register(m)
	return m
}

// SetOwner records the process (TGID) the address space belongs to: the
// one files learn maps or unmaps them (ProcessMappedFile).
func (m *MemoryManager) SetOwner(pid int32) { m.owner.Store(pid) }

// Owner returns the TGID SetOwner recorded (0: none yet).
func (m *MemoryManager) Owner() int32 { return m.owner.Load() }

// AddressSpace returns the platform address space mirroring this one.
func (m *MemoryManager) AddressSpace() platform.AddressSpace { return m.as.get() }

// addressSpaceSlot holds a memory manager's platform address space (nil
// for none), readable without the memory manager's lock.
type addressSpaceSlot struct {
	p atomic.Pointer[platform.AddressSpace]
}

func (s *addressSpaceSlot) get() platform.AddressSpace {
	if p := s.p.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *addressSpaceSlot) set(as platform.AddressSpace) {
	if as == nil {
		s.p.Store(nil)
		return
	}
	s.p.Store(&as)
}

// SetAddressSpace gives a memory manager made without one (New with a nil
// address space) its platform address space, which must map nothing.
// Nothing is mapped in it yet: faults map pages as the new image touches
// them.
func (m *MemoryManager) SetAddressSpace(as platform.AddressSpace) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.as.get() != nil {
		panic("mm: SetAddressSpace on a memory manager that has an address space")
	}
	m.as.set(as)
}

// MapLoaded maps in the platform, before a new image (execve, or the
// sandbox's init) first runs, the pages it is about to touch that need
// no allocation or read:
//   - the pages its loader populated: the stack holding the arguments,
//     the environment and the auxiliary vector, the partial pages it
//     zeroed past a segment's end;
//   - the pages of its file mappings (the program's and its
//     interpreter's segments) that the file's page cache holds, as a
//     fault's cached-page fault-around would (after a program's first
//     run, all of its text): copy-on-write, read-only;
//   - the vDSO's code.
//
// Each would otherwise cost a fault at its first touch, a stop and a
// mapping round trip on ptrace and systrap, and the image touches them
// within its first instructions. Here they cost one batch, which the
// image's first Switch injects where the platform can (premapLocked, as
// for a fork's child); the loader's pages go first when the batch is
// full.
//
// Preconditions: m has its address space; no thread runs in it yet.
func (m *MemoryManager) MapLoaded() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.handedOver {
		return
	}
	loaded := make([]uintptr, 0, len(m.pages))
	for a := range m.pages {
		loaded = append(loaded, a)
	}
	slices.Sort(loaded)
	for _, v := range m.vmas {
		end := min(v.end, v.start+mapLoadedPages*PageSize)
		switch {
		case v.obj != nil:
			v.obj.mu.Lock()
			m.mapCachedLocked(v, v.start, end)
			v.obj.mu.Unlock()
		case v.special != nil && v.perms.Execute:
			m.populateSpecialLocked(v, v.start, v.start, end)
		}
	}
	pages := make([]premapPage, 0, len(m.pages))
	for a, p := range m.pages {
		if !p.mapped.Any() && !p.deactivated {
			pages = append(pages, premapPage{addr: a, p: p})
		}
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i].addr < pages[j].addr })
	m.premapLocked(pages, loaded)
}

// mapLoadedPages bounds the pages of one mapping MapLoaded looks at: the
// window a read fault at the mapping's start would map from the cache
// (faultAroundFilePages), so the image's resident size grows no more than
// that fault's would; the batch holds at most forkPremapRuns runs anyway.
const mapLoadedPages = faultAroundFilePages

// TakeAddressSpace empties the platform address space of m and hands it
// over to the caller, for execve's new image to run in: the process keeps
// its host process (the ptrace stub), as a Linux process keeps its PID
// across execve, and the exec creates none. It returns nil when m has
// other users (a vfork parent, CLONE_VM siblings), which still run in it.
// Afterwards m maps nothing more in the address space and does not
// release it, but AddressSpace still returns it (an observer of the
// process until the new image replaces m sees the same host process);
// m's pages, vmas and users are as before, for DecUsers to release.
//
// Preconditions: no thread runs in m's address space but the caller.
func (m *MemoryManager) TakeAddressSpace() platform.AddressSpace {
	m.mu.Lock()
	defer m.mu.Unlock()
	as := m.as.get()
	if m.users != 1 || as == nil || m.handedOver {
		return nil
	}
	m.handedOver = true
	for _, p := range m.pages {
		p.mapped = hostarch.AccessType{}
	}
	as.Unmap(PageSize, m.maxAddr-PageSize)
	return as
}

// MaxUserAddress returns the first address above the application's range.
func (m *MemoryManager) MaxUserAddress() uintptr { return m.maxAddr }

// IncUsers adds a user (a thread group sharing the address space, vfork).
func (m *MemoryManager) IncUsers() {
	m.mu.Lock()
	m.users++
	m.mu.Unlock()
}

// Users returns the number of thread groups sharing the address space.
func (m *MemoryManager) Users() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users
}

// DecUsers drops a user; the last one releases every page and the
// platform address space. It may block while shared file pages are
// written back.
func (m *MemoryManager) DecUsers() {
	m.mu.Lock()
	m.users--
	if m.users > 0 {
		m.mu.Unlock()
		return
	}
	unregister(m)
	// Every page goes: one walk of the page table and one batch of
	// frames for the memory file (no per-page host call), and no
	// platform unmaps (the address space is released whole).
	frames := make([]uint64, 0, len(m.pages))
	for _, p := range m.pages {
		m.releasePteDeferLocked(p, &frames)
	}
	m.pages = make(map[uintptr]*pte)
	m.mf.DecRefFrames(frames)
	pid := m.Owner()
	for _, v := range m.vmas {
		v.dropRefs(pid)
	}
	m.vmas = nil
	m.totalVM, m.dataVM = 0, 0
	exe := m.exeRef
	m.exeRef = nil
	handedOver := m.handedOver
	m.mu.Unlock()
	if exe != nil {
		exe.Release()
	}
	if as := m.as.get(); as != nil && !handedOver {
		as.Release()
	}
}

func pageDown(a uintptr) uintptr { return a &^ (PageSize - 1) }

func pageUp(a uintptr) (uintptr, bool) {
	r := (a + PageSize - 1) &^ (PageSize - 1)
	return r, r >= a
}

// findLocked returns the index of the vma containing addr, or -1, and the
// index where a vma starting at addr would be inserted.
func (m *MemoryManager) findLocked(addr uintptr) (int, int) {
	i := sort.Search(len(m.vmas), func(i int) bool { return m.vmas[i].end > addr })
	if i < len(m.vmas) && m.vmas[i].start <= addr {
		return i, i
	}
	return -1, i
}

// vmaAt returns the vma containing addr, or nil.
func (m *MemoryManager) vmaAtLocked(addr uintptr) *vma {
	if i, _ := m.findLocked(addr); i >= 0 {
		return m.vmas[i]
	}
	return nil
}

// isFreeLocked reports whether [start, end) overlaps no vma.
func (m *MemoryManager) isFreeLocked(start, end uintptr) bool {
	_, i := m.findLocked(start)
	if idx, _ := m.findLocked(start); idx >= 0 {
		return false
	}
	return i >= len(m.vmas) || m.vmas[i].start >= end
}

// findAvailableLocked finds length free bytes, top-down below the mmap
// area's top (or at hint if that is free).
func (m *MemoryManager) findAvailableLocked(hint, length uintptr) (uintptr, error) {
	if hint >= minUserAddress && hint+length > hint && hint+length <= m.maxAddr && m.isFreeLocked(hint, hint+length) {
		return hint, nil
	}
	top := m.maxAddr - stackGap
	// Walk the gaps between vmas from the highest down.
	end := top
	for i := len(m.vmas) - 1; i >= -1; i-- {
		var gapStart uintptr = minUserAddress
		if i >= 0 {
			v := m.vmas[i]
			if v.start >= end {
				continue
			}
			gapStart = max(v.end, minUserAddress)
		}
		if end > gapStart && end-gapStart >= length {
			return end - length, nil
		}
		if i >= 0 {
			end = m.vmas[i].start
		}
	}
	return 0, unix.ENOMEM
}

// splitLocked makes addr a vma boundary if it falls inside a vma.
func (m *MemoryManager) splitLocked(addr uintptr) {
	i, _ := m.findLocked(addr)
	if i < 0 || m.vmas[i].start == addr {
		return
	}
	v := m.vmas[i]
	right := *v
	right.start = addr
	right.offset = v.offsetOf(addr)
	right.holdRefs(m.Owner())
	v.end = addr
	m.vmas = append(m.vmas, nil)
	copy(m.vmas[i+2:], m.vmas[i+1:])
	m.vmas[i+1] = &right
}

// removeRangeLocked unmaps [start, end): vmas are trimmed or removed and
// their pages dropped.
func (m *MemoryManager) removeRangeLocked(start, end uintptr) {
	m.splitLocked(start)
	m.splitLocked(end)
	_, i := m.findLocked(start)
	j := i
	for j < len(m.vmas) && m.vmas[j].start < end {
		v := m.vmas[j]
		m.accountLocked(v, -1)
		m.dropPagesLocked(v.start, v.end, true)
		v.dropRefs(m.Owner())
		j++
	}
	m.vmas = append(m.vmas[:i], m.vmas[j:]...)
}

// dropPagesLocked releases every populated page (or swap entry) in
// [start, end) and unmaps them from the platform if unmapPlatform. Dirty
// shared file pages stay in their object (written back when its last
// shared mapping goes).
func (m *MemoryManager) dropPagesLocked(start, end uintptr, unmapPlatform bool) {
	anyMapped := false
	var frames []uint64
	m.forEachPageLocked(start, end, func(addr uintptr, p *pte) {
		if p.mapped != (hostarch.AccessType{}) {
			anyMapped = true
		}
		m.releasePteDeferLocked(p, &frames)
		delete(m.pages, addr)
	})
	if anyMapped && unmapPlatform {
		m.as.get().Unmap(start, end-start)
	}
	// After the platform unmap: a frame must not be reused while the
	// application can still reach it.
	m.mf.DecRefFrames(frames)
}

// forEachPageLocked calls fn for every populated page in [start, end), in
// no particular order, choosing whichever of walking the range or the
// page table is cheaper.
func (m *MemoryManager) forEachPageLocked(start, end uintptr, fn func(addr uintptr, p *pte)) {
	if uint64(end-start)/PageSize <= uint64(len(m.pages)) {
		for a := start; a < end; a += PageSize {
			if p, ok := m.pages[a]; ok {
				fn(a, p)
			}
		}
		return
	}
	for a, p := range m.pages {
		if a >= start && a < end {
			fn(a, p)
		}
	}
}

func (m *MemoryManager) insertLocked(v *vma) {
	m.accountLocked(v, 1)
	_, i := m.findLocked(v.start)
	m.vmas = append(m.vmas, nil)
	copy(m.vmas[i+1:], m.vmas[i:])
	m.vmas[i] = v
}

// MMap creates a mapping and returns its address. Errors are errnos:
// EINVAL for bad arguments, ENOMEM when no room is left or a limit would
// be passed (RLIMIT_AS, RLIMIT_DATA, overcommit: limits.go), EEXIST for
// NoReplace over an existing mapping.
func (m *MemoryManager) MMap(o MMapOpts) (uintptr, error) {
	if o.Length == 0 {
		return 0, unix.EINVAL
	}
	length, ok := pageUp(o.Length)
	if !ok || length > m.maxAddr {
		return 0, unix.ENOMEM
	}
	if o.Offset%PageSize != 0 || o.Offset+uint64(length) < o.Offset {
		return 0, unix.EINVAL
	}
	if o.MaxPerms == (hostarch.AccessType{}) {
		o.MaxPerms = hostarch.AnyAccess
	}
	if o.Special != nil {
		if !o.Private || o.Perms.Write || o.Mappable != nil || o.Shared != nil || o.Offset+uint64(length) > o.Special.Size() {
			return 0, unix.EINVAL
		}
		o.MaxPerms.Write = false
	}
	if !o.MaxPerms.SupersetOf(o.Perms) {
		return 0, unix.EACCES
	}
	lim := NoVMLimits
	if o.Limits != nil {
		lim = *o.Limits
	}
	npages := int64(length / PageSize)
	data := o.Private && o.Perms.Write && !o.GrowsDown
	if o.Private && o.Perms.Write && !o.NoReserve && !m.overcommitOK(uint64(npages)) {
		return 0, unix.ENOMEM
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var addr uintptr
	if o.Fixed {
		addr = o.Addr
		if addr%PageSize != 0 {
			return 0, unix.EINVAL
		}
		if addr < minUserAddress || addr+length > m.maxAddr || addr+length < addr {
			return 0, unix.ENOMEM
		}
		if o.NoReplace {
			if !m.isFreeLocked(addr, addr+length) {
				return 0, unix.EEXIST
			}
			if err := m.mayExpandLocked(npages, data, lim); err != nil {
				return 0, err
			}
		} else {
			// What the mapping replaces is given back first
			// (Linux's count_vma_pages_range).
			replaced, _ := m.pagesInLocked(addr, addr+length)
			if err := m.mayExpandLocked(npages-replaced, data, lim); err != nil {
				return 0, err
			}
			m.removeRangeLocked(addr, addr+length)
		}
	} else {
		if err := m.mayExpandLocked(npages, data, lim); err != nil {
			return 0, err
		}
		var err error
		if addr, err = m.findAvailableLocked(pageDown(o.Addr), length); err != nil {
			return 0, err
		}
	}
	v := &vma{
		start:     addr,
		end:       addr + length,
		perms:     o.Perms,
		maxPerms:  o.MaxPerms,
		private:   o.Private,
		growsDown: o.GrowsDown,
		noReserve: o.NoReserve,
		offset:    o.Offset,
		name:      o.Name,
		exe:       o.Executable && o.Mappable != nil,
	}
	switch {
	case o.Special != nil:
		v.special = o.Special
	case o.Shared != nil:
		// A System V shared memory segment: its own object, whatever
		// the mappable (which only names it and counts attaches).
		v.private = false
		v.obj = o.Shared.obj
		v.obj.incMap(true)
		v.mappable = o.Mappable
		mappedBy(o.Mappable, m.Owner())
	case o.Mappable != nil:
		v.mappable = o.Mappable
		mappedBy(o.Mappable, m.Owner())
		v.countWriteMap(1)
		if o.File != nil {
			v.file = o.File
			v.file.IncRef()
		}
		switch {
		case cacheable(o.Mappable):
			v.obj = fileObject(m.zone, o.Mappable, true, !o.Private, o.MaxPerms.Write)
		case !o.Private:
			// A shared mapping of a file without identity
			// (/dev/zero) is a new shared anonymous region,
			// as Linux's shmem_zero_setup.
			v.obj = newAnonObject(m.zone)
		}
	case !o.Private:
		v.obj = newAnonObject(m.zone)
		v.offset = 0
	}
	if m.lockFuture {
		v.locked, v.lockOnFault = true, m.lockFutureOnFault
		o.Populate = o.Populate || !m.lockFutureOnFault
	}
	m.insertLocked(v)
	if o.Populate {
		// Each step populates the fault-around window holding a.
		for a := v.start; a < v.end; a += PageSize * faultAroundPages {
			if _, err := m.populateLocked(v, a, true); err != nil {
				break
			}
		}
	}
	return addr, nil
}

// SetAnonName is prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME): the anonymous
// vmas of [addr, addr+length) are named name ("" removes the name).
// EINVAL for an unaligned addr, ENOMEM when part of the range is not
// mapped, EBADF when part of it maps a file; nothing changes then.
func (m *MemoryManager) SetAnonName(addr, length uintptr, name string) error {
	if addr%PageSize != 0 {
		return unix.EINVAL
	}
	l, ok := pageUp(length)
	if !ok || addr+l < addr {
		return unix.EINVAL
	}
	end := addr + l
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.checkMappedLocked(addr, end) {
		return unix.ENOMEM
	}
	for a := addr; a < end; {
		v := m.vmaAtLocked(a)
		if v.mappable != nil {
			return unix.EBADF
		}
		a = v.end
	}
	m.splitLocked(addr)
	m.splitLocked(end)
	_, i := m.findLocked(addr)
	for ; i < len(m.vmas) && m.vmas[i].start < end; i++ {
		m.vmas[i].anonName = name
	}
	return nil
}

// Munmap removes the mappings in [addr, addr+length).
func (m *MemoryManager) Munmap(addr, length uintptr) error {
	if addr%PageSize != 0 || length == 0 {
		return unix.EINVAL
	}
	l, ok := pageUp(length)
	if !ok || addr+l < addr || addr+l > m.maxAddr {
		return unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeRangeLocked(addr, addr+l)
	return nil
}

// Mprotect changes the permissions of [addr, addr+length). Every page in
// the range must be mapped (ENOMEM otherwise); EACCES when a mapping's
// maximum permissions forbid the change; ENOMEM when making private
// mappings writable passes RLIMIT_DATA (lim) or the overcommit limit.
func (m *MemoryManager) Mprotect(addr, length uintptr, perms hostarch.AccessType, growsDown bool, lim VMLimits) error {
	if addr%PageSize != 0 {
		return unix.EINVAL
	}
	l, ok := pageUp(length)
	if !ok || addr+l < addr {
		return unix.ENOMEM
	}
	if l == 0 {
		return nil
	}
	end := addr + l
	m.mu.Lock()
	defer m.mu.Unlock()
	if growsDown {
		if v := m.vmaAtLocked(addr); v != nil && v.growsDown {
			addr = v.start
		}
	}
	// Check first: the whole range must be mapped and allowed.
	var newData, newCommit int64
	for a := addr; a < end; {
		v := m.vmaAtLocked(a)
		if v == nil {
			return unix.ENOMEM
		}
		if !v.maxPerms.SupersetOf(perms) {
			return unix.EACCES
		}
		if perms.Write && !v.perms.Write && v.private {
			n := int64(min(v.end, end)-a) / PageSize
			if !v.growsDown {
				newData += n
			}
			if !v.noReserve {
				newCommit += n
			}
		}
		a = v.end
	}
	if newData > 0 && lim.Data != unix.RLIM_INFINITY && uint64(m.dataVM+newData) > lim.Data/PageSize {
		return unix.ENOMEM
	}
	if newCommit > 0 && !m.overcommitOK(uint64(newCommit)) {
		return unix.ENOMEM
	}
	m.splitLocked(addr)
	m.splitLocked(end)
	_, i := m.findLocked(addr)
	for ; i < len(m.vmas) && m.vmas[i].start < end; i++ {
		m.accountLocked(m.vmas[i], -1)
		m.vmas[i].perms = perms
		m.accountLocked(m.vmas[i], 1)
	}
	// Drop the platform's mappings, and map again, with the access the
	// new permissions give, the pages it mapped readable before (one
	// batch: the unmap, then a map per run of frames). A program's
	// loader makes its relocated data read-only (RELRO) right after
	// writing it and goes on reading it: without the new mapping each
	// page would fault back in, a stop and a mapping round trip on
	// ptrace and systrap. Pages without read access now (PROT_NONE,
	// write-only) stay unmapped and fault as before.
	var kept []premapPage
	anyMapped := false
	m.forEachPageLocked(addr, end, func(a uintptr, p *pte) {
		if p.mapped != (hostarch.AccessType{}) {
			anyMapped = true
			if p.mapped.Read && perms.Read && p.swapSlot == 0 && !p.deactivated {
				kept = append(kept, premapPage{addr: a, p: p})
			}
			p.mapped = hostarch.AccessType{}
		}
	})
	if anyMapped {
		m.remapLocked(addr, end, kept)
	}
	return nil
}

// remapLocked unmaps [start, end) in the platform and maps pages (in it,
// mapped before) again with the access wantedAccessLocked gives them
// now, in one batch.
// Preconditions: m.mu is held; m has an address space.
func (m *MemoryManager) remapLocked(start, end uintptr, pages []premapPage) {
	q := mapQueue{as: m.as.get()}
	q.unmap(start, end-start)
	sort.Slice(pages, func(i, j int) bool { return pages[i].addr < pages[j].addr })
	var runs []mapRun
	var v *vma
	for _, pp := range pages {
		a, p := pp.addr, pp.p
		if v == nil || a < v.start || a >= v.end {
			v = m.vmaAtLocked(a)
		}
		if v == nil {
			continue
		}
		at := m.wantedAccessLocked(v, a, p)
		if !at.Read {
			continue
		}
		runs = appendRun(runs, a, p.frame, at, false)
		p.mapped = at
	}
	for _, r := range runs {
		q.mapFile(r.start, memfile.FileRange{Start: r.frame, End: r.frame + r.n*PageSize}, r.at)
	}
	unmapFailed := false
	q.flush(func(_ int, op *platform.MapOp, _ error) {
		if !op.Access.Any() {
			unmapFailed = true
			return
		}
		// After the unmap, a failed map leaves the pages unmapped.
		for a := op.Addr; a < op.Addr+uintptr(op.FR.Length()); a += PageSize {
			if p := m.pages[a]; p != nil {
				p.mapped = hostarch.AccessType{}
			}
		}
	})
	if unmapFailed {
		// The old mappings may still be there, with the old access,
		// and the record must never say unmapped where the platform
		// maps (a frame freed while the application can reach it):
		// unmap the range as mprotect always did, and record that.
		m.as.get().Unmap(start, end-start)
		m.forEachPageLocked(start, end, func(_ uintptr, p *pte) { p.mapped = hostarch.AccessType{} })
	}
}

// SetBrkStart sets where the heap begins (the end of the executable's
// highest segment).
func (m *MemoryManager) SetBrkStart(addr uintptr) {
	a, _ := pageUp(addr)
	m.mu.Lock()
	m.brkStart, m.brkEnd = a, a
	m.mu.Unlock()
}

// Brk moves the program break to addr if it can and returns the break.
// It stays where it is when the heap would pass RLIMIT_DATA (lim.Data,
// Linux's check_data_rlimit), RLIMIT_AS, or the overcommit limit.
func (m *MemoryManager) Brk(addr uintptr, lim VMLimits) uintptr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr < m.brkStart || addr > m.maxAddr {
		return m.brkEnd
	}
	if lim.Data != unix.RLIM_INFINITY && uint64(addr-m.brkStart) > lim.Data {
		return m.brkEnd
	}
	oldTop, _ := pageUp(m.brkEnd)
	newTop, _ := pageUp(addr)
	switch {
	case newTop > oldTop:
		if !m.isFreeLocked(oldTop, newTop) {
			return m.brkEnd
		}
		grow := int64(newTop-oldTop) / PageSize
		if m.mayExpandLocked(grow, true, lim) != nil || !m.overcommitOK(uint64(grow)) {
			return m.brkEnd
		}
		if v := m.vmaAtLocked(oldTop - 1); v != nil && v.name == "[heap]" && v.end == oldTop {
			m.accountLocked(v, -1)
			v.end = newTop
			m.accountLocked(v, 1)
		} else {
			m.insertLocked(&vma{
				start: oldTop, end: newTop,
				perms: hostarch.ReadWrite, maxPerms: hostarch.AnyAccess,
				private: true, name: "[heap]",
			})
		}
	case newTop < oldTop:
		m.removeRangeLocked(newTop, oldTop)
	}
	m.brkEnd = addr
	return addr
}

// SetArgv records where argv's strings are (for /proc/PID/cmdline).
func (m *MemoryManager) SetArgv(start, end uintptr) {
	m.mu.Lock()
	m.argvStart, m.argvEnd = start, end
	m.mu.Unlock()
}

// SetEnv records where the environment's strings are.
func (m *MemoryManager) SetEnv(start, end uintptr) {
	m.mu.Lock()
	m.envStart, m.envEnd = start, end
	m.mu.Unlock()
}

// SetAuxv records the auxiliary vector (for /proc/PID/auxv).
func (m *MemoryManager) SetAuxv(auxv []uint64) {
	m.mu.Lock()
	m.auxv = append([]uint64(nil), auxv...)
	m.mu.Unlock()
}

// Auxv returns the auxiliary vector.
func (m *MemoryManager) Auxv() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint64(nil), m.auxv...)
}

// SetExecutable records the executable's path.
func (m *MemoryManager) SetExecutable(p string) {
	m.mu.Lock()
	m.executable = p
	m.mu.Unlock()
}

// HoldExecutable makes ref the address space's hold on its executable
// file, released when the last user goes (or replaced by another).
func (m *MemoryManager) HoldExecutable(ref ExecutableRef) {
	m.mu.Lock()
	old := m.exeRef
	m.exeRef = ref
	m.mu.Unlock()
	if old != nil {
		old.Release()
	}
}

// Executable returns the executable's path.
func (m *MemoryManager) Executable() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.executable
}

func (m *MemoryManager) readRange(start, end uintptr) []byte {
	if end <= start || end-start > 1<<20 {
		return nil
	}
	b := make([]byte, end-start)
	n, _ := m.CopyIn(start, b)
	return b[:n]
}

// Argv returns the bytes of the argument strings (/proc/PID/cmdline).
func (m *MemoryManager) Argv() []byte {
	m.mu.Lock()
	s, e := m.argvStart, m.argvEnd
	m.mu.Unlock()
	return m.readRange(s, e)
}

// Env returns the bytes of the environment strings (/proc/PID/environ).
func (m *MemoryManager) Env() []byte {
	m.mu.Lock()
	s, e := m.envStart, m.envEnd
	m.mu.Unlock()
	return m.readRange(s, e)
}

// VirtualSize returns the total size of all mappings.
func (m *MemoryManager) VirtualSize() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(m.totalVM) * PageSize
}

// ResidentPages returns the number of populated pages in memory (swap
// entries excluded).
func (m *MemoryManager) ResidentPages() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.pages) - m.nrSwap)
}

// Maps returns the text of /proc/PID/maps.
func (m *MemoryManager) Maps() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b []byte
	for _, v := range m.vmas {
		perm := []byte("---p")
		if v.perms.Read {
			perm[0] = 'r'
		}
		if v.perms.Write {
			perm[1] = 'w'
		}
		if v.perms.Execute {
			perm[2] = 'x'
		}
		if !v.private {
			perm[3] = 's'
		}
		var dev, ino uint64
		var path string
		mp := v.mappable
		off := v.offset
		if mp != nil {
			dev, ino, path = mp.MappingIdentity()
		} else {
			off = 0
			path = v.name
			switch {
			case path != "":
			case v.anonName != "" && v.obj != nil:
				path = "[anon_shmem:" + v.anonName + "]"
			case v.anonName != "":
				path = "[anon:" + v.anonName + "]"
			case v.obj != nil:
				path = "/dev/zero (deleted)"
			}
		}
		line := fmt.Sprintf("%08x-%08x %s %08x %02x:%02x %d ", v.start, v.end, perm, off, unix.Major(dev), unix.Minor(dev), ino)
		if path != "" {
			for len(line) < 73 {
				line += " "
			}
			line += path
		}
		b = append(b, line...)
		b = append(b, '\n')
	}
	return b
}
