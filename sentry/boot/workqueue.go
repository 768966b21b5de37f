package boot

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"github.com/sirupsen/logrus"
)

// workqueueUsers are the sentry's users of the workqueues that are started
// once the filesystem exists: write-behind of the writable volumes and the
// periodic write-back of their dirty mapped pages (on the "writeback"
// workqueue), and the per-CPU vmstat folds (on mm_percpu_wq). The deferred
// close of host descriptors is wired through vfs.Options.FDCloser.
type workqueueUsers struct {
	log     *logrus.Logger
	volumes []*hostfs.FS
	vmstat  *workqueue.VmstatUpdater

	// mappedWB writes back the volumes' dirty mapped pages every
	// DirtyWritebackInterval; stopped is set by finish.
	mappedWB *workqueue.DelayedWork
	stopped  atomic.Bool
}

// DirtyWritebackInterval is how often dirty pages of shared file mappings
// are written back (Linux's vm.dirty_writeback_centisecs, 500).
const DirtyWritebackInterval = 5 * time.Second

// startWorkqueueUsers turns on write-behind for every writable volume of
// v (vols are the volumes v was built with) and starts the vmstat folds.
// It returns the users; call finish when init has exited. It does not
// block.
// Preconditions: no sandbox task runs yet.
func startWorkqueueUsers(wqs *workqueue.System, v *vfs.VirtualFilesystem, vols []vfs.Volume, log *logrus.Logger) (*workqueueUsers, error) {
	u := &workqueueUsers{log: log}
	fsc, err := v.NewFSContext("/")
	if err != nil {
		return nil, err
	}
	seen := make(map[*hostfs.FS]bool)
	for _, vol := range vols {
		if vol.ReadOnly {
			continue
		}
		loc, err := v.Resolve(fs.Background, fsc, v.RootLocation(), vol.SandboxPath, true)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.SandboxPath, err)
		}
		hf, ok := loc.Mount.FS.(*hostfs.FS)
		if !ok || seen[hf] || hf.ReadOnly() {
			continue
		}
		seen[hf] = true
		if err := hf.EnableWriteback(hostfs.WritebackOptions{WQ: wqs.Writeback}); err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.SandboxPath, err)
		}
		u.volumes = append(u.volumes, hf)
	}
	if len(u.volumes) > 0 {
		wq := wqs.Writeback
		u.mappedWB = workqueue.NewDelayedWork(func(*kernel.Task, *workqueue.Work) {
			for _, hf := range u.volumes {
				hf.WritebackMapped()
			}
			if !u.stopped.Load() {
				wq.QueueDelayed(u.mappedWB, DirtyWritebackInterval)
			}
		})
		wq.QueueDelayed(u.mappedWB, DirtyWritebackInterval)
	}
	u.vmstat, err = procfs.StartVmstat(wqs, 0)
	if err != nil {
		return nil, fmt.Errorf("starting the vmstat updates: %w", err)
	}
	return u, nil
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
	if u.mappedWB != nil {
		u.mappedWB.Cancel()
	}
	for _, hf := range u.volumes {
		if err := hf.SyncAll(nil); err != nil {
			u.log.Warningf("writing back volume %s at exit: %v", hf.HostDir(), err)
		}
	}
	if u.vmstat != nil {
		u.vmstat.Stop(nil)
		u.vmstat = nil
	}
}
