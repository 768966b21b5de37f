package kvm

import (
	"strings"
	"testing"
)

func testCPUID(entries ...kvmCPUIDEntry) *kvmCPUID {
	c := &kvmCPUID{}
	for _, e := range entries {
		c.Entries[c.Nent] = e
		c.Nent++
	}
	return c
}

func TestCheckCPUID(t *testing.T) {
	good := func() *kvmCPUID {
		return testCPUID(
			kvmCPUIDEntry{Function: 1, ECX: 1 << 26, EDX: 1<<24 | 1<<25},
			kvmCPUIDEntry{Function: 7, EBX: 1<<7 | 1<<20, ECX: 1 << 2, EDX: 1<<22 | 1<<24 | 1<<25 | 1},
			kvmCPUIDEntry{Function: 0xd, EAX: 0x2e7, EDX: 0},
			kvmCPUIDEntry{Function: 0xd, Index: 17, EAX: 0x40},
			kvmCPUIDEntry{Function: 0x80000001, EDX: 1<<29 | 1<<11 | 1<<20 | 1<<27},
			kvmCPUIDEntry{Function: 0x80000008, EAX: 48},
		)
	}
	f, err := checkCPUID(good())
	if err != nil {
		t.Fatal(err)
	}
	if !f.xsave || f.xcr0 != 0xe7 || !f.smep || !f.smap || !f.umip || !f.rdtscp || f.physBits != 48 {
		t.Errorf("features %+v", f)
	}
	g := guestCPUID(good(), f)
	if e := g.entry(7, 0); e.EDX != 1 {
		t.Errorf("AMX left in leaf 7: %#x", e.EDX)
	}
	if e := g.entry(0xd, 0); e.EAX != 0xe7 {
		t.Errorf("XCR0 components %#x", e.EAX)
	}
	if e := g.entry(0xd, 17); e.EAX != 0 {
		t.Errorf("AMX tile leaf %#x", e.EAX)
	}
	// AVX-512 without all three components, or without AVX, is dropped.
	c := good()
	c.entry(0xd, 0).EAX = 0x67
	if f, _ := checkCPUID(c); f.xcr0 != 0x7 {
		t.Errorf("xcr0 %#x with a partial AVX-512", f.xcr0)
	}
	// Missing essentials are named.
	for _, m := range []struct {
		mod  func(*kvmCPUID)
		want string
	}{
		{func(c *kvmCPUID) { c.entry(0x80000001, 0).EDX &^= 1 << 29 }, "long mode"},
		{func(c *kvmCPUID) { c.entry(0x80000001, 0).EDX &^= 1 << 11 }, "syscall"},
		{func(c *kvmCPUID) { c.entry(0x80000001, 0).EDX &^= 1 << 20 }, "NX"},
		{func(c *kvmCPUID) { c.entry(1, 0).EDX = 0 }, "SSE"},
	} {
		c := good()
		m.mod(c)
		if _, err := checkCPUID(c); err == nil || !strings.Contains(err.Error(), m.want) {
			t.Errorf("want an error naming %q, got %v", m.want, err)
		}
	}
	// Without XSAVE: no OSXSAVE.
	c = good()
	c.entry(1, 0).ECX = 0
	if f, _ := checkCPUID(c); f.xsave {
		t.Errorf("xsave without CPUID.XSAVE")
	}
}
