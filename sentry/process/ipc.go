package process

import (
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"runtime"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/mqueue"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/msg"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/sem"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/shm"
	"golang.org/x/sys/unix"
)

// IPCNamespace is an IPC namespace: its System V shared memory,
// semaphores and message queues, and its POSIX message queues with their
// mqueue filesystem. It is the sentry's own state, never the host's: the
// sandbox sees none of the host's IPC objects and makes none there.
type IPCNamespace struct {
	Shm    *shm.Registry
	Sem    *sem.Registry
	Msg    *msg.Registry
	MQueue *mqueue.Registry
	// Budget bounds the sentry memory semaphore sets and queued
	// messages take (ipc.Budget), shared by every namespace of the
	// sandbox.
	Budget *ipc.Budget

	ino  uint64
	zone *kswapd.Zone
	// owner is the user namespace it was made in (userns.go).
	owner *auth.UserNamespace
}

// Ino implements nsfs.Namespace.
func (ns *IPCNamespace) Ino() uint64 { return ns.ino }

// NewIPCNamespace returns an empty namespace whose shared memory lives in
// z's memory file. Semaphore sets and queued messages may take a
// sixteenth of the zone's memory of the sentry's own.
func NewIPCNamespace(z *kswapd.Zone) *IPCNamespace {
	return newIPCNamespace(z, ipc.NewBudget(int64(z.TotalPages())*4096/16))
}

// Copy returns a new, empty namespace (CLONE_NEWIPC) drawing on ns's
// budget: however many namespaces are made, their semaphore sets and
// messages together stay within the sandbox's one bound.
// When the copy is no longer reachable (no thread in it, no nsfs file
// of it) its objects are removed, returning their memory and budget; an
// mqueue filesystem mounted from it keeps its queues.
func (ns *IPCNamespace) Copy(owner *auth.UserNamespace) *IPCNamespace {
	n := newIPCNamespace(ns.zone, ns.Budget)
	n.owner = owner
	runtime.AddCleanup(n, func(r ipcRegistries) {
		r.shm.RemoveAll()
		r.sem.RemoveAll()
		r.msg.RemoveAll()
	}, ipcRegistries{n.Shm, n.Sem, n.Msg})
	return n
}

// ipcRegistries are what a dead namespace's cleanup empties.
type ipcRegistries struct {
	shm *shm.Registry
	sem *sem.Registry
	msg *msg.Registry
}

func newIPCNamespace(z *kswapd.Zone, budget *ipc.Budget) *IPCNamespace {
	major, minor := fs.NewAnonDev()
	ns := &IPCNamespace{
		Shm:    shm.NewRegistry(z, unix.Mkdev(major, minor)),
		Sem:    sem.NewRegistry(budget),
		Msg:    msg.NewRegistry(budget),
		MQueue: mqueue.NewRegistry(budget),
		Budget: budget,
		ino:    nsfs.NewIno(),
		zone:   z,
	}
	ns.MQueue.RLimit = func(ctx *fs.Context) uint64 {
		if ctx != nil && ctx.Task != nil {
			if t, ok := ctx.Task.Ext.(*Thread); ok {
				return t.TG.Limits.Get(unix.RLIMIT_MSGQUEUE).Cur
			}
		}
		return unix.RLIM_INFINITY
	}
	return ns
}

// SemUndo returns the thread's SEM_UNDO list, making it on first use (one
// per process unless shared with CLONE_SYSVSEM).
func (t *Thread) SemUndo() *sem.UndoList {
	if t.semUndo == nil {
		t.semUndo = t.IPC().Sem.NewUndoList()
	}
	return t.semUndo
}

// IPC returns the IPC namespace t is in (nil in a sandbox built without
// one: unit tests).
func (t *Thread) IPC() *IPCNamespace {
	if ns := t.ipc.Load(); ns != nil {
		return ns
	}
	return t.S.IPC
}

// UnshareIPC moves t into a new, empty IPC namespace, leaving its
// SEM_UNDO list first (unshare(CLONE_NEWIPC) implies CLONE_SYSVSEM).
func (t *Thread) UnshareIPC(owner *auth.UserNamespace) {
	t.LeaveSemUndo()
	t.ipc.Store(t.IPC().Copy(owner))
}

// SetIPC moves t into ns (setns), leaving its SEM_UNDO list.
func (t *Thread) SetIPC(ns *IPCNamespace) {
	t.LeaveSemUndo()
	t.ipc.Store(ns)
}

// exitIPC is what a thread's exit does to the IPC namespace: its SEM_UNDO
// adjustments are applied when it was the list's last user (exit_sem),
// and the shared memory segments it created are orphaned (exit_shm).
func (t *Thread) exitIPC() {
	ns := t.IPC()
	if ns == nil {
		return
	}
	t.LeaveSemUndo()
	ns.Shm.TaskExited(t.TID())
}

// LeaveSemUndo drops the thread's SEM_UNDO list, whose adjustments are
// applied when it was the list's last user (Linux's exit_sem): at exit,
// and for unshare(CLONE_SYSVSEM), after which a SEM_UNDO starts a list of
// the thread's own.
func (t *Thread) LeaveSemUndo() {
	if t.semUndo != nil {
		t.semUndo.Exit(t.TG.tgid)
		t.semUndo = nil
	}
}

// ExecGeneration counts the group's successful execves: an mq_notify
// registration made before one no longer signals (Linux's self_exec_id).
func (tg *ThreadGroup) ExecGeneration() uint64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.execGen
}

// Alive reports whether the group has not exited.
func (tg *ThreadGroup) Alive() bool {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return !tg.exiting
}
