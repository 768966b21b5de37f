package process

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func info(sig int, val int32) *linux.SignalInfo {
	i := &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_QUEUE}
	i.SetPID(val)
	return i
}

func TestSigQueueOrder(t *testing.T) {
	var q sigQueue
	q.push(info(40, 1))
	q.push(info(int(linux.SIGUSR1), 2))
	q.push(info(40, 3))
	q.push(info(int(linux.SIGSEGV), 4))
	if got := q.next(0); got != int(linux.SIGSEGV) {
		t.Errorf("next = %d, want SIGSEGV first (synchronous)", got)
	}
	if got := q.next(sigBit(int(linux.SIGSEGV))); got != int(linux.SIGUSR1) {
		t.Errorf("next with SIGSEGV masked = %d, want SIGUSR1 (lowest)", got)
	}
	if i := q.take(40); i == nil || i.PID() != 1 {
		t.Fatalf("take(40) = %v, want the first one queued", i)
	}
	if !q.has(40) {
		t.Errorf("40 no longer pending with one left")
	}
	if i := q.take(40); i == nil || i.PID() != 3 {
		t.Fatalf("take(40) = %v, want the second", i)
	}
	if q.has(40) {
		t.Errorf("40 still pending after both were taken")
	}
	if n := q.discard(sigBit(int(linux.SIGUSR1)) | sigBit(int(linux.SIGSEGV))); n != 2 {
		t.Errorf("discard removed %d, want 2", n)
	}
	if q.set != 0 || len(q.infos) != 0 {
		t.Errorf("queue not empty: %#x %d", q.set, len(q.infos))
	}
	if q.next(0) != 0 {
		t.Errorf("next of an empty queue is not 0")
	}
	// A bit without a siginfo (queued over the limit).
	q.set |= sigBit(int(linux.SIGUSR2))
	if i := q.take(int(linux.SIGUSR2)); i != nil || q.has(int(linux.SIGUSR2)) {
		t.Errorf("take of an info-less signal = %v, pending %v", i, q.has(int(linux.SIGUSR2)))
	}
}

func TestDefaultActions(t *testing.T) {
	for sig, want := range map[linux.Signal]signalDefault{
		linux.SIGTERM: defaultTerminate, linux.SIGKILL: defaultTerminate, linux.SIGUSR1: defaultTerminate,
		linux.SIGPIPE: defaultTerminate, linux.SIGALRM: defaultTerminate, 40: defaultTerminate,
		linux.SIGSEGV: defaultCore, linux.SIGQUIT: defaultCore, linux.SIGABRT: defaultCore,
		linux.SIGCHLD: defaultIgnore, linux.SIGURG: defaultIgnore, linux.SIGWINCH: defaultIgnore,
		linux.SIGCONT: defaultContinue,
		linux.SIGSTOP: defaultStop, linux.SIGTSTP: defaultStop, linux.SIGTTIN: defaultStop, linux.SIGTTOU: defaultStop,
	} {
		if got := defaultAction(int(sig)); got != want {
			t.Errorf("defaultAction(%d) = %d, want %d", sig, got, want)
		}
	}
}

func TestWaitStatuses(t *testing.T) {
	if sig, ok := StoppedBy(19).Stopped(); !ok || sig != 19 {
		t.Errorf("StoppedBy(19).Stopped() = %d, %v", sig, ok)
	}
	if _, ok := StoppedBy(19).Signaled(); ok {
		t.Errorf("a stop reads as a death by signal")
	}
	if !ContinuedStatus.Continued() {
		t.Errorf("ContinuedStatus is not Continued")
	}
	if _, ok := ContinuedStatus.Stopped(); ok {
		t.Errorf("ContinuedStatus reads as a stop")
	}
	if _, ok := ContinuedStatus.Signaled(); ok {
		t.Errorf("ContinuedStatus reads as a death by signal")
	}
	if KilledBy(11).ShellStatus() != 139 {
		t.Errorf("SIGSEGV's shell status is not 139")
	}
	if _, ok := KilledBy(11).Stopped(); ok {
		t.Errorf("a death reads as a stop")
	}
}

func TestRestartRules(t *testing.T) {
	var noArgs arch.SyscallArguments
	timed := arch.SyscallArguments{0, linux.FUTEX_WAIT | linux.FUTEX_PRIVATE_FLAG, 0, 0x1000}
	untimed := arch.SyscallArguments{0, linux.FUTEX_WAIT_BITSET, 0, 0}
	abs := arch.SyscallArguments{unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME}
	for _, c := range []struct {
		name       string
		sysno      uintptr
		args       arch.SyscallArguments
		noHandler  bool // restarted when no handler runs
		withRestar bool // restarted after an SA_RESTART handler
		without    bool // restarted after a handler without SA_RESTART
	}{
		{"read", unix.SYS_READ, noArgs, true, true, false},
		{"wait4", unix.SYS_WAIT4, noArgs, true, true, false},
		{"futex untimed", unix.SYS_FUTEX, untimed, true, true, false},
		{"futex timed", unix.SYS_FUTEX, timed, true, false, false},
		{"nanosleep", unix.SYS_NANOSLEEP, noArgs, true, false, false},
		{"clock_nanosleep abs", unix.SYS_CLOCK_NANOSLEEP, abs, true, false, false},
		{"rt_sigsuspend", unix.SYS_RT_SIGSUSPEND, noArgs, true, false, false},
		{"pause", unix.SYS_PAUSE, noArgs, true, false, false},
		{"epoll_wait", unix.SYS_EPOLL_WAIT, noArgs, false, false, false},
		{"rt_sigtimedwait", unix.SYS_RT_SIGTIMEDWAIT, noArgs, false, false, false},
		{"getpid", unix.SYS_GETPID, noArgs, false, false, false},
	} {
		k := restartClass(c.sysno, c.args)
		if got := k.restartsWith(false, 0); got != c.noHandler {
			t.Errorf("%s without a handler: restarted %v, want %v", c.name, got, c.noHandler)
		}
		if got := k.restartsWith(true, linux.SA_RESTART); got != c.withRestar {
			t.Errorf("%s with an SA_RESTART handler: restarted %v, want %v", c.name, got, c.withRestar)
		}
		if got := k.restartsWith(true, 0); got != c.without {
			t.Errorf("%s with a plain handler: restarted %v, want %v", c.name, got, c.without)
		}
	}
}

// TestFrameLayout checks the frame offsets against the x86-64 ABI that
// glibc's ucontext_t and the kernel's rt_sigframe share.
func TestFrameLayout(t *testing.T) {
	const ucOff = 8 // the ucontext follows pretcode
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"uc_mcontext", frameMcontext - ucOff, 40},
		{"gregs[REG_RIP]", frameMcontext + scRip - ucOff, 40 + 16*8},
		{"gregs[REG_EFL]", frameMcontext + scEflags - ucOff, 40 + 17*8},
		{"gregs[REG_CSGSFS]", frameMcontext + scSegments - ucOff, 40 + 18*8},
		{"gregs[REG_OLDMASK]", frameMcontext + scOldmask - ucOff, 40 + 21*8},
		{"gregs[REG_CR2]", frameMcontext + scCr2 - ucOff, 40 + 22*8},
		{"fpregs", frameMcontext + scFpstate - ucOff, 40 + 23*8},
		{"uc_sigmask", frameUcSigmask - ucOff, 296},
		{"siginfo", frameSiginfo, 8 + 304},
		{"frame size", frameSize, 8 + 304 + 128},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, want %d", c.name, c.got, c.want)
		}
	}
	st := initialFPState()
	if len(st) != fxsaveAreaSize || st[0] != 0x7f || st[1] != 0x03 || st[24] != 0x80 || st[25] != 0x1f {
		t.Errorf("initial FP state: FCW %#x%02x MXCSR %#x%02x", st[1], st[0], st[25], st[24])
	}
}

func TestAltStackChecks(t *testing.T) {
	th := &Thread{}
	th.AltStack = linux.SignalStack{Addr: 0x10000, Size: 0x4000}
	for _, c := range []struct {
		sp   uint64
		want bool
	}{{0x10000, false}, {0x10001, true}, {0x14000, true}, {0x14001, false}} {
		if got := th.onAltStack(c.sp); got != c.want {
			t.Errorf("onAltStack(%#x) = %v, want %v", c.sp, got, c.want)
		}
	}
	th.Regs.Rsp = 0x12000
	if ss := th.SignalStack(); ss.Flags != linux.SS_ONSTACK {
		t.Errorf("SignalStack flags on the stack = %d", ss.Flags)
	}
	if err := th.SetSignalStack(linux.SignalStack{Addr: 0x20000, Size: 0x4000}); err != unix.EPERM {
		t.Errorf("changing the stack while on it: %v, want EPERM", err)
	}
	th.Regs.Rsp = 0x50000
	if err := th.SetSignalStack(linux.SignalStack{Addr: 0x20000, Size: 100}); err != unix.ENOMEM {
		t.Errorf("a tiny stack: %v, want ENOMEM", err)
	}
	if err := th.SetSignalStack(linux.SignalStack{Flags: 0x10}); err != unix.EINVAL {
		t.Errorf("bad flags: %v, want EINVAL", err)
	}
	if err := th.SetSignalStack(linux.SignalStack{Flags: linux.SS_DISABLE}); err != nil {
		t.Errorf("disabling: %v", err)
	}
	if ss := th.SignalStack(); ss.Flags != linux.SS_DISABLE || th.altStackRawFlags() != linux.SS_DISABLE {
		t.Errorf("disabled stack reports flags %d (raw %d)", ss.Flags, th.altStackRawFlags())
	}
	// SS_AUTODISARM: never "on" the stack.
	th.AltStack = linux.SignalStack{Addr: 0x10000, Size: 0x4000, Flags: ssAutoDisarm}
	th.Regs.Rsp = 0x12000
	if th.onAltStack(th.Regs.Rsp) {
		t.Errorf("on an SS_AUTODISARM stack")
	}
	if ss := th.SignalStack(); ss.Flags != ssAutoDisarm {
		t.Errorf("SS_AUTODISARM stack reports flags %#x", ss.Flags)
	}
}
