package procfs

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// /proc/PID/uid_map, gid_map and setgroups (user_namespaces(7)): the
// process's user namespace's maps, written once (auth.UserNamespace's
// rules; the writer's credentials stand for Linux's opener's), and its
// setgroups state. The sandbox's first namespace shows the OCI config's
// maps (Sandbox.UIDMap, GIDMap) and refuses writes.

// readerUserNS is the user namespace of the caller of ctx (nil: the
// first, also for the sentry itself).
func readerUserNS(ctx *fs.Context) *auth.UserNamespace {
	if ctx == nil || ctx.Creds == nil {
		return nil
	}
	return ctx.Creds.UserNS
}

// userNSOf returns the user namespace of th (nil: the first).
func userNSOf(th *process.Thread) *auth.UserNamespace {
	if th == nil {
		return nil
	}
	return th.Credentials().UserNS
}

func (p *procFS) addUserNSFiles(d *synth.Dir, t *kernel.Task, th *process.Thread, next func() int) {
	idMap := func(name string, gid bool, first []process.IDMapEntry) {
		f := synth.NewFile(p.taskAttr(t, 0644, next()), func(ctx *fs.Context) ([]byte, error) {
			ns := userNSOf(th)
			if ns == nil {
				return []byte(idMapText(first)), nil
			}
			m := ns.ShownMap(readerUserNS(ctx), gid)
			if len(m) == 0 {
				return nil, nil
			}
			return []byte(idMapText(m)), nil
		})
		f.Set = func(ctx *fs.Context, data []byte) error {
			ns := userNSOf(th)
			if ns == nil {
				return unix.EPERM
			}
			if ctx == nil || ctx.Creds == nil {
				return unix.EPERM
			}
			w := ctx.Creds
			if gid {
				return ns.WriteGIDMap(w, data)
			}
			return ns.WriteUIDMap(w, data)
		}
		d.Add(name, f)
	}
	idMap("uid_map", false, p.s.UIDMap)
	idMap("gid_map", true, p.s.GIDMap)

	sg := synth.NewFile(p.taskAttr(t, 0644, next()), func(*fs.Context) ([]byte, error) {
		if userNSOf(th).SetgroupsDenied() {
			return []byte("deny\n"), nil
		}
		return []byte("allow\n"), nil
	})
	sg.Set = func(ctx *fs.Context, data []byte) error {
		ns := userNSOf(th)
		// Linux: the writer needs CAP_SYS_ADMIN in the namespace.
		if ctx != nil && ctx.Creds != nil && !ctx.Creds.HasCapabilityIn(ns, linux.CAP_SYS_ADMIN) {
			return unix.EPERM
		}
		return ns.SetSetgroups(data)
	}
	d.Add("setgroups", sg)
}
