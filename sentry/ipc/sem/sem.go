// Package sem is System V semaphores (semget, semop, semtimedop, semctl)
// of the sandbox's IPC namespace.
//
// A semop either applies all its operations at once, in order, or none
// (Linux's perform_atomic_semop). One that cannot proceed queues itself on
// its set and sleeps on a kernel wait queue of its own, releasing its CPU;
// whoever changes the set's values (a semop, SETVAL, SETALL, an exiting
// process's undo) retries the queued operations in arrival order on their
// owners' behalf, restarting after each one that changed values, and wakes
// those it completed — so which waiter proceeds is decided as on Linux,
// not by which woken task runs first. A sleeper is interrupted by a signal
// (EINTR, never restarted: semop is not restartable on Linux), times out
// (EAGAIN), or is told the set was removed (EIDRM).
//
// SEM_UNDO adjustments live in a per-process UndoList (shared by threads
// cloned with CLONE_SYSVSEM); when the last task holding a list exits, its
// adjustments are applied, clamped to [0, SEMVMX], as Linux's exit_sem.
//
// Locking: Registry.mu protects the table, every set, every undo list's
// entries and every queued operation's status. It is never held across a
// wait. A waiter's wait queue is notified after its status was set.
package sem

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Registry is the namespace's semaphore sets.
type Registry struct {
	budget *ipc.Budget

	mu    sync.Mutex
	table *ipc.Table[*Set]
	// kernel.sem: SEMMSL, SEMMNS, SEMOPM, SEMMNI.
	msl, mns, opm, mni int32
	usedSems           int
}

// NewRegistry returns an empty registry whose sets are charged to budget.
func NewRegistry(budget *ipc.Budget) *Registry {
	return &Registry{
		budget: budget,
		table:  ipc.NewTable[*Set](),
		msl:    linux.SEMMSL, mns: linux.SEMMNS, opm: linux.SEMOPM, mni: linux.SEMMNI,
	}
}

// semaphore is one semaphore of a set.
type semaphore struct {
	val   int32
	pid   int32
	otime int64
}

// Set is one semaphore set.
type Set struct {
	perm    ipc.Perm
	sems    []semaphore
	pending []*waiter
	// undos are the undo structures of this set (Linux's list_id), so
	// SETVAL and SETALL can clear them and removal can drop them.
	undos map[*undo]struct{}
	dead  bool
}

// IPCPerm implements ipc.Object.
func (s *Set) IPCPerm() *ipc.Perm { return &s.perm }

func (s *Set) otime() int64 {
	var t int64
	for i := range s.sems {
		t = max(t, s.sems[i].otime)
	}
	return t
}

func setCost(nsems int) int64 { return 256 + int64(nsems)*16 }

// waiter is a semop that sleeps (Linux's struct sem_queue).
type waiter struct {
	ops   []linux.Sembuf
	undo  *undo
	pid   int32
	alter bool
	// blocking is the index in ops of the operation that blocks.
	blocking int
	// status is statusPending until the operation completed (0) or
	// failed (an errno).
	status unix.Errno
	done   bool
	wq     kernel.WaitQueue
}

// UndoList is a process's SEM_UNDO adjustments (Linux's sem_undo_list):
// one per process, shared by the threads cloned with CLONE_SYSVSEM.
type UndoList struct {
	r    *Registry
	refs atomic.Int32
	// entries by semaphore set identifier; protected by r.mu.
	entries map[int32]*undo
}

// undo is the adjustments of one set in one UndoList (struct sem_undo).
type undo struct {
	list *UndoList
	set  *Set
	adj  []int32
}

// NewUndoList returns an empty undo list with one reference.
func (r *Registry) NewUndoList() *UndoList {
	l := &UndoList{r: r, entries: make(map[int32]*undo)}
	l.refs.Store(1)
	return l
}

// IncRef adds a task sharing the list (clone with CLONE_SYSVSEM).
func (l *UndoList) IncRef() { l.refs.Add(1) }

// Exit drops a task's reference (exit_sem): when the last one goes, every
// adjustment is applied to its set (clamped to [0, SEMVMX]; the
// semaphores' last PID becomes pid) and the sets' waiters retried.
func (l *UndoList) Exit(pid int32) {
	if l.refs.Add(-1) != 0 {
		return
	}
	r := l.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, u := range l.entries {
		delete(l.entries, id)
		s := u.set
		delete(s.undos, u)
		r.budget.Uncharge(int64(len(u.adj)) * 4)
		if s.dead {
			continue
		}
		for i, a := range u.adj {
			if a == 0 {
				continue
			}
			v := s.sems[i].val + a
			v = min(max(v, 0), linux.SEMVMX)
			s.sems[i].val = v
			s.sems[i].pid = pid
		}
		s.updateLocked()
		s.sems[0].otime = ipc.Now()
	}
}

// Caller is who makes a call.
type Caller struct {
	Creds *auth.Credentials
	PID   int32
}

// Get is semget(2). Errors: EINVAL for nsems outside [0, SEMMSL], 0 for a
// new set, or more than an existing set has; ENOSPC past SEMMNS or SEMMNI;
// and ipc.Get's.
func (r *Registry) Get(c Caller, key int32, nsems int32, flags int32) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if nsems < 0 || nsems > r.msl {
		return 0, unix.EINVAL
	}
	return ipc.Get(r.table, key, flags, c.Creds, func() (*Set, error) {
		if nsems == 0 {
			return nil, unix.EINVAL
		}
		if r.usedSems+int(nsems) > int(r.mns) {
			return nil, unix.ENOSPC
		}
		if err := r.budget.Charge(setCost(int(nsems))); err != nil {
			return nil, err
		}
		s := &Set{perm: ipc.NewPerm(key, c.Creds, flags), sems: make([]semaphore, nsems), undos: make(map[*undo]struct{})}
		if err := r.table.Add(s, int(r.mni)); err != nil {
			r.budget.Uncharge(setCost(int(nsems)))
			return nil, err
		}
		r.usedSems += int(nsems)
		return s, nil
	}, func(s *Set) error {
		if nsems > int32(len(s.sems)) {
			return unix.EINVAL
		}
		return nil
	})
}

// OpLimit returns SEMOPM: the most operations one semop may make.
func (r *Registry) OpLimit() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.opm)
}

// errWouldBlock is perform's answer for an operation that must wait.
const errWouldBlock = unix.Errno(0xffff)

// perform is perform_atomic_semop: it applies ops in order, or none of
// them. It returns 0, ERANGE (a value past SEMVMX or an adjustment past
// SEMAEM), EAGAIN (would block with IPC_NOWAIT) or errWouldBlock, with the
// index of the operation that failed.
func (s *Set) perform(ops []linux.Sembuf, u *undo, pid int32) (unix.Errno, int) {
	var err unix.Errno
	i := 0
	for ; i < len(ops); i++ {
		op := &ops[i]
		sm := &s.sems[op.SemNum]
		v := sm.val
		if op.SemOp == 0 && v != 0 {
			err = errWouldBlock
			break
		}
		v += int32(op.SemOp)
		if v < 0 {
			err = errWouldBlock
			break
		}
		if v > linux.SEMVMX {
			err = unix.ERANGE
			break
		}
		if op.SemFlg&linux.SEM_UNDO != 0 {
			a := u.adj[op.SemNum] - int32(op.SemOp)
			if a < -linux.SEMAEM-1 || a > linux.SEMAEM {
				err = unix.ERANGE
				break
			}
			u.adj[op.SemNum] = a
		}
		sm.val = v
	}
	if err == 0 {
		now := ipc.Now()
		for j := range ops {
			s.sems[ops[j].SemNum].pid = pid
		}
		s.sems[ops[0].SemNum].otime = now
		return 0, 0
	}
	if err == errWouldBlock && ops[i].SemFlg&linux.IPC_NOWAIT != 0 {
		err = unix.EAGAIN
	}
	// Undo what was applied.
	for j := i - 1; j >= 0; j-- {
		op := &ops[j]
		s.sems[op.SemNum].val -= int32(op.SemOp)
		if op.SemFlg&linux.SEM_UNDO != 0 {
			u.adj[op.SemNum] += int32(op.SemOp)
		}
	}
	return err, i
}

// updateLocked is update_queue: the queued operations are retried in
// arrival order; each one that completes or fails is dequeued and its
// owner woken, and the scan restarts after one that changed values.
func (s *Set) updateLocked() {
again:
	for i, w := range s.pending {
		err, blk := s.perform(w.ops, w.undo, w.pid)
		if err == errWouldBlock {
			w.blocking = blk
			continue
		}
		s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
		w.status, w.done = err, true
		w.wq.NotifyAll()
		if err == 0 && w.alter {
			goto again
		}
	}
}

// undoFor is find_alloc_undo: l's adjustments for set id, created when
// missing. Errors: EINVAL for a bad identifier; ENOMEM past the budget.
func (r *Registry) undoForLocked(l *UndoList, id int32) (*undo, error) {
	if u, ok := l.entries[id]; ok && !u.set.dead {
		return u, nil
	}
	s, err := r.table.Lookup(id)
	if err != nil {
		return nil, err
	}
	if err := r.budget.Charge(int64(len(s.sems)) * 4); err != nil {
		return nil, err
	}
	u := &undo{list: l, set: s, adj: make([]int32, len(s.sems))}
	l.entries[id] = u
	s.undos[u] = struct{}{}
	return u, nil
}

// Op is semop(2) and semtimedop(2): ops (already copied in, 1 to SEMOPM
// of them) on set id, undone at exit through undoList for those with
// SEM_UNDO (undoList is then non-nil). timeout < 0 waits without limit.
// Errors: EINVAL (bad identifier), EFBIG (a semaphore number past the
// set), EACCES, EIDRM (removed, also while waiting), ERANGE, EAGAIN
// (IPC_NOWAIT, or the timeout passed), EINTR (a signal), ENOMEM.
func (r *Registry) Op(c Caller, t *kernel.Task, id int32, ops []linux.Sembuf, undoList *UndoList, timeout time.Duration) error {
	maxNum, alter, undos := 0, false, false
	for i := range ops {
		maxNum = max(maxNum, int(ops[i].SemNum))
		if ops[i].SemFlg&linux.SEM_UNDO != 0 {
			undos = true
		}
		if ops[i].SemOp != 0 {
			alter = true
		}
	}
	if id < 0 {
		return unix.EINVAL
	}
	r.mu.Lock()
	var u *undo
	if undos {
		var err error
		if u, err = r.undoForLocked(undoList, id); err != nil {
			r.mu.Unlock()
			return err
		}
	}
	s, err := r.table.Lookup(id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if maxNum >= len(s.sems) {
		r.mu.Unlock()
		return unix.EFBIG
	}
	var acc int32 = ipc.MayRead
	if alter {
		acc = ipc.MayWrite
	}
	if !s.perm.Check(c.Creds, acc) {
		r.mu.Unlock()
		return unix.EACCES
	}
	if s.dead || (u != nil && u.set != s) {
		r.mu.Unlock()
		return unix.EIDRM
	}
	e, blk := s.perform(ops, u, c.PID)
	if e != errWouldBlock {
		if e == 0 && alter {
			s.updateLocked()
		}
		r.mu.Unlock()
		if e != 0 {
			return e
		}
		return nil
	}
	w := &waiter{ops: ops, undo: u, pid: c.PID, alter: alter, blocking: blk}
	s.pending = append(s.pending, w)
	r.mu.Unlock()

	if timeout < 0 {
		timeout = kernel.Forever
	}
	werr := w.wq.Wait(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return w.done
	}, kernel.WaitOpts{Timeout: timeout, Interruptible: true})

	r.mu.Lock()
	defer r.mu.Unlock()
	if w.done {
		if w.status != 0 {
			return w.status
		}
		return nil
	}
	for i, p := range s.pending {
		if p == w {
			s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
			break
		}
	}
	if werr == kernel.ErrTimedOut {
		return unix.EAGAIN
	}
	return unix.EINTR
}

// lookupLocked finds set id and checks acc permission.
func (r *Registry) lookupLocked(c Caller, id int32, acc int32) (*Set, error) {
	s, err := r.table.Lookup(id)
	if err != nil {
		return nil, err
	}
	if !s.perm.Check(c.Creds, acc) {
		return nil, unix.EACCES
	}
	return s, nil
}

// Value is semctl GETVAL, GETPID, GETNCNT and GETZCNT (cmd) of semaphore
// num of set id. Errors: EINVAL, EACCES.
func (r *Registry) Value(c Caller, id int32, num int32, cmd int) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.lookupLocked(c, id, ipc.MayRead)
	if err != nil {
		return 0, err
	}
	if num < 0 || int(num) >= len(s.sems) {
		return 0, unix.EINVAL
	}
	switch cmd {
	case linux.GETVAL:
		return s.sems[num].val, nil
	case linux.GETPID:
		return s.sems[num].pid, nil
	}
	n := int32(0)
	for _, w := range s.pending {
		op := w.ops[w.blocking]
		if int32(op.SemNum) != num {
			continue
		}
		if (cmd == linux.GETZCNT && op.SemOp == 0) || (cmd == linux.GETNCNT && op.SemOp < 0) {
			n++
		}
	}
	return n, nil
}

// SetValue is semctl SETVAL. Errors: ERANGE (val outside [0, SEMVMX]),
// EINVAL, EACCES.
func (r *Registry) SetValue(c Caller, id int32, num int32, val int32) error {
	if val < 0 || val > linux.SEMVMX {
		return unix.ERANGE
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.Lookup(id)
	if err != nil {
		return err
	}
	if num < 0 || int(num) >= len(s.sems) {
		return unix.EINVAL
	}
	if !s.perm.Check(c.Creds, ipc.MayWrite) {
		return unix.EACCES
	}
	for u := range s.undos {
		u.adj[num] = 0
	}
	s.sems[num].val = val
	s.sems[num].pid = c.PID
	s.perm.CTime = ipc.Now()
	s.updateLocked()
	return nil
}

// Values is semctl GETALL.
func (r *Registry) Values(c Caller, id int32) ([]uint16, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.lookupLocked(c, id, ipc.MayRead)
	if err != nil {
		return nil, err
	}
	out := make([]uint16, len(s.sems))
	for i := range s.sems {
		out[i] = uint16(s.sems[i].val)
	}
	return out, nil
}

// Count returns the number of semaphores of set id after checking perm
// (SETALL's caller copies that many values in). Errors: EINVAL, EACCES.
func (r *Registry) Count(c Caller, id int32, acc int32) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.lookupLocked(c, id, acc)
	if err != nil {
		return 0, err
	}
	return len(s.sems), nil
}

// SetValues is semctl SETALL. Errors: EINVAL, EACCES, ERANGE, EIDRM.
func (r *Registry) SetValues(c Caller, id int32, vals []uint16) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.lookupLocked(c, id, ipc.MayWrite)
	if err != nil {
		return err
	}
	if len(vals) != len(s.sems) {
		return unix.EIDRM
	}
	for _, v := range vals {
		if v > linux.SEMVMX {
			return unix.ERANGE
		}
	}
	for i, v := range vals {
		s.sems[i].val = int32(v)
		s.sems[i].pid = c.PID
	}
	for u := range s.undos {
		clear(u.adj)
	}
	s.perm.CTime = ipc.Now()
	s.updateLocked()
	return nil
}

// Stat is semctl IPC_STAT (byIndex false), SEM_STAT and SEM_STAT_ANY
// (byIndex: id is an index; any skips the permission check). It returns
// the semid64_ds and the identifier.
func (r *Registry) Stat(c Caller, id int32, byIndex, any bool) (linux.SemidDS, int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.LookupStat(id, byIndex)
	if err != nil {
		return linux.SemidDS{}, 0, err
	}
	if !any && !s.perm.Check(c.Creds, ipc.MayRead) {
		return linux.SemidDS{}, 0, unix.EACCES
	}
	return linux.SemidDS{
		SemPerm:  s.perm.ToLinux(),
		SemOTime: linux.TimeT(s.otime()),
		SemCTime: linux.TimeT(s.perm.CTime),
		SemNSems: uint64(len(s.sems)),
	}, s.perm.ID, nil
}

// Set is semctl IPC_SET. Errors: EINVAL, EPERM.
func (r *Registry) Set(c Caller, id int32, ds *linux.SemidDS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.LookupOwned(id, c.Creds)
	if err != nil {
		return err
	}
	return s.perm.Set(ds.SemPerm.UID, ds.SemPerm.GID, ds.SemPerm.Mode)
}

// Remove is semctl IPC_RMID (freeary): the set goes, its waiters get
// EIDRM and its undo structures are dropped. Errors: EINVAL, EPERM.
func (r *Registry) Remove(c Caller, id int32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.table.LookupOwned(id, c.Creds)
	if err != nil {
		return err
	}
	r.removeLocked(s)
	return nil
}

// RemoveAll removes every set, as Linux does when an IPC namespace dies.
func (r *Registry) RemoveAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.table.All() {
		r.removeLocked(s)
	}
}

// removeLocked is IPC_RMID of s. Preconditions: r.mu is held.
func (r *Registry) removeLocked(s *Set) {
	s.dead = true
	r.table.Remove(s)
	r.usedSems -= len(s.sems)
	r.budget.Uncharge(setCost(len(s.sems)))
	for u := range s.undos {
		if cur, ok := u.list.entries[s.perm.ID]; ok && cur == u {
			delete(u.list.entries, s.perm.ID)
			r.budget.Uncharge(int64(len(u.adj)) * 4)
		}
	}
	s.undos = nil
	for _, w := range s.pending {
		w.status, w.done = unix.EIDRM, true
		w.wq.NotifyAll()
	}
	s.pending = nil
}

// Info is semctl IPC_INFO (usage false) and SEM_INFO (usage true): struct
// seminfo, and the highest index in use (0 when none).
func (r *Registry) Info(usage bool) (linux.SemInfo, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	si := linux.SemInfo{
		SemMni: uint32(r.mni), SemMns: uint32(r.mns), SemMsl: uint32(r.msl), SemOpm: uint32(r.opm),
		SemVmx: linux.SEMVMX, SemMnu: linux.SEMMNU, SemMap: linux.SEMMAP, SemUme: linux.SEMUME,
		SemUsz: linux.SEMUSZ, SemAem: linux.SEMAEM,
	}
	if usage {
		si.SemUsz = uint32(r.table.InUse())
		si.SemAem = uint32(r.usedSems)
	}
	return si, max(r.table.MaxIndex(), 0)
}

// ProcText is /proc/sysvipc/sem, in Linux's format.
func (r *Registry) ProcText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n")
	for _, s := range r.table.All() {
		p := &s.perm
		fmt.Fprintf(&b, "%10d %10d  %4o %10d %5d %5d %5d %5d %10d %10d\n",
			p.Key, p.ID, p.Mode, len(s.sems), p.UID, p.GID, p.CUID, p.CGID, s.otime(), p.CTime)
	}
	return b.String()
}

// Limits returns kernel.sem: SEMMSL, SEMMNS, SEMOPM, SEMMNI.
func (r *Registry) Limits() [4]int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return [4]int32{r.msl, r.mns, r.opm, r.mni}
}

// SetLimits sets kernel.sem. EINVAL when SEMMNI is outside [0, IPCMNI].
func (r *Registry) SetLimits(v [4]int32) error {
	if v[3] < 0 || v[3] > ipc.MNI {
		return unix.EINVAL
	}
	r.mu.Lock()
	r.msl, r.mns, r.opm, r.mni = v[0], v[1], v[2], v[3]
	r.mu.Unlock()
	return nil
}

// NextID returns kernel.sem_next_id.
func (r *Registry) NextID() int32 { r.mu.Lock(); defer r.mu.Unlock(); return r.table.NextID }

// SetNextID sets kernel.sem_next_id. EINVAL if negative.
func (r *Registry) SetNextID(v int64) error {
	if v < 0 || v > 1<<31-1 {
		return unix.EINVAL
	}
	r.mu.Lock()
	r.table.NextID = int32(v)
	r.mu.Unlock()
	return nil
}
