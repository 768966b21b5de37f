package tmpfs

import (
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// File seals (fcntl F_ADD_SEALS, F_GET_SEALS; Linux's mm/memfd.c and the
// checks of mm/shmem.c). Every tmpfs file has seals, F_SEAL_SEAL from
// birth so that only a memfd made with MFD_ALLOW_SEALING can gain others;
// an overlay's upper layer has none (overlayfs files are not shmem).
//
//   - F_SEAL_SHRINK, F_SEAL_GROW: truncations that shrink or grow the file
//     fail with EPERM, and with GROW so do writes and fallocate past the
//     end (a write that crosses it stops there).
//   - F_SEAL_WRITE: writes and hole punching fail with EPERM, and so do
//     shared mappings that could write (mmap PROT_WRITE MAP_SHARED is
//     EPERM; a read-only shared one cannot be made writable by mprotect).
//     The seal itself is EBUSY while such a mapping exists: writeMaps
//     counts them (mm.WriteMapCounter) and the mmaps being made.
//   - F_SEAL_FUTURE_WRITE: as WRITE, but mappings that exist keep writing.
//   - F_SEAL_EXEC: the mode's execute bits cannot change; added to a file
//     that has any, it brings the four others above with it.
//
// Seals and writeMaps are protected by Inode.mu.

// allSeals are the seals Linux knows (F_ALL_SEALS).
const allSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE |
	unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_EXEC

const writeSeals = unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE

// Seals returns the inode's seals.
func (i *Inode) Seals() uint32 {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.seals
}

// GetSeals implements fs.Sealable: EINVAL for an overlay layer's file.
func (f *File) GetSeals() (uint32, error) {
	if f.inode.fs.layer {
		return 0, unix.EINVAL
	}
	return f.inode.Seals(), nil
}

// AddSeals implements fs.Sealable (the caller checked that the
// description is writable): EINVAL for unknown seals, EPERM once
// F_SEAL_SEAL is set, EBUSY for F_SEAL_WRITE while a shared mapping may
// write.
func (f *File) AddSeals(seals uint32) error {
	i := f.inode
	if i.fs.layer {
		return unix.EINVAL
	}
	if seals&^allSeals != 0 {
		return unix.EINVAL
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.seals&unix.F_SEAL_SEAL != 0 {
		return unix.EPERM
	}
	if seals&unix.F_SEAL_EXEC != 0 && i.mode&0111 != 0 {
		seals |= unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | writeSeals
	}
	if seals&unix.F_SEAL_WRITE != 0 && i.seals&unix.F_SEAL_WRITE == 0 && i.writeMaps > 0 {
		return unix.EBUSY
	}
	i.seals |= seals
	return nil
}

// writeSealedLocked applies the seals to a write of src at off: EPERM
// under a write seal or at or past the end under F_SEAL_GROW, whose
// write is cut at the end. Preconditions: i.mu is held.
func (i *Inode) writeSealedLocked(src []byte, off int64) ([]byte, error) {
	if i.seals&(writeSeals|unix.F_SEAL_GROW) == 0 {
		return src, nil
	}
	if i.seals&writeSeals != 0 {
		return nil, unix.EPERM
	}
	if off+int64(len(src)) > i.data.size {
		if off >= i.data.size {
			return nil, unix.EPERM
		}
		src = src[:i.data.size-off]
	}
	return src, nil
}

// setStatSealedLocked applies the seals to a change of size or mode.
// Preconditions: i.mu is held.
func (i *Inode) setStatSealedLocked(s fs.SetStat) error {
	if s.Mask&linux.STATX_SIZE != 0 {
		switch size := int64(s.Size); {
		case size < i.data.size && i.seals&unix.F_SEAL_SHRINK != 0:
			return unix.EPERM
		case size > i.data.size && i.seals&unix.F_SEAL_GROW != 0:
			return unix.EPERM
		}
	}
	if s.Mask&linux.STATX_MODE != 0 && i.seals&unix.F_SEAL_EXEC != 0 && (i.mode^s.Mode)&0111 != 0 {
		return unix.EPERM
	}
	return nil
}

// WriteMapped implements mm.WriteMapCounter.
func (m Mappable) WriteMapped(delta int32) {
	m.i.mu.Lock()
	m.i.writeMaps += delta
	m.i.mu.Unlock()
}

// HoldSharedWrite implements mm.SharedWriteGate.
func (m Mappable) HoldSharedWrite(write bool) (bool, func(), error) {
	i := m.i
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.seals&writeSeals != 0 {
		if write {
			return false, nil, unix.EPERM
		}
		return false, func() {}, nil
	}
	i.writeMaps++
	var once sync.Once
	return true, func() { once.Do(func() { m.WriteMapped(-1) }) }, nil
}

// memfdFS is the internal tmpfs of memfd_create's files (Linux's shm_mnt),
// made at the first memfd.
var memfdFS = sync.OnceValue(func() *FS { return New(01777, 0, 0) })

// NewMemfd returns a new memfd's inode and open file: unlinked, owned by
// the caller of ctx, mode 0777 (0666 with noExec, which also seals the
// execute bits), sealable when allowSealing.
func NewMemfd(ctx *fs.Context, allowSealing, noExec bool) (*Inode, fs.File, error) {
	uid, gid := creds(ctx)
	mode := uint32(0777)
	if noExec {
		mode = 0666
	}
	i := memfdFS().NewInode(unix.S_IFREG|mode, uid, gid)
	switch {
	case noExec:
		i.seals = unix.F_SEAL_EXEC
	case allowSealing:
		i.seals = 0
	}
	f, err := i.Open(ctx, unix.O_RDWR)
	if err != nil {
		return nil, nil, err
	}
	return i, f, nil
}
