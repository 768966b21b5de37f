package ipc

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"golang.org/x/sys/unix"
)

type obj struct{ p Perm }

func (o *obj) IPCPerm() *Perm { return &o.p }

// TestTableIdentifiers: identifiers are seq*32768+index as Linux numbers
// them; a removed object's identifier goes stale (EINVAL) and the index
// handed out again carries the next sequence number; keys find only live,
// public objects.
func TestTableIdentifiers(t *testing.T) {
	tb := NewTable[*obj]()
	a, b := &obj{p: Perm{Key: 5}}, &obj{p: Perm{Key: 0}}
	if err := tb.Add(a, 10); err != nil {
		t.Fatal(err)
	}
	if err := tb.Add(b, 10); err != nil {
		t.Fatal(err)
	}
	if a.p.ID != 0 || b.p.ID != 1 {
		t.Fatalf("ids %d %d, want 0 1", a.p.ID, b.p.ID)
	}
	if o, ok := tb.FindKey(5); !ok || o != a {
		t.Fatal("key 5 not found")
	}
	if _, ok := tb.FindKey(0); ok {
		t.Fatal("IPC_PRIVATE found by key")
	}
	tb.Remove(a)
	if _, err := tb.Lookup(0); err != unix.EINVAL {
		t.Fatalf("stale lookup = %v, want EINVAL", err)
	}
	if _, ok := tb.FindKey(5); ok {
		t.Fatal("a removed object's key still found")
	}
	// The cursor moves on: index 2 next; objects made and removed one at
	// a time walk the minimum cycle (64 indexes while few are in use,
	// ipc_min_cycle) and wrap to index 0 with the next sequence number.
	c := &obj{}
	tb.Add(c, 100)
	if c.p.ID != 2 {
		t.Fatalf("next id %d, want 2", c.p.ID)
	}
	for i := 3; i < minCycle; i++ {
		o := &obj{}
		tb.Add(o, 100)
		if o.p.ID != int32(i) {
			t.Fatalf("id %d, want %d", o.p.ID, i)
		}
		tb.Remove(o)
	}
	d := &obj{}
	tb.Add(d, 100)
	if d.p.ID != 1<<seqShift {
		t.Fatalf("wrapped id %#x, want %#x", d.p.ID, 1<<seqShift)
	}
	if _, err := tb.Lookup(d.p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Lookup(0); err != unix.EINVAL {
		t.Fatal("the old identifier of the reused index still resolves")
	}
	if err := tb.Add(&obj{}, tb.InUse()); err != unix.ENOSPC {
		t.Fatalf("add past the limit = %v, want ENOSPC", err)
	}
}

// TestTableNextID: the *_next_id sysctl gives the next object exactly
// that identifier, once.
func TestTableNextID(t *testing.T) {
	tb := NewTable[*obj]()
	tb.NextID = 3<<seqShift + 7
	a, b := &obj{}, &obj{}
	tb.Add(a, 10)
	tb.Add(b, 10)
	if a.p.ID != 3<<seqShift+7 {
		t.Fatalf("id %#x, want %#x", a.p.ID, 3<<seqShift+7)
	}
	if b.p.ID == a.p.ID || tb.NextID != -1 {
		t.Fatalf("next_id was used twice (%#x, %d)", b.p.ID, tb.NextID)
	}
}

// TestPermCheck: ipcperms' owner, group and other classes, and
// CAP_IPC_OWNER.
func TestPermCheck(t *testing.T) {
	p := Perm{UID: 1000, GID: 100, CUID: 1000, CGID: 100, Mode: 0640}
	user := func(uid, gid uint32) *auth.Credentials {
		return &auth.Credentials{RealUID: uid, EffectiveUID: uid, FSUID: uid, RealGID: gid, EffectiveGID: gid, FSGID: gid}
	}
	cases := []struct {
		c    *auth.Credentials
		flag int32
		want bool
	}{
		{user(1000, 1), MayRead | MayWrite, true},
		{user(2000, 100), MayRead, true},
		{user(2000, 100), MayWrite, false},
		{user(2000, 200), MayRead, false},
		{user(2000, 200), 0, true},
	}
	for i, c := range cases {
		if got := p.Check(c.c, c.flag); got != c.want {
			t.Errorf("case %d: Check = %v, want %v", i, got, c.want)
		}
	}
}
