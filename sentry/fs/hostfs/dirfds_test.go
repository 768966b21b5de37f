package hostfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// TestDirFDsBoundedAndForgotten: lookups in 100 directories hold at most
// dirFDCacheSize directory descriptors, and a rename by the sandbox makes
// the next lookup under the old name reach the directory now there, not
// the one moved away.
func TestDirFDsBoundedAndForgotten(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 100; i++ {
		d := filepath.Join(root, fmt.Sprint("d", i))
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644)
	}
	f, err := New(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lookup := func(dir fs.Node, name string) (fs.Node, error) {
		return dir.(*Node).Lookup(fs.Background, name)
	}
	base := openFDs(t)
	for i := 0; i < 100; i++ {
		d, err := lookup(f.RootNode(), fmt.Sprint("d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lookup(d, "f"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.(*Node).Stat(fs.Background); err != nil {
			t.Fatal(err)
		}
	}
	if held := openFDs(t) - base; held > dirFDCacheSize {
		t.Errorf("%d descriptors held after lookups in 100 directories, want at most %d", held, dirFDCacheSize)
	}

	d0, err := lookup(f.RootNode(), "d0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(d0, "f"); err != nil { // d0 is cached now
		t.Fatal(err)
	}
	if err := f.RootNode().Rename(fs.Background, "d0", f.RootNode(), "moved", 0); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(root, "d0"), 0o755)
	os.WriteFile(filepath.Join(root, "d0", "g"), nil, 0o644)
	if _, err := lookup(d0, "g"); err != nil {
		t.Errorf("lookup of d0/g after the rename: %v (a descriptor of the moved directory was kept)", err)
	}
	if _, err := lookup(d0, "f"); err != unix.ENOENT {
		t.Errorf("lookup of d0/f after the rename: %v, want ENOENT", err)
	}
	f.forgetDirs()
	if held := openFDs(t) - base; held > 0 {
		t.Errorf("%d descriptors still held after forgetDirs", held)
	}
}

// TestXattrNamesFollowHostChanges: a file's cached attribute names answer
// ENODATA for an ACL it does not have, and an ACL the host adds behind
// the sandbox's back is seen by the next lookup (its ctime changed).
func TestXattrNamesFollowHostChanges(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "f")
	os.WriteFile(p, []byte("x"), 0o644)
	f, err := New(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const acl = "system.posix_acl_access"
	get := func() ([]byte, error) {
		n, err := f.RootNode().Lookup(fs.Background, "f")
		if err != nil {
			t.Fatal(err)
		}
		return n.(*Node).GetXattr(fs.Background, acl)
	}
	if _, err := get(); err != unix.ENODATA {
		t.Fatalf("GetXattr(%s) of a file without one: %v, want ENODATA", acl, err)
	}
	// user::rw- user:1:r-- group::r-- mask::r-- other::r--
	val := []byte{2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 4, 0, 1, 0, 0, 0,
		4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff}
	if err := unix.Setxattr(p, acl, val, 0); err != nil {
		t.Skipf("the host cannot set an ACL on %s: %v", root, err)
	}
	got, err := get()
	if err != nil {
		t.Fatalf("GetXattr(%s) after the host set one: %v", acl, err)
	}
	if string(got) != string(val) {
		t.Errorf("GetXattr(%s) = %x, want %x", acl, got, val)
	}
}
