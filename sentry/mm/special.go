package mm

import (
	"runtime"
	"slices"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

// SpecialPages are frames of the memory file that the sentry owns and
// maps into address spaces as they are, Linux's special mappings: the
// vDSO's image and its parameter page (sentry/vdso). A mapping of them
// (MMapOpts.Special) is private, never writable (not even by mprotect:
// MaxPerms has no write; a forced write — a debugger's poke — is EFAULT),
// and its pages are never reclaimed: they are unevictable frames the
// SpecialPages hold one reference on for the life of the sandbox. Every
// address space maps the same frames; fork keeps them. A copy made by
// WithNewPage shares all but one of its frames with the original and
// holds its own references, dropped once no mapping uses it.
type SpecialPages struct {
	mf *memfile.MemoryFile
	fr memfile.FileRange
	// frames, when set, are the pages' frames one by one (WithNewPage),
	// in place of fr.
	frames []uint64
}

// NewSpecialPages allocates n zeroed pages from z (unevictable).
func NewSpecialPages(z *kswapd.Zone, n uint64) (*SpecialPages, error) {
	fr, err := z.Allocate(n, kswapd.Unevictable, nil, 0)
	if err != nil {
		return nil, err
	}
	return &SpecialPages{mf: z.MemoryFile(), fr: fr}, nil
}

// Bytes returns the sentry's view of the pages: writes through it are
// seen by every mapping at once. Only for NewSpecialPages's pages.
func (s *SpecialPages) Bytes() []byte { return s.mf.Slice(s.fr) }

// Size returns the size of the pages in bytes.
func (s *SpecialPages) Size() uint64 {
	if s.frames != nil {
		return uint64(len(s.frames)) * PageSize
	}
	return s.fr.Length()
}

// frameOf returns the frame at offset off (page-aligned) of the pages.
func (s *SpecialPages) frameOf(off uint64) uint64 {
	if s.frames != nil {
		return s.frames[off/PageSize]
	}
	return s.fr.Start + off
}

// WritePage lets fn write page i of the pages (a WithNewPage copy's own
// page, before any mapping uses it).
func (s *SpecialPages) WritePage(i uint64, fn func([]byte)) {
	f := s.frameOf(i * PageSize)
	fn(s.mf.Slice(frameRange(f)))
}

// WithNewPage returns pages that are s's but for page i, a new zeroed
// unevictable frame from z that fill writes (the vDSO's page of a time
// namespace). The copy's frames are referenced as long as the copy is
// reachable (mapped, or held by its maker).
func (s *SpecialPages) WithNewPage(z *kswapd.Zone, i uint64, fill func([]byte)) (*SpecialPages, error) {
	fr, err := z.Allocate(1, kswapd.Unevictable, nil, 0)
	if err != nil {
		return nil, err
	}
	fill(s.mf.Slice(fr))
	n := s.Size() / PageSize
	c := &SpecialPages{mf: s.mf, frames: make([]uint64, n)}
	for p := range n {
		if p == i {
			c.frames[p] = fr.Start
			continue
		}
		c.frames[p] = s.frameOf(p * PageSize)
		s.mf.IncRef(frameRange(c.frames[p]))
	}
	runtime.AddCleanup(c, func(frames []uint64) {
		s.mf.DecRefFrames(frames)
	}, slices.Clone(c.frames))
	return c, nil
}

// populateSpecialLocked maps [ws, we) of v (a mapping of SpecialPages) to
// its frames, one reference per pte.
func (m *MemoryManager) populateSpecialLocked(v *vma, pa, ws, we uintptr) *pte {
	for a := ws; a < we; a += PageSize {
		if m.pages[a] != nil {
			continue
		}
		f := v.special.frameOf(v.offsetOf(a))
		m.mf.IncRef(frameRange(f))
		m.pages[a] = &pte{frame: f, cow: true}
	}
	return m.pages[pa]
}

// ReplaceSpecial makes every mapping of from in m map to instead (the
// same size), dropping the pages already populated so that the next
// touch maps to's: how a process that enters another time namespace gets
// the vDSO pages of that namespace (sentry/vdso), as Linux's
// vdso_join_timens zaps the vvar pages. Mappings that were moved or
// partly unmapped keep their offsets into the pages.
func (m *MemoryManager) ReplaceSpecial(from, to *SpecialPages) {
	if from == to || from == nil || to == nil || from.Size() != to.Size() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.vmas {
		if v.special != from {
			continue
		}
		v.special = to
		m.dropPagesLocked(v.start, v.end, m.as.get() != nil)
	}
}
