package memfile

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func newFile(t *testing.T, pages uint64) *MemoryFile {
	t.Helper()
	f, err := New(pages * PageSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Release)
	return f
}

func TestAllocateDecRef(t *testing.T) {
	f := newFile(t, 64)
	fr, err := f.Allocate(4)
	if err != nil || fr.Pages() != 4 {
		t.Fatalf("Allocate = %v, %v", fr, err)
	}
	if f.UsedPages() != 4 || f.FreePages() != 60 {
		t.Fatalf("used %d free %d", f.UsedPages(), f.FreePages())
	}
	b := f.Slice(fr)
	b[0], b[len(b)-1] = 1, 2
	f.IncRef(FileRange{fr.Start, fr.Start + PageSize})
	f.DecRef(fr)
	if f.UsedPages() != 1 || f.RefCount(fr.Start) != 1 || f.FreedPages() != 3 {
		t.Fatalf("after DecRef: used %d refs %d freed %d", f.UsedPages(), f.RefCount(fr.Start), f.FreedPages())
	}
	if b[len(b)-1] != 0 {
		t.Fatal("freed frame not zeroed")
	}
	if b[0] != 1 {
		t.Fatal("referenced frame lost its contents")
	}
	if _, err := f.Allocate(0); err == nil {
		t.Fatal("Allocate(0) succeeded")
	}
	// IncRefFrames: one reference per offset, repeats included.
	f.IncRefFrames([]uint64{fr.Start, fr.Start})
	if f.RefCount(fr.Start) != 3 {
		t.Fatalf("refs %d after IncRefFrames of the frame twice, want 3", f.RefCount(fr.Start))
	}
	f.DecRefFrames([]uint64{fr.Start, fr.Start, fr.Start})
	if f.UsedPages() != 0 {
		t.Fatalf("used %d after dropping every reference", f.UsedPages())
	}
}

func TestAllocateAbove(t *testing.T) {
	f := newFile(t, 64)
	if _, err := f.AllocateAbove(60, 4); err != nil {
		t.Fatalf("AllocateAbove(60, 4): %v", err)
	}
	if _, err := f.AllocateAbove(1, 4); err != ErrNoMemory {
		t.Fatalf("AllocateAbove(1, 4) with 4 free = %v", err)
	}
	if _, err := f.Allocate(4); err != nil {
		t.Fatalf("Allocate(4): %v", err)
	}
	if _, err := f.Allocate(1); err != ErrNoMemory {
		t.Fatalf("Allocate of a full file = %v", err)
	}
}

func TestFreeHooks(t *testing.T) {
	f := newFile(t, 64)
	var mu sync.Mutex
	var runs []FileRange
	var notified uint64
	f.SetFreeHook(func(fr FileRange) {
		// Called with f.mu held: the frames are already free.
		if f.refs[fr.Start/PageSize] != 0 || !f.isFreeLocked(fr.Start/PageSize) {
			t.Error("hook called for a frame not yet free")
		}
		mu.Lock()
		runs = append(runs, fr)
		mu.Unlock()
	})
	f.SetFreedNotify(func(n uint64) {
		mu.Lock()
		notified += n
		mu.Unlock()
	})
	fr, _ := f.Allocate(8)
	// Keep frame 2 of the run: the hook sees two runs.
	mid := FileRange{fr.Start + 2*PageSize, fr.Start + 3*PageSize}
	f.IncRef(mid)
	f.DecRef(fr)
	want := []FileRange{{fr.Start, fr.Start + 2*PageSize}, {fr.Start + 3*PageSize, fr.End}}
	if len(runs) != 2 || runs[0] != want[0] || runs[1] != want[1] || notified != 7 {
		t.Fatalf("hook runs %v notified %d, want %v and 7", runs, notified, want)
	}
	f.DecRef(mid)
	if len(runs) != 3 || notified != 8 {
		t.Fatalf("hook runs %v notified %d", runs, notified)
	}
	// IncRef/DecRef that frees nothing calls nothing.
	fr2, _ := f.Allocate(1)
	f.IncRef(fr2)
	f.DecRef(fr2)
	if len(runs) != 3 {
		t.Fatal("hook called for a frame still referenced")
	}
	f.SetFreeHook(nil)
	f.SetFreedNotify(nil)
	f.DecRef(fr2)
}

// TestFreeAndReuse checks that a frame's punch never erases what its next
// user wrote (the punch happens before the frame is free again).
func TestFreeAndReuse(t *testing.T) {
	f := newFile(t, 16)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				fr, err := f.Allocate(1)
				if err != nil {
					continue
				}
				b := f.Slice(fr)
				if b[0] != 0 {
					t.Errorf("allocated frame not zeroed")
					return
				}
				b[0] = byte(w + 1)
				if b[0] != byte(w+1) {
					t.Errorf("write lost")
					return
				}
				for j := 0; j < 10; j++ {
					if b[0] != byte(w+1) {
						t.Errorf("frame contents erased under its user")
						return
					}
				}
				b[0] = 0xff
				f.DecRef(fr)
			}
		}(w)
	}
	wg.Wait()
	if f.UsedPages() != 0 {
		t.Fatalf("used %d at the end", f.UsedPages())
	}
}

// TestOddSize: a file whose frames do not fill the free bitmap's last
// word has exactly its frames to give, none past its end.
func TestOddSize(t *testing.T) {
	f := newFile(t, 67)
	if f.FreePages() != 67 {
		t.Fatalf("free %d, want 67", f.FreePages())
	}
	for i := 0; i < 67; i++ {
		fr, err := f.Allocate(1)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if fr.End > f.Size() {
			t.Fatalf("frame %d at %#x is past the file's end %#x", i, fr.Start, f.Size())
		}
	}
	if fr, err := f.Allocate(1); err == nil {
		t.Fatalf("a 68th frame of 67: %v", fr)
	}
}

// TestWarmFrames: freed frames up to warmMax stay resident, zeroed, and
// are handed out again first; those past it are punched (their host
// memory released).
func TestWarmFrames(t *testing.T) {
	f := newFile(t, 64*16) // warmMax 64
	if f.warmMax != 64 {
		t.Fatalf("warmMax %d, want 64", f.warmMax)
	}
	fr, err := f.Allocate(100)
	if err != nil {
		t.Fatal(err)
	}
	b := f.Slice(fr)
	for i := range b {
		b[i] = 0xa5
	}
	resident := func() uint64 {
		var st unix.Stat_t
		if err := unix.Fstat(f.FD(), &st); err != nil {
			t.Fatal(err)
		}
		return uint64(st.Blocks) * 512 / PageSize
	}
	if got := resident(); got != 100 {
		t.Fatalf("%d frames resident after writing 100", got)
	}
	f.DecRef(fr)
	if f.nWarm != 64 || f.UsedPages() != 0 {
		t.Fatalf("nWarm %d used %d after freeing 100, want 64 and 0", f.nWarm, f.UsedPages())
	}
	if got := resident(); got != 64 {
		t.Fatalf("%d frames resident after freeing, want the 64 warm ones", got)
	}
	if lo, hi := f.warmLo*PageSize, f.warmHi*PageSize; lo != fr.Start || hi != fr.Start+64*PageSize {
		t.Fatalf("warm search bounds [%#x, %#x), want the 64 warm frames' [%#x, %#x)", lo, hi, fr.Start, fr.Start+64*PageSize)
	}
	// A run of warm frames comes back first, zeroed.
	got, err := f.Allocate(8)
	if err != nil {
		t.Fatal(err)
	}
	if got.Start < fr.Start || got.End > fr.Start+64*PageSize {
		t.Fatalf("Allocate(8) = %v, not among the warm frames from %#x", got, fr.Start)
	}
	for i, c := range f.Slice(got) {
		if c != 0 {
			t.Fatalf("warm frame byte %d is %#x, want 0", i, c)
		}
	}
	if f.nWarm != 56 {
		t.Fatalf("nWarm %d after taking 8, want 56", f.nWarm)
	}
	f.DecRef(got)
	if f.nWarm != 64 {
		t.Fatalf("nWarm %d after giving 8 back, want 64", f.nWarm)
	}
	// Taking every warm frame empties the search bounds.
	all, err := f.Allocate(64)
	if err != nil || all.Start != fr.Start {
		t.Fatalf("Allocate(64) = %v, %v, want the warm run at %#x", all, err, fr.Start)
	}
	if f.nWarm != 0 || f.warmHi != 0 {
		t.Fatalf("nWarm %d, warm bounds [%d, %d) with no warm frame left", f.nWarm, f.warmLo, f.warmHi)
	}
	f.DecRef(all)
}
