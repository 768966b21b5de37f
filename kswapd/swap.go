package kswapd

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
)

// ErrBadSlot is returned by In for a slot that is not in use.
var ErrBadSlot = errors.New("kswapd: swap slot not in use")

// errSwapClosed is returned after Stop released the swap file.
var errSwapClosed = errors.New("kswapd: swap is off")

// Swap is the swap file: page-sized slots on the host's disk.
//
// The file is an unlinked host file (O_TMPFILE) of SwapSize bytes; slot s
// (1, 2, ...; 0 means "no slot") is the page at offset (s-1)*PageSize.
// Slots are handed out from a bitmap with a roving hint and carry a
// reference count: a swap entry copied into a child by fork is one slot
// referenced twice.
//
// Locking: Swap.mu protects the bitmap, the counts and the hint (a leaf);
// ioMu is held for reading around every read or write of the file and for
// writing by close, so the descriptor never goes away under an I/O.
type Swap struct {
	z     *Zone
	slots uint64 // number of slots

	ioMu   sync.RWMutex
	fd     int         // -1 once closed
	closed atomic.Bool // set by close: reclaim stops scanning anon

	mu    sync.Mutex
	used  []uint64 // bitmap: bit s-1 set = slot s in use
	refs  []uint32 // refs[s-1]
	hint  uint64   // next slot index (0-based) to search from
	nUsed atomic.Uint64
}

// newSwap creates the swap file in dir (os.TempDir() when empty).
func newSwap(z *Zone, size uint64, dir string) (*Swap, error) {
	slots := size / pageSize
	if slots == 0 {
		return nil, fmt.Errorf("kswapd: swap size %d is smaller than a page", size)
	}
	if dir == "" {
		dir = os.TempDir()
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		// No O_TMPFILE on that filesystem: create and unlink.
		f, cerr := os.CreateTemp(dir, "runsc-lite-swap-*")
		if cerr != nil {
			return nil, fmt.Errorf("kswapd: creating the swap file in %s: %w", dir, cerr)
		}
		os.Remove(f.Name())
		fd, err = unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("kswapd: creating the swap file in %s: %w", dir, err)
		}
		unix.CloseOnExec(fd)
	}
	if err := unix.Ftruncate(fd, int64(slots*pageSize)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("kswapd: sizing the swap file to %d bytes: %w", slots*pageSize, err)
	}
	return &Swap{
		z:     z,
		slots: slots,
		fd:    fd,
		used:  make([]uint64, (slots+63)/64),
		refs:  make([]uint32, slots),
	}, nil
}

// Total returns the number of slots (pages). It does not block.
func (s *Swap) Total() uint64 { return s.slots }

// FreeSlots returns the number of free slots. It does not block.
func (s *Swap) FreeSlots() uint64 { return s.slots - s.nUsed.Load() }

// UsedSlots returns the number of slots in use. It does not block.
func (s *Swap) UsedSlots() uint64 { return s.nUsed.Load() }

// close releases the swap file.
func (s *Swap) close() {
	s.closed.Store(true)
	s.ioMu.Lock()
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	s.ioMu.Unlock()
}

// allocSlot takes a free slot with one reference; 0 when swap is full.
func (s *Swap) allocSlot() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nUsed.Load() == s.slots {
		return 0
	}
	for pass := 0; pass < 2; pass++ {
		i := s.hint
		if pass == 1 {
			i = 0
		}
		for i < s.slots {
			w := ^s.used[i/64] >> (i % 64)
			if w == 0 {
				i = (i/64 + 1) * 64
				continue
			}
			i += uint64(bits.TrailingZeros64(w))
			if i >= s.slots {
				break
			}
			s.used[i/64] |= 1 << (i % 64)
			s.refs[i] = 1
			s.nUsed.Add(1)
			s.hint = i + 1
			return i + 1
		}
	}
	return 0
}

// valid reports whether slot is a slot number of this file.
func (s *Swap) valid(slot uint64) bool { return slot >= 1 && slot <= s.slots }

// Out writes the page in frame to a free slot and returns the slot (never
// 0), counting pswpout. It fails with ErrNoMemory when swap is full, and
// with the host's error when the write fails (the slot is then free
// again). It blocks for the write.
//
// Preconditions: the caller holds a reference on frame.
func (s *Swap) Out(frame uint64) (uint64, error) {
	slot := s.allocSlot()
	if slot == 0 {
		return 0, ErrNoMemory
	}
	if err := s.write(slot, frame); err != nil {
		s.Free(slot)
		return 0, err
	}
	s.z.Count(PswpOut, 1)
	return slot, nil
}

// OutBatch writes the pages in frames to free slots, one slot per frame,
// and returns the slots in the same order, counting pswpout. Slots come
// from the roving hint, so they are usually consecutive, and each run of
// consecutive slots is one pwritev. It fails with ErrNoMemory when swap
// has too few free slots; on any error no slot is kept. It blocks for the
// writes.
//
// Preconditions: the caller holds a reference on every frame.
func (s *Swap) OutBatch(frames []uint64) ([]uint64, error) {
	slots := make([]uint64, 0, len(frames))
	fail := func(err error) ([]uint64, error) {
		for _, sl := range slots {
			s.Free(sl)
		}
		return nil, err
	}
	for range frames {
		slot := s.allocSlot()
		if slot == 0 {
			return fail(ErrNoMemory)
		}
		slots = append(slots, slot)
	}
	const maxRun = 64 // below IOV_MAX
	for i := 0; i < len(frames); {
		j := i + 1
		for j < len(frames) && slots[j] == slots[j-1]+1 && j-i < maxRun {
			j++
		}
		iovs := make([][]byte, 0, j-i)
		for _, f := range frames[i:j] {
			b, err := s.frameBytes(f)
			if err != nil {
				return fail(err)
			}
			iovs = append(iovs, b)
		}
		if err := s.writeAt(slots[i], iovs); err != nil {
			return fail(err)
		}
		i = j
	}
	s.z.Count(PswpOut, uint64(len(frames)))
	return slots, nil
}

// frameBytes returns the sentry's view of frame.
func (s *Swap) frameBytes(frame uint64) ([]byte, error) {
	if frame >= s.z.total {
		return nil, fmt.Errorf("kswapd: frame %d beyond the memory file", frame)
	}
	return s.z.mf.Slice(memfile.FileRange{Start: frame * pageSize, End: (frame + 1) * pageSize}), nil
}

func (s *Swap) write(slot, frame uint64) error {
	b, err := s.frameBytes(frame)
	if err != nil {
		return err
	}
	return s.writeAt(slot, [][]byte{b})
}

// writeAt writes iovs to the file from slot on.
func (s *Swap) writeAt(slot uint64, iovs [][]byte) error {
	s.ioMu.RLock()
	defer s.ioMu.RUnlock()
	if s.fd < 0 {
		return errSwapClosed
	}
	off := int64((slot - 1) * pageSize)
	for len(iovs) > 0 {
		n, err := unix.Pwritev(s.fd, iovs, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("kswapd: writing swap slot %d: %w", slot, err)
		}
		if n == 0 {
			return fmt.Errorf("kswapd: writing swap slot %d: short write", slot)
		}
		off += int64(n)
		for n > 0 {
			if n >= len(iovs[0]) {
				n -= len(iovs[0])
				iovs = iovs[1:]
			} else {
				iovs[0] = iovs[0][n:]
				n = 0
			}
		}
	}
	return nil
}

// In reads slot into frame, counting pswpin. The slot keeps its
// reference. It fails with ErrBadSlot for a slot not in use. It blocks for
// the read.
//
// Preconditions: the caller holds a reference on frame.
func (s *Swap) In(slot, frame uint64) error {
	if !s.valid(slot) {
		return ErrBadSlot
	}
	s.mu.Lock()
	inUse := s.refs[slot-1] > 0
	s.mu.Unlock()
	if !inUse {
		return ErrBadSlot
	}
	b, err := s.frameBytes(frame)
	if err != nil {
		return err
	}
	s.ioMu.RLock()
	defer s.ioMu.RUnlock()
	if s.fd < 0 {
		return errSwapClosed
	}
	off := int64((slot - 1) * pageSize)
	for done := 0; done < len(b); {
		n, err := unix.Pread(s.fd, b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("kswapd: reading swap slot %d: %w", slot, err)
		}
		if n == 0 {
			// A hole past what was written reads as zeros.
			clear(b[done:])
			break
		}
		done += n
	}
	s.z.Count(PswpIn, 1)
	return nil
}

// Dup adds a reference to slot (a swap entry copied by fork). It does not
// block; a slot not in use is ignored.
func (s *Swap) Dup(slot uint64) {
	if !s.valid(slot) {
		return
	}
	s.mu.Lock()
	if s.refs[slot-1] > 0 {
		s.refs[slot-1]++
	}
	s.mu.Unlock()
}

// Refs returns the reference count of slot (0: free). It does not block.
func (s *Swap) Refs(slot uint64) uint32 {
	if !s.valid(slot) {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refs[slot-1]
}

// Free drops a reference to slot; the last one frees it and releases its
// disk space. It does not block beyond that (a hole punched in the file).
func (s *Swap) Free(slot uint64) {
	if !s.valid(slot) {
		return
	}
	i := slot - 1
	s.mu.Lock()
	if s.refs[i] == 0 {
		s.mu.Unlock()
		return
	}
	s.refs[i]--
	last := s.refs[i] == 0
	s.mu.Unlock()
	if !last {
		return
	}
	// The slot stays taken in the bitmap until its hole is punched, so
	// no Out can write to it before the punch would erase the write.
	s.ioMu.RLock()
	if s.fd >= 0 {
		unix.Fallocate(s.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(i*pageSize), pageSize)
	}
	s.ioMu.RUnlock()
	s.mu.Lock()
	s.used[i/64] &^= 1 << (i % 64)
	s.nUsed.Add(^uint64(0))
	s.mu.Unlock()
}
