package workqueue

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"golang.org/x/sys/unix"
)

func TestHostFDCloserClosesOnKworker(t *testing.T) {
	k, sys := newSystem(t, 2, Config{})
	var mu sync.Mutex
	closedBy := map[int]string{}
	closer := NewHostFDCloser(sys.Unbound, func(tk *kernel.Task, fd int) error {
		mu.Lock()
		closedBy[fd] = tk.Name()
		mu.Unlock()
		return unix.Close(fd)
	})
	var fds []int
	for i := 0; i < 50; i++ {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		fds = append(fds, p[0], p[1])
	}
	// Hand them over from a task, as close(2) would, and flush.
	inTask(k, func(tk *kernel.Task) {
		for _, fd := range fds {
			closer.Close(fd)
		}
		closer.Flush(tk)
	})
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			// The number may have been reused by the runtime; only a
			// descriptor we did not close is an error.
			if _, ok := closedBy[fd]; !ok {
				t.Fatalf("fd %d is still open", fd)
			}
		}
		if name := closedBy[fd]; !strings.HasPrefix(name, "kworker/u") {
			t.Fatalf("fd %d closed by %q, not an unbound kworker", fd, name)
		}
	}
	if c, f := closer.Stats(); c != uint64(len(fds)) || f != 0 {
		t.Fatalf("stats: closed %d failed %d", c, f)
	}
}

func TestWritebackWritesBehindAndSyncWaits(t *testing.T) {
	k, sys := newSystem(t, 2, Config{})
	path := filepath.Join(t.TempDir(), "file")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	// The file's cache: what the sandbox wrote, not yet on the host.
	var cacheMu sync.Mutex
	var cache []byte
	var writers sync.Map
	var failNext atomic.Bool
	write := func(tk *kernel.Task) error {
		writers.Store(tk.Name(), true)
		if failNext.Swap(false) {
			return unix.EIO
		}
		cacheMu.Lock()
		data := append([]byte(nil), cache...)
		cacheMu.Unlock()
		// Take a while, so Sync really waits.
		sleepTask(tk, 2*time.Millisecond)
		_, err := unix.Pwrite(fd, data, 0)
		return err
	}
	wb := NewWriteback(sys.Writeback, 20*time.Millisecond, write)
	appendData := func(s string) {
		cacheMu.Lock()
		cache = append(cache, s...)
		cacheMu.Unlock()
		wb.MarkDirty()
	}

	// Write-behind on its own, after the delay.
	appendData("hello ")
	if !waitFor(5*time.Second, func() bool { return !wb.Dirty() }) {
		t.Fatal("dirty data was never written back")
	}
	if got, _ := os.ReadFile(path); string(got) != "hello " {
		t.Fatalf("file holds %q", got)
	}

	// fsync: a long delay, so only Sync can have written it.
	wb.delay = time.Hour
	inTask(k, func(tk *kernel.Task) {
		for i := 0; i < 20; i++ {
			appendData("world ")
			if err := wb.Sync(tk); err != nil {
				t.Errorf("Sync: %v", err)
				return
			}
			cacheMu.Lock()
			want := append([]byte(nil), cache...)
			cacheMu.Unlock()
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
				t.Errorf("after Sync the file holds %q, want %q", got, want)
				return
			}
		}
	})

	// A failed write is reported once by Sync and retried by the next.
	failNext.Store(true)
	appendData("again")
	if err := wb.Sync(nil); !errors.Is(err, unix.EIO) {
		t.Fatalf("Sync after a failed write: %v", err)
	}
	if err := wb.Sync(nil); err != nil || wb.Dirty() {
		t.Fatalf("retrying Sync: %v, dirty %v", err, wb.Dirty())
	}

	// syncfs over a set, then the last close.
	var set WritebackSet
	set.Add(wb)
	appendData("!")
	if err := set.Sync(nil); err != nil || wb.Dirty() {
		t.Fatalf("set Sync: %v, dirty %v", err, wb.Dirty())
	}
	appendData("?")
	if err := wb.Close(nil); err != nil || wb.Dirty() {
		t.Fatalf("Close: %v, dirty %v", err, wb.Dirty())
	}
	if got, _ := os.ReadFile(path); !strings.HasSuffix(string(got), "again!?") {
		t.Fatalf("file holds %q", got)
	}
	writers.Range(func(key, _ any) bool {
		// The rescuer may step in if a worker is slow to create.
		if name := key.(string); !strings.HasPrefix(name, "kworker/u") && name != "writeback" {
			t.Errorf("writeback ran on %q, not an unbound kworker or the rescuer", name)
		}
		return true
	})
}

func TestVmstatUpdaterFoldsPerCPU(t *testing.T) {
	_, sys := newSystem(t, 2, Config{})
	var wrong atomic.Int32
	var names sync.Map
	u, err := StartVmstatUpdater(sys.MMPerCPU, 10*time.Millisecond, func(tk *kernel.Task, cpu int) {
		if tk.CPU().ID() != cpu {
			wrong.Add(1)
		}
		names.Store(tk.Name(), cpu)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return u.Folds(0) >= 3 && u.Folds(1) >= 3 }) {
		t.Fatalf("folds: cpu0 %d cpu1 %d", u.Folds(0), u.Folds(1))
	}
	u.Stop(nil)
	f0, f1 := u.Folds(0), u.Folds(1)
	time.Sleep(50 * time.Millisecond)
	if u.Folds(0) != f0 || u.Folds(1) != f1 {
		t.Fatal("folds went on after Stop")
	}
	if wrong.Load() != 0 {
		t.Fatalf("%d folds ran on another CPU", wrong.Load())
	}
	names.Range(func(key, value any) bool {
		name, cpu := key.(string), value.(int)
		if !strings.HasPrefix(name, "kworker/"+string(rune('0'+cpu))+":") && name != "mm_percpu_wq" {
			t.Errorf("cpu %d folded by %q", cpu, name)
		}
		return true
	})
	if _, err := StartVmstatUpdater(sys.Unbound, time.Second, nil); err == nil {
		t.Fatal("vmstat updater accepted an unbound workqueue")
	}
}
