package vfs

// Write access and its denial (ETXTBSY), as Linux's i_writecount: a
// regular file that a process runs (the executable of a live address
// space) cannot be opened for writing or truncated, and a file open for
// writing cannot be executed. Without it a program could rewrite the
// binary it runs from — on a volume, the host's file.
//
// Files are told apart by the identity their Stat reports (device numbers
// and inode number), which stays with a file across an overlay's copy-up.
//
// Locking: writeCounts.mu is a leaf; no filesystem is called under it.

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
)

// fileID is a file's identity within the sandbox.
type fileID struct {
	major, minor uint32
	ino          uint64
}

// writeCounts is, per file, the number of descriptions open for writing
// and mappings made from them (positive) or of denials (negative: address
// spaces running it, execs in progress that opened it). Files with
// neither are not in the map.
type writeCounts struct {
	mu sync.Mutex
	m  map[fileID]int
}

// idOf returns the identity of node.
func idOf(ctx *fs.Context, node fs.Node) (fileID, error) {
	st, err := node.Stat(ctx)
	if err != nil {
		return fileID{}, err
	}
	return fileID{st.DevMajor, st.DevMinor, st.Ino}, nil
}

// get takes write access to id: ETXTBSY if it is being executed.
func (w *writeCounts) get(id fileID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[id] < 0 {
		return unix.ETXTBSY
	}
	if w.m == nil {
		w.m = make(map[fileID]int)
	}
	w.m[id]++
	return nil
}

// put drops write access taken by get.
func (w *writeCounts) put(id fileID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[id]--; w.m[id] == 0 {
		delete(w.m, id)
	}
}

// deny forbids write access to id: ETXTBSY if it is open for writing.
func (w *writeCounts) deny(id fileID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[id] > 0 {
		return unix.ETXTBSY
	}
	if w.m == nil {
		w.m = make(map[fileID]int)
	}
	w.m[id]--
	return nil
}

// allow undoes deny.
func (w *writeCounts) allow(id fileID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[id]++; w.m[id] == 0 {
		delete(w.m, id)
	}
}

// WriteDenial is a file's executable status, held by an address space
// that runs it or by an exec in progress that opened it: while it is
// held, the file cannot be opened for writing or truncated.
type WriteDenial struct {
	w   *writeCounts
	id  fileID
	mu  sync.Mutex
	rel bool
}

// DenyWrite forbids writes to the regular file at loc for as long as the
// returned denial is held (an address space runs it, or an exec in
// progress opened it); ETXTBSY if the file is open for writing.
func (v *VirtualFilesystem) DenyWrite(ctx *fs.Context, loc Location) (*WriteDenial, error) {
	id, err := idOf(ctx, loc.Node)
	if err != nil {
		return nil, err
	}
	if err := v.writers.deny(id); err != nil {
		return nil, err
	}
	return &WriteDenial{w: &v.writers, id: id}, nil
}

// DupRef returns another denial of the same file (a forked address space
// runs it too). It implements mm.ExecutableRef.
func (d *WriteDenial) DupRef() mm.ExecutableRef {
	d.w.mu.Lock()
	if d.w.m == nil {
		d.w.m = make(map[fileID]int)
	}
	d.w.m[d.id]--
	d.w.mu.Unlock()
	return &WriteDenial{w: d.w, id: d.id}
}

// Release lets the file be written again (as far as this denial goes).
// Releasing twice is a no-op.
func (d *WriteDenial) Release() {
	d.mu.Lock()
	done := d.rel
	d.rel = true
	d.mu.Unlock()
	if !done {
		d.w.allow(d.id)
	}
}

// CheckWrite reports ETXTBSY if the regular file at loc is being executed
// (truncate(2) by path).
func (v *VirtualFilesystem) CheckWrite(ctx *fs.Context, loc Location) error {
	if loc.Node.Type() != unix.S_IFREG {
		return nil
	}
	id, err := idOf(ctx, loc.Node)
	if err != nil {
		return err
	}
	if err := v.writers.get(id); err != nil {
		return err
	}
	v.writers.put(id)
	return nil
}

// getWrite takes write access to the regular file node for a description
// being opened for writing; the caller releases it with the description
// (holdWrite) or, if the open fails, with v.writers.put.
func (v *VirtualFilesystem) getWrite(ctx *fs.Context, node fs.Node) (fileID, error) {
	id, err := idOf(ctx, node)
	if err != nil {
		return fileID{}, err
	}
	return id, v.writers.get(id)
}

// holdWrite makes fd the holder of the write access id that getWrite
// took: it is dropped with fd's last reference.
func (v *VirtualFilesystem) holdWrite(fd *FileDescription, id fileID) {
	fd.write = &writeAccess{w: &v.writers, id: id}
	fd.OnRelease(func() { v.writers.put(id) })
}

// writeAccess is the write access a description holds (holdWrite).
type writeAccess struct {
	w  *writeCounts
	id fileID
}

// MapHold returns a hold on the write access fd took when it was opened
// for writing, for a mapping made from it (mm.MMapOpts.File): as Linux's
// vma keeps its file, and so the file's write access, until the last vma
// goes, the file cannot be executed (ETXTBSY) while it is mapped from a
// description open for writing, even once every descriptor is closed.
// nil if fd holds no write access (not open for writing, not a regular
// file).
func (fd *FileDescription) MapHold() mm.FileRef {
	if fd.write == nil {
		return nil
	}
	// fd holds the access now, so the file is not being executed:
	// another count cannot fail (get).
	fd.write.w.mu.Lock()
	fd.write.w.m[fd.write.id]++
	fd.write.w.mu.Unlock()
	h := &mapHold{a: fd.write}
	h.refs.Store(1)
	return h
}

// mapHold is a count of write access on a file, held by the vmas of
// mappings made from a description open for writing (MapHold), dropped
// with the last of them.
type mapHold struct {
	a    *writeAccess
	refs atomic.Int64
}

// IncRef implements mm.FileRef.IncRef.
func (h *mapHold) IncRef() { h.refs.Add(1) }

// DecRef implements mm.FileRef.DecRef.
func (h *mapHold) DecRef() {
	if h.refs.Add(-1) == 0 {
		h.a.w.put(h.a.id)
	}
}
