package tmpfs

import (
	"bytes"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func TestSparseDataAndTruncate(t *testing.T) {
	f := New(0755, 0, 0)
	ctx := fs.Background
	_, file, err := f.RootInode().Create(ctx, "x", 0644, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	// Free the file's pages at the end: every tmpfs in the process
	// counts against one limit (TestDataLimitedToHalfTheMemory).
	defer f.RootInode().Unlink(ctx, "x")
	defer file.Release()
	const far = 10 << 20
	if _, err := file.WriteAt(ctx, []byte("end"), far); err != nil {
		t.Fatal(err)
	}
	in := file.(*File).Inode()
	if in.Size() != far+3 {
		t.Fatalf("size %d", in.Size())
	}
	st, _ := in.Stat(ctx)
	if st.Blocks*512 > 2*pageSize {
		t.Fatalf("hole allocated: %d blocks", st.Blocks)
	}
	buf := make([]byte, 8)
	n, _ := file.ReadAt(ctx, buf, far-5)
	if n != 8 || !bytes.Equal(buf, []byte{0, 0, 0, 0, 0, 'e', 'n', 'd'}) {
		t.Fatalf("read across hole: %d %q", n, buf)
	}
	in.SetStat(ctx, fs.SetStat{Mask: linux.STATX_SIZE, Size: far + 1})
	in.SetStat(ctx, fs.SetStat{Mask: linux.STATX_SIZE, Size: far + 3})
	n, _ = file.ReadAt(ctx, buf[:3], far)
	if !bytes.Equal(buf[:3], []byte{'e', 0, 0}) {
		t.Fatalf("after shrink and grow: %q", buf[:3])
	}
	// Append and the position.
	if _, err := file.Write(ctx, []byte("++"), unix.O_APPEND); err != nil {
		t.Fatal(err)
	}
	if in.Size() != far+5 {
		t.Fatalf("append size %d", in.Size())
	}
}

func TestTreeOps(t *testing.T) {
	f := New(0755, 0, 0)
	ctx := fs.Background
	r := f.RootInode()
	r.Mkdir(ctx, "a", 0755)
	r.Mkdir(ctx, "b", 0755)
	a := r.Child("a")
	a.Mknod(ctx, "fifo", unix.S_IFIFO|0644, 0)
	a.Symlink(ctx, "ln", "fifo")
	if err := r.Rename(ctx, "a", r.Child("b"), "a2", 0); err != nil {
		t.Fatal(err)
	}
	if r.Child("b").Child("a2") != a {
		t.Fatal("rename lost the directory")
	}
	if err := r.Child("b").Rename(ctx, "a2", a, "x", 0); err != unix.EINVAL {
		t.Fatalf("rename into itself: %v", err)
	}
	if err := r.Rmdir(ctx, "b"); err != unix.ENOTEMPTY {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	st, _ := r.Stat(ctx)
	if st.Nlink != 3 {
		t.Fatalf("root nlink %d", st.Nlink)
	}
	_, _, _ = r.Create(ctx, "f", 0644, unix.O_RDONLY)
	if err := r.Link(ctx, "g", r.Child("f")); err != nil {
		t.Fatal(err)
	}
	st, _ = r.Child("f").Stat(ctx)
	if st.Nlink != 2 {
		t.Fatalf("link count %d", st.Nlink)
	}
	if err := r.Unlink(ctx, "b"); err != unix.EISDIR {
		t.Fatalf("unlink dir: %v", err)
	}
}
