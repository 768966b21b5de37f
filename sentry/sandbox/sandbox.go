// Package sandbox runs the sentry as a host process of its own: the
// launcher side (Start, Process) runs in the runsc-lite command, the
// sentry side (Main, behind the hidden `runsc-lite boot` command) in the
// child it starts.
//
// The launcher opens what the sentry will need and could not open itself
// once confined (the root directory, the volumes, the log and profile
// files, a network namespace to join), re-executes /proc/self/exe as
// `runsc-lite boot` in a new session (and, confined, in new namespaces),
// passes the descriptors as inherited files and the configuration on a
// pipe, and reads the sentry's status from another pipe: "started" when
// init is about to run, then init's wait status. (An OCI create starts
// the sentry process before it has read the config, Prestart: the
// configuration then comes on a socket, with the descriptors.) The sentry boots
// (sentry/boot), confines itself just before init runs (confine.go: an
// empty root, capabilities dropped, no_new_privs, the seccomp allow-list
// of filter.go), and exits with init's status as a shell reports it (the
// exact wait status travels on the status pipe). A sentry killed by its
// filter is reported with the syscall the kernel logged (violation.go).
//
// What it owns: a Process's exec.Cmd and its status pipe; in the sentry,
// the confinement's state. Locking: a Process's fields are written by its
// status goroutine before it closes the channels its readers wait on, or
// by Wait, and read only after.
package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Options are how the sentry process is started.
type Options struct {
	// Confinement is the sentry's confinement (zero: fully confined).
	Confinement
	// Detach makes the sentry outlive the caller (OCI create): it is not
	// killed when the caller dies, and its stdio are Stdin, Stdout and
	// Stderr (nil: /dev/null). Without Detach, nil ones are the caller's.
	Detach bool
	// Stdin, Stdout and Stderr are the sentry's stdio, which are also the
	// sandbox's.
	Stdin, Stdout, Stderr *os.File
	// ExtraFiles are passed to the sentry at descriptors ExtraFileFD(i)
	// (an OCI control socket, a console socket, preserved descriptors).
	ExtraFiles []*os.File
	// NetNS is the path of a network namespace whose interfaces
	// --network=sandbox takes over ("": none). The sentry itself runs
	// in a new, empty one either way, unless HostNetwork.
	NetNS string
	// HostNetwork keeps the sentry in the host's network namespace
	// (--network=host).
	HostNetwork bool
	// ProfileCPU, if set, receives a Go CPU profile of the sentry.
	ProfileCPU *os.File
	// Prestarted, if set, is a sentry process Prestart started, which
	// Start configures if it was started with these options (else it is
	// discarded, and a sentry started as usual).
	Prestarted *Prestarted
	// Started, if set, is called with the sentry's PID once its process
	// exists and before it reads its configuration (it has made no
	// thread or stub process of its own yet): the OCI runtime places it
	// in its host cgroup there. An error ends the sentry and Start.
	Started func(pid int) error
}

// ExtraFileFD is the sentry's descriptor number of Options.ExtraFiles[i].
func ExtraFileFD(i int) int { return 3 + i }

// Process is a started sentry process.
type Process struct {
	cmd *exec.Cmd
	// autoPlatform: the sentry chooses its platform (--platform=auto);
	// its choice is remembered for the boot (platform.go).
	autoPlatform bool

	// started is closed when the sentry reported "started" or is known
	// not to start; startErr is then set.
	started  chan struct{}
	startErr error
	// statusDone is closed when the status pipe reached EOF; exit and
	// bootErr are then set if the sentry sent them.
	statusDone chan struct{}
	exit       *process.WaitStatus
	bootErr    *boot.ExitError

	// seccompLog is Options.SeccompLog; logged are the syscalls the
	// kernel logged for the sentry's filter, read by Wait.
	seccompLog bool
	logged     []string
}

// Start starts a sentry process running cfg. cfg.Log's level and output
// (when it is a file) become the sentry's; the first container's root and
// its bind mounts' host directories are opened here.
func Start(cfg boot.Config, opts Options) (*Process, error) {
	if builtWithCgo && !opts.Unconfined {
		return nil, &boot.ExitError{Status: 125, Err: errors.New("this runsc-lite was built with cgo, with which the sentry cannot confine itself: build it with CGO_ENABLED=0 (as make build does), or run it with --unconfined")}
	}
	opts.Confinement.Network = cfg.Network
	autoPlatform := cfg.Platform == "" || cfg.Platform == "auto"
	if autoPlatform {
		if name, reason, ok := knownAutoChoice(); ok {
			cfg.Platform = name
			autoPlatform = false
			if cfg.Log != nil {
				cfg.Log.Debugf("platform auto: %s, as chosen before on this boot (%s): %s", name, filepath.Join(platformMemoryDir, platformMemoryFile), reason)
			}
		}
	}
	msg := bootMessage{
		LogFD:       -1,
		ProfileFD:   -1,
		StatusFD:    -1,
		NetNSFD:     -1,
		Confinement: opts.Confinement,
	}
	files := append([]*os.File(nil), opts.ExtraFiles...)
	var toClose []*os.File
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	// pass adds f to the sentry's inherited files and returns its number
	// there.
	pass := func(f *os.File) int {
		files = append(files, f)
		return 2 + len(files)
	}
	openDir := func(p string) (*os.File, error) {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(fd), p)
		toClose = append(toClose, f)
		return f, nil
	}

	if cfg.PidsLimit == 0 {
		// The default task limit follows the host's pid_max, which
		// is per PID namespace (Linux 6.14 on): the sentry's own PID
		// namespace reads the kernel's default, not the host's.
		cfg.PidsLimit = boot.DefaultPidsLimit()
	}
	// The first container's host paths: its root, and the directories
	// its bind mounts are made of.
	cs := &cfg.Container
	cs.Mounts = append(cs.Mounts[:0:0], cs.Mounts...)
	if cs.Process.User == nil {
		// The sandbox's first process is the launcher's user, whatever
		// identity the confined sentry process ends up with.
		cs.Process.User = hostUser()
	}
	root := cs.Root.Path
	if root == "" {
		root = "/"
	}
	rf, err := openDir(root)
	if err != nil {
		return nil, &boot.ExitError{Status: 125, Err: fmt.Errorf("root %q: %w", root, err)}
	}
	cs.Root.FD = pass(rf)
	for i, m := range cs.Mounts {
		if !m.IsBind() {
			continue
		}
		dir, name, err := m.BindDir()
		if err != nil {
			return nil, &boot.ExitError{Status: 125, Err: fmt.Errorf("mount %s: source %s: %w", m.Destination, m.Source, errors.Unwrap(err))}
		}
		cs.Mounts[i].HostDir, cs.Mounts[i].HostName = dir, name
		df, err := openDir(dir)
		if err != nil {
			return nil, &boot.ExitError{Status: 125, Err: fmt.Errorf("mount %s: source %s: %w", m.Destination, m.Source, err)}
		}
		cs.Mounts[i].HostFD = pass(df)
	}

	level := logrus.WarnLevel
	if cfg.Log != nil {
		level = cfg.Log.GetLevel()
		if f, ok := cfg.Log.Out.(*os.File); ok && f != os.Stderr {
			msg.LogFD = pass(f)
		}
	}
	msg.LogLevel = level.String()
	if cfg.Log != nil {
		_, msg.LogJSON = cfg.Log.Formatter.(*logrus.JSONFormatter)
	}
	if opts.ProfileCPU != nil {
		msg.ProfileFD = pass(opts.ProfileCPU)
	}
	if opts.NetNS != "" {
		nf, err := os.Open(opts.NetNS)
		if err != nil {
			return nil, &boot.ExitError{Status: 125, Err: fmt.Errorf("network namespace: %w", err)}
		}
		toClose = append(toClose, nf)
		msg.NetNSFD = pass(nf)
	}

	if !opts.Detach && opts.Stdin == nil && opts.Stdout == nil && opts.Stderr == nil {
		// The sentry runs in a session of its own and cannot see whether
		// the caller is in its terminal's foreground: a caller in the
		// background keeps its shell's terminal as it is.
		cfg.LeaveTerminal = cfg.LeaveTerminal || !container.StdioTerminalForeground()
	}
	msg.Config = cfg
	msg.Config.Log = nil

	if ps := opts.Prestarted; ps != nil {
		if ps.fits(opts, files) {
			return ps.boot(&msg, files, opts, autoPlatform)
		}
		ps.Discard()
	}

	bootR, bootW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	toClose = append(toClose, bootR)
	defer bootW.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	toClose = append(toClose, statusW)
	bootFD := pass(bootR)
	msg.StatusFD = pass(statusW)

	cmd := sentryCmd([]string{"--boot-fd=" + strconv.Itoa(bootFD)}, files, opts)
	if err := startSentry(cmd, opts); err != nil {
		statusR.Close()
		return nil, err
	}
	p := newProcess(cmd, opts, autoPlatform)
	go p.readStatus(statusR)
	if opts.Started != nil {
		if err := opts.Started(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			p.Wait()
			return nil, err
		}
	}
	if err := writeBootMessage(bootW, &msg); err != nil {
		cmd.Process.Kill()
		p.Wait()
		return nil, fmt.Errorf("sending the sentry its configuration: %w", err)
	}
	return p, nil
}

// sentryCmd is the command that starts a sentry process (`runsc-lite
// boot` with args), inheriting files at descriptors 3 on.
func sentryCmd(args []string, files []*os.File, opts Options) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append([]string{"runsc-lite", "boot"}, args...),
		Env:        os.Environ(),
		ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			// A session of its own: a terminal's signals (^C,
			// window size) reach the caller, which forwards them
			// once; the sentry never stops for terminal job
			// control on the terminal it serves the sandbox.
			Setsid: true,
		},
	}
	if !opts.Unconfined {
		// New mount, PID, IPC and UTS namespaces; a new, empty
		// network namespace too unless the sentry keeps the host's
		// (--network=host; with --network=sandbox, only the
		// takeover's thread visits the namespace it takes over). The
		// sentry is PID 1 of its PID namespace: when it dies, for
		// whatever reason, the kernel kills every stub.
		cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS
		if !opts.HostNetwork {
			cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNET
		}
		if os.Geteuid() != 0 {
			rootless(cmd.SysProcAttr)
		}
	}
	if !opts.Detach {
		cmd.SysProcAttr.Pdeathsig = unix.SIGKILL
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	if opts.Stdin != nil {
		cmd.Stdin = opts.Stdin
	}
	if opts.Stdout != nil {
		cmd.Stdout = opts.Stdout
	}
	if opts.Stderr != nil {
		cmd.Stderr = opts.Stderr
	}
	return cmd
}

// startSentry starts cmd (sentryCmd).
func startSentry(cmd *exec.Cmd, opts Options) error {
	// Whatever this process inherited and did not mean to pass on (a
	// shell's descriptors) must not reach the sentry: os/exec passes every
	// descriptor that is not close-on-exec.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	// Start the sentry from a thread whose bounding set is already what
	// the sentry keeps: it inherits it on every thread (see
	// dropBoundingOnThisThread). The thread goes back to the pool with
	// the smaller bounding set, which matters to nothing the launcher
	// does.
	runtime.LockOSThread()
	if !opts.Unconfined {
		dropBoundingOnThisThread(opts.Confinement)
	}
	err := cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		if errors.Is(err, unix.EPERM) && !opts.Unconfined && os.Geteuid() != 0 {
			return fmt.Errorf("starting the sentry in namespaces of its own: %w (this host may not let unprivileged users make user namespaces; run as root, or with --unconfined)", err)
		}
		return fmt.Errorf("starting the sentry: %w", err)
	}
	return nil
}

func newProcess(cmd *exec.Cmd, opts Options, autoPlatform bool) *Process {
	return &Process{
		cmd:        cmd,
		started:    make(chan struct{}),
		statusDone: make(chan struct{}),
		seccompLog: opts.SeccompLog,
		// Set before the status goroutine starts.
		autoPlatform: autoPlatform,
	}
}

// Prestarted is a sentry process started before its configuration is
// known (Prestart): while the caller reads and checks the container's
// config, the new process runs the Go runtime's and the packages'
// initialisation (~5 ms and ~450 page faults here), then waits on its
// boot socket, from which Start sends the boot message and, with it
// (SCM_RIGHTS), the descriptors a sentry otherwise inherits.
type Prestarted struct {
	cmd *exec.Cmd
	// sock is this side of the boot socket; statusR the status pipe's
	// read end.
	sock    int
	statusR *os.File
	// opts are the options it was started with, which Start's must
	// match (Prestarted.fits).
	opts Options
}

// Prestart starts a sentry process for Start to configure later with
// opts (Options.Prestarted), in network mode none (its bounding set is
// that mode's), with the caller's stdio. Start uses it only if its
// options match; otherwise, and whenever the caller does not call Start,
// Discard must end it.
func Prestart(opts Options) (*Prestarted, error) {
	if builtWithCgo && !opts.Unconfined {
		return nil, errors.New("built with cgo")
	}
	opts.Confinement.Network = boot.NetworkNone
	opts.HostNetwork = false
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	child := os.NewFile(uintptr(fds[1]), "boot socket")
	defer child.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	defer statusW.Close()
	// Descriptors 3 to 3+prestartFDs-1 hold /dev/null until the boot
	// message brings the files that take their places: the new
	// process's own descriptors (the Go runtime's epoll, say) are made
	// above them.
	null, err := os.Open(os.DevNull)
	if err != nil {
		unix.Close(fds[0])
		statusR.Close()
		return nil, err
	}
	defer null.Close()
	files := make([]*os.File, prestartFDs, prestartFDs+2)
	for i := range files {
		files[i] = null
	}
	files = append(files, child, statusW)
	cmd := sentryCmd([]string{
		"--boot-fd=" + strconv.Itoa(3+prestartFDs), "--boot-socket",
		"--status-fd=" + strconv.Itoa(4+prestartFDs), "--reserved-fds=" + strconv.Itoa(prestartFDs),
	}, files, opts)
	// Started from a thread of its own, which never returns to the
	// pool: its bounding set is this sentry's, smaller than another
	// kind's (a Start after Discard must not inherit it), and the
	// sentry's Pdeathsig follows the thread that started it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := startSentry(cmd, opts)
		errc <- err
		if err == nil {
			<-make(chan struct{})
		}
	}()
	if err := <-errc; err != nil {
		unix.Close(fds[0])
		statusR.Close()
		return nil, err
	}
	return &Prestarted{cmd: cmd, sock: fds[0], statusR: statusR, opts: opts}, nil
}

// prestartFDs is how many files a prestarted sentry can be given (a
// control socket, the root, a directory per bind mount, a terminal, a log,
// preserved descriptors: a podman container has about ten).
const prestartFDs = 64

// fits reports whether the prestarted sentry was started as Start would
// start one with opts, to be given files.
func (ps *Prestarted) fits(opts Options, files []*os.File) bool {
	o := ps.opts
	return len(files) <= prestartFDs && opts.Detach == o.Detach && opts.Unconfined == o.Unconfined && opts.HostNetwork == o.HostNetwork &&
		opts.Confinement.Network == o.Confinement.Network && slices.Equal(opts.DropCaps, o.DropCaps) &&
		opts.Stdin == o.Stdin && opts.Stdout == o.Stdout && opts.Stderr == o.Stderr
}

// Discard ends a prestarted sentry that Start did not take (nil:
// nothing): it is killed and reaped.
func (ps *Prestarted) Discard() {
	if ps == nil || ps.cmd == nil {
		return
	}
	ps.cmd.Process.Kill()
	ps.cmd.Wait()
	unix.Close(ps.sock)
	ps.statusR.Close()
	ps.cmd = nil
}

// boot sends the prestarted sentry its configuration and files, as
// Start would have passed them (files[i] at descriptor 3+i).
func (ps *Prestarted) boot(msg *bootMessage, files []*os.File, opts Options, autoPlatform bool) (*Process, error) {
	cmd := ps.cmd
	ps.cmd = nil // taken
	defer unix.Close(ps.sock)
	p := newProcess(cmd, opts, autoPlatform)
	go p.readStatus(ps.statusR)
	if opts.Started != nil {
		if err := opts.Started(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			p.Wait()
			return nil, err
		}
	}
	msg.FDs = len(files)
	if err := sendBootMessage(ps.sock, msg, files); err != nil {
		cmd.Process.Kill()
		p.Wait()
		return nil, fmt.Errorf("sending the sentry its configuration: %w", err)
	}
	return p, nil
}

// rootless makes an unprivileged user's sentry: the namespaces are made in
// a new user namespace that maps the user (and group) to themselves, and
// the sentry keeps, across its exec, the capabilities the confinement
// needs in that namespace (confineCaps), which it then drops with the
// rest.
// The sentry stays the user: it can do to host files what the user can,
// and nothing more (it keeps no capability once confined).
func rootless(attr *syscall.SysProcAttr) {
	uid, gid := os.Getuid(), os.Getgid()
	attr.Cloneflags |= unix.CLONE_NEWUSER
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
	attr.GidMappingsEnableSetgroups = false
	attr.AmbientCaps = confineCaps
}

func writeBootMessage(w io.Writer, m *bootMessage) error {
	b, err := marshalBootMessage(m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// readStatus reads the status pipe until EOF (the sentry exited, or
// closed it).
func (p *Process) readStatus(r *os.File) {
	defer r.Close()
	startedOnce := false
	markStarted := func(err error) {
		if !startedOnce {
			startedOnce = true
			p.startErr = err
			close(p.started)
		}
	}
	for m := range decodeStatus(r) {
		switch m.Event {
		case "started":
			if p.autoPlatform {
				rememberAutoChoice(m.Platform, m.PlatformWhy)
			}
			markStarted(nil)
		case "error":
			p.bootErr = &boot.ExitError{Status: m.ExitStatus, Err: errors.New(m.Error)}
			markStarted(p.bootErr)
		case "exit":
			ws := process.WaitStatus(m.WaitStatus)
			p.exit = &ws
		}
	}
	markStarted(errors.New("the sentry exited before its program started"))
	close(p.statusDone)
}

// Pid returns the sentry's host PID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the sentry, which forwards the signals of
// process.HostSignals to the sandbox's init.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Started blocks until the sandbox's init is loaded and about to run
// (nil) or the sandbox failed to start (a *boot.ExitError when it
// reported why).
func (p *Process) Started() error {
	<-p.started
	return p.startErr
}

// SentryDiedError is the sentry process dying without reporting init's
// status.
type SentryDiedError struct {
	Pid int
	// Signal killed the sentry (0: it exited with Status).
	Signal unix.Signal
	Status int
	// Detail adds what is known of why (the seccomp violation's
	// syscall).
	Detail string
}

func (e *SentryDiedError) Error() string {
	var s string
	switch {
	case e.Signal == unix.SIGSYS:
		s = fmt.Sprintf("the sentry (pid %d) violated its seccomp filter and was killed (SIGSYS)", e.Pid)
	case e.Signal != 0:
		s = fmt.Sprintf("the sentry (pid %d) was killed by %s", e.Pid, unix.SignalName(e.Signal))
	default:
		s = fmt.Sprintf("the sentry (pid %d) exited with status %d without reporting its program's status", e.Pid, e.Status)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// ShellStatus is what runsc-lite exits with after such a death: 128+N for
// a signal, 125 otherwise.
func (e *SentryDiedError) ShellStatus() int {
	if e.Signal != 0 {
		return 128 + int(e.Signal)
	}
	return 125
}

// SeccompLogged returns, after Wait, the syscalls ("41 (socket)") that the
// sentry made outside its allow-list while its filter was in log-only mode
// (Options.SeccompLog), as the kernel's audit records in its log show them
// (nothing when the kernel log cannot be read).
func (p *Process) SeccompLogged() []string { return p.logged }

// Wait waits for the sentry to exit and returns its init's wait status. A
// sandbox that did not start returns a *boot.ExitError (the status
// runsc-lite exits with, and why); a sentry that died without reporting
// returns a *SentryDiedError.
func (p *Process) Wait() (process.WaitStatus, error) {
	err := p.cmd.Wait()
	<-p.statusDone
	if p.seccompLog {
		p.logged = seccompAudit(p.Pid(), true)
	}
	if p.exit != nil {
		return *p.exit, nil
	}
	if p.bootErr != nil {
		return 0, p.bootErr
	}
	ps := p.cmd.ProcessState
	if ps == nil {
		return 0, err
	}
	ws := ps.Sys().(syscall.WaitStatus)
	de := &SentryDiedError{Pid: p.Pid()}
	if ws.Signaled() {
		de.Signal = unix.Signal(ws.Signal())
		if de.Signal == unix.SIGSYS {
			de.Detail = seccompViolation(p.Pid())
		}
	} else {
		de.Status = ws.ExitStatus()
	}
	return 0, de
}

// hostUser returns this process's user and groups, as a process.user.
func hostUser() *container.User {
	u := &container.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	return u
}
