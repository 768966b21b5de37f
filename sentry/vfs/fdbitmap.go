package vfs

import "math/bits"

// fdBitmap is the set of descriptor numbers in use, built so that the
// lowest free number at or above any start is found in O(log64 n): level
// 0 has one bit per descriptor (set: in use); each level above has one bit
// per word of the level below, set when that word is full. A search looks
// at one word per level on the way up to the first level with room, and
// one word per level on the way down. With Linux's nr_open of 2^20
// descriptors that is four levels (16 Ki, 256, 4 and 1 words).
//
// Numbers at or beyond the bitmap's capacity are free. Not safe for
// concurrent use (FDTable.mu protects it).
type fdBitmap struct {
	levels [][]uint64
	// visits counts the words searches looked at (the cost tests check).
	visits uint64
}

// grow makes room for numbers below n.
func (b *fdBitmap) grow(n int) {
	words := (n + 63) / 64
	if len(b.levels) > 0 && len(b.levels[0]) >= words {
		return
	}
	// Double, so that growing one descriptor at a time costs O(1)
	// amortised.
	if len(b.levels) > 0 {
		words = max(words, 2*len(b.levels[0]))
	}
	var old [][]uint64
	old, b.levels = b.levels, nil
	for lvl := 0; ; lvl++ {
		w := make([]uint64, words)
		if lvl < len(old) {
			copy(w, old[lvl])
		}
		if lvl > 0 {
			// Recompute this level's "full" bits from the level
			// below: the level may be new, or have grown.
			below := b.levels[lvl-1]
			clear(w)
			for i, x := range below {
				if x == ^uint64(0) {
					w[i/64] |= 1 << (i % 64)
				}
			}
		}
		b.levels = append(b.levels, w)
		if words == 1 {
			return
		}
		words = (words + 63) / 64
	}
}

// capacity returns how many numbers the bitmap holds.
func (b *fdBitmap) capacity() int {
	if len(b.levels) == 0 {
		return 0
	}
	return 64 * len(b.levels[0])
}

// set marks fd in use. Preconditions: fd < capacity.
func (b *fdBitmap) set(fd int) {
	i := fd
	for lvl := range b.levels {
		w := &b.levels[lvl][i/64]
		*w |= 1 << (i % 64)
		if *w != ^uint64(0) {
			return
		}
		i /= 64
	}
}

// clear marks fd free.
func (b *fdBitmap) clear(fd int) {
	if fd >= b.capacity() {
		return
	}
	i := fd
	for lvl := range b.levels {
		w := &b.levels[lvl][i/64]
		wasFull := *w == ^uint64(0)
		*w &^= 1 << (i % 64)
		if !wasFull {
			return
		}
		i /= 64
	}
}

// isSet reports whether fd is in use.
func (b *fdBitmap) isSet(fd int) bool {
	if fd < 0 || fd >= b.capacity() {
		return false
	}
	return b.levels[0][fd/64]&(1<<(fd%64)) != 0
}

// firstFree returns the lowest free number at or above from.
func (b *fdBitmap) firstFree(from int) int {
	return b.firstClear(0, from)
}

// firstClear returns the lowest clear bit of level lvl at or above from
// (the level's capacity or more when every bit from there is set).
func (b *fdBitmap) firstClear(lvl, from int) int {
	if lvl >= len(b.levels) {
		return from
	}
	b.visits++
	words := b.levels[lvl]
	wi := from / 64
	if wi >= len(words) {
		return from
	}
	if m := ^words[wi] & (^uint64(0) << (from % 64)); m != 0 {
		return wi*64 + bits.TrailingZeros64(m)
	}
	// The rest of this word is full: find the next word with room one
	// level up, then its first clear bit.
	next := b.firstClear(lvl+1, wi+1)
	if next >= len(words) {
		return len(words) * 64
	}
	return next*64 + bits.TrailingZeros64(^words[next])
}

// next returns the lowest set number at or above from, or -1.
func (b *fdBitmap) next(from int) int {
	if len(b.levels) == 0 || from < 0 {
		return -1
	}
	words := b.levels[0]
	for wi := from / 64; wi < len(words); wi++ {
		w := words[wi]
		if wi == from/64 {
			w &= ^uint64(0) << (from % 64)
		}
		if w != 0 {
			return wi*64 + bits.TrailingZeros64(w)
		}
	}
	return -1
}
