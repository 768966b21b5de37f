package syscalls

import (
	"io"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/pipe"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

// splice(2), tee(2), vmsplice(2) (the pipe side is sentry/fs/pipe's
// splice.go) and sync_file_range(2).

const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MORE | unix.SPLICE_F_GIFT

// pipeEnd returns f's pipe end, or nil if f is not a pipe or FIFO.
func pipeEnd(f *vfs.FileDescription) *pipe.End {
	e, _ := f.Impl().(*pipe.End)
	return e
}

func Splice(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	inFD, inOffAddr, outFD, outOffAddr, length, flags := a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), a[4], a.Uint(5)
	if length == 0 {
		return 0, nil
	}
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	in, out, err := getReadWrite(t, inFD, outFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	defer out.DecRef()
	ip, op := pipeEnd(in), pipeEnd(out)
	if (ip != nil && inOffAddr != 0) || (op != nil && outOffAddr != 0) {
		return 0, unix.ESPIPE
	}
	var off int64
	offAddr := outOffAddr
	if ip == nil {
		offAddr = inOffAddr
	}
	if offAddr != 0 {
		if off, err = copyInInt64(t, offAddr); err != nil {
			return 0, err
		}
	}
	limit := int(min(length, maxRWCount))
	ctx := fsContext(t)
	nonblock := flags&unix.SPLICE_F_NONBLOCK != 0
	var n int
	switch {
	case ip != nil && op != nil:
		nonblock = nonblock || (in.Flags()|out.Flags())&unix.O_NONBLOCK != 0
		n, err = pipe.Splice(ctx, ip, op, limit, nonblock, false)
		return uintptr(n), raiseSIGPIPE(t, err)
	case ip != nil:
		// From a pipe into a file, at *off_out or the file's position.
		if out.Flags()&unix.O_APPEND != 0 {
			return 0, unix.EINVAL
		}
		write := func(b []byte) (int, error) { return out.Write(ctx, b) }
		if offAddr != 0 {
			if err := checkSpliceOffset(out, off); err != nil {
				return 0, err
			}
			write = func(b []byte) (int, error) { return out.PWrite(ctx, b, off) }
		}
		nonblock = nonblock || in.Flags()&unix.O_NONBLOCK != 0
		n, err = ip.SpliceOut(ctx, limit, nonblock, write)
	case op != nil:
		// From a file, at *off_in or its position, into a pipe.
		if in.IsDir() {
			return 0, unix.EISDIR
		}
		read := func(b []byte) (int, error) { return in.Read(ctx, b) }
		if offAddr != 0 {
			if err := checkSpliceOffset(in, off); err != nil {
				return 0, err
			}
			read = func(b []byte) (int, error) { return in.PRead(ctx, b, off) }
		}
		nonblock = nonblock || out.Flags()&unix.O_NONBLOCK != 0
		n, err = op.SpliceIn(ctx, limit, nonblock, read)
	default:
		return 0, unix.EINVAL
	}
	if err != nil {
		return 0, raiseSIGPIPE(t, err)
	}
	if offAddr != 0 {
		if err := copyOutInt64(t, offAddr, off+int64(n)); err != nil {
			return 0, err
		}
	}
	return uintptr(n), nil
}

// checkSpliceOffset checks an explicit offset of splice's file side:
// EINVAL for a file without positions (FMODE_PWRITE/FMODE_PREAD) or a
// negative offset.
func checkSpliceOffset(f *vfs.FileDescription, off int64) error {
	if isStream(f) || off < 0 {
		return unix.EINVAL
	}
	return nil
}

func Tee(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	inFD, outFD, length, flags := a.Int(0), a.Int(1), a[2], a.Uint(3)
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	if length == 0 {
		return 0, nil
	}
	in, out, err := getReadWrite(t, inFD, outFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	defer out.DecRef()
	ip, op := pipeEnd(in), pipeEnd(out)
	if ip == nil || op == nil {
		return 0, unix.EINVAL
	}
	nonblock := flags&unix.SPLICE_F_NONBLOCK != 0 || (in.Flags()|out.Flags())&unix.O_NONBLOCK != 0
	n, err := pipe.Splice(fsContext(t), ip, op, int(min(length, maxRWCount)), nonblock, true)
	return uintptr(n), raiseSIGPIPE(t, err)
}

func Vmsplice(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fd, iovAddr, nr, flags := a.Int(0), a.Ptr(1), a[2], a.Uint(3)
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	f, err := getFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	toPipe := f.Writable()
	if f.IsPath() || (!toPipe && !f.Readable()) {
		return 0, unix.EBADF
	}
	if nr > usermem.MaxIOV {
		return 0, unix.EINVAL
	}
	iovs, err := usermem.CopyInIOVecs(t, iovAddr, int(nr))
	if err != nil {
		return 0, err
	}
	seq := usermem.NewIOSequence(t, iovs)
	if seq.Len() == 0 {
		return 0, nil
	}
	e := pipeEnd(f)
	if e == nil {
		return 0, unix.EBADF
	}
	ctx := fsContext(t)
	nonblock := flags&unix.SPLICE_F_NONBLOCK != 0
	limit := min(seq.Len(), int(maxRWCount))
	var n int
	if toPipe {
		n, err = e.SpliceIn(ctx, limit, nonblock, func(b []byte) (int, error) { return io.ReadFull(seq, b) })
	} else {
		n, err = e.SpliceOut(ctx, limit, nonblock, seq.Write)
	}
	if err != nil && n == 0 {
		if err == io.ErrUnexpectedEOF || err == io.ErrShortWrite {
			err = unix.EFAULT
		}
		return 0, raiseSIGPIPE(t, err)
	}
	return uintptr(n), nil
}

const syncFileRangeFlags = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER

// SyncFileRange is sync_file_range(2): the dirty pages of the range that
// the sentry holds (shared mappings of the file) are written to the file.
// The host is not asked to start its own write-back: as on Linux, this
// promises no durability (fsync does).
func SyncFileRange(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fd, off, nbytes, flags := a.Int(0), int64(a[1]), int64(a[2]), a.Uint(3)
	end := off + nbytes
	if flags&^syncFileRangeFlags != 0 || off < 0 || end < 0 || end < off {
		return 0, unix.EINVAL
	}
	f, err := getFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	switch f.Node().Type() {
	case unix.S_IFREG, unix.S_IFDIR, unix.S_IFBLK, unix.S_IFLNK:
	default:
		return 0, unix.ESPIPE
	}
	if flags == 0 || f.Node().Type() != unix.S_IFREG {
		return 0, nil
	}
	if nbytes == 0 {
		end = 1<<63 - 1
	}
	if mp, err := f.Mappable(); err == nil {
		dev, ino, _ := mp.MappingIdentity()
		mm.FileFlush(dev, ino, off, end-off)
	}
	return 0, nil
}
