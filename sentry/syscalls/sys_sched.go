package syscalls

import (
	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
)

// schedResetOnFork is SCHED_RESET_ON_FORK, accepted and ignored.
const schedResetOnFork = 0x40000000

// privileged reports whether the caller may raise priorities and change
// other users' scheduling (CAP_SYS_NICE).
func privileged(t *process.Thread) bool { return t.Credentials().HasCapability(linux.CAP_SYS_NICE) }

// sameOwner reports whether t may change target's scheduling without
// CAP_SYS_NICE (Linux's check_same_owner and set_one_prio_perm): t's
// effective UID is target's real or effective UID. Kernel threads belong
// to root.
func sameOwner(t *process.Thread, target *kernel.Task) bool {
	c := t.Credentials()
	th, ok := target.Ext.(*process.Thread)
	if !ok {
		return c.EffectiveUID == 0
	}
	tc := th.Credentials()
	return c.EffectiveUID == tc.RealUID || c.EffectiveUID == tc.EffectiveUID
}

func validPolicy(p int) bool {
	switch p {
	case kernel.SchedNormal, kernel.SchedFIFO, kernel.SchedRR, kernel.SchedBatch, kernel.SchedIdle:
		return true
	}
	return false
}

func setParams(t *process.Thread, target *kernel.Task, p kernel.SchedParams) error {
	cur := target.SchedParams()
	if !privileged(t) {
		if !sameOwner(t, target) {
			return unix.EPERM
		}
		if p.Policy == kernel.SchedFIFO || p.Policy == kernel.SchedRR {
			return unix.EPERM
		}
		if p.Nice < cur.Nice {
			return unix.EPERM
		}
	}
	if err := target.SetSchedParams(p); err != nil {
		return unix.EINVAL
	}
	return nil
}

func SchedSetscheduler(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	policy := int(a.Int(1)) &^ schedResetOnFork
	if !validPolicy(policy) {
		return 0, unix.EINVAL
	}
	tk, err := taskByPID(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	var prio primitive.Int32
	if _, err := prio.CopyIn(t, hostarch.Addr(a.Ptr(2))); err != nil {
		return 0, unix.EFAULT
	}
	p := tk.SchedParams()
	p.Policy, p.RTPriority = policy, int(prio)
	return 0, setParams(t, tk, p)
}

func SchedGetscheduler(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tk, err := taskByPID(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	return uintptr(tk.SchedParams().Policy), nil
}

func SchedSetparam(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tk, err := taskByPID(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	var prio primitive.Int32
	if _, err := prio.CopyIn(t, hostarch.Addr(a.Ptr(1))); err != nil {
		return 0, unix.EFAULT
	}
	p := tk.SchedParams()
	p.RTPriority = int(prio)
	return 0, setParams(t, tk, p)
}

func SchedGetparam(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tk, err := taskByPID(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	prio := primitive.Int32(tk.SchedParams().RTPriority)
	if _, err := prio.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// schedAttr is struct sched_attr (size 56 in SCHED_ATTR_SIZE_VER1).
type schedAttr struct {
	Size     uint32
	Policy   uint32
	Flags    uint64
	Nice     int32
	Priority uint32
	Runtime  uint64
	Deadline uint64
	Period   uint64
	UtilMin  uint32
	UtilMax  uint32
}

func (s *schedAttr) bytes() []byte {
	b := make([]byte, 56)
	le := func(off int, v uint64, n int) {
		for i := 0; i < n; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	le(0, uint64(s.Size), 4)
	le(4, uint64(s.Policy), 4)
	le(8, s.Flags, 8)
	le(16, uint64(uint32(s.Nice)), 4)
	le(20, uint64(s.Priority), 4)
	le(24, s.Runtime, 8)
	le(32, s.Deadline, 8)
	le(40, s.Period, 8)
	le(48, uint64(s.UtilMin), 4)
	le(52, uint64(s.UtilMax), 4)
	return b
}

func SchedSetattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tk, err := taskByPID(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	if a.Uint(2) != 0 {
		return 0, unix.EINVAL
	}
	b := make([]byte, 56)
	if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(1)), b[:8]); err != nil {
		return 0, unix.EFAULT
	}
	size := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	if size == 0 {
		size = 48
	}
	if size < 48 || size > 4096 {
		return 0, unix.E2BIG
	}
	n := min(int(size), 56)
	if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(1)), b[:n]); err != nil {
		return 0, unix.EFAULT
	}
	u32 := func(off int) uint32 {
		return uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16 | uint32(b[off+3])<<24
	}
	policy := int(u32(4))
	flags := uint64(u32(8)) | uint64(u32(12))<<32
	if flags&^(1|0x8 /* RESET_ON_FORK, KEEP_PARAMS */) != 0 || !validPolicy(policy) {
		return 0, unix.EINVAL
	}
	p := kernel.SchedParams{Policy: policy, RTPriority: int(u32(20)), Nice: int(int32(u32(16)))}
	if policy == kernel.SchedFIFO || policy == kernel.SchedRR {
		p.Nice = tk.SchedParams().Nice
	}
	return 0, setParams(t, tk, p)
}

func SchedGetattr(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	size := a.Uint(2)
	if size < 48 || size > 4096 || a.Uint(3) != 0 {
		return 0, unix.EINVAL
	}
	tk, err := taskByPID(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	p := tk.SchedParams()
	at := schedAttr{Size: min(size, 56), Policy: uint32(p.Policy), Nice: int32(p.Nice), Priority: uint32(p.RTPriority), UtilMax: 1024}
	if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(1)), at.bytes()[:at.Size]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func SchedGetPriorityMax(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	switch int(a.Int(0)) {
	case kernel.SchedFIFO, kernel.SchedRR:
		return 99, nil
	case kernel.SchedNormal, kernel.SchedBatch, kernel.SchedIdle:
		return 0, nil
	}
	return 0, unix.EINVAL
}

func SchedGetPriorityMin(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	switch int(a.Int(0)) {
	case kernel.SchedFIFO, kernel.SchedRR:
		return 1, nil
	case kernel.SchedNormal, kernel.SchedBatch, kernel.SchedIdle:
		return 0, nil
	}
	return 0, unix.EINVAL
}

func SchedRrGetInterval(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tk, err := taskByPID(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	var ts linux.Timespec
	switch p := tk.SchedParams(); p.Policy {
	case kernel.SchedRR:
		ts = linux.NsecToTimespec(100e6)
	case kernel.SchedFIFO:
	default:
		ts = linux.NsecToTimespec(4e6)
	}
	if _, err := ts.CopyOut(t, hostarch.Addr(a.Ptr(1))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func SchedSetaffinity(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tk, err := affinityTask(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	size := int(min(a.Uint(1), 128))
	b := make([]byte, size)
	if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(2)), b); err != nil {
		return 0, unix.EFAULT
	}
	mask := kernel.CPUSetFromBytes(b).Intersect(kernel.AllCPUs(t.S.Kernel.NumCPUs()))
	if mask.Empty() {
		return 0, unix.EINVAL
	}
	if !privileged(t) && !sameOwner(t, tk) {
		return 0, unix.EPERM
	}
	tk.SetAffinity(mask)
	return 0, nil
}

// priorityTargets returns the tasks setpriority/getpriority name.
func priorityTargets(t *process.Thread, which, who int32) ([]*kernel.Task, error) {
	var tgs []*process.ThreadGroup
	switch which {
	case unix.PRIO_PROCESS:
		if who == 0 {
			return []*kernel.Task{t.Task}, nil
		}
		tk := t.S.Kernel.TaskByTID(kernelPID(t, who))
		if tk == nil || tk.State() == kernel.TaskDead {
			return nil, unix.ESRCH
		}
		return []*kernel.Task{tk}, nil
	case unix.PRIO_PGRP:
		if who == 0 {
			who = t.TG.ProcessGroup()
		} else {
			who = kernelPID(t, who)
		}
		tgs = t.S.ProcessGroupMembers(who)
	case unix.PRIO_USER:
		uid := uint32(who)
		if who == 0 {
			uid = t.Credentials().RealUID
		}
		for _, tg := range t.S.ThreadGroups() {
			if l := tg.Leader(); l != nil && l.Credentials().RealUID == uid {
				tgs = append(tgs, tg)
			}
		}
	default:
		return nil, unix.EINVAL
	}
	var out []*kernel.Task
	for _, tg := range tgs {
		for _, th := range tg.Threads() {
			out = append(out, th.Task)
		}
	}
	if len(out) == 0 {
		return nil, unix.ESRCH
	}
	return out, nil
}

func Setpriority(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tasks, err := priorityTargets(t, a.Int(0), a.Int(1))
	if err != nil {
		return 0, err
	}
	nice := min(max(int(a.Int(2)), -20), 19)
	for _, tk := range tasks {
		if !privileged(t) {
			// Linux's set_one_prio: another user's task is EPERM,
			// lowering the nice value without CAP_SYS_NICE EACCES
			// (sched_setscheduler says EPERM for both).
			if !sameOwner(t, tk) {
				return 0, unix.EPERM
			}
			if nice < tk.Nice() {
				return 0, unix.EACCES
			}
		}
		p := tk.SchedParams()
		p.Nice = nice
		if err := setParams(t, tk, p); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Getpriority returns 20-nice (the raw syscall's convention; libc
// converts) of the highest-priority target.
func Getpriority(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tasks, err := priorityTargets(t, a.Int(0), a.Int(1))
	if err != nil {
		return 0, err
	}
	best := 19
	for _, tk := range tasks {
		best = min(best, tk.Nice())
	}
	return uintptr(20 - best), nil
}
