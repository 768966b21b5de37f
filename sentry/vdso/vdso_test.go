package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// The checked-in image is what its source builds: rebuilt with gen.sh
// where gcc is present, and compared byte for byte when it is the gcc that
// built the checked-in one, with the same linker (vdso.so.gcc); another
// toolchain may lay out the same code differently, so then only the
// rebuilt image's shape is checked and the byte comparison is skipped,
// saying why.
func TestImageMatchesSource(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc: the checked-in vdso.so cannot be rebuilt here")
	}
	out := filepath.Join(t.TempDir(), "vdso.so")
	if b, err := exec.Command("src/gen.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("src/gen.sh: %v\n%s", err, b)
	}
	rebuilt, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkImage(rebuilt); err != nil {
		t.Fatalf("rebuilt image: %v", err)
	}
	checkSymbols(t, rebuilt)
	var have []string
	for _, tool := range []string{gcc, "ld"} {
		ver, err := exec.Command(tool, "--version").Output()
		if err != nil {
			t.Fatal(err)
		}
		have = append(have, strings.SplitN(string(ver), "\n", 2)[0])
	}
	want, err := os.ReadFile("vdso.so.gcc")
	if err != nil {
		t.Fatal(err)
	}
	if h, w := strings.Join(have, "\n"), strings.TrimSpace(string(want)); h != w {
		t.Skipf("the toolchain here is %q, the checked-in image was built by %q: not compared byte for byte", h, w)
	}
	if !bytes.Equal(rebuilt, image) {
		t.Fatal("vdso.so is not what src/vdso.c and src/vdso.lds build: run go generate ./sentry/vdso and commit the result")
	}
}

// The embedded image has what programs look up: every function under its
// own name and __vdso_ name, version LINUX_2.6, and nothing else
// exported.
func TestImageSymbols(t *testing.T) {
	if err := checkImage(image); err != nil {
		t.Fatal(err)
	}
	checkSymbols(t, image)
}

func checkSymbols(t *testing.T, img []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		got[s.Name] = s.Version
	}
	for _, fn := range []string{"clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres"} {
		for _, name := range []string{fn, "__vdso_" + fn} {
			if v, ok := got[name]; !ok || v != "LINUX_2.6" {
				t.Errorf("%s: version %q (present %v), want LINUX_2.6", name, v, ok)
			}
			delete(got, name)
		}
	}
	if len(got) != 0 {
		t.Errorf("other functions exported: %v", got)
	}
	if soname, _ := f.DynString(elf.DT_SONAME); len(soname) != 1 || soname[0] != "linux-vdso.so.1" {
		t.Errorf("soname %v, want linux-vdso.so.1", soname)
	}
}

// newTestVDSO returns a zone over a 16 MiB memory file and a vDSO in it,
// released when the test ends.
func newTestVDSO(t *testing.T) (*kswapd.Zone, *VDSO) {
	t.Helper()
	mf, err := memfile.New(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mf.Release)
	z, err := kswapd.New(mf, kswapd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Stop)
	v, err := New(z, &timekeeper.Clock{}, true)
	if err != nil {
		t.Fatal(err)
	}
	return z, v
}

type nopAS struct{}

func (nopAS) MapFile(uintptr, memfile.FileRange, hostarch.AccessType) error { return nil }
func (nopAS) Unmap(uintptr, uintptr)                                        {}
func (nopAS) Release()                                                      {}

// Map puts [vvar] right below [vdso] in an address space: the image's
// bytes at the returned address, the clock's parameters in the page
// below, both read-only, as /proc/PID/maps shows them.
func TestMap(t *testing.T) {
	z, v := newTestVDSO(t)
	m := mm.New(z, nopAS{}, 0x7fff00000000)
	defer m.DecUsers()
	addr, err := v.Map(m)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := m.CopyIn(addr, head); err != nil || string(head) != "\x7fELF" {
		t.Fatalf("image at %#x starts %q (%v)", addr, head, err)
	}
	seq := make([]byte, 4)
	if _, err := m.CopyIn(addr-mm.PageSize, seq); err != nil || seq[0] != 2 {
		t.Fatalf("parameter page's sequence count %v (%v), want 2 after Attach", seq, err)
	}
	if _, err := m.CopyOut(addr-mm.PageSize, []byte{1}); err == nil {
		t.Fatal("the parameter page was written through the mapping")
	}
	maps := string(m.Maps())
	for _, want := range []string{
		fmt.Sprintf("%08x-%08x r--p 00000000 00:00 0                          [vvar]", addr-paramPages*mm.PageSize, addr),
		fmt.Sprintf("%08x-%08x r-xp 00000000 00:00 0                          [vdso]", addr, addr+uintptr(v.imagePages)*mm.PageSize),
	} {
		if !strings.Contains(maps, want) {
			t.Errorf("maps lack %q:\n%s", want, maps)
		}
	}
}

// A process entering a time namespace maps the namespace's copy of the
// pages: its offsets in the page two below the image, the same parameter
// page and image; going back maps the first namespace's zeroes again.
func TestTimeNSPages(t *testing.T) {
	z, v := newTestVDSO(t)
	ns, err := v.TimeNSPages(86400e9, -5)
	if err != nil {
		t.Fatal(err)
	}
	SetTimeNSOffsets(ns, 86400e9, 7)
	m := mm.New(z, nopAS{}, 0x7fff00000000)
	defer m.DecUsers()
	addr, err := v.Map(m)
	if err != nil {
		t.Fatal(err)
	}
	offsets := func() (int64, int64) {
		b := make([]byte, 16)
		if _, err := m.CopyIn(addr-paramPages*mm.PageSize, b); err != nil {
			t.Fatal(err)
		}
		return int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	}
	if mono, boot := offsets(); mono != 0 || boot != 0 {
		t.Errorf("first namespace's offsets %d %d, want 0 0", mono, boot)
	}
	v.EnterTimeNS(m, nil, ns)
	if mono, boot := offsets(); mono != 86400e9 || boot != 7 {
		t.Errorf("namespace's offsets %d %d, want 86400e9 7", mono, boot)
	}
	seq := make([]byte, 4)
	head := make([]byte, 4)
	if _, err := m.CopyIn(addr-mm.PageSize, seq); err != nil || seq[0] != 2 {
		t.Errorf("parameter page's sequence count %v (%v) in the namespace's pages, want 2", seq, err)
	}
	if _, err := m.CopyIn(addr, head); err != nil || string(head) != "\x7fELF" {
		t.Errorf("image in the namespace's pages starts %q (%v)", head, err)
	}
	v.EnterTimeNS(m, ns, nil)
	if mono, boot := offsets(); mono != 0 || boot != 0 {
		t.Errorf("back in the first namespace: offsets %d %d, want 0 0", mono, boot)
	}
}
