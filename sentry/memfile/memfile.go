// Package memfile owns the sandbox's physical memory: one memfd whose pages
// are the only memory application code ever touches.
//
// Every application page is a page-sized range of the memory file. The
// sentry maps the whole file once into its own address space and reads and
// writes application memory through that mapping (never through ptrace
// words or process_vm_readv). Platforms map ranges of the same file into the
// application's address space: the ptrace platform maps them into its stub
// processes, the KVM platform makes the file the guest's physical memory.
//
// Pages are handed out by a frame allocator over the file (a bitmap of free
// frames with a roving hint, so consecutive allocations come out contiguous
// and a fault-around of several pages is one host mmap). Each frame carries a
// reference count: a page shared copy-on-write between address spaces, or
// mapped shared by two processes, is one frame with several references.
// When the last reference goes, the frame is punched out of the file
// (fallocate PUNCH_HOLE), which both releases its host memory and guarantees
// that the next user of that frame reads zeros. The punch comes before the
// frame is marked free, so it can never erase what a next user wrote.
//
// Warm frames: up to warmMax freed frames are zeroed in place by the sentry
// instead of punched, and Allocate hands them out before any other free
// frame. A punched frame costs a fallocate when freed and a host page fault
// (the host allocates, zeroes and charges a page) at its next user's first
// touch; a fork that copies a few dozen pages for its parent and a child
// that exits at once paid that for every page, more than the copy itself.
// A warm frame is zero like a punched one, so the guarantee is the same;
// the cost is at most warmMax frames of host memory held while free.
//
// Reclaim hooks: the zone (package kswapd) keeps a descriptor per frame and
// must forget a frame before anybody can allocate it again. SetFreeHook
// installs a function DecRef calls, with MemoryFile.mu held, for every run
// of frames whose last reference went; SetFreedNotify installs one called
// after the lock is released (and the frames punched), to wake whoever waits
// for free memory. AllocateAbove is Allocate that refuses to take free memory
// below a reserve, checked under the same lock as the allocation.
//
// Locking: MemoryFile.mu protects the bitmap, the reference counts and the
// statistics. Only the free hook is called with it held, and that hook may
// take only leaf locks (the zone's LRU lock); everything else is called
// with no lock held. Lock order: MemoryFile.mu -> kswapd zone LRU lock.
package memfile

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// PageSize is the size of one frame of the memory file.
const PageSize = 4096

// FileRange is a page-aligned range [Start, End) of offsets in the memory file.
type FileRange struct {
	Start uint64
	End   uint64
}

// Length returns the number of bytes in the range.
func (fr FileRange) Length() uint64 { return fr.End - fr.Start }

// Pages returns the number of pages in the range.
func (fr FileRange) Pages() uint64 { return (fr.End - fr.Start) / PageSize }

func (fr FileRange) String() string { return fmt.Sprintf("[%#x, %#x)", fr.Start, fr.End) }

// ErrNoMemory is returned by Allocate when the file has no free frames left.
// Callers above the allocator turn it into reclaim or ENOMEM.
var ErrNoMemory = fmt.Errorf("memory file exhausted")

// MemoryFile is the sandbox's physical memory.
type MemoryFile struct {
	fd      int
	mapping []byte // the whole file, mapped shared into the sentry
	frames  uint64 // total frames

	mu sync.Mutex
	// used is a bitmap of the frames in use: bit set = frame in use.
	// Zero for a free frame, so that the bitmap of a new file is the Go
	// heap's fresh zeroed memory, untouched: one of free frames (bit set
	// = free) had to be filled with ones, 32 host page faults for the
	// default 4 GiB file at every sandbox's start (~0.3 ms here); the
	// words are now first touched when an allocation looks at them.
	used []uint64
	refs []int32 // reference count per frame; 0 for a free frame
	// released is set by Release: references dropped after it (a GC
	// cleanup of pages that outlived the sandbox, sentry/mm's
	// WithNewPage) are ignored instead of touching a closed file.
	released bool
	hint     uint64 // next frame to start searching from
	// warm is a bitmap of free frames that are zeroed but still hold
	// host memory (a subset of free); nWarm counts them plus the frames
	// a DecRef is zeroing to add to it, at most warmMax; warmHint is
	// where Allocate's search of warm starts, and [warmLo, warmHi) the
	// frames it searches, which hold every warm frame (a search that
	// fails must not scan the whole file's bitmap).
	warm     []uint64
	nWarm    uint64
	warmMax  uint64
	warmHint uint64
	warmLo   uint64
	warmHi   uint64
	inUse    atomic.Uint64 // frames with refs > 0; written under mu, read anywhere

	freed atomic.Uint64 // frames freed since creation

	freeHook    func(FileRange) // called under mu for each run of freed frames
	freedNotify func(uint64)    // called without mu after frames were freed
}

// New creates a memory file of size bytes (rounded down to whole pages).
// The file is sparse: host memory is used only by frames that are in use.
func New(size uint64) (*MemoryFile, error) {
	frames := size / PageSize
	if frames == 0 {
		return nil, fmt.Errorf("memory file size %d is smaller than a page", size)
	}
	fd, err := unix.MemfdCreate("runsc-lite-memory", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(frames*PageSize)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sizing the memory file to %d bytes: %w", frames*PageSize, err)
	}
	m, err := unix.Mmap(fd, 0, int(frames*PageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mapping the memory file into the sentry: %w", err)
	}
	f := &MemoryFile{
		fd:      fd,
		mapping: m,
		frames:  frames,
		used:    make([]uint64, (frames+63)/64),
		warm:    make([]uint64, (frames+63)/64),
		warmMax: min(frames/16, warmFramesMax),
		warmLo:  frames,
		refs:    make([]int32, frames),
	}
	// Every frame free: used is all zeroes (the bits past the last frame
	// too; findRun never looks beyond f.frames).
	return f, nil
}

// warmFramesMax bounds the freed frames kept resident for reuse (8 MiB):
// a fork+exec's worth of pages several times over, little next to what
// the sandbox's programs hold while they run.
const warmFramesMax = 2048

// FD returns the memfd. Platforms map ranges of it; they must not close it.
func (f *MemoryFile) FD() int { return f.fd }

// Size returns the file's size in bytes.
func (f *MemoryFile) Size() uint64 { return f.frames * PageSize }

// TotalPages returns the number of frames in the file.
func (f *MemoryFile) TotalPages() uint64 { return f.frames }

// UsedPages returns the number of frames currently referenced. It does not
// block (one atomic load).
func (f *MemoryFile) UsedPages() uint64 {
	return f.inUse.Load()
}

// FreePages returns the number of frames currently free. It does not block.
func (f *MemoryFile) FreePages() uint64 {
	return f.frames - f.inUse.Load()
}

// FreedPages returns how many frames have been freed since the file was
// created: a counter that waiters for free memory compare before and after
// they sleep. It does not block.
func (f *MemoryFile) FreedPages() uint64 {
	return f.freed.Load()
}

// SetFreeHook installs fn, which DecRef calls for every run of frames whose
// last reference went, with f.mu held: the frames are free, and nobody can
// allocate them again before fn returns. fn must not block and may take
// only leaf locks; it must not call back into f. nil removes the hook.
// Call it before the file is shared between goroutines (at boot).
func (f *MemoryFile) SetFreeHook(fn func(fr FileRange)) {
	f.mu.Lock()
	f.freeHook = fn
	f.mu.Unlock()
}

// SetFreedNotify installs fn, which DecRef calls with the number of frames
// it freed, after releasing f.mu and punching them out of the file. fn
// must not block. nil removes it. Call it at boot, as SetFreeHook.
func (f *MemoryFile) SetFreedNotify(fn func(pages uint64)) {
	f.mu.Lock()
	f.freedNotify = fn
	f.mu.Unlock()
}

// Allocate returns a contiguous range of npages zeroed frames, each with one
// reference. It returns ErrNoMemory when no run of npages free frames exists.
// It does not block.
func (f *MemoryFile) Allocate(npages uint64) (FileRange, error) {
	return f.AllocateAbove(npages, 0)
}

// AllocateAbove is Allocate that also fails with ErrNoMemory when taking
// the frames would leave fewer than keepFree frames free (the zone's
// watermark check, done under the allocator's lock so that concurrent
// allocations cannot both pass it). It does not block.
func (f *MemoryFile) AllocateAbove(npages, keepFree uint64) (FileRange, error) {
	if npages == 0 {
		return FileRange{}, fmt.Errorf("allocate of zero pages")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if free := f.frames - f.inUse.Load(); free < npages || free-npages < keepFree {
		return FileRange{}, ErrNoMemory
	}
	// Warm frames first: no host page fault at their first touch.
	start, ok := uint64(0), false
	if f.nWarm >= npages {
		from := max(f.warmHint, f.warmLo)
		start, ok = findRun(f.warm, false, from, f.warmHi, npages)
		if !ok && from > f.warmLo {
			start, ok = findRun(f.warm, false, f.warmLo, f.warmHi, npages)
		}
		if ok {
			f.warmHint = start + npages
			if f.warmHint >= f.frames {
				f.warmHint = 0
			}
		}
	}
	if !ok {
		start, ok = findRun(f.used, true, f.hint, f.frames, npages)
		if !ok {
			start, ok = findRun(f.used, true, 0, f.frames, npages)
		}
		if !ok {
			return FileRange{}, ErrNoMemory
		}
		f.hint = start + npages
		if f.hint >= f.frames {
			f.hint = 0
		}
	}
	for i := start; i < start+npages; i++ {
		f.used[i/64] |= 1 << (i % 64)
		if f.warm[i/64]&(1<<(i%64)) != 0 {
			f.warm[i/64] &^= 1 << (i % 64)
			f.nWarm--
			if f.nWarm == 0 {
				// None left, and none being zeroed.
				f.warmLo, f.warmHi = f.frames, 0
			}
		}
		f.refs[i] = 1
	}
	f.inUse.Add(npages)
	return FileRange{Start: start * PageSize, End: (start + npages) * PageSize}, nil
}

// findRun finds npages consecutive set bits of bitmap bm in [from, to),
// or with clear, consecutive clear bits: free frames in f.used (clear),
// warm ones in f.warm.
func findRun(bm []uint64, clear bool, from, to, npages uint64) (uint64, bool) {
	var flip uint64
	if clear {
		flip = ^uint64(0)
	}
	i := from
	for i+npages <= to {
		w := (bm[i/64] ^ flip) >> (i % 64)
		if w == 0 {
			// No set bit in the rest of this word: skip it.
			i = (i/64 + 1) * 64
			continue
		}
		i += uint64(bits.TrailingZeros64(w))
		if i+npages > to {
			return 0, false
		}
		run := uint64(0)
		for run < npages && (bm[(i+run)/64]^flip)&(1<<((i+run)%64)) != 0 {
			run++
		}
		if run == npages {
			return i, true
		}
		i += run + 1
	}
	return 0, false
}

func (f *MemoryFile) isFreeLocked(frame uint64) bool {
	return f.used[frame/64]&(1<<(frame%64)) == 0
}

// IncRef adds a reference to every frame of fr.
// Preconditions: every frame of fr is in use.
func (f *MemoryFile) IncRef(fr FileRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := fr.Start / PageSize; i < fr.End/PageSize; i++ {
		if f.refs[i] <= 0 {
			panic(fmt.Sprintf("memfile: IncRef of free frame %d", i))
		}
		f.refs[i]++
	}
}

// IncRefFrames adds a reference to the frame at each offset of frames (in
// any order, repeats allowed) under one lock: IncRef of each.
// Preconditions: every frame is in use.
func (f *MemoryFile) IncRefFrames(frames []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, off := range frames {
		i := off / PageSize
		if f.refs[i] <= 0 {
			panic(fmt.Sprintf("memfile: IncRef of free frame %d", i))
		}
		f.refs[i]++
	}
}

// RefCount returns the reference count of the frame holding offset off.
func (f *MemoryFile) RefCount(off uint64) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refs[off/PageSize]
}

// DecRef drops a reference to every frame of fr. Frames whose last reference
// goes are freed: they are zeroed first — kept warm and cleared in place
// while fewer than warmMax frames are, otherwise punched out of the file,
// which releases their host memory — and only then marked free (under f.mu
// again, where the free hook runs), so no new user of a frame can write to
// it before the zeroing. It does not block beyond the punch.
func (f *MemoryFile) DecRef(fr FileRange) {
	f.DecRefRanges([]FileRange{fr})
}

// DecRefRanges is DecRef of every range of rs, with one lock and one punch
// per run of adjacent freed frames across all of them: an address space
// torn down at exit gives back hundreds of thousands of frames in a few
// host calls instead of one fallocate each. rs sorted by Start (as
// DecRefFrames makes them) gives the longest runs.
func (f *MemoryFile) DecRefRanges(rs []FileRange) {
	f.mu.Lock()
	if f.released {
		f.mu.Unlock()
		return
	}
	var punch []FileRange
	for _, fr := range rs {
		for i := fr.Start / PageSize; i < fr.End/PageSize; i++ {
			if f.refs[i] <= 0 {
				f.mu.Unlock()
				panic(fmt.Sprintf("memfile: DecRef of free frame %d", i))
			}
			f.refs[i]--
			if f.refs[i] == 0 {
				// Nobody may take a reference to a frame at 0
				// (IncRef panics) and Allocate does not see it
				// until it is marked free below: it is ours
				// until then.
				off := i * PageSize
				if n := len(punch); n > 0 && punch[n-1].End == off {
					punch[n-1].End += PageSize
				} else {
					punch = append(punch, FileRange{off, off + PageSize})
				}
			}
		}
	}
	if len(punch) == 0 {
		f.mu.Unlock()
		return
	}
	// The first runs that fit under warmMax stay resident (zeroed here,
	// marked warm below); the rest are punched. keep[i] is how many
	// leading pages of punch[i] stay.
	keep := make([]uint64, len(punch))
	for i, r := range punch {
		n := min(r.Pages(), f.warmMax-f.nWarm)
		keep[i] = n
		f.nWarm += n
	}
	f.mu.Unlock()
	for i, r := range punch {
		kept := r.Start + keep[i]*PageSize
		clear(f.mapping[r.Start:kept])
		if kept == r.End {
			continue
		}
		// Punching releases host memory and zeroes the frames for their
		// next user. If the host refuses, zero by hand so the
		// zero-on-allocate guarantee still holds.
		if err := unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(kept), int64(r.End-kept)); err != nil {
			clear(f.mapping[kept:r.End])
		}
	}
	var freed uint64
	f.mu.Lock()
	for k, r := range punch {
		for i := r.Start / PageSize; i < r.End/PageSize; i++ {
			f.used[i/64] &^= 1 << (i % 64)
			if i-r.Start/PageSize < keep[k] {
				f.warm[i/64] |= 1 << (i % 64)
				f.warmLo, f.warmHi = min(f.warmLo, i), max(f.warmHi, i+1)
			}
		}
		freed += r.Pages()
		if f.freeHook != nil {
			f.freeHook(r)
		}
	}
	f.inUse.Add(-freed)
	f.freed.Add(freed)
	notify := f.freedNotify
	f.mu.Unlock()
	if notify != nil {
		notify(freed)
	}
}

// DecRefFrames drops one reference to the frame at each offset of frames
// (in any order, repeats allowed): DecRefRanges over the sorted offsets
// gathered into runs. frames is sorted in place.
func (f *MemoryFile) DecRefFrames(frames []uint64) {
	if len(frames) == 0 {
		return
	}
	slices.Sort(frames)
	var rs []FileRange
	for _, off := range frames {
		if n := len(rs); n > 0 && rs[n-1].End == off {
			rs[n-1].End += PageSize
			continue
		}
		rs = append(rs, FileRange{off, off + PageSize})
	}
	f.DecRefRanges(rs)
}

// Slice returns the sentry's view of fr. Writes through it are writes to
// application memory. The slice is valid for as long as the caller holds a
// reference on the frames.
func (f *MemoryFile) Slice(fr FileRange) []byte {
	return f.mapping[fr.Start:fr.End:fr.End]
}

// Release unmaps and closes the file. Preconditions: nothing uses it but
// references that may still be dropped (DecRef then does nothing).
func (f *MemoryFile) Release() {
	f.mu.Lock()
	f.released = true
	f.mu.Unlock()
	unix.Munmap(f.mapping)
	unix.Close(f.fd)
}
