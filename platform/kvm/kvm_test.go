package kvm

// Tests that need a standard KVM (they skip elsewhere; test/kvm/run.sh
// runs them inside a QEMU guest that has one).

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/platformtest"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

func TestName(t *testing.T) {
	e := newEnv(t)
	if got := e.p.Name(); got != "kvm" {
		t.Errorf("Name() = %q", got)
	}
	if got := e.p.MaxUserAddress(); got != maxUserAddress {
		t.Errorf("MaxUserAddress() = %#x", got)
	}
	t.Logf("sync regs %v, max vCPUs %d, features %+v", e.p.sync, e.p.maxVCPUs, e.p.features)
}

// TestIsolation probes the guest's address space from ring 3: nothing but
// the application's own pages is reachable, not the ring-0 pages, not the
// vsyscall page, not guest-physical addresses, not anything beyond the
// application's range.
func TestIsolation(t *testing.T) {
	e := newEnv(t)
	e.mapBytes(stackAddr, nil, hostarch.ReadWrite)
	v := e.vcpu()
	probes := []uint64{
		codeVA, codeVA + syscallOff, gdtVA, idtVA, vcpuMainVA(v.id), vcpuISTVA(v.id),
		vcpuMainVA(v.id) + pageSize, kernelBase + 0x100000, 0xffffffffff600000,
		0xffffffff81000000, 0xffff800000000000, 0xfffffffffffff000,
		maxUserAddress, 1<<47 - pageSize, 0, pageSize, memBase, memBase + codeAddr,
		e.p.kernel.root &^ (pageSize - 1), e.as.pt.root, 0x0000800000000000, 0x8000000000000000,
	}
	// And a spread over the whole user range.
	for a := uint64(1 << 20); a < maxUserAddress; a = a*3 + pageSize {
		probes = append(probes, a&^(pageSize-1))
	}
	for _, a := range probes {
		for _, kind := range []string{"read", "write", "exec"} {
			var code []byte
			switch kind {
			case "read":
				code = loadRbxAbs(a)
			case "write":
				code = cat(movabsRax(a), []byte{0x48, 0x89, 0x18}) // mov %rbx,(%rax)
			case "exec":
				code = cat(movabsRax(a), []byte{0xff, 0xe0}) // jmp *%rax
			}
			fr := e.mapBytes(codeAddr, cat(code, insnGetpid, insnSyscall), hostarch.ReadExecute)
			regs := arch.NewInitialRegisters(codeAddr, stackTop)
			stop := e.switchTo(&regs)
			e.mf.DecRef(fr)
			if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) && stop.Signo != int(unix.SIGBUS) {
				t.Errorf("%s of %#x: stop = %+v, want SIGSEGV", kind, a, stop)
				continue
			}
			if canonical(a) && stop.Addr != uintptr(a) {
				t.Errorf("%s of %#x: fault address %#x", kind, a, stop.Addr)
			}
			if canonical(a) && stop.Code != segvMapErr {
				t.Errorf("%s of %#x: si_code %d, want SEGV_MAPERR (ring 0 must look unmapped)", kind, a, stop.Code)
			}
		}
	}
	// UMIP (where the CPU has it) hides the descriptor tables' addresses.
	fr := e.mapBytes(codeAddr, cat([]byte{0x0f, 0x01, 0x44, 0x24, 0xf0}, insnGetpid, insnSyscall), hostarch.ReadExecute) // sgdt -16(%rsp)
	regs := arch.NewInitialRegisters(codeAddr, stackTop)
	stop := e.switchTo(&regs)
	e.mf.DecRef(fr)
	if e.p.features.umip {
		if stop.Kind != platform.StopFault || stop.Signo != int(unix.SIGSEGV) {
			t.Errorf("sgdt with UMIP: stop %+v", stop)
		}
	} else {
		t.Logf("no UMIP: sgdt gives %+v", stop)
	}
	t.Logf("%d addresses probed", len(probes))
}

// TestManyContexts: vCPUs belong to CPUs, not contexts. Contexts on one
// CPU share its vCPU; one vCPU is made per CPU, once.
func TestManyContexts(t *testing.T) {
	e := newEnv(t)
	e.loadCode(cat(insnGetpid, insnSyscall))
	before := e.p.nextID
	for round := 0; round < 3; round++ {
		var cs []platform.Context
		for i := 0; i < 8; i++ {
			c, err := e.p.NewContext()
			if err != nil {
				t.Fatal(err)
			}
			if round > 0 {
				c.(platform.CPUBinder).BindCPU(i)
			}
			regs := arch.NewInitialRegisters(codeAddr, stackTop)
			if stop, err := c.Switch(e.as, &regs); err != nil || stop.Kind != platform.StopSyscall {
				t.Fatalf("round %d context %d: %+v %v", round, i, stop, err)
			}
			cs = append(cs, c)
		}
		for _, c := range cs {
			c.Release()
		}
		want := 1
		if round > 0 {
			want = 8
		}
		if got := e.p.nextID - before; got != want {
			t.Errorf("round %d: %d vCPUs made, want %d", round, got, want)
		}
	}
}

// TestWithoutSyncRegs runs the basics through KVM_SET_REGS/KVM_GET_REGS,
// as on a KVM without KVM_CAP_SYNC_REGS.
func TestWithoutSyncRegs(t *testing.T) {
	requireKVM(t)
	useSyncRegs = false
	e := newEnv(t)
	useSyncRegs = true
	if e.p.sync {
		t.Fatalf("sync regs in use")
	}
	regs := e.loadCode(cat(insnGetpid, insnSyscall, insnRaxRbx, loadRbx(dataAddr), insnGetpid, insnSyscall,
		cmpZero(dataAddr+8), []byte{0x74, 0xf5}, insnGetpid, insnSyscall))
	regs.R14 = 0x1414
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	regs.SetReturn(5)
	stop := e.switchTo(&regs)
	if stop.Kind != platform.StopFault || stop.Addr != dataAddr {
		t.Fatalf("stop %+v", stop)
	}
	if regs.Rbx != 5 || regs.R14 != 0x1414 {
		t.Errorf("rbx %d r14 %#x", regs.Rbx, regs.R14)
	}
	e.mapBytes(dataAddr, []byte{9}, hostarch.Read)
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	if regs.Rbx != 9 {
		t.Errorf("rbx %d", regs.Rbx)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		e.ctx.Interrupt()
	}()
	if stop := e.switchTo(&regs); stop.Kind != platform.StopInterrupt {
		t.Fatalf("stop %+v, want interrupt", stop)
	}
}

// TestPlatform runs the platform contract suite (platform/platformtest);
// each check skips, or fails under RUNSC_LITE_EXPECT_KVM, as requireKVM
// says.
func TestPlatform(t *testing.T) {
	platformtest.Run(t, newPlatform, platformtest.Options{Require: requireKVM})
}

// TestMapFileBeyondMemoryFile: a range past the memory file's end is
// refused (the KVM platform maps the file into guest-physical memory
// once; the rest of MapFile's checks are the suite's).
func TestMapFileBeyondMemoryFile(t *testing.T) {
	e := newEnv(t)
	bad := memfile.FileRange{Start: e.mf.Size(), End: e.mf.Size() + pageSize}
	if err := e.as.MapFile(codeAddr, bad, hostarch.Read); err == nil {
		t.Errorf("MapFile beyond the memory file succeeded")
	}
}

// TestRing0StubRip: a program whose rip the sentry set to the ring-0
// syscall entry gets a fault (the page is supervisor-only), and the
// context works on. (The other bad registers are the suite's.)
func TestRing0StubRip(t *testing.T) {
	e := newEnv(t)
	good := e.loadCode(cat(insnGetpid, insnSyscall))
	regs := good
	regs.Rip = codeVA + syscallOff
	stop, err := e.ctx.Switch(e.as, &regs)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if stop.Kind != platform.StopFault {
		t.Errorf("stop = %+v, want a fault", stop)
	}
	regs = good
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
}

// TestFPStateLayout: the FP state is the size of the XSAVE area of the
// guest's XCR0, and its software bytes name that XCR0. (Reading and
// writing it is the suite's FPStateContext.)
func TestFPStateLayout(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	wantSyscall(t, e.switchTo(&regs), &regs, unix.SYS_GETPID)
	st, err := e.ctx.FPState(e.as)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != e.p.xstateSize {
		t.Errorf("FP state of %d bytes, want %d", len(st), e.p.xstateSize)
	}
	if len(st) > fxsaveSize {
		le := binary.LittleEndian
		sw := st[swBytesOffset:]
		if le.Uint32(sw) != fpXstateMagic1 || int(le.Uint32(sw[16:])) != len(st) || le.Uint64(sw[8:]) != e.p.features.xcr0 {
			t.Errorf("software bytes % x, want magic1, size %d, xcr0 %#x", sw[:24], len(st), e.p.features.xcr0)
		}
	}
}
