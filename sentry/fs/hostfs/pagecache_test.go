package hostfs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// hostBytesRead returns the bytes read from host files so far: hostfs's
// direct reads (every CPU's counter, without taking them) and the page
// cache's (z's pgpgin).
func hostBytesRead(z *kswapd.Zone) uint64 {
	var n uint64
	for i := range pageIO {
		n += pageIO[i].read.Load()
	}
	return n + z.Snapshot().Events[kswapd.PgpgIn]*1024
}

func withPageCache(t *testing.T) *kswapd.Zone {
	t.Helper()
	mf, err := memfile.New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	z, err := kswapd.New(mf, kswapd.Config{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	SetPageCache(z)
	t.Cleanup(func() {
		SetPageCache(nil)
		z.Stop()
		mf.Release()
	})
	return z
}

func readAll(t *testing.T, f fs.File, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	n, err := f.(*File).PositionalFile.Data.ReadAt(fs.Background, b, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// A second read of a file is served from the page cache (no host read),
// writes through the sandbox are seen by cached reads, truncation shortens
// them, and an O_DIRECT description bypasses the cache.
func TestReadsGoThroughThePageCache(t *testing.T) {
	z := withPageCache(t)
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640000 bytes
	if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	hf, err := New(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	n, err := hf.RootNode().Lookup(fs.Background, "f")
	if err != nil {
		t.Fatal(err)
	}
	open := func(flags uint32) fs.File {
		f, err := n.Open(fs.Background, flags)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	f1 := open(unix.O_RDONLY)
	start := hostBytesRead(z)
	if got := readAll(t, f1, len(data)+100); !bytes.Equal(got, data) {
		t.Fatalf("first read: %d bytes, differ", len(got))
	}
	f1.Release()
	before := hostBytesRead(z)
	if before-start < uint64(len(data))/2 {
		t.Errorf("the first read counted %d bytes read from the host", before-start)
	}
	f2 := open(unix.O_RDWR)
	if got := readAll(t, f2, len(data)+100); !bytes.Equal(got, data) {
		t.Fatalf("cached read: %d bytes, differ", len(got))
	}
	if after := hostBytesRead(z); after != before {
		t.Errorf("a cached read read %d bytes from the host", after-before)
	}

	// A write through the sandbox is seen by the cached pages.
	if _, err := f2.(*File).PositionalFile.Data.WriteAt(fs.Background, []byte("XYZ"), 5000); err != nil {
		t.Fatal(err)
	}
	mp, err := f2.(*File).Mappable()
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := mp.MappingIdentity()
	if d, i, _ := f2.(*File).Identity(); d != dev || i != ino {
		t.Errorf("Identity %d/%d, mappable's %d/%d", d, i, dev, ino)
	}

	copy(data[5000:], "XYZ")
	if got := readAll(t, f2, len(data)); !bytes.Equal(got, data) {
		t.Errorf("read after write does not show it")
	}
	// Truncation drops what is past the end.
	if err := f2.(*File).Truncate(fs.Background, 10000); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f2, len(data)); !bytes.Equal(got, data[:10000]) {
		t.Errorf("read after truncate to 10000: %d bytes", len(got))
	}
	f2.Release()

	// O_DIRECT reads the host (which has the write and the truncation).
	direct := open(unix.O_RDONLY)
	direct.(*File).direct = true
	before = hostBytesRead(z)
	if got := readAll(t, direct, len(data)); !bytes.Equal(got, data[:10000]) {
		t.Errorf("direct read: %d bytes, differ", len(got))
	}
	if hostBytesRead(z) == before {
		t.Errorf("an O_DIRECT read did not read the host")
	}
	direct.Release()
}

// The page cache's source of a released File fails instead of reading a
// descriptor number the host may have reused.
func TestReleasedFileSourceFails(t *testing.T) {
	withPageCache(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644)
	hf, err := New(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	n, _ := hf.RootNode().Lookup(fs.Background, "f")
	f, err := n.Open(fs.Background, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	rm := f.(*File).cacheSource()
	if rm == nil {
		t.Fatal("no page-cache source for a looked-up file")
	}
	f.Release()
	if _, err := rm.ReadAt(make([]byte, 4), 0); err != unix.EBADF {
		t.Errorf("read through a released file's source: %v, want EBADF", err)
	}
}

// Files of one inode and access mode share one live mappable: asking for
// it on every read (as the VFS does) duplicates no descriptor.
func TestMappableSharedPerInode(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644)
	hf, err := New(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	n, _ := hf.RootNode().Lookup(fs.Background, "f")
	var first any
	for i := 0; i < 100; i++ {
		f, err := n.Open(fs.Background, unix.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := f.(*File).Mappable()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = mp
		} else if mp != first {
			t.Fatalf("open %d: a new mappable", i)
		}
		f.Release()
	}
	w, _ := n.Open(fs.Background, unix.O_RDWR)
	defer w.Release()
	if mp, _ := w.(*File).Mappable(); mp == first {
		t.Errorf("a writable open shares the read-only mappable")
	}
}
