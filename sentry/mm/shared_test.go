package mm

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// segName is the Mappable of a test segment's attaches (it only names
// them, as shm.Segment does).
type segName struct{}

func (segName) ReadAt(p []byte, off int64) (int, error)   { clear(p); return len(p), nil }
func (segName) WriteAt(p []byte, off int64) (int, error)  { return len(p), nil }
func (segName) MappingIdentity() (uint64, uint64, string) { return 9, 1, "/SYSV00000000 (deleted)" }

func attach(t *testing.T, m *MemoryManager, s *SharedMemory) uintptr {
	t.Helper()
	addr, err := m.MMap(MMapOpts{Length: uintptr(s.Size()), Perms: hostarch.ReadWrite, MaxPerms: hostarch.ReadWrite, Shared: s, Mappable: segName{}})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestSegmentSwapOutAndIn: a segment's page goes to swap (unmapped from
// both attaches), comes back on the next touch through either, and SHM_LOCK
// keeps pages in memory.
func TestSegmentSwapOutAndIn(t *testing.T) {
	m, as, z := swapZone(t, 16<<20)
	s := NewSharedMemory(z, 4*PageSize)
	a1, a2 := attach(t, m, s), attach(t, m, s)
	want := pattern(PageSize, 3)
	if _, err := m.CopyOut(a1+PageSize, want); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(a2+PageSize, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	o := s.obj
	frame := m.pteAt(a1 + PageSize).frame
	if r := o.Reclaim(frameNumber(frame), PageSize, nil); r != kswapd.Keep {
		t.Fatalf("reclaim without swap = %v, want Keep", r)
	}
	s.SetLocked(true)
	if r := o.Reclaim(frameNumber(frame), PageSize, z.Swap()); r != kswapd.Keep {
		t.Fatalf("reclaim of a locked segment's page = %v, want Keep", r)
	}
	s.SetLocked(false)
	if r := o.Reclaim(frameNumber(frame), PageSize, z.Swap()); r != kswapd.Reclaimed {
		t.Fatalf("reclaim = %v, want Reclaimed", r)
	}
	if m.pteAt(a1+PageSize) != nil || m.pteAt(a2+PageSize) != nil {
		t.Fatal("a swapped segment page is still in a page table")
	}
	if _, ok := as.mapped[a2+PageSize]; ok {
		t.Fatal("a swapped segment page is still mapped in the platform")
	}
	if s.SwappedPages() != 1 {
		t.Fatalf("swapped pages %d, want 1", s.SwappedPages())
	}
	got := make([]byte, PageSize)
	if _, err := m.CopyIn(a2+PageSize, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back through the other attach: %v, equal %v", err, bytes.Equal(got, want))
	}
	if s.SwappedPages() != 0 {
		t.Fatalf("swapped pages %d after the touch", s.SwappedPages())
	}
	// Destroying the segment with a page on swap frees its slot.
	frame = m.pteAt(a2 + PageSize).frame
	if r := o.Reclaim(frameNumber(frame), PageSize, z.Swap()); r != kswapd.Reclaimed {
		t.Fatalf("second reclaim = %v", r)
	}
	free := z.Snapshot().SwapFree
	m.Munmap(a1, uintptr(s.Size()))
	m.Munmap(a2, uintptr(s.Size()))
	s.Release()
	if z.Snapshot().SwapFree != free+1 {
		t.Fatalf("swap free %d -> %d after the segment went", free, z.Snapshot().SwapFree)
	}
}

// TestSegmentReclaimRacesWithCopies: two memory managers write and read
// their own halves of a segment larger than memory while reclaim runs; no
// write is lost.
func TestSegmentReclaimRacesWithCopies(t *testing.T) {
	_, _, _, z := newZoneMM(t, 4<<20, 16<<20)
	if z.Swap() == nil {
		t.Skip("the zone has no swap")
	}
	const size = 6 << 20 // more than the zone's memory
	s := NewSharedMemory(z, size)
	mkAS := func() *lockedAS { return &lockedAS{mapped: map[uintptr]hostarch.AccessType{}} }
	m1, m2 := New(z, mkAS(), 0x7fff00000000), New(z, mkAS(), 0x7fff00000000)
	a1, a2 := attach(t, m1, s), attach(t, m2, s)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			z.Reclaim(nil, 64)
		}
	}()
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	worker := func(m *MemoryManager, base uintptr, half int, seed byte) {
		defer wg.Done()
		buf := make([]byte, 256)
		for i := 0; i < 1000; i++ {
			off := uintptr(half*size/2 + (i*4099)%(size/2-256))
			want := pattern(256, seed+byte(i))
			if _, err := m.CopyOut(base+off, want); err != nil {
				continue // EFAULT under pressure is allowed
			}
			if _, err := m.CopyIn(base+off, buf); err == nil && !bytes.Equal(buf, want) {
				errs <- fmt.Errorf("segment lost a write at %#x", off)
				return
			}
		}
	}
	wg.Add(2)
	go worker(m1, a1, 0, 1)
	go worker(m2, a2, 1, 50)
	wg.Wait()
	close(stop)
	<-done
	ev := z.Snapshot().Events
	t.Logf("pswpout %d pswpin %d", ev[kswapd.PswpOut], ev[kswapd.PswpIn])
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if ev[kswapd.PswpOut] == 0 {
		t.Error("no segment page went to swap: the race was not exercised")
	}
	m1.DecUsers()
	m2.DecUsers()
	s.Release()
}
