package syscalls

// setns(2): joining a namespace named by a /proc/PID/ns file (sentry/fs/nsfs)
// or by a pidfd. Mount, UTS and IPC namespaces are real
// (sentry/vfs/mountns.go, sentry/process/namespaces.go, ipc.go), and so
// are PID namespaces for the caller's children (pidns.go), cgroup,
// time and network namespaces (cgroupns.go, timens.go, netns.go).

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/pidfd"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// allNamespaceFlags are the clone flags that name namespace kinds.
const allNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

func Setns(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	nstype := uint64(uint32(a.Int(1)))
	f, err := getFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var target map[uint64]nsfs.Namespace
	switch n := f.Location().Node.(type) {
	case *nsfs.Node:
		if nstype != 0 && nstype != n.Kind.Flag {
			return 0, unix.EINVAL
		}
		target = map[uint64]nsfs.Namespace{n.Kind.Flag: n.NS}
	case *pidfd.PidFD:
		// A pidfd joins the given kinds of the process's namespaces.
		if nstype == 0 || nstype&^allNamespaceFlags != 0 {
			return 0, unix.EINVAL
		}
		leader := n.Process().Leader()
		if leader == nil {
			return 0, unix.ESRCH
		}
		target = make(map[uint64]nsfs.Namespace)
		for _, k := range nsfs.Kinds {
			if nstype&k.Flag != 0 && k.Name != "pid_for_children" && k.Name != "time_for_children" {
				target[k.Flag] = t.S.Namespace(leader, k.Name)
			}
		}
	default:
		return 0, unix.EINVAL
	}
	if user, ok := target[unix.CLONE_NEWUSER]; ok {
		// The user namespace first (Linux's order): the others are
		// then checked with the capabilities it gives.
		if err := joinUserNamespace(t, user); err != nil {
			return 0, err
		}
	}
	creds := t.Credentials()
	// CAP_SYS_ADMIN in the caller's user namespace and in the one
	// owning each namespace joined.
	if !creds.HasCapabilityIn(creds.UserNS, linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	// The time namespace's own checks come before anything is joined,
	// so a setns that fails there changes nothing (Linux validates every
	// kind before committing any).
	var timeNS *process.TimeNamespace
	if n, ok := target[unix.CLONE_NEWTIME]; ok {
		if timeNS, ok = n.(*process.TimeNamespace); !ok {
			return 0, unix.EINVAL
		}
		if err := t.CheckSetTimeNS(timeNS); err != nil {
			return 0, err
		}
	}
	for _, k := range setnsKinds {
		ns, ok := target[k.flag]
		if !ok {
			continue
		}
		if o, ok := ns.(ownedNamespace); ok && !creds.HasCapabilityIn(o.Owner(), linux.CAP_SYS_ADMIN) {
			return 0, unix.EPERM
		}
		if err := k.join(t, creds, ns); err != nil {
			return 0, err
		}
	}
	if timeNS != nil {
		// Itself and its future children.
		if err := t.SetTimeNS(timeNS); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// ownedNamespace is a namespace made in a user namespace (its owner):
// joining it takes CAP_SYS_ADMIN there.
type ownedNamespace interface {
	Owner() *auth.UserNamespace
}

// setnsKinds are the kinds setns joins after the user namespace, in the
// order it joins them. join moves t into ns, EINVAL when ns is not a
// namespace of the kind; the owner's CAP_SYS_ADMIN is checked before it.
var setnsKinds = []struct {
	flag uint64
	join func(t *process.Thread, creds *auth.Credentials, ns nsfs.Namespace) error
}{
	{unix.CLONE_NEWNS, joinMountNamespace},
	{unix.CLONE_NEWUTS, joinAs((*process.Thread).SetUTS)},
	{unix.CLONE_NEWIPC, joinAs((*process.Thread).SetIPC)},
	{unix.CLONE_NEWNET, func(t *process.Thread, _ *auth.Credentials, ns nsfs.Namespace) error {
		n, ok := ns.(*process.NetNamespace)
		if !ok {
			return unix.EINVAL
		}
		return t.SetNetNS(n)
	}},
	{unix.CLONE_NEWPID, func(t *process.Thread, _ *auth.Credentials, ns nsfs.Namespace) error {
		pidNS, ok := ns.(*process.PIDNamespace)
		if !ok {
			return unix.EINVAL
		}
		// The caller's next children go into ns.
		return t.SetChildPIDNS(pidNS)
	}},
	{unix.CLONE_NEWCGROUP, func(t *process.Thread, _ *auth.Credentials, ns nsfs.Namespace) error {
		return t.SetCgroupNS(ns)
	}},
}

// joinAs returns a join that moves the thread into a namespace of type N
// with set, EINVAL for a namespace of another type.
func joinAs[N nsfs.Namespace](set func(*process.Thread, N)) func(*process.Thread, *auth.Credentials, nsfs.Namespace) error {
	return func(t *process.Thread, _ *auth.Credentials, ns nsfs.Namespace) error {
		n, ok := ns.(N)
		if !ok {
			return unix.EINVAL
		}
		set(t, n)
		return nil
	}
}

// joinMountNamespace is setns's part for a mount namespace: CAP_SYS_CHROOT
// in the caller's user namespace too, and a single-threaded caller.
func joinMountNamespace(t *process.Thread, creds *auth.Credentials, mnt nsfs.Namespace) error {
	ns, ok := mnt.(*vfs.MountNamespace)
	if !ok {
		return unix.EINVAL
	}
	if !creds.HasCapabilityIn(creds.UserNS, linux.CAP_SYS_CHROOT) {
		return unix.EPERM
	}
	// Linux refuses a thread whose root and cwd others share.
	if len(t.TG.Threads()) > 1 {
		return unix.EINVAL
	}
	// Root and cwd go to the namespace's root, even when the
	// caller is in it already.
	t.FS = t.FS.Fork()
	ns.Enter(t.FS)
	return nil
}

// joinUserNamespace is setns's part for a user namespace (Linux's
// userns_install): one's own is EINVAL, and so is a multithreaded caller
// (a context shared with another process by CLONE_FS is not detected:
// contexts keep no count of their users); EPERM without
// CAP_SYS_ADMIN in the target. The sandbox's first namespace is an
// nsfs.Namespace of its own (it is nil in credentials).
func joinUserNamespace(t *process.Thread, user nsfs.Namespace) error {
	if user == t.S.Namespace(t, "user") {
		return unix.EINVAL
	}
	if len(t.TG.Threads()) > 1 {
		return unix.EINVAL
	}
	ns, _ := user.(*auth.UserNamespace) // nil: the first namespace
	return t.JoinUserNamespace(ns)
}
