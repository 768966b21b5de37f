package kvm

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/ptrace"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// BenchmarkGetpidRoundTrip measures one application syscall round trip:
// Switch, then the "sentry" sets rax.
func BenchmarkGetpidRoundTrip(b *testing.B) {
	e := newEnv(b)
	regs := e.loadCode(getpidLoop)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.SetReturn(uintptr(i))
		stop, err := e.ctx.Switch(e.as, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			b.Fatalf("Switch: %+v %v", stop, err)
		}
	}
}

// BenchmarkFaultRoundTrip measures a demand-paging cycle: a fault, MapFile,
// the access, Unmap (with its TLB flush).
func BenchmarkFaultRoundTrip(b *testing.B) {
	e := newEnv(b)
	regs := e.loadCode(cat(loadRbx(dataAddr), insnGetpid, insnSyscall))
	fr, _ := e.mf.Allocate(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.Rip = codeAddr
		if stop := e.switchTo(&regs); stop.Kind != platform.StopFault {
			b.Fatalf("stop = %+v", stop)
		}
		if err := e.as.MapFile(dataAddr, fr, hostarch.Read); err != nil {
			b.Fatal(err)
		}
		if stop := e.switchTo(&regs); stop.Kind != platform.StopSyscall {
			b.Fatalf("stop = %+v", stop)
		}
		e.as.Unmap(dataAddr, pageSize)
	}
}

// roundTrips runs the same workloads on any platform: n getpid round
// trips, and n fault/map/unmap cycles. It returns the time per iteration.
func roundTrips(t *testing.T, p platform.Platform, mf *memfile.MemoryFile, n int) (getpid, fault time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	defer as.Release()
	c, err := p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	mapBytesIn(t, mf, as, codeAddr, getpidLoop, hostarch.ReadExecute)
	mapBytesIn(t, mf, as, codeAddr+pageSize, cat(loadRbx(dataAddr), insnGetpid, insnSyscall), hostarch.ReadExecute)
	regs := arch.NewInitialRegisters(codeAddr, 0)
	sw := func(want platform.StopKind) {
		stop, err := c.Switch(as, &regs)
		if err != nil || stop.Kind != want {
			t.Fatalf("%s: %+v %v, want %v", p.Name(), stop, err, want)
		}
	}
	sw(platform.StopSyscall) // warm up
	start := time.Now()
	for i := 0; i < n; i++ {
		regs.SetReturn(uintptr(i))
		sw(platform.StopSyscall)
	}
	getpid = time.Since(start) / time.Duration(n)
	fr, _ := mf.Allocate(1)
	defer mf.DecRef(fr)
	start = time.Now()
	for i := 0; i < n/4; i++ {
		regs.Rip = codeAddr + pageSize
		sw(platform.StopFault)
		if err := as.MapFile(dataAddr, fr, hostarch.Read); err != nil {
			t.Fatal(err)
		}
		sw(platform.StopSyscall)
		as.Unmap(dataAddr, pageSize)
	}
	fault = time.Since(start) / time.Duration(n/4)
	return getpid, fault
}

// TestRatioToPtrace runs the same round trips on the KVM and the ptrace
// platforms in the same process and prints the ratios. Under software
// emulation (test/kvm/run.sh) only the ratio means anything.
func TestRatioToPtrace(t *testing.T) {
	requireKVM(t)
	const n = 2000
	mf, err := memfile.New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Release()
	kp, err := New(mf)
	if err != nil {
		t.Fatal(err)
	}
	defer kp.Release()
	pp, err := ptrace.New(mf)
	if err != nil {
		t.Fatal(err)
	}
	defer pp.Release()
	// Alternate, three rounds, and keep the best of each: under
	// emulation the host's load makes single runs vary a lot.
	best := func(d *time.Duration, v time.Duration) {
		if *d == 0 || v < *d {
			*d = v
		}
	}
	var kg, kf, pg, pf time.Duration
	for round := 0; round < 3; round++ {
		g, f := roundTrips(t, kp, mf, n)
		best(&kg, g)
		best(&kf, f)
		g, f = roundTrips(t, pp, mf, n)
		best(&pg, g)
		best(&pf, f)
	}
	line := fmt.Sprintf("BENCH getpid round trip: kvm %v, ptrace %v, kvm/ptrace %.2f; fault+map+unmap: kvm %v, ptrace %v, kvm/ptrace %.2f (best of 3)",
		kg, pg, float64(kg)/float64(pg), kf, pf, float64(kf)/float64(pf))
	t.Log(line)
	fmt.Println(line)
}

// TestHandOffCost measures what a vCPU changing hands costs: two tasks
// (threads with their own contexts) take turns, on one CPU (each turn
// moves the vCPU to the other thread, and its FP state) and on two CPUs
// (the same thread hand-offs, no vCPU hand-off). The difference is the
// vCPU hand-off: KVM_RUN from a new thread plus the FP state transfer.
func TestHandOffCost(t *testing.T) {
	e := newEnv(t)
	e.loadCode(getpidLoop)
	const n = 60
	turns := func(cpus [2]int) time.Duration {
		ths := [2]*thread{newThread(t), newThread(t)}
		var cs [2]platform.Context
		var regs [2]arch.Registers
		for i, th := range ths {
			th.do(func() {
				c, err := e.p.NewContext()
				if err != nil {
					t.Error(err)
					return
				}
				c.(platform.CPUBinder).BindCPU(cpus[i])
				cs[i] = c
				regs[i] = arch.NewInitialRegisters(codeAddr, stackTop)
			})
		}
		if cs[0] == nil || cs[1] == nil {
			t.FailNow()
		}
		defer func() {
			for i, th := range ths {
				th.do(cs[i].Release)
			}
		}()
		var err error
		turn := func(i int) {
			ths[i].do(func() {
				if stop, e := cs[i].Switch(e.as, &regs[i]); e != nil || stop.Kind != platform.StopSyscall {
					err = fmt.Errorf("%+v %v", stop, e)
				}
			})
		}
		turn(0)
		turn(1)
		start := time.Now()
		for j := 0; j < n && err == nil; j++ {
			turn(j % 2)
		}
		if err != nil {
			t.Fatal(err)
		}
		return time.Since(start) / n
	}
	var one, two time.Duration
	for round := 0; round < 3; round++ {
		o, w := turns([2]int{0, 0}), turns([2]int{0, 1})
		if one == 0 || o < one {
			one = o
		}
		if two == 0 || w < two {
			two = w
		}
	}
	line := fmt.Sprintf("BENCH turn of two tasks: on one CPU (vCPU hand-off each turn) %v, on two CPUs %v: a vCPU hand-off costs about %v (best of 3; FP saves %d, loads %d)",
		one, two, one-two, e.p.fpSaves.Load(), e.p.fpLoads.Load())
	t.Log(line)
	fmt.Println(line)
}
