package syscalls

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

func protToAccess(prot uint32) hostarch.AccessType {
	return hostarch.AccessType{
		Read:    prot&unix.PROT_READ != 0,
		Write:   prot&unix.PROT_WRITE != 0,
		Execute: prot&unix.PROT_EXEC != 0,
	}
}

// vmLimits returns the caller's RLIMIT_AS and RLIMIT_DATA.
func vmLimits(t *process.Thread) mm.VMLimits {
	return mm.VMLimits{
		AS:   t.TG.Limits.Get(unix.RLIMIT_AS).Cur,
		Data: t.TG.Limits.Get(unix.RLIMIT_DATA).Cur,
	}
}

func Brk(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return t.MM().Brk(a.Ptr(0), vmLimits(t)), nil
}

func Mmap(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	addr, length, prot, flags, fd, off := a.Ptr(0), a[1], a.Uint(2), a.Uint(3), a.Int(4), uint64(a[5])
	const known = unix.MAP_SHARED | unix.MAP_PRIVATE | unix.MAP_SHARED_VALIDATE | unix.MAP_FIXED |
		unix.MAP_ANONYMOUS | unix.MAP_GROWSDOWN | unix.MAP_DENYWRITE | unix.MAP_EXECUTABLE |
		unix.MAP_LOCKED | unix.MAP_NORESERVE | unix.MAP_POPULATE | unix.MAP_NONBLOCK |
		unix.MAP_STACK | unix.MAP_HUGETLB | unix.MAP_FIXED_NOREPLACE | unix.MAP_32BIT | unix.MAP_SYNC |
		0xfc000000 /* MAP_HUGE_SHIFT bits */
	mapType := flags & (unix.MAP_SHARED | unix.MAP_PRIVATE | unix.MAP_SHARED_VALIDATE)
	if mapType == unix.MAP_SHARED_VALIDATE {
		// Linux validates flags only for file mappings; an anonymous
		// mapping with MAP_SHARED_VALIDATE is simply invalid.
		if flags&unix.MAP_ANONYMOUS != 0 {
			return 0, unix.EINVAL
		}
		if flags&^known != 0 {
			return 0, unix.EOPNOTSUPP
		}
		mapType = unix.MAP_SHARED
	}
	if mapType != unix.MAP_SHARED && mapType != unix.MAP_PRIVATE {
		return 0, unix.EINVAL
	}
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC) != 0 {
		return 0, unix.EINVAL
	}
	if length == 0 || off%mm.PageSize != 0 {
		return 0, unix.EINVAL
	}
	o := mm.MMapOpts{
		Addr:      addr,
		Length:    length,
		Fixed:     flags&(unix.MAP_FIXED|unix.MAP_FIXED_NOREPLACE) != 0,
		NoReplace: flags&unix.MAP_FIXED_NOREPLACE != 0,
		Perms:     protToAccess(prot),
		MaxPerms:  hostarch.AnyAccess,
		Private:   mapType == unix.MAP_PRIVATE,
		Offset:    off,
		GrowsDown: flags&unix.MAP_GROWSDOWN != 0,
		Populate:  flags&unix.MAP_POPULATE != 0,
		NoReserve: flags&unix.MAP_NORESERVE != 0,
	}
	lim := vmLimits(t)
	o.Limits = &lim
	if flags&unix.MAP_ANONYMOUS == 0 {
		f, err := t.FDs.Get(fd)
		if err != nil {
			return 0, unix.EBADF
		}
		defer f.DecRef()
		if !f.Readable() {
			return 0, unix.EACCES
		}
		mp, err := f.Mappable()
		if err != nil {
			return 0, err
		}
		if !o.Private && !f.Writable() {
			if o.Perms.Write {
				return 0, unix.EACCES
			}
			o.MaxPerms.Write = false
		}
		if g, ok := mp.(mm.SharedWriteGate); ok && !o.Private && o.MaxPerms.Write {
			mayWrite, release, err := g.HoldSharedWrite(o.Perms.Write)
			if err != nil {
				return 0, err
			}
			defer release()
			o.MaxPerms.Write = mayWrite
		}
		o.Mappable = mp
		// The mapping keeps the description's write access (ETXTBSY
		// for execve while it lasts).
		if h := f.MapHold(); h != nil {
			defer h.DecRef()
			o.File = h
		}
	} else {
		o.Offset = 0
	}
	// READ_IMPLIES_EXEC (personality): readable mappings are executable.
	if prot&unix.PROT_READ != 0 && t.TG.Personality()&readImpliesExec != 0 && o.MaxPerms.Execute {
		o.Perms.Execute = true
	}
	if flags&unix.MAP_LOCKED != 0 {
		if _, _, err := mlockLimit(t); err != nil {
			return 0, err
		}
	}
	addr, err := t.MM().MMap(o)
	if err != nil || flags&unix.MAP_LOCKED == 0 {
		return addr, err
	}
	// MAP_LOCKED: locked and populated as by mlock; past RLIMIT_MEMLOCK
	// the mapping is undone and the error is EAGAIN (mlock_future_ok).
	if _, err := doMlock(t, addr, uintptr(length), false); err != nil {
		t.MM().Munmap(addr, uintptr(length))
		if err == unix.ENOMEM {
			err = unix.EAGAIN
		}
		return 0, err
	}
	return addr, nil
}

// readImpliesExec is personality's READ_IMPLIES_EXEC.
const readImpliesExec = 0x0400000

func Munmap(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return 0, t.MM().Munmap(a.Ptr(0), a[1])
}

func Mprotect(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	prot := a.Uint(2)
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|unix.PROT_GROWSDOWN|unix.PROT_GROWSUP) != 0 {
		return 0, unix.EINVAL
	}
	if prot&unix.PROT_READ != 0 && t.TG.Personality()&readImpliesExec != 0 {
		prot |= unix.PROT_EXEC
	}
	return 0, t.MM().Mprotect(a.Ptr(0), a[1], protToAccess(prot), prot&unix.PROT_GROWSDOWN != 0, vmLimits(t))
}

func Mremap(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return t.MM().Mremap(a.Ptr(0), a[1], a[2], int(a.Int(3)), a.Ptr(4), vmLimits(t))
}

func Madvise(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return 0, t.MM().Madvise(a.Ptr(0), a[1], int(a.Int(2)))
}

func Msync(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Int(2)
	if flags&^(unix.MS_ASYNC|unix.MS_SYNC|unix.MS_INVALIDATE) != 0 ||
		flags&(unix.MS_ASYNC|unix.MS_SYNC) == unix.MS_ASYNC|unix.MS_SYNC {
		return 0, unix.EINVAL
	}
	return 0, t.MM().Msync(a.Ptr(0), a[1])
}

// mlockLimit returns RLIMIT_MEMLOCK in pages and whether the caller is
// exempt (CAP_IPC_LOCK). EPERM when it may lock nothing at all (Linux's
// can_do_mlock: no CAP_IPC_LOCK and a limit of 0).
func mlockLimit(t *process.Thread) (uint64, bool, error) {
	lim := t.TG.Limits.Get(unix.RLIMIT_MEMLOCK).Cur
	if t.Credentials().HasCapability(linux.CAP_IPC_LOCK) || lim == unix.RLIM_INFINITY {
		return 0, true, nil
	}
	if lim == 0 {
		return 0, false, unix.EPERM
	}
	return lim / mm.PageSize, false, nil
}

func doMlock(t *process.Thread, addr, length uintptr, onFault bool) (uintptr, error) {
	lim, unlimited, err := mlockLimit(t)
	if err != nil {
		return 0, err
	}
	return 0, t.MM().Mlock(addr, length, mm.MlockOpts{Lock: true, OnFault: onFault, LimitPages: lim, Unlimited: unlimited})
}

// Mlock is mlock(addr, len): the pages are populated and kswapd leaves
// them resident (sentry/mm/mlock.go).
func Mlock(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return doMlock(t, a.Ptr(0), a.Ptr(1), false)
}

// mlockOnFault is MLOCK_ONFAULT (mlock2) and MCL_ONFAULT's value.
const mlockOnFault = 1

// Mlock2 is mlock2(addr, len, flags).
func Mlock2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Uint(2)
	if flags&^mlockOnFault != 0 {
		return 0, unix.EINVAL
	}
	return doMlock(t, a.Ptr(0), a.Ptr(1), flags&mlockOnFault != 0)
}

// Munlock is munlock(addr, len).
func Munlock(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return 0, t.MM().Mlock(a.Ptr(0), a.Ptr(1), mm.MlockOpts{})
}

// Mlockall is mlockall(flags): MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT.
func Mlockall(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	const mclCurrent, mclFuture, mclOnFault = 1, 2, 4
	flags := a.Uint(0)
	if flags == 0 || flags&^(mclCurrent|mclFuture|mclOnFault) != 0 || flags == mclOnFault {
		return 0, unix.EINVAL
	}
	lim, unlimited, err := mlockLimit(t)
	if err != nil {
		return 0, err
	}
	return 0, t.MM().MlockAll(flags&mclCurrent != 0, flags&mclFuture != 0, flags&mclOnFault != 0, lim, unlimited)
}

// Munlockall is munlockall().
func Munlockall(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	t.MM().MunlockAll()
	return 0, nil
}

func Mincore(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	vec, err := t.MM().Mincore(a.Ptr(0), a[1])
	if err != nil {
		return 0, err
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(2)), vec); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}
