package procfs

// The IPC namespace in /proc: /proc/sysvipc/{shm,sem,msg} in Linux's
// format (what ipcs reads), the System V limits in /proc/sys/kernel and
// the POSIX message queue limits in /proc/sys/fs/mqueue. The limits are
// writable as Linux's: by an effective UID of 0 (the sysctl permission
// rule, not a capability), in the ranges Linux accepts.

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/mqueue"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
)

// sysctlFile is a read-write sysctl: get renders it, set takes what was
// written. A writer whose effective UID is not 0 gets EPERM, as Linux's
// proc_sys_call_handler.
func (p *procFS) sysctlFile(get func() string, set func(data []byte) error) *synth.File {
	f := p.file(0644, func(*fs.Context) ([]byte, error) { return []byte(get()), nil })
	f.Set = func(ctx *fs.Context, data []byte) error {
		if ctx != nil && ctx.Creds != nil && ctx.Creds.EffectiveUID != 0 {
			return unix.EPERM
		}
		return set(data)
	}
	return f
}

// parseSysctlInts parses what proc_dointvec takes: integers separated by
// blanks (at most n; fewer leave the rest as they were).
func parseSysctlInts(data []byte, n int) ([]int64, error) {
	fields := strings.Fields(string(data))
	if len(fields) == 0 || len(fields) > n {
		return nil, unix.EINVAL
	}
	out := make([]int64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, unix.EINVAL
		}
		out[i] = v
	}
	return out, nil
}

// intSysctl is a proc_dointvec_minmax sysctl over [lo, hi].
func (p *procFS) intSysctl(get func() int64, set func(int64) error, lo, hi int64) *synth.File {
	return p.sysctlFile(func() string { return strconv.FormatInt(get(), 10) + "\n" }, func(data []byte) error {
		v, err := parseSysctlInt(data)
		if err != nil || v < lo || v > hi {
			return unix.EINVAL
		}
		return set(v)
	})
}

// ipcOf returns the IPC namespace of the reader or writer of a file
// (the sandbox's first for the sentry's own accesses): /proc/sysvipc and
// the IPC sysctls are per namespace, as Linux's.
func (p *procFS) ipcOf(ctx *fs.Context) *process.IPCNamespace {
	if ctx != nil && ctx.Task != nil {
		if th := thread(ctx.Task); th != nil && th.IPC() != nil {
			return th.IPC()
		}
	}
	return p.s.IPC
}

// readerPID returns the translation of kernel TIDs into the reader's PID
// namespace (sysvipc_proc_open takes the opener's active namespace, not
// the procfs instance's).
func (p *procFS) readerPID(ctx *fs.Context) func(int32) int32 {
	if ctx != nil && ctx.Task != nil {
		if th := thread(ctx.Task); th != nil {
			return th.PIDOfTask
		}
	}
	return p.id
}

// ipcSysctl is sysctlFile for a value of the caller's IPC namespace.
func (p *procFS) ipcSysctl(get func(ns *process.IPCNamespace) string, set func(ns *process.IPCNamespace, data []byte) error) *synth.File {
	f := p.file(0644, func(ctx *fs.Context) ([]byte, error) { return []byte(get(p.ipcOf(ctx))), nil })
	f.Set = func(ctx *fs.Context, data []byte) error {
		if ctx != nil && ctx.Creds != nil && ctx.Creds.EffectiveUID != 0 {
			return unix.EPERM
		}
		return set(p.ipcOf(ctx), data)
	}
	return f
}

// ipcInt is intSysctl for a value of the caller's IPC namespace.
func (p *procFS) ipcInt(get func(ns *process.IPCNamespace) int64, set func(ns *process.IPCNamespace, v int64) error, lo, hi int64) *synth.File {
	return p.ipcSysctl(func(ns *process.IPCNamespace) string { return strconv.FormatInt(get(ns), 10) + "\n" },
		func(ns *process.IPCNamespace, data []byte) error {
			v, err := parseSysctlInt(data)
			if err != nil || v < lo || v > hi {
				return unix.EINVAL
			}
			return set(ns, v)
		})
}

// ipcUlong is a proc_doulongvec_minmax sysctl without bounds, of the
// caller's IPC namespace.
func (p *procFS) ipcUlong(get func(ns *process.IPCNamespace) uint64, set func(ns *process.IPCNamespace, v uint64)) *synth.File {
	return p.ipcSysctl(func(ns *process.IPCNamespace) string { return strconv.FormatUint(get(ns), 10) + "\n" },
		func(ns *process.IPCNamespace, data []byte) error {
			v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
			if err != nil {
				return unix.EINVAL
			}
			set(ns, v)
			return nil
		})
}

// addSysvipc adds /proc/sysvipc: the reader's IPC namespace's objects.
func (p *procFS) addSysvipc(r *synth.Dir) {
	if p.s.IPC == nil {
		return
	}
	d := p.dir()
	d.Add("shm", p.text(func(ctx *fs.Context) string { return p.ipcOf(ctx).Shm.ProcText(p.readerPID(ctx)) }))
	d.Add("sem", p.text(func(ctx *fs.Context) string { return p.ipcOf(ctx).Sem.ProcText() }))
	d.Add("msg", p.text(func(ctx *fs.Context) string { return p.ipcOf(ctx).Msg.ProcText(p.readerPID(ctx)) }))
	r.Add("sysvipc", d)
}

// addIPCSysctls adds the System V limits to /proc/sys/kernel.
func (p *procFS) addIPCSysctls(kern *synth.Dir) {
	if p.s.IPC == nil {
		return
	}
	type ns = process.IPCNamespace
	kern.Add("shmmax", p.ipcUlong(func(n *ns) uint64 { return n.Shm.Max() }, func(n *ns, v uint64) { n.Shm.SetMax(v) }))
	kern.Add("shmall", p.ipcUlong(func(n *ns) uint64 { return n.Shm.All() }, func(n *ns, v uint64) { n.Shm.SetAll(v) }))
	kern.Add("shmmni", p.ipcInt(func(n *ns) int64 { return int64(n.Shm.MNI()) }, func(n *ns, v int64) error { return n.Shm.SetMNI(v) }, 0, math.MaxInt32))
	kern.Add("shm_rmid_forced", p.ipcInt(func(n *ns) int64 {
		if n.Shm.RmidForced() {
			return 1
		}
		return 0
	}, func(n *ns, v int64) error { n.Shm.SetRmidForced(v == 1); return nil }, 0, 1))
	kern.Add("shm_next_id", p.ipcInt(func(n *ns) int64 { return int64(n.Shm.NextID()) }, func(n *ns, v int64) error { return n.Shm.SetNextID(v) }, 0, math.MaxInt32))
	msgLimit := func(i int) func(n *ns) int64 {
		return func(n *ns) int64 {
			a, b, c := n.Msg.Limits()
			return int64([]int32{a, b, c}[i])
		}
	}
	kern.Add("msgmax", p.ipcInt(msgLimit(0), func(n *ns, v int64) error { return n.Msg.SetMax(v) }, 0, math.MaxInt32))
	kern.Add("msgmnb", p.ipcInt(msgLimit(1), func(n *ns, v int64) error { return n.Msg.SetMNB(v) }, 0, math.MaxInt32))
	kern.Add("msgmni", p.ipcInt(msgLimit(2), func(n *ns, v int64) error { return n.Msg.SetMNI(v) }, 0, math.MaxInt32))
	kern.Add("auto_msgmni", p.intSysctl(func() int64 { return 0 }, func(int64) error { return nil }, 0, 1))
	kern.Add("msg_next_id", p.ipcInt(func(n *ns) int64 { return int64(n.Msg.NextID()) }, func(n *ns, v int64) error { return n.Msg.SetNextID(v) }, 0, math.MaxInt32))
	kern.Add("sem", p.ipcSysctl(func(n *ns) string {
		l := n.Sem.Limits()
		return fmt.Sprintf("%d\t%d\t%d\t%d\n", l[0], l[1], l[2], l[3])
	}, func(n *ns, data []byte) error {
		vals, err := parseSysctlInts(data, 4)
		if err != nil {
			return err
		}
		l := n.Sem.Limits()
		for i, v := range vals {
			if v < math.MinInt32 || v > math.MaxInt32 {
				return unix.EINVAL
			}
			l[i] = int32(v)
		}
		return n.Sem.SetLimits(l)
	}))
	kern.Add("sem_next_id", p.ipcInt(func(n *ns) int64 { return int64(n.Sem.NextID()) }, func(n *ns, v int64) error { return n.Sem.SetNextID(v) }, 0, math.MaxInt32))
}

// mqueueSysctls returns /proc/sys/fs/mqueue: the caller's IPC
// namespace's limits.
func (p *procFS) mqueueSysctls() *synth.Dir {
	d := p.dir()
	if p.s.IPC == nil {
		return d
	}
	field := func(name string, ptr func(l *mqueue.Limits) *int64, lo, hi int64) {
		d.Add(name, p.ipcInt(func(n *process.IPCNamespace) int64 {
			l := n.MQueue.Limits()
			return *ptr(&l)
		}, func(n *process.IPCNamespace, v int64) error {
			l := n.MQueue.Limits()
			*ptr(&l) = v
			n.MQueue.SetLimits(l)
			return nil
		}, lo, hi))
	}
	const minMsgMax, hardMsgMax = 1, 65536
	const minMsgsizeMax, hardMsgsizeMax = 128, 16 << 20
	field("queues_max", func(l *mqueue.Limits) *int64 { return &l.QueuesMax }, math.MinInt32, math.MaxInt32)
	field("msg_max", func(l *mqueue.Limits) *int64 { return &l.MsgMax }, minMsgMax, hardMsgMax)
	field("msgsize_max", func(l *mqueue.Limits) *int64 { return &l.MsgsizeMax }, minMsgsizeMax, hardMsgsizeMax)
	field("msg_default", func(l *mqueue.Limits) *int64 { return &l.MsgDefault }, minMsgMax, hardMsgMax)
	field("msgsize_default", func(l *mqueue.Limits) *int64 { return &l.MsgsizeDefault }, minMsgsizeMax, hardMsgsizeMax)
	return d
}
