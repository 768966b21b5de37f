package systrap

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/platform/platformtest"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// BenchmarkGetpidRoundTrip measures one application syscall round trip
// (Switch, then the "sentry" sets rax): the unit a mapping's cost is
// compared with (BenchmarkMapFile).
func BenchmarkGetpidRoundTrip(b *testing.B) {
	e := platformtest.NewEnv(b, newPlatform)
	regs := e.LoadCode(platformtest.Cat(platformtest.InsnGetpid, platformtest.InsnSyscall, []byte{0xeb, 0xf7})) // jmp back to the mov
	platformtest.WantSyscall(b, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stop, err := e.Ctx.Switch(e.AS, &regs)
		if err != nil || stop.Kind != platform.StopSyscall {
			b.Fatalf("Switch: %+v %v", stop, err)
		}
	}
}

// BenchmarkMapFile measures one MapFile of a page from a context's thread
// that ran in the address space (so the mapping goes the way a task's
// fault's does), with the injections it made per op.
func BenchmarkMapFile(b *testing.B) {
	e := platformtest.NewEnv(b, newPlatform)
	regs := e.LoadCode(platformtest.Cat(platformtest.InsnGetpid, platformtest.InsnSyscall))
	platformtest.WantSyscall(b, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
	fr := e.Alloc()
	// Warm up: the context's thread earns its injector.
	for range 4 {
		if err := e.AS.MapFile(platformtest.DataAddr, fr, hostarch.Read); err != nil {
			b.Fatal(err)
		}
	}
	inj := platform.Counts.Injections.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.AS.MapFile(platformtest.DataAddr, fr, hostarch.Read); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(platform.Counts.Injections.Load()-inj)/float64(b.N), "injections/op")
}
