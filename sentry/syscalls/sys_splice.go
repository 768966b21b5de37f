package syscalls

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/pipe"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

// splice(2) and tee(2): data moves between a pipe and a file, socket or
// other pipe through one bounded chunk (ioChunk), the pipe side peeked and
// consumed only by what the other side took, so a short write leaves the
// rest in the pipe as Linux does. Blocking follows Linux: SPLICE_F_NONBLOCK
// makes the pipe side non-blocking; the other side blocks as its own
// description says (a socket's O_NONBLOCK, or SPLICE_F_NONBLOCK for a
// socket being read).

// spliceFlags are the flags splice and tee accept.
const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MORE | unix.SPLICE_F_GIFT

// pipeEnd returns the pipe end behind f, or nil.
func pipeEnd(f *vfs.FileDescription) *pipe.End {
	e, _ := f.Impl().(*pipe.End)
	return e
}

// Splice is splice(2).
func Splice(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	inFD, inOffAddr, outFD, outOffAddr, length, flags := a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), int64(a[4]), a.Uint(5)
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	in, out, err := getReadWrite(t, inFD, outFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	defer out.DecRef()
	inPipe, outPipe := pipeEnd(in), pipeEnd(out)
	switch {
	case inPipe == nil && outPipe == nil:
		return 0, unix.EINVAL
	case inPipe != nil && inOffAddr != 0, outPipe != nil && outOffAddr != 0:
		return 0, unix.ESPIPE
	case inPipe != nil && outPipe != nil && inPipe.Pipe() == outPipe.Pipe():
		return 0, unix.EINVAL
	case out.Flags()&unix.O_APPEND != 0, in.IsDir(), out.IsDir():
		return 0, unix.EINVAL
	}
	if length <= 0 {
		return 0, nil
	}
	length = min(length, maxRWCount, ioChunk)
	ctx := fsContext(t)
	nonblock := uint32(0)
	if flags&unix.SPLICE_F_NONBLOCK != 0 {
		nonblock = unix.O_NONBLOCK
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := (*bp)[:length]

	if inPipe != nil {
		// From a pipe: peek, pass on, consume what was taken.
		n, err := inPipe.Peek(ctx, buf, nonblock)
		if err != nil || n == 0 {
			return 0, err
		}
		var w int
		switch {
		case outPipe != nil:
			w, err = outPipe.Write(ctx, buf[:n], out.Flags()&^unix.O_NONBLOCK|nonblock)
		case outOffAddr != 0:
			var off int64
			if off, err = spliceOffset(t, outOffAddr); err != nil {
				return 0, err
			}
			if w, err = out.PWrite(ctx, buf[:n], off); w > 0 {
				err = copyOutInt64(t, outOffAddr, off+int64(w))
			}
		default:
			w, err = out.Write(ctx, buf[:n])
		}
		if w > 0 {
			inPipe.Consume(w)
			return uintptr(w), nil
		}
		return 0, raiseSIGPIPE(t, err)
	}

	// Into a pipe: read what the pipe can take now (a chunk at least),
	// then write it, waiting for room unless non-blocking.
	if room := outPipe.Room(); room > 0 {
		buf = buf[:min(len(buf), room)]
	} else if nonblock != 0 {
		return 0, unix.EAGAIN
	}
	var n int
	if inOffAddr != 0 {
		var off int64
		if off, err = spliceOffset(t, inOffAddr); err != nil {
			return 0, err
		}
		if isStream(in) {
			return 0, unix.ESPIPE
		}
		if n, err = in.PRead(ctx, buf, off); n > 0 {
			if err := copyOutInt64(t, inOffAddr, off+int64(n)); err != nil {
				return 0, err
			}
		}
	} else {
		n, err = spliceRead(ctx, in, buf, nonblock)
	}
	if n == 0 {
		return 0, err
	}
	w, werr := outPipe.Write(ctx, buf[:n], out.Flags()&^unix.O_NONBLOCK)
	if w == 0 && werr != nil {
		return 0, raiseSIGPIPE(t, werr)
	}
	return uintptr(w), nil
}

// spliceRead reads from in at its position; a socket or other stream being
// spliced honours SPLICE_F_NONBLOCK too.
func spliceRead(ctx *fs.Context, in *vfs.FileDescription, buf []byte, nonblock uint32) (int, error) {
	if nonblock != 0 && isStream(in) {
		fl := in.Flags()
		return in.Impl().Read(ctx, buf, fl|nonblock)
	}
	return in.Read(ctx, buf)
}

// spliceOffset reads a splice offset (EINVAL when negative).
func spliceOffset(t *process.Thread, addr uintptr) (int64, error) {
	off, err := copyInInt64(t, addr)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	return off, nil
}

// Tee is tee(2): pipe to pipe, leaving the data in the first.
func Tee(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	inFD, outFD, length, flags := a.Int(0), a.Int(1), int64(a[2]), a.Uint(3)
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	in, out, err := getReadWrite(t, inFD, outFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	defer out.DecRef()
	inPipe, outPipe := pipeEnd(in), pipeEnd(out)
	if inPipe == nil || outPipe == nil || inPipe.Pipe() == outPipe.Pipe() {
		return 0, unix.EINVAL
	}
	if length <= 0 {
		return 0, nil
	}
	nonblock := uint32(0)
	if flags&unix.SPLICE_F_NONBLOCK != 0 {
		nonblock = unix.O_NONBLOCK
	}
	ctx := fsContext(t)
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := (*bp)[:min(length, ioChunk)]
	if room := outPipe.Room(); room > 0 {
		buf = buf[:min(len(buf), room)]
	} else if nonblock != 0 {
		return 0, unix.EAGAIN
	}
	n, err := inPipe.Peek(ctx, buf, nonblock)
	if n == 0 {
		return 0, err
	}
	w, err := outPipe.Write(ctx, buf[:n], out.Flags()&^unix.O_NONBLOCK|nonblock)
	if w == 0 && err != nil {
		return 0, raiseSIGPIPE(t, err)
	}
	return uintptr(w), nil
}
