package ptrace

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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
	codeAddr = platformtest.CodeAddr
	dataAddr = platformtest.DataAddr
	stackTop = platformtest.StackTop
)

var (
	insnGetpid  = platformtest.InsnGetpid
	insnExit    = platformtest.InsnExit
	insnSyscall = platformtest.InsnSyscall
	insnJmpSelf = platformtest.InsnJmpSelf
	insnCallRax = platformtest.InsnCallRax
	getpidLoop  = platformtest.GetpidLoop

	loadRbx       = platformtest.LoadRbx
	movabsRax     = platformtest.MovabsRax
	cat           = platformtest.Cat
	wantSyscall   = platformtest.WantSyscall
	mapBytesIn    = platformtest.MapBytesIn
	onThread      = platformtest.OnThread
	isContextDead = platformtest.IsContextDead
	countFDs      = platformtest.CountFDs
)

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
	pe := platformtest.NewEnv(t, newPlatform)
	return &env{Env: pe, t: t, mf: pe.MF, p: pe.P.(*Platform), as: pe.AS.(*addressSpace), ctx: pe.Ctx.(*context)}
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

// readMaps returns /proc/pid/maps.
func readMaps(t testing.TB, pid int32) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/maps")
	if err != nil {
		t.Fatalf("reading maps: %v", err)
	}
	return string(b)
}

func procStatus(t testing.TB, pid int32, field string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("reading status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }

func readDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

func mustAlloc(t testing.TB, e *env) memfile.FileRange {
	t.Helper()
	return e.Alloc()
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
