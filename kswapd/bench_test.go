package kswapd

import "testing"

// BenchmarkAllocateFree is the zone's share of a page fault and an munmap:
// Allocate (watermark check, descriptor, LRU insert) and the free hook.
func BenchmarkAllocateFree(b *testing.B) {
	z := newZone(b, 64*mib, Config{})
	o := newOwner(z, Anon)
	for i := 0; i < b.N; i++ {
		fr, err := z.Allocate(1, Anon, o, 0)
		if err != nil {
			b.Fatal(err)
		}
		z.mf.DecRef(fr)
	}
}

// BenchmarkMarkAccessed is the cost every fault and page-cache read pays.
func BenchmarkMarkAccessed(b *testing.B) {
	z := newZone(b, 64*mib, Config{})
	o := newOwner(z, File)
	fr, err := z.Allocate(64, File, o, 0)
	if err != nil {
		b.Fatal(err)
	}
	first := fr.Start / pageSize
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		z.MarkAccessed(first + uint64(i%64))
	}
}
