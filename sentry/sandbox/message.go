package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"golang.org/x/sys/unix"
)

// The launcher and the sentry process speak over two pipes:
//
//   - the boot pipe (launcher → sentry): one JSON bootMessage, then EOF;
//   - the status pipe (sentry → launcher): JSON statusMessages, one per
//     line: "started" once init is loaded and confined and about to run,
//     then "exit" with init's wait status; or "error" if the sandbox could
//     not start.
//
// Descriptors travel as the sentry's inherited files; the messages carry
// their numbers. A prestarted sentry (Prestart) has a boot socket instead
// of the boot pipe: the message comes with its descriptors (SCM_RIGHTS),
// which the sentry moves to the numbers an inherited file would have had
// (the i-th at 3+i, which the launcher reserved for them); its boot
// socket and status pipe are above those.

// bootMessage is everything the sentry process needs to boot.
type bootMessage struct {
	// Config is the sandbox. Its RootFD and Volumes[i].HostFD are the
	// sentry's descriptor numbers.
	Config boot.Config
	// LogLevel is logrus's name of the log level.
	LogLevel string
	// LogFD is the log file's descriptor (-1: log to stderr).
	LogFD int
	// LogJSON writes the log as JSON lines (level, msg, time: runc's
	// --log-format json, which the containerd shim reads its last error
	// from) instead of runsc's text lines.
	LogJSON bool
	// ProfileFD is the CPU profile's descriptor (-1: no profile).
	ProfileFD int
	// StatusFD is the status pipe's write end (-1: none, for a detached
	// sentry whose creator does not wait).
	StatusFD int
	// NetNSFD is the network namespace whose interfaces
	// --network=sandbox takes over (-1: none). The sentry does not join
	// it: the takeover's thread does, for as long as it takes.
	NetNSFD int
	// Confinement is what the sentry does to itself once booted.
	Confinement Confinement
	// FDs is how many descriptors come with the message on a boot
	// socket (0 on a boot pipe).
	FDs int
}

// Confinement selects the sentry's confinement. The zero value is the
// default: fully confined.
type Confinement struct {
	// Unconfined turns every layer off (--unconfined).
	Unconfined bool
	// SeccompLog makes the seccomp filter log what it would refuse
	// instead of killing the sentry (--seccomp-log, a debugging aid).
	SeccompLog bool
	// SeccompDeny removes these syscalls (by name) from the allow-list:
	// a test knob (RUNSC_LITE_SECCOMP_DENY), which can only make the
	// filter stricter.
	SeccompDeny []string
	// DropCaps removes these capabilities (by name, "CAP_FOWNER") from
	// those the confined sentry keeps: a test knob
	// (RUNSC_LITE_DROP_CAPS) showing each kept one is needed.
	DropCaps []string
	// HostUDS widens the allow-list for --host-uds=open (the sentry
	// connects to host socket files and moves their bytes). The child
	// sets it from Config.HostUDS.
	HostUDS bool `json:"-"`
	// Control widens the allow-list for an OCI sandbox's control
	// socket; the child sets it from Config.Control.
	Control bool `json:"-"`
	// AdoptLinks widens it, in network mode none, with the calls of
	// interfaces taken over at start (Config.Control.AdoptLinks): the
	// sandbox mode's frames.
	AdoptLinks bool `json:"-"`
	// Network is the sandbox's network mode (boot.Config.Network, set
	// by Start): what the sentry keeps and may call depends on it.
	Network string
}

// statusMessage is one line on the status pipe.
type statusMessage struct {
	// Event is "started", "exit" or "error".
	Event string `json:"event"`
	// WaitStatus is init's wait status ("exit").
	WaitStatus uint32 `json:"wait_status,omitempty"`
	// Error and ExitStatus describe a failure to start ("error"):
	// ExitStatus is what runsc-lite exits with (127 not found, 126 not
	// executable, 125 anything else).
	Error      string `json:"error,omitempty"`
	ExitStatus int    `json:"exit_status,omitempty"`
	// Platform is the platform the sentry runs ("started"), and
	// PlatformWhy why --platform=auto chose it, with the figures ("" for
	// a platform named explicitly).
	Platform    string `json:"platform,omitempty"`
	PlatformWhy string `json:"platform_why,omitempty"`
}

func readBootMessage(r io.Reader) (*bootMessage, error) {
	var m bootMessage
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("reading the boot message: %w", err)
	}
	return &m, nil
}

// sendBootMessage sends m on boot socket sock with files, in one
// sendmsg (the descriptors ride with its first byte), and ends it.
func sendBootMessage(sock int, m *bootMessage, files []*os.File) error {
	b, err := marshalBootMessage(m)
	if err != nil {
		return err
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	n, err := unix.SendmsgN(sock, b, unix.UnixRights(fds...), nil, 0)
	for err == nil && n < len(b) {
		b = b[n:]
		n, err = unix.Write(sock, b)
	}
	runtime.KeepAlive(files)
	if err != nil {
		return err
	}
	return unix.Shutdown(sock, unix.SHUT_WR)
}

// receiveBootMessage reads the boot message from boot socket sock, and
// moves the descriptors that came with it to 3, 4, ..., where the
// launcher reserved room for them (reserved descriptors, holding
// /dev/null: those not taken are closed).
func receiveBootMessage(sock, reserved int) (*bootMessage, error) {
	var data []byte
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxBootFDs))
	var fds []int
	for {
		n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the boot message: %w", err)
		}
		if oobn > 0 {
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return nil, fmt.Errorf("reading the boot message's descriptors: %w", err)
			}
			for _, c := range cmsgs {
				got, err := unix.ParseUnixRights(&c)
				if err != nil {
					return nil, fmt.Errorf("reading the boot message's descriptors: %w", err)
				}
				fds = append(fds, got...)
			}
		}
		if n == 0 {
			break
		}
		data = append(data, buf[:n]...)
	}
	var m bootMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading the boot message: %w", err)
	}
	if len(fds) != m.FDs || len(fds) > reserved {
		return nil, fmt.Errorf("reading the boot message: %d descriptors, want %d (at most %d)", len(fds), m.FDs, reserved)
	}
	for i, fd := range fds {
		if err := unix.Dup3(fd, 3+i, 0); err != nil {
			return nil, fmt.Errorf("moving the boot message's descriptors: %w", err)
		}
		unix.Close(fd)
	}
	for i := len(fds); i < reserved; i++ {
		unix.Close(3 + i)
	}
	return &m, nil
}

// maxBootFDs bounds the descriptors of a boot message (SCM_RIGHTS takes
// at most 253 in one message).
const maxBootFDs = 253

// statusWriter writes status messages; a nil one writes nothing.
type statusWriter struct{ f *os.File }

func (w *statusWriter) send(m statusMessage) {
	if w == nil || w.f == nil {
		return
	}
	b, _ := json.Marshal(m)
	// EPIPE (nobody listens any more) is not the sentry's problem.
	w.f.Write(append(b, '\n'))
}

func marshalBootMessage(m *bootMessage) ([]byte, error) {
	return json.Marshal(m)
}

// decodeStatus yields the status messages read from r until EOF or a
// malformed line.
func decodeStatus(r io.Reader) func(yield func(statusMessage) bool) {
	return func(yield func(statusMessage) bool) {
		dec := json.NewDecoder(r)
		for {
			var m statusMessage
			if err := dec.Decode(&m); err != nil {
				return
			}
			if !yield(m) {
				return
			}
		}
	}
}
