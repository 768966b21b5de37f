package ptrace

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every ptrace stop of a stub thread (a syscall, a fault, an interrupt)
// makes the host kernel notify the tracer: it wakes the tracer's wait4
// and, unless the tracer's SIGCHLD action is SIG_IGN or has SA_NOCLDSTOP,
// also sends it SIGCHLD (do_notify_parent_cldstop). The Go runtime
// installs a handler for SIGCHLD without SA_NOCLDSTOP, so each stop was
// also a signal delivered to some thread of the sentry: a signal frame,
// the runtime's handler and rt_sigreturn, and, when the thread the host
// picked was asleep (an idle M in futex), a wake-up and two context
// switches for nothing. Nothing in the sentry waits for SIGCHLD (wait4 is
// woken without it; deaths are watched through pidfds), so the platform
// adds SA_NOCLDSTOP to the runtime's action, keeping its handler: exits
// still raise SIGCHLD, as the runtime expects.

// sigaction is the kernel's struct sigaction on x86-64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// From the host's signal.h.
const (
	saNoCldStop = 0x1
	sigIgn      = 1
)

var quietStopsOnce sync.Once

// quietStopNotifications sets SA_NOCLDSTOP on the sentry's SIGCHLD action
// (once per process). It reports the error of the host call, if any.
func quietStopNotifications() (err error) {
	quietStopsOnce.Do(func() {
		var sa sigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(&sa)), 8, 0, 0); e != 0 {
			err = e
			return
		}
		if sa.handler == sigIgn || sa.flags&saNoCldStop != 0 {
			return
		}
		sa.flags |= saNoCldStop
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0); e != 0 {
			err = e
		}
	})
	return err
}
