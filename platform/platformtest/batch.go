package platformtest

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// testMapBatch: a platform.BatchMapper applies maps and unmaps in order
// (a later op on the same page wins), stops at an op MapFile would refuse
// having applied the ones before it, and takes more ops than one host
// batch holds; a platform.DeferredBatchMapper's deferred batch is in
// place when the next Switch runs.
func testMapBatch(t *testing.T, e *Env, _ *Options) {
	bm, ok := e.AS.(platform.BatchMapper)
	if !ok {
		t.Skipf("%s maps one range at a time (no platform.BatchMapper)", e.P.Name())
	}
	page := func(v byte) memfile.FileRange {
		fr := e.Alloc()
		e.MF.Slice(fr)[0] = v
		return fr
	}
	a0, a1, a2 := uintptr(DataAddr), uintptr(DataAddr+PageSize), uintptr(DataAddr+4*PageSize)
	ops := []platform.MapOp{
		{Addr: a0, FR: page(10), Access: hostarch.Read},
		{Addr: a1, FR: page(11), Access: hostarch.ReadWrite},
		{Addr: a2, FR: page(12), Access: hostarch.Read},
		{Addr: a1, Length: PageSize},
		{Addr: a0, FR: page(13), Access: hostarch.Read},
	}
	if n, err := bm.MapBatch(ops); n != len(ops) || err != nil {
		t.Fatalf("MapBatch = %d, %v; want %d, nil", n, err, len(ops))
	}
	regs := e.LoadCode(Cat(
		LoadRbx(uint32(a0)), InsnGetpid, InsnSyscall,
		LoadRbx(uint32(a2)), InsnGetpid, InsnSyscall,
		LoadRbx(uint32(a1)), InsnGetpid, InsnSyscall))
	for _, want := range []uint64{13, 12} {
		WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		if regs.Rbx != want {
			t.Errorf("rbx = %d, want %d", regs.Rbx, want)
		}
	}
	if stop := e.SwitchTo(&regs); stop.Kind != platform.StopFault || stop.Addr != a1 {
		t.Errorf("read of the page unmapped in the batch: stop %+v, want a fault at %#x", stop, a1)
	}

	// An op MapFile refuses (page 0) ends the batch.
	bad := []platform.MapOp{
		{Addr: a1, FR: page(21), Access: hostarch.Read},
		{Addr: 0, FR: page(22), Access: hostarch.Read},
		{Addr: a2, FR: page(23), Access: hostarch.Read},
	}
	if n, err := bm.MapBatch(bad); n != 1 || err == nil {
		t.Fatalf("MapBatch with a bad op = %d, %v; want 1 and an error", n, err)
	}
	regs = e.LoadCode(Cat(
		LoadRbx(uint32(a1)), InsnGetpid, InsnSyscall,
		LoadRbx(uint32(a2)), InsnGetpid, InsnSyscall))
	for _, want := range []uint64{21, 12} {
		WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		if regs.Rbx != want {
			t.Errorf("after the bad batch: rbx = %d, want %d", regs.Rbx, want)
		}
	}

	// A deferred batch is applied before the next Switch runs anything.
	if dm, ok := e.AS.(platform.DeferredBatchMapper); ok {
		regs = e.LoadCode(Cat(LoadRbx(uint32(a2)), InsnGetpid, InsnSyscall))
		dm.MapBatchBeforeRun([]platform.MapOp{
			{Addr: a2, Length: PageSize},
			{Addr: a2, FR: page(31), Access: hostarch.Read},
		})
		WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		if regs.Rbx != 31 {
			t.Errorf("after a deferred batch: rbx = %d, want 31", regs.Rbx)
		}
	}

	// More ops than one page of entries.
	var many []platform.MapOp
	const n = 150
	base := uintptr(0x10000000)
	for i := range n {
		many = append(many, platform.MapOp{Addr: base + uintptr(2*i)*PageSize, FR: page(byte(i)), Access: hostarch.Read})
	}
	if got, err := bm.MapBatch(many); got != n || err != nil {
		t.Fatalf("MapBatch of %d = %d, %v", n, got, err)
	}
	for _, i := range []int{0, 63, 64, 65, n - 1} {
		regs = e.LoadCode(Cat(LoadRbx(uint32(base+uintptr(2*i)*PageSize)), InsnGetpid, InsnSyscall))
		WantSyscall(t, e.SwitchTo(&regs), &regs, unix.SYS_GETPID)
		if regs.Rbx != uint64(i) {
			t.Errorf("page %d of %d: rbx = %d", i, n, regs.Rbx)
		}
	}
}
