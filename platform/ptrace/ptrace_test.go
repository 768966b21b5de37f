package ptrace

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

func TestName(t *testing.T) {
	e := newEnv(t)
	if got := e.p.Name(); got != "ptrace" {
		t.Errorf("Name() = %q", got)
	}
	if got := e.p.MaxUserAddress(); got != maxUserAddress || got >= stubBase {
		t.Errorf("MaxUserAddress() = %#x", got)
	}
}

func TestVsyscall(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(movabsRax(vsyscallBase), insnCallRax))
	stop := e.switchTo(&regs)
	t.Logf("stop %+v rip %#x rsp %#x", stop, regs.Rip, regs.Rsp)
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != vsyscallBase {
		t.Fatalf("stop = %+v, want SIGSEGV at the vsyscall page", stop)
	}
	if regs.Rip != vsyscallBase || regs.Rsp != stackTop-8 {
		t.Errorf("rip %#x rsp %#x, want %#x %#x", regs.Rip, regs.Rsp, uint64(vsyscallBase), stackTop-8)
	}
	// The context still works.
	regs = arch.NewInitialRegisters(codeAddr, stackTop)
	e.mapBytes(codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

// TestStubPageJump: the application calling the stub's syscall
// instruction or its int3 gets an instruction fetch fault there, as if
// nothing were mapped (nothing is, in the application's address space),
// and the stub still works.
func TestStubPageJump(t *testing.T) {
	e := newEnv(t)
	for _, target := range []uint64{stubSyscall, stubEntry, stubSyscallReturn, stubBatchSyscallReturn - 2, stubBatchTrapReturn - 1} {
		regs := e.loadCode(cat(movabsRax(target), insnCallRax))
		stop := e.switchTo(&regs)
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Code != segvMapErr ||
			stop.Addr != uintptr(target) || stop.Access != hostarch.Execute {
			t.Errorf("call %#x: stop %+v, want SIGSEGV MAPERR execute at %#x", target, stop, target)
		}
		if regs.Rip != target || regs.Rsp != stackTop-8 {
			t.Errorf("call %#x: rip %#x rsp %#x, want %#x %#x", target, regs.Rip, regs.Rsp, target, stackTop-8)
		}
		if regs.Rax != target {
			t.Errorf("call %#x: rax %#x, want the program's own (the target)", target, regs.Rax)
		}
	}
	// The batch loop with the application's registers: whatever it
	// reaches (here its int3, with r13 zero; its syscall is SYSEMU's)
	// is a fetch fault in the stub page; no mapping is made.
	for _, r13 := range []uint64{0, 1} {
		regs := e.loadCode(cat(movabsRax(stubBatch), insnCallRax))
		regs.R13, regs.R12 = r13, codeAddr
		stop := e.switchTo(&regs)
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || !inStubPage(uint64(stop.Addr)) || stop.Access != hostarch.Execute || !inStubPage(regs.Rip) {
			t.Errorf("call of the batch loop (r13 %d): stop %+v rip %#x, want a fetch fault in the stub page", r13, stop, regs.Rip)
		}
	}
	regs := arch.NewInitialRegisters(codeAddr, stackTop)
	e.mapBytes(codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

func TestStubMaps(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	st := e.ctx.lastThread
	for _, pid := range []int32{e.as.pid, st.tid} {
		maps := readMaps(t, pid)
		t.Logf("/proc/%d/maps:\n%s", pid, maps)
		for _, bad := range []string{"[vdso]", "[vvar]", "[stack]", "[heap]", "[vvar_vclock]"} {
			if strings.Contains(maps, bad) {
				t.Errorf("stub %d has %s mapped", pid, bad)
			}
		}
		var n int
		for _, l := range strings.Split(strings.TrimSpace(maps), "\n") {
			f := strings.Fields(l)
			switch {
			case strings.HasPrefix(l, "7fffff000000-7fffff001000 r-xp"):
			case strings.HasPrefix(l, "00400000-00401000 r-xs"), strings.HasPrefix(l, "007ff000-00800000 rw-s"):
			case len(f) == 6 && f[5] == "[vsyscall]":
			default:
				t.Errorf("stub %d: unexpected mapping %q", pid, l)
			}
			n++
		}
		if got := procStatus(t, pid, "Seccomp"); got != "2" {
			t.Errorf("stub %d: Seccomp: %s, want 2", pid, got)
		}
		if got := procStatus(t, pid, "NoNewPrivs"); got != "1" {
			t.Errorf("stub %d: NoNewPrivs: %s, want 1", pid, got)
		}
		fds, err := readDir("/proc/" + itoa(pid) + "/fd")
		if err != nil || len(fds) != 1 || fds[0] != "0" {
			t.Errorf("stub %d: fds %v (%v), want just 0", pid, fds, err)
		}
	}
}

func TestSeccompKillsStraySyscall(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall, insnJmpSelf))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	st := e.ctx.lastThread

	// Run the application's syscall instruction with PTRACE_CONT rather
	// than PTRACE_SYSEMU: the syscall reaches seccomp, from an
	// instruction pointer that is not the stub's.
	regs.Rip = codeAddr
	regs.Orig_rax = ^uint64(0)
	if e := ptraceSetRegs(st.tid, &regs); e != 0 {
		t.Fatalf("PTRACE_SETREGS: %v", e)
	}
	if e := ptraceResume(unix.PTRACE_CONT, st.tid); e != 0 {
		t.Fatalf("PTRACE_CONT: %v", e)
	}
	var status waitStatus
	if e := wait4(st.tid, &status, unix.WALL); e != 0 {
		t.Fatalf("wait4: %v", e)
	}
	ws := unix.WaitStatus(status)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("status %#x: want killed by SIGSYS", uint32(status))
	}

	// The task is dead; the address space is not.
	regs.Rip = codeAddr
	if _, err := e.ctx.Switch(e.as, &regs); !isContextDead(err) {
		t.Errorf("Switch after the kill: %v, want ErrContextDead", err)
	}
	if err := e.as.MapFile(dataAddr, mustAlloc(t, e), hostarch.Read); err != nil {
		t.Errorf("MapFile after the kill: %v", err)
	}
	// A new context works.
	c2, _ := e.p.NewContext()
	defer c2.Release()
	regs.Rip = codeAddr
	stop, err := c2.Switch(e.as, &regs)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
}

func TestStubName(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	for _, pid := range []int32{e.as.pid, e.ctx.lastThread.tid} {
		if got := procStatus(t, pid, "Name"); got != stubName {
			t.Errorf("stub %d is called %q", pid, got)
		}
		// Every signal unblocked, so the interrupt signal and
		// faults always get through.
		if got := procStatus(t, pid, "SigBlk"); got != "0000000000000000" {
			t.Errorf("stub %d blocks signals %s", pid, got)
		}
	}
}

// TestStubNoCapabilities: the zygote, an address space's stub and a stub
// thread have empty capability sets (even when the sentry runs as root
// with every capability), no_new_privs and the seccomp filter. Escaped
// would be any capability bit set in a process running application code.
func TestStubNoCapabilities(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	for _, pid := range []int32{e.p.zygote.pid, e.as.pid, e.ctx.lastThread.tid} {
		for _, f := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if got := procStatus(t, pid, f); got != "0000000000000000" {
				t.Errorf("stub %d: %s: %s, want none", pid, f, got)
			}
		}
		if got := procStatus(t, pid, "Seccomp"); got != "2" {
			t.Errorf("stub %d: Seccomp: %s, want 2", pid, got)
		}
		if got := procStatus(t, pid, "NoNewPrivs"); got != "1" {
			t.Errorf("stub %d: NoNewPrivs: %s, want 1", pid, got)
		}
	}
}

// TestStubsForkedFromZygote: an address space's stub is a process of its
// own, not the zygote, and a child of the sentry (CLONE_PARENT), so the
// sentry reaps it. (That no stub is exec'd after New is shown by the
// confined sandbox, which has no /proc to exec through: test/.)
func TestStubsForkedFromZygote(t *testing.T) {
	e := newEnv(t)
	if got := procStatus(t, e.as.pid, "PPid"); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("stub %d: PPid %s, want the sentry %d", e.as.pid, got, os.Getpid())
	}
	if e.as.pid == e.p.zygote.pid {
		t.Fatalf("the address space runs in the zygote itself")
	}
}

// TestZygoteKilled: the zygote killed from the host (kill -9 of a stub
// PID) costs nothing but itself: new address spaces are forked from a
// live address space's stub, emptied of its application's mappings.
// Failed would be NewAddressSpace failing, or the new address space
// seeing the old one's code.
func TestZygoteKilled(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	if err := unix.Kill(int(e.p.zygote.pid), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pas, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace with the zygote dead: %v", err)
	}
	defer pas.Release()
	c, _ := e.p.NewContext()
	defer c.Release()
	// The old address space's code is not mapped in the new one.
	regs := arch.NewInitialRegisters(codeAddr, 0)
	stop, err := c.Switch(pas, &regs)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != platform.StopFault || stop.Addr != codeAddr {
		t.Fatalf("stop %+v in a fresh address space, want a fault at %#x", stop, codeAddr)
	}
	mapBytesIn(t, e.mf, pas, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	regs = arch.NewInitialRegisters(codeAddr, 0)
	stop, err = c.Switch(pas, &regs)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
}

// TestStubRip: a program whose rip the sentry set to the stub's syscall
// instruction gets a fetch fault there (the stub's code is not in the
// application's address space), and the context works on. (The other bad
// registers are the suite's BadRegisters.)
func TestStubRip(t *testing.T) {
	e := newEnv(t)
	good := e.loadCode(cat(insnGetpid, insnSyscall))
	regs := good
	regs.Rip = stubSyscall
	stop, err := e.ctx.Switch(e.as, &regs)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if stop.Kind != platform.StopFault || stop.Addr != stubSyscall {
		t.Errorf("stop = %+v, want a fault at %#x", stop, uint64(stubSyscall))
	}
	regs = good
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

// TestStopsRaiseNoSIGCHLD: a stub thread's ptrace stops wake the tracer's
// wait4 without sending the sentry SIGCHLD (SA_NOCLDSTOP on the runtime's
// action, sigchld.go); before, every stop was also a signal delivered to
// one of the sentry's threads.
func TestStopsRaiseNoSIGCHLD(t *testing.T) {
	e := newEnv(t)
	// The action: the runtime's handler kept, SA_NOCLDSTOP added.
	var sa sigaction
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(&sa)), 8, 0, 0); errno != 0 {
		t.Fatalf("rt_sigaction(SIGCHLD): %v", errno)
	}
	if sa.flags&saNoCldStop == 0 || sa.handler == 0 || sa.handler == sigIgn {
		t.Fatalf("SIGCHLD action after the platform started: handler %#x flags %#x, want the runtime's handler with SA_NOCLDSTOP", sa.handler, sa.flags)
	}
	// Its effect: 200 stops raise (nearly) no SIGCHLD. A stub of an
	// earlier test that exits meanwhile raises one, as exits should, so a
	// few are allowed; each stop raised one before.
	ch := make(chan os.Signal, 256)
	signal.Notify(ch, unix.SIGCHLD)
	defer signal.Stop(ch)
	regs := e.loadCode(getpidLoop)
	for i := 0; i < 200; i++ {
		wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	}
	// A signal sent to the process is delivered before the host call
	// that follows it returns; the Go runtime then forwards it to ch.
	n := 0
	for deadline := time.After(100 * time.Millisecond); ; {
		select {
		case <-ch:
			n++
			continue
		case <-deadline:
		}
		break
	}
	if n > 5 {
		t.Fatalf("200 syscall stops sent the tracer SIGCHLD %d times", n)
	}
}
