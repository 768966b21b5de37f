package syscalls

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

// Kernel identity reported by uname and /proc/version.
const (
	UnameSysname = "Linux"
	UnameRelease = "6.12.0-runsc-lite"
	UnameVersion = "#1 SMP PREEMPT_DYNAMIC runsc-lite"
	UnameMachine = "x86_64"
)

func Getpid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.PIDOf(t.TG)), nil
}

func Getppid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if p := t.Task.Parent(); p != nil {
		return uintptr(t.PIDOfTask(p.TGID())), nil
	}
	return 0, nil
}

func Gettid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.PIDOfTask(t.TID())), nil
}

func Getuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNS.UID(c.RealUID)), nil
}

func Geteuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNS.UID(c.EffectiveUID)), nil
}

func Getgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNS.GID(c.RealGID)), nil
}

func Getegid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNS.GID(c.EffectiveGID)), nil
}

func Getgroups(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	size := a.Int(0)
	groups := t.Credentials().GroupsInNS()
	if size < 0 {
		return 0, unix.EINVAL
	}
	if size == 0 {
		return uintptr(len(groups)), nil
	}
	if int(size) < len(groups) {
		return 0, unix.EINVAL
	}
	for i, g := range groups {
		v := primitive.Uint32(g)
		if _, err := v.CopyOut(t, hostarch.Addr(a.Ptr(1)+uintptr(4*i))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(len(groups)), nil
}

func copyOutTriple(t *process.Thread, a arch.SyscallArguments, x, y, z uint32) (uintptr, error) {
	for i, v := range []uint32{x, y, z} {
		p := primitive.Uint32(v)
		if _, err := p.CopyOut(t, hostarch.Addr(a.Ptr(i))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

func Getresuid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	ns := c.UserNS
	return copyOutTriple(t, a, ns.UID(c.RealUID), ns.UID(c.EffectiveUID), ns.UID(c.SavedUID))
}

func Getresgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	ns := c.UserNS
	return copyOutTriple(t, a, ns.GID(c.RealGID), ns.GID(c.EffectiveGID), ns.GID(c.SavedGID))
}

func groupOf(t *process.Thread, pid int32) (*process.ThreadGroup, error) {
	if pid < 0 {
		return nil, unix.EINVAL
	}
	if pid == 0 {
		return t.TG, nil
	}
	if tg := t.S.ThreadGroupByID(kernelPID(t, pid)); tg != nil {
		return tg, nil
	}
	return nil, unix.ESRCH
}

func Getpgrp(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.PIDOfTask(t.TG.ProcessGroup())), nil
}

func Getpgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tg, err := groupOf(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	return uintptr(t.PIDOfTask(tg.ProcessGroup())), nil
}

func Getsid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tg, err := groupOf(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	return uintptr(t.PIDOfTask(tg.Session())), nil
}

func Setpgid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tg, err := groupOf(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	pgid := a.Int(1)
	if pgid < 0 {
		return 0, unix.EINVAL
	}
	if pgid = kernelPID(t, pgid); pgid == noSuchPID {
		return 0, unix.EPERM
	}
	return 0, t.TG.SetProcessGroup(tg, pgid)
}

func Setsid(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	sid, err := t.TG.SetSession()
	return uintptr(t.PIDOfTask(sid)), err
}

func Exit(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	t.ExitThread(process.ExitedWith(int(a.Int(0))))
	return 0, nil
}

func ExitGroup(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	t.TG.Exit(process.ExitedWith(int(a.Int(0))))
	return 0, nil
}

func SetTidAddress(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	t.ClearChildTID = a.Ptr(0)
	return uintptr(t.PIDOfTask(t.TID())), nil
}

func SetRobustList(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a[1] != 24 { // sizeof(struct robust_list_head)
		return 0, unix.EINVAL
	}
	t.RobustList = a.Ptr(0)
	return 0, nil
}

func ArchPrctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	const (
		archSetGS    = 0x1001
		archSetFS    = 0x1002
		archGetFS    = 0x1003
		archGetGS    = 0x1004
		archGetCPUID = 0x1011
		archSetCPUID = 0x1012
	)
	switch a.Int(0) {
	case archSetFS:
		if a[1] >= uintptr(t.MM().MaxUserAddress()) {
			return 0, unix.EPERM
		}
		t.Regs.Fs_base = uint64(a[1])
	case archSetGS:
		if a[1] >= uintptr(t.MM().MaxUserAddress()) {
			return 0, unix.EPERM
		}
		t.Regs.Gs_base = uint64(a[1])
	case archGetFS:
		v := primitive.Uint64(t.Regs.Fs_base)
		if _, err := v.CopyOut(t, hostarch.Addr(a[1])); err != nil {
			return 0, unix.EFAULT
		}
	case archGetGS:
		v := primitive.Uint64(t.Regs.Gs_base)
		if _, err := v.CopyOut(t, hostarch.Addr(a[1])); err != nil {
			return 0, unix.EFAULT
		}
	case archGetCPUID:
		return 1, nil
	case archSetCPUID:
		return 0, unix.ENODEV
	default:
		return 0, unix.EINVAL
	}
	return 0, nil
}

func Prctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	switch a.Int(0) {
	case unix.PR_SET_NAME:
		name, err := t.CopyInString(a.Ptr(1), 4096)
		if err != nil && err != unix.ENAMETOOLONG {
			return 0, unix.EFAULT
		}
		t.Task.SetName(name)
	case unix.PR_GET_NAME:
		var buf [16]byte
		copy(buf[:15], t.Task.Name())
		if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(1)), buf[:]); err != nil {
			return 0, unix.EFAULT
		}
	case unix.PR_GET_DUMPABLE:
		return uintptr(t.TG.Dumpable()), nil
	case unix.PR_SET_DUMPABLE:
		if d := a[1]; d == process.DumpableNo || d == process.DumpableUser {
			t.TG.SetDumpable(int(d))
			return 0, nil
		}
		return 0, unix.EINVAL
	case unix.PR_SET_PDEATHSIG:
		return 0, nil
	case unix.PR_SET_CHILD_SUBREAPER:
		t.TG.SetChildSubreaper(a[1] != 0)
	case unix.PR_GET_CHILD_SUBREAPER:
		v := primitive.Int32(0)
		if t.TG.ChildSubreaper() {
			v = 1
		}
		if _, err := v.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
	case unix.PR_SET_TIMERSLACK:
		if a[1] == 0 {
			t.TimerSlack = t.DefaultTimerSlack
		} else {
			t.TimerSlack = uint64(a[1])
		}
	case unix.PR_GET_TIMERSLACK:
		return uintptr(t.TimerSlack), nil
	case unix.PR_GET_TID_ADDRESS:
		v := primitive.Uint64(t.ClearChildTID)
		if _, err := v.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
	case unix.PR_SET_VMA:
		return prSetVMA(t, a)
	case unix.PR_CAPBSET_READ, unix.PR_CAPBSET_DROP, unix.PR_CAP_AMBIENT,
		unix.PR_GET_KEEPCAPS, unix.PR_SET_KEEPCAPS, unix.PR_GET_SECUREBITS, unix.PR_SET_SECUREBITS,
		unix.PR_GET_NO_NEW_PRIVS, unix.PR_SET_NO_NEW_PRIVS:
		return credsPrctl(t, a)
	case unix.PR_GET_SECCOMP, unix.PR_SET_SECCOMP:
		return seccompPrctl(t, a)
	default:
		return 0, unix.EINVAL
	}
	return 0, nil
}

// prSetVMA is prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name):
// the name (at most 79 printable characters, none of \\`$[]) shows as
// [anon:name] in /proc/PID/maps; NULL removes it.
func prSetVMA(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	const setVMAAnonName, maxLen = 0, 80
	if a[1] != setVMAAnonName {
		return 0, unix.EINVAL
	}
	var name string
	if a.Ptr(4) != 0 {
		n, err := t.CopyInString(a.Ptr(4), maxLen-1) // with the NUL, 80 bytes

		if err == unix.ENAMETOOLONG {
			return 0, unix.EINVAL
		}
		if err != nil {
			return 0, unix.EFAULT
		}
		for _, c := range []byte(n) {
			if c < 0x20 || c > 0x7e || strings.IndexByte("\\`$[]", c) >= 0 {
				return 0, unix.EINVAL
			}
		}
		name = n
	}
	return 0, t.MM().SetAnonName(a.Ptr(2), a.Ptr(3), name)
}

func Uname(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	var u linux.UtsName
	hostname, domainname := t.UTS().Names()
	copy(u.Sysname[:], UnameSysname)
	copy(u.Nodename[:], hostname)
	copy(u.Release[:], UnameRelease)
	if t.TG.Personality()&uname26 != 0 {
		clear(u.Release[:])
		copy(u.Release[:], uname26Release(UnameRelease))
	}
	copy(u.Version[:], UnameVersion)
	copy(u.Machine[:], UnameMachine)
	copy(u.Domainname[:], domainname)
	if _, err := u.CopyOut(t, hostarch.Addr(a.Ptr(0))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// uname26 is personality's UNAME26 (setarch --uname-2.6).
const uname26 = 0x0020000

// uname26Release is Linux's override_release: "2.6.(60+minor)" followed
// by what comes after the version numbers (6.12.0-x: 2.6.72-x).
func uname26Release(rel string) string {
	i, dots := 0, 0
	for ; i < len(rel); i++ {
		c := rel[i]
		if c == '.' {
			if dots++; dots >= 3 {
				break
			}
		} else if c < '0' || c > '9' {
			break
		}
	}
	minor := 0
	if _, after, ok := strings.Cut(rel, "."); ok {
		for _, c := range after {
			if c < '0' || c > '9' {
				break
			}
			minor = minor*10 + int(c-'0')
		}
	}
	return fmt.Sprintf("2.6.%d%s", minor+60, rel[i:])
}

func Sethostname(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	name, err := utsNameArg(t, a)
	if err != nil {
		return 0, err
	}
	t.UTS().SetHostname(name)
	return 0, nil
}

func Setdomainname(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	name, err := utsNameArg(t, a)
	if err != nil {
		return 0, err
	}
	t.UTS().SetDomainname(name)
	return 0, nil
}

// utsNameArg reads sethostname's and setdomainname's name: CAP_SYS_ADMIN
// (EPERM), at most 64 bytes (EINVAL), EFAULT for a bad pointer.
func utsNameArg(t *process.Thread, a arch.SyscallArguments) (string, error) {
	if !t.Credentials().HasCapabilityIn(t.UTS().Owner(), linux.CAP_SYS_ADMIN) {
		return "", unix.EPERM
	}
	n := a.Int(1)
	if n < 0 || n > 64 {
		return "", unix.EINVAL
	}
	buf := make([]byte, n)
	if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(0)), buf); err != nil {
		return "", unix.EFAULT
	}
	return string(buf), nil
}

func Getrandom(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	const grndAll = unix.GRND_NONBLOCK | unix.GRND_RANDOM | 0x4 /* GRND_INSECURE */
	if a.Uint(2)&^grndAll != 0 {
		return 0, unix.EINVAL
	}
	n := int(min(a.Uint(1), 1<<25))
	var buf [4096]byte
	done := 0
	for done < n {
		c := min(len(buf), n-done)
		rand.Read(buf[:c])
		if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(0)+uintptr(done)), buf[:c]); err != nil {
			if done > 0 {
				break
			}
			return 0, unix.EFAULT
		}
		done += c
	}
	return uintptr(done), nil
}

func Getcpu(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	cpu := primitive.Uint32(0)
	if c := t.Task.CPU(); c != nil {
		cpu = primitive.Uint32(c.ID())
	}
	if a.Ptr(0) != 0 {
		if _, err := cpu.CopyOut(t, hostarch.Addr(a.Ptr(0))); err != nil {
			return 0, unix.EFAULT
		}
	}
	if a.Ptr(1) != 0 {
		node := primitive.Uint32(0)
		if _, err := node.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

func SchedYield(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	t.Task.Yield()
	return 0, nil
}

// affinityTask finds the task sched_{get,set}affinity names: unlike the
// other scheduling calls, Linux's give ESRCH, not EINVAL, for a negative
// pid.
func affinityTask(t *process.Thread, pid int32) (*kernel.Task, error) {
	if pid < 0 {
		return nil, unix.ESRCH
	}
	return taskByPID(t, pid)
}

// taskByPID finds the task a scheduling syscall names (0: the caller).
func taskByPID(t *process.Thread, pid int32) (*kernel.Task, error) {
	if pid < 0 {
		return nil, unix.EINVAL
	}
	if pid == 0 {
		return t.Task, nil
	}
	if tk := t.S.Kernel.TaskByTID(kernelPID(t, pid)); tk != nil {
		return tk, nil
	}
	return nil, unix.ESRCH
}

func SchedGetaffinity(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	size := int(a.Uint(1))
	// The kernel's cpumask is a whole number of longs covering the CPUs.
	maskSize := (t.S.Kernel.NumCPUs() + 63) / 64 * 8
	if size < maskSize || size%8 != 0 {
		return 0, unix.EINVAL
	}
	tk, err := affinityTask(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	mask := tk.Affinity().Bytes(maskSize)
	if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(2)), mask); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(maskSize), nil
}

func Getrusage(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	who := a.Int(0)
	if who != unix.RUSAGE_SELF && who != unix.RUSAGE_CHILDREN && who != unix.RUSAGE_THREAD {
		return 0, unix.EINVAL
	}
	var ru linux.Rusage
	var user, sys time.Duration
	var nv, niv uint64
	switch who {
	case unix.RUSAGE_THREAD:
		user, sys = t.Task.Times()
		nv, niv = t.Task.ContextSwitches()
	case unix.RUSAGE_SELF:
		user, sys = t.TG.CPUTimes()
		nv, niv = t.TG.ContextSwitches()
	case unix.RUSAGE_CHILDREN:
		user, sys = t.TG.ChildrenCPUTimes()
		nv, niv = t.TG.ChildrenContextSwitches()
	}
	ru.UTime = linux.NsecToTimeval(user.Nanoseconds())
	ru.STime = linux.NsecToTimeval(sys.Nanoseconds())
	ru.NVCSw = int64(nv)
	ru.NIvCSw = int64(niv)
	if who != unix.RUSAGE_CHILDREN {
		ru.MaxRSS = int64(t.MM().ResidentPages() * 4)
	}
	if _, err := ru.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func Sysinfo(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	k := t.S.Kernel
	var si linux.Sysinfo
	// In the caller's time namespace (Linux's timens_add_boottime).
	si.Uptime = int64((time.Since(k.BootTime()) + time.Duration(t.ClockOffset(unix.CLOCK_BOOTTIME))).Seconds())
	running := 0
	for i := 0; i < k.NumCPUs(); i++ {
		running += k.CPU(i).NrRunning()
	}
	load := uint64(running) << 16 // fixed point, as SI_LOAD_SHIFT
	si.Loads = [3]uint64{load, load, load}
	if z := t.S.Zone; z != nil {
		sn := z.Snapshot()
		si.TotalRAM = sn.TotalPages * 4096
		si.FreeRAM = sn.FreePages * 4096
		si.SharedRAM = uint64(max(sn.Stats[kswapd.NrShmem], 0)) * 4096
		si.TotalSwap = sn.SwapTotal * 4096
		si.FreeSwap = sn.SwapFree * 4096
	} else {
		si.TotalRAM = t.S.MF.Size()
		si.FreeRAM = (t.S.MF.TotalPages() - t.S.MF.UsedPages()) * 4096
	}
	si.Procs = uint16(len(k.Tasks()))
	si.Unit = 1
	if _, err := si.CopyOut(t, hostarch.Addr(a.Ptr(0))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}
