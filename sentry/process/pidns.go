package process

import (
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// PID namespaces made inside the sandbox (CLONE_NEWPID; unshare and setns
// of pid_for_children). The sandbox's own PID namespace is the root one:
// in it a task's ID is its kernel TID, and the process table (Sandbox.tgs,
// ThreadByTID) is keyed by those. A nested namespace numbers its members
// from 1 and maps its IDs to kernel TIDs and back; a task has an ID in its
// own namespace and in every ancestor. A syscall that takes or returns a
// PID translates it through the caller's namespace (Thread.PIDOfTask,
// Thread.KernelPID): a task outside the caller's namespace is ID 0.
//
// Locking: PIDNamespace.mu protects the ID maps and init/dead; it is a leaf
// (taken under Sandbox.mu, never the other way round).

// maxPIDNSLevel is Linux's MAX_PID_NS_LEVEL.
const maxPIDNSLevel = 32

// pidMax is every namespace's pid_max (/proc/sys/kernel/pid_max; Linux's
// PID_MAX_LIMIT): IDs are below it.
const pidMax = 1 << 22

// PIDNamespace is a PID namespace.
type PIDNamespace struct {
	ino    uint64
	parent *PIDNamespace // nil: the sandbox's own
	level  int
	// owner is the user namespace it was made in (nil: the sandbox's
	// first), where clone3's set_tid needs CAP_SYS_ADMIN.
	owner *auth.UserNamespace

	mu sync.Mutex
	// next is the next ID to try; byID and ids map the namespace's IDs
	// to kernel TIDs and back.
	next int32
	byID map[int32]int32
	ids  map[int32]int32
	// init is the namespace's first process (ID 1), nil until made;
	// dead is set once it has exited: the namespace takes no new
	// members (fork fails with ENOMEM, as Linux's alloc_pid).
	init *ThreadGroup
	dead bool
}

// Ino implements nsfs.Namespace.
func (ns *PIDNamespace) Ino() uint64 { return ns.ino }

// Parent returns the namespace's parent (nil for the sandbox's).
func (ns *PIDNamespace) Parent() *PIDNamespace { return ns.parent }

// Owner returns the user namespace ns was made in (nil: the sandbox's
// first): a procfs for ns needs CAP_SYS_ADMIN there.
func (ns *PIDNamespace) Owner() *auth.UserNamespace { return ns.owner }

// IsRoot reports whether ns is the sandbox's own PID namespace.
func (ns *PIDNamespace) IsRoot() bool { return ns.parent == nil }

// RootPIDNS returns the sandbox's own PID namespace.
func (s *Sandbox) RootPIDNS() *PIDNamespace {
	s.namespaces.pidOnce.Do(func() { s.namespaces.pid = &PIDNamespace{ino: nsfs.NewIno()} })
	return s.namespaces.pid
}

// newChildPIDNS returns a new namespace below ns, owned by user namespace
// owner.
func newChildPIDNS(ns *PIDNamespace, owner *auth.UserNamespace) (*PIDNamespace, error) {
	if ns.level+1 >= maxPIDNSLevel {
		return nil, unix.ENOSPC
	}
	return &PIDNamespace{
		ino:    nsfs.NewIno(),
		parent: ns,
		level:  ns.level + 1,
		owner:  owner,
		next:   1,
		byID:   make(map[int32]int32),
		ids:    make(map[int32]int32),
	}, nil
}

// Local returns the ID in ns of the task with kernel TID tid, 0 if it is
// not in ns.
func (ns *PIDNamespace) Local(tid int32) int32 {
	if ns == nil || ns.parent == nil || tid <= 0 {
		return tid
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.ids[tid]
}

// Kernel returns the kernel TID of the task whose ID in ns is id, 0 if
// there is none.
func (ns *PIDNamespace) Kernel(id int32) int32 {
	if ns == nil || ns.parent == nil || id <= 0 {
		return id
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.byID[id]
}

// Contains reports whether ns is the namespace of t or one of its
// ancestors (t has an ID in ns).
func (ns *PIDNamespace) Contains(t *Thread) bool {
	for n := t.PIDNS(); n != nil; n = n.parent {
		if n == ns {
			return true
		}
	}
	return false
}

// Init returns the namespace's init (nil for the sandbox's own: see
// Sandbox.Init; nil before its first process).
func (ns *PIDNamespace) Init() *ThreadGroup {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.init
}

// alloc gives kernel TID tid an ID in ns, 1 for the first; tg, if not nil,
// is the process it leads. Errors: ENOMEM when the namespace's init has
// exited, EAGAIN when the namespace has no free ID.
//
// want, if not 0, is the ID to give (clone3's set_tid): EEXIST if taken.
func (ns *PIDNamespace) alloc(tid int32, tg *ThreadGroup, want int32) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.dead {
		return unix.ENOMEM
	}
	if want != 0 {
		if _, used := ns.byID[want]; used {
			return unix.EEXIST
		}
		ns.byID[want] = tid
		ns.ids[tid] = want
		if want == 1 && tg != nil {
			ns.init = tg
		}
		return nil
	}
	const maxID = pidMax
	for range maxID {
		id := ns.next
		ns.next++
		if ns.next >= maxID {
			ns.next = 2 // Linux wraps to RESERVED_PIDS (300) past init; 2 keeps IDs small
		}
		if _, used := ns.byID[id]; used {
			continue
		}
		ns.byID[id] = tid
		ns.ids[tid] = id
		if id == 1 && tg != nil {
			ns.init = tg
		}
		return nil
	}
	return unix.EAGAIN
}

// free takes kernel TID tid's ID in ns away.
func (ns *PIDNamespace) free(tid int32) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if id, ok := ns.ids[tid]; ok {
		delete(ns.ids, tid)
		delete(ns.byID, id)
	}
}

// PIDNS returns the PID namespace t is in.
func (t *Thread) PIDNS() *PIDNamespace {
	if t.pidns != nil {
		return t.pidns
	}
	return t.S.RootPIDNS()
}

// ChildPIDNS returns the PID namespace t's new processes go into
// (/proc/PID/ns/pid_for_children): its own unless unshare or setns
// changed it.
func (t *Thread) ChildPIDNS() *PIDNamespace {
	if ns := t.childPIDNS.Load(); ns != nil {
		return ns
	}
	return t.PIDNS()
}

// UnsharePIDNS makes a new namespace below t's own for t's next children
// (unshare(CLONE_NEWPID); the caller checked CAP_SYS_ADMIN): the first
// becomes its init. A thread may do so
// once: Linux refuses a second with EINVAL while its children's namespace
// is not its own.
func (t *Thread) UnsharePIDNS() error {
	if t.ChildPIDNS() != t.PIDNS() {
		return unix.EINVAL
	}
	ns, err := newChildPIDNS(t.PIDNS(), t.Credentials().UserNS)
	if err != nil {
		return err
	}
	t.childPIDNS.Store(ns)
	return nil
}

// SetChildPIDNS makes ns the namespace of t's next children (setns of a
// PID namespace): it must be t's own or a descendant of it, as Linux.
func (t *Thread) SetChildPIDNS(ns *PIDNamespace) error {
	if !ns.Contains(t) {
		// Not an ancestor-or-self: ns must be below t's own.
		for n := ns; ; n = n.parent {
			if n == nil {
				return unix.EINVAL
			}
			if n == t.PIDNS() {
				break
			}
		}
	} else if ns != t.PIDNS() {
		// An ancestor of t's own namespace.
		return unix.EINVAL
	}
	t.childPIDNS.Store(ns)
	return nil
}

// PIDOfTask returns the ID t sees for the task with kernel TID tid: its
// ID in t's namespace, 0 if it is outside it.
func (t *Thread) PIDOfTask(tid int32) int32 { return t.PIDNS().Local(tid) }

// PIDOf returns the ID t sees for process tg (0 if outside t's namespace).
func (t *Thread) PIDOf(tg *ThreadGroup) int32 { return t.PIDNS().Local(tg.tgid) }

// KernelPID returns the kernel TID of the task t names id (> 0), 0 if
// there is none in t's namespace.
func (t *Thread) KernelPID(id int32) int32 { return t.PIDNS().Kernel(id) }

// KernelPgid translates a process group or session ID the way KernelPID
// does (a group's ID is its leader's).
func (t *Thread) KernelPgid(id int32) int32 { return t.PIDNS().Kernel(id) }

// pidNSLinks gives a new task its IDs: one in ns and in each ancestor up
// to the sandbox's; tg is the process it leads (nil for a thread).
// setTID[i], when there is one, is the ID to give at the i-th level
// up from ns (clone3's set_tid; checkSetTID has checked it).
func pidNSLinks(ns *PIDNamespace, tid int32, tg *ThreadGroup, setTID []int32) error {
	for n := ns; n != nil && n.parent != nil; n = n.parent {
		var want int32
		if i := ns.level - n.level; i < len(setTID) {
			want = setTID[i]
		}
		if err := n.alloc(tid, tg, want); err != nil {
			for m := ns; m != n; m = m.parent {
				m.free(tid)
			}
			return err
		}
	}
	return nil
}

// checkSetTID makes alloc_pid's checks of clone3's set_tid for a task
// going into ns, its most nested level first (setTID[0] is the ID in ns,
// setTID[1] in its parent...): EINVAL for more IDs than levels, an ID out
// of range, or one other than 1 in a namespace that has no init yet; EPERM
// without CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in the user namespace
// owning the level; EEXIST for an ID in use (allocation checks it again).
// It returns the kernel TID asked for (the sandbox's own namespace's
// level), 0 if none.
func (s *Sandbox) checkSetTID(creds *auth.Credentials, ns *PIDNamespace, setTID []int32) (int32, error) {
	if len(setTID) > ns.level+1 {
		return 0, unix.EINVAL
	}
	n := ns
	for _, id := range setTID {
		if id < 1 || id >= pidMax {
			return 0, unix.EINVAL
		}
		if id != 1 && n.parent != nil && n.Init() == nil {
			return 0, unix.EINVAL
		}
		if !creds.HasCapabilityIn(n.owner, linux.CAP_SYS_ADMIN) && !creds.HasCapabilityIn(n.owner, linux.CAP_CHECKPOINT_RESTORE) {
			return 0, unix.EPERM
		}
		if n.parent == nil {
			if s.Kernel.TaskByTID(id) != nil {
				return 0, unix.EEXIST
			}
			return id, nil
		}
		if n.Kernel(id) != 0 {
			return 0, unix.EEXIST
		}
		n = n.parent
	}
	return 0, nil
}

// pidNSUnlink takes a task's IDs away (the end of its life).
func pidNSUnlink(t *Thread) {
	for n := t.pidns; n != nil && n.parent != nil; n = n.parent {
		n.free(t.TID())
	}
}

// pidNSInitExited handles the exit of process tg: if it is the init of a
// nested namespace, the namespace takes no new members and every other
// process in it (and in its descendants) is killed, as Linux's
// zap_pid_namespace. Called without Sandbox.mu.
func (s *Sandbox) pidNSInitExited(tg *ThreadGroup) {
	ns := tg.leader.PIDNS()
	if ns.parent == nil || ns.Init() != tg {
		return
	}
	ns.mu.Lock()
	ns.dead = true
	ns.mu.Unlock()
	for _, other := range s.ThreadGroups() {
		if other == tg || other.leader == nil || !ns.Contains(other.leader) {
			continue
		}
		other.Exit(KilledBy(int(linux.SIGKILL)))
	}
}

// pidNSReaperLocked returns the init of the nested namespace exiting tg
// is in, for its orphans, or nil when tg is in the sandbox's own
// namespace or is that init (then its children go to the parent
// namespace's reaper, as Linux's find_child_reaper).
// Preconditions: s.mu is held.
func pidNSReaperLocked(tg *ThreadGroup) *ThreadGroup {
	if tg.leader == nil {
		return nil
	}
	ns := tg.leader.PIDNS()
	for ; ns != nil && ns.parent != nil; ns = ns.parent {
		init := ns.Init()
		if init != nil && init != tg && !init.zombie {
			return init
		}
		if init != tg {
			return nil
		}
	}
	return nil
}

// localSignalInfo returns info as tg sees it: the sender's (kill, sigqueue,
// tgkill, a message queue's notification) or the child's (SIGCHLD) PID in
// tg's namespace, 0 if outside it.
func (tg *ThreadGroup) localSignalInfo(info *linux.SignalInfo) *linux.SignalInfo {
	if tg.leader == nil || tg.leader.pidns == nil {
		return info
	}
	switch {
	case info.Code == linux.SI_USER, info.Code == linux.SI_QUEUE, info.Code == linux.SI_TKILL, info.Code == linux.SI_MESGQ,
		info.Signo == int32(linux.SIGCHLD) && info.Code > 0:
		c := *info
		c.SetPID(tg.leader.pidns.Local(info.PID()))
		return &c
	}
	return info
}

// ownPID returns tg's ID in its own PID namespace.
func (tg *ThreadGroup) ownPID() int32 { return tg.ownNSPID(tg.tgid) }

// ownNSPID returns the ID of kernel TID tid in tg's PID namespace.
func (tg *ThreadGroup) ownNSPID(tid int32) int32 {
	if tg.leader == nil {
		return tid
	}
	return tg.leader.PIDNS().Local(tid)
}
