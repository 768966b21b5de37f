package loader

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"

	"github.com/runsc-lite/runsc-lite/sentry/mm"
)

const fakeMaxAddr = 0x7ffffffff000

// fakeVMA is one mapping of a fakeMemory.
type fakeVMA struct {
	start, end uintptr
	opts       mm.MMapOpts // Offset is the file offset of start
}

// fakeMemory is a Memory that records mappings and keeps a sparse byte
// image: a page reads as what was written to it, else as its file's
// contents (private file mapping) or zeros.
type fakeMemory struct {
	maxAddr uintptr
	vmas    []fakeVMA // sorted, disjoint
	pages   map[uintptr][]byte
	calls   []mm.MMapOpts

	brk              uintptr
	argStart, argEnd uintptr
	envStart, envEnd uintptr
	auxv             []uint64
	exe              string
}

func newFakeMemory() *fakeMemory {
	return &fakeMemory{maxAddr: fakeMaxAddr, pages: map[uintptr][]byte{}}
}

var _ Memory = (*fakeMemory)(nil)

func (m *fakeMemory) MaxUserAddress() uintptr { return m.maxAddr }

func (m *fakeMemory) isFree(s, e uintptr) bool {
	for _, v := range m.vmas {
		if v.start < e && s < v.end {
			return false
		}
	}
	return true
}

func (m *fakeMemory) remove(s, e uintptr) {
	var out []fakeVMA
	for _, v := range m.vmas {
		if v.end <= s || e <= v.start {
			out = append(out, v)
			continue
		}
		if v.start < s {
			l := v
			l.end = s
			out = append(out, l)
		}
		if e < v.end {
			r := v
			r.opts.Offset += uint64(e - v.start)
			r.start = e
			out = append(out, r)
		}
	}
	m.vmas = out
	for a := range m.pages {
		if a >= s && a < e {
			delete(m.pages, a)
		}
	}
}

// MMap mimics mm.MemoryManager.MMap's argument checks and placement.
func (m *fakeMemory) MMap(o mm.MMapOpts) (uintptr, error) {
	m.calls = append(m.calls, o)
	if o.Length == 0 {
		return 0, unix.EINVAL
	}
	length := pageRoundUp(o.Length)
	if length < o.Length || length > m.maxAddr {
		return 0, unix.ENOMEM
	}
	if o.Offset%hostarch.PageSize != 0 {
		return 0, unix.EINVAL
	}
	if o.MaxPerms == (hostarch.AccessType{}) {
		o.MaxPerms = hostarch.AnyAccess
	}
	if !o.MaxPerms.SupersetOf(o.Perms) {
		return 0, unix.EACCES
	}
	var addr uintptr
	if o.Fixed {
		addr = o.Addr
		if addr%hostarch.PageSize != 0 {
			return 0, unix.EINVAL
		}
		if addr < minUserAddress || addr+length > m.maxAddr || addr+length < addr {
			return 0, unix.ENOMEM
		}
		if o.NoReplace {
			if !m.isFree(addr, addr+length) {
				return 0, unix.EEXIST
			}
		} else {
			m.remove(addr, addr+length)
		}
	} else {
		// Top-down below a gap under the stack.
		end := m.maxAddr - 256<<20
		found := false
		for i := len(m.vmas) - 1; i >= -1; i-- {
			gapStart := uintptr(minUserAddress)
			if i >= 0 {
				if m.vmas[i].start >= end {
					continue
				}
				gapStart = max(m.vmas[i].end, minUserAddress)
			}
			if end > gapStart && end-gapStart >= length {
				addr, found = end-length, true
				break
			}
			if i >= 0 {
				end = m.vmas[i].start
			}
		}
		if !found {
			return 0, unix.ENOMEM
		}
	}
	o.Addr, o.Length = addr, length
	m.vmas = append(m.vmas, fakeVMA{start: addr, end: addr + length, opts: o})
	sort.Slice(m.vmas, func(i, j int) bool { return m.vmas[i].start < m.vmas[j].start })
	return addr, nil
}

func (m *fakeMemory) vmaAt(a uintptr) *fakeVMA {
	for i := range m.vmas {
		if m.vmas[i].start <= a && a < m.vmas[i].end {
			return &m.vmas[i]
		}
	}
	return nil
}

// page returns the writable contents of the page at a (page aligned).
func (m *fakeMemory) page(a uintptr) ([]byte, error) {
	if p, ok := m.pages[a]; ok {
		return p, nil
	}
	v := m.vmaAt(a)
	if v == nil {
		return nil, unix.EFAULT
	}
	p := make([]byte, hostarch.PageSize)
	if v.opts.Mappable != nil {
		if _, err := v.opts.Mappable.ReadAt(p, int64(v.opts.Offset+uint64(a-v.start))); err != nil && err != io.EOF {
			return nil, err
		}
	}
	m.pages[a] = p
	return p, nil
}

func (m *fakeMemory) access(addr uintptr, n int, fn func(page []byte, done int)) error {
	done := 0
	for done < n {
		a := addr + uintptr(done)
		p, err := m.page(pageRoundDown(a))
		if err != nil {
			return err
		}
		off := int(a % hostarch.PageSize)
		k := min(n-done, hostarch.PageSize-off)
		fn(p[off:off+k], done)
		done += k
	}
	return nil
}

func (m *fakeMemory) CopyOut(addr uintptr, src []byte) (int, error) {
	err := m.access(addr, len(src), func(p []byte, done int) { copy(p, src[done:]) })
	return len(src), err
}

func (m *fakeMemory) CopyIn(addr uintptr, dst []byte) (int, error) {
	err := m.access(addr, len(dst), func(p []byte, done int) { copy(dst[done:], p) })
	return len(dst), err
}

func (m *fakeMemory) ZeroOut(addr, n uintptr) error {
	return m.access(addr, int(n), func(p []byte, _ int) { clear(p) })
}

func (m *fakeMemory) SetBrkStart(a uintptr)     { m.brk = a }
func (m *fakeMemory) SetArgv(s, e uintptr)      { m.argStart, m.argEnd = s, e }
func (m *fakeMemory) SetEnv(s, e uintptr)       { m.envStart, m.envEnd = s, e }
func (m *fakeMemory) SetAuxv(auxv []uint64)     { m.auxv = auxv }
func (m *fakeMemory) SetExecutable(path string) { m.exe = path }

// read returns n bytes at addr or fails the test.
func (m *fakeMemory) read(t testing.TB, addr uintptr, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := m.CopyIn(addr, b); err != nil {
		t.Fatalf("reading %d bytes at %#x: %v", n, addr, err)
	}
	return b
}

func (m *fakeMemory) u64(t testing.TB, addr uintptr) uint64 {
	t.Helper()
	b := m.read(t, addr, 8)
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// cstring reads a NUL-terminated string at addr.
func (m *fakeMemory) cstring(t testing.TB, addr uintptr) string {
	t.Helper()
	var s []byte
	for {
		b := m.read(t, addr+uintptr(len(s)), 1)
		if b[0] == 0 {
			return string(s)
		}
		s = append(s, b[0])
		if len(s) > 1<<20 {
			t.Fatalf("unterminated string at %#x", addr)
		}
	}
}

func (m *fakeMemory) dump() string {
	var b bytes.Buffer
	for _, v := range m.vmas {
		fmt.Fprintf(&b, "%#x-%#x %v file=%v off=%#x name=%q\n", v.start, v.end, v.opts.Perms, v.opts.Mappable != nil, v.opts.Offset, v.opts.Name)
	}
	return b.String()
}

// memFile is an in-memory File; its Mappable is a separate object so that
// mappings outlive Close, as the contract requires.
type memFile struct {
	data   []byte
	closed *int // incremented on Close
	name   string
}

type memMappable struct {
	data []byte
	name string
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(f.data).ReadAt(p, off)
}

func (f *memFile) Mappable() (mm.Mappable, error) {
	return &memMappable{data: f.data, name: f.name}, nil
}

func (f *memFile) Close() error {
	if f.closed != nil {
		*f.closed++
	}
	return nil
}

func (mp *memMappable) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(mp.data).ReadAt(p, off)
}

func (mp *memMappable) WriteAt(p []byte, off int64) (int, error) { return 0, unix.EACCES }

func (mp *memMappable) MappingIdentity() (dev, ino uint64, path string) { return 0, 0, mp.name }

// fileSystem serves Open from in-memory files, falling back to host files
// for absolute paths not in the map.
type fileSystem struct {
	files           map[string][]byte
	host            bool
	opened, closedN int
}

func (fs *fileSystem) open(path string) (File, string, error) {
	data, ok := fs.files[path]
	if !ok {
		if !fs.host || path == "" || path[0] != '/' {
			return nil, "", unix.ENOENT
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, "", unix.ENOENT
			}
			return nil, "", unix.EACCES
		}
		data = b
	}
	fs.opened++
	return &memFile{data: data, closed: &fs.closedN, name: path}, path, nil
}
