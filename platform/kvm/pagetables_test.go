package kvm

import (
	"runtime"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
)

func newTestTables(t *testing.T, user bool) (*memfile.MemoryFile, *pageTables) {
	t.Helper()
	mf, err := memfile.New(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mf.Release)
	pt, err := newPageTables(newPhysMem(mf), user)
	if err != nil {
		t.Fatal(err)
	}
	return mf, pt
}

// translate walks pt as the CPU would and returns the guest-physical
// address of va and the effective rights.
func translate(pt *pageTables, va uint64) (pa uint64, write, exec, user, ok bool) {
	t := pt.mem.table(pt.root)
	write, exec, user = true, true, true
	for level := 3; level >= 0; level-- {
		e := t[pteIndex(va, level)]
		if e&ptePresent == 0 {
			return 0, false, false, false, false
		}
		write = write && e&pteWrite != 0
		exec = exec && e&pteNX == 0
		user = user && e&pteUser != 0
		if level == 0 {
			return e&pteAddrMask | va&(pageSize-1), write, exec, user, true
		}
		t = pt.mem.table(e)
	}
	return
}

func TestMapTranslate(t *testing.T) {
	mf, pt := newTestTables(t, true)
	fr, _ := mf.Allocate(4)
	const va = 0x7ffe_ffff_e000 // straddles a 1 GiB boundary
	flush, err := pt.mapRange(va, fr.Start, 4, true, false, true)
	if err != nil || flush {
		t.Fatalf("mapRange: flush %v err %v", flush, err)
	}
	for i := uint64(0); i < 4; i++ {
		pa, w, x, u, ok := translate(pt, va+i*pageSize+123)
		if !ok || pa != memBase+fr.Start+i*pageSize+123 || !w || x || !u {
			t.Errorf("page %d: pa %#x w %v x %v u %v ok %v", i, pa, w, x, u, ok)
		}
	}
	if _, _, _, _, ok := translate(pt, va+4*pageSize); ok {
		t.Errorf("page past the range mapped")
	}
	if _, _, _, _, ok := translate(pt, va-pageSize); ok {
		t.Errorf("page before the range mapped")
	}
	// PML4 + PDPT + 2 PDs (a 1 GiB boundary) + 2 PTs.
	if len(pt.pages) != 6 {
		t.Errorf("%d table pages", len(pt.pages))
	}
	// Every entry has Accessed (and Dirty where writable) preset.
	if e := pt.lookup(va); e&pteAccessed == 0 || e&pteDirty == 0 {
		t.Errorf("leaf %#x lacks A/D", e)
	}
}

func TestFlushDecisions(t *testing.T) {
	mf, pt := newTestTables(t, true)
	a, _ := mf.Allocate(1)
	b, _ := mf.Allocate(1)
	const va = 0x400000
	m := func(off uint64, w, x bool) bool {
		f, err := pt.mapRange(va, off, 1, w, x, true)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		name  string
		off   uint64
		w, x  bool
		flush bool
	}{
		{"new", a.Start, false, false, false},
		{"same", a.Start, false, false, false},
		{"add write", a.Start, true, false, false},
		{"add exec", a.Start, true, true, false},
		{"drop write", a.Start, false, true, true},
		{"drop exec", a.Start, false, false, true},
		{"other frame", b.Start, false, false, true},
		{"other frame, more rights", a.Start, true, true, true},
	} {
		if got := m(c.off, c.w, c.x); got != c.flush {
			t.Errorf("%s: flush %v, want %v", c.name, got, c.flush)
		}
	}
	if !pt.unmapRange(va, va+pageSize) {
		t.Errorf("unmap of a present page: no flush")
	}
	if pt.unmapRange(va, va+pageSize) {
		t.Errorf("unmap of an absent page: flush")
	}
	if e := pt.lookup(va); e != 0 {
		t.Errorf("entry %#x after unmap", e)
	}
}

func TestUnmapRange(t *testing.T) {
	mf, pt := newTestTables(t, true)
	fr, _ := mf.Allocate(1)
	addrs := []uint64{0x1000, 0x200000 - pageSize, 0x200000, 0x40000000, 0x7f0000000000, maxUserAddress - pageSize}
	for _, a := range addrs {
		if _, err := pt.mapRange(a, fr.Start, 1, false, false, true); err != nil {
			t.Fatal(err)
		}
	}
	// Unmapping the middle leaves the ends.
	pt.unmapRange(0x2000, maxUserAddress-pageSize)
	for _, a := range addrs {
		_, _, _, _, ok := translate(pt, a)
		want := a == 0x1000 || a == maxUserAddress-pageSize
		if ok != want {
			t.Errorf("%#x mapped %v, want %v", a, ok, want)
		}
	}
	// Unmapping the whole (sparse) range is quick: absent tables are
	// skipped a level at a time. Measured in the thread's own CPU time,
	// which a loaded host does not stretch as it does wall time: a walk
	// of every 2 MiB span alone would take most of a second.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCPU(t)
	pt.unmapRange(pageSize, maxUserAddress)
	if d := threadCPU(t) - before; d > 100*time.Millisecond {
		t.Errorf("unmap of the whole range took %v of CPU", d)
	}
	for _, a := range addrs {
		if _, _, _, _, ok := translate(pt, a); ok {
			t.Errorf("%#x still mapped", a)
		}
	}
}

func TestKernelTreeSharingAndRelease(t *testing.T) {
	mf, kernel := newTestTables(t, false)
	before := mf.UsedPages()
	code, _ := mf.Allocate(1)
	if _, err := kernel.mapRange(codeVA, code.Start, 1, false, true, false); err != nil {
		t.Fatal(err)
	}
	user, err := newPageTables(kernel.mem, true)
	if err != nil {
		t.Fatal(err)
	}
	user.setRootEntry(ptEntries-1, kernel.rootEntry(ptEntries-1))
	// A page mapped in the kernel tree later is visible through the
	// user tree.
	pg, _ := mf.Allocate(1)
	if _, err := kernel.mapRange(vcpuMainVA(5), pg.Start, 1, true, false, false); err != nil {
		t.Fatal(err)
	}
	for _, va := range []uint64{codeVA, vcpuMainVA(5)} {
		pa, _, _, u, ok := translate(user, va)
		if !ok || u {
			t.Errorf("%#x: ok %v user %v through the user tree", va, ok, u)
		}
		if kpa, _, _, _, _ := translate(kernel, va); kpa != pa {
			t.Errorf("%#x: %#x vs %#x", va, pa, kpa)
		}
	}
	if _, _, x, _, _ := translate(user, vcpuMainVA(5)); x {
		t.Errorf("vCPU page executable")
	}
	// Releasing the user tree (after forgetting the shared slot) frees
	// only its own pages.
	fr, _ := mf.Allocate(1)
	user.mapRange(0x400000, fr.Start, 1, true, true, true)
	n := mf.UsedPages()
	ownPages := uint64(len(user.pages))
	user.setRootEntry(ptEntries-1, 0)
	user.release()
	if got := mf.UsedPages(); got != n-ownPages {
		t.Errorf("used pages %d after release, want %d", got, n-ownPages)
	}
	if _, _, _, _, ok := translate(kernel, codeVA); !ok {
		t.Errorf("the kernel tree lost its mapping")
	}
	kernel.release()
	mf.DecRef(code)
	mf.DecRef(pg)
	mf.DecRef(fr)
	if got := mf.UsedPages(); got != before-1 {
		t.Errorf("used pages %d at the end, want %d", got, before-1)
	}
}

func TestLeafEntry(t *testing.T) {
	e := leafEntry(0x5000, false, false, true)
	if e&pteAddrMask != memBase+0x5000 || e&pteWrite != 0 || e&pteNX == 0 || e&pteUser == 0 || e&ptePresent == 0 {
		t.Errorf("read-only user entry %#x", e)
	}
	e = leafEntry(0, true, true, false)
	if e&pteWrite == 0 || e&pteDirty == 0 || e&pteNX != 0 || e&pteUser != 0 {
		t.Errorf("rwx kernel entry %#x", e)
	}
}

// threadCPU returns the calling thread's CPU time (user and system).
func threadCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
