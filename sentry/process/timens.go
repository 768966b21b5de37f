package process

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/vdso"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Time namespaces (CLONE_NEWTIME), as Linux's kernel/time/namespace.c: a
// namespace holds offsets added to CLOCK_MONOTONIC (and its raw and
// coarse forms) and CLOCK_BOOTTIME (and its alarm form) for the processes
// in it; CLOCK_REALTIME is the same everywhere. unshare(CLONE_NEWTIME)
// leaves the caller where it is and makes the namespace its children go
// into (time_for_children): a fork enters it, and so does an execve of
// the caller itself; a thread or a CLONE_VM child stays with its creator.
// The offsets are written through /proc/PID/timens_offsets until the
// first process enters (then they are frozen: EACCES).
//
// The offsets are applied where the sentry shows a process these clocks
// or takes an absolute time on them from it (sentry/syscalls: clock_gettime,
// clock_nanosleep, timer_settime, timerfd_settime, futex timeouts,
// sysinfo; procfs: /proc/uptime, /proc/PID/stat); a process in a namespace
// of its own maps the namespace's copy of the vDSO pages, whose time
// namespace page holds the offsets (sentry/vdso).
//
// Locking: TimeNamespace.mu serialises offset writes against freezing;
// the offsets are atomics read without it (once frozen they never
// change). A thread's timens and timensChildren are atomics written by
// the thread itself (or its creator before it runs).

// TimeNamespace is a time namespace.
type TimeNamespace struct {
	ino uint64
	// owner is the user namespace it was made in (nil: the sandbox's
	// first); CAP_SYS_TIME there allows writing the offsets.
	owner *auth.UserNamespace

	mu     sync.Mutex
	frozen bool
	// mono and boot are the offsets in nanoseconds.
	mono, boot atomic.Int64
	// vdso are the vDSO pages its processes map, with the offsets
	// (sentry/vdso; nil for the first namespace or without a vDSO).
	vdso *mm.SpecialPages
}

// Ino implements nsfs.Namespace.
func (ns *TimeNamespace) Ino() uint64 { return ns.ino }

// Owner returns the user namespace the namespace belongs to.
func (ns *TimeNamespace) Owner() *auth.UserNamespace { return ns.owner }

// Offsets returns the CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets in
// nanoseconds.
func (ns *TimeNamespace) Offsets() (mono, boot int64) { return ns.mono.Load(), ns.boot.Load() }

// freeze records that a process entered: the offsets cannot change any
// more.
func (ns *TimeNamespace) freeze() {
	ns.mu.Lock()
	ns.frozen = true
	ns.mu.Unlock()
}

// TimeOffset is one line of /proc/PID/timens_offsets.
type TimeOffset struct {
	Clock int32 // CLOCK_MONOTONIC or CLOCK_BOOTTIME
	Sec   int64
	Nsec  int64 // [0, 1e9)
}

// ktimeSecMax is Linux's KTIME_SEC_MAX: the seconds a ktime_t holds.
const ktimeSecMax = math.MaxInt64 / 1000000000

// SetOffsets writes offsets (proc_timens_set_offset). Errors: EPERM
// without CAP_SYS_TIME in the namespace's owner (creds are the opener's),
// EINVAL for a clock other than CLOCK_MONOTONIC and CLOCK_BOOTTIME,
// ERANGE when an offset would make its clock negative or beyond half of
// what a ktime_t holds now, EACCES once a process has entered.
func (ns *TimeNamespace) SetOffsets(creds *auth.Credentials, offsets []TimeOffset) error {
	if !creds.HasCapabilityIn(ns.owner, linux.CAP_SYS_TIME) {
		return unix.EPERM
	}
	for _, o := range offsets {
		var now int64
		switch o.Clock {
		case unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME:
			now = timekeeper.Sandbox.Read(o.Clock)
		default:
			return unix.EINVAL
		}
		if o.Sec > ktimeSecMax || o.Sec < -ktimeSecMax {
			return unix.ERANGE
		}
		sec, nsec := now/1e9+o.Sec, now%1e9+o.Nsec
		if nsec >= 1e9 {
			sec++
		}
		if sec < 0 || sec > ktimeSecMax/2 {
			return unix.ERANGE
		}
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.frozen {
		return unix.EACCES
	}
	for _, o := range offsets {
		v := o.Sec*1e9 + o.Nsec
		if o.Clock == unix.CLOCK_MONOTONIC {
			ns.mono.Store(v)
		} else {
			ns.boot.Store(v)
		}
	}
	// Nobody maps the pages before the namespace is frozen.
	vdso.SetTimeNSOffsets(ns.vdso, ns.mono.Load(), ns.boot.Load())
	return nil
}

// ShowOffsets returns the offsets as they are written: seconds and
// nanoseconds in [0, 1e9).
func (ns *TimeNamespace) ShowOffsets() []TimeOffset {
	split := func(clock int32, v int64) TimeOffset {
		sec, nsec := v/1e9, v%1e9
		if nsec < 0 {
			sec, nsec = sec-1, nsec+1e9
		}
		return TimeOffset{Clock: clock, Sec: sec, Nsec: nsec}
	}
	mono, boot := ns.Offsets()
	return []TimeOffset{split(unix.CLOCK_MONOTONIC, mono), split(unix.CLOCK_BOOTTIME, boot)}
}

// InitTimeNS returns the sandbox's first time namespace: no offsets, and
// every process of the sandbox started in it (frozen).
func (s *Sandbox) InitTimeNS() *TimeNamespace {
	s.namespaces.timeOnce.Do(func() {
		s.namespaces.time = &TimeNamespace{ino: nsfs.NewIno(), frozen: true}
	})
	return s.namespaces.time
}

// TimeNS returns the time namespace t is in.
func (t *Thread) TimeNS() *TimeNamespace {
	if ns := t.timens.Load(); ns != nil {
		return ns
	}
	return t.S.InitTimeNS()
}

// TimeNSForChildren returns the time namespace t's new processes go into.
func (t *Thread) TimeNSForChildren() *TimeNamespace {
	if ns := t.timensChildren.Load(); ns != nil {
		return ns
	}
	return t.S.InitTimeNS()
}

// ClockOffset returns what t's time namespace adds to clock (0 for the
// clocks namespaces do not move, and in the sandbox's first namespace).
func (t *Thread) ClockOffset(clock int32) int64 {
	ns := t.timens.Load()
	if ns == nil {
		return 0
	}
	switch clock {
	case unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_MONOTONIC_COARSE:
		return ns.mono.Load()
	case unix.CLOCK_BOOTTIME, unix.CLOCK_BOOTTIME_ALARM:
		return ns.boot.Load()
	}
	return 0
}

// newTimeNS returns a namespace with parent's offsets, owned by owner
// (Linux's clone_time_ns: the copy is of the creator's
// time_for_children), with its vDSO pages. Errors: ENOMEM when no page is
// left for them.
func (s *Sandbox) newTimeNS(parent *TimeNamespace, owner *auth.UserNamespace) (*TimeNamespace, error) {
	ns := &TimeNamespace{ino: nsfs.NewIno(), owner: owner}
	mono, boot := parent.Offsets()
	ns.mono.Store(mono)
	ns.boot.Store(boot)
	var err error
	if ns.vdso, err = s.VDSO.TimeNSPages(mono, boot); err != nil {
		return nil, unix.ENOMEM
	}
	return ns, nil
}

// vdsoPages returns the vDSO pages of ns (nil: the first namespace).
func vdsoPages(ns *TimeNamespace) *mm.SpecialPages {
	if ns == nil {
		return nil
	}
	return ns.vdso
}

// NewChildTimeNS returns a new namespace for t's children, a copy of its
// current one (unshare(CLONE_NEWTIME); the caller checked CAP_SYS_ADMIN in
// owner), for SetChildTimeNS once nothing else can fail. Errors: ENOMEM.
func (t *Thread) NewChildTimeNS(owner *auth.UserNamespace) (*TimeNamespace, error) {
	return t.S.newTimeNS(t.TimeNSForChildren(), owner)
}

// SetChildTimeNS makes ns (NewChildTimeNS's) the namespace t's children
// go into.
func (t *Thread) SetChildTimeNS(ns *TimeNamespace) { t.timensChildren.Store(ns) }

// storeTimeNS sets t's namespace (nil: the first) and, when it is another
// than the one t's address space was mapped for, switches the address
// space's vDSO (a fork into a namespace, setns).
func (t *Thread) storeTimeNS(ns *TimeNamespace) {
	if ns == t.S.InitTimeNS() {
		ns = nil
	}
	if ns != nil {
		ns.freeze()
	}
	old := t.timens.Swap(ns)
	if old != ns {
		if m := t.MM(); m != nil {
			t.S.VDSO.EnterTimeNS(m, vdsoPages(old), vdsoPages(ns))
		}
	}
}

// cloneTimeNS returns the time namespace for children of a thread clone
// makes with flags (copy_namespaces): with CLONE_NEWTIME a new one owned by
// owner, else t's. Errors: ENOMEM.
func (t *Thread) cloneTimeNS(flags uint64, owner *auth.UserNamespace) (*TimeNamespace, error) {
	if flags&unix.CLONE_NEWTIME != 0 {
		return t.S.newTimeNS(t.TimeNSForChildren(), owner)
	}
	return t.timensChildren.Load(), nil
}

// setCloneTimeNS sets the new thread nt's namespaces, children being
// cloneTimeNS's (timens_on_fork): a process that does not share its
// creator's address space enters children, anything else stays in its
// creator's namespace.
func (t *Thread) setCloneTimeNS(nt *Thread, flags uint64, children *TimeNamespace) {
	if children == t.S.InitTimeNS() {
		children = nil
	}
	nt.timensChildren.Store(children)
	nt.timens.Store(t.timens.Load())
	if flags&unix.CLONE_VM == 0 {
		nt.storeTimeNS(children)
	}
}

// ExecTimeNS is execve's part: the process enters its children's
// namespace (Linux's exec_task_namespaces). The caller mapped the new
// image's vDSO for it (ExecVDSOPages).
func (t *Thread) ExecTimeNS() {
	ns := t.timensChildren.Load()
	if ns != nil {
		ns.freeze()
	}
	t.timens.Store(ns)
}

// ExecVDSOPages returns the vDSO pages t maps at execve: its children's
// time namespace's (sentry/vdso.VDSO.ForLoaderIn).
func (t *Thread) ExecVDSOPages() *mm.SpecialPages { return vdsoPages(t.timensChildren.Load()) }

// CheckSetTimeNS returns the error SetTimeNS would give, changing
// nothing: setns checks every kind it is asked to join before joining any.
func (t *Thread) CheckSetTimeNS(ns *TimeNamespace) error {
	if len(t.TG.Threads()) > 1 || t.MM().Users() > 1 {
		return unix.EUSERS
	}
	if !t.Credentials().HasCapabilityIn(ns.owner, linux.CAP_SYS_ADMIN) {
		return unix.EPERM
	}
	return nil
}

// SetTimeNS moves t and its future children into ns (setns; Linux's
// timens_install). Errors: EUSERS when t's process has other threads or
// shares its address space; EPERM without CAP_SYS_ADMIN in ns's owner.
func (t *Thread) SetTimeNS(ns *TimeNamespace) error {
	if err := t.CheckSetTimeNS(ns); err != nil {
		return err
	}
	t.storeTimeNS(ns)
	if ns == t.S.InitTimeNS() {
		ns = nil
	}
	t.timensChildren.Store(ns)
	return nil
}
