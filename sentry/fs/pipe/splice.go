package pipe

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// splice(2), tee(2) and vmsplice(2) on pipes (Linux's fs/splice.c), with
// the buffer as bytes rather than page-sized slots. Each call waits as
// Linux's does (for data in the pipe it takes from, then for room in the
// pipe it fills; not with nonblock: EAGAIN) and then moves what is there
// once, never looping for more: a short count is normal.
//
// Data taken out of a pipe for a write that comes up short (a full
// socket) is put back at its head; data read for a pipe may overfill it
// for a moment if another writer took the room meanwhile. Neither loses
// bytes, and pipe.mu is never held across the other file's read or write.

// waitData waits until p has data (true) or no writer left with nothing
// buffered (false: end of file).
func (p *Pipe) waitData(ctx *fs.Context, nonblock bool) (bool, error) {
	for {
		p.mu.Lock()
		n, writers := p.n, p.writers
		p.mu.Unlock()
		switch {
		case n > 0:
			return true, nil
		case writers == 0:
			return false, nil
		case nonblock:
			return false, unix.EAGAIN
		}
		if err := ctx.Block(&p.rq, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.n > 0 || p.writers == 0
		}); err != nil {
			return false, err
		}
	}
}

// waitRoom waits until p has room: EPIPE once it has no reader.
func (p *Pipe) waitRoom(ctx *fs.Context, nonblock bool) error {
	for {
		p.mu.Lock()
		free, readers := p.size-p.n, p.readers
		p.mu.Unlock()
		switch {
		case readers == 0:
			return unix.EPIPE
		case free > 0:
			return nil
		case nonblock:
			return unix.EAGAIN
		}
		if err := ctx.Block(&p.wq, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.readers == 0 || p.size-p.n > 0
		}); err != nil {
			return err
		}
	}
}

// unreadLocked puts b back at the head of the ring (growing the buffer
// past the pipe's size if writers filled the room meanwhile).
func (p *Pipe) unreadLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	if len(p.buf)-p.n < len(b) {
		nb := make([]byte, max(p.size, p.n+len(b)))
		old := p.n
		p.takeLocked(nb[len(b) : len(b)+old])
		p.buf, p.head, p.n = nb, len(b), old
	}
	p.head = (p.head - len(b) + len(p.buf)) % len(p.buf)
	first := min(len(b), len(p.buf)-p.head)
	copy(p.buf[p.head:], b[:first])
	copy(p.buf, b[first:])
	p.n += len(b)
}

// pushLocked appends b, growing the buffer past the pipe's size if
// needed.
func (p *Pipe) pushLocked(b []byte) {
	if p.buf == nil || len(p.buf)-p.n < len(b) {
		nb := make([]byte, max(p.size, p.n+len(b)))
		old := p.n
		if p.buf != nil {
			p.takeLocked(nb[:old])
		}
		p.buf, p.head, p.n = nb, 0, old
	}
	p.putLocked(b)
}

// SpliceOut moves up to limit bytes from the pipe of read end e to write
// (splice to a file, vmsplice to memory): it waits for data (0 at end of
// file), takes what there is, and puts back what write did not take.
func (e *End) SpliceOut(ctx *fs.Context, limit int, nonblock bool, write func([]byte) (int, error)) (int, error) {
	if !e.read {
		return 0, unix.EBADF
	}
	p := e.p
	if ok, err := p.waitData(ctx, nonblock); !ok {
		return 0, err
	}
	p.mu.Lock()
	buf := make([]byte, min(limit, p.n))
	n := p.takeLocked(buf)
	p.mu.Unlock()
	w, err := write(buf[:n])
	w = min(max(w, 0), n)
	if w < n {
		p.mu.Lock()
		p.unreadLocked(buf[w:n])
		p.mu.Unlock()
	}
	if w > 0 {
		p.wq.NotifyAll()
		p.notifier.Notify(unix.POLLOUT)
		err = nil
	}
	return w, err
}

// SpliceIn moves up to limit bytes from read into the pipe of write end e
// (splice from a file, vmsplice from memory): it waits for room (EPIPE
// with no reader), reads at most the room there is, and queues it.
func (e *End) SpliceIn(ctx *fs.Context, limit int, nonblock bool, read func([]byte) (int, error)) (int, error) {
	if !e.write {
		return 0, unix.EBADF
	}
	p := e.p
	if err := p.waitRoom(ctx, nonblock); err != nil {
		return 0, err
	}
	p.mu.Lock()
	room := p.size - p.n
	p.mu.Unlock()
	buf := make([]byte, min(limit, room))
	n, err := read(buf)
	n = min(max(n, 0), len(buf))
	if n == 0 {
		return 0, err
	}
	p.mu.Lock()
	if p.readers == 0 {
		p.mu.Unlock()
		return 0, unix.EPIPE
	}
	p.pushLocked(buf[:n])
	p.mu.Unlock()
	p.rq.NotifyAll()
	p.notifier.Notify(unix.POLLIN)
	return n, nil
}

// lockPair locks two different pipes in a fixed order (by inode number).
func lockPair(a, b *Pipe) {
	if a.ino < b.ino {
		a.mu.Lock()
		b.mu.Lock()
	} else {
		b.mu.Lock()
		a.mu.Lock()
	}
}

// Splice moves up to limit bytes from in's pipe to out's (splice between
// two pipes); with keep (tee) the bytes stay in in's pipe too. EINVAL for
// one pipe on both sides.
func Splice(ctx *fs.Context, in, out *End, limit int, nonblock, keep bool) (int, error) {
	if !in.read || !out.write {
		return 0, unix.EBADF
	}
	ip, op := in.p, out.p
	if ip == op {
		return 0, unix.EINVAL
	}
	for {
		if ok, err := ip.waitData(ctx, nonblock); !ok {
			return 0, err
		}
		if err := op.waitRoom(ctx, nonblock); err != nil {
			return 0, err
		}
		lockPair(ip, op)
		n := min(limit, ip.n, op.size-op.n)
		if n <= 0 || op.readers == 0 {
			// Raced with another reader or writer: wait again.
			ip.mu.Unlock()
			op.mu.Unlock()
			continue
		}
		buf := make([]byte, n)
		if keep {
			head, cnt := ip.head, ip.n
			ip.takeLocked(buf)
			ip.head, ip.n = head, cnt
		} else {
			ip.takeLocked(buf)
		}
		op.pushLocked(buf)
		ip.mu.Unlock()
		op.mu.Unlock()
		if !keep {
			ip.wq.NotifyAll()
			ip.notifier.Notify(unix.POLLOUT)
		}
		op.rq.NotifyAll()
		op.notifier.Notify(unix.POLLIN)
		return n, nil
	}
}
