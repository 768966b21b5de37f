package boot

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
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
