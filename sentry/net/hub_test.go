package net

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// TestNamespaceStacks: the stacks of network namespaces share the first
// one's softirqs (the hub runs them all), start with lo down and without
// addresses, get 127.0.0.1 and ::1 when lo comes up, and leave nothing
// behind when closed: the hub's count and the goroutines return to what
// they were.
func TestNamespaceStacks(t *testing.T) {
	_, sirq, first := bootStack(t, 2)
	if n := LiveStacks(sirq); n != 1 {
		t.Fatalf("LiveStacks = %d with the first stack, want 1", n)
	}
	lo := first.Devices()[0]
	if lo.Flags()&unix.IFF_UP == 0 || len(first.Addresses(lo)) != 2 {
		t.Fatalf("first stack's lo: flags %#x, addresses %v", lo.Flags(), first.Addresses(lo))
	}
	baseline := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		s, err := New(Config{Softirqs: sirq, LoopbackDown: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := LiveStacks(sirq); n != 2 {
			t.Fatalf("LiveStacks = %d with a namespace's stack, want 2", n)
		}
		d := s.Devices()
		if len(d) != 1 || d[0].Name() != "lo" || d[0].Flags()&unix.IFF_UP != 0 || d[0].Qdisc() != "noop" || len(s.Addresses(d[0])) != 0 {
			t.Fatalf("new stack's devices: %d, lo flags %#x qdisc %s addresses %v", len(d), d[0].Flags(), d[0].Qdisc(), s.Addresses(d[0]))
		}
		if err := s.SetUp(d[0], true); err != nil {
			t.Fatal(err)
		}
		if d[0].Flags()&unix.IFF_UP == 0 || len(s.Addresses(d[0])) != 2 || d[0].Qdisc() != "noqueue" {
			t.Fatalf("lo up: flags %#x qdisc %s addresses %v", d[0].Flags(), d[0].Qdisc(), s.Addresses(d[0]))
		}
		if err := s.SetUp(d[0], false); err != nil || d[0].Flags()&unix.IFF_UP != 0 {
			t.Fatalf("lo down: %v, flags %#x", err, d[0].Flags())
		}
		if a := s.Addresses(d[0]); len(a) != 1 || a[0].Protocol != ipv4.ProtocolNumber {
			t.Fatalf("lo down: addresses %v, want 127.0.0.1 only (::1 goes with the link)", a)
		}
		if q := d[0].Qdisc(); q != "noqueue" {
			t.Fatalf("lo down after up: qdisc %s, want noqueue (kept, as Linux)", q)
		}
		lo4 := tcpip.AddrFrom4([4]byte{127, 0, 0, 1})
		if err := s.RemoveAddress(d[0], lo4); err != nil || s.HasAddress(d[0], lo4) || len(s.Addresses(d[0])) != 0 {
			t.Fatalf("removing 127.0.0.1: %v, addresses %v", err, s.Addresses(d[0]))
		}
		if err := s.RemoveAddress(d[0], lo4); err != unix.EADDRNOTAVAIL {
			t.Fatalf("removing 127.0.0.1 again: %v, want EADDRNOTAVAIL", err)
		}
		s.Close()
	}
	if n := LiveStacks(sirq); n != 1 {
		t.Fatalf("LiveStacks = %d after closing the namespaces' stacks, want 1", n)
	}
	eventually(t, 30*time.Second, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}
