package hostfs

import (
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
)

// Identity and host locks of host files.
//
// The sandbox's lock manager (sentry/fs/lock) decides conflicts between
// the sandbox's processes; for a volume's files it also takes the locks
// on the host (fs.HostLocks), so that a host process sharing the volume
// sees them and its own locks conflict with the sandbox's. The mirror is
// one host open file description of the file, the sentry's own, opened
// for the purpose: it holds the union of the sandbox's byte-range locks
// as OFD locks (which the host keeps per open file description, so the
// sentry's other descriptors of the file never release them) and the
// strongest of its flock locks as a flock. It is closed when the sandbox
// holds no lock on the file any more.
//
// Coherence with the host's writers follows NFS's rule for locks: before
// a host lock is weakened, what the sandbox wrote behind reaches the host
// file (flush), and after the sandbox took a lock the host did not hold,
// clean page-cache pages of the file that no mapping uses are dropped, so
// that reads see what a host process wrote under its own lock. Shared
// mappings are not invalidated (a database's -shm file shared by
// mmap between the host and the sandbox is not coherent).

// FileKey implements fs.Identified when the lookup recorded the host
// device and inode.
func (n *Node) FileKey() (fs.FileKey, bool) {
	if n.ino == 0 {
		return fs.FileKey{}, false
	}
	return fs.FileKey{Dev: n.dev, Ino: n.ino}, true
}

// FileKey implements fs.Identified: the open host file's device and
// inode.
func (f *File) FileKey() (fs.FileKey, bool) {
	dev, ino, ok := f.identity()
	return fs.FileKey{Dev: dev, Ino: ino}, ok
}

// HostLocks implements fs.HostLockable for the regular files of volumes
// (the root overlay's lower files are opened through the overlay, whose
// files do not mirror: the root is the sandbox's own copy). It opens a new host description of the same file, for
// reading and writing when the host allows it (write locks need it),
// checked to be the file f has open.
func (f *File) HostLocks() (fs.HostLocks, error) {
	fsys := f.node.fs
	dev, ino, ok := f.identity()
	if !ok {
		return nil, unix.ENOENT
	}
	acc := unix.O_RDWR
	if fsys.readOnly {
		acc = unix.O_RDONLY
	}
	fd, err := fsys.openRel(f.node.rel, acc|unix.O_NONBLOCK, 0)
	if err != nil && acc == unix.O_RDWR {
		fd, err = fsys.openRel(f.node.rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	}
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := retry(func() error { return unix.Fstat(fd, &st) }); err != nil || st.Dev != dev || st.Ino != ino {
		// The name now leads elsewhere (renamed or replaced since
		// the open): no host mirror.
		unix.Close(fd)
		return nil, unix.ENOENT
	}
	return &hostLocks{fs: fsys, fd: fd, dev: dev, ino: ino}, nil
}

// hostLocks is fs.HostLocks on one host descriptor.
type hostLocks struct {
	fs       *FS
	fd       int
	dev, ino uint64
}

// SetRange implements fs.HostLocks with F_OFD_SETLK.
func (h *hostLocks) SetRange(typ int16, start, end int64) error {
	fl := unix.Flock_t{Type: typ, Whence: unix.SEEK_SET, Start: start}
	if end != 1<<63-1 {
		fl.Len = end - start + 1
	}
	// A direct fcntl (unix.FcntlFlock's number is a variable, which the
	// seccomp allow-list's check of the binary cannot read).
	return retry(func() error {
		_, _, e := unix.Syscall(unix.SYS_FCNTL, uintptr(h.fd), unix.F_OFD_SETLK, uintptr(unsafe.Pointer(&fl)))
		if e != 0 {
			return e
		}
		return nil
	})
}

// Flock implements fs.HostLocks with flock(LOCK_NB).
func (h *hostLocks) Flock(typ int16) error {
	how := unix.LOCK_UN
	switch typ {
	case unix.F_RDLCK:
		how = unix.LOCK_SH | unix.LOCK_NB
	case unix.F_WRLCK:
		how = unix.LOCK_EX | unix.LOCK_NB
	}
	return retry(func() error { return unix.Flock(h.fd, how) })
}

// Acquired implements fs.HostLocks: clean cached pages no mapping uses
// are dropped.
func (h *hostLocks) Acquired() {
	if pageCache.Load() != nil {
		mm.FileInvalidate(h.dev, h.ino)
	}
}

// Releasing implements fs.HostLocks: the write-behind data of the file
// goes to the host first.
func (h *hostLocks) Releasing() {
	if w := h.fs.wb; w != nil && w.busy() {
		h.fs.flushFD(h.fd)
	}
}

// Close implements fs.HostLocks: closing the description drops its OFD
// locks and its flock on the host.
func (h *hostLocks) Close() {
	h.Releasing()
	unix.Close(h.fd)
}
