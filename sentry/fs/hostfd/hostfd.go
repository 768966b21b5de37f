// Package hostfd serves one of the sentry's own host descriptors (its
// stdin, stdout or stderr: a terminal, pipe, socket or file, whatever
// runsc-lite was given) as a sandbox file. The sentry reads and writes its
// own descriptor; the program's syscalls are never passed through.
//
// Reads and writes that would block do not hold the sandbox CPU: the host
// descriptor stays blocking (it is shared with the user's shell, so the
// sentry must not set O_NONBLOCK on it); instead the task polls it with a
// zero timeout and, when it is not ready, sleeps on a wait queue that a
// watcher goroutine notifies once unix.Poll reports the descriptor ready.
//
// A host terminal is normally not served here: sentry/boot attaches it to
// the sandbox's devpts as /dev/pts/0 (sentry/tty's HostLink). Only when
// runsc-lite starts in the background of its terminal, and must leave it
// alone, is the terminal passed through as a host file: then its ioctls
// (TCGETS, TCSETS*, TIOCGWINSZ, TIOCSWINSZ, FIONREAD...) are the sentry
// issuing the same ioctl on its own descriptor, as gVisor's host TTY does,
// and the foreground process group is a number kept here.
//
// Locking: Node.watchMu protects the watcher state; it is a leaf lock and
// is never held across a poll or a wait.
package hostfd

import (
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// foregroundPgrp is the terminal's foreground process group as the sandbox
// sees it (TIOCGPGRP/TIOCSPGRP); the sandbox's init is process group 1.
var foregroundPgrp atomic.Int32

func init() { foregroundPgrp.Store(1) }

// Node is a host descriptor owned by the sentry.
type Node struct {
	fd       int
	typ      uint32
	isTTY    bool
	hostPath string
	refs     atomic.Int64

	wq       kernel.WaitQueue
	notifier fs.Notifier

	watchMu  sync.Mutex
	watching bool
	want     int16
}

// New duplicates the sentry's descriptor hostFD (leaving it untouched) and
// returns it as a node with no open files; the duplicate is closed when
// the last file opened from the node is released.
//
// Its host name (hostName) comes from the descriptor itself for pipes,
// sockets and pseudo-terminals, and through /proc/self/fd for the rest
// until the sentry is confined (Confined): the confined sentry has no
// /proc, and its seccomp filter kills it for a readlinkat(AT_FDCWD, ...)
// (sentry/sandbox). A process `exec` starts gets its stdio then.
func New(hostFD int) (*Node, error) {
	fd, err := unix.FcntlInt(uintptr(hostFD), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	n := &Node{fd: fd, typ: st.Mode & unix.S_IFMT}
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		n.isTTY = true
	}
	n.hostPath = hostName(hostFD, &st)
	return n, nil
}

// confined is set once the sentry has no /proc (Confined).
var confined atomic.Bool

// Confined tells New that the sentry is confined: it no longer reads
// descriptors' names through /proc/self/fd.
func Confined() { confined.Store(true) }

// ptsMajor is the device major of Unix 98 pseudo-terminal replicas
// (/dev/pts/N is minor N).
const ptsMajor = 136

// hostName returns what /proc/self/fd/hostFD reads on the host: "pipe:[I]"
// and "socket:[I]" by inode, "/dev/pts/N" for a pty replica, else the
// link's target while the sentry has /proc, or "host:[FD]".
func hostName(hostFD int, st *unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"
	case unix.S_IFSOCK:
		return "socket:[" + strconv.FormatUint(st.Ino, 10) + "]"
	case unix.S_IFCHR:
		if unix.Major(st.Rdev) == ptsMajor {
			return "/dev/pts/" + strconv.FormatUint(uint64(unix.Minor(st.Rdev)), 10)
		}
	}
	if !confined.Load() {
		buf := make([]byte, 256)
		if k, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(hostFD), buf); err == nil {
			return string(buf[:k])
		}
	}
	return "host:[" + strconv.Itoa(hostFD) + "]"
}

// IsTTY reports whether the node is a terminal.
func (n *Node) IsTTY() bool { return n.isTTY }

// Path returns the host's name for the descriptor ("/dev/pts/0",
// "pipe:[1234]", a file path), shown in /proc/PID/fd.
func (n *Node) Path() string { return n.hostPath }

// Type implements fs.Node.
func (n *Node) Type() uint32 { return n.typ }

// Stat implements fs.Node: the host's fstat.
func (n *Node) Stat(ctx *fs.Context) (linux.Statx, error) {
	var sx unix.Statx_t
	err := unix.Statx(n.fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &sx)
	if err != nil {
		return linux.Statx{}, err
	}
	return fs.StatxFromUnix(&sx), nil
}

// Open implements fs.Node: a new file sharing the host descriptor.
func (n *Node) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	if n.refs.Add(1) <= 0 {
		return nil, unix.EBADF
	}
	return &File{n: n}, nil
}

func (n *Node) decRef() {
	if n.refs.Add(-1) == 0 {
		n.wq.Destroy(unix.EBADF)
		unix.Close(n.fd)
	}
}

// pollNow returns the events of mask that hold now.
func (n *Node) pollNow(mask int16) int16 {
	fds := []unix.PollFd{{Fd: int32(n.fd), Events: mask}}
	k, err := unix.Poll(fds, 0)
	if err != nil || k <= 0 {
		return 0
	}
	return fds[0].Revents
}

// waitFor blocks until the descriptor reports an event of mask. It
// blocks; EINTR if interrupted.
func (n *Node) waitFor(ctx *fs.Context, mask int16) error {
	return ctx.Block(&n.wq, func() bool {
		if n.pollNow(mask) != 0 {
			return true
		}
		n.ensureWatcher(mask)
		return false
	})
}

// ensureWatcher makes sure a goroutine is polling the descriptor for
// mask.
func (n *Node) ensureWatcher(mask int16) {
	n.watchMu.Lock()
	n.want |= mask
	if n.watching {
		n.watchMu.Unlock()
		return
	}
	n.watching = true
	n.watchMu.Unlock()
	go n.watch()
}

// watch polls the descriptor while tasks wait on it or watchers are
// registered, notifying them when it becomes ready. While the descriptor
// stays ready it polls at most every 10ms.
func (n *Node) watch() {
	for {
		n.watchMu.Lock()
		mask := n.want | int16(n.notifier.Watching())
		if n.wq.Len() == 0 && n.notifier.Watching() == 0 {
			n.watching = false
			n.want = 0
			n.watchMu.Unlock()
			return
		}
		n.watchMu.Unlock()
		fds := []unix.PollFd{{Fd: int32(n.fd), Events: mask}}
		k, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			// The descriptor is gone: wake everyone to see the error.
			n.wq.NotifyAll()
			n.notifier.Notify(unix.POLLERR)
			n.watchMu.Lock()
			n.watching = false
			n.watchMu.Unlock()
			return
		}
		if k > 0 && fds[0].Revents != 0 {
			n.wq.NotifyAll()
			n.notifier.Notify(uint32(fds[0].Revents))
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// File is an open file on a host descriptor.
type File struct {
	n        *Node
	released atomic.Bool
}

// Node returns the file's node.
func (f *File) Node() *Node { return f.n }

func (f *File) direct() bool {
	return f.n.typ == unix.S_IFREG || f.n.typ == unix.S_IFBLK || f.n.typ == unix.S_IFDIR
}

// Read implements fs.File. It blocks (releasing the CPU) while the host
// descriptor has nothing to read, unless fl has O_NONBLOCK.
func (f *File) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	n := f.n
	if f.direct() {
		return readRetry(n.fd, dst)
	}
	for {
		if n.pollNow(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0 {
			k, err := readRetry(n.fd, dst)
			if err != unix.EAGAIN {
				return k, err
			}
		}
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := n.waitFor(ctx, unix.POLLIN); err != nil {
			return 0, err
		}
	}
}

func readRetry(fd int, dst []byte) (int, error) {
	for {
		k, err := unix.Read(fd, dst)
		if err == unix.EINTR {
			continue
		}
		if k < 0 {
			k = 0
		}
		return k, err
	}
}

// Write implements fs.File: everything is written unless O_NONBLOCK or a
// signal stops it early (then the partial count is returned).
func (f *File) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	n := f.n
	done := 0
	for done < len(src) {
		if !f.direct() && n.pollNow(unix.POLLOUT|unix.POLLERR|unix.POLLHUP) == 0 {
			if fl&unix.O_NONBLOCK != 0 {
				break
			}
			if err := n.waitFor(ctx, unix.POLLOUT); err != nil {
				if done > 0 {
					return done, nil
				}
				return 0, err
			}
			continue
		}
		k, err := unix.Write(n.fd, src[done:])
		if err == unix.EINTR || err == unix.EAGAIN {
			if err == unix.EAGAIN && fl&unix.O_NONBLOCK != 0 {
				break
			}
			continue
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		done += k
	}
	if done == 0 && len(src) > 0 {
		return 0, unix.EAGAIN
	}
	return done, nil
}

// ReadAt implements fs.File (the host answers ESPIPE for streams).
func (f *File) ReadAt(ctx *fs.Context, dst []byte, off int64) (int, error) {
	for {
		k, err := unix.Pread(f.n.fd, dst, off)
		if err == unix.EINTR {
			continue
		}
		if k < 0 {
			k = 0
		}
		return k, err
	}
}

// WriteAt implements fs.File.
func (f *File) WriteAt(ctx *fs.Context, src []byte, off int64) (int, error) {
	for {
		k, err := unix.Pwrite(f.n.fd, src, off)
		if err == unix.EINTR {
			continue
		}
		if k < 0 {
			k = 0
		}
		return k, err
	}
}

// Seek implements fs.File with the host descriptor's own offset.
func (f *File) Seek(ctx *fs.Context, off int64, whence int) (int64, error) {
	return unix.Seek(f.n.fd, off, whence)
}

// Release implements fs.File.
func (f *File) Release() {
	if !f.released.Swap(true) {
		f.n.decRef()
	}
}

// Stat implements fs.Statter.
func (f *File) Stat(ctx *fs.Context) (linux.Statx, error) { return f.n.Stat(ctx) }

// Sync implements fs.Syncer.
func (f *File) Sync(ctx *fs.Context) error {
	if f.n.typ != unix.S_IFREG {
		return unix.EINVAL
	}
	return unix.Fsync(f.n.fd)
}

// Truncate implements fs.Truncater.
func (f *File) Truncate(ctx *fs.Context, size int64) error {
	if f.n.typ != unix.S_IFREG {
		return unix.EINVAL
	}
	return unix.Ftruncate(f.n.fd, size)
}

// Readiness implements fs.Waitable.
func (f *File) Readiness(mask uint32) uint32 {
	if f.direct() {
		return mask & (unix.POLLIN | unix.POLLOUT | linux.POLLRDNORM | linux.POLLWRNORM)
	}
	return uint32(uint16(f.n.pollNow(int16(mask)|unix.POLLHUP|unix.POLLERR))) & (mask | unix.POLLHUP | unix.POLLERR | unix.POLLNVAL)
}

// Watch implements fs.Waitable.
func (f *File) Watch(mask uint32, fn fs.WatchFunc) func() {
	cancel := f.n.notifier.Watch(mask, fn)
	if !f.direct() {
		f.n.ensureWatcher(int16(mask))
	}
	return cancel
}

func ioctlPtr(fd int, cmd uint32, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(cmd), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}

// termiosSize is sizeof(struct termios) for TCGETS/TCSETS (without the
// speeds of termios2).
const termiosSize = 36

// tcxonc is TCXONC (tcflow).
const tcxonc = 0x540a

// HostIoctls are the ioctl requests made on host descriptors (the
// terminal, host pipes): the confined sentry's seccomp filter allows
// exactly these (sentry/sandbox). Ioctl passes no other request to the
// host.
var HostIoctls = []uintptr{
	linux.FIONREAD, linux.TCGETS, linux.TCSETS, linux.TCSETSW, linux.TCSETSF,
	linux.TIOCGWINSZ, linux.TIOCSWINSZ, linux.TCSBRK, linux.TCFLSH, tcxonc, linux.TIOCOUTQ,
}

// Ioctl implements fs.Ioctler.
func (f *File) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	n := f.n
	copyOut := func(b []byte) error { return ctx.CopyOutArg(arg, b) }
	copyIn := func(b []byte) error { return ctx.CopyInArg(arg, b) }
	putInt := func(v int32) error { return ctx.PutIntArg(arg, v) }
	if cmd == linux.FIONREAD {
		var v int32
		if err := ioctlPtr(n.fd, cmd, unsafe.Pointer(&v)); err != nil {
			return 0, err
		}
		return 0, putInt(v)
	}
	if !n.isTTY {
		return 0, unix.ENOTTY
	}
	switch cmd {
	case linux.TCGETS:
		var b [64]byte
		if err := ioctlPtr(n.fd, cmd, unsafe.Pointer(&b[0])); err != nil {
			return 0, err
		}
		return 0, copyOut(b[:termiosSize])
	case linux.TCSETS, linux.TCSETSW, linux.TCSETSF:
		var b [64]byte
		if err := copyIn(b[:termiosSize]); err != nil {
			return 0, err
		}
		return 0, ioctlPtr(n.fd, cmd, unsafe.Pointer(&b[0]))
	case linux.TIOCGWINSZ:
		var b [8]byte
		if err := ioctlPtr(n.fd, cmd, unsafe.Pointer(&b[0])); err != nil {
			return 0, err
		}
		return 0, copyOut(b[:])
	case linux.TIOCSWINSZ:
		var b [8]byte
		if err := copyIn(b[:]); err != nil {
			return 0, err
		}
		return 0, ioctlPtr(n.fd, cmd, unsafe.Pointer(&b[0]))
	case linux.TIOCGPGRP:
		return 0, putInt(foregroundPgrp.Load())
	case linux.TIOCSPGRP:
		var b [4]byte
		if err := copyIn(b[:]); err != nil {
			return 0, err
		}
		pg := int32(binary.LittleEndian.Uint32(b[:]))
		if pg <= 0 {
			return 0, unix.EINVAL
		}
		foregroundPgrp.Store(pg)
		return 0, nil
	case linux.TIOCGSID:
		return 0, putInt(1)
	case linux.TIOCSCTTY, linux.TIOCNOTTY:
		return 0, nil
	case linux.TCSBRK, linux.TCFLSH, tcxonc:
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(n.fd), uintptr(cmd), arg)
		if e != 0 {
			return 0, e
		}
		return 0, nil
	case linux.TIOCOUTQ:
		var v int32
		if err := ioctlPtr(n.fd, cmd, unsafe.Pointer(&v)); err != nil {
			return 0, err
		}
		return 0, putInt(v)
	}
	return 0, unix.ENOTTY
}
