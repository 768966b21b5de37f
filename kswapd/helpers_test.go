package kswapd

import (
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
)

func TestMain(m *testing.M) {
	// The kernel's invariant checks, on for every test (set once: tasks
	// of earlier tests' kernels may still be reading it).
	kernel.Debug = true
	os.Exit(m.Run())
}

// fakeOwner owns pages at keys 0, PageSize, ... Each page holds its key in
// its first 8 bytes, so a page that comes back from swap can be checked.
type fakeOwner struct {
	z    *Zone
	kind Kind

	mu      sync.Mutex
	pages   map[uint64]uint64 // key -> frame
	swapped map[uint64]uint64 // key -> swap slot
	keep    map[uint64]bool   // keys whose Reclaim answers Keep
	// Calls.
	reclaimCalls, deactivateCalls int
	deactivated                   map[uint64]bool
}

func newOwner(z *Zone, kind Kind) *fakeOwner {
	return &fakeOwner{
		z: z, kind: kind,
		pages:       make(map[uint64]uint64),
		swapped:     make(map[uint64]uint64),
		keep:        make(map[uint64]bool),
		deactivated: make(map[uint64]bool),
	}
}

func frameRange(frame uint64) memfile.FileRange {
	return memfile.FileRange{Start: frame * pageSize, End: (frame + 1) * pageSize}
}

// alloc allocates the page at key; it reports false on ErrNoMemory.
func (o *fakeOwner) alloc(tb testing.TB, key uint64) bool {
	tb.Helper()
	fr, err := o.z.Allocate(1, o.kind, o, key)
	if err == ErrNoMemory {
		return false
	}
	if err != nil {
		tb.Fatalf("Allocate: %v", err)
	}
	binary.LittleEndian.PutUint64(o.z.mf.Slice(fr), key)
	o.mu.Lock()
	o.pages[key] = fr.Start / pageSize
	o.mu.Unlock()
	return true
}

// fill allocates pages at keys from 0 up until Allocate fails; it returns
// how many it got.
func (o *fakeOwner) fill(tb testing.TB, from uint64) uint64 {
	tb.Helper()
	n := uint64(0)
	for o.alloc(tb, (from+n)*pageSize) {
		n++
	}
	return n
}

func (o *fakeOwner) frameOf(key uint64) (uint64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f, ok := o.pages[key]
	return f, ok
}

func (o *fakeOwner) resident() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pages)
}

// release frees every page the owner holds (the process exits).
func (o *fakeOwner) release() {
	o.mu.Lock()
	frames := make([]uint64, 0, len(o.pages))
	for k, f := range o.pages {
		frames = append(frames, f)
		delete(o.pages, k)
	}
	o.mu.Unlock()
	for _, f := range frames {
		o.z.mf.DecRef(frameRange(f))
	}
}

func (o *fakeOwner) Reclaim(frame, key uint64, sw *Swap) ReclaimResult {
	o.mu.Lock()
	o.reclaimCalls++
	if f, ok := o.pages[key]; !ok || f != frame {
		o.mu.Unlock()
		return Gone
	}
	if o.keep[key] {
		o.mu.Unlock()
		return Keep
	}
	if o.kind == Anon {
		if sw == nil {
			o.mu.Unlock()
			return Keep
		}
		slot, err := sw.Out(frame)
		if err != nil {
			o.mu.Unlock()
			return Keep
		}
		o.swapped[key] = slot
	}
	delete(o.pages, key)
	o.mu.Unlock()
	o.z.mf.DecRef(frameRange(frame))
	return Reclaimed
}

func (o *fakeOwner) Deactivate(frame, key uint64) {
	o.mu.Lock()
	o.deactivateCalls++
	o.deactivated[key] = true
	o.mu.Unlock()
}

// newZone builds a zone over a memory file of size bytes.
func newZone(tb testing.TB, size uint64, cfg Config) *Zone {
	tb.Helper()
	mf, err := memfile.New(size)
	if err != nil {
		tb.Fatalf("memfile.New: %v", err)
	}
	z, err := New(mf, cfg)
	if err != nil {
		mf.Release()
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		z.Stop()
		mf.Release()
	})
	return z
}

// bootKernel builds a kernel with kthreadd, as the softirqd and workqueue
// tests do.
func bootKernel(tb testing.TB) *kernel.Kernel {
	tb.Helper()
	k := kernel.New(kernel.Config{CPUs: 2})
	k.ReserveTID() // init
	k.StartKthreadd()
	tb.Cleanup(k.Shutdown)
	return k
}

func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// runTask runs fn as a task of k and waits for it.
func runTask(k *kernel.Kernel, name string, fn func(t *kernel.Task)) {
	t := k.NewTask(kernel.TaskOptions{Name: name, Entry: fn})
	t.Start()
	<-t.Exited()
}

// List walking, for the tests' invariant checks.

// head returns the newest page of l.
func (s *lruSet) head(l lruList) (uint32, bool) {
	h := s.lists[l].head
	return h - 1, h != 0
}

// next returns the page after f on its list (towards the tail).
func (s *lruSet) next(f uint32) (uint32, bool) {
	n := s.page(f).next
	return n - 1, n != 0
}

// prev returns the page before f on its list (towards the head).
func (s *lruSet) prev(f uint32) (uint32, bool) {
	p := s.page(f).prev
	return p - 1, p != 0
}
