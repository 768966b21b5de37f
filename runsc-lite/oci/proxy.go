package oci

// exec, and the waiter process (the proxy): a host process that stands
// for a process inside a sandbox. Container managers (conmon, the
// containerd shim) are subreapers that wait for the PID a runtime gives
// them; for a process that runs inside a sentry shared with others (a
// detached exec, a container that joined a pod's sandbox) that PID is a
// proxy: a small process that holds a control session open, forwards the
// signals it gets, and ends the way the sandboxed process ended.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/control"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/sandbox"
	"golang.org/x/sys/unix"
)

// ProxyCommand is the hidden command a proxy runs.
const ProxyCommand = "proxy"

// A proxy's descriptors: its configuration, the pipe on which it says
// whether the process started, the sandbox's state directory, then the
// preserved descriptors to pass on.
const (
	proxyConfigFD = 3
	proxyStatusFD = 4
	proxyDirFD    = 5
	proxyExtraFD  = 6
)

// ExecOptions are exec's.
type ExecOptions struct {
	ID string
	// ProcessFile is a process.json (-p); otherwise the config's
	// process with Args and the overrides below.
	ProcessFile    string
	Args           []string
	Cwd            string
	Env            []string
	User           string
	AdditionalGids []int64
	Tty            bool
	Caps           []string
	NoNewPrivs     *bool
	Detach         bool
	PidFile        string
	ConsoleSocket  string
	PreserveFDs    int
	IgnorePaused   bool
}

// ExecError is a failure to run the process, with exec's exit status.
type ExecError struct {
	Status int
	Err    error
}

func (e *ExecError) Error() string { return e.Err.Error() }
func (e *ExecError) Unwrap() error { return e.Err }

// Exec runs a new process in container o.ID. Without Detach it waits and
// returns the process's status (128+N for a death by signal N); with
// Detach it returns 0 once the process started, leaving a proxy behind.
func (r *Runtime) Exec(o ExecOptions) (int, error) {
	d, err := openDir(r.Root, o.ID)
	if err != nil {
		return -1, err
	}
	defer d.close()
	st, err := d.read()
	if err != nil {
		return -1, err
	}
	switch r.status(d, st) {
	case container.Stopped:
		return -1, errors.New("cannot exec in a stopped container")
	case container.Paused:
		if !o.IgnorePaused {
			return -1, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	}
	sp, err := execProcess(o, st)
	if err != nil {
		return -1, err
	}
	if err := checkTerminal(sp.Terminal, o.Detach, o.ConsoleSocket); err != nil {
		return -1, err
	}
	p := convertProcess(sp)
	req := control.Request{Op: control.OpExec, Container: o.ID, Process: &p, Stdio: []int32{0, 1, 2}}
	stdio := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	var extra []*os.File
	for i := 0; i < o.PreserveFDs; i++ {
		fd := 3 + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return -1, fmt.Errorf("unable to stat preserved-fd %d (of %d): %w", i, o.PreserveFDs, err)
		}
		extra = append(extra, os.NewFile(uintptr(fd), "preserved"))
		req.Stdio = append(req.Stdio, int32(fd))
	}
	var cons *console
	if sp.Terminal {
		// The process's stdin, stdout and stderr are its terminal.
		if cons, err = newConsole(p.ConsoleSize); err != nil {
			return -1, err
		}
		defer cons.close()
		if o.ConsoleSocket != "" {
			if err := cons.send(o.ConsoleSocket); err != nil {
				return -1, err
			}
		} else if p.ConsoleSize == nil {
			cons.takeSize()
		}
		req.Stdio, req.Console = req.Stdio[3:], true
		extra = append(extra, cons.replica)
	}
	sd := d
	if st.Sandbox != st.ID {
		if sd, err = openDir(r.Root, st.Sandbox); err != nil {
			return -1, err
		}
		defer sd.close()
	}
	if o.Detach {
		if req.Console {
			// The waiter keeps none of the caller's stdio (the
			// containerd shim reads exec's output until it ends).
			stdio = nil
		}
		pid, err := startProxy(sd, req, stdio, extra)
		if err != nil {
			return -1, err
		}
		if o.PidFile != "" {
			if err := writePidFile(o.PidFile, pid); err != nil {
				return -1, err
			}
		}
		return 0, nil
	}
	files := extra
	if !req.Console {
		files = append(stdio, extra...)
	}
	finishRelay := func() {}
	if cons != nil && cons.master != nil {
		// No console socket: this process relays the terminal, as
		// runc does, from before the process starts.
		finishRelay = cons.relay()
	}
	exit, err := runSession(control.Client{Path: sd.socketPath()}, req, files, func(int32) error {
		if o.PidFile != "" {
			return writePidFile(o.PidFile, os.Getpid())
		}
		return nil
	})
	if err != nil {
		// The relay ends at once if the sentry never had the
		// terminal.
		cons.closeReplica()
	}
	finishRelay()
	if err != nil {
		return -1, err
	}
	return exit.ShellStatus(), nil
}

// execProcess returns the process exec runs: process.json, or the
// config's process with exec's arguments and overrides (runc's rules).
func execProcess(o ExecOptions, st *State) (*specs.Process, error) {
	if o.ProcessFile != "" {
		data, err := os.ReadFile(o.ProcessFile)
		if err != nil {
			return nil, err
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("%s: %s", o.ProcessFile, jsonError(err, data))
		}
		if err := checkProcess(&p, "process"); err != nil {
			return nil, fmt.Errorf("%s: %w", o.ProcessFile, err)
		}
		return &p, nil
	}
	spec, err := LoadSpec(st.Bundle)
	if err != nil {
		return nil, err
	}
	p := spec.Process
	if len(o.Args) == 0 {
		return nil, errors.New("exec args cannot be empty")
	}
	p.Args = o.Args
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	p.Env = append(p.Env, o.Env...)
	p.Terminal = o.Tty
	if o.NoNewPrivs != nil {
		p.NoNewPrivileges = *o.NoNewPrivs
	}
	if len(o.Caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		c := p.Capabilities
		c.Bounding = append(c.Bounding, o.Caps...)
		c.Effective = append(c.Effective, o.Caps...)
		c.Permitted = append(c.Permitted, o.Caps...)
	}
	if o.User != "" {
		uids, gids, hasGID := strings.Cut(o.User, ":")
		if hasGID {
			gid, err := strconv.ParseUint(gids, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("bad gid: %w", err)
			}
			p.User.GID = uint32(gid)
		}
		uid, err := strconv.ParseUint(uids, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad uid: %w", err)
		}
		p.User.UID = uint32(uid)
	}
	for _, g := range o.AdditionalGids {
		if g < 0 || g > 1<<32-1 {
			return nil, fmt.Errorf("additional-gids must be a positive number %d", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if err := checkProcess(p, "process"); err != nil {
		return nil, err
	}
	return p, nil
}

// proxyConfig is what a proxy reads on its configuration pipe.
type proxyConfig struct {
	Request control.Request `json:"request"`
}

// startProxy starts a proxy for req on sandbox directory sd's socket,
// with stdio as its standard descriptors (nil: /dev/null) and extra as
// the descriptors req passes beyond them. It returns the proxy's PID once
// the sandbox has the process running (exec) or the session is open
// (wait).
func startProxy(sd *dir, req control.Request, stdio []*os.File, extra []*os.File) (int, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer cfgR.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		cfgW.Close()
		return 0, err
	}
	defer statusR.Close()
	// A descriptor of its own for the directory, not a duplicate: one
	// would share the directory's lock, which the caller may hold.
	dfd, err := unix.Openat(sd.fd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		cfgW.Close()
		statusW.Close()
		return 0, err
	}
	dirFile := os.NewFile(uintptr(dfd), "state-dir")
	defer dirFile.Close()
	cmd := exec.Command("/proc/self/exe", ProxyCommand)
	cmd.Args[0] = os.Args[0]
	if stdio == nil {
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			cfgW.Close()
			statusW.Close()
			return 0, err
		}
		defer null.Close()
		stdio = []*os.File{null, null, null}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	cmd.ExtraFiles = append([]*os.File{cfgR, statusW, dirFile}, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// It waits: one P keeps its Go runtime to a few threads.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	err = cmd.Start()
	statusW.Close()
	if err != nil {
		cfgW.Close()
		return 0, fmt.Errorf("starting a waiter process: %w", err)
	}
	err = json.NewEncoder(cfgW).Encode(proxyConfig{Request: req})
	cfgW.Close()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, err
	}
	msg, _ := io.ReadAll(io.LimitReader(statusR, 64<<10))
	line := strings.TrimSpace(string(msg))
	if line == "ok" {
		return cmd.Process.Pid, nil
	}
	cmd.Wait()
	if line == "" {
		return 0, errors.New("the waiter process exited before the process started")
	}
	if rest, ok := strings.CutPrefix(line, "exit "); ok {
		code, msg, _ := strings.Cut(rest, ": ")
		n, _ := strconv.Atoi(code)
		return 0, &ExecError{Status: n, Err: errors.New(msg)}
	}
	return 0, errors.New(line)
}

// RunProxy is the proxy's side: it runs the session its configuration
// describes and ends the way the sandboxed process ended. It does not
// return.
func RunProxy() {
	cfgFile := os.NewFile(proxyConfigFD, "config")
	data, err := io.ReadAll(cfgFile)
	cfgFile.Close()
	status := os.NewFile(proxyStatusFD, "status")
	report := func(msg string) {
		if status != nil {
			status.WriteString(msg + "\n")
			status.Close()
			status = nil
		}
	}
	var cfg proxyConfig
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err != nil {
		report("proxy: " + err.Error())
		os.Exit(1)
	}
	// The descriptors the request passes: the proxy's own stdio for 0-2,
	// the extra files it was given, in order, for the others and for
	// the console.
	var files []*os.File
	if cfg.Request.Op == control.OpExec {
		next := proxyExtraFD
		for _, n := range cfg.Request.Stdio {
			if n < 3 {
				files = append(files, []*os.File{os.Stdin, os.Stdout, os.Stderr}[n])
				continue
			}
			files = append(files, os.NewFile(uintptr(next), "preserved"))
			next++
		}
		if cfg.Request.Console {
			files = append(files, os.NewFile(uintptr(next), "console"))
		}
	}
	// The socket by a name relative to the state directory, its working
	// directory: a stand-in's mount namespace may have no /proc of the
	// host's.
	if err := unix.Fchdir(proxyDirFD); err != nil {
		report("proxy: " + err.Error())
		os.Exit(1)
	}
	cl := control.Client{Path: socketFile}
	exit, err := runSession(cl, cfg.Request, files, func(int32) error {
		report("ok")
		// From here it waits, for as long as the process runs: once
		// that is a while, it gives back what its start touched (a
		// process that ends at once would only pay for it).
		time.AfterFunc(time.Second, sandbox.ReleaseStartupMemory)
		return nil
	})
	if err != nil {
		var re *control.ResponseError
		if errors.As(err, &re) && re.ExitStatus != 0 {
			report(fmt.Sprintf("exit %d: %s", re.ExitStatus, re.Msg))
		} else {
			report(err.Error())
		}
		if errors.Is(err, control.ErrUnreachable) {
			// The sandbox died under the process.
			sandbox.ExitLike(process.KilledBy(int(unix.SIGKILL)))
			os.Exit(128 + int(unix.SIGKILL))
		}
		os.Exit(1)
	}
	if exit.Signal != 0 {
		sandbox.ExitLike(process.KilledBy(exit.Signal))
		// Still here: a signal whose default is not to end the
		// process. It ends with the status conmon and the containerd
		// shim report for a death by that signal.
		os.Exit(128 + exit.Signal)
	}
	os.Exit(exit.Code)
}

// runSession runs req (exec or wait) on cl: started is called once the
// process runs (with its sandbox PID; 0 for wait), the signals this
// process gets are forwarded to it meanwhile, and its end is returned.
func runSession(cl control.Client, req control.Request, files []*os.File, started func(pid int32) error) (control.Exit, error) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	s, err := cl.Open(req, files...)
	if err != nil {
		return control.Exit{}, err
	}
	defer s.Close()
	if req.Console {
		// The sentry has its own copy of the terminal's replica: the
		// master sees the end when the sentry lets go of it.
		files[len(files)-1].Close()
	}
	if req.Op == control.OpExec {
		resp, err := s.Next()
		if err != nil {
			return control.Exit{}, err
		}
		if err := started(resp.Pid); err != nil {
			return control.Exit{}, err
		}
	} else if err := started(0); err != nil {
		return control.Exit{}, err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				n, ok := sig.(syscall.Signal)
				if !ok || n == unix.SIGCHLD || n == unix.SIGURG || n == unix.SIGPIPE || n == unix.SIGWINCH {
					continue
				}
				if req.Op == control.OpExec {
					s.Signal(int(n))
				} else {
					cl.Call(control.Request{Op: control.OpSignal, Container: req.Container, Signal: int(n)})
				}
			}
		}
	}()
	resp, err := s.Next()
	if err != nil {
		return control.Exit{}, err
	}
	if resp.Exit == nil {
		return control.Exit{}, errors.New("the sandbox ended the session without an exit status")
	}
	return *resp.Exit, nil
}
