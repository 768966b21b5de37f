package syscalls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/loader"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

func doClone(t *process.Thread, o process.CloneOptions) (uintptr, error) {
	nt, err := t.Clone(o)
	if err != nil {
		return 0, err
	}
	return uintptr(t.PIDOfTask(nt.TID())), nil
}

// Clone: clone(flags, stack, parent_tid, child_tid, tls) on x86-64.
// With CLONE_PIDFD the pidfd is stored at parent_tid (so CLONE_PARENT_SETTID
// cannot be given too, nor the obsolete CLONE_DETACHED).
func Clone(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := uint64(a[0])
	if flags&unix.CLONE_PIDFD != 0 && flags&(unix.CLONE_PARENT_SETTID|unix.CLONE_DETACHED) != 0 {
		return 0, unix.EINVAL
	}
	onCreate, err := clonePidFD(t, flags, a.Ptr(2))
	if err != nil {
		return 0, err
	}
	return doClone(t, process.CloneOptions{
		Flags:      flags &^ 0xff,
		ExitSignal: int(flags & 0xff),
		Stack:      a.Ptr(1),
		ParentTID:  a.Ptr(2),
		ChildTID:   a.Ptr(3),
		TLS:        a.Ptr(4),
		OnCreate:   onCreate,
	})
}

// Clone3: struct clone_args { flags, pidfd, child_tid, parent_tid,
// exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup }.
// set_tid (an array of set_tid_size pid_t) chooses the child's ID in its
// PID namespace and in the namespaces above it (process.CloneOptions.SetTID).
// CLONE_INTO_CGROUP is EINVAL: the sandbox has one cgroup hierarchy and
// moving a child into another cgroup at birth is not done.
func Clone3(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	const (
		sizeVer0        = 64 // CLONE_ARGS_SIZE_VER0
		cloneIntoCgroup = 0x200000000
	)
	size := a[1]
	if size > 4096 {
		return 0, unix.E2BIG
	}
	if size < sizeVer0 {
		return 0, unix.EINVAL
	}
	// copy_struct_from_user: the fields this kernel knows (11), the
	// rest of a larger struct must be zero (E2BIG).
	args := make([]uint64, 11)
	known := min(size, uintptr(len(args)*8))
	b := make([]byte, size)
	if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(0)), b); err != nil {
		return 0, unix.EFAULT
	}
	for i := uintptr(0); i < known/8; i++ {
		args[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	for _, c := range b[known:] {
		if c != 0 {
			return 0, unix.E2BIG
		}
	}
	setTIDAddr, setTIDSize := args[8], args[9]
	// copy_clone_args_from_user's checks, in its order.
	if setTIDSize > 32 || (setTIDAddr == 0 && setTIDSize > 0) || (setTIDAddr != 0 && setTIDSize == 0) {
		return 0, unix.EINVAL
	}
	if args[4] > 64 {
		return 0, unix.EINVAL
	}
	var setTID []int32
	if setTIDSize > 0 {
		raw := make([]byte, 4*setTIDSize)
		if _, err := t.CopyInBytes(hostarch.Addr(setTIDAddr), raw); err != nil {
			return 0, unix.EFAULT
		}
		setTID = make([]int32, setTIDSize)
		for i := range setTID {
			setTID[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	// clone3_args_valid: the exit signal has a field of its own:
	// clone3 takes no signal in the flags' low byte (CSIGNAL), where
	// its one flag is CLONE_NEWTIME (clone(2) cannot ask for a time
	// namespace: the bit is its signal's).
	if args[0]&(0xff&^unix.CLONE_NEWTIME|unix.CLONE_DETACHED) != 0 || args[0]&cloneIntoCgroup != 0 {
		return 0, unix.EINVAL
	}
	stack := uintptr(args[5])
	if stack != 0 || args[6] != 0 {
		stack = uintptr(args[5] + args[6])
	}
	onCreate, err := clonePidFD(t, args[0], uintptr(args[1]))
	if err != nil {
		return 0, err
	}
	return doClone(t, process.CloneOptions{
		Flags:      args[0],
		ExitSignal: int(args[4]),
		Stack:      stack,
		ChildTID:   uintptr(args[2]),
		ParentTID:  uintptr(args[3]),
		TLS:        uintptr(args[7]),
		OnCreate:   onCreate,
		SetTID:     setTID,
	})
}

func Fork(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doClone(t, process.CloneOptions{ExitSignal: int(unix.SIGCHLD)})
}

func Vfork(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doClone(t, process.CloneOptions{Flags: unix.CLONE_VM | unix.CLONE_VFORK, ExitSignal: int(unix.SIGCHLD)})
}

// copyInStrings reads a NULL-terminated array of string pointers.
func copyInStrings(t *process.Thread, addr uintptr, total *int) ([]string, error) {
	var out []string
	if addr == 0 {
		return nil, nil
	}
	for i := 0; ; i++ {
		var p primitive.Uint64
		if _, err := p.CopyIn(t, hostarch.Addr(addr+uintptr(8*i))); err != nil {
			return nil, unix.EFAULT
		}
		if p == 0 {
			return out, nil
		}
		s, err := t.CopyInString(uintptr(p), 128<<10)
		if err != nil {
			if err == unix.ENAMETOOLONG {
				return nil, unix.E2BIG
			}
			return nil, unix.EFAULT
		}
		*total += len(s) + 1
		if *total > 2<<20 || i > 1<<17 {
			return nil, unix.E2BIG
		}
		out = append(out, s)
	}
}

// execFile adapts an open file description for the loader (which closes
// what it opens).
type execFile struct{ *vfs.FileDescription }

func (f execFile) Close() error {
	f.DecRef()
	return nil
}

// ExecCredentials returns a loader.LoadArgs.ExecCreds function that
// computes the credentials of a program old runs (set-user-ID and
// set-group-ID bits, root's capabilities: auth.Credentials.ForExec) and
// stores them in *out for the caller to install once the exec cannot fail
// any more.
func ExecCredentials(old *auth.Credentials, out **auth.Credentials) func(loader.File) (loader.Credentials, error) {
	return func(exe loader.File) (loader.Credentials, error) {
		ef := auth.ExecFile{}
		if f, ok := exe.(execFile); ok {
			st, err := f.Node().Stat(fs.Background)
			if err != nil {
				return loader.Credentials{}, err
			}
			ef.Mode, ef.UID, ef.GID = uint32(st.Mode), st.UID, st.GID
			ef.NoSUID = f.Location().Mount.NoSUID()
		}
		n, secure := old.ForExec(ef)
		*out = n
		return loader.Credentials{
			UID: n.RealUID, EUID: n.EffectiveUID,
			GID: n.RealGID, EGID: n.EffectiveGID,
			Secure: secure,
		}, nil
	}
}

// ExecFile adapts an open file description for the loader, which closes
// what it opens (boot's first program and execve).
func ExecFile(f *vfs.FileDescription) loader.File { return execFile{f} }

// HoldExecutable makes m hold the executable it was loaded with: exe, the
// path the loader reports, is one of the files it opened (opened, by the
// paths their descriptions have). While m runs it the file cannot be
// written. The exec's own denial from the open (OpenExecutableDenied)
// is held meanwhile, so this one cannot meet a writer.
func HoldExecutable(v *vfs.VirtualFilesystem, ctx *fs.Context, m *mm.MemoryManager, opened map[string]vfs.Location, exe string) error {
	loc, ok := opened[exe]
	if !ok {
		return fmt.Errorf("execve: the loaded executable %q is none of the files opened", exe)
	}
	d, err := v.DenyWrite(ctx, loc)
	if err != nil {
		return err
	}
	m.HoldExecutable(d)
	return nil
}

// OpenExecutableDenied opens path for the loader of an exec and denies
// writes to the file from the open on, as Linux's do_open_execat does;
// the denial goes on *denials, for the caller to release once the exec
// has returned (the new image's executable holds one of its own:
// HoldExecutable).
func OpenExecutableDenied(v *vfs.VirtualFilesystem, ctx *fs.Context, fsc *vfs.FSContext, path string, denials *[]*vfs.WriteDenial) (*vfs.FileDescription, error) {
	f, err := v.OpenExecutableAs(ctx, fsc, path)
	if err != nil {
		return nil, err
	}
	d, err := v.DenyWrite(ctx, f.Location())
	if err != nil {
		f.DecRef()
		return nil, err
	}
	*denials = append(*denials, d)
	return f, nil
}

// execError is execve's error for err: its errno, or, for an error that
// is none (the sentry's failure, not the program's: logged), fallback.
func execError(t *process.Thread, filename string, err error, fallback unix.Errno) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		t.Log().Debugf("execve %q: %v", filename, err)
		return errno
	}
	t.Log().Warnf("execve %q: %v", filename, err)
	return fallback
}

func Execve(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doExecve(t, unix.AT_FDCWD, a.Ptr(0), a.Ptr(1), a.Ptr(2), 0)
}

func Execveat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doExecve(t, a.Int(0), a.Ptr(1), a.Ptr(2), a.Ptr(3), a.Int(4))
}

func doExecve(t *process.Thread, dirfd int32, pathAddr, argvAddr, envAddr uintptr, flags int32) (uintptr, error) {
	if flags&^(unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	filename, err := t.CopyInString(pathAddr, unix.PathMax)
	if err != nil {
		return 0, err
	}
	if filename == "" && flags&unix.AT_EMPTY_PATH == 0 {
		return 0, unix.ENOENT
	}
	// execName is the program's name for the loader (AT_EXECFN, a
	// script's interpreter argument): as Linux's bprm->filename, a
	// program found through a descriptor is /dev/fd/N[/path].
	execName := filename
	if dirfd != unix.AT_FDCWD && (filename == "" || filename[0] != '/') {
		execName = fmt.Sprintf("/dev/fd/%d", dirfd)
		if filename != "" {
			execName += "/" + filename
		}
	}
	// openProgram opens the program itself: relative to dirfd, dirfd
	// itself for AT_EMPTY_PATH, and ELOOP for a final symlink under
	// AT_SYMLINK_NOFOLLOW.
	openProgram := func(ctx *fs.Context) (*vfs.FileDescription, error) {
		var loc vfs.Location
		if filename == "" {
			f, err := getFile(t, dirfd)
			if err != nil {
				return nil, err
			}
			loc = f.Location()
			f.DecRef()
		} else {
			start, err := startLocation(t, dirfd, filename)
			if err != nil {
				return nil, err
			}
			follow := flags&unix.AT_SYMLINK_NOFOLLOW == 0
			if loc, err = t.FS.VFS().Resolve(ctx, t.FS, start, filename, follow); err != nil {
				return nil, err
			}
			if !follow && loc.Node.Type() == unix.S_IFLNK {
				return nil, unix.ELOOP
			}
		}
		return t.FS.VFS().OpenExecutableLocation(ctx, loc)
	}
	if err := t.CheckExecNproc(); err != nil {
		return 0, err
	}
	// The program is opened before argv and envp are read, as Linux
	// does: a program that is not there fails with ENOENT whatever they
	// hold, and without reading them (an execvp tries each PATH entry:
	// the CPython subset made 26.8 k failing execve calls). The loader
	// takes it as its first open of execName.
	ctx := fsContext(t)
	prog, err := openProgram(ctx)
	if err != nil {
		return 0, execError(t, filename, err, unix.ENOEXEC)
	}
	// Every file execve opens is denied writes while it runs, from the
	// open on, as Linux's do_open_execat does (a program or script open
	// for writing is ETXTBSY before argv is read); the executable of the
	// new image keeps a denial of its own (HoldExecutable) and the others
	// (the program when it is a script, interpreters) are writable again
	// once execve returns.
	var denials []*vfs.WriteDenial
	defer func() {
		if prog != nil {
			prog.DecRef()
		}
		for _, d := range denials {
			d.Release()
		}
	}()
	d, err := t.FS.VFS().DenyWrite(ctx, prog.Location())
	if err != nil {
		return 0, execError(t, filename, err, unix.EIO)
	}
	denials = append(denials, d)
	total := 0
	argv, err := copyInStrings(t, argvAddr, &total)
	if err != nil {
		return 0, err
	}
	envv, err := copyInStrings(t, envAddr, &total)
	if err != nil {
		return 0, err
	}
	s := t.S
	// The new image runs in the process's platform address space, emptied
	// at the point of no return: the process keeps its host process (its
	// ptrace stub), as a Linux process keeps its PID, and execve starts
	// none. An address space others share (a vfork parent waits in it)
	// stays theirs: the image then gets a new one, made once it has
	// loaded (below).
	var as platform.AddressSpace
	m := mm.New(s.Zone, nil, s.Platform.MaxUserAddress())
	var newCreds *auth.Credentials
	// opened holds the files the loader opened, by their resolved paths:
	// the executable's becomes /proc/PID/exe's file.
	opened := map[string]vfs.Location{}
	loaded, err := loader.Load(loader.LoadArgs{
		MM: m,
		Open: func(p string) (loader.File, string, error) {
			var f *vfs.FileDescription
			var err error
			if p == execName && prog != nil {
				f, prog = prog, nil
			} else {
				f, err = OpenExecutableDenied(t.FS.VFS(), ctx, t.FS, p, &denials)
			}
			if err != nil {
				return nil, "", err
			}
			opened[f.Path()] = f.Location()
			return execFile{f}, f.Path(), nil
		},
		Filename:  execName,
		Argv:      argv,
		Envv:      envv,
		ExecCreds: ExecCredentials(ctx.Creds, &newCreds),
		// The new image is in the caller's time namespace for
		// children (ExecTimeNS below).
		MapVDSO: s.VDSO.ForLoaderIn(t.ExecVDSOPages()),
	})
	if err != nil {
		m.DecUsers()
		return 0, execError(t, filename, err, unix.ENOEXEC)
	}
	if err := HoldExecutable(t.FS.VFS(), ctx, m, opened, loaded.Executable); err != nil {
		m.DecUsers()
		return 0, execError(t, filename, err, unix.EIO)
	}
	if t.MM().Users() > 1 {
		// Made only now that the image loaded, so that an execve that
		// fails (execvp trying each PATH entry) takes no stub from the
		// pool, whose recycling makes a spare stub thread; and still
		// before the point of no return, so that its failure is
		// execve's ENOMEM.
		var err error
		if as, err = s.Platform.NewAddressSpace(); err != nil {
			t.Log().Warnf("execve: cannot create an address space: %v", err)
			m.DecUsers()
			return 0, unix.ENOMEM
		}
		m.SetAddressSpace(as)
	}
	// Point of no return.
	oldTID := t.TID()
	t.KillOtherThreads()
	if t.Exiting() {
		// The process is being killed (another thread exited or
		// exec'd first): the new image never runs, and the old one's
		// other threads may still be on their way out in it.
		m.DecUsers()
		return 0, ErrNoReturn
	}
	if as == nil {
		// Only this thread runs in the old image now; a CLONE_VM
		// child made meanwhile shares it (TakeAddressSpace says nil).
		if as = t.MM().TakeAddressSpace(); as == nil {
			var err error
			if as, err = s.Platform.NewAddressSpace(); err != nil {
				t.Log().Warnf("execve: cannot create an address space after the point of no return: %v", err)
				m.DecUsers()
				t.TG.Exit(process.KilledBy(int(unix.SIGKILL)))
				return 0, ErrNoReturn
			}
		}
		m.SetAddressSpace(as)
	}
	m.MapLoaded()
	t.SetCredentials(newCreds)
	t.ExecTimeNS()
	t.ExecDumpable()
	t.ExecReleaseFutexes()
	// A 64-bit ELF drops READ_IMPLIES_EXEC (set_personality_64bit); the
	// rest of the persona is kept (setarch -R PROG).
	t.TG.SetPersonality(t.TG.Personality() &^ readImpliesExec)
	m.SetExecutable(loaded.Executable)
	t.TG.SetMM(m)
	t.ResetFPState()
	// POSIX timers die with the old image, and so do their queued
	// signals (timersOf empties the table of a process that exec'd).
	timersOf(t.TG)
	t.TG.FlushTimerSignals()
	t.TG.SetExe(process.Executable{Path: loaded.Executable, Loc: opened[loaded.Executable]})
	t.FDs = t.FDs.Unshare()
	t.FDs.CloseOnExec()
	t.TG.ResetSignalHandlers()
	t.AltStack = linux.SignalStack{}
	t.Task.SetName(loaded.Comm)
	t.Regs = arch.NewInitialRegisters(loaded.Entry, loaded.Stack)
	t.TG.ReleaseVfork()
	t.PtraceExec(oldTID)
	return 0, ErrNoReturn
}

func copyOutStatus(t *process.Thread, addr uintptr, st process.WaitStatus) error {
	if addr == 0 {
		return nil
	}
	v := primitive.Int32(st)
	if _, err := v.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return unix.EFAULT
	}
	return nil
}

func Wait4(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pid, opts := a.Int(0), a.Uint(2)
	if opts&^uint32(unix.WNOHANG|unix.WUNTRACED|unix.WCONTINUED|unix.WALL|unix.WCLONE|0x20000000 /* __WNOTHREAD */) != 0 {
		return 0, unix.EINVAL
	}
	if pid == -1<<31 {
		return 0, unix.ESRCH
	}
	if pid > 0 {
		pid = kernelPID(t, pid)
	} else if pid < -1 {
		pid = -kernelPID(t, -pid)
	}
	res, err := t.Wait(process.WaitOptions{
		PID:     pid,
		NoHang:  opts&unix.WNOHANG != 0,
		Exited:  true,
		Stopped: opts&unix.WUNTRACED != 0,
		Cont:    opts&unix.WCONTINUED != 0,
	})
	if err != nil || res.PID == 0 {
		return 0, err
	}
	if err := copyOutStatus(t, a.Ptr(1), res.Status); err != nil {
		return 0, err
	}
	if err := copyOutWaitRusage(t, a.Ptr(3), res); err != nil {
		return 0, err
	}
	return uintptr(res.PID), nil
}

// copyOutWaitRusage writes the rusage of wait4 and waitid (the reaped
// child's CPU times and context switches, its waited-for children's
// included) at addr, if addr is not NULL. Linux writes it only when a
// child was found.
func copyOutWaitRusage(t *process.Thread, addr uintptr, res process.WaitResult) error {
	if addr == 0 {
		return nil
	}
	var ru linux.Rusage
	ru.UTime = linux.NsecToTimeval(res.UTime.Nanoseconds())
	ru.STime = linux.NsecToTimeval(res.STime.Nanoseconds())
	ru.NVCSw = int64(res.Nvcsw)
	ru.NIvCSw = int64(res.Nivcsw)
	if _, err := ru.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return unix.EFAULT
	}
	return nil
}

func Waitid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	idtype, id, opts := a.Int(0), a.Int(1), a.Uint(3)
	if opts&^uint32(unix.WNOHANG|unix.WEXITED|unix.WSTOPPED|unix.WCONTINUED|unix.WNOWAIT|unix.WALL|unix.WCLONE) != 0 ||
		opts&(unix.WEXITED|unix.WSTOPPED|unix.WCONTINUED) == 0 {
		return 0, unix.EINVAL
	}
	o := process.WaitOptions{
		NoHang:  opts&unix.WNOHANG != 0,
		NoReap:  opts&unix.WNOWAIT != 0,
		Exited:  opts&unix.WEXITED != 0,
		Stopped: opts&unix.WSTOPPED != 0,
		Cont:    opts&unix.WCONTINUED != 0,
	}
	nonblockPidFD := false
	switch idtype {
	case unix.P_ALL:
		o.PID = -1
	case unix.P_PID:
		if id <= 0 {
			return 0, unix.EINVAL
		}
		o.PID = kernelPID(t, id)
	case unix.P_PGID:
		if id < 0 {
			return 0, unix.EINVAL
		}
		o.PID = -kernelPID(t, id)
		if id == 0 {
			o.PID = 0
		}
	case pPIDFD:
		if a.Int(1) < 0 {
			return 0, unix.EINVAL
		}
		tg, fl, err := getPidFD(t, id)
		if err != nil {
			return 0, err
		}
		if reaped(t, tg) {
			return 0, unix.ECHILD
		}
		o.PID = tg.TGID()
		if fl&unix.O_NONBLOCK != 0 && !o.NoHang {
			// A non-blocking pidfd makes the wait WNOHANG, and
			// "nothing yet" EAGAIN (Linux 5.10).
			o.NoHang, nonblockPidFD = true, true
		}
	default:
		return 0, unix.EINVAL
	}
	res, err := t.Wait(o)
	if err != nil {
		return 0, err
	}
	if nonblockPidFD && res.PID == 0 {
		return 0, unix.EAGAIN
	}
	if a.Ptr(2) != 0 {
		var si linux.SignalInfo
		if res.PID != 0 {
			si.Signo = int32(unix.SIGCHLD)
			si.SetPID(res.PID)
			si.SetUID(int32(res.UID))
			if _, ok := res.Status.Stopped(); ok && res.Trapped {
				// A tracee's ptrace-stop: the whole report
				// (signal and event) in si_status.
				si.Code = linux.CLD_TRAPPED
				si.SetStatus(int32(res.Status>>8) & 0xffff)
			} else if sig, ok := res.Status.Stopped(); ok {
				si.Code = linux.CLD_STOPPED
				si.SetStatus(int32(sig))
			} else if res.Status.Continued() {
				si.Code = linux.CLD_CONTINUED
				si.SetStatus(int32(unix.SIGCONT))
			} else if sig, ok := res.Status.Signaled(); ok {
				si.Code = linux.CLD_KILLED
				si.SetStatus(int32(sig))
			} else {
				si.Code = linux.CLD_EXITED
				si.SetStatus(int32(res.Status.ExitCode()))
			}
			// si_utime and si_stime stay zero, as Linux's waitid
			// leaves them.
		}
		if _, err := si.CopyOut(t, hostarch.Addr(a.Ptr(2))); err != nil {
			return 0, unix.EFAULT
		}
	}
	if res.PID != 0 {
		if err := copyOutWaitRusage(t, a.Ptr(4), res); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// futexWaitUntil is a futex wait with a timeout ending at deadline.
// Interrupted, it leaves a restart block that waits again (the word is
// checked again) until the same deadline (Linux's futex_wait_restart).
func futexWaitUntil(t *process.Thread, addr uintptr, private bool, val, bitset uint32, deadline time.Time) (uintptr, error) {
	d := time.Until(deadline)
	if d <= 0 {
		d = -1 // expired: ETIMEDOUT unless the word differs
	}
	err := t.S.Futexes.Wait(t, addr, private, val, bitset, d)
	if err == unix.EINTR {
		t.SetRestartBlock(func(t *process.Thread) (uintptr, error) {
			return futexWaitUntil(t, addr, private, val, bitset, deadline)
		})
	}
	return 0, err
}

func futexTimeout(t *process.Thread, addr uintptr, abs bool, realtime bool) (time.Duration, error) {
	if addr == 0 {
		return 0, nil
	}
	d, err := copyInTimespec(t, addr)
	if err != nil {
		return 0, err
	}
	if abs {
		clock := int32(unix.CLOCK_MONOTONIC)
		if realtime {
			clock = unix.CLOCK_REALTIME
		}
		now, _ := nsClockNow(t, clock) // the deadline is on t's namespace's clock
		d -= time.Duration(now)
		if d <= 0 {
			return -1, nil
		}
	} else if d == 0 {
		return -1, nil
	}
	return d, nil
}

func Futex(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	addr, op, val := a.Ptr(0), a.Int(1), a.Uint(2)
	private := op&linux.FUTEX_PRIVATE_FLAG != 0
	realtime := op&linux.FUTEX_CLOCK_REALTIME != 0
	cmd := op &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME)
	f := &t.S.Futexes
	if realtime {
		switch cmd {
		case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET, linux.FUTEX_WAIT_REQUEUE_PI, process.FutexLockPI2:
		default:
			return 0, unix.ENOSYS
		}
	}
	switch cmd {
	case linux.FUTEX_LOCK_PI, process.FutexLockPI2, linux.FUTEX_TRYLOCK_PI:
		o := process.PILockOpts{Try: cmd == linux.FUTEX_TRYLOCK_PI}
		if !o.Try && a.Ptr(3) != 0 {
			d, err := copyInTimespec(t, a.Ptr(3))
			if err != nil {
				return 0, err
			}
			// FUTEX_LOCK_PI's deadline is always CLOCK_REALTIME.
			clock := int32(unix.CLOCK_MONOTONIC)
			if realtime || cmd == linux.FUTEX_LOCK_PI {
				clock = unix.CLOCK_REALTIME
			}
			o.Deadline = max(d, 1)
			o.Now = func() time.Duration {
				now, _ := nsClockNow(t, clock) // the deadline is on t's namespace's clock
				return time.Duration(now)
			}
		}
		return 0, f.LockPI(t, addr, private, o)
	case linux.FUTEX_UNLOCK_PI:
		return 0, f.UnlockPI(t, addr, private)
	case linux.FUTEX_WAIT_REQUEUE_PI:
		var o process.PILockOpts
		if a.Ptr(3) != 0 {
			d, err := copyInTimespec(t, a.Ptr(3))
			if err != nil {
				return 0, err
			}
			clock := int32(unix.CLOCK_MONOTONIC)
			if realtime {
				clock = unix.CLOCK_REALTIME
			}
			o.Deadline = max(d, 1)
			o.Now = func() time.Duration {
				now, _ := nsClockNow(t, clock) // the deadline is on t's namespace's clock
				return time.Duration(now)
			}
		}
		return 0, f.WaitRequeuePI(t, addr, a.Ptr(4), private, val, o)
	case linux.FUTEX_CMP_REQUEUE_PI:
		n, err := f.CmpRequeuePI(t, addr, a.Ptr(4), private, int(int32(val)), int(int32(a[3])), a.Uint(5))
		return uintptr(n), err
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
		bitset := process.FutexBitsetAny
		if cmd == linux.FUTEX_WAIT_BITSET {
			bitset = a.Uint(5)
		}
		d, err := futexTimeout(t, a.Ptr(3), cmd == linux.FUTEX_WAIT_BITSET, realtime)
		if err != nil {
			return 0, err
		}
		if d <= 0 {
			return 0, f.Wait(t, addr, private, val, bitset, d)
		}
		return futexWaitUntil(t, addr, private, val, bitset, time.Now().Add(d))
	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		bitset := process.FutexBitsetAny
		if cmd == linux.FUTEX_WAKE_BITSET {
			bitset = a.Uint(5)
		}
		n, err := f.Wake(t.MM(), addr, private, int(int32(val)), bitset)
		return uintptr(n), err
	case linux.FUTEX_REQUEUE, linux.FUTEX_CMP_REQUEUE:
		n, err := f.Requeue(t.MM(), addr, a.Ptr(4), private, int(int32(val)), int(int32(a[3])), cmd == linux.FUTEX_CMP_REQUEUE, a.Uint(5))
		return uintptr(n), err
	case linux.FUTEX_WAKE_OP:
		n, err := f.WakeOp(t.MM(), addr, a.Ptr(4), private, int(int32(val)), int(int32(a[3])), a.Uint(5))
		return uintptr(n), err
	}
	return 0, unix.ENOSYS
}

// Unshare is unshare(2): the calling thread stops sharing its filesystem
// context (root, cwd, umask) and descriptor table with the threads and
// processes it shares them with. CLONE_THREAD, CLONE_SIGHAND and CLONE_VM
// are accepted, as Linux accepts them, only when there is nothing to
// unshare (a single-threaded process); CLONE_SYSVSEM leaves the shared
// SEM_UNDO list, applying its adjustments if the thread was its last user.
func Unshare(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := uint64(a[0])
	const known = unix.CLONE_THREAD | unix.CLONE_FS | unix.CLONE_SIGHAND | unix.CLONE_VM |
		unix.CLONE_FILES | unix.CLONE_SYSVSEM | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME | unix.CLONE_NEWNET
	if flags&^known != 0 {
		return 0, unix.EINVAL
	}
	// The implications of Linux's ksys_unshare.
	if flags&unix.CLONE_NEWUSER != 0 {
		flags |= unix.CLONE_THREAD | unix.CLONE_FS
	}
	if flags&unix.CLONE_VM != 0 {
		flags |= unix.CLONE_SIGHAND
	}
	if flags&unix.CLONE_SIGHAND != 0 {
		flags |= unix.CLONE_THREAD
	}
	if flags&unix.CLONE_NEWNS != 0 {
		flags |= unix.CLONE_FS
	}
	if flags&(unix.CLONE_THREAD|unix.CLONE_SIGHAND|unix.CLONE_VM) != 0 {
		if len(t.TG.Threads()) > 1 {
			return 0, unix.EINVAL
		}
		if flags&unix.CLONE_VM != 0 && t.TG.MM().Users() > 1 {
			return 0, unix.EINVAL
		}
	}
	creds := t.Credentials()
	if flags&unix.CLONE_NEWUSER != 0 {
		// The user namespace comes first: the other new namespaces
		// are made in it, where the caller has every capability
		// (sentry/process/userns.go).
		n, err := t.UserNamespaceCredentials(creds)
		if err != nil {
			return 0, err
		}
		creds = n
	}
	if flags&(unix.CLONE_NEWNS|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC|unix.CLONE_NEWNET|unix.CLONE_NEWPID|unix.CLONE_NEWCGROUP|unix.CLONE_NEWTIME) != 0 && !creds.HasCapabilityIn(creds.UserNS, linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	if flags&unix.CLONE_NEWPID != 0 && t.ChildPIDNS() != t.PIDNS() {
		// Checked before anything changes (UnsharePIDNS below).
		return 0, unix.EINVAL
	}
	var timeNS *process.TimeNamespace
	if flags&unix.CLONE_NEWTIME != 0 {
		// Made before anything changes: it can fail (ENOMEM).
		var err error
		if timeNS, err = t.NewChildTimeNS(creds.UserNS); err != nil {
			return 0, err
		}
	}
	var netNS *process.NetNamespace
	if flags&unix.CLONE_NEWNET != 0 {
		// Made before anything changes: it can fail.
		var err error
		if netNS, err = t.NewNetNS(creds.UserNS); err != nil {
			return 0, err
		}
		defer func() {
			if netNS != nil { // not entered: an error came after
				netNS.DecRef()
			}
		}()
	}
	if flags&unix.CLONE_NEWUSER != 0 {
		t.SetCredentials(creds)
	}
	if flags&unix.CLONE_NEWPID != 0 {
		// The caller's next child is the new namespace's init.
		if err := t.UnsharePIDNS(); err != nil {
			return 0, err
		}
	}
	if flags&unix.CLONE_NEWCGROUP != 0 {
		if err := t.UnshareCgroupNS(); err != nil {
			return 0, err
		}
	}
	if timeNS != nil {
		// The caller stays; its children go into the new one.
		t.SetChildTimeNS(timeNS)
	}
	if flags&unix.CLONE_FS != 0 {
		t.FS = t.FS.Fork()
	}
	if flags&unix.CLONE_NEWNS != 0 {
		t.FS.Namespace().Copy(t.FS).SetOwner(creds.UserNS)
	}
	if flags&unix.CLONE_NEWUTS != 0 {
		t.SetUTS(t.UTS().Copy(creds.UserNS))
	}
	if flags&unix.CLONE_FILES != 0 {
		t.FDs = t.FDs.Unshare()
	}
	if flags&unix.CLONE_SYSVSEM != 0 && t.IPC() != nil {
		t.LeaveSemUndo()
	}
	if flags&unix.CLONE_NEWIPC != 0 && t.IPC() != nil {
		t.UnshareIPC(creds.UserNS)
	}
	if netNS != nil {
		t.EnterNewNetNS(netNS)
		netNS = nil
	}
	return 0, nil
}
