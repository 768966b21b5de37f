package auth

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// An unprivileged user's namespace: full capabilities inside, none over
// the first namespace; its own UID mapped once, its GID only after
// setgroups is denied; IDs translate both ways; exec inside as root of the
// namespace keeps the capabilities.
func TestUserNamespaceUnprivileged(t *testing.T) {
	c := NewUser(1000, 1000, []uint32{5})
	n, err := c.NewUserNamespace(1)
	if err != nil {
		t.Fatal(err)
	}
	ns := n.UserNS
	if !n.HasCapabilityIn(ns, linux.CAP_SYS_ADMIN) || n.HasCapability(linux.CAP_SYS_ADMIN) {
		t.Errorf("capabilities: in ns %v, in the first %v", n.HasCapabilityIn(ns, linux.CAP_SYS_ADMIN), n.HasCapability(linux.CAP_SYS_ADMIN))
	}
	if c.HasCapabilityIn(ns, linux.CAP_SYS_ADMIN) != true {
		t.Errorf("the owner in the parent has no capability over its namespace")
	}
	if other := NewUser(1001, 1001, nil); other.HasCapabilityIn(ns, linux.CAP_SYS_ADMIN) {
		t.Errorf("another user has a capability in the namespace")
	}
	if got := ns.UID(1000); got != OverflowID {
		t.Errorf("unmapped UID shows as %d", got)
	}
	for _, tc := range []struct {
		data string
		want error
	}{
		{"0 1000\n", unix.EINVAL},
		{"0 1000 0\n", unix.EINVAL},
		{"0 0 1\n", unix.EPERM},
		{"0 1000 2\n", unix.EPERM},
		{"0 1000 1\n1 1000 1\n", unix.EINVAL},
		{"0 1000 1\n", nil},
		{"0 1000 1\n", unix.EPERM},
	} {
		if err := ns.WriteUIDMap(n, []byte(tc.data)); err != tc.want {
			t.Errorf("uid_map %q: %v, want %v", tc.data, err, tc.want)
		}
	}
	if err := ns.WriteGIDMap(n, []byte("0 1000 1")); err != unix.EPERM {
		t.Errorf("gid_map before deny: %v", err)
	}
	if err := ns.SetSetgroups([]byte("deny\n")); err != nil {
		t.Fatal(err)
	}
	if err := ns.WriteGIDMap(n, []byte("0 1000 1")); err != nil {
		t.Errorf("gid_map after deny: %v", err)
	}
	if err := ns.SetSetgroups([]byte("allow")); err != unix.EPERM {
		t.Errorf("allow after deny: %v", err)
	}
	if ns.UID(1000) != 0 || ns.GID(1000) != 0 || ns.GID(5) != OverflowID {
		t.Errorf("mapped: uid %d gid %d group %d", ns.UID(1000), ns.GID(1000), ns.GID(5))
	}
	if k, ok := ns.MapUIDToKernel(0); !ok || k != 1000 {
		t.Errorf("kernel UID of 0: %d %v", k, ok)
	}
	e, _ := n.ForExec(ExecFile{Mode: 0755})
	if !e.Effective.Has(linux.CAP_SYS_ADMIN) {
		t.Errorf("root of the namespace lost its capabilities at exec")
	}
	if got := ns.ShownMap(ns, false); len(got) != 1 || got[0] != (IDMapEntry{0, 1000, 1}) {
		t.Errorf("uid_map shown inside: %v", got)
	}
}

// Nesting stops past 33 levels with ENOSPC.
func TestUserNamespaceNesting(t *testing.T) {
	c := NewRoot()
	for level := 1; ; level++ {
		n, err := c.NewUserNamespace(uint64(level))
		if err != nil {
			if err != unix.ENOSPC || level != MaxUserNSLevel+1 {
				t.Fatalf("level %d: %v", level, err)
			}
			return
		}
		if err := n.UserNS.WriteUIDMap(n, []byte("0 0 1")); err != nil {
			t.Fatalf("level %d uid_map: %v", level, err)
		}
		c = n
	}
}
