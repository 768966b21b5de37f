package ptrace

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// TestMapFileFromTaskThread checks that MapFile from a context's own OS
// thread injects into its stub thread (not through the master) and works.
func TestMapFileFromTaskThread(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(loadRbx(dataAddr), insnGetpid, insnSyscall))
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault {
		t.Fatalf("stop = %+v", stop)
	}
	e.as.mu.RLock()
	st := e.as.tracers[gettid()]
	e.as.mu.RUnlock()
	if st == nil || st != e.ctx.lastThread {
		t.Fatalf("this thread has no stub thread registered in the address space")
	}
	e.mapBytes(dataAddr, []byte{9}, hostarch.Read)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 9 {
		t.Errorf("rbx = %d", regs.Rbx)
	}
}

// TestAddressSpaceSwitch runs one context in two address spaces in turn
// (as a task does across exec), then releases one.
func TestAddressSpaceSwitch(t *testing.T) {
	e := newEnv(t)
	regs1 := e.loadCode(cat(insnGetpid, insnSyscall, []byte{0xeb, 0xf7}))
	pas2, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	as2 := pas2.(*addressSpace)
	mapBytesIn(t, e.mf, as2, codeAddr, cat(insnExit, insnSyscall, []byte{0xeb, 0xf7}), hostarch.ReadExecute)
	regs2 := arch.NewInitialRegisters(codeAddr, 0)
	for i := 0; i < 3; i++ {
		wantSyscall(t, e.switchTo(&regs1), &regs1, unix.SYS_GETPID)
		stop, err := e.ctx.Switch(as2, &regs2)
		if err != nil {
			t.Fatal(err)
		}
		wantSyscall(t, stop, &regs2, unix.SYS_EXIT)
	}
	t2 := e.ctx.threads[as2]
	pid2 := as2.pid
	as2.Release()
	// Released: the stub thread is gone and reaped (no zombie left); the
	// stub process is recycled (pool.go): once its master has put it in
	// the pool it maps nothing of the application's.
	waitPooled(t, e.p, pid2)
	if _, err := os.Stat("/proc/" + itoa(t2.tid)); err == nil {
		t.Errorf("stub thread %d still exists once its stub was recycled", t2.tid)
	}
	for _, l := range strings.Split(strings.TrimSpace(readMaps(t, pid2)), "\n") {
		start, err := strconv.ParseUint(strings.SplitN(l, "-", 2)[0], 16, 64)
		if err != nil || start < stubBase {
			t.Errorf("recycled stub %d still maps %q", pid2, l)
		}
	}
	// The next switch into the first address space drops the dead thread.
	wantSyscall(t, e.switchTo(&regs1), &regs1, unix.SYS_GETPID)
	e.ctx.lastAS = nil // force the slow path
	wantSyscall(t, e.switchTo(&regs1), &regs1, unix.SYS_GETPID)
	if _, ok := e.ctx.threads[as2]; ok || len(e.ctx.threads) != 1 {
		t.Errorf("context still holds %d threads", len(e.ctx.threads))
	}
	if _, err := e.ctx.Switch(as2, &regs2); err == nil {
		t.Errorf("Switch into a released address space succeeded")
	}
}

func TestContextReleaseReaps(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	c, _ := e.p.NewContext()
	stop, err := c.Switch(e.as, &regs)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	st := c.(*context).lastThread
	c.Release()
	// Killed at once, reaped by the address space's master in the
	// background (and its pidfd closed with the last reference).
	gone := func() bool {
		_, err := os.Stat("/proc/" + itoa(st.tid))
		return err != nil && st.refs.Load() == 0
	}
	for deadline := time.Now().Add(time.Minute); !gone() && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
	}
	if !gone() {
		t.Errorf("stub thread %d still exists (refs %d) a minute after Release", st.tid, st.refs.Load())
	}
	e.as.mu.RLock()
	n := len(e.as.threads)
	e.as.mu.RUnlock()
	if n != 0 {
		t.Errorf("address space still has %d threads", n)
	}
}

func TestExternalKill(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnJmpSelf))
	go func() {
		// Wait for the thread to exist, then kill it from outside.
		for {
			time.Sleep(5 * time.Millisecond)
			e.as.mu.RLock()
			var tid int32
			for st := range e.as.threads {
				tid = st.tid
			}
			e.as.mu.RUnlock()
			if tid != 0 {
				unix.Kill(int(tid), unix.SIGKILL)
				return
			}
		}
	}()
	if _, err := e.ctx.Switch(e.as, &regs); !isContextDead(err) {
		t.Fatalf("Switch: %v, want ErrContextDead", err)
	}
	if _, err := e.ctx.Switch(e.as, &regs); !isContextDead(err) {
		t.Fatalf("second Switch: %v, want ErrContextDead", err)
	}
}

func TestExternalSignalsIgnored(t *testing.T) {
	e := newEnv(t)
	// Make 10000 syscalls while someone else signals the stub
	// thread with SIGSEGV, SIGSTOP, SIGCONT, SIGTRAP, SIGUSR1.
	regs := e.loadCode(cat(insnGetpid, insnSyscall, []byte{0xeb, 0xf7}))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	tid := e.ctx.lastThread.tid
	stopSig := make(chan struct{})
	sent := onThread(func() {
		sigs := []unix.Signal{unix.SIGSEGV, unix.SIGSTOP, unix.SIGCONT, unix.SIGTRAP, unix.SIGUSR1, unix.SIGTSTP, unix.SIGCHLD}
		for i := 0; ; i++ {
			select {
			case <-stopSig:
				return
			default:
			}
			unix.Tgkill(int(tid), int(tid), sigs[i%len(sigs)])
			time.Sleep(50 * time.Microsecond)
		}
	})
	for i := 0; i < 10000; i++ {
		stop, err := e.ctx.Switch(e.as, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			close(stopSig)
			t.Fatalf("iteration %d: %+v %v", i, stop, err)
		}
	}
	close(stopSig)
	<-sent
}

func TestSwitchFromWrongThread(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	var err error
	<-onThread(func() {
		_, err = e.ctx.Switch(e.as, &regs)
	})
	if err == nil {
		t.Fatalf("Switch from another thread succeeded")
	}
	t.Logf("Switch from another thread: %v", err)
	// Still fine from the right thread.
	regs.Rip = codeAddr
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

func TestManyAddressSpaces(t *testing.T) {
	e := newEnv(t)
	before := countFDs(t)
	for i := 0; i < 20; i++ {
		pas, err := e.p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		mapBytesIn(t, e.mf, pas, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
		regs := arch.NewInitialRegisters(codeAddr, 0)
		stop, err := e.ctx.Switch(pas, &regs)
		if err != nil {
			t.Fatal(err)
		}
		wantSyscall(t, stop, &regs, unix.SYS_GETPID)
		pas.Release()
	}
	e.ctx.lastAS = nil
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	// The pool keeps up to stubPoolSize recycled stubs, each with the
	// pidfds of its process and of its spare thread; recycling runs in
	// the background, so let it settle. A leak grows with the 20 rounds.
	bound := before + 1 + 2*stubPoolSize
	after := countFDs(t)
	for deadline := time.Now().Add(time.Minute); after > bound && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		after = countFDs(t)
	}
	if after > bound {
		t.Errorf("fds: %d before, %d after (at most %d)", before, after, bound)
	}
}

func TestReleaseOrders(t *testing.T) {
	e := newEnv(t)
	// Address space released before the context that ran in it, and the
	// context released without ever switching again.
	pas, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	mapBytesIn(t, e.mf, pas, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	c, _ := e.p.NewContext()
	regs := arch.NewInitialRegisters(codeAddr, 0)
	stop, err := c.Switch(pas, &regs)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &regs, unix.SYS_GETPID)
	st := c.(*context).lastThread
	pas.Release()
	pas.Release() // idempotent
	c.Release()
	// The address space's reference goes when its master has reaped the
	// thread (in the background, while it recycles the stub).
	for deadline := time.Now().Add(time.Minute); st.refs.Load() != 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
	}
	if n := st.refs.Load(); n != 0 {
		t.Errorf("stub thread refs = %d after both releases", n)
	}
	if err := pas.MapFile(codeAddr, mustAlloc(t, e), hostarch.Read); err == nil {
		t.Errorf("MapFile on a released address space succeeded")
	}
	pas.Unmap(codeAddr, pageSize) // no-op, no panic
	// Interrupt on a released context is harmless.
	c.Interrupt()
}

// TestDeathWatcher (issue 12 item 8): a stub killed from outside (kill -9
// of a stub thread, or of an address space's stub process) is reported
// through WatchDeaths at once, with its address space; stubs the platform
// kills itself (a released context and address space) are not. Failed
// would be a process whose stub died going unnoticed until it next runs.
func TestDeathWatcher(t *testing.T) {
	e := newEnv(t)
	deaths := make(chan platform.AddressSpace, 4)
	e.p.WatchDeaths(func(as platform.AddressSpace) { deaths <- as })
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)

	// Killed by the platform itself: no report.
	pas, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	mapBytesIn(t, e.mf, pas, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	c, _ := e.p.NewContext()
	r2 := arch.NewInitialRegisters(codeAddr, 0)
	if _, err := c.Switch(pas, &r2); err != nil {
		t.Fatal(err)
	}
	c.Release()
	pas.Release()
	select {
	case as := <-deaths:
		t.Fatalf("a released address space (%v) was reported dead", as)
	case <-time.After(100 * time.Millisecond):
	}

	// Killed from outside: the stub thread, then (another address space)
	// the stub process.
	if err := unix.Kill(int(e.ctx.lastThread.tid), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case as := <-deaths:
		if as != platform.AddressSpace(e.as) {
			t.Errorf("reported %v, want the killed thread's address space %v", as, e.as)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the death of a stub thread killed from outside was not reported")
	}
	pas, err = e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	defer pas.Release()
	if err := unix.Kill(int(pas.(*addressSpace).pid), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case as := <-deaths:
		if as != pas {
			t.Errorf("reported %v, want the killed stub process's address space %v", as, pas)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the death of a stub process killed from outside was not reported")
	}
}
