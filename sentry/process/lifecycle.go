package process

import (
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

// CloneOptions are clone(2)/clone3(2)'s arguments.
type CloneOptions struct {
	Flags      uint64
	ExitSignal int
	Stack      uintptr
	TLS        uintptr
	ParentTID  uintptr
	ChildTID   uintptr
	// OnCreate, if set, is called with the new thread before it starts
	// (CLONE_PIDFD installs the parent's pidfd).
	OnCreate func(nt *Thread)
	// SetTID is clone3's set_tid: the IDs the new task is to have in
	// its PID namespace (SetTID[0]) and in as many of the namespaces
	// above it as there are more elements.
	SetTID []int32
}

const unsupportedCloneFlags = unix.CLONE_IO

// Clone creates a thread (CLONE_THREAD) or a process and starts it. The
// new thread returns 0 from the syscall; the caller gets its TID.
// Errors: EINVAL for inconsistent flags, EPERM for namespaces, EAGAIN at
// the sandbox's task limit or the caller's RLIMIT_NPROC, ENOMEM when no
// address space can be made.
func (t *Thread) Clone(o CloneOptions) (*Thread, error) {
	f := o.Flags
	if f&unix.CLONE_THREAD != 0 && f&unix.CLONE_SIGHAND == 0 {
		return nil, unix.EINVAL
	}
	if f&unix.CLONE_SIGHAND != 0 && f&unix.CLONE_VM == 0 {
		return nil, unix.EINVAL
	}
	if f&unix.CLONE_NEWIPC != 0 && f&unix.CLONE_SYSVSEM != 0 {
		// A SEM_UNDO list cannot span two IPC namespaces.
		return nil, unix.EINVAL
	}
	if f&unix.CLONE_NEWNS != 0 && f&unix.CLONE_FS != 0 {
		// A shared root and cwd cannot be in two namespaces.
		return nil, unix.EINVAL
	}
	if f&unix.CLONE_NEWUSER != 0 && f&(unix.CLONE_THREAD|unix.CLONE_FS) != 0 {
		// A thread or a shared root cannot be in another user
		// namespace.
		return nil, unix.EINVAL
	}
	if f&unix.CLONE_THREAD != 0 && (f&unix.CLONE_NEWPID != 0 || t.ChildPIDNS() != t.PIDNS()) {
		// A thread group lives in one PID namespace.
		return nil, unix.EINVAL
	}
	if f&unsupportedCloneFlags != 0 {
		return nil, unix.EPERM
	}
	s := t.S
	creds := t.Credentials()
	if f&unix.CLONE_NEWUSER != 0 {
		// The child's other new namespaces belong to its new user
		// namespace, where it has every capability (userns.go).
		n, err := t.UserNamespaceCredentials(creds)
		if err != nil {
			return nil, err
		}
		creds = n
	}
	if f&(unix.CLONE_NEWNS|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC|unix.CLONE_NEWNET|unix.CLONE_NEWPID|unix.CLONE_NEWCGROUP|unix.CLONE_NEWTIME) != 0 && !creds.HasCapabilityIn(creds.UserNS, linux.CAP_SYS_ADMIN) {
		return nil, unix.EPERM
	}
	// The child's network namespace: made now (it can fail), handed to
	// the child once nothing else can (netns.go).
	var childNet *NetNamespace
	if f&unix.CLONE_NEWNET != 0 {
		n, err := s.newNetNS(creds.UserNS)
		if err != nil {
			return nil, err
		}
		childNet = n
		defer func() {
			if childNet != nil {
				childNet.DecRef()
			}
		}()
	}
	childTimeNS, err := t.cloneTimeNS(f, creds.UserNS)
	if err != nil {
		return nil, err
	}
	pidns := t.ChildPIDNS()
	if f&unix.CLONE_NEWPID != 0 {
		var err error
		if pidns, err = newChildPIDNS(pidns, creds.UserNS); err != nil {
			return nil, err
		}
	}
	// wantTID is the kernel TID set_tid asks for, 0 for any.
	wantTID, err := s.checkSetTID(creds, pidns, o.SetTID)
	if err != nil {
		return nil, err
	}
	if err := s.chargeTask(creds, t.TG.cgroup, t.nprocLimit(), true); err != nil {
		return nil, err
	}
	nt := &Thread{
		S:          s,
		Regs:       t.Regs,
		SignalMask: t.SignalMask,
	}
	nt.IOPrio.Store(t.IOPrio.Load())
	nt.TimerSlack, nt.DefaultTimerSlack = t.TimerSlack, t.TimerSlack
	nt.MemPolicy.Store(t.MemPolicy.Load())
	// The new thread starts with its creator's FP/SSE state, as a forked
	// or cloned Linux task does (MXCSR rounding modes, x87 control word).
	if fpc, ok := t.ctx.(platform.FPStateContext); ok && t.ctx != nil {
		if st, err := fpc.FPState(t.MM().AddressSpace()); err == nil {
			nt.fpInit = st
		}
	}
	// Credentials are immutable once published: parent and child share
	// the value until one of them changes its own.
	nt.creds.Store(creds)
	nt.Regs.Rax = 0
	if o.Stack != 0 {
		nt.Regs.Rsp = uint64(o.Stack)
	}
	if f&unix.CLONE_SETTLS != 0 {
		nt.Regs.Fs_base = uint64(o.TLS)
	}
	if f&unix.CLONE_FILES != 0 {
		t.FDs.IncRef()
		nt.FDs = t.FDs
	} else {
		nt.FDs = t.FDs.Fork()
	}
	if f&unix.CLONE_FS != 0 {
		nt.FS = t.FS
	} else {
		nt.FS = t.FS.Fork()
		if f&unix.CLONE_NEWNS != 0 {
			nt.FS.Namespace().Copy(nt.FS).SetOwner(creds.UserNS)
		}
	}
	if f&unix.CLONE_CHILD_CLEARTID != 0 {
		nt.ClearChildTID = o.ChildTID
	}
	if f&unix.CLONE_NEWUTS != 0 {
		nt.uts.Store(t.UTS().Copy(creds.UserNS))
	} else {
		nt.uts.Store(t.uts.Load())
	}
	if f&unix.CLONE_NEWIPC != 0 && t.IPC() != nil {
		nt.ipc.Store(t.IPC().Copy(creds.UserNS))
	} else {
		nt.ipc.Store(t.ipc.Load())
	}
	nt.cgroupns.Store(t.cgroupns.Load())
	if f&unix.CLONE_NEWCGROUP != 0 {
		c, err := t.newCgroupNS()
		if err != nil {
			nt.FDs.Release()
			return nil, err
		}
		nt.cgroupns.Store(c)
	}

	// The alternate signal stack survives fork and vfork; a new thread
	// sharing the address space starts without one (as Linux).
	if f&unix.CLONE_VM == 0 || f&unix.CLONE_VFORK != 0 {
		nt.AltStack = t.AltStack
	}

	tg := t.TG
	if f&unix.CLONE_THREAD != 0 {
		if wantTID != 0 && !s.Kernel.ReserveTIDAt(wantTID) {
			nt.FDs.Release()
			s.mu.Lock()
			s.unchargeTaskLocked(creds.RealUID, tg.cgroup)
			s.mu.Unlock()
			return nil, unix.EEXIST
		}
		nt.TG = tg
		nt.Task = s.Kernel.NewTask(kernel.TaskOptions{
			Name:     t.Task.Name(),
			TID:      wantTID,
			TGID:     tg.tgid,
			Parent:   t.Task.Parent(),
			Affinity: t.Task.Affinity(),
			Nice:     t.Task.Nice(),
			Entry:    nt.run,
			// A host thread an exited thread of this address
			// space left runs it, with its platform context
			// (run.go).
			ReuseKey: platform.ReuseKey(t.MM().AddressSpace()),
		})
		nt.Task.Ext = nt
		nt.pidns = t.pidns
		if err := pidNSLinks(nt.pidns, nt.Task.TID(), nil, o.SetTID); err != nil {
			s.releaseTask(nt)
			nt.FDs.Release()
			return nil, err
		}
		tg.mu.Lock()
		if tg.exiting {
			tg.mu.Unlock()
			s.releaseTask(nt)
			nt.FDs.Release()
			return nil, unix.EAGAIN
		}
		tg.threads = append(tg.threads, nt)
		t.inheritSeccomp(nt)
		tg.mu.Unlock()
	} else {
		var m *mm.MemoryManager
		if f&unix.CLONE_VM != 0 {
			m = t.MM()
			m.IncUsers()
		} else {
			as, err := s.Platform.NewAddressSpace()
			if err != nil {
				t.Log().Warnf("fork: cannot create an address space: %v", err)
				nt.FDs.Release()
				s.mu.Lock()
				s.unchargeTaskLocked(creds.RealUID, tg.cgroup)
				s.mu.Unlock()
				return nil, unix.ENOMEM
			}
			tg.mu.Lock()
			alone := len(tg.threads) == 1
			tg.mu.Unlock()
			if !alone || t.MM().Users() > 1 {
				// Other threads may write the parent's memory
				// meanwhile: no copies at fork.
				m = t.MM().ForkShared(as)
			} else {
				m = t.MM().Fork(as)
			}
		}
		if wantTID != 0 && !s.Kernel.ReserveTIDAt(wantTID) {
			m.DecUsers()
			nt.FDs.Release()
			s.mu.Lock()
			s.unchargeTaskLocked(creds.RealUID, tg.cgroup)
			s.mu.Unlock()
			return nil, unix.EEXIST
		}
		nt.Task = s.Kernel.NewTask(kernel.TaskOptions{
			Name:     t.Task.Name(),
			TID:      wantTID,
			Parent:   t.Task,
			Affinity: t.Task.Affinity(),
			Nice:     t.Task.Nice(),
			Entry:    nt.run,
			HoldTID:  true,
			ReuseKey: platform.ReuseKey(m.AddressSpace()),
		})
		nt.Task.Ext = nt
		ntg := &ThreadGroup{
			s:          s,
			tgid:       nt.Task.TID(),
			leader:     nt,
			threads:    []*Thread{nt},
			mm:         m,
			exited:     make(chan struct{}),
			exe:        tg.Executable(),
			Limits:     tg.Limits.Fork(),
			children:   make(map[*ThreadGroup]struct{}),
			exitSignal: o.ExitSignal,
			cgroup:     tg.cgroup,
		}
		if !pidns.IsRoot() {
			nt.pidns = pidns
		}
		if err := pidNSLinks(nt.pidns, ntg.tgid, ntg, o.SetTID); err != nil {
			nt.TG = ntg
			s.releaseTask(nt)
			nt.FDs.Release()
			m.DecUsers()
			return nil, err
		}
		if ntg.cgroup != nil {
			ntg.cgroup.add(ntg)
		}
		tg.mu.Lock()
		ntg.actions = tg.actions
		t.inheritSeccomp(nt)
		tg.mu.Unlock()
		ntg.inheritOOM(tg)
		ntg.personality.Store(tg.personality.Load())
		ntg.dumpable.Store(tg.dumpable.Load())
		ntg.mmUserNS.Store(tg.mmUserNS.Load())
		if f&unix.CLONE_VM == 0 {
			m.SetOwner(ntg.tgid)
		}
		nt.TG = ntg
		s.mu.Lock()
		parent := tg
		if f&unix.CLONE_PARENT != 0 && tg.parent != nil {
			parent = tg.parent
		}
		ntg.parent = parent
		ntg.hasChildSubreaper = parent.hasChildSubreaper || parent.childSubreaper
		ntg.pgid, ntg.sid = tg.pgid, tg.sid
		ntg.ctty = tg.ctty
		parent.children[ntg] = struct{}{}
		s.tgs[ntg.tgid] = ntg
		s.mu.Unlock()
		if parent != tg {
			nt.Task.SetParent(parent.leader.Task)
		}
		// The child's own CPU time counts against the RLIMIT_CPU it
		// inherited.
		ntg.CPULimitChanged()
	}

	if childNet != nil {
		nt.netns.Store(childNet)
		childNet = nil
	} else if n := t.netns.Load(); n != nil {
		n.IncRef()
		nt.netns.Store(n)
	}
	// Time namespaces last: a process entering one switches the vDSO
	// of its new address space.
	t.setCloneTimeNS(nt, f, childTimeNS)
	tid := primitive.Int32(t.PIDOfTask(nt.TID()))
	if f&unix.CLONE_PARENT_SETTID != 0 {
		tid.CopyOut(t, hostarch.Addr(o.ParentTID))
	}
	if f&unix.CLONE_CHILD_SETTID != 0 {
		// The child's own view of its TID.
		tid = primitive.Int32(nt.PIDOfTask(nt.TID()))
		nt.TG.MM().CopyOut(o.ChildTID, []byte{byte(tid), byte(tid >> 8), byte(tid >> 16), byte(tid >> 24)})
	}
	// CLONE_SYSVSEM shares the SEM_UNDO list (made now if the creator
	// had none, as copy_semundo); otherwise the child starts without.
	if f&unix.CLONE_SYSVSEM != 0 && s.IPC != nil {
		nt.semUndo = t.SemUndo()
		nt.semUndo.IncRef()
	}
	if o.OnCreate != nil {
		o.OnCreate(nt)
	}
	var vfork *kernel.Completion
	if f&unix.CLONE_VFORK != 0 {
		vfork = &kernel.Completion{}
		nt.TG.mu.Lock()
		nt.TG.vforkDone = vfork
		nt.TG.mu.Unlock()
	}
	// A traced creator's tracer may trace the child too, and hear of
	// its creation (ptrace_stop.go).
	event := t.ptraceCloneAttach(nt, f, o.ExitSignal)
	nt.Task.Start()
	if event != 0 {
		t.ptraceEvent(event, uint64(nt.TID()))
	}
	if vfork != nil {
		vfork.Wait(t.Task)
		t.ptraceEvent(linux.PTRACE_EVENT_VFORK_DONE, uint64(nt.TID()))
	}
	return nt, nil
}

// ReleaseVfork lets a vfork parent continue (the child exec'd).
func (tg *ThreadGroup) ReleaseVfork() {
	tg.mu.Lock()
	v := tg.vforkDone
	tg.vforkDone = nil
	tg.mu.Unlock()
	if v != nil {
		v.CompleteAll()
	}
}

// KillOtherThreads ends every other thread of t's group and waits until
// they are gone (execve's de_thread). It returns EINTR-free; if t itself
// is being killed it returns at once.
func (t *Thread) KillOtherThreads() {
	tg := t.TG
	tg.mu.Lock()
	others := make([]*Thread, 0, len(tg.threads))
	for _, th := range tg.threads {
		if th != t {
			others = append(others, th)
		}
	}
	tg.mu.Unlock()
	for _, th := range others {
		th.exiting.Store(true)
		th.Task.Interrupt()
	}
	tg.threadsGone.Wait(t.Task, func() bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return len(tg.threads) == 1 || t.exiting.Load()
	}, kernel.WaitOpts{Timeout: kernel.Forever})
}

// ResetSignalHandlers sets every caught signal back to its default action
// (execve); ignored signals stay ignored.
func (tg *ThreadGroup) ResetSignalHandlers() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for i := range tg.actions {
		if tg.actions[i].Handler != 1 /* SIG_IGN */ {
			tg.actions[i] = SignalAction{}
		}
	}
}

// WaitOptions select which children Wait reports.
type WaitOptions struct {
	// PID > 0: that child; -1: any; 0: the caller's process group;
	// < -1: process group -PID.
	PID     int32
	NoHang  bool
	NoReap  bool // WNOWAIT
	Exited  bool // WEXITED (wait4 always)
	Stopped bool // WUNTRACED / WSTOPPED
	Cont    bool // WCONTINUED
}

// WaitResult is what Wait found.
type WaitResult struct {
	// PID is the child's ID as the waiter sees it (in its PID
	// namespace), taken before a reap frees it.
	PID    int32
	UID    uint32
	Status WaitStatus
	// UTime and STime are the child's CPU time and its reaped
	// children's, for an exited child (wait4's rusage); Nvcsw and
	// Nivcsw its context switches counted the same way.
	UTime, STime  time.Duration
	Nvcsw, Nivcsw uint64
	// Trapped marks a ptrace-stop of a tracee (waitid's CLD_TRAPPED).
	Trapped bool
}

// Wait waits for a child of t's group to change state (wait4/waitid).
// It returns ECHILD when no child matches, (zero result, nil) with NoHang
// when none has changed state, and EINTR when interrupted.
func (t *Thread) Wait(o WaitOptions) (WaitResult, error) {
	tg := t.TG
	s := t.S
	var res WaitResult
	var found error
	// post is left by a tracer's reap of a tracee whose parent is told
	// now (ptrace_wait.go); it runs with Sandbox.mu released.
	var post func()
	defer func() {
		if post != nil {
			post()
		}
	}()
	cond := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		any := false
		// Tracees first (ptrace_wait.go): a child the caller traces
		// is reported as a tracee.
		if r, ok := tg.ptraceWaitLocked(o, &any, &post); ok {
			res, found = r, nil
			return true
		}
		for c := range tg.children {
			if !o.matches(tg, c) {
				continue
			}
			any = true
			if c.ptraceHeldLocked(tg) {
				continue
			}
			if c.zombie && o.Exited {
				res = WaitResult{PID: t.PIDOfTask(c.tgid), UID: c.leader.Credentials().RealUID, Status: c.status}
				res.UTime, res.STime, res.Nvcsw, res.Nivcsw = c.zombieTotals()
				if !o.NoReap {
					// Waited for: its time becomes the
					// parent's children's time (not so for
					// a child reaped because nobody waits).
					tg.noteChildReaped(c)
					s.reapLocked(tg, c)
				}
				found = nil
				return true
			}
			if r, ok := c.takeJobEvent(o); ok { // signal_jobctl.go
				r.PID = t.PIDOfTask(r.PID)
				res, found = r, nil
				return true
			}
		}
		if !any {
			found = unix.ECHILD
			return true
		}
		return false
	}
	if cond() {
		return res, found
	}
	if o.NoHang {
		return WaitResult{}, nil
	}
	err := tg.childEvents.Wait(t.Task, cond, kernel.WaitOpts{Timeout: kernel.Forever, Interruptible: true})
	if err == kernel.ErrInterrupted {
		return WaitResult{}, unix.EINTR
	}
	return res, found
}

func (o WaitOptions) matches(tg, c *ThreadGroup) bool {
	switch {
	case o.PID > 0:
		return c.tgid == o.PID
	case o.PID == -1:
		return true
	case o.PID == 0:
		return c.pgid == tg.pgid
	default:
		return c.pgid == -o.PID
	}
}

// Parent returns the group's parent, or nil for init.
func (tg *ThreadGroup) Parent() *ThreadGroup {
	tg.s.mu.Lock()
	defer tg.s.mu.Unlock()
	return tg.parent
}

// ProcessGroup and Session return the group's pgid and sid.
func (tg *ThreadGroup) ProcessGroup() int32 {
	tg.s.mu.Lock()
	defer tg.s.mu.Unlock()
	return tg.pgid
}

// Session returns the group's session ID.
func (tg *ThreadGroup) Session() int32 {
	tg.s.mu.Lock()
	defer tg.s.mu.Unlock()
	return tg.sid
}

// SetProcessGroup moves target (the caller's group or one of its children)
// into process group pgid (0: its own PID) as setpgid does.
// Errors: ESRCH (not the caller or its child), EPERM (a session leader,
// or a group in another session).
func (tg *ThreadGroup) SetProcessGroup(target *ThreadGroup, pgid int32) error {
	s := tg.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if target != tg && target.parent != tg {
		return unix.ESRCH
	}
	if target.sid != tg.sid || target.sid == target.tgid {
		return unix.EPERM
	}
	if pgid == 0 {
		pgid = target.tgid
	}
	if pgid != target.tgid {
		ok := false
		for _, o := range s.tgs {
			if o.pgid == pgid && o.sid == tg.sid {
				ok = true
				break
			}
		}
		if !ok {
			return unix.EPERM
		}
	}
	target.pgid = pgid
	return nil
}

// SetSession makes the group the leader of a new session and process
// group (setsid). Errors: EPERM if it already leads a process group.
func (tg *ThreadGroup) SetSession() (int32, error) {
	s := tg.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.tgs {
		if o.pgid == tg.tgid {
			return 0, unix.EPERM
		}
	}
	tg.sid, tg.pgid = tg.tgid, tg.tgid
	// A new session has no controlling terminal.
	tg.ctty = nil
	return tg.sid, nil
}

// KillUsersOf ends with SIGKILL every process whose address space is as:
// the platform's host side of it died (a stub killed from the host;
// platform.DeathWatcher calls this). It does not block.
func (s *Sandbox) KillUsersOf(as platform.AddressSpace) {
	for _, tg := range s.ThreadGroups() {
		if m := tg.MM(); m != nil && m.AddressSpace() == as {
			s.Log.Warnf("process %d (%s): the host process running it died (killed from the host?): killing it with SIGKILL", tg.TGID(), tg.Exe())
			tg.Exit(KilledBy(int(unix.SIGKILL)))
		}
	}
}

// ThreadGroups returns every live (or zombie) process.
func (s *Sandbox) ThreadGroups() []*ThreadGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*ThreadGroup, 0, len(s.tgs))
	for _, tg := range s.tgs {
		out = append(out, tg)
	}
	return out
}

// ProcessGroupMembers returns the processes of process group pgid.
func (s *Sandbox) ProcessGroupMembers(pgid int32) []*ThreadGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*ThreadGroup
	for _, tg := range s.tgs {
		if tg.pgid == pgid && !tg.zombie {
			out = append(out, tg)
		}
	}
	return out
}

// reap removes the zombie child c of parent from the process table and
// frees its PID.
func (s *Sandbox) reap(parent, c *ThreadGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reapLocked(parent, c)
}

// reapLocked is reap. Preconditions: s.mu is held.
func (s *Sandbox) reapLocked(parent, c *ThreadGroup) {
	if parent.children != nil {
		delete(parent.children, c)
	}
	if s.tgs[c.tgid] == c {
		delete(s.tgs, c.tgid)
	}
	s.releaseTaskLocked(c.leader)
}

// ReleaseDetached removes tg, a process that has exited and has no parent
// in the sandbox (a process exec'd into a container, a joined container's
// init), from the process table and frees its PID: its status has been
// collected by the sentry itself. It does nothing for a process that has
// a parent or has not exited.
func (s *Sandbox) ReleaseDetached(tg *ThreadGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tg.parent != nil || !tg.zombie || tg == s.init {
		return
	}
	if s.tgs[tg.tgid] == tg {
		delete(s.tgs, tg.tgid)
	}
	// Uncounted as a reaped leader is: an exec'd process's task was
	// counted against the sandbox's and its container's task limits
	// for good, so a pod that was exec'd into often refused forks.
	s.releaseTaskLocked(tg.leader)
}
