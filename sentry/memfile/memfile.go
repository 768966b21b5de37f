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
// that the next user of that frame reads zeros.
//
// Locking: MemoryFile.mu protects the bitmap, the reference counts and the
// statistics. It is a leaf lock: nothing is called with it held.
package memfile

import (
	"fmt"
	"math/bits"
	"sync"

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

	mu    sync.Mutex
	free  []uint64 // bitmap: bit set = frame free
	refs  []int32  // reference count per frame; 0 for a free frame
	hint  uint64   // next frame to start searching from
	inUse uint64   // frames with refs > 0
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
		free:    make([]uint64, (frames+63)/64),
		refs:    make([]int32, frames),
	}
	for i := uint64(0); i < frames; i++ {
		f.free[i/64] |= 1 << (i % 64)
	}
	return f, nil
}

// FD returns the memfd. Platforms map ranges of it; they must not close it.
func (f *MemoryFile) FD() int { return f.fd }

// Size returns the file's size in bytes.
func (f *MemoryFile) Size() uint64 { return f.frames * PageSize }

// TotalPages returns the number of frames in the file.
func (f *MemoryFile) TotalPages() uint64 { return f.frames }

// UsedPages returns the number of frames currently referenced.
func (f *MemoryFile) UsedPages() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inUse
}

// Allocate returns a contiguous range of npages zeroed frames, each with one
// reference. It returns ErrNoMemory when no run of npages free frames exists.
// It does not block.
func (f *MemoryFile) Allocate(npages uint64) (FileRange, error) {
	if npages == 0 {
		return FileRange{}, fmt.Errorf("allocate of zero pages")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	start, ok := f.findFreeLocked(f.hint, f.frames, npages)
	if !ok {
		start, ok = f.findFreeLocked(0, f.frames, npages)
	}
	if !ok {
		return FileRange{}, ErrNoMemory
	}
	for i := start; i < start+npages; i++ {
		f.free[i/64] &^= 1 << (i % 64)
		f.refs[i] = 1
	}
	f.inUse += npages
	f.hint = start + npages
	if f.hint >= f.frames {
		f.hint = 0
	}
	return FileRange{Start: start * PageSize, End: (start + npages) * PageSize}, nil
}

// findFreeLocked finds npages consecutive free frames in [from, to).
// Preconditions: f.mu is held.
func (f *MemoryFile) findFreeLocked(from, to, npages uint64) (uint64, bool) {
	i := from
	for i+npages <= to {
		w := f.free[i/64] >> (i % 64)
		if w == 0 {
			// No free frame in the rest of this word: skip it.
			i = (i/64 + 1) * 64
			continue
		}
		i += uint64(bits.TrailingZeros64(w))
		if i+npages > to {
			return 0, false
		}
		run := uint64(0)
		for run < npages && f.isFreeLocked(i+run) {
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
	return f.free[frame/64]&(1<<(frame%64)) != 0
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

// RefCount returns the reference count of the frame holding offset off.
func (f *MemoryFile) RefCount(off uint64) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refs[off/PageSize]
}

// DecRef drops a reference to every frame of fr. Frames whose last reference
// goes are freed and their host memory is released.
func (f *MemoryFile) DecRef(fr FileRange) {
	f.mu.Lock()
	var punch []FileRange
	for i := fr.Start / PageSize; i < fr.End/PageSize; i++ {
		if f.refs[i] <= 0 {
			f.mu.Unlock()
			panic(fmt.Sprintf("memfile: DecRef of free frame %d", i))
		}
		f.refs[i]--
		if f.refs[i] == 0 {
			f.free[i/64] |= 1 << (i % 64)
			f.inUse--
			off := i * PageSize
			if n := len(punch); n > 0 && punch[n-1].End == off {
				punch[n-1].End += PageSize
			} else {
				punch = append(punch, FileRange{off, off + PageSize})
			}
		}
	}
	f.mu.Unlock()
	for _, r := range punch {
		// Punching releases host memory and zeroes the frames for their
		// next user. If the host refuses, zero by hand so the
		// zero-on-allocate guarantee still holds.
		if err := unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(r.Start), int64(r.Length())); err != nil {
			clear(f.mapping[r.Start:r.End])
		}
	}
}

// Slice returns the sentry's view of fr. Writes through it are writes to
// application memory. The slice is valid for as long as the caller holds a
// reference on the frames.
func (f *MemoryFile) Slice(fr FileRange) []byte {
	return f.mapping[fr.Start:fr.End:fr.End]
}

// Release unmaps and closes the file. Preconditions: nothing uses it.
func (f *MemoryFile) Release() {
	unix.Munmap(f.mapping)
	unix.Close(f.fd)
}
