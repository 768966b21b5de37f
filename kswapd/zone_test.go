package kswapd

import (
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/sys/unix"
)

const mib = 1 << 20

func TestWatermarksAsLinux(t *testing.T) {
	for _, tc := range []struct {
		name           string
		pages          uint64
		minFree        uint64
		min, low, high uint64
	}{
		// 256 KiB = 64 pages: int_sqrt(256*16) = 64 KiB, clamped up to
		// 128; min = 128/4 = 32; tmp = max(32/4, 64*10/10000 = 0) = 8.
		{"256KiB", 64, 128, 32, 40, 48},
		// 4 MiB = 1024 pages: int_sqrt(4096*16) = 256; min = 64;
		// tmp = max(16, 1) = 16.
		{"4MiB", 1024, 256, 64, 80, 96},
		// 64 MiB = 16384 pages: int_sqrt(65536*16) = 1024; min = 256;
		// tmp = max(64, 16) = 64.
		{"64MiB", 16384, 1024, 256, 320, 384},
		// 1 GiB = 262144 pages: int_sqrt(1048576*16) = 4096;
		// min = 1024; tmp = max(256, 262144*10/10000 = 262) = 262.
		{"1GiB", 262144, 4096, 1024, 1286, 1548},
		// 16 GiB = 4194304 pages: int_sqrt(16777216*16) = 16384;
		// min = 4096; tmp = max(1024, 4194) = 4194.
		{"16GiB", 4194304, 16384, 4096, 8290, 12484},
		// 16 TiB: int_sqrt(2^34*16) = 2^19, clamped to 262144;
		// min = 65536; tmp = max(16384, 2^32*10/10000 = 4294967).
		{"16TiB", 1 << 32, 262144, 65536, 65536 + 4294967, 65536 + 2*4294967},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mf := DefaultMinFreeKbytes(tc.pages)
			if mf != tc.minFree {
				t.Errorf("min_free_kbytes = %d, want %d", mf, tc.minFree)
			}
			wm := ComputeWatermarks(tc.pages, mf, defaultWatermarkScaleFactor)
			if wm.Min != tc.min || wm.Low != tc.low || wm.High != tc.high {
				t.Errorf("watermarks = %d/%d/%d, want %d/%d/%d", wm.Min, wm.Low, wm.High, tc.min, tc.low, tc.high)
			}
		})
	}
}

func TestIntSqrt(t *testing.T) {
	for x := uint64(0); x < 10000; x++ {
		r := intSqrt(x)
		if r*r > x || (r+1)*(r+1) <= x {
			t.Fatalf("intSqrt(%d) = %d", x, r)
		}
	}
	if r := intSqrt(1<<62 - 1); r != 1<<31-1 {
		t.Fatalf("intSqrt(2^62-1) = %d", r)
	}
}

func TestSysctls(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	s := z.Snapshot()
	if s.TotalPages != 1024 || s.FreePages != 1024 || s.Min != 64 || s.Low != 80 || s.High != 96 ||
		s.MinFreeKbytes != 256 || s.WatermarkScaleFactor != 10 || s.Swappiness != 60 {
		t.Fatalf("fresh zone snapshot %+v", s)
	}
	for _, n := range []uint64{0, 3001} {
		if err := z.SetWatermarkScaleFactor(n); err != unix.EINVAL {
			t.Errorf("SetWatermarkScaleFactor(%d) = %v, want EINVAL", n, err)
		}
	}
	if err := z.SetSwappiness(201); err != unix.EINVAL {
		t.Errorf("SetSwappiness(201) = %v, want EINVAL", err)
	}
	if err := z.SetMinFreeKbytes(1 << 31); err != unix.EINVAL {
		t.Errorf("SetMinFreeKbytes(2^31) = %v, want EINVAL", err)
	}
	if err := z.SetSwappiness(200); err != nil {
		t.Fatal(err)
	}
	// min_free_kbytes 1024: min = 256; tmp = max(64, 1) = 64.
	if err := z.SetMinFreeKbytes(1024); err != nil {
		t.Fatal(err)
	}
	s = z.Snapshot()
	if s.Min != 256 || s.Low != 320 || s.High != 384 || s.Swappiness != 200 {
		t.Fatalf("after min_free_kbytes=1024: %+v", s)
	}
	// scale factor 3000: tmp = max(64, 1024*3000/10000 = 307) = 307.
	if err := z.SetWatermarkScaleFactor(3000); err != nil {
		t.Fatal(err)
	}
	s = z.Snapshot()
	if s.Min != 256 || s.Low != 563 || s.High != 870 || s.WatermarkScaleFactor != 3000 {
		t.Fatalf("after watermark_scale_factor=3000: %+v", s)
	}
}

func TestAllocateStopsAtMin(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, File)
	// 1024 pages, min 64: the 961st page would leave 63 free.
	if n := o.fill(t, 0); n != 1024-64 {
		t.Fatalf("allocated %d file pages, want %d", n, 1024-64)
	}
	// Kernel (unevictable) memory may go on to min/4 = 16 free.
	n := 0
	for {
		if _, err := z.Allocate(1, Unevictable, nil, 0); err != nil {
			if err != ErrNoMemory {
				t.Fatal(err)
			}
			break
		}
		n++
	}
	if n != 64-16 {
		t.Fatalf("allocated %d unevictable pages below min, want %d", n, 64-16)
	}
	s := z.Snapshot()
	if s.InactiveFile != 960 || s.Unevictable != 48 || s.FreePages != 16 {
		t.Fatalf("snapshot %+v", s)
	}
	// More than is free: fails at once.
	if _, err := z.Allocate(100, File, o, 0); err != ErrNoMemory {
		t.Fatalf("Allocate(100) = %v", err)
	}
}

func TestFreeHookForgetsPages(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, File)
	for i := uint64(0); i < 10; i++ {
		o.alloc(t, i*pageSize)
	}
	a := newOwner(z, Anon)
	a.alloc(t, 0)
	// A platform page: counted as used, on no list.
	plat, err := z.mf.Allocate(1)
	if err != nil {
		t.Fatal(err)
	}
	s := z.Snapshot()
	if s.InactiveFile != 10 || s.InactiveAnon != 1 || s.FreePages != 1024-12 {
		t.Fatalf("snapshot %+v", s)
	}
	for i := uint64(0); i < 3; i++ {
		f, _ := o.frameOf(i * pageSize)
		z.mf.DecRef(frameRange(f))
	}
	z.mf.DecRef(plat)
	s = z.Snapshot()
	if s.InactiveFile != 7 || s.FreePages != 1024-8 {
		t.Fatalf("after freeing 3 file pages and the platform page: %+v", s)
	}
	// A shared page is forgotten only with its last reference.
	f, _ := a.frameOf(0)
	z.mf.IncRef(frameRange(f))
	z.mf.DecRef(frameRange(f))
	if s := z.Snapshot(); s.InactiveAnon != 1 {
		t.Fatalf("anon page forgotten while referenced: %+v", s)
	}
	z.mf.DecRef(frameRange(f))
	if s := z.Snapshot(); s.InactiveAnon != 0 {
		t.Fatalf("anon page not forgotten: %+v", s)
	}
	// Its frame, allocated again by a platform, is on no list.
	if _, err := z.mf.Allocate(1); err != nil {
		t.Fatal(err)
	}
	z.mu.Lock()
	for i := uint32(0); i < uint32(z.total); i++ {
		p := z.lru.page(i)
		if p.list == lruNone && p.owner != nil {
			t.Errorf("frame %d: owner without a list", i)
		}
	}
	z.mu.Unlock()
}

func TestMarkAccessed(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, File)
	o.alloc(t, 0)
	f, _ := o.frameOf(0)
	z.MarkAccessed(f)
	if s := z.Snapshot(); s.InactiveFile != 1 || s.ActiveFile != 0 {
		t.Fatalf("one access activated the page: %+v", s)
	}
	z.MarkAccessed(f)
	s := z.Snapshot()
	if s.InactiveFile != 0 || s.ActiveFile != 1 || s.Events[PgActivate] != 1 {
		t.Fatalf("second access did not activate: %+v", s)
	}
	z.MarkAccessed(f)
	z.mu.Lock()
	ref := z.lru.page(uint32(f)).flags&pgReferenced != 0
	z.mu.Unlock()
	if !ref {
		t.Fatal("access to an active page did not set referenced")
	}
	// SetOwner to another kind relabels and moves the page.
	a := newOwner(z, Anon)
	z.SetOwner(f, Anon, a, 42)
	if s := z.Snapshot(); s.InactiveAnon != 1 || s.ActiveFile != 0 {
		t.Fatalf("SetOwner to anon: %+v", s)
	}
	// Out-of-range frames are ignored.
	z.MarkAccessed(1 << 40)
	z.SetOwner(1<<40, File, o, 0)
}

func TestSecondChance(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, File)
	n := o.fill(t, 0)
	// The oldest pages are at the tail; the first ten were used once.
	for i := uint64(0); i < 10; i++ {
		f, _ := o.frameOf(i * pageSize)
		z.MarkAccessed(f)
	}
	if err := z.Reclaim(nil, 32); err != nil {
		t.Fatalf("Reclaim: %v", err)
	}
	s := z.Snapshot()
	if s.FreePages < s.Min+32 {
		t.Fatalf("free %d < min+32 after Reclaim", s.FreePages)
	}
	for i := uint64(0); i < 10; i++ {
		if _, ok := o.frameOf(i * pageSize); !ok {
			t.Errorf("referenced page %d was reclaimed", i)
		}
	}
	if _, ok := o.frameOf(10 * pageSize); ok {
		t.Errorf("unreferenced old page 10 survived")
	}
	if s.ActiveFile != 10 || s.Events[PgActivate] != 10 {
		t.Errorf("active %d pgactivate %d, want 10 and 10", s.ActiveFile, s.Events[PgActivate])
	}
	if s.Events[AllocStall] != 1 || s.Events[PgStealDirect] == 0 || s.Events[PgScanDirect] < s.Events[PgStealDirect] {
		t.Errorf("events: allocstall %d pgscan_direct %d pgsteal_direct %d", s.Events[AllocStall], s.Events[PgScanDirect], s.Events[PgStealDirect])
	}
	if got := uint64(o.resident()); got != n-s.Events[PgStealDirect] {
		t.Errorf("resident %d, want %d - %d", got, n, s.Events[PgStealDirect])
	}
	// Allocation works again.
	if !o.alloc(t, 1<<30) {
		t.Fatal("Allocate failed after Reclaim")
	}
}

func TestActiveListRefill(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, File)
	o.fill(t, 0)
	// Activate everything: the inactive list is empty, so reclaim must
	// deactivate (unreferenced active pages) to find victims.
	z.mu.Lock()
	for i := uint32(0); i < uint32(z.total); i++ {
		if z.lru.page(i).list == lruInactiveFile {
			z.lru.move(i, lruActiveFile)
		}
	}
	z.mu.Unlock()
	if err := z.Reclaim(nil, 1); err != nil {
		t.Fatalf("Reclaim: %v", err)
	}
	s := z.Snapshot()
	if s.Events[PgDeactivate] == 0 || s.Events[PgStealDirect] == 0 {
		t.Fatalf("no deactivation or steal: %+v", s.Events)
	}
	o.mu.Lock()
	calls := o.deactivateCalls
	o.mu.Unlock()
	if uint64(calls) != s.Events[PgDeactivate] {
		t.Fatalf("Deactivate called %d times, pgdeactivate %d", calls, s.Events[PgDeactivate])
	}
}

func TestAnonNotScannedWithoutSwap(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, Anon)
	o.fill(t, 0)
	if err := z.Reclaim(nil, 1); err != ErrOOM {
		t.Fatalf("Reclaim = %v, want ErrOOM (no swap, no OOM candidates)", err)
	}
	s := z.Snapshot()
	if o.reclaimCalls != 0 || s.Events[PgScanDirect] != 0 {
		t.Fatalf("anon scanned without swap: %d Reclaim calls, pgscan_direct %d", o.reclaimCalls, s.Events[PgScanDirect])
	}
	if s.Events[AllocStall] != 1 {
		t.Fatalf("allocstall %d", s.Events[AllocStall])
	}
}

func TestNilOwnerNeverScanned(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	for {
		if _, err := z.Allocate(1, File, nil, 0); err != nil {
			break
		}
	}
	if err := z.Reclaim(nil, 1); err != ErrOOM {
		t.Fatalf("Reclaim = %v, want ErrOOM", err)
	}
	z.DropCaches(nil, 1)
	if s := z.Snapshot(); s.InactiveFile != 960 {
		t.Fatalf("nil-owner pages dropped: %+v", s)
	}
}

func TestDropCaches(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, File)
	a := newOwner(z, Anon)
	for i := uint64(0); i < 100; i++ {
		o.alloc(t, i*pageSize)
		a.alloc(t, i*pageSize)
	}
	// Some active, some referenced, one the owner keeps.
	for i := uint64(0); i < 20; i++ {
		f, _ := o.frameOf(i * pageSize)
		z.MarkAccessed(f)
		if i < 10 {
			z.MarkAccessed(f)
		}
	}
	o.keep[50*pageSize] = true
	z.DropCaches(nil, 2) // slab only: nothing to do here
	if o.resident() != 100 {
		t.Fatal("drop_caches=2 dropped page cache")
	}
	z.DropCaches(nil, 3)
	s := z.Snapshot()
	if o.resident() != 1 || s.InactiveFile+s.ActiveFile != 1 {
		t.Fatalf("after drop_caches: %d resident, lists %d/%d", o.resident(), s.InactiveFile, s.ActiveFile)
	}
	if a.resident() != 100 || a.reclaimCalls != 0 || s.InactiveAnon != 100 {
		t.Fatalf("drop_caches touched anon pages")
	}
	if s.Events[DropPageCache] != 1 {
		t.Fatalf("drop_pagecache = %d", s.Events[DropPageCache])
	}
}

func TestEventsAndStats(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	z.Count(PgFault, 3)
	z.Count(PgFault, 2)
	z.Count(NrEvents, 1) // ignored
	z.Count(-1, 1)       // ignored
	z.AddStat(NrDirty, 5)
	z.AddStat(NrDirty, -2)
	z.AddStat(NrStats, 1) // ignored
	s := z.Snapshot()
	if s.Events[PgFault] != 5 || s.Stats[NrDirty] != 3 {
		t.Fatalf("events %v stats %v", s.Events, s.Stats)
	}
	for e, name := range EventNames {
		if name == "" {
			t.Errorf("event %d has no name", e)
		}
	}
}

// TestReclaimRaces runs allocation, frees, accesses, relabels and reclaim at
// once, for the race detector and the list invariants.
func TestReclaimRaces(t *testing.T) {
	log, _ := logtest.NewNullLogger()
	z := newZone(t, 4*mib, Config{SwapSize: 1 * mib, SwapDir: t.TempDir(), Log: log})
	var wg sync.WaitGroup
	owners := []*fakeOwner{newOwner(z, File), newOwner(z, File), newOwner(z, Anon)}
	for w, o := range owners {
		wg.Add(1)
		go func(w int, o *fakeOwner) {
			defer wg.Done()
			for i := uint64(0); i < 3000; i++ {
				key := (i % 400) * pageSize
				if f, ok := o.frameOf(key); ok {
					switch i % 3 {
					case 0:
						z.MarkAccessed(f)
					case 1:
						o.mu.Lock()
						if o.pages[key] == f {
							delete(o.pages, key)
							o.mu.Unlock()
							z.mf.DecRef(frameRange(f))
						} else {
							o.mu.Unlock()
						}
					case 2:
						// SetOwner's precondition: a reference
						// is held (the page is still the owner's).
						o.mu.Lock()
						if o.pages[key] == f {
							z.SetOwner(f, o.kind, o, key)
						}
						o.mu.Unlock()
					}
					continue
				}
				if !o.alloc(t, key) {
					if err := z.Reclaim(nil, 1); err != nil && err != ErrOOM {
						t.Error(err)
						return
					}
				}
			}
		}(w, o)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			z.DropCaches(nil, 1)
		}
	}()
	wg.Wait()
	checkLists(t, z)
}

// checkLists verifies the lists' links and counts.
func checkLists(t *testing.T, z *Zone) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	var count [nrLists]uint64
	for l := lruInactiveAnon; l < nrLists; l++ {
		var prev uint32
		havePrev := false
		for f, ok := z.lru.head(l); ok; f, ok = z.lru.next(f) {
			p := z.lru.page(f)
			pf, pok := z.lru.prev(f)
			if p.list != l || pok != havePrev || (pok && pf != prev) {
				t.Fatalf("list %d: frame %d has list %d prev %d/%v, want %d/%v", l, f, p.list, pf, pok, prev, havePrev)
			}
			if p.flags&pgIsolated != 0 {
				t.Fatalf("isolated frame %d on list %d", f, l)
			}
			count[l]++
			prev, havePrev = f, true
		}
		tf, tok := z.lru.tail(l)
		if tok != havePrev || (tok && tf != prev) || count[l] != z.lru.length(l) {
			t.Fatalf("list %d: tail %d/%v count %d n %d", l, tf, tok, count[l], z.lru.length(l))
		}
	}
	// Every listed frame is in use (checked below, without z.mu: the
	// memory file's lock comes first).
	var listed []uint64
	for f := uint32(0); f < uint32(z.total); f++ {
		if z.lru.page(f).list != lruNone {
			listed = append(listed, uint64(f))
		}
	}
	z.mu.Unlock()
	defer z.mu.Lock()
	for _, f := range listed {
		if z.mf.RefCount(f*memfile.PageSize) == 0 {
			t.Fatalf("free frame %d on a list", f)
		}
	}
}

// trickyOwner's Reclaim does what real owners may do while the zone holds
// the page isolated: hand it to another owner, or free it and have the
// frame allocated again at once.
type trickyOwner struct {
	z      *Zone
	frame  uint64
	other  *fakeOwner
	action string
	newFr  uint64
}

func (o *trickyOwner) Reclaim(frame, key uint64, sw *Swap) ReclaimResult {
	switch o.action {
	case "relabel":
		o.z.SetOwner(frame, File, o.other, 7*pageSize)
		return Gone
	case "reuse":
		o.z.mf.DecRef(frameRange(frame))
		fr, err := o.z.Allocate(1, File, o.other, 9*pageSize)
		if err != nil {
			panic(err)
		}
		o.newFr = fr.Start / pageSize
		return Reclaimed
	}
	return Keep
}

func (o *trickyOwner) Deactivate(frame, key uint64) {}

func TestIsolatedPageRelabelledOrReused(t *testing.T) {
	for _, action := range []string{"relabel", "reuse"} {
		t.Run(action, func(t *testing.T) {
			z := newZone(t, 4*mib, Config{})
			other := newOwner(z, File)
			o := &trickyOwner{z: z, other: other, action: action}
			// Leave exactly one free frame, with no reserve, so that
			// a reuse gets the same frame.
			if err := z.SetMinFreeKbytes(0); err != nil {
				t.Fatal(err)
			}
			if _, err := z.mf.Allocate(z.TotalPages() - 1); err != nil {
				t.Fatal(err)
			}
			fr, err := z.Allocate(1, File, o, 0)
			if err != nil {
				t.Fatal(err)
			}
			z.DropCaches(nil, 1)
			z.mu.Lock()
			p := *z.lru.page(uint32(fr.Start / pageSize))
			z.mu.Unlock()
			if p.list != lruInactiveFile || p.owner != Owner(other) || p.flags != 0 {
				t.Fatalf("page after %s: list %d owner %v flags %#x", action, p.list, p.owner, p.flags)
			}
			if action == "reuse" && o.newFr != fr.Start/pageSize {
				t.Fatalf("frame not reused (%d vs %d)", o.newFr, fr.Start/pageSize)
			}
			if s := z.Snapshot(); s.InactiveFile != 1 {
				t.Fatalf("lists %+v", s)
			}
			checkLists(t, z)
		})
	}
}
