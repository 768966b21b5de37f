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

// ulongSysctl is a proc_doulongvec_minmax sysctl without bounds.
func (p *procFS) ulongSysctl(get func() uint64, set func(uint64)) *synth.File {
	return p.sysctlFile(func() string { return strconv.FormatUint(get(), 10) + "\n" }, func(data []byte) error {
		s := strings.TrimSpace(string(data))
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return unix.EINVAL
		}
		set(v)
		return nil
	})
}

// addSysvipc adds /proc/sysvipc.
func (p *procFS) addSysvipc(r *synth.Dir) {
	ns := p.s.IPC
	if ns == nil {
		return
	}
	d := p.dir()
	d.Add("shm", p.text(func(*fs.Context) string { return ns.Shm.ProcText() }))
	d.Add("sem", p.text(func(*fs.Context) string { return ns.Sem.ProcText() }))
	d.Add("msg", p.text(func(*fs.Context) string { return ns.Msg.ProcText() }))
	r.Add("sysvipc", d)
}

// addIPCSysctls adds the System V limits to /proc/sys/kernel.
func (p *procFS) addIPCSysctls(kern *synth.Dir) {
	ns := p.s.IPC
	if ns == nil {
		return
	}
	shm, sem, msg := ns.Shm, ns.Sem, ns.Msg
	kern.Add("shmmax", p.ulongSysctl(shm.Max, shm.SetMax))
	kern.Add("shmall", p.ulongSysctl(shm.All, shm.SetAll))
	kern.Add("shmmni", p.intSysctl(func() int64 { return int64(shm.MNI()) }, shm.SetMNI, 0, math.MaxInt32))
	kern.Add("shm_rmid_forced", p.intSysctl(func() int64 {
		if shm.RmidForced() {
			return 1
		}
		return 0
	}, func(v int64) error { shm.SetRmidForced(v == 1); return nil }, 0, 1))
	kern.Add("shm_next_id", p.intSysctl(func() int64 { return int64(shm.NextID()) }, shm.SetNextID, 0, math.MaxInt32))
	msgLimit := func(i int) func() int64 {
		return func() int64 {
			a, b, c := msg.Limits()
			return int64([]int32{a, b, c}[i])
		}
	}
	kern.Add("msgmax", p.intSysctl(msgLimit(0), msg.SetMax, 0, math.MaxInt32))
	kern.Add("msgmnb", p.intSysctl(msgLimit(1), msg.SetMNB, 0, math.MaxInt32))
	kern.Add("msgmni", p.intSysctl(msgLimit(2), msg.SetMNI, 0, math.MaxInt32))
	kern.Add("auto_msgmni", p.intSysctl(func() int64 { return 0 }, func(int64) error { return nil }, 0, 1))
	kern.Add("msg_next_id", p.intSysctl(func() int64 { return int64(msg.NextID()) }, msg.SetNextID, 0, math.MaxInt32))
	kern.Add("sem", p.sysctlFile(func() string {
		l := sem.Limits()
		return fmt.Sprintf("%d\t%d\t%d\t%d\n", l[0], l[1], l[2], l[3])
	}, func(data []byte) error {
		vals, err := parseSysctlInts(data, 4)
		if err != nil {
			return err
		}
		l := sem.Limits()
		for i, v := range vals {
			if v < math.MinInt32 || v > math.MaxInt32 {
				return unix.EINVAL
			}
			l[i] = int32(v)
		}
		return sem.SetLimits(l)
	}))
	kern.Add("sem_next_id", p.intSysctl(func() int64 { return int64(sem.NextID()) }, sem.SetNextID, 0, math.MaxInt32))
}

// mqueueSysctls returns /proc/sys/fs/mqueue.
func (p *procFS) mqueueSysctls() *synth.Dir {
	d := p.dir()
	ns := p.s.IPC
	if ns == nil {
		return d
	}
	r := ns.MQueue
	field := func(name string, ptr func(l *mqueue.Limits) *int64, lo, hi int64) {
		d.Add(name, p.intSysctl(func() int64 {
			l := r.Limits()
			return *ptr(&l)
		}, func(v int64) error {
			l := r.Limits()
			*ptr(&l) = v
			r.SetLimits(l)
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
