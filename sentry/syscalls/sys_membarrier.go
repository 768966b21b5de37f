package syscalls

// membarrier(2). The sandbox's threads run application code on host CPUs
// (in the platform's stubs), so a barrier on them is a barrier on the
// host: every command that orders memory runs the host's
// MEMBARRIER_CMD_GLOBAL, which returns once every host CPU has passed a
// full memory barrier. That is what Linux's MEMBARRIER_CMD_GLOBAL costs
// anyway (an RCU grace period, milliseconds); the expedited commands,
// which Linux makes cheap with IPIs to the process's CPUs, cost the same
// here. The SYNC_CORE and RSEQ commands are not served: as on a Linux
// without them, QUERY leaves them out and they are EINVAL.

import (
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
)

const (
	mbQuery             = 0
	mbGlobal            = 1 << 0
	mbGlobalExpedited   = 1 << 1
	mbRegGlobalExp      = 1 << 2
	mbPrivateExpedited  = 1 << 3
	mbRegPrivateExp     = 1 << 4
	mbGetRegistrations  = 1 << 9
	mbServed            = mbGlobal | mbGlobalExpedited | mbRegGlobalExp | mbPrivateExpedited | mbRegPrivateExp | mbGetRegistrations
	hostMembarrierQuery = 0
)

// hostGlobalBarrier reports whether the host has MEMBARRIER_CMD_GLOBAL
// (not under nohz_full, for one).
var hostGlobalBarrier = sync.OnceValue(func() bool {
	r, _, e := unix.Syscall(unix.SYS_MEMBARRIER, hostMembarrierQuery, 0, 0)
	return e == 0 && r&mbGlobal != 0
})

func hostBarrier() error {
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, mbGlobal, 0, 0); e != 0 {
		return e
	}
	return nil
}

// Membarrier is membarrier(cmd, flags, cpu_id).
func Membarrier(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	cmd, flags := a.Int(0), a.Uint(1)
	if flags != 0 {
		return 0, unix.EINVAL
	}
	if !hostGlobalBarrier() {
		if cmd == mbQuery {
			return 0, nil
		}
		return 0, unix.EINVAL
	}
	regs := &t.MM().Membarrier
	switch cmd {
	case mbQuery:
		return mbServed, nil
	case mbGlobal, mbGlobalExpedited:
		return 0, hostBarrier()
	case mbRegGlobalExp, mbRegPrivateExp:
		for {
			old := regs.Load()
			if regs.CompareAndSwap(old, old|uint32(cmd)) {
				return 0, nil
			}
		}
	case mbPrivateExpedited:
		if regs.Load()&mbRegPrivateExp == 0 {
			return 0, unix.EPERM
		}
		return 0, hostBarrier()
	case mbGetRegistrations:
		return uintptr(regs.Load()), nil
	}
	return 0, unix.EINVAL
}
