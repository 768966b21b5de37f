// Package sandbox runs the sentry as a child process of the CLI: the
// parent re-executes /proc/self/exe with the hidden command `boot`, passes
// the sandbox's configuration on a pipe and the descriptors the sentry
// needs as inherited files, and gets back a Process (the sentry's host
// PID, its exit status, a way to signal it). The child reads the
// configuration (ReadConfig), runs the sandbox, and ends the way the
// sandbox's init ended (Exit): with its exit code, or killed by its
// signal, so that whoever waits for the sentry (a shell, conmon, the
// containerd shim) sees init's death.
//
// This is the contract of LAUNCH.md (the launcher shared by `do`, OCI
// create and the confined sentry); this implementation does the launching
// only, without confinement.
//
// Locking: none; a Process is used by one goroutine at a time.
package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
)

// BootCommand is the hidden command the sentry's process runs.
const BootCommand = "boot"

// configFD is the child's descriptor of the configuration pipe;
// FirstExtraFD is where Options.ExtraFiles start in the child.
const (
	configFD     = 3
	FirstExtraFD = 4
)

// LogSettings say how the sentry logs.
type LogSettings struct {
	// Level is a logrus level name ("warning", "debug", ...).
	Level string `json:"level"`
	// Format is "text" (runsc's style) or "json" (runc's).
	Format string `json:"format"`
	// FD is the child's descriptor of the log file, -1 for stderr.
	FD int `json:"fd"`
}

// Options modify Start.
type Options struct {
	// Unconfined skips confinement (--unconfined).
	Unconfined bool
	// Detach lets the sentry outlive the caller (OCI create): it gets
	// a session of its own and is not killed when the caller dies.
	Detach bool
	// ExtraFiles are given to the sentry from FirstExtraFD on.
	ExtraFiles []*os.File
	// LogFile, if set, is where the sentry logs instead of its stderr.
	LogFile *os.File
	// Log says the level and format of the sentry's log.
	Log LogSettings
	// NetNS is the path of a network namespace to join ("": none).
	NetNS string
	// Started, if set, is called with the sentry's PID once its process
	// exists and before it reads its configuration (before it makes
	// any process or thread of its own), to place it in host cgroups.
	// Its error ends the sentry and Start.
	Started func(pid int) error
}

// message is what travels on the configuration pipe.
type message struct {
	Config boot.Config `json:"config"`
	Log    LogSettings `json:"log"`
}

// Process is a running sentry.
type Process struct {
	cmd *exec.Cmd
}

// Start starts a sentry for cfg. Descriptors cfg refers to must be
// numbered as the child sees them (FirstExtraFD + index in ExtraFiles).
// The sentry's stdio is the caller's.
func Start(cfg boot.Config, opts Options) (*Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command("/proc/self/exe", BootCommand)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append([]*os.File{r}, opts.ExtraFiles...)
	msg := message{Config: cfg, Log: opts.Log}
	msg.Log.FD = -1
	if opts.LogFile != nil {
		msg.Log.FD = FirstExtraFD + len(opts.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, opts.LogFile)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if opts.Detach {
		cmd.SysProcAttr.Setsid = true
	} else {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the sentry: %w", err)
	}
	if opts.Started != nil {
		if err := opts.Started(cmd.Process.Pid); err != nil {
			w.Close()
			cmd.Process.Kill()
			cmd.Wait()
			return nil, err
		}
	}
	err = json.NewEncoder(w).Encode(&msg)
	w.Close()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("passing the configuration to the sentry: %w", err)
	}
	return &Process{cmd: cmd}, nil
}

// Pid returns the sentry's host PID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the sentry to exit and returns init's status as the
// sentry reported it (its exit code, or the signal it died of).
func (p *Process) Wait() (process.WaitStatus, error) {
	err := p.cmd.Wait()
	if p.cmd.ProcessState == nil {
		return 0, err
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return 0, err
	}
	if ws.Signaled() {
		return process.KilledBy(int(ws.Signal())), nil
	}
	return process.ExitedWith(ws.ExitStatus()), nil
}

// Signal sends sig to the sentry.
func (p *Process) Signal(sig unix.Signal) error { return p.cmd.Process.Signal(sig) }

// ReadConfig is the child's side of Start: it reads the configuration
// and the log settings from the pipe.
func ReadConfig() (boot.Config, LogSettings, error) {
	f := os.NewFile(configFD, "config")
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return boot.Config{}, LogSettings{}, fmt.Errorf("reading the configuration: %w", err)
	}
	var msg message
	if err := json.Unmarshal(data, &msg); err != nil {
		return boot.Config{}, LogSettings{}, fmt.Errorf("reading the configuration: %w", err)
	}
	return msg.Config, msg.Log, nil
}

// Exit ends the sentry's process the way init ended: exit with its code,
// or die of its signal (without a core dump).
func Exit(st process.WaitStatus) {
	sig, ok := st.Signaled()
	if !ok {
		os.Exit(st.ExitCode())
	}
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	// The Go runtime handles some signals itself; put the default
	// action back with the raw system call and send it to ourselves.
	var dfl [4]uint64 // struct sigaction: handler SIG_DFL, no flags, empty mask
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl[0])), 0, 8, 0, 0)
	var set [1]uint64
	set[0] = 1 << (uint(sig) - 1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set[0])), 0, 8, 0, 0)
	unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.Signal(sig))
	// A signal whose default is to continue or ignore leaves us here.
	os.Exit(128 + sig)
}
