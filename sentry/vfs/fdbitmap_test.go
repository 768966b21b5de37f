package vfs

import (
	"math/rand"
	"testing"
)

// TestFDBitmapMatchesModel drives the bitmap and a plain []bool with the
// same random sets, clears and searches, and checks every answer.
func TestFDBitmapMatchesModel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	var b fdBitmap
	// Three levels (above 64*64 numbers), words that fill up and empty
	// again, and at the end a full bitmap. Under the race detector the
	// model's linear scans took 11 s at load 11 (the bitmap is used by one
	// goroutine: the detector has nothing to find here), so the walk is a
	// quarter of the size there, steps and numbers alike: still three
	// levels, still filled.
	n := 20000
	if raceEnabled {
		n = 5000
	}
	steps := 3 * n
	model := make([]bool, n)
	firstFree := func(from int) int {
		for i := from; i < n; i++ {
			if !model[i] {
				return i
			}
		}
		return n
	}
	full := 0 // searches from 0 that found the bitmap full
	for step := 0; step < steps; step++ {
		switch op := r.Intn(10); {
		case op < 6:
			// Allocate the lowest free from a start point, as
			// open and F_DUPFD do.
			from := 0
			if r.Intn(4) == 0 {
				from = r.Intn(n)
			}
			want := firstFree(from)
			got := b.firstFree(from)
			if want == n {
				if got < n {
					t.Fatalf("step %d: firstFree(%d) = %d, want none below %d", step, from, got, n)
				}
				if from == 0 {
					full++
				}
				continue
			}
			if got != want {
				t.Fatalf("step %d: firstFree(%d) = %d, want %d", step, from, got, want)
			}
			b.grow(got + 1)
			b.set(got)
			model[got] = true
		case op < 9:
			i := r.Intn(n)
			if r.Intn(2) == 0 {
				i = firstFree(0) - 1 // near the dense prefix
				if i < 0 {
					i = 0
				}
			}
			b.clear(i)
			model[i] = false
		default:
			from := r.Intn(n)
			want := -1
			for i := from; i < n; i++ {
				if model[i] {
					want = i
					break
				}
			}
			if got := b.next(from); got != want {
				t.Fatalf("step %d: next(%d) = %d, want %d", step, from, got, want)
			}
		}
	}
	if full == 0 {
		t.Errorf("the walk never filled the bitmap (%d numbers, %d steps)", n, steps)
	}
}

// TestFDTableLowestFreeCost: allocating the lowest free descriptor costs a
// few bitmap words per allocation whatever the table's size (O(log64 n)),
// where a scan would cost n/2 on average: 100,000 descriptors cost about
// ten times 10,000, not a hundred times.
func TestFDTableLowestFreeCost(t *testing.T) {
	cost := func(n int) uint64 {
		tab := NewFDTable()
		tab.SetLimit(uint64(n + 10))
		f := NewFileDescription(Location{Mount: anonMount}, nil, 0)
		for i := 0; i < n; i++ {
			fd, err := tab.Install(f, false)
			if err != nil || int(fd) != i {
				t.Fatalf("install %d: fd %d, %v", i, fd, err)
			}
		}
		// Holes are found again: close every 7th, reopen them.
		for i := 0; i < n; i += 7 {
			tab.Remove(int32(i))
		}
		for i := 0; i < n; i += 7 {
			if fd, err := tab.Install(f, false); err != nil || int(fd) != i {
				t.Fatalf("reinstall into hole %d: fd %d, %v", i, fd, err)
			}
		}
		return tab.SearchCost()
	}
	small, big := cost(10000), cost(100000)
	ratio := float64(big) / float64(small)
	t.Logf("bitmap words looked at: %d for 10,000 descriptors, %d for 100,000 (ratio %.1f)", small, big, ratio)
	if perOp := float64(big) / (100000 * 8 / 7); perOp > 8 {
		t.Errorf("%.1f words per allocation among 100,000 descriptors, want a handful (O(log n))", perOp)
	}
	if ratio > 15 {
		t.Errorf("100,000 descriptors cost %.1f times 10,000: not O(n log n)", ratio)
	}
}
