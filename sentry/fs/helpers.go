package fs

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// RandomAccess is the data of a regular file: positional reads and writes
// and a size. PositionalFile turns it into a File.
type RandomAccess interface {
	ReadAt(ctx *Context, dst []byte, off int64) (int, error)
	WriteAt(ctx *Context, src []byte, off int64) (int, error)
	Size(ctx *Context) (int64, error)
}

// Appender is RandomAccess data that can append atomically; it returns
// the bytes written and the end offset after the write.
type Appender interface {
	Append(ctx *Context, src []byte) (int, int64, error)
}

// PositionalFile is a File over RandomAccess data with its own position
// (a regular file's description). Its methods never block beyond the
// data's own I/O.
//
// Locking: mu protects off and serializes read/write at the position (as
// Linux's f_pos_lock).
type PositionalFile struct {
	Data RandomAccess

	mu  sync.Mutex
	off int64
}

// Read implements File.Read.
func (f *PositionalFile) Read(ctx *Context, dst []byte, fl uint32) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.Data.ReadAt(ctx, dst, f.off)
	f.off += int64(n)
	return n, err
}

// Write implements File.Write.
func (f *PositionalFile) Write(ctx *Context, src []byte, fl uint32) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl&unix.O_APPEND != 0 {
		if a, ok := f.Data.(Appender); ok {
			n, end, err := a.Append(ctx, src)
			if n > 0 || err == nil {
				f.off = end
			}
			return n, err
		}
		size, err := f.Data.Size(ctx)
		if err != nil {
			return 0, err
		}
		f.off = size
	}
	if f.off+int64(len(src)) < f.off {
		return 0, unix.EFBIG
	}
	n, err := f.Data.WriteAt(ctx, src, f.off)
	f.off += int64(n)
	return n, err
}

// ReadAt implements File.ReadAt.
func (f *PositionalFile) ReadAt(ctx *Context, dst []byte, off int64) (int, error) {
	return f.Data.ReadAt(ctx, dst, off)
}

// WriteAt implements File.WriteAt.
func (f *PositionalFile) WriteAt(ctx *Context, src []byte, off int64) (int, error) {
	return f.Data.WriteAt(ctx, src, off)
}

// Seek implements File.Seek (SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA,
// SEEK_HOLE; the whole file is data).
func (f *PositionalFile) Seek(ctx *Context, off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		base = f.off
	case unix.SEEK_END, unix.SEEK_DATA, unix.SEEK_HOLE:
		size, err := f.Data.Size(ctx)
		if err != nil {
			return 0, err
		}
		switch whence {
		case unix.SEEK_END:
			base = size
		case unix.SEEK_DATA:
			if off < 0 || off >= size {
				return 0, unix.ENXIO
			}
		case unix.SEEK_HOLE:
			if off < 0 || off >= size {
				return 0, unix.ENXIO
			}
			f.off = size
			return size, nil
		}
	default:
		return 0, unix.EINVAL
	}
	n := base + off
	if n < 0 || (off > 0 && n < base) {
		return 0, unix.EINVAL
	}
	f.off = n
	return n, nil
}

// Offset returns the current position.
func (f *PositionalFile) Offset() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.off
}

// StreamFile gives a stream (pipe, terminal, character device) the
// positional methods: ESPIPE. Embed it.
type StreamFile struct{}

// ReadAt implements File.ReadAt.
func (StreamFile) ReadAt(*Context, []byte, int64) (int, error) { return 0, unix.ESPIPE }

// WriteAt implements File.WriteAt.
func (StreamFile) WriteAt(*Context, []byte, int64) (int, error) { return 0, unix.ESPIPE }

// Seek implements File.Seek.
func (StreamFile) Seek(*Context, int64, int) (int64, error) { return 0, unix.ESPIPE }

// Notifier is the list of watchers of a Waitable file.
//
// Locking: mu protects the list; callbacks run without it.
type Notifier struct {
	mu       sync.Mutex
	next     int
	watchers map[int]watcher
}

type watcher struct {
	mask uint32
	fn   WatchFunc
}

// Watch registers fn for the events of mask (see Waitable.Watch).
func (n *Notifier) Watch(mask uint32, fn WatchFunc) (cancel func()) {
	n.mu.Lock()
	if n.watchers == nil {
		n.watchers = make(map[int]watcher)
	}
	id := n.next
	n.next++
	n.watchers[id] = watcher{mask: mask | unix.POLLERR | unix.POLLHUP, fn: fn}
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		delete(n.watchers, id)
		n.mu.Unlock()
	}
}

// Notify calls the watchers interested in events. It never blocks.
func (n *Notifier) Notify(events uint32) { n.NotifySync(nil, events) }

// NotifySync is Notify from waker's syscall, waker being about to block
// or return (see WatchFunc): the watchers get waker, to wake their
// waiters synchronously. A nil waker makes it Notify. It never blocks.
func (n *Notifier) NotifySync(waker *kernel.Task, events uint32) {
	n.mu.Lock()
	if len(n.watchers) == 0 {
		n.mu.Unlock()
		return
	}
	// Most files have a watcher or two (an epoll interest, a poll): no
	// allocation per notification for those.
	var small [4]WatchFunc
	fns := small[:0]
	for _, w := range n.watchers {
		if w.mask&events != 0 {
			fns = append(fns, w.fn)
		}
	}
	n.mu.Unlock()
	for _, fn := range fns {
		fn(waker)
	}
}

// Watching returns the union of the watchers' masks (0: nobody watches).
func (n *Notifier) Watching() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	var m uint32
	for _, w := range n.watchers {
		m |= w.mask
	}
	return m
}

var nextAnonMinor atomic.Uint32

// NewAnonDev returns a fresh device number (major 0) for a filesystem with
// no backing device, as Linux's get_anon_bdev.
func NewAnonDev() (major, minor uint32) {
	return 0, 1000 + nextAnonMinor.Add(1)
}

// ValidName reports the error for a path component that cannot name a
// file: ENAMETOOLONG beyond 255 bytes.
func ValidName(name string) error {
	if len(name) > 255 {
		return unix.ENAMETOOLONG
	}
	return nil
}

// AnonInode is the inode behind an anonymous file (eventfd, epoll,
// signalfd, timerfd, inotify, pidfd, a seccomp listener), as Linux's
// anon_inodefs: one shared inode, mode 0600, on a device of its own.
type AnonInode struct{ major, minor uint32 }

// NewAnonInode returns an anonymous inode on a fresh device.
func NewAnonInode() AnonInode {
	major, minor := NewAnonDev()
	return AnonInode{major, minor}
}

// Stat is the inode's stat for a file created at created and owned by uid.
func (a AnonInode) Stat(created linux.StatxTimestamp, uid uint32) linux.Statx {
	return linux.Statx{
		Mask:     StatxBasic,
		Blksize:  4096,
		Nlink:    1,
		Mode:     0600,
		Ino:      1,
		UID:      uid,
		Atime:    created,
		Mtime:    created,
		Ctime:    created,
		DevMajor: a.major,
		DevMinor: a.minor,
	}
}
