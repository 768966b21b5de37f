package procfs

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"github.com/runsc-lite/runsc-lite/workqueue"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

func vmstatField(t *testing.T, text, name string) uint64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s in /proc/vmstat:\n%s", name, text)
	return 0
}

// The per-CPU folds run on each CPU's own kworker (kworker/N:M) and move
// the page I/O counted on that CPU into /proc/vmstat.
func TestVmstatFoldsOnPerCPUKworkers(t *testing.T) {
	s := process.NewSandbox()
	k := kernel.New(kernel.Config{CPUs: 2})
	s.Kernel = k
	defer k.Shutdown()
	k.ReserveTID()
	k.StartKthreadd()
	log := logrus.New()
	log.SetOutput(io.Discard)
	sys, err := workqueue.Init(k, workqueue.Config{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()

	var mu sync.Mutex
	folders := map[int]map[string]bool{}
	wrongCPU := 0
	vmstatFoldHook = func(tk *kernel.Task, cpu int) {
		mu.Lock()
		defer mu.Unlock()
		if folders[cpu] == nil {
			folders[cpu] = map[string]bool{}
		}
		folders[cpu][tk.Name()] = true
		if tk.CPU().ID() != cpu {
			wrongCPU++
		}
	}
	defer func() { vmstatFoldHook = nil }()

	v := testVFS(t, t.TempDir())
	s.VFS = v
	if err := v.Mount(fs.Background, "/proc", New(s), vfs.MountOptions{Source: "proc"}); err != nil {
		t.Fatal(err)
	}
	fsc, _ := v.NewFSContext("/")
	before := vmstatField(t, read(t, v, fsc, "/proc/vmstat"), "pgpgout")

	f, err := v.OpenAt(fs.Background, fsc, fsc.Cwd(), "/v/f", unix.O_WRONLY|unix.O_CREAT, 0644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(fs.Background, bytes.Repeat([]byte("x"), 64<<10))
	f.DecRef()

	u, err := StartVmstat(sys, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for (u.Folds(0) < 3 || u.Folds(1) < 3) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	u.Stop(nil)
	if u.Folds(0) < 3 || u.Folds(1) < 3 {
		t.Fatalf("folds: cpu0 %d cpu1 %d", u.Folds(0), u.Folds(1))
	}
	mu.Lock()
	for cpu := 0; cpu < 2; cpu++ {
		if len(folders[cpu]) == 0 {
			t.Errorf("cpu %d never folded", cpu)
		}
		for name := range folders[cpu] {
			if !strings.HasPrefix(name, "kworker/"+strconv.Itoa(cpu)+":") && name != "mm_percpu_wq" {
				t.Errorf("cpu %d folded by %q, not its kworker", cpu, name)
			}
		}
	}
	if wrongCPU != 0 {
		t.Errorf("%d folds ran on another CPU", wrongCPU)
	}
	mu.Unlock()

	text := read(t, v, fsc, "/proc/vmstat")
	if after := vmstatField(t, text, "pgpgout"); after < before+64 {
		t.Errorf("pgpgout %d -> %d after writing 64 KiB", before, after)
	}
	for _, name := range []string{"nr_free_pages", "nr_dirty", "pgpgin"} {
		vmstatField(t, text, name)
	}
}
