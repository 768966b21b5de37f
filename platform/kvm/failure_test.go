package kvm

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Failures the application cannot cause but a platform bug could: each
// must kill only the context that hit it, with an error (and a register
// dump in the log), never hang and never take the sandbox down.

// wantDead checks that Switch fails with ErrContextDead mentioning what,
// and keeps failing, that the CPU's vCPU was replaced, and that a new
// context still runs in e.as on that CPU.
func wantDead(t *testing.T, e *env, regs *arch.Registers, what string) {
	t.Helper()
	id := e.vcpu().id
	stop, err := e.ctx.Switch(e.as, regs)
	if !isContextDead(err) || !strings.Contains(err.Error(), what) {
		t.Fatalf("Switch = %+v, %v; want a dead context (%q)", stop, err, what)
	}
	t.Logf("error: %v", err)
	if _, err2 := e.ctx.Switch(e.as, regs); err2 != err {
		t.Errorf("second Switch: %v, want the same error", err2)
	}
	e.ctx.Release()
	// The failed vCPU is retired; the CPU's next context gets a new one.
	c, err := e.p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	// Both views of the context (the shared Env's, which SwitchTo and
	// the cleanup use, and this package's typed one) move to it.
	e.ctx = c.(*context)
	e.Ctx = c
	if e.vcpu().id == id {
		t.Errorf("the failed vCPU %d was recycled", id)
	}
	fr := e.mapBytes(0x300000, cat(insnGetpid, insnSyscall), hostarch.ReadExecute)
	defer e.mf.DecRef(fr)
	r := arch.NewInitialRegisters(0x300000, 0)
	wantSyscall(t, e.switchTo(&r), &r, unix.SYS_GETPID)
}

// setTSSStacks points the vCPU's RSP0 and IST1 elsewhere.
func setTSSStacks(v *vcpu, rsp0, ist1 uint64) {
	binary.LittleEndian.PutUint64(v.mainPage[tssOff+4:], rsp0)
	binary.LittleEndian.PutUint64(v.mainPage[tssOff+36:], ist1)
}

// TestTripleFault points a vCPU's ring-0 stacks at unmapped guard pages:
// the exception cannot be delivered (#PF), nor the double fault (#DF): the
// CPU shuts down.
func TestTripleFault(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(insnUd2)
	v := e.vcpu()
	setTSSStacks(v, vcpuMainVA(v.id)+2*pageSize, vcpuMainVA(v.id)+2*pageSize)
	wantDead(t, e, &regs, "triple fault")
}

// TestDoubleFault breaks only the main ring-0 stack: the double fault is
// delivered on the IST stack and reported.
func TestDoubleFault(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(insnUd2)
	v := e.vcpu()
	setTSSStacks(v, vcpuMainVA(v.id)+2*pageSize, vcpuISTVA(v.id)+pageSize)
	wantDead(t, e, &regs, "exception 8")
}

// TestCorruptPageTable sets a reserved bit in a page-table entry.
func TestCorruptPageTable(t *testing.T) {
	e := newEnv(t)
	if e.p.features.physBits >= 52 {
		t.Skip("no reserved physical-address bits")
	}
	regs := e.loadCode(cat(insnGetpid, insnSyscall))
	tab, _ := e.as.pt.walk(codeAddr, false)
	pte := &tab[pteIndex(codeAddr, 0)]
	atomic.StoreUint64(pte, atomic.LoadUint64(pte)|1<<51)
	wantDead(t, e, &regs, "reserved bits")
}

// TestMappingOutsideMemory points an entry at a guest-physical address
// outside the memory slot.
func TestMappingOutsideMemory(t *testing.T) {
	e := newEnv(t)
	regs := e.loadCode(cat(loadRbx(dataAddr), insnGetpid, insnSyscall))
	e.mapBytes(dataAddr, nil, hostarch.Read)
	tab, _ := e.as.pt.walk(dataAddr, false)
	atomic.StoreUint64(&tab[pteIndex(dataAddr, 0)], leafEntry(e.mf.Size()+16*pageSize, false, false, true))
	wantDead(t, e, &regs, "KVM_EXIT_MMIO")
}
