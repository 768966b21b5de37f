// Package pidfd implements process file descriptors (pidfd_open(2),
// clone's CLONE_PIDFD): a file that names one process (thread group) for
// pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD). It holds the
// process, not its PID, so a reused PID never makes it name another one.
// The file is an fs.Waitable: readable (POLLIN) once the process has
// exited, so poll, select and epoll can wait for an exit.
//
// A PidFD is also the fs.Node of its anonymous file ("anon_inode:[pidfd]").
//
// Locking: a PidFD is immutable; the process's state has its own locks.
package pidfd

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Name is the file's name in /proc/PID/fd.
const Name = "anon_inode:[pidfd]"

// anonInode is the anonymous inode every one of these files shares.
var anonInode = fs.NewAnonInode()

// PidFD is one process file descriptor.
type PidFD struct {
	fs.StreamFile
	tg      *process.ThreadGroup
	created linux.StatxTimestamp
}

// New returns a pidfd for tg.
func New(tg *process.ThreadGroup) *PidFD {
	return &PidFD{tg: tg, created: fs.Now()}
}

// Process returns the process the file names.
func (f *PidFD) Process() *process.ThreadGroup { return f.tg }

// Type implements fs.Node: anonymous inodes have no file type bits.
func (f *PidFD) Type() uint32 { return 0 }

// Stat implements fs.Node: the shared anonymous inode, mode 0600.
func (f *PidFD) Stat(ctx *fs.Context) (linux.Statx, error) {
	return anonInode.Stat(f.created, 0), nil
}

// Open implements fs.Node: an anonymous inode cannot be reopened.
func (f *PidFD) Open(ctx *fs.Context, flags uint32) (fs.File, error) { return nil, unix.ENXIO }

// Read implements fs.File: a pidfd cannot be read.
func (f *PidFD) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// Write implements fs.File: a pidfd cannot be written.
func (f *PidFD) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// Release implements fs.File.
func (f *PidFD) Release() {}

// exited reports whether every thread of the process has exited.
func (f *PidFD) exited() bool {
	select {
	case <-f.tg.Exited():
		return true
	default:
		return false
	}
}

// Readiness implements fs.Waitable: POLLIN once the process has exited
// (Linux's pidfd_poll).
func (f *PidFD) Readiness(mask uint32) uint32 {
	var ev uint32
	if f.exited() {
		ev = unix.POLLIN | linux.POLLRDNORM
	}
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable: fn is called once, when the process exits.
func (f *PidFD) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	stop := make(chan struct{})
	go func() {
		select {
		case <-f.tg.Exited():
			fn(nil)
		case <-stop:
		}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			close(stop)
		}
	}
}
