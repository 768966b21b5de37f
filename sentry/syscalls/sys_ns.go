package syscalls

// setns(2): joining a namespace named by a /proc/PID/ns file (sentry/fs/nsfs)
// or by a pidfd. Mount, UTS and IPC namespaces are real
// (sentry/vfs/mountns.go, sentry/process/namespaces.go, ipc.go), and so
// are PID namespaces for the caller's children (pidns.go); of every
// other kind the sandbox has one,
// so joining it changes nothing.

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
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
	creds := t.Credentials()
	if !creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	if mnt, ok := target[unix.CLONE_NEWNS]; ok {
		ns, ok := mnt.(*vfs.MountNamespace)
		if !ok {
			return 0, unix.EINVAL
		}
		if !creds.HasCapability(linux.CAP_SYS_CHROOT) {
			return 0, unix.EPERM
		}
		// Linux refuses a thread whose root and cwd others share.
		if len(t.TG.Threads()) > 1 {
			return 0, unix.EINVAL
		}
		// Root and cwd go to the namespace's root, even when the
		// caller is in it already.
		t.FS = t.FS.Fork()
		ns.Enter(t.FS)
	}
	if uts, ok := target[unix.CLONE_NEWUTS]; ok {
		u, ok := uts.(*process.UTSNamespace)
		if !ok {
			return 0, unix.EINVAL
		}
		t.SetUTS(u)
	}
	if ipcNS, ok := target[unix.CLONE_NEWIPC]; ok {
		ns, ok := ipcNS.(*process.IPCNamespace)
		if !ok {
			return 0, unix.EINVAL
		}
		t.SetIPC(ns)
	}
	if pidNS, ok := target[unix.CLONE_NEWPID]; ok {
		ns, ok := pidNS.(*process.PIDNamespace)
		if !ok {
			return 0, unix.EINVAL
		}
		// The caller's next children go into ns.
		if err := t.SetChildPIDNS(ns); err != nil {
			return 0, err
		}
	}
	if cg, ok := target[unix.CLONE_NEWCGROUP]; ok {
		if err := t.SetCgroupNS(cg); err != nil {
			return 0, err
		}
	}
	if user, ok := target[unix.CLONE_NEWUSER]; ok && user == t.S.Namespace(t, "user") {
		// Joining one's own user namespace is EINVAL, as Linux.
		return 0, unix.EINVAL
	}
	return 0, nil
}
