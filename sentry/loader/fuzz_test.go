package loader

import (
	"bytes"
	"debug/elf"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzLoad loads arbitrary bytes: exe is what the execve path opens, other
// is what every other path (PT_INTERP, "#!" interpreters) opens. Load must
// never panic, every error must carry an errno, and a successful load must
// leave a sane stack and entry point.
func FuzzLoad(f *testing.F) {
	dynInterp := buildELF(elf.ET_DYN, 0x1100, []prog{
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, off: 0, vaddr: 0, filesz: 0x1200, memsz: 0x1200},
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, off: 0x2000, vaddr: 0x10000, filesz: 0x100, memsz: 0x800},
	}, 0x2100)
	f.Add(validELF(), []byte(nil))
	f.Add(interpWith(elf.ET_DYN, "/i"), dynInterp)
	f.Add(interpWith(elf.ET_EXEC, "/i"), validELF())
	f.Add([]byte("#!/i -a\n"), validELF())
	f.Add([]byte("#!/i\n"), []byte("#!/i\n"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, exe, other []byte) {
		closed := 0
		open := func(path string) (File, string, error) {
			if path == "/exe" {
				return &memFile{data: exe, closed: &closed}, path, nil
			}
			return &memFile{data: other, closed: &closed}, "/other", nil
		}
		mem := newFakeMemory()
		l, err := Load(LoadArgs{
			MM:       mem,
			Open:     open,
			Filename: "/exe",
			Argv:     []string{"exe", "arg"},
			Envv:     []string{"K=V"},
			Random:   bytes.NewReader(make([]byte, 16)),
		})
		if err != nil {
			var errno unix.Errno
			if !errors.As(err, &errno) {
				t.Fatalf("error without an errno: %v", err)
			}
			return
		}
		if l.Stack%16 != 0 || l.Stack >= fakeMaxAddr || l.Stack < fakeMaxAddr-DefaultStackSize {
			t.Fatalf("stack pointer %#x", l.Stack)
		}
		if l.Entry >= fakeMaxAddr || l.ProgramEntry >= fakeMaxAddr {
			t.Fatalf("entry %#x, program entry %#x", l.Entry, l.ProgramEntry)
		}
		if got := mem.u64(t, l.Stack); got != uint64(len(l.Argv)) {
			t.Fatalf("argc %d, argv %q", got, l.Argv)
		}
		if len(mem.auxv) == 0 || mem.auxv[len(mem.auxv)-2] != 0 {
			t.Fatalf("auxv %v", mem.auxv)
		}
	})
}
