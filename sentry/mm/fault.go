package mm

import (
	"errors"
	"io"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// si_code values of the synchronous signals the memory manager raises.
const (
	segvMapErr = 1 // SEGV_MAPERR
	segvAccErr = 2 // SEGV_ACCERR
	busAdrErr  = 2 // BUS_ADRERR
)

func segv(addr uintptr, code int32) error {
	return &FaultError{Signo: int(unix.SIGSEGV), Code: code, Addr: addr}
}

// errSwapGone is returned for a swap entry when swap is off.
var errSwapGone = errors.New("swap entry without swap")

// ErrNoMemory is returned by HandleFault(Code) when the zone refused to
// allocate a page: the memory manager dropped its locks; the caller
// reclaims (kswapd.Zone.Reclaim with the faulting task) and lets the
// application retry the access, or kills it when reclaim says ErrOOM.
var ErrNoMemory = errors.New("mm: no memory for the fault; reclaim and retry")

// HandleFault resolves an application fault at addr: it populates and maps
// the page if the access is allowed. It returns nil when the application
// can retry the access, or a *FaultError saying which signal to raise.
//
// When the platform cannot tell the access type it reports a read; a fault
// on a page the platform already maps readable must then have been a write
// (or an instruction fetch), which is how copy-on-write and dirty
// tracking work on ptrace.
func (m *MemoryManager) HandleFault(addr uintptr, access hostarch.AccessType) error {
	return m.HandleFaultCode(addr, access, 0)
}

// HandleFaultCode is HandleFault with the fault's si_code when the
// platform knows it. A not-present fault (SEGV_MAPERR) on a page that is
// mapped by the time it is handled is stale — another thread of the
// address space mapped it in between — and is simply retried; without the
// code such a fault could be mistaken for a permission violation.
//
// It returns ErrNoMemory (with no lock held) when a page could not be
// allocated; see ErrNoMemory.
func (m *MemoryManager) HandleFaultCode(addr uintptr, access hostarch.AccessType, code int32) error {
	m.zone.Count(kswapd.PgFault, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.vmaAtLocked(addr)
	if v == nil {
		return segv(addr, segvMapErr)
	}
	pa := pageDown(addr)
	if p := m.pages[pa]; code == segvMapErr && p != nil && p.mapped.Any() {
		if p.mapped.SupersetOf(access) {
			return nil
		}
	}
	if p := m.pages[pa]; p != nil && p.mapped.Read && !access.Write && !access.Execute {
		switch {
		case !p.mapped.Write && v.perms.Write:
			access.Write = true
		case !p.mapped.Execute && v.perms.Execute:
			access.Execute = true
		default:
			return segv(addr, segvAccErr)
		}
	}
	granted := v.perms
	granted.Read = v.readable()
	if !granted.Any() || !granted.SupersetOf(access) {
		return segv(addr, segvAccErr)
	}
	// The window, chosen before populating it (populating changes what
	// populateWindowLocked sees).
	lo, hi := m.populateWindowLocked(v, pa)
	p, err := m.populateInLocked(v, pa, lo, hi, true)
	if err != nil {
		return faultError(addr, err)
	}
	// stale is a platform mapping of a frame a page no longer holds
	// (copy-on-write copies were just made): mapRangeLocked's MAP_FIXED
	// mapping of the new frame replaces it, so it costs no unmap of its
	// own unless that mapping fails. The old frames' references (old)
	// are dropped only after that: until then the application may
	// still reach them, and a frame whose last reference went could be
	// reused or, shared with another address space, written in place
	// by the last holder.
	stale := false
	var old []uint64
	if access.Write {
		was := p.frame
		if stale, err = m.makeWritableRemapLocked(v, pa, p, &old); err != nil {
			return faultError(addr, err)
		}
		if p.frame != was && m.copyAroundLocked(v, pa, &old) {
			stale = stale || m.as.get() != nil
		}
	}
	p.deactivated = false
	m.zone.MarkAccessed(frameNumber(p.frame))
	if v.obj != nil && !access.Write {
		lo, hi = m.populateCachedLocked(v, pa)
	}
	err = m.mapRangeLocked(v, pa, lo, hi)
	if err != nil && stale {
		// Some new frame may not be mapped over its old one: unmap
		// the window and say so.
		if as := m.as.get(); as != nil {
			as.Unmap(lo, hi-lo)
			m.forEachPageLocked(lo, hi, func(_ uintptr, p *pte) { p.mapped = hostarch.AccessType{} })
		}
	}
	m.mf.DecRefFrames(old)
	return err
}

// copyAroundLocked is called at a write fault at pa in v that has just
// given pa a private copy of a copy-on-write page. When the other pages
// of the fault-around window could not show anything but what they show
// now until they are written themselves, they get their private copies
// too, in the same fault, instead of a fault each at their first write
// (on ptrace and systrap a stop and an injected mapping; one fault per
// page of its data segment was most of the faults of a CPython process).
// That holds for a private mapping of the executable while the memory
// manager denies writes to it (vma.exe with exeRef) and no MAP_SHARED
// mapping of it exists: no write, truncation or shared mapping can change
// the file's pages meanwhile. It does not
// hold for other file mappings, whose unwritten private pages go on
// showing the file's later writes (Linux's behaviour).
//
// It holds for private anonymous pages shared with another address space
// by fork: each side's copy-on-write keeps the frame as it was at fork
// until the side writes, so a copy made early holds what the page shows.
// Those are copied early only once the address space has taken
// cowCopyAroundAfter such faults: a fork's child that writes a few pages
// and execs (a shell's) would waste the copies, one that goes on running
// the parent's code (a CPython child writes object headers all over its
// heap) saves most of its faults.
//
// The copied pages keep their platform access until the caller's
// mapping of the window replaces them (MAP_FIXED); their old frames'
// references are appended to old for the caller to drop after that
// mapping. It reports whether it copied any page. An allocation that
// fails ends it: the rest fault as before.
// Preconditions: m.mu is held; pa is populated and private in v.
func (m *MemoryManager) copyAroundLocked(v *vma, pa uintptr, old *[]uint64) bool {
	if !v.private || !v.perms.Write || v.special != nil {
		return false
	}
	file := v.obj != nil
	if file {
		if !v.exe || m.exeRef == nil {
			return false
		}
		// A MAP_SHARED mapping of the file made before the exec (its
		// descriptor closed since, so the exec's write denial did not
		// see it) could still write the cached pages. None can be made
		// while the denial holds (that needs a descriptor open for
		// writing), so none now means none until the copies are
		// written.
		v.obj.mu.Lock()
		shared := v.obj.sharedMaps
		v.obj.mu.Unlock()
		if shared > 0 {
			return false
		}
	}
	if !file {
		m.cowFaults++
		if m.cowFaults <= cowCopyAroundAfter {
			return false
		}
	}
	lo, hi := m.windowLocked(v, pa)
	copied := false
	for a := lo; a < hi; a += PageSize {
		p := m.pages[a]
		if a == pa || p == nil || !p.cow || (p.obj != nil) != file || p.swapSlot != 0 || p.deactivated {
			continue
		}
		if !file && m.mf.RefCount(p.frame) == 1 {
			// Nobody else holds it any more: no copy needed
			// (mapRangeLocked clears the mark).
			continue
		}
		if m.copyPageLocked(p, a, old) != nil {
			break
		}
		copied = true
	}
	return copied
}

// cowCopyAroundAfter is how many copy-on-write faults on anonymous pages
// shared with another address space make copyAroundLocked copy their
// windows.
const cowCopyAroundAfter = 32

// populateWindowLocked returns the window a fault at pa in v populates
// and maps: the fault-around window, or, in private anonymous memory
// touched in address order (the pages just below the window populated: a
// heap or an arena being filled; or just above it, for memory filled
// downwards), a wider one that goes on in that direction from the
// window's edge: twice the populated run next to it, at least
// seqFaultAroundPages and at most seqFaultAroundMax pages, as readahead
// grows. Each window a program fills page by page costs a fault (a stop
// and an injected mapping on ptrace and systrap); a compiler's heap and
// small arenas were the largest share of a build's faults. The pages
// populated ahead cost a frame each until touched or unmapped, no host
// memory until written (a punched frame of the memory file) and no more
// mappings (one per run of frames).
// Preconditions: m.mu is held.
func (m *MemoryManager) populateWindowLocked(v *vma, pa uintptr) (lo, hi uintptr) {
	lo, hi = m.windowLocked(v, pa)
	if v.obj != nil || v.special != nil || v.mappable != nil || !v.private {
		return lo, hi
	}
	width := func(run uintptr) uintptr {
		return min(max(2*run, seqFaultAroundPages), seqFaultAroundMax) * PageSize
	}
	if run := m.populatedRunLocked(lo, v.start, -1); run > 0 {
		return lo, min(v.end, lo+width(run))
	}
	if run := m.populatedRunLocked(hi, v.end, 1); run > 0 {
		return max(v.start, hi-width(run)), hi
	}
	return lo, hi
}

// populatedRunLocked counts the populated pages from the edge a going
// away from the window (dir -1: the pages below a; 1: a and those above
// it), not past limit nor seqFaultAroundMax/2 pages.
func (m *MemoryManager) populatedRunLocked(a, limit uintptr, dir int) uintptr {
	n := uintptr(0)
	for n < seqFaultAroundMax/2 {
		var pg uintptr
		if dir < 0 {
			if a-n*PageSize <= limit {
				break
			}
			pg = a - (n+1)*PageSize
		} else {
			pg = a + n*PageSize
			if pg >= limit {
				break
			}
		}
		if m.pages[pg] == nil {
			break
		}
		n++
	}
	return n
}

const (
	// seqFaultAroundPages is populateWindowLocked's smallest window for
	// anonymous memory touched in order (256 KiB), seqFaultAroundMax
	// its largest (1 MiB).
	seqFaultAroundPages = 4 * faultAroundPages
	seqFaultAroundMax   = 16 * faultAroundPages
)

// windowLocked returns the fault-around window of pa in v.
func (m *MemoryManager) windowLocked(v *vma, pa uintptr) (lo, hi uintptr) {
	lo = max(v.start, pa&^(faultAroundPages*PageSize-1))
	hi = min(v.end, lo+faultAroundPages*PageSize)
	return lo, hi
}

func faultError(addr uintptr, err error) error {
	if errors.Is(err, kswapd.ErrNoMemory) {
		return ErrNoMemory
	}
	return &FaultError{Signo: int(unix.SIGBUS), Code: busAdrErr, Addr: addr}
}

// populateLocked makes sure the page at pa (in v) is resident and returns
// its pte. With around, the other unpopulated pages of the aligned
// fault-around window (within v) are populated too, in one allocation.
// Errors: kswapd.ErrNoMemory (the caller drops its locks and reclaims),
// errBeyondEOF, a read or swap error.
func (m *MemoryManager) populateLocked(v *vma, pa uintptr, around bool) (*pte, error) {
	lo, hi := pa, pa+PageSize
	// A populated page needs no window: populateWindowLocked's scan of
	// the populated runs beside it (up to 129 map lookups) was most of
	// the sentry's CPU in copying a few bytes in or out of memory in use
	// (execve's argv and envp, one CopyIn per pointer and per string:
	// 10% of the sentry's CPU on the CPython subset).
	if around && m.pages[pa] == nil {
		lo, hi = m.populateWindowLocked(v, pa)
	}
	return m.populateInLocked(v, pa, lo, hi, around)
}

// populateInLocked is populateLocked with the window [lo, hi) (holding
// pa, within v) for the unpopulated pages around pa; around also reads
// swapped-out neighbours ahead.
func (m *MemoryManager) populateInLocked(v *vma, pa, lo, hi uintptr, around bool) (*pte, error) {
	if p := m.pages[pa]; p != nil {
		if p.swapSlot != 0 {
			if err := m.swapInLocked(pa, p); err != nil {
				return nil, err
			}
			m.zone.Count(kswapd.PgMajFault, 1)
			if around {
				m.swapReadaheadLocked(v, pa)
			}
		}
		return p, nil
	}
	// The run of unpopulated pages around pa inside the window and v.
	ws, we := pa, pa+PageSize
	for ws > lo && m.pages[ws-PageSize] == nil {
		ws -= PageSize
	}
	for we < hi && m.pages[we] == nil {
		we += PageSize
	}
	if v.obj != nil {
		return m.populateObjectLocked(v, pa, ws, we)
	}
	if v.special != nil {
		return m.populateSpecialLocked(v, pa, ws, we), nil
	}
	n := uint64(we-ws) / PageSize
	fr, err := m.zone.Allocate(n, kswapd.Anon, m, uint64(ws))
	if err != nil && n > 1 {
		ws, we, n = pa, pa+PageSize, 1
		fr, err = m.zone.Allocate(1, kswapd.Anon, m, uint64(ws))
	}
	if err != nil {
		return nil, err
	}
	if v.mappable != nil {
		// A private mapping of a file without identity starts as a
		// copy of the file.
		buf := m.mf.Slice(fr)
		got, rerr := v.mappable.ReadAt(buf, int64(v.offsetOf(ws)))
		if rerr != nil && rerr != io.EOF {
			m.mf.DecRef(fr)
			return nil, rerr
		}
		got = max(0, min(got, len(buf)))
		clear(buf[got:])
		m.zone.Count(kswapd.PgMajFault, 1)
		// Pages wholly beyond end of file are not populated; touching
		// one is SIGBUS.
		validEnd := ws + uintptr((got+PageSize-1)/PageSize)*PageSize
		if validEnd <= pa {
			m.mf.DecRef(fr)
			return nil, errBeyondEOF
		}
		if validEnd < we {
			cut := uint64(validEnd-ws) / PageSize
			m.mf.DecRef(memfile.FileRange{Start: fr.Start + cut*PageSize, End: fr.End})
			fr.End = fr.Start + cut*PageSize
			we = validEnd
		}
	}
	for a, f := ws, fr.Start; a < we; a, f = a+PageSize, f+PageSize {
		m.pages[a] = &pte{frame: f}
	}
	return m.pages[pa], nil
}

// populateObjectLocked populates [ws, we) (containing pa) of v from v's
// object: the file's cached pages (read in if missing), mapped
// copy-on-write by a private mapping.
func (m *MemoryManager) populateObjectLocked(v *vma, pa, ws, we uintptr) (*pte, error) {
	o := v.obj
	o.mu.Lock()
	defer o.mu.Unlock()
	read, err := o.fillLocked(v.mappable, v.offsetOf(ws), int((we-ws)/PageSize))
	if err != nil && o.pages[v.offsetOf(pa)] == nil && we-ws > PageSize {
		// The window did not fit; the faulting page alone may.
		ws, we = pa, pa+PageSize
		var r bool
		r, err = o.fillLocked(v.mappable, v.offsetOf(pa), 1)
		read = read || r
	}
	if read {
		m.zone.Count(kswapd.PgMajFault, 1)
	}
	if o.pages[v.offsetOf(pa)] == nil {
		if err != nil {
			return nil, err
		}
		return nil, errBeyondEOF
	}
	m.mapCachedLocked(v, ws, we)
	return m.pages[pa], nil
}

// mapCachedLocked maps the pages of [lo, hi) in v that v's object's cache
// holds and m has not mapped yet, copy-on-write in a private mapping.
// Preconditions: m.mu and v.obj.mu are held.
func (m *MemoryManager) mapCachedLocked(v *vma, lo, hi uintptr) {
	o := v.obj
	for a := lo; a < hi; a += PageSize {
		if m.pages[a] != nil {
			continue
		}
		off := v.offsetOf(a)
		cp := o.pages[off]
		if cp == nil {
			continue
		}
		o.mapPageLocked(cp)
		m.pages[a] = &pte{frame: cp.frame, cow: v.private, obj: o, objOff: off}
	}
}

// populateCachedLocked populates, for a read or execute fault at pa in v
// (a mapping of a cache object), the pages of the wider aligned window of
// faultAroundFilePages around it (within v) that the object's cache holds
// already, and returns the window. It reads nothing: only pages a fault
// would find cached. A program's text and its libraries' are such pages
// after their first run; mapping them with the faulting one costs a host
// mmap per run of frames in the same injected batch, where each page
// left out would cost a fault (a stop and an injection on ptrace and
// systrap) when touched. Linux maps a 64 KiB window (fault_around_bytes)
// because its faults are cheap; ours are not.
// Preconditions: m.mu is held; v.obj is not nil.
func (m *MemoryManager) populateCachedLocked(v *vma, pa uintptr) (lo, hi uintptr) {
	lo = max(v.start, pa&^(faultAroundFilePages*PageSize-1))
	hi = min(v.end, lo+faultAroundFilePages*PageSize)
	v.obj.mu.Lock()
	defer v.obj.mu.Unlock()
	m.mapCachedLocked(v, lo, hi)
	return lo, hi
}

// makeWritableLocked prepares a populated page for a write: a
// copy-on-write page gets a private copy (unless nobody else holds its
// frame), a shared file page is marked dirty. Errors: kswapd.ErrNoMemory.
func (m *MemoryManager) makeWritableLocked(v *vma, pa uintptr, p *pte) error {
	var old []uint64
	stale, err := m.makeWritableRemapLocked(v, pa, p, &old)
	if stale {
		// The platform still maps the old frame.
		m.as.get().Unmap(pa, PageSize)
	}
	m.mf.DecRefFrames(old)
	return err
}

// copyPageLocked gives p, the page at a, a private anonymous copy of its
// frame (copy-on-write), appending the old frame's reference to old for
// the caller to drop once the platform no longer maps the old frame.
// Preconditions: m.mu is held.
func (m *MemoryManager) copyPageLocked(p *pte, a uintptr, old *[]uint64) error {
	fr, err := m.zone.Allocate(1, kswapd.Anon, m, uint64(a))
	if err != nil {
		return err
	}
	copy(m.mf.Slice(fr), m.mf.Slice(frameRange(p.frame)))
	m.releasePteDeferLocked(p, old)
	p.frame = fr.Start
	p.cow = false
	p.obj = nil
	p.objOff = 0
	return nil
}

// makeWritableRemapLocked is makeWritableLocked for a caller that maps the
// page again at once (a fault): when the page got a new frame while the
// platform mapped the old one, it returns stale instead of unmapping it,
// with p.mapped cleared, and the caller's new mapping (MAP_FIXED) replaces
// the old one. The old frame's reference is appended to old, for the
// caller to drop once the platform no longer maps it.
func (m *MemoryManager) makeWritableRemapLocked(v *vma, pa uintptr, p *pte, old *[]uint64) (stale bool, err error) {
	if !v.private {
		if v.obj != nil {
			v.obj.markDirty(v.offsetOf(pa))
		}
		return false, nil
	}
	if !p.cow {
		return false, nil
	}
	if p.obj == nil && m.mf.RefCount(p.frame) == 1 {
		p.cow = false
		return false, nil
	}
	if err := m.copyPageLocked(p, pa, old); err != nil {
		return false, err
	}
	if p.mapped.Any() {
		p.mapped = hostarch.AccessType{}
		return m.as.get() != nil, nil
	}
	return false, nil
}

// wantedAccessLocked returns the access the platform should grant on a
// populated page: the vma's, without write while a write must still be
// noticed (copy-on-write, clean shared file page).
func (m *MemoryManager) wantedAccessLocked(v *vma, pa uintptr, p *pte) hostarch.AccessType {
	at := v.perms
	if at.Write && (p.cow || (!v.private && v.obj != nil && !v.obj.isDirty(v.offsetOf(pa)))) {
		at.Write = false
	}
	return at
}

// mapRangeLocked maps into the platform every populated page of the
// window [lo, hi) of v, which holds pa, whose platform access is not what
// it should be, one mapping per run of consecutive frames, in one batch.
func (m *MemoryManager) mapRangeLocked(v *vma, pa, lo, hi uintptr) error {
	as := m.as.get()
	if as == nil || m.handedOver {
		// No thread runs here: an image execve is still building, or
		// one whose address space went to the next image.
		return nil
	}
	var runStart uintptr
	var runFrame uint64
	var runAccess hostarch.AccessType
	var runLen uint64
	// The window's runs go to the platform in one batch.
	q := mapQueue{as: as}
	flush := func() error {
		if runLen == 0 {
			return nil
		}
		q.mapFile(runStart, memfile.FileRange{Start: runFrame, End: runFrame + runLen}, runAccess)
		runLen = 0
		return nil
	}
	for a := lo; a < hi; a += PageSize {
		p := m.pages[a]
		if p == nil || p.swapSlot != 0 || (p.deactivated && a != pa) {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if p.cow && p.obj == nil && v.private && m.mf.RefCount(p.frame) == 1 {
			// Copy-on-write of a frame nobody else holds any more
			// (the other side of a fork copied or dropped it):
			// makeWritableLocked would only clear the mark at the
			// first write, a second fault away; clear it now.
			p.cow = false
		}
		want := m.wantedAccessLocked(v, a, p)
		if p.mapped == want {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if runLen > 0 && runStart+uintptr(runLen) == a && runFrame+runLen == p.frame && runAccess == want {
			runLen += PageSize
		} else {
			if err := flush(); err != nil {
				return err
			}
			runStart, runFrame, runAccess, runLen = a, p.frame, want, PageSize
		}
		p.mapped = want
	}
	flush()
	return q.flush(func(_ int, op *platform.MapOp, _ error) {
		for a := op.Addr; a < op.Addr+uintptr(op.FR.Length()); a += PageSize {
			if p := m.pages[a]; p != nil {
				p.mapped = hostarch.AccessType{}
			}
		}
	})
}

// copyLocked copies between buf and application memory at addr through the
// sentry's view of the memory file, populating pages as a fault would.
// write means the sentry writes application memory; force ignores the
// mappings' permissions (the loader clearing a read-only segment's tail,
// like Linux's FOLL_FORCE). It returns the bytes copied and EFAULT at the
// first inaccessible byte.
//
// When the zone refuses a page, copyLocked drops m.mu, reclaims and
// retries (a bounded number of times, then EFAULT): m.mu is held again on
// return but the address space may have changed meanwhile.
func (m *MemoryManager) copyLocked(addr uintptr, buf []byte, write, force bool) (int, error) {
	done, tries := 0, 0
	for done < len(buf) {
		a := addr + uintptr(done)
		if a < addr {
			return done, unix.EFAULT
		}
		v := m.vmaAtLocked(a)
		if v == nil || (!force && ((write && !v.perms.Write) || (!write && !v.readable()))) || (write && v.special != nil) {
			return done, unix.EFAULT
		}
		pa := pageDown(a)
		p, err := m.populateLocked(v, pa, true)
		if err == nil && write {
			err = m.makeWritableLocked(v, pa, p)
		}
		if err != nil {
			if errors.Is(err, kswapd.ErrNoMemory) && tries < maxReclaimRetries && m.reclaimUnlocked() {
				tries++
				continue
			}
			return done, unix.EFAULT
		}
		m.zone.MarkAccessed(frameNumber(p.frame))
		off := int(a - pa)
		n := min(PageSize-off, len(buf)-done)
		page := m.mf.Slice(memfile.FileRange{Start: p.frame, End: p.frame + PageSize})
		if write {
			copy(page[off:off+n], buf[done:done+n])
		} else {
			copy(buf[done:done+n], page[off:off+n])
		}
		done += n
	}
	return done, nil
}

// reclaimUnlocked drops m.mu, runs direct reclaim for one page (no task at
// hand) and takes m.mu again. It reports whether the caller should retry.
// Preconditions: m.mu is held.
func (m *MemoryManager) reclaimUnlocked() bool {
	m.mu.Unlock()
	err := m.zone.Reclaim(nil, 1)
	m.mu.Lock()
	return err == nil
}

// CopyIn copies len(dst) bytes of application memory at addr into dst. It
// returns the bytes copied and EFAULT if it stopped early.
func (m *MemoryManager) CopyIn(addr uintptr, dst []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copyLocked(addr, dst, false, false)
}

// CopyOut copies src into application memory at addr. It returns the bytes
// copied and EFAULT if it stopped early.
func (m *MemoryManager) CopyOut(addr uintptr, src []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copyLocked(addr, src, true, false)
}

// ForceCopyIn and ForceCopyOut are CopyIn and CopyOut whatever the
// mappings' permissions (Linux's FOLL_FORCE): a debugger's access to its
// tracee (PTRACE_PEEKDATA/POKETEXT, /proc/PID/mem). A forced write to a
// private mapping breaks copy-on-write as a write fault would.
func (m *MemoryManager) ForceCopyIn(addr uintptr, dst []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copyLocked(addr, dst, false, true)
}

// ForceCopyOut: see ForceCopyIn.
func (m *MemoryManager) ForceCopyOut(addr uintptr, src []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copyLocked(addr, src, true, true)
}

// ZeroOut writes n zero bytes at addr, whatever the permissions of the
// mappings there (the loader uses it to clear the tail of a segment's last
// file page).
func (m *MemoryManager) ZeroOut(addr, n uintptr) error {
	var zeros [PageSize]byte
	m.mu.Lock()
	defer m.mu.Unlock()
	for n > 0 {
		c := min(n, PageSize)
		if _, err := m.copyLocked(addr, zeros[:c], true, true); err != nil {
			return err
		}
		addr += c
		n -= c
	}
	return nil
}

// CopyInString reads a NUL-terminated string of at most max bytes (NUL
// excluded) at addr. Errors: EFAULT, or ENAMETOOLONG when no NUL comes
// within max bytes.
func (m *MemoryManager) CopyInString(addr uintptr, max int) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []byte
	var chunk [256]byte
	for len(out) <= max {
		// Never read across a page boundary in one step: the next
		// page may be unmapped although the string ends before it.
		n := min(len(chunk), PageSize-int((addr+uintptr(len(out)))%PageSize))
		got, err := m.copyLocked(addr+uintptr(len(out)), chunk[:n], false, false)
		for i := 0; i < got; i++ {
			if chunk[i] == 0 {
				out = append(out, chunk[:i]...)
				if len(out) > max {
					return "", unix.ENAMETOOLONG
				}
				return string(out), nil
			}
		}
		if err != nil {
			return "", err
		}
		out = append(out, chunk[:got]...)
	}
	return "", unix.ENAMETOOLONG
}
