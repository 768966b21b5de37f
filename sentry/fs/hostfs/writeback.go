package hostfs

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"golang.org/x/sys/unix"
)

// Write-behind of writable host files (volumes).
//
// When the filesystem has write-behind (EnableWriteback), a File opened for
// writing (without O_SYNC, O_DSYNC or O_DIRECT) keeps what the sandbox
// writes in a sentry-side dirty buffer (writeCache: sorted, non-overlapping
// extents, at most Limit bytes) and a delayed work item on the writeback
// workqueue (workqueue.Writeback) writes it to the host Delay later, on a
// kworker. What must see the data first flushes it, in the caller, before
// it touches the host file:
//
//   - read, pread, fstat, mmap, ftruncate, fallocate of any description of
//     the same host inode, and stat/truncate/chmod... by path;
//   - a write through another description of the same inode (so two
//     descriptions never both hold dirty data of one inode, and the host
//     sees writes in the order the sandbox made them);
//   - release (the last close), before the descriptor goes to the closer.
//
// fsync and fdatasync wait for the file's write-back on the kworker
// (Writeback.Sync) and then fsync the host descriptor; syncfs and sync wait
// for every file of the filesystem (SyncAll, a workqueue.WritebackSet).
// A write that would take the buffer over Limit flushes it first; a write
// larger than Limit, or one that would take all files' dirty data over
// 64 MiB, goes straight to the host. Shared mappings read and write the
// host file through their own descriptor (Mappable) and flush the inode's
// dirty data first.
//
// Errors of write-back are reported by the next fsync/fdatasync/syncfs of
// the file (as Linux's errseq); the data of a failed write-back is
// dropped, as Linux drops pages it could not write.
//
// Locking (in this order):
//
//	writeCache.flushMu   serializes write-back of one file; held across
//	                     the host pwrites (never across a blocking wait)
//	  writeCache.mu      the extents, the pending error, released (leaf)
//	fsWriteback.mu       the inode table (leaf; never held while flushing)

// Default write-behind settings.
const (
	DefaultWritebackDelay = 30 * time.Millisecond
	DefaultWritebackLimit = 1 << 20
	// globalDirtyLimit bounds the dirty bytes of all files together
	// (Linux's vm.dirty_bytes); beyond it writes go through.
	globalDirtyLimit = 64 << 20
	// maxExtents bounds the extent list of one file (many small
	// scattered writes flush early).
	maxExtents = 1024
)

// WritebackOptions configure EnableWriteback.
type WritebackOptions struct {
	// WQ runs the write-back items (the system's "writeback" workqueue).
	WQ *workqueue.Workqueue
	// Delay is how long dirty data may wait (default 30 ms).
	Delay time.Duration
	// Limit is the largest dirty buffer of one file in bytes (default
	// 1 MiB).
	Limit int
}

// inodeKey names a host inode.
type inodeKey struct{ dev, ino uint64 }

// fsWriteback is a filesystem's write-behind state.
type fsWriteback struct {
	opts WritebackOptions
	set  workqueue.WritebackSet

	mu     sync.Mutex
	inodes map[inodeKey]map[*writeCache]struct{}
}

// EnableWriteback turns on write-behind for files opened from now on. It
// returns an error for a read-only filesystem or without a workqueue.
// Preconditions: called before the filesystem is used concurrently (at
// boot), at most once.
func (f *FS) EnableWriteback(o WritebackOptions) error {
	if f.readOnly {
		return errors.New("hostfs: write-behind of a read-only filesystem")
	}
	if o.WQ == nil {
		return errors.New("hostfs: write-behind needs a workqueue")
	}
	if o.Delay <= 0 {
		o.Delay = DefaultWritebackDelay
	}
	if o.Limit <= 0 {
		o.Limit = DefaultWritebackLimit
	}
	f.wb = &fsWriteback{opts: o, inodes: make(map[inodeKey]map[*writeCache]struct{})}
	return nil
}

// WritebackEnabled reports whether the filesystem writes behind.
func (f *FS) WritebackEnabled() bool { return f.wb != nil }

// SyncAll writes back the dirty pages of mapped files and every dirty
// write-behind buffer of the filesystem, waits for it,
// and asks the host to sync the host filesystem (syncfs, and sync for each
// volume). It returns the first write-back error as an errno. It blocks;
// t is the calling task, or nil from a goroutine that is not a task (boot
// at exit).
func (f *FS) SyncAll(t *kernel.Task) error {
	f.WritebackMapped()
	var first error
	if f.wb != nil {
		first = f.wb.set.Sync(t)
		for _, c := range f.wb.all() {
			if err := c.takeErr(); err != nil && first == nil {
				first = err
			}
		}
	}
	if !f.readOnly {
		if fd, err := f.openRel("", unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
			if err := retry(func() error { return unix.Syncfs(fd) }); err != nil && first == nil {
				first = err
			}
			unix.Close(fd)
		}
	}
	return errnoOf(first)
}

// errnoOf turns a write-back error into what a syscall returns.
func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EIO
}

func (w *fsWriteback) register(c *writeCache) {
	w.mu.Lock()
	m := w.inodes[c.key]
	if m == nil {
		m = make(map[*writeCache]struct{})
		w.inodes[c.key] = m
	}
	m[c] = struct{}{}
	w.mu.Unlock()
	w.set.Add(c.wb)
}

func (w *fsWriteback) unregister(c *writeCache) {
	w.set.Remove(c.wb)
	w.mu.Lock()
	if m := w.inodes[c.key]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(w.inodes, c.key)
		}
	}
	w.mu.Unlock()
}

// caches returns the write caches of inode key except skip.
func (w *fsWriteback) caches(key inodeKey, skip *writeCache) []*writeCache {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*writeCache
	for c := range w.inodes[key] {
		if c != skip {
			out = append(out, c)
		}
	}
	return out
}

// busy reports whether any file of the filesystem has a write cache.
func (w *fsWriteback) busy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inodes) > 0
}

func (w *fsWriteback) all() []*writeCache {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*writeCache
	for _, m := range w.inodes {
		for c := range m {
			out = append(out, c)
		}
	}
	return out
}

// flushInode writes back, in the caller, the dirty data of every file of
// key except skip. Errors are kept for those files' next fsync.
func (w *fsWriteback) flushInode(t *kernel.Task, key inodeKey, skip *writeCache) {
	for _, c := range w.caches(key, skip) {
		c.flushKeepErr(t)
	}
}

// flushFD is flushInode for a host descriptor (a node's O_PATH one).
func (f *FS) flushFD(fd int) {
	if f.wb == nil || !f.wb.busy() {
		return
	}
	st, err := statFD(fd)
	if err != nil {
		return
	}
	f.wb.flushInode(nil, inodeKey{dev: uint64(st.DevMajor)<<32 | uint64(st.DevMinor), ino: st.Ino}, nil)
}

// extent is a dirty byte range.
type extent struct {
	off  int64
	data []byte
}

func (e extent) end() int64 { return e.off + int64(len(e.data)) }

// writeCache is the dirty buffer of one open File.
type writeCache struct {
	file  *File
	key   inodeKey
	wb    *workqueue.Writeback
	limit int

	flushMu sync.Mutex

	mu       sync.Mutex
	extents  []extent // sorted by off, neither overlapping nor adjacent
	dirty    int      // bytes in extents
	err      error    // first error of a write-back in a caller, for fsync
	released bool     // the host descriptor is gone
}

// attachCache gives f a write cache if its filesystem writes behind and
// the open flags allow it, and records f's inode for coherence with other
// descriptions.
func (n *Node) attachCache(f *File, flags uint32) {
	w := n.fs.wb
	if w == nil {
		return
	}
	st, err := statFD(f.fd)
	if err != nil {
		return
	}
	f.key = inodeKey{dev: uint64(st.DevMajor)<<32 | uint64(st.DevMinor), ino: st.Ino}
	f.keyed = true
	if flags&unix.O_ACCMODE == unix.O_RDONLY || flags&(unix.O_SYNC|unix.O_DSYNC|unix.O_DIRECT) != 0 {
		return
	}
	c := &writeCache{file: f, key: f.key, limit: w.opts.Limit}
	c.wb = workqueue.NewWriteback(w.opts.WQ, w.opts.Delay, c.writeBack)
	f.cache = c
	w.register(c)
}

// writeBack is the work item's write: it runs on a writeback kworker.
func (c *writeCache) writeBack(t *kernel.Task) error {
	if h := writebackHook; h != nil {
		h(t)
	}
	return c.flush(t)
}

// writebackHook, if set (tests), is called by every write-back item with
// the worker that runs it.
var writebackHook func(t *kernel.Task)

// flush writes every dirty extent to the host and returns the first
// error. It blocks on the host (the caller keeps its CPU).
func (c *writeCache) flush(t *kernel.Task) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	exts := c.extents
	dirty := c.dirty
	c.extents, c.dirty = nil, 0
	released := c.released
	c.mu.Unlock()
	if len(exts) == 0 || released {
		return nil
	}
	addDirty(-int64(dirty))
	var first error
	var written int
	for _, e := range exts {
		n, err := pwriteFull(c.file.fd, e.data, e.off)
		written += n
		if err == nil && n < len(e.data) {
			err = unix.EIO
		}
		if err != nil && first == nil {
			first = err
		}
	}
	countOut(t, written)
	return first
}

// flushKeepErr is flush whose error waits for the next fsync.
func (c *writeCache) flushKeepErr(t *kernel.Task) {
	if err := c.flush(t); err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
}

func (c *writeCache) takeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.err
	c.err = nil
	return err
}

// dirtyEnd returns the end of the last dirty extent (0 if clean).
func (c *writeCache) dirtyEnd() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.extents) == 0 {
		return 0
	}
	return c.extents[len(c.extents)-1].end()
}

// add buffers src at off, or reports false if it does not fit (the caller
// then flushes and retries, or writes through).
func (c *writeCache) add(src []byte, off int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := off + int64(len(src))
	lo := sort.Search(len(c.extents), func(i int) bool { return c.extents[i].end() >= off })
	hi := lo
	start, stop := off, end
	merged := 0
	for hi < len(c.extents) && c.extents[hi].off <= end {
		e := c.extents[hi]
		start = min(start, e.off)
		stop = max(stop, e.end())
		merged += len(e.data)
		hi++
	}
	newDirty := c.dirty - merged + int(stop-start)
	newCount := len(c.extents) - (hi - lo) + 1
	if newDirty > c.limit || newCount > maxExtents {
		return false
	}
	var buf []byte
	if hi == lo+1 && c.extents[lo].off == start && cap(c.extents[lo].data) >= int(stop-start) {
		// Extending one extent in place (sequential writes).
		buf = c.extents[lo].data[:stop-start]
	} else {
		n := int(stop - start)
		buf = make([]byte, n, max(n, min(2*n, c.limit), 4096))
		for _, e := range c.extents[lo:hi] {
			copy(buf[e.off-start:], e.data)
		}
	}
	copy(buf[off-start:], src)
	ne := extent{off: start, data: buf}
	if hi == lo {
		c.extents = append(c.extents, extent{})
		copy(c.extents[lo+1:], c.extents[lo:])
		c.extents[lo] = ne
	} else {
		c.extents[lo] = ne
		c.extents = append(c.extents[:lo+1], c.extents[hi:]...)
	}
	addDirty(int64(newDirty - c.dirty))
	c.dirty = newDirty
	return true
}

// write is WriteAt of a File with a write cache.
func (c *writeCache) write(ctx *fs.Context, src []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	t := taskOf(ctx)
	c.file.node.fs.wb.flushInode(t, c.key, c)
	if len(src) == 0 {
		return 0, nil
	}
	if len(src) > c.limit || dirtyBytes.Load()+int64(len(src)) > globalDirtyLimit {
		if err := c.flush(t); err != nil {
			c.keepErr(err)
		}
		n, err := pwriteFull(c.file.fd, src, off)
		countOut(t, n)
		return n, err
	}
	if !c.add(src, off) {
		if err := c.flush(t); err != nil {
			c.keepErr(err)
		}
		if !c.add(src, off) {
			n, err := pwriteFull(c.file.fd, src, off)
			countOut(t, n)
			return n, err
		}
	}
	c.wb.MarkDirty()
	return len(src), nil
}

func (c *writeCache) keepErr(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// sync is fsync/fdatasync's write-back: it waits for the kworker when the
// caller is a task, or writes in the caller otherwise.
func (c *writeCache) sync(ctx *fs.Context) error {
	t := taskOf(ctx)
	var err error
	if t != nil {
		err = c.wb.Sync(t)
	} else {
		err = c.flush(nil)
	}
	if e := c.takeErr(); err == nil {
		err = e
	}
	return errnoOf(err)
}

// release flushes in the caller and marks the host descriptor gone; the
// write-back item may still run once and then finds nothing.
func (c *writeCache) release() {
	err := c.flush(nil)
	c.flushMu.Lock()
	c.mu.Lock()
	c.released = true
	c.mu.Unlock()
	c.flushMu.Unlock()
	_ = err // close(2) does not report write-back errors
	c.file.node.fs.wb.unregister(c)
}

// syncForRead makes the host file show everything written through any
// description of f's inode (read-your-writes), in the caller.
func (f *File) syncForRead(t *kernel.Task) {
	w := f.node.fs.wb
	if w == nil || !f.keyed {
		return
	}
	if f.cache != nil {
		f.cache.flushKeepErr(t)
	}
	w.flushInode(t, f.key, f.cache)
}

func taskOf(ctx *fs.Context) *kernel.Task {
	if ctx == nil {
		return nil
	}
	return ctx.Task
}
