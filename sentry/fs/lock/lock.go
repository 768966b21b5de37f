// Package lock is the sandbox's advisory file locking, Linux's fs/locks.c:
// POSIX record locks (fcntl F_SETLK, F_SETLKW, F_GETLK), open file
// description locks (F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK) and flock(2)
// locks, with real conflicts between the sandbox's processes.
//
// Owners are Linux's: a POSIX lock belongs to the descriptor table of the
// process that took it (files_struct), so threads share their process's
// locks, a forked child has none, and the close of any descriptor of the
// file by the process drops them all (ReleasePOSIX); OFD and flock locks
// belong to the open file description and go with its last reference
// (ReleaseDescription). POSIX and OFD locks live in one list per file and
// conflict with each other; flock locks are a separate list, as on Linux.
// A file is its fs.FileKey, so locks follow a file across an overlay's
// copy-up and over every path and mount that reaches it.
//
// A lock that must wait (F_SETLKW, F_OFD_SETLKW, flock without LOCK_NB)
// sleeps on the file's kernel wait queue, releasing its sandbox CPU, and
// is interruptible: a signal ends the wait with EINTR (which the syscall
// layer restarts under SA_RESTART, as Linux's ERESTARTSYS). Every change
// of a file's locks wakes its waiters, which look again. A POSIX waiter
// records what it waits for, so that a request that would close a cycle
// of POSIX owners waiting for each other fails with EDEADLK
// (posix_locks_deadlock, with the same bound on the chain's length).
//
// Locks of a volume's files are also taken on the host (fs.HostLocks), so
// that a host process sharing the volume sees them and its locks conflict
// with the sandbox's: the host holds, on one open file description of the
// sentry's, the union of what the sandbox's owners hold. A host conflict
// makes F_SETLK fail with EAGAIN; a waiter polls the host (from 10 ms,
// doubling to 320 ms) while it also waits for the sandbox's own unlocks.
//
// Locking: mu (the package's one lock, Linux's flc_lock and
// blocked_lock_lock together) protects every file's lists, the waiters'
// records and the owner counts. It is held across the host calls that
// mirror a change (non-blocking fcntl and flock, and the write-behind
// flush before a host lock is weakened), never across a wait. It is a
// leaf with respect to the VFS and the filesystems' locks.
package lock

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// MaxOffset is the end of a lock that runs to the end of the file (Linux's
// OFFSET_MAX).
const MaxOffset = math.MaxInt64

// Kind says what kind of lock a Lock is.
type Kind int

const (
	// POSIX is a traditional record lock (fcntl F_SETLK), owned by a
	// descriptor table.
	POSIX Kind = iota
	// OFD is an open file description lock (F_OFD_SETLK).
	OFD
	// Flock is a flock(2) lock of the whole file.
	Flock
)

// Owner is who holds a lock: the descriptor table for POSIX locks, the
// open file description for OFD and flock locks. Owners are compared by
// identity.
type Owner any

// Lock is one held lock.
type Lock struct {
	Kind Kind
	// Type is F_RDLCK or F_WRLCK.
	Type int16
	// Start and End are the first and last byte (inclusive); End is
	// MaxOffset for a lock to the end of the file. A flock covers the
	// whole file.
	Start, End int64
	Owner      Owner
	// PID is the thread group ID of the process that took it.
	PID int32
	// Via is the open file description the lock was taken through
	// (/proc/PID/fdinfo shows a lock under it).
	Via any

	id uint64 // order of creation, for /proc/locks
}

// Request is a lock or unlock request.
type Request struct {
	Kind Kind
	// Type is F_RDLCK, F_WRLCK or F_UNLCK.
	Type       int16
	Start, End int64
	Owner      Owner
	PID        int32
	Via        any
}

// strength orders lock types: none < read < write.
func strength(typ int16) int {
	switch typ {
	case unix.F_RDLCK:
		return 1
	case unix.F_WRLCK:
		return 2
	}
	return 0
}

func typeOf(s int) int16 {
	switch s {
	case 1:
		return unix.F_RDLCK
	case 2:
		return unix.F_WRLCK
	}
	return unix.F_UNLCK
}

// file is the locks of one file.
type file struct {
	key    fs.FileKey
	ranges []*Lock // POSIX and OFD locks, by Start then id
	flocks []*Lock

	q       kernel.WaitQueue
	gen     atomic.Uint64 // bumped by every change: waiters look again
	waiters int
	// blocked are the requests waiting for a lock of the sandbox (shown
	// in /proc/locks under the lock in their way).
	blocked []*Request

	host      fs.HostLocks // nil: not mirrored (or not a host file)
	hostFlock int16
}

func (f *file) empty() bool { return len(f.ranges) == 0 && len(f.flocks) == 0 && f.waiters == 0 }

var (
	mu    sync.Mutex
	files = map[fs.FileKey]*file{}
	// posixOwners counts the POSIX locks of each owner: the close
	// path's check (HasPOSIX) is one map lookup.
	posixOwners = map[Owner]int{}
	// descOwners counts the OFD and flock locks of each description.
	descOwners = map[Owner]int{}
	// waitingFor is, for each POSIX owner waiting in F_SETLKW, the lock
	// it waits for (Linux's blocked_hash).
	waitingFor = map[Owner]*Lock{}
	nextID     uint64
	// held counts every held lock: zero makes the close paths free.
	held atomic.Int64
)

// maxDeadlockSteps bounds the walk of the wait-for chain (Linux's
// MAX_DEADLK_ITERATIONS).
const maxDeadlockSteps = 10

// getFileLocked returns key's locks, created empty if needed, opening
// the host mirror through host (nil: none) when it is created.
// Preconditions: mu is held.
func getFileLocked(key fs.FileKey, host fs.HostLockable) *file {
	f := files[key]
	if f == nil {
		f = &file{key: key, hostFlock: unix.F_UNLCK}
		files[key] = f
	}
	if f.host == nil && host != nil && f.empty() {
		if hl, err := host.HostLocks(); err == nil {
			f.host = hl
		}
	}
	return f
}

// putFileLocked forgets f (and drops its host locks) when nothing is
// held or waited for. Preconditions: mu is held.
func putFileLocked(f *file) {
	if !f.empty() {
		return
	}
	if files[f.key] == f {
		delete(files, f.key)
	}
	if f.host != nil {
		f.host.Close()
		f.host = nil
	}
}

func overlaps(aStart, aEnd, bStart, bEnd int64) bool { return aStart <= bEnd && bStart <= aEnd }

// conflictLocked returns the first lock of f that conflicts with r, or
// nil. Preconditions: mu is held.
func (f *file) conflictLocked(r Request) *Lock {
	if r.Type == unix.F_UNLCK {
		return nil
	}
	list := f.ranges
	if r.Kind == Flock {
		list = f.flocks
	}
	for _, l := range list {
		if conflicts(*l, r) {
			return l
		}
	}
	return nil
}

// deadlockLocked reports whether owner waiting for blocker would close a
// cycle of POSIX owners waiting for each other. Preconditions: mu is
// held.
func deadlockLocked(owner Owner, blocker *Lock) bool {
	for i := 0; i < maxDeadlockSteps; i++ {
		if blocker.Kind != POSIX {
			return false
		}
		if blocker.Owner == owner {
			return true
		}
		next, ok := waitingFor[blocker.Owner]
		if !ok {
			return false
		}
		blocker = next
	}
	return false
}

// errHostConflict is a host process's lock in the way.
var errHostConflict = unix.EAGAIN

// Set takes, changes or drops a POSIX or OFD lock on the file key (host,
// if not nil, mirrors the file's locks on the host). With wait it sleeps
// until the lock can be taken (interruptibly: EINTR); without, a conflict
// is EAGAIN. EDEADLK when a POSIX request would wait for itself. It may
// block.
func Set(ctx *fs.Context, key fs.FileKey, host fs.HostLockable, r Request, wait bool) error {
	if r.Kind == Flock || r.Start < 0 || r.End < r.Start {
		return unix.EINVAL
	}
	return set(ctx, key, host, r, wait)
}

// SetFlock is flock(2) on the file key for the description owner: typ
// F_RDLCK (LOCK_SH), F_WRLCK (LOCK_EX) or F_UNLCK (LOCK_UN). A
// description's flock changes type by dropping the old lock first, as
// Linux does (a conversion that must wait holds nothing meanwhile). It may
// block.
func SetFlock(ctx *fs.Context, key fs.FileKey, host fs.HostLockable, owner Owner, pid int32, typ int16, wait bool) error {
	r := Request{Kind: Flock, Type: typ, Start: 0, End: MaxOffset, Owner: owner, PID: pid, Via: owner}
	mu.Lock()
	f := files[key]
	if f != nil {
		for i, l := range f.flocks {
			if l.Owner != owner {
				continue
			}
			if l.Type == typ {
				mu.Unlock()
				return nil
			}
			f.flocks = append(f.flocks[:i:i], f.flocks[i+1:]...)
			forgetLocked(l)
			f.changedLocked()
			break
		}
		if f.host != nil {
			f.mirrorFlockLocked()
		}
		if typ == unix.F_UNLCK {
			putFileLocked(f)
		}
	}
	mu.Unlock()
	if typ == unix.F_UNLCK {
		return nil
	}
	return set(ctx, key, host, r, wait)
}

func set(ctx *fs.Context, key fs.FileKey, host fs.HostLockable, r Request, wait bool) error {
	backoff := 10 * time.Millisecond
	for {
		mu.Lock()
		f := getFileLocked(key, host)
		blocker := f.conflictLocked(r)
		var err error
		if blocker == nil {
			if err = f.applyLocked(r); err == nil {
				putFileLocked(f)
				mu.Unlock()
				return nil
			}
		}
		// A conflict: with a lock of the sandbox (blocker) or of the
		// host (err).
		if !wait {
			putFileLocked(f)
			mu.Unlock()
			return unix.EAGAIN
		}
		if blocker != nil && r.Kind == POSIX && deadlockLocked(r.Owner, blocker) {
			putFileLocked(f)
			mu.Unlock()
			return unix.EDEADLK
		}
		if blocker != nil && r.Kind == POSIX {
			waitingFor[r.Owner] = blocker
		}
		if blocker != nil {
			f.blocked = append(f.blocked, &r)
		}
		f.waiters++
		seen := f.gen.Load()
		mu.Unlock()

		changed := func() bool { return f.gen.Load() != seen }
		var werr error
		if blocker != nil {
			werr = ctx.Block(&f.q, changed)
		} else {
			werr = ctx.BlockTimeout(&f.q, changed, backoff)
			if werr == unix.ETIMEDOUT {
				werr = nil
			}
			backoff = min(2*backoff, 320*time.Millisecond)
		}

		mu.Lock()
		f.waiters--
		if r.Kind == POSIX {
			delete(waitingFor, r.Owner)
		}
		for i, b := range f.blocked {
			if b == &r {
				f.blocked = append(f.blocked[:i:i], f.blocked[i+1:]...)
				break
			}
		}
		putFileLocked(f)
		mu.Unlock()
		if werr != nil {
			return werr
		}
	}
}

// changedLocked wakes f's waiters. Preconditions: mu is held.
func (f *file) changedLocked() {
	f.gen.Add(1)
	f.q.NotifyAll()
}

// forgetLocked uncounts l. Preconditions: mu is held.
func forgetLocked(l *Lock) {
	held.Add(-1)
	counts := descOwners
	if l.Kind == POSIX {
		counts = posixOwners
	}
	if counts[l.Owner]--; counts[l.Owner] <= 0 {
		delete(counts, l.Owner)
	}
}

// countLocked counts l. Preconditions: mu is held.
func countLocked(l *Lock) {
	held.Add(1)
	if l.Kind == POSIX {
		posixOwners[l.Owner]++
	} else {
		descOwners[l.Owner]++
	}
	nextID++
	l.id = nextID
}

// applyLocked makes r's change to f (no sandbox conflict exists), first
// on the host when f is mirrored: a host conflict is errHostConflict and
// changes nothing. Preconditions: mu is held.
func (f *file) applyLocked(r Request) error {
	if r.Kind == Flock {
		l := &Lock{Kind: Flock, Type: r.Type, Start: 0, End: MaxOffset, Owner: r.Owner, PID: r.PID, Via: r.Via}
		f.flocks = append(f.flocks, l)
		if f.host != nil {
			if err := f.mirrorFlockLocked(); err != nil {
				f.flocks = f.flocks[:len(f.flocks)-1]
				return err
			}
		}
		countLocked(l)
		f.changedLocked()
		return nil
	}
	var mine, others []*Lock
	for _, l := range f.ranges {
		if l.Owner == r.Owner {
			mine = append(mine, l)
		} else {
			others = append(others, l)
		}
	}
	// The owner's locks outside [Start, End] stay (split where they
	// straddle it); the request's range gets the new type.
	var kept []*Lock
	for _, l := range mine {
		if !overlaps(l.Start, l.End, r.Start, r.End) {
			kept = append(kept, l)
			continue
		}
		if l.Start < r.Start {
			kept = append(kept, &Lock{Kind: l.Kind, Type: l.Type, Start: l.Start, End: r.Start - 1, Owner: l.Owner, PID: l.PID, Via: l.Via, id: l.id})
		}
		if l.End > r.End {
			kept = append(kept, &Lock{Kind: l.Kind, Type: l.Type, Start: r.End + 1, End: l.End, Owner: l.Owner, PID: l.PID, Via: l.Via, id: l.id})
		}
	}
	if r.Type != unix.F_UNLCK {
		kept = append(kept, &Lock{Kind: r.Kind, Type: r.Type, Start: r.Start, End: r.End, Owner: r.Owner, PID: r.PID, Via: r.Via})
	}
	kept = mergeRanges(kept)
	next := append(append([]*Lock(nil), others...), kept...)
	sortRanges(next)
	if f.host != nil {
		if err := f.mirrorRangesLocked(f.ranges, next, r.Start, r.End); err != nil {
			return err
		}
	}
	// Recount: the owner's old locks go, its new set comes.
	for _, l := range mine {
		forgetLocked(l)
	}
	for _, l := range kept {
		countLocked(l)
	}
	f.ranges = next
	f.changedLocked()
	return nil
}

// mergeRanges joins one owner's locks of the same type that overlap or
// touch (Linux merges them as it inserts), sorted by start.
func mergeRanges(ls []*Lock) []*Lock {
	sortRanges(ls)
	var out []*Lock
	for _, l := range ls {
		if n := len(out); n > 0 {
			p := out[n-1]
			if p.Type == l.Type && (p.End == MaxOffset || p.End+1 >= l.Start) {
				if l.End > p.End {
					p.End = l.End
				}
				continue
			}
		}
		c := *l
		out = append(out, &c)
	}
	return out
}

func sortRanges(ls []*Lock) {
	sort.SliceStable(ls, func(i, j int) bool {
		if ls[i].Start != ls[j].Start {
			return ls[i].Start < ls[j].Start
		}
		return ls[i].id < ls[j].id
	})
}

// coverage returns the strongest lock type held over each piece of
// [start, end] in ls: a list of (piece start, strength) in order.
func coverage(ls []*Lock, start, end int64) [][2]int64 {
	cuts := []int64{start}
	for _, l := range ls {
		if !overlaps(l.Start, l.End, start, end) {
			continue
		}
		if l.Start > start {
			cuts = append(cuts, l.Start)
		}
		if l.End < end {
			cuts = append(cuts, l.End+1)
		}
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i] < cuts[j] })
	var out [][2]int64
	for i, c := range cuts {
		if i > 0 && c == cuts[i-1] {
			continue
		}
		s := 0
		for _, l := range ls {
			if l.Start <= c && c <= l.End {
				s = max(s, strength(l.Type))
			}
		}
		if n := len(out); n > 0 && out[n-1][1] == int64(s) {
			continue
		}
		out = append(out, [2]int64{c, int64(s)})
	}
	return out
}

// mirrorRangesLocked changes the host's lock of [start, end] from what
// old holds to what next holds, undoing what it did when a host process
// holds a conflicting lock. Preconditions: mu is held; f.host is set.
func (f *file) mirrorRangesLocked(old, next []*Lock, start, end int64) error {
	before, after := coverage(old, start, end), coverage(next, start, end)
	type piece struct {
		start, end int64
		from, to   int
	}
	// Walk both piece lists together.
	var pieces []piece
	cuts := map[int64]bool{}
	for _, p := range before {
		cuts[p[0]] = true
	}
	for _, p := range after {
		cuts[p[0]] = true
	}
	var starts []int64
	for c := range cuts {
		starts = append(starts, c)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	at := func(ps [][2]int64, off int64) int {
		s := 0
		for _, p := range ps {
			if p[0] <= off {
				s = int(p[1])
			}
		}
		return s
	}
	for i, s := range starts {
		e := end
		if i+1 < len(starts) {
			e = starts[i+1] - 1
		}
		if from, to := at(before, s), at(after, s); from != to {
			pieces = append(pieces, piece{s, e, from, to})
		}
	}
	if len(pieces) == 0 {
		return nil
	}
	weakened, acquired := false, false
	for _, p := range pieces {
		if p.to < p.from {
			weakened = true
		} else {
			acquired = true
		}
	}
	if weakened {
		f.host.Releasing()
	}
	for i, p := range pieces {
		if err := f.host.SetRange(typeOf(p.to), p.start, p.end); err != nil {
			for _, q := range pieces[:i] {
				f.host.SetRange(typeOf(q.from), q.start, q.end)
			}
			if err == unix.EAGAIN || err == unix.EACCES {
				return errHostConflict
			}
			// The host cannot hold this lock (a read-only host
			// descriptor for a write lock): the sandbox's own
			// locks still hold.
			return nil
		}
	}
	if acquired {
		f.host.Acquired()
	}
	return nil
}

// mirrorFlockLocked makes the host's flock the strongest of f's flocks.
// Preconditions: mu is held; f.host is set.
func (f *file) mirrorFlockLocked() error {
	s := 0
	for _, l := range f.flocks {
		s = max(s, strength(l.Type))
	}
	want := typeOf(s)
	if want == f.hostFlock {
		return nil
	}
	if strength(want) < strength(f.hostFlock) {
		f.host.Releasing()
	}
	old := f.hostFlock
	if err := f.host.Flock(want); err != nil {
		if old != unix.F_UNLCK {
			// Linux's flock conversion dropped the old lock first.
			if f.host.Flock(old) != nil {
				f.hostFlock = unix.F_UNLCK
			}
		}
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			return errHostConflict
		}
		return nil
	}
	if strength(want) > strength(old) {
		f.host.Acquired()
	}
	f.hostFlock = want
	return nil
}

// Test is F_GETLK and F_OFD_GETLK: the first lock that conflicts with r
// (a read or write request), and whether there is one.
func Test(key fs.FileKey, r Request) (Lock, bool) {
	mu.Lock()
	defer mu.Unlock()
	f := files[key]
	if f == nil {
		return Lock{}, false
	}
	if l := f.conflictLocked(r); l != nil {
		return *l, true
	}
	return Lock{}, false
}

// Any reports whether any lock is held in the sandbox.
func Any() bool { return held.Load() != 0 }

// HasPOSIX reports whether owner holds POSIX locks on any file: the
// close path's check before it computes the closed file's key.
func HasPOSIX(owner Owner) bool {
	if held.Load() == 0 {
		return false
	}
	mu.Lock()
	defer mu.Unlock()
	return posixOwners[owner] > 0
}

// HasDescription reports whether the description owner holds OFD or
// flock locks.
func HasDescription(owner Owner) bool {
	if held.Load() == 0 {
		return false
	}
	mu.Lock()
	defer mu.Unlock()
	return descOwners[owner] > 0
}

// ReleasePOSIX drops every POSIX lock owner holds on key: the close of
// any descriptor of the file by the process (locks_remove_posix).
func ReleasePOSIX(key fs.FileKey, owner Owner) {
	release(key, func(l *Lock) bool { return l.Kind == POSIX && l.Owner == owner })
}

// ReleaseDescription drops the OFD and flock locks of the description
// owner on key: its last reference is gone (locks_remove_file).
func ReleaseDescription(key fs.FileKey, owner Owner) {
	release(key, func(l *Lock) bool { return l.Kind != POSIX && l.Owner == owner })
}

func release(key fs.FileKey, match func(*Lock) bool) {
	mu.Lock()
	defer mu.Unlock()
	f := files[key]
	if f == nil {
		return
	}
	var keptR, keptF []*Lock
	changed := false
	for _, l := range f.ranges {
		if match(l) {
			forgetLocked(l)
			changed = true
		} else {
			keptR = append(keptR, l)
		}
	}
	flockChanged := false
	for _, l := range f.flocks {
		if match(l) {
			forgetLocked(l)
			flockChanged = true
		} else {
			keptF = append(keptF, l)
		}
	}
	if !changed && !flockChanged {
		return
	}
	old := f.ranges
	f.ranges, f.flocks = keptR, keptF
	if f.host != nil {
		if changed {
			f.mirrorRangesLocked(old, f.ranges, 0, MaxOffset)
		}
		if flockChanged {
			f.mirrorFlockLocked()
		}
	}
	f.changedLocked()
	putFileLocked(f)
}

// Held returns every lock held on key, in the order /proc/locks lists
// them.
func Held(key fs.FileKey) []Lock {
	mu.Lock()
	defer mu.Unlock()
	f := files[key]
	if f == nil {
		return nil
	}
	return f.allLocked()
}

func (f *file) allLocked() []Lock {
	var out []Lock
	for _, l := range f.ranges {
		out = append(out, *l)
	}
	for _, l := range f.flocks {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Format renders l as a line of /proc/locks after its "N: " prefix
// (lock_get_status): kind, ADVISORY, type, pid (-1 for OFD locks; l.PID
// through pidOf otherwise: the reader's PID namespace's view), device:inode,
// range.
func Format(l Lock, key fs.FileKey, pidOf func(int32) int32) string {
	var b strings.Builder
	switch l.Kind {
	case POSIX:
		b.WriteString("POSIX  ADVISORY  ")
	case OFD:
		b.WriteString("OFDLCK ADVISORY  ")
	case Flock:
		b.WriteString("FLOCK  ADVISORY  ")
	}
	if l.Type == unix.F_WRLCK {
		b.WriteString("WRITE ")
	} else {
		b.WriteString("READ  ")
	}
	pid := pidOf(l.PID)
	if l.Kind == OFD {
		pid = -1
	}
	fmt.Fprintf(&b, "%d %02x:%02x:%d ", pid, unix.Major(key.Dev), unix.Minor(key.Dev), key.Ino)
	switch {
	case l.Kind == Flock:
		b.WriteString("0 EOF")
	case l.End == MaxOffset:
		fmt.Fprintf(&b, "%d EOF", l.Start)
	default:
		fmt.Fprintf(&b, "%d %d", l.Start, l.End)
	}
	return b.String()
}

// ProcLocks returns /proc/locks: every held lock of the sandbox, oldest
// first, numbered from 1, each followed by the requests waiting for it
// ("N: -> ..."). PIDs are shown through pidOf (the namespace of the
// procfs instance); a held lock whose owner it does not see (0) is left
// out with its waiters but keeps its number, as Linux's locks_show.
func ProcLocks(pidOf func(int32) int32) string {
	type entry struct {
		l       Lock
		key     fs.FileKey
		waiting []Lock
	}
	var all []entry
	mu.Lock()
	for key, f := range files {
		held := f.allLocked()
		for _, l := range held {
			e := entry{l: l, key: key}
			for _, r := range f.blocked {
				// Under the first held lock in its way.
				for _, h := range held {
					if conflicts(h, *r) {
						if h.id == l.id {
							e.waiting = append(e.waiting, Lock{Kind: r.Kind, Type: r.Type, Start: r.Start, End: r.End, PID: r.PID})
						}
						break
					}
				}
			}
			all = append(all, e)
		}
	}
	mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].l.id < all[j].l.id })
	var b strings.Builder
	for i, e := range all {
		if e.l.Kind != OFD && pidOf(e.l.PID) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%d: %s\n", i+1, Format(e.l, e.key, pidOf))
		for _, w := range e.waiting {
			fmt.Fprintf(&b, "%d: -> %s\n", i+1, Format(w, e.key, pidOf))
		}
	}
	return b.String()
}

// conflicts reports whether held lock l is in the way of request r.
func conflicts(l Lock, r Request) bool {
	if l.Owner == r.Owner || (l.Kind == Flock) != (r.Kind == Flock) {
		return false
	}
	if !overlaps(l.Start, l.End, r.Start, r.End) {
		return false
	}
	return l.Type == unix.F_WRLCK || r.Type == unix.F_WRLCK
}

// FDInfo returns the "lock:" lines of /proc/PID/fdinfo for the
// description desc of a process whose descriptor table is table: the
// locks on key taken through desc and owned by either (flock locks
// first, then record locks, numbered from 1), PIDs through pidOf.
func FDInfo(key fs.FileKey, desc, table any, pidOf func(int32) int32) string {
	if held.Load() == 0 {
		return ""
	}
	mu.Lock()
	f := files[key]
	var ls []Lock
	if f != nil {
		for _, list := range [][]*Lock{f.flocks, f.ranges} {
			for _, l := range list {
				if l.Via == desc && (l.Owner == desc || l.Owner == table) {
					ls = append(ls, *l)
				}
			}
		}
	}
	mu.Unlock()
	var b strings.Builder
	for i, l := range ls {
		fmt.Fprintf(&b, "lock:\t%d: %s\n", i+1, Format(l, key, pidOf))
	}
	return b.String()
}
