package vfs

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfd"
	"github.com/runsc-lite/runsc-lite/sentry/fs/lock"
	"golang.org/x/sys/unix"
)

// DefaultNoFile is the default RLIMIT_NOFILE.
const DefaultNoFile = 1024

// maxNoFile bounds any limit (Linux's nr_open).
const maxNoFile = 1 << 20

type fdSlot struct {
	file    *FileDescription
	cloexec bool
}

// FDTable maps file descriptor numbers to open file descriptions. It is
// shared by the threads of a process (and by processes cloned with
// CLONE_FILES, through IncRef).
//
// The slots are an array indexed by number (grown by doubling); which
// numbers are in use is also kept in a multi-level bitmap (fdBitmap), so
// the lowest free number — what open, dup and F_DUPFD must return — is
// found in O(log64 n) rather than by scanning: opening n descriptors costs
// O(n log n), not O(n²).
//
// Locking: mu protects slots, used and limit. Descriptions are released
// (DecRef) after mu is dropped.
type FDTable struct {
	refs atomic.Int64

	mu    sync.Mutex
	slots []fdSlot
	used  fdBitmap
	limit int
}

// NewFDTable returns an empty table with one user.
func NewFDTable() *FDTable {
	t := &FDTable{limit: DefaultNoFile}
	t.refs.Store(1)
	return t
}

// IncRef adds a user of the table (clone with CLONE_FILES).
func (t *FDTable) IncRef() { t.refs.Add(1) }

// Fork returns a copy of the table sharing the same descriptions (fork
// without CLONE_FILES).
func (t *FDTable) Fork() *FDTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &FDTable{limit: t.limit, slots: make([]fdSlot, len(t.slots))}
	n.refs.Store(1)
	copy(n.slots, t.slots)
	n.used.levels = make([][]uint64, len(t.used.levels))
	for i, l := range t.used.levels {
		n.used.levels[i] = append([]uint64(nil), l...)
	}
	for _, s := range n.slots {
		if s.file != nil {
			s.file.IncRef()
		}
	}
	return n
}

// Unshare returns a table of the caller's own: t itself when nobody else
// uses it, else a copy, t losing the caller as a user (execve's
// unshare_files: a CLONE_FILES|CLONE_VFORK child that execs must not close
// its parent's close-on-exec descriptors).
func (t *FDTable) Unshare() *FDTable {
	if t.refs.Load() == 1 {
		return t
	}
	n := t.Fork()
	t.Release()
	return n
}

// CloseOnExec closes every descriptor marked FD_CLOEXEC (execve).
func (t *FDTable) CloseOnExec() {
	var drop []*FileDescription
	t.mu.Lock()
	for i := t.used.next(0); i >= 0; i = t.used.next(i + 1) {
		if t.slots[i].cloexec {
			drop = append(drop, t.slots[i].file)
			t.removeLocked(i)
		}
	}
	t.mu.Unlock()
	for _, f := range drop {
		t.closed(f)
		f.DecRef()
	}
}

// Release drops a user of the table; the last one closes every
// descriptor.
func (t *FDTable) Release() {
	if t.refs.Add(-1) > 0 {
		return
	}
	t.mu.Lock()
	slots := t.slots
	t.slots = nil
	t.used = fdBitmap{}
	t.mu.Unlock()
	for _, s := range slots {
		if s.file != nil {
			t.closed(s.file)
			s.file.DecRef()
		}
	}
}

// closed is what closing a descriptor of f by the table's process does
// before the reference goes: its POSIX locks on f's file are dropped,
// whichever of its descriptors took them (Linux's filp_flush ->
// locks_remove_posix).
func (t *FDTable) closed(f *FileDescription) {
	if !lock.HasPOSIX(t) {
		return
	}
	if key, err := f.FileKey(fs.Background); err == nil {
		lock.ReleasePOSIX(key, t)
	}
}

// SetLimit sets RLIMIT_NOFILE for new descriptors.
func (t *FDTable) SetLimit(n uint64) {
	if n > maxNoFile {
		n = maxNoFile
	}
	t.mu.Lock()
	t.limit = int(n)
	t.mu.Unlock()
}

// Limit returns RLIMIT_NOFILE.
func (t *FDTable) Limit() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}

// Get returns the description of fd with a new reference (the caller must
// DecRef it), or EBADF.
func (t *FDTable) Get(fd int32) (*FileDescription, error) {
	f, _, err := t.GetWithFlags(fd)
	return f, err
}

// GetWithFlags is Get that also returns the FD_CLOEXEC flag.
func (t *FDTable) GetWithFlags(fd int32) (*FileDescription, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		return nil, false, unix.EBADF
	}
	s := t.slots[fd]
	s.file.IncRef()
	return s.file, s.cloexec, nil
}

// Install puts f at the lowest free descriptor number at or above min and
// returns it; the table takes its own reference. EMFILE if none is free
// below the limit (EINVAL for a min beyond it, as F_DUPFD).
func (t *FDTable) Install(f *FileDescription, cloexec bool) (int32, error) {
	return t.InstallFrom(0, f, cloexec)
}

// InstallFrom is Install searching from min (F_DUPFD).
func (t *FDTable) InstallFrom(min int32, f *FileDescription, cloexec bool) (int32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if min < 0 || int(min) >= t.limit {
		return -1, unix.EINVAL
	}
	i := t.used.firstFree(int(min))
	if i >= t.limit {
		return -1, unix.EMFILE
	}
	f.IncRef()
	t.setLocked(i, fdSlot{file: f, cloexec: cloexec})
	return int32(i), nil
}

// setLocked puts s at fd, growing the table as needed (by doubling).
// Preconditions: t.mu is held; s.file is not nil.
func (t *FDTable) setLocked(fd int, s fdSlot) {
	if fd >= len(t.slots) {
		n := max(fd+1, 2*len(t.slots), 16)
		ns := make([]fdSlot, n)
		copy(ns, t.slots)
		t.slots = ns
	}
	t.used.grow(len(t.slots))
	t.slots[fd] = s
	t.used.set(fd)
}

// removeLocked empties fd. Preconditions: t.mu is held.
func (t *FDTable) removeLocked(fd int) {
	t.slots[fd] = fdSlot{}
	t.used.clear(fd)
}

// SearchCost returns how many bitmap words the table's allocations have
// looked at so far (the cost of finding free numbers, for tests).
func (t *FDTable) SearchCost() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used.visits
}

// InstallAt puts f at fd, closing what was there (dup2/dup3). EBADF if fd
// is beyond the limit.
func (t *FDTable) InstallAt(fd int32, f *FileDescription, cloexec bool) error {
	t.mu.Lock()
	if fd < 0 || int(fd) >= t.limit {
		t.mu.Unlock()
		return unix.EBADF
	}
	var old *FileDescription
	if int(fd) < len(t.slots) {
		old = t.slots[fd].file
	}
	f.IncRef()
	t.setLocked(int(fd), fdSlot{file: f, cloexec: cloexec})
	t.mu.Unlock()
	if old != nil {
		t.closed(old)
		old.DecRef()
	}
	return nil
}

// Remove closes fd and returns EBADF if it was not open.
func (t *FDTable) Remove(fd int32) error {
	t.mu.Lock()
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		t.mu.Unlock()
		return unix.EBADF
	}
	old := t.slots[fd].file
	t.removeLocked(int(fd))
	t.mu.Unlock()
	t.closed(old)
	old.DecRef()
	return nil
}

// CloseRange closes (or with cloexecOnly marks FD_CLOEXEC) every open
// descriptor in [first, last].
func (t *FDTable) CloseRange(first, last uint32, cloexecOnly bool) {
	var drop []*FileDescription
	t.mu.Lock()
	if uint64(first) < uint64(len(t.slots)) {
		for i := t.used.next(int(first)); i >= 0 && uint64(i) <= uint64(last); i = t.used.next(i + 1) {
			if cloexecOnly {
				t.slots[i].cloexec = true
				continue
			}
			drop = append(drop, t.slots[i].file)
			t.removeLocked(i)
		}
	}
	t.mu.Unlock()
	for _, f := range drop {
		t.closed(f)
		f.DecRef()
	}
}

// SetCloexec sets or clears FD_CLOEXEC on fd.
func (t *FDTable) SetCloexec(fd int32, cloexec bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		return unix.EBADF
	}
	t.slots[fd].cloexec = cloexec
	return nil
}

// FDInfo is one open descriptor (for /proc/PID/fd).
type FDInfo struct {
	FD      int32
	File    *FileDescription
	Cloexec bool
}

// Snapshot returns the open descriptors in order, each with a new
// reference the caller must DecRef.
func (t *FDTable) Snapshot() []FDInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []FDInfo
	for i := t.used.next(0); i >= 0; i = t.used.next(i + 1) {
		s := t.slots[i]
		s.file.IncRef()
		out = append(out, FDInfo{FD: int32(i), File: s.file, Cloexec: s.cloexec})
	}
	return out
}

// FDs returns the open descriptor numbers in order.
func (t *FDTable) FDs() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int32
	for i := t.used.next(0); i >= 0; i = t.used.next(i + 1) {
		out = append(out, int32(i))
	}
	return out
}

// InstallHostFD installs a duplicate of the sentry's host descriptor
// hostFD at fd (not close-on-exec), with the host descriptor's access mode
// and O_APPEND. Errors: EBADF if hostFD is not open.
func (t *FDTable) InstallHostFD(fd int32, hostFD int) error {
	n, err := hostfd.New(hostFD)
	if err != nil {
		return err
	}
	acc := uint32(unix.O_RDWR)
	if fl, err := unix.FcntlInt(uintptr(hostFD), unix.F_GETFL, 0); err == nil {
		acc = uint32(fl) & (unix.O_ACCMODE | unix.O_APPEND)
	}
	impl, err := n.Open(fs.Background, acc)
	if err != nil {
		return err
	}
	f := NewFileDescription(Location{Mount: anonMount, Node: n, Path: n.Path()}, impl, acc)
	err = t.InstallAt(fd, f, false)
	f.DecRef()
	return err
}
