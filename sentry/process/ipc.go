package process

import (
	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/mqueue"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/msg"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/sem"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/shm"
	"golang.org/x/sys/unix"
)

// IPCNamespace is the sandbox's IPC namespace: its System V shared memory,
// semaphores and message queues, and its POSIX message queues with their
// mqueue filesystem. It is the sentry's own state, never the host's: the
// sandbox sees none of the host's IPC objects and makes none there.
type IPCNamespace struct {
	Shm    *shm.Registry
	Sem    *sem.Registry
	Msg    *msg.Registry
	MQueue *mqueue.Registry
	// Budget bounds the sentry memory semaphore sets and queued
	// messages take (ipc.Budget).
	Budget *ipc.Budget
}

// NewIPCNamespace returns an empty namespace whose shared memory lives in
// z's memory file. Semaphore sets and queued messages may take a
// sixteenth of the zone's memory of the sentry's own.
func NewIPCNamespace(z *kswapd.Zone) *IPCNamespace {
	budget := ipc.NewBudget(int64(z.TotalPages()) * 4096 / 16)
	major, minor := fs.NewAnonDev()
	ns := &IPCNamespace{
		Shm:    shm.NewRegistry(z, unix.Mkdev(major, minor)),
		Sem:    sem.NewRegistry(budget),
		Msg:    msg.NewRegistry(budget),
		MQueue: mqueue.NewRegistry(budget),
		Budget: budget,
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
		t.semUndo = t.S.IPC.Sem.NewUndoList()
	}
	return t.semUndo
}

// exitIPC is what a thread's exit does to the IPC namespace: its SEM_UNDO
// adjustments are applied when it was the list's last user (exit_sem),
// and the shared memory segments it created are orphaned (exit_shm).
func (t *Thread) exitIPC() {
	if t.S.IPC == nil {
		return
	}
	t.LeaveSemUndo()
	t.S.IPC.Shm.TaskExited(t.TID())
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
