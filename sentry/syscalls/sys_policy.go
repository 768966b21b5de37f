package syscalls

// Per-thread policies the sandbox stores and reports without a device or
// NUMA topology to apply them to: I/O priority (ioprio_get/ioprio_set),
// NUMA memory policy on the sandbox's single node (get_mempolicy,
// set_mempolicy), and sysfs(2)'s filesystem type list.

import (
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

const (
	ioprioWhoProcess = 1
	ioprioWhoPgrp    = 2
	ioprioWhoUser    = 3

	ioprioClassNone = 0
	ioprioClassRT   = 1
	ioprioClassBE   = 2
	ioprioClassIdle = 3
)

// ioprioTargets returns the threads ioprio_get/set's which and who name.
func ioprioTargets(t *process.Thread, which, who int32) ([]*process.Thread, error) {
	var ths []*process.Thread
	switch which {
	case ioprioWhoProcess:
		if who == 0 {
			return []*process.Thread{t}, nil
		}
		if th := findThread(t, 0, who); th != nil {
			return []*process.Thread{th}, nil
		}
	case ioprioWhoPgrp:
		if who == 0 {
			who = t.TG.ProcessGroup()
		}
		for _, tg := range t.S.ProcessGroupMembers(who) {
			ths = append(ths, tg.Threads()...)
		}
	case ioprioWhoUser:
		uid := uint32(who)
		if who == 0 {
			uid = t.Credentials().RealUID
		}
		for _, tg := range t.S.ThreadGroups() {
			for _, th := range tg.Threads() {
				if th.Credentials().RealUID == uid {
					ths = append(ths, th)
				}
			}
		}
	default:
		return nil, unix.EINVAL
	}
	if len(ths) == 0 {
		return nil, unix.ESRCH
	}
	return ths, nil
}

// IoprioSet is ioprio_set(which, who, ioprio). The value is kept per
// thread; the sandbox has no block I/O scheduler for it to order.
func IoprioSet(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	prio := uint32(a[2])
	// Bits 3-12 are hints (Linux 6.5), kept as given.
	class, level := prio>>13, prio&7
	if prio > 0xffff {
		return 0, unix.EINVAL
	}
	c := t.Credentials()
	switch class {
	case ioprioClassRT:
		if !c.HasCapability(linux.CAP_SYS_NICE) && !c.HasCapability(linux.CAP_SYS_ADMIN) {
			return 0, unix.EPERM
		}
	case ioprioClassBE, ioprioClassIdle:
	case ioprioClassNone:
		if level != 0 {
			return 0, unix.EINVAL
		}
	default:
		return 0, unix.EINVAL
	}
	ths, err := ioprioTargets(t, a.Int(0), a.Int(1))
	if err != nil {
		return 0, err
	}
	for _, th := range ths {
		tc := th.Credentials()
		if tc.RealUID != c.EffectiveUID && tc.RealUID != c.RealUID && !c.HasCapability(linux.CAP_SYS_NICE) {
			return 0, unix.EPERM
		}
		th.IOPrio.Store(prio)
	}
	return 0, nil
}

// IoprioGet is ioprio_get(which, who): the thread's value, or for a group
// of threads the highest priority among them (Linux's ioprio_best).
func IoprioGet(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ths, err := ioprioTargets(t, a.Int(0), a.Int(1))
	if err != nil {
		return 0, err
	}
	if a.Int(0) == ioprioWhoProcess {
		return uintptr(ths[0].IOPrio.Load()), nil
	}
	// ioprio_best: a thread with no class counts as best-effort level
	// 4; one thread's value is returned as it is.
	valid := func(p uint32) uint32 {
		if p>>13 == ioprioClassNone {
			p = ioprioClassBE<<13 | 4
		}
		return p
	}
	best := ths[0].IOPrio.Load()
	for _, th := range ths[1:] {
		best = min(valid(best), valid(th.IOPrio.Load()))
	}
	return uintptr(best), nil
}

const (
	mpolDefault = iota
	mpolPreferred
	mpolBind
	mpolInterleave
	mpolLocal
	mpolPreferredMany
	mpolWeightedInterleave
	mpolMax

	mpolModeFlags = 1<<15 | 1<<14 | 1<<13 // STATIC_NODES, RELATIVE_NODES, NUMA_BALANCING

	mpolFNode         = 1 << 0
	mpolFAddr         = 1 << 1
	mpolFMemsAllowed  = 1 << 2
	singleNodeMaskBit = 1 // node 0
)

// readNodeMask reads set_mempolicy's mask of maxnode-1 bits and reports
// whether it holds node 0 and no other node.
func readNodeMask(t *process.Thread, addr uintptr, maxnode uint64) (empty bool, err error) {
	if maxnode > 0 {
		maxnode-- // Linux reads maxnode-1 bits
	}
	if addr == 0 || maxnode == 0 {
		return true, nil
	}
	if maxnode > 8*hostarch.PageSize {
		return false, unix.EINVAL
	}
	buf := make([]byte, (maxnode+63)/64*8)
	if _, err := t.CopyInBytes(hostarch.Addr(addr), buf); err != nil {
		return false, unix.EFAULT
	}
	// Bits at and above maxnode are ignored.
	for i := maxnode; i < uint64(len(buf))*8; i++ {
		buf[i/8] &^= 1 << (i % 8)
	}
	for i, b := range buf {
		if i == 0 && b&^singleNodeMaskBit != 0 || i > 0 && b != 0 {
			return false, unix.EINVAL // a node that is not online
		}
	}
	return buf[0]&singleNodeMaskBit == 0, nil
}

// SetMempolicy is set_mempolicy(mode, nodemask, maxnode) on the sandbox's
// one node: the policy is validated and kept, and every allocation is on
// node 0 whatever it says.
func SetMempolicy(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	mode := int32(a[0])
	flags := uint32(mode) & mpolModeFlags
	mode &^= int32(mpolModeFlags)
	if mode < 0 || mode >= mpolMax {
		return 0, unix.EINVAL
	}
	empty, err := readNodeMask(t, a.Ptr(1), uint64(a[2]))
	if err != nil {
		return 0, err
	}
	const static, relative, balancing = 1 << 15, 1 << 14, 1 << 13
	if flags&static != 0 && flags&relative != 0 || flags&balancing != 0 && mode != mpolBind && mode != mpolPreferredMany {
		return 0, unix.EINVAL
	}
	if mode == mpolPreferred && empty {
		// An empty mask is local allocation (Linux's mpol_new).
		if flags&(static|relative) != 0 {
			return 0, unix.EINVAL
		}
		mode = mpolLocal
	}
	switch mode {
	case mpolDefault:
		if !empty || flags != 0 {
			return 0, unix.EINVAL
		}
	case mpolLocal:
		if !empty || flags&(static|relative) != 0 {
			return 0, unix.EINVAL
		}
	default:
		if empty {
			return 0, unix.EINVAL
		}
	}
	t.MemPolicy.Store(uint64(uint32(mode)|flags) | boolBit(!empty)<<32)
	return 0, nil
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// GetMempolicy is get_mempolicy(mode, nodemask, maxnode, addr, flags).
func GetMempolicy(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	modeAddr, maskAddr, maxnode, flags := a.Ptr(0), a.Ptr(1), uint64(a[2]), uint64(a[4])
	if flags&^(mpolFNode|mpolFAddr|mpolFMemsAllowed) != 0 {
		return 0, unix.EINVAL
	}
	if flags&mpolFMemsAllowed != 0 && flags&(mpolFNode|mpolFAddr) != 0 {
		return 0, unix.EINVAL
	}
	if flags&mpolFAddr == 0 && a[3] != 0 {
		return 0, unix.EINVAL
	}
	if maskAddr != 0 && maxnode < 1 { // nr_node_ids
		return 0, unix.EINVAL
	}
	pol := t.MemPolicy.Load()
	mode := uint32(pol)
	var mask uint64
	if pol>>32 != 0 {
		mask = singleNodeMaskBit
	}
	switch {
	case flags&mpolFMemsAllowed != 0:
		mode, mask = 0, singleNodeMaskBit
	case flags&mpolFAddr != 0:
		// Mappings carry no policy of their own (mbind is not
		// served): the address's policy is the default.
		if _, err := t.MM().FutexKey(a.Ptr(3)&^3, true); err != nil {
			return 0, unix.EFAULT
		}
		mode, mask = mpolDefault, 0
		if flags&mpolFNode != 0 {
			mode = 0 // the node holding the page: node 0
		}
	case flags&mpolFNode != 0:
		if mode&^mpolModeFlags != mpolInterleave && mode&^mpolModeFlags != mpolWeightedInterleave {
			return 0, unix.EINVAL
		}
		mode = 0 // the next interleave node: always node 0
	}
	if modeAddr != 0 {
		var b [4]byte
		b[0], b[1], b[2], b[3] = byte(mode), byte(mode>>8), byte(mode>>16), byte(mode>>24)
		if _, err := t.CopyOutBytes(hostarch.Addr(modeAddr), b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	if n := (maxnode - 1 + 63) / 64 * 8; maskAddr != 0 && n > 0 {
		if n > hostarch.PageSize {
			return 0, unix.EINVAL
		}
		buf := make([]byte, n)
		buf[0] = byte(mask)
		if _, err := t.CopyOutBytes(hostarch.Addr(maskAddr), buf); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

// Sysfs is sysfs(2): 1 maps a filesystem type name to its index in
// /proc/filesystems, 2 the index to the name, 3 counts the types.
func Sysfs(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	fss := procfs.Filesystems
	switch a.Int(0) {
	case 1:
		name, err := t.CopyInString(a.Ptr(1), 256)
		if err != nil {
			return 0, err
		}
		for i, n := range fss {
			if n == name {
				return uintptr(i), nil
			}
		}
		return 0, unix.EINVAL
	case 2:
		i := uint64(a[1])
		if i >= uint64(len(fss)) {
			return 0, unix.EINVAL
		}
		b := append([]byte(fss[i]), 0)
		if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(2)), b); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case 3:
		return uintptr(len(fss)), nil
	}
	return 0, unix.EINVAL
}
