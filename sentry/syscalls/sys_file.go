package syscalls

import (
	"encoding/binary"
	"io"
	"strconv"
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devpts"
	"github.com/runsc-lite/runsc-lite/sentry/fs/mqueue"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/seccomp"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// File I/O and descriptor syscalls: read/write and their vector and
// positional forms, lseek, open/close, dup, fcntl, ioctl, pipes,
// sendfile and copy_file_range. Data moves between application memory and
// files through bounded chunks (ioChunk bytes), never a buffer of the
// requested size.

// ioChunk is the most data moved per step of a read or write.
const ioChunk = 64 << 10

// maxRWCount is Linux's MAX_RW_COUNT: larger requests are clamped.
const maxRWCount = usermem.MaxRWCount

var chunkPool = sync.Pool{New: func() any { b := make([]byte, ioChunk); return &b }}

// fsContext returns the filesystem view of the calling thread: its task,
// credentials (a snapshot: a set*id by another thread during the call does
// not change them halfway) and memory.
func fsContext(t *process.Thread) *fs.Context {
	return &fs.Context{Task: t.Task, Mem: t, Creds: t.Credentials()}
}

// getFile returns the description of fd with a reference (DecRef it).
func getFile(t *process.Thread, fd int32) (*vfs.FileDescription, error) {
	f, err := t.FDs.Get(fd)
	if err != nil {
		return nil, unix.EBADF
	}
	return f, nil
}

// installFile puts f in the thread's table at the lowest free number
// under RLIMIT_NOFILE.
func installFile(t *process.Thread, f *vfs.FileDescription, cloexec bool) (uintptr, error) {
	syncNoFile(t)
	fd, err := t.FDs.Install(f, cloexec)
	if err == unix.EINVAL {
		err = unix.EMFILE
	}
	return uintptr(fd), err
}

// syncNoFile applies the process's RLIMIT_NOFILE to its table.
func syncNoFile(t *process.Thread) {
	if t.TG != nil && t.TG.Limits != nil {
		t.FDs.SetLimit(t.TG.Limits.Get(unix.RLIMIT_NOFILE).Cur)
	}
}

// isStream reports whether a read should stop after the first data (pipes,
// terminals, sockets, character devices): another read could block.
func isStream(f *vfs.FileDescription) bool {
	if _, fills := f.Impl().(fs.Filler); fills {
		return false
	}
	return f.Node().Type() != unix.S_IFREG && f.Node().Type() != unix.S_IFBLK
}

// readToUser reads into the iovecs through fn(buf, done) in chunks.
// Streams are read once (up to one chunk).
func readToUser(t *process.Thread, iovs []usermem.IOVec, stream bool, fn func(buf []byte, done int64) (int, error)) (uintptr, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var done int64
	for _, iov := range iovs {
		for off := 0; off < iov.Len; {
			n := min(ioChunk, iov.Len-off)
			// Read only what the buffer can take, so a bad buffer
			// consumes nothing (Linux advances the position only by
			// what it copied).
			if ok := t.MM().Accessible(iov.Base+uintptr(off), n, true); ok < n {
				if ok == 0 {
					if done > 0 {
						return uintptr(done), nil
					}
					return 0, unix.EFAULT
				}
				n = ok
			}
			k, err := fn(buf[:n], done)
			if k > 0 {
				if _, cerr := t.CopyOutBytes(hostarch.Addr(iov.Base+uintptr(off)), buf[:k]); cerr != nil {
					if done > 0 {
						return uintptr(done), nil
					}
					return 0, unix.EFAULT
				}
				done += int64(k)
				off += k
			}
			if err != nil {
				if done > 0 {
					return uintptr(done), nil
				}
				return 0, err
			}
			if k < n || stream {
				return uintptr(done), nil
			}
		}
	}
	return uintptr(done), nil
}

// writeFromUser writes the iovecs through fn(buf, done) in chunks.
func writeFromUser(t *process.Thread, iovs []usermem.IOVec, fn func(buf []byte, done int64) (int, error)) (uintptr, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var done int64
	for _, iov := range iovs {
		for off := 0; off < iov.Len; {
			n := min(ioChunk, iov.Len-off)
			if _, err := t.CopyInBytes(hostarch.Addr(iov.Base+uintptr(off)), buf[:n]); err != nil {
				if done > 0 {
					return uintptr(done), nil
				}
				return 0, unix.EFAULT
			}
			k, err := fn(buf[:n], done)
			done += int64(k)
			off += k
			if err != nil {
				if done > 0 {
					return uintptr(done), nil
				}
				return 0, err
			}
			if k < n {
				return uintptr(done), nil
			}
		}
	}
	return uintptr(done), nil
}

// raiseSIGPIPE applies SIGPIPE to the caller after a write failed with
// EPIPE.
func raiseSIGPIPE(t *process.Thread, err error) error {
	if err == unix.EPIPE {
		sendSignal(t, t.TG, int(unix.SIGPIPE))
	}
	return err
}

func oneIovec(addr uintptr, count uintptr) []usermem.IOVec {
	if count > maxRWCount {
		count = maxRWCount
	}
	return []usermem.IOVec{{Base: addr, Len: int(count)}}
}

func Read(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return doRead(t, f, oneIovec(a.Ptr(1), a[2]))
}

func doRead(t *process.Thread, f *vfs.FileDescription, iovs []usermem.IOVec) (uintptr, error) {
	if !f.Readable() {
		return 0, unix.EBADF
	}
	if f.IsDir() {
		return 0, unix.EISDIR
	}
	if sf := socket.FromDescription(f); sf != nil {
		// A socket's read takes one whole message however many
		// iovecs it spans.
		return sockRead(t, f, sf, iovs)
	}
	ctx := fsContext(t)
	return readToUser(t, iovs, isStream(f), func(buf []byte, _ int64) (int, error) {
		return f.Read(ctx, buf)
	})
}

func Write(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if discards(f) && f.Writable() {
		// Linux's vfs_write checks the whole range before clamping.
		if !usermem.AccessOK(a.Ptr(1), a[2]) {
			return 0, unix.EFAULT
		}
		n, err := f.Discard(int64(min(a[2], maxRWCount)))
		return uintptr(n), err
	}
	return doWrite(t, f, oneIovec(a.Ptr(1), a[2]))
}

// discards reports whether writes to f are accepted unread (/dev/null):
// the data is not copied in, as Linux's write_null never reads it.
func discards(f *vfs.FileDescription) bool {
	_, ok := f.Impl().(fs.Discarder)
	return ok
}

// discardWrite is doWrite for a file that discards its data: like
// Linux's import_iovec, it fails with EFAULT only for an iovec outside
// the user address range, and never reads the data.
func discardWrite(f *vfs.FileDescription, iovs []usermem.IOVec) (uintptr, error) {
	var total int64
	for _, iov := range iovs {
		if !usermem.AccessOK(iov.Base, uintptr(iov.Len)) {
			return 0, unix.EFAULT
		}
		total += int64(iov.Len)
	}
	n, err := f.Discard(total)
	return uintptr(n), err
}

func doWrite(t *process.Thread, f *vfs.FileDescription, iovs []usermem.IOVec) (uintptr, error) {
	if !f.Writable() {
		return 0, unix.EBADF
	}
	if sf := socket.FromDescription(f); sf != nil {
		// One message per write; the family raises SIGPIPE itself.
		return sockWrite(t, f, sf, iovs)
	}
	if discards(f) {
		return discardWrite(f, iovs)
	}
	ctx := fsContext(t)
	n, err := writeFromUser(t, iovs, func(buf []byte, _ int64) (int, error) {
		return f.Write(ctx, buf)
	})
	return n, raiseSIGPIPE(t, err)
}

func Pread64(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return doPread(t, f, oneIovec(a.Ptr(1), a[2]), a.Int64(3))
}

func doPread(t *process.Thread, f *vfs.FileDescription, iovs []usermem.IOVec, off int64) (uintptr, error) {
	if !f.Readable() {
		return 0, unix.EBADF
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	if isStream(f) && !f.IsDir() {
		return 0, unix.ESPIPE
	}
	ctx := fsContext(t)
	return readToUser(t, iovs, false, func(buf []byte, done int64) (int, error) {
		return f.PRead(ctx, buf, off+done)
	})
}

func Pwrite64(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return doPwrite(t, f, oneIovec(a.Ptr(1), a[2]), a.Int64(3))
}

func doPwrite(t *process.Thread, f *vfs.FileDescription, iovs []usermem.IOVec, off int64) (uintptr, error) {
	if !f.Writable() {
		return 0, unix.EBADF
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	if isStream(f) {
		return 0, unix.ESPIPE
	}
	ctx := fsContext(t)
	n, err := writeFromUser(t, iovs, func(buf []byte, done int64) (int, error) {
		return f.PWrite(ctx, buf, off+done)
	})
	return n, raiseSIGPIPE(t, err)
}

func vectorArgs(t *process.Thread, a arch.SyscallArguments) (*vfs.FileDescription, []usermem.IOVec, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return nil, nil, err
	}
	iovs, err := usermem.CopyInIOVecs(t, a.Ptr(1), int(a.Int(2)))
	if err != nil {
		f.DecRef()
		return nil, nil, err
	}
	return f, iovs, nil
}

func Readv(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, iovs, err := vectorArgs(t, a)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return doRead(t, f, iovs)
}

func Writev(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, iovs, err := vectorArgs(t, a)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return doWrite(t, f, iovs)
}

func Preadv(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, iovs, err := vectorArgs(t, a)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return doPread(t, f, iovs, a.Int64(3))
}

func Pwritev(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, iovs, err := vectorArgs(t, a)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return doPwrite(t, f, iovs, a.Int64(3))
}

// rwf flags of preadv2/pwritev2.
const (
	rwfHipri  = 0x1
	rwfDsync  = 0x2
	rwfSync   = 0x4
	rwfNowait = 0x8
	rwfAppend = 0x10
)

func Preadv2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a.Int(5)&^(rwfHipri|rwfDsync|rwfSync|rwfNowait|rwfAppend) != 0 {
		return 0, unix.EOPNOTSUPP
	}
	f, iovs, err := vectorArgs(t, a)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if off := a.Int64(3); off != -1 {
		return doPread(t, f, iovs, off)
	}
	return doRead(t, f, iovs)
}

func Pwritev2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a.Int(5)&^(rwfHipri|rwfDsync|rwfSync|rwfNowait|rwfAppend) != 0 {
		return 0, unix.EOPNOTSUPP
	}
	f, iovs, err := vectorArgs(t, a)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if off := a.Int64(3); off != -1 && a.Int(5)&rwfAppend == 0 {
		return doPwrite(t, f, iovs, off)
	}
	return doWrite(t, f, iovs)
}

func Lseek(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	whence := int(a.Int(2))
	if whence < unix.SEEK_SET || whence > unix.SEEK_HOLE {
		return 0, unix.EINVAL
	}
	off, err := f.Seek(fsContext(t), a.Int64(1), whence)
	return uintptr(off), err
}

// Opening files.

// copyInPath reads a path argument: EFAULT for a bad pointer,
// ENAMETOOLONG for PATH_MAX bytes or more.
func copyInPath(t *process.Thread, addr uintptr) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	s, err := t.CopyInString(addr, unix.PathMax-1)
	if err == unix.ENAMETOOLONG {
		return "", unix.ENAMETOOLONG
	}
	if err != nil {
		return "", unix.EFAULT
	}
	return s, nil
}

// startLocation returns where a relative path starts: the cwd for
// AT_FDCWD, else dirfd's directory (ENOTDIR if it is not one).
func startLocation(t *process.Thread, dirfd int32, p string) (vfs.Location, error) {
	if len(p) > 0 && p[0] == '/' {
		return t.FS.Root(), nil
	}
	if dirfd == unix.AT_FDCWD {
		return t.FS.Cwd(), nil
	}
	f, err := getFile(t, dirfd)
	if err != nil {
		return vfs.Location{}, err
	}
	defer f.DecRef()
	loc := f.Location()
	if loc.Node.Type() != unix.S_IFDIR {
		return vfs.Location{}, unix.ENOTDIR
	}
	return loc, nil
}

// validOpenFlags are the flags open accepts (others are ignored by Linux
// except where checked).
const openCreateMask = unix.O_CREAT | unix.O_TMPFILE

func openAt(t *process.Thread, dirfd int32, pathAddr uintptr, flags, mode uint32) (uintptr, error) {
	p, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	if flags&openCreateMask == 0 {
		mode = 0
	}
	start, err := startLocation(t, dirfd, p)
	if err != nil {
		return 0, err
	}
	ctx := fsContext(t)
	f, err := t.FS.VFS().OpenAt(ctx, t.FS, start, p, flags, mode)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return installFile(t, f, flags&unix.O_CLOEXEC != 0)
}

func Open(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return openAt(t, unix.AT_FDCWD, a.Ptr(0), a.Uint(1), a.Uint(2))
}

func Openat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return openAt(t, a.Int(0), a.Ptr(1), a.Uint(2), a.Uint(3))
}

func Creat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return openAt(t, unix.AT_FDCWD, a.Ptr(0), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, a.Uint(1))
}

func Openat2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	dirfd, pathAddr, howAddr, size := a.Int(0), a.Ptr(1), a.Ptr(2), a[3]
	if size < linux.OPEN_HOW_SIZE_VER0 {
		return 0, unix.EINVAL
	}
	if size > 4096 {
		return 0, unix.E2BIG
	}
	raw := make([]byte, size)
	if _, err := t.CopyInBytes(hostarch.Addr(howAddr), raw); err != nil {
		return 0, unix.EFAULT
	}
	for _, b := range raw[linux.OPEN_HOW_SIZE_VER0:] {
		if b != 0 {
			return 0, unix.E2BIG
		}
	}
	flags := binary.LittleEndian.Uint64(raw[0:])
	mode := binary.LittleEndian.Uint64(raw[8:])
	resolve := binary.LittleEndian.Uint64(raw[16:])
	if flags&^uint64(linux.ValidOpenFlags) != 0 || flags > 0xffffffff {
		return 0, unix.EINVAL
	}
	if flags&openCreateMask == 0 && mode != 0 || mode&^07777 != 0 {
		return 0, unix.EINVAL
	}
	const knownResolve = unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS |
		unix.RESOLVE_BENEATH | unix.RESOLVE_IN_ROOT | linux.RESOLVE_CACHED
	if resolve&^knownResolve != 0 {
		return 0, unix.EINVAL
	}
	if resolve&unix.RESOLVE_BENEATH != 0 && resolve&unix.RESOLVE_IN_ROOT != 0 {
		return 0, unix.EINVAL
	}
	if resolve&linux.RESOLVE_CACHED != 0 {
		return 0, unix.EAGAIN
	}
	if resolve&(unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT) == 0 {
		return openAt(t, dirfd, pathAddr, uint32(flags), uint32(mode))
	}
	// Resolve with the start directory as the root.
	p, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	var start vfs.Location
	if dirfd == unix.AT_FDCWD {
		start = t.FS.Cwd()
	} else if start, err = startLocation(t, dirfd, "."); err != nil {
		return 0, err
	}
	if resolve&unix.RESOLVE_BENEATH != 0 && len(p) > 0 && p[0] == '/' {
		return 0, unix.EXDEV
	}
	fsc := t.FS.Fork()
	fsc.SetRoot(start)
	f, err := t.FS.VFS().OpenAt(fsContext(t), fsc, start, p, uint32(flags), uint32(mode))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return installFile(t, f, flags&unix.O_CLOEXEC != 0)
}

func Close(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fd := a.Int(0)
	if f, err := t.FDs.Get(fd); err == nil {
		// A POSIX message queue forgets the closing process's
		// mq_notify registration (mqueue_flush_file).
		if mf, ok := f.Impl().(*mqueue.File); ok {
			mf.Queue().Flush(t.TG.TGID())
		}
		f.DecRef()
	}
	return 0, t.FDs.Remove(fd)
}

func CloseRange(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	first, last, flags := a.Uint(0), a.Uint(1), a.Uint(2)
	const closeRangeUnshare, closeRangeCloexec = 2, 4
	if flags&^(closeRangeUnshare|closeRangeCloexec) != 0 || first > last {
		return 0, unix.EINVAL
	}
	t.FDs.CloseRange(first, last, flags&closeRangeCloexec != 0)
	return 0, nil
}

func Dup(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return installFile(t, f, false)
}

func dupTo(t *process.Thread, oldfd, newfd int32, cloexec bool) (uintptr, error) {
	f, err := getFile(t, oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	syncNoFile(t)
	if err := t.FDs.InstallAt(newfd, f, cloexec); err != nil {
		return 0, err
	}
	return uintptr(newfd), nil
}

func Dup2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	oldfd, newfd := a.Int(0), a.Int(1)
	if oldfd == newfd {
		f, err := getFile(t, oldfd)
		if err != nil {
			return 0, err
		}
		f.DecRef()
		return uintptr(newfd), nil
	}
	return dupTo(t, oldfd, newfd, false)
}

func Dup3(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	oldfd, newfd, flags := a.Int(0), a.Int(1), a.Uint(2)
	if flags&^unix.O_CLOEXEC != 0 || oldfd == newfd {
		return 0, unix.EINVAL
	}
	return dupTo(t, oldfd, newfd, flags&unix.O_CLOEXEC != 0)
}

// fcntl commands without a constant in x/sys.
const (
	fSetPipeSz = 1031
	fGetPipeSz = 1032
	fAddSeals  = 1033
	fGetSeals  = 1034
	fOFDGetlk  = 36
	fOFDSetlk  = 37
	fOFDSetlkw = 38
)

func Fcntl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fd, cmd, arg := a.Int(0), a.Int(1), a[2]
	f, cloexec, err := t.FDs.GetWithFlags(fd)
	if err != nil {
		return 0, unix.EBADF
	}
	defer f.DecRef()
	if f.IsPath() {
		switch cmd {
		case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_GETFD, unix.F_SETFD, unix.F_GETFL:
		default:
			return 0, unix.EBADF
		}
	}
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		syncNoFile(t)
		nfd, err := t.FDs.InstallFrom(int32(arg), f, cmd == unix.F_DUPFD_CLOEXEC)
		return uintptr(nfd), err
	case unix.F_GETFD:
		if cloexec {
			return unix.FD_CLOEXEC, nil
		}
		return 0, nil
	case unix.F_SETFD:
		return 0, t.FDs.SetCloexec(fd, arg&unix.FD_CLOEXEC != 0)
	case unix.F_GETFL:
		return uintptr(f.Flags()), nil
	case unix.F_SETFL:
		f.SetFlags(uint32(arg))
		return 0, nil
	case unix.F_GETLK, unix.F_SETLK, unix.F_SETLKW, fOFDGetlk, fOFDSetlk, fOFDSetlkw:
		return 0, fcntlLock(t, f, cmd, arg)
	case unix.F_GETOWN, unix.F_GETSIG:
		return 0, nil
	case unix.F_SETOWN, unix.F_SETSIG:
		return 0, nil
	case unix.F_GETOWN_EX, unix.F_SETOWN_EX:
		if cmd == unix.F_GETOWN_EX {
			var b [8]byte
			if _, err := t.CopyOutBytes(hostarch.Addr(arg), b[:]); err != nil {
				return 0, unix.EFAULT
			}
		}
		return 0, nil
	case unix.F_GETLEASE:
		return unix.F_UNLCK, nil
	case unix.F_SETLEASE, unix.F_NOTIFY:
		return 0, nil
	case fGetPipeSz:
		p := f.PipeSizer()
		if p == nil {
			return 0, unix.EBADF
		}
		return uintptr(p.PipeSize()), nil
	case fSetPipeSz:
		p := f.PipeSizer()
		if p == nil {
			return 0, unix.EBADF
		}
		n, err := p.SetPipeSize(int(uint32(arg)))
		return uintptr(n), err
	case fGetSeals:
		s, ok := f.Impl().(fs.Sealable)
		if !ok {
			return 0, unix.EINVAL
		}
		seals, err := s.GetSeals()
		return uintptr(seals), err
	case fAddSeals:
		// memfd_add_seals: EPERM for a description that cannot write,
		// whatever the file; EINVAL for a file without seals.
		if !f.Writable() {
			return 0, unix.EPERM
		}
		s, ok := f.Impl().(fs.Sealable)
		if !ok {
			return 0, unix.EINVAL
		}
		return 0, s.AddSeals(uint32(arg))
	}
	return 0, unix.EINVAL
}

func Ioctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fd, cmd, arg := a.Int(0), a.Uint(1), a.Ptr(2)
	f, err := getFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	switch cmd {
	case linux.FIOCLEX:
		return 0, t.FDs.SetCloexec(fd, true)
	case linux.FIONCLEX:
		return 0, t.FDs.SetCloexec(fd, false)
	case linux.FIONBIO, linux.FIOASYNC:
		var b [4]byte
		if _, err := t.CopyInBytes(hostarch.Addr(arg), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		flag := uint32(unix.O_NONBLOCK)
		if cmd == linux.FIOASYNC {
			flag = unix.O_ASYNC
		}
		fl := f.Flags()
		if binary.LittleEndian.Uint32(b[:]) != 0 {
			fl |= flag
		} else {
			fl &^= flag
		}
		f.SetFlags(fl)
		return 0, nil
	case seccomp.IoctlNotifAddFD:
		if l, ok := f.Impl().(*seccomp.Listener); ok {
			return seccompAddFD(t, l, arg)
		}
	case linux.TIOCGPTPEER:
		if m, ok := f.Impl().(*devpts.MasterFile); ok {
			return openPTYPeer(t, m, uint32(arg))
		}
		if _, ok := f.Impl().(*devpts.ReplicaFile); ok {
			return 0, unix.EIO
		}
	case linux.FIONREAD:
		if f.Node().Type() == unix.S_IFREG {
			ctx := fsContext(t)
			st, err := f.Stat(ctx)
			if err != nil {
				return 0, err
			}
			pos, err := f.Seek(ctx, 0, unix.SEEK_CUR)
			if err != nil {
				pos = 0
			}
			n := int64(st.Size) - pos
			if n < 0 {
				n = 0
			}
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(min(n, 1<<31-1)))
			if _, err := t.CopyOutBytes(hostarch.Addr(arg), b[:]); err != nil {
				return 0, unix.EFAULT
			}
			return 0, nil
		}
	}
	return f.Ioctl(fsContext(t), cmd, arg)
}

// openPTYPeer is TIOCGPTPEER: a new description of the master's replica,
// opened through the master's own devpts rather than a path (so a
// chroot or a renamed /dev cannot make it open another terminal), and
// installed as a new descriptor.
func openPTYPeer(t *process.Thread, m *devpts.MasterFile, flags uint32) (uintptr, error) {
	flags &= unix.O_ACCMODE | unix.O_NOCTTY | unix.O_NONBLOCK | unix.O_CLOEXEC
	fsys, node := m.Peer()
	loc, err := t.FS.Namespace().LocationIn(fsys, strconv.FormatUint(uint64(m.Terminal().Index()), 10), node)
	if err != nil {
		return 0, unix.EIO
	}
	d, err := t.S.VFS.Open(fsContext(t), loc, flags&^unix.O_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer d.DecRef()
	return installFile(t, d, flags&unix.O_CLOEXEC != 0)
}

// Pipes.

func Pipe(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return 0, doPipe(t, a.Ptr(0), 0)
}

func Pipe2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Uint(1)
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return 0, unix.EINVAL
	}
	return 0, doPipe(t, a.Ptr(0), flags)
}

func doPipe(t *process.Thread, addr uintptr, flags uint32) error {
	r, w := vfs.NewPipe(fsContext(t), flags)
	defer r.DecRef()
	defer w.DecRef()
	cloexec := flags&unix.O_CLOEXEC != 0
	rfd, err := installFile(t, r, cloexec)
	if err != nil {
		return err
	}
	wfd, err := installFile(t, w, cloexec)
	if err != nil {
		t.FDs.Remove(int32(rfd))
		return err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(rfd))
	binary.LittleEndian.PutUint32(b[4:], uint32(wfd))
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), b[:]); err != nil {
		t.FDs.Remove(int32(rfd))
		t.FDs.Remove(int32(wfd))
		return unix.EFAULT
	}
	return nil
}

// Copies between files.

// copyBetween moves up to count bytes from read to write in chunks,
// stopping at a short read or write. It returns the bytes written.
func copyBetween(count int64, read func(buf []byte, done int64) (int, error), write func(buf []byte, done int64) (int, error)) (int64, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var done int64
	for done < count {
		n := int(min(int64(ioChunk), count-done))
		k, err := read(buf[:n], done)
		if k > 0 {
			w, werr := write(buf[:k], done)
			done += int64(w)
			if werr != nil {
				if done > 0 {
					return done, nil
				}
				return 0, werr
			}
			if w < k {
				return done, nil
			}
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		if k < n {
			break
		}
	}
	return done, nil
}

func copyInInt64(t *process.Thread, addr uintptr) (int64, error) {
	var b [8]byte
	if _, err := t.CopyInBytes(hostarch.Addr(addr), b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}

func copyOutInt64(t *process.Thread, addr uintptr, v int64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), b[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// getReadWrite returns the files of descriptors inFD, open for reading,
// and outFD, open for writing (EBADF otherwise), for the calls that move
// data from one to the other (sendfile, copy_file_range, splice, tee).
// The caller drops both references.
func getReadWrite(t *process.Thread, inFD, outFD int32) (in, out *vfs.FileDescription, err error) {
	if in, err = getFile(t, inFD); err != nil {
		return nil, nil, err
	}
	if out, err = getFile(t, outFD); err != nil {
		in.DecRef()
		return nil, nil, err
	}
	if in.IsPath() || out.IsPath() || !in.Readable() || !out.Writable() {
		in.DecRef()
		out.DecRef()
		return nil, nil, unix.EBADF
	}
	return in, out, nil
}

func Sendfile(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	outFD, inFD, offAddr, count := a.Int(0), a.Int(1), a.Ptr(2), int64(a[3])
	in, out, err := getReadWrite(t, inFD, outFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	defer out.DecRef()
	if in.IsDir() || out.Flags()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	if pipeEnd(in) != nil {
		// A pipe cannot be spliced from by sendfile (no splice_read):
		// Go's io.Copy relies on this EINVAL to fall back to splice.
		return 0, unix.EINVAL
	}
	if count < 0 {
		return 0, unix.EINVAL
	}
	count = min(count, maxRWCount)
	ctx := fsContext(t)
	write := func(buf []byte, _ int64) (int, error) { return out.Write(ctx, buf) }
	if offAddr == 0 {
		if !isStream(in) {
			// Linux moves the file's position by what the output took:
			// bytes read that a full non-blocking socket refused are
			// sent next time (read at the position, then seek), not
			// lost, and nothing taken at all is EAGAIN, not 0 (which
			// callers take for end of file).
			if pos, err := in.Seek(ctx, 0, unix.SEEK_CUR); err == nil {
				n, err := copyBetween(count, func(buf []byte, done int64) (int, error) { return in.PRead(ctx, buf, pos+done) }, write)
				if n > 0 {
					if _, serr := in.Seek(ctx, pos+n, unix.SEEK_SET); serr != nil {
						return 0, serr
					}
				}
				return uintptr(n), raiseSIGPIPE(t, err)
			}
		}
		n, err := copyBetween(count, func(buf []byte, _ int64) (int, error) { return in.Read(ctx, buf) }, write)
		return uintptr(n), raiseSIGPIPE(t, err)
	}
	off, err := copyInInt64(t, offAddr)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	if isStream(in) {
		return 0, unix.ESPIPE
	}
	n, err := copyBetween(count, func(buf []byte, done int64) (int, error) { return in.PRead(ctx, buf, off+done) }, write)
	if err != nil {
		return 0, raiseSIGPIPE(t, err)
	}
	if err := copyOutInt64(t, offAddr, off+n); err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

func CopyFileRange(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	inFD, inOffAddr, outFD, outOffAddr, count, flags := a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), int64(a[4]), a.Uint(5)
	if flags != 0 {
		return 0, unix.EINVAL
	}
	in, out, err := getReadWrite(t, inFD, outFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	defer out.DecRef()
	if out.Flags()&unix.O_APPEND != 0 {
		return 0, unix.EBADF
	}
	if in.IsDir() || out.IsDir() {
		return 0, unix.EISDIR
	}
	if in.Node().Type() != unix.S_IFREG || out.Node().Type() != unix.S_IFREG {
		return 0, unix.EINVAL
	}
	if count < 0 {
		return 0, unix.EINVAL
	}
	count = min(count, maxRWCount)
	ctx := fsContext(t)
	read := func(buf []byte, _ int64) (int, error) { return in.Read(ctx, buf) }
	var inOff, outOff int64
	if inOffAddr != 0 {
		if inOff, err = copyInInt64(t, inOffAddr); err != nil {
			return 0, err
		}
		if inOff < 0 {
			return 0, unix.EINVAL
		}
		read = func(buf []byte, done int64) (int, error) { return in.PRead(ctx, buf, inOff+done) }
	}
	write := func(buf []byte, _ int64) (int, error) { return out.Write(ctx, buf) }
	if outOffAddr != 0 {
		if outOff, err = copyInInt64(t, outOffAddr); err != nil {
			return 0, err
		}
		if outOff < 0 {
			return 0, unix.EINVAL
		}
		write = func(buf []byte, done int64) (int, error) { return out.PWrite(ctx, buf, outOff+done) }
	}
	if err := checkCopyOverlap(ctx, in, out, inOffAddr != 0, inOff, outOffAddr != 0, outOff, count); err != nil {
		return 0, err
	}
	n, err := copyBetween(count, read, write)
	if err != nil {
		return 0, err
	}
	if inOffAddr != 0 {
		if err := copyOutInt64(t, inOffAddr, inOff+n); err != nil {
			return 0, err
		}
	}
	if outOffAddr != 0 {
		if err := copyOutInt64(t, outOffAddr, outOff+n); err != nil {
			return 0, err
		}
	}
	return uintptr(n), nil
}

// checkCopyOverlap refuses (EINVAL) a copy_file_range within one file whose
// source and destination ranges overlap, after shortening the copy to the
// source's end of file, as Linux's generic_copy_file_checks. An offset
// not given is the description's position.
func checkCopyOverlap(ctx *fs.Context, in, out *vfs.FileDescription, inGiven bool, inOff int64, outGiven bool, outOff int64, count int64) error {
	si, err := in.Stat(ctx)
	if err != nil {
		return err
	}
	so, err := out.Stat(ctx)
	if err != nil {
		return err
	}
	if si.DevMajor != so.DevMajor || si.DevMinor != so.DevMinor || si.Ino != so.Ino {
		return nil
	}
	if !inGiven {
		if inOff, err = in.Seek(ctx, 0, io.SeekCurrent); err != nil {
			return err
		}
	}
	if !outGiven {
		if outOff, err = out.Seek(ctx, 0, io.SeekCurrent); err != nil {
			return err
		}
	}
	size := int64(si.Size)
	if inOff >= size {
		count = 0
	} else {
		count = min(count, size-inOff)
	}
	if outOff+count > inOff && outOff < inOff+count {
		return unix.EINVAL
	}
	return nil
}
