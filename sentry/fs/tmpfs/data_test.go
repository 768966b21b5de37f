package tmpfs

import (
	"bytes"
	"testing"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/memfile"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// useZone points tmpfs at a fresh zone of size bytes for one test.
func useZone(t *testing.T, size uint64) *kswapd.Zone {
	t.Helper()
	mf, err := memfile.New(size)
	if err != nil {
		t.Fatal(err)
	}
	z, err := kswapd.New(mf, kswapd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	old := memory.zone.Load()
	SetMemory(z)
	t.Cleanup(func() {
		memory.zone.Store(old)
		mf.Release()
	})
	return z
}

// File data is memory-file pages counted as Shmem, and goes back to the
// memory file when the file's last name and last open description go.
func TestDataLivesInTheMemoryFile(t *testing.T) {
	z := useZone(t, 16<<20)
	ctx := fs.Background
	f := New(0755, 0, 0)
	used0 := z.MemoryFile().UsedPages()
	_, file, err := f.RootInode().Create(ctx, "x", 0644, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	if n, err := file.WriteAt(ctx, data, 0); err != nil || n != len(data) {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	if got := z.MemoryFile().UsedPages() - used0; got != 256 {
		t.Errorf("1 MiB of data took %d pages of the memory file, want 256", got)
	}
	if got := z.Snapshot().Stats[kswapd.NrShmem]; got != 256 {
		t.Errorf("Shmem %d pages, want 256", got)
	}
	back := make([]byte, len(data))
	if n, _ := file.ReadAt(ctx, back, 0); n != len(data) || !bytes.Equal(back, data) {
		t.Fatal("read back differs")
	}
	// Unlinked but open: the data stays.
	if err := f.RootInode().Unlink(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if n, _ := file.ReadAt(ctx, back, 0); n != len(data) || !bytes.Equal(back, data) {
		t.Fatal("data of an unlinked open file changed")
	}
	// The last close frees it.
	file.Release()
	if got := z.MemoryFile().UsedPages(); got != used0 {
		t.Errorf("after unlink and close %d pages in use, want %d", got, used0)
	}
	if got := z.Snapshot().Stats[kswapd.NrShmem]; got != 0 {
		t.Errorf("Shmem %d pages after the file went, want 0", got)
	}
}

// All tmpfs data together is limited to half the memory (Linux's default
// size=50%): writing beyond gives a short write, then ENOSPC.
func TestDataLimitedToHalfTheMemory(t *testing.T) {
	useZone(t, 8<<20)
	ctx := fs.Background
	f := New(0755, 0, 0)
	_, file, err := f.RootInode().Create(ctx, "big", 0644, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	// The limit counts the pages of every tmpfs in the process: free
	// this file's at the end (after the Release below), or the next run
	// of the test (-count) starts with them taken.
	t.Cleanup(func() { f.RootInode().Unlink(ctx, "big") })
	defer file.Release()
	chunk := make([]byte, 1<<20)
	var total int
	var lastErr error
	for i := 0; i < 16; i++ {
		n, err := file.WriteAt(ctx, chunk, int64(total))
		total += n
		if err != nil {
			lastErr = err
			break
		}
	}
	if lastErr != unix.ENOSPC {
		t.Fatalf("writing 16 MiB into 8 MiB of memory ended with %v after %d bytes, want ENOSPC", lastErr, total)
	}
	if total != 4<<20 {
		t.Errorf("wrote %d bytes before ENOSPC, want 4 MiB (half the memory)", total)
	}
	// Truncating gives the space back.
	if err := file.(*File).Inode().SetStat(ctx, fs.SetStat{Mask: linux.STATX_SIZE, Size: 0}); err != nil {
		t.Fatal(err)
	}
	if n, err := file.WriteAt(ctx, chunk, 0); err != nil || n != len(chunk) {
		t.Fatalf("write after truncate: %d, %v", n, err)
	}
}
