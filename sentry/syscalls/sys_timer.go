package syscalls

// POSIX per-process timers (timer_create, timer_settime, timer_gettime,
// timer_getoverrun, timer_delete) and timerfd (timerfd_create,
// timerfd_settime, timerfd_gettime), both on softirqd timers: they expire
// from the TIMER softirq of the CPU of the thread that armed them.
//
// POSIX timers run on CLOCK_REALTIME, MONOTONIC, BOOTTIME, REALTIME_ALARM,
// BOOTTIME_ALARM and TAI (softirqd timers), and on the CPU-time clocks
// (PROCESS_CPUTIME_ID, THREAD_CPUTIME_ID and the per-PID/TID clocks:
// process.CPUClockTimer, found by the clock's process polling its CPU
// time).
// A process's timers live in a table keyed (weakly) by its thread group
// and its memory manager: after execve replaces the memory manager the old
// timers are dead — each stops itself at its next expiry without sending
// anything, and the table is emptied at the next timer_* call — and they
// stop at their next expiry once the process has exited. fork does not
// inherit them (the child is another group).
//
// Overruns: while a timer's signal is queued, further expirations are
// added to that queued siginfo's si_overrun (process.UpdateQueuedSignal);
// timer_getoverrun reports the overrun of the last signal that left the
// queue.
//
// Locking: timerTable.mu, then posixTimer.mu, then the thread group's
// lock (taken by process functions). The expiry callback takes only
// posixTimer.mu and then the group's lock.

import (
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/fs/timerfd"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/runsc-lite/runsc-lite/softirqd"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// sigevent's sigev_notify values.
const (
	sigevSignal   = 0
	sigevNone     = 1
	sigevThread   = 2
	sigevThreadID = 4
)

// maxPosixTimers bounds a process's timers (Linux bounds them only by
// RLIMIT_SIGPENDING's accounting; this keeps a program from exhausting
// the sentry's memory).
const maxPosixTimers = 1 << 16

// posixTimer is one timer_create timer.
type posixTimer struct {
	id     int32
	clock  int32 // timer_create's clock id
	notify int32
	signo  int32
	value  uint64
	mm     *mm.MemoryManager // the image the timer belongs to
	tg     weak.Pointer[process.ThreadGroup]
	target weak.Pointer[process.Thread] // SIGEV_THREAD_ID only
	tm     timerDriver

	// Protected by mu, which is also held around every tm.Set and
	// tm.Stop.
	mu          sync.Mutex
	deleted     bool
	queued      *linux.SignalInfo // the last signal sent, possibly still queued
	lastOverrun int32             // overrun of the last delivered signal
}

// timerDriver is what a POSIX timer runs on: a *softirqd.Timer, or a
// *process.CPUClockTimer for the CPU-time clocks.
type timerDriver interface {
	Set(cpu int, spec softirqd.TimerSpec, abs bool) softirqd.TimerSpec
	Get() softirqd.TimerSpec
	Stop() bool
	Stale(e softirqd.Expiry) bool
}

// timerTable is a process's POSIX timers.
type timerTable struct {
	mu     sync.Mutex
	mm     *mm.MemoryManager
	next   int32
	timers map[int32]*posixTimer
}

// timerTables maps weak.Pointer[process.ThreadGroup] to *timerTable. An
// entry goes when its group is garbage.
var timerTables sync.Map

// timersOf returns tg's table, emptied first if the process has exec'd
// since its timers were made.
func timersOf(tg *process.ThreadGroup) *timerTable {
	key := weak.Make(tg)
	v, ok := timerTables.Load(key)
	if !ok {
		var loaded bool
		v, loaded = timerTables.LoadOrStore(key, &timerTable{mm: tg.MM(), timers: map[int32]*posixTimer{}})
		if !loaded {
			runtime.AddCleanup(tg, func(k weak.Pointer[process.ThreadGroup]) { timerTables.Delete(k) }, key)
		}
	}
	tt := v.(*timerTable)
	tt.mu.Lock()
	if m := tg.MM(); tt.mm != m {
		for id, pt := range tt.timers {
			pt.stop()
			delete(tt.timers, id)
		}
		tt.mm = m
		tt.next = 0
	}
	tt.mu.Unlock()
	return tt
}

// stop marks pt deleted and disarms it.
func (pt *posixTimer) stop() {
	pt.mu.Lock()
	pt.deleted = true
	pt.tm.Stop()
	pt.mu.Unlock()
}

// exited reports whether tg has finished exiting.
func exited(tg *process.ThreadGroup) bool {
	select {
	case <-tg.Exited():
		return true
	default:
		return false
	}
}

// fire is pt's expiry callback, in TIMER softirq context: it sends the
// timer's signal, or adds to the overrun of the one still queued.
func (pt *posixTimer) fire(e softirqd.Expiry) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.deleted || pt.tm.Stale(e) {
		return
	}
	tg := pt.tg.Value()
	if tg == nil || exited(tg) || tg.MM() != pt.mm {
		// The process is gone or has exec'd: the timer died with it.
		pt.deleted = true
		pt.tm.Stop()
		return
	}
	var target *process.Thread
	if pt.notify&sigevThreadID != 0 {
		target = pt.target.Value()
		if target == nil || target.Exiting() {
			return
		}
	}
	if pt.queued != nil {
		add := func(info *linux.SignalInfo) {
			info.SetOverrun(int32(min(int64(info.Overrun())+int64(e.Count), softirqd.DelayTimerMax)))
		}
		if tg.UpdateQueuedSignal(target, pt.queued, add) {
			return
		}
		pt.lastOverrun = pt.queued.Overrun()
		pt.queued = nil
	}
	info := &linux.SignalInfo{Signo: pt.signo, Code: linux.SI_TIMER}
	info.SetTimerID(linux.TimerID(pt.id))
	info.SetOverrun(int32(min(e.Count-1, softirqd.DelayTimerMax)))
	info.SetSigval(pt.value)
	pt.queued = info
	if target != nil {
		target.SendSignalInfo(info)
	} else {
		tg.SendSignalInfo(info)
	}
}

// timerClock returns the softirqd clock for a timer_create (tai: it may
// be CLOCK_TAI) or timerfd_create clock id, or EINVAL.
func timerClock(id int32, tai bool) (softirqd.ClockID, error) {
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME,
		unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
		return softirqd.ClockID(id), nil
	case unix.CLOCK_TAI:
		if tai {
			return softirqd.ClockID(id), nil
		}
	case unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_MONOTONIC_COARSE:
		// Clocks Linux has but cannot arm timers on.
		if tai {
			return 0, unix.EOPNOTSUPP
		}
	}
	return 0, unix.EINVAL
}

// softirqsOf returns the sandbox's softirq machinery, or ENOSYS without it.
func softirqsOf(t *process.Thread) (*softirqd.Softirqs, error) {
	if t.S.Softirqs == nil {
		return nil, unix.ENOSYS
	}
	return t.S.Softirqs, nil
}

// cpuOf returns the CPU the calling thread runs on, for arming a timer.
func cpuOf(t *process.Thread) int {
	if c := t.Task.CPU(); c != nil {
		return c.ID()
	}
	return 0
}

// TimerCreate is timer_create(clockid, sevp, timerid).
func TimerCreate(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	s, err := softirqsOf(t)
	if err != nil {
		return 0, err
	}
	cpuClock, onCPUClock, err := cpuClockOf(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	var clock softirqd.ClockID
	if !onCPUClock {
		if clock, err = timerClock(a.Int(0), true); err != nil {
			return 0, err
		}
	}
	pt := &posixTimer{clock: a.Int(0), notify: sigevSignal, signo: int32(linux.SIGALRM), tg: weak.Make(t.TG)}
	haveValue := false
	if sevp := a.Ptr(1); sevp != 0 {
		var b [20]byte
		if _, err := t.CopyInBytes(hostarch.Addr(sevp), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		pt.value = hostarch.ByteOrder.Uint64(b[0:8])
		pt.signo = int32(hostarch.ByteOrder.Uint32(b[8:12]))
		pt.notify = int32(hostarch.ByteOrder.Uint32(b[12:16]))
		haveValue = true
		if pt.notify&sigevThreadID != 0 {
			th := findThread(t, t.PIDOf(t.TG), int32(hostarch.ByteOrder.Uint32(b[16:20])))
			if th == nil {
				return 0, unix.EINVAL
			}
			pt.target = weak.Make(th)
		}
		switch pt.notify &^ sigevThreadID {
		case sigevSignal, sigevThread:
			if pt.signo <= 0 || pt.signo > linux.SignalMaximum {
				return 0, unix.EINVAL
			}
		case sigevNone:
		default:
			return 0, unix.EINVAL
		}
	}
	fn := pt.fire
	if pt.notify&^sigevThreadID == sigevNone {
		fn = nil
	}
	if onCPUClock {
		pt.tm = process.NewCPUClockTimer(cpuClock, fn)
	} else {
		tm, err := s.NewTimer(clock, fn)
		if err != nil {
			return 0, unix.EINVAL
		}
		pt.tm = tm
	}

	tt := timersOf(t.TG)
	tt.mu.Lock()
	if len(tt.timers) >= maxPosixTimers {
		tt.mu.Unlock()
		return 0, unix.EAGAIN
	}
	for {
		if _, used := tt.timers[tt.next]; !used {
			break
		}
		tt.next = (tt.next + 1) & 0x7fffffff
	}
	pt.id = tt.next
	tt.next = (tt.next + 1) & 0x7fffffff
	pt.mm = tt.mm
	if !haveValue {
		pt.value = uint64(pt.id)
	}
	tt.timers[pt.id] = pt
	tt.mu.Unlock()

	var idb [4]byte
	hostarch.ByteOrder.PutUint32(idb[:], uint32(pt.id))
	if _, err := t.CopyOutBytes(hostarch.Addr(a.Ptr(2)), idb[:]); err != nil {
		tt.mu.Lock()
		delete(tt.timers, pt.id)
		tt.mu.Unlock()
		return 0, unix.EFAULT
	}
	return 0, nil
}

// lookupTimer returns the calling process's timer id, or EINVAL.
func lookupTimer(t *process.Thread, id int32) (*posixTimer, error) {
	tt := timersOf(t.TG)
	tt.mu.Lock()
	defer tt.mu.Unlock()
	pt, ok := tt.timers[id]
	if !ok {
		return nil, unix.EINVAL
	}
	return pt, nil
}

// copyInItimerspec reads a struct itimerspec (EINVAL for a bad timespec).
func copyInItimerspec(t *process.Thread, addr uintptr) (softirqd.TimerSpec, error) {
	var its linux.Itimerspec
	if _, err := its.CopyIn(t, hostarch.Addr(addr)); err != nil {
		return softirqd.TimerSpec{}, unix.EFAULT
	}
	for _, ts := range []linux.Timespec{its.Interval, its.Value} {
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
			return softirqd.TimerSpec{}, unix.EINVAL
		}
	}
	return softirqd.TimerSpec{
		Value:    time.Duration(its.Value.ToNsecCapped()),
		Interval: time.Duration(its.Interval.ToNsecCapped()),
	}, nil
}

// hostTimerSpec turns an absolute setting on clock id, as t's time
// namespace shows the clock, into one on the sandbox's clock (Linux's
// timens_ktime_to_host in common_timer_set and timerfd_settime). A first
// expiry the offset puts at or before the clock's start is already due:
// it stays armed (0 would disarm).
func hostTimerSpec(t *process.Thread, id int32, spec softirqd.TimerSpec, abs bool) softirqd.TimerSpec {
	if abs && spec.Value != 0 {
		spec.Value = max(time.Duration(hostClockTime(t, id, int64(spec.Value))), 1)
	}
	return spec
}

// copyOutItimerspec writes spec as a struct itimerspec at addr (nothing
// when addr is 0).
func copyOutItimerspec(t *process.Thread, addr uintptr, spec softirqd.TimerSpec) error {
	if addr == 0 {
		return nil
	}
	its := linux.Itimerspec{
		Interval: linux.NsecToTimespec(int64(spec.Interval)),
		Value:    linux.NsecToTimespec(int64(spec.Value)),
	}
	if _, err := its.CopyOut(t, hostarch.Addr(addr)); err != nil {
		return unix.EFAULT
	}
	return nil
}

// TimerSettime is timer_settime(timerid, flags, new, old).
func TimerSettime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pt, err := lookupTimer(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	if a.Ptr(2) == 0 {
		return 0, unix.EINVAL
	}
	spec, err := copyInItimerspec(t, a.Ptr(2))
	if err != nil {
		return 0, err
	}
	pt.mu.Lock()
	if pt.deleted {
		pt.mu.Unlock()
		return 0, unix.EINVAL
	}
	pt.lastOverrun = 0
	abs := a.Int(1)&unix.TIMER_ABSTIME != 0
	old := pt.tm.Set(cpuOf(t), hostTimerSpec(t, pt.clock, spec, abs), abs)
	pt.mu.Unlock()
	return 0, copyOutItimerspec(t, a.Ptr(3), old)
}

// TimerGettime is timer_gettime(timerid, curr).
func TimerGettime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pt, err := lookupTimer(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	if a.Ptr(1) == 0 {
		return 0, unix.EFAULT
	}
	return 0, copyOutItimerspec(t, a.Ptr(1), pt.tm.Get())
}

// TimerGetoverrun is timer_getoverrun(timerid).
func TimerGetoverrun(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	pt, err := lookupTimer(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.queued != nil {
		var target *process.Thread
		if pt.notify&sigevThreadID != 0 {
			target = pt.target.Value()
		}
		if !t.TG.UpdateQueuedSignal(target, pt.queued, nil) {
			pt.lastOverrun = pt.queued.Overrun()
			pt.queued = nil
		}
	}
	return uintptr(pt.lastOverrun), nil
}

// TimerDelete is timer_delete(timerid).
func TimerDelete(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tt := timersOf(t.TG)
	tt.mu.Lock()
	pt, ok := tt.timers[a.Int(0)]
	if ok {
		delete(tt.timers, pt.id)
	}
	tt.mu.Unlock()
	if !ok {
		return 0, unix.EINVAL
	}
	pt.stop()
	return 0, nil
}

// timerfd flags.
const (
	tfdTimerAbstime     = 1
	tfdTimerCancelOnSet = 2
)

// TimerfdCreate is timerfd_create(clockid, flags).
func TimerfdCreate(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	s, err := softirqsOf(t)
	if err != nil {
		return 0, err
	}
	flags := a.Uint(1)
	if flags&^(unix.TFD_CLOEXEC|unix.TFD_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	clock, err := timerClock(a.Int(0), false)
	if err != nil {
		return 0, err
	}
	tf, err := timerfd.New(s, clock)
	if err != nil {
		return 0, unix.EINVAL
	}
	f := vfs.NewAnonymousFile(timerfd.Name, tf, tf, unix.O_RDWR|flags&unix.O_NONBLOCK)
	defer f.DecRef()
	return installFile(t, f, flags&unix.TFD_CLOEXEC != 0)
}

// timerfdOf returns the timerfd open as fd: EBADF if fd is not open,
// EINVAL if it is not a timerfd.
func timerfdOf(t *process.Thread, fd int32) (*timerfd.TimerFD, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, err
	}
	defer f.DecRef()
	tf, ok := f.Impl().(*timerfd.TimerFD)
	if !ok {
		return nil, unix.EINVAL
	}
	return tf, nil
}

// TimerfdSettime is timerfd_settime(fd, flags, new, old).
// TFD_TIMER_CANCEL_ON_SET is accepted and has no effect (the sandbox's
// real-time clock is never set).
func TimerfdSettime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	flags := a.Int(1)
	if flags&^(tfdTimerAbstime|tfdTimerCancelOnSet) != 0 {
		return 0, unix.EINVAL
	}
	tf, err := timerfdOf(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	spec, err := copyInItimerspec(t, a.Ptr(2))
	if err != nil {
		return 0, err
	}
	abs := flags&tfdTimerAbstime != 0
	old := tf.Set(cpuOf(t), hostTimerSpec(t, int32(tf.Clock()), spec, abs), abs)
	return 0, copyOutItimerspec(t, a.Ptr(3), old)
}

// TimerfdGettime is timerfd_gettime(fd, curr).
func TimerfdGettime(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	tf, err := timerfdOf(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	if a.Ptr(1) == 0 {
		return 0, unix.EFAULT
	}
	return 0, copyOutItimerspec(t, a.Ptr(1), tf.Get())
}

// GetitimerAll is getitimer(which, curr) for the three interval timers:
// ITIMER_REAL is Getitimer's; ITIMER_VIRTUAL and ITIMER_PROF are the
// process's CPU-time timers (process/signal_cputimer.go).
func GetitimerAll(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	switch which := int(a.Int(0)); which {
	case process.ItimerVirtual, process.ItimerProf:
		value, interval := t.TG.CPUTimer(which)
		return 0, copyOutItimerval(t, a.Ptr(1), value, interval)
	}
	return Getitimer(t, a)
}

// SetitimerAll is setitimer(which, new, old) for the three interval
// timers, as GetitimerAll.
func SetitimerAll(t *process.Thread, a arch.SyscallArguments) (uintptr, error) {
	which := int(a.Int(0))
	if which != process.ItimerVirtual && which != process.ItimerProf {
		return Setitimer(t, a)
	}
	var value, interval time.Duration
	if a.Ptr(1) != 0 {
		var v [2]linux.Timeval
		for i := range v {
			if _, err := v[i].CopyIn(t, hostarch.Addr(a.Ptr(1)+uintptr(i*16))); err != nil {
				return 0, unix.EFAULT
			}
		}
		var err error
		if interval, err = timevalDuration(v[0]); err != nil {
			return 0, err
		}
		if value, err = timevalDuration(v[1]); err != nil {
			return 0, err
		}
	}
	oldValue, oldInterval := t.TG.SetCPUTimer(cpuOf(t), which, value, interval)
	if a.Ptr(2) != 0 {
		return 0, copyOutItimerval(t, a.Ptr(2), oldValue, oldInterval)
	}
	return 0, nil
}
