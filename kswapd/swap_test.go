package kswapd

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestSwapRoundTrip(t *testing.T) {
	z := newZone(t, 4*mib, Config{SwapSize: 1 * mib, SwapDir: t.TempDir()})
	sw := z.Swap()
	if sw == nil || sw.Total() != 256 {
		t.Fatalf("swap %v", sw)
	}
	fr, err := z.Allocate(1, Anon, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := z.mf.Slice(fr)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	want := bytes.Clone(b)
	slot, err := sw.Out(fr.Start / pageSize)
	if err != nil || slot == 0 {
		t.Fatalf("Out = %d, %v", slot, err)
	}
	if r := sw.Refs(slot); r != 1 {
		t.Fatalf("refs %d after Out", r)
	}
	sw.Dup(slot)
	if r := sw.Refs(slot); r != 2 {
		t.Fatalf("refs %d after Dup", r)
	}
	sw.Free(slot)
	if s := z.Snapshot(); s.SwapTotal != 256 || s.SwapFree != 255 || s.Events[PswpOut] != 1 {
		t.Fatalf("snapshot swap %d/%d pswpout %d", s.SwapTotal, s.SwapFree, s.Events[PswpOut])
	}
	// Into another (zeroed) frame.
	fr2, err := z.Allocate(1, Anon, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.In(slot, fr2.Start/pageSize); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(z.mf.Slice(fr2), want) {
		t.Fatal("swapped-in page differs")
	}
	if s := z.Snapshot(); s.Events[PswpIn] != 1 || sw.Refs(slot) != 1 {
		t.Fatalf("pswpin %d refs %d", s.Events[PswpIn], sw.Refs(slot))
	}
	sw.Free(slot)
	if err := sw.In(slot, fr2.Start/pageSize); err != ErrBadSlot {
		t.Fatalf("In of a free slot = %v", err)
	}
	if err := sw.In(0, fr2.Start/pageSize); err != ErrBadSlot {
		t.Fatalf("In of slot 0 = %v", err)
	}
	sw.Free(0)
	sw.Dup(1 << 40)
	if sw.FreeSlots() != 256 {
		t.Fatalf("free slots %d", sw.FreeSlots())
	}
	// Fill it.
	n := 0
	for {
		s, err := sw.Out(fr.Start / pageSize)
		if err == ErrNoMemory {
			break
		}
		if err != nil || s == 0 {
			t.Fatalf("Out = %d, %v", s, err)
		}
		n++
	}
	if n != 256 || sw.FreeSlots() != 0 {
		t.Fatalf("swap took %d pages, %d free", n, sw.FreeSlots())
	}
	// After Stop the zone has no swap file; Out fails.
	z.Stop()
	sw.Free(1)
	if _, err := sw.Out(fr.Start / pageSize); err == nil {
		t.Fatal("Out after Stop succeeded")
	}
}

func TestSwapOutBatch(t *testing.T) {
	z := newZone(t, 4*mib, Config{SwapSize: 64 * pageSize, SwapDir: t.TempDir()})
	sw := z.Swap()
	var frames []uint64
	for i := 0; i < 40; i++ {
		fr, err := z.Allocate(1, Anon, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(z.mf.Slice(fr), uint64(i)+100)
		frames = append(frames, fr.Start/pageSize)
	}
	// A slot taken first so the batch's run is not the file's start.
	lone, err := sw.Out(frames[0])
	if err != nil {
		t.Fatal(err)
	}
	slots, err := sw.OutBatch(frames)
	if err != nil || len(slots) != 40 {
		t.Fatalf("OutBatch = %v, %v", slots, err)
	}
	if s := z.Snapshot(); s.Events[PswpOut] != 41 || s.SwapFree != 64-41 {
		t.Fatalf("pswpout %d swap free %d", s.Events[PswpOut], s.SwapFree)
	}
	fr, err := z.Allocate(1, Anon, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, slot := range slots {
		if err := sw.In(slot, fr.Start/pageSize); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(z.mf.Slice(fr)); got != uint64(i)+100 {
			t.Fatalf("slot %d holds %d, want %d", slot, got, i+100)
		}
	}
	// Too big for what is left: nothing kept.
	if _, err := sw.OutBatch(frames); err != ErrNoMemory {
		t.Fatalf("OutBatch over the free slots = %v", err)
	}
	if sw.FreeSlots() != 64-41 {
		t.Fatalf("failed OutBatch kept slots: %d free", sw.FreeSlots())
	}
	sw.Free(lone)
	for _, sl := range slots {
		sw.Free(sl)
	}
	if sw.FreeSlots() != 64 {
		t.Fatalf("%d free at the end", sw.FreeSlots())
	}
}

func TestAnonReclaimToSwap(t *testing.T) {
	z := newZone(t, 4*mib, Config{SwapSize: 2 * mib, SwapDir: t.TempDir()})
	o := newOwner(z, Anon)
	n := o.fill(t, 0)
	if err := z.Reclaim(nil, 32); err != nil {
		t.Fatalf("Reclaim: %v", err)
	}
	s := z.Snapshot()
	if s.FreePages < s.Min+32 || s.Events[PswpOut] == 0 || s.SwapFree != s.SwapTotal-s.Events[PswpOut] {
		t.Fatalf("after anon reclaim: free %d pswpout %d swap %d/%d", s.FreePages, s.Events[PswpOut], s.SwapFree, s.SwapTotal)
	}
	if uint64(o.resident())+uint64(len(o.swapped)) != n {
		t.Fatalf("%d resident + %d swapped != %d", o.resident(), len(o.swapped), n)
	}
	// Every swapped page comes back with its contents.
	for key, slot := range o.swapped {
		fr, err := z.Allocate(1, Unevictable, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := z.Swap().In(slot, fr.Start/pageSize); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(z.mf.Slice(fr)); got != key {
			t.Fatalf("slot %d holds key %#x, want %#x", slot, got, key)
		}
		z.Swap().Free(slot)
		z.mf.DecRef(fr)
	}
}

func TestSwapMissingDir(t *testing.T) {
	// A directory that does not exist fails cleanly.
	mf := newZone(t, 1*mib, Config{}).MemoryFile()
	if _, err := New(mf, Config{SwapSize: mib, SwapDir: "/nonexistent-runsc-lite"}); err == nil {
		t.Fatal("swap in a missing directory succeeded")
	}
}
