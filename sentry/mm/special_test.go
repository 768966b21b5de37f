package mm

import (
	"testing"

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
