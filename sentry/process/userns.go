package process

import (
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"golang.org/x/sys/unix"
)

// User namespaces for clone, unshare and setns (the model is auth's,
// sentry/auth/userns.go). A thread's user namespace is part of its
// credentials; the sandbox's first one is nil there and a fixed nsfs
// namespace in /proc/PID/ns/user.

// UserNamespaceCredentials returns the credentials of a thread with
// creds and file-system context after making a new user namespace
// (clone or unshare with CLONE_NEWUSER; Linux's create_user_ns): EPERM
// when the caller is chrooted or its effective IDs are not mapped in
// its own namespace, ENOSPC past 33 nested namespaces.
func (t *Thread) UserNamespaceCredentials(creds *auth.Credentials) (*auth.Credentials, error) {
	if t.FS != nil {
		root, nsRoot := t.FS.Root(), t.FS.Namespace().RootLocation()
		if root.Mount != nsRoot.Mount || root.Node != nsRoot.Node {
			return nil, unix.EPERM
		}
	}
	if _, ok := creds.UserNS.MapUIDFromKernel(creds.EffectiveUID); !ok {
		return nil, unix.EPERM
	}
	if _, ok := creds.UserNS.MapGIDFromKernel(creds.EffectiveGID); !ok {
		return nil, unix.EPERM
	}
	return creds.NewUserNamespace(nsfs.NewIno())
}

// UserNamespaceOf returns the nsfs namespace of th's user namespace.
func (s *Sandbox) userNamespaceOf(th *Thread) nsfs.Namespace {
	if th != nil {
		if ns := th.Credentials().UserNS; ns != nil {
			return ns
		}
	}
	return nil
}

// JoinUserNamespace moves t into ns (setns; Linux's userns_install):
// EINVAL for its own namespace, a multithreaded caller or a shared
// filesystem context (the caller checks the latter two), EPERM without
// CAP_SYS_ADMIN in ns. t gets every capability in ns.
func (t *Thread) JoinUserNamespace(ns *auth.UserNamespace) error {
	creds := t.Credentials()
	if creds.UserNS == ns {
		return unix.EINVAL
	}
	if !creds.HasCapabilityIn(ns, capSysAdmin) {
		return unix.EPERM
	}
	n := creds.Fork()
	n.UserNS = ns
	n.Effective, n.Permitted, n.Bounding = auth.AllCapabilities, auth.AllCapabilities, auth.AllCapabilities
	n.Inheritable, n.Ambient = 0, 0
	t.SetCredentials(n)
	return nil
}

// Owner returns the user namespace u was made in.
func (u *UTSNamespace) Owner() *auth.UserNamespace { return u.owner }

// Owner returns the user namespace ns was made in.
func (ns *IPCNamespace) Owner() *auth.UserNamespace { return ns.owner }
