package mm

import (
	"bytes"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// heldExe is an ExecutableRef for tests: the file's writes are denied as
// long as it is held (the VFS's WriteDenial in the sandbox).
type heldExe struct{ released *int }

func (h heldExe) DupRef() ExecutableRef { return h }
func (h heldExe) Release()              { *h.released++ }

// A write fault in a private writable mapping of the executable, whose
// file cannot change while the address space holds it, copies the other
// cached pages of its window with it: one fault for the window, not one
// per page written. Without the hold, or in a mapping of another file,
// only the written page is copied, and the others go on showing the
// file's later writes until they are written.
func TestExecutableDataCopiedByWindow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		executable bool
		hold       bool
		shared     bool
		wantWindow bool
	}{
		{"executable held", true, true, false, true},
		{"executable not held", true, false, false, false},
		{"other file, executable held", false, true, false, false},
		{"executable held, mapped shared writable elsewhere", true, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, as, mf, z := newZoneMM(t, 16<<20, 0)
			f := &countingFile{data: pattern(32*PageSize, 3), ino: 31}
			// A writable MAP_SHARED mapping of the file in another
			// address space, made before the exec (its descriptor
			// closed since): its writes reach the cached pages.
			var other *MemoryManager
			var sh uintptr
			if tc.shared {
				other = New(z, newFakeAS(), 0x7fff00000000)
				var err error
				if sh, err = other.MMap(MMapOpts{Length: 32 * PageSize, Perms: hostarch.ReadWrite, MaxPerms: hostarch.ReadWrite, Mappable: f}); err != nil {
					t.Fatal(err)
				}
			}
			data, err := m.MMap(MMapOpts{Length: 32 * PageSize, Perms: hostarch.ReadWrite, MaxPerms: hostarch.AnyAccess, Private: true, Mappable: f, Executable: tc.executable})
			if err != nil {
				t.Fatal(err)
			}
			released := 0
			if tc.hold {
				m.HoldExecutable(heldExe{&released})
			}
			// The loader's or a read's mapping: the window cached and
			// mapped read-only, copy-on-write.
			if err := m.HandleFault(data, hostarch.Read); err != nil {
				t.Fatal(err)
			}
			for pg := uintptr(0); pg < faultAroundPages; pg++ {
				if at := as.mapped[data+pg*PageSize]; at != hostarch.Read {
					t.Fatalf("page %d mapped %v after a read fault, want r--", pg, at)
				}
			}
			cacheFrame := m.pteAt(data + 5*PageSize).frame
			if err := m.HandleFault(data+2*PageSize+8, hostarch.Write); err != nil {
				t.Fatal(err)
			}
			for pg := uintptr(0); pg < faultAroundPages; pg++ {
				a := data + pg*PageSize
				p := m.pteAt(a)
				copied := pg == 2 || tc.wantWindow
				if copied != (!p.cow && p.obj == nil) {
					t.Errorf("page %d: cow %v obj %v, want copied %v", pg, p.cow, p.obj != nil, copied)
				}
				want := hostarch.Read
				if copied {
					want = hostarch.ReadWrite
				}
				if as.mapped[a] != want {
					t.Errorf("page %d mapped %v, want %v", pg, as.mapped[a], want)
				}
			}
			// The next window is not touched.
			if p := m.pteAt(data + faultAroundPages*PageSize); p != nil && !p.cow {
				t.Error("a page of the next window was copied")
			}
			// Copies hold the file's bytes; the cache frame is the
			// cache's alone again once copied.
			got := make([]byte, faultAroundPages*PageSize)
			if _, err := m.CopyIn(data, got); err != nil || !bytes.Equal(got, f.data[:len(got)]) {
				t.Fatalf("window reads %v, not the file's bytes", err)
			}
			if rc, want := mf.RefCount(cacheFrame), int32(1); tc.wantWindow && rc != want {
				t.Errorf("cache frame of a copied page has %d references, want %d (the cache's)", rc, want)
			}
			if !tc.wantWindow {
				// A page not copied shows the file's later write.
				if tc.shared {
					if _, err := other.CopyOut(sh+5*PageSize, []byte("later")); err != nil {
						t.Fatal(err)
					}
				} else {
					copy(f.data[5*PageSize:], "later")
					FileWritten(3, f.ino, 5*PageSize, []byte("later"))
				}
				b := make([]byte, 5)
				if _, err := m.CopyIn(data+5*PageSize, b); err != nil || string(b) != "later" {
					t.Errorf("unwritten private page reads %q (%v), want the file's later write", b, err)
				}
			}
			m.DecUsers()
			if other != nil {
				other.DecUsers()
			}
			if tc.hold && released != 1 {
				t.Errorf("executable released %d times, want 1", released)
			}
		})
	}
}

// frameAS is a fakeAS that checks, whenever a mapping replaces another,
// how many references the replaced frame still has: a frame must not
// lose the reference of the address space that maps it before the
// platform stops mapping it.
type frameAS struct {
	*fakeAS
	mf       *memfile.MemoryFile
	frames   map[uintptr]uint64
	replaced map[uintptr]int // address → references of the old frame when replaced
	unmapped map[uintptr]int // address → references of the frame when unmapped
}

func (f *frameAS) MapFile(addr uintptr, fr memfile.FileRange, at hostarch.AccessType) error {
	for i := uint64(0); i < fr.Pages(); i++ {
		a := addr + uintptr(i*PageSize)
		if old, ok := f.frames[a]; ok && old != fr.Start+i*PageSize {
			f.replaced[a] = int(f.mf.RefCount(old))
		}
		f.frames[a] = fr.Start + i*PageSize
	}
	return f.fakeAS.MapFile(addr, fr, at)
}

func (f *frameAS) Unmap(addr, length uintptr) {
	for a, fr := range f.frames {
		if a >= addr && a-addr < length {
			if f.unmapped != nil {
				f.unmapped[a] = int(f.mf.RefCount(fr))
			}
			delete(f.frames, a)
		}
	}
	f.fakeAS.Unmap(addr, length)
}

// A fork's child writing a page it shares with its parent gets a copy
// that replaces its mapping of the shared frame while it still holds its
// reference on that frame: were the reference dropped first, the parent
// (the last holder) could write the frame in place, and another thread of
// the child read that write through its stale mapping.
func TestCopyOnWriteKeepsOldFrameUntilRemapped(t *testing.T) {
	m, _, mf, _ := newZoneMM(t, 16<<20, 0)
	addr, err := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(addr, []byte("parent")); err != nil {
		t.Fatal(err)
	}
	cas := &frameAS{fakeAS: newFakeAS(), mf: mf, frames: map[uintptr]uint64{}, replaced: map[uintptr]int{}}
	c := m.ForkShared(cas)
	if err := c.HandleFault(addr, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	shared := c.pteAt(addr).frame
	if cas.frames[addr] != shared || mf.RefCount(shared) != 2 {
		t.Fatalf("child maps %#x, refs %d; want the shared frame %#x with 2", cas.frames[addr], mf.RefCount(shared), shared)
	}
	if err := c.HandleFault(addr, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	refs, ok := cas.replaced[addr]
	if !ok {
		t.Fatal("the child's copy did not replace its mapping of the shared frame")
	}
	if refs != 2 {
		t.Errorf("the shared frame had %d references when the child's mapping of it was replaced, want 2 (parent's and child's)", refs)
	}
	if got := mf.RefCount(shared); got != 1 {
		t.Errorf("the shared frame has %d references after the copy, want 1 (the parent's)", got)
	}
	c.DecUsers()
	m.DecUsers()
}

// A fork's child that has copied cowCopyAroundAfter shared anonymous
// pages at their first writes copies the rest of a window at its next
// such fault: the copies hold the snapshot of the fork, neither side sees
// the other's later writes, and a page the parent no longer shares is not
// copied. One that has copied fewer copies only the page written.
func TestForkChildCopiesWindowAfterManyCopies(t *testing.T) {
	m, _, mf, _ := newZoneMM(t, 64<<20, 0)
	windows := cowCopyAroundAfter + 2
	size := uintptr(windows*faultAroundPages) * PageSize
	addr, err := m.MMap(MMapOpts{Length: size, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	snap := pattern(int(size), 9)
	if _, err := m.CopyOut(addr, snap); err != nil {
		t.Fatal(err)
	}
	cas := newFakeAS()
	c := m.ForkShared(cas)
	window := func(w int) uintptr { return addr + uintptr(w*faultAroundPages)*PageSize }
	// One write per window, each in the child: the first
	// cowCopyAroundAfter copy their page alone.
	for w := 0; w < cowCopyAroundAfter; w++ {
		if err := c.HandleFault(window(w)+PageSize, hostarch.Write); err != nil {
			t.Fatal(err)
		}
		if p := c.pteAt(window(w) + 2*PageSize); p == nil || !p.cow {
			t.Fatalf("write fault %d copied a neighbour", w)
		}
	}
	// The parent writes a page of the next window (its own copy) and
	// drops another (munmap): the child holds the only reference left
	// to the latter's frame.
	last := window(cowCopyAroundAfter)
	if _, err := m.CopyOut(last+3*PageSize, []byte("parent's later write")); err != nil {
		t.Fatal(err)
	}
	if err := m.Munmap(last+4*PageSize, PageSize); err != nil {
		t.Fatal(err)
	}
	sole := c.pteAt(last + 4*PageSize).frame
	if err := c.HandleFault(last+PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	for pg := uintptr(0); pg < faultAroundPages; pg++ {
		a := last + pg*PageSize
		p := c.pteAt(a)
		if p.cow {
			t.Errorf("page %d of the window still copy-on-write", pg)
		}
		if pg == 4 && p.frame != sole {
			t.Error("the page the child alone held was copied")
		}
		if cas.mapped[a] != hostarch.ReadWrite {
			t.Errorf("page %d mapped %v, want rw-", pg, cas.mapped[a])
		}
	}
	// The child's copies hold the fork's snapshot; its writes do not
	// reach the parent.
	got := make([]byte, size)
	if _, err := c.CopyIn(addr, got); err != nil || !bytes.Equal(got, snap) {
		t.Fatalf("child's memory differs from the fork's snapshot (%v)", err)
	}
	if _, err := c.CopyOut(last+5*PageSize, []byte("child's write")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := m.CopyIn(last+5*PageSize, b); err != nil || !bytes.Equal(b, snap[int(last-addr)+5*PageSize:][:5]) {
		t.Fatalf("parent reads %q (%v) after the child's write", b, err)
	}
	c.DecUsers()
	m.DecUsers()
	if used := mf.UsedPages(); used != 0 {
		t.Errorf("%d frames used after both exited", used)
	}
}

// Anonymous memory touched in address order (the page below the window
// populated) is populated and mapped seqFaultAroundPages at a time from
// the window's start; a first touch elsewhere populates its fault-around
// window only.
func TestSequentialAnonymousTouchesTakeWiderWindows(t *testing.T) {
	m, as, mf := newMM(t)
	addr, err := m.MMap(MMapOpts{Length: 4 << 20, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(addr+3*PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	if got := mf.UsedPages(); got != faultAroundPages {
		t.Fatalf("a first touch populated %d pages, want %d", got, faultAroundPages)
	}
	next := addr + faultAroundPages*PageSize
	if err := m.HandleFault(next+2*PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	if got, want := mf.UsedPages(), uint64(faultAroundPages+seqFaultAroundPages); got != want {
		t.Fatalf("the next window's touch left %d pages populated, want %d", got, want)
	}
	for a := next; a < next+seqFaultAroundPages*PageSize; a += PageSize {
		if as.mapped[a] != hostarch.ReadWrite {
			t.Fatalf("%#x mapped %v, want rw-", a, as.mapped[a])
		}
	}
	// The next one grows with the run below it: twice its 80 pages.
	third := next + seqFaultAroundPages*PageSize
	if err := m.HandleFault(third, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	populated := uint64(faultAroundPages + seqFaultAroundPages + 2*(faultAroundPages+seqFaultAroundPages))
	if got := mf.UsedPages(); got != populated {
		t.Fatalf("the third window's touch left %d pages populated, want %d", got, populated)
	}
	far := addr + 400*PageSize
	if err := m.HandleFault(far, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if got, want := mf.UsedPages(), populated+faultAroundPages; got != want {
		t.Fatalf("a touch away from populated pages left %d pages populated, want %d", got, want)
	}
	// Touched downwards: the window below the populated one widens
	// downwards.
	if err := m.HandleFault(far-PageSize, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	if got, want := mf.UsedPages(), populated+faultAroundPages+seqFaultAroundPages; got != want {
		t.Fatalf("a touch below a populated window left %d pages populated, want %d", got, want)
	}
	for a := far - seqFaultAroundPages*PageSize; a < far+faultAroundPages*PageSize; a += PageSize {
		if m.pteAt(a) == nil || as.mapped[a] == (hostarch.AccessType{}) {
			t.Fatalf("%#x not populated and mapped after touches downwards", a)
		}
	}
	// A file mapping keeps its windows.
	f := &fakeFile{data: bytes.Repeat([]byte("f"), 64*PageSize), ino: 41}
	fa, err := m.MMap(MMapOpts{Length: 64 * PageSize, Perms: hostarch.ReadWrite, Private: true, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, pg := range []uintptr{0, 16} {
		if err := m.HandleFault(fa+pg*PageSize, hostarch.Write); err != nil {
			t.Fatal(err)
		}
	}
	if p := m.pteAt(fa + 32*PageSize); p != nil {
		t.Error("a file mapping's fault populated past its window")
	}
	m.DecUsers()
}

// A move by mremap that shrinks the mapping drops the pages left behind
// after the platform stops mapping them, not before.
func TestMremapShrinkingMoveUnmapsBeforeFreeing(t *testing.T) {
	_, _, mf, z := newZoneMM(t, 16<<20, 0)
	fas := &frameAS{fakeAS: newFakeAS(), mf: mf, frames: map[uintptr]uint64{}, replaced: map[uintptr]int{}, unmapped: map[uintptr]int{}}
	m := New(z, fas, 0x7fff00000000)
	addr, err := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(addr, hostarch.Write); err != nil {
		t.Fatal(err)
	}
	dst := addr + 64*PageSize
	got, err := m.Mremap(addr, 4*PageSize, 2*PageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, dst, NoVMLimits)
	if err != nil || got != dst {
		t.Fatalf("mremap = %#x, %v", got, err)
	}
	for pg := uintptr(2); pg < 4; pg++ {
		refs, ok := fas.unmapped[addr+pg*PageSize]
		if !ok {
			t.Fatalf("page %d left behind was not unmapped", pg)
		}
		if refs != 1 {
			t.Errorf("page %d left behind had %d references when unmapped, want 1 (still held)", pg, refs)
		}
	}
	m.DecUsers()
}
