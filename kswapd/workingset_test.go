package kswapd

import (
	"sync/atomic"
	"testing"
)

// A file page read back soon after it was evicted is a working-set
// refault: counted and put straight on the active list. One read back
// after more file pages were evicted than the file LRU holds is not.
func TestWorkingsetRefault(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	o := newOwner(z, File)
	o.fill(t, 0)
	if err := z.Reclaim(nil, 8); err != nil {
		t.Fatalf("Reclaim: %v", err)
	}
	var evicted []uint64
	for k := uint64(0); k < 64*pageSize; k += pageSize {
		if _, ok := o.frameOf(k); !ok {
			evicted = append(evicted, k)
		}
	}
	if len(evicted) == 0 {
		t.Fatal("Reclaim evicted nothing")
	}
	before := z.Snapshot()
	if !o.alloc(t, evicted[0]) {
		t.Fatal("Allocate after Reclaim failed")
	}
	after := z.Snapshot()
	if got := after.Events[WorkingsetRefault] - before.Events[WorkingsetRefault]; got != 1 {
		t.Errorf("workingset_refault grew by %d, want 1", got)
	}
	if after.ActiveFile != before.ActiveFile+1 {
		t.Errorf("active file %d -> %d: the refaulted page was not activated", before.ActiveFile, after.ActiveFile)
	}
	// A page never evicted is no refault.
	if !o.alloc(t, 1<<40) {
		t.Fatal("Allocate failed")
	}
	if got := z.Snapshot().Events[WorkingsetRefault]; got != after.Events[WorkingsetRefault] {
		t.Errorf("a new page counted as a refault")
	}
}

// When nearly everything reclaim steals comes straight back, direct
// reclaim stops calling it progress and the OOM killer runs, although
// each pass on its own frees pages.
func TestThrashingLeadsToOOM(t *testing.T) {
	z := newZone(t, 4*mib, Config{})
	// A program's file pages (its text) took some memory first, then a
	// hog (anonymous, unreclaimable without swap) took the rest.
	o := newOwner(z, File)
	const resident, workingSet = 64, 96
	for k := uint64(0); k < resident; k++ {
		o.alloc(t, k*pageSize)
	}
	hog := newOwner(z, Anon)
	hog.fill(t, 0)
	var killed atomic.Int32
	z.SetOOMCandidates(func() []OOMCandidate {
		if killed.Load() > 0 {
			return nil
		}
		return []OOMCandidate{{PID: 7, Name: "hog", AnonRSS: uint64(hog.resident()), Kill: func() {
			killed.Add(1)
			hog.release()
		}}}
	})
	// The program's working set is half as big again as what is left to
	// it: its pages must take turns, each coming back after 32 others
	// were evicted (a refault distance well inside the file LRU).
	for round := 0; round < 200 && killed.Load() == 0; round++ {
		for k := uint64(0); k < workingSet && killed.Load() == 0; k++ {
			key := k * pageSize
			if _, ok := o.frameOf(key); ok {
				continue
			}
			for !o.alloc(t, key) {
				if err := z.Reclaim(nil, 1); err != nil {
					break
				}
				if killed.Load() > 0 {
					break
				}
			}
		}
	}
	if killed.Load() == 0 {
		t.Fatalf("thrashing never led to an OOM kill (refaults %d, steals %d)",
			z.Snapshot().Events[WorkingsetRefault], z.Snapshot().Events[PgStealDirect])
	}
	// It was the thrash verdict, not a pass that freed nothing: reclaim
	// had stolen a full window of pages, nearly all refaulted.
	if sn := z.Snapshot(); sn.Events[PgStealDirect] < thrashWindow || sn.Events[WorkingsetRefault]*100 < sn.Events[PgStealDirect]*thrashPercent-100*workingSet {
		t.Errorf("killed after %d steals and %d refaults: not the thrashing path", sn.Events[PgStealDirect], sn.Events[WorkingsetRefault])
	}
	if z.Snapshot().Events[OOMKill] != 1 {
		t.Errorf("oom_kill = %d, want 1", z.Snapshot().Events[OOMKill])
	}
}
