// Package fs is the contract between the sentry's virtual filesystem
// (package sentry/vfs: mounts, path resolution, open file descriptions, fd
// tables) and the filesystems below it (sentry/fs/hostfs, overlay, tmpfs,
// devfs, procfs, pipe, hostfd). A filesystem provides Nodes (what a path
// names) and Files (what an open(2) of a node returns); vfs walks paths
// through Directory.Lookup, follows Symlinks itself, and turns the results
// into file descriptions.
//
// Errors returned through these interfaces are Linux errnos (unix.Errno);
// vfs and the syscall layer pass them to the program unchanged.
//
// Blocking: only File.Read/Write and Node.Open (FIFOs) may block, and only
// through Context.Block, which releases the caller's sandbox CPU. No
// implementation may hold a Go mutex across Context.Block.
//
// Locking: this package owns no locks besides those inside its helpers
// (Notifier.mu, PositionalFile.mu), which are leaves.
package fs

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal"
)

// Creds are the caller's credentials: permission checks use the
// filesystem UID and GID, the supplementary groups and the effective
// capabilities (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
// CAP_CHOWN, CAP_FSETID). A nil *Creds is the sentry acting for itself,
// which passes every check.
type Creds = auth.Credentials

// Context is the caller of a filesystem operation.
type Context struct {
	// Task is the calling task; nil for sentry-internal calls (boot,
	// the ELF loader), which must not block.
	Task *kernel.Task
	// Creds are the caller's credentials (immutable); nil means the
	// sentry itself, which passes every permission check.
	Creds *Creds
	// Mem is the caller's memory (ioctl arguments); nil for internal
	// calls.
	Mem marshal.CopyContext
}

// Background is the context of the sentry acting for itself: root
// credentials, no task (operations that would block fail with EAGAIN).
var Background = &Context{}

// Waker returns the calling task for a synchronous wake-up
// (WaitQueue.NotifyAllSync: a reader or writer that will usually wait
// for the answer next), or nil for sentry-internal calls.
func (c *Context) Waker() *kernel.Task {
	if c == nil {
		return nil
	}
	return c.Task
}

// Block waits on q until cond is true, releasing the caller's CPU. It
// returns nil when cond is true, EINTR if the task was interrupted (a
// signal), and EAGAIN when there is no task to block. It blocks.
//
// Preconditions: no Go mutex is held by the caller.
func (c *Context) Block(q *kernel.WaitQueue, cond func() bool) error {
	return c.BlockTimeout(q, cond, kernel.Forever)
}

// BlockTimeout is Block with a timeout; it returns ETIMEDOUT when the
// timeout passed first.
func (c *Context) BlockTimeout(q *kernel.WaitQueue, cond func() bool, d time.Duration) error {
	if c == nil || c.Task == nil {
		if cond() {
			return nil
		}
		return unix.EAGAIN
	}
	err := q.Wait(c.Task, cond, kernel.WaitOpts{Timeout: d, Interruptible: true})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kernel.ErrInterrupted):
		return unix.EINTR
	case errors.Is(err, kernel.ErrTimedOut):
		return unix.ETIMEDOUT
	}
	if errno, ok := err.(unix.Errno); ok {
		return errno
	}
	return unix.EIO
}

// CopyOutArg copies b to the caller's memory at addr (an ioctl's
// argument). EFAULT if it cannot (or there is no caller memory).
func (c *Context) CopyOutArg(addr uintptr, b []byte) error {
	if c.Mem == nil {
		return unix.EFAULT
	}
	if _, err := c.Mem.CopyOutBytes(hostarch.Addr(addr), b); err != nil {
		return unix.EFAULT
	}
	return nil
}

// CopyInArg fills b from the caller's memory at addr. EFAULT if it cannot.
func (c *Context) CopyInArg(addr uintptr, b []byte) error {
	if c.Mem == nil {
		return unix.EFAULT
	}
	if _, err := c.Mem.CopyInBytes(hostarch.Addr(addr), b); err != nil {
		return unix.EFAULT
	}
	return nil
}

// PutIntArg stores v as a C int at addr (FIONREAD, TIOCGPGRP...).
func (c *Context) PutIntArg(addr uintptr, v int32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	return c.CopyOutArg(addr, b[:])
}

// IntArg reads a C int at addr.
func (c *Context) IntArg(addr uintptr) (int32, error) {
	var b [4]byte
	if err := c.CopyInArg(addr, b[:]); err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(b[:])), nil
}

// Node is a file in a filesystem: what a path names.
type Node interface {
	// Type returns the file type bits (S_IFMT of the mode). It never
	// changes during the node's life and never blocks.
	Type() uint32
	// Stat returns the node's attributes.
	Stat(ctx *Context) (linux.Statx, error)
	// Open opens the node. Directories are opened by vfs itself and
	// never reach Open; symlinks neither. flags are open(2)'s flags
	// (O_ACCMODE, O_TRUNC, O_NONBLOCK, ...). Open may block (FIFOs).
	Open(ctx *Context, flags uint32) (File, error)
}

// Dirent is one directory entry.
type Dirent struct {
	Name string
	// Type is the DT_* type.
	Type uint8
	Ino  uint64
}

// Directory is a node that holds named children.
type Directory interface {
	Node
	// Lookup returns the child called name (never "." or ".."), or
	// ENOENT.
	Lookup(ctx *Context, name string) (Node, error)
	// Readdir returns every entry except "." and "..", in a stable
	// order.
	Readdir(ctx *Context) ([]Dirent, error)
}

// DirectoryWriter is a directory whose entries can be changed. Modes have
// the umask applied already; the new file belongs to ctx.Creds. Names are
// single components, never "." or "..". vfs has checked the caller's
// write and search permission on the directory.
// Xattrer is a node with extended attributes. The VFS has checked the
// name's namespace and the caller's permission (vfs/xattr.go). GetXattr
// and RemoveXattr answer ENODATA for a missing name; SetXattr takes
// XATTR_CREATE (EEXIST if the name exists) and XATTR_REPLACE (ENODATA if
// it does not). A namespace the filesystem does not keep is EOPNOTSUPP.
// Nodes that are not Xattrers have none: get, set and remove answer
// EOPNOTSUPP, list nothing.
type Xattrer interface {
	GetXattr(ctx *Context, name string) ([]byte, error)
	SetXattr(ctx *Context, name string, value []byte, flags uint32) error
	ListXattr(ctx *Context) ([]string, error)
	RemoveXattr(ctx *Context, name string) error
}

// TmpfileCreator is a DirectoryWriter that makes unnamed files in itself
// (open with O_TMPFILE): a regular file with no link, open with flags,
// which linkat may give a name if linkable (O_TMPFILE without O_EXCL).
// Directories that are not TmpfileCreators answer EOPNOTSUPP.
type TmpfileCreator interface {
	CreateTmpfile(ctx *Context, mode uint32, flags uint32, linkable bool) (Node, File, error)
}

type DirectoryWriter interface {
	Directory
	// Create creates a regular file (EEXIST if name exists) and opens it
	// with flags without a permission check (open(O_CREAT) semantics).
	Create(ctx *Context, name string, mode uint32, flags uint32) (Node, File, error)
	// Mkdir creates a directory.
	Mkdir(ctx *Context, name string, mode uint32) error
	// Mknod creates a FIFO, socket, device or regular file (mode has the
	// type bits).
	Mknod(ctx *Context, name string, mode uint32, dev uint32) error
	// Symlink creates a symbolic link to target.
	Symlink(ctx *Context, name string, target string) error
	// Link creates a hard link to target, a node of the same mount
	// (EXDEV if the filesystem cannot link it).
	Link(ctx *Context, name string, target Node) error
	// Unlink removes a non-directory entry (EISDIR for a directory).
	Unlink(ctx *Context, name string) error
	// Rmdir removes an empty directory (ENOTDIR, ENOTEMPTY).
	Rmdir(ctx *Context, name string) error
	// Rename moves oldName to newDir/newName (newDir is on the same
	// mount; EXDEV if the filesystem cannot do it). flags are
	// renameat2's RENAME_NOREPLACE / RENAME_EXCHANGE.
	Rename(ctx *Context, oldName string, newDir Directory, newName string, flags uint32) error
}

// Symlink is a symbolic link node.
type Symlink interface {
	Node
	// Readlink returns the link's target.
	Readlink(ctx *Context) (string, error)
}

// SetStat is a change of attributes (chmod, chown, truncate, utimes).
type SetStat struct {
	// Mask says which fields apply: STATX_MODE, STATX_UID, STATX_GID,
	// STATX_SIZE, STATX_ATIME, STATX_MTIME.
	Mask  uint32
	Mode  uint32 // permission bits only (07777)
	UID   uint32
	GID   uint32
	Size  uint64
	Atime linux.StatxTimestamp
	Mtime linux.StatxTimestamp
}

// Attributer is a node whose attributes can change. vfs has checked
// ownership and permissions already.
type Attributer interface {
	SetStat(ctx *Context, s SetStat) error
}

// Filesystem is a mountable filesystem.
type Filesystem interface {
	// Root returns the filesystem's root directory.
	Root() Directory
	// Name returns the filesystem type as /proc/mounts shows it.
	Name() string
	// Statfs returns statfs(2)'s answer.
	Statfs(ctx *Context) (linux.Statfs, error)
}

// PageCacheCoherent is implemented by files that keep the page cache
// coherent themselves: every read goes through the cached pages that shared
// mappings use (or writes dirty ones back first) and every write updates
// them. The VFS then skips its own coherence work (mm.FileFlush before a
// read, mm.FileWritten after a write) for them.
type PageCacheCoherent interface {
	KeepsPageCacheCoherent() bool
}

// Filler is implemented by character devices whose reads never block and
// always fill the buffer (/dev/zero, /dev/urandom): a read(2) of them moves
// all that was asked, like a regular file's, not one chunk as a stream's.
type Filler interface {
	FillsReads()
}

// Discarder is implemented by character devices that accept every write
// whole and never look at the data (/dev/null, /dev/zero): write(2) to
// them returns the count without reading the caller's buffer, as Linux's
// write_null does, so the sentry does not copy it in either.
type Discarder interface {
	DiscardsWrites()
}

// File is an open file: what a file description does I/O through. Files
// keep their own position; fl are the description's status flags
// (O_NONBLOCK, O_APPEND) at the time of the call.
type File interface {
	// Read reads at the file's position and advances it. It may block
	// (pipes, terminals) unless fl has O_NONBLOCK (then EAGAIN).
	Read(ctx *Context, dst []byte, fl uint32) (int, error)
	// Write writes at the file's position (at the end with O_APPEND)
	// and advances it. Blocking files write everything before
	// returning unless interrupted.
	Write(ctx *Context, src []byte, fl uint32) (int, error)
	// ReadAt and WriteAt are pread/pwrite: ESPIPE for streams.
	ReadAt(ctx *Context, dst []byte, off int64) (int, error)
	WriteAt(ctx *Context, src []byte, off int64) (int, error)
	// Seek is lseek (ESPIPE for streams).
	Seek(ctx *Context, off int64, whence int) (int64, error)
	// Release is called once, when the last reference to the
	// description goes.
	Release()
}

// Ioctler is a file with ioctls beyond the generic ones vfs serves
// (FIONBIO, FIOCLEX...). Files without it answer ENOTTY.
type Ioctler interface {
	Ioctl(ctx *Context, cmd uint32, arg uintptr) (uintptr, error)
}

// Mapper is a file that can back a memory mapping. Files without it answer
// ENODEV.
type Mapper interface {
	Mappable() (mm.Mappable, error)
}

// Syncer is a file with something to flush (fsync).
type Syncer interface {
	Sync(ctx *Context) error
}

// Allocator is a file that supports fallocate.
type Allocator interface {
	Allocate(ctx *Context, mode uint32, off, length int64) error
}

// Sealable is an open file whose file has seals (tmpfs files and memfds):
// fcntl's F_GET_SEALS and F_ADD_SEALS (the caller checks that the
// description is writable). Files that are not Sealable answer EINVAL.
type Sealable interface {
	GetSeals() (uint32, error)
	AddSeals(seals uint32) error
}

// Statter is a file whose attributes come from the open file rather than
// its node (host stdio).
type Statter interface {
	Stat(ctx *Context) (linux.Statx, error)
}

// Truncater is a file that truncates through the open file (ftruncate)
// rather than its node.
type Truncater interface {
	Truncate(ctx *Context, size int64) error
}

// Waitable is a file that supports poll, select and epoll.
type Waitable interface {
	// Readiness returns the events of mask (POLLIN, POLLOUT, POLLHUP,
	// POLLERR...) that hold now. It never blocks.
	Readiness(mask uint32) uint32
	// Watch calls fn, from any goroutine and with no lock of the file
	// held, whenever the events of mask may have changed, until the
	// returned cancel is called. fn must not block.
	Watch(mask uint32, fn WatchFunc) (cancel func())
}

// WatchFunc is a Waitable's watch callback. waker is the task whose
// syscall changed the events when that task is about to block or return
// to its program (a writer that will wait for the answer: Linux's _sync
// wake-ups, as sock_def_readable and pipe_write make); a waiter woken on
// its behalf may be woken synchronously (kernel.WaitQueue.NotifyAllSync),
// to take the waker's CPU when it lets it go. waker is nil for every
// other change (timers, the host, the network stack, sentry-internal
// calls).
type WatchFunc func(waker *kernel.Task)

// PipeSizer is a pipe (F_GETPIPE_SZ / F_SETPIPE_SZ).
type PipeSizer interface {
	PipeSize() int
	SetPipeSize(n int) (int, error)
}

// FileType returns the DT_* type for a mode's S_IFMT bits.
func FileType(mode uint32) uint8 {
	return uint8((mode & unix.S_IFMT) >> 12)
}

// Now returns the current time as a statx timestamp.
func Now() linux.StatxTimestamp {
	return linux.NsecToStatxTimestamp(time.Now().UnixNano())
}

// HasPerm reports whether c may access a file with mode (type and
// permission bits), uid and gid for the access bits want (4 read, 2 write,
// 1 execute/search): Linux's generic_permission. The owner, group or other
// bits apply (the first class the caller is in, even if a later one would
// allow more); then capabilities override them: CAP_DAC_OVERRIDE allows
// everything but executing a file with no execute bit at all, and
// CAP_DAC_READ_SEARCH allows reading files and reading and searching
// directories.
func HasPerm(c *Creds, mode uint32, uid, gid uint32, want uint32) bool {
	if c == nil {
		return want&1 == 0 || mode&unix.S_IFMT == unix.S_IFDIR || mode&0111 != 0
	}
	var bits uint32
	switch {
	case c.FSUID == uid:
		bits = (mode >> 6) & 7
	case c.InGroup(gid):
		bits = (mode >> 3) & 7
	default:
		bits = mode & 7
	}
	if bits&want == want {
		return true
	}
	// Capabilities count over files whose owner and group are mapped
	// into the caller's user namespace (capable_wrt_inode_uidgid).
	if mode&unix.S_IFMT == unix.S_IFDIR {
		if want&2 == 0 && c.CapableOver(linux.CAP_DAC_READ_SEARCH, uid, gid) {
			return true
		}
		return c.CapableOver(linux.CAP_DAC_OVERRIDE, uid, gid)
	}
	if (want&1 == 0 || mode&0111 != 0) && c.CapableOver(linux.CAP_DAC_OVERRIDE, uid, gid) {
		return true
	}
	return want == 4 && c.CapableOver(linux.CAP_DAC_READ_SEARCH, uid, gid)
}

// LookupAttrs is a node that knows, without a Stat, the mode and owner
// its lookup saw: the path walk's search-permission check of a directory
// it has just looked up uses them (a hostfs Stat is three host calls per
// component). ok is false when the node cannot tell (then the walk calls
// Stat).
type LookupAttrs interface {
	LookupAttrs() (mode, uid, gid uint32, ok bool)
}

// MayBypassSearch reports whether c may search any directory whatever its
// mode (CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH): the path walk's fast
// path.
func MayBypassSearch(c *Creds) bool {
	return c == nil || c.HasCapability(linux.CAP_DAC_READ_SEARCH) || c.HasCapability(linux.CAP_DAC_OVERRIDE)
}

// StatxFromUnix converts a host statx result.
func StatxFromUnix(s *unix.Statx_t) linux.Statx {
	ts := func(t unix.StatxTimestamp) linux.StatxTimestamp {
		return linux.StatxTimestamp{Sec: t.Sec, Nsec: t.Nsec}
	}
	return linux.Statx{
		Mask:           s.Mask,
		Blksize:        s.Blksize,
		Attributes:     s.Attributes,
		Nlink:          s.Nlink,
		UID:            s.Uid,
		GID:            s.Gid,
		Mode:           s.Mode,
		Ino:            s.Ino,
		Size:           s.Size,
		Blocks:         s.Blocks,
		AttributesMask: s.Attributes_mask,
		Atime:          ts(s.Atime),
		Btime:          ts(s.Btime),
		Ctime:          ts(s.Ctime),
		Mtime:          ts(s.Mtime),
		RdevMajor:      s.Rdev_major,
		RdevMinor:      s.Rdev_minor,
		DevMajor:       s.Dev_major,
		DevMinor:       s.Dev_minor,
	}
}

// StatFromStatx converts to struct stat.
func StatFromStatx(sx *linux.Statx) linux.Stat {
	ts := func(t linux.StatxTimestamp) linux.Timespec {
		return linux.Timespec{Sec: t.Sec, Nsec: int64(t.Nsec)}
	}
	return linux.Stat{
		Dev:     unix.Mkdev(sx.DevMajor, sx.DevMinor),
		Ino:     sx.Ino,
		Nlink:   uint64(sx.Nlink),
		Mode:    uint32(sx.Mode),
		UID:     sx.UID,
		GID:     sx.GID,
		Rdev:    unix.Mkdev(sx.RdevMajor, sx.RdevMinor),
		Size:    int64(sx.Size),
		Blksize: int64(sx.Blksize),
		Blocks:  int64(sx.Blocks),
		ATime:   ts(sx.Atime),
		MTime:   ts(sx.Mtime),
		CTime:   ts(sx.Ctime),
	}
}

// StatxBasic is the mask of fields every synthetic Stat fills.
const StatxBasic = linux.STATX_BASIC_STATS

// FileKey identifies a file (an inode) whatever node, layer or open
// description reaches it: its device and inode numbers as stat reports
// them. An overlay's copy keeps the lower file's key (the copy-up keeps
// its identity), so record locks and inotify watches follow a file across
// its copy-up, and a volume file reached twice is one file.
type FileKey struct {
	Dev, Ino uint64
}

// KeyFromStatx returns the key of the file st describes.
func KeyFromStatx(st *linux.Statx) FileKey {
	return FileKey{Dev: unix.Mkdev(st.DevMajor, st.DevMinor), Ino: st.Ino}
}

// Identified is a node or open file that knows its key without a host
// call (hostfs records it at lookup, tmpfs holds it). ok is false when it
// cannot tell; the caller then asks Stat.
type Identified interface {
	FileKey() (k FileKey, ok bool)
}

// NodeKey returns the key of node: through Identified when it can, else
// from a Stat.
func NodeKey(ctx *Context, node Node) (FileKey, error) {
	if id, ok := node.(Identified); ok {
		if k, ok := id.FileKey(); ok {
			return k, nil
		}
	}
	st, err := node.Stat(ctx)
	if err != nil {
		return FileKey{}, err
	}
	return KeyFromStatx(&st), nil
}

// HostLocks mirrors the record locks and flock locks the sandbox holds on
// one host file (a volume's) to the host, so that host processes sharing
// the volume see them: one host open file description holds, as OFD
// locks, the union of the sandbox's byte-range locks and, as a flock, the
// strongest of its flock locks. The sandbox's lock manager (package
// sentry/fs/lock) decides every conflict between the sandbox's own
// processes; the host only says whether a host process holds a
// conflicting lock. No method blocks.
type HostLocks interface {
	// SetRange makes the host lock of [start, end] (inclusive; end
	// MaxInt64 is "to end of file") typ: F_RDLCK, F_WRLCK or F_UNLCK.
	// EAGAIN when a host process holds a conflicting lock.
	SetRange(typ int16, start, end int64) error
	// Flock makes the host flock typ (F_RDLCK shared, F_WRLCK
	// exclusive, F_UNLCK none). EAGAIN on a conflict.
	Flock(typ int16) error
	// Acquired is called after the sandbox took a lock the host did not
	// hold before: what the page cache holds of the file may be stale
	// (a host process may have written under its own lock).
	Acquired()
	// Releasing is called before a host lock is dropped or weakened:
	// data the sandbox wrote behind must reach the host first.
	Releasing()
	// Close drops every host lock (no sandbox lock is left on the file).
	Close()
}

// HostLockable is an open file whose locks are also taken on the host
// (a volume's regular files).
type HostLockable interface {
	// HostLocks returns a new mirror of the file's locks on the host.
	HostLocks() (HostLocks, error)
}

// FDInfoer is a file with lines of its own in /proc/PID/fdinfo/N after
// the common ones (an inotify instance's watches, an eventfd's count).
type FDInfoer interface {
	FDInfo() string
}
