package vfs

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/inotify"
	"golang.org/x/sys/unix"
)

// BenchmarkPWriteInotify measures what the inotify hooks add to a 1-byte
// pwrite of a tmpfs file: with no watch in the sandbox (one atomic load),
// with a watch on another file (the file's key and its directory's are
// looked up, the registry is asked), and with the file's directory
// watched (an event is queued; merged, as every one is identical).
func BenchmarkPWriteInotify(b *testing.B) {
	for _, c := range []string{"no-watch", "watch-elsewhere", "dir-watched"} {
		b.Run(c, func(b *testing.B) {
			v, fsc := newTestVFS(b, b.TempDir())
			f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/dev/shm/bench", unix.O_RDWR|unix.O_CREAT, 0644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.DecRef()
			if c != "no-watch" {
				in, err := inotify.New(0)
				if err != nil {
					b.Fatal(err)
				}
				defer in.Release()
				key := fs.FileKey{Dev: 1, Ino: 1}
				if c == "dir-watched" {
					dir, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/dev/shm", unix.O_RDONLY|unix.O_DIRECTORY, 0)
					if err != nil {
						b.Fatal(err)
					}
					key, err = dir.FileKey(ctx)
					dir.DecRef()
					if err != nil {
						b.Fatal(err)
					}
				}
				in.AddWatch(key, true, nil, unix.IN_MODIFY)
			}
			buf := []byte("x")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.PWrite(ctx, buf, int64(i&4095)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
