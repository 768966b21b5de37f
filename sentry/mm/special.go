package mm

import (
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
// address space maps the same frames; fork keeps them.
type SpecialPages struct {
	mf *memfile.MemoryFile
	fr memfile.FileRange
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
// seen by every mapping at once.
func (s *SpecialPages) Bytes() []byte { return s.mf.Slice(s.fr) }

// Size returns the size of the pages in bytes.
func (s *SpecialPages) Size() uint64 { return s.fr.Length() }

// populateSpecialLocked maps [ws, we) of v (a mapping of SpecialPages) to
// its frames, one reference per pte.
func (m *MemoryManager) populateSpecialLocked(v *vma, pa, ws, we uintptr) *pte {
	for a := ws; a < we; a += PageSize {
		if m.pages[a] != nil {
			continue
		}
		f := v.special.fr.Start + v.offsetOf(a)
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
