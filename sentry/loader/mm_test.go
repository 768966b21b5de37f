package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
)

var _ Memory = (*mm.MemoryManager)(nil)

// nullAddressSpace is a platform address space that maps nothing: the test
// only reads memory through the memory manager.
type nullAddressSpace struct{}

func (nullAddressSpace) MapFile(uintptr, memfile.FileRange, hostarch.AccessType) error { return nil }
func (nullAddressSpace) Unmap(uintptr, uintptr)                                        {}
func (nullAddressSpace) Release()                                                      {}

// TestLoadIntoMemoryManager loads /bin/true into the real memory manager
// and reads the result back through it.
func TestLoadIntoMemoryManager(t *testing.T) {
	exeData, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	mf, err := memfile.New(64 << 20)
	if err != nil {
		t.Skipf("no memory file: %v", err)
	}
	defer mf.Release()
	z, err := kswapd.New(mf, kswapd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := mm.New(z, nullAddressSpace{}, fakeMaxAddr)
	fs := &fileSystem{host: true}
	l, err := Load(LoadArgs{
		MM:       m,
		Open:     fs.open,
		Filename: "/bin/true",
		Argv:     []string{"true", "x"},
		Envv:     []string{"HOME=/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func(addr uintptr, n int) []byte {
		b := make([]byte, n)
		if _, err := m.CopyIn(addr, b); err != nil {
			t.Fatalf("CopyIn(%#x, %d): %v", addr, n, err)
		}
		return b
	}
	u64 := func(addr uintptr) uint64 { return binary.LittleEndian.Uint64(read(addr, 8)) }
	if argc := u64(l.Stack); argc != 2 {
		t.Errorf("argc %d", argc)
	}
	// argv[0], argv[1], NULL, envp[0], NULL, then auxv.
	auxStart := l.Stack + 8*6
	for i := 0; i < len(l.Auxv); i++ {
		if got := u64(auxStart + uintptr(8*i)); got != l.Auxv[i] {
			t.Fatalf("auxv word %d = %#x, want %#x", i, got, l.Auxv[i])
		}
	}
	if !equalU64(m.Auxv(), l.Auxv) {
		t.Errorf("mm auxv %v", m.Auxv())
	}
	if got := string(m.Argv()); got != "true\x00x\x00" {
		t.Errorf("cmdline %q", got)
	}
	if got := string(m.Env()); got != "HOME=/\x00" {
		t.Errorf("environ %q", got)
	}
	if m.Executable() != "/bin/true" {
		t.Errorf("executable %q", m.Executable())
	}
	// The executable's segments read back as the file, bss as zeros.
	f, _ := elf.NewFile(bytes.NewReader(exeData))
	base := uintptr(0x555555554000)
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if got := read(base+uintptr(p.Vaddr), int(p.Filesz)); !bytes.Equal(got, exeData[p.Off:p.Off+p.Filesz]) {
			t.Errorf("segment at %#x differs from the file", p.Vaddr)
		}
		if bss := read(base+uintptr(p.Vaddr+p.Filesz), int(p.Memsz-p.Filesz)); !bytes.Equal(bss, make([]byte, len(bss))) {
			t.Errorf("bss of segment at %#x not zero", p.Vaddr)
		}
	}
	for i := 0; i+1 < len(l.Auxv); i += 2 {
		if l.Auxv[i] == linux.AT_BASE && uintptr(l.Auxv[i+1]) != l.Base {
			t.Errorf("AT_BASE %#x", l.Auxv[i+1])
		}
	}
	t.Logf("maps:\n%s", m.Maps())
}
