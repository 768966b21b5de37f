package kvm

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

// onThread runs f on a new goroutine locked to a new OS thread (which
// exits afterwards) and returns a channel closed when f returns.
func onThread(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		f()
	}()
	return done
}

func TestInterruptRunning(t *testing.T) {
	e := newEnv(t)
	// loop: cmpq $0,dataAddr; je loop; getpid.
	loop := cat(cmpZero(dataAddr), []byte{0x74, 0xf5}, insnGetpid, insnSyscall)
	regs := e.loadCode(loop)
	flag := e.mapBytes(dataAddr, nil, hostarch.Read)

	go func() {
		time.Sleep(20 * time.Millisecond)
		e.ctx.Interrupt()
	}()
	start := time.Now()
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopInterrupt {
		t.Fatalf("stop = %+v, want interrupt", stop)
	}
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Errorf("interrupted after %v", d)
	}
	if regs.Rip != codeAddr && regs.Rip != codeAddr+9 {
		t.Errorf("rip = %#x, want in the loop", regs.Rip)
	}
	// Resume: the state was intact, the loop goes on until the flag is
	// set.
	e.mf.Slice(flag)[0] = 1
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

// TestInterruptSpinningRegisters: an interrupted tight loop keeps every
// register.
func TestInterruptSpinningRegisters(t *testing.T) {
	e := newEnv(t)
	// loop: inc %r13; jmp loop
	regs := e.loadCode([]byte{0x49, 0xff, 0xc5, 0xeb, 0xfb})
	regs.Rbx, regs.R14, regs.Rax = 11, 22, 33
	for i := 0; i < 10; i++ {
		time.AfterFunc(time.Duration(i)*2*time.Millisecond, e.ctx.Interrupt)
		before := regs.R13
		stop := e.switchTo(&regs)
		if stop.Kind != platform.StopInterrupt {
			t.Fatalf("stop = %+v", stop)
		}
		// (An interrupt that comes before the guest reached ring 3
		// leaves the registers as they were.)
		if regs.R13 < before || regs.Rbx != 11 || regs.R14 != 22 || regs.Rax != 33 || regs.Rip < codeAddr || regs.Rip > codeAddr+3 {
			t.Fatalf("r13 %d (was %d) rbx %d r14 %d rax %d rip %#x", regs.R13, before, regs.Rbx, regs.R14, regs.Rax, regs.Rip)
		}
	}
	if regs.R13 == 0 {
		t.Errorf("the loop never ran")
	}
	t.Logf("r13 = %d", regs.R13)
}

func TestInterruptBeforeSwitch(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall, []byte{0xeb, 0xf7}))
	e.ctx.Interrupt()
	e.ctx.Interrupt()
	before := regs
	if stop := e.switchTo(&regs); stop.Kind != platform.StopInterrupt {
		t.Fatalf("stop = %+v, want interrupt", stop)
	}
	if regs != before {
		t.Errorf("registers changed by an interrupt before running")
	}
	// Two interrupts before a Switch are one.
	for i := 0; i < 3; i++ {
		wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	}
}

// TestInterruptStress races Interrupt against a Switch loop: every
// Interrupt must produce a StopInterrupt (none lost) and every StopInterrupt
// must follow an Interrupt (none spurious).
func TestInterruptStress(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall, []byte{0xeb, 0xf7}))
	const n = 300
	var outstanding atomic.Bool
	acks := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if i%3 != 0 {
				time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
			}
			outstanding.Store(true)
			e.ctx.Interrupt()
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
		stop := e.switchTo(&regs)
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
	for i := 0; i < 100; i++ {
		if stop := e.switchTo(&regs); stop.Kind != platform.StopSyscall {
			t.Fatalf("stop %d after the last interrupt = %+v", i, stop)
		}
	}
	t.Logf("%d interrupts among %d syscalls", interrupts, syscalls)
}

func TestTwoContextsSharedMemory(t *testing.T) {
	e := newEnv(t)
	// Context B spins until the shared word is non-zero, then loads it
	// into rbx and makes a syscall. Context A, running at the same time,
	// stores to the word.
	e.mapBytes(codeAddr, cat(storeImm(dataAddr, 0x1234), insnGetpid, insnSyscall, insnJmpSelf), hostarch.ReadExecute)
	e.mapBytes(codeAddr+pageSize, cat(cmpZero(dataAddr), []byte{0x74, 0xf5}, loadRbx(dataAddr), insnGetpid, insnSyscall, insnJmpSelf), hostarch.ReadExecute)
	e.mapBytes(dataAddr, nil, hostarch.ReadWrite)

	bCtx := make(chan platform.Context, 1)
	var bStop platform.Stop
	var bErr error
	var bRbx uint64
	doneB := onThread(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		c.(platform.CPUBinder).BindCPU(1) // A runs on CPU 0 meanwhile
		bCtx <- c
		regs := arch.NewInitialRegisters(codeAddr+pageSize, 0)
		bStop, bErr = c.Switch(e.as, &regs)
		bRbx = regs.Rbx
	})
	cb := <-bCtx
	time.Sleep(20 * time.Millisecond) // let B spin
	select {
	case <-doneB:
		t.Fatalf("B returned before A wrote: %+v %v", bStop, bErr)
	default:
	}
	var aStop platform.Stop
	var aErr error
	<-onThread(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		regs := arch.NewInitialRegisters(codeAddr, 0)
		aStop, aErr = c.Switch(e.as, &regs)
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

// TestConcurrentContexts runs contexts in one address space at the same
// time, each counting in its own word of a shared page between syscalls,
// while another goroutine maps and unmaps pages elsewhere (TLB
// shootdowns hitting running vCPUs).
func TestConcurrentContexts(t *testing.T) {
	e := newEnv(t)
	// loop: addq $1,(%rsi); mov $39,%eax; syscall; jmp loop
	code := []byte{0x48, 0x83, 0x06, 0x01, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf3}
	e.mapBytes(codeAddr, code, hostarch.ReadExecute)
	data := e.mapBytes(dataAddr, nil, hostarch.ReadWrite)
	const n = 500
	const contexts = 3
	var wg sync.WaitGroup
	for i := 0; i < contexts; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread()
			c, err := e.p.NewContext()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Release()
			c.(platform.CPUBinder).BindCPU(i) // one CPU each
			regs := arch.NewInitialRegisters(codeAddr, 0)
			regs.Rsi = dataAddr + uint64(i)*8
			for j := 0; j < n; j++ {
				stop, err := c.Switch(e.as, &regs)
				if err != nil || stop.Kind != platform.StopSyscall {
					t.Errorf("context %d: %+v %v", i, stop, err)
					return
				}
			}
		}(i)
	}
	stopMapper := make(chan struct{})
	mapped := make(chan int)
	go func() {
		k := 0
		defer func() { mapped <- k }()
		fr, _ := e.mf.Allocate(1)
		for {
			select {
			case <-stopMapper:
				return
			default:
			}
			if err := e.as.MapFile(0x900000, fr, hostarch.ReadWrite); err != nil {
				t.Error(err)
				return
			}
			e.as.Unmap(0x900000, pageSize)
			k++
		}
	}()
	wg.Wait()
	close(stopMapper)
	k := <-mapped
	page := e.mf.Slice(data)
	for i := 0; i < contexts; i++ {
		if got := binary.LittleEndian.Uint64(page[i*8:]); got != n {
			t.Errorf("context %d counted %d, want %d", i, got, n)
		}
	}
	t.Logf("%d map/unmap cycles meanwhile", k)
}

// spinnerCode copies the word at dataAddr to mirrorAddr forever, with one
// instruction (movsq), so that a copy is either done before a kick or
// redone after it:
//
//	loop: mov $dataAddr,%esi; mov $mirrorAddr,%edi; movsq; jmp loop
func spinnerCode() []byte {
	return cat([]byte{0xbe}, le32(nil, dataAddr), []byte{0xbf}, le32(nil, mirrorAddr), []byte{0x48, 0xa5, 0xeb, 0xf2})
}

const mirrorAddr = 0x600000

// TestShootdownRunning: Unmap and MapFile while another context runs in
// the address space. Once they return, the running vCPU must not read the
// old page again.
func TestShootdownRunning(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(codeAddr, spinnerCode(), hostarch.ReadExecute)
	mirror := e.mf.Slice(e.mapBytes(mirrorAddr, nil, hostarch.ReadWrite))
	word := func() uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&mirror[0]))) }
	setWord := func(v uint64) { atomic.StoreUint64((*uint64)(unsafe.Pointer(&mirror[0])), v) }
	value := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

	for round := 0; round < 20; round++ {
		old := uint64(0x1000 + round)
		e.mapBytes(dataAddr, value(old), hostarch.Read)
		type result struct {
			stop platform.Stop
			err  error
			rip  uint64
		}
		res := make(chan result, 1)
		ctxc := make(chan platform.Context, 1)
		onThread(func() {
			c, err := e.p.NewContext()
			if err != nil {
				res <- result{err: err}
				ctxc <- nil
				return
			}
			defer c.Release()
			ctxc <- c
			regs := arch.NewInitialRegisters(codeAddr, 0)
			stop, err := c.Switch(e.as, &regs)
			res <- result{stop, err, regs.Rip}
		})
		c := <-ctxc
		deadline := time.Now().Add(10 * time.Second)
		for word() != old {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the spinner never copied %#x (mirror %#x)", round, old, word())
			}
			runtime.Gosched()
		}
		if round%2 == 0 {
			// Remap to a new frame: after MapFile returns, only
			// the new value may be copied.
			nv := old + 0x100000
			e.mapBytes(dataAddr, value(nv), hostarch.Read)
			setWord(1)
			for w := word(); w != nv; w = word() {
				if w != 1 {
					t.Fatalf("round %d: the spinner copied %#x after the remap, want %#x", round, w, nv)
				}
				if time.Now().After(deadline) {
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
		e.as.Unmap(dataAddr, pageSize)
		setWord(1)
		select {
		case r := <-res:
			if r.err != nil || r.stop.Kind != platform.StopFault || r.stop.Addr != dataAddr || r.stop.Access != hostarch.Read {
				t.Fatalf("round %d: %+v %v, want a read fault at %#x", round, r.stop, r.err, dataAddr)
			}
			if r.rip != codeAddr+10 {
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
