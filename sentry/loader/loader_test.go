package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// prog is a program header for buildELF.
type prog struct {
	typ                       elf.ProgType
	flags                     elf.ProgFlag
	off, vaddr, filesz, memsz uint64
}

// buildELF returns a size-byte x86-64 ELF file with the given type, entry
// and program headers (at offset 64). Bytes not covered by the headers are
// a non-zero pattern, so that bss zeroing is observable.
func buildELF(typ elf.Type, entry uint64, progs []prog, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i%251) + 1
	}
	h := elf.Header64{
		Type:      uint16(typ),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     entry,
		Phoff:     elfHeaderSize,
		Ehsize:    elfHeaderSize,
		Phentsize: progHeaderSize,
		Phnum:     uint16(len(progs)),
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	if _, err := binary.Encode(b, binary.LittleEndian, &h); err != nil {
		panic(err)
	}
	for i, p := range progs {
		ph := elf.Prog64{
			Type: uint32(p.typ), Flags: uint32(p.flags), Off: p.off, Vaddr: p.vaddr,
			Paddr: p.vaddr, Filesz: p.filesz, Memsz: p.memsz, Align: hostarch.PageSize,
		}
		if _, err := binary.Encode(b[elfHeaderSize+i*progHeaderSize:], binary.LittleEndian, &ph); err != nil {
			panic(err)
		}
	}
	return b
}

// validProgs are the program headers of a small static ET_EXEC.
func validProgs() []prog {
	return []prog{
		{typ: elf.PT_PHDR, flags: elf.PF_R, off: 64, vaddr: 0x400040, filesz: 4 * progHeaderSize, memsz: 4 * progHeaderSize},
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0x400000, filesz: 0x300, memsz: 0x300},
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x1000, vaddr: 0x401000, filesz: 0x123, memsz: 0x3000},
		{typ: elf.PT_GNU_STACK, flags: elf.PF_R | elf.PF_W},
	}
}

func validELF() []byte { return buildELF(elf.ET_EXEC, 0x400100, validProgs(), 0x2000) }

// interpWith returns an ELF like validELF plus a PT_INTERP naming interp,
// stored at offset 0x1800.
func interpWith(typ elf.Type, interp string) []byte {
	progs := append(validProgs()[:1:1], prog{typ: elf.PT_INTERP, flags: elf.PF_R, off: 0x1800, vaddr: 0x401800, filesz: uint64(len(interp) + 1), memsz: uint64(len(interp) + 1)})
	progs = append(progs, validProgs()[1:]...)
	progs[0].filesz, progs[0].memsz = 5*progHeaderSize, 5*progHeaderSize
	b := buildELF(typ, 0x400100, progs, 0x2000)
	copy(b[0x1800:], interp+"\x00")
	return b
}

type loadResult struct {
	l   Loaded
	mem *fakeMemory
	fs  *fileSystem
	err error
}

func load(fs *fileSystem, filename string, argv, envv []string) loadResult {
	mem := newFakeMemory()
	l, err := Load(LoadArgs{
		MM:       mem,
		Open:     fs.open,
		Filename: filename,
		Argv:     argv,
		Envv:     envv,
		Creds:    Credentials{UID: 1, EUID: 2, GID: 3, EGID: 4},
		Random:   bytes.NewReader([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}),
	})
	return loadResult{l, mem, fs, err}
}

func mustLoad(t *testing.T, fs *fileSystem, filename string, argv, envv []string) loadResult {
	t.Helper()
	r := load(fs, filename, argv, envv)
	if r.err != nil {
		t.Fatalf("Load(%q): %v", filename, r.err)
	}
	if fs.opened != fs.closedN {
		t.Errorf("opened %d files, closed %d", fs.opened, fs.closedN)
	}
	return r
}

// checkStack reads the initial stack back and checks it against Linux's
// layout and what Load reported.
func checkStack(t *testing.T, r loadResult, filename string, argv, envv []string) map[uint64]uint64 {
	t.Helper()
	m, l := r.mem, r.l
	if l.Stack%16 != 0 {
		t.Errorf("stack pointer %#x not 16-byte aligned", l.Stack)
	}
	top := uintptr(fakeMaxAddr)
	if v := m.vmaAt(top - 1); v == nil || v.opts.Name != "[stack]" || !v.opts.GrowsDown || !v.opts.Perms.Write || v.end != top {
		t.Errorf("no [stack] mapping at the top:\n%s", m.dump())
	}
	if got := m.u64(t, top-8); got != 0 {
		t.Errorf("top word %#x, want 0", got)
	}
	sp := l.Stack
	argc := m.u64(t, sp)
	if int(argc) != len(argv) {
		t.Fatalf("argc %d, want %d", argc, len(argv))
	}
	a := sp + 8
	for i := range argv {
		if s := m.cstring(t, uintptr(m.u64(t, a))); s != argv[i] {
			t.Errorf("argv[%d] = %q, want %q", i, s, argv[i])
		}
		a += 8
	}
	if m.u64(t, a) != 0 {
		t.Errorf("argv not NULL-terminated")
	}
	a += 8
	for i := range envv {
		if s := m.cstring(t, uintptr(m.u64(t, a))); s != envv[i] {
			t.Errorf("envp[%d] = %q, want %q", i, s, envv[i])
		}
		a += 8
	}
	if m.u64(t, a) != 0 {
		t.Errorf("envp not NULL-terminated")
	}
	a += 8
	var auxv []uint64
	aux := map[uint64]uint64{}
	for {
		k, v := m.u64(t, a), m.u64(t, a+8)
		auxv = append(auxv, k, v)
		a += 16
		if k == linux.AT_NULL {
			break
		}
		if _, dup := aux[k]; dup {
			t.Errorf("auxv type %d twice", k)
		}
		aux[k] = v
		if len(auxv) > 200 {
			t.Fatalf("auxv not terminated")
		}
	}
	if !equalU64(auxv, l.Auxv) || !equalU64(auxv, m.auxv) {
		t.Errorf("auxv on the stack %v, Loaded %v, SetAuxv %v", auxv, l.Auxv, m.auxv)
	}
	for _, k := range []uint64{atMinSigStkSz, linux.AT_HWCAP, linux.AT_PAGESZ, linux.AT_CLKTCK, linux.AT_PHDR,
		linux.AT_PHENT, linux.AT_PHNUM, linux.AT_BASE, linux.AT_FLAGS, linux.AT_ENTRY, linux.AT_UID,
		linux.AT_EUID, linux.AT_GID, linux.AT_EGID, linux.AT_SECURE, linux.AT_RANDOM, linux.AT_HWCAP2,
		linux.AT_EXECFN, linux.AT_PLATFORM} {
		if _, ok := aux[k]; !ok {
			t.Errorf("auxv lacks type %d", k)
		}
	}
	if _, ok := aux[linux.AT_SYSINFO_EHDR]; ok {
		t.Errorf("auxv has AT_SYSINFO_EHDR without a vDSO")
	}
	want := map[uint64]uint64{
		linux.AT_PAGESZ: 4096, linux.AT_CLKTCK: 100, linux.AT_PHENT: progHeaderSize, linux.AT_FLAGS: 0,
		linux.AT_UID: 1, linux.AT_EUID: 2, linux.AT_GID: 3, linux.AT_EGID: 4, linux.AT_SECURE: 0,
		linux.AT_ENTRY: uint64(l.ProgramEntry), linux.AT_BASE: uint64(l.Base),
	}
	for k, v := range want {
		if aux[k] != v {
			t.Errorf("auxv type %d = %#x, want %#x", k, aux[k], v)
		}
	}
	if aux[linux.AT_HWCAP] == 0 {
		t.Errorf("AT_HWCAP is 0")
	}
	if got := m.read(t, uintptr(aux[linux.AT_RANDOM]), 16); !bytes.Equal(got, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}) {
		t.Errorf("AT_RANDOM bytes %v", got)
	}
	if s := m.cstring(t, uintptr(aux[linux.AT_PLATFORM])); s != "x86_64" {
		t.Errorf("AT_PLATFORM %q", s)
	}
	execfn := uintptr(aux[linux.AT_EXECFN])
	if s := m.cstring(t, execfn); s != filename {
		t.Errorf("AT_EXECFN %q, want %q", s, filename)
	}
	if execfn+uintptr(len(filename))+1 != top-8 {
		t.Errorf("AT_EXECFN string at %#x does not end below the top word", execfn)
	}
	// Everything lies between the auxv and the top, in Linux's order.
	random, platform := uintptr(aux[linux.AT_RANDOM]), uintptr(aux[linux.AT_PLATFORM])
	if !(a <= random && random-a < 16 && random+16 == platform &&
		platform+7 <= m.argStart && m.argStart-(platform+7) < 16 && (platform+7)%16 == 0) {
		t.Errorf("layout: auxv end %#x, random %#x, platform %#x, strings %#x", a, aux[linux.AT_RANDOM], aux[linux.AT_PLATFORM], m.argStart)
	}
	wantArgs := strings.Join(argv, "\x00") + "\x00"
	if got := m.read(t, m.argStart, int(m.argEnd-m.argStart)); string(got) != wantArgs {
		t.Errorf("argv strings %q, want %q", got, wantArgs)
	}
	wantEnv := ""
	if len(envv) > 0 {
		wantEnv = strings.Join(envv, "\x00") + "\x00"
	}
	if got := m.read(t, m.envStart, int(m.envEnd-m.envStart)); string(got) != wantEnv {
		t.Errorf("env strings %q, want %q", got, wantEnv)
	}
	if m.envEnd != execfn || m.argEnd != m.envStart {
		t.Errorf("argv [%#x,%#x) env [%#x,%#x) execfn %#x not contiguous", m.argStart, m.argEnd, m.envStart, m.envEnd, execfn)
	}
	// AT_PHDR points at the program headers.
	phdr := m.read(t, uintptr(aux[linux.AT_PHDR]), int(aux[linux.AT_PHNUM])*progHeaderSize)
	var ph0 elf.Prog64
	binary.Decode(phdr, binary.LittleEndian, &ph0)
	if ph0.Type != uint32(elf.PT_PHDR) && ph0.Type != uint32(elf.PT_LOAD) {
		t.Errorf("AT_PHDR %#x does not point at program headers (first type %#x)", aux[linux.AT_PHDR], ph0.Type)
	}
	return aux
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkSegments checks that every PT_LOAD of the ELF file data is in memory
// at bias with the file's bytes, zeros for its bss and its permissions.
func checkSegments(t *testing.T, m *fakeMemory, data []byte, bias uintptr) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		start := uintptr(p.Vaddr) + bias
		if got := m.read(t, start, int(p.Filesz)); !bytes.Equal(got, data[p.Off:p.Off+p.Filesz]) {
			t.Errorf("segment at %#x: contents differ from the file", start)
		}
		bss := m.read(t, start+uintptr(p.Filesz), int(p.Memsz-p.Filesz))
		if !bytes.Equal(bss, make([]byte, len(bss))) {
			t.Errorf("segment at %#x: bss not zero", start)
		}
		if p.Filesz < p.Memsz && (start+uintptr(p.Filesz))%hostarch.PageSize != 0 {
			end := pageRoundUp(start + uintptr(p.Filesz))
			tail := m.read(t, start+uintptr(p.Filesz), int(end-start-uintptr(p.Filesz)))
			if !bytes.Equal(tail, make([]byte, len(tail))) {
				t.Errorf("segment at %#x: last file page tail not zeroed", start)
			}
		}
		v := m.vmaAt(start)
		want := hostarch.AccessType{Read: p.Flags&elf.PF_R != 0, Write: p.Flags&elf.PF_W != 0, Execute: p.Flags&elf.PF_X != 0}
		if v == nil || v.opts.Perms != want || !v.opts.Private || v.opts.MaxPerms != hostarch.AnyAccess {
			t.Errorf("segment at %#x: mapping %+v, want private %v", start, v, want)
		}
		if p.Filesz > 0 && v.opts.Mappable == nil {
			t.Errorf("segment at %#x is not file-backed", start)
		}
	}
}

func TestLoadDynamicPIE(t *testing.T) {
	exeData, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skipf("no /bin/true: %v", err)
	}
	exeELF, err := elf.NewFile(bytes.NewReader(exeData))
	if err != nil || exeELF.Type != elf.ET_DYN {
		t.Skipf("/bin/true is not a PIE (%v)", err)
	}
	var interpPath string
	for _, p := range exeELF.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			p.ReadAt(b, 0)
			interpPath = string(bytes.TrimRight(b, "\x00"))
		}
	}
	if interpPath == "" {
		t.Skip("/bin/true has no PT_INTERP")
	}
	interpData, err := os.ReadFile(interpPath)
	if err != nil {
		t.Fatal(err)
	}
	interpELF, _ := elf.NewFile(bytes.NewReader(interpData))

	fs := &fileSystem{host: true}
	argv := []string{"true", "--x", ""}
	envv := []string{"A=1", "PATH=/bin"}
	r := mustLoad(t, fs, "/bin/true", argv, envv)
	l := r.l
	base := uintptr(0x555555554000)
	if l.ProgramEntry != base+uintptr(exeELF.Entry) {
		t.Errorf("AT_ENTRY %#x, want %#x", l.ProgramEntry, base+uintptr(exeELF.Entry))
	}
	if l.Base == 0 || l.Base%hostarch.PageSize != 0 || l.Base >= fakeMaxAddr-DefaultStackSize || l.Base < base {
		t.Errorf("AT_BASE %#x", l.Base)
	}
	if l.Entry != l.Base+uintptr(interpELF.Entry) {
		t.Errorf("entry %#x, want interpreter's %#x", l.Entry, l.Base+uintptr(interpELF.Entry))
	}
	if l.Interpreter != interpPath || l.Executable != "/bin/true" || r.mem.exe != "/bin/true" || l.Comm != "true" {
		t.Errorf("Loaded %+v", l)
	}
	var brk uint64
	for _, p := range exeELF.Progs {
		if p.Type == elf.PT_LOAD {
			brk = max(brk, p.Vaddr+p.Memsz)
		}
	}
	if want := pageRoundUp(base + uintptr(brk)); r.mem.brk != want || l.BrkStart != want {
		t.Errorf("brk %#x, want %#x", r.mem.brk, want)
	}
	checkSegments(t, r.mem, exeData, base)
	checkSegments(t, r.mem, interpData, l.Base)
	aux := checkStack(t, r, "/bin/true", argv, envv)
	if aux[linux.AT_PHDR] != uint64(base)+exeELF.Progs[0].Vaddr {
		t.Errorf("AT_PHDR %#x", aux[linux.AT_PHDR])
	}
	if aux[linux.AT_PHNUM] != uint64(len(exeELF.Progs)) {
		t.Errorf("AT_PHNUM %d", aux[linux.AT_PHNUM])
	}
	// The interpreter's span is one reservation: nothing else inside it.
	if v := r.mem.vmaAt(l.Base); v == nil || v.opts.Mappable == nil {
		t.Errorf("interpreter's first page not file-backed:\n%s", r.mem.dump())
	}
	t.Logf("address space:\n%s", r.mem.dump())
}

// buildHostProgram compiles a C program with gcc and the given flags, or
// skips the test saying why it cannot.
func buildHostProgram(t *testing.T, flags ...string) []byte {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("gcc not found: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	os.WriteFile(src, []byte("int x[4096]; int y = 7; int main(void) { return x[1] + y; }\n"), 0o644)
	out := filepath.Join(dir, "p")
	cmd := exec.Command(gcc, append(flags, "-o", out, src)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("gcc %v cannot link (%v): %s", flags, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadStatic(t *testing.T) {
	data := buildHostProgram(t, "-static", "-O2")
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_EXEC {
		t.Skipf("gcc -static made a %v", f.Type)
	}
	fs := &fileSystem{files: map[string][]byte{"/static": data}}
	r := mustLoad(t, fs, "/static", []string{"static"}, nil)
	if r.l.Entry != uintptr(f.Entry) || r.l.ProgramEntry != uintptr(f.Entry) || r.l.Base != 0 || r.l.Interpreter != "" {
		t.Errorf("Loaded %+v, want entry %#x and no interpreter", r.l, f.Entry)
	}
	checkSegments(t, r.mem, data, 0)
	aux := checkStack(t, r, "/static", []string{"static"}, nil)
	if aux[linux.AT_BASE] != 0 {
		t.Errorf("AT_BASE %#x", aux[linux.AT_BASE])
	}
	for _, v := range r.mem.vmas {
		if v.opts.Mappable == nil && v.opts.Perms == hostarch.NoAccess {
			t.Errorf("unexpected reservation %#x-%#x for a static executable", v.start, v.end)
		}
	}
}

func TestLoadStaticPIE(t *testing.T) {
	data := buildHostProgram(t, "-static-pie", "-fPIE", "-O2")
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_DYN {
		t.Skipf("gcc -static-pie made a %v", f.Type)
	}
	fs := &fileSystem{files: map[string][]byte{"/spie": data}}
	r := mustLoad(t, fs, "/spie", []string{"spie", "a"}, []string{"X=y"})
	base := uintptr(0x555555554000)
	if r.l.Entry != base+uintptr(f.Entry) || r.l.Base != 0 {
		t.Errorf("Loaded %+v, want entry %#x", r.l, base+uintptr(f.Entry))
	}
	checkSegments(t, r.mem, data, base)
	checkStack(t, r, "/spie", []string{"spie", "a"}, []string{"X=y"})
}

func TestLoadSynthetic(t *testing.T) {
	data := validELF()
	fs := &fileSystem{files: map[string][]byte{"/prog": data}}
	r := mustLoad(t, fs, "/prog", nil, nil)
	// An empty argv becomes {""}.
	if len(r.l.Argv) != 1 || r.l.Argv[0] != "" {
		t.Errorf("argv %q", r.l.Argv)
	}
	checkSegments(t, r.mem, data, 0)
	aux := checkStack(t, r, "/prog", []string{""}, nil)
	if aux[linux.AT_PHDR] != 0x400040 || r.l.Entry != 0x400100 || r.mem.brk != 0x404000 {
		t.Errorf("AT_PHDR %#x entry %#x brk %#x", aux[linux.AT_PHDR], r.l.Entry, r.mem.brk)
	}
	if v := r.mem.vmaAt(0x403000); v == nil || v.opts.Mappable != nil || !v.opts.Perms.Write {
		t.Errorf("no anonymous bss mapping:\n%s", r.mem.dump())
	}
	if v := r.mem.vmaAt(fakeMaxAddr - 1); v.opts.Perms.Execute {
		t.Errorf("stack executable without PT_GNU_STACK PF_X")
	}
}

func TestExecutableStack(t *testing.T) {
	progs := validProgs()
	progs[3].flags |= elf.PF_X
	fs := &fileSystem{files: map[string][]byte{"/p": buildELF(elf.ET_EXEC, 0x400100, progs, 0x2000)}}
	r := mustLoad(t, fs, "/p", []string{"p"}, nil)
	if v := r.mem.vmaAt(fakeMaxAddr - 1); !v.opts.Perms.Execute {
		t.Errorf("PT_GNU_STACK PF_X did not make the stack executable")
	}
}

// Segments sharing a page (as old or -N linked binaries have): the later
// segment's mapping takes the page over and the earlier one's bytes stay.
func TestSharedPageSegments(t *testing.T) {
	for _, filesz := range []uint64{0, 0x10} {
		progs := []prog{
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0x400000, filesz: 0x180, memsz: 0x180},
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x180, vaddr: 0x400180, filesz: filesz, memsz: 0x2000},
		}
		data := buildELF(elf.ET_EXEC, 0x400100, progs, 0x1000)
		fs := &fileSystem{files: map[string][]byte{"/p": data}}
		r := mustLoad(t, fs, "/p", []string{"p"}, nil)
		if got := r.mem.read(t, 0x400000, 0x180); !bytes.Equal(got, data[:0x180]) {
			t.Errorf("filesz %#x: first segment's bytes lost", filesz)
		}
		bss := r.mem.read(t, 0x400180+uintptr(filesz), int(0x2000-filesz))
		if !bytes.Equal(bss, make([]byte, len(bss))) {
			t.Errorf("filesz %#x: bss not zero:\n%s", filesz, r.mem.dump())
		}
	}
}

func TestInterpreterPlacement(t *testing.T) {
	// An ET_DYN executable with an ET_DYN interpreter whose segments
	// have a hole between them.
	interp := buildELF(elf.ET_DYN, 0x1100, []prog{
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0, filesz: 0x1200, memsz: 0x1200},
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x2000, vaddr: 0x10000, filesz: 0x100, memsz: 0x800},
	}, 0x3000)
	exe := interpWith(elf.ET_DYN, "/ld.so")
	fs := &fileSystem{files: map[string][]byte{"/exe": exe, "/ld.so": interp}}
	r := mustLoad(t, fs, "/exe", []string{"exe"}, nil)
	base := r.l.Base
	if r.l.Entry != base+0x1100 || r.l.Interpreter != "/ld.so" {
		t.Errorf("Loaded %+v", r.l)
	}
	checkSegments(t, r.mem, interp, base)
	// The hole is reserved without access.
	if v := r.mem.vmaAt(base + 0x8000); v == nil || v.opts.Perms != hostarch.NoAccess || v.opts.Mappable != nil {
		t.Errorf("hole between interpreter segments not reserved:\n%s", r.mem.dump())
	}
	if r.l.ProgramEntry != 0x555555554000+0x100 {
		t.Errorf("AT_ENTRY %#x", r.l.ProgramEntry)
	}
	checkSegments(t, r.mem, exe, 0x555555554000-0x400000)
}

func TestMalformed(t *testing.T) {
	patch := func(off int, v any) []byte {
		b := validELF()
		if _, err := binary.Encode(b[off:], binary.LittleEndian, v); err != nil {
			panic(err)
		}
		return b
	}
	withProgs := func(mod func(p []prog) []prog) []byte {
		return buildELF(elf.ET_EXEC, 0x400100, mod(validProgs()), 0x2000)
	}
	ph := func(i int) int { return elfHeaderSize + i*progHeaderSize } // offset of header i
	cases := map[string][]byte{
		"empty":            {},
		"text":             []byte("hello world\n"),
		"magic only":       []byte("\x7fELF"),
		"truncated header": validELF()[:40],
		"truncated phdrs":  validELF()[:elfHeaderSize+progHeaderSize+3],
		"32-bit":           patch(4, uint8(elf.ELFCLASS32)),
		"big-endian":       patch(5, uint8(elf.ELFDATA2MSB)),
		"wrong machine":    patch(18, uint16(elf.EM_AARCH64)),
		"relocatable":      patch(16, uint16(elf.ET_REL)),
		"core":             patch(16, uint16(elf.ET_CORE)),
		"phentsize":        patch(54, uint16(32)),
		"phnum 0":          patch(56, uint16(0)),
		"huge phnum":       patch(56, uint16(0xffff)),
		"phnum past eof":   patch(56, uint16(1000)),
		"phoff huge":       patch(32, uint64(1)<<63),
		"phoff past eof":   patch(32, uint64(0x10000)),
		"entry absurd":     patch(24, uint64(1)<<60),
		"filesz > memsz":   patch(ph(1)+32, uint64(0x400)),
		"offset past eof":  patch(ph(2)+8, uint64(0x100000)),
		"filesz past eof":  patch(ph(2)+32, uint64(0x2000)),
		"misaligned":       patch(ph(2)+8, uint64(0x1008)),
		"absurd vaddr":     patch(ph(2)+16, uint64(0x7fffffffe000)),
		"vaddr overflow":   patch(ph(2)+16, uint64(0xfffffffffffff000)),
		"memsz overflow":   patch(ph(2)+40, uint64(0xfffffffffffff000)),
		"below min addr":   withProgs(func(p []prog) []prog { p[1].vaddr = 0; return p }),
		"overlapping": withProgs(func(p []prog) []prog {
			p[2].vaddr, p[2].off = 0x400000, 0x1000
			return p
		}),
		"descending": withProgs(func(p []prog) []prog { p[1], p[2] = p[2], p[1]; return p }),
		"no PT_LOAD": withProgs(func(p []prog) []prog { return []prog{p[0], p[3]} }),
		"in stack": withProgs(func(p []prog) []prog {
			p[2].vaddr, p[2].off = fakeMaxAddr-0x10000, 0x1000
			return p
		}),
		"interp not terminated": func() []byte {
			b := interpWith(elf.ET_EXEC, "/lib/ld.so")
			b[0x1800+len("/lib/ld.so")] = 'x'
			return b
		}(),
		"interp too long": func() []byte {
			b := interpWith(elf.ET_EXEC, "/x")
			binary.Encode(b[ph(1)+32:], binary.LittleEndian, uint64(linux.PATH_MAX+1))
			return b
		}(),
		"interp past eof": func() []byte {
			b := interpWith(elf.ET_EXEC, "/x")
			binary.Encode(b[ph(1)+8:], binary.LittleEndian, uint64(0x1fff))
			return b
		}(),
		"interp empty": interpWith(elf.ET_EXEC, ""),
		"two PT_INTERP": func() []byte {
			b := withProgs(func(p []prog) []prog {
				i := prog{typ: elf.PT_INTERP, off: 0x1800, filesz: 3, memsz: 3}
				p[0].filesz, p[0].memsz = 6*progHeaderSize, 6*progHeaderSize
				return append(p, i, i)
			})
			copy(b[0x1800:], "/x\x00")
			return b
		}(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			fs := &fileSystem{files: map[string][]byte{"/bad": data, "/x": validELF(), "/lib/ld.so": validELF()}}
			r := load(fs, "/bad", []string{"bad"}, nil)
			if !errors.Is(r.err, unix.ENOEXEC) {
				t.Fatalf("Load: %v, want ENOEXEC", r.err)
			}
			var errno unix.Errno
			if !errors.As(r.err, &errno) || errno != unix.ENOEXEC {
				t.Errorf("errors.As gives %v", errno)
			}
			if len(r.mem.calls) != 0 {
				t.Errorf("mapped before failing: %v", r.mem.calls)
			}
			if fs.opened != fs.closedN {
				t.Errorf("opened %d files, closed %d", fs.opened, fs.closedN)
			}
			t.Log(r.err)
		})
	}
}

func TestInterpreterErrors(t *testing.T) {
	cases := []struct {
		name   string
		interp []byte
		want   unix.Errno
	}{
		{"missing", nil, unix.ENOENT},
		{"has PT_INTERP", interpWith(elf.ET_DYN, "/ld.so"), unix.ENOEXEC},
		{"not ELF", []byte("#!/bin/sh\n"), unix.ENOEXEC},
		{"wrong machine", func() []byte { b := validELF(); b[18] = byte(elf.EM_386); return b }(), unix.ENOEXEC},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string][]byte{"/exe": interpWith(elf.ET_DYN, "/ld.so")}
			if c.interp != nil {
				files["/ld.so"] = c.interp
			}
			fs := &fileSystem{files: files}
			r := load(fs, "/exe", []string{"exe"}, nil)
			if !errors.Is(r.err, c.want) {
				t.Fatalf("Load: %v, want %v", r.err, c.want)
			}
			if len(r.mem.calls) != 0 {
				t.Errorf("mapped before failing")
			}
			t.Log(r.err)
		})
	}
}

func TestInterpreterFixed(t *testing.T) {
	// An ET_EXEC interpreter loads at its link address; one that collides
	// with the executable fails.
	interp := buildELF(elf.ET_EXEC, 0x10000100, []prog{
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0x10000000, filesz: 0x200, memsz: 0x200},
	}, 0x1000)
	fs := &fileSystem{files: map[string][]byte{"/exe": interpWith(elf.ET_EXEC, "/ld.so"), "/ld.so": interp}}
	r := mustLoad(t, fs, "/exe", []string{"exe"}, nil)
	if r.l.Base != 0x10000000 || r.l.Entry != 0x10000100 {
		t.Errorf("Loaded %+v", r.l)
	}
	fs = &fileSystem{files: map[string][]byte{"/exe": interpWith(elf.ET_EXEC, "/ld.so"), "/ld.so": validELF()}}
	if r := load(fs, "/exe", []string{"exe"}, nil); !errors.Is(r.err, unix.EEXIST) {
		t.Errorf("colliding interpreter: %v, want EEXIST", r.err)
	}
}

func TestE2BIG(t *testing.T) {
	fs := &fileSystem{files: map[string][]byte{"/p": validELF()}}
	big := strings.Repeat("x", 1<<20)
	if r := load(fs, "/p", []string{"p"}, []string{big, big}); !errors.Is(r.err, unix.E2BIG) {
		t.Errorf("2 MiB of environment: %v, want E2BIG", r.err)
	}
	if r := load(fs, "/p", []string{"p", strings.Repeat("y", maxArgStrlen)}, nil); !errors.Is(r.err, unix.E2BIG) {
		t.Errorf("argument longer than MAX_ARG_STRLEN: %v, want E2BIG", r.err)
	}
	many := make([]string, 300000)
	if r := load(fs, "/p", many, nil); !errors.Is(r.err, unix.E2BIG) {
		t.Errorf("300000 empty arguments: %v, want E2BIG", r.err)
	}
	// Just under the limit works.
	ok := []string{"p", strings.Repeat("z", maxArgStrlen-1), strings.Repeat("z", maxArgStrlen-1)}
	r := mustLoad(t, fs, "/p", ok, nil)
	checkStack(t, r, "/p", ok, nil)
}

func TestOpenErrors(t *testing.T) {
	fs := &fileSystem{files: map[string][]byte{}}
	r := load(fs, "/nope", []string{"nope"}, nil)
	var errno unix.Errno
	if !errors.As(r.err, &errno) || errno != unix.ENOENT {
		t.Errorf("missing file: %v", r.err)
	}
}

func TestCommAndEtDynBase(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/true":                       "true",
		"prog":                            "prog",
		"./a/very-long-program-name-here": "very-long-progr",
		"/dir/":                           "",
	} {
		if got := commFromFilename(in); got != want {
			t.Errorf("comm(%q) = %q, want %q", in, got, want)
		}
	}
	if got := etDynBase(0x7ffffffff000); got != 0x555555554000 {
		t.Errorf("ELF_ET_DYN_BASE %#x", got)
	}
}

// TestHostHWCap checks that the loader passes on the host kernel's
// AT_HWCAP, not a value of its own. The kernel's value is CPUID leaf 1 EDX
// with the bits it chose to clear (a kernel under a hypervisor may clear
// MTRR, for one), so CPUID is only the fall-back when the host's auxv
// cannot be read, and the fall-back must at least carry the features
// every x86-64 CPU has.
func TestHostHWCap(t *testing.T) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		t.Skipf("cannot read the host's auxv, so the CPUID fall-back is in use: %v", err)
	}
	hostHWCap, hostMinSigStackSize := hostAuxv()
	found := false
	for i := 0; i+16 <= len(b); i += 16 {
		if binary.LittleEndian.Uint64(b[i:]) == linux.AT_HWCAP {
			found = true
			if v := binary.LittleEndian.Uint64(b[i+8:]); v != hostHWCap {
				t.Errorf("host kernel's AT_HWCAP %#x, the loader passes %#x", v, hostHWCap)
			}
		}
	}
	if !found {
		t.Errorf("no AT_HWCAP in the host's auxv")
	}
	// FPU, TSC, CX8, CMOV, MMX, FXSR, SSE, SSE2: the x86-64 baseline.
	const baseline = 1<<0 | 1<<4 | 1<<8 | 1<<15 | 1<<23 | 1<<24 | 1<<25 | 1<<26
	if got := cpuidHWCap(); got&baseline != baseline {
		t.Errorf("CPUID leaf 1 EDX %#x lacks x86-64 baseline features %#x", got, baseline&^got)
	}
	if hostMinSigStackSize < 2048 {
		t.Errorf("AT_MINSIGSTKSZ %d", hostMinSigStackSize)
	}
}
