package kvm

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Per-CPU vCPUs: ownership and FP-state hand-over. The first tests need no
// KVM: their vCPUs are fakes whose FP state is a Go buffer (vcpu.fpIO).

// fakeFP is a fake vCPU's FP state and its ioctl counts.
type fakeFP struct {
	mu         sync.Mutex
	state      kvmXSave
	gets, sets int
	// running is set while a fake "KVM_RUN" is under way: an FP ioctl
	// then is a protocol violation (it would block in real KVM, or read a
	// state that is changing).
	running bool
	bad     string
}

func (f *fakeFP) io(set bool, x *kvmXSave) unix.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running && f.bad == "" {
		f.bad = "FP ioctl on a running vCPU"
	}
	if set {
		f.state = *x
		f.sets++
	} else {
		*x = f.state
		f.gets++
	}
	return 0
}

// fakePlatform returns a platform without KVM whose CPUs 0..n-1 have fake
// vCPUs, and their fake FP states.
func fakePlatform(n int) (*Platform, []*fakeFP) {
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	p := &Platform{log: log, xstateSize: fxsaveSize + xsaveHeaderSize, maxVCPUs: n}
	p.features.xcr0 = xfeaturesFPSSE
	var fakes []*fakeFP
	for i := 0; i < n; i++ {
		f := &fakeFP{state: *initialFP}
		v := &vcpu{p: p, id: i, cpu: i, fd: -1, fpIO: f.io}
		p.cpuVCPUs = append(p.cpuVCPUs, v)
		fakes = append(fakes, f)
	}
	p.nextID = n
	return p, fakes
}

// xmm5 returns xmm5's low quadword in an XSAVE area.
func xmm5(x *kvmXSave) uint64 {
	return binary.LittleEndian.Uint64(xsaveBytes(x)[fxXMM+5*16:])
}

func setXMM5(x *kvmXSave, v uint64) {
	binary.LittleEndian.PutUint64(xsaveBytes(x)[fxXMM+5*16:], v)
}

// fakeSwitch does what Switch does around the guest, on a fake vCPU: it
// takes the vCPU, makes it hold the context's FP state, checks that the
// state is want, "runs" (sets xmm5 to next) and gives the vCPU back.
func fakeSwitch(c *context, f []*fakeFP, want, next uint64) error {
	v, err := c.acquire()
	if err != nil {
		return fmt.Errorf("acquire: %v", err)
	}
	defer v.owner.Store(nil)
	if c.fpHome.Load() != v {
		if err := c.loadFP(v); err != nil {
			return fmt.Errorf("loadFP: %v", err)
		}
	}
	ff := f[v.id]
	ff.mu.Lock()
	ff.running = true
	got := xmm5(&ff.state)
	ff.mu.Unlock()
	runtime.Gosched()
	ff.mu.Lock()
	setXMM5(&ff.state, next)
	ff.running = false
	ff.mu.Unlock()
	if got != want {
		return fmt.Errorf("thread %d on vCPU %d: xmm5 %#x, want %#x", c.tid, v.id, got, want)
	}
	return nil
}

// mustSwitch is fakeSwitch on the test's goroutine.
func mustSwitch(t *testing.T, c *context, f []*fakeFP, want, next uint64) {
	t.Helper()
	if err := fakeSwitch(c, f, want, next); err != nil {
		t.Fatal(err)
	}
}

func fpCounts(f []*fakeFP) (gets, sets int) {
	for _, ff := range f {
		gets += ff.gets
		sets += ff.sets
	}
	return
}

// fxState returns a legacy FXSAVE area with xmm5 = x.
func fxState(x uint64) []byte {
	b := make([]byte, fxsaveSize)
	binary.LittleEndian.PutUint16(b[fxFCW:], 0x37f)
	binary.LittleEndian.PutUint32(b[fxMXCSR:], 0x1f80)
	binary.LittleEndian.PutUint64(b[fxXMM+5*16:], x)
	return b
}

func fpXMM5(t testing.TB, c *context, as *addressSpace) uint64 {
	t.Helper()
	st, err := c.FPState(as)
	if err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(st[fxXMM+5*16:])
}

// TestVCPUOwnership: a vCPU has one owner at a time; a second context on
// the same CPU fails instead of sharing it; a retired vCPU is replaced.
func TestVCPUOwnership(t *testing.T) {
	p, _ := fakePlatform(2)
	a, b := newContext(p), newContext(p)
	va, err := a.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(); err == nil || !strings.Contains(err.Error(), "two tasks on one CPU") {
		t.Fatalf("second owner of CPU 0: %v", err)
	}
	b.BindCPU(1)
	vb, err := b.acquire()
	if err != nil || vb == va || vb.cpu != 1 {
		t.Fatalf("CPU 1: %v, %v", vb, err)
	}
	va.owner.Store(nil)
	vb.owner.Store(nil)
	b.BindCPU(0)
	if v, err := b.acquire(); err != nil || v != va {
		t.Fatalf("CPU 0 after a left it: %v %v", v, err)
	}
	// Retire CPU 0's vCPU while a still has it cached: a's next
	// acquire must not use it (cpuVCPU would make a real one, so put a
	// fake in its place first).
	p.mu.Lock()
	va.retired.Store(true)
	nv := &vcpu{p: p, id: 2, cpu: 0, fd: -1, fpIO: (&fakeFP{}).io}
	p.cpuVCPUs[0] = nv
	p.mu.Unlock()
	va.owner.Store(nil)
	if v, err := a.acquire(); err != nil || v != nv {
		t.Fatalf("after retirement: %v %v", v, err)
	}
}

// TestFPHandOver walks the FP state of two contexts through the cases:
// set before any vCPU holds it, alternation on one vCPU, re-entry without
// transfers, reads and writes while at home or away, a move to another
// vCPU and back, release.
func TestFPHandOver(t *testing.T) {
	p, f := fakePlatform(2)
	as := &addressSpace{p: p}
	a, b := newContext(p), newContext(p)
	if err := a.SetFPState(as, fxState(0xa0)); err != nil {
		t.Fatal(err)
	}
	if g, s := fpCounts(f); g+s != 0 || a.fp == nil {
		t.Fatalf("SetFPState of a context at home nowhere: %d gets %d sets, buffered %v", g, s, a.fp != nil)
	}
	mustSwitch(t, a, f, 0xa0, 0xa1)
	mustSwitch(t, b, f, 0, 0xb1) // b starts with the initial state
	mustSwitch(t, a, f, 0xa1, 0xa2)
	mustSwitch(t, b, f, 0xb1, 0xb2)
	g0, s0 := fpCounts(f)
	if g0 != 3 || s0 != 4 {
		t.Errorf("alternating: %d gets %d sets, want 3 and 4", g0, s0)
	}
	for i := uint64(0); i < 5; i++ {
		mustSwitch(t, b, f, 0xb2+i, 0xb3+i)
	}
	if g, s := fpCounts(f); g != g0 || s != s0 {
		t.Errorf("re-entering the same vCPU moved FP state: %d gets %d sets", g-g0, s-s0)
	}
	// b is at home on vCPU 0, a is away.
	if x := fpXMM5(t, b, as); x != 0xb7 {
		t.Errorf("b's FPState at home: %#x", x)
	}
	if x := fpXMM5(t, a, as); x != 0xa2 {
		t.Errorf("a's FPState away: %#x", x)
	}
	if err := b.SetFPState(as, fxState(0xbb)); err != nil || xmm5(&f[0].state) != 0xbb {
		t.Fatalf("b's SetFPState at home: %v, vCPU has %#x", err, xmm5(&f[0].state))
	}
	// a moves to CPU 1 (its state is away: only a load), then back to
	// CPU 0: its state comes back from vCPU 1 and b's leaves vCPU 0.
	a.BindCPU(1)
	mustSwitch(t, a, f, 0xa2, 0xa3)
	a.BindCPU(0)
	mustSwitch(t, a, f, 0xa3, 0xa4)
	if p.cpuVCPUs[1].fpOwner != nil || a.fpHome.Load() != p.cpuVCPUs[0] || b.fpHome.Load() != nil {
		t.Errorf("after the move back: vCPU 1 holds %p, a at %p, b at %p", p.cpuVCPUs[1].fpOwner, a.fpHome.Load(), b.fpHome.Load())
	}
	// b moves to CPU 1; its state, saved from vCPU 0, follows.
	b.BindCPU(1)
	mustSwitch(t, b, f, 0xbb, 0xbc)
	if x := fpXMM5(t, a, as); x != 0xa4 {
		t.Errorf("a's FPState: %#x", x)
	}
	// An invalid state is refused whether at home or away.
	for _, c := range []*context{a, newContext(p)} {
		if err := c.SetFPState(as, make([]byte, 100)); err != platform.ErrInvalidFPState {
			t.Errorf("short state: %v", err)
		}
	}
	// Released contexts are forgotten by their vCPU.
	a.Release()
	if p.cpuVCPUs[0].fpOwner != nil {
		t.Errorf("vCPU 0 still holds a released context's state")
	}
	c := newContext(p)
	mustSwitch(t, c, f, 0, 1)
	for i, ff := range f {
		if ff.bad != "" {
			t.Errorf("vCPU %d: %s", i, ff.bad)
		}
	}
}

// TestFPHandOverConcurrent runs many contexts on a few CPUs from many
// threads at once, the way the kernel would (one context per CPU at a
// time, moving between CPUs), and checks that every context always finds
// its own FP state, also when it reads or replaces it between runs. Run
// it with -race.
func TestFPHandOverConcurrent(t *testing.T) {
	const cpus, contexts, rounds = 3, 8, 400
	p, f := fakePlatform(cpus)
	as := &addressSpace{p: p}
	var cpuMu [cpus]sync.Mutex // the kernel's rule: one task per CPU
	var wg sync.WaitGroup
	for i := 0; i < contexts; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := newContext(p)
			defer c.Release()
			rng := rand.New(rand.NewSource(int64(i)))
			want := uint64(0)
			for r := 0; r < rounds; r++ {
				cpu := rng.Intn(cpus)
				cpuMu[cpu].Lock()
				c.BindCPU(cpu)
				next := uint64(i)<<32 | uint64(r+1)
				err := fakeSwitch(c, f, want, next)
				want = next
				cpuMu[cpu].Unlock()
				if err != nil {
					t.Errorf("context %d: %v", i, err)
					return
				}
				switch rng.Intn(8) {
				case 0:
					if x := fpXMM5(t, c, as); x != want {
						t.Errorf("context %d: FPState %#x, want %#x", i, x, want)
						return
					}
				case 1:
					want |= 1 << 31
					if err := c.SetFPState(as, fxState(want)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(i)
	}
	wg.Wait()
	for i, ff := range f {
		if ff.bad != "" {
			t.Errorf("vCPU %d: %s", i, ff.bad)
		}
	}
	g, s := fpCounts(f)
	t.Logf("%d runs: %d FP saves, %d loads", contexts*rounds, g, s)
}

// KVM tests (in the QEMU guest).

// thread runs functions on one goroutine locked to its own OS thread, as
// a sentry task's contexts are driven.
type thread struct{ ch chan func() }

func newThread(t testing.TB) *thread {
	th := &thread{ch: make(chan func())}
	go func() {
		runtime.LockOSThread()
		for f := range th.ch {
			f()
		}
	}()
	t.Cleanup(func() { close(th.ch) })
	return th
}

// do runs f on the thread and waits for it.
func (th *thread) do(f func()) {
	done := make(chan struct{})
	th.ch <- func() { f(); close(done) }
	<-done
}

// start runs f on the thread and returns a channel closed when it returns.
func (th *thread) start(f func()) <-chan struct{} {
	done := make(chan struct{})
	th.ch <- func() { f(); close(done) }
	return done
}

// perCPUCode: loop: paddq %xmm6,%xmm5; movq %xmm5,%rbx; mov dataAddr,%rdx;
// mov %fs:0,%rdi; getpid; syscall; jmp loop.
var perCPUCode = cat(
	[]byte{0x66, 0x0f, 0xd4, 0xee},
	[]byte{0x66, 0x48, 0x0f, 0x7e, 0xeb},
	[]byte{0x48, 0x8b, 0x14, 0x25}, le32(nil, dataAddr),
	[]byte{0x64, 0x48, 0x8b, 0x3c, 0x25, 0, 0, 0, 0},
	insnGetpid, insnSyscall, []byte{0xeb, 0xdd},
)

// task is one "sentry task" of the per-CPU tests: a context on its own
// thread, in its own address space whose data page holds tag and tag+1,
// counting in xmm5 from base.
type task struct {
	name  string
	th    *thread
	c     *context
	as    platform.AddressSpace
	regs  arch.Registers
	tag   uint64
	count uint64
	base  uint64
}

func newTask(t *testing.T, e *env, name string, tag, base uint64, fsOff uint64) *task {
	tk := &task{name: name, th: newThread(t), tag: tag, base: base}
	as, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(as.Release)
	tk.as = as
	mapBytesIn(t, e.mf, as, codeAddr, perCPUCode, hostarch.ReadExecute)
	mapBytesIn(t, e.mf, as, dataAddr, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, tag), tag+1), hostarch.Read)
	tk.regs = arch.NewInitialRegisters(codeAddr, 0)
	tk.regs.Fs_base = dataAddr + fsOff
	tk.th.do(func() {
		var pc platform.Context
		if pc, err = e.p.NewContext(); err != nil {
			return
		}
		tk.c = pc.(*context)
		st := make([]byte, fxsaveSize)
		copy(st, fxState(base))
		binary.LittleEndian.PutUint64(st[fxXMM+6*16:], 1) // xmm6 = 1
		err = tk.c.SetFPState(as, st)
	})
	if tk.c == nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tk.th.do(tk.c.Release) })
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// step runs the task once on CPU cpu to its getpid and checks what it
// saw: its own FP state, data and TLS.
func (tk *task) step(t *testing.T, cpu int) {
	t.Helper()
	var stop platform.Stop
	var err error
	tk.th.do(func() {
		tk.c.BindCPU(cpu)
		stop, err = tk.c.Switch(tk.as, &tk.regs)
	})
	if err != nil || stop.Kind != platform.StopSyscall {
		t.Fatalf("%s on CPU %d: %+v %v", tk.name, cpu, stop, err)
	}
	tk.count++
	fsWant := tk.tag
	if tk.regs.Fs_base != dataAddr {
		fsWant = tk.tag + 1
	}
	if tk.regs.Rbx != tk.base+tk.count || tk.regs.Rdx != tk.tag || tk.regs.Rdi != fsWant {
		t.Fatalf("%s, run %d on CPU %d: xmm5 %#x rdx %#x rdi %#x, want %#x %#x %#x", tk.name, tk.count, cpu,
			tk.regs.Rbx, tk.regs.Rdx, tk.regs.Rdi, tk.base+tk.count, tk.tag, fsWant)
	}
}

func fpTransfers(p *Platform) uint64 { return p.fpSaves.Load() + p.fpLoads.Load() }

// TestTwoTasksOneVCPU: two tasks (threads, contexts, address spaces, TLS
// bases, FP states) alternate on one CPU's vCPU; each sees only its own
// state. Re-entering without the other in between moves no FP state.
func TestTwoTasksOneVCPU(t *testing.T) {
	e := newEnv(t)
	a := newTask(t, e, "a", 0x1100, 0xa000, 0)
	b := newTask(t, e, "b", 0x2200, 0xb000, 8)
	for i := 0; i < 20; i++ {
		a.step(t, 0)
		b.step(t, 0)
	}
	if n := e.p.nextID; n != 1 {
		t.Errorf("%d vCPUs made for one CPU", n)
	}
	before := fpTransfers(e.p)
	for i := 0; i < 10; i++ {
		b.step(t, 0)
	}
	if d := fpTransfers(e.p) - before; d != 0 {
		t.Errorf("re-entering the same vCPU: %d FP transfers", d)
	}
	// FPState of the task away from the vCPU, and of the one at home.
	a.th.do(func() {
		if x := fpXMM5(t, a.c, a.as.(*addressSpace)); x != a.base+a.count {
			t.Errorf("a's FPState: %#x, want %#x", x, a.base+a.count)
		}
	})
	b.th.do(func() {
		if x := fpXMM5(t, b.c, b.as.(*addressSpace)); x != b.base+b.count {
			t.Errorf("b's FPState: %#x, want %#x", x, b.base+b.count)
		}
	})
	a.step(t, 0)
	t.Logf("%d FP saves, %d loads", e.p.fpSaves.Load(), e.p.fpLoads.Load())
}

// TestTaskMovesBetweenVCPUs: a task moves from CPU 0 to CPU 1 and back
// while another task takes CPU 0; FP state, address space and TLS follow
// it.
func TestTaskMovesBetweenVCPUs(t *testing.T) {
	e := newEnv(t)
	a := newTask(t, e, "a", 0x1100, 0xa000, 0)
	b := newTask(t, e, "b", 0x2200, 0xb000, 8)
	for _, s := range []struct {
		tk  *task
		cpu int
	}{{a, 0}, {a, 0}, {a, 1}, {b, 0}, {a, 1}, {b, 0}, {a, 0}, {b, 1}, {a, 0}, {b, 1}, {b, 0}, {a, 1}} {
		s.tk.step(t, s.cpu)
	}
	v0, _ := e.p.cpuVCPU(0)
	v1, _ := e.p.cpuVCPU(1)
	if v0 == v1 || e.p.nextID != 2 {
		t.Errorf("vCPUs %d and %d, %d made", v0.id, v1.id, e.p.nextID)
	}
}

// spinCode: loop: jmp loop.
var spinCode = insnJmpSelf

// TestInterruptTargetsItsVCPU: two tasks spin on two CPUs at once;
// interrupting one stops only that one.
func TestInterruptTargetsItsVCPU(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(codeAddr, spinCode, hostarch.ReadExecute)
	ths := []*thread{newThread(t), newThread(t)}
	cs := make([]*context, 2)
	for i, th := range ths {
		var err error
		th.do(func() {
			var pc platform.Context
			if pc, err = e.p.NewContext(); err == nil {
				cs[i] = pc.(*context)
				cs[i].BindCPU(1 - i)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { th.do(cs[i].Release) })
	}
	stops := make([]platform.Stop, 2)
	errs := make([]error, 2)
	var done []<-chan struct{}
	for i, th := range ths {
		done = append(done, th.start(func() {
			regs := arch.NewInitialRegisters(codeAddr, 0)
			stops[i], errs[i] = cs[i].Switch(e.as, &regs)
		}))
	}
	time.Sleep(50 * time.Millisecond)
	cs[0].Interrupt()
	select {
	case <-done[0]:
	case <-time.After(10 * time.Second):
		cs[1].Interrupt()
		t.Fatalf("interrupting context 0 did not stop it")
	}
	select {
	case <-done[1]:
		t.Errorf("interrupting context 0 stopped context 1: %+v %v", stops[1], errs[1])
	case <-time.After(50 * time.Millisecond):
	}
	cs[1].Interrupt()
	<-done[1]
	for i := range cs {
		if errs[i] != nil || stops[i].Kind != platform.StopInterrupt {
			t.Errorf("context %d: %+v %v", i, stops[i], errs[i])
		}
	}
}

// TestOneTaskPerCPU: a second context switching onto a CPU whose vCPU is
// running fails (the kernel's rule was broken) without harming the
// running one, and works once the CPU is free.
func TestOneTaskPerCPU(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(codeAddr, spinCode, hostarch.ReadExecute)
	th := newThread(t)
	var spinner platform.Context
	var err error
	th.do(func() { spinner, err = e.p.NewContext() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { th.do(spinner.Release) })
	var stop platform.Stop
	done := th.start(func() {
		regs := arch.NewInitialRegisters(codeAddr, 0)
		stop, err = spinner.Switch(e.as, &regs)
	})
	// The spinner is the one with the vCPU once it is in the guest.
	v := e.vcpu()
	for deadline := time.Now().Add(10 * time.Second); v.running.Load() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the spinner never entered")
		}
		time.Sleep(time.Millisecond)
	}
	var err2 error
	<-onThread(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		regs := arch.NewInitialRegisters(codeAddr, 0)
		_, err2 = c.Switch(e.as, &regs)
	})
	if err2 == nil || isContextDead(err2) {
		t.Errorf("second context on a busy CPU: %v, want a busy error", err2)
	}
	spinner.Interrupt()
	<-done
	if err != nil || stop.Kind != platform.StopInterrupt {
		t.Fatalf("the spinner: %+v %v", stop, err)
	}
	// Free again.
	e.mapBytes(codeAddr+pageSize, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	<-onThread(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		regs := arch.NewInitialRegisters(codeAddr+pageSize, 0)
		st, err := c.Switch(e.as, &regs)
		err2 = err
		if err == nil && st.Kind != platform.StopSyscall {
			err2 = fmt.Errorf("stop %+v", st)
		}
	})
	if err2 != nil {
		t.Errorf("after the spinner left: %v", err2)
	}
}
