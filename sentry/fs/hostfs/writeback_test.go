package hostfs

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// wbEnv is a kernel with workqueues and a writable hostfs with
// write-behind over a temporary directory.
type wbEnv struct {
	k   *kernel.Kernel
	sys *workqueue.System
	fs  *FS
	dir string

	mu      sync.Mutex
	workers []string
}

func newWBEnv(t *testing.T, delay time.Duration, limit int) *wbEnv {
	t.Helper()
	k := kernel.New(kernel.Config{CPUs: 2})
	k.ReserveTID()
	k.StartKthreadd()
	log := logrus.New()
	log.SetOutput(io.Discard)
	sys, err := workqueue.Init(k, workqueue.Config{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &wbEnv{k: k, sys: sys, dir: t.TempDir()}
	e.fs, err = New(e.dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fs.EnableWriteback(WritebackOptions{WQ: sys.Writeback, Delay: delay, Limit: limit}); err != nil {
		t.Fatal(err)
	}
	writebackHook = func(tk *kernel.Task) {
		e.mu.Lock()
		e.workers = append(e.workers, tk.Name())
		e.mu.Unlock()
	}
	t.Cleanup(func() {
		writebackHook = nil
		e.fs.Close()
		sys.Shutdown()
		k.Shutdown()
	})
	return e
}

func (e *wbEnv) ranOn() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.workers...)
}

// inTask runs fn as a task and waits for it.
func (e *wbEnv) inTask(fn func(ctx *fs.Context)) {
	tk := e.k.NewTask(kernel.TaskOptions{Name: "test", Entry: func(tk *kernel.Task) { fn(&fs.Context{Task: tk}) }})
	tk.Start()
	<-tk.Exited()
}

func (e *wbEnv) host(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *wbEnv) create(t *testing.T, name string) *File {
	t.Helper()
	_, f, err := e.fs.RootNode().Create(fs.Background, name, 0644, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if f.(*File).cache == nil {
		t.Fatal("a writable file of a write-behind filesystem has no write cache")
	}
	return f.(*File)
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return cond()
}

func checkWorkers(t *testing.T, names []string) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("no write-back item ran")
	}
	for _, n := range names {
		// Unbound kworkers, or the writeback workqueue's rescuer.
		if !strings.HasPrefix(n, "kworker/u") && n != "writeback" {
			t.Fatalf("write-back ran on %q, not a kworker", n)
		}
	}
}

func TestWritebackRunsOnKworker(t *testing.T) {
	const delay = 500 * time.Millisecond
	e := newWBEnv(t, delay, 0)
	f := e.create(t, "f")
	defer f.Release()
	start := time.Now()
	e.inTask(func(ctx *fs.Context) {
		if n, err := f.Write(ctx, []byte("hello "), 0); n != 6 || err != nil {
			t.Errorf("write: %d %v", n, err)
		}
		if n, err := f.Write(ctx, []byte("world"), 0); n != 5 || err != nil {
			t.Errorf("write: %d %v", n, err)
		}
	})
	// Not written through: the host file and the dirty count are read
	// before the delay is over, unless the host made the test that slow
	// (then the write-back may rightly have happened: say so, check
	// only what follows).
	got, dirty := e.host(t, "f"), DirtyBytes()
	if looked := time.Since(start); looked >= delay {
		t.Logf("looked %v after the first write, past the %v delay: not checking that the data waited", looked, delay)
	} else if got != "" {
		t.Fatalf("written through at once: host holds %q", got)
	} else if dirty < 11 {
		t.Fatalf("DirtyBytes %d", dirty)
	}
	if !waitUntil(10*time.Second, func() bool { return e.host(t, "f") == "hello world" }) {
		t.Fatalf("never written back: host holds %q", e.host(t, "f"))
	}
	checkWorkers(t, e.ranOn())
}

func TestWritebackReadYourWrites(t *testing.T) {
	e := newWBEnv(t, time.Hour, 0)
	f := e.create(t, "f")
	defer f.Release()
	ctx := fs.Background
	f.WriteAt(ctx, []byte("abcdef"), 0)
	f.WriteAt(ctx, []byte("XY"), 2)
	f.WriteAt(ctx, []byte("tail"), 10) // a hole
	// Size sees the dirty end without a flush.
	if end, err := f.Seek(ctx, 0, unix.SEEK_END); end != 14 || err != nil {
		t.Fatalf("SEEK_END %d %v", end, err)
	}
	// Another description of the same file sees the data.
	other, err := e.fs.RootNode().Lookup(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	r, err := other.Open(ctx, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	f.WriteAt(ctx, []byte("Z"), 0)
	buf := make([]byte, 32)
	n, _ := r.ReadAt(ctx, buf, 0)
	if want := "ZbXYef\x00\x00\x00\x00tail"; string(buf[:n]) != want {
		t.Fatalf("other description read %q, want %q", buf[:n], want)
	}
	// stat by path sees the size.
	f.WriteAt(ctx, []byte("more"), 14)
	st, err := other.Stat(ctx)
	if err != nil || st.Size != 18 {
		t.Fatalf("stat: size %d, %v", st.Size, err)
	}
	// The same description reads its own writes.
	f.WriteAt(ctx, []byte("!"), 17)
	n, _ = f.ReadAt(ctx, buf, 14)
	if string(buf[:n]) != "mor!" {
		t.Fatalf("read %q", buf[:n])
	}
	// A write through the other description of the inode comes after the
	// dirty data.
	w, err := other.Open(ctx, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(ctx, []byte("1"), 0)
	w.WriteAt(ctx, []byte("2"), 0)
	w.Release()
	f.Release()
	if got := e.host(t, "f"); got[0] != '2' {
		t.Fatalf("host holds %q: writes reordered", got)
	}
}

func TestWritebackFsyncWaitsForKworker(t *testing.T) {
	e := newWBEnv(t, time.Hour, 0)
	f := e.create(t, "f")
	defer f.Release()
	e.inTask(func(ctx *fs.Context) {
		for i := 0; i < 5; i++ {
			f.Write(ctx, []byte("line\n"), 0)
			if err := f.Sync(ctx); err != nil {
				t.Errorf("fsync: %v", err)
			}
			if got, want := e.host(t, "f"), strings.Repeat("line\n", i+1); got != want {
				t.Errorf("after fsync the host holds %q, want %q", got, want)
			}
		}
	})
	checkWorkers(t, e.ranOn())
}

func TestWritebackCloseFlushes(t *testing.T) {
	e := newWBEnv(t, time.Hour, 0)
	f := e.create(t, "f")
	f.Write(fs.Background, []byte("bye\n"), 0)
	if got := e.host(t, "f"); got != "" {
		t.Fatalf("host holds %q before close", got)
	}
	f.Release()
	if got := e.host(t, "f"); got != "bye\n" {
		t.Fatalf("host holds %q after close", got)
	}
}

func TestWritebackSyncAll(t *testing.T) {
	e := newWBEnv(t, time.Hour, 0)
	a, b := e.create(t, "a"), e.create(t, "b")
	defer a.Release()
	defer b.Release()
	a.Write(fs.Background, []byte("A"), 0)
	b.Write(fs.Background, []byte("B"), 0)
	e.inTask(func(ctx *fs.Context) {
		if err := e.fs.SyncAll(ctx.Task); err != nil {
			t.Errorf("SyncAll: %v", err)
		}
	})
	if e.host(t, "a") != "A" || e.host(t, "b") != "B" {
		t.Fatalf("after syncfs: %q %q", e.host(t, "a"), e.host(t, "b"))
	}
	checkWorkers(t, e.ranOn())
	// At exit: from a goroutine that is not a task.
	a.Write(fs.Background, []byte("2"), 0)
	if err := e.fs.SyncAll(nil); err != nil || e.host(t, "a") != "A2" {
		t.Fatalf("SyncAll(nil): %v, %q", err, e.host(t, "a"))
	}
}

func TestWritebackLimitAndTruncate(t *testing.T) {
	e := newWBEnv(t, time.Hour, 16)
	f := e.create(t, "f")
	defer f.Release()
	ctx := fs.Background
	big := bytes.Repeat([]byte("x"), 32)
	f.Write(ctx, big, 0)
	if got := e.host(t, "f"); got != string(big) {
		t.Fatalf("a write over the limit was not written through: %q", got)
	}
	f.WriteAt(ctx, []byte("0123456789"), 0)
	f.WriteAt(ctx, []byte("abcdefghij"), 40) // over the limit: flush, then buffer
	if got := e.host(t, "f"); got != "0123456789"+string(big[10:]) {
		t.Fatalf("host holds %q", got)
	}
	if err := f.Truncate(ctx, 44); err != nil {
		t.Fatal(err)
	}
	if got := e.host(t, "f"); got != "0123456789"+string(big[10:])+"\x00\x00\x00\x00\x00\x00\x00\x00abcd" {
		t.Fatalf("truncate did not flush first: %q", got)
	}
	ro, err := New(e.dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.EnableWriteback(WritebackOptions{WQ: e.sys.Writeback}) == nil {
		t.Fatal("write-behind on a read-only filesystem")
	}
}

// Random overlapping writes through the cache land on the host exactly as
// the same writes made directly.
func TestWritebackExtentsModel(t *testing.T) {
	e := newWBEnv(t, time.Hour, 4096)
	f := e.create(t, "f")
	defer f.Release()
	rng := rand.New(rand.NewSource(1))
	var model []byte
	for i := 0; i < 2000; i++ {
		off := rng.Intn(3000)
		n := 1 + rng.Intn(200)
		b := make([]byte, n)
		rng.Read(b)
		f.WriteAt(fs.Background, b, int64(off))
		if end := off + n; end > len(model) {
			model = append(model, make([]byte, end-len(model))...)
		}
		copy(model[off:], b)
		if i%97 == 0 {
			buf := make([]byte, len(model)+10)
			k, _ := f.ReadAt(fs.Background, buf, 0)
			if !bytes.Equal(buf[:k], model) {
				t.Fatalf("step %d: read differs from the model", i)
			}
		}
	}
	if err := f.Sync(fs.Background); err != nil {
		t.Fatal(err)
	}
	if got := e.host(t, "f"); got != string(model) {
		t.Fatal("host file differs from the model")
	}
}

// A mapping's page-ins see dirty data written after the mmap.
func TestWritebackMappableSeesDirtyData(t *testing.T) {
	e := newWBEnv(t, time.Hour, 0)
	f := e.create(t, "f")
	defer f.Release()
	f.WriteAt(fs.Background, []byte("before"), 0)
	m, err := f.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(fs.Background, []byte("AFTER!"), 0)
	buf := make([]byte, 6)
	if n, _ := m.ReadAt(buf, 0); string(buf[:n]) != "AFTER!" {
		t.Fatalf("page-in read %q", buf[:n])
	}
}
