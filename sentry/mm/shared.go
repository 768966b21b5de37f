package mm

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

// sharedObject is the memory behind shared mappings: the pages of one
// file that every MAP_SHARED mapping of it sees (a small page cache), or
// one MAP_SHARED|MAP_ANONYMOUS region. The object holds one reference on
// each of its frames; every pte mapping a frame holds another.
//
// Dirty tracking: shared file pages are mapped read-only until the first
// write fault, which marks the page dirty and maps it writable; msync,
// munmap and the last unmap write dirty pages back through the Mappable.
type sharedObject struct {
	mf       *memfile.MemoryFile
	mappable Mappable // nil for anonymous shared memory
	key      sharedKey

	mu    sync.Mutex
	refs  int // vmas referencing the object
	pages map[uint64]*objectPage
}

type objectPage struct {
	frame uint64
	valid int // bytes of the page backed by the file when it was read
	dirty bool
}

type sharedKey struct {
	mf       *memfile.MemoryFile
	dev, ino uint64
}

// sharedFiles finds the object of a file that is already mapped shared, so
// two mappings (in one process or two) share frames.
var sharedFiles struct {
	mu   sync.Mutex
	objs map[sharedKey]*sharedObject
	// live counts the objects, so the VFS can skip coherence work
	// cheaply when no file is mapped shared.
	live atomic.Int64
}

// SharedFilesMapped reports whether any file is mapped shared right now.
func SharedFilesMapped() bool { return sharedFiles.live.Load() > 0 }

func sharedFileObject(mf *memfile.MemoryFile, mp Mappable) *sharedObject {
	dev, ino, _ := mp.MappingIdentity()
	key := sharedKey{mf, dev, ino}
	sharedFiles.mu.Lock()
	defer sharedFiles.mu.Unlock()
	if sharedFiles.objs == nil {
		sharedFiles.objs = make(map[sharedKey]*sharedObject)
	}
	if o := sharedFiles.objs[key]; o != nil {
		o.incRef()
		return o
	}
	o := &sharedObject{mf: mf, mappable: mp, key: key, refs: 1, pages: make(map[uint64]*objectPage)}
	sharedFiles.objs[key] = o
	sharedFiles.live.Add(1)
	return o
}

func newSharedAnon(mf *memfile.MemoryFile) *sharedObject {
	return &sharedObject{mf: mf, refs: 1, pages: make(map[uint64]*objectPage)}
}

func (o *sharedObject) incRef() {
	o.mu.Lock()
	o.refs++
	o.mu.Unlock()
}

// decRef drops a vma's reference; the last one writes dirty pages back and
// frees the frames.
func (o *sharedObject) decRef() {
	if o.mappable != nil {
		sharedFiles.mu.Lock()
	}
	o.mu.Lock()
	o.refs--
	last := o.refs == 0
	if last && o.mappable != nil {
		delete(sharedFiles.objs, o.key)
		sharedFiles.live.Add(-1)
	}
	o.mu.Unlock()
	if o.mappable != nil {
		sharedFiles.mu.Unlock()
	}
	if !last {
		return
	}
	o.writeback(0, ^uint64(0))
	o.mu.Lock()
	for _, p := range o.pages {
		o.mf.DecRef(memfile.FileRange{Start: p.frame, End: p.frame + PageSize})
	}
	o.pages = nil
	o.mu.Unlock()
}

// errBeyondEOF is returned for a page of a shared file mapping that lies
// wholly beyond the end of the file (SIGBUS).
var errBeyondEOF = errors.New("page beyond end of file")

// page returns the frame for the page at object offset off, reading it in
// if needed, with a new reference for the caller's pte.
func (o *sharedObject) page(off uint64) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p := o.pages[off]; p != nil {
		o.mf.IncRef(memfile.FileRange{Start: p.frame, End: p.frame + PageSize})
		return p.frame, nil
	}
	fr, err := o.mf.Allocate(1)
	if err != nil {
		return 0, err
	}
	valid := PageSize
	if o.mappable != nil {
		n, err := o.mappable.ReadAt(o.mf.Slice(fr), int64(off))
		if err != nil && err != io.EOF {
			o.mf.DecRef(fr)
			return 0, err
		}
		if n == 0 {
			o.mf.DecRef(fr)
			return 0, errBeyondEOF
		}
		valid = n
	}
	o.pages[off] = &objectPage{frame: fr.Start, valid: valid}
	// One reference for the object, one for the caller.
	o.mf.IncRef(fr)
	return fr.Start, nil
}

// markDirty records a write to the page at off.
func (o *sharedObject) markDirty(off uint64) {
	if o.mappable == nil {
		return
	}
	o.mu.Lock()
	if p := o.pages[off]; p != nil {
		p.dirty = true
	}
	o.mu.Unlock()
}

// isDirty reports whether the page at off has been written. Anonymous
// shared pages are always treated as dirty (there is nothing to track).
func (o *sharedObject) isDirty(off uint64) bool {
	if o.mappable == nil {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pages[off]
	return p != nil && p.dirty
}

// writeback writes the dirty pages in [start, end) back to the file. The
// part of a page past the end of the file as it was when read is not
// written (a shared mapping never extends a file). A page stays dirty
// after writeback: address spaces may still map it writable, and without
// reverse mappings there is no way to write-protect it everywhere, so it
// is written again at the next writeback rather than risk losing a write.
func (o *sharedObject) writeback(start, end uint64) error {
	if o.mappable == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var firstErr error
	for off, p := range o.pages {
		if off < start || off >= end || !p.dirty {
			continue
		}
		data := o.mf.Slice(memfile.FileRange{Start: p.frame, End: p.frame + PageSize})[:p.valid]
		if _, err := o.mappable.WriteAt(data, int64(off)); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// FileWritten keeps shared mappings of a file coherent with write(2): p
// was just written at off to the file (dev, ino) through a file
// description, so every cached page of a shared mapping of that file
// takes the new bytes. The VFS calls it after each write to a regular
// file.
func FileWritten(dev, ino uint64, off int64, p []byte) {
	for _, o := range sharedObjectsOf(dev, ino) {
		o.update(off, p)
	}
}

// FileFlush keeps read(2) coherent with shared mappings: dirty mapped pages
// of the file (dev, ino) overlapping [off, off+n) are written back first.
// The VFS calls it before each read of a regular file.
func FileFlush(dev, ino uint64, off, n int64) {
	for _, o := range sharedObjectsOf(dev, ino) {
		start := uint64(off) &^ (PageSize - 1)
		o.writeback(start, uint64(off+n))
	}
}

func sharedObjectsOf(dev, ino uint64) []*sharedObject {
	sharedFiles.mu.Lock()
	defer sharedFiles.mu.Unlock()
	var out []*sharedObject
	for k, o := range sharedFiles.objs {
		if k.dev == dev && k.ino == ino {
			out = append(out, o)
		}
	}
	return out
}

// update copies p (written to the file at off) into cached pages.
func (o *sharedObject) update(off int64, p []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(p) > 0 {
		pgoff := uint64(off) &^ (PageSize - 1)
		in := int(uint64(off) - pgoff)
		n := min(len(p), PageSize-in)
		if pg := o.pages[pgoff]; pg != nil {
			copy(o.mf.Slice(frameRange(pg.frame))[in:in+n], p[:n])
			if in+n > pg.valid {
				pg.valid = in + n
			}
		}
		p = p[n:]
		off += int64(n)
	}
}
