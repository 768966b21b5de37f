package syscalls

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/epoll"
	"github.com/runsc-lite/runsc-lite/sentry/fs/eventfd"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Readiness syscalls: eventfd, epoll, poll/ppoll and select/pselect6. The
// waiting itself is package epoll's (Instance.Wait, epoll.Poll), on kernel
// wait queues that the files' watch callbacks notify: a waiting thread
// releases its CPU.
//
// Signal masks given to epoll_pwait, epoll_pwait2, ppoll and pselect6
// replace the thread's mask for the syscall (process's temporary signal
// mask): restored when it ends, or after the signal that interrupted it
// was acted on. Interrupted waits return EINTR; the run loop decides
// whether they restart (package process, signal_restart.go).

// epMaxEvents is EP_MAX_EVENTS: INT_MAX / sizeof(struct epoll_event).
const epMaxEvents = math.MaxInt32 / epoll.EventSize

// Select's event sets (Linux's POLLIN_SET, POLLOUT_SET, POLLEX_SET).
const (
	pollInSet  = unix.POLLIN | linux.POLLRDNORM | linux.POLLRDBAND | unix.POLLHUP | unix.POLLERR
	pollOutSet = unix.POLLOUT | linux.POLLWRNORM | linux.POLLWRBAND | unix.POLLERR
	pollExSet  = unix.POLLPRI
)

// Eventfd is eventfd(initval): eventfd2 without flags.
func Eventfd(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return newEventfd(t, a.Uint(0), 0)
}

// Eventfd2 is eventfd2(initval, flags).
func Eventfd2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return newEventfd(t, a.Uint(0), a.Uint(1))
}

func newEventfd(t *process.Thread, initval, flags uint32) (uintptr, error) {
	if flags&^(unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK|unix.EFD_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	e := eventfd.New(uint64(initval), flags&unix.EFD_SEMAPHORE != 0)
	f := vfs.NewAnonymousFile(eventfd.Name, e, e, unix.O_RDWR|flags&unix.O_NONBLOCK)
	defer f.DecRef()
	return installFile(t, f, flags&unix.EFD_CLOEXEC != 0)
}

// EpollCreate is epoll_create(size): size only has to be positive.
func EpollCreate(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	if a.Int(0) <= 0 {
		return 0, unix.EINVAL
	}
	return newEpoll(t, 0)
}

// EpollCreate1 is epoll_create1(flags).
func EpollCreate1(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Uint(0)
	if flags&^unix.EPOLL_CLOEXEC != 0 {
		return 0, unix.EINVAL
	}
	return newEpoll(t, flags)
}

func newEpoll(t *process.Thread, flags uint32) (uintptr, error) {
	ep := epoll.New()
	f := vfs.NewAnonymousFile(epoll.Name, ep, ep, unix.O_RDWR)
	defer f.DecRef()
	return installFile(t, f, flags&unix.EPOLL_CLOEXEC != 0)
}

// getPollable returns fd's description for the readiness syscalls: O_PATH
// descriptions are EBADF, as Linux's fdget.
func getPollable(t *process.Thread, fd int32) (*vfs.FileDescription, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, err
	}
	if f.IsPath() {
		f.DecRef()
		return nil, unix.EBADF
	}
	return f, nil
}

// epollOf returns the instance behind epfd (EBADF, or EINVAL if epfd is
// not an epoll file) and its description, which the caller must DecRef.
func epollOf(t *process.Thread, epfd int32) (*epoll.Instance, *vfs.FileDescription, error) {
	f, err := getPollable(t, epfd)
	if err != nil {
		return nil, nil, err
	}
	ep, ok := f.Impl().(*epoll.Instance)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EINVAL
	}
	return ep, f, nil
}

// EpollCtl is epoll_ctl(epfd, op, fd, event).
func EpollCtl(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	epfd, op, fd, addr := a.Int(0), a.Int(1), a.Int(2), a.Ptr(3)
	var ev epoll.Event
	if op != unix.EPOLL_CTL_DEL {
		var b [epoll.EventSize]byte
		if _, err := t.CopyInBytes(hostarch.Addr(addr), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		ev.Events = binary.LittleEndian.Uint32(b[0:])
		ev.Data = binary.LittleEndian.Uint64(b[4:])
	}
	epf, err := getPollable(t, epfd)
	if err != nil {
		return 0, err
	}
	defer epf.DecRef()
	tf, err := getPollable(t, fd)
	if err != nil {
		return 0, err
	}
	defer tf.DecRef()
	if !epoll.CanPoll(tf) {
		return 0, unix.EPERM
	}
	ep, ok := epf.Impl().(*epoll.Instance)
	if !ok || epf == tf {
		return 0, unix.EINVAL
	}
	switch op {
	case unix.EPOLL_CTL_ADD:
		return 0, ep.Add(tf, fd, ev)
	case unix.EPOLL_CTL_MOD:
		return 0, ep.Modify(tf, fd, ev)
	case unix.EPOLL_CTL_DEL:
		return 0, ep.Delete(tf, fd)
	}
	return 0, unix.EINVAL
}

// msTimeout converts a timeout in milliseconds (negative: forever).
func msTimeout(ms int32) time.Duration {
	if ms < 0 {
		return kernel.Forever
	}
	return time.Duration(ms) * time.Millisecond
}

// EpollWait is epoll_wait(epfd, events, maxevents, timeout).
func EpollWait(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return epollWait(t, a.Int(0), a.Ptr(1), a.Int(2), msTimeout(a.Int(3)))
}

// EpollPwait is epoll_pwait(epfd, events, maxevents, timeout, sigmask,
// sigsetsize).
func EpollPwait(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	end, err := swapSigmask(t, a.Ptr(4), a[5])
	if err != nil {
		return 0, err
	}
	n, err := epollWait(t, a.Int(0), a.Ptr(1), a.Int(2), msTimeout(a.Int(3)))
	end(err)
	return n, err
}

// EpollPwait2 is epoll_pwait2(epfd, events, maxevents, timeout timespec,
// sigmask, sigsetsize); a NULL timeout waits forever.
func EpollPwait2(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	timeout := kernel.Forever
	if a.Ptr(3) != 0 {
		d, err := copyInTimespec(t, a.Ptr(3))
		if err != nil {
			return 0, err
		}
		timeout = d
	}
	end, err := swapSigmask(t, a.Ptr(4), a[5])
	if err != nil {
		return 0, err
	}
	n, err := epollWait(t, a.Int(0), a.Ptr(1), a.Int(2), timeout)
	end(err)
	return n, err
}

func epollWait(t *process.Thread, epfd int32, addr uintptr, maxEvents int32, timeout time.Duration) (uintptr, error) {
	if maxEvents <= 0 || maxEvents > epMaxEvents {
		return 0, unix.EINVAL
	}
	ep, f, err := epollOf(t, epfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	evs, err := ep.Wait(fsContext(t), int(maxEvents), timeout)
	if err != nil {
		return 0, err
	}
	if len(evs) == 0 {
		return 0, nil
	}
	buf := make([]byte, epoll.EventSize*len(evs))
	for i, ev := range evs {
		binary.LittleEndian.PutUint32(buf[i*epoll.EventSize:], ev.Events)
		binary.LittleEndian.PutUint64(buf[i*epoll.EventSize+4:], ev.Data)
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), buf); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(evs)), nil
}

// swapSigmask installs the signal mask at addr (if addr is not 0) for the
// rest of the syscall and returns the function that ends it, given the
// syscall's error: after EINTR the temporary mask stays until the signal
// is acted on (Linux's restore_saved_sigmask_unless(ret == -EINTR)).
// EINVAL if size is not sizeof(sigset_t); EFAULT for a bad addr.
func swapSigmask(t *process.Thread, addr uintptr, size uintptr) (end func(err error), err error) {
	if addr == 0 {
		return func(error) {}, nil
	}
	if size != sigsetSize {
		return nil, unix.EINVAL
	}
	var set linux.SignalSet
	if _, err := set.CopyIn(t, hostarch.Addr(addr)); err != nil {
		return nil, unix.EFAULT
	}
	t.SetTemporarySignalMask(set)
	return func(err error) { t.EndTemporarySignalMask(err == unix.EINTR) }, nil
}

// pollDeadline is the timeout of poll, ppoll, select and pselect6 with
// the end time Linux keeps to write the remaining time back.
type pollDeadline struct {
	timeout time.Duration // kernel.Forever, 0, or how long
	end     time.Time     // zero unless timeout > 0
}

func newPollDeadline(d time.Duration) pollDeadline {
	pd := pollDeadline{timeout: d}
	if d > 0 {
		pd.end = time.Now().Add(d)
	}
	return pd
}

// remaining returns the time left (0 when past).
func (pd pollDeadline) remaining() time.Duration {
	return max(time.Until(pd.end), 0)
}

// timespecTimeout reads a timespec timeout (EFAULT, EINVAL).
func timespecTimeout(t *process.Thread, addr uintptr) (pollDeadline, error) {
	if addr == 0 {
		return pollDeadline{timeout: kernel.Forever}, nil
	}
	d, err := copyInTimespec(t, addr)
	if err != nil {
		return pollDeadline{}, err
	}
	return newPollDeadline(d), nil
}

// writeBackTimespec stores the remaining time of pd at addr, as Linux's
// poll_select_finish: not for a NULL or zero timeout; a fault is ignored.
func writeBackTimespec(t *process.Thread, addr uintptr, pd pollDeadline) {
	if addr == 0 || pd.end.IsZero() {
		return
	}
	ts := linux.NsecToTimespec(pd.remaining().Nanoseconds())
	ts.CopyOut(t, hostarch.Addr(addr))
}

// Poll is poll(fds, nfds, timeout).
func Poll(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	return pollRestartable(t, a.Ptr(0), a.Uint(1), newPollDeadline(msTimeout(a.Int(2))))
}

// pollRestartable is poll with a timeout that, interrupted, leaves a
// restart block polling on until the original deadline (Linux's
// do_restart_poll) instead of starting the timeout again.
func pollRestartable(t *process.Thread, addr uintptr, nfds uint32, pd pollDeadline) (uintptr, error) {
	n, err := doPoll(t, addr, nfds, pd)
	if err == unix.EINTR && pd.timeout > 0 {
		t.SetRestartBlock(func(t *process.Thread) (uintptr, error) {
			return pollRestartable(t, addr, nfds, pollDeadline{timeout: pd.remaining(), end: pd.end})
		})
	}
	return n, err
}

// Ppoll is ppoll(fds, nfds, tsp, sigmask, sigsetsize): the remaining time
// is written back to tsp.
func Ppoll(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pd, err := timespecTimeout(t, a.Ptr(2))
	if err != nil {
		return 0, err
	}
	end, err := swapSigmask(t, a.Ptr(3), a[4])
	if err != nil {
		return 0, err
	}
	n, err := doPoll(t, a.Ptr(0), a.Uint(1), pd)
	writeBackTimespec(t, a.Ptr(2), pd)
	end(err)
	return n, err
}

// pollfdSize is sizeof(struct pollfd).
const pollfdSize = 8

func doPoll(t *process.Thread, addr uintptr, nfds uint32, pd pollDeadline) (uintptr, error) {
	limit := uint64(t.FDs.Limit())
	if t.TG != nil && t.TG.Limits != nil {
		limit = t.TG.Limits.Get(unix.RLIMIT_NOFILE).Cur
	}
	if uint64(nfds) > limit {
		return 0, unix.EINVAL
	}
	raw := make([]byte, pollfdSize*int(nfds))
	if nfds > 0 {
		if _, err := t.CopyInBytes(hostarch.Addr(addr), raw); err != nil {
			return 0, unix.EFAULT
		}
	}
	files := make([]epoll.PollFile, nfds)
	held := make([]*vfs.FileDescription, 0, nfds)
	defer func() {
		for _, f := range held {
			f.DecRef()
		}
	}()
	nval := make([]bool, nfds)
	for i := range files {
		fd := int32(binary.LittleEndian.Uint32(raw[i*pollfdSize:]))
		events := uint32(binary.LittleEndian.Uint16(raw[i*pollfdSize+4:]))
		if fd < 0 {
			files[i].Skip = true
			continue
		}
		f, err := getPollable(t, fd)
		if err != nil {
			files[i].Skip = true
			nval[i] = true
			continue
		}
		held = append(held, f)
		files[i].Waitable = f.Waitable()
		files[i].Events = events | unix.POLLERR | unix.POLLHUP
	}
	nbad := 0
	for _, b := range nval {
		if b {
			nbad++
		}
	}
	timeout := pd.timeout
	if nbad > 0 {
		timeout = 0 // an invalid descriptor is an event: do not wait
	}
	n, err := epoll.Poll(fsContext(t), files, timeout)
	if err != nil {
		return 0, err
	}
	for i := range files {
		rev := uint16(files[i].Revents)
		if nval[i] {
			rev = unix.POLLNVAL
		}
		binary.LittleEndian.PutUint16(raw[i*pollfdSize+6:], rev)
	}
	if nfds > 0 {
		if _, err := t.CopyOutBytes(hostarch.Addr(addr), raw); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(n + nbad), nil
}

// Select is select(nfds, readfds, writefds, exceptfds, timeout): the
// remaining time is written back to timeout, as Linux does.
func Select(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pd := pollDeadline{timeout: kernel.Forever}
	tvAddr := a.Ptr(4)
	if tvAddr != 0 {
		var b [16]byte
		if _, err := t.CopyInBytes(hostarch.Addr(tvAddr), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		sec := int64(binary.LittleEndian.Uint64(b[0:]))
		usec := int64(binary.LittleEndian.Uint64(b[8:]))
		sec += usec / 1e6
		nsec := (usec % 1e6) * 1e3
		if sec < 0 || nsec < 0 {
			return 0, unix.EINVAL
		}
		d := time.Duration(math.MaxInt64)
		if sec < math.MaxInt64/int64(time.Second)-1 {
			d = time.Duration(sec)*time.Second + time.Duration(nsec)
		}
		pd = newPollDeadline(d)
	}
	n, err := doSelect(t, a.Int(0), a.Ptr(1), a.Ptr(2), a.Ptr(3), pd)
	if tvAddr != 0 && !pd.end.IsZero() {
		left := pd.remaining()
		var b [16]byte
		binary.LittleEndian.PutUint64(b[0:], uint64(left/time.Second))
		binary.LittleEndian.PutUint64(b[8:], uint64(left%time.Second/time.Microsecond))
		t.CopyOutBytes(hostarch.Addr(tvAddr), b[:])
	}
	return n, err
}

// Pselect6 is pselect6(nfds, readfds, writefds, exceptfds, timeout,
// {sigmask, sigsetsize}): the remaining time is written back to timeout.
func Pselect6(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	var maskAddr, maskSize uintptr
	if a.Ptr(5) != 0 {
		var b [16]byte
		if _, err := t.CopyInBytes(hostarch.Addr(a.Ptr(5)), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		maskAddr = uintptr(binary.LittleEndian.Uint64(b[0:]))
		maskSize = uintptr(binary.LittleEndian.Uint64(b[8:]))
	}
	pd, err := timespecTimeout(t, a.Ptr(4))
	if err != nil {
		return 0, err
	}
	end, err := swapSigmask(t, maskAddr, maskSize)
	if err != nil {
		return 0, err
	}
	n, err := doSelect(t, a.Int(0), a.Ptr(1), a.Ptr(2), a.Ptr(3), pd)
	writeBackTimespec(t, a.Ptr(4), pd)
	end(err)
	return n, err
}

// fdSet is one fd_set of a select, as 64-bit words.
type fdSet []uint64

func (s fdSet) has(fd int) bool { return s != nil && s[fd/64]&(1<<(fd%64)) != 0 }

func (s fdSet) set(fd int) { s[fd/64] |= 1 << (fd % 64) }

// copyInFDSet reads the words of an fd_set covering n descriptors; a NULL
// set is nil.
func copyInFDSet(t *process.Thread, addr uintptr, n int) (fdSet, error) {
	if addr == 0 {
		return nil, nil
	}
	raw := make([]byte, 8*((n+63)/64))
	if _, err := t.CopyInBytes(hostarch.Addr(addr), raw); err != nil {
		return nil, unix.EFAULT
	}
	s := make(fdSet, len(raw)/8)
	for i := range s {
		s[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	return s, nil
}

func copyOutFDSet(t *process.Thread, addr uintptr, s fdSet) error {
	if addr == 0 {
		return nil
	}
	raw := make([]byte, 8*len(s))
	for i, w := range s {
		binary.LittleEndian.PutUint64(raw[8*i:], w)
	}
	if _, err := t.CopyOutBytes(hostarch.Addr(addr), raw); err != nil {
		return unix.EFAULT
	}
	return nil
}

func doSelect(t *process.Thread, nfds int32, rAddr, wAddr, eAddr uintptr, pd pollDeadline) (uintptr, error) {
	if nfds < 0 {
		return 0, unix.EINVAL
	}
	// Descriptors at or beyond the table's limit cannot be open: Linux
	// ignores them (it clamps nfds to the table's size).
	n := min(int(nfds), t.FDs.Limit())
	rs, err := copyInFDSet(t, rAddr, n)
	if err != nil {
		return 0, err
	}
	ws, err := copyInFDSet(t, wAddr, n)
	if err != nil {
		return 0, err
	}
	es, err := copyInFDSet(t, eAddr, n)
	if err != nil {
		return 0, err
	}
	var fds []int
	var files []epoll.PollFile
	var held []*vfs.FileDescription
	defer func() {
		for _, f := range held {
			f.DecRef()
		}
	}()
	for fd := 0; fd < n; fd++ {
		var events uint32
		if rs.has(fd) {
			events |= pollInSet
		}
		if ws.has(fd) {
			events |= pollOutSet
		}
		if es.has(fd) {
			events |= pollExSet
		}
		if events == 0 {
			continue
		}
		// An O_PATH descriptor is open, and has no poll method: always
		// ready, as Linux 6 answers.
		f, err := getFile(t, int32(fd))
		if err != nil {
			return 0, unix.EBADF
		}
		held = append(held, f)
		fds = append(fds, fd)
		files = append(files, epoll.PollFile{Waitable: f.Waitable(), Events: events})
	}
	var count int
	if len(files) == 0 {
		if err := epoll.Sleep(fsContext(t), pd.timeout); err != nil {
			return 0, err
		}
	} else if _, err := epoll.Poll(fsContext(t), files, pd.timeout); err != nil {
		return 0, err
	}
	ro, wo, eo := make(fdSet, len(rs)), make(fdSet, len(ws)), make(fdSet, len(es))
	for i, fd := range fds {
		rev := files[i].Revents
		if rev&pollInSet != 0 && rs.has(fd) {
			ro.set(fd)
			count++
		}
		if rev&pollOutSet != 0 && ws.has(fd) {
			wo.set(fd)
			count++
		}
		if rev&pollExSet != 0 && es.has(fd) {
			eo.set(fd)
			count++
		}
	}
	if rs != nil {
		if err := copyOutFDSet(t, rAddr, ro); err != nil {
			return 0, err
		}
	}
	if ws != nil {
		if err := copyOutFDSet(t, wAddr, wo); err != nil {
			return 0, err
		}
	}
	if es != nil {
		if err := copyOutFDSet(t, eAddr, eo); err != nil {
			return 0, err
		}
	}
	return uintptr(count), nil
}
