package test

// Namespaces and mounts inside the sandbox (issue 15 item 6): the same
// programs make mount namespaces, mount, bind, propagate, unmount and
// pivot_root natively (as root, in a namespace of their own, so the host
// is untouched) and in the sandbox; outputs must match.

import (
	"os"
	"testing"
)

// needRootNatively skips a comparison whose native side needs
// CAP_SYS_ADMIN on the host.
func needRootNatively(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: the native run needs root (mount namespaces and mount(2) need CAP_SYS_ADMIN)")
	}
}

// TestMountNamespaces: test/c/mountns.c — bind/rbind, remount read-only,
// MS_MOVE, shared/slave/private/unbindable propagation, a child's own
// namespace and a peer across namespaces, /proc/PID/ns/mnt and setns,
// umount2's errors and MNT_DETACH, pivot_root (also "." "."), chroot and
// proc inside, EPERM without CAP_SYS_ADMIN; mountinfo compared.
func TestMountNamespaces(t *testing.T) {
	needRootNatively(t)
	compareC(t, "mountns", 0)
}
