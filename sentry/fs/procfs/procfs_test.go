package procfs

import (
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/overlay"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

func read(t *testing.T, v *vfs.VirtualFilesystem, fsc *vfs.FSContext, p string) string {
	t.Helper()
	f, err := v.OpenAt(fs.Background, fsc, fsc.Cwd(), p, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.DecRef()
	var out []byte
	buf := make([]byte, 1000)
	for {
		n, err := f.Read(fs.Background, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

// testVFS returns a VFS whose root is a new empty host directory (read
// only, under an in-memory layer), with host directory vol bound writable
// at /v if vol is not "".
func testVFS(t *testing.T, vol string) *vfs.VirtualFilesystem {
	t.Helper()
	lower, err := hostfs.New(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := overlay.New(lower)
	if err != nil {
		t.Fatal(err)
	}
	v := vfs.NewWithRoot(ov, "overlay")
	if vol != "" {
		hf, err := hostfs.New(vol, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Mount(fs.Background, "/v", hf, vfs.MountOptions{Source: vol}); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestProcfsKthreadsAndSystemFiles(t *testing.T) {
	s := process.NewSandbox()
	s.Kernel = kernel.New(kernel.Config{CPUs: 2})
	defer s.Kernel.Shutdown()
	s.Kernel.ReserveTID() // PID 1 is init's
	s.Kernel.StartKthreadd()
	v := testVFS(t, "")
	s.VFS = v
	if err := v.Mount(fs.Background, "/proc", New(s), vfs.MountOptions{Source: "proc"}); err != nil {
		t.Fatal(err)
	}
	fsc, _ := v.NewFSContext("/")
	stat := read(t, v, fsc, "/proc/2/stat")
	if !strings.HasPrefix(stat, "2 (kthreadd) ") {
		t.Fatalf("kthreadd stat: %q", stat)
	}
	if fields := strings.Fields(stat); len(fields) != 52 || fields[3] != "0" {
		t.Fatalf("stat has %d fields, ppid %q", len(fields), fields[3])
	}
	if c := read(t, v, fsc, "/proc/2/cmdline"); c != "" {
		t.Fatalf("kthread cmdline %q", c)
	}
	if n := strings.Count(read(t, v, fsc, "/proc/cpuinfo"), "processor\t:"); n != 2 {
		t.Fatalf("cpuinfo shows %d processors", n)
	}
	for _, p := range []string{"/proc/meminfo", "/proc/stat", "/proc/uptime", "/proc/loadavg", "/proc/version",
		"/proc/filesystems", "/proc/sys/kernel/hostname", "/proc/sys/kernel/pid_max", "/proc/2/status", "/proc/2/mounts"} {
		if read(t, v, fsc, p) == "" {
			t.Errorf("%s is empty", p)
		}
	}
	if !strings.Contains(read(t, v, fsc, "/proc/2/mounts"), "proc /proc proc rw") {
		t.Fatalf("mounts: %q", read(t, v, fsc, "/proc/2/mounts"))
	}
	dir, err := v.OpenAt(fs.Background, fsc, fsc.Cwd(), "/proc", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.DecRef()
	var names []string
	dir.Getdents(fs.Background, v, func(d fs.Dirent, _ int64) bool { names = append(names, d.Name); return true })
	if !strings.Contains(" "+strings.Join(names, " ")+" ", " 2 ") {
		t.Fatalf("/proc listing lacks kthreadd: %v", names)
	}
	if _, err := v.Resolve(fs.Background, fsc, fsc.Cwd(), "/proc/self", true); err != unix.ENOENT {
		t.Fatalf("/proc/self without a task: %v", err)
	}
	if _, err := v.Resolve(fs.Background, fsc, fsc.Cwd(), "/proc/99999", true); err != unix.ENOENT {
		t.Fatalf("/proc/99999: %v", err)
	}
}
