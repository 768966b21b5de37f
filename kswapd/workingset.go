package kswapd

// Workingset detection (Linux's mm/workingset.c, cut down).
//
// When a file page is reclaimed the zone remembers a shadow entry for it
// — (owner, key) with the value of an eviction clock that advances once per
// evicted file page. When the same page is read back into the cache
// (Allocate of a File page with that owner and key) the difference between
// the clock now and the shadow's value is the refault distance: how many
// other file pages were evicted in between. A distance no larger than the
// file LRU means the page would have stayed in memory had the cache been
// that much bigger: it is part of the working set, so it is counted as a
// workingset_refault and goes straight to the active list.
//
// The same numbers tell when reclaim is thrashing: if nearly every page
// stolen from the file lists comes straight back as a working-set refault,
// reclaim is only shuffling the running programs' own pages (their text,
// their data files) in and out, while what fills memory cannot be
// reclaimed. Direct reclaim then stops counting that churn as progress and
// lets the OOM killer run — as a PSI-driven OOM daemon would on Linux,
// where the kernel itself may thrash for minutes.
//
// Locking: the shadow table and the clock are under Zone.mu; the window
// counters are atomics.

const (
	// thrashWindow is how many file pages must be stolen before the
	// refault ratio of the window is judged.
	thrashWindow = 2048
	// thrashPercent is the share of stolen pages that must come back as
	// working-set refaults for the window to count as thrashing.
	thrashPercent = 90
)

type shadowKey struct {
	owner Owner
	key   uint64
}

// rememberEvictionLocked records a shadow entry for a reclaimed file page.
// Preconditions: z.mu is held.
func (z *Zone) rememberEvictionLocked(owner Owner, key uint64) {
	if owner == nil {
		return
	}
	if z.shadow == nil {
		z.shadow = make(map[shadowKey]uint64)
	}
	if uint64(len(z.shadow)) >= 2*z.total+1024 {
		// Bounded like Linux's shadow nodes: forget an arbitrary
		// quarter (map iteration order is random).
		n := len(z.shadow) / 4
		for k := range z.shadow {
			if n == 0 {
				break
			}
			delete(z.shadow, k)
			n--
		}
	}
	z.evictionClock++
	z.shadow[shadowKey{owner, key}] = z.evictionClock
}

// refaultLocked looks up and drops the shadow entry of a file page being
// read back, and reports whether it is a working-set refault.
// Preconditions: z.mu is held.
func (z *Zone) refaultLocked(owner Owner, key uint64) bool {
	if z.shadow == nil || owner == nil {
		return false
	}
	k := shadowKey{owner, key}
	evicted, ok := z.shadow[k]
	if !ok {
		return false
	}
	delete(z.shadow, k)
	distance := z.evictionClock - evicted
	fileLRU := z.lru.length(lruActiveFile) + z.lru.length(lruInactiveFile)
	return distance <= fileLRU
}

// noteFileSteals adds n stolen file pages to the thrash window and judges
// the window when it is full.
func (z *Zone) noteFileSteals(n uint64) {
	if n == 0 {
		return
	}
	if z.windowStolen.Add(n) < thrashWindow {
		return
	}
	stolen := z.windowStolen.Swap(0)
	refaulted := z.windowRefaulted.Swap(0)
	z.thrashing.Store(refaulted*100 >= stolen*thrashPercent)
}

// Thrashing reports whether the last full window of file reclaim was
// nearly all working-set refaults.
func (z *Zone) Thrashing() bool { return z.thrashing.Load() }
