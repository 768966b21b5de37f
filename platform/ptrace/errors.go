package ptrace

import (
	"errors"
	"fmt"

	"github.com/runsc-lite/runsc-lite/platform"
	"golang.org/x/sys/unix"
)

// errASReleased is returned for operations on a released address space.
var errASReleased = errors.New("ptrace: address space released")

// stubError describes a failed host call on stub thread tid. If the thread
// is gone (ESRCH, ECHILD) the error wraps platform.ErrContextDead.
func stubError(tid int32, what string, e unix.Errno) error {
	if e == unix.ESRCH || e == unix.ECHILD {
		return fmt.Errorf("%w: stub %d: %s: %v", platform.ErrContextDead, tid, what, e)
	}
	return fmt.Errorf("ptrace: stub %d: %s: %w", tid, what, e)
}

// stubExited describes the death of stub thread tid, as wait4 reported it.
func stubExited(tid int32, status waitStatus) error {
	ws := unix.WaitStatus(status)
	if ws.Signaled() {
		return fmt.Errorf("%w: stub %d killed by %v", platform.ErrContextDead, tid, ws.Signal())
	}
	return fmt.Errorf("%w: stub %d exited with status %d", platform.ErrContextDead, tid, ws.ExitStatus())
}

// isDead reports whether err says a stub thread is gone.
func isDead(err error) bool { return errors.Is(err, platform.ErrContextDead) }
