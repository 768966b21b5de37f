package kvm

import (
	"os"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/platformtest"
	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// The shared test address-space layout, snippets and helpers
// (platform/platformtest), under this package's short names.
const (
	codeAddr  = platformtest.CodeAddr
	dataAddr  = platformtest.DataAddr
	stackAddr = platformtest.StackAddr
	stackTop  = platformtest.StackTop
)

var (
	insnGetpid  = platformtest.InsnGetpid
	insnSyscall = platformtest.InsnSyscall
	insnRaxRbx  = platformtest.InsnRaxRbx
	insnJmpSelf = platformtest.InsnJmpSelf
	insnUd2     = platformtest.InsnUd2
	getpidLoop  = platformtest.GetpidLoop

	loadRbx       = platformtest.LoadRbx
	loadRbxAbs    = platformtest.LoadRbxAbs
	cmpZero       = platformtest.CmpZero
	movabsRax     = platformtest.MovabsRax
	le32          = platformtest.Le32
	cat           = platformtest.Cat
	wantSyscall   = platformtest.WantSyscall
	mapBytesIn    = platformtest.MapBytesIn
	onThread      = platformtest.OnThread
	isContextDead = platformtest.IsContextDead
)

func newPlatform(mf *memfile.MemoryFile) (platform.Platform, error) { return New(mf) }

var (
	selfTestOnce sync.Once
	selfTestErr  error
)

// requireKVM skips the test unless the self-test passes on this host's
// /dev/kvm (it does not on the development machines, whose KVM is not
// standard; test/kvm/run.sh runs these tests where it is). Where
// RUNSC_LITE_EXPECT_KVM is set (test/kvm/run.sh's guest sets it), a
// failing self-test fails the test instead.
func requireKVM(t testing.TB) {
	t.Helper()
	selfTestOnce.Do(func() { selfTestErr = SelfTest() })
	if selfTestErr != nil {
		if os.Getenv("RUNSC_LITE_EXPECT_KVM") != "" {
			t.Fatalf("RUNSC_LITE_EXPECT_KVM is set but %v", selfTestErr)
		}
		t.Skipf("no standard KVM here: %v", selfTestErr)
	}
}

// env is platformtest's Env with this platform's concrete types.
type env struct {
	*platformtest.Env
	t   testing.TB
	mf  *memfile.MemoryFile
	p   *Platform
	as  *addressSpace
	ctx *context
}

func newEnv(t testing.TB) *env {
	t.Helper()
	requireKVM(t)
	pe := platformtest.NewEnv(t, newPlatform)
	return &env{Env: pe, t: t, mf: pe.MF, p: pe.P.(*Platform), as: pe.AS.(*addressSpace), ctx: pe.Ctx.(*context)}
}

// vcpu returns the vCPU of e's context's CPU (made if need be).
func (e *env) vcpu() *vcpu {
	e.t.Helper()
	v, err := e.p.cpuVCPU(e.ctx.cpu)
	if err != nil {
		e.t.Fatalf("cpuVCPU(%d): %v", e.ctx.cpu, err)
	}
	return v
}

func (e *env) mapBytes(addr uintptr, b []byte, at hostarch.AccessType) memfile.FileRange {
	e.t.Helper()
	return e.MapBytes(addr, b, at)
}

func (e *env) loadCode(code []byte) arch.Registers {
	e.t.Helper()
	return e.LoadCode(code)
}

func (e *env) switchTo(regs *arch.Registers) platform.Stop {
	e.t.Helper()
	return e.SwitchTo(regs)
}
