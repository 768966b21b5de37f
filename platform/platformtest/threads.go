package platformtest

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Checks of Interrupt and of contexts running at the same time.

// bindCPU binds c to sandbox CPU cpu where the platform has per-CPU state
// (platform.CPUBinder): contexts running at once must be on different
// CPUs.
func bindCPU(c platform.Context, cpu int) {
	if b, ok := c.(platform.CPUBinder); ok {
		b.BindCPU(cpu)
	}
}

// testInterruptRunning: Interrupt stops a spinning program, with its state
// intact.
func testInterruptRunning(t *testing.T, e *Env, _ *Options) {
	// loop: cmpq $0,DataAddr; je loop; getpid.
	loop := Cat(CmpZero(DataAddr), []byte{0x74, 0xf5}, InsnGetpid, InsnSyscall)
	regs := e.LoadCode(loop)
	flag := e.MapBytes(DataAddr, nil, hostarch.Read)

	// The clock starts before the interrupter does: the interrupt
	// cannot come less than 20 ms after it, however the host schedules
	// the two goroutines.
	start := time.Now()
	go func() {
		time.Sleep(20 * time.Millisecond)
		e.Ctx.Interrupt()
	}()
	stop := e.SwitchTo(&regs)
	if stop.Kind != platform.StopInterrupt {
		t.Fatalf("stop = %+v, want interrupt", stop)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("interrupted after %v, before the interrupt was sent", d)
	}
	if regs.Rip != CodeAddr && regs.Rip != CodeAddr+9 {
		t.Errorf("rip = %#x, want in the loop", regs.Rip)
	}
	// Resume: the state was intact, the loop goes on until the flag is
	// set.
	e.MF.Slice(flag)[0] = 1
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
}

// testInterruptSpinningRegisters: an interrupted tight loop keeps every
// register.
func testInterruptSpinningRegisters(t *testing.T, e *Env, _ *Options) {
	// loop: inc %r13; jmp loop
	regs := e.LoadCode([]byte{0x49, 0xff, 0xc5, 0xeb, 0xfb})
	regs.Rbx, regs.R14, regs.Rax = 11, 22, 33
	for i := 0; i < 10; i++ {
		time.AfterFunc(time.Duration(i)*2*time.Millisecond, e.Ctx.Interrupt)
		before := regs.R13
		stop := e.SwitchTo(&regs)
		if stop.Kind != platform.StopInterrupt {
			t.Fatalf("stop = %+v", stop)
		}
		// (An interrupt that comes before the program ran leaves the
		// registers as they were.)
		if regs.R13 < before || regs.Rbx != 11 || regs.R14 != 22 || regs.Rax != 33 || regs.Rip < CodeAddr || regs.Rip > CodeAddr+3 {
			t.Fatalf("r13 %d (was %d) rbx %d r14 %d rax %d rip %#x", regs.R13, before, regs.Rbx, regs.R14, regs.Rax, regs.Rip)
		}
	}
	if regs.R13 == 0 {
		t.Errorf("the loop never ran")
	}
	t.Logf("r13 = %d", regs.R13)
}

// testInterruptBeforeSwitch: an Interrupt with no Switch running makes the
// next Switch return at once, changing nothing; two are one.
func testInterruptBeforeSwitch(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(InsnGetpid, InsnSyscall, []byte{0xeb, 0xf7}))
	e.Ctx.Interrupt()
	e.Ctx.Interrupt()
	before := regs
	if stop := e.SwitchTo(&regs); stop.Kind != platform.StopInterrupt {
		t.Fatalf("stop = %+v, want interrupt", stop)
	}
	if regs != before {
		t.Errorf("registers changed by an interrupt before running")
	}
	for i := 0; i < 3; i++ {
		WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	}
}

// testInterruptStress races Interrupt against a Switch loop: every
// Interrupt must produce a StopInterrupt (none lost) and every
// StopInterrupt must follow an Interrupt (none spurious).
func testInterruptStress(t *testing.T, e *Env, _ *Options) {
	regs := e.LoadCode(Cat(InsnGetpid, InsnSyscall, []byte{0xeb, 0xf7}))
	const n = 300
	var outstanding atomic.Bool
	acks := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			// Vary the timing: sometimes interrupt at once,
			// sometimes after a few round trips.
			if i%3 != 0 {
				time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
			}
			outstanding.Store(true)
			e.Ctx.Interrupt()
			select {
			case <-acks:
			case <-time.After(10 * time.Second):
				t.Errorf("interrupt %d lost", i)
				return
			}
		}
	}()
	interrupts, syscalls := 0, 0
	for interrupts < n {
		select {
		case <-done:
			t.Fatalf("interrupter gave up after %d interrupts", interrupts)
		default:
		}
		stop := e.SwitchTo(&regs)
		switch stop.Kind {
		case platform.StopInterrupt:
			if !outstanding.Swap(false) {
				t.Fatalf("spurious interrupt after %d interrupts", interrupts)
			}
			interrupts++
			acks <- struct{}{}
		case platform.StopSyscall:
			syscalls++
			regs.SetReturn(uintptr(syscalls))
		default:
			t.Fatalf("stop = %+v", stop)
		}
	}
	<-done
	// No interrupt left behind.
	for i := 0; i < 100; i++ {
		if stop := e.SwitchTo(&regs); stop.Kind != platform.StopSyscall {
			t.Fatalf("stop %d after the last interrupt = %+v", i, stop)
		}
	}
	t.Logf("%d interrupts among %d syscalls", interrupts, syscalls)
}

// testTwoContextsSharedMemory: two contexts of one address space running
// at once share its memory: B spins until A's store shows.
func testTwoContextsSharedMemory(t *testing.T, e *Env, _ *Options) {
	e.MapBytes(CodeAddr, Cat(StoreImm(DataAddr, 0x1234), InsnGetpid, InsnSyscall, InsnJmpSelf), hostarch.ReadExecute)
	e.MapBytes(CodeAddr+PageSize, Cat(CmpZero(DataAddr), []byte{0x74, 0xf5}, LoadRbx(DataAddr), InsnGetpid, InsnSyscall, InsnJmpSelf), hostarch.ReadExecute)
	e.MapBytes(DataAddr, nil, hostarch.ReadWrite)

	bCtx := make(chan platform.Context, 1)
	var bStop platform.Stop
	var bErr error
	var bRbx uint64
	doneB := OnThread(func() {
		c, err := e.P.NewContext()
		if err != nil {
			bErr = err
			bCtx <- nil
			return
		}
		defer c.Release()
		bindCPU(c, 1) // A runs on CPU 0 meanwhile
		bCtx <- c
		regs := arch.NewInitialRegisters(CodeAddr+PageSize, 0)
		bStop, bErr = c.Switch(e.AS, &regs)
		bRbx = regs.Rbx
	})
	cb := <-bCtx
	if cb == nil {
		<-doneB
		t.Fatalf("B: NewContext: %v", bErr)
	}
	time.Sleep(20 * time.Millisecond) // let B spin
	select {
	case <-doneB:
		t.Fatalf("B returned before A wrote: %+v %v", bStop, bErr)
	default:
	}
	var aStop platform.Stop
	var aErr error
	<-OnThread(func() {
		c, err := e.P.NewContext()
		if err != nil {
			aErr = err
			return
		}
		defer c.Release()
		regs := arch.NewInitialRegisters(CodeAddr, 0)
		aStop, aErr = c.Switch(e.AS, &regs)
	})
	if aErr != nil || aStop.Kind != platform.StopSyscall {
		t.Errorf("A: %+v %v", aStop, aErr)
	}
	select {
	case <-doneB:
	case <-time.After(10 * time.Second):
		cb.Interrupt()
		<-doneB
		t.Fatalf("B never saw A's store")
	}
	if bErr != nil || bStop.Kind != platform.StopSyscall || bRbx != 0x1234 {
		t.Errorf("B: %+v %v rbx %#x", bStop, bErr, bRbx)
	}
}

// testConcurrentContexts runs three contexts in one address space at the
// same time, each counting in its own word of a shared page between
// syscalls, while a goroutine with no context maps and unmaps pages
// elsewhere (TLB shootdowns hitting running vCPUs; injections into stubs
// from a thread that traces none).
func testConcurrentContexts(t *testing.T, e *Env, _ *Options) {
	// loop: addq $1,(%rsi); mov $39,%eax; syscall; jmp loop
	code := []byte{0x48, 0x83, 0x06, 0x01, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf3}
	e.MapBytes(CodeAddr, code, hostarch.ReadExecute)
	data := e.MapBytes(DataAddr, nil, hostarch.ReadWrite)
	const n = 1000
	const contexts = 3
	var wg sync.WaitGroup
	for i := 0; i < contexts; i++ {
		wg.Add(1)
		OnThread(func() {
			defer wg.Done()
			c, err := e.P.NewContext()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Release()
			bindCPU(c, i) // one CPU each
			regs := arch.NewInitialRegisters(CodeAddr, 0)
			regs.Rsi = DataAddr + uint64(i)*8
			for j := 0; j < n; j++ {
				stop, err := c.Switch(e.AS, &regs)
				if err != nil || stop.Kind != platform.StopSyscall {
					t.Errorf("context %d: %+v %v", i, stop, err)
					return
				}
			}
		})
	}
	stopMapper := make(chan struct{})
	mapped := make(chan int)
	go func() {
		k := 0
		defer func() { mapped <- k }()
		fr, err := e.MF.Allocate(1)
		if err != nil {
			t.Error(err)
			return
		}
		defer e.MF.DecRef(fr)
		for {
			select {
			case <-stopMapper:
				return
			default:
			}
			addr := uintptr(0x10000000 + (k%64)*PageSize)
			if err := e.AS.MapFile(addr, fr, hostarch.ReadWrite); err != nil {
				t.Error(err)
				return
			}
			e.AS.Unmap(addr, PageSize)
			k++
		}
	}()
	wg.Wait()
	close(stopMapper)
	k := <-mapped
	if t.Failed() {
		return
	}
	page := e.MF.Slice(data)
	for i := 0; i < contexts; i++ {
		if got := binary.LittleEndian.Uint64(page[i*8:]); got != n {
			t.Errorf("context %d counted %d, want %d", i, got, n)
		}
	}
	t.Logf("%d map/unmap cycles meanwhile", k)
}

// mirrorAddr is where spinnerCode copies the word at DataAddr.
const mirrorAddr = 0x600000

// spinnerCode copies the word at DataAddr to mirrorAddr forever, with one
// instruction (movsq), so that a copy is either done before a kick or
// redone after it:
//
//	loop: mov $DataAddr,%esi; mov $mirrorAddr,%edi; movsq; jmp loop
func spinnerCode() []byte {
	return Cat([]byte{0xbe}, le32(nil, DataAddr), []byte{0xbf}, le32(nil, mirrorAddr), []byte{0x48, 0xa5, 0xeb, 0xf2})
}

// testShootdownRunning: Unmap and MapFile while another context runs in
// the address space. Once they return, the running program must not read
// the old page again.
func testShootdownRunning(t *testing.T, e *Env, _ *Options) {
	e.MapBytes(CodeAddr, spinnerCode(), hostarch.ReadExecute)
	mirror := e.MF.Slice(e.MapBytes(mirrorAddr, nil, hostarch.ReadWrite))
	word := func() uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&mirror[0]))) }
	setWord := func(v uint64) { atomic.StoreUint64((*uint64)(unsafe.Pointer(&mirror[0])), v) }
	value := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

	for round := 0; round < 20; round++ {
		old := uint64(0x1000 + round)
		e.MapBytes(DataAddr, value(old), hostarch.Read)
		type result struct {
			stop platform.Stop
			err  error
			rip  uint64
		}
		res := make(chan result, 1)
		ctxc := make(chan platform.Context, 1)
		OnThread(func() {
			c, err := e.P.NewContext()
			if err != nil {
				res <- result{err: err}
				ctxc <- nil
				return
			}
			defer c.Release()
			ctxc <- c
			regs := arch.NewInitialRegisters(CodeAddr, 0)
			stop, err := c.Switch(e.AS, &regs)
			res <- result{stop, err, regs.Rip}
		})
		c := <-ctxc
		if c == nil {
			t.Fatalf("round %d: NewContext: %v", round, (<-res).err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for word() != old {
			if time.Now().After(deadline) {
				c.Interrupt()
				t.Fatalf("round %d: the spinner never copied %#x (mirror %#x)", round, old, word())
			}
			runtime.Gosched()
		}
		if round%2 == 0 {
			// Remap to a new frame: after MapFile returns, only
			// the new value may be copied.
			nv := old + 0x100000
			e.MapBytes(DataAddr, value(nv), hostarch.Read)
			setWord(1)
			for w := word(); w != nv; w = word() {
				if w != 1 {
					c.Interrupt()
					t.Fatalf("round %d: the spinner copied %#x after the remap, want %#x", round, w, nv)
				}
				if time.Now().After(deadline) {
					c.Interrupt()
					t.Fatalf("round %d: the spinner never copied the new value", round)
				}
				runtime.Gosched()
			}
			c.Interrupt()
			if r := <-res; r.err != nil || r.stop.Kind != platform.StopInterrupt {
				t.Fatalf("round %d: %+v %v", round, r.stop, r.err)
			}
			continue
		}
		e.AS.Unmap(DataAddr, PageSize)
		setWord(1)
		select {
		case r := <-res:
			if r.err != nil || r.stop.Kind != platform.StopFault || r.stop.Addr != DataAddr || r.stop.Access != hostarch.Read {
				t.Fatalf("round %d: %+v %v, want a read fault at %#x", round, r.stop, r.err, DataAddr)
			}
			if r.rip != CodeAddr+10 {
				t.Errorf("round %d: fault at rip %#x, want the movsq", round, r.rip)
			}
		case <-time.After(10 * time.Second):
			c.Interrupt()
			t.Fatalf("round %d: the spinner kept running after Unmap (stale TLB)", round)
		}
		if w := word(); w != 1 {
			t.Fatalf("round %d: the spinner copied %#x after Unmap returned", round, w)
		}
	}
}

// testMapFileAtStops maps memory from the task's thread while its context
// sits in each kind of stop (syscall, fault, interrupt), as the sentry
// does when it serves mmap or pages in after a signal.
func testMapFileAtStops(t *testing.T, e *Env, _ *Options) {
	// getpid; rbx = *DataAddr; getpid; spin until *DataAddr+PageSize != 0;
	// rbx = *DataAddr+PageSize; getpid
	regs := e.LoadCode(Cat(
		InsnGetpid, InsnSyscall,
		LoadRbx(DataAddr), InsnGetpid, InsnSyscall,
		CmpZero(DataAddr+PageSize), []byte{0x74, 0xf5},
		LoadRbx(DataAddr+PageSize), InsnGetpid, InsnSyscall,
	))
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	// At a syscall stop.
	e.MapBytes(DataAddr, []byte{3}, hostarch.Read)
	regs.SetReturn(0)
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 3 {
		t.Fatalf("rbx = %d", regs.Rbx)
	}
	// At a fault stop: the spin loop faults on the unmapped page.
	stop := e.SwitchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != DataAddr+PageSize {
		t.Fatalf("stop = %+v", stop)
	}
	flag := e.MapBytes(DataAddr+PageSize, nil, hostarch.Read)
	// At an interrupt stop.
	go func() {
		time.Sleep(10 * time.Millisecond)
		e.Ctx.Interrupt()
	}()
	if stop := e.SwitchTo(&regs); stop.Kind != platform.StopInterrupt {
		t.Fatalf("stop = %+v, want interrupt", stop)
	}
	fr := e.Alloc()
	e.MF.Slice(fr)[0] = 5
	if err := e.AS.MapFile(DataAddr+PageSize, fr, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	e.MF.DecRef(flag)
	WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 5 {
		t.Fatalf("rbx = %d", regs.Rbx)
	}
}
