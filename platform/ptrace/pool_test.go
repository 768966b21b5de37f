package ptrace

import (
	"os"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// waitPooled waits (up to a minute: the recycling runs on the stub's
// master in the background) until the pool holds the stub process pid.
func waitPooled(t *testing.T, p *Platform, pid int32) *addressSpace {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		for _, as := range p.pool {
			if as.pid == pid {
				p.mu.Unlock()
				return as
			}
		}
		p.mu.Unlock()
	}
	t.Fatalf("stub %d never reached the pool", pid)
	return nil
}

// runIn switches a new context into as until its first syscall stop, then
// releases the context.
func runIn(t *testing.T, p *Platform, as platform.AddressSpace, regs *arch.Registers) platform.Stop {
	t.Helper()
	c, err := p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	stop, err := c.Switch(as, regs)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	return stop
}

// TestStubRecycled: a released address space's stub process serves the
// next NewAddressSpace, emptied of the old application's mappings, with a
// spare stub thread that the next context takes instead of a new clone.
// Failed would be a new address space that sees the previous process's
// memory, or a recycled stub that cannot run.
func TestStubRecycled(t *testing.T) {
	e := newEnv(t)
	pas, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	mapBytesIn(t, e.mf, pas, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	regs := arch.NewInitialRegisters(codeAddr, 0)
	wantSyscall(t, runIn(t, e.p, pas, &regs), &regs, unix.SYS_GETPID)
	pid := pas.(*addressSpace).pid
	pas.Release()
	pooled := waitPooled(t, e.p, pid)
	pooled.mu.RLock()
	spare := pooled.spare
	pooled.mu.RUnlock()
	if spare == nil {
		t.Fatalf("recycled address space has no spare stub thread")
	}

	pas2, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	defer pas2.Release()
	if pas2 != platform.AddressSpace(pooled) || pas2 == pas {
		t.Fatalf("NewAddressSpace did not take the pooled address space")
	}
	// The old code page is gone: running there is an instruction fetch
	// fault at codeAddr.
	c, err := e.p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	r := arch.NewInitialRegisters(codeAddr, 0)
	stop, err := c.Switch(pas2, &r)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != codeAddr {
		t.Fatalf("stop = %+v, want a SIGSEGV at %#x (the old mapping survived recycling?)", stop, codeAddr)
	}
	if got := c.(*context).lastThread; got != spare {
		t.Errorf("the first context did not take the spare stub thread")
	}
	// New mappings work.
	mapBytesIn(t, e.mf, pas2, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	r = arch.NewInitialRegisters(codeAddr, 0)
	stop, err = c.Switch(pas2, &r)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &r, unix.SYS_GETPID)
}

// TestSpareThreadRefill: an address space that had a second context gets
// a spare stub thread made in the background, which the next context
// takes.
func TestSpareThreadRefill(t *testing.T) {
	e := newEnv(t)
	regs0 := e.loadCode(cat(insnGetpid, insnSyscall))
	regs := regs0
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	r := regs0
	wantSyscall(t, runIn(t, e.p, e.as, &r), &r, unix.SYS_GETPID)
	var spare *stubThread
	for deadline := time.Now().Add(time.Minute); spare == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		e.as.mu.RLock()
		spare = e.as.spare
		e.as.mu.RUnlock()
	}
	if spare == nil {
		t.Fatalf("no spare stub thread after a second context")
	}
	c, err := e.p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	r = regs0
	stop, err := c.Switch(e.as, &r)
	if err != nil {
		t.Fatal(err)
	}
	wantSyscall(t, stop, &r, unix.SYS_GETPID)
	if c.(*context).lastThread != spare {
		t.Errorf("the third context did not take the spare stub thread")
	}
}

// TestPoolBounded: no more than stubPoolSize stubs are kept; the others are
// killed and reaped at release, and Platform.Release kills the pooled ones.
func TestPoolBounded(t *testing.T) {
	e := newEnv(t)
	p, err := New(e.mf)
	if err != nil {
		t.Fatal(err)
	}
	var spaces []platform.AddressSpace
	var pids []int32
	for i := 0; i < stubPoolSize+3; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		spaces = append(spaces, as)
		pids = append(pids, as.(*addressSpace).pid)
	}
	for _, as := range spaces {
		as.Release()
	}
	alive := func() int {
		n := 0
		for _, pid := range pids {
			if hostProcAlive(pid) {
				n++
			}
		}
		return n
	}
	// Recycling is in the background: wait until it settles.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		n := len(p.pool)
		p.mu.Unlock()
		if n == stubPoolSize && alive() == stubPoolSize {
			break
		}
	}
	p.mu.Lock()
	n := len(p.pool)
	p.mu.Unlock()
	if n != stubPoolSize || alive() != stubPoolSize {
		t.Fatalf("pool holds %d, %d of %d stubs alive; want %d and %d", n, alive(), len(pids), stubPoolSize, stubPoolSize)
	}
	p.Release()
	if a := alive(); a != 0 {
		t.Errorf("%d pooled stubs alive after Platform.Release", a)
	}
}

// TestPooledStubKilled: a pooled stub killed from the host is not handed
// out; NewAddressSpace makes or takes another.
func TestPooledStubKilled(t *testing.T) {
	e := newEnv(t)
	pas, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	pid := pas.(*addressSpace).pid
	pas.Release()
	waitPooled(t, e.p, pid)
	unix.Kill(int(pid), unix.SIGKILL)
	for deadline := time.Now().Add(time.Minute); hostProcAlive(pid) && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
	}
	pas2, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	defer pas2.Release()
	if pas2.(*addressSpace).pid == pid {
		t.Fatalf("NewAddressSpace handed out the killed stub %d", pid)
	}
	mapBytesIn(t, e.mf, pas2, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	regs := arch.NewInitialRegisters(codeAddr, 0)
	wantSyscall(t, runIn(t, e.p, pas2, &regs), &regs, unix.SYS_GETPID)
}

// hostProcAlive reports whether host process pid exists and is not a
// zombie.
func hostProcAlive(pid int32) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z'
		}
	}
	return false
}

// TestContextHandedOnToRecycledStub: a context whose task was the last in
// an address space keeps its stub thread there (RecycleAfter) when the
// address space is released and its stub recycled; the address space the
// stub serves next has the same ReuseKey, makes no spare stub thread, and
// the context runs in it in the same stub thread, which sees none of the
// old mappings. Failed would be a stub thread cloned per recycling, a
// context that cannot run in the successor, or old memory reachable there.
func TestContextHandedOnToRecycledStub(t *testing.T) {
	e := newEnv(t)
	<-onThread(func() {
		pas, err := e.p.NewAddressSpace()
		if err != nil {
			t.Error(err)
			return
		}
		mapBytesIn(t, e.mf, pas, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
		pc, err := e.p.NewContext()
		if err != nil {
			t.Error(err)
			return
		}
		c := pc.(*context)
		defer c.Release()
		regs := arch.NewInitialRegisters(codeAddr, 0)
		stop, err := c.Switch(pas, &regs)
		if err != nil {
			t.Error(err)
			return
		}
		wantSyscall(t, stop, &regs, unix.SYS_GETPID)
		first := c.threads[pas.(*addressSpace)]
		key := platform.ReuseKey(pas)
		if !c.RecycleAfter(pas) {
			t.Error("RecycleAfter = false for the last context of a poolable address space")
			return
		}
		made := platform.Counts.StubThreads.Load()
		injected := platform.Counts.Injections.Load()
		pid := pas.(*addressSpace).pid
		pas.Release()
		pooled := waitPooled(t, e.p, pid)
		if got := platform.Counts.StubThreads.Load(); got != made {
			t.Errorf("recycling made %d stub threads, want none (the kept one is handed on)", got-made)
		}
		if got := platform.Counts.Injections.Load(); got != injected {
			t.Errorf("recycling injected %d times, want none (its unmap is the successor's first op)", got-injected)
		}
		// The master serves the successor now, and refuses what
		// comes for the released address space.
		if rep := pas.(*addressSpace).call(&request{op: opSyscall, sysno: unix.SYS_GETPID}); rep.err != errASReleased {
			t.Errorf("a request for the released address space: %v, want %v", rep.err, errASReleased)
		}
		if rep := pooled.call(&request{op: opSyscall, sysno: unix.SYS_GETPID}); rep.err != nil || int32(rep.ret) != pid {
			t.Errorf("getpid through the successor's master = %d, %v, want %d", int32(rep.ret), rep.err, pid)
		}
		pas2, err := e.p.NewAddressSpace()
		if err != nil {
			t.Error(err)
			return
		}
		defer pas2.Release()
		if pas2 != platform.AddressSpace(pooled) || platform.ReuseKey(pas2) != key {
			t.Errorf("NewAddressSpace = %p (key %v), want the pooled %p with key %v", pas2, platform.ReuseKey(pas2), pooled, key)
			return
		}
		r := arch.NewInitialRegisters(codeAddr, 0)
		stop, err = c.Switch(pas2, &r)
		if err != nil {
			t.Error(err)
			return
		}
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != codeAddr {
			t.Errorf("stop = %+v, want a SIGSEGV at %#x (the old mapping survived recycling?)", stop, codeAddr)
		}
		if got := c.threads[pas2.(*addressSpace)]; got != first || c.lastThread != first {
			t.Errorf("the context runs in stub thread %v in the successor, want the kept %v", got, first)
		}
		mapBytesIn(t, e.mf, pas2, codeAddr, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
		r = arch.NewInitialRegisters(codeAddr, 0)
		stop, err = c.Switch(pas2, &r)
		if err != nil {
			t.Error(err)
			return
		}
		wantSyscall(t, stop, &r, unix.SYS_GETPID)
	})
	// Not from another thread.
	<-onThread(func() {
		if e.ctx.RecycleAfter(e.as) {
			t.Error("RecycleAfter from a thread other than the owner's = true")
		}
	})
}
