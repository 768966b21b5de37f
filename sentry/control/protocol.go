// Package control is a running sentry's control channel: the OCI
// runtime's CLI (runsc-lite start, exec, kill, pause, ps, ...) talks to
// the sentry of a sandbox over a Unix stream socket in the container's
// state directory. The Server keeps the sandbox's containers (the first
// one, and the ones that join it) and serves each connection on its own
// goroutine; the Client is what the CLI uses.
//
// The protocol is newline-delimited JSON: a connection carries one
// Request, and the host descriptors it hands over (a new process's stdio)
// travel with its first bytes as SCM_RIGHTS. The server answers with one
// Response, except for exec, whose first Response says the process started
// (its PID) and whose second says how it ended; in between the client may
// send further Requests on the same connection (Op "signal") to signal
// that process. The same shape serves "wait".
//
// Locking: Server.mu protects the container table; it is a leaf, never
// held while a container is built or waited for.
package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/container"
	"github.com/runsc-lite/runsc-lite/sentry/net"
	"golang.org/x/sys/unix"
)

// Operations.
const (
	OpState  = "state"  // the container's state
	OpStart  = "start"  // start the created container's init
	OpSignal = "signal" // signal init (All: every process); on an exec connection: that process
	OpExec   = "exec"   // run Process in the container; Stdio names the passed descriptors
	OpCreate = "create" // a new container joins the sandbox (Spec); created, not started
	OpDelete = "delete" // the container leaves the sandbox (its processes are killed)
	OpPause  = "pause"
	OpResume = "resume"
	OpPs     = "ps"    // the container's processes
	OpStats  = "stats" // the sandbox's resource usage
	OpWait   = "wait"  // answer when the container's init has exited
)

// Request is one call.
type Request struct {
	Op        string `json:"op"`
	Container string `json:"container"`
	// Signal and All are for OpSignal.
	Signal int  `json:"signal,omitempty"`
	All    bool `json:"all,omitempty"`
	// Process is OpExec's process.
	Process *container.Process `json:"process,omitempty"`
	// Spec is OpCreate's container.
	Spec *container.Spec `json:"spec,omitempty"`
	// Stdio are the descriptor numbers, in the new process, of the
	// host descriptors passed with the request, in order.
	Stdio []int32 `json:"stdio,omitempty"`
	// Console says the descriptor passed after the Stdio ones is a host
	// terminal (the replica of a pseudo-terminal the CLI made) that
	// becomes the new process's terminal (OpExec, OpCreate): its
	// /dev/pts/N, stdin, stdout, stderr and controlling terminal.
	Console bool `json:"console,omitempty"`
	// For OpCreate, the descriptors after the stdio (and console) ones
	// are the host directories of Spec (the sentry opens no host path
	// by name): a Spec.Root.FD or Mounts[i].HostFD of N > 0 names the
	// N-th of them.

	// Links, for OpStart of a sandbox's first container, are host
	// interfaces its stack takes over before init runs: a hook
	// configured them in the sentry's network namespace after create
	// (Docker's libnetwork), and the CLI prepared them
	// (net.PrepareTakeOver). Their AF_PACKET sockets are the
	// descriptors passed, in order.
	Links []net.TakenLink `json:"links,omitempty"`
	// KillOnClose, for OpWait, kills the container (every process,
	// SIGKILL) if the session's client goes away before its init has
	// exited: the client is the container's stand-in, the host process
	// the engines know as the container's, and killing it ends the
	// container as killing runc's init does.
	KillOnClose bool `json:"killOnClose,omitempty"`
	// StandIn, for OpWait with KillOnClose, turns the connection after
	// the request into the stand-in's byte protocol
	// (runsc-lite/oci/src/standin.S, whose process holds it): each byte
	// the client sends is a signal number for the container's init, and
	// the answer, once init has exited, is two bytes: its exit code and
	// the signal that killed it (0 if none). A client without a Go
	// runtime speaks it (no JSON).
	StandIn bool `json:"standIn,omitempty"`
}

// Response is the answer to a Request.
type Response struct {
	// Error is the failure, one line; empty on success.
	Error string `json:"error,omitempty"`
	// ExitStatus, when Error is set, is the exit status a shell gives
	// for a program that could not be started (126, 127), else 0.
	ExitStatus int `json:"exitStatus,omitempty"`
	// State answers OpState, OpCreate.
	State *State `json:"state,omitempty"`
	// Pid is the sandbox PID of an exec'd process.
	Pid int32 `json:"pid,omitempty"`
	// Exit ends OpExec and OpWait.
	Exit *Exit `json:"exit,omitempty"`
	// Processes answers OpPs.
	Processes []Process `json:"processes,omitempty"`
	// Stats answers OpStats.
	Stats *Stats `json:"stats,omitempty"`
}

// State is a container's state in the sandbox.
type State struct {
	ID      string           `json:"id"`
	Status  container.Status `json:"status"`
	InitPid int32            `json:"initPid"`
	Created time.Time        `json:"created"`
}

// Exit is how a process ended: exit code, or the signal that killed it.
type Exit struct {
	Code   int `json:"code"`
	Signal int `json:"signal,omitempty"`
}

// ShellStatus is the status a shell reports: the code, or 128+signal.
func (e Exit) ShellStatus() int {
	if e.Signal != 0 {
		return 128 + e.Signal
	}
	return e.Code
}

// Process is one process of a container, as ps shows it.
type Process struct {
	Pid  int32  `json:"pid"`
	PPid int32  `json:"ppid"`
	UID  uint32 `json:"uid"`
	// HostPid is the host process that runs it, as the sentry's PID
	// namespace numbers it: its ptrace stub, which it keeps across
	// execve; the sentry itself on a platform that runs application code
	// in the sentry's threads (KVM); 0 for a process that is exiting
	// (its address space is gone).
	HostPid int       `json:"hostPid,omitempty"`
	Started time.Time `json:"started"`
	// CPU is the user plus system time.
	CPU     time.Duration `json:"cpu"`
	Cmdline string        `json:"cmdline"`
}

// Stats is the sandbox's resource usage.
type Stats struct {
	// CPU times in nanoseconds: total, user, system, per CPU.
	CPUTotal  uint64   `json:"cpuTotal"`
	CPUUser   uint64   `json:"cpuUser"`
	CPUSystem uint64   `json:"cpuSystem"`
	PerCPU    []uint64 `json:"perCPU"`
	// Memory in bytes.
	MemoryUsage uint64 `json:"memoryUsage"`
	MemoryLimit uint64 `json:"memoryLimit"`
	MemoryCache uint64 `json:"memoryCache"`
	SwapUsage   uint64 `json:"swapUsage"`
	SwapLimit   uint64 `json:"swapLimit"`
	// Pids is the number of tasks (threads and processes) in the
	// container, its pids.current; PidsLimit its pids.max (0: none).
	Pids      uint64 `json:"pids"`
	PidsLimit uint64 `json:"pidsLimit,omitempty"`
}

// conn frames JSON lines over a Unix stream socket, with descriptors.
type conn struct {
	c    *unixSocket
	buf  []byte
	fds  []int
	rerr error
}

func newConn(c *unixSocket) *conn { return &conn{c: c} }

// maxMessage bounds one message (a Spec with many mounts is a few KiB).
const maxMessage = 4 << 20

// read decodes the next line into v and returns the descriptors that
// arrived with it (the caller owns them).
func (c *conn) read(v any) ([]int, error) {
	for {
		if i := bytes.IndexByte(c.buf, '\n'); i >= 0 {
			line := c.buf[:i]
			c.buf = c.buf[i+1:]
			fds := c.fds
			c.fds = nil
			if err := json.Unmarshal(line, v); err != nil {
				closeAll(fds)
				return nil, fmt.Errorf("bad control message: %w", err)
			}
			return fds, nil
		}
		if c.rerr != nil {
			return nil, c.rerr
		}
		if len(c.buf) > maxMessage {
			return nil, errors.New("control message too long")
		}
		b := make([]byte, 64<<10)
		oob := make([]byte, unix.CmsgSpace(64*4))
		n, oobn, err := c.c.recvmsg(b, oob)
		n, oobn = max(n, 0), max(oobn, 0)
		c.buf = append(c.buf, b[:n]...)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr == nil {
				for _, m := range msgs {
					if fds, err := unix.ParseUnixRights(&m); err == nil {
						c.fds = append(c.fds, fds...)
					}
				}
			}
		}
		if err != nil || n == 0 {
			if err == nil {
				err = errEOF
			}
			c.rerr = err
		}
	}
}

var errEOF = errors.New("control connection closed")

// readByte returns the next byte of the connection, after what read
// buffered (the stand-in protocol, Request.StandIn).
func (c *conn) readByte() (byte, error) {
	for len(c.buf) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		b := make([]byte, 64)
		n, _, err := c.c.recvmsg(b, nil)
		c.buf = append(c.buf, b[:max(n, 0)]...)
		if err != nil || n == 0 {
			if err == nil {
				err = errEOF
			}
			c.rerr = err
		}
	}
	b := c.buf[0]
	c.buf = c.buf[1:]
	return b, nil
}

// writeBytes sends b as it is (the stand-in protocol).
func (c *conn) writeBytes(b []byte) error {
	for len(b) > 0 {
		n, err := c.c.sendmsg(b, nil)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// write sends v as one line, with files' descriptors attached.
func (c *conn) write(v any, files ...*os.File) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	for len(b) > 0 {
		n, err := c.c.sendmsg(b, oob)
		if err != nil {
			return err
		}
		b, oob = b[n:], nil
	}
	return nil
}

// closeAll closes fds, but for those set to -1 (taken over).
func closeAll(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
