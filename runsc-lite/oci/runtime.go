// Package oci is the OCI runtime behind runsc-lite's runc-compatible
// verbs: bundles (config.json checked and turned into the sandbox's
// configuration, spec.go), the state directory under --root (state.go),
// hooks (hooks.go), the sentry's host cgroup (cgroup.go), and the
// lifecycle operations (create, start, kill, delete, exec, ps, pause,
// ...) that start sentries through package sandbox and drive them through
// their control channel (package control).
//
// A container that owns a sandbox is run by a sentry process of its own:
// its state's pid is a stand-in (standin.go), a small host process in the
// config's namespaces and cgroup that lives as long as the container's
// init and exits as it did; the sentry keeps its own confinement
// namespaces and a cgroup beside the config's. A container that joins a
// sandbox (a Kubernetes pod's, by the CRI annotations) runs in that
// sandbox's sentry; its pid is a waiter process (proxy.go) that lives as long as
// its init and exits as it did, as does the pid of a detached exec.
//
// Locking: each operation that changes a container holds its state
// directory's lock (state.go) for its whole length; the sentry serializes
// the rest.
package oci

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/control"
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"github.com/runsc-lite/runsc-lite/sentry/sandbox"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// DefaultRoot is the default state directory.
const DefaultRoot = "/var/run/runsc-lite"

// SentryFlags are the global flags every new sentry gets.
type SentryFlags struct {
	Platform    string
	CPUs        int
	TotalMemory uint64
	SwapSize    uint64
	Strace      bool
	Network     string
	// Confinement is the sentry's (--unconfined, --seccomp-log and
	// the test knobs).
	Confinement sandbox.Confinement
	// PidsLimit is --pids-limit, the sandbox's task limit (0: the
	// default; -1: none); linux.resources.pids.limit lowers it.
	PidsLimit int
	// LogFile is where sentries log (nil: nowhere; a detached sentry's
	// stderr is its container's).
	LogFile *os.File
	// LogLevel is the sentry's log level.
	LogLevel logrus.Level
}

// Runtime is the OCI runtime for one state root.
type Runtime struct {
	// Root is the state directory (--root).
	Root string
	// Log is the runtime's own log (--log, --log-format).
	Log *logrus.Logger
	// SystemdCgroup reads cgroupsPath as slice:prefix:name.
	SystemdCgroup bool
	Sentry        SentryFlags
}

// CreateOptions are create's and run's.
type CreateOptions struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	PreserveFDs   int
	// Foreground keeps the sentry a child of the caller, killed with it
	// (run without --detach).
	Foreground bool
}

// Created is a container create made.
type Created struct {
	State *State
	// Sentry is the sentry process when the container owns a sandbox
	// and was created by this process.
	Sentry *sandbox.Process
	// console is the container's terminal when the caller relays it
	// (a foreground run with process.terminal and no console socket).
	console *console
}

// Relay relays the container's terminal, if this process holds it,
// between this process's stdio and the terminal (runc's foreground
// terminal); the returned function, called once the container has
// exited, waits for its last output and restores this process's
// terminal.
func (c *Created) Relay() (finish func()) {
	if c.console == nil {
		return func() {}
	}
	return c.console.relay()
}

// Create makes container o.ID from bundle o.Bundle: a new sandbox whose
// init is created and not started, or a container that joins an existing
// sandbox. A failed create leaves no process, cgroup or state behind.
func (r *Runtime) Create(o CreateOptions) (_ *Created, retErr error) {
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	if err := validateID(o.ID); err != nil {
		return nil, err
	}
	// The sentry process starts now, in the usual case's namespaces
	// and with its bounding set: its Go runtime and package
	// initialisation (~5 ms here) run while this process reads the
	// config and makes the state directory, and it waits for its
	// configuration. A config that needs another kind of sentry (its
	// own terminal, the host's network, a pod's sandbox) discards it.
	var ps *sandbox.Prestarted
	if r.Sentry.Network == "" || r.Sentry.Network == boot.NetworkNone {
		ps, _ = sandbox.Prestart(r.sentryOptions(o.Foreground))
		defer ps.Discard()
	}
	spec, err := LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	cs, sb, warns, err := Convert(spec, bundle, o.ID)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		r.Log.Warn(w)
	}
	if err := checkTerminal(cs.Process.Terminal, !o.Foreground, o.ConsoleSocket); err != nil {
		return nil, err
	}
	var preserved []*os.File
	for i := 0; i < o.PreserveFDs; i++ {
		fd := 3 + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("unable to stat preserved-fd %d (of %d): %w", i, o.PreserveFDs, err)
		}
		preserved = append(preserved, os.NewFile(uintptr(fd), "preserved-fd-"+strconv.Itoa(fd)))
	}
	d, err := makeDir(r.Root, o.ID)
	if err != nil {
		return nil, err
	}
	c := &Created{State: &State{
		OCIVersion:  spec.Version,
		ID:          o.ID,
		Status:      specs.StateCreating,
		Bundle:      bundle,
		Rootfs:      cs.Root.Path,
		Created:     time.Now().UTC(),
		Annotations: spec.Annotations,
		Sandbox:     o.ID,
		Hooks:       spec.Hooks,
	}}
	defer func() {
		if retErr != nil {
			r.abortCreate(d, c)
			c.console.close()
		}
		d.close()
	}()
	var replica *os.File
	if cs.Process.Terminal {
		cons, err := newConsole(cs.Process.ConsoleSize)
		if err != nil {
			return nil, err
		}
		// The sentry has its own replica once it runs (or the
		// create failed).
		defer cons.closeReplica()
		if o.ConsoleSocket != "" {
			err = cons.send(o.ConsoleSocket)
		} else {
			c.console = cons
			if cs.Process.ConsoleSize == nil {
				cons.takeSize()
			}
		}
		if err != nil {
			cons.close()
			return nil, err
		}
		replica = cons.replica
	}
	h := spec.Hooks
	createHooks := h != nil && len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer) > 0
	staged := false
	if sandboxID, ok := joins(spec.Annotations); ok {
		if err := r.join(d, c, &cs, sandboxID, preserved, replica); err != nil {
			return nil, err
		}
	} else if err := r.startSandbox(d, c, &cs, &sb, preserved, replica, o.Foreground, ps, func() error {
		// While the sentry builds the container, the "created" state
		// is written aside, to be renamed into place once it has:
		// the JSON encoding and the file's creation are not on the
		// path to start. With create-time hooks the state is written
		// below, "creating" first.
		if createHooks {
			return nil
		}
		st := *c.State
		st.Status = specs.StateCreated
		if err := d.stage(&st); err != nil {
			return err
		}
		staged = true
		return nil
	}); err != nil {
		return nil, err
	}
	st := c.State
	if staged {
		st.Status = specs.StateCreated
		if err := d.commit(); err != nil {
			return nil, err
		}
	} else if createHooks {
		// The hooks may look the container up: it is "creating"
		// while they run. Without them the state is written once,
		// "created" (a reader before that finds no container, as
		// it does while the sandbox starts).
		if err := d.write(st); err != nil {
			return nil, err
		}
		ss := st.spec(specs.StateCreating)
		if err := runHooks("prestart", h.Prestart, ss); err != nil {
			return nil, err
		}
		if err := runHooks("createRuntime", h.CreateRuntime, ss); err != nil {
			return nil, err
		}
		if err := runHooks("createContainer", h.CreateContainer, ss); err != nil {
			return nil, err
		}
	}
	if !staged {
		st.Status = specs.StateCreated
		if err := d.write(st); err != nil {
			return nil, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, st.Pid); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// checkTerminal applies runc's rules on terminals and console sockets.
func checkTerminal(terminal, detach bool, consoleSocket string) error {
	if detach && terminal && consoleSocket == "" {
		return errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	if (!detach || !terminal) && consoleSocket != "" {
		return errors.New("cannot use console socket if runc will not detach or allocate tty")
	}
	return nil
}

// joins reports whether annotations put the container into an existing
// sandbox (containerd's CRI plugin and cri-o group a pod this way), and
// which.
func joins(annotations map[string]string) (string, bool) {
	if annotations[annotationContainerType] != criContainer {
		return "", false
	}
	id := annotations[annotationSandboxID]
	return id, id != ""
}

// abortCreate undoes a failed create: the sentry and the stand-in or
// waiter are killed and reaped, the cgroups and the state directory
// removed.
func (r *Runtime) abortCreate(d *dir, c *Created) {
	st := c.State
	if c.Sentry != nil {
		c.Sentry.Signal(unix.SIGKILL)
		c.Sentry.Wait()
	}
	if st.Pid > 0 && st.alive() {
		unix.Kill(st.Pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(st.Pid, &ws, 0, nil)
	}
	if st.Sandbox != st.ID {
		if sd, err := openDir(r.Root, st.Sandbox); err == nil {
			control.Client{Path: sd.socketPath()}.Call(control.Request{Op: control.OpDelete, Container: st.ID})
			sd.close()
		}
	}
	removeCgroups(st.Cgroups)
	if err := removeDir(d.path); err != nil {
		r.Log.Warn(err)
	}
}

// startSandbox starts a sentry for the container, created and waiting
// for start; console, if not nil, is the replica of init's terminal.
// meanwhile is called once c.State is complete (but for its status), while
// the sentry builds the container.
func (r *Runtime) startSandbox(d *dir, c *Created, cs *container.Spec, sb *Sandbox, preserved []*os.File, console *os.File, foreground bool, ps *sandbox.Prestarted, meanwhile func() error) error {
	si, warns, err := newStandIn(sb)
	if err != nil {
		return err
	}
	defer si.close()
	for _, w := range warns {
		r.Log.Warn(w)
	}
	cfg := boot.Config{
		Container:   *cs,
		Platform:    r.Sentry.Platform,
		CPUs:        r.Sentry.CPUs,
		TotalMemory: r.Sentry.TotalMemory,
		SwapSize:    r.Sentry.SwapSize,
		Strace:      r.Sentry.Strace,
		Hostname:    sb.Hostname,
		Domainname:  sb.Domainname,
		// A terminal on the caller's stdio is passed through, as runc
		// passes it; init has a terminal of the sandbox only with
		// process.terminal.
		LeaveTerminal: true,
	}
	if sb.CPUs > 0 && (cfg.CPUs == 0 || sb.CPUs < cfg.CPUs) {
		cfg.CPUs = sb.CPUs
	}
	// The sandbox's task limit; linux.resources.pids.limit is the
	// container's own (container.Spec.PidsLimit), so that each
	// container of a pod has its own.
	cfg.PidsLimit = r.Sentry.PidsLimit
	if sb.TotalMemory > 0 {
		if sb.TotalMemory < 16<<20 {
			return fmt.Errorf("linux.resources.memory.limit %d is below the sandbox's minimum of 16 MiB", sb.TotalMemory)
		}
		cfg.TotalMemory = sb.TotalMemory
	}
	if cfg.Hostname == "" {
		// runc leaves the host's name when the config sets none; the
		// sandbox always has a UTS namespace of its own.
		cfg.Hostname, _ = os.Hostname()
	}
	network, netns, atStart, err := r.networkMode(sb)
	if err != nil {
		return err
	}
	cfg.Network = network
	c.State.NetworkAtStart = atStart
	ln, err := listen(d.socketPath())
	if err != nil {
		return err
	}
	defer ln.Close()
	extra := []*os.File{ln}
	cfg.Control = &boot.Control{ListenFD: sandbox.ExtraFileFD(0), WaitForStart: true, AdoptLinks: atStart}
	cfg.InitFDs = container.Stdio{0: 0, 1: 1, 2: 2}
	if console != nil {
		// They are the terminal.
		cfg.InitFDs = container.Stdio{}
	}
	for i, f := range preserved {
		cfg.InitFDs[int32(3+i)] = sandbox.ExtraFileFD(len(extra))
		extra = append(extra, f)
	}
	if console != nil {
		cfg.ConsoleFD = sandbox.ExtraFileFD(len(extra))
		extra = append(extra, console)
	}
	cgPath, err := cgroupPath(sb.CgroupsPath, r.SystemdCgroup, c.State.ID)
	if err != nil {
		return err
	}
	// Nothing asks for a host cgroup: the sentry and the stand-in stay
	// in their caller's (making and removing one costs tens of
	// milliseconds on cgroup v1).
	hostCgroup := sb.CgroupsPath != "" || limits(sb.Resources)
	// The sentry's log: its level, and its file when it has one.
	cfg.Log = logrus.New()
	cfg.Log.SetLevel(r.Sentry.LogLevel)
	// One format in the log the sentry shares with the CLI: a text
	// line in a JSON log stops the containerd shim's reading of the
	// runtime's last error.
	cfg.Log.Formatter = r.Log.Formatter
	if r.Sentry.LogFile != nil {
		cfg.Log.SetOutput(r.Sentry.LogFile)
	}
	opts := r.sentryOptions(foreground)
	opts.ExtraFiles = extra
	opts.NetNS = netns
	opts.HostNetwork = network == boot.NetworkHost
	opts.Prestarted = ps
	opts.Started = func(pid int) error {
		if !hostCgroup {
			return nil
		}
		made, warns := placeCgroup(sentryCgroup(cgPath), sb.Resources, pid, true)
		c.State.Cgroups = append(c.State.Cgroups, made...)
		for _, w := range warns {
			r.Log.Warn(w)
		}
		return nil
	}
	if console != nil {
		// Init's stdin, stdout and stderr are the terminal: a detached
		// sentry keeps none of the caller's (the containerd shim runs
		// create with a terminal reading its output until it ends).
		opts.Stdin, opts.Stdout, opts.Stderr = nil, nil, nil
	}
	p, err := sandbox.Start(cfg, opts)
	if err != nil {
		return err
	}
	c.Sentry = p
	c.State.SentryPid = p.Pid()
	c.State.SentryStart = processStart(p.Pid())
	// The stand-in, while the sentry boots: its session waits in the
	// control socket's backlog until the sentry serves it, once the
	// container is built.
	pid, err := si.launch(control.Client{Path: d.socketPath()}, c.State.ID)
	if err != nil {
		return fmt.Errorf("the container's host process: %w", err)
	}
	c.State.Pid = pid
	c.State.PidStart = processStart(pid)
	if hostCgroup {
		made, warns := placeCgroup(cgPath, sb.Resources, pid, false)
		c.State.Cgroups = append(c.State.Cgroups, made...)
		for _, w := range warns {
			r.Log.Warn(w)
		}
	}
	if err := meanwhile(); err != nil {
		return err
	}
	// The sentry reports "started" once the container is built (its
	// init created, not running), or why it could not build it.
	if err := p.Started(); err != nil {
		return err
	}
	return nil
}

// sentryOptions are the options of the sentry of a container that owns
// its sandbox, before its config is read.
func (r *Runtime) sentryOptions(foreground bool) sandbox.Options {
	return sandbox.Options{
		Confinement: r.Sentry.Confinement,
		Detach:      !foreground,
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
	}
}

// listen makes the control socket at path and returns it, listening.
func listen(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "control"), nil
}

// join makes the container in sandbox sandboxID's sentry and starts its
// waiter; console, if not nil, is the replica of its init's terminal.
func (r *Runtime) join(d *dir, c *Created, cs *container.Spec, sandboxID string, preserved []*os.File, console *os.File) error {
	sd, err := openDir(r.Root, sandboxID)
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", sandboxID, err)
	}
	defer sd.close()
	sst, err := sd.read()
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", sandboxID, err)
	}
	if !sst.alive() {
		return fmt.Errorf("sandbox %s: %w", sandboxID, ErrNotRunning)
	}
	c.State.Sandbox = sst.Sandbox
	if err := privateRootfs(d, cs); err != nil {
		return err
	}
	if c.State.Sandbox != sandboxID {
		if sd, err = openDir(r.Root, c.State.Sandbox); err != nil {
			return fmt.Errorf("sandbox %s: %w", c.State.Sandbox, err)
		}
		defer sd.close()
	}
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	stdio := []int32{0, 1, 2}
	if console != nil {
		// Init's stdin, stdout and stderr are the terminal.
		files, stdio = nil, nil
	}
	for i, f := range preserved {
		files = append(files, f)
		stdio = append(stdio, int32(3+i))
	}
	if console != nil {
		files = append(files, console)
	}
	// The container's host directories go as descriptors: the sentry
	// opens no host path by name once it runs.
	dirs, err := specDirs(cs)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range dirs {
			f.Close()
		}
	}()
	cl := control.Client{Path: sd.socketPath()}
	if _, err := cl.Call(control.Request{Op: control.OpCreate, Container: cs.ID, Spec: cs, Stdio: stdio, Console: console != nil}, append(files, dirs...)...); err != nil {
		return err
	}
	pid, err := startProxy(sd, control.Request{Op: control.OpWait, Container: cs.ID}, nil, nil)
	if err != nil {
		return err
	}
	c.State.Pid = pid
	c.State.PidStart = processStart(pid)
	return nil
}

// specDirs opens cs's root and the host directories of its bind mounts
// and numbers them in cs (Root.FD, Mounts[i].HostFD: 1-based, in the
// order returned), for a create request.
func specDirs(cs *container.Spec) ([]*os.File, error) {
	var files []*os.File
	open := func(p string) (int, error) {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return 0, err
		}
		files = append(files, os.NewFile(uintptr(fd), p))
		return len(files), nil
	}
	n, err := open(cs.Root.Path)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", cs.Root.Path, err)
	}
	cs.Root.FD = n
	for i, m := range cs.Mounts {
		if !m.IsBind() {
			continue
		}
		dir, name, err := m.BindDir()
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("mount %s: source %s: %w", m.Destination, m.Source, err)
		}
		cs.Mounts[i].HostDir, cs.Mounts[i].HostName = dir, name
		if n, err = open(dir); err != nil {
			return nil, fmt.Errorf("mount %s: source %s: %w", m.Destination, m.Source, err)
		}
		cs.Mounts[i].HostFD = n
	}
	return files, nil
}

// privateRootfs gives the sentry its own bind mount of a joining
// container's rootfs, in the state directory. The sentry keeps host
// descriptors of the files it serves; on the engine's own mount of the
// rootfs they would make the engine's unmount after delete fail (EBUSY),
// as they do for containerd's. The bind mount is detached at delete.
func privateRootfs(d *dir, cs *container.Spec) error {
	if os.Geteuid() != 0 {
		return nil
	}
	p := filepath.Join(d.path, rootfsDir)
	if err := os.Mkdir(p, 0o700); err != nil {
		return err
	}
	if err := unix.Mount(cs.Root.Path, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting the rootfs %s: %w", cs.Root.Path, err)
	}
	if err := unix.Mount("", p, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making the rootfs mount private: %w", err)
	}
	cs.Root.Path = p
	return nil
}

// open returns the open (unlocked) state directory of id and its state:
// for the calls that only read.
func (r *Runtime) open(id string) (*dir, *State, error) {
	d, err := openDir(r.Root, id)
	if err != nil {
		return nil, nil, err
	}
	st, err := d.read()
	if err != nil {
		d.close()
		return nil, nil, err
	}
	return d, st, nil
}

// load returns the open, locked state directory of id and its state.
// A directory without state (a create that died) is removed, and reads
// as ErrNotExist.
func (r *Runtime) load(id string) (*dir, *State, error) {
	d, err := openDir(r.Root, id)
	if err != nil {
		return nil, nil, err
	}
	d.lock()
	st, err := d.read()
	if err != nil {
		d.close()
		return nil, nil, err
	}
	return d, st, nil
}

// client returns the control client of st's sandbox, and a function that
// releases what it holds.
func (r *Runtime) client(d *dir, st *State) (control.Client, func()) {
	if st.Sandbox == st.ID {
		return control.Client{Path: d.socketPath()}, func() {}
	}
	sd, err := openDir(r.Root, st.Sandbox)
	if err != nil {
		return control.Client{Path: filepath.Join(r.Root, st.Sandbox, socketFile)}, func() {}
	}
	return control.Client{Path: sd.socketPath()}, sd.close
}

// status returns st's live status: stopped once its process is gone,
// else what its sentry says.
func (r *Runtime) status(d *dir, st *State) container.Status {
	if st.Status == specs.StateCreating {
		if st.alive() {
			return "creating"
		}
		return container.Stopped
	}
	if !st.alive() {
		return container.Stopped
	}
	cl, done := r.client(d, st)
	defer done()
	resp, err := cl.Call(control.Request{Op: control.OpState, Container: st.ID})
	if err != nil || resp.State == nil {
		// A live sentry that does not answer is on its way out.
		return container.Stopped
	}
	return resp.State.Status
}

// spec returns st as runtime-spec's State, with status.
func (st *State) spec(status specs.ContainerState) specs.State {
	pid := st.Pid
	if status == specs.StateStopped {
		pid = 0
	}
	return specs.State{Version: st.OCIVersion, ID: st.ID, Status: status, Pid: pid, Bundle: st.Bundle, Annotations: st.Annotations}
}

// Start starts a created container's init.
func (r *Runtime) Start(id string) error {
	d, st, err := r.load(id)
	if err != nil {
		return err
	}
	defer d.close()
	switch s := r.status(d, st); s {
	case container.Created:
	case container.Stopped:
		return errors.New("cannot start a container that has stopped")
	case container.Running:
		return errors.New("cannot start an already running container")
	default:
		return fmt.Errorf("cannot start a container in the %s state", s)
	}
	return r.start(d, st)
}

// StartCreated starts the container c that this process's Create made
// (run): its state is the one Create wrote, and its status is "created"
// unless another call ended it since, which the sentry then refuses; so
// neither is read back (state.json, and a control call for the status).
func (r *Runtime) StartCreated(c *Created) error {
	d, err := openDir(r.Root, c.State.ID)
	if err != nil {
		return err
	}
	d.lock()
	defer d.close()
	return r.start(d, c.State)
}

// start starts the init of created container st, whose directory d is
// locked.
func (r *Runtime) start(d *dir, st *State) error {
	id := st.ID
	if st.Hooks != nil {
		if err := runHooks("startContainer", st.Hooks.StartContainer, st.spec(specs.StateCreated)); err != nil {
			// The spec: a failing startContainer hook stops the
			// container.
			r.signal(d, st, int(unix.SIGKILL), true)
			return err
		}
	}
	req := control.Request{Op: control.OpStart, Container: id}
	var files []*os.File
	if st.NetworkAtStart && st.Sandbox == st.ID {
		// What a hook configured in the stand-in's new network
		// namespace since create joins the sandbox's stack (the
		// confined sentry cannot take it itself).
		links, err := net.PrepareTakeOver(fmt.Sprintf("/proc/%d/ns/net", st.Pid))
		switch {
		case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
			// Rootless: no hook of the user's configured it either.
			r.Log.Warnf("the container's network namespace is not taken over at start: %v", err)
		case err != nil:
			return fmt.Errorf("the container's network: %w", err)
		}
		for _, l := range links {
			files = append(files, os.NewFile(uintptr(l.FD), "AF_PACKET "+l.Link.Name))
			r.Log.Debugf("network: %s joins the sandbox at start", l.Link.Name)
		}
		req.Links = links
	}
	cl, done := r.client(d, st)
	defer done()
	_, err := cl.Call(req, files...)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return err
	}
	// The state file keeps "created": the live status is the sentry's
	// (Runtime.status), and rewriting it would cost a file's creation
	// and rename on every start.
	if st.Hooks != nil {
		if err := runHooks("poststart", st.Hooks.Poststart, st.spec(specs.StateRunning)); err != nil {
			r.Log.Warn(err)
		}
	}
	return nil
}

// signal sends sig to id's init (all: every process).
func (r *Runtime) signal(d *dir, st *State, sig int, all bool) error {
	cl, done := r.client(d, st)
	defer done()
	_, err := cl.Call(control.Request{Op: control.OpSignal, Container: st.ID, Signal: sig, All: all})
	if err == nil && st.Sandbox == st.ID && sig == int(unix.SIGKILL) && st.alive() {
		// A stand-in that is the init of a PID namespace of its own
		// cannot die of the signal that killed the container's init;
		// SIGKILL from here, an ancestor namespace, kills it as it
		// kills runc's init.
		unix.Kill(st.Pid, unix.SIGKILL)
	}
	if errors.Is(err, control.ErrUnreachable) {
		if st.Sandbox == st.ID && sig == int(unix.SIGKILL) && st.sentryAlive() {
			// The stand-in ends with the sentry's session.
			return unix.Kill(st.SentryPid, unix.SIGKILL)
		}
		return ErrNotRunning
	}
	return err
}

// Kill sends sig to the container's init, or with all to every process
// of the container.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	d, st, err := r.load(id)
	if err != nil {
		return err
	}
	defer d.close()
	switch r.status(d, st) {
	case container.Stopped, "creating":
		if all {
			return nil
		}
		return ErrNotRunning
	}
	return r.signal(d, st, int(sig), all)
}

// Delete removes a stopped container (with force, any container: its
// processes are killed first).
func (r *Runtime) Delete(id string, force bool) error {
	d, err := openDir(r.Root, id)
	if errors.Is(err, ErrNotExist) && force {
		// runc: deleting a container that is already gone, with
		// --force, succeeds (containerd's shim relies on it).
		return nil
	}
	if err != nil {
		return err
	}
	d.lock()
	defer d.close()
	st, err := d.read()
	if errors.Is(err, ErrNotExist) {
		// A create that never finished leaves a directory without
		// state; runc removes it.
		if err := removeDir(d.path); err != nil {
			return err
		}
		if force {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	return r.remove(d, st, force)
}

// DeleteExited removes container c, which this process's Create made
// (run), once its sentry has exited: its state is the one Create wrote,
// so it is not read back, only checked to be still there.
func (r *Runtime) DeleteExited(c *Created) error {
	d, err := openDir(r.Root, c.State.ID)
	if errors.Is(err, ErrNotExist) {
		return nil // another delete came first
	}
	if err != nil {
		return err
	}
	d.lock()
	defer d.close()
	if err := unix.Faccessat(d.fd, stateFile, unix.F_OK, 0); err != nil {
		return nil // another delete came first
	}
	return r.remove(d, c.State, true)
}

// remove removes container st (with force, killing it first), whose
// directory d is locked.
func (r *Runtime) remove(d *dir, st *State, force bool) error {
	s := r.status(d, st)
	switch {
	case s == container.Stopped:
	case force || s == container.Created || s == "creating":
		r.signal(d, st, int(unix.SIGKILL), true)
		if !r.waitStopped(d, st, 10*time.Second) {
			return errors.New("container init still running")
		}
	default:
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", st.ID, s)
	}
	return r.destroy(d, st)
}

// waitStopped waits up to timeout for the container to stop: for its
// host process (the stand-in or waiter, which ends with init) to end,
// then for its sentry to say so.
func (r *Runtime) waitStopped(d *dir, st *State, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	waitExit(st.Pid, st.PidStart, timeout)
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r.status(d, st) == container.Stopped {
			return true
		}
	}
	return false
}

// destroy removes a stopped container's resources, then runs its
// poststop hooks.
func (r *Runtime) destroy(d *dir, st *State) error {
	if st.Sandbox == st.ID {
		// The sandbox goes with its first container; a sentry still
		// shutting down is killed, and a stand-in that outlived it
		// (it exits once the session ends).
		if st.sentryAlive() {
			unix.Kill(st.SentryPid, unix.SIGKILL)
		}
		if st.alive() {
			unix.Kill(st.Pid, unix.SIGKILL)
		}
		waitExit(st.SentryPid, st.SentryStart, 5*time.Second)
		waitExit(st.Pid, st.PidStart, 5*time.Second)
	} else {
		cl, done := r.client(d, st)
		cl.Call(control.Request{Op: control.OpDelete, Container: st.ID})
		done()
	}
	removeCgroups(st.Cgroups)
	if err := removeDir(d.path); err != nil {
		return err
	}
	if st.Hooks != nil {
		if err := runHooks("poststop", st.Hooks.Poststop, st.spec(specs.StateStopped)); err != nil {
			r.Log.Warn(err)
		}
	}
	return nil
}

// PublicState is what `state` and `list --format json` print: runc's
// shape.
type PublicState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

// State returns the container's state.
func (r *Runtime) State(id string) (*PublicState, error) {
	d, st, err := r.open(id)
	if err != nil {
		return nil, err
	}
	defer d.close()
	return r.public(d, st), nil
}

func (r *Runtime) public(d *dir, st *State) *PublicState {
	s := r.status(d, st)
	ps := &PublicState{OCIVersion: st.OCIVersion, ID: st.ID, Pid: st.Pid, Status: string(s), Bundle: st.Bundle,
		Rootfs: st.Rootfs, Created: st.Created, Annotations: st.Annotations, Owner: owner(d.path)}
	if s == container.Stopped {
		ps.Pid = 0
	}
	return ps
}

func owner(path string) string {
	var stt unix.Stat_t
	if unix.Stat(path, &stt) != nil {
		return ""
	}
	uid := strconv.Itoa(int(stt.Uid))
	if ent, ok := LookupDB("/etc/passwd", 2, uid); ok {
		return ent[0]
	}
	return "#" + uid
}

// LookupDB finds the line of a colon-separated database (/etc/passwd,
// /etc/group) whose field matches value, and returns its fields. (Not
// os/user: it links the cgo resolver, see sentry/control's socket.go.)
func LookupDB(path string, field int, value string) ([]string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[field] == value {
			return f, true
		}
	}
	return nil, false
}

// List returns every container under the root; containers whose state
// cannot be read are reported to warn and skipped.
func (r *Runtime) List(warn io.Writer) ([]*PublicState, error) {
	ents, err := os.ReadDir(r.Root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*PublicState
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		ps, err := r.State(e.Name())
		if err != nil {
			if !errors.Is(err, ErrNotExist) {
				fmt.Fprintf(warn, "load container %s: %v\n", e.Name(), err)
			}
			continue
		}
		out = append(out, ps)
	}
	return out, nil
}

// Pause freezes the container's processes.
func (r *Runtime) Pause(id string) error { return r.freeze(id, true) }

// Resume thaws them.
func (r *Runtime) Resume(id string) error { return r.freeze(id, false) }

func (r *Runtime) freeze(id string, pause bool) error {
	d, st, err := r.load(id)
	if err != nil {
		return err
	}
	defer d.close()
	s := r.status(d, st)
	op := control.OpPause
	if pause {
		if s != container.Running && s != container.Created && s != container.Paused {
			return ErrNotRunning
		}
	} else {
		if s != container.Paused {
			return ErrNotPaused
		}
		op = control.OpResume
	}
	cl, done := r.client(d, st)
	defer done()
	_, err = cl.Call(control.Request{Op: op, Container: id})
	return err
}

// Processes returns the container's processes, their HostPid in this
// process's PID namespace (0: exiting), and the host PID of the sentry
// that runs them.
func (r *Runtime) Processes(id string) ([]control.Process, int, error) {
	d, st, err := r.open(id)
	if err != nil {
		return nil, 0, err
	}
	defer d.close()
	if r.status(d, st) == container.Stopped {
		return nil, 0, ErrNotRunning
	}
	cl, done := r.client(d, st)
	defer done()
	resp, err := cl.Call(control.Request{Op: control.OpPs, Container: id})
	if err != nil {
		return nil, 0, err
	}
	sentry := st.SentryPid
	if st.Sandbox != st.ID {
		sd, sst, err := r.open(st.Sandbox)
		if err != nil {
			return nil, 0, err
		}
		sd.close()
		sentry = sst.SentryPid
	}
	hostPIDs(sentry, resp.Processes)
	return resp.Processes, sentry, nil
}

// hostPIDs turns the host PIDs of ps, as the sentry (PID sentry) sees
// them, into this process's: a confined sentry is PID 1 of a PID
// namespace of its own, where its stubs have other numbers. The host
// processes of that namespace are found in /proc (their NSpid lines end
// with the namespace's number); a PID not found becomes 0.
func hostPIDs(sentry int, ps []control.Process) {
	ns, err := os.Readlink("/proc/" + strconv.Itoa(sentry) + "/ns/pid")
	if own, _ := os.Readlink("/proc/self/ns/pid"); err != nil || ns == own {
		return
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	inner := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, _ := os.Readlink("/proc/" + e.Name() + "/ns/pid"); l != ns {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
				if f := strings.Fields(v); len(f) > 1 {
					if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
						inner[n] = pid
					}
				}
			}
		}
	}
	for i := range ps {
		ps[i].HostPid = inner[ps[i].HostPid]
	}
}

// Stats returns the sandbox's usage, with the container's process count.
func (r *Runtime) Stats(id string) (*control.Stats, error) {
	d, st, err := r.open(id)
	if err != nil {
		return nil, err
	}
	defer d.close()
	if r.status(d, st) == container.Stopped {
		return nil, fmt.Errorf("container with id %s is not running", id)
	}
	cl, done := r.client(d, st)
	defer done()
	resp, err := cl.Call(control.Request{Op: control.OpStats, Container: id})
	if err != nil {
		return nil, err
	}
	return resp.Stats, nil
}

// Wait waits for the container's init to exit and returns how.
func (r *Runtime) Wait(id string) (*control.Exit, error) {
	d, st, err := r.open(id)
	if err != nil {
		return nil, err
	}
	defer d.close()
	if !st.alive() {
		return nil, ErrNotRunning
	}
	cl, done := r.client(d, st)
	defer done()
	resp, err := cl.Call(control.Request{Op: control.OpWait, Container: id})
	if err != nil {
		if errors.Is(err, control.ErrUnreachable) {
			return nil, ErrNotRunning
		}
		return nil, err
	}
	return resp.Exit, nil
}

// networkMode returns the sandbox's network mode and the network namespace
// whose interfaces its stack takes over (--network=sandbox). Without
// --network, the config decides: a network namespace with a path (one the
// engine prepared: podman's netavark, a CNI plugin under containerd's CRI)
// is taken over; a new one (no path) has loopback only, as a new namespace
// has under runc, until start: what a hook configured in it meanwhile (the
// sentry's own namespace, the state's pid's: Docker's libnetwork prestart
// hook moves a veth there) is taken over then (atStart); no network
// namespace shares the host's network, as runc's container does (host
// sockets).
func (r *Runtime) networkMode(sb *Sandbox) (mode, netns string, atStart bool, err error) {
	mode = r.Sentry.Network
	if mode == "" {
		switch {
		case sb.HostNetwork:
			mode = boot.NetworkHost
		case sb.NetNS != "":
			mode = boot.NetworkSandbox
		default:
			mode = boot.NetworkNone
		}
	}
	switch mode {
	case boot.NetworkSandbox:
		switch {
		case sb.NetNS != "":
			netns = sb.NetNS
		case sb.HostNetwork:
			return "", "", false, errors.New("--network=sandbox: the config has no network namespace, and taking over the host's interfaces is not done: give it one (linux.namespaces) or use --network=host")
		default:
			// A new namespace holds only a loopback interface,
			// which the stack has of its own, until a hook fills it.
			mode = boot.NetworkNone
			atStart = true
		}
	case boot.NetworkNone, boot.NetworkHost:
		if sb.NetNS != "" {
			r.Log.Warnf("linux.namespaces: network namespace %s ignored: --network=%s", sb.NetNS, mode)
		}
		atStart = mode == boot.NetworkNone && r.Sentry.Network == "" && !sb.HostNetwork && sb.NetNS == ""
	}
	return mode, netns, atStart, nil
}
