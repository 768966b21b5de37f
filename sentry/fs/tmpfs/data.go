package tmpfs

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
)

// File data lives in the sandbox's memory file.
//
// A regular file's contents are memory-file pages, one per written page
// (holes read as zeros and take nothing), allocated from the zone set with
// SetMemory as unevictable pages and counted as Shmem — Linux's tmpfs pages,
// minus swap. So what programs write to /tmp, /dev/shm or the root
// overlay's upper layer is bounded by --total-memory like the rest of the
// sandbox's memory, instead of growing the sentry's Go heap. As on Linux,
// all tmpfs instances together may hold at most half of the memory
// (tmpfs's default size=50%); beyond it writes fail with ENOSPC. A file's
// pages are freed when its last name and its last open description are
// gone (Inode.releaseIfUnused).
//
// An allocation below the zone's reserve does not reclaim in the writer
// (the writer may hold filesystem locks that reclaim's write-back needs):
// it wakes kswapd0 and waits for it for a bounded time, then fails with
// ENOSPC.

// pageSize is the unit of storage of file data.
const pageSize = memfile.PageSize

// memoryWait bounds how long a write waits for kswapd0 to free memory.
const memoryWait = time.Second

var memory struct {
	zone atomic.Pointer[kswapd.Zone]
	// pages counts the pages of every tmpfs; limit is half the zone.
	pages atomic.Int64

	// fallback is the private memory unit tests use when SetMemory was
	// never called.
	once     sync.Mutex
	fallback *kswapd.Zone
}

// SetMemory makes tmpfs store file data in z's memory file. Call it at
// boot, before the sandbox runs. It is process-wide: one sentry runs one
// sandbox.
func SetMemory(z *kswapd.Zone) { memory.zone.Store(z) }

// zone returns the zone file data comes from.
func zone() *kswapd.Zone {
	if z := memory.zone.Load(); z != nil {
		return z
	}
	memory.once.Lock()
	defer memory.once.Unlock()
	if memory.fallback == nil {
		mf, err := memfile.New(256 << 20)
		if err != nil {
			panic("tmpfs: no memory file for file data: " + err.Error())
		}
		z, err := kswapd.New(mf, kswapd.Config{})
		if err != nil {
			panic("tmpfs: " + err.Error())
		}
		memory.fallback = z
	}
	return memory.fallback
}

// limitPages is how many pages all tmpfs instances may hold together.
func limitPages(z *kswapd.Zone) int64 { return int64(z.TotalPages() / 2) }

// allocPage returns a zeroed page for file data, waiting a bounded time
// for kswapd0 when memory is short. Errors: ENOSPC.
func allocPage(z *kswapd.Zone) (uint64, error) {
	if memory.pages.Add(1) > limitPages(z) {
		memory.pages.Add(-1)
		return 0, unix.ENOSPC
	}
	deadline := time.Now().Add(memoryWait)
	for {
		fr, err := z.Allocate(1, kswapd.Unevictable, nil, 0)
		if err == nil {
			z.AddStat(kswapd.NrShmem, 1)
			return fr.Start, nil
		}
		if time.Now().After(deadline) {
			memory.pages.Add(-1)
			return 0, unix.ENOSPC
		}
		// Allocate woke kswapd0; give it a moment.
		time.Sleep(time.Millisecond)
	}
}

// freePage releases a page of file data.
func freePage(z *kswapd.Zone, off uint64) {
	z.MemoryFile().DecRef(memfile.FileRange{Start: off, End: off + pageSize})
	z.AddStat(kswapd.NrShmem, -1)
	memory.pages.Add(-1)
}

// fileData is the contents of a regular file: a size and the pages that
// were written. Not synchronized: the owning Inode's mu protects it.
type fileData struct {
	size  int64
	zone  *kswapd.Zone
	pages map[int64]uint64 // page index -> memory-file offset
}

// allocated returns the bytes of memory holding data.
func (d *fileData) allocated() int64 { return int64(len(d.pages)) * pageSize }

func (d *fileData) page(off uint64) []byte {
	return d.zone.MemoryFile().Slice(memfile.FileRange{Start: off, End: off + pageSize})
}

func (d *fileData) readAt(dst []byte, off int64) int {
	if off >= d.size {
		return 0
	}
	if rest := d.size - off; int64(len(dst)) > rest {
		dst = dst[:rest]
	}
	n := 0
	for n < len(dst) {
		pos := off + int64(n)
		idx, in := pos/pageSize, int(pos%pageSize)
		want := min(len(dst)-n, pageSize-in)
		if p, ok := d.pages[idx]; ok {
			copy(dst[n:n+want], d.page(p)[in:in+want])
		} else {
			clear(dst[n : n+want])
		}
		n += want
	}
	return n
}

// writeAt writes src at off and returns how much it wrote; it stops early
// with ENOSPC when no memory is left for a new page.
func (d *fileData) writeAt(src []byte, off int64) (int, error) {
	if d.pages == nil {
		d.pages = make(map[int64]uint64)
		d.zone = zone()
	}
	n := 0
	for n < len(src) {
		pos := off + int64(n)
		idx, in := pos/pageSize, int(pos%pageSize)
		want := min(len(src)-n, pageSize-in)
		p, ok := d.pages[idx]
		if !ok {
			var err error
			if p, err = allocPage(d.zone); err != nil {
				d.grow(off + int64(n))
				return n, err
			}
			d.pages[idx] = p
		}
		copy(d.page(p)[in:in+want], src[n:n+want])
		n += want
	}
	d.grow(off + int64(n))
	return n, nil
}

func (d *fileData) grow(end int64) {
	if end > d.size {
		d.size = end
	}
}

// truncate sets the size; bytes beyond it are dropped so that growing
// again reads zeros.
func (d *fileData) truncate(size int64) {
	if size < d.size {
		last := (size + pageSize - 1) / pageSize // first page wholly beyond
		for idx, p := range d.pages {
			if idx >= last {
				freePage(d.zone, p)
				delete(d.pages, idx)
			}
		}
		if in := size % pageSize; in != 0 {
			if p, ok := d.pages[size/pageSize]; ok {
				clear(d.page(p)[in:])
			}
		}
	}
	d.size = size
}

// release frees every page: the file is gone.
func (d *fileData) release() {
	for idx, p := range d.pages {
		freePage(d.zone, p)
		delete(d.pages, idx)
	}
	d.size = 0
}
