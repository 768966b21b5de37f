package auth

import (
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

func set(caps ...linux.Capability) CapabilitySet {
	var s CapabilitySet
	for _, c := range caps {
		s |= CapabilitySetOf(c)
	}
	return s
}

// TestForExec: capabilities(7)'s execve transformation for the cases a
// system sees: root, a user, set-user-ID root, set-group-ID, ambient
// capabilities, no_new_privs, a nosuid mount, SECBIT_NOROOT.
func TestForExec(t *testing.T) {
	root := NewRoot()
	user := NewUser(1000, 1000, nil)
	plain := ExecFile{Mode: 0755}
	suid := ExecFile{Mode: 04755}
	sgid := ExecFile{Mode: 02755, GID: 50}

	n, secure := root.ForExec(plain)
	if n.Effective != AllCapabilities || n.Permitted != AllCapabilities || secure {
		t.Errorf("root: eff %x perm %x secure %v", n.Effective, n.Permitted, secure)
	}
	n, secure = user.ForExec(plain)
	if n.Effective != 0 || n.Permitted != 0 || secure {
		t.Errorf("user: eff %x perm %x secure %v", n.Effective, n.Permitted, secure)
	}
	n, secure = user.ForExec(suid)
	if n.EffectiveUID != 0 || n.SavedUID != 0 || n.RealUID != 1000 || n.Effective != AllCapabilities || !secure {
		t.Errorf("set-user-ID root by a user: %+v secure %v", n, secure)
	}
	n, secure = user.ForExec(sgid)
	if n.EffectiveGID != 50 || n.Effective != 0 || !secure {
		t.Errorf("set-group-ID: %+v secure %v", n, secure)
	}
	if n, _ = user.ForExec(ExecFile{Mode: 02745, GID: 50}); n.EffectiveGID != 1000 {
		t.Errorf("set-group-ID without group execute (mandatory locking) changed the group: %d", n.EffectiveGID)
	}
	if n, _ = user.ForExec(ExecFile{Mode: 04755, NoSUID: true}); n.EffectiveUID != 1000 {
		t.Errorf("nosuid mount: euid %d", n.EffectiveUID)
	}

	nnp := user.Fork()
	nnp.NoNewPrivs = true
	n, secure = nnp.ForExec(suid)
	if n.EffectiveUID != 1000 || n.Permitted != 0 || secure {
		t.Errorf("no_new_privs: %+v secure %v", n, secure)
	}

	amb := user.Fork()
	amb.Permitted, amb.Inheritable, amb.Ambient = set(linux.CAP_NET_BIND_SERVICE), set(linux.CAP_NET_BIND_SERVICE), set(linux.CAP_NET_BIND_SERVICE)
	n, secure = amb.ForExec(plain)
	if n.Effective != amb.Ambient || n.Permitted != amb.Ambient || secure {
		t.Errorf("ambient: eff %x perm %x secure %v", n.Effective, n.Permitted, secure)
	}
	if n, _ = amb.ForExec(sgid); n.Ambient != 0 || n.Effective != 0 {
		t.Errorf("a set-ID program clears the ambient set: amb %x eff %x", n.Ambient, n.Effective)
	}

	bnd := root.Fork()
	bnd.Bounding &^= set(linux.CAP_CHOWN)
	if n, _ = bnd.ForExec(plain); n.Permitted.Has(linux.CAP_CHOWN) {
		t.Errorf("root regained CAP_CHOWN dropped from the bounding set")
	}
	noroot := root.Fork()
	noroot.SecureBits |= SecureNoRoot
	if n, _ = noroot.ForExec(plain); n.Permitted != 0 {
		t.Errorf("SECBIT_NOROOT: root still gets capabilities at exec: %x", n.Permitted)
	}
	kc := root.Fork()
	kc.SecureBits |= SecureKeepCaps
	if n, _ = kc.ForExec(plain); n.SecureBits&SecureKeepCaps != 0 {
		t.Errorf("keep-caps survives execve")
	}
}

// TestFixSetuid: capabilities follow UID changes.
func TestFixSetuid(t *testing.T) {
	root := NewRoot()
	n := root.Fork()
	n.RealUID, n.EffectiveUID, n.FSUID = 1000, 1000, 1000 // saved stays 0
	n.FixSetuid(root)
	if n.Effective != 0 || n.Permitted != AllCapabilities {
		t.Errorf("euid 0 -> 1000 with saved 0: eff %x perm %x", n.Effective, n.Permitted)
	}
	m := n.Fork()
	m.EffectiveUID = 0
	m.FixSetuid(n)
	if m.Effective != AllCapabilities {
		t.Errorf("euid back to 0: eff %x", m.Effective)
	}
	all := root.Fork()
	all.RealUID, all.EffectiveUID, all.SavedUID, all.FSUID = 1000, 1000, 1000, 1000
	all.Ambient = set(linux.CAP_KILL)
	all.FixSetuid(root)
	if all.Permitted != 0 || all.Effective != 0 || all.Ambient != 0 {
		t.Errorf("no root UID left: %+v", all)
	}
	keep := root.Fork()
	keep.SecureBits |= SecureKeepCaps
	k := keep.Fork()
	k.RealUID, k.EffectiveUID, k.SavedUID = 1000, 1000, 1000
	k.FixSetuid(keep)
	if k.Permitted != AllCapabilities || k.Effective != 0 {
		t.Errorf("keep-caps: perm %x eff %x", k.Permitted, k.Effective)
	}
	fs := root.Fork()
	fs.FSUID = 1000
	fs.FixSetfsuid(0)
	if fs.Effective.Has(linux.CAP_DAC_OVERRIDE) || !fs.Effective.Has(linux.CAP_KILL) {
		t.Errorf("fsuid 1000: eff %x", fs.Effective)
	}
	fs.FSUID = 0
	fs.FixSetfsuid(1000)
	if fs.Effective != AllCapabilities {
		t.Errorf("fsuid back to 0: eff %x", fs.Effective)
	}
}

// TestSetCapabilities: capset's rules.
func TestSetCapabilities(t *testing.T) {
	user := NewUser(1000, 1000, nil)
	user.Permitted = set(linux.CAP_KILL, linux.CAP_CHOWN)
	if _, ok := user.SetCapabilities(set(linux.CAP_SYS_ADMIN), user.Permitted|set(linux.CAP_SYS_ADMIN), 0); ok {
		t.Errorf("raised the permitted set")
	}
	if _, ok := user.SetCapabilities(set(linux.CAP_SYS_ADMIN), user.Permitted, 0); ok {
		t.Errorf("effective beyond permitted")
	}
	if _, ok := user.SetCapabilities(0, user.Permitted, set(linux.CAP_SYS_ADMIN)); ok {
		t.Errorf("inheritable beyond permitted without CAP_SETPCAP")
	}
	n, ok := user.SetCapabilities(set(linux.CAP_KILL), set(linux.CAP_KILL), set(linux.CAP_KILL))
	if !ok || n.Effective != set(linux.CAP_KILL) {
		t.Errorf("a permitted change refused")
	}
	n.Ambient = set(linux.CAP_KILL)
	n2, ok := n.SetCapabilities(0, 0, set(linux.CAP_KILL))
	if !ok || n2.Ambient != 0 {
		t.Errorf("dropping a permitted capability keeps it ambient: %x", n2.Ambient)
	}
	root := NewRoot()
	root.Bounding &^= set(linux.CAP_SYS_ADMIN)
	if _, ok := root.SetCapabilities(root.Effective, root.Permitted, set(linux.CAP_SYS_ADMIN)); ok {
		t.Errorf("inheritable beyond the bounding set and inheritable set")
	}
}

// TestForAccess: access(2) checks with the real IDs, and root's
// capabilities only for a real UID of 0.
func TestForAccess(t *testing.T) {
	c := NewUser(1000, 1000, nil)
	c.EffectiveUID, c.FSUID = 0, 0
	c.Effective, c.Permitted = AllCapabilities, AllCapabilities
	a := c.ForAccess()
	if a.FSUID != 1000 || a.Effective != 0 {
		t.Errorf("set-user-ID root's access: fsuid %d eff %x", a.FSUID, a.Effective)
	}
	r := NewRoot().ForAccess()
	if r.Effective != AllCapabilities {
		t.Errorf("root's access lost capabilities: %x", r.Effective)
	}
}
