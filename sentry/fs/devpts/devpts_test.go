package devpts

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

func names(t *testing.T, f *Filesystem) []string {
	t.Helper()
	ents, err := f.Root().Readdir(fs.Background)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name)
	}
	return out
}

// TestNumbers: terminals get the lowest free number; /dev/pts/N is there
// while the master is open; the number is reused once the master and
// every replica are closed.
func TestNumbers(t *testing.T) {
	f := New(DefaultOptions, nil)
	m0, err := f.OpenMaster(fs.Background, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := f.OpenMaster(fs.Background, unix.O_RDWR)
	if got := names(t, f); len(got) != 3 || got[0] != "ptmx" || got[1] != "0" || got[2] != "1" {
		t.Fatalf("entries %q", got)
	}
	n0, err := f.Root().Lookup(fs.Background, "0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n0.Open(fs.Background, unix.O_RDWR|unix.O_NOCTTY); err != unix.EIO {
		t.Errorf("open of a locked replica: %v, want EIO", err)
	}
	m0.(*MasterFile).Terminal().SetLocked(false)
	r0, err := n0.Open(fs.Background, unix.O_RDWR|unix.O_NOCTTY)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := n0.Stat(fs.Background)
	if st.Mode != unix.S_IFCHR|0600 || st.RdevMajor != 136 || st.RdevMinor != 0 || st.Ino != 3 {
		t.Errorf("stat of /dev/pts/0: mode %o rdev %d,%d ino %d", st.Mode, st.RdevMajor, st.RdevMinor, st.Ino)
	}
	m0.Release()
	if _, err := f.Root().Lookup(fs.Background, "0"); err != unix.ENOENT {
		t.Errorf("/dev/pts/0 after its master closed: %v", err)
	}
	m2, _ := f.OpenMaster(fs.Background, unix.O_RDWR)
	if i := m2.(*MasterFile).Terminal().Index(); i != 2 {
		t.Errorf("number %d while 0 has an open replica, want 2", i)
	}
	r0.Release()
	m3, _ := f.OpenMaster(fs.Background, unix.O_RDWR)
	if i := m3.(*MasterFile).Terminal().Index(); i != 0 {
		t.Errorf("number %d once 0 is free, want 0", i)
	}
	for _, m := range []fs.File{m1, m2, m3} {
		m.Release()
	}
	if got := names(t, f); len(got) != 1 {
		t.Errorf("entries after every master closed: %q", got)
	}
	if _, err := f.Root().Lookup(fs.Background, "00"); err != unix.ENOENT {
		t.Errorf("lookup of 00: %v", err)
	}
	if got := f.MountOptions(); got != "mode=600,ptmxmode=000" {
		t.Errorf("mount options %q", got)
	}
}
