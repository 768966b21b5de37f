package process

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"golang.org/x/sys/unix"
)

// Cgroup namespaces (CLONE_NEWCGROUP). A cgroup namespace's root is its
// creator's cgroup; /proc/PID/cgroup shows paths relative to the reader's
// namespace root. Inside the sandbox every process is at the root of the
// one cgroup hierarchy it shows ("0::/", procfs), so a new namespace's root
// is "/" and the paths read the same; what changes is the namespace's
// identity (/proc/PID/ns/cgroup, setns).

// CgroupNamespace is a cgroup namespace made inside the sandbox.
type CgroupNamespace struct {
	ino uint64
	// root is the creator's cgroup path (as the creator saw it).
	root string
}

// Ino implements nsfs.Namespace.
func (c *CgroupNamespace) Ino() uint64 { return c.ino }

// Root returns the namespace's root cgroup path.
func (c *CgroupNamespace) Root() string { return c.root }

// cgroupNS returns t's cgroup namespace: its own if it made or joined one,
// else the sandbox's.
func (t *Thread) cgroupNS() nsfs.Namespace {
	if c := t.cgroupns.Load(); c != nil {
		return c
	}
	return t.S.Namespace(nil, "cgroup")
}

// newCgroupNS returns a namespace rooted at t's cgroup (CLONE_NEWCGROUP;
// the caller checked CAP_SYS_ADMIN).
func (t *Thread) newCgroupNS() (*CgroupNamespace, error) {
	return &CgroupNamespace{ino: nsfs.NewIno(), root: "/"}, nil
}

// UnshareCgroupNS moves t into a new cgroup namespace rooted at its cgroup.
func (t *Thread) UnshareCgroupNS() error {
	c, err := t.newCgroupNS()
	if err != nil {
		return err
	}
	t.cgroupns.Store(c)
	return nil
}

// SetCgroupNS moves t into ns, a cgroup namespace from nsfs (setns).
// Errors: EINVAL when ns is not a cgroup namespace.
func (t *Thread) SetCgroupNS(ns nsfs.Namespace) error {
	switch c := ns.(type) {
	case *CgroupNamespace:
		t.cgroupns.Store(c)
	default:
		if ns != t.S.Namespace(nil, "cgroup") {
			return unix.EINVAL
		}
		t.cgroupns.Store(nil)
	}
	return nil
}
