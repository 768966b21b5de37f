package oci

// The state directory: one directory per container under --root, holding
// state.json (written atomically: a temporary file renamed over it) and,
// for a container that owns a sandbox, the sentry's control socket. The
// directory is locked (flock) by every call that changes the container,
// so concurrent calls on one container are serialized.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Errors with runc's messages.
var (
	ErrExist      = errors.New("container with given ID already exists")
	ErrInvalidID  = errors.New("invalid container ID format")
	ErrNotExist   = errors.New("container does not exist")
	ErrNotRunning = errors.New("container not running")
	ErrNotPaused  = errors.New("container not paused")
	ErrEmptyID    = errors.New("container id cannot be empty")
)

const (
	stateFile  = "state.json"
	socketFile = "sock"
	// rootfsDir is where a container that joins a sandbox has a private
	// bind mount of its rootfs (see Runtime.join).
	rootfsDir = "rootfs"
)

// State is what the state directory keeps about a container.
type State struct {
	OCIVersion string `json:"ociVersion"`
	ID         string `json:"id"`
	// Pid is the host process that lives as long as the container's
	// init: the stand-in for the container that owns a sandbox
	// (standin.go), a waiter process for one that joined another's.
	Pid int `json:"pid"`
	// PidStart is Pid's start time (/proc/PID/stat), to tell it from
	// a later process that reused the PID.
	PidStart uint64 `json:"pidStart"`
	// SentryPid and SentryStart are the sentry's, for the container
	// that owns a sandbox.
	SentryPid   int    `json:"sentryPid,omitempty"`
	SentryStart uint64 `json:"sentryStart,omitempty"`
	// Status is what create recorded: "creating" while its hooks run,
	// then "created"; the live status comes from the sentry
	// (Container.Status).
	Status      specs.ContainerState `json:"status"`
	Bundle      string               `json:"bundle"`
	Rootfs      string               `json:"rootfs"`
	Created     time.Time            `json:"created"`
	Annotations map[string]string    `json:"annotations,omitempty"`
	// Sandbox is the ID of the container whose sentry runs this one
	// (its own ID for a sandbox's first container).
	Sandbox string `json:"sandbox"`
	// Hooks are the config's hooks, for start and delete.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	// Cgroups are the host cgroup directories made for the stand-in
	// and the sentry.
	Cgroups []string `json:"cgroups,omitempty"`
	// NetworkAtStart says the sandbox's network namespace is a new
	// one, the stand-in's (the state's Pid), whose interfaces (a
	// hook's) start hands to the sandbox's stack.
	NetworkAtStart bool `json:"networkAtStart,omitempty"`
}

// validateID checks a container ID as runc does: letters, digits, _ + - .
func validateID(id string) error {
	if id == "" {
		return ErrEmptyID
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '+', c == '-', c == '.':
		default:
			return ErrInvalidID
		}
	}
	if id == "." || id == ".." {
		return ErrInvalidID
	}
	return nil
}

// dir is a container's state directory, open and possibly locked.
type dir struct {
	path string
	fd   int
}

// openDir opens id's state directory under root; ErrNotExist if none.
func openDir(root, id string) (*dir, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	p := filepath.Join(root, id)
	fd, err := unix.Open(p, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("state directory %s: %w", p, err)
	}
	return &dir{path: p, fd: fd}, nil
}

// makeDir makes id's state directory under root and locks it; ErrExist
// if there is one.
func makeDir(root, id string) (*dir, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("state root %s: %w", root, err)
	}
	p := filepath.Join(root, id)
	if err := os.Mkdir(p, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, ErrExist
		}
		return nil, fmt.Errorf("state directory %s: %w", p, err)
	}
	d, err := openDir(root, id)
	if err != nil {
		os.Remove(p)
		return nil, err
	}
	d.lock()
	return d, nil
}

// lock takes the directory's exclusive lock, waiting for it.
func (d *dir) lock() {
	for unix.Flock(d.fd, unix.LOCK_EX) == unix.EINTR {
	}
}

// close releases the lock and the directory.
func (d *dir) close() { unix.Close(d.fd) }

// removeDir removes a state directory. A private rootfs mount in it is
// detached first; if it cannot be, nothing is removed: RemoveAll would
// descend into the container's own files.
func removeDir(path string) error {
	rootfs := filepath.Join(path, rootfsDir)
	for {
		err := unix.Unmount(rootfs, unix.MNT_DETACH)
		if err == unix.EINVAL || err == unix.ENOENT {
			break
		}
		if err != nil {
			return fmt.Errorf("unmounting %s: %w", rootfs, err)
		}
	}
	return os.RemoveAll(path)
}

// socketPath is the control socket's name, through the open directory
// so that it stays short whatever the state root (a Unix socket's path
// is at most 107 bytes).
func (d *dir) socketPath() string {
	return "/proc/self/fd/" + strconv.Itoa(d.fd) + "/" + socketFile
}

// read returns the container's recorded state; ErrNotExist if it has
// none (a create that never finished).
func (d *dir) read() (*State, error) {
	data, err := os.ReadFile(filepath.Join(d.path, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(d.path, stateFile), err)
	}
	return &st, nil
}

// write replaces the recorded state atomically.
func (d *dir) write(st *State) error {
	if err := d.stage(st); err != nil {
		return err
	}
	return d.commit()
}

// stage writes st to the directory's temporary state file, which commit
// makes the recorded state; no reader sees it before.
func (d *dir) stage(st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.path, "."+stateFile), data, 0o600)
}

// commit makes the staged state the recorded one, atomically.
func (d *dir) commit() error {
	return os.Rename(filepath.Join(d.path, "."+stateFile), filepath.Join(d.path, stateFile))
}

// processStart returns pid's start time in clock ticks since boot, 0 if
// there is no such process (or it is a zombie: it has ended).
func processStart(pid int) uint64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command may hold spaces and parentheses: fields start after
	// the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// alive reports whether st's process is still the one it recorded.
func (st *State) alive() bool {
	return st.Pid > 0 && processStart(st.Pid) == st.PidStart
}

// sentryAlive reports whether st's sentry (of a container that owns a
// sandbox) is still the process it recorded.
func (st *State) sentryAlive() bool {
	return st.SentryPid > 0 && processStart(st.SentryPid) == st.SentryStart
}

// waitExit waits up to timeout for process pid, the one that started at
// start (processStart), to end (or be a zombie), without polling: on a
// pidfd, which is readable once the process has exited. It reports
// whether the process is gone.
func waitExit(pid int, start uint64, timeout time.Duration) bool {
	if pid <= 0 || start == 0 {
		return true
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return true
		}
		// No pidfds: poll.
		for deadline := time.Now().Add(timeout); processStart(pid) == start; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				return false
			}
		}
		return true
	}
	defer unix.Close(fd)
	// The pidfd is the recorded process only if it still is one.
	if processStart(pid) != start {
		return true
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(timeout); ; {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if n > 0 {
			return true
		}
		if err != nil && err != unix.EINTR {
			return processStart(pid) != start
		}
	}
}

// writePidFile writes pid to path atomically, as runc does.
func writePidFile(path string, pid int) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o666); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
