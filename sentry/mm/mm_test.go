package mm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/platform"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// fakeAS records what the memory manager asks the platform to map.
type fakeAS struct {
	mapped  map[uintptr]hostarch.AccessType
	mapOps  int
	unmaps  int
	release bool
}

func (f *fakeAS) MapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) error {
	f.mapOps++
	for i := uint64(0); i < fr.Pages(); i++ {
		f.mapped[addr+uintptr(i*PageSize)] = at
	}
	return nil
}

func (f *fakeAS) Unmap(addr, length uintptr) {
	f.unmaps++
	for a := range f.mapped {
		if a >= addr && a-addr < length {
			delete(f.mapped, a)
		}
	}
}

func (f *fakeAS) Release() { f.release = true }

// fakeFile is a Mappable over a byte slice.
type fakeFile struct {
	data []byte
	ino  uint64
}

func (f *fakeFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *fakeFile) WriteAt(p []byte, off int64) (int, error) {
	copy(f.data[off:], p)
	return len(p), nil
}

func (f *fakeFile) MappingIdentity() (uint64, uint64, string) { return 1, f.ino, "/fake" }

func newMM(t testing.TB) (*MemoryManager, *fakeAS, *memfile.MemoryFile) {
	m, as, mf, _ := newZoneMM(t, 64<<20, 0)
	return m, as, mf
}

// newZoneMM returns a memory manager over a new zone of size bytes with
// swapSize bytes of swap. The test's cleanup forgets the memory file's
// cache objects and memory managers before releasing it.
func newZoneMM(t testing.TB, size, swapSize uint64) (*MemoryManager, *fakeAS, *memfile.MemoryFile, *kswapd.Zone) {
	t.Helper()
	mf, err := memfile.New(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mf.Release)
	z, err := kswapd.New(mf, kswapd.Config{SwapSize: swapSize, SwapDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		forgetMemoryFile(mf)
		forgetMemoryManagers(mf)
		z.Stop()
	})
	as := newFakeAS()
	return New(z, as, 0x7fff00000000), as, mf, z
}

func newFakeAS() *fakeAS { return &fakeAS{mapped: map[uintptr]hostarch.AccessType{}} }

func TestAnonymousDemandPagingAndFaultAround(t *testing.T) {
	m, as, mf := newMM(t)
	addr, err := m.MMap(MMapOpts{Length: 1 << 20, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if mf.UsedPages() != 0 {
		t.Fatalf("mmap populated %d pages eagerly", mf.UsedPages())
	}
	if err := m.HandleFault(addr+5*PageSize, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if got := mf.UsedPages(); got != faultAroundPages {
		t.Fatalf("one fault populated %d pages, want the %d-page window", got, faultAroundPages)
	}
	if as.mapOps != 1 || len(as.mapped) != faultAroundPages {
		t.Fatalf("window mapped with %d MapFile calls covering %d pages", as.mapOps, len(as.mapped))
	}
	// Write through the sentry, read it back.
	msg := []byte("hello from the sentry")
	if _, err := m.CopyOut(addr+PageSize-4, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := m.CopyIn(addr+PageSize-4, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("CopyIn = %q, %v", got, err)
	}
	if err := m.Munmap(addr, 1<<20); err != nil {
		t.Fatal(err)
	}
	if mf.UsedPages() != 0 || len(as.mapped) != 0 {
		t.Fatalf("after munmap: %d pages used, %d mapped", mf.UsedPages(), len(as.mapped))
	}
}

func TestFaultsAndEFAULT(t *testing.T) {
	m, as, _ := newMM(t)
	ro, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.Read, Private: true})
	var fe *FaultError
	if err := m.HandleFault(0x1000, hostarch.Read); !errors.As(err, &fe) || fe.Code != segvMapErr {
		t.Fatalf("fault on unmapped address: %v", err)
	}
	// A read fault maps the page read-only; a second fault on it must be
	// a write to a read-only mapping: SEGV_ACCERR.
	if err := m.HandleFault(ro, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if at := as.mapped[ro]; at != hostarch.Read {
		t.Fatalf("mapped %v", at)
	}
	if err := m.HandleFault(ro, hostarch.Read); !errors.As(err, &fe) || fe.Code != segvAccErr {
		t.Fatalf("write fault on read-only page: %v", err)
	}
	if _, err := m.CopyOut(ro, []byte{1}); err != unix.EFAULT {
		t.Fatalf("CopyOut to read-only page: %v", err)
	}
	if _, err := m.CopyIn(0x10, make([]byte, 8)); err != unix.EFAULT {
		t.Fatalf("CopyIn from NULL page: %v", err)
	}
	rw, _ := m.MMap(MMapOpts{Addr: 0x200000, Fixed: true, Length: PageSize, Perms: hostarch.ReadWrite, Private: true})
	m.CopyOut(rw+PageSize-2, []byte("ab"))
	if _, err := m.CopyInString(rw+PageSize-2, 100); err != unix.EFAULT {
		t.Fatalf("unterminated string running off the mapping: %v", err)
	}
}

func TestPrivateFileMappingAndSIGBUS(t *testing.T) {
	m, _, _ := newMM(t)
	f := &fakeFile{data: bytes.Repeat([]byte("x"), PageSize+10), ino: 7}
	addr, err := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 12)
	if _, err := m.CopyIn(addr+PageSize, b); err != nil || string(b) != "xxxxxxxxxx\x00\x00" {
		t.Fatalf("file tail read %q, %v", b, err)
	}
	// Private writes do not reach the file.
	m.CopyOut(addr, []byte("y"))
	if f.data[0] != 'x' {
		t.Fatal("private mapping wrote through to the file")
	}
	var fe *FaultError
	if err := m.HandleFault(addr+3*PageSize, hostarch.Read); !errors.As(err, &fe) || fe.Signo != int(unix.SIGBUS) {
		t.Fatalf("fault beyond EOF: %v", err)
	}
}

func TestSharedFileMappingWritesBack(t *testing.T) {
	m, as, _ := newMM(t)
	f := &fakeFile{data: bytes.Repeat([]byte("a"), 2*PageSize), ino: 9}
	a1, _ := m.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.ReadWrite, Mappable: f})
	a2, _ := m.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.Read, Mappable: f})
	// First touch maps the clean page read-only to catch the first write.
	if err := m.HandleFault(a1, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if as.mapped[a1].Write {
		t.Fatal("clean shared page mapped writable")
	}
	if err := m.HandleFault(a1, hostarch.Read); err != nil { // the write
		t.Fatal(err)
	}
	if !as.mapped[a1].Write {
		t.Fatal("dirty shared page not mapped writable")
	}
	m.CopyOut(a1+1, []byte("B"))
	b := make([]byte, 2)
	m.CopyIn(a2, b)
	if string(b) != "aB" {
		t.Fatalf("second shared mapping sees %q", b)
	}
	if err := m.Msync(a1, PageSize); err != nil {
		t.Fatal(err)
	}
	if string(f.data[:2]) != "aB" {
		t.Fatalf("msync wrote %q", f.data[:2])
	}
	// The page is clean again and write-protected: the next write
	// faults and dirties it.
	if as.mapped[a1].Write || m.vmaObj(a1).isDirty(0) {
		t.Fatal("page still writable or dirty after msync")
	}
	if err := m.HandleFault(a1, hostarch.Read); err != nil { // read: maps read-only
		t.Fatal(err)
	}
	if err := m.HandleFault(a1, hostarch.Read); err != nil { // the write
		t.Fatal(err)
	}
	if !as.mapped[a1].Write || !m.vmaObj(a1).isDirty(0) {
		t.Fatal("write after msync not tracked")
	}
	m.CopyOut(a1, []byte("C"))
	m.Msync(a1, PageSize)
	if string(f.data[:2]) != "CB" {
		t.Fatalf("second msync wrote %q", f.data[:2])
	}
	m.Munmap(a1, 2*PageSize)
	m.Munmap(a2, 2*PageSize)
}

func TestMremapMovesPages(t *testing.T) {
	m, _, mf := newMM(t)
	addr, _ := m.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	m.CopyOut(addr, []byte("keep me"))
	// Block growth in place.
	m.MMap(MMapOpts{Addr: addr + 2*PageSize, Length: PageSize, Fixed: true, Perms: hostarch.Read, Private: true})
	used := mf.UsedPages()
	na, err := m.Mremap(addr, 2*PageSize, 8*PageSize, unix.MREMAP_MAYMOVE, 0, NoVMLimits)
	if err != nil || na == addr {
		t.Fatalf("mremap = %#x, %v", na, err)
	}
	if mf.UsedPages() != used {
		t.Fatalf("mremap copied pages: %d -> %d", used, mf.UsedPages())
	}
	b := make([]byte, 7)
	if _, err := m.CopyIn(na, b); err != nil || string(b) != "keep me" {
		t.Fatalf("moved contents %q, %v", b, err)
	}
	if _, err := m.CopyIn(addr, b); err != unix.EFAULT {
		t.Fatalf("old range still readable: %v", err)
	}
}

func TestBrk(t *testing.T) {
	m, _, _ := newMM(t)
	m.SetBrkStart(0x600123)
	start := m.Brk(0, NoVMLimits)
	if start != 0x601000 {
		t.Fatalf("brk start %#x", start)
	}
	if got := m.Brk(start+3*PageSize+5, NoVMLimits); got != start+3*PageSize+5 {
		t.Fatalf("brk grow = %#x", got)
	}
	if _, err := m.CopyOut(start+3*PageSize, []byte("heap")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(m.Maps(), []byte("[heap]")) {
		t.Fatalf("maps lack [heap]:\n%s", m.Maps())
	}
	m.Brk(start, NoVMLimits)
	if _, err := m.CopyOut(start, []byte("x")); err != unix.EFAULT {
		t.Fatalf("write after brk shrink: %v", err)
	}
}

func TestForkIsCopyOnWrite(t *testing.T) {
	m, _, mf := newMM(t)
	addr, _ := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	m.CopyOut(addr, []byte("parent"))
	used := mf.UsedPages()
	child := m.Fork(&fakeAS{mapped: map[uintptr]hostarch.AccessType{}})
	if mf.UsedPages() != used {
		t.Fatalf("fork copied pages: %d -> %d", used, mf.UsedPages())
	}
	child.CopyOut(addr, []byte("child!"))
	if mf.UsedPages() != used+1 {
		t.Fatalf("child write copied %d pages, want 1", mf.UsedPages()-used)
	}
	b := make([]byte, 6)
	m.CopyIn(addr, b)
	if string(b) != "parent" {
		t.Fatalf("parent sees %q after the child's write", b)
	}
	child.CopyIn(addr, b)
	if string(b) != "child!" {
		t.Fatalf("child sees %q", b)
	}
	// The parent's page is now only its own: writing must not copy.
	m.CopyOut(addr, []byte("P"))
	if mf.UsedPages() != used+1 {
		t.Fatalf("parent write after the child copied: %d pages", mf.UsedPages())
	}
	child.DecUsers()
	m.DecUsers()
	if mf.UsedPages() != 0 {
		t.Fatalf("%d pages leaked", mf.UsedPages())
	}
}

func TestStaleNotPresentFaultIsRetried(t *testing.T) {
	m, _, _ := newMM(t)
	addr, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadWrite, Private: true})
	// Thread A writes the page: it is populated and mapped read-write.
	if err := m.HandleFaultCode(addr, hostarch.Write, segvMapErr); err != nil {
		t.Fatal(err)
	}
	// Thread B's read fault, taken while the page was not yet mapped,
	// is handled now: stale, not a violation.
	if err := m.HandleFaultCode(addr, hostarch.Read, segvMapErr); err != nil {
		t.Fatalf("stale not-present fault: %v", err)
	}
	// A real permission fault on a read-only mapping still is one.
	ro, _ := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.Read, Private: true})
	m.HandleFaultCode(ro, hostarch.Read, segvMapErr)
	var fe *FaultError
	if err := m.HandleFaultCode(ro, hostarch.Write, segvAccErr); !errors.As(err, &fe) {
		t.Fatalf("write to read-only page: %v", err)
	}
}

// forgetMemoryFile drops every index entry of mf without touching its
// frames (tests release memory files that still have cached pages).
func forgetMemoryFile(mf *memfile.MemoryFile) {
	pageCache.mu.Lock()
	defer pageCache.mu.Unlock()
	for id, list := range pageCache.files {
		var keep []*cacheObject
		for _, o := range list {
			if o.mf == mf {
				o.mu.Lock()
				o.dead = true
				o.mu.Unlock()
				pageCache.live.Add(-1)
				continue
			}
			keep = append(keep, o)
		}
		if len(keep) == 0 {
			delete(pageCache.files, id)
		} else {
			pageCache.files[id] = keep
		}
	}
}

// forgetMemoryManagers unregisters every memory manager over mf (tests
// release memory files whose address spaces were never torn down).
func forgetMemoryManagers(mf *memfile.MemoryFile) {
	registry.mu.Lock()
	for m := range registry.mms {
		if m.mf == mf {
			delete(registry.mms, m)
		}
	}
	registry.mu.Unlock()
}

// TestTakeAddressSpace: execve's new image takes over the old one's
// platform address space, emptied; the old memory manager still names it
// but maps nothing more in it and does not release it; the new one maps
// on its faults and releases it. An address space with another user
// (vfork) is not handed over.
func TestTakeAddressSpace(t *testing.T) {
	m, as, _, z := newZoneMM(t, 64<<20, 0)
	addr, err := m.MMap(MMapOpts{Length: 1 << 20, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(addr, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	m.IncUsers()
	if got := m.TakeAddressSpace(); got != nil {
		t.Fatalf("TakeAddressSpace of a shared memory manager: %v, want nil", got)
	}
	m.DecUsers()
	if len(as.mapped) == 0 {
		t.Fatal("the fault mapped nothing")
	}

	next := New(z, nil, 0x7fff00000000)
	naddr, err := next.MMap(MMapOpts{Length: 1 << 20, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next.CopyOut(naddr, []byte("image")); err != nil {
		t.Fatalf("loading an image without an address space: %v", err)
	}
	if got := m.TakeAddressSpace(); got != platform.AddressSpace(as) {
		t.Fatalf("TakeAddressSpace: %v, want the memory manager's", got)
	}
	if len(as.mapped) != 0 {
		t.Fatalf("%d pages still mapped after TakeAddressSpace", len(as.mapped))
	}
	if m.AddressSpace() != platform.AddressSpace(as) {
		t.Error("the old memory manager no longer names its address space")
	}
	if err := m.HandleFault(addr+PageSize, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if len(as.mapped) != 0 {
		t.Fatal("the old memory manager mapped into the address space it handed over")
	}
	next.SetAddressSpace(as)
	if err := next.HandleFault(naddr, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if len(as.mapped) == 0 {
		t.Fatal("the new image's fault mapped nothing")
	}
	m.DecUsers()
	if as.release {
		t.Fatal("the old memory manager released the address space it handed over")
	}
	next.DecUsers()
	if !as.release {
		t.Fatal("the new image's memory manager did not release its address space")
	}
}

// TestForkCopiesHotPages: pages the parent wrote through faults (mapped
// writable) get their copy for the child at fork; the parent keeps its
// frames and its writable mappings, with no platform call; the child sees
// the snapshot, its copies are pre-mapped writable, and its first fault on
// such a page maps it writable (its frame is its alone), copying nothing.
// Failed would be a child that sees the parent's later writes, a parent
// whose later writes fault, or a platform call in the parent.
func TestForkCopiesHotPages(t *testing.T) {
	m, as, mf := newMM(t)
	addr, _ := m.MMap(MMapOpts{Length: 2 * faultAroundPages * PageSize, Perms: hostarch.ReadWrite, Private: true})
	// A write fault maps its whole fault-around window writable.
	if err := m.HandleFault(addr, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	m.CopyOut(addr, []byte("before"))
	// A page the sentry wrote (populated, never mapped).
	far := addr + (faultAroundPages+4)*PageSize
	m.CopyOut(far, []byte("far"))
	used := mf.UsedPages()
	mapOps, unmaps := as.mapOps, as.unmaps
	cas := &fakeAS{mapped: map[uintptr]hostarch.AccessType{}}
	child := m.Fork(cas)
	// The mapped-writable window, not the page that was never mapped.
	if got := mf.UsedPages() - used; got != faultAroundPages {
		t.Fatalf("fork copied %d pages, want %d", got, faultAroundPages)
	}
	if as.mapOps != mapOps || as.unmaps != unmaps {
		t.Fatalf("fork made %d mappings and %d unmaps in the parent, want none", as.mapOps-mapOps, as.unmaps-unmaps)
	}
	if at := cas.mapped[addr]; !at.Write {
		t.Fatalf("child's copy of a hot page pre-mapped %v, want writable", at)
	}
	if at := as.mapped[addr]; !at.Write {
		t.Fatalf("parent's hot page mapped %v after fork, want writable", at)
	}
	m.CopyOut(addr, []byte("parent"))
	b := make([]byte, 6)
	child.CopyIn(addr, b)
	if string(b) != "before" {
		t.Fatalf("child sees %q, want the snapshot %q", b, "before")
	}
	used = mf.UsedPages()
	if err := child.HandleFaultCode(addr, hostarch.Read, segvMapErr); err != nil {
		t.Fatal(err)
	}
	if at := cas.mapped[addr]; !at.Write {
		t.Fatalf("child's unshared copy-on-write page mapped %v, want writable", at)
	}
	child.CopyOut(addr, []byte("child!"))
	if mf.UsedPages() != used {
		t.Fatalf("child write copied %d pages, want none", mf.UsedPages()-used)
	}
	m.CopyIn(addr, b)
	if string(b) != "parent" {
		t.Fatalf("parent sees %q after the child's write", b)
	}
	// A page the parent's platform did not map writable stays shared:
	// the child's write copies it.
	used = mf.UsedPages()
	child.CopyOut(far, []byte("x"))
	if mf.UsedPages() != used+1 {
		t.Fatalf("child write of a shared page copied %d pages, want 1", mf.UsedPages()-used)
	}
	child.DecUsers()
	m.DecUsers()
	if mf.UsedPages() != 0 {
		t.Fatalf("%d pages leaked", mf.UsedPages())
	}
}

// TestFileFaultMapsCachedWindow: a read fault on a file mapping maps, with
// the faulting page, every page of its 1 MiB window that the page cache
// holds already (populateCachedLocked), read-only for a private mapping,
// and reads nothing more; pages not cached wait for their own fault.
func TestFileFaultMapsCachedWindow(t *testing.T) {
	m, as, _ := newMM(t)
	f := &fakeFile{data: bytes.Repeat([]byte("t"), 64*PageSize), ino: 11}
	const base = 0x10000000 // 1 MiB aligned: one window holds the mapping
	a1, err := m.MMap(MMapOpts{Addr: base, Fixed: true, Length: 64 * PageSize, Perms: hostarch.ReadExecute, Private: true, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	// Two faults cache pages [0, 16) and [32, 48) of the file.
	for _, pg := range []uintptr{0, 40} {
		if err := m.HandleFault(a1+pg*PageSize, hostarch.Read); err != nil {
			t.Fatal(err)
		}
	}
	a2, err := m.MMap(MMapOpts{Addr: base + 1<<20, Fixed: true, Length: 64 * PageSize, Perms: hostarch.ReadWrite, Private: true, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(a2+5*PageSize, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	for pg := uintptr(0); pg < 64; pg++ {
		at, ok := as.mapped[a2+pg*PageSize]
		cached := pg < 16 || (pg >= 32 && pg < 48)
		if ok != cached {
			t.Errorf("page %d of the second mapping: mapped %v, want %v (cached %v)", pg, ok, cached, cached)
		}
		if ok && (at.Write || !at.Read) {
			t.Errorf("page %d of the private mapping mapped %v, want read-only", pg, at)
		}
	}
	b := make([]byte, 1)
	if _, err := m.CopyIn(a2+40*PageSize, b); err != nil || b[0] != 't' {
		t.Fatalf("a page mapped from the cache reads %q, %v", b, err)
	}
	// A write to one of them still copies it for this mapping alone.
	m.CopyOut(a2+40*PageSize, []byte("w"))
	m.CopyIn(a1+40*PageSize, b)
	if b[0] != 't' {
		t.Fatalf("the other private mapping sees %q after a write to its neighbour's copy", b)
	}
	m.DecUsers()
}

// TestForkSharedCopiesNothing: a fork whose parent has other threads
// (ForkShared) copies no page at fork, since they could write a page while
// it is copied, and write-protects the parent's written pages instead;
// each side still sees its own snapshot. Failed would be copies made (a
// child that can see a torn page) or a parent left mapped writable over a
// frame it shares with the child.
func TestForkSharedCopiesNothing(t *testing.T) {
	m, as, mf := newMM(t)
	addr, _ := m.MMap(MMapOpts{Length: faultAroundPages * PageSize, Perms: hostarch.ReadWrite, Private: true})
	if err := m.HandleFault(addr, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	m.CopyOut(addr, []byte("before"))
	used := mf.UsedPages()
	unmaps := as.unmaps
	cas := &fakeAS{mapped: map[uintptr]hostarch.AccessType{}}
	child := m.ForkShared(cas)
	if got := mf.UsedPages() - used; got != 0 {
		t.Fatalf("fork copied %d pages, want none", got)
	}
	if as.unmaps == unmaps {
		t.Fatal("fork made no unmap in the parent, want its written pages write-protected")
	}
	if at := as.mapped[addr]; at.Write {
		t.Fatalf("parent's page mapped %v after fork, want not writable", at)
	}
	if at := cas.mapped[addr]; at.Write {
		t.Fatalf("child's shared page pre-mapped %v, want not writable", at)
	}
	m.CopyOut(addr, []byte("parent"))
	b := make([]byte, 6)
	child.CopyIn(addr, b)
	if string(b) != "before" {
		t.Fatalf("child sees %q, want the snapshot %q", b, "before")
	}
	child.DecUsers()
	m.DecUsers()
	if mf.UsedPages() != 0 {
		t.Fatalf("%d pages leaked", mf.UsedPages())
	}
}

// countRef is a FileRef that counts its references.
type countRef struct{ n int }

func (r *countRef) IncRef() { r.n++ }
func (r *countRef) DecRef() { r.n-- }

// TestFileRefFollowsVmas: a mapping's FileRef (a description's write
// access) is held once per vma for as long as any vma of the mapping
// lasts: split by mprotect, munmap, a shrinking mremap and a MAP_FIXED
// mapping over part of it, moved by mremap, copied by fork, and dropped
// by munmap and by the last user's exit. Failed would be a
// file executable while still mapped writable (a reference dropped
// early) or never again (one leaked).
func TestFileRefFollowsVmas(t *testing.T) {
	m, _, _ := newMM(t)
	f := &fakeFile{data: make([]byte, 4*PageSize), ino: 7}
	r := &countRef{n: 1} // the caller's
	addr, err := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Mappable: f, File: r})
	if err != nil {
		t.Fatal(err)
	}
	r.DecRef() // the caller lets go: the mapping's alone
	check := func(what string, want int) {
		t.Helper()
		if r.n != want {
			t.Fatalf("%s: %d references, want %d", what, r.n, want)
		}
	}
	check("mapped", 1)
	if err := m.Mprotect(addr+PageSize, PageSize, hostarch.Read, false, NoVMLimits); err != nil {
		t.Fatal(err)
	}
	check("split in three by mprotect", 3)
	if err := m.Munmap(addr, PageSize); err != nil {
		t.Fatal(err)
	}
	check("first vma unmapped", 2)
	// A page above the last vma, so that growing it must move it.
	if _, err := m.MMap(MMapOpts{Addr: addr + 4*PageSize, Fixed: true, Length: PageSize, Perms: hostarch.Read, Private: true}); err != nil {
		t.Fatal(err)
	}
	moved, err := m.Mremap(addr+2*PageSize, 2*PageSize, 4*PageSize, unix.MREMAP_MAYMOVE, 0, NoVMLimits)
	if err != nil {
		t.Fatal(err)
	}
	if moved == addr+2*PageSize {
		t.Fatalf("mremap grew the vma in place at %#x: nothing moved", moved)
	}
	check("last vma moved", 2)
	if got, err := m.Mremap(moved, 4*PageSize, 3*PageSize, 0, 0, NoVMLimits); err != nil || got != moved {
		t.Fatalf("shrinking mremap: %#x, %v", got, err)
	}
	check("moved vma shrunk (split, tail unmapped)", 2)
	if _, err := m.MMap(MMapOpts{Addr: moved + PageSize, Fixed: true, Length: PageSize, Perms: hostarch.Read, Private: true}); err != nil {
		t.Fatal(err)
	}
	check("MAP_FIXED over the moved vma's middle page", 3)
	child := m.Fork(newFakeAS())
	check("forked", 6)
	if err := m.Munmap(addr+PageSize, PageSize); err != nil {
		t.Fatal(err)
	}
	if err := m.Munmap(moved, 3*PageSize); err != nil {
		t.Fatal(err)
	}
	check("the parent's unmapped", 3)
	child.DecUsers()
	check("the child gone", 0)
	m.DecUsers()
}

// BenchmarkCopyInPopulated measures a small CopyIn from populated
// anonymous memory filled in order (a stack's or a heap's: execve copies
// argv and envp in one pointer and one string at a time).
func BenchmarkCopyInPopulated(b *testing.B) {
	m, _, _ := newMM(b)
	const size = 4 << 20
	addr, err := m.MMap(MMapOpts{Length: size, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.CopyOut(addr, make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	var buf [8]byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.CopyIn(addr+size/2+uintptr(i%512)*8, buf[:]); err != nil {
			b.Fatal(err)
		}
	}
}
