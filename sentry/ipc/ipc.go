// Package ipc holds what System V IPC's three kinds of object (shared
// memory segments, semaphore sets, message queues: packages shm, sem and
// msg below it) have in common: the ipc_perm of each object and its
// permission rules (Linux's ipcperms, ipcctl_obtain_check), and the
// identifier table (Linux's struct ipc_ids): keys, the cyclic index
// allocator and the sequence numbers that make an identifier stale once its
// object is removed, exactly as Linux numbers them so that a program sees the
// same identifiers in the sandbox as in a fresh Linux IPC namespace.
//
// The sandbox's IPC namespace is its own: the sentry's state, never the
// host's. A key made on the host is not visible inside, and nothing made
// inside reaches the host.
//
// Locking: a Table is protected by its owner's lock (each registry has one
// mutex for its table and its objects); nothing here locks.
package ipc

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Linux's identifier layout: an identifier is seq*IPCMNI + index.
const (
	// MNI is IPCMNI: the most objects of one kind, and the index range.
	MNI = 32768
	// seqShift is IPCMNI_SHIFT.
	seqShift = 15
	// seqMax is ipcid_seq_max(): sequence numbers wrap below it.
	seqMax = (1<<31 - 1) >> seqShift
	// minCycle is ipc_min_cycle (RADIX_TREE_MAP_SIZE): indexes are
	// handed out cyclically within max(in_use*3/2, minCycle).
	minCycle = 64
)

// Mode bits of ipc_perm.mode that are not permissions.
const (
	// PermBits are the permission bits a creator and IPC_SET choose.
	PermBits = 0777
)

// Perm is an object's ipc_perm: its key, owner, creator and mode.
type Perm struct {
	Key        int32
	UID, GID   uint32
	CUID, CGID uint32
	Mode       uint16
	// Seq is the identifier's sequence number.
	Seq uint16
	// ID is the object's identifier.
	ID int32
	// CTime is the last change (creation, IPC_SET).
	CTime int64
}

// NewPerm returns the ipc_perm of an object key that creds create with
// flags' permission bits (ipc_addid: owner and creator are the effective
// IDs).
func NewPerm(key int32, creds *auth.Credentials, flags int32) Perm {
	var uid, gid uint32
	if creds != nil {
		uid, gid = creds.EffectiveUID, creds.EffectiveGID
	}
	return Perm{
		Key: key, UID: uid, GID: gid, CUID: uid, CGID: gid,
		Mode:  uint16(flags & PermBits),
		CTime: Now(),
	}
}

// Now is the time IPC objects record (seconds, Linux's
// ktime_get_real_seconds).
func Now() int64 { return time.Now().Unix() }

// Access bits for Check (the S_IRUGO/S_IWUGO/S_IXUGO classes).
const (
	MayRead  = 0444
	MayWrite = 0222
	MayExec  = 0111
)

// Check is Linux's ipcperms: whether creds may access p for flag (MayRead,
// MayWrite, their union, or the permission bits of a get's flags). The
// owner's or creator's bits apply to their effective UID, the group's to a
// member of the owner's or creator's group, the others' to everybody else;
// CAP_IPC_OWNER overrides them.
func (p *Perm) Check(creds *auth.Credentials, flag int32) bool {
	if creds == nil {
		return true
	}
	requested := (flag >> 6) | (flag >> 3) | flag
	granted := int32(p.Mode)
	switch {
	case creds.EffectiveUID == p.CUID || creds.EffectiveUID == p.UID:
		granted >>= 6
	case creds.InGroup(p.CGID) || creds.InGroup(p.GID):
		granted >>= 3
	}
	if requested&^granted&0007 != 0 && !creds.HasCapability(linux.CAP_IPC_OWNER) {
		return false
	}
	return true
}

// CheckOwner is ipcctl_obtain_check's rule for IPC_SET and IPC_RMID: the
// owner, the creator, or CAP_SYS_ADMIN. EPERM otherwise.
func (p *Perm) CheckOwner(creds *auth.Credentials) error {
	if creds == nil || creds.EffectiveUID == p.UID || creds.EffectiveUID == p.CUID ||
		creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return nil
	}
	return unix.EPERM
}

// Set is ipc_update_perm (IPC_SET): the owner and the permission bits
// change; the change time is now. EINVAL for an invalid owner (-1).
func (p *Perm) Set(uid, gid uint32, mode uint16) error {
	if uid == ^uint32(0) || gid == ^uint32(0) {
		return unix.EINVAL
	}
	p.UID, p.GID = uid, gid
	p.Mode = p.Mode&^PermBits | mode&PermBits
	p.CTime = Now()
	return nil
}

// ToLinux returns p as struct ipc64_perm.
func (p *Perm) ToLinux() linux.IPCPerm {
	return linux.IPCPerm{
		Key: uint32(p.Key), UID: p.UID, GID: p.GID, CUID: p.CUID, CGID: p.CGID,
		Mode: p.Mode, Seq: p.Seq,
	}
}

// Object is what a Table holds.
type Object interface {
	// IPCPerm returns the object's ipc_perm.
	IPCPerm() *Perm
}

// Table is one kind's identifiers in one namespace (Linux's struct
// ipc_ids): objects by index, the key index of public objects, and the
// cyclic allocation state.
type Table[T Object] struct {
	objs    map[int32]T
	keys    map[int32]T
	next    int32 // idr_next: where the cyclic search starts
	lastIdx int32
	seq     uint16
	// NextID is the *_next_id sysctl (checkpoint/restore): when >= 0 the
	// next object gets exactly this identifier.
	NextID int32
}

// NewTable returns an empty table.
func NewTable[T Object]() *Table[T] {
	return &Table[T]{objs: make(map[int32]T), keys: make(map[int32]T), lastIdx: -1, NextID: -1}
}

// InUse returns the number of objects.
func (t *Table[T]) InUse() int { return len(t.objs) }

// Index returns the index of identifier id.
func Index(id int32) int32 { return id & (MNI - 1) }

// seqOf returns the sequence number of identifier id.
func seqOf(id int32) uint16 { return uint16(id >> seqShift) }

// FindKey returns the object with key, if any.
func (t *Table[T]) FindKey(key int32) (T, bool) {
	o, ok := t.keys[key]
	return o, ok
}

// Lookup is ipc_obtain_object_check: the object with identifier id. EINVAL
// for a negative, unused or stale identifier.
func (t *Table[T]) Lookup(id int32) (T, error) {
	var zero T
	if id < 0 {
		return zero, unix.EINVAL
	}
	o, ok := t.objs[Index(id)]
	if !ok || o.IPCPerm().Seq != seqOf(id) {
		return zero, unix.EINVAL
	}
	return o, nil
}

// AtIndex is what SHM_STAT, SEM_STAT and MSG_STAT look up: the object at
// index idx. EINVAL if there is none.
func (t *Table[T]) AtIndex(idx int32) (T, error) {
	var zero T
	if idx < 0 || idx >= MNI {
		return zero, unix.EINVAL
	}
	o, ok := t.objs[idx]
	if !ok {
		return zero, unix.EINVAL
	}
	return o, nil
}

// LookupStat is the lookup of IPC_STAT (byIndex false: id is an
// identifier) and of SHM_STAT, SEM_STAT, MSG_STAT and their _ANY forms
// (byIndex: id is an index). EINVAL when there is no such object.
func (t *Table[T]) LookupStat(id int32, byIndex bool) (T, error) {
	if byIndex {
		return t.AtIndex(id)
	}
	return t.Lookup(id)
}

// LookupOwned is ipcctl_obtain_check: the object with identifier id
// (EINVAL) if creds may change or remove it (EPERM).
func (t *Table[T]) LookupOwned(id int32, creds *auth.Credentials) (T, error) {
	o, err := t.Lookup(id)
	if err != nil {
		return o, err
	}
	if err := o.IPCPerm().CheckOwner(creds); err != nil {
		var zero T
		return zero, err
	}
	return o, nil
}

// MaxIndex is ipc_get_maxidx: the highest index in use, -1 for none.
func (t *Table[T]) MaxIndex() int32 {
	m := int32(-1)
	for idx := range t.objs {
		m = max(m, idx)
	}
	return m
}

// Add is ipc_addid: it gives o an identifier (filling its Perm's ID and
// Seq) and indexes it under its key unless it is IPC_PRIVATE. ENOSPC when
// limit objects exist already (the *mni sysctl).
func (t *Table[T]) Add(o T, limit int) error {
	limit = min(limit, MNI)
	if len(t.objs) >= limit {
		return unix.ENOSPC
	}
	p := o.IPCPerm()
	var idx int32
	if t.NextID >= 0 {
		next := t.NextID
		t.NextID = -1
		idx = -1
		// idr_alloc from the wanted index upwards.
		for i := Index(next); i < MNI; i++ {
			if _, used := t.objs[i]; !used {
				idx = i
				break
			}
		}
		if idx < 0 {
			return unix.ENOSPC
		}
		p.Seq = seqOf(next)
	} else {
		maxIdx := int32(min(max(len(t.objs)*3/2, minCycle), MNI))
		idx = t.allocCyclic(maxIdx)
		if idx < 0 {
			return unix.ENOSPC
		}
		if idx <= t.lastIdx {
			t.seq++
			if int(t.seq) >= seqMax {
				t.seq = 0
			}
		}
		t.lastIdx = idx
		p.Seq = t.seq
	}
	p.ID = int32(p.Seq)<<seqShift + idx
	t.objs[idx] = o
	if p.Key != linux.IPC_PRIVATE {
		t.keys[p.Key] = o
	}
	return nil
}

// allocCyclic is idr_alloc_cyclic over [0, end): the lowest free index
// from the cursor, else from 0; -1 if none.
func (t *Table[T]) allocCyclic(end int32) int32 {
	find := func(from int32) int32 {
		for i := from; i < end; i++ {
			if _, used := t.objs[i]; !used {
				return i
			}
		}
		return -1
	}
	idx := find(max(t.next, 0))
	if idx < 0 && t.next > 0 {
		idx = find(0)
	}
	if idx >= 0 {
		t.next = idx + 1
	}
	return idx
}

// Remove is ipc_rmid: the object leaves the table (its identifier becomes
// stale) and its key index.
func (t *Table[T]) Remove(o T) {
	p := o.IPCPerm()
	if cur, ok := t.objs[Index(p.ID)]; ok && any(cur) == any(o) {
		delete(t.objs, Index(p.ID))
	}
	t.MakePrivate(o)
}

// MakePrivate is ipc_set_key_private: the object keeps its identifier but
// can no longer be found by its key (a removed shared memory segment that
// is still attached).
func (t *Table[T]) MakePrivate(o T) {
	p := o.IPCPerm()
	if p.Key != linux.IPC_PRIVATE {
		if cur, ok := t.keys[p.Key]; ok && any(cur) == any(o) {
			delete(t.keys, p.Key)
		}
		p.Key = linux.IPC_PRIVATE
	}
}

// All returns the objects in index order (/proc/sysvipc).
func (t *Table[T]) All() []T {
	idxs := make([]int32, 0, len(t.objs))
	for i := range t.objs {
		idxs = append(idxs, i)
	}
	slices.Sort(idxs)
	out := make([]T, len(idxs))
	for i, idx := range idxs {
		out[i] = t.objs[idx]
	}
	return out
}

// Get is ipcget for a key: the result of finding or creating an object.
// It is the part common to shmget, semget and msgget; create makes the new
// object (its own limits decide its errors), checkExisting is the kind's
// more_checks (shm's size, sem's count).
func Get[T Object](t *Table[T], key int32, flags int32, creds *auth.Credentials,
	create func() (T, error), checkExisting func(T) error) (int32, error) {
	if key != linux.IPC_PRIVATE {
		if o, ok := t.FindKey(key); ok {
			if flags&linux.IPC_CREAT != 0 && flags&linux.IPC_EXCL != 0 {
				return 0, unix.EEXIST
			}
			if checkExisting != nil {
				if err := checkExisting(o); err != nil {
					return 0, err
				}
			}
			if !o.IPCPerm().Check(creds, flags&PermBits) {
				return 0, unix.EACCES
			}
			return o.IPCPerm().ID, nil
		}
		if flags&linux.IPC_CREAT == 0 {
			return 0, unix.ENOENT
		}
	}
	o, err := create()
	if err != nil {
		return 0, err
	}
	return o.IPCPerm().ID, nil
}

// Budget bounds the sentry memory that one namespace's semaphore sets and
// queued messages may take. Linux charges them to the kernel's memory (and
// a memory cgroup); the sentry's heap is bounded instead, so that msgmni
// queues of msgmnb bytes (about 500 MiB with Linux's defaults) or semmns
// semaphores cannot grow the sentry past the sandbox's memory. Beyond the
// budget, creating a set or queueing a message fails with ENOMEM, as a
// failed kernel allocation does.
type Budget struct {
	used  atomic.Int64
	limit int64
}

// NewBudget returns a budget of limit bytes (0: none).
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Charge takes n bytes. ENOMEM if the budget would be passed.
func (b *Budget) Charge(n int64) error {
	if b == nil {
		return nil
	}
	if v := b.used.Add(n); b.limit > 0 && v > b.limit {
		b.used.Add(-n)
		return unix.ENOMEM
	}
	return nil
}

// Uncharge gives n bytes back.
func (b *Budget) Uncharge(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// Used returns the bytes charged.
func (b *Budget) Used() int64 { return b.used.Load() }
