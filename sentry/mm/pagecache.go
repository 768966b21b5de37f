package mm

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// cacheObject is the memory of one file (its page cache) or of one
// MAP_SHARED|MAP_ANONYMOUS region.
//
// A file's object holds the file's cached pages: every shared mapping of
// the file maps them, every private mapping maps them copy-on-write until
// it writes, and read(2) copies from them (CachedRead). The object holds
// one reference on each of its frames, which are on the zone's file LRU
// with the object as owner and the file offset as key; every pte mapping
// a frame holds another reference. A file's object lives (in the page
// cache index) while it has pages or mappings.
//
// An anonymous shared object's pages live while the region is mapped. A
// MAP_SHARED|MAP_ANONYMOUS region's pages are unevictable; a System V
// segment's (segment) are on the anonymous LRU and go to swap as Linux's
// shmem pages do (swapped holds where), unless the segment is SHM_LOCKed
// (locked: unevictable).
//
// Dirty tracking: shared file pages are mapped read-only until the first
// write fault, which marks the page dirty and maps it writable; msync,
// munmap of the last shared mapping and reclaim write dirty pages back
// through the Mappable.
type cacheObject struct {
	zone *kswapd.Zone
	mf   *memfile.MemoryFile
	id   fileID
	anon bool
	// segment marks the object of a System V shared memory segment
	// (shared.go); limit, when not 0, is the size of an anonymous object:
	// a page at or past it is beyond its end (SIGBUS).
	segment bool
	limit   uint64
	// locked is a segment's SHM_LOCK; swapped are its pages out on swap
	// (offset → slot). Both are protected by mu.
	locked  bool
	swapped map[uint64]uint64

	mu sync.Mutex
	// mappable is who the object writes dirty pages back through when
	// reclaim evicts them: the mappable of the latest writable shared
	// mapping (or the first user's when there was none).
	mappable   Mappable
	maps       int // vmas referencing the object
	sharedMaps int // of which MAP_SHARED
	pages      map[uint64]*cachePage
	// partial holds the offsets of pages with valid < PageSize (the page
	// holding end of file), so writes extending the file find them
	// without walking every page.
	partial map[uint64]struct{}
	nrDirty int
	// eof is where the last fill found end of file (-1: unknown), so
	// reads at end of file do not probe the file each time. Writes and
	// truncation make it unknown again.
	eof int64
	// dead is set when the object left the index; a user that looked
	// it up before must look again.
	dead bool
}

// cachePage is one page of a cache object.
type cachePage struct {
	frame uint64
	// valid is the number of bytes of the page inside the file (less
	// than PageSize only for the page holding end of file).
	valid int
	dirty bool
	// mapcount is the number of ptes mapping the page.
	mapcount int
}

type fileID struct{ dev, ino uint64 }

// maxReclaimRetries bounds how many times a sentry-side allocation
// (copies, futex words, read(2)) reclaims and retries before giving up.
const maxReclaimRetries = 8

// pageCache indexes the file objects by file identity. Objects of the
// same file in different memory files (tests) are kept apart.
var pageCache struct {
	mu    sync.Mutex
	files map[fileID][]*cacheObject
	// live counts the file objects, so the VFS can skip coherence work
	// cheaply when no file is cached.
	live atomic.Int64
	// dirty counts the dirty pages of all file objects: pages written
	// through a shared mapping and not yet written back. Only they can
	// make a file's contents differ from what read(2) of the file sees.
	dirty atomic.Int64
}

// SharedFilesMapped reports whether any file has a page cache object right
// now (cached pages or mappings): while none does, the VFS may skip
// FileWritten (no cached page can hold stale bytes of a written file).
func SharedFilesMapped() bool { return pageCache.live.Load() > 0 }

// SharedFilesDirty reports whether any file has a page written through a
// shared mapping and not yet written back: while none does, FileFlush has
// nothing to do and the VFS may skip it before a read. A page becomes
// dirty only at a write fault on a shared mapping (markDirty; clean shared
// pages are mapped read-only), so the executable's private mappings, the
// vDSO and pages that read(2) cached never make this true.
func SharedFilesDirty() bool { return pageCache.dirty.Load() > 0 }

// cacheable reports whether mp's file can be cached: it needs an identity.
func cacheable(mp Mappable) bool {
	_, ino, _ := mp.MappingIdentity()
	return ino != 0
}

// fileObject returns the cache object of mp's file in z's memory file,
// creating it. With mapping, a vma reference is added (shared says
// whether the mapping is MAP_SHARED, writable whether it may write).
func fileObject(z *kswapd.Zone, mp Mappable, mapping, shared, writable bool) *cacheObject {
	dev, ino, _ := mp.MappingIdentity()
	id := fileID{dev, ino}
	mf := z.MemoryFile()
	pageCache.mu.Lock()
	defer pageCache.mu.Unlock()
	var o *cacheObject
	for _, c := range pageCache.files[id] {
		if c.mf == mf {
			o = c
			break
		}
	}
	if o == nil {
		o = &cacheObject{zone: z, mf: mf, id: id, mappable: mp, pages: make(map[uint64]*cachePage), eof: -1}
		if pageCache.files == nil {
			pageCache.files = make(map[fileID][]*cacheObject)
		}
		pageCache.files[id] = append(pageCache.files[id], o)
		pageCache.live.Add(1)
	}
	if mapping {
		o.mu.Lock()
		o.maps++
		if shared {
			o.sharedMaps++
			if writable {
				o.mappable = mp
			}
		}
		o.mu.Unlock()
	}
	return o
}

// newAnonObject returns the object of a new MAP_SHARED|MAP_ANONYMOUS
// region, with one vma reference.
func newAnonObject(z *kswapd.Zone) *cacheObject {
	return &cacheObject{zone: z, mf: z.MemoryFile(), anon: true, maps: 1, sharedMaps: 1, pages: make(map[uint64]*cachePage)}
}

// maybeRemove takes the object out of the index if it has neither pages
// nor mappings. Preconditions: o.mu is not held.
func (o *cacheObject) maybeRemove() {
	if o.anon {
		return
	}
	pageCache.mu.Lock()
	o.mu.Lock()
	if !o.dead && o.maps == 0 && len(o.pages) == 0 {
		o.dead = true
		list := pageCache.files[o.id]
		for i, c := range list {
			if c == o {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(pageCache.files, o.id)
		} else {
			pageCache.files[o.id] = list
		}
		pageCache.live.Add(-1)
	}
	o.mu.Unlock()
	pageCache.mu.Unlock()
}

// incMap adds a vma reference (a vma split or copied by fork).
func (o *cacheObject) incMap(shared bool) {
	o.mu.Lock()
	o.maps++
	if shared {
		o.sharedMaps++
	}
	o.mu.Unlock()
}

// decMap drops a vma reference. When the last shared mapping of a file
// goes, its dirty pages are written back through mp (the vma's mappable)
// and become clean; clean pages stay cached. The last reference of an
// anonymous region frees its pages. It may block on writeback.
func (o *cacheObject) decMap(shared bool, mp Mappable) {
	o.mu.Lock()
	o.maps--
	if shared {
		o.sharedMaps--
	}
	if o.anon {
		if o.maps == 0 {
			for off, p := range o.pages {
				o.mf.DecRef(frameRange(p.frame))
				delete(o.pages, off)
				o.zone.AddStat(kswapd.NrShmem, -1)
			}
			for off, slot := range o.swapped {
				o.zone.Swap().Free(slot)
				delete(o.swapped, off)
			}
		}
		o.mu.Unlock()
		return
	}
	if o.sharedMaps == 0 && o.nrDirty > 0 {
		if mp == nil {
			mp = o.mappable
		}
		o.writebackLocked(0, ^uint64(0), mp, true)
	}
	empty := o.maps == 0 && len(o.pages) == 0
	o.mu.Unlock()
	if empty {
		o.maybeRemove()
	}
}

// errBeyondEOF is returned for a page of a file mapping that lies wholly
// beyond the end of the file (SIGBUS).
var errBeyondEOF = errors.New("page beyond end of file")

// fillLocked makes sure the n pages from offset off are cached, up to end
// of file: each run of missing pages is one allocation and one ReadAt
// through mp (anonymous objects get zeroed pages). It reports whether it
// read the file. Errors: kswapd.ErrNoMemory when the zone refused a page
// (the pages before it are cached), or mp's read error. A short read ends
// the file: no page past it is cached and fillLocked returns nil.
// Preconditions: o.mu is held.
func (o *cacheObject) fillLocked(mp Mappable, off uint64, n int) (bool, error) {
	read := false
	for i := 0; i < n; {
		a := off + uint64(i)*PageSize
		if o.pages[a] != nil {
			i++
			continue
		}
		if o.limit != 0 && a >= o.limit {
			return read, errBeyondEOF
		}
		if slot, ok := o.swapped[a]; ok {
			if err := o.swapInLocked(a, slot); err != nil {
				return read, err
			}
			read = true
			i++
			continue
		}
		j := i + 1
		for j < n && o.pages[off+uint64(j)*PageSize] == nil {
			if _, out := o.swapped[off+uint64(j)*PageSize]; out {
				break
			}
			j++
		}
		if o.limit != 0 {
			j = min(j, i+int((o.limit-a+PageSize-1)/PageSize))
		}
		run := uint64(j - i)
		kind := kswapd.File
		if o.anon {
			kind = o.anonKindLocked()
		}
		fr, err := o.zone.Allocate(run, kind, o, a)
		if err != nil && run > 1 {
			run, j = 1, i+1
			fr, err = o.zone.Allocate(1, kind, o, a)
		}
		if err != nil {
			return read, err
		}
		if o.anon {
			for k := uint64(0); k < run; k++ {
				o.pages[a+k*PageSize] = &cachePage{frame: fr.Start + k*PageSize, valid: PageSize}
			}
			o.zone.AddStat(kswapd.NrShmem, int64(run))
			i = j
			continue
		}
		buf := o.mf.Slice(fr)
		got, rerr := mp.ReadAt(buf, int64(a))
		if rerr != nil && rerr != io.EOF {
			o.mf.DecRef(fr)
			return read, rerr
		}
		read = true
		got = max(0, min(got, len(buf)))
		keep := uint64(got+PageSize-1) / PageSize
		clear(buf[got : keep*PageSize])
		for k := uint64(0); k < keep; k++ {
			pa := a + k*PageSize
			valid := PageSize
			if k == keep-1 && got%PageSize != 0 {
				valid = got % PageSize
				if o.partial == nil {
					o.partial = make(map[uint64]struct{})
				}
				o.partial[pa] = struct{}{}
			}
			o.pages[pa] = &cachePage{frame: fr.Start + k*PageSize, valid: valid}
		}
		o.zone.Count(kswapd.PgpgIn, uint64(got)/1024)
		if uint64(got) < run*PageSize {
			o.eof = int64(a) + int64(got)
		}
		if keep < run {
			o.mf.DecRef(memfile.FileRange{Start: fr.Start + keep*PageSize, End: fr.End})
			return read, nil
		}
		i = j
	}
	return read, nil
}

// mapPageLocked takes a pte's reference on the cached page at off.
// Preconditions: o.mu is held; the page is cached.
func (o *cacheObject) mapPageLocked(p *cachePage) {
	o.mf.IncRef(frameRange(p.frame))
	p.mapcount++
	if p.mapcount == 1 && !o.anon {
		o.zone.AddStat(kswapd.NrMapped, 1)
	}
}

// unmappedLocked records that n ptes mapping p went away.
// Preconditions: o.mu is held.
func (o *cacheObject) unmappedLocked(p *cachePage, n int) {
	if n == 0 || p.mapcount == 0 {
		return
	}
	p.mapcount = max(0, p.mapcount-n)
	if p.mapcount == 0 && !o.anon {
		o.zone.AddStat(kswapd.NrMapped, -1)
	}
}

// unmapPage records that a pte mapping frame at off went away (it does not
// drop the pte's frame reference). Preconditions: o.mu is not held.
func (o *cacheObject) unmapPage(off, frame uint64) {
	o.mu.Lock()
	if p := o.pages[off]; p != nil && p.frame == frame {
		o.unmappedLocked(p, 1)
	}
	o.mu.Unlock()
}

// markDirty records a write to the page at off.
func (o *cacheObject) markDirty(off uint64) {
	if o.anon {
		return
	}
	o.mu.Lock()
	if p := o.pages[off]; p != nil && !p.dirty {
		p.dirty = true
		o.nrDirty++
		pageCache.dirty.Add(1)
		o.zone.AddStat(kswapd.NrDirty, 1)
	}
	o.mu.Unlock()
}

// cleanedLocked records that the dirty page p is clean now (written back
// or dropped). Preconditions: o.mu is held; p.dirty.
func (o *cacheObject) cleanedLocked(p *cachePage) {
	p.dirty = false
	o.nrDirty--
	pageCache.dirty.Add(-1)
	o.zone.AddStat(kswapd.NrDirty, -1)
}

// isDirty reports whether the page at off has been written. Anonymous
// shared pages are always treated as dirty (there is nothing to track).
func (o *cacheObject) isDirty(off uint64) bool {
	if o.anon {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pages[off]
	return p != nil && p.dirty
}

// writeback writes the dirty pages in [start, end) back through mp (msync,
// FileFlush). When every address space mapping them could be locked
// without waiting, the pages are write-protected first and become clean
// (the next write faults and dirties them again); otherwise they stay
// dirty. It blocks while it writes.
func (o *cacheObject) writeback(start, end uint64, mp Mappable) error {
	if o.anon {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.nrDirty == 0 || mp == nil {
		return nil
	}
	clean := o.writeProtectLocked(start, end)
	return o.writebackLocked(start, end, mp, clean)
}

// writeProtectLocked takes write access away from every pte mapping a
// dirty page of [start, end) shared, in every address space. It reports
// false when some memory manager was busy (TryLock: o.mu is held, which
// comes after mm.mu in the lock order); some ptes may then still be
// writable. Writes that follow fault and call markDirty, which waits for
// o.mu. Preconditions: o.mu is held.
func (o *cacheObject) writeProtectLocked(start, end uint64) bool {
	for _, m := range liveMemoryManagers(o.mf) {
		if !m.mu.TryLock() {
			return false
		}
		for _, v := range m.vmas {
			if v.obj != o || v.private {
				continue
			}
			lo := max(v.offset, start&^(PageSize-1))
			hi := min(v.offset+uint64(v.end-v.start), end)
			for off := lo; off < hi; off += PageSize {
				cp := o.pages[off]
				if cp == nil || !cp.dirty {
					continue
				}
				a := v.start + uintptr(off-v.offset)
				if p := m.pages[a]; p != nil && p.obj == o && p.frame == cp.frame && p.mapped.Write {
					m.as.get().Unmap(a, PageSize)
					p.mapped = hostarch.AccessType{}
				}
			}
		}
		m.mu.Unlock()
	}
	return true
}

// writebackLocked writes the dirty pages in [start, end) back through mp.
// The part of a page past the end of the file as it was when read is not
// written (a shared mapping never extends a file). With clean the pages
// become clean (no writable mapping of them is left); otherwise they stay
// dirty: address spaces may still map them writable, and a page is
// written again at the next writeback rather than risk losing a write.
// Preconditions: o.mu is held.
func (o *cacheObject) writebackLocked(start, end uint64, mp Mappable, clean bool) error {
	if o.nrDirty == 0 || mp == nil {
		return nil
	}
	var firstErr error
	one := func(off uint64, p *cachePage) {
		if !p.dirty {
			return
		}
		data := o.mf.Slice(frameRange(p.frame))[:p.valid]
		if _, err := mp.WriteAt(data, int64(off)); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		o.zone.Count(kswapd.PgpgOut, uint64(p.valid)/1024)
		if clean {
			o.cleanedLocked(p)
		}
	}
	if end > start && (end-start)/PageSize <= uint64(len(o.pages)) {
		for off := start &^ (PageSize - 1); off < end; off += PageSize {
			if p := o.pages[off]; p != nil {
				one(off, p)
			}
		}
	} else {
		for off, p := range o.pages {
			if off >= start && off < end {
				one(off, p)
			}
		}
	}
	return firstErr
}

// dropPageLocked removes the page at off from the object and drops the
// object's reference. Preconditions: o.mu is held.
func (o *cacheObject) dropPageLocked(off uint64, p *cachePage) {
	if p.dirty {
		o.cleanedLocked(p)
	}
	if p.mapcount > 0 {
		o.unmappedLocked(p, p.mapcount)
	}
	delete(o.pages, off)
	delete(o.partial, off)
	o.mf.DecRef(frameRange(p.frame))
}

// anonKindLocked is the LRU kind of an anonymous object's pages: a
// segment's go on the anonymous lists (swappable) unless it is locked.
// Preconditions: o.mu is held.
func (o *cacheObject) anonKindLocked() kswapd.Kind {
	if o.segment && !o.locked {
		return kswapd.Anon
	}
	return kswapd.Unevictable
}

// swapInLocked reads the segment page at off back from swap slot into a
// new frame (a major fault, shmem_swapin) and frees the slot.
// Errors: kswapd.ErrNoMemory, the swap read's. Preconditions: o.mu is held.
func (o *cacheObject) swapInLocked(off, slot uint64) error {
	fr, err := o.zone.Allocate(1, o.anonKindLocked(), o, off)
	if err != nil {
		return err
	}
	if err := o.zone.Swap().In(slot, frameNumber(fr.Start)); err != nil {
		o.mf.DecRef(fr)
		return err
	}
	o.zone.Swap().Free(slot)
	delete(o.swapped, off)
	o.pages[off] = &cachePage{frame: fr.Start, valid: PageSize}
	o.zone.AddStat(kswapd.NrShmem, 1)
	return nil
}

// SetLocked is SHM_LOCK (true) and SHM_UNLOCK of a segment's memory: its
// resident pages move to the unevictable list or back to the anonymous
// LRU. Pages already on swap stay there until touched (as Linux).
func (o *cacheObject) setLocked(locked bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.locked == locked {
		return
	}
	o.locked = locked
	kind := o.anonKindLocked()
	for off, p := range o.pages {
		o.zone.SetOwner(frameNumber(p.frame), kind, o, off)
	}
}

// unmapEverywhereLocked drops every pte mapping the page at off (in
// frame) from every address space, never waiting for a busy memory
// manager. It reports false when one was busy or the frame is still
// referenced by someone else. Preconditions: o.mu is held.
func (o *cacheObject) unmapEverywhereLocked(p *cachePage, off, frame uint64) bool {
	if o.mf.RefCount(frame) <= 1 {
		return true
	}
	for _, m := range liveMemoryManagers(o.mf) {
		if !m.mu.TryLock() {
			return false
		}
		n := m.dropObjectPageLocked(o, off, frame)
		m.mu.Unlock()
		o.unmappedLocked(p, n)
	}
	return o.mf.RefCount(frame) <= 1
}

// reclaimSegmentPage is Reclaim for a System V segment's page: it is
// unmapped everywhere, written to a swap slot and dropped (shmem_writepage).
func (o *cacheObject) reclaimSegmentPage(frame, off uint64, sw *kswapd.Swap) kswapd.ReclaimResult {
	if sw == nil {
		return kswapd.Keep
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pages[off]
	if p == nil || p.frame != frame {
		return kswapd.Gone
	}
	if o.locked || !o.unmapEverywhereLocked(p, off, frame) {
		return kswapd.Keep
	}
	slot, err := sw.Out(frameNumber(frame))
	if err != nil {
		return kswapd.Keep
	}
	if o.swapped == nil {
		o.swapped = make(map[uint64]uint64)
	}
	o.swapped[off] = slot
	delete(o.pages, off)
	o.mf.DecRef(frameRange(frame))
	o.zone.AddStat(kswapd.NrShmem, -1)
	return kswapd.Reclaimed
}

// Reclaim implements kswapd.Owner for the object's pages: the page at off
// is unmapped from every address space mapping it (registry walk, never
// waiting for a busy memory manager), written back if dirty, and dropped.
// A segment's page goes to swap instead.
func (o *cacheObject) Reclaim(frameNo, off uint64, sw *kswapd.Swap) kswapd.ReclaimResult {
	frame := frameNo * PageSize
	if o.anon {
		if o.segment {
			return o.reclaimSegmentPage(frame, off, sw)
		}
		return kswapd.Keep
	}
	o.mu.Lock()
	p := o.pages[off]
	if p == nil || p.frame != frame {
		o.mu.Unlock()
		return kswapd.Gone
	}
	if o.mf.RefCount(frame) > 1 {
		for _, m := range liveMemoryManagers(o.mf) {
			if !m.mu.TryLock() {
				o.mu.Unlock()
				return kswapd.Keep
			}
			if m.mapsLockedLocked(o, off) {
				// mlocked in m (mlock.go).
				m.mu.Unlock()
				o.mu.Unlock()
				return kswapd.Activate
			}
			n := m.dropObjectPageLocked(o, off, frame)
			m.mu.Unlock()
			o.unmappedLocked(p, n)
		}
		if o.mf.RefCount(frame) > 1 {
			o.mu.Unlock()
			return kswapd.Keep
		}
	}
	if p.dirty {
		if o.mappable == nil {
			o.mu.Unlock()
			return kswapd.Keep
		}
		if _, err := o.mappable.WriteAt(o.mf.Slice(frameRange(frame))[:p.valid], int64(off)); err != nil {
			o.mu.Unlock()
			logrus.Warnf("mm: writeback of file %d:%d page %#x for reclaim: %v", o.id.dev, o.id.ino, off, err)
			return kswapd.Keep
		}
		o.zone.Count(kswapd.PgpgOut, uint64(p.valid)/1024)
	}
	o.dropPageLocked(off, p)
	empty := o.maps == 0 && len(o.pages) == 0
	o.mu.Unlock()
	if empty {
		o.maybeRemove()
	}
	return kswapd.Reclaimed
}

// Deactivate implements kswapd.Owner: the page at off is unmapped from the
// platform address spaces mapping it (best effort: busy memory managers
// are skipped), so its next use faults and is seen.
func (o *cacheObject) Deactivate(frameNo, off uint64) {
	frame := frameNo * PageSize
	if o.anon && !o.segment {
		return
	}
	o.mu.Lock()
	p := o.pages[off]
	mapped := p != nil && p.frame == frame && p.mapcount > 0
	o.mu.Unlock()
	if !mapped {
		return
	}
	for _, m := range liveMemoryManagers(o.mf) {
		if !m.mu.TryLock() {
			continue
		}
		for _, v := range m.vmas {
			if v.obj != o || off < v.offset || off >= v.offset+uint64(v.end-v.start) {
				continue
			}
			a := v.start + uintptr(off-v.offset)
			m.deactivatePteLocked(a, frame)
		}
		m.mu.Unlock()
	}
}

// readLocked copies file contents at off into dst from cached pages,
// filling missing ones through mp. It returns the bytes copied, whether
// end of file was reached, and kswapd.ErrNoMemory or mp's read error.
// Preconditions: o.mu is held.
func (o *cacheObject) readLocked(mp Mappable, dst []byte, off int64) (int, bool, error) {
	done := 0
	for done < len(dst) {
		pos := uint64(off) + uint64(done)
		pgoff := pos &^ (PageSize - 1)
		p := o.pages[pgoff]
		if p == nil && o.eof >= 0 && pos >= uint64(o.eof) {
			return done, true, nil
		}
		if p == nil {
			want := (pos + uint64(len(dst)-done) + PageSize - 1 - pgoff) / PageSize
			if _, err := o.fillLocked(mp, pgoff, int(min(want, 32))); err != nil {
				return done, false, err
			}
			if p = o.pages[pgoff]; p == nil {
				return done, true, nil
			}
		}
		in := int(pos - pgoff)
		if in >= p.valid {
			return done, true, nil
		}
		n := copy(dst[done:], o.mf.Slice(frameRange(p.frame))[in:p.valid])
		o.zone.MarkAccessed(frameNumber(p.frame))
		done += n
		if in+n == p.valid && p.valid < PageSize && done < len(dst) {
			return done, true, nil
		}
	}
	return done, false, nil
}

// CachedRead reads file contents at off into dst through the page cache
// of mp's file in z's memory file (read(2) of a regular file): cached
// pages are copied, missing ones are read in whole pages through
// mp.ReadAt and stay cached. A short page marks end of file: the count
// is short and the error nil. When the zone refuses a page, CachedRead
// reclaims (z.Reclaim with no task) and retries a bounded number of times,
// then reads the rest straight from mp, so a read never fails for want of
// memory. It returns the bytes read and mp's read error if nothing was
// read. It blocks on file I/O and reclaim. Files without an identity
// (inode 0) are read directly.
func CachedRead(z *kswapd.Zone, mp Mappable, dst []byte, off int64) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	if !cacheable(mp) {
		return readDirect(mp, dst, off)
	}
	done, tries := 0, 0
	for done < len(dst) {
		o := fileObject(z, mp, false, false, false)
		o.mu.Lock()
		if o.dead {
			o.mu.Unlock()
			continue
		}
		if o.mappable == nil {
			o.mappable = mp
		}
		n, eof, err := o.readLocked(mp, dst[done:], off+int64(done))
		done += n
		empty := o.maps == 0 && len(o.pages) == 0
		o.mu.Unlock()
		if empty {
			o.maybeRemove()
		}
		switch {
		case eof:
			return done, nil
		case errors.Is(err, kswapd.ErrNoMemory):
			if tries < maxReclaimRetries && z.Reclaim(nil, 1) == nil {
				tries++
				continue
			}
			// Read the rest from the file itself, after writing back
			// what shared mappings dirtied there (the read must see it).
			dev, ino, _ := mp.MappingIdentity()
			FileFlush(dev, ino, off+int64(done), int64(len(dst)-done))
			n, err := readDirect(mp, dst[done:], off+int64(done))
			done += n
			if done > 0 {
				return done, nil
			}
			return 0, err
		case err != nil:
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
	return done, nil
}

func readDirect(mp Mappable, dst []byte, off int64) (int, error) {
	n, err := mp.ReadAt(dst, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// FileWritten keeps the page cache coherent with write(2): p was just
// written at off to the file (dev, ino) through a file description, so
// cached pages take the new bytes (and pages that held end of file grow
// with it). The VFS calls it after each write to a regular file while
// SharedFilesMapped. It does not block on I/O.
func FileWritten(dev, ino uint64, off int64, p []byte) {
	if off < 0 || len(p) == 0 {
		return
	}
	pageCache.mu.Lock()
	defer pageCache.mu.Unlock()
	for _, o := range pageCache.files[fileID{dev, ino}] {
		o.mu.Lock()
		o.updateLocked(uint64(off), p)
		o.mu.Unlock()
	}
}

// updateLocked copies p, written to the file at off, into cached pages.
// Preconditions: o.mu is held.
func (o *cacheObject) updateLocked(off uint64, p []byte) {
	o.eof = -1
	// The file now extends to at least off: pages that held end of file
	// before off grow, reading zeros up to off.
	for pg := range o.partial {
		if pg < off {
			o.growLocked(pg, o.pages[pg], int(min(off-pg, PageSize)))
		}
	}
	for len(p) > 0 {
		pgoff := off &^ (PageSize - 1)
		in := int(off - pgoff)
		n := min(len(p), PageSize-in)
		if pg := o.pages[pgoff]; pg != nil {
			// Grow first: growing zeroes what it adds, which must
			// not undo the copy.
			o.growLocked(pgoff, pg, in+n)
			copy(o.mf.Slice(frameRange(pg.frame))[in:in+n], p[:n])
		}
		p = p[n:]
		off += uint64(n)
	}
}

// growLocked extends page pg's valid bytes to valid, zeroing what it adds.
func (o *cacheObject) growLocked(off uint64, pg *cachePage, valid int) {
	if pg == nil || valid <= pg.valid {
		return
	}
	clear(o.mf.Slice(frameRange(pg.frame))[pg.valid:valid])
	pg.valid = valid
	if valid == PageSize {
		delete(o.partial, off)
	} else {
		if o.partial == nil {
			o.partial = make(map[uint64]struct{})
		}
		o.partial[off] = struct{}{}
	}
}

// FileFlush keeps reads that bypass the page cache coherent with shared
// mappings: dirty cached pages of the file (dev, ino) overlapping
// [off, off+n) are written back first. The VFS calls it before each read
// of a regular file while SharedFilesDirty. It blocks while it writes.
func FileFlush(dev, ino uint64, off, n int64) {
	if off < 0 || n <= 0 || !SharedFilesDirty() {
		return
	}
	type job struct {
		o  *cacheObject
		mp Mappable
	}
	pageCache.mu.Lock()
	var dirty []job
	for _, o := range pageCache.files[fileID{dev, ino}] {
		o.mu.Lock()
		if o.nrDirty > 0 && o.mappable != nil {
			dirty = append(dirty, job{o, o.mappable})
		}
		o.mu.Unlock()
	}
	pageCache.mu.Unlock()
	for _, j := range dirty {
		j.o.writeback(uint64(off)&^(PageSize-1), uint64(off+n), j.mp)
	}
}

// FileTruncated keeps the page cache coherent with truncate(2) of the file
// (dev, ino) to size: cached pages wholly past size are dropped (and
// unmapped from every address space: touching them again is SIGBUS), the
// page holding size is zeroed past it, and a file that grew reads zeros.
// It blocks on memory manager locks.
func FileTruncated(dev, ino uint64, size int64) {
	if size < 0 {
		return
	}
	pageCache.mu.Lock()
	objs := append([]*cacheObject(nil), pageCache.files[fileID{dev, ino}]...)
	pageCache.mu.Unlock()
	for _, o := range objs {
		o.truncate(uint64(size))
	}
}

// FileInvalidate drops the cached pages of the file (dev, ino) that are
// clean and mapped nowhere, so that the next reads fetch them from the
// file again: what a lock on a host file shared with host processes
// needs (NFS's rule: a writer elsewhere may have changed the file under
// its own lock). Dirty and mapped pages stay. It never blocks on a
// memory manager.
func FileInvalidate(dev, ino uint64) {
	pageCache.mu.Lock()
	objs := append([]*cacheObject(nil), pageCache.files[fileID{dev, ino}]...)
	pageCache.mu.Unlock()
	for _, o := range objs {
		o.mu.Lock()
		o.eof = -1
		for off, p := range o.pages {
			if !p.dirty && p.mapcount == 0 {
				o.dropPageLocked(off, p)
			}
		}
		empty := o.maps == 0 && len(o.pages) == 0
		o.mu.Unlock()
		if empty {
			o.maybeRemove()
		}
	}
}

type droppedPage struct{ off, frame uint64 }

func (o *cacheObject) truncate(size uint64) {
	o.mu.Lock()
	o.eof = -1
	var dropped []droppedPage
	mapped := false
	for off, p := range o.pages {
		switch {
		case off >= size:
			if p.mapcount > 0 {
				mapped = true
			}
			dropped = append(dropped, droppedPage{off, p.frame})
			// Keep the frame alive until the ptes are gone.
			o.mf.IncRef(frameRange(p.frame))
			o.dropPageLocked(off, p)
		case off+PageSize > size:
			in := int(size - off)
			if p.valid > in {
				clear(o.mf.Slice(frameRange(p.frame))[in:])
				p.valid = in
				if o.partial == nil {
					o.partial = make(map[uint64]struct{})
				}
				o.partial[off] = struct{}{}
			} else {
				o.growLocked(off, p, in)
			}
		default:
			if _, ok := o.partial[off]; ok {
				o.growLocked(off, p, PageSize)
			}
		}
	}
	empty := o.maps == 0 && len(o.pages) == 0
	o.mu.Unlock()
	if mapped {
		for _, m := range liveMemoryManagers(o.mf) {
			m.mu.Lock()
			for _, d := range dropped {
				m.dropObjectPageLocked(o, d.off, d.frame)
			}
			m.mu.Unlock()
		}
	}
	for _, d := range dropped {
		o.mf.DecRef(frameRange(d.frame))
	}
	if empty {
		o.maybeRemove()
	}
}
