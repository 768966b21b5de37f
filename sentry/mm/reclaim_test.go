package mm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// countingFile is a Mappable over a byte slice that counts its reads.
type countingFile struct {
	data   []byte
	ino    uint64
	reads  int
	writes int
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	f.reads++
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	f.writes++
	if off >= int64(len(f.data)) {
		return 0, nil
	}
	return copy(f.data[off:], p), nil
}

func (f *countingFile) MappingIdentity() (uint64, uint64, string) { return 3, f.ino, "/counting" }

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func (m *MemoryManager) pteAt(addr uintptr) *pte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pages[pageDown(addr)]; p != nil {
		c := *p
		return &c
	}
	return nil
}

func (m *MemoryManager) vmaObj(addr uintptr) *cacheObject {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vmaAtLocked(addr).obj
}

func TestPrivateFileMappingSharesCacheUntilWritten(t *testing.T) {
	m1, _, mf, z := newZoneMM(t, 16<<20, 0)
	m2 := New(z, newFakeAS(), 0x7fff00000000)
	f := &countingFile{data: pattern(3*PageSize, 1), ino: 11}
	a1, err := m1.MMap(MMapOpts{Length: 3 * PageSize, Perms: hostarch.ReadWrite, Private: true, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := m2.MMap(MMapOpts{Length: 3 * PageSize, Perms: hostarch.Read, Private: true, Mappable: f})
	if err := m1.HandleFault(a1, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if err := m2.HandleFault(a2, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if f.reads != 1 {
		t.Fatalf("two private mappings read the file %d times, want 1 (shared cache)", f.reads)
	}
	p1, p2 := m1.pteAt(a1), m2.pteAt(a2)
	if p1.frame != p2.frame || !p1.cow || p1.obj == nil {
		t.Fatalf("private mappings do not share the cache frame: %+v %+v", p1, p2)
	}
	if used := mf.UsedPages(); used != 3 {
		t.Fatalf("%d frames used, want the 3 cached pages", used)
	}
	// mincore sees the page cache from an address space that never
	// touched the file.
	m3 := New(z, newFakeAS(), 0x7fff00000000)
	a3, _ := m3.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.Read, Private: true, Mappable: f})
	if vec, _ := m3.Mincore(a3, 4*PageSize); !bytes.Equal(vec, []byte{1, 1, 1, 0}) {
		t.Fatalf("mincore of cached file pages not touched here: %v", vec)
	}
	m3.DecUsers()
	// read(2) hits the same pages.
	buf := make([]byte, 3*PageSize)
	if n, err := CachedRead(z, f, buf, 0); n != len(buf) || err != nil || !bytes.Equal(buf, f.data) {
		t.Fatalf("CachedRead = %d, %v", n, err)
	}
	if f.reads != 1 || mf.UsedPages() != 3 {
		t.Fatalf("CachedRead missed: %d reads, %d frames", f.reads, mf.UsedPages())
	}
	// The first write copies into an anonymous page.
	if _, err := m1.CopyOut(a1+10, []byte("mine")); err != nil {
		t.Fatal(err)
	}
	p1 = m1.pteAt(a1)
	if p1.frame == p2.frame || p1.cow || p1.obj != nil {
		t.Fatalf("write did not copy: %+v", p1)
	}
	got := make([]byte, 4)
	m2.CopyIn(a2+10, got)
	if !bytes.Equal(got, f.data[10:14]) {
		t.Fatalf("other mapping sees %q after a private write", got)
	}
	if n, _ := CachedRead(z, f, got, 10); n != 4 || !bytes.Equal(got, f.data[10:14]) {
		t.Fatal("private write reached the page cache")
	}
	if anon, file, _, _ := m1.RSS(); anon != 1 || file != 2 {
		t.Fatalf("RSS anon %d file %d, want 1 and 2", anon, file)
	}
	// Unmapping keeps the clean pages cached.
	m1.DecUsers()
	m2.DecUsers()
	if used := mf.UsedPages(); used != 3 {
		t.Fatalf("%d frames used after exit, want 3 cached", used)
	}
	if n, _ := CachedRead(z, f, buf, 0); n != len(buf) || f.reads != 1 {
		t.Fatalf("cache not kept: %d bytes, %d reads", n, f.reads)
	}
}

func TestCachedReadHitMissEOF(t *testing.T) {
	_, _, mf, z := newZoneMM(t, 16<<20, 0)
	f := &countingFile{data: pattern(2*PageSize+100, 3), ino: 12}
	buf := make([]byte, 4*PageSize)
	n, err := CachedRead(z, f, buf, 0)
	if n != len(f.data) || err != nil || !bytes.Equal(buf[:n], f.data) {
		t.Fatalf("miss: %d, %v", n, err)
	}
	if f.reads != 1 {
		t.Fatalf("a 3-page miss took %d reads, want one", f.reads)
	}
	n, err = CachedRead(z, f, buf[:50], PageSize+5)
	if n != 50 || err != nil || !bytes.Equal(buf[:50], f.data[PageSize+5:PageSize+55]) || f.reads != 1 {
		t.Fatalf("hit: %d, %v, %d reads", n, err, f.reads)
	}
	// At and past end of file: 0, nil.
	if n, err := CachedRead(z, f, buf, int64(len(f.data))); n != 0 || err != nil {
		t.Fatalf("read at EOF = %d, %v", n, err)
	}
	if n, err := CachedRead(z, f, buf, 10*PageSize); n != 0 || err != nil {
		t.Fatalf("read past EOF = %d, %v", n, err)
	}
	// Known end of file: no probe.
	reads := f.reads
	CachedRead(z, f, buf, int64(len(f.data)))
	if f.reads != reads {
		t.Fatal("read at a known end of file probed the file")
	}
	// Crossing end of file: short.
	if n, err := CachedRead(z, f, buf[:200], 2*PageSize+50); n != 50 || err != nil {
		t.Fatalf("read across EOF = %d, %v", n, err)
	}
	if mf.UsedPages() != 3 {
		t.Fatalf("%d frames cached, want 3", mf.UsedPages())
	}
	// A write that leaves a hole after the old end of file: the page
	// that held EOF grows with zeros.
	tail := []byte("tail")
	f.data = append(f.data, make([]byte, 3*PageSize-len(f.data))...)
	f.data = append(f.data, tail...)
	FileWritten(3, 12, 3*PageSize, tail)
	n, err = CachedRead(z, f, buf, 0)
	if n != len(f.data) || err != nil || !bytes.Equal(buf[:n], f.data) {
		t.Fatalf("after extending write: %d, %v (want %d)", n, err, len(f.data))
	}
	// A write inside cached pages updates them.
	copy(f.data[5:], "new")
	FileWritten(3, 12, 5, []byte("new"))
	reads = f.reads
	CachedRead(z, f, buf[:8], 0)
	if !bytes.Equal(buf[:8], f.data[:8]) || f.reads != reads {
		t.Fatalf("write not seen by cache: %q", buf[:8])
	}
	// A page-aligned file: the first read at its end probes, later
	// ones do not.
	af := &countingFile{data: pattern(PageSize, 4), ino: 19}
	CachedRead(z, af, buf, 0)
	CachedRead(z, af, buf, PageSize)
	reads = af.reads
	if n, err := CachedRead(z, af, buf, PageSize); n != 0 || err != nil || af.reads != reads {
		t.Fatalf("read at known end of an aligned file = %d, %v, probed %d times", n, err, af.reads-reads)
	}
	// A file without identity is read directly.
	nf := &countingFile{data: []byte("direct"), ino: 0}
	if n, err := CachedRead(z, nf, buf, 0); n != 6 || err != nil || mf.UsedPages() != 5 {
		t.Fatalf("uncacheable read: %d, %v, %d frames", n, err, mf.UsedPages())
	}
}

func TestFileTruncated(t *testing.T) {
	m, as, _, z := newZoneMM(t, 16<<20, 0)
	f := &countingFile{data: pattern(3*PageSize, 5), ino: 13}
	sh, _ := m.MMap(MMapOpts{Length: 3 * PageSize, Perms: hostarch.ReadWrite, Mappable: f})
	pr, _ := m.MMap(MMapOpts{Length: 3 * PageSize, Perms: hostarch.Read, Private: true, Mappable: f})
	for _, a := range []uintptr{sh, pr} {
		if err := m.HandleFault(a, hostarch.Read); err != nil {
			t.Fatal(err)
		}
		if _, ok := as.mapped[a+2*PageSize]; !ok {
			t.Fatal("fault-around did not map the third page")
		}
	}
	size := int64(PageSize + PageSize/2)
	f.data = f.data[:size]
	FileTruncated(3, 13, size)
	for _, a := range []uintptr{sh, pr} {
		if _, ok := as.mapped[a+2*PageSize]; ok {
			t.Fatalf("truncated page still mapped at %#x", a+2*PageSize)
		}
		var fe *FaultError
		if err := m.HandleFault(a+2*PageSize, hostarch.Read); !errors.As(err, &fe) || fe.Signo != int(unix.SIGBUS) {
			t.Fatalf("fault past the new end of file: %v", err)
		}
	}
	b := make([]byte, PageSize)
	m.CopyIn(sh+PageSize, b)
	if !bytes.Equal(b[:PageSize/2], f.data[PageSize:]) || !bytes.Equal(b[PageSize/2:], make([]byte, PageSize/2)) {
		t.Fatal("tail of the page holding the new size not zeroed")
	}
	if n, err := CachedRead(z, f, make([]byte, 3*PageSize), 0); n != int(size) || err != nil {
		t.Fatalf("read after truncate = %d, %v", n, err)
	}
	// Growing again reads zeros past the old size.
	f.data = append(f.data, make([]byte, PageSize)...)
	FileTruncated(3, 13, int64(len(f.data)))
	got := make([]byte, 3*PageSize)
	if n, _ := CachedRead(z, f, got, 0); n != len(f.data) || !bytes.Equal(got[:n], f.data) {
		t.Fatalf("read after growing = %d", n)
	}
}

// swapZone returns a memory manager over a zone with swap, or skips the
// test when the zone has no swap yet.
func swapZone(t *testing.T, size uint64) (*MemoryManager, *fakeAS, *kswapd.Zone) {
	m, as, _, z := newZoneMM(t, size, 16<<20)
	if z.Swap() == nil {
		t.Skip("kswapd.Zone has no swap yet (kswapd.New with SwapSize returned a zone whose Swap() is nil): revisit when the zone lands swap")
	}
	return m, as, z
}

func TestAnonPageSwapOutAndIn(t *testing.T) {
	m, as, z := swapZone(t, 16<<20)
	addr, _ := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	want := pattern(PageSize, 9)
	if _, err := m.CopyOut(addr+PageSize, want); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(addr+PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	p := m.pteAt(addr + PageSize)
	if r := m.Reclaim(frameNumber(p.frame), uint64(addr+PageSize), nil); r != kswapd.Keep {
		t.Fatalf("reclaim without swap = %v, want Keep", r)
	}
	if r := m.Reclaim(frameNumber(p.frame)+100, uint64(addr+PageSize), z.Swap()); r != kswapd.Gone {
		t.Fatalf("reclaim of a frame the pte does not hold = %v, want Gone", r)
	}
	resident := m.ResidentPages()
	if r := m.Reclaim(frameNumber(p.frame), uint64(addr+PageSize), z.Swap()); r != kswapd.Reclaimed {
		t.Fatalf("reclaim = %v", r)
	}
	if _, ok := as.mapped[addr+PageSize]; ok {
		t.Fatal("swapped page still mapped in the platform")
	}
	if m.ResidentPages() != resident-1 {
		t.Fatalf("resident %d -> %d", resident, m.ResidentPages())
	}
	if _, _, _, swap := m.RSS(); swap != 1 {
		t.Fatalf("RSS swap = %d", swap)
	}
	vec, _ := m.Mincore(addr, 4*PageSize)
	if vec[1] != 0 || vec[0] != 1 {
		t.Fatalf("mincore %v", vec)
	}
	majBefore := z.Snapshot().Events[kswapd.PgMajFault]
	if err := m.HandleFault(addr+PageSize, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if z.Snapshot().Events[kswapd.PgMajFault] != majBefore+1 {
		t.Fatal("swap-in fault not counted as major")
	}
	got := make([]byte, PageSize)
	m.CopyIn(addr+PageSize, got)
	if !bytes.Equal(got, want) {
		t.Fatal("swapped-in contents differ")
	}
	// A dropped swap entry frees its slot.
	p = m.pteAt(addr + PageSize)
	m.Reclaim(frameNumber(p.frame), uint64(addr+PageSize), z.Swap())
	free := z.Snapshot().SwapFree
	m.Munmap(addr, 4*PageSize)
	if z.Snapshot().SwapFree != free+1 {
		t.Fatalf("munmap of a swapped page: swap free %d -> %d", free, z.Snapshot().SwapFree)
	}
}

// TestMlockedPagesStayInBatchReclaim: a batch reclaim (ReclaimPages, what
// kswapd uses for consecutive pages of one owner) keeps mlocked pages, as
// Reclaim does: it activates them and writes only the unlocked ones to
// swap (test/TestMlockPinnedUnderPressure lost a few locked pages now and
// then to it).
func TestMlockedPagesStayInBatchReclaim(t *testing.T) {
	m, _, z := swapZone(t, 16<<20)
	addr, _ := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	for i := uintptr(0); i < 4; i++ {
		if err := m.HandleFault(addr+i*PageSize, hostarch.Write); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Mlock(addr, 2*PageSize, MlockOpts{Lock: true, Unlimited: true}); err != nil {
		t.Fatal(err)
	}
	var frames, keys []uint64
	for i := uintptr(0); i < 4; i++ {
		frames = append(frames, frameNumber(m.pteAt(addr+i*PageSize).frame))
		keys = append(keys, uint64(addr+i*PageSize))
	}
	results := make([]kswapd.ReclaimResult, 4)
	m.ReclaimPages(frames, keys, z.Swap(), results)
	want := []kswapd.ReclaimResult{kswapd.Activate, kswapd.Activate, kswapd.Reclaimed, kswapd.Reclaimed}
	if !slices.Equal(results, want) {
		t.Fatalf("ReclaimPages results %v, want %v", results, want)
	}
	vec, _ := m.Mincore(addr, 4*PageSize)
	if !slices.Equal(vec, []byte{1, 1, 0, 0}) {
		t.Fatalf("mincore after the batch reclaim %v, want the two locked pages resident", vec)
	}
}

func TestForkSharedAnonPageSwap(t *testing.T) {
	m, _, z := swapZone(t, 16<<20)
	addr, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadWrite, Private: true})
	want := pattern(PageSize, 4)
	m.CopyOut(addr, want)
	child := m.Fork(newFakeAS())
	p := m.pteAt(addr)
	// The child's lock busy: Keep.
	child.mu.Lock()
	if r := m.Reclaim(frameNumber(p.frame), uint64(addr), z.Swap()); r != kswapd.Keep {
		t.Fatalf("reclaim with a busy sharer = %v", r)
	}
	child.mu.Unlock()
	free := z.Snapshot().SwapFree
	if r := m.Reclaim(frameNumber(p.frame), uint64(addr), z.Swap()); r != kswapd.Reclaimed {
		t.Fatalf("reclaim of a fork-shared page = %v", r)
	}
	if z.Snapshot().SwapFree != free-1 {
		t.Fatalf("one slot for both sharers expected: free %d -> %d", free, z.Snapshot().SwapFree)
	}
	if cp := child.pteAt(addr); cp.swapSlot == 0 || cp.swapSlot != m.pteAt(addr).swapSlot {
		t.Fatalf("child pte not the same swap entry: %+v", cp)
	}
	// A grandchild copies the swap entry.
	gc := child.Fork(newFakeAS())
	got := make([]byte, PageSize)
	child.CopyOut(addr, []byte("child"))
	for i, mm := range []*MemoryManager{m, gc} {
		mm.CopyIn(addr, got)
		if !bytes.Equal(got, want) {
			t.Fatalf("address space %d reads wrong contents after swap-in", i)
		}
	}
	child.CopyIn(addr, got[:5])
	if string(got[:5]) != "child" {
		t.Fatalf("child reads %q", got[:5])
	}
	gc.DecUsers()
	child.DecUsers()
	m.DecUsers()
	if s := z.Snapshot(); s.SwapFree != s.SwapTotal {
		t.Fatalf("swap slots leaked: %d of %d free", s.SwapFree, s.SwapTotal)
	}
	if used := z.MemoryFile().UsedPages(); used != 0 {
		t.Fatalf("%d frames leaked", used)
	}
}

func TestCachePageReclaimUnmapsEveryAddressSpace(t *testing.T) {
	m1, as1, mf, z := newZoneMM(t, 16<<20, 0)
	as2 := newFakeAS()
	m2 := New(z, as2, 0x7fff00000000)
	f := &countingFile{data: pattern(2*PageSize, 6), ino: 14}
	a1, _ := m1.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.ReadWrite, Mappable: f})
	a2, _ := m2.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.Read, Private: true, Mappable: f})
	m1.HandleFault(a1, hostarch.Read)
	m1.HandleFault(a1, hostarch.Read) // the write: dirty
	m1.CopyOut(a1, []byte("dirty"))
	m2.HandleFault(a2, hostarch.Read)
	o := m1.vmaObj(a1)
	frame := m1.pteAt(a1).frame
	if m2.pteAt(a2).frame != frame {
		t.Fatal("shared and private mappings do not share the cache page")
	}
	if s := z.Snapshot().Stats; s[kswapd.NrDirty] != 1 || s[kswapd.NrMapped] != 2 {
		t.Fatalf("gauges dirty %d mapped %d, want 1 and 2", s[kswapd.NrDirty], s[kswapd.NrMapped])
	}
	// A busy address space: Keep.
	m2.mu.Lock()
	if r := o.Reclaim(frameNumber(frame), 0, nil); r != kswapd.Keep {
		t.Fatalf("reclaim with a busy mapper = %v", r)
	}
	m2.mu.Unlock()
	if r := o.Reclaim(frameNumber(frame), 0, nil); r != kswapd.Reclaimed {
		t.Fatalf("reclaim = %v", r)
	}
	if _, ok := as1.mapped[a1]; ok {
		t.Fatal("still mapped in the first address space")
	}
	if _, ok := as2.mapped[a2]; ok {
		t.Fatal("still mapped in the second address space")
	}
	if string(f.data[:5]) != "dirty" {
		t.Fatalf("dirty page not written back: %q", f.data[:5])
	}
	if r := o.Reclaim(frameNumber(frame), 0, nil); r != kswapd.Gone {
		t.Fatalf("second reclaim = %v, want Gone", r)
	}
	if s := z.Snapshot().Stats; s[kswapd.NrDirty] != 0 || s[kswapd.NrMapped] != 1 {
		t.Fatalf("gauges after reclaim: dirty %d mapped %d, want 0 and 1", s[kswapd.NrDirty], s[kswapd.NrMapped])
	}
	// Both re-fault from the file.
	b := make([]byte, 5)
	m2.CopyIn(a2, b)
	if string(b) != "dirty" {
		t.Fatalf("re-read %q", b)
	}
	if m1.pteAt(a1) != nil {
		t.Fatal("pte survived reclaim")
	}
	m1.DecUsers()
	m2.DecUsers()
	if s := z.Snapshot().Stats; s[kswapd.NrMapped] != 0 || s[kswapd.NrDirty] != 0 {
		t.Fatalf("gauges after exit: %v", s)
	}
	// Everything cached is reclaimable once unmapped.
	for off := uint64(0); off < 2*PageSize; off += PageSize {
		o.mu.Lock()
		p := o.pages[off]
		o.mu.Unlock()
		if p != nil && o.Reclaim(frameNumber(p.frame), off, nil) != kswapd.Reclaimed {
			t.Fatalf("unmapped page at %#x not reclaimed", off)
		}
	}
	if mf.UsedPages() != 0 {
		t.Fatalf("%d frames left", mf.UsedPages())
	}
	if SharedFilesMapped() {
		t.Fatal("empty object still indexed")
	}
}

func TestDeactivateUnmapsAndFaultReactivates(t *testing.T) {
	m, as, _, _ := newZoneMM(t, 16<<20, 0)
	addr, _ := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	m.HandleFault(addr, hostarch.Write)
	p := m.pteAt(addr + PageSize)
	m.Deactivate(frameNumber(p.frame), uint64(addr+PageSize))
	if _, ok := as.mapped[addr+PageSize]; ok {
		t.Fatal("deactivated page still mapped")
	}
	// A neighbour's fault does not map it back; its own does.
	m.Munmap(addr, PageSize)
	m.MMap(MMapOpts{Addr: addr, Fixed: true, Length: PageSize, Perms: hostarch.ReadWrite, Private: true})
	m.HandleFault(addr, hostarch.Write)
	if _, ok := as.mapped[addr+PageSize]; ok {
		t.Fatal("fault-around remapped a deactivated page")
	}
	m.HandleFault(addr+PageSize, hostarch.Read)
	if _, ok := as.mapped[addr+PageSize]; !ok {
		t.Fatal("own fault did not remap the page")
	}
}

func TestErrNoMemoryDropsLocks(t *testing.T) {
	// 4 MiB: the min watermark is 64 pages.
	m, _, mf, z := newZoneMM(t, 4<<20, 0)
	addr, _ := m.MMap(MMapOpts{Length: 8 << 20, Perms: hostarch.ReadWrite, Private: true, NoReserve: true})
	var err error
	a := addr
	for ; a < addr+8<<20; a += PageSize {
		if err = m.HandleFault(a, hostarch.Write); err != nil {
			break
		}
	}
	if err != ErrNoMemory {
		t.Fatalf("fault under memory pressure = %v, want ErrNoMemory", err)
	}
	if !m.mu.TryLock() {
		t.Fatal("ErrNoMemory returned with m.mu held")
	}
	m.mu.Unlock()
	// Nothing is reclaimable without swap and there is no OOM victim.
	if err := z.Reclaim(nil, 1); !errors.Is(err, kswapd.ErrOOM) {
		t.Skipf("zone Reclaim without swap = %v (want ErrOOM; the zone may still be the stub)", err)
	}
	// A sentry copy gives EFAULT after its bounded retries.
	if _, err := m.CopyOut(a, []byte{1}); err != unix.EFAULT {
		t.Fatalf("CopyOut without memory = %v", err)
	}
	// read(2) still works, straight from the file.
	f := &countingFile{data: pattern(3*PageSize, 2), ino: 15}
	buf := make([]byte, 3*PageSize)
	if n, err := CachedRead(z, f, buf, 0); n != len(buf) || err != nil || !bytes.Equal(buf, f.data) {
		t.Fatalf("CachedRead without memory = %d, %v", n, err)
	}
	m.DecUsers()
	if mf.UsedPages() != 0 {
		t.Fatalf("%d frames left", mf.UsedPages())
	}
}

func TestSwapUnderPressure(t *testing.T) {
	// 4 MiB of memory, 16 MiB of swap, 8 MiB written through the sentry:
	// copies reclaim and retry until everything fits.
	m, _, z := swapZone(t, 4<<20)
	const size = 8 << 20
	addr, _ := m.MMap(MMapOpts{Length: size, Perms: hostarch.ReadWrite, Private: true})
	for a := addr; a < addr+size; a += PageSize {
		if _, err := m.CopyOut(a, []byte(fmt.Sprintf("page %#x", a))); err != nil {
			t.Fatalf("CopyOut at %#x: %v (swap free %d)", a, err, z.Snapshot().SwapFree)
		}
	}
	if _, _, _, swap := m.RSS(); swap == 0 {
		t.Fatal("nothing went to swap")
	}
	for a := addr; a < addr+size; a += PageSize {
		want := fmt.Sprintf("page %#x", a)
		got := make([]byte, len(want))
		if _, err := m.CopyIn(a, got); err != nil || string(got) != want {
			t.Fatalf("page %#x reads %q, %v", a, got, err)
		}
	}
	if z.Snapshot().Events[kswapd.PswpIn] == 0 {
		t.Log("pswpin not counted by the zone")
	}
	m.DecUsers()
	if s := z.Snapshot(); s.SwapFree != s.SwapTotal {
		t.Fatalf("swap slots leaked: %d of %d free", s.SwapFree, s.SwapTotal)
	}
}

func TestPageCacheEvictedUnderPressure(t *testing.T) {
	// A 12 MiB file read and mapped through 4 MiB of memory without
	// swap: clean cache pages are dropped to make room.
	m, _, _, z := newZoneMM(t, 4<<20, 0)
	f := &countingFile{data: pattern(12<<20, 8), ino: 16}
	buf := make([]byte, 64<<10)
	for off := 0; off < len(f.data); off += len(buf) {
		n, err := CachedRead(z, f, buf, int64(off))
		if n != len(buf) || err != nil || !bytes.Equal(buf, f.data[off:off+n]) {
			t.Fatalf("read at %#x = %d, %v", off, n, err)
		}
	}
	addr, _ := m.MMap(MMapOpts{Length: uintptr(len(f.data)), Perms: hostarch.Read, Private: true, Mappable: f})
	got := make([]byte, 64)
	for off := 0; off < len(f.data); off += PageSize {
		var err error
		for try := 0; try < 10; try++ {
			if err = m.HandleFaultCode(addr+uintptr(off), hostarch.Read, segvMapErr); err != ErrNoMemory {
				break
			}
			if rerr := z.Reclaim(nil, 1); rerr != nil {
				t.Fatalf("reclaim at %#x: %v", off, rerr)
			}
		}
		if err != nil {
			t.Fatalf("fault at %#x: %v", off, err)
		}
		if _, err := m.CopyIn(addr+uintptr(off)+8, got); err != nil || !bytes.Equal(got, f.data[off+8:off+72]) {
			t.Fatalf("mapping reads wrong data at %#x: %v", off, err)
		}
	}
	if s := z.Snapshot(); s.Events[kswapd.PgStealDirect] == 0 {
		t.Fatalf("nothing reclaimed: %+v", s.Events)
	}
	m.DecUsers()
}

// lockedAS is a thread-safe platform address space that checks nothing.
type lockedAS struct {
	mu     sync.Mutex
	mapped map[uintptr]hostarch.AccessType
}

func (l *lockedAS) MapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := uint64(0); i < fr.Pages(); i++ {
		l.mapped[addr+uintptr(i*PageSize)] = at
	}
	return nil
}

func (l *lockedAS) Unmap(addr, length uintptr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for a := addr; a < addr+length; a += PageSize {
		delete(l.mapped, a)
	}
}

func (l *lockedAS) Release() {}

func TestReclaimRacesWithFaultsAndCopies(t *testing.T) {
	_, _, mf, z := newZoneMM(t, 4<<20, 16<<20)
	if z.Swap() == nil {
		// Without swap only file pages can go; still worth racing.
		t.Log("no swap: anonymous pages stay resident")
	}
	f := &countingFile{data: pattern(2<<20, 1), ino: 17}
	mkAS := func() *lockedAS { return &lockedAS{mapped: map[uintptr]hostarch.AccessType{}} }
	parent := New(z, mkAS(), 0x7fff00000000)
	const anonSize = 3 << 20
	anon, _ := parent.MMap(MMapOpts{Length: anonSize, Perms: hostarch.ReadWrite, Private: true})
	for a := anon; a < anon+anonSize; a += PageSize {
		parent.CopyOut(a, []byte{1})
	}
	file, _ := parent.MMap(MMapOpts{Length: 2 << 20, Perms: hostarch.ReadWrite, Private: true, Mappable: f})
	shared, _ := parent.MMap(MMapOpts{Length: 64 << 10, Perms: hostarch.ReadWrite})
	stop := make(chan struct{})
	reclaimerDone := make(chan struct{})
	go func() {
		defer close(reclaimerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			z.DropCaches(nil, 1)
			z.Reclaim(nil, 64)
		}
	}()
	errs := make(chan error, 2)
	var workers sync.WaitGroup
	worker := func(m *MemoryManager, seed byte) {
		defer workers.Done()
		buf := make([]byte, 256)
		for i := 0; i < 1500; i++ {
			off := uintptr(i*4099) % (anonSize - 256)
			want := pattern(256, seed+byte(i))
			if _, err := m.CopyOut(anon+off, want); err != nil {
				continue // EFAULT under pressure is allowed
			}
			if _, err := m.CopyIn(anon+off, buf); err == nil && !bytes.Equal(buf, want) {
				errs <- fmt.Errorf("anon page at %#x lost a write", off)
				return
			}
			foff := uintptr(i*8191) % (2<<20 - 256)
			if _, err := m.CopyIn(file+foff, buf); err == nil && !bytes.Equal(buf, f.data[foff:foff+256]) {
				errs <- fmt.Errorf("file mapping reads wrong data at %#x", foff)
				return
			}
			m.HandleFaultCode(file+foff, hostarch.Read, segvMapErr)
			m.CopyOut(shared+off%(64<<10-256), want)
			if n, err := CachedRead(z, f, buf, int64(foff)); err != nil || n != 256 || !bytes.Equal(buf, f.data[foff:foff+256]) {
				errs <- fmt.Errorf("CachedRead at %#x = %d, %v", foff, n, err)
				return
			}
		}
	}
	child := parent.Fork(mkAS())
	workers.Add(2)
	go worker(parent, 1)
	go worker(child, 100)
	workers.Wait()
	close(stop)
	<-reclaimerDone
	ev := z.Snapshot().Events
	t.Logf("pswpout %d pswpin %d pgsteal_direct %d pgmajfault %d refaults %d",
		ev[kswapd.PswpOut], ev[kswapd.PswpIn], ev[kswapd.PgStealDirect], ev[kswapd.PgMajFault], ev[kswapd.WorkingsetRefault])
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	child.DecUsers()
	parent.DecUsers()
	if used := mf.UsedPages(); used > 2<<20/PageSize {
		t.Fatalf("%d frames used after exit (only cached file pages should be left)", used)
	}
}

func TestMremapCarriesSwapEntriesAndOwnership(t *testing.T) {
	m, _, z := swapZone(t, 16<<20)
	addr, _ := m.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	p0, p1 := pattern(PageSize, 21), pattern(PageSize, 22)
	m.CopyOut(addr, p0)
	m.CopyOut(addr+PageSize, p1)
	if r := m.Reclaim(frameNumber(m.pteAt(addr).frame), uint64(addr), z.Swap()); r != kswapd.Reclaimed {
		t.Fatalf("reclaim = %v", r)
	}
	m.MMap(MMapOpts{Addr: addr + 2*PageSize, Fixed: true, Length: PageSize, Perms: hostarch.Read, Private: true})
	na, err := m.Mremap(addr, 2*PageSize, 4*PageSize, unix.MREMAP_MAYMOVE, 0, NoVMLimits)
	if err != nil || na == addr {
		t.Fatalf("mremap = %#x, %v", na, err)
	}
	// The resident page is the zone's at its new address.
	if r := m.Reclaim(frameNumber(m.pteAt(na+PageSize).frame), uint64(na+PageSize), z.Swap()); r != kswapd.Reclaimed {
		t.Fatalf("reclaim at the new address = %v", r)
	}
	got := make([]byte, PageSize)
	for i, want := range [][]byte{p0, p1} {
		if _, err := m.CopyIn(na+uintptr(i)*PageSize, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("page %d after mremap: %v", i, err)
		}
	}
	m.DecUsers()
	if s := z.Snapshot(); s.SwapFree != s.SwapTotal {
		t.Fatalf("swap slots leaked: %d of %d free", s.SwapFree, s.SwapTotal)
	}
}

func TestGaugesAcrossFork(t *testing.T) {
	m, _, mf, z := newZoneMM(t, 16<<20, 0)
	f := &countingFile{data: pattern(4*PageSize, 30), ino: 18}
	sh, _ := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite})
	fa, _ := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Mappable: f})
	fp, _ := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.Read, Private: true, Mappable: f})
	m.CopyOut(sh, []byte("shm"))
	m.CopyOut(fa, []byte("file"))
	m.CopyIn(fp, make([]byte, 4))
	stats := func() (shmem, mapped, dirty int64) {
		s := z.Snapshot().Stats
		return s[kswapd.NrShmem], s[kswapd.NrMapped], s[kswapd.NrDirty]
	}
	if s, mp, d := stats(); s != 4 || mp != 4 || d != 1 {
		t.Fatalf("shmem %d mapped %d dirty %d, want 4 4 1", s, mp, d)
	}
	child := m.Fork(newFakeAS())
	b := make([]byte, 4)
	child.CopyIn(sh, b[:3])
	if string(b[:3]) != "shm" {
		t.Fatalf("child sees %q in shared memory", b[:3])
	}
	child.CopyOut(fa, []byte("FILE"))
	m.CopyIn(fa, b)
	if string(b) != "FILE" {
		t.Fatalf("parent sees %q in the shared file mapping", b)
	}
	if _, _, shmem, _ := child.RSS(); shmem != 4 {
		t.Fatalf("child shmem RSS %d", shmem)
	}
	m.DecUsers()
	if s, mp, _ := stats(); s != 4 || mp != 4 {
		t.Fatalf("after the parent exits: shmem %d mapped %d", s, mp)
	}
	child.DecUsers()
	if s, mp, d := stats(); s != 0 || mp != 0 || d != 0 {
		t.Fatalf("after both exit: shmem %d mapped %d dirty %d", s, mp, d)
	}
	if string(f.data[:4]) != "FILE" {
		t.Fatalf("last unmap did not write back: %q", f.data[:4])
	}
	if used := mf.UsedPages(); used != 4 {
		t.Fatalf("%d frames used, want the 4 clean cached file pages", used)
	}
}

func TestSharedDevZeroMappingsAreDistinct(t *testing.T) {
	m, _, _, z := newZoneMM(t, 16<<20, 0)
	other := New(z, newFakeAS(), 0x7fff00000000)
	zero := &countingFile{ino: 0}
	a1, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadWrite, Mappable: zero})
	a2, _ := other.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadWrite, Mappable: zero})
	m.CopyOut(a1, []byte("one"))
	b := make([]byte, 3)
	other.CopyIn(a2, b)
	if string(b) != "\x00\x00\x00" {
		t.Fatalf("unrelated /dev/zero mappings share memory: %q", b)
	}
	// Fork shares it.
	child := m.Fork(newFakeAS())
	child.CopyIn(a1, b)
	if string(b) != "one" {
		t.Fatalf("child of a shared /dev/zero mapping sees %q", b)
	}
}

// A major fault on a swapped-out page brings back the other swapped-out
// pages of its fault-around window (swap readahead) with the right
// contents: one fault, many pages.
func TestSwapReadaheadOverTheWindow(t *testing.T) {
	m, _, z := swapZone(t, 16<<20)
	const n = faultAroundPages
	addr, _ := m.MMap(MMapOpts{Length: n * PageSize, Perms: hostarch.ReadWrite, Private: true})
	for i := uintptr(0); i < n; i++ {
		if _, err := m.CopyOut(addr+i*PageSize, pattern(PageSize, byte(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	for i := uintptr(0); i < n; i++ {
		a := addr + i*PageSize
		p := m.pteAt(a)
		if r := m.Reclaim(frameNumber(p.frame), uint64(a), z.Swap()); r != kswapd.Reclaimed {
			t.Fatalf("reclaim of page %d = %v", i, r)
		}
	}
	maj := z.Snapshot().Events[kswapd.PgMajFault]
	if err := m.HandleFault(addr+5*PageSize, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if got := z.Snapshot().Events[kswapd.PgMajFault] - maj; got != 1 {
		t.Errorf("%d major faults for one access, want 1", got)
	}
	if _, _, _, swap := m.RSS(); swap != 0 {
		t.Errorf("%d pages of the window still on swap after one fault", swap)
	}
	for i := uintptr(0); i < n; i++ {
		got := make([]byte, PageSize)
		m.CopyIn(addr+i*PageSize, got)
		if !bytes.Equal(got, pattern(PageSize, byte(i+1))) {
			t.Fatalf("page %d read back wrong", i)
		}
	}
	if s := z.Snapshot(); s.Events[kswapd.PswpIn] != n {
		t.Errorf("pswpin %d, want %d", s.Events[kswapd.PswpIn], n)
	}
}

// A write appended right after the end of file, inside the cached page
// that holds it, is read back from the cache (the page grows to take it;
// growing must not zero the bytes just written).
func TestFileWrittenAppendsInsideTheEOFPage(t *testing.T) {
	_, _, _, z := newZoneMM(t, 16<<20, 0)
	f := &countingFile{data: []byte("hello world\n"), ino: 13}
	buf := make([]byte, 64)
	if n, _ := CachedRead(z, f, buf, 0); n != 12 {
		t.Fatalf("first read = %d", n)
	}
	for _, w := range []struct {
		off int64
		s   string
	}{{12, "one "}, {16, "two three\n"}} {
		f.data = append(f.data, w.s...)
		FileWritten(3, f.ino, w.off, []byte(w.s))
	}
	n, err := CachedRead(z, f, buf, 12)
	if got := string(buf[:n]); err != nil || got != "one two three\n" {
		t.Fatalf("read after the appends = %q, %v; want %q", got, err, "one two three\n")
	}
	if f.reads != 1 {
		t.Errorf("the appended bytes came from the file (%d reads), not the cache", f.reads)
	}
}

// FileFlush writes a shared mapping's dirty page back to the file before
// a read(2) of it (it used to find the page and write nothing), and the
// mapping's counts reach a WriteMapCounter.
func TestFileFlushWritesDirtySharedPages(t *testing.T) {
	m, _, _, _ := newZoneMM(t, 16<<20, 0)
	f := &sealFile{countingFile: countingFile{data: pattern(2*PageSize, 1), ino: 21}}
	sh, err := m.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.ReadWrite, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.Read, MaxPerms: hostarch.Read, Mappable: f})
	m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadWrite, Private: true, Mappable: f})
	if f.writeMaps != 1 {
		t.Fatalf("write-mapped count %d after a shared writable, a shared read-only and a private mapping; want 1", f.writeMaps)
	}
	if err := m.HandleFault(sh+PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(sh+PageSize, []byte("mapped")); err != nil {
		t.Fatal(err)
	}
	FileFlush(3, 21, PageSize, 6)
	if got := string(f.data[PageSize : PageSize+6]); got != "mapped" {
		t.Errorf("the file holds %q after FileFlush, want %q", got, "mapped")
	}
	m.Munmap(sh, 2*PageSize)
	m.Munmap(ro, PageSize)
	if f.writeMaps != 0 {
		t.Errorf("write-mapped count %d after munmap, want 0", f.writeMaps)
	}
}

// SharedFilesDirty, which lets the VFS skip FileFlush before every read,
// is false while files are only cached or mapped privately or read-only
// (as a program's own image is), true from the first write through a
// shared mapping, and false again once that page is written back.
func TestSharedFilesDirtyOnlyAfterSharedWrite(t *testing.T) {
	m, _, _, _ := newZoneMM(t, 16<<20, 0)
	if SharedFilesDirty() {
		t.Fatal("SharedFilesDirty before any mapping")
	}
	f := &countingFile{data: pattern(2*PageSize, 3), ino: 22}
	priv, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadWrite, Private: true, Mappable: f})
	ro, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.Read, MaxPerms: hostarch.Read, Mappable: f})
	sh, err := m.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.ReadWrite, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	// One read fault per mapping: the fault maps the file's cached
	// neighbours too, and a read fault on a page already mapped readable
	// is taken for a write.
	for _, a := range []uintptr{priv, ro, sh} {
		if err := m.HandleFault(a, hostarch.Read); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.HandleFault(priv, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	if !SharedFilesMapped() {
		t.Fatal("SharedFilesMapped false with the file mapped")
	}
	if SharedFilesDirty() {
		t.Fatal("SharedFilesDirty after reads and a private write")
	}
	if err := m.HandleFault(sh+PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(sh+PageSize, []byte("shared")); err != nil {
		t.Fatal(err)
	}
	if !SharedFilesDirty() {
		t.Fatal("SharedFilesDirty false after a write through a shared mapping")
	}
	FileFlush(3, 22, 0, 2*PageSize)
	if got := string(f.data[PageSize : PageSize+6]); got != "shared" {
		t.Errorf("the file holds %q after FileFlush, want %q", got, "shared")
	}
	if SharedFilesDirty() {
		t.Error("SharedFilesDirty after the dirty page was written back")
	}
	// Written again, the page is dirty again; munmap of the last shared
	// mapping writes it back.
	if err := m.HandleFault(sh+PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	if !SharedFilesDirty() {
		t.Error("SharedFilesDirty false after a second write")
	}
	m.Munmap(sh, 2*PageSize)
	m.Munmap(ro, PageSize)
	m.Munmap(priv, PageSize)
	if SharedFilesDirty() {
		t.Error("SharedFilesDirty after munmap of the last shared mapping")
	}
}

type sealFile struct {
	countingFile
	writeMaps int32
}

func (f *sealFile) WriteMapped(delta int32) { f.writeMaps += delta }
