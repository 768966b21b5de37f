// Package container builds and runs the containers of a sandbox. A
// container is a mount namespace (its root and mounts, package vfs), a
// cgroup of processes (process.Cgroup: listed, signalled and frozen
// together) and a first process, its init, created stopped and started
// later (the OCI lifecycle's create and start). The first container of a
// sandbox holds the sandbox's init (PID 1); containers that join it later
// (a Kubernetes pod's containers, gVisor's multi-container sandboxes) and
// processes exec'd into a container have no parent in the sandbox: the
// container collects their exit status.
//
// Spec and Process are plain data (spec.go), built by the CLI from flags
// or from an OCI bundle.
//
// Each container has a devpts of its own (a new instance, as runc mounts
// it), on its /dev/pts; a process given a Terminal has a host terminal
// attached there as /dev/pts/N (terminal.go) as its stdio and controlling
// terminal.
//
// Locking: Container.mu protects started and the exec table; it is a leaf,
// never held while a process is created or waited for.
package container

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devpts"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/sentry/loader"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/seccomp"
	"github.com/runsc-lite/runsc-lite/sentry/syscalls"
	"github.com/runsc-lite/runsc-lite/sentry/vdso"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Env is what the sandbox lends its containers.
type Env struct {
	Sandbox *process.Sandbox
	// FDCloser closes the host descriptors of released host files.
	FDCloser hostfs.FDCloser
	// Writable, if set, is told about every writable host filesystem
	// (a writable root, writable binds), to write it behind.
	Writable func(*hostfs.FS) error
	// TTYHostFD is a host terminal /dev/tty opens for a process that
	// has no controlling terminal in the sandbox while the sandbox has
	// no host terminal attached (a terminal passed through as host
	// files; see devfs.Options), or -1.
	TTYHostFD int
	// Limits are the resource limits a process starts with before its
	// process.rlimits: runsc-lite's own, read before the sentry raised
	// its RLIMIT_NOFILE (nil: process.HostLimits now).
	Limits *process.Limits
	Log    *logrus.Logger
}

func (e *Env) writable(h *hostfs.FS) error {
	if e.Writable == nil {
		return nil
	}
	return e.Writable(h)
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		e.Log.Warningf(format, args...)
	}
}

// ExitError is a failure to start a program, with the exit status a shell
// gives for it: 127 not found, 126 found but not runnable.
type ExitError struct {
	Status int
	Err    error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Stdio maps descriptors of a new process to the sentry's host
// descriptors that back them (duplicated: the caller keeps its own).
type Stdio map[int32]int

// HostStdio is the sentry's own standard input, output and error.
var HostStdio = Stdio{0: 0, 1: 1, 2: 2}

// Status is a container's state as the OCI runtime reports it.
type Status string

// Container statuses (runtime-spec's, plus runc's "paused").
const (
	Created Status = "created"
	Running Status = "running"
	Paused  Status = "paused"
	Stopped Status = "stopped"
)

// Container is one container of a sandbox.
type Container struct {
	ID      string
	Spec    *Spec
	VFS     *vfs.VirtualFilesystem
	Cgroup  *process.Cgroup
	Created time.Time
	// PTS is the container's devpts.
	PTS *devpts.Filesystem

	env  *Env
	init *process.Thread
	// console is init's terminal, or nil.
	console *Console

	mu      sync.Mutex
	started bool
}

// New builds a container: its mount namespace, then its init, created but
// not started, with term (if not nil) as its terminal; initTID is a TID
// reserved for it, or 0 for the next free one. Errors are one line naming
// what failed; an ExitError says the program cannot be run. The caller
// closes Console() once init has exited.
func New(env *Env, spec *Spec, stdio Stdio, term *Terminal, initTID int32) (*Container, error) {
	c := &Container{ID: spec.ID, Spec: spec, env: env, Created: time.Now(), Cgroup: process.NewCgroup(spec.ID, spec.PidsLimit)}
	b, err := buildFS(env, spec)
	if err != nil {
		return nil, err
	}
	c.VFS, c.PTS = b.v, b.pts
	// Sysctls are written before /proc/sys is made read-only.
	if err := WriteSysctls(env, spec.Sysctl); err != nil {
		return nil, err
	}
	if err := b.protect(); err != nil {
		return nil, err
	}
	if c.init, c.console, err = c.newProcess(&spec.Process, stdio, term, initTID, true); err != nil {
		return nil, err
	}
	if term != nil && term.Host != nil {
		if err := b.bindConsole(c.console); err != nil {
			c.console.Close()
			return nil, err
		}
	}
	return c, nil
}

// Console returns init's terminal (nil if it has none).
func (c *Container) Console() *Console { return c.console }

// WriteSysctls writes each key (dotted, net.ipv4.ip_forward) to the
// sandbox's /proc/sys. A key the sandbox does not have is logged and
// skipped: the sandbox's kernel has no such tunable to set.
func WriteSysctls(env *Env, sysctl map[string]string) error {
	if len(sysctl) == 0 {
		return nil
	}
	v := vfs.NewWithRoot(procfs.New(env.Sandbox), "proc")
	fsc, err := v.NewFSContext("/")
	if err != nil {
		return err
	}
	for k, val := range sysctl {
		p := "/sys/" + strings.ReplaceAll(k, ".", "/")
		f, err := v.OpenAt(fs.Background, fsc, v.RootLocation(), p, unix.O_WRONLY|unix.O_TRUNC, 0)
		if err == unix.ENOENT {
			env.logf("sysctl %s: the sandbox has no such setting; ignored", k)
			continue
		}
		if err != nil {
			return fmt.Errorf("sysctl %s: %w", k, err)
		}
		_, err = f.Write(fs.Background, []byte(val+"\n"))
		f.DecRef()
		if err != nil {
			return fmt.Errorf("sysctl %s=%q: %w", k, val, err)
		}
	}
	return nil
}

// Init returns the container's first process.
func (c *Container) Init() *process.ThreadGroup { return c.init.TG }

// Start starts the container's init. Errors: a second Start.
func (c *Container) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("container already started")
	}
	c.started = true
	c.init.Task.Start()
	return nil
}

// Status returns the container's state.
func (c *Container) Status() Status {
	select {
	case <-c.init.TG.Exited():
		return Stopped
	default:
	}
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	switch {
	case !started:
		return Created
	case c.Cgroup.Frozen():
		return Paused
	}
	return Running
}

// Wait blocks until the container's init has exited and returns its
// status. It may be called from any goroutine, any number of times.
func (c *Container) Wait() process.WaitStatus {
	<-c.init.TG.Exited()
	return c.init.TG.ExitStatus()
}

// Signal sends sig to the container's init, or with all to every process
// of the container, from outside the sandbox (SI_USER, pid 0). A created
// container's init that is killed never runs.
func (c *Container) Signal(sig int, all bool) error {
	if sig < 0 || sig > 64 {
		return unix.EINVAL
	}
	targets := []*process.ThreadGroup{c.init.TG}
	if all {
		targets = c.Cgroup.Members()
	}
	for _, tg := range targets {
		if sig == 0 {
			continue
		}
		if err := tg.SendSignalInfo(process.UserSignalInfo(sig, nil)); err != nil {
			return err
		}
	}
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if !started && sig == int(unix.SIGKILL) {
		// The init never ran: its task ends as soon as it starts.
		c.mu.Lock()
		c.started = true
		c.mu.Unlock()
		c.init.Task.Start()
	}
	return nil
}

// Pause freezes every process of the container (cgroup freezer).
func (c *Container) Pause() { c.Cgroup.Freeze() }

// Resume thaws them.
func (c *Container) Resume() { c.Cgroup.Thaw() }

// Exec starts p in the container, with term (if not nil) as its
// terminal, and returns its thread group and its terminal; the process
// has no parent in the sandbox (ReapExited collects it). The caller closes
// the console once the process has exited.
func (c *Container) Exec(p *Process, stdio Stdio, term *Terminal) (*process.ThreadGroup, *Console, error) {
	th, console, err := c.newProcess(p, stdio, term, 0, false)
	if err != nil {
		return nil, nil, err
	}
	th.Task.Start()
	return th.TG, console, nil
}

// newProcess creates (without starting) a process of the container, and
// its terminal when term asks for one.
func (c *Container) newProcess(p *Process, stdio Stdio, term *Terminal, tid int32, init bool) (th *process.Thread, console *Console, err error) {
	th, console, err = c.newProcessTerm(p, stdio, term, tid, init)
	if err != nil {
		console.Close()
		return nil, nil, err
	}
	return th, console, nil
}

func (c *Container) newProcessTerm(p *Process, stdio Stdio, term *Terminal, tid int32, init bool) (*process.Thread, *Console, error) {
	s := c.env.Sandbox
	if len(p.Args) == 0 {
		return nil, nil, errors.New("process.args must not be empty")
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, nil, fmt.Errorf("process.cwd %q must be an absolute path", cwd)
	}
	sc := p.Seccomp
	if sc == nil && !init {
		sc = c.Spec.Process.Seccomp
	}
	var filter *seccomp.Filter
	if sc != nil {
		f, err := seccomp.New(sc.Program, sc.Flags)
		if err != nil {
			return nil, nil, fmt.Errorf("linux.seccomp: the program is not a valid filter: %w", err)
		}
		filter = f
	}
	fsctx, err := c.VFS.NewFSContext("/")
	if err != nil {
		return nil, nil, err
	}
	creds, err := p.credentials()
	if err != nil {
		return nil, nil, err
	}
	fctx := &fs.Context{Creds: creds}
	loc, err := c.VFS.Resolve(fctx, fsctx, fsctx.Root(), cwd, true)
	if err == unix.ENOENT && init && c.Spec.ID != "" {
		// runc makes a missing working directory of a container's
		// first process.
		if err = mkdirAll(c.VFS, fsctx, cwd); err == nil {
			loc, err = c.VFS.Resolve(fctx, fsctx, fsctx.Root(), cwd, true)
		}
	}
	if err == nil && loc.Node.Type() != unix.S_IFDIR {
		err = unix.ENOTDIR
	}
	if err != nil {
		return nil, nil, fmt.Errorf("working directory %q: %w", cwd, errnoText(err))
	}
	fsctx.SetCwd(loc)
	// The umask is the process's, set once runc would have made the
	// working directory (with its own umask).
	if u := p.User; u != nil && u.Umask != nil {
		fsctx.SwapUmask(*u.Umask & 0777)
	}

	limits := process.HostLimits()
	if c.env.Limits != nil {
		limits = c.env.Limits.Fork()
	}
	for _, rl := range p.Rlimits {
		if rl.Resource < 0 || rl.Resource >= process.NumLimits {
			return nil, nil, fmt.Errorf("rlimit %d: no such resource", rl.Resource)
		}
		if _, err := limits.Set(rl.Resource, process.Limit{Cur: rl.Soft, Max: rl.Hard}, true); err != nil {
			return nil, nil, fmt.Errorf("rlimit %d (soft %d, hard %d): %w", rl.Resource, rl.Soft, rl.Hard, errnoText(err))
		}
	}

	var console *Console
	if term != nil {
		var size *linux.Winsize
		if cs := p.ConsoleSize; cs != nil {
			size = &linux.Winsize{Row: cs.Height, Col: cs.Width}
		}
		if console, err = AttachTerminal(c.VFS, c.PTS, term.Host, stdio, size, creds, c.env.Log); err != nil {
			return nil, nil, fmt.Errorf("terminal: %w", err)
		}
	}
	fds := vfs.NewFDTable()
	fds.SetLimit(limits.Get(unix.RLIMIT_NOFILE).Cur)
	if err := console.InstallStdio(fds, stdio); err != nil {
		fds.Release()
		return nil, console, fmt.Errorf("descriptors: %w", err)
	}

	as, err := s.Platform.NewAddressSpace()
	if err != nil {
		fds.Release()
		return nil, console, fmt.Errorf("creating an address space: %w", err)
	}
	m := mm.New(s.Zone, as, s.Platform.MaxUserAddress())
	loaded, exe, creds, err := loadProgram(c.VFS, fsctx, m, s.VDSO, p, creds)
	if err != nil {
		m.DecUsers()
		fds.Release()
		return nil, console, err
	}
	m.SetExecutable(loaded.Executable)
	m.MapLoaded()
	th := s.NewThreadGroup(process.NewThreadGroupOpts{
		TID:    tid,
		Name:   loaded.Comm,
		MM:     m,
		Regs:   arch.NewInitialRegisters(loaded.Entry, loaded.Stack),
		FDs:    fds,
		FS:     fsctx,
		Creds:  creds,
		Exe:    exe,
		Limits: limits,
		Cgroup: c.Cgroup,
		// An OCI container's first process is the init of its PID
		// namespace: it ignores signals it has no handler for, as
		// under runc (`do` runs a program as it runs natively).
		Unkillable: init && c.Spec.ID != "" && tid != 0,
	})
	// A new thread group leads a session of its own: this cannot fail.
	if err := console.SetControllingTerminal(th.TG); err != nil {
		c.env.logf("giving process %d its terminal: %v", th.TG.TGID(), err)
	}
	for sig := 1; sig <= 64; sig++ {
		if p.IgnoredSignals&(1<<(sig-1)) != 0 && sig != int(unix.SIGKILL) && sig != int(unix.SIGSTOP) {
			th.TG.SetAction(sig, process.SignalAction{Handler: linux.SIG_IGN})
		}
	}
	if p.OOMScoreAdj != nil {
		if err := th.TG.SetOOMScoreAdj(*p.OOMScoreAdj, true, false); err != nil {
			c.env.logf("process.oomScoreAdj %d: %v; ignored", *p.OOMScoreAdj, err)
		}
	}
	if filter != nil {
		// A new thread with no chain: only a program over Linux's
		// length limit fails, which New refused already.
		if err := th.AttachSeccompFilter(filter, 0); err != nil {
			c.env.logf("process %d: linux.seccomp: %v", th.TG.TGID(), err)
		}
	}
	return th, console, nil
}

// mkdirAll makes directory p and its missing parents.
func mkdirAll(v *vfs.VirtualFilesystem, fsc *vfs.FSContext, p string) error {
	if p == "/" {
		return nil
	}
	if _, err := v.Resolve(fs.Background, fsc, fsc.Root(), p, true); err == nil {
		return nil
	}
	if err := mkdirAll(v, fsc, path.Dir(p)); err != nil {
		return err
	}
	if err := v.MkdirAt(fs.Background, fsc, fsc.Root(), p, 0755); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

// errnoText turns an errno into its message ("no such file or directory").
func errnoText(err error) error {
	var en unix.Errno
	if errors.As(err, &en) {
		return errors.New(en.Error())
	}
	return err
}

// loadProgram finds p.Args[0] (through PATH when it has no slash) and
// loads it into m as creds would execve it, and returns the credentials
// it runs with (execve's transformation of the capability sets; a
// set-user-ID program changes the IDs), and the executable for
// /proc/PID/exe.
func loadProgram(v *vfs.VirtualFilesystem, fsctx *vfs.FSContext, m *mm.MemoryManager, vd *vdso.VDSO, p *Process, creds *auth.Credentials) (loader.Loaded, process.Executable, *auth.Credentials, error) {
	name := p.Args[0]
	ctx := &fs.Context{Creds: creds}
	opened := map[string]vfs.Location{}
	// Each candidate's files are denied writes from their open until it
	// is loaded or refused, as in execve (the loaded executable then
	// holds a denial of its own).
	var denials []*vfs.WriteDenial
	release := func() {
		for _, d := range denials {
			d.Release()
		}
		denials = nil
	}
	defer release()
	open := func(path string) (loader.File, string, error) {
		f, err := syscalls.OpenExecutableDenied(v, ctx, fsctx, path, &denials)
		if err != nil {
			return nil, "", err
		}
		opened[f.Path()] = f.Location()
		return syscalls.ExecFile(f), f.Path(), nil
	}
	candidates := []string{name}
	if !strings.Contains(name, "/") {
		candidates = nil
		for _, dir := range strings.Split(lookupEnv(p.Env, "PATH", "/usr/local/bin:/usr/bin:/bin"), ":") {
			if dir == "" {
				dir = "."
			}
			candidates = append(candidates, path.Join(dir, name))
		}
	}
	var firstErr error
	for _, cand := range candidates {
		var execCreds *auth.Credentials
		loaded, err := loader.Load(loader.LoadArgs{
			MM:        m,
			Open:      open,
			Filename:  cand,
			Argv:      p.Args,
			Envv:      p.Env,
			ExecCreds: syscalls.ExecCredentials(creds, &execCreds),
			MapVDSO:   vd.ForLoader(),
		})
		if err == nil {
			err = syscalls.HoldExecutable(v, ctx, m, opened, loaded.Executable)
		}
		release()
		if err == nil {
			return loaded, process.Executable{Path: loaded.Executable, Loc: opened[loaded.Executable]}, execCreds, nil
		}
		var ie *loader.InterpreterError
		if errors.As(err, &ie) {
			if ie.ELF {
				return loader.Loaded{}, process.Executable{}, nil, &ExitError{Status: 127, Err: fmt.Errorf("cannot execute %s: program interpreter %s: %v", ie.Path, ie.Interpreter, errnoText(ie.Err))}
			}
			return loader.Loaded{}, process.Executable{}, nil, &ExitError{Status: 126, Err: fmt.Errorf("%s: %s: bad interpreter: %v", ie.Path, ie.Interpreter, errnoText(ie.Err))}
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		if errors.Is(err, unix.ENOEXEC) {
			break
		}
	}
	if firstErr == nil {
		if strings.Contains(name, "/") {
			return loader.Loaded{}, process.Executable{}, nil, &ExitError{Status: 127, Err: fmt.Errorf("%s: no such file or directory in the sandbox", name)}
		}
		return loader.Loaded{}, process.Executable{}, nil, &ExitError{Status: 127, Err: fmt.Errorf("%s: command not found in the sandbox", name)}
	}
	return loader.Loaded{}, process.Executable{}, nil, &ExitError{Status: 126, Err: fmt.Errorf("cannot execute %s: %w", name, describeExecError(firstErr))}
}

func describeExecError(err error) error {
	switch {
	case errors.Is(err, unix.ENOEXEC):
		return fmt.Errorf("%w (ENOEXEC: exec format error)", err)
	case errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (EACCES: permission denied)", err)
	}
	return err
}

func lookupEnv(env []string, key, def string) string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return kv[len(key)+1:]
		}
	}
	return def
}
