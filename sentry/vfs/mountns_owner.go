package vfs

import "github.com/runsc-lite/runsc-lite/sentry/auth"

// Owner returns the user namespace ns was made in (nil: the sandbox's
// first); mount(2), umount2 and pivot_root need CAP_SYS_ADMIN there.
func (ns *MountNamespace) Owner() *auth.UserNamespace { return ns.owner }

// SetOwner records the user namespace a new namespace was made in. Call
// it only on a namespace Copy just returned, before another thread can
// reach it. A copy for another user namespace than its source's has its
// mounts locked (mountlock.go).
func (ns *MountNamespace) SetOwner(owner *auth.UserNamespace) {
	ns.vfs.mu.Lock()
	defer ns.vfs.mu.Unlock()
	if owner != ns.owner {
		ns.lockTree()
	}
	ns.owner = owner
}
