package process

// seccomp(2) inside the sandbox: a thread's mode and filters, and what a
// filter's verdict does to the syscall (package seccomp owns the filters,
// their checks and evaluation, and the notification listener).
//
// The dispatcher asks SeccompActive before every syscall: one atomic load,
// the whole cost for a thread that never installed a filter. Only a thread
// with a mode runs SeccompCheck, which builds the struct seccomp_data from
// its registers and runs its chain.
//
// Locking: seccompState.mode and .filter are written under
// ThreadGroup.mu (by the thread itself, by a TSYNC from another thread of
// its group, by clone for the new thread) and read without it by the
// thread itself (atomics). ThreadGroup.mu comes before Listener.mu.

import (
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/seccomp"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// seccompState is a thread's seccomp mode and filter chain.
type seccompState struct {
	mode   atomic.Int32
	filter atomic.Pointer[seccomp.Filter]
	// notifRestart makes the current syscall's EINTR restart as
	// ERESTARTSYS does: a user notification interrupted by a signal is
	// sent again after the handler (cleared at each syscall's entry).
	notifRestart bool
}

// SeccompActive reports whether the thread is in a seccomp mode (strict or
// filter), i.e. whether SeccompCheck must run before its syscalls.
func (t *Thread) SeccompActive() bool { return t.seccomp.mode.Load() != seccomp.ModeDisabled }

// SeccompMode returns the thread's mode (PR_GET_SECCOMP,
// /proc/PID/status's Seccomp:).
func (t *Thread) SeccompMode() int { return int(t.seccomp.mode.Load()) }

// SeccompFilterCount returns how many filters the thread runs
// (/proc/PID/status's Seccomp_filters:).
func (t *Thread) SeccompFilterCount() int { return t.seccomp.filter.Load().Count() }

// inheritSeccomp gives the new thread nt t's mode and filters (clone,
// fork: Linux's copy_seccomp). Preconditions: t's ThreadGroup.mu is held
// when nt joins t's group, so that a TSYNC cannot miss it.
func (t *Thread) inheritSeccomp(nt *Thread) {
	f := t.seccomp.filter.Load()
	f.Get()
	nt.seccomp.filter.Store(f)
	nt.seccomp.mode.Store(t.seccomp.mode.Load())
}

// releaseSeccomp drops the exiting thread's hold on its filters.
func (t *Thread) releaseSeccomp() {
	if f := t.seccomp.filter.Swap(nil); f != nil {
		f.Put()
	}
}

// SetSeccompStrict puts the thread in strict mode: from now on only read,
// write, exit and rt_sigreturn; anything else kills it. EINVAL if it has
// filters (modes do not change once set).
func (t *Thread) SetSeccompStrict() error {
	t.TG.mu.Lock()
	defer t.TG.mu.Unlock()
	switch t.seccomp.mode.Load() {
	case seccomp.ModeDisabled, seccomp.ModeStrict:
		t.seccomp.mode.Store(seccomp.ModeStrict)
		return nil
	}
	return unix.EINVAL
}

// SeccompTSyncError is AttachSeccompFilter's TSYNC failure: the thread
// TID (which runs filters that are not an ancestor of the caller's, or is
// in strict mode) cannot be synchronised. seccomp(2) returns the TID.
type SeccompTSyncError struct{ TID int32 }

func (e SeccompTSyncError) Error() string { return "seccomp: TSYNC: a thread cannot be synchronised" }

// AttachSeccompFilter attaches f (made by seccomp.New, not yet attached)
// to the thread's chain with seccomp(2)'s flags, in Linux's order of
// checks: EINVAL in strict mode, EBUSY for a second listener on the chain,
// ENOMEM for a chain too long, then TSYNC's rule (SeccompTSyncError, or
// ESRCH with SECCOMP_FILTER_FLAG_TSYNC_ESRCH). With TSYNC every other
// thread of the group then runs the same chain (and gets no_new_privs if
// the caller has it).
func (t *Thread) AttachSeccompFilter(f *seccomp.Filter, flags uint32) error {
	tg := t.TG
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if t.seccomp.mode.Load() == seccomp.ModeStrict {
		return unix.EINVAL
	}
	prev := t.seccomp.filter.Load()
	if f.Listener() != nil && prev.HasListener() {
		return unix.EBUSY
	}
	if err := f.Attach(prev); err != nil {
		return err
	}
	var others []*Thread
	if flags&seccomp.FlagTSync != 0 {
		for _, th := range tg.threads {
			if th == t || th.exiting.Load() {
				continue
			}
			ok := false
			switch th.seccomp.mode.Load() {
			case seccomp.ModeDisabled:
				ok = true
			case seccomp.ModeFilter:
				ok = th.seccomp.filter.Load().IsAncestorOf(prev)
			}
			if !ok {
				f.Detach()
				if flags&seccomp.FlagTSyncESRCH != 0 {
					return unix.ESRCH
				}
				return SeccompTSyncError{TID: th.TID()}
			}
			others = append(others, th)
		}
	}
	// f takes over the thread's hold on prev; the thread holds f.
	f.Get()
	t.seccomp.filter.Store(f)
	t.seccomp.mode.Store(seccomp.ModeFilter)
	nnp := t.Credentials().NoNewPrivs
	for _, th := range others {
		f.Get()
		old := th.seccomp.filter.Swap(f)
		th.seccomp.mode.Store(seccomp.ModeFilter)
		old.Put()
		for nnp {
			// th may be changing its own credentials
			// (SetCredentials keeps no_new_privs once set).
			c := th.creds.Load()
			if c.NoNewPrivs {
				break
			}
			n := *c
			n.NoNewPrivs = true
			if th.creds.CompareAndSwap(c, &n) {
				break
			}
		}
	}
	return nil
}

// strictAllowed are the syscalls of SECCOMP_MODE_STRICT.
func strictAllowed(sysno uint64) bool {
	switch sysno {
	case unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXIT, unix.SYS_RT_SIGRETURN:
		return true
	}
	return false
}

// SeccompCheck applies the thread's mode to the syscall in t.Regs before
// it runs, as Linux's __secure_computing. It returns true if the syscall
// is to run (perhaps changed by a tracer), false if not: the result is
// then in t.Regs, or a signal is queued, or the thread is on its way out.
// Preconditions: SeccompActive; t is the calling thread at a syscall stop.
func (t *Thread) SeccompCheck() bool {
	t.seccomp.notifRestart = false
	sysno := t.Regs.Orig_rax
	if t.seccomp.mode.Load() == seccomp.ModeStrict {
		if strictAllowed(sysno) {
			return true
		}
		t.Log().Infof("seccomp: strict mode: syscall %d kills the thread", sysno)
		t.seccompKillThread(int(linux.SIGKILL))
		return false
	}
	return t.seccompFilter(false)
}

// seccompData is struct seccomp_data for the syscall in t.Regs.
func (t *Thread) seccompData() linux.SeccompData {
	a := t.Regs.SyscallArgs()
	d := linux.SeccompData{
		Nr:                 int32(t.Regs.Orig_rax),
		Arch:               linux.AUDIT_ARCH_X86_64,
		InstructionPointer: t.Regs.Rip,
	}
	for i := range a {
		d.Args[i] = uint64(a[i])
	}
	return d
}

// seccompFilter runs the chain over the syscall and acts on the verdict
// (Linux's __seccomp_filter). recheck is the second pass after a tracer's
// PTRACE_EVENT_SECCOMP stop, where TRACE means ALLOW.
func (t *Thread) seccompFilter(recheck bool) bool {
	d := t.seccompData()
	ret, match := seccomp.Evaluate(t.seccomp.filter.Load(), &d)
	action := ret & seccomp.RetActionFull
	data := ret & seccomp.RetData
	if match != nil && match.Log() && action != seccomp.RetAllow {
		t.Log().Infof("seccomp: syscall %d: action %#x data %d (SECCOMP_FILTER_FLAG_LOG)", d.Nr, action, data)
	}
	switch action {
	case seccomp.RetAllow:
		return true
	case seccomp.RetLog:
		t.Log().Infof("seccomp: syscall %d allowed by SECCOMP_RET_LOG", d.Nr)
		return true
	case seccomp.RetErrno:
		// The data is the errno, at most MAX_ERRNO; 0 makes the
		// syscall "succeed" with 0 without running.
		t.Regs.Rax = uint64(-int64(min(data, 4095)))
		return false
	case seccomp.RetTrap:
		// The handler sees the original registers (rax is the syscall
		// number again, Linux's syscall_rollback) and a SIGSYS that
		// says which syscall, from where, and the filter's data.
		t.Regs.Rax = t.Regs.Orig_rax
		info := &linux.SignalInfo{Signo: int32(linux.SIGSYS), Code: linux.SYS_SECCOMP, Errno: int32(data)}
		info.SetCallAddr(t.Regs.Rip)
		info.SetSyscall(d.Nr)
		info.SetArch(linux.AUDIT_ARCH_X86_64)
		t.forceSignalInfo(info, faultInfo{})
		return false
	case seccomp.RetTrace:
		if recheck {
			return true
		}
		// x86 Linux enters a syscall with rax = -ENOSYS: the result
		// when no tracer takes the stop, or when the tracer skips the
		// call without setting one.
		t.Regs.Rax = negErrno(unix.ENOSYS)
		if t.ptraceSeccompStop(uint16(data)) {
			return false
		}
		// The tracer may have changed the syscall: the filters run
		// again on it, with TRACE now meaning ALLOW.
		return t.seccompFilter(true)
	case seccomp.RetUserNotif:
		l := match.Listener()
		if l == nil {
			t.Regs.Rax = negErrno(unix.ENOSYS)
			return false
		}
		val, errval, cont, err := l.Notify(t.Task, t.TID(), &d, t.installNotifFD, t.Exiting)
		switch {
		case err == unix.ENOSYS:
			t.Regs.Rax = negErrno(unix.ENOSYS)
			return false
		case err != nil:
			// Interrupted: the syscall is notified again after the
			// signal (ERESTARTSYS).
			t.Regs.Rax = negErrno(unix.EINTR)
			t.seccomp.notifRestart = true
			return false
		case cont:
			return true
		case errval != 0:
			t.Regs.Rax = uint64(int64(errval))
		default:
			t.Regs.Rax = uint64(val)
		}
		return false
	case seccomp.RetKillThread:
		t.Log().Infof("seccomp: syscall %d kills the thread (SECCOMP_RET_KILL_THREAD)", d.Nr)
		t.seccompKillThread(int(linux.SIGSYS))
		return false
	}
	// SECCOMP_RET_KILL_PROCESS, and any action Linux does not know.
	t.Log().Infof("seccomp: syscall %d kills the process (action %#x)", d.Nr, action)
	t.TG.Exit(KilledBy(int(linux.SIGSYS)))
	return false
}

// installNotifFD is the seccomp.FDInstaller of t's notifications
// (SECCOMP_IOCTL_NOTIF_ADDFD): it runs on the supervisor's goroutine while
// t waits in its notification, so t's table pointer cannot change.
func (t *Thread) installNotifFD(f *vfs.FileDescription, newfd int32, setfd, cloexec bool) (int32, error) {
	if setfd {
		return newfd, t.FDs.InstallAt(newfd, f, cloexec)
	}
	fd, err := t.FDs.Install(f, cloexec)
	if err == unix.EINVAL {
		err = unix.EMFILE
	}
	return fd, err
}

// negErrno is a syscall's failure with e as rax holds it.
func negErrno(e unix.Errno) uint64 { return uint64(-int64(e)) }

// seccompKillThread ends the calling thread killed by sig; the last live
// thread of its group takes the group with it (the status then says sig).
func (t *Thread) seccompKillThread(sig int) {
	tg := t.TG
	tg.mu.Lock()
	live := tg.liveThreadsLocked()
	tg.mu.Unlock()
	if live <= 1 {
		tg.Exit(KilledBy(sig))
		return
	}
	t.ExitThread(KilledBy(sig))
}

// ptraceSeccompStop is SECCOMP_RET_TRACE's hook for the in-sandbox ptrace:
// if a tracer set PTRACE_O_TRACESECCOMP on t, stop t for
// PTRACE_EVENT_SECCOMP with data as the event message (PTRACE_GETEVENTMSG)
// until the tracer resumes it (it may change t.Regs). It reports whether
// the syscall must be skipped: no such tracer (the syscall then fails with
// ENOSYS, as on Linux), the tracer set orig_rax to -1, or t is dying
// (ptrace_stop.go's PtraceSeccomp).
func (t *Thread) ptraceSeccompStop(data uint16) (skip bool) {
	return t.PtraceSeccomp(data)
}
