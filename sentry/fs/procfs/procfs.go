// Package procfs is the sandbox's /proc: one directory per live task of
// the sandbox's kernel (user processes and kthreads such as kthreadd, which
// ps shows as [kthreadd]), /proc/self and /proc/thread-self, and the
// system-wide files (cpuinfo with as many processors as the sandbox has
// CPUs, stat, uptime, loadavg, version,
// filesystems, mounts, sys/kernel/...), and the memory files (meminfo,
// vmstat, zoneinfo, swaps, sys/vm) from the sandbox's memory zone.
//
// Every file's contents are generated when it is opened, from the kernel's
// task table, the thread groups of package process and their memory
// managers. /proc/PID/fd/N, exe, cwd and root are magic links: following
// them lands on the file itself (vfs.MagicLink).
//
// Locking: procfs holds no state of its own beyond the node tree built at
// New; it takes the locks of what it reads (task, thread group, fd table,
// memory manager) one at a time.
package procfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"github.com/runsc-lite/runsc-lite/sentry/fs/lock"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// ProcSuperMagic is procfs's statfs f_type.
const ProcSuperMagic = 0x9fa0

// Kernel identity shown by /proc/version and /proc/sys/kernel; the boot
// code may change them to match uname.
var (
	KernelRelease = "6.12.0-runsc-lite"
	KernelVersion = "#1 SMP PREEMPT_DYNAMIC runsc-lite"
)

// clockTicks is USER_HZ.
const clockTicks = 100

// memInfo is what procfs reads from a memory manager.
type memInfo interface {
	Maps() []byte
	Argv() []byte
	Env() []byte
	Auxv() []uint64
	VirtualSize() uint64
	ResidentPages() uint64
}

// procFS is one procfs instance.
type procFS struct {
	s *process.Sandbox
	// ns is the PID namespace whose IDs the instance shows: its
	// mounter's (Linux keeps a procfs instance per PID namespace).
	ns           *process.PIDNamespace
	major, minor uint32
	root         *synth.Dir
}

// New returns a procfs for sandbox s's own PID namespace; mount it at
// /proc.
func New(s *process.Sandbox) fs.Filesystem { return NewForPIDNS(s, s.RootPIDNS()) }

// NewForPIDNS returns a procfs showing the processes of PID namespace ns
// (and its descendants) by their IDs in ns.
func NewForPIDNS(s *process.Sandbox, ns *process.PIDNamespace) fs.Filesystem {
	p := &procFS{s: s, ns: ns}
	p.major, p.minor = fs.NewAnonDev()
	p.root = synth.NewDir(p.attr(0555, 1))
	p.root.Find = p.findPID
	p.root.List = p.listPIDs
	p.buildRoot()
	return &synth.Filesystem{RootDir: p.root, FSName: "proc", Magic: ProcSuperMagic}
}

func (p *procFS) attr(mode uint32, ino uint64) synth.Attr {
	return synth.Attr{Mode: mode, DevMajor: p.major, DevMinor: p.minor, Ino: ino}
}

func (p *procFS) file(mode uint32, gen func(ctx *fs.Context) ([]byte, error)) *synth.File {
	return synth.NewFile(p.attr(mode, synth.NewIno()), gen)
}

func (p *procFS) text(gen func(ctx *fs.Context) string) *synth.File {
	return p.file(0444, func(ctx *fs.Context) ([]byte, error) { return []byte(gen(ctx)), nil })
}

func (p *procFS) static(s string) *synth.File {
	return p.text(func(*fs.Context) string { return s })
}

func (p *procFS) dir() *synth.Dir { return synth.NewDir(p.attr(0555, synth.NewIno())) }

func (p *procFS) buildRoot() {
	r := p.root
	r.Add("self", synth.NewSymlink(p.attr(0777, 2), func(ctx *fs.Context) (string, error) {
		if ctx == nil || ctx.Task == nil {
			return "", unix.ENOENT
		}
		pid := p.id(ctx.Task.TGID())
		if pid == 0 {
			return "", unix.ENOENT
		}
		return strconv.Itoa(int(pid)), nil
	}))
	r.Add("thread-self", synth.NewSymlink(p.attr(0777, 3), func(ctx *fs.Context) (string, error) {
		if ctx == nil || ctx.Task == nil {
			return "", unix.ENOENT
		}
		pid, tid := p.id(ctx.Task.TGID()), p.id(ctx.Task.TID())
		if pid == 0 || tid == 0 {
			return "", unix.ENOENT
		}
		return fmt.Sprintf("%d/task/%d", pid, tid), nil
	}))
	r.Add("mounts", synth.StaticSymlink(p.attr(0777, 4), "self/mounts"))
	r.Add("net", synth.StaticSymlink(p.attr(0777, 5), "self/net"))
	r.Add("cpuinfo", p.text(p.cpuinfo))
	r.Add("meminfo", p.text(p.meminfo))
	r.Add("stat", p.text(p.stat))
	p.addSoftirqFiles(r) // /proc/softirqs; softirq accounting in /proc/stat (softirqs.go)
	r.Add("uptime", p.text(p.uptime))
	r.Add("loadavg", p.text(p.loadavg))
	r.Add("vmstat", p.text(p.vmstat))
	r.Add("version", p.text(func(*fs.Context) string {
		return fmt.Sprintf("Linux version %s (runsc-lite@runsc-lite) (gcc (GCC) 14.2.0, GNU ld 2.43) %s\n", KernelRelease, KernelVersion)
	}))
	r.Add("filesystems", p.static(filesystemsText()))
	r.Add("cmdline", p.static("BOOT_IMAGE=/vmlinuz-runsc-lite ro quiet\n"))
	r.Add("swaps", p.text(p.swaps))
	r.Add("locks", p.text(func(*fs.Context) string { return lock.ProcLocks(p.id) }))
	r.Add("zoneinfo", p.text(p.zoneinfo))
	r.Add("devices", p.static("Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n"))
	r.Add("partitions", p.static("major minor  #blocks  name\n\n"))
	r.Add("sys", p.buildSys())
	p.addSysvipc(r) // /proc/sysvipc (ipc.go)
}

func (p *procFS) buildSys() *synth.Dir {
	sys := p.dir()
	kern := p.dir()
	// hostname and domainname are writable as on Linux (sethostname's
	// limit: 64 bytes); an OCI config's linux.sysctl may set them.
	// They are the reader's UTS namespace's.
	utsOf := func(ctx *fs.Context) *process.UTSNamespace {
		if ctx != nil && ctx.Task != nil {
			if th := thread(ctx.Task); th != nil {
				return th.UTS()
			}
		}
		return p.s.InitUTS()
	}
	uts := func(name string, get func(*process.UTSNamespace) string, set func(*process.UTSNamespace, string)) {
		f := p.file(0644, func(ctx *fs.Context) ([]byte, error) { return []byte(get(utsOf(ctx)) + "\n"), nil })
		f.Set = func(ctx *fs.Context, data []byte) error {
			v := strings.TrimSuffix(string(data), "\n")
			if len(v) > 64 {
				return unix.EINVAL
			}
			set(utsOf(ctx), v)
			return nil
		}
		kern.Add(name, f)
	}
	uts("hostname", func(u *process.UTSNamespace) string { h, _ := u.Names(); return h }, (*process.UTSNamespace).SetHostname)
	uts("domainname", func(u *process.UTSNamespace) string { _, d := u.Names(); return d }, (*process.UTSNamespace).SetDomainname)
	kern.Add("ostype", p.static("Linux\n"))
	kern.Add("osrelease", p.text(func(*fs.Context) string { return KernelRelease + "\n" }))
	kern.Add("version", p.text(func(*fs.Context) string { return KernelVersion + "\n" }))
	kern.Add("pid_max", p.static("4194304\n"))
	kern.Add("threads-max", p.static("4194304\n"))
	kern.Add("ngroups_max", p.static("65536\n"))
	kern.Add("cap_last_cap", p.static("40\n"))
	kern.Add("overflowuid", p.static("65534\n"))
	kern.Add("overflowgid", p.static("65534\n"))
	kern.Add("randomize_va_space", p.static("2\n"))
	kern.Add("yama", p.dir().Add("ptrace_scope", p.static("1\n")))
	// seccomp inside the sandbox (sentry/seccomp): every action, and
	// Linux's default of which are logged (read-only here).
	kern.Add("seccomp", p.dir().
		Add("actions_avail", p.static("kill_process kill_thread trap errno user_notif trace log allow\n")).
		Add("actions_logged", p.static("kill_process kill_thread trap errno user_notif trace log\n")))
	p.addIPCSysctls(kern) // shmmax, sem, msgmax... (ipc.go)
	bootID := randomUUID()
	random := p.dir()
	random.Add("boot_id", p.static(bootID+"\n"))
	random.Add("uuid", p.text(func(*fs.Context) string { return randomUUID() + "\n" }))
	random.Add("entropy_avail", p.static("256\n"))
	random.Add("poolsize", p.static("256\n"))
	kern.Add("random", random)
	sys.Add("kernel", kern)
	vm := p.dir()
	p.buildVM(vm) // meminfo.go
	sys.Add("vm", vm)
	fsd := p.dir()
	fsd.Add("pipe-max-size", p.static("1048576\n"))
	fsd.Add("nr_open", p.static("1048576\n"))
	fsd.Add("file-max", p.static("9223372036854775807\n"))
	ino := p.dir()
	for _, l := range []struct {
		name string
		v    *atomic.Int64
	}{
		{"max_queued_events", &inotify.Limits.MaxQueuedEvents},
		{"max_user_instances", &inotify.Limits.MaxUserInstances},
		{"max_user_watches", &inotify.Limits.MaxUserWatches},
	} {
		v := l.v
		f := p.file(0644, func(*fs.Context) ([]byte, error) { return []byte(strconv.FormatInt(v.Load(), 10) + "\n"), nil })
		// proc_dointvec_minmax with a minimum of 0: EINVAL below it, as
		// Linux. The file's mode (0644, root's) decides who may write.
		f.Set = func(_ *fs.Context, data []byte) error {
			n, err := parseSysctlInt(data)
			if err != nil || n < 0 || n > 1<<31-1 {
				return unix.EINVAL
			}
			v.Store(n)
			return nil
		}
		ino.Add(l.name, f)
	}
	fsd.Add("inotify", ino)
	fsd.Add("mqueue", p.mqueueSysctls())
	sys.Add("fs", fsd)
	sys.Add("net", p.netFilesDir(nil, true, "")) // net.go
	return sys
}

// randomUUID returns a version 4 UUID. Its bytes come from getrandom(2),
// which, unlike /dev/urandom, needs no host file: the confined sentry has
// none in view.
func randomUUID() string {
	var b [16]byte
	unix.Getrandom(b[:], 0)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// listed reports whether a task gets a top-level /proc entry: thread
// group leaders and kthreads.
func listed(t *kernel.Task) bool { return t.TID() == t.TGID() }

func (p *procFS) listPIDs(ctx *fs.Context) []fs.Dirent {
	var out []fs.Dirent
	for _, t := range p.s.Kernel.Tasks() {
		if !listed(t) || t.State() == kernel.TaskDead {
			continue
		}
		pid := p.id(t.TID())
		if pid == 0 {
			continue
		}
		out = append(out, fs.Dirent{Name: strconv.Itoa(int(pid)), Type: unix.DT_DIR, Ino: pidIno(t.TID(), 0)})
	}
	return out
}

func (p *procFS) findPID(ctx *fs.Context, name string) (fs.Node, error) {
	pid, err := strconv.Atoi(name)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != name {
		return nil, unix.ENOENT
	}
	tid := p.ns.Kernel(int32(pid))
	if tid == 0 {
		return nil, unix.ENOENT
	}
	t := p.s.Kernel.TaskByTID(tid)
	if t == nil || t.State() == kernel.TaskDead {
		return nil, unix.ENOENT
	}
	return p.taskDir(t, true), nil
}

// pidIno gives the entries of a task's directory stable inode numbers.
func pidIno(tid int32, idx int) uint64 { return uint64(tid)<<16 | uint64(idx) | 1<<48 }

// thread returns the user thread of t, or nil for a kthread.
func thread(t *kernel.Task) *process.Thread {
	th, _ := t.Ext.(*process.Thread)
	return th
}

func (p *procFS) taskAttr(t *kernel.Task, mode uint32, idx int) synth.Attr {
	a := p.attr(mode, pidIno(t.TID(), idx))
	a.Time = linuxTime(t.StartTime())
	th := thread(t)
	a.Owner = func(*fs.Context) (uint32, uint32) {
		if th != nil {
			c := th.Credentials()
			return c.EffectiveUID, c.EffectiveGID
		}
		return 0, 0
	}
	return a
}

// taskDir builds /proc/PID (withTasks) or /proc/PID/task/TID.
func (p *procFS) taskDir(t *kernel.Task, withTasks bool) *synth.Dir {
	idx := 0
	next := func() int { idx++; return idx }
	d := synth.NewDir(p.taskAttr(t, 0555, 0))
	file := func(name string, mode uint32, gen func(ctx *fs.Context) ([]byte, error)) {
		d.Add(name, synth.NewFile(p.taskAttr(t, mode, next()), gen))
	}
	text := func(name string, gen func() string) {
		file(name, 0444, func(*fs.Context) ([]byte, error) { return []byte(gen()), nil })
	}
	th := thread(t)
	// /proc/PID/stat sums the CPU times of the whole thread group;
	// /proc/PID/task/TID/stat is the thread's own.
	file("stat", 0444, func(ctx *fs.Context) ([]byte, error) { return []byte(p.taskStat(ctx, t, withTasks)), nil })
	file("status", 0444, func(ctx *fs.Context) ([]byte, error) { return []byte(p.taskStatus(t, readerUserNS(ctx))), nil })
	text("statm", func() string { return p.taskStatm(t) })
	text("schedstat", func() string { return taskSchedstat(t) })
	comm := synth.NewFile(p.taskAttr(t, 0644, next()), func(*fs.Context) ([]byte, error) { return []byte(t.Name() + "\n"), nil })
	comm.Set = func(ctx *fs.Context, data []byte) error {
		t.SetName(strings.TrimSuffix(string(data), "\n"))
		return nil
	}
	d.Add("comm", comm)
	file("cmdline", 0444, func(*fs.Context) ([]byte, error) {
		if m := memOf(th); m != nil {
			return m.Argv(), nil
		}
		return nil, nil
	})
	file("auxv", 0400, func(*fs.Context) ([]byte, error) {
		m := memOf(th)
		if m == nil {
			return nil, nil
		}
		auxv := m.Auxv()
		b := make([]byte, 8*len(auxv))
		for i, v := range auxv {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		return b, nil
	})
	d.Add("mem", &memNode{attr: p.taskAttr(t, 0600, next()), th: th}) // mem.go
	file("environ", 0400, func(*fs.Context) ([]byte, error) {
		if m := memOf(th); m != nil {
			return m.Env(), nil
		}
		return nil, nil
	})
	file("maps", 0444, func(*fs.Context) ([]byte, error) {
		if m := memOf(th); m != nil {
			return m.Maps(), nil
		}
		return nil, nil
	})
	text("mounts", func() string { return p.mountsFor(th) })
	text("mountinfo", func() string { return p.mountinfoFor(th) })
	text("cgroup", func() string { return "0::/\n" })
	p.addUserNSFiles(d, t, th, next) // userns.go
	p.addOOMFiles(d, t, th, next)    // oom.go
	if withTasks {
		p.addTimeNSFile(d, t, th, next) // timens.go; not in task/TID, as Linux
	}
	text("loginuid", func() string { return "4294967295\n" })
	text("wchan", func() string { return "0" })
	text("limits", func() string { return limitsText(th) })
	text("io", func() string {
		return "rchar: 0\nwchar: 0\nsyscr: 0\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"
	})
	d.Add("exe", &magicLink{attr: p.taskAttr(t, 0777, next()), resolve: func(ctx *fs.Context) (vfs.Location, string, error) {
		if th == nil {
			return vfs.Location{}, "", unix.ENOENT
		}
		exe := th.TG.Executable()
		if exe.Path == "" || exe.Loc.Node == nil || th.FS == nil {
			return vfs.Location{}, "", unix.ENOENT
		}
		// The link is to the file that was executed; when its path names
		// another file now, or none, Linux's d_path says " (deleted)".
		name := exe.Path
		if now, err := th.FS.VFS().Resolve(fs.Background, th.FS, th.FS.Root(), exe.Path, true); err != nil || !sameFile(now.Node, exe.Loc.Node) {
			name += " (deleted)"
		}
		return exe.Loc, name, nil
	}})
	d.Add("cwd", &magicLink{attr: p.taskAttr(t, 0777, next()), resolve: func(ctx *fs.Context) (vfs.Location, string, error) {
		if th == nil || th.FS == nil {
			return vfs.Location{}, "", unix.ENOENT
		}
		loc := th.FS.Cwd()
		return loc, loc.Path, nil
	}})
	d.Add("root", &magicLink{attr: p.taskAttr(t, 0777, next()), resolve: func(ctx *fs.Context) (vfs.Location, string, error) {
		if th == nil || th.FS == nil {
			return vfs.Location{}, "", unix.ENOENT
		}
		loc := th.FS.Root()
		return loc, loc.Path, nil
	}})
	d.Add("ns", p.nsDir(t, th, next))
	fdDir := synth.NewDir(p.taskAttr(t, 0500, next()))
	fdDir.List = func(ctx *fs.Context) []fs.Dirent { return p.listFDs(th, unix.DT_LNK) }
	fdDir.Find = func(ctx *fs.Context, name string) (fs.Node, error) { return p.findFD(t, th, name) }
	d.Add("fd", fdDir)
	fdinfo := synth.NewDir(p.taskAttr(t, 0500, next()))
	fdinfo.List = func(ctx *fs.Context) []fs.Dirent { return p.listFDs(th, unix.DT_REG) }
	fdinfo.Find = func(ctx *fs.Context, name string) (fs.Node, error) { return p.findFDInfo(t, th, name) }
	d.Add("fdinfo", fdinfo)
	d.Add("net", p.netFilesDir(th, false, "")) // net.go
	if withTasks {
		tasks := synth.NewDir(p.taskAttr(t, 0555, next()))
		tasks.List = func(ctx *fs.Context) []fs.Dirent {
			var out []fs.Dirent
			for _, tt := range p.threadsOf(t) {
				out = append(out, fs.Dirent{Name: strconv.Itoa(int(p.id(tt.TID()))), Type: unix.DT_DIR, Ino: pidIno(tt.TID(), 0)})
			}
			return out
		}
		tasks.Find = func(ctx *fs.Context, name string) (fs.Node, error) {
			for _, tt := range p.threadsOf(t) {
				if strconv.Itoa(int(p.id(tt.TID()))) == name {
					return p.taskDir(tt, false), nil
				}
			}
			return nil, unix.ENOENT
		}
		d.Add("task", tasks)
	}
	// personality(2)'s persona (0400, as Linux's).
	file("personality", 0400, func(*fs.Context) ([]byte, error) {
		if th == nil {
			return []byte("00000000\n"), nil
		}
		return fmt.Appendf(nil, "%08x\n", th.TG.Personality()), nil
	})
	return d
}

// nsDir builds /proc/PID/ns: a magic link per namespace kind, reading
// "mnt:[4026532193]" and opening to the namespace's nsfs file (setns).
func (p *procFS) nsDir(t *kernel.Task, th *process.Thread, next func() int) *synth.Dir {
	d := synth.NewDir(p.taskAttr(t, 0511, next()))
	for _, k := range nsfs.Kinds {
		d.Add(k.Name, &magicLink{attr: p.taskAttr(t, 0777, next()), resolve: func(ctx *fs.Context) (vfs.Location, string, error) {
			if th == nil {
				return vfs.Location{}, "", unix.ENOENT
			}
			ns := p.s.Namespace(th, k.Name)
			if ns == nil {
				return vfs.Location{}, "", unix.ENOENT
			}
			name := nsfs.LinkTarget(k, ns)
			return vfs.AnonLocation(name, &nsfs.Node{Kind: k, NS: ns}), name, nil
		}})
	}
	return d
}

// threadsOf returns the tasks of t's thread group.
func (p *procFS) threadsOf(t *kernel.Task) []*kernel.Task {
	th := thread(t)
	if th == nil {
		return []*kernel.Task{t}
	}
	var out []*kernel.Task
	for _, x := range th.TG.Threads() {
		out = append(out, x.Task)
	}
	if len(out) == 0 {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TID() < out[j].TID() })
	return out
}

func memOf(th *process.Thread) memInfo {
	if th == nil {
		return nil
	}
	m := th.TG.MM()
	if m == nil {
		return nil
	}
	var mi memInfo = m
	return mi
}

func linuxTime(t time.Time) linux.StatxTimestamp {
	return linux.StatxTimestamp{Sec: t.Unix(), Nsec: uint32(t.Nanosecond())}
}

// sameFile reports whether two nodes are the same file: the same device
// and inode number (a filesystem may give one file a new node on each
// lookup).
func sameFile(a, b fs.Node) bool {
	sa, err := a.Stat(fs.Background)
	if err != nil {
		return false
	}
	sb, err := b.Stat(fs.Background)
	if err != nil {
		return false
	}
	return sa.Ino == sb.Ino && sa.DevMajor == sb.DevMajor && sa.DevMinor == sb.DevMinor
}

// magicLink is /proc/PID/{exe,cwd,root,fd/N}.
type magicLink struct {
	attr    synth.Attr
	resolve func(ctx *fs.Context) (vfs.Location, string, error)
}

// Type implements fs.Node.
func (m *magicLink) Type() uint32 { return unix.S_IFLNK }

// Stat implements fs.Node.
func (m *magicLink) Stat(ctx *fs.Context) (linux.Statx, error) {
	_, name, _ := m.resolve(ctx)
	s := synth.NewSymlink(m.attr, func(*fs.Context) (string, error) { return name, nil })
	return s.Stat(ctx)
}

// Open implements fs.Node.
func (m *magicLink) Open(ctx *fs.Context, flags uint32) (fs.File, error) { return nil, unix.ELOOP }

// Readlink implements fs.Symlink.
func (m *magicLink) Readlink(ctx *fs.Context) (string, error) {
	_, name, err := m.resolve(ctx)
	return name, err
}

// MagicTarget implements vfs.MagicLink.
func (m *magicLink) MagicTarget(ctx *fs.Context) (vfs.Location, error) {
	loc, _, err := m.resolve(ctx)
	return loc, err
}

func (p *procFS) listFDs(th *process.Thread, typ uint8) []fs.Dirent {
	if th == nil || th.FDs == nil {
		return nil
	}
	var out []fs.Dirent
	for _, fd := range th.FDs.FDs() {
		out = append(out, fs.Dirent{Name: strconv.Itoa(int(fd)), Type: typ, Ino: synth.NewIno()})
	}
	return out
}

func parseFD(name string) (int32, bool) {
	n, err := strconv.Atoi(name)
	if err != nil || n < 0 || strconv.Itoa(n) != name || n > 1<<30 {
		return 0, false
	}
	return int32(n), true
}

func (p *procFS) findFD(t *kernel.Task, th *process.Thread, name string) (fs.Node, error) {
	fd, ok := parseFD(name)
	if !ok || th == nil || th.FDs == nil {
		return nil, unix.ENOENT
	}
	f, err := th.FDs.Get(fd)
	if err != nil {
		return nil, unix.ENOENT
	}
	f.DecRef()
	fdt := th.FDs
	a := p.taskAttr(t, 0777, 0)
	a.Ino = synth.NewIno()
	if f.Readable() && f.Writable() {
		a.Mode = 0700
	} else if f.Writable() {
		a.Mode = 0300
	} else {
		a.Mode = 0500
	}
	return &magicLink{attr: a, resolve: func(ctx *fs.Context) (vfs.Location, string, error) {
		f, err := fdt.Get(fd)
		if err != nil {
			return vfs.Location{}, "", unix.ENOENT
		}
		defer f.DecRef()
		name := f.Path()
		if th.FS != nil {
			name = th.FS.PathOf(f.Location())
		}
		return f.Location(), name, nil
	}}, nil
}

func (p *procFS) findFDInfo(t *kernel.Task, th *process.Thread, name string) (fs.Node, error) {
	fd, ok := parseFD(name)
	if !ok || th == nil || th.FDs == nil {
		return nil, unix.ENOENT
	}
	f, err := th.FDs.Get(fd)
	if err != nil {
		return nil, unix.ENOENT
	}
	f.DecRef()
	fdt := th.FDs
	a := p.taskAttr(t, 0444, 0)
	a.Ino = synth.NewIno()
	return synth.NewFile(a, func(ctx *fs.Context) ([]byte, error) {
		f, cloexec, err := fdt.GetWithFlags(fd)
		if err != nil {
			return nil, unix.ENOENT
		}
		defer f.DecRef()
		var pos int64
		if !f.IsPath() && !f.IsDir() {
			if off, err := f.Seek(fs.Background, 0, unix.SEEK_CUR); err == nil {
				pos = off
			}
		}
		flags := f.Flags()
		if cloexec {
			flags |= unix.O_CLOEXEC
		}
		mnt := 0
		if m := f.Location().Mount; m != nil {
			mnt = m.ID
		}
		var ino uint64
		if st, err := f.Stat(fs.Background); err == nil {
			ino = st.Ino
		}
		text := fmt.Sprintf("pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n", pos, flags, mnt, ino)
		if lock.Any() {
			if key, err := f.FileKey(fs.Background); err == nil {
				text += lock.FDInfo(key, f, fdt, p.id)
			}
		}
		if fi, ok := f.Impl().(fs.FDInfoer); ok {
			text += fi.FDInfo()
		}
		return []byte(text), nil
	}), nil
}

func (p *procFS) taskStatus(t *kernel.Task, reader *auth.UserNamespace) string {
	var b strings.Builder
	st, stName := stateOf(t)
	th := thread(t)
	umask := uint32(022)
	if th != nil && th.FS != nil {
		umask = th.FS.Umask()
	}
	fmt.Fprintf(&b, "Name:\t%s\n", t.Name())
	fmt.Fprintf(&b, "Umask:\t%04o\n", umask)
	var tracer int32
	if th != nil {
		tracer = th.TracerPID()
	}
	fmt.Fprintf(&b, "State:\t%c (%s)\n", st, stName)
	fmt.Fprintf(&b, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t%d\n", p.id(t.TGID()), p.id(t.TID()), p.ppidOf(t), p.id(tracer))
	// Kernel threads are root with every capability.
	c := auth.NewRoot()
	if th != nil {
		c = th.Credentials()
	}
	// IDs as the reader's user namespace shows them (userns.go).
	uids := [4]uint32{reader.UID(c.RealUID), reader.UID(c.EffectiveUID), reader.UID(c.SavedUID), reader.UID(c.FSUID)}
	gids := [4]uint32{reader.GID(c.RealGID), reader.GID(c.EffectiveGID), reader.GID(c.SavedGID), reader.GID(c.FSGID)}
	groups := make([]uint32, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = reader.GID(g)
	}
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\n", uids[0], uids[1], uids[2], uids[3])
	fmt.Fprintf(&b, "Gid:\t%d\t%d\t%d\t%d\n", gids[0], gids[1], gids[2], gids[3])
	fdSize := 0
	if th != nil && th.FDs != nil {
		fdSize = 64
		for _, fd := range th.FDs.FDs() {
			for int(fd) >= fdSize {
				fdSize *= 2
			}
		}
	}
	fmt.Fprintf(&b, "FDSize:\t%d\n", fdSize)
	b.WriteString("Groups:\t")
	for i, g := range groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", g)
	}
	b.WriteString(" \n")
	if th != nil {
		fmt.Fprintf(&b, "NStgid:\t%s\nNSpid:\t%s\nNSpgid:\t%s\nNSsid:\t%s\n", p.nsIDs(th, t.TGID()), p.nsIDs(th, t.TID()), p.nsIDs(th, th.TG.ProcessGroup()), p.nsIDs(th, th.TG.Session()))
		if m := th.TG.MM(); m != nil {
			vsz := m.VirtualSize() >> 10
			anon, file, shmem, swap := th.TG.MemoryPages()
			rss := (anon + file + shmem) * 4
			fmt.Fprintf(&b, "VmPeak:\t%8d kB\nVmSize:\t%8d kB\nVmLck:\t%8d kB\nVmPin:\t%8d kB\nVmHWM:\t%8d kB\nVmRSS:\t%8d kB\nRssAnon:\t%8d kB\nRssFile:\t%8d kB\nRssShmem:\t%8d kB\nVmData:\t%8d kB\nVmStk:\t%8d kB\nVmExe:\t%8d kB\nVmLib:\t%8d kB\nVmPTE:\t%8d kB\nVmSwap:\t%8d kB\n",
				vsz, vsz, m.LockedPages()*4, 0, rss, rss, anon*4, file*4, shmem*4, m.DataPages()*4, 132, 0, 0, 0, swap*4)
		}
		fmt.Fprintf(&b, "Threads:\t%d\n", len(th.TG.Threads()))
	} else {
		fmt.Fprintf(&b, "Threads:\t1\n")
	}
	var blocked, pending, shared, ignored, caught uint64
	if th != nil {
		blocked = uint64(th.SignalMask)
		pending = uint64(th.ThreadPendingSignals())
		s, i, c := th.TG.SignalSets()
		shared, ignored, caught = uint64(s), uint64(i), uint64(c)
	}
	fmt.Fprintf(&b, "SigQ:\t0/%d\nSigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n", 63422, pending, shared, blocked, ignored, caught)
	fmt.Fprintf(&b, "CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		uint64(c.Inheritable), uint64(c.Permitted), uint64(c.Effective), uint64(c.Bounding), uint64(c.Ambient))
	nnp := 0
	if c.NoNewPrivs {
		nnp = 1
	}
	var scMode, scFilters int
	if th != nil {
		scMode, scFilters = th.SeccompMode(), th.SeccompFilterCount()
	}
	fmt.Fprintf(&b, "NoNewPrivs:\t%d\nSeccomp:\t%d\nSeccomp_filters:\t%d\n", nnp, scMode, scFilters)
	n := p.s.Kernel.NumCPUs()
	aff := t.Affinity()
	var mask uint64
	var list []string
	for i := 0; i < n && i < 64; i++ {
		if aff.Has(i) {
			mask |= 1 << i
			list = append(list, strconv.Itoa(i))
		}
	}
	fmt.Fprintf(&b, "Cpus_allowed:\t%x\nCpus_allowed_list:\t%s\n", mask, compressList(list))
	b.WriteString("Mems_allowed:\t1\nMems_allowed_list:\t0\n")
	v, iv := t.ContextSwitches()
	fmt.Fprintf(&b, "voluntary_ctxt_switches:\t%d\nnonvoluntary_ctxt_switches:\t%d\n", v, iv)
	return b.String()
}

// compressList turns ["0","1","2","5"] into "0-2,5".
func compressList(items []string) string {
	var nums []int
	for _, s := range items {
		n, _ := strconv.Atoi(s)
		nums = append(nums, n)
	}
	var parts []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", nums[i], nums[j]))
		} else {
			parts = append(parts, strconv.Itoa(nums[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func (p *procFS) taskStatm(t *kernel.Task) string {
	var size, rss uint64
	if m := memOf(thread(t)); m != nil {
		size = m.VirtualSize() / 4096
		rss = m.ResidentPages()
	}
	return fmt.Sprintf("%d %d 0 0 0 0 0\n", size, rss)
}

// vfsOf returns the mount namespace th sees (the sandbox's first one when
// th is nil) and th's root in it.
func (p *procFS) vfsOf(th *process.Thread) (*vfs.MountNamespace, string) {
	if th != nil && th.FS != nil {
		return th.FS.Namespace(), th.FS.Root().Path
	}
	if p.s.VFS == nil {
		return nil, "/"
	}
	return p.s.VFS.InitNamespace(), "/"
}

func (p *procFS) mountsFor(th *process.Thread) string {
	v, root := p.vfsOf(th)
	if v == nil {
		return ""
	}
	return v.MountsText(root)
}

func (p *procFS) mountinfoFor(th *process.Thread) string {
	v, root := p.vfsOf(th)
	if v == nil {
		return ""
	}
	return v.MountinfoText(root)
}

// idMapText renders a uid_map or gid_map as Linux does.
func idMapText(m []process.IDMapEntry) string {
	if len(m) == 0 {
		m = []process.IDMapEntry{{Inner: 0, Outer: 0, Count: 4294967295}}
	}
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%10d %10d %10d\n", e.Inner, e.Outer, e.Count)
	}
	return b.String()
}

func limitsText(th *process.Thread) string {
	names := []struct {
		name, unit string
		r          int
	}{
		{"Max cpu time", "seconds", unix.RLIMIT_CPU},
		{"Max file size", "bytes", unix.RLIMIT_FSIZE},
		{"Max data size", "bytes", unix.RLIMIT_DATA},
		{"Max stack size", "bytes", unix.RLIMIT_STACK},
		{"Max core file size", "bytes", unix.RLIMIT_CORE},
		{"Max resident set", "bytes", unix.RLIMIT_RSS},
		{"Max processes", "processes", unix.RLIMIT_NPROC},
		{"Max open files", "files", unix.RLIMIT_NOFILE},
		{"Max locked memory", "bytes", unix.RLIMIT_MEMLOCK},
		{"Max address space", "bytes", unix.RLIMIT_AS},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	for _, n := range names {
		cur, max := "unlimited", "unlimited"
		if th != nil && th.TG.Limits != nil {
			l := th.TG.Limits.Get(n.r)
			if l.Cur != unix.RLIM_INFINITY {
				cur = strconv.FormatUint(l.Cur, 10)
			}
			if l.Max != unix.RLIM_INFINITY {
				max = strconv.FormatUint(l.Max, 10)
			}
		}
		fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", n.name, cur, max, n.unit)
	}
	return b.String()
}

// System-wide files.

// hostCPUInfo is the host's /proc/cpuinfo, read once by timekeeper (the
// sentry reads it at boot: when confined it has no host /proc to read it
// from later).
var hostCPUInfo = timekeeper.HostCPUInfo

func (p *procFS) cpuinfo(*fs.Context) string {
	n := p.s.Kernel.NumCPUs()
	host := hostCPUInfo()
	var blocks [][]byte
	if host != nil {
		for _, blk := range bytes.Split(host, []byte("\n\n")) {
			if len(bytes.TrimSpace(blk)) > 0 {
				blocks = append(blocks, blk)
			}
		}
	}
	if len(blocks) == 0 {
		blocks = [][]byte{[]byte("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: runsc-lite virtual CPU")}
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		blk := blocks[i%len(blocks)]
		for _, line := range strings.Split(string(blk), "\n") {
			key, _, found := strings.Cut(line, ":")
			if !found {
				b.WriteString(line + "\n")
				continue
			}
			switch strings.TrimSpace(key) {
			case "processor":
				fmt.Fprintf(&b, "%s: %d\n", key, i)
			case "siblings", "cpu cores":
				fmt.Fprintf(&b, "%s: %d\n", key, n)
			case "core id", "apicid", "initial apicid":
				fmt.Fprintf(&b, "%s: %d\n", key, i)
			case "physical id":
				fmt.Fprintf(&b, "%s: 0\n", key)
			default:
				b.WriteString(line + "\n")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (p *procFS) uptime(ctx *fs.Context) string {
	k := p.s.Kernel
	// In the reader's time namespace (Linux's timens_add_boottime).
	up := (time.Since(k.BootTime()) + time.Duration(readerClockOffset(ctx, unix.CLOCK_BOOTTIME))).Seconds()
	var idle float64
	for i := 0; i < k.NumCPUs(); i++ {
		_, id := k.CPU(i).Times()
		idle += id.Seconds()
	}
	return fmt.Sprintf("%.2f %.2f\n", up, idle)
}

// Filesystems are the filesystem types the sandbox's kernel knows, in
// /proc/filesystems order (sysfs(2) numbers them from 0 in this order).
var Filesystems = []string{"sysfs", "tmpfs", "proc", "devtmpfs", "pipefs", "mqueue", "overlay", "9p"}

func filesystemsText() string {
	var b strings.Builder
	for _, n := range Filesystems {
		b.WriteString("nodev\t" + n + "\n")
	}
	return b.String()
}

// id returns the ID in the instance's PID namespace of the task with kernel
// TID tid (0 if it is outside).
func (p *procFS) id(tid int32) int32 { return p.ns.Local(tid) }

// nsIDs renders /proc/PID/status's NS* lines: the ID of kernel TID tid in
// the instance's namespace and in each below it down to th's own.
func (p *procFS) nsIDs(th *process.Thread, tid int32) string {
	var chain []*process.PIDNamespace
	for n := th.PIDNS(); n != nil; n = n.Parent() {
		chain = append(chain, n)
		if n == p.ns {
			break
		}
	}
	var b strings.Builder
	for i := len(chain) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte('\t')
		}
		fmt.Fprintf(&b, "%d", chain[i].Local(tid))
	}
	return b.String()
}
