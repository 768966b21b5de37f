package syscalls

// Another process's memory and kernel objects: process_vm_readv,
// process_vm_writev and kcmp, with Linux's ptrace access rule
// (process.Thread.MayPtrace: real credentials and dumpability, no Yama).

import (
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// mmMemory is another process's memory as a usermem.Memory.
type mmMemory struct{ m *mm.MemoryManager }

func (r mmMemory) CopyInBytes(addr hostarch.Addr, dst []byte) (int, error) {
	return r.m.CopyIn(uintptr(addr), dst)
}

func (r mmMemory) CopyOutBytes(addr hostarch.Addr, src []byte) (int, error) {
	return r.m.CopyOut(uintptr(addr), src)
}

// ProcessVMReadv is process_vm_readv(2).
func ProcessVMReadv(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return processVM(t, a, false)
}

// ProcessVMWritev is process_vm_writev(2).
func ProcessVMWritev(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return processVM(t, a, true)
}

// processVM moves bytes between the caller's iovecs and the target's,
// remote iovec by remote iovec and page by page, as Linux's
// process_vm_rw_core: it stops at the first page it cannot access on
// either side and returns what it moved, or EFAULT when that is nothing.
func processVM(t *process.Thread, a arch.SyscallArguments, write bool) (uintptr, error) {
	pid, liovcnt, riovcnt := a.Int(0), a.Int(2), a.Int(4)
	if a[5] != 0 {
		return 0, unix.EINVAL
	}
	local, err := usermem.CopyInIOVecs(t, a.Ptr(1), int(liovcnt))
	if err != nil {
		return 0, err
	}
	remote, err := usermem.CopyInIOVecs(t, a.Ptr(3), int(riovcnt))
	if err != nil {
		return 0, err
	}
	target := findThread(t, 0, pid)
	if target == nil {
		return 0, unix.ESRCH
	}
	if !t.MayPtrace(target) {
		return 0, unix.EPERM
	}
	rm := target.MM()
	if rm == nil {
		return 0, unix.ESRCH
	}
	loc := usermem.NewIOSequence(t, local)
	rmem := mmMemory{rm}
	buf := make([]byte, hostarch.PageSize)
	var done int
	for _, iov := range remote {
		for off := 0; off < iov.Len && loc.Len() > 0; {
			addr := iov.Base + uintptr(off)
			n := min(iov.Len-off, int(hostarch.PageSize-addr%hostarch.PageSize), loc.Len())
			var c int
			if write {
				c, _ = loc.Read(buf[:n])
				if c > 0 {
					c, _ = rmem.CopyOutBytes(hostarch.Addr(addr), buf[:c])
				}
			} else {
				c, _ = rmem.CopyInBytes(hostarch.Addr(addr), buf[:n])
				if c > 0 {
					c, _ = loc.Write(buf[:c])
				}
			}
			done += c
			if c < n {
				return processVMResult(done)
			}
			off += c
		}
		if loc.Len() == 0 {
			break
		}
	}
	return uintptr(done), nil
}

func processVMResult(done int) (uintptr, error) {
	if done == 0 {
		return 0, unix.EFAULT
	}
	return uintptr(done), nil
}

// kcmp types (linux/kcmp.h).
const (
	kcmpFile = iota
	kcmpVM
	kcmpFiles
	kcmpFS
	kcmpSighand
)

// kcmpOrder is kcmp's answer for two objects: 0 when they are the same,
// otherwise 1 or 2 by an order of the objects (Linux obfuscates the
// pointers it compares; here the sentry's addresses are compared).
func kcmpOrder(p1, p2 unsafe.Pointer) uintptr {
	switch {
	case p1 == p2:
		return 0
	case uintptr(p1) < uintptr(p2):
		return 1
	}
	return 2
}

// Kcmp is kcmp(pid1, pid2, type, idx1, idx2).
func Kcmp(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	t1, t2 := findThread(t, 0, a.Int(0)), findThread(t, 0, a.Int(1))
	if t1 == nil || t2 == nil {
		return 0, unix.ESRCH
	}
	if !t.MayPtrace(t1) || !t.MayPtrace(t2) {
		return 0, unix.EPERM
	}
	switch a.Int(2) {
	case kcmpFile:
		if t1.FDs == nil || t2.FDs == nil {
			return 0, unix.EBADF
		}
		f1, err := t1.FDs.Get(int32(a[3]))
		if err != nil {
			return 0, unix.EBADF
		}
		defer f1.DecRef()
		f2, err := t2.FDs.Get(int32(a[4]))
		if err != nil {
			return 0, unix.EBADF
		}
		defer f2.DecRef()
		return kcmpOrder(unsafe.Pointer(f1), unsafe.Pointer(f2)), nil
	case kcmpVM:
		return kcmpOrder(unsafe.Pointer(t1.MM()), unsafe.Pointer(t2.MM())), nil
	case kcmpFiles:
		return kcmpOrder(unsafe.Pointer(t1.FDs), unsafe.Pointer(t2.FDs)), nil
	case kcmpFS:
		return kcmpOrder(unsafe.Pointer(t1.FS), unsafe.Pointer(t2.FS)), nil
	case kcmpSighand:
		// Signal handlers are per thread group here (CLONE_SIGHAND
		// without CLONE_THREAD gives the child a copy).
		return kcmpOrder(unsafe.Pointer(t1.TG), unsafe.Pointer(t2.TG)), nil
	}
	// KCMP_IO, KCMP_SYSVSEM and KCMP_EPOLL_TFD are not served; unknown
	// types are EINVAL on Linux too.
	return 0, unix.EINVAL
}
