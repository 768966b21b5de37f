package syscalls

import (
	"encoding/binary"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/lock"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Advisory locks: fcntl's record locks (F_GETLK, F_SETLK, F_SETLKW and
// their F_OFD_* forms) and flock(2), served by package sentry/fs/lock.

// flockSize is sizeof(struct flock) on x86-64: l_type and l_whence
// (shorts), l_start and l_len (off_t), l_pid (pid_t), padding.
const flockSize = 32

// fcntlLock serves the record-lock commands of fcntl on f; arg points to
// a struct flock.
func fcntlLock(t *process.Thread, f *vfs.FileDescription, cmd int32, arg uintptr) error {
	var b [flockSize]byte
	if _, err := t.CopyInBytes(hostarch.Addr(arg), b[:]); err != nil {
		return unix.EFAULT
	}
	typ := int16(binary.LittleEndian.Uint16(b[0:]))
	whence := int16(binary.LittleEndian.Uint16(b[2:]))
	start := int64(binary.LittleEndian.Uint64(b[8:]))
	length := int64(binary.LittleEndian.Uint64(b[16:]))
	pid := int32(binary.LittleEndian.Uint32(b[24:]))

	ofd := cmd == fOFDGetlk || cmd == fOFDSetlk || cmd == fOFDSetlkw
	getlk := cmd == unix.F_GETLK || cmd == fOFDGetlk
	if getlk && ofd && pid != 0 {
		return unix.EINVAL
	}
	ctx := fsContext(t)
	// flock_to_posix_lock: the range, from l_whence.
	var base int64
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		pos, err := f.Seek(ctx, 0, unix.SEEK_CUR)
		if err != nil {
			pos = 0
		}
		base = pos
	case unix.SEEK_END:
		st, err := f.Stat(ctx)
		if err != nil {
			return err
		}
		base = int64(st.Size)
	default:
		return unix.EINVAL
	}
	s := base + start
	if (start > 0 && s < base) || s < 0 {
		return unix.EINVAL
	}
	var e int64
	switch {
	case length > 0:
		if length-1 > lock.MaxOffset-s {
			return unix.EOVERFLOW
		}
		e = s + length - 1
	case length < 0:
		if s+length < 0 {
			return unix.EINVAL
		}
		e = s - 1
		s += length
	default:
		e = lock.MaxOffset
	}
	switch typ {
	case unix.F_RDLCK, unix.F_WRLCK, unix.F_UNLCK:
	default:
		return unix.EINVAL
	}
	key, err := f.FileKey(ctx)
	if err != nil {
		return err
	}
	r := lock.Request{Kind: lock.POSIX, Type: typ, Start: s, End: e, Owner: t.FDs, PID: t.Task.TGID(), Via: f}
	if ofd {
		r.Kind, r.Owner = lock.OFD, f
	}
	if getlk {
		if typ == unix.F_UNLCK {
			return unix.EINVAL
		}
		l, found := lock.Test(key, r)
		if !found {
			binary.LittleEndian.PutUint16(b[0:], uint16(unix.F_UNLCK))
		} else {
			binary.LittleEndian.PutUint16(b[0:], uint16(l.Type))
			binary.LittleEndian.PutUint16(b[2:], unix.SEEK_SET)
			binary.LittleEndian.PutUint64(b[8:], uint64(l.Start))
			ln := int64(0)
			if l.End != lock.MaxOffset {
				ln = l.End - l.Start + 1
			}
			binary.LittleEndian.PutUint64(b[16:], uint64(ln))
			// The owner in the caller's PID namespace, 0 if it
			// is outside it (locks_translate_pid).
			lpid := t.PIDOfTask(l.PID)
			if l.Kind != lock.POSIX {
				lpid = -1
			}
			binary.LittleEndian.PutUint32(b[24:], uint32(lpid))
		}
		if _, err := t.CopyOutBytes(hostarch.Addr(arg), b[:]); err != nil {
			return unix.EFAULT
		}
		return nil
	}
	// check_fmode_for_setlk.
	if typ == unix.F_RDLCK && !f.Readable() || typ == unix.F_WRLCK && !f.Writable() {
		return unix.EBADF
	}
	if ofd && pid != 0 {
		return unix.EINVAL
	}
	wait := cmd == unix.F_SETLKW || cmd == fOFDSetlkw
	return lock.Set(ctx, key, f.HostLocks(), r, wait)
}

// Flock is flock(2): LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB; the lock
// belongs to the open file description.
func Flock(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	cmd := a.Int(1)
	const lockMand = 32
	if cmd&lockMand != 0 {
		// Linux ignores LOCK_MAND (it never worked).
		return 0, nil
	}
	var typ int16
	switch cmd &^ unix.LOCK_NB {
	case unix.LOCK_SH:
		typ = unix.F_RDLCK
	case unix.LOCK_EX:
		typ = unix.F_WRLCK
	case unix.LOCK_UN:
		typ = unix.F_UNLCK
	default:
		return 0, unix.EINVAL
	}
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	ctx := fsContext(t)
	key, err := f.FileKey(ctx)
	if err != nil {
		return 0, err
	}
	return 0, lock.SetFlock(ctx, key, f.HostLocks(), f, t.Task.TGID(), typ, cmd&unix.LOCK_NB == 0)
}
