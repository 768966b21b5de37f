package boot

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"github.com/sirupsen/logrus"
)

// workqueueUsers are the sentry's users of the workqueues that are started
// once the filesystem exists: write-behind of the writable host
// filesystems (volumes, binds, a writable root) and the periodic
// write-back of their dirty mapped pages (on the "writeback" workqueue),
// and the per-CPU vmstat folds (on mm_percpu_wq). The deferred close of
// host descriptors is wired through container.Env.FDCloser.
//
// Locking: mu protects volumes and mappedWB.
type workqueueUsers struct {
	log    *logrus.Logger
	wqs    *workqueue.System
	vmstat *workqueue.VmstatUpdater

	mu      sync.Mutex
	volumes []*hostfs.FS
	// mappedWB writes back the volumes' dirty mapped pages every
	// DirtyWritebackInterval, once there is a volume; stopped is set by
	// finish.
	mappedWB *workqueue.DelayedWork
	stopped  atomic.Bool
}

// DirtyWritebackInterval is how often dirty pages of shared file mappings
// are written back (Linux's vm.dirty_writeback_centisecs, 500).
const DirtyWritebackInterval = 5 * time.Second

// startWorkqueueUsers starts the vmstat folds and returns the users; call
// addWritable for each writable host filesystem, and finish when init has
// exited. It does not block.
func startWorkqueueUsers(wqs *workqueue.System, log *logrus.Logger) (*workqueueUsers, error) {
	u := &workqueueUsers{log: log, wqs: wqs}
	var err error
	u.vmstat, err = procfs.StartVmstat(wqs, 0)
	if err != nil {
		return nil, fmt.Errorf("starting the vmstat updates: %w", err)
	}
	return u, nil
}

// addWritable turns on write-behind for a writable host filesystem, and
// the periodic write-back of its mapped pages.
func (u *workqueueUsers) addWritable(hf *hostfs.FS) error {
	if hf.ReadOnly() {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, v := range u.volumes {
		if v == hf {
			return nil
		}
	}
	if err := hf.EnableWriteback(hostfs.WritebackOptions{WQ: u.wqs.Writeback}); err != nil {
		return fmt.Errorf("%s: %w", hf.HostDir(), err)
	}
	u.volumes = append(u.volumes, hf)
	if u.mappedWB == nil {
		wq := u.wqs.Writeback
		u.mappedWB = workqueue.NewDelayedWork(func(*kernel.Task, *workqueue.Work) {
			u.mu.Lock()
			vols := append([]*hostfs.FS(nil), u.volumes...)
			u.mu.Unlock()
			for _, hf := range vols {
				hf.WritebackMapped()
			}
			if !u.stopped.Load() {
				wq.QueueDelayed(u.mappedWB, DirtyWritebackInterval)
			}
		})
		wq.QueueDelayed(u.mappedWB, DirtyWritebackInterval)
	}
	return nil
}

// finish writes back every volume's dirty data and waits for it (no data
// written by the sandbox may be lost at exit), then stops the vmstat
// folds. Errors are logged. It blocks; call it from boot's goroutine (not
// a task) after init has exited, before the kernel shuts down. It may be
// called more than once.
func (u *workqueueUsers) finish() {
	if u == nil {
		return
	}
	u.stopped.Store(true)
	u.mu.Lock()
	wb := u.mappedWB
	vols := append([]*hostfs.FS(nil), u.volumes...)
	u.mu.Unlock()
	if wb != nil {
		wb.Cancel()
	}
	for _, hf := range vols {
		if err := hf.SyncAll(nil); err != nil {
			u.log.Warningf("writing back volume %s at exit: %v", hf.HostDir(), err)
		}
	}
	if u.vmstat != nil {
		u.vmstat.Stop(nil)
		u.vmstat = nil
	}
}
