// Package shm is System V shared memory (shmget, shmat, shmdt, shmctl) of
// the sandbox's IPC namespace.
//
// A segment's memory is an mm.SharedMemory: frames of the sandbox's memory
// file allocated through the zone on first touch, shared by every
// attachment and counted as Shmem. They are on the anonymous LRU: with
// swap (--swap), kswapd and direct reclaim write them out like any
// anonymous page, and SHM_LOCK makes them unevictable, as Linux's shmem. An
// attachment is a shared mapping whose mappable is the Segment itself, so
// the attach count is Linux's: one per vma (a fork copies them, an exec or
// exit drops them, an mprotect that splits one counts twice), kept through
// mm.ProcessMappedFile, which also gives shm_lpid. IPC_RMID marks a segment
// that is still attached SHM_DEST and makes its key private; the last
// detach destroys it (as does any last detach, and the creator's exit for
// a segment never attached, when kernel.shm_rmid_forced is set).
//
// Locking: Registry.mu protects the table and every segment's state. Lock
// order: mm.MemoryManager.mu → Registry.mu → the segment memory's own lock
// (an unmapping memory manager tells the segment with its lock held).
// Registry.mu is never held across a call into a memory manager: shmat
// pins the segment (an extra attach, as Linux does) and maps it unlocked.
package shm

import (
	"fmt"
	"strings"
	"sync"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Defaults of the kernel.shm* sysctls (Linux's).
const (
	DefaultMax = linux.SHMMAX // bytes per segment
	DefaultAll = linux.SHMALL // pages in all segments
	DefaultMNI = linux.SHMMNI // segments
)

// StatAny is shmctl's SHM_STAT_ANY (Linux 4.17), which the ABI package
// does not name.
const StatAny = 15

// Registry is the namespace's shared memory segments.
type Registry struct {
	zone *kswapd.Zone
	dev  uint64

	mu    sync.Mutex
	table *ipc.Table[*Segment]
	// The sysctls kernel.shmmax, shmall, shmmni, shm_rmid_forced.
	ctlMax, ctlAll uint64
	ctlMNI         int32
	rmidForced     bool
	// totPages is shm_tot: the pages of every segment.
	totPages uint64
	// lockedPages is the pages of SHM_LOCKed segments per real UID
	// (user_shm_lock's count against RLIMIT_MEMLOCK).
	lockedPages map[uint32]uint64
}

// NewRegistry returns an empty registry whose segments live in z's memory
// file; dev is the device /proc/PID/maps shows for them.
func NewRegistry(z *kswapd.Zone, dev uint64) *Registry {
	return &Registry{
		zone: z, dev: dev,
		table:  ipc.NewTable[*Segment](),
		ctlMax: DefaultMax, ctlAll: DefaultAll, ctlMNI: DefaultMNI,
		lockedPages: make(map[uint32]uint64),
	}
}

// Segment is one shared memory segment. It is also the mappable of its
// attachments.
type Segment struct {
	r    *Registry
	perm ipc.Perm
	mem  *mm.SharedMemory
	// size is shm_segsz, as asked (not rounded).
	size         uint64
	atime, dtime int64
	cpid, lpid   int32
	nattch       int
	// creator is the TID of the thread that made it (0 once it exited):
	// shm_rmid_forced destroys what an exiting creator never attached.
	creator int32
	// lockedUID is whose RLIMIT_MEMLOCK count an SHM_LOCK charged.
	lockedUID uint32
	destroyed bool
}

// IPCPerm implements ipc.Object.
func (s *Segment) IPCPerm() *ipc.Perm { return &s.perm }

func (s *Segment) pages() uint64 { return (s.size + mm.PageSize - 1) / mm.PageSize }

// Caller is who makes a call: credentials, process and thread IDs, and
// RLIMIT_MEMLOCK (bytes).
type Caller struct {
	Creds    *auth.Credentials
	PID, TID int32
	MemLock  uint64
}

// Get is shmget(2). size is the segment's size in bytes; flags hold
// IPC_CREAT, IPC_EXCL, SHM_HUGETLB, SHM_NORESERVE and the permission bits.
func (r *Registry) Get(c Caller, key int32, size uint64, flags int32) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ipc.Get(r.table, key, flags, c.Creds, func() (*Segment, error) {
		return r.newSegmentLocked(c, key, size, flags)
	}, func(s *Segment) error {
		if s.size < size {
			return unix.EINVAL
		}
		return nil
	})
}

// newSegmentLocked is newseg. Errors: EINVAL for a size outside [1,
// shmmax]; ENOSPC past shmall or shmmni; ENOMEM for SHM_HUGETLB (the
// sandbox has no huge pages) or an accounted segment larger than memory
// and swap; EPERM for SHM_HUGETLB without CAP_IPC_LOCK outside group 0.
func (r *Registry) newSegmentLocked(c Caller, key int32, size uint64, flags int32) (*Segment, error) {
	if size < linux.SHMMIN || size > r.ctlMax {
		return nil, unix.EINVAL
	}
	npages := (size + mm.PageSize - 1) / mm.PageSize
	if npages<<12 < size {
		return nil, unix.ENOSPC
	}
	if r.totPages+npages < r.totPages || r.totPages+npages > r.ctlAll {
		return nil, unix.ENOSPC
	}
	if flags&linux.SHM_HUGETLB != 0 {
		// vm.hugetlb_shm_group is 0 and vm.nr_hugepages 0.
		if !c.Creds.HasCapability(linux.CAP_IPC_LOCK) && !c.Creds.InGroup(0) {
			return nil, unix.EPERM
		}
		return nil, unix.ENOMEM
	}
	if flags&linux.SHM_NORESERVE == 0 && !mm.OvercommitOK(r.zone, npages) {
		return nil, unix.ENOMEM
	}
	s := &Segment{
		r:       r,
		perm:    ipc.NewPerm(key, c.Creds, flags),
		size:    size,
		cpid:    c.PID,
		creator: c.TID,
	}
	if err := r.table.Add(s, int(r.ctlMNI)); err != nil {
		return nil, err
	}
	s.mem = mm.NewSharedMemory(r.zone, size)
	r.totPages += npages
	return s, nil
}

// AttachOpts are shmat(2)'s address and flags.
type AttachOpts struct {
	Addr  uintptr
	Flags int32
}

// Attach is shmat(2): it maps segment id into m and returns the address.
// Errors: EINVAL for a bad identifier or address (unaligned without
// SHM_RND, SHM_REMAP without one, overlapping a mapping without
// SHM_REMAP), EACCES without read (and write unless SHM_RDONLY, execute
// with SHM_EXEC) permission, EIDRM for a segment being destroyed, and
// mmap's errors (ENOMEM).
func (r *Registry) Attach(c Caller, m *mm.MemoryManager, id int32, o AttachOpts, lim *mm.VMLimits) (uintptr, error) {
	addr := o.Addr
	fixed := false
	if id < 0 {
		return 0, unix.EINVAL
	}
	if addr != 0 {
		if addr%mm.PageSize != 0 {
			if o.Flags&linux.SHM_RND == 0 {
				return 0, unix.EINVAL
			}
			addr &^= mm.PageSize - 1
			if addr == 0 && o.Flags&linux.SHM_REMAP != 0 {
				return 0, unix.EINVAL
			}
		}
		fixed = true
	} else if o.Flags&linux.SHM_REMAP != 0 {
		return 0, unix.EINVAL
	}
	perms := hostarch.ReadWrite
	var acc int32 = ipc.MayRead | ipc.MayWrite
	if o.Flags&linux.SHM_RDONLY != 0 {
		perms, acc = hostarch.Read, ipc.MayRead
	}
	if o.Flags&linux.SHM_EXEC != 0 {
		perms.Execute = true
		acc |= ipc.MayExec
	}

	r.mu.Lock()
	s, err := r.table.Lookup(id)
	if err != nil {
		r.mu.Unlock()
		return 0, err
	}
	if !s.perm.Check(c.Creds, acc) {
		r.mu.Unlock()
		return 0, unix.EACCES
	}
	if s.destroyed {
		r.mu.Unlock()
		return 0, unix.EIDRM
	}
	// Pinned while it is mapped without the lock (do_shmat's
	// temporary attach).
	s.nattch++
	r.mu.Unlock()

	size := s.mem.Size()
	switch {
	case fixed && addr+uintptr(size) < addr:
		err = unix.EINVAL
	case fixed && o.Flags&linux.SHM_REMAP == 0 && m.Intersects(addr, uintptr(size)):
		err = unix.EINVAL
	default:
		addr, err = m.MMap(mm.MMapOpts{
			Addr:     addr,
			Length:   uintptr(size),
			Fixed:    fixed,
			Perms:    perms,
			MaxPerms: perms,
			Shared:   s.mem,
			Mappable: s,
			Limits:   lim,
		})
	}

	r.mu.Lock()
	s.nattch--
	r.maybeDestroyLocked(s)
	r.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return addr, nil
}

// maybeDestroyLocked is shm_may_destroy + shm_destroy.
func (r *Registry) maybeDestroyLocked(s *Segment) {
	if s.nattch == 0 && !s.destroyed && (r.rmidForced || s.perm.Mode&linux.SHM_DEST != 0) {
		r.destroyLocked(s)
	}
}

// destroyLocked removes s and frees its memory (once no mapping is left,
// which is the case here).
func (r *Registry) destroyLocked(s *Segment) {
	s.destroyed = true
	r.table.Remove(s)
	r.totPages -= s.pages()
	if s.perm.Mode&linux.SHM_LOCKED != 0 {
		r.unlockLocked(s)
	}
	s.mem.Release()
}

// MappedBy implements mm.ProcessMappedFile: shm_open.
func (s *Segment) MappedBy(pid int32) {
	r := s.r
	r.mu.Lock()
	s.atime = ipc.Now()
	s.lpid = pid
	s.nattch++
	r.mu.Unlock()
}

// UnmappedBy implements mm.ProcessMappedFile: shm_close.
func (s *Segment) UnmappedBy(pid int32) {
	r := s.r
	r.mu.Lock()
	s.lpid = pid
	s.dtime = ipc.Now()
	s.nattch--
	r.maybeDestroyLocked(s)
	r.mu.Unlock()
}

// ReadAt implements mm.Mappable; a segment's pages are never read from a
// file (its memory is anonymous).
func (s *Segment) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}

// WriteAt implements mm.Mappable; nothing is written back.
func (s *Segment) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// MappingIdentity implements mm.Mappable: /proc/PID/maps shows an
// attachment as Linux does, the shm device, the identifier as inode and
// "/SYSV<key> (deleted)".
func (s *Segment) MappingIdentity() (dev, ino uint64, path string) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dev, uint64(uint32(s.perm.ID)), fmt.Sprintf("/SYSV%08x (deleted)", uint32(s.perm.Key))
}

// Stat is shmctl's IPC_STAT (byIndex false), SHM_STAT and SHM_STAT_ANY
// (byIndex true: id is an index; any skips the read permission check). It
// returns the segment's shmid64_ds and its identifier.
func (r *Registry) Stat(c Caller, id int32, byIndex, any bool) (linux.ShmidDS, int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.LookupStat(id, byIndex)
	if err != nil {
		return linux.ShmidDS{}, 0, err
	}
	if !any && !s.perm.Check(c.Creds, ipc.MayRead) {
		return linux.ShmidDS{}, 0, unix.EACCES
	}
	if s.destroyed {
		return linux.ShmidDS{}, 0, unix.EIDRM
	}
	return linux.ShmidDS{
		ShmPerm:    s.perm.ToLinux(),
		ShmSegsz:   s.size,
		ShmAtime:   linux.TimeT(s.atime),
		ShmDtime:   linux.TimeT(s.dtime),
		ShmCtime:   linux.TimeT(s.perm.CTime),
		ShmCpid:    s.cpid,
		ShmLpid:    s.lpid,
		ShmNattach: uint64(s.nattch),
	}, s.perm.ID, nil
}

// Set is shmctl IPC_SET: the owner and permission bits. EINVAL for a bad
// identifier or owner, EPERM unless the caller owns or created the segment
// or has CAP_SYS_ADMIN.
func (r *Registry) Set(c Caller, id int32, ds *linux.ShmidDS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.LookupOwned(id, c.Creds)
	if err != nil {
		return err
	}
	return s.perm.Set(ds.ShmPerm.UID, ds.ShmPerm.GID, ds.ShmPerm.Mode)
}

// Remove is shmctl IPC_RMID: a segment still attached is marked SHM_DEST
// and its key becomes IPC_PRIVATE (it is destroyed at its last detach);
// one that is not is destroyed now.
func (r *Registry) Remove(c Caller, id int32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.LookupOwned(id, c.Creds)
	if err != nil {
		return err
	}
	if s.nattch > 0 {
		s.perm.Mode |= linux.SHM_DEST
		r.table.MakePrivate(s)
		return nil
	}
	r.destroyLocked(s)
	return nil
}

// RemoveAll is IPC_RMID of every segment, as Linux does when an IPC
// namespace dies: attached ones go at their last detach.
func (r *Registry) RemoveAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.table.All() {
		if s.nattch > 0 {
			s.perm.Mode |= linux.SHM_DEST
			r.table.MakePrivate(s)
			continue
		}
		r.destroyLocked(s)
	}
}

// Lock is shmctl SHM_LOCK (lock) and SHM_UNLOCK. Without CAP_IPC_LOCK the
// caller must own or have created the segment (EPERM), and to lock, have
// a non-zero RLIMIT_MEMLOCK (EPERM) that the user's locked segments stay
// within (ENOMEM). A locked segment's pages are unevictable (reclaim never
// swaps them; pages already on swap come back when touched); the user's
// RLIMIT_MEMLOCK counts them, and ipcs shows the segment "locked".
func (r *Registry) Lock(c Caller, id int32, lock bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.Lookup(id)
	if err != nil {
		return err
	}
	if s.destroyed {
		return unix.EIDRM
	}
	capLock := c.Creds.HasCapability(linux.CAP_IPC_LOCK)
	if !capLock {
		euid := c.Creds.EffectiveUID
		if euid != s.perm.UID && euid != s.perm.CUID {
			return unix.EPERM
		}
		if lock && c.MemLock == 0 {
			return unix.EPERM
		}
	}
	if !lock {
		if s.perm.Mode&linux.SHM_LOCKED != 0 {
			r.unlockLocked(s)
			s.perm.Mode &^= linux.SHM_LOCKED
			s.mem.SetLocked(false)
		}
		return nil
	}
	if s.perm.Mode&linux.SHM_LOCKED != 0 {
		return nil
	}
	// user_shm_lock.
	uid := c.Creds.RealUID
	npages := s.pages()
	if c.MemLock != unix.RLIM_INFINITY && !capLock {
		if r.lockedPages[uid]+npages > c.MemLock/mm.PageSize {
			return unix.ENOMEM
		}
	}
	r.lockedPages[uid] += npages
	s.lockedUID = uid
	s.perm.Mode |= linux.SHM_LOCKED
	s.mem.SetLocked(true)
	return nil
}

func (r *Registry) unlockLocked(s *Segment) {
	n := s.pages()
	if r.lockedPages[s.lockedUID] <= n {
		delete(r.lockedPages, s.lockedUID)
	} else {
		r.lockedPages[s.lockedUID] -= n
	}
}

// Info is shmctl IPC_INFO: the limits, and the highest index in use (0
// when none) as the result.
func (r *Registry) Info() (linux.ShmParams, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return linux.ShmParams{
		ShmMax: r.ctlMax,
		ShmMin: linux.SHMMIN,
		ShmMni: uint64(r.ctlMNI),
		ShmSeg: uint64(r.ctlMNI),
		ShmAll: r.ctlAll,
	}, max(r.table.MaxIndex(), 0)
}

// Usage is shmctl SHM_INFO: segments, pages, resident pages, and the
// highest index in use (0 when none) as the result.
func (r *Registry) Usage() (linux.ShmInfo, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rss, swp uint64
	for _, s := range r.table.All() {
		rss += s.mem.ResidentPages()
		swp += s.mem.SwappedPages()
	}
	return linux.ShmInfo{
		UsedIDs: int32(r.table.InUse()),
		ShmTot:  r.totPages,
		ShmRss:  rss,
		ShmSwp:  swp,
	}, max(r.table.MaxIndex(), 0)
}

// TaskExited is exit_shm for a thread: the segments it created are
// orphaned, and with kernel.shm_rmid_forced those not attached are
// destroyed.
func (r *Registry) TaskExited(tid int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.table.All() {
		if s.creator != tid {
			continue
		}
		s.creator = 0
		r.maybeDestroyLocked(s)
	}
}

// ProcText is /proc/sysvipc/shm, in Linux's format; cpid and lpid go
// through pidOf (the reader's PID namespace's view).
func (r *Registry) ProcText(pidOf func(int32) int32) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n")
	for _, s := range r.table.All() {
		p := &s.perm
		fmt.Fprintf(&b, "%10d %10d  %4o %21d %5d %5d  %5d %5d %5d %5d %5d %10d %10d %10d %21d %21d\n",
			p.Key, p.ID, p.Mode, s.size, pidOf(s.cpid), pidOf(s.lpid), s.nattch,
			p.UID, p.GID, p.CUID, p.CGID, s.atime, s.dtime, p.CTime,
			s.mem.ResidentPages()*mm.PageSize, s.mem.SwappedPages()*mm.PageSize)
	}
	return b.String()
}

// The sysctls.

// Max returns kernel.shmmax.
func (r *Registry) Max() uint64 { r.mu.Lock(); defer r.mu.Unlock(); return r.ctlMax }

// SetMax sets kernel.shmmax.
func (r *Registry) SetMax(v uint64) { r.mu.Lock(); r.ctlMax = v; r.mu.Unlock() }

// All returns kernel.shmall.
func (r *Registry) All() uint64 { r.mu.Lock(); defer r.mu.Unlock(); return r.ctlAll }

// SetAll sets kernel.shmall.
func (r *Registry) SetAll(v uint64) { r.mu.Lock(); r.ctlAll = v; r.mu.Unlock() }

// MNI returns kernel.shmmni.
func (r *Registry) MNI() int32 { r.mu.Lock(); defer r.mu.Unlock(); return r.ctlMNI }

// SetMNI sets kernel.shmmni. EINVAL outside [0, IPCMNI].
func (r *Registry) SetMNI(v int64) error {
	if v < 0 || v > ipc.MNI {
		return unix.EINVAL
	}
	r.mu.Lock()
	r.ctlMNI = int32(v)
	r.mu.Unlock()
	return nil
}

// RmidForced returns kernel.shm_rmid_forced.
func (r *Registry) RmidForced() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.rmidForced }

// SetRmidForced sets kernel.shm_rmid_forced; setting it destroys the
// segments nobody has attached whose creator has exited
// (shm_destroy_orphaned).
func (r *Registry) SetRmidForced(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rmidForced = on
	if !on {
		return
	}
	for _, s := range r.table.All() {
		if s.creator == 0 {
			r.maybeDestroyLocked(s)
		}
	}
}

// NextID returns kernel.shm_next_id.
func (r *Registry) NextID() int32 { r.mu.Lock(); defer r.mu.Unlock(); return r.table.NextID }

// SetNextID sets kernel.shm_next_id. EINVAL if negative.
func (r *Registry) SetNextID(v int64) error {
	if v < 0 || v > 1<<31-1 {
		return unix.EINVAL
	}
	r.mu.Lock()
	r.table.NextID = int32(v)
	r.mu.Unlock()
	return nil
}
