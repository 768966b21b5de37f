// Package pipe implements pipes and FIFOs: a bounded byte buffer (64 KiB by
// default) with Linux's blocking rules. Readers block while the pipe is
// empty and a writer exists, and see EOF once every writer is gone; writers
// block while it is full and get EPIPE once every reader is gone; writes of
// at most PIPE_BUF bytes are atomic. Blocking goes through kernel wait
// queues, so a blocked task releases its sandbox CPU.
//
// A Pipe is also the fs.Node of an anonymous pipe (what /proc/PID/fd/N
// reopens) and the state behind a FIFO node of tmpfs.
//
// Locking: Pipe.mu protects the buffer and the reader/writer counts. It is
// a leaf lock, never held across a wait or a notification.
package pipe

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

const (
	// DefaultSize is a new pipe's capacity.
	DefaultSize = 65536
	// Buf is PIPE_BUF: writes up to this size are atomic.
	Buf = 4096
	// MaxSize is /proc/sys/fs/pipe-max-size.
	MaxSize = 1 << 20
)

var (
	pipefsMajor, pipefsMinor = fs.NewAnonDev()
	nextIno                  atomic.Uint64
)

// Pipe is one pipe or FIFO.
type Pipe struct {
	// anon marks an anonymous pipe (pipe(2), pipefs): reopening one
	// through /proc/PID/fd never waits for the other side, as Linux's
	// fifo_open does only for FIFOs.
	anon       bool
	ino        uint64
	uid, gid   uint32
	createTime linux.StatxTimestamp

	mu      sync.Mutex
	buf     []byte // ring of capacity size, allocated on the first write
	head    int    // index of the first unread byte
	n       int    // unread bytes
	size    int
	readers int
	writers int
	rOpens  uint64 // read opens so far (FIFO open waits)
	wOpens  uint64 // write opens so far
	mtime   linux.StatxTimestamp

	rq       kernel.WaitQueue // readers waiting for data or EOF
	wq       kernel.WaitQueue // writers waiting for room or EPIPE
	oq       kernel.WaitQueue // FIFO opens waiting for the other side
	notifier fs.Notifier
}

// New returns a pipe with no readers or writers, owned by creds.
func New(creds *fs.Creds) *Pipe {
	p := &Pipe{ino: nextIno.Add(1), size: DefaultSize, createTime: fs.Now()}
	if creds != nil {
		p.uid, p.gid = creds.FSUID, creds.FSGID
	}
	p.mtime = p.createTime
	return p
}

// Ino returns the pipe's inode number (pipe:[N]).
func (p *Pipe) Ino() uint64 { return p.ino }

// NewPair returns the read and write ends of a new anonymous pipe.
func NewPair(creds *fs.Creds) (p *Pipe, r, w fs.File) {
	p = New(creds)
	p.anon = true
	p.mu.Lock()
	p.readers++
	p.writers++
	p.rOpens++
	p.wOpens++
	p.mu.Unlock()
	return p, &End{p: p, read: true}, &End{p: p, write: true}
}

// Type implements fs.Node.
func (p *Pipe) Type() uint32 { return unix.S_IFIFO }

// Stat implements fs.Node for an anonymous pipe.
func (p *Pipe) Stat(ctx *fs.Context) (linux.Statx, error) {
	p.mu.Lock()
	mt := p.mtime
	p.mu.Unlock()
	return linux.Statx{
		Mask:     fs.StatxBasic,
		Blksize:  4096,
		Nlink:    1,
		UID:      p.uid,
		GID:      p.gid,
		Mode:     unix.S_IFIFO | 0600,
		Ino:      p.ino,
		Atime:    mt,
		Mtime:    mt,
		Ctime:    mt,
		Btime:    p.createTime,
		DevMajor: pipefsMajor,
		DevMinor: pipefsMinor,
	}, nil
}

// Open implements fs.Node with FIFO semantics: a read-only open waits for
// a writer and a write-only open for a reader unless O_NONBLOCK (a
// write-only non-blocking open with no reader fails with ENXIO); O_RDWR
// never waits. An anonymous pipe reopened through /proc/PID/fd never
// waits and never fails (a reader whose writers are gone reads EOF). It
// blocks.
func (p *Pipe) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	nonblock := flags&unix.O_NONBLOCK != 0
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		p.mu.Lock()
		p.readers++
		p.rOpens++
		w0 := p.wOpens
		hasWriter := p.writers > 0
		p.mu.Unlock()
		p.oq.NotifyAll()
		p.wq.NotifyAll()
		if !nonblock && !hasWriter && !p.anon {
			err := ctx.Block(&p.oq, func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				return p.writers > 0 || p.wOpens != w0
			})
			if err != nil {
				p.dropReader()
				return nil, err
			}
		}
		return &End{p: p, read: true}, nil
	case unix.O_WRONLY:
		p.mu.Lock()
		if p.readers == 0 && nonblock && !p.anon {
			p.mu.Unlock()
			return nil, unix.ENXIO
		}
		p.writers++
		p.wOpens++
		r0 := p.rOpens
		hasReader := p.readers > 0
		p.mu.Unlock()
		p.oq.NotifyAll()
		p.rq.NotifyAll()
		if !hasReader && !p.anon {
			err := ctx.Block(&p.oq, func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				return p.readers > 0 || p.rOpens != r0
			})
			if err != nil {
				p.dropWriter()
				return nil, err
			}
		}
		return &End{p: p, write: true}, nil
	case unix.O_RDWR:
		p.mu.Lock()
		p.readers++
		p.writers++
		p.rOpens++
		p.wOpens++
		p.mu.Unlock()
		p.oq.NotifyAll()
		p.rq.NotifyAll()
		p.wq.NotifyAll()
		return &End{p: p, read: true, write: true}, nil
	}
	return nil, unix.EINVAL
}

func (p *Pipe) dropReader() {
	p.mu.Lock()
	p.readers--
	p.mu.Unlock()
	p.wq.NotifyAll()
	p.notifier.Notify(unix.POLLERR | unix.POLLOUT)
}

func (p *Pipe) dropWriter() {
	p.mu.Lock()
	p.writers--
	p.mu.Unlock()
	p.rq.NotifyAll()
	p.notifier.Notify(unix.POLLHUP | unix.POLLIN)
}

// Buffered returns the number of unread bytes.
func (p *Pipe) Buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// End is an open end of a pipe (read, write, or both for O_RDWR FIFOs).
type End struct {
	fs.StreamFile
	p           *Pipe
	read, write bool
	released    atomic.Bool
}

// Pipe returns the end's pipe.
func (e *End) Pipe() *Pipe { return e.p }

// Read implements fs.File.Read.
func (e *End) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	if !e.read {
		return 0, unix.EBADF
	}
	if len(dst) == 0 {
		return 0, nil
	}
	p := e.p
	for {
		p.mu.Lock()
		if p.n > 0 {
			n := p.takeLocked(dst)
			p.mu.Unlock()
			// Synchronous, as Linux's pipe_read: the reader
			// usually waits for more next (pollers too).
			p.wq.NotifyAllSync(ctx.Waker())
			p.notifier.NotifySync(ctx.Waker(), unix.POLLOUT)
			return n, nil
		}
		if p.writers == 0 {
			p.mu.Unlock()
			return 0, nil
		}
		p.mu.Unlock()
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&p.rq, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.n > 0 || p.writers == 0
		}); err != nil {
			return 0, err
		}
	}
}

// Peek copies up to len(dst) unread bytes into dst without consuming them,
// waiting as Read does for data or end of file (0); splice and tee then
// Consume what they managed to pass on. It blocks.
func (e *End) Peek(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	if !e.read {
		return 0, unix.EBADF
	}
	if len(dst) == 0 {
		return 0, nil
	}
	p := e.p
	for {
		p.mu.Lock()
		if p.n > 0 {
			n := min(len(dst), p.n)
			first := min(n, len(p.buf)-p.head)
			copy(dst, p.buf[p.head:p.head+first])
			copy(dst[first:n], p.buf[:n-first])
			p.mu.Unlock()
			return n, nil
		}
		if p.writers == 0 {
			p.mu.Unlock()
			return 0, nil
		}
		p.mu.Unlock()
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&p.rq, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.n > 0 || p.writers == 0
		}); err != nil {
			return 0, err
		}
	}
}

// Consume drops the first n unread bytes (at most what is there), after a
// Peek.
func (e *End) Consume(n int) {
	p := e.p
	p.mu.Lock()
	n = min(n, p.n)
	if n > 0 {
		p.head = (p.head + n) % len(p.buf)
		p.n -= n
		if p.n == 0 {
			p.head = 0
		}
	}
	p.mu.Unlock()
	if n > 0 {
		p.wq.NotifyAll()
		p.notifier.Notify(unix.POLLOUT)
	}
}

// Room returns how many bytes a write could add now.
func (e *End) Room() int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.p.size - e.p.n
}

// takeLocked moves up to len(dst) bytes out of the ring.
func (p *Pipe) takeLocked(dst []byte) int {
	n := min(len(dst), p.n)
	first := min(n, len(p.buf)-p.head)
	copy(dst, p.buf[p.head:p.head+first])
	copy(dst[first:n], p.buf[:n-first])
	p.head = (p.head + n) % len(p.buf)
	p.n -= n
	if p.n == 0 {
		p.head = 0
	}
	return n
}

// putLocked appends src, which fits.
func (p *Pipe) putLocked(src []byte) {
	if p.buf == nil {
		p.buf = make([]byte, p.size)
	}
	tail := (p.head + p.n) % len(p.buf)
	first := min(len(src), len(p.buf)-tail)
	copy(p.buf[tail:], src[:first])
	copy(p.buf, src[first:])
	p.n += len(src)
	p.mtime = fs.Now()
}

// Write implements fs.File.Write. Writes of at most Buf bytes are atomic;
// larger ones may be split between readers' reads. Without O_NONBLOCK it
// returns once everything is written, or with the partial count when a
// signal interrupts it after some progress. With no reader it fails with
// EPIPE (the caller raises SIGPIPE).
func (e *End) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	if !e.write {
		return 0, unix.EBADF
	}
	p := e.p
	atomicWrite := len(src) <= Buf
	total := 0
	for {
		p.mu.Lock()
		if p.readers == 0 {
			p.mu.Unlock()
			if total > 0 {
				return total, nil
			}
			return 0, unix.EPIPE
		}
		free := p.size - p.n
		rest := len(src) - total
		if (atomicWrite && free >= rest) || (!atomicWrite && free > 0) {
			n := min(free, rest)
			p.putLocked(src[total : total+n])
			p.mu.Unlock()
			total += n
			// Synchronous, as Linux's pipe_write: the writer
			// usually waits for the answer next (pollers too).
			p.rq.NotifyAllSync(ctx.Waker())
			p.notifier.NotifySync(ctx.Waker(), unix.POLLIN)
			if total == len(src) {
				return total, nil
			}
			continue
		}
		p.mu.Unlock()
		if fl&unix.O_NONBLOCK != 0 {
			if total > 0 {
				return total, nil
			}
			return 0, unix.EAGAIN
		}
		need := 1
		if atomicWrite {
			need = rest
		}
		if err := ctx.Block(&p.wq, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.readers == 0 || p.size-p.n >= need
		}); err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
	}
}

// Release implements fs.File.Release.
func (e *End) Release() {
	if e.released.Swap(true) {
		return
	}
	if e.read {
		e.p.dropReader()
	}
	if e.write {
		e.p.dropWriter()
	}
}

// Readiness implements fs.Waitable.
func (e *End) Readiness(mask uint32) uint32 {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var ev uint32
	if e.read {
		if p.n > 0 {
			ev |= unix.POLLIN | linux.POLLRDNORM
		}
		if p.writers == 0 && p.wOpens > 0 {
			ev |= unix.POLLHUP
		}
	}
	if e.write {
		if p.size-p.n >= Buf {
			ev |= unix.POLLOUT | linux.POLLWRNORM
		}
		if p.readers == 0 {
			ev |= unix.POLLERR
		}
	}
	return ev & (mask | unix.POLLHUP | unix.POLLERR)
}

// Watch implements fs.Waitable.
func (e *End) Watch(mask uint32, fn fs.WatchFunc) func() { return e.p.notifier.Watch(mask, fn) }

// PipeSize implements fs.PipeSizer.
func (e *End) PipeSize() int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.p.size
}

// SetPipeSize implements fs.PipeSizer: n (fcntl's unsigned argument) is
// rounded up to a power of two of at least a page, as Linux's
// round_pipe_size (0 gives a page); above 2 GiB it is EINVAL, above
// pipe-max-size EPERM, and EBUSY if the unread data would not fit.
func (e *End) SetPipeSize(n int) (int, error) {
	switch {
	case n > 1<<31:
		return 0, unix.EINVAL
	case n > MaxSize:
		return 0, unix.EPERM
	}
	size := 4096
	for size < n {
		size <<= 1
	}
	p := e.p
	p.mu.Lock()
	if p.n > size {
		p.mu.Unlock()
		return 0, unix.EBUSY
	}
	if p.buf != nil {
		nb := make([]byte, size)
		old := p.n
		p.takeLocked(nb[:old])
		p.buf, p.head, p.n = nb, 0, old
	}
	p.size = size
	p.mu.Unlock()
	p.wq.NotifyAll()
	return size, nil
}

// Ioctl implements fs.Ioctler: FIONREAD.
func (e *End) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case linux.FIONREAD:
		n := 0
		if e.read {
			n = e.p.Buffered()
		}
		return 0, ctx.PutIntArg(arg, int32(n))
	}
	return 0, unix.ENOTTY
}
