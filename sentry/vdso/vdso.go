// Package vdso is the sandbox's vDSO: a small ELF shared object built from
// src/vdso.c and src/vdso.lds (src/gen.sh; the built image vdso.so is checked in and
// embedded, with the compiler that built it in vdso.so.gcc, so building
// the sentry needs no C compiler; TestImageMatchesSource rebuilds it where
// gcc is present) and mapped into every process at exec, with its
// parameter page just below it and the process's time namespace page
// below that: "[vvar]" (two pages) then "[vdso]" in /proc/PID/maps, the
// image's address in the auxiliary vector as AT_SYSINFO_EHDR.
//
// Its functions (__vdso_clock_gettime, __vdso_gettimeofday, __vdso_time,
// __vdso_clock_getres, __vdso_getcpu and their unversioned aliases, all of
// version LINUX_2.6, the names glibc, musl and Go's runtime look up) serve
// the clocks from the parameter page (timekeeper.Params, kept by the
// timekeeper) without a trap, and fall back to the syscall instruction —
// trapped by the platform and served by the sentry from the same formula
// — for the clocks the page does not serve, whenever the page is not valid
// (not yet calibrated, no usable TSC, a platform whose programs do not
// read the host's TSC), and always for getcpu (the sandbox CPU is the
// sentry's to know).
//
// One VDSO per sandbox: its pages are mm.SpecialPages shared by every
// address space. It holds no lock; the timekeeper serialises writes to the
// page.
package vdso

import (
	"bytes"
	"debug/elf"
	_ "embed"
	"encoding/binary"
	"fmt"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/loader"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/timekeeper"
	"gvisor.dev/gvisor/pkg/hostarch"
)

//go:generate src/gen.sh

//go:embed vdso.so
var image []byte

// The pages below the image ([vvar]): the time namespace page, then the
// parameter page right below the image (vdso.lds's vvar_timens and
// vvar_params).
const (
	timensPage = 0
	paramPage  = 1
	paramPages = 2
)

// VDSO is the sandbox's vDSO: its two [vvar] pages followed by the image.
// The time namespace page holds the CLOCK_MONOTONIC and CLOCK_BOOTTIME
// offsets the vDSO adds (struct vdso_timens in src/vdso.c): zero in
// pages, which processes in the sandbox's first time namespace map; a
// process in another namespace maps that namespace's copy
// (TimeNSPages), which differs only in that page. Offsets are fixed
// before any process maps a copy, so the page needs no sequence count.
type VDSO struct {
	zone       *kswapd.Zone
	pages      *mm.SpecialPages
	imagePages uint64
}

// New allocates the vDSO's pages from z, copies the image in and attaches
// the parameter page to clock. fast says whether programs on this
// platform read the same TSC as the sentry (ptrace: yes; KVM: no, its
// guests read an offset TSC): without it the page is never valid and every
// call falls back to the syscall.
func New(z *kswapd.Zone, clock *timekeeper.Clock, fast bool) (*VDSO, error) {
	if err := checkImage(image); err != nil {
		return nil, err
	}
	n := (uint64(len(image)) + mm.PageSize - 1) / mm.PageSize
	pages, err := mm.NewSpecialPages(z, paramPages+n)
	if err != nil {
		return nil, fmt.Errorf("vdso: allocating %d pages: %w", paramPages+n, err)
	}
	b := pages.Bytes()
	copy(b[paramPages*mm.PageSize:], image)
	clock.Attach(b[paramPage*mm.PageSize:(paramPage+1)*mm.PageSize], fast)
	return &VDSO{zone: z, pages: pages, imagePages: n}, nil
}

// TimeNSPages returns the pages a process in a time namespace with
// offsets mono and boot (nanoseconds) maps; nil for a nil VDSO. The
// error is ENOMEM-like: no page could be allocated.
func (v *VDSO) TimeNSPages(mono, boot int64) (*mm.SpecialPages, error) {
	if v == nil {
		return nil, nil
	}
	return v.pages.WithNewPage(v.zone, timensPage, func(b []byte) { putTimeNSOffsets(b, mono, boot) })
}

// SetTimeNSOffsets rewrites the offsets of pages (TimeNSPages's) before any
// process maps them (/proc/PID/timens_offsets).
func SetTimeNSOffsets(pages *mm.SpecialPages, mono, boot int64) {
	if pages != nil {
		pages.WritePage(timensPage, func(b []byte) { putTimeNSOffsets(b, mono, boot) })
	}
}

// putTimeNSOffsets fills struct vdso_timens.
func putTimeNSOffsets(b []byte, mono, boot int64) {
	binary.LittleEndian.PutUint64(b[0:], uint64(mono))
	binary.LittleEndian.PutUint64(b[8:], uint64(boot))
}

// checkImage verifies what the mapping relies on: an x86-64 shared object
// linked at 0 with one loadable segment and no relocations to apply.
func checkImage(img []byte) error {
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return fmt.Errorf("vdso: embedded image: %w", err)
	}
	if f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("vdso: embedded image is %v for %v", f.Type, f.Machine)
	}
	loads := 0
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			loads++
			if p.Vaddr != 0 || p.Off != 0 || p.Flags&elf.PF_W != 0 {
				return fmt.Errorf("vdso: embedded image's segment at %#x (offset %#x, flags %v)", p.Vaddr, p.Off, p.Flags)
			}
		}
	}
	if loads != 1 {
		return fmt.Errorf("vdso: embedded image has %d loadable segments", loads)
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_RELA || s.Type == elf.SHT_REL {
			return fmt.Errorf("vdso: embedded image has relocations (%s)", s.Name)
		}
	}
	return nil
}

// Mapper is the part of a memory manager Map needs.
type Mapper interface {
	MMap(opts mm.MMapOpts) (uintptr, error)
}

// Map maps the parameter page ("[vvar]", read-only) and the image
// ("[vdso]", read and execute) next to each other into m, and returns the
// image's address (AT_SYSINFO_EHDR).
func (v *VDSO) Map(m Mapper) (uintptr, error) { return v.mapPages(m, v.pages) }

// pagesFor returns the pages of a time namespace (TimeNSPages's; nil for
// the sandbox's first).
func (v *VDSO) pagesFor(ns *mm.SpecialPages) *mm.SpecialPages {
	if ns == nil {
		return v.pages
	}
	return ns
}

// EnterTimeNS makes m's vDSO mappings those of time namespace to instead
// of from (TimeNSPages's; nil for the sandbox's first namespace): a fork
// into a namespace, setns. The pages already touched are dropped, and the
// next touch maps the other copy. Nothing for a nil VDSO.
func (v *VDSO) EnterTimeNS(m *mm.MemoryManager, from, to *mm.SpecialPages) {
	if v == nil {
		return
	}
	m.ReplaceSpecial(v.pagesFor(from), v.pagesFor(to))
}

func (v *VDSO) mapPages(m Mapper, pages *mm.SpecialPages) (uintptr, error) {
	// The whole span first, as the parameter page's mapping, so that
	// the image's place above it is free; then the image over its part.
	base, err := m.MMap(mm.MMapOpts{
		Length:  uintptr(paramPages+v.imagePages) * mm.PageSize,
		Perms:   hostarch.Read,
		Private: true,
		Special: pages,
		Name:    "[vvar]",
	})
	if err != nil {
		return 0, err
	}
	img, err := m.MMap(mm.MMapOpts{
		Addr:    base + paramPages*mm.PageSize,
		Length:  uintptr(v.imagePages) * mm.PageSize,
		Fixed:   true,
		Perms:   hostarch.ReadExecute,
		Private: true,
		Special: pages,
		Offset:  paramPages * mm.PageSize,
		Name:    "[vdso]",
	})
	if err != nil {
		return 0, err
	}
	return img, nil
}

// ForLoader returns what loader.LoadArgs.MapVDSO takes: Map, or nil for a
// nil VDSO (none mapped).
func (v *VDSO) ForLoader() func(loader.Memory) (uintptr, error) { return v.ForLoaderIn(nil) }

// ForLoaderIn is ForLoader for a process that will be in the time
// namespace whose pages are timens (TimeNSPages's; nil for the sandbox's
// first).
func (v *VDSO) ForLoaderIn(timens *mm.SpecialPages) func(loader.Memory) (uintptr, error) {
	if v == nil {
		return nil
	}
	return func(m loader.Memory) (uintptr, error) { return v.mapPages(m, v.pagesFor(timens)) }
}
