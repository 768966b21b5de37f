package process

import (
	"errors"
	"fmt"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

// NewThreadGroupOpts describe a new process.
type NewThreadGroupOpts struct {
	// TID is a TID reserved with kernel.ReserveTID, or 0.
	TID    int32
	Name   string
	Parent *Thread
	MM     *mm.MemoryManager
	Regs   arch.Registers
	FDs    *vfs.FDTable
	FS     *vfs.FSContext
	Creds  *auth.Credentials
	Exe    Executable
	Limits *Limits
	// Cgroup is the container the process belongs to (nil: none).
	Cgroup *Cgroup
	// Unkillable makes the process an init that ignores the signals
	// it does not handle (see ThreadGroup.unkillable).
	Unkillable bool
}

// NewThreadGroup creates a process with one thread that will start running
// application code at o.Regs once Start is called on its task.
func (s *Sandbox) NewThreadGroup(o NewThreadGroupOpts) *Thread {
	t := &Thread{
		S:    s,
		Regs: o.Regs,
		FDs:  o.FDs,
		FS:   o.FS,
		// Linux's init_task timer slack: 50 µs.
		TimerSlack:        50000,
		DefaultTimerSlack: 50000,
	}
	if o.Creds == nil {
		o.Creds = HostCredentials()
	}
	t.creds.Store(o.Creds)
	// A container's first process (and an exec'd one) is counted but
	// never refused: nobody forked it.
	s.chargeTask(o.Creds, o.Cgroup, 0, false)
	var parent *kernel.Task
	if o.Parent != nil {
		parent = o.Parent.Task
	}
	t.Task = s.Kernel.NewTask(kernel.TaskOptions{
		Name:    o.Name,
		TID:     o.TID,
		Parent:  parent,
		Entry:   t.run,
		HoldTID: true,
	})
	t.Task.Ext = t
	tg := &ThreadGroup{
		s:          s,
		tgid:       t.Task.TID(),
		leader:     t,
		threads:    []*Thread{t},
		mm:         o.MM,
		exited:     make(chan struct{}),
		exe:        o.Exe,
		Limits:     o.Limits,
		children:   make(map[*ThreadGroup]struct{}),
		exitSignal: int(unix.SIGCHLD),
		cgroup:     o.Cgroup,
		unkillable: o.Unkillable,
	}
	tg.pgid, tg.sid = tg.tgid, tg.tgid
	tg.dumpable.Store(DumpableUser)
	if tg.cgroup != nil {
		tg.cgroup.add(tg)
	}
	if tg.Limits == nil {
		tg.Limits = HostLimits()
	}
	t.TG = tg
	if o.MM != nil {
		o.MM.SetOwner(tg.tgid)
	}
	s.mu.Lock()
	s.tgs[tg.tgid] = tg
	if s.init == nil {
		s.init = tg
	}
	s.mu.Unlock()
	tg.CPULimitChanged()
	return t
}

// run is the thread's task body: switch into application code, serve what
// comes back, repeat until the thread exits.
func (t *Thread) run(task *kernel.Task) {
	// The context the previous task on this host thread left, if any
	// (kernel/hostthread.go): reusing it saves making one. Its FP state
	// is that task's, so only a thread given its creator's is let have it.
	var ctx platform.Context
	var err error
	if kept, ok := task.TakeKept().(platform.Context); ok {
		if t.fpInit != nil {
			ctx = kept
		} else {
			kept.Release()
		}
	}
	if ctx == nil {
		ctx, err = t.S.Platform.NewContext()
	}
	if err != nil {
		t.Log().Errorf("cannot create a %s context: %v", t.S.Platform.Name(), err)
		t.TG.Exit(KilledBy(int(unix.SIGKILL)))
		t.exitThread()
		return
	}
	t.ctx = ctx
	t.kick = ctx.Interrupt
	// A context with host state to wake besides the task's thread (a
	// systrap stub thread asleep since the task blocked) starts it with
	// each grant of a CPU (kernel/handoff.go).
	if pw, ok := ctx.(kernel.Prewaker); ok {
		task.SetPrewaker(pw)
	}
	pinner, _ := ctx.(platform.HostCPUPinner)
	pinned := -1
	binder, _ := ctx.(platform.CPUBinder)
	bound := -1
	if t.fpInit != nil {
		if fpc, ok := ctx.(platform.FPStateContext); ok {
			if err := fpc.SetFPState(t.MM().AddressSpace(), t.fpInit); err != nil {
				t.Log().Debugf("inheriting the creator's FP state: %v", err)
			}
		}
		t.fpInit = nil
	}
	for t.returnToUser() {
		// Application code runs where the task's sandbox CPU is backed.
		if c := task.CPU(); pinner != nil && c != nil && c.HostCPU() != pinned {
			pinned = c.HostCPU()
			pinner.PinHostCPU(pinned)
		}
		// The context runs on that CPU's platform state (its KVM vCPU);
		// the kernel runs one task per CPU, so no other context is in
		// Switch on it meanwhile.
		if c := task.CPU(); binder != nil && c != nil && c.ID() != bound {
			bound = c.ID()
			binder.BindCPU(bound)
		}
		task.EnterApp(&t.kick)
		stop, err := ctx.Switch(t.MM().AddressSpace(), &t.Regs)
		task.LeaveApp()
		task.IRQExit()
		if err != nil {
			t.Log().Errorf("application context died: %v", err)
			t.TG.Exit(KilledBy(int(unix.SIGKILL)))
			break
		}
		switch stop.Kind {
		case platform.StopSyscall:
			if stop.Syscall32 {
				t.refuseSyscall32()
			} else if t.Traced() {
				t.ptraceSyscall() // ptrace_stop.go
			} else {
				t.S.Syscalls.Dispatch(t)
			}
		case platform.StopFault:
			t.handleFault(stop)
		case platform.StopInterrupt:
			// Preemption or a signal: both are handled below.
		}
		task.PreemptPoint()
	}
	if t.Regs.Orig_rax == unix.SYS_EXIT_GROUP {
		t.exitSelf = true
	}
	t.ptraceExitEvent()
	// The context stays with this host thread for the next thread of
	// this address space (kernel/hostthread.go), whose stub thread on
	// ptrace is the one the context already has here; when no other
	// thread can make one, it stays for the next address space on the
	// same host process (a fork's child in a recycled stub, platform.
	// HandOnContext) where the platform can keep it, or goes, and the
	// host thread idles bare, for any task.
	var as platform.AddressSpace
	if m := t.MM(); m != nil {
		as = m.AddressSpace()
	}
	// A context kept for the next task of the same address space stays
	// the host thread's Prewaker: the next task's first grant prewakes
	// its parked stub. One handed on to another address space, or
	// released, is not (TakeKept forgets it too).
	if rc, ok := ctx.(platform.RecyclableContext); ok && t.mayHaveSuccessor() && rc.Recycle() {
		task.Keep(ctx, platform.ReuseKey(as))
	} else if hc, ok := ctx.(platform.HandOnContext); ok && as != nil && hc.RecycleAfter(as) {
		task.SetPrewaker(nil)
		task.Keep(ctx, platform.ReuseKey(as))
	} else {
		task.SetPrewaker(nil)
		ctx.Release()
	}
	t.exitThread()
}

// mayHaveSuccessor reports whether another thread may yet start in the
// exiting thread t's address space: one of its group's other threads that
// is not exiting itself (two last threads leaving at once must not both
// keep a context for an address space that is going), or another thread
// group sharing the address space (vfork, CLONE_VM).
func (t *Thread) mayHaveSuccessor() bool {
	m := t.MM()
	if m == nil || m.AddressSpace() == nil {
		return false
	}
	tg := t.TG
	others := false
	tg.mu.Lock()
	if !tg.exiting {
		for _, th := range tg.threads {
			if th != t && !th.exiting.Load() {
				others = true
				break
			}
		}
	}
	tg.mu.Unlock()
	return others || m.Users() > 1
}

// handleFault serves a fault: a call into the vsyscall page (vsyscall.go),
// demand paging through the memory manager, or a synchronous signal to the
// thread.
func (t *Thread) handleFault(st platform.Stop) {
	if t.emulateVsyscall(st) {
		return
	}
	if (st.Signo == int(unix.SIGSEGV) || st.Signo == int(unix.SIGBUS)) && st.Code != siKernel {
		// SI_KERNEL: not a page fault (a general protection fault,
		// the host's refusal of a vsyscall call): the signal as is.
		err := t.MM().HandleFaultCode(st.Addr, st.Access, st.Code)
		if err == nil {
			return
		}
		if err == mm.ErrNoMemory {
			// Direct reclaim with mm's locks dropped; the access
			// faults again and retries. ErrOOM: give up.
			if t.S.Zone == nil || t.S.Zone.Reclaim(t.Task, 1) != nil {
				t.ForceSignal(int(unix.SIGKILL), 0, st.Addr)
			}
			return
		}
		if fe, ok := err.(*mm.FaultError); ok {
			t.ForceSignal(fe.Signo, fe.Code, fe.Addr)
			return
		}
		if errors.Is(err, platform.ErrContextDead) {
			// The host process of the address space died (killed
			// from the host) while the fault was served: the
			// process dies of SIGKILL, as when Switch finds it
			// dead, not of a SIGSEGV the program did not cause.
			t.Log().Warnf("fault at %#x: %v", st.Addr, err)
			t.TG.Exit(KilledBy(int(unix.SIGKILL)))
			return
		}
		t.Log().Warnf("fault at %#x: %v", st.Addr, err)
		t.ForceSignal(int(unix.SIGSEGV), 1 /* SEGV_MAPERR */, st.Addr)
		return
	}
	t.ForceSignal(st.Signo, st.Code, st.Addr)
}

// Exit ends the whole thread group with status (exit_group, a fatal
// signal). Every thread leaves at its next return to the sentry.
func (tg *ThreadGroup) Exit(status WaitStatus) {
	if status == KilledBy(int(unix.SIGKILL)) && !tg.sigkilled.Swap(true) {
		// SIGKILL ends even a PTRACE_EVENT_EXIT stop of a group
		// already exiting.
		for _, th := range tg.Threads() {
			th.Task.Interrupt()
			th.ptrace.wq.NotifyAll()
		}
	}
	tg.mu.Lock()
	if tg.exiting {
		tg.mu.Unlock()
		return
	}
	tg.exiting = true
	tg.status = status
	threads := append([]*Thread(nil), tg.threads...)
	tg.mu.Unlock()
	for _, th := range threads {
		th.exiting.Store(true)
		th.Task.Interrupt()
	}
	if tg.cgroup != nil {
		// Frozen threads wake to exit.
		tg.cgroup.thawed.NotifyAll()
	}
}

// ExitThread ends the calling thread only (exit); the last thread out
// ends the group with status.
func (t *Thread) ExitThread(status WaitStatus) {
	t.exitSelf, t.haveExitStatus, t.exitStatus = true, true, status
	t.TG.mu.Lock()
	last := len(t.TG.threads) == 1
	if last && !t.TG.exiting {
		t.TG.exiting = true
		t.TG.status = status
	}
	t.TG.mu.Unlock()
	t.exiting.Store(true)
}

// exitThread removes the thread from its group: its clear_child_tid word
// is zeroed and woken, its file table reference dropped. The last thread
// out releases the group's memory, re-parents its children to init, and
// leaves the group a zombie for its parent to reap.
func (t *Thread) exitThread() {
	tg := t.TG
	t.ptraceExitTracer()
	t.exitRobustList()
	t.exitPI(true)
	if t.ClearChildTID != 0 && t.MM() != nil {
		var zero [4]byte
		if _, err := t.MM().CopyOut(t.ClearChildTID, zero[:]); err == nil {
			t.S.Futexes.Wake(t.MM(), t.ClearChildTID, false, 1, FutexBitsetAny)
		}
	}
	if t.FDs != nil {
		t.FDs.Release()
	}
	t.exitIPC()
	t.exitNetNS()
	t.releaseSeccomp()
	tg.mu.Lock()
	for i, th := range tg.threads {
		if th == t {
			tg.threads = append(tg.threads[:i], tg.threads[i+1:]...)
			tg.noteThreadExitLocked(t)
			break
		}
	}
	last := len(tg.threads) == 0
	m := tg.mm
	if last {
		tg.mm = nil
		tg.exiting = true
		tg.releasingMM = m != nil
	}
	vfork := tg.vforkDone
	tg.vforkDone = nil
	tg.mu.Unlock()
	tg.threadsGone.NotifyAll()
	// A traced thread's TID stays taken until its tracer reaps it.
	if held := t.ptraceThreadExited(); t != tg.leader && !held {
		t.S.releaseTask(t)
	}
	if !last {
		return
	}
	if vfork != nil {
		vfork.CompleteAll()
	}
	if m != nil {
		m.DecUsers()
		tg.mu.Lock()
		tg.releasingMM = false
		tg.mu.Unlock()
	}
	if tg.cgroup != nil {
		tg.cgroup.remove(tg)
	}
	s := tg.s
	// The init of a nested PID namespace takes its namespace with it.
	s.pidNSInitExited(tg)
	s.mu.Lock()
	oldParent := tg.parent
	children := make([]*ThreadGroup, 0, len(tg.children))
	reaper := s.newReaperLocked(tg)
	for c := range tg.children {
		children = append(children, c)
		// An init that has already exited takes no children (its
		// table is gone); the orphans are killed by the sandbox's
		// shutdown.
		if reaper != nil && reaper != tg && reaper.children != nil {
			c.parent = reaper
			reaper.children[c] = struct{}{}
			c.leader.Task.SetParent(reaper.leader.Task)
		} else {
			c.parent = nil
		}
	}
	tg.children = nil
	tg.zombie = true
	parent := tg.parent
	isInit := s.init == tg
	tracer, deferParent := tg.ptraceGroupExitedLocked(parent)
	s.mu.Unlock()
	tg.exitTerminal(oldParent, children)
	close(tg.exited)
	if tracer != nil && deferParent {
		// The leader's tracer hears of the exit first; the parent
		// when the tracer has reaped it (ptraceReleaseZombieLocked).
		tg.leader.ptraceNotifyExit(tracer, tg.ExitStatus())
	} else if tracer != nil {
		tracer.TG.childEvents.NotifyAll()
	}
	if parent != nil && !deferParent {
		if tg.NotifyParentOfExit(parent, tg.exitSignal) {
			// The parent ignores SIGCHLD or set SA_NOCLDWAIT: nobody
			// will wait for this child, so it is reaped now.
			s.reap(parent, tg)
		}
		parent.childEvents.NotifyAll()
		if isInit := s.init; isInit != nil {
			isInit.childEvents.NotifyAll()
		}
		if reaper != nil && reaper != s.init && len(children) > 0 {
			reaper.childEvents.NotifyAll()
		}
	}
	if isInit {
		close(s.initEnd)
	}
}

func (t *Thread) String() string { return fmt.Sprintf("thread %d", t.TID()) }
