package process

// What signalfd(2) files need of a process: taking pending signals of a
// set without delivering them, seeing whether any is pending, and being
// told when one is queued.

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// signalfdWaiters are the signalfd readers blocked on a group and the
// pollers watching it. Their own locks are leaves; they are notified
// after ThreadGroup.mu is released.
type signalfdWaiters struct {
	wq       kernel.WaitQueue
	notifier fs.Notifier
}

func (w *signalfdWaiters) notify() {
	w.wq.NotifyAll()
	w.notifier.Notify(unix.POLLIN)
}

// DequeueSignal removes and returns a pending signal of set, the thread's
// own first, then its process's (a signalfd read), or nil if none is
// pending. SIGKILL and SIGSTOP are never taken.
func (t *Thread) DequeueSignal(set linux.SignalSet) *linux.SignalInfo {
	set &^= unblockable
	tg := t.TG
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return t.dequeueLocked(^set)
}

// HasPendingSignal reports whether a signal of set is pending for the
// thread or its process.
func (t *Thread) HasPendingSignal(set linux.SignalSet) bool {
	tg := t.TG
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return (t.signals().pending.set|tg.signals().pending.set)&set&^unblockable != 0
}

// WaitSignal blocks until cond (which takes pending signals with
// DequeueSignal) is true, releasing the CPU; EINTR if a signal the thread
// does not block arrives first.
func (t *Thread) WaitSignal(ctx *fs.Context, cond func() bool) error {
	return ctx.Block(&t.TG.signals().signalfd.wq, cond)
}

// WatchSignals calls fn whenever a signal is queued on the process or one
// of its threads, until cancel is called.
func (tg *ThreadGroup) WatchSignals(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return tg.signals().signalfd.notifier.Watch(mask, fn)
}
