package syscalls

// The futex2 syscalls (Linux 5.16 and 6.7): futex_waitv, futex_wake,
// futex_wait and futex_requeue, on the same wait queues as futex(2)
// (process.Futexes). Only 32-bit words exist, as on Linux.

import (
	"encoding/binary"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

const (
	futex2SizeMask = 0x3
	futex2SizeU32  = 0x2
	futex2Private  = 128
	// futexWaitvMax is FUTEX_WAITV_MAX.
	futexWaitvMax = 128
)

// futex2Flags validates a futex2 flags word: a 32-bit size and nothing but
// FUTEX2_PRIVATE besides. It reports whether the futex is private.
func futex2Flags(flags uint64) (bool, error) {
	if flags&futex2SizeMask != futex2SizeU32 || flags&^(futex2SizeMask|futex2Private) != 0 {
		return false, unix.EINVAL
	}
	return flags&futex2Private != 0, nil
}

// futex2Timeout reads an absolute timeout on clockid (CLOCK_MONOTONIC or
// CLOCK_REALTIME) and returns what is left: 0 for none, -1 when expired.
func futex2Timeout(t *process.Thread, addr uintptr, clockid int32) (time.Duration, error) {
	if addr == 0 {
		return 0, nil
	}
	if clockid != unix.CLOCK_MONOTONIC && clockid != unix.CLOCK_REALTIME {
		return 0, unix.EINVAL
	}
	d, err := copyInTimespec(t, addr)
	if err != nil {
		return 0, err
	}
	now, _ := nsClockNow(t, clockid) // the deadline is on t's namespace's clock
	if d -= time.Duration(now); d <= 0 {
		return -1, nil
	}
	return d, nil
}

// readWaitv reads n struct futex_waitv { u64 val; u64 uaddr; u32 flags;
// u32 __reserved; }.
func readWaitv(t *process.Thread, addr uintptr, n int) ([]process.FutexWaitvWord, error) {
	buf := make([]byte, 24*n)
	if _, err := t.CopyInBytes(hostarch.Addr(addr), buf); err != nil {
		return nil, unix.EFAULT
	}
	ws := make([]process.FutexWaitvWord, n)
	for i := range ws {
		b := buf[24*i:]
		val := binary.LittleEndian.Uint64(b[0:])
		uaddr := binary.LittleEndian.Uint64(b[8:])
		flags := binary.LittleEndian.Uint32(b[16:])
		if binary.LittleEndian.Uint32(b[20:]) != 0 || val > 0xffffffff {
			return nil, unix.EINVAL
		}
		private, err := futex2Flags(uint64(flags))
		if err != nil {
			return nil, err
		}
		if uaddr%4 != 0 {
			return nil, unix.EINVAL
		}
		ws[i] = process.FutexWaitvWord{Addr: uintptr(uaddr), Val: uint32(val), Private: private}
	}
	return ws, nil
}

// FutexWaitv is futex_waitv(waiters, nr_futexes, flags, timeout, clockid).
func FutexWaitv(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	n := a.Uint(1)
	if a[2] != 0 || a.Ptr(0) == 0 || n == 0 || n > futexWaitvMax {
		return 0, unix.EINVAL
	}
	d, err := futex2Timeout(t, a.Ptr(3), a.Int(4))
	if err != nil {
		return 0, err
	}
	ws, err := readWaitv(t, a.Ptr(0), int(n))
	if err != nil {
		return 0, err
	}
	i, err := t.S.Futexes.WaitV(t, ws, d)
	return uintptr(i), err
}

// FutexWake is futex_wake(uaddr, mask, nr, flags): nr is exact (0 wakes
// nobody).
func FutexWake(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	private, err := futex2Flags(uint64(a[3]))
	if err != nil {
		return 0, err
	}
	mask := uint64(a[1])
	if mask > 0xffffffff {
		return 0, unix.EINVAL
	}
	nr := int(int32(a[2]))
	if nr < 0 {
		nr = 1 << 30
	}
	n, err := t.S.Futexes.WakeStrict(t.MM(), a.Ptr(0), private, nr, uint32(mask))
	return uintptr(n), err
}

// FutexWait is futex_wait(uaddr, val, mask, flags, timeout, clockid).
func FutexWait(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	private, err := futex2Flags(uint64(a[3]))
	if err != nil {
		return 0, err
	}
	val, mask := uint64(a[1]), uint64(a[2])
	if val > 0xffffffff || mask > 0xffffffff {
		return 0, unix.EINVAL
	}
	d, err := futex2Timeout(t, a.Ptr(4), a.Int(5))
	if err != nil {
		return 0, err
	}
	return 0, t.S.Futexes.Wait(t, a.Ptr(0), private, uint32(val), uint32(mask), d)
}

// FutexRequeue is futex_requeue(waiters[2], flags, nr_wake, nr_requeue):
// CMP_REQUEUE from waiters[0] (whose val is compared) to waiters[1].
func FutexRequeue(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a[1] != 0 || a.Ptr(0) == 0 {
		return 0, unix.EINVAL
	}
	ws, err := readWaitv(t, a.Ptr(0), 2)
	if err != nil {
		return 0, err
	}
	n, err := t.S.Futexes.Requeue2(t.MM(), ws[0].Addr, ws[1].Addr, ws[0].Private, ws[1].Private,
		int(int32(a[2])), int(int32(a[3])), true, ws[0].Val)
	return uintptr(n), err
}
