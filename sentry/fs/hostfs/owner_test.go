package hostfs

import "testing"

// TestIDMap: OCI-style ranges both ways; unmapped host IDs show as
// nobody, unmapped sandbox IDs have no host owner.
func TestIDMap(t *testing.T) {
	m := &IDMap{
		UIDs: []IDRange{{Inside: 0, Host: 100000, Size: 65536}},
		GIDs: []IDRange{{Inside: 0, Host: 200000, Size: 1000}, {Inside: 1000, Host: 5000, Size: 1}},
	}
	if hu, hg, ok := m.ToHost(0, 1000); !ok || hu != 100000 || hg != 5000 {
		t.Errorf("ToHost(0, 1000) = %d, %d, %v", hu, hg, ok)
	}
	if _, _, ok := m.ToHost(70000, 0); ok {
		t.Errorf("an unmapped uid has a host owner")
	}
	if u, g := m.FromHost(100042, 200007); u != 42 || g != 7 {
		t.Errorf("FromHost = %d, %d", u, g)
	}
	if u, g := m.FromHost(0, 0); u != 65534 || g != 65534 {
		t.Errorf("host root shows as %d:%d, want nobody", u, g)
	}
}
