package mm

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// Special pages are mapped as they are in every address space (the
// sentry's writes show at once, fork keeps them), can never be written
// through a mapping (mprotect EACCES, sentry writes EFAULT), may move
// with mremap but not change size, and are never freed by a mapping's
// end.
func TestSpecialPages(t *testing.T) {
	m, as, mf, z := newZoneMM(t, 64<<20, 0)
	sp, err := NewSpecialPages(z, 2)
	if err != nil {
		t.Fatal(err)
	}
	copy(sp.Bytes()[PageSize:], "image")
	if _, err := m.MMap(MMapOpts{Length: 3 * PageSize, Perms: hostarch.Read, Private: true, Special: sp}); err != unix.EINVAL {
		t.Fatalf("mapping past the pages: %v, want EINVAL", err)
	}
	if _, err := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadWrite, Private: true, Special: sp}); err != unix.EINVAL {
		t.Fatalf("writable mapping: %v, want EINVAL", err)
	}
	addr, err := m.MMap(MMapOpts{Length: PageSize, Perms: hostarch.ReadExecute, Private: true, Special: sp, Offset: PageSize, Name: "[vdso]"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(addr, hostarch.Execute); err != nil {
		t.Fatal(err)
	}
	if at := as.mapped[addr]; at != hostarch.ReadExecute {
		t.Fatalf("mapped %v, want r-x", at)
	}
	b := make([]byte, 5)
	if _, err := m.CopyIn(addr, b); err != nil || string(b) != "image" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := m.HandleFault(addr, hostarch.Write); err == nil {
		t.Fatal("a write fault was resolved")
	}
	if err := m.Mprotect(addr, PageSize, hostarch.ReadWrite, false, NoVMLimits); err != unix.EACCES {
		t.Fatalf("mprotect writable: %v, want EACCES", err)
	}
	if err := m.ZeroOut(addr, 1); err == nil {
		t.Fatal("a forced write went through")
	}
	child := m.Fork(newFakeAS())
	copy(sp.Bytes()[PageSize:], "IMAGE")
	if _, err := child.CopyIn(addr, b); err != nil || string(b) != "IMAGE" {
		t.Fatalf("child reads %q, %v: not the same page", b, err)
	}
	if _, err := m.Mremap(addr, PageSize, 2*PageSize, unix.MREMAP_MAYMOVE, 0, NoVMLimits); err != unix.EINVAL {
		t.Fatalf("mremap growing: %v, want EINVAL", err)
	}
	moved, err := m.Mremap(addr, PageSize, PageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, addr+16*PageSize, NoVMLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyIn(moved, b); err != nil || string(b) != "IMAGE" {
		t.Fatalf("moved mapping reads %q, %v", b, err)
	}
	child.DecUsers()
	m.DecUsers()
	if got := mf.UsedPages(); got != 2 {
		t.Fatalf("%d pages in use after every mapping went, want the 2 special pages", got)
	}
	if string(sp.Bytes()[PageSize:PageSize+5]) != "IMAGE" {
		t.Fatal("special pages lost their contents")
	}
}

// A WithNewPage copy maps the original's frames but for its own page;
// ReplaceSpecial swaps it in under a mapping; once neither a mapping nor
// its maker holds it, its references go: the original's frames are back
// to their one reference and its own page is freed.
func TestSpecialPagesWithNewPage(t *testing.T) {
	m, _, mf, z := newZoneMM(t, 64<<20, 0)
	sp, err := NewSpecialPages(z, 2)
	if err != nil {
		t.Fatal(err)
	}
	copy(sp.Bytes(), "zero")
	copy(sp.Bytes()[PageSize:], "image")
	inUse := mf.UsedPages()
	c, err := sp.WithNewPage(z, 0, func(b []byte) { copy(b, "own!") })
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.MMap(MMapOpts{Length: 2 * PageSize, Perms: hostarch.Read, Private: true, Special: sp})
	if err != nil {
		t.Fatal(err)
	}
	read := func(a uintptr, n int) string {
		b := make([]byte, n)
		if _, err := m.CopyIn(a, b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(addr, 4); got != "zero" {
		t.Fatalf("original's first page reads %q", got)
	}
	m.ReplaceSpecial(sp, c)
	if got, img := read(addr, 4), read(addr+PageSize, 5); got != "own!" || img != "image" {
		t.Fatalf("after ReplaceSpecial: %q and %q, want \"own!\" and \"image\"", got, img)
	}
	c.WritePage(0, func(b []byte) { copy(b, "new!") })
	if got := read(addr, 4); got != "new!" {
		t.Fatalf("after WritePage: %q", got)
	}
	m.ReplaceSpecial(c, sp)
	if got := read(addr, 4); got != "zero" {
		t.Fatalf("back: %q", got)
	}
	if err := m.Munmap(addr, 2*PageSize); err != nil {
		t.Fatal(err)
	}
	c = nil
	// Cleanups run on their own goroutine after a GC: give a loaded
	// machine time (a bound, not a timing assertion).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && (mf.UsedPages() != inUse || mf.RefCount(sp.fr.Start+PageSize) != 1); {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if n := mf.RefCount(sp.fr.Start + PageSize); n != 1 {
		t.Errorf("the image frame has %d references after the copy went, want 1", n)
	}
	if mf.UsedPages() != inUse {
		t.Errorf("%d frames in use after the copy went, want %d", mf.UsedPages(), inUse)
	}
}
