package systrap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/platformtest"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// newPlatform makes the platform under test, for the shared suite
// (platform_test.go) and the systrap-specific checks below.
func newPlatform(mf *memfile.MemoryFile) (platform.Platform, error) { return New(mf) }

// TestSegmentBases checks that Fs_base and Gs_base both reach the stub
// thread (the handler sets them with arch_prctl) and come back.
func TestSegmentBases(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	gsLoad := []byte{0x65, 0x48, 0x8b, 0x14, 0x25, 8, 0, 0, 0} // mov %gs:8,%rdx
	regs := e.LoadCode(platformtest.Cat(platformtest.InsnFsLoad, gsLoad, platformtest.InsnGetpid, platformtest.InsnSyscall))
	data := e.MapBytes(platformtest.DataAddr, nil, hostarch.ReadWrite)
	binary.LittleEndian.PutUint64(e.MF.Slice(data), 0xfeedface)
	binary.LittleEndian.PutUint64(e.MF.Slice(data)[16:], 0xdecade)
	regs.Fs_base, regs.Gs_base = platformtest.DataAddr, platformtest.DataAddr+8
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 0xfeedface || regs.Rdx != 0xdecade || regs.Fs_base != platformtest.DataAddr || regs.Gs_base != platformtest.DataAddr+8 {
		t.Fatalf("rbx %#x rdx %#x fs_base %#x gs_base %#x", regs.Rbx, regs.Rdx, regs.Fs_base, regs.Gs_base)
	}
}

// TestStubDeath checks that a stub thread killed from outside ends its
// Switch with ErrContextDead (the thread is made before Switch resumes
// it, so the kill lands on a running thread).
func TestStubDeath(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	regs := e.LoadCode(platformtest.InsnJmpSelf)
	c := e.Ctx.(*context)
	go func() {
		// The running thread's pidfd, signalled under c.mu as
		// Interrupt does (c.threads belongs to the Switch's thread).
		for c.runningFD.Load() < 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		c.mu.Lock()
		if fd := c.runningFD.Load(); fd >= 0 {
			unix.PidfdSendSignal(int(fd), unix.SIGKILL, nil, 0)
		}
		c.mu.Unlock()
	}()
	if _, err := e.Ctx.Switch(e.AS, &regs); !errors.Is(err, platform.ErrContextDead) {
		t.Fatalf("Switch with its stub thread killed: %v, want ErrContextDead", err)
	}
}

// TestStubCodeEscapes jumps into the stub's code: to each of its syscall
// instructions and to the handler and restorer, with registers of the
// application's choosing (an mmap of the memory file's first page in the
// syscall argument registers). Each is reported as a fault, never an
// interrupt or a host error, and the context stays usable.
func TestStubCodeEscapes(t *testing.T) {
	const (
		batchLoop = 1 << 20 // stands for ptrace's batch loop
		forged    = 0x600000
	)
	e := platformtest.NewEnv(t, newPlatform)
	for _, target := range []uint64{
		stubFutexReturn - 2, stubArchPrctlReturn - 2, stubSigreturnReturn - 2, stubBootstrap, stubYieldReturn - 2,
		stubHandler, stubRestorer, batchLoop,
	} {
		addr := stubCodeBase + target
		if target == batchLoop {
			addr = ptrace.StubBatchLoop
		}
		regs := e.LoadCode(platformtest.Cat(platformtest.MovabsRax(addr), []byte{0xff, 0xe0})) // jmp *%rax
		regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8 = 0x10000, 0x1000, 7, 1, 0
		// For the batch loop: one entry, an mmap(MAP_SHARED|MAP_FIXED)
		// of the memory file's first page at forged, which the stub
		// filter allows from the loop for the stub process; the thread
		// filter must trap it.
		regs.R12, regs.R13 = platformtest.DataAddr, 1
		e.MapBytes(platformtest.DataAddr, le64s(unix.SYS_MMAP, forged, 0x1000, 7, unix.MAP_SHARED|unix.MAP_FIXED, 0, 0), hostarch.Read)
		stop, err := e.Ctx.Switch(e.AS, &regs)
		if err != nil {
			t.Fatalf("jump to %#x: %v", addr, err)
		}
		if stop.Kind != platform.StopFault {
			t.Fatalf("jump to %#x: %+v", addr, stop)
		}
		t.Logf("jump to stub+%#x: %+v rip %#x", target, stop, regs.Rip)
		r := e.LoadCode(platformtest.Cat(platformtest.InsnGetpid, platformtest.InsnSyscall))
		platformtest.WantSyscall(t, e.SwitchTo(&r), &r, unix.SYS_GETPID)
	}
	// Nothing got mapped at forged.
	r := e.LoadCode(platformtest.LoadRbx(forged))
	if stop := e.SwitchTo(&r); stop.Kind != platform.StopFault || stop.Addr != forged {
		t.Errorf("read of %#x after the jumps: %+v rbx %#x, want a fault there", forged, stop, r.Rbx)
	}
}

func le64s(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// TestRecycledStubKeepsNoRegions: a stub recycled from a released address
// space (ptrace's pool) keeps none of the released one's regions mapped:
// their memory-file pages went back to the allocator, and the next
// program, running in the same host process, could otherwise reach
// whatever they hold next at their old addresses.
func TestRecycledStubKeepsNoRegions(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	p := e.P.(*Platform)
	as1, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	pid := as1.(*addressSpace).HostPID()
	// Two stub threads, two regions.
	for i := 0; i < 2; i++ {
		<-platformtest.OnThread(func() {
			c := newContext(p)
			if _, err := c.threadFor(as1.(*addressSpace)); err != nil {
				t.Error(err)
			}
		})
	}
	if n := regionBytes(t, pid); n < 2*regionSize {
		t.Fatalf("%#x bytes mapped in the stub's regions, want 2 regions' or more", n)
	}
	as1.Release()
	_, release, err := recycledAddressSpace(p, pid)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if n := regionBytes(t, pid); n != 0 {
		t.Fatalf("the recycled stub %d still maps %#x bytes of regions", pid, n)
	}
}

// recycledAddressSpace waits (up to a minute: the recycling runs on the
// stub's master in the background) until the pool holds the stub process
// pid, then takes it: the pool is a stack, so address spaces recycled
// after it (other stubs) are taken first and held, not released, until
// release, which releases all. Releasing them at once would recycle each
// back on top of the pool, and keep the master busy in the background
// while the caller counts master calls. It fails if the stub never
// reaches the pool or leaves it to another taker.
func recycledAddressSpace(p *Platform, pid int) (platform.AddressSpace, func(), error) {
	var held []platform.AddressSpace
	release := func() {
		for _, as := range held {
			as.Release()
		}
	}
	deadline := time.Now().Add(time.Minute)
	for !ptrace.Pooled(p.pt, pid) {
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("stub %d never reached the pool", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for ptrace.Pooled(p.pt, pid) {
		as, err := p.NewAddressSpace()
		if err != nil {
			release()
			return nil, nil, err
		}
		held = append(held, as)
		if as.(*addressSpace).HostPID() == pid {
			return as, release, nil
		}
	}
	release()
	return nil, nil, fmt.Errorf("stub %d left the pool, not to this test", pid)
}

// regionBytes counts the bytes stub pid maps in the regions' range.
func regionBytes(t *testing.T, pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, l := range strings.Split(string(b), "\n") {
		var start, end uint64
		if _, err := fmt.Sscanf(l, "%x-%x", &start, &end); err == nil && start >= regionsBase && start < ptrace.StubScratch {
			n += end - start
		}
	}
	return n
}

// firstGetpid maps code (a getpid, then a syscall) in a new address
// space and runs a new context there from regs to its first stop, which
// must be the getpid: the start of the recycled-stub tests. Called on a
// platformtest.OnThread thread; on failure it reports and returns ok
// false, and the caller returns. The caller releases the context.
func firstGetpid(t *testing.T, e *platformtest.Env, code []byte, regs *arch.Registers) (pas platform.AddressSpace, c *context, ok bool) {
	p := e.P.(*Platform)
	pas, err := p.NewAddressSpace()
	if err != nil {
		t.Error(err)
		return nil, nil, false
	}
	platformtest.MapBytesIn(t, e.MF, pas, platformtest.CodeAddr, code, hostarch.ReadExecute)
	c = newContext(p)
	stop, err := c.Switch(pas, regs)
	if err != nil {
		t.Error(err)
		c.Release()
		return nil, nil, false
	}
	platformtest.WantSyscall(t, stop, regs, unix.SYS_GETPID)
	return pas, c, true
}

// TestContextHandedOnToRecycledStub: a context whose task was the last in
// an address space keeps its parked stub thread and that thread's region
// (RecycleAfter) when the address space is released and its stub
// recycled; the address space the stub serves next has the same
// ReuseKey, adopts the region (and no other), and the context runs in it
// in the same stub thread, made by no new clone, seeing none of the old
// mappings. Failed would be a stub thread made per recycling, a context
// that cannot run in the successor, or old memory reachable there.
func TestContextHandedOnToRecycledStub(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	p := e.P.(*Platform)
	code := platformtest.Cat(platformtest.InsnGetpid, platformtest.InsnSyscall)
	<-platformtest.OnThread(func() {
		regs := arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		// Values of this process that its stub thread's region must
		// not carry to the next process that takes the stub.
		const marker = 0x5ca1ab1e0ddba115
		regs.Rbx, regs.R13, regs.Fs_base = marker, marker, marker&0x7fffffff000
		pas, c, ok := firstGetpid(t, e, code, &regs)
		if !ok {
			return
		}
		defer c.Release()
		as1 := pas.(*addressSpace)
		kept := c.threads[as1]
		tid := kept.st.Tid()
		pid, key := as1.HostPID(), platform.ReuseKey(pas)
		if !c.RecycleAfter(pas) {
			t.Error("RecycleAfter = false for the last context of a poolable address space")
			return
		}
		for _, v := range []uint64{marker, marker & 0x7fffffff000} {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], v)
			if i := bytes.Index(kept.r.mem, b[:]); i >= 0 {
				t.Errorf("the kept region still holds the last task's %#x at offset %#x: readable by the next process on the stub", v, i)
			}
		}
		pas.Release()
		pas2, release, err := recycledAddressSpace(p, pid)
		if err != nil {
			t.Error(err)
			return
		}
		defer release()
		if platform.ReuseKey(pas2) != key {
			t.Errorf("ReuseKey of the recycled stub's address space = %v, want %v", platform.ReuseKey(pas2), key)
		}
		if n := regionBytes(t, pid); n != regionSize {
			t.Errorf("the recycled stub maps %#x bytes of regions, want the kept thread's one region (%#x)", n, regionSize)
		}
		// Threads cloned for the successor, not the global count of
		// stub threads made: the master's recycling of the fresh stubs
		// released above may clone spares in those meanwhile (it did,
		// about 1 run in 15).
		inner2 := pas2.(*addressSpace).AddressSpace
		threads := ptrace.ThreadsCloned(inner2)
		injBefore := kept.injector
		r := arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		stop, err := c.Switch(pas2, &r)
		if err != nil {
			t.Error(err)
			return
		}
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != platformtest.CodeAddr {
			t.Errorf("stop = %+v, want a SIGSEGV at %#x (the old mapping survived recycling?)", stop, platformtest.CodeAddr)
		}
		as2 := pas2.(*addressSpace)
		if th := c.threads[as2]; th == nil || th.st.Tid() != tid {
			t.Errorf("the context does not run in the kept stub thread %d in the successor", tid)
		} else if as2.byTracer[c.tid] != th {
			// Else its mapping changes would all go through the
			// master, never earning an injector.
			t.Errorf("the kept thread is not the context thread's thread in the successor (byTracer)")
		}
		// The recycling's unmaps, left to the successor's first use,
		// may earn the context an injector there (injector.go), unless
		// the one it had came along with the kept thread: no other
		// stub thread.
		want := threads
		if th := c.threads[as2]; th != nil && th.injector != nil && th.injector != injBefore {
			want++
		}
		if got := ptrace.ThreadsCloned(inner2); got != want {
			t.Errorf("the context made %d stub threads in the successor, want %d (its injector)", got-threads, want-threads)
		}
		platformtest.MapBytesIn(t, e.MF, pas2, platformtest.CodeAddr, code, hostarch.ReadExecute)
		r = arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		stop, err = c.Switch(pas2, &r)
		if err != nil {
			t.Error(err)
			return
		}
		platformtest.WantSyscall(t, stop, &r, unix.SYS_GETPID)
	})
}

// TestInjectorHandedOn: the injector of a context's thread (injector.go)
// goes with the thread it kept for the recycled stub's next address space
// (RecycleAfter), so that the successor's first mapping changes, the
// recycling's unmaps among them, are injected from the context's own
// thread: no master hop and no new stub thread. Failed would be a
// fork+exec child making an injector each (a master request, a clone and
// a seize) after two mapping changes through the master.
func TestInjectorHandedOn(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	p := e.P.(*Platform)
	code := platformtest.Cat(platformtest.InsnGetpid, platformtest.InsnSyscall)
	<-platformtest.OnThread(func() {
		regs := arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		pas, c, ok := firstGetpid(t, e, code, &regs)
		if !ok {
			return
		}
		defer c.Release()
		as1 := pas.(*addressSpace)
		kept := c.threads[as1]
		// Mapping changes from the context's thread until it has an
		// injector here.
		for i := 0; i < injectorAfter; i++ {
			platformtest.MapBytesIn(t, e.MF, pas, platformtest.CodeAddr, code, hostarch.ReadExecute)
		}
		if kept.injector == nil {
			t.Errorf("no injector after %d mapping changes from the context's thread", injectorAfter)
			return
		}
		injTid := kept.injector.Tid()
		pid := as1.HostPID()
		if !c.RecycleAfter(pas) {
			t.Error("RecycleAfter = false for the last context of a poolable address space")
			return
		}
		pas.Release()
		pas2, release, err := recycledAddressSpace(p, pid)
		if err != nil {
			t.Error(err)
			return
		}
		defer release()
		// Threads cloned for the successor alone: a recycling of
		// another stub clones a spare there.
		inner2 := pas2.(*addressSpace).AddressSpace
		threads, hops := ptrace.ThreadsCloned(inner2), platform.Counts.MasterCalls.Load()
		r := arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		stop, err := c.Switch(pas2, &r)
		if err != nil {
			t.Error(err)
			return
		}
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != platformtest.CodeAddr {
			t.Errorf("stop = %+v, want a SIGSEGV at %#x (the old mapping survived recycling?)", stop, platformtest.CodeAddr)
		}
		th := c.threads[pas2.(*addressSpace)]
		if th == nil || th.injector == nil || th.injector.Tid() != injTid {
			t.Errorf("the kept thread's injector %d did not follow it to the successor", injTid)
		}
		platformtest.MapBytesIn(t, e.MF, pas2, platformtest.CodeAddr, code, hostarch.ReadExecute)
		r = arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		stop, err = c.Switch(pas2, &r)
		if err != nil {
			t.Error(err)
			return
		}
		platformtest.WantSyscall(t, stop, &r, unix.SYS_GETPID)
		if got := ptrace.ThreadsCloned(inner2); got != threads {
			t.Errorf("%d stub threads made in the successor, want none", got-threads)
		}
		if got := platform.Counts.MasterCalls.Load(); got != hops {
			t.Errorf("%d master hops in the successor (its deferred unmaps, a MapFile), want none", got-hops)
		}
	})
}

// TestRecycledStubOtherContextFirst: when the address space a stub is
// recycled into (with a kept thread, RecycleAfter) is first entered by
// another context, whose new stub thread maps its own region, that
// context runs there and sees none of the old mappings, and the kept
// context runs after it. The recycling's unmaps of the old regions wait
// for the successor's first use: failed would be the new thread's region
// unmapped under it (a dead stub thread, a Switch error).
func TestRecycledStubOtherContextFirst(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	p := e.P.(*Platform)
	code := platformtest.Cat(platformtest.InsnGetpid, platformtest.InsnSyscall)
	<-platformtest.OnThread(func() {
		regs := arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		pas, c, ok := firstGetpid(t, e, code, &regs)
		if !ok {
			return
		}
		defer c.Release()
		pid := pas.(*addressSpace).HostPID()
		if !c.RecycleAfter(pas) {
			t.Error("RecycleAfter = false for the last context of a poolable address space")
			return
		}
		pas.Release()
		pas2, release, err := recycledAddressSpace(p, pid)
		if err != nil {
			t.Error(err)
			return
		}
		defer release()
		<-platformtest.OnThread(func() {
			c2 := newContext(p)
			defer c2.Release()
			r := arch.NewInitialRegisters(platformtest.CodeAddr, 0)
			stop, err := c2.Switch(pas2, &r)
			if err != nil {
				t.Errorf("another context's first Switch into the successor: %v", err)
				return
			}
			if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) || stop.Addr != platformtest.CodeAddr {
				t.Errorf("stop = %+v, want a SIGSEGV at %#x (the old mapping survived recycling?)", stop, platformtest.CodeAddr)
			}
		})
		platformtest.MapBytesIn(t, e.MF, pas2, platformtest.CodeAddr, code, hostarch.ReadExecute)
		r := arch.NewInitialRegisters(platformtest.CodeAddr, 0)
		stop, err := c.Switch(pas2, &r)
		if err != nil {
			t.Errorf("the kept context's Switch after another's: %v", err)
			return
		}
		platformtest.WantSyscall(t, stop, &r, unix.SYS_GETPID)
	})
}

// TestStubPlacement checks where a context's stub thread may run once
// the sentry has said which host CPU the task's thread is on
// (PinHostCPU): on every CPU of the sentry's but that one while the
// context spins (a stub beside its waiting thread cannot answer the
// spin), on all of them once the spin is off.
func TestStubPlacement(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	p, c := e.P.(*Platform), e.Ctx.(*context)
	if p.cpus.Count() < 2 || p.spin == 0 || p.pin {
		t.Skipf("placement applies with 2+ host CPUs and the spin on, unpinned: here %d CPUs, spin %v, pin %v", p.cpus.Count(), p.spin, p.pin)
	}
	cpu := -1
	for i := 0; cpu < 0; i++ {
		if p.cpus.IsSet(i) {
			cpu = i
		}
	}
	// loop: mov $39,%eax; syscall; jmp loop
	regs := e.LoadCode([]byte{0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7})
	allowed := func() unix.CPUSet {
		t.Helper()
		platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(int(c.lastThread.st.Tid()), &set); err != nil {
			t.Fatal(err)
		}
		return set
	}
	if set := allowed(); set != p.cpus {
		t.Errorf("before PinHostCPU the stub may run on %d CPUs, want the sentry's %d", set.Count(), p.cpus.Count())
	}
	if err := c.PinHostCPU(cpu); err != nil {
		t.Fatal(err)
	}
	want := p.cpus
	want.Clear(cpu)
	if set := allowed(); set != want {
		t.Errorf("spinning, the stub may run on %d CPUs (on CPU %d: %v), want %d, not CPU %d", set.Count(), cpu, set.IsSet(cpu), want.Count(), cpu)
	}
	c.spin.off = spinOff // as a window in which the spin failed leaves it
	if set := allowed(); set != p.cpus {
		t.Errorf("with the spin off the stub may run on %d CPUs, want the sentry's %d", set.Count(), p.cpus.Count())
	}
	c.spin.off = 0
	if set := allowed(); set != want {
		t.Errorf("with the spin back on the stub may run on %d CPUs, want %d", set.Count(), want.Count())
	}

	// The sandbox's tasks hold every host CPU: after crowdMax such
	// resumes the context turns home, its stub pinned to the task's CPU,
	// and neither side polls; as many uncrowded resumes turn it back.
	var busy atomic.Bool
	busy.Store(true)
	p.SetHostCPUsBusy(busy.Load)
	defer p.hostCPUsBusy.Store(nil)
	for i := 1; i < crowdMax; i++ {
		if set := allowed(); set != want || c.home {
			t.Fatalf("after %d crowded resumes (of %d): home %v, the stub may run on %d CPUs, want %d", i, crowdMax, c.home, set.Count(), want.Count())
		}
	}
	var home unix.CPUSet
	home.Set(cpu)
	turns := platform.Counts.HomeTurns.Load()
	if set := allowed(); set != home || !c.home {
		t.Errorf("crowded: home %v, the stub may run on %d CPUs (on CPU %d: %v), want only CPU %d", c.home, set.Count(), cpu, set.IsSet(cpu), cpu)
	}
	if n := platform.Counts.HomeTurns.Load() - turns; n != 1 {
		t.Errorf("turning home counted %d home turns, want 1", n)
	}
	spins := c.spin.totalSpins
	stubPolls := c.stubSpin.totalSpins
	for range 8 {
		allowed()
	}
	if c.spin.totalSpins != spins || c.stubSpin.totalSpins != stubPolls {
		t.Errorf("home, the sentry spun %d times and the stub polled %d times, want none", c.spin.totalSpins-spins, c.stubSpin.totalSpins-stubPolls)
	}
	busy.Store(false)
	for i := 0; i < crowdMax+8 && c.home; i++ {
		allowed()
	}
	if set := allowed(); set != want || c.home {
		t.Errorf("uncrowded again: home %v, the stub may run on %d CPUs, want %d, not CPU %d", c.home, set.Count(), want.Count(), cpu)
	}
}

// TestPrewake checks that Prewake wakes a stub asleep in its handler
// (the task's resume then records the prewake's outcome, hit or miss, and
// the application continues), and does nothing with nothing parked or
// with its policy off or the stubs not placed off the task's CPU.
func TestPrewake(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	c := e.Ctx.(*context)
	p := e.P.(*Platform)
	p.prewakeSpin = time.Millisecond
	c.prewakeSpin.max = p.prewakeSpin
	c.prewakeOn.Store(true)
	c.placedAway.Store(true)
	// The stub sleeps at once after each event.
	c.stubSpin.max = 0

	before := platform.Counts.StubPrewakes.Load()
	c.Prewake() // nothing parked yet
	if c.prewoken.Load() || platform.Counts.StubPrewakes.Load() != before {
		t.Fatalf("Prewake with no parked thread prewoke")
	}
	regs := e.LoadCode(platformtest.Cat(platformtest.InsnGetpid, platformtest.InsnSyscall, platformtest.InsnGetpid, platformtest.InsnSyscall))
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	th := c.parked.Load()
	if th == nil || th != c.lastThread {
		t.Fatalf("after a Switch the parked thread is %p, want the last one %p", th, c.lastThread)
	}
	for i := 0; stubWaiting(th) == 0; i++ {
		if i > 60000 {
			t.Fatalf("the stub did not go to sleep in a minute")
		}
		time.Sleep(time.Millisecond)
	}
	spins := c.prewakeSpin.totalSpins
	c.Prewake()
	if !c.prewoken.Load() || platform.Counts.StubPrewakes.Load() != before+1 {
		t.Fatalf("Prewake of a sleeping stub: prewoken %v, %d prewakes counted", c.prewoken.Load(), platform.Counts.StubPrewakes.Load()-before)
	}
	// Hit or miss (the host decides when the stub runs), the next resume
	// records it and the application goes on to its next syscall.
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if c.prewoken.Load() || c.prewakeSpin.totalSpins != spins+1 {
		t.Fatalf("the resume after a prewake: prewoken %v, %d outcomes recorded, want 1", c.prewoken.Load(), c.prewakeSpin.totalSpins-spins)
	}
	// Stubs not placed away, or the policy off: Prewake leaves the
	// stub alone.
	c.placedAway.Store(false)
	c.Prewake()
	if c.prewoken.Load() || platform.Counts.StubPrewakes.Load() != before+1 {
		t.Fatalf("Prewake with the stubs not placed away prewoke")
	}
	c.placedAway.Store(true)
	c.prewakeOn.Store(false)
	c.Prewake()
	if c.prewoken.Load() || platform.Counts.StubPrewakes.Load() != before+1 {
		t.Fatalf("Prewake with its policy off prewoke")
	}
}

// stubWaiting is the parked thread's msgStubWaiting word.
func stubWaiting(th *thread) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&th.r.mem[msgStubWaiting])))
}

// TestInterruptParked checks that an interrupt of a thread parked in its
// handler (it reported an event the Switch has not answered) sends it no
// signal: the next Switch reports the interrupt without running it, and
// the one after runs the application with no stale interrupt's round
// trip (a signal sent while parked would be delivered at that resume).
func TestInterruptParked(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	c := e.Ctx.(*context)
	regs := e.LoadCode(platformtest.GetpidLoop)
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	th := c.lastThread
	if atomic.LoadUint32(th.state) != stateEvent {
		t.Fatalf("after a syscall stop the state word is %d, want event (%d)", atomic.LoadUint32(th.state), stateEvent)
	}
	// As Interrupt finds it from another thread while Switch waits for
	// (or returns) the thread's event.
	c.runningState.Store(th.state)
	c.runningFD.Store(int32(th.st.Pidfd()))
	c.Interrupt()
	c.runningFD.Store(-1)
	if stop := e.SwitchTo(&regs); stop.Kind != platform.StopInterrupt {
		t.Fatalf("after Interrupt: stop %+v, want an interrupt", stop)
	}
	stale := platform.Counts.StaleInterrupts.Load()
	for range 3 {
		platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	}
	if n := platform.Counts.StaleInterrupts.Load() - stale; n != 0 {
		t.Errorf("%d stale interrupts after an interrupt of a parked thread, want 0", n)
	}
	// A running thread is still signalled: interrupt one spinning in
	// application code.
	spin := e.LoadCode(platformtest.InsnJmpSelf)
	go func() {
		time.Sleep(10 * time.Millisecond)
		c.Interrupt()
	}()
	if stop := e.SwitchTo(&spin); stop.Kind != platform.StopInterrupt {
		t.Errorf("interrupting a running thread: stop %+v, want an interrupt", stop)
	}
}

// TestStubYields checks the stub's wait after its poll and the sentry's
// judgement of it: told to make sched_yields (msgStubYields), a stub whose
// answer comes after its poll ran out is still awake in its yields, sees
// the answer there and says when (msgStubSeen); the next resume counts a
// catch, late or not by that time against its own store of the answer
// (forged here, so that the judgement does not depend on the host's
// scheduling); a stub that slept after its yields counts as a miss; told
// to make none, it goes to sleep.
func TestStubYields(t *testing.T) {
	e := platformtest.NewEnv(t, newPlatform)
	c := e.Ctx.(*context)
	p := e.P.(*Platform)
	if p.yieldLate == 0 {
		t.Skip("the TSC's rate could not be measured here: no yields")
	}
	// Both spins on (as on a host with two CPUs or more), the stub's
	// poll a few polls long, the yields' policy on.
	c.yieldSpin = spinPolicy{max: 1}
	c.spin = spinPolicy{max: 20 * time.Microsecond}
	c.stubSpin = spinPolicy{max: time.Duration(4 * p.pollNs)}
	regs := e.LoadCode(platformtest.GetpidLoop)
	// budget makes the stub's next wait one of n yields: the first
	// resume tells it, the second is the wait's.
	budget := func(n uint32) *thread {
		p.stubYields = n
		platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		th := c.lastThread
		if got := atomic.LoadUint32((*uint32)(unsafe.Pointer(&th.r.mem[msgStubYields]))); got != n {
			t.Fatalf("msgStubYields %d, want %d", got, n)
		}
		return th
	}
	seenp := func(th *thread) *uint64 { return (*uint64)(unsafe.Pointer(&th.r.mem[msgStubSeen])) }
	misses := func() uint64 { return c.yieldSpin.totalSpins - c.yieldSpin.totalHits }

	// As many yields as a uint32 holds outlast any wait here; the stub
	// is past its poll (a few PAUSEs) well before 10 ms.
	// It sees the answer in its yields and says when. A stub held up
	// on its way there (its host CPU taken from it) may see the answer
	// in its poll instead, which records nothing, and a loaded host may
	// turn the spins off (no poll, so no yields): then again, from
	// the same policies, for up to a minute.
	var th *thread
	for i := 0; ; i++ {
		if i > 6000 {
			t.Fatalf("a stub given yields never said it saw its answer in them (msgStubSeen 0) in a minute")
		}
		c.yieldSpin = spinPolicy{max: 1}
		c.spin = spinPolicy{max: 20 * time.Microsecond}
		c.stubSpin = spinPolicy{max: time.Duration(4 * p.pollNs)}
		th = budget(^uint32(0))
		time.Sleep(10 * time.Millisecond)
		if stubWaiting(th) != 0 {
			continue
		}
		platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		if atomic.LoadUint64(seenp(th)) != 0 {
			break
		}
	}
	// Seen later than the policy allows after the answer: a late
	// catch and a miss.
	atomic.StoreUint64(seenp(th), th.resumeTSC+p.yieldLate+1)
	catches, late, m := platform.Counts.StubYieldCatches.Load(), platform.Counts.StubYieldsLate.Load(), misses()
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if platform.Counts.StubYieldCatches.Load() != catches+1 || platform.Counts.StubYieldsLate.Load() != late+1 || misses() != m+1 {
		t.Fatalf("an answer seen late was not judged late: catches +%d, late +%d, policy misses +%d; want 1 each",
			platform.Counts.StubYieldCatches.Load()-catches, platform.Counts.StubYieldsLate.Load()-late, misses()-m)
	}
	// Seen at once: a catch, in time, a hit.
	atomic.StoreUint64(seenp(th), th.resumeTSC+1)
	catches, late, m = platform.Counts.StubYieldCatches.Load(), platform.Counts.StubYieldsLate.Load(), misses()
	hits := c.yieldSpin.totalHits
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if platform.Counts.StubYieldCatches.Load() != catches+1 || platform.Counts.StubYieldsLate.Load() != late ||
		misses() != m || c.yieldSpin.totalHits != hits+1 {
		t.Fatalf("an answer seen in time was not judged a hit: catches +%d, late +%d, policy misses +%d, hits +%d",
			platform.Counts.StubYieldCatches.Load()-catches, platform.Counts.StubYieldsLate.Load()-late, misses()-m,
			c.yieldSpin.totalHits-hits)
	}

	// One yield, then asleep: the resume that wakes it counts a miss
	// (and may count one more for a late catch before it).
	c.yieldSpin = spinPolicy{max: 1}
	th = budget(1)
	for i := 0; stubWaiting(th) == 0; i++ {
		if i > 60000 {
			t.Fatalf("after one yield the stub did not go to sleep in a minute")
		}
		time.Sleep(time.Millisecond)
	}
	m = misses()
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if misses() < m+1 {
		t.Fatalf("a stub that slept after its yields was not counted a miss")
	}

	// No yields: asleep after the poll.
	th = budget(0)
	for i := 0; stubWaiting(th) == 0; i++ {
		if i > 60000 {
			t.Fatalf("with no yields the stub did not go to sleep in a minute")
		}
		time.Sleep(time.Millisecond)
	}
	platformtest.WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
}
