package hostfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

func readNode(t *testing.T, n fs.Node) string {
	t.Helper()
	f, err := n.Open(fs.Background, unix.O_RDONLY)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer f.Release()
	b := make([]byte, 4096)
	k, err := f.Read(fs.Background, b, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:k])
}

// A directory replaced on the host by a symlink to the host's /etc after
// the sentry looked it up must not lead outside the root.
func TestHostSymlinkSwapStaysInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "d"), 0755)
	os.MkdirAll(filepath.Join(root, "etc"), 0755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("inside"), 0644)
	os.WriteFile(filepath.Join(root, "d/passwd"), []byte("d"), 0644)
	f, err := New(root, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.RootNode().Lookup(fs.Background, "d")
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(root, "d"))
	os.Symlink("/etc", filepath.Join(root, "d"))
	n, err := d.(*Node).Lookup(fs.Background, "passwd")
	if err == nil {
		if got := readNode(t, n); got != "inside" {
			t.Fatalf("read %q through a swapped symlink", got)
		}
	}
	// Relative escapes are clamped to the root by RESOLVE_IN_ROOT.
	fd, err := f.openRel("../../../../etc/passwd", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("openRel: %v", err)
	}
	b := make([]byte, 64)
	k, _ := unix.Read(fd, b)
	unix.Close(fd)
	if string(b[:k]) != "inside" {
		t.Fatalf("../ escape read %q", b[:k])
	}
}

func TestHostNodeOps(t *testing.T) {
	root := t.TempDir()
	f, err := New(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := f.RootNode()
	ctx := fs.Background
	_, file, err := r.Create(ctx, "a", 0640, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	file.Write(ctx, []byte("hello"), 0)
	file.Write(ctx, []byte("!"), unix.O_APPEND)
	file.Release()
	if b, _ := os.ReadFile(filepath.Join(root, "a")); string(b) != "hello!" {
		t.Fatalf("host content %q", b)
	}
	if st, _ := os.Stat(filepath.Join(root, "a")); st.Mode().Perm() != 0640 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := r.Mkdir(ctx, "d", 0700); err != nil {
		t.Fatal(err)
	}
	if err := r.Symlink(ctx, "l", "a"); err != nil {
		t.Fatal(err)
	}
	l, _ := r.Lookup(ctx, "l")
	if target, _ := l.(*Node).Readlink(ctx); target != "a" {
		t.Fatalf("readlink %q", target)
	}
	d, _ := r.Lookup(ctx, "d")
	if err := r.Rename(ctx, "a", d.(fs.Directory), "b", 0); err != nil {
		t.Fatal(err)
	}
	b, err := d.(*Node).Lookup(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.(*Node).SetStat(ctx, fs.SetStat{Mask: 0x10 /* STATX_MODE */ | 0x200 /* STATX_SIZE */, Mode: 0600, Size: 2}); err != nil {
		t.Fatal(err)
	}
	if bb, _ := os.ReadFile(filepath.Join(root, "d/b")); string(bb) != "he" {
		t.Fatalf("after truncate %q", bb)
	}
	ents, _ := r.Readdir(ctx)
	if len(ents) != 2 {
		t.Fatalf("readdir %v", ents)
	}
	if err := d.(*Node).Unlink(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := r.Rmdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	ro, _ := New(root, true)
	if err := ro.RootNode().Mkdir(ctx, "x", 0755); err != unix.EROFS {
		t.Fatalf("ro mkdir: %v", err)
	}
	if _, err := ro.RootNode().Lookup(ctx, "nope"); err != unix.ENOENT {
		t.Fatalf("lookup missing: %v", err)
	}
}
