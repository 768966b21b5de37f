package boot

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
)

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
