package vfs

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/lock"
	"github.com/runsc-lite/runsc-lite/sentry/fs/pipe"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// statusFlags are the open flags F_SETFL may change.
const statusFlags = unix.O_APPEND | unix.O_NONBLOCK | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME

// keptFlags are the open flags a description remembers (F_GETFL).
const keptFlags = unix.O_ACCMODE | statusFlags | unix.O_DSYNC | unix.O_SYNC | unix.O_PATH | unix.O_LARGEFILE

// FileDescription is an open file description: what a file descriptor
// refers to, shared by dup and fork. It is reference counted; the file is
// released (a host descriptor closed, a pipe end dropped) when the last
// reference goes.
type FileDescription struct {
	refs  atomic.Int64
	loc   Location
	impl  fs.File // nil for O_PATH descriptions and directories
	dir   *dirState
	flags atomic.Uint32
	name  string
	// key caches the file's key (FileKey) once computed.
	key atomic.Pointer[fs.FileKey]
	// parent caches the key of the file's directory for inotify
	// (notify.go).
	parent atomic.Pointer[parentRef]

	// relMu protects the release hooks (epoll interests that must go
	// when the description's last reference does).
	relMu    sync.Mutex
	relNext  int
	relHooks map[int]func()
	released bool

	// write is the write access the description holds (holdWrite),
	// set before it is shared; nil for none.
	write *writeAccess
}

// OnRelease registers fn to run when the description's last reference is
// dropped (epoll removes its interests then, as Linux does at the file's
// final fput). It returns a function that unregisters fn. If the
// description is already released, fn is not registered.
func (fd *FileDescription) OnRelease(fn func()) (cancel func()) {
	fd.relMu.Lock()
	defer fd.relMu.Unlock()
	if fd.released {
		return func() {}
	}
	if fd.relHooks == nil {
		fd.relHooks = make(map[int]func())
	}
	id := fd.relNext
	fd.relNext++
	fd.relHooks[id] = fn
	return func() {
		fd.relMu.Lock()
		delete(fd.relHooks, id)
		fd.relMu.Unlock()
	}
}

// dirState is a directory description's listing and position.
//
// Locking: mu protects both; it is not held across Readdir of the
// filesystem beyond the first listing.
type dirState struct {
	mu   sync.Mutex
	ents []fs.Dirent // nil until the first getdents after a rewind
	pos  int64       // index into "." , "..", ents...
}

// NewFileDescription returns a description of impl, opened as loc, with
// one reference. flags are open(2)'s flags.
func NewFileDescription(loc Location, impl fs.File, flags uint32) *FileDescription {
	fd := &FileDescription{loc: loc, impl: impl, name: loc.Path}
	fd.refs.Store(1)
	fd.flags.Store(flags&keptFlags | unix.O_LARGEFILE)
	if loc.Node != nil && loc.Node.Type() == unix.S_IFDIR && flags&unix.O_PATH == 0 {
		fd.dir = &dirState{}
	}
	return fd
}

// NewAnonymousFile returns a description of a file that lives in no
// mounted filesystem (an eventfd, epoll instance, socket...), named name in
// /proc/PID/fd ("anon_inode:[eventfd]", "socket:[123]"). node answers
// fstat.
func NewAnonymousFile(name string, node fs.Node, impl fs.File, flags uint32) *FileDescription {
	fd := NewFileDescription(Location{Mount: anonMount, Node: node, Path: name}, impl, flags)
	return fd
}

// AnonLocation returns the location of node, a file in no mounted
// filesystem named name in /proc/PID/fd (an nsfs file).
func AnonLocation(name string, node fs.Node) Location {
	return Location{Mount: anonMount, Node: node, Path: name}
}

// NewPipe returns the read and write ends of a new pipe; flags may hold
// O_NONBLOCK (O_CLOEXEC is the caller's).
func NewPipe(ctx *fs.Context, flags uint32) (r, w *FileDescription) {
	p, rf, wf := pipe.NewPair(ctx.Creds)
	name := "pipe:[" + itoa(p.Ino()) + "]"
	loc := Location{Mount: anonMount, Node: p, Path: name}
	r = NewFileDescription(loc, rf, unix.O_RDONLY|flags&unix.O_NONBLOCK)
	w = NewFileDescription(loc, wf, unix.O_WRONLY|flags&unix.O_NONBLOCK)
	return r, w
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// IncRef adds a reference.
func (fd *FileDescription) IncRef() { fd.refs.Add(1) }

// Refs returns the number of references (AF_UNIX's garbage collector of
// in-flight descriptors compares it with the references queued in
// sockets).
func (fd *FileDescription) Refs() int64 { return fd.refs.Load() }

// DecRef drops a reference and releases the file when it was the last.
func (fd *FileDescription) DecRef() {
	if n := fd.refs.Add(-1); n == 0 {
		if lock.HasDescription(fd) {
			if key, err := fd.FileKey(fs.Background); err == nil {
				lock.ReleaseDescription(key, fd)
			}
		}
		fd.relMu.Lock()
		hooks := fd.relHooks
		fd.relHooks, fd.released = nil, true
		fd.relMu.Unlock()
		for _, fn := range hooks {
			fn()
		}
		fd.notifyClose()
		if fd.impl != nil {
			fd.impl.Release()
		}
	}
}

// FileKey returns the key of the description's file (what locks and
// inotify watches are keyed by), computed once: from the open file when
// it knows it, else its node's, else a Stat.
func (fd *FileDescription) FileKey(ctx *fs.Context) (fs.FileKey, error) {
	if k := fd.key.Load(); k != nil {
		return *k, nil
	}
	var k fs.FileKey
	ok := false
	if id, isID := fd.impl.(fs.Identified); isID {
		k, ok = id.FileKey()
	}
	if !ok {
		var err error
		if k, err = fs.NodeKey(ctx, fd.loc.Node); err != nil {
			st, serr := fd.Stat(ctx)
			if serr != nil {
				return fs.FileKey{}, err
			}
			k = fs.KeyFromStatx(&st)
		}
	}
	fd.key.Store(&k)
	return k, nil
}

// HostLocks returns the file as a host-lockable file when its locks are
// also taken on the host (a volume's regular file), or nil.
func (fd *FileDescription) HostLocks() fs.HostLockable {
	hl, _ := fd.impl.(fs.HostLockable)
	return hl
}

// Location returns where the description was opened.
func (fd *FileDescription) Location() Location { return fd.loc }

// Node returns the description's node.
func (fd *FileDescription) Node() fs.Node { return fd.loc.Node }

// Impl returns the open file (nil for O_PATH descriptions and
// directories).
func (fd *FileDescription) Impl() fs.File { return fd.impl }

// Path returns the file's path as /proc/PID/fd and /proc/PID/maps show it
// ("/etc/passwd", "pipe:[12]", "/dev/pts/0").
func (fd *FileDescription) Path() string { return fd.name }

// Flags returns the access mode and status flags (F_GETFL).
func (fd *FileDescription) Flags() uint32 { return fd.flags.Load() }

// SetFlags replaces the status flags F_SETFL may change.
func (fd *FileDescription) SetFlags(fl uint32) {
	for {
		old := fd.flags.Load()
		nw := old&^statusFlags | fl&statusFlags
		if fd.flags.CompareAndSwap(old, nw) {
			return
		}
	}
}

// IsPath reports whether this is an O_PATH description.
func (fd *FileDescription) IsPath() bool { return fd.Flags()&unix.O_PATH != 0 }

// Readable reports whether the description was opened for reading.
func (fd *FileDescription) Readable() bool {
	f := fd.Flags()
	return f&unix.O_PATH == 0 && f&unix.O_ACCMODE != unix.O_WRONLY
}

// Writable reports whether the description was opened for writing.
func (fd *FileDescription) Writable() bool {
	f := fd.Flags()
	acc := f & unix.O_ACCMODE
	return f&unix.O_PATH == 0 && (acc == unix.O_WRONLY || acc == unix.O_RDWR)
}

// IsDir reports whether the description is a directory.
func (fd *FileDescription) IsDir() bool { return fd.loc.Node.Type() == unix.S_IFDIR }

// Read reads at the file's position (read(2)). It may block.
func (fd *FileDescription) Read(ctx *fs.Context, dst []byte) (int, error) {
	if !fd.Readable() {
		return 0, unix.EBADF
	}
	if fd.dir != nil {
		return 0, unix.EISDIR
	}
	if fd.needsFlush() {
		if pos, err := fd.impl.Seek(ctx, 0, io.SeekCurrent); err == nil {
			fd.flushShared(pos, int64(len(dst)))
		}
	}
	n, err := fd.impl.Read(ctx, dst, fd.Flags())
	if n > 0 {
		fd.notify(unix.IN_ACCESS)
	}
	return n, err
}

// needsCoherence reports whether writes of fd must be made coherent with
// the page cache here: some file is cached or mapped, and fd's file does
// not keep the page cache coherent itself (hostfs does).
func (fd *FileDescription) needsCoherence() bool {
	return mm.SharedFilesMapped() && !fd.keepsPageCacheCoherent()
}

// needsFlush reports whether a read of fd must first write back what
// shared mappings wrote: some file has such dirty pages (only a write
// through a MAP_SHARED mapping of a file makes one), and fd's reads do not
// come from the page cache those mappings share.
func (fd *FileDescription) needsFlush() bool {
	return mm.SharedFilesDirty() && !fd.keepsPageCacheCoherent()
}

func (fd *FileDescription) keepsPageCacheCoherent() bool {
	c, ok := fd.impl.(fs.PageCacheCoherent)
	return ok && c.KeepsPageCacheCoherent()
}

// flushShared and noteWritten keep read(2) and write(2) coherent with
// shared mappings of the same file (see mm.FileFlush, mm.FileWritten).
func (fd *FileDescription) flushShared(off, n int64) {
	if fd.loc.Node == nil || fd.loc.Node.Type() != unix.S_IFREG {
		return
	}
	if mp, err := fd.Mappable(); err == nil {
		dev, ino, _ := mp.MappingIdentity()
		mm.FileFlush(dev, ino, off, n)
	}
}

func (fd *FileDescription) noteWritten(off int64, p []byte) {
	if fd.loc.Node == nil || fd.loc.Node.Type() != unix.S_IFREG || len(p) == 0 {
		return
	}
	if mp, err := fd.Mappable(); err == nil {
		dev, ino, _ := mp.MappingIdentity()
		mm.FileWritten(dev, ino, off, p)
	}
}

// Write writes at the file's position (write(2)). It may block.
func (fd *FileDescription) Write(ctx *fs.Context, src []byte) (int, error) {
	if !fd.Writable() {
		return 0, unix.EBADF
	}
	n, err := fd.impl.Write(ctx, src, fd.Flags())
	if n > 0 && fd.needsCoherence() {
		if end, serr := fd.impl.Seek(ctx, 0, io.SeekCurrent); serr == nil {
			fd.noteWritten(end-int64(n), src[:n])
		}
	}
	if n > 0 {
		fd.notify(unix.IN_MODIFY)
	}
	return n, err
}

// Discard is a write(2) of n bytes to a file that discards its data
// (fs.Discarder): n is written without the data, which is never read.
func (fd *FileDescription) Discard(n int64) (int64, error) {
	if !fd.Writable() {
		return 0, unix.EBADF
	}
	if n > 0 {
		fd.notify(unix.IN_MODIFY)
	}
	return n, nil
}

// PRead is pread(2).
func (fd *FileDescription) PRead(ctx *fs.Context, dst []byte, off int64) (int, error) {
	if !fd.Readable() {
		return 0, unix.EBADF
	}
	if fd.dir != nil {
		return 0, unix.EISDIR
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	if fd.needsFlush() {
		fd.flushShared(off, int64(len(dst)))
	}
	n, err := fd.impl.ReadAt(ctx, dst, off)
	if n > 0 {
		fd.notify(unix.IN_ACCESS)
	}
	return n, err
}

// PWrite is pwrite(2).
func (fd *FileDescription) PWrite(ctx *fs.Context, src []byte, off int64) (int, error) {
	if !fd.Writable() {
		return 0, unix.EBADF
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, err := fd.impl.WriteAt(ctx, src, off)
	if n > 0 && fd.needsCoherence() {
		fd.noteWritten(off, src[:n])
	}
	if n > 0 {
		fd.notify(unix.IN_MODIFY)
	}
	return n, err
}

// Seek is lseek(2).
func (fd *FileDescription) Seek(ctx *fs.Context, off int64, whence int) (int64, error) {
	if fd.IsPath() {
		return 0, unix.EBADF
	}
	if fd.dir != nil {
		return fd.dir.seek(off, whence)
	}
	return fd.impl.Seek(ctx, off, whence)
}

// Stat is fstat(2).
func (fd *FileDescription) Stat(ctx *fs.Context) (linux.Statx, error) {
	if s, ok := fd.impl.(fs.Statter); ok {
		return s.Stat(ctx)
	}
	return fd.loc.Node.Stat(ctx)
}

// Ioctl serves the file's own ioctls (the generic ones are the syscall
// layer's).
func (fd *FileDescription) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	if fd.IsPath() {
		return 0, unix.EBADF
	}
	if io, ok := fd.impl.(fs.Ioctler); ok {
		return io.Ioctl(ctx, cmd, arg)
	}
	return 0, unix.ENOTTY
}

// Truncate is ftruncate(2).
func (fd *FileDescription) Truncate(ctx *fs.Context, size int64) error {
	if size < 0 {
		return unix.EINVAL
	}
	if !fd.Writable() || fd.dir != nil {
		return unix.EINVAL
	}
	if fd.loc.Node.Type() != unix.S_IFREG {
		return unix.EINVAL
	}
	if fd.loc.Mount != nil && fd.loc.Mount.ReadOnly() {
		return unix.EROFS
	}
	var e error = unix.EINVAL
	if t, ok := fd.impl.(fs.Truncater); ok {
		e = t.Truncate(ctx, size)
	} else if a, ok := fd.loc.Node.(fs.Attributer); ok {
		e = a.SetStat(ctx, fs.SetStat{Mask: linux.STATX_SIZE, Size: uint64(size)})
	}
	if e == nil {
		fd.notify(unix.IN_MODIFY)
	}
	return e
}

// Sync is fsync(2).
func (fd *FileDescription) Sync(ctx *fs.Context) error {
	if fd.IsPath() {
		return unix.EBADF
	}
	if s, ok := fd.impl.(fs.Syncer); ok {
		return s.Sync(ctx)
	}
	if fd.loc.Node.Type() == unix.S_IFIFO || fd.loc.Node.Type() == unix.S_IFSOCK {
		return unix.EINVAL
	}
	return nil
}

// Allocate is fallocate(2).
func (fd *FileDescription) Allocate(ctx *fs.Context, mode uint32, off, length int64) error {
	if !fd.Writable() {
		return unix.EBADF
	}
	if off < 0 || length <= 0 {
		return unix.EINVAL
	}
	switch fd.loc.Node.Type() {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return unix.EISDIR
	case unix.S_IFIFO:
		return unix.ESPIPE
	default:
		return unix.ENODEV
	}
	if a, ok := fd.impl.(fs.Allocator); ok {
		err := a.Allocate(ctx, mode, off, length)
		if err == nil {
			fd.notify(unix.IN_MODIFY)
		}
		return err
	}
	return unix.EOPNOTSUPP
}

// Waitable returns the file's poll interface, or nil if the file is
// always ready (regular files, directories).
func (fd *FileDescription) Waitable() fs.Waitable {
	w, _ := fd.impl.(fs.Waitable)
	return w
}

// PipeSizer returns the pipe behind the description, or nil.
func (fd *FileDescription) PipeSizer() fs.PipeSizer {
	p, _ := fd.impl.(fs.PipeSizer)
	return p
}

// Mappable returns the file as an mm.Mappable for mmap: regular files
// only (ENODEV for pipes, terminals, directories; EACCES for O_PATH).
// The mappable stays valid after the description is closed.
func (fd *FileDescription) Mappable() (mm.Mappable, error) {
	if fd.IsPath() {
		return nil, unix.EBADF
	}
	if fd.dir != nil {
		return nil, unix.ENODEV
	}
	m, ok := fd.impl.(fs.Mapper)
	if !ok {
		return nil, unix.ENODEV
	}
	mp, err := m.Mappable()
	if err != nil {
		return nil, err
	}
	return namedMappable{Mappable: mp, path: fd.name}, nil
}

// namedMappable reports the description's path as the mapping's name.
type namedMappable struct {
	mm.Mappable
	path string
}

// MappingIdentity implements mm.Mappable.
func (m namedMappable) MappingIdentity() (uint64, uint64, string) {
	dev, ino, p := m.Mappable.MappingIdentity()
	if p == "" {
		p = m.path
	}
	return dev, ino, p
}

// Mapped implements mm.MappedFile for files that need it.
func (m namedMappable) Mapped() {
	if f, ok := m.Mappable.(mm.MappedFile); ok {
		f.Mapped()
	}
}

// Unmapped implements mm.MappedFile for files that need it.
func (m namedMappable) Unmapped() {
	if f, ok := m.Mappable.(mm.MappedFile); ok {
		f.Unmapped()
	}
}

// WriteMapped implements mm.WriteMapCounter for files that need it.
func (m namedMappable) WriteMapped(delta int32) {
	if c, ok := m.Mappable.(mm.WriteMapCounter); ok {
		c.WriteMapped(delta)
	}
}

// HoldSharedWrite implements mm.SharedWriteGate for files that need it.
func (m namedMappable) HoldSharedWrite(write bool) (bool, func(), error) {
	if g, ok := m.Mappable.(mm.SharedWriteGate); ok {
		return g.HoldSharedWrite(write)
	}
	return true, func() {}, nil
}

// ReadAt implements io.ReaderAt for the sentry itself (the ELF loader):
// it never blocks, and a short count at end of file comes with io.EOF.
func (fd *FileDescription) ReadAt(p []byte, off int64) (int, error) {
	n, err := fd.PRead(fs.Background, p, off)
	if err == nil && n < len(p) {
		return n, io.EOF
	}
	return n, err
}

// Getdents calls emit for each directory entry from the current position
// ("." and ".." first); emit returns false when it has no room, and that
// entry is returned again by the next call. off is the position after
// the entry (d_off).
func (fd *FileDescription) Getdents(ctx *fs.Context, v *VirtualFilesystem, emit func(d fs.Dirent, off int64) bool) error {
	if fd.IsPath() {
		return unix.EBADF
	}
	if fd.dir == nil {
		return unix.ENOTDIR
	}
	ds := fd.dir
	defer fd.notify(unix.IN_ACCESS)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.ents == nil {
		d, ok := fd.loc.Node.(fs.Directory)
		if !ok {
			return unix.ENOTDIR
		}
		ents, err := d.Readdir(ctx)
		if err != nil {
			return err
		}
		self, _ := fd.loc.Node.Stat(ctx)
		parentIno := self.Ino
		if v != nil && fd.loc.Mount != anonMount {
			w := v.newWalker(ctx, v.RootLocation())
			if p, err := w.parent(fd.loc); err == nil {
				if st, err := p.Node.Stat(ctx); err == nil {
					parentIno = st.Ino
				}
			}
		}
		all := make([]fs.Dirent, 0, len(ents)+2)
		all = append(all, fs.Dirent{Name: ".", Type: unix.DT_DIR, Ino: self.Ino}, fs.Dirent{Name: "..", Type: unix.DT_DIR, Ino: parentIno})
		ds.ents = append(all, ents...)
	}
	for ds.pos < int64(len(ds.ents)) {
		if !emit(ds.ents[ds.pos], ds.pos+1) {
			return nil
		}
		ds.pos++
	}
	return nil
}

func (ds *dirState) seek(off int64, whence int) (int64, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		off += ds.pos
	default:
		return 0, unix.EINVAL
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	ds.pos = off
	if off == 0 {
		ds.ents = nil // rewinddir sees new entries
	}
	return off, nil
}
