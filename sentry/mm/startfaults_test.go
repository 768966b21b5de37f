package mm

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// mprotect keeps the platform's mappings of the pages it mapped, with the
// new access; without read access they are unmapped, and an access
// faults with the permissions of the moment.
func TestMprotectRemapsMappedPages(t *testing.T) {
	m, as, _ := newMM(t)
	addr, err := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	for pg := uintptr(0); pg < 3; pg++ {
		if err := m.HandleFault(addr+pg*PageSize, hostarch.Write); err != nil {
			t.Fatal(err)
		}
	}
	delete(as.mapped, addr+3*PageSize)
	m.pages[addr+3*PageSize].mapped = hostarch.AccessType{}
	if err := m.Mprotect(addr, 4*PageSize, hostarch.Read, false, NoVMLimits); err != nil {
		t.Fatal(err)
	}
	for pg := uintptr(0); pg < 4; pg++ {
		at, ok := as.mapped[addr+pg*PageSize]
		if pg < 3 && at != hostarch.Read {
			t.Errorf("page %d mapped %v after mprotect(PROT_READ), want r--", pg, at)
		}
		if pg == 3 && ok {
			t.Errorf("page 3, not mapped before, mapped %v after mprotect", at)
		}
	}
	var fe *FaultError
	if err := m.HandleFault(addr, hostarch.Write); !errors.As(err, &fe) || fe.Code != segvAccErr {
		t.Fatalf("write to a read-only page: %v, want SIGSEGV SEGV_ACCERR", err)
	}
	if err := m.Mprotect(addr, 4*PageSize, hostarch.NoAccess, false, NoVMLimits); err != nil {
		t.Fatal(err)
	}
	for pg := uintptr(0); pg < 4; pg++ {
		if at, ok := as.mapped[addr+pg*PageSize]; ok {
			t.Errorf("page %d mapped %v after mprotect(PROT_NONE)", pg, at)
		}
	}
	if err := m.HandleFault(addr, hostarch.Read); !errors.As(err, &fe) || fe.Code != segvAccErr {
		t.Fatalf("read of a PROT_NONE page: %v, want SIGSEGV SEGV_ACCERR", err)
	}
	if err := m.Mprotect(addr, 4*PageSize, hostarch.ReadWrite, false, NoVMLimits); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := m.CopyIn(addr, b); err != nil || b[0] != 0 {
		t.Fatalf("read after mprotect back: %q, %v", b, err)
	}
	m.DecUsers()
}

// MapLoaded maps the pages a loader populated, and the cached pages of
// file mappings, with the access their mappings allow, and nothing else.
func TestMapLoadedMapsPopulatedPages(t *testing.T) {
	m, as, _ := newMM(t)
	stack, err := m.MMap(MMapOpts{Length: 8 * PageSize, Perms: hostarch.ReadWrite, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFile{data: bytes.Repeat([]byte("r"), 4*PageSize), ino: 22}
	ro, err := m.MMap(MMapOpts{Length: 4 * PageSize, Perms: hostarch.Read, Private: true, Mappable: f})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(stack+7*PageSize, []byte("argv")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ForceCopyOut(ro+PageSize, []byte{0}); err != nil {
		t.Fatal(err)
	}
	// A text mapping of a file whose first 16 pages another mapping
	// faulted into the cache.
	txt := &fakeFile{data: bytes.Repeat([]byte("t"), 64*PageSize), ino: 23}
	first, err := m.MMap(MMapOpts{Length: 64 * PageSize, Perms: hostarch.ReadExecute, Private: true, Mappable: txt})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(first, hostarch.Execute); err != nil {
		t.Fatal(err)
	}
	if err := m.Munmap(first, 64*PageSize); err != nil {
		t.Fatal(err)
	}
	clear(as.mapped)
	text, err := m.MMap(MMapOpts{Length: 64 * PageSize, Perms: hostarch.ReadExecute, Private: true, Mappable: txt})
	if err != nil {
		t.Fatal(err)
	}
	if len(as.mapped) != 0 {
		t.Fatalf("the loader's copies mapped %v", as.mapped)
	}
	m.MapLoaded()
	for pg := uintptr(0); pg < 64; pg++ {
		at, ok := as.mapped[text+pg*PageSize]
		if ok != (pg < 16) || (ok && at != hostarch.ReadExecute) {
			t.Errorf("text page %d mapped %v (%v), want r-x for the 16 cached pages only", pg, at, ok)
		}
	}
	// Every populated page (the copies populate their fault-around
	// windows) is mapped with its mapping's access, and nothing else.
	want := map[uintptr]hostarch.AccessType{}
	for a := range m.pages {
		switch {
		case a >= stack && a < stack+8*PageSize:
			want[a] = hostarch.ReadWrite
		case a >= ro && a < ro+4*PageSize:
			want[a] = hostarch.Read
		case a >= text && a < text+16*PageSize:
			want[a] = hostarch.ReadExecute
		default:
			t.Fatalf("page %#x populated outside the mappings", a)
		}
	}
	if _, ok := want[stack+7*PageSize]; !ok {
		t.Fatal("the stack page written is not populated")
	}
	if _, ok := want[ro+PageSize]; !ok {
		t.Fatal("the read-only page written is not populated")
	}
	for a, at := range as.mapped {
		if want[a] != at {
			t.Errorf("%#x mapped %v, want %v", a, at, want[a])
		}
	}
	for a, at := range want {
		if as.mapped[a] != at {
			t.Errorf("%#x mapped %v, want %v", a, as.mapped[a], at)
		}
	}
	// A write to the read-only mapping's page still faults.
	var fe *FaultError
	if err := m.HandleFault(ro+PageSize, hostarch.Write); !errors.As(err, &fe) || fe.Signo != int(unix.SIGSEGV) {
		t.Fatalf("write to a read-only page: %v", err)
	}
	m.DecUsers()
}
