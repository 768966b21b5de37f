package syscalls

// System V IPC: shared memory (shmget, shmat, shmdt, shmctl), semaphores
// (semget, semop, semtimedop, semctl) and message queues (msgget, msgsnd,
// msgrcv, msgctl), served by sentry/ipc/{shm,sem,msg} in the sandbox's own
// IPC namespace. Arguments are checked in Linux's order, so that a program
// gets the same errno for the same mistakes.

import (
	"encoding/binary"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/ipc"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/msg"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/sem"
	"github.com/runsc-lite/runsc-lite/sentry/ipc/shm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/marshal"
)

// ipcNS returns the caller's IPC namespace; ENOSYS for a sandbox built
// without one (unit tests).
func ipcNS(t *process.Thread) (*process.IPCNamespace, error) {
	ns := t.IPC()
	if ns == nil {
		return nil, unix.ENOSYS
	}
	return ns, nil
}

// copyOutBytes writes b to addr; EFAULT if it cannot.
func copyOutBytes(t *process.Thread, addr uintptr, b []byte) error {
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), b); err != nil {
		return unix.EFAULT
	}
	return nil
}

// statOut finishes IPC_STAT and the index forms (SHM_STAT, SEM_STAT,
// MSG_STAT and their _ANY): the *id_ds is copied out (EFAULT), and an
// index form returns the object's identifier, IPC_STAT 0.
func statOut(t *process.Thread, addr uintptr, ds interface {
	CopyOut(marshal.CopyContext, hostarch.Addr) (int, error)
}, byIndex bool, rid int32, err error) (uintptr, error) {
	if err != nil {
		return 0, err
	}
	if _, err := ds.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return 0, unix.EFAULT
	}
	if !byIndex {
		return 0, nil
	}
	return uintptr(rid), nil
}

// Shared memory.

func shmCaller(t *process.Thread) shm.Caller {
	return shm.Caller{Creds: t.Credentials(), PID: t.TG.TGID(), TID: t.TID(), MemLock: t.TG.Limits.Get(unix.RLIMIT_MEMLOCK).Cur}
}

func Shmget(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, err := ns.Shm.Get(shmCaller(t), a.Int(0), uint64(a[1]), a.Int(2))
	return uintptr(id), err
}

func Shmat(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	lim := vmLimits(t)
	return ns.Shm.Attach(shmCaller(t), t.MM(), a.Int(0), shm.AttachOpts{Addr: a.Ptr(1), Flags: a.Int(2)}, &lim)
}

func Shmdt(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if _, err := ipcNS(t); err != nil {
		return 0, err
	}
	return 0, t.MM().DetachShared(a.Ptr(0))
}

// shminfo64Size is sizeof(struct shminfo64): five limits and four unused
// longs.
const shminfo64Size = 72

func Shmctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, cmd, buf := a.Int(0), a.Int(1), a.Ptr(2)
	if cmd < 0 || id < 0 {
		return 0, unix.EINVAL
	}
	c := shmCaller(t)
	switch cmd {
	case linux.IPC_INFO:
		info, maxIdx := ns.Shm.Info()
		b := make([]byte, shminfo64Size)
		info.MarshalBytes(b)
		return uintptr(maxIdx), copyOutBytes(t, buf, b)
	case linux.SHM_INFO:
		info, maxIdx := ns.Shm.Usage()
		if _, err := info.CopyOut(t, hostarch.Addr(buf)); err != nil {
			return 0, unix.EFAULT
		}
		return uintptr(maxIdx), nil
	case linux.IPC_STAT, linux.SHM_STAT, shm.StatAny:
		ds, rid, err := ns.Shm.Stat(c, id, cmd != linux.IPC_STAT, cmd == shm.StatAny)
		// The creator and last attacher in the caller's PID
		// namespace, 0 outside it (pid_vnr).
		ds.ShmCpid, ds.ShmLpid = t.PIDOfTask(ds.ShmCpid), t.PIDOfTask(ds.ShmLpid)
		return statOut(t, buf, &ds, cmd != linux.IPC_STAT, rid, err)
	case linux.IPC_SET:
		var ds linux.ShmidDS
		if _, err := ds.CopyIn(t, hostarch.Addr(buf)); err != nil {
			return 0, unix.EFAULT
		}
		return 0, ns.Shm.Set(c, id, &ds)
	case linux.IPC_RMID:
		return 0, ns.Shm.Remove(c, id)
	case linux.SHM_LOCK, linux.SHM_UNLOCK:
		return 0, ns.Shm.Lock(c, id, cmd == linux.SHM_LOCK)
	}
	return 0, unix.EINVAL
}

// Semaphores.

func semCaller(t *process.Thread) sem.Caller {
	return sem.Caller{Creds: t.Credentials(), PID: t.TG.TGID()}
}

func Semget(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, err := ns.Sem.Get(semCaller(t), a.Int(0), a.Int(1), a.Int(2))
	return uintptr(id), err
}

func Semop(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return semTimedOp(t, a.Int(0), a.Ptr(1), a.Uint(2), -1)
}

func Semtimedop(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	timeout := time.Duration(-1)
	if a.Ptr(3) != 0 {
		var ts linux.Timespec
		if _, err := ts.CopyIn(t, hostarch.Addr(a.Ptr(3))); err != nil {
			return 0, unix.EFAULT
		}
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
			// Checked after the operations (below), as Linux does.
			timeout = -2
		} else {
			timeout = time.Duration(ts.ToNsecCapped())
		}
	}
	return semTimedOp(t, a.Int(0), a.Ptr(1), a.Uint(2), timeout)
}

// semTimedOp is semop and semtimedop; timeout -1 waits without limit, -2
// is an invalid timespec.
func semTimedOp(t *process.Thread, id int32, opsAddr uintptr, nops uint32, timeout time.Duration) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	if nops < 1 || id < 0 {
		return 0, unix.EINVAL
	}
	if int(nops) > ns.Sem.OpLimit() {
		return 0, unix.E2BIG
	}
	raw := make([]byte, int(nops)*6)
	if _, err := t.CopyInBytes(hostarch.Addr(opsAddr), raw); err != nil {
		return 0, unix.EFAULT
	}
	if timeout == -2 {
		return 0, unix.EINVAL
	}
	ops := make([]linux.Sembuf, nops)
	undo := false
	for i := range ops {
		b := raw[i*6:]
		ops[i] = linux.Sembuf{
			SemNum: binary.LittleEndian.Uint16(b),
			SemOp:  int16(binary.LittleEndian.Uint16(b[2:])),
			SemFlg: int16(binary.LittleEndian.Uint16(b[4:])),
		}
		if ops[i].SemFlg&linux.SEM_UNDO != 0 {
			undo = true
		}
	}
	var ul *sem.UndoList
	if undo {
		ul = t.SemUndo()
	}
	return 0, ns.Sem.Op(semCaller(t), t.Task, id, ops, ul, timeout)
}

// seminfoSize is sizeof(struct seminfo).
const seminfoSize = 40

func Semctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, num, cmd, arg := a.Int(0), a.Int(1), a.Int(2), a.Ptr(3)
	if id < 0 {
		return 0, unix.EINVAL
	}
	c := semCaller(t)
	switch cmd {
	case linux.IPC_INFO, linux.SEM_INFO:
		info, maxIdx := ns.Sem.Info(cmd == linux.SEM_INFO)
		b := make([]byte, seminfoSize)
		info.MarshalBytes(b)
		return uintptr(maxIdx), copyOutBytes(t, arg, b)
	case linux.IPC_STAT, linux.SEM_STAT, linux.SEM_STAT_ANY:
		ds, rid, err := ns.Sem.Stat(c, id, cmd != linux.IPC_STAT, cmd == linux.SEM_STAT_ANY)
		return statOut(t, arg, &ds, cmd != linux.IPC_STAT, rid, err)
	case linux.GETVAL, linux.GETPID, linux.GETNCNT, linux.GETZCNT:
		v, err := ns.Sem.Value(c, id, num, int(cmd))
		if cmd == linux.GETPID {
			v = t.PIDOfTask(v) // the caller's view (pid_vnr)
		}
		return uintptr(v), err
	case linux.GETALL:
		vals, err := ns.Sem.Values(c, id)
		if err != nil {
			return 0, err
		}
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
		return 0, copyOutBytes(t, arg, b)
	case linux.SETALL:
		n, err := ns.Sem.Count(c, id, ipc.MayWrite)
		if err != nil {
			return 0, err
		}
		b := make([]byte, 2*n)
		if _, err := t.CopyInBytes(hostarch.Addr(arg), b); err != nil {
			return 0, unix.EFAULT
		}
		vals := make([]uint16, n)
		for i := range vals {
			vals[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return 0, ns.Sem.SetValues(c, id, vals)
	case linux.SETVAL:
		return 0, ns.Sem.SetValue(c, id, num, int32(uint32(arg)))
	case linux.IPC_SET:
		var ds linux.SemidDS
		if _, err := ds.CopyIn(t, hostarch.Addr(arg)); err != nil {
			return 0, unix.EFAULT
		}
		return 0, ns.Sem.Set(c, id, &ds)
	case linux.IPC_RMID:
		return 0, ns.Sem.Remove(c, id)
	}
	return 0, unix.EINVAL
}

// Message queues.

func msgCaller(t *process.Thread) msg.Caller {
	return msg.Caller{Creds: t.Credentials(), PID: t.TG.TGID()}
}

func Msgget(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, err := ns.Msg.Get(msgCaller(t), a.Int(0), a.Int(1))
	return uintptr(id), err
}

func Msgsnd(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, addr, size, flags := a.Int(0), a.Ptr(1), int64(a[2]), a.Int(3)
	var typ [8]byte
	if _, err := t.CopyInBytes(hostarch.Addr(addr), typ[:]); err != nil {
		return 0, unix.EFAULT
	}
	if size > int64(ns.Msg.MaxSize()) || size < 0 || id < 0 {
		return 0, unix.EINVAL
	}
	mtype := int64(binary.LittleEndian.Uint64(typ[:]))
	if mtype < 1 {
		return 0, unix.EINVAL
	}
	text := make([]byte, size)
	if _, err := t.CopyInBytes(hostarch.Addr(addr+8), text); err != nil {
		return 0, unix.EFAULT
	}
	return 0, ns.Msg.Send(msgCaller(t), t.Task, id, &msg.Message{Type: mtype, Text: text}, flags&linux.IPC_NOWAIT != 0)
}

func Msgrcv(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, addr, size, typ, flags := a.Int(0), a.Ptr(1), int64(a[2]), int64(a[3]), a.Int(4)
	if size < 0 {
		return 0, unix.EINVAL
	}
	if flags&linux.MSG_COPY != 0 {
		size = min(size, int64(ns.Msg.MaxSize()))
	}
	m, err := ns.Msg.Receive(msgCaller(t), t.Task, id, msg.ReceiveOpts{Type: typ, MaxSize: int(min(size, 1<<31-1)), Flags: flags})
	if err != nil {
		return 0, err
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(m.Type))
	if err := copyOutBytes(t, addr, b[:]); err != nil {
		return 0, err
	}
	if err := copyOutBytes(t, addr+8, m.Text); err != nil {
		return 0, err
	}
	return uintptr(len(m.Text)), nil
}

// msginfoSize is sizeof(struct msginfo) (seven ints, an unsigned short,
// padding).
const msginfoSize = 32

func Msgctl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	ns, err := ipcNS(t)
	if err != nil {
		return 0, err
	}
	id, cmd, buf := a.Int(0), a.Int(1), a.Ptr(2)
	if id < 0 || cmd < 0 {
		return 0, unix.EINVAL
	}
	c := msgCaller(t)
	switch cmd {
	case linux.IPC_INFO, linux.MSG_INFO:
		info, maxIdx := ns.Msg.Info(cmd == linux.MSG_INFO)
		b := make([]byte, msginfoSize)
		info.MarshalBytes(b)
		return uintptr(maxIdx), copyOutBytes(t, buf, b)
	case linux.IPC_STAT, linux.MSG_STAT, linux.MSG_STAT_ANY:
		ds, rid, err := ns.Msg.Stat(c, id, cmd != linux.IPC_STAT, cmd == linux.MSG_STAT_ANY)
		// The last sender and receiver in the caller's PID
		// namespace, 0 outside it (pid_vnr).
		ds.MsgLspid, ds.MsgLrpid = t.PIDOfTask(ds.MsgLspid), t.PIDOfTask(ds.MsgLrpid)
		return statOut(t, buf, &ds, cmd != linux.IPC_STAT, rid, err)
	case linux.IPC_SET:
		var ds linux.MsqidDS
		if _, err := ds.CopyIn(t, hostarch.Addr(buf)); err != nil {
			return 0, unix.EFAULT
		}
		return 0, ns.Msg.Set(c, id, &ds)
	case linux.IPC_RMID:
		return 0, ns.Msg.Remove(c, id)
	}
	return 0, unix.EINVAL
}
