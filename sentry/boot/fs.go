package boot

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/sysfs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
)

// newFilesystem builds the sandbox's mount tree: the root (host directory
// under an in-memory upper layer), /dev, volumes, /proc and /sys.
func newFilesystem(s *process.Sandbox, opts vfs.Options) (*vfs.VirtualFilesystem, error) {
	v, err := vfs.New(opts)
	if err != nil {
		return nil, fmt.Errorf("building the sandbox's filesystem: %w", err)
	}
	if err := v.Mount(fs.Background, "/proc", procfs.New(s), vfs.MountOptions{Source: "proc", Options: "nosuid,nodev,noexec"}); err != nil {
		return nil, fmt.Errorf("mounting /proc: %w", err)
	}
	if err := v.Mount(fs.Background, "/sys", sysfs.New(s.Kernel.NumCPUs()), vfs.MountOptions{Source: "sysfs", ReadOnly: true, Options: "nosuid,nodev,noexec"}); err != nil {
		return nil, fmt.Errorf("mounting /sys: %w", err)
	}
	inotify.OpenElsewhere = func(key fs.FileKey) bool { return fileOpen(s, key) }
	// The IPC namespace's POSIX message queues, where Linux distributions
	// and container runtimes mount them.
	if s.IPC != nil {
		mq := s.IPC.MQueue.Filesystem()
		if err := v.Mount(fs.Background, "/dev/mqueue", mq, vfs.MountOptions{Source: "mqueue", Options: "nosuid,nodev,noexec"}); err != nil {
			return nil, fmt.Errorf("mounting /dev/mqueue: %w", err)
		}
	}
	return v, nil
}

// fileOpen reports whether a descriptor of any process of s refers to the
// file key: a deleted file's inotify DELETE_SELF waits until none does.
// It looks through every descriptor table once (only a deleted watched
// file asks).
func fileOpen(s *process.Sandbox, key fs.FileKey) bool {
	seen := map[*vfs.FDTable]bool{}
	for _, tg := range s.ThreadGroups() {
		for _, th := range tg.Threads() {
			fdt := th.FDs
			if fdt == nil || seen[fdt] {
				continue
			}
			seen[fdt] = true
			found := false
			for _, d := range fdt.Snapshot() {
				if !found && !d.File.IsPath() {
					if k, err := d.File.FileKey(fs.Background); err == nil && k == key {
						found = true
					}
				}
				d.File.DecRef()
			}
			if found {
				return true
			}
		}
	}
	return false
}
