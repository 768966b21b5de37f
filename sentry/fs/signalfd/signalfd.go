// Package signalfd implements signalfd(2) files: reading one takes
// pending signals of its mask from the reader's thread and process (they
// are then not delivered) as struct signalfd_siginfo records. A read
// blocks while none is pending (EAGAIN with O_NONBLOCK). The file is an
// fs.Waitable, readable while a signal of its mask is pending for the
// thread that made it, so poll, select and epoll see it.
//
// A SignalFD is also the fs.Node of its anonymous file
// ("anon_inode:[signalfd]").
//
// Locking: SignalFD.mu protects the mask; it is a leaf.
package signalfd

import (
	"encoding/binary"
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Name is the file's name in /proc/PID/fd.
const Name = "anon_inode:[signalfd]"

// recordSize is sizeof(struct signalfd_siginfo).
const recordSize = 128

// anonInode is the anonymous inode every one of these files shares.
var anonInode = fs.NewAnonInode()

// SignalFD is one signalfd file.
type SignalFD struct {
	fs.StreamFile
	owner   *process.Thread
	created linux.StatxTimestamp

	mu   sync.Mutex
	mask linux.SignalSet
}

// New returns a signalfd for mask, made by owner (whose pending signals
// poll reports).
func New(owner *process.Thread, mask linux.SignalSet) *SignalFD {
	return &SignalFD{owner: owner, mask: mask, created: fs.Now()}
}

// SetMask replaces the mask (signalfd on an existing file).
func (f *SignalFD) SetMask(mask linux.SignalSet) {
	f.mu.Lock()
	f.mask = mask
	f.mu.Unlock()
}

// Mask returns the mask.
func (f *SignalFD) Mask() linux.SignalSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mask
}

// Type implements fs.Node: anonymous inodes have no file type bits.
func (f *SignalFD) Type() uint32 { return 0 }

// Stat implements fs.Node: the shared anonymous inode, mode 0600.
func (f *SignalFD) Stat(ctx *fs.Context) (linux.Statx, error) {
	return anonInode.Stat(f.created, 0), nil
}

// Open implements fs.Node: an anonymous inode cannot be reopened.
func (f *SignalFD) Open(ctx *fs.Context, flags uint32) (fs.File, error) { return nil, unix.ENXIO }

// Read implements fs.File: as many signalfd_siginfo records as dst holds
// and signals of the mask are pending (at least one: it blocks for it).
// EINVAL if dst cannot hold one record.
func (f *SignalFD) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	if len(dst) < recordSize {
		return 0, unix.EINVAL
	}
	reader := f.owner
	if ctx.Task != nil {
		if t, ok := ctx.Task.Ext.(*process.Thread); ok {
			reader = t
		}
	}
	mask := f.Mask()
	var info *linux.SignalInfo
	take := func() bool {
		info = reader.DequeueSignal(mask)
		return info != nil
	}
	if !take() {
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := reader.WaitSignal(ctx, take); err != nil {
			return 0, err
		}
	}
	n := 0
	for info != nil {
		putRecord(dst[n:n+recordSize], record(info))
		n += recordSize
		if len(dst)-n < recordSize {
			break
		}
		info = reader.DequeueSignal(mask)
	}
	return n, nil
}

// record converts a siginfo as Linux's signalfd_copyinfo does: the
// fields its layout (by signal and si_code) defines.
func record(info *linux.SignalInfo) linux.SignalfdSiginfo {
	r := linux.SignalfdSiginfo{Signo: uint32(info.Signo), Errno: info.Errno, Code: info.Code}
	sig, code := info.Signo, info.Code
	switch {
	case code == linux.SI_TIMER:
		r.TID = uint32(info.TimerID())
		r.Overrun = uint32(info.Overrun())
		r.Ptr = info.Sigval()
		r.Int = int32(info.Sigval())
	case code > linux.SI_USER && code < linux.SI_KERNEL && sig == int32(linux.SIGCHLD):
		r.PID, r.UID = uint32(info.PID()), uint32(info.UID())
		r.Status = info.Status()
	case code > linux.SI_USER && code < linux.SI_KERNEL && isFault(sig):
		r.Addr = info.Addr()
	case code > linux.SI_USER && code < linux.SI_KERNEL && (sig == int32(linux.SIGIO)):
		r.Band = uint32(info.Band())
		r.FD = int32(info.FD())
	case code < 0:
		r.PID, r.UID = uint32(info.PID()), uint32(info.UID())
		r.Ptr = info.Sigval()
		r.Int = int32(info.Sigval())
	default:
		r.PID, r.UID = uint32(info.PID()), uint32(info.UID())
	}
	return r
}

// putRecord stores r as struct signalfd_siginfo (128 bytes, the tail
// zero).
func putRecord(b []byte, r linux.SignalfdSiginfo) {
	clear(b)
	le := binary.LittleEndian
	for i, v := range []uint32{r.Signo, uint32(r.Errno), uint32(r.Code), r.PID, r.UID, uint32(r.FD), r.TID,
		r.Band, r.Overrun, r.TrapNo, uint32(r.Status), uint32(r.Int)} {
		le.PutUint32(b[4*i:], v)
	}
	le.PutUint64(b[48:], r.Ptr)
	le.PutUint64(b[56:], r.UTime)
	le.PutUint64(b[64:], r.STime)
	le.PutUint64(b[72:], r.Addr)
	le.PutUint16(b[80:], r.AddrLSB)
}

func isFault(sig int32) bool {
	switch linux.Signal(sig) {
	case linux.SIGSEGV, linux.SIGBUS, linux.SIGILL, linux.SIGFPE, linux.SIGTRAP:
		return true
	}
	return false
}

// Write implements fs.File: a signalfd cannot be written.
func (f *SignalFD) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// Release implements fs.File.
func (f *SignalFD) Release() {}

// Readiness implements fs.Waitable: readable while a signal of the mask
// is pending for the thread that made the file.
func (f *SignalFD) Readiness(mask uint32) uint32 {
	var ev uint32
	if f.owner.HasPendingSignal(f.Mask()) {
		ev = unix.POLLIN | linux.POLLRDNORM
	}
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable.
func (f *SignalFD) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return f.owner.TG.WatchSignals(mask, fn)
}
