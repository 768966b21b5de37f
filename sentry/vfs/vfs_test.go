package vfs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/overlay"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// testRoot builds a host directory tree for a sandbox root:
//
//	etc/passwd            "root:x:0:0\n"
//	etc/hosts             "127.0.0.1 localhost\n"
//	data/a.txt            "alpha"
//	data/sub/b.txt        "beta"
//	evil                  -> /etc/passwd (absolute symlink)
//	up                    -> ../../../../../etc (relative symlink)
func testRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc"), 0755))
	must(os.MkdirAll(filepath.Join(dir, "data/sub"), 0755))
	must(os.MkdirAll(filepath.Join(dir, "tmp"), 01777))
	must(os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0\n"), 0644))
	must(os.WriteFile(filepath.Join(dir, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0644))
	must(os.WriteFile(filepath.Join(dir, "data/a.txt"), []byte("alpha"), 0644))
	must(os.WriteFile(filepath.Join(dir, "data/sub/b.txt"), []byte("beta"), 0644))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "evil")))
	must(os.Symlink("../../../../../etc", filepath.Join(dir, "up")))
	return dir
}

// testVolume is a host directory bound into the test VFS.
type testVolume struct {
	HostPath, SandboxPath string
	ReadOnly              bool
}

// newTestVFS builds `do`'s tree: root read-only under an in-memory
// layer, a devfs on /dev with a tmpfs on /dev/shm, and the volumes.
func newTestVFS(t testing.TB, root string, vols ...testVolume) (*VirtualFilesystem, *FSContext) {
	t.Helper()
	lower, err := hostfs.New(root, true)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := overlay.New(lower)
	if err != nil {
		t.Fatal(err)
	}
	v := NewWithRoot(ov, "overlay")
	if err := v.Mount(fs.Background, "/dev", devfs.New(devfs.Options{TTYHostFD: -1}), MountOptions{Source: "devtmpfs", Data: "mode=755"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Mount(fs.Background, "/dev/shm", tmpfs.New(01777, 0, 0), MountOptions{Source: "shm"}); err != nil {
		t.Fatal(err)
	}
	for _, vol := range vols {
		hf, err := hostfs.New(vol.HostPath, vol.ReadOnly)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Mount(fs.Background, vol.SandboxPath, hf, MountOptions{ReadOnly: vol.ReadOnly, Source: vol.HostPath}); err != nil {
			t.Fatal(err)
		}
	}
	fsc, err := v.NewFSContext("/")
	if err != nil {
		t.Fatal(err)
	}
	return v, fsc
}

var ctx = fs.Background

func readAll(t *testing.T, v *VirtualFilesystem, fsc *FSContext, p string) (string, error) {
	t.Helper()
	f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), p, unix.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.DecRef()
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := f.Read(ctx, buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return "", err
		}
		if n == 0 {
			return string(out), nil
		}
	}
}

func writeFile(t *testing.T, v *VirtualFilesystem, fsc *FSContext, p string, flags uint32, data string) error {
	t.Helper()
	f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), p, unix.O_WRONLY|flags, 0644)
	if err != nil {
		return err
	}
	defer f.DecRef()
	_, err = f.Write(ctx, []byte(data))
	return err
}

func listDir(t *testing.T, v *VirtualFilesystem, fsc *FSContext, p string) []string {
	t.Helper()
	f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.DecRef()
	var names []string
	if err := f.Getdents(ctx, v, func(d fs.Dirent, off int64) bool {
		if d.Name != "." && d.Name != ".." {
			names = append(names, d.Name)
		}
		return true
	}); err != nil {
		t.Fatalf("getdents %s: %v", p, err)
	}
	sort.Strings(names)
	return names
}

func hostFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("host read %s: %v", p, err)
	}
	return string(b)
}

func TestOverlayCopyUpLeavesHostUnchanged(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	if err := writeFile(t, v, fsc, "/etc/passwd", unix.O_APPEND, "user:x:1000:1000\n"); err != nil {
		t.Fatalf("append: %v", err)
	}
	got, err := readAll(t, v, fsc, "/etc/passwd")
	if err != nil || got != "root:x:0:0\nuser:x:1000:1000\n" {
		t.Fatalf("inside: %q, %v", got, err)
	}
	if h := hostFile(t, filepath.Join(root, "etc/passwd")); h != "root:x:0:0\n" {
		t.Fatalf("host file changed: %q", h)
	}
	// Truncation, chmod and utimes copy up too.
	if err := writeFile(t, v, fsc, "/etc/hosts", unix.O_TRUNC, "x"); err != nil {
		t.Fatal(err)
	}
	loc, err := v.Resolve(ctx, fsc, fsc.Cwd(), "/data/a.txt", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetStat(ctx, loc, fs.SetStat{Mask: linux.STATX_MODE, Mode: 0600}, false); err != nil {
		t.Fatal(err)
	}
	st, _ := Stat(ctx, loc)
	if st.Mode&0777 != 0600 {
		t.Fatalf("mode inside %o", st.Mode)
	}
	hst, _ := os.Stat(filepath.Join(root, "data/a.txt"))
	if hst.Mode().Perm() != 0644 {
		t.Fatalf("host mode changed to %v", hst.Mode())
	}
	if h := hostFile(t, filepath.Join(root, "etc/hosts")); h != "127.0.0.1 localhost\n" {
		t.Fatalf("host hosts changed: %q", h)
	}
	// The copy keeps the host file's identity.
	var hs unix.Stat_t
	unix.Stat(filepath.Join(root, "data/a.txt"), &hs)
	if st.Ino != hs.Ino {
		t.Fatalf("copied-up inode %d, host %d", st.Ino, hs.Ino)
	}
}

func TestOverlayStatMatchesHost(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	loc, err := v.Resolve(ctx, fsc, fsc.Cwd(), "/etc/passwd", true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Stat(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	var hs unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "etc/passwd"), &hs); err != nil {
		t.Fatal(err)
	}
	s := fs.StatFromStatx(&st)
	if s.Ino != hs.Ino || s.Dev != hs.Dev || s.Size != hs.Size || s.Mode != hs.Mode || s.Nlink != hs.Nlink ||
		s.UID != hs.Uid || s.MTime.Sec != hs.Mtim.Sec || s.MTime.Nsec != hs.Mtim.Nsec {
		t.Fatalf("stat differs:\n sandbox %+v\n host    %+v", s, hs)
	}
}

func TestOverlayWhiteoutsAndMergedListing(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	if err := v.UnlinkAt(ctx, fsc, fsc.Cwd(), "/data/a.txt"); err != nil {
		t.Fatalf("unlink: %v", err)
	}
	if _, err := readAll(t, v, fsc, "/data/a.txt"); err != unix.ENOENT {
		t.Fatalf("unlinked file still readable: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "data/a.txt")); err != nil {
		t.Fatalf("host file removed: %v", err)
	}
	if err := writeFile(t, v, fsc, "/data/new.txt", unix.O_CREAT, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "data/new.txt")); err == nil {
		t.Fatalf("new file reached the host")
	}
	if got := strings.Join(listDir(t, v, fsc, "/data"), ","); got != "new.txt,sub" {
		t.Fatalf("merged listing %q", got)
	}
	// Recreate the whited-out name: the new file, not the host's.
	if err := writeFile(t, v, fsc, "/data/a.txt", unix.O_CREAT|unix.O_EXCL, "again"); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, v, fsc, "/data/a.txt"); got != "again" {
		t.Fatalf("recreated file reads %q", got)
	}
	// rmdir of a lower directory that is not empty.
	if err := v.RmdirAt(ctx, fsc, fsc.Cwd(), "/data/sub"); err != unix.ENOTEMPTY {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	if err := v.UnlinkAt(ctx, fsc, fsc.Cwd(), "/data/sub/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := v.RmdirAt(ctx, fsc, fsc.Cwd(), "/data/sub"); err != nil {
		t.Fatalf("rmdir emptied: %v", err)
	}
	if err := v.MkdirAt(ctx, fsc, fsc.Cwd(), "/data/sub", 0755); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, v, fsc, "/data/sub"); len(got) != 0 {
		t.Fatalf("recreated dir shows lower entries: %v", got)
	}
	if _, err := os.Stat(filepath.Join(root, "data/sub/b.txt")); err != nil {
		t.Fatalf("host tree changed: %v", err)
	}
}

func TestOverlayRename(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	// A lower directory keeps its lower contents under its new name.
	if err := v.RenameAt(ctx, fsc, fsc.Cwd(), "/data", fsc.Cwd(), "/moved", 0); err != nil {
		t.Fatalf("rename dir: %v", err)
	}
	if got, err := readAll(t, v, fsc, "/moved/sub/b.txt"); err != nil || got != "beta" {
		t.Fatalf("moved dir content: %q %v", got, err)
	}
	if _, err := v.Resolve(ctx, fsc, fsc.Cwd(), "/data", true); err != unix.ENOENT {
		t.Fatalf("old name still resolves: %v", err)
	}
	if err := v.RenameAt(ctx, fsc, fsc.Cwd(), "/moved/a.txt", fsc.Cwd(), "/etc/a2", 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, v, fsc, "/etc/a2"); got != "alpha" {
		t.Fatalf("renamed file reads %q", got)
	}
	if got := strings.Join(listDir(t, v, fsc, "/moved"), ","); got != "sub" {
		t.Fatalf("listing after rename: %q", got)
	}
	if err := v.RenameAt(ctx, fsc, fsc.Cwd(), "/moved", fsc.Cwd(), "/moved/sub/x", 0); err != unix.EINVAL {
		t.Fatalf("rename into itself: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "data/a.txt")); err != nil {
		t.Fatalf("host changed: %v", err)
	}
}

func TestConfinement(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	// An absolute symlink resolves inside the sandbox root.
	if got, err := readAll(t, v, fsc, "/evil"); err != nil || got != "root:x:0:0\n" {
		t.Fatalf("/evil: %q %v", got, err)
	}
	if err := os.Remove(filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, v, fsc, "/evil"); err != unix.ENOENT {
		t.Fatalf("/evil reached outside the root: %v", err)
	}
	for _, p := range []string{"/../../../../etc/passwd", "../../../etc/passwd", "/up/passwd", "/data/../../../../etc/passwd", "/up/../../../etc/passwd"} {
		if got, err := readAll(t, v, fsc, p); err == nil {
			t.Fatalf("%s escaped: %q", p, got)
		}
	}
	if got, err := readAll(t, v, fsc, "/up/hosts"); err != nil || got != "127.0.0.1 localhost\n" {
		t.Fatalf("/up/hosts: %q %v", got, err)
	}
	if loc, err := v.Resolve(ctx, fsc, fsc.Cwd(), "/../..", true); err != nil || loc.Path != "/" {
		t.Fatalf("/../..: %v %v", loc.Path, err)
	}
}

func TestVolumes(t *testing.T) {
	root := testRoot(t)
	rw, ro := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "r.txt"), []byte("ro"), 0644)
	v, fsc := newTestVFS(t, root,
		testVolume{HostPath: rw, SandboxPath: "/mnt/rw"},
		testVolume{HostPath: ro, SandboxPath: "/data/ro", ReadOnly: true})
	if err := writeFile(t, v, fsc, "/mnt/rw/out.txt", unix.O_CREAT, "to host"); err != nil {
		t.Fatalf("write volume: %v", err)
	}
	if h := hostFile(t, filepath.Join(rw, "out.txt")); h != "to host" {
		t.Fatalf("volume write not on host: %q", h)
	}
	if err := v.MkdirAt(ctx, fsc, fsc.Cwd(), "/mnt/rw/d", 0755); err != nil {
		t.Fatal(err)
	}
	if err := v.RenameAt(ctx, fsc, fsc.Cwd(), "/mnt/rw/out.txt", fsc.Cwd(), "/mnt/rw/d/o2", 0); err != nil {
		t.Fatal(err)
	}
	if h := hostFile(t, filepath.Join(rw, "d/o2")); h != "to host" {
		t.Fatalf("rename on host: %q", h)
	}
	if err := v.RenameAt(ctx, fsc, fsc.Cwd(), "/mnt/rw/d/o2", fsc.Cwd(), "/tmp/o3", 0); err != unix.EXDEV {
		t.Fatalf("cross-mount rename: %v", err)
	}
	if got, err := readAll(t, v, fsc, "/data/ro/r.txt"); err != nil || got != "ro" {
		t.Fatalf("ro read: %q %v", got, err)
	}
	if err := writeFile(t, v, fsc, "/data/ro/r.txt", 0, "x"); err != unix.EROFS {
		t.Fatalf("ro write: %v", err)
	}
	if err := writeFile(t, v, fsc, "/data/ro/new", unix.O_CREAT, "x"); err != unix.EROFS {
		t.Fatalf("ro create: %v", err)
	}
	if err := v.UnlinkAt(ctx, fsc, fsc.Cwd(), "/data/ro/r.txt"); err != unix.EROFS {
		t.Fatalf("ro unlink: %v", err)
	}
	// The mount point directory was made in the overlay, not on the host.
	if _, err := os.Stat(filepath.Join(root, "mnt")); err == nil {
		t.Fatalf("mount point created on the host")
	}
	// ".." out of a volume goes back to its mount point's parent.
	if got, err := readAll(t, v, fsc, "/data/ro/../a.txt"); err != nil || got != "alpha" {
		t.Fatalf("/data/ro/../a.txt: %q %v", got, err)
	}
	// A symlink in the volume cannot leave it through the host.
	os.Symlink("../../../../../../etc/passwd", filepath.Join(rw, "esc"))
	if _, err := readAll(t, v, fsc, "/mnt/rw/esc"); err != unix.ENOENT {
		// Resolved in the sandbox: /etc/passwd of the sandbox root.
		if err != nil {
			t.Fatalf("esc: %v", err)
		}
	}
	ms := v.MountsText("/")
	if !strings.Contains(ms, " /mnt/rw ") || !strings.Contains(ms, " /data/ro 9p ro") {
		t.Fatalf("mounts:\n%s", ms)
	}
}

func TestDevAndTmp(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	if err := writeFile(t, v, fsc, "/dev/null", 0, "discard"); err != nil {
		t.Fatal(err)
	}
	f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/dev/zero", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{1, 2, 3}
	if n, err := f.Read(ctx, b); n != 3 || err != nil || b[0]|b[1]|b[2] != 0 {
		t.Fatalf("zero: %v %v %v", n, err, b)
	}
	f.DecRef()
	if err := writeFile(t, v, fsc, "/dev/full", 0, "x"); err != unix.ENOSPC {
		t.Fatalf("/dev/full: %v", err)
	}
	if _, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/dev/tty", unix.O_RDWR, 0); err != unix.ENXIO {
		t.Fatalf("/dev/tty without a terminal: %v", err)
	}
	if err := writeFile(t, v, fsc, "/dev/shm/seg", unix.O_CREAT, "shm"); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(t, v, fsc, "/tmp/t", unix.O_CREAT, "tmp"); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, v, fsc, "/tmp/t"); got != "tmp" {
		t.Fatalf("/tmp/t: %q", got)
	}
	if got, _ := v.ReadlinkAt(ctx, fsc, fsc.Cwd(), "/dev/stdout"); got != "/proc/self/fd/1" {
		t.Fatalf("/dev/stdout -> %q", got)
	}
}

func TestPathErrors(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	long := "/" + strings.Repeat("a", 256)
	if _, err := v.Resolve(ctx, fsc, fsc.Cwd(), long, true); err != unix.ENAMETOOLONG {
		t.Fatalf("long component: %v", err)
	}
	if _, err := v.Resolve(ctx, fsc, fsc.Cwd(), strings.Repeat("a/", 2048), true); err != unix.ENAMETOOLONG {
		t.Fatalf("long path: %v", err)
	}
	if _, err := v.Resolve(ctx, fsc, fsc.Cwd(), "/etc/passwd/", true); err != unix.ENOTDIR {
		t.Fatalf("trailing slash on a file: %v", err)
	}
	if _, err := v.Resolve(ctx, fsc, fsc.Cwd(), "/etc/passwd/x", true); err != unix.ENOTDIR {
		t.Fatalf("file as dir: %v", err)
	}
	if err := v.SymlinkAt(ctx, fsc, "loop2", fsc.Cwd(), "/tmp/loop1"); err != nil {
		t.Fatal(err)
	}
	v.SymlinkAt(ctx, fsc, "loop1", fsc.Cwd(), "/tmp/loop2")
	if _, err := v.Resolve(ctx, fsc, fsc.Cwd(), "/tmp/loop1", true); err != unix.ELOOP {
		t.Fatalf("symlink loop: %v", err)
	}
	if _, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/tmp/loop1", unix.O_RDONLY|unix.O_NOFOLLOW, 0); err != unix.ELOOP {
		t.Fatalf("O_NOFOLLOW: %v", err)
	}
	// O_CREAT through a dangling symlink creates the target.
	v.SymlinkAt(ctx, fsc, "/tmp/target", fsc.Cwd(), "/tmp/dangling")
	if err := writeFile(t, v, fsc, "/tmp/dangling", unix.O_CREAT, "via link"); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, v, fsc, "/tmp/target"); got != "via link" {
		t.Fatalf("target: %q", got)
	}
	if err := v.MkdirAt(ctx, fsc, fsc.Cwd(), "/etc", 0755); err != unix.EEXIST {
		t.Fatalf("mkdir existing: %v", err)
	}
	if _, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/etc", unix.O_WRONLY, 0); err != unix.EISDIR {
		t.Fatalf("open dir for write: %v", err)
	}
}

func TestOpenExecutable(t *testing.T) {
	root := testRoot(t)
	os.WriteFile(filepath.Join(root, "prog"), []byte("\x7fELF"), 0755)
	os.Symlink("prog", filepath.Join(root, "link"))
	v, fsc := newTestVFS(t, root)
	f, err := v.OpenExecutableAs(fs.Background, fsc, "/link")
	if err != nil {
		t.Fatal(err)
	}
	if f.Path() != "/prog" {
		t.Fatalf("path %q", f.Path())
	}
	b := make([]byte, 8)
	if n, _ := f.ReadAt(b, 0); n != 4 {
		t.Fatalf("ReadAt: %d", n)
	}
	m, err := f.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, p := m.MappingIdentity(); p != "/prog" {
		t.Fatalf("mapping path %q", p)
	}
	f.DecRef()
	if _, err := v.OpenExecutableAs(fs.Background, fsc, "/etc/passwd"); err != unix.EACCES {
		t.Fatalf("non-executable: %v", err)
	}
	if _, err := v.OpenExecutableAs(fs.Background, fsc, "/etc"); err != unix.EACCES {
		t.Fatalf("directory: %v", err)
	}
	if _, err := v.OpenExecutableAs(fs.Background, fsc, "/nope"); err != unix.ENOENT {
		t.Fatalf("missing: %v", err)
	}
}

func TestFDTable(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	tbl := NewFDTable()
	open := func() *FileDescription {
		f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/etc/hosts", unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := open()
	fd0, _ := tbl.Install(f, false)
	fd1, _ := tbl.Install(f, true)
	f.DecRef()
	if fd0 != 0 || fd1 != 1 {
		t.Fatalf("fds %d %d", fd0, fd1)
	}
	// dup shares the offset.
	a, _ := tbl.Get(0)
	buf := make([]byte, 4)
	a.Read(ctx, buf)
	a.DecRef()
	b, _ := tbl.Get(1)
	b.Read(ctx, buf)
	if string(buf) != "0.0." {
		t.Fatalf("shared offset: read %q", buf)
	}
	b.DecRef()
	// Lowest free number.
	g := open()
	tbl.InstallAt(5, g, false)
	tbl.Remove(0)
	if n, _ := tbl.Install(g, false); n != 0 {
		t.Fatalf("lowest free: %d", n)
	}
	if n, _ := tbl.InstallFrom(3, g, false); n != 3 {
		t.Fatalf("F_DUPFD 3: %d", n)
	}
	g.DecRef()
	// Close-on-exec.
	tbl.CloseOnExec()
	if _, err := tbl.Get(1); err != unix.EBADF {
		t.Fatalf("cloexec fd survived: %v", err)
	}
	if fds := tbl.FDs(); len(fds) != 3 {
		t.Fatalf("fds after exec: %v", fds)
	}
	// Limit.
	tbl.SetLimit(6)
	h := open()
	installed := 0
	for ; ; installed++ {
		if _, err := tbl.Install(h, false); err != nil {
			if err != unix.EMFILE {
				t.Fatalf("over limit: %v", err)
			}
			break
		}
	}
	if err := tbl.InstallAt(6, h, false); err != unix.EBADF {
		t.Fatalf("dup2 beyond limit: %v", err)
	}
	// Fork shares descriptions; release drops them.
	child := tbl.Fork()
	tbl.Release()
	if _, err := child.Get(0); err != nil {
		t.Fatalf("forked table lost fd: %v", err)
	}
	if installed != 3 || h.refs.Load() != int64(1+installed) {
		t.Fatalf("refs %d", h.refs.Load())
	}
	child.Release()
	if h.refs.Load() != 1 {
		t.Fatalf("refs after release %d", h.refs.Load())
	}
	h.DecRef()
}

func TestGetdentsResume(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	var names []string
	for {
		got := 0
		f.Getdents(ctx, v, func(d fs.Dirent, off int64) bool {
			if got == 2 {
				return false
			}
			got++
			names = append(names, d.Name)
			return true
		})
		if got == 0 {
			break
		}
	}
	want := []string{".", "..", "data", "dev", "etc", "evil", "tmp", "up"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("getdents: %v", names)
	}
}

func TestReadOnlyOpenSeesCopyUp(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	ro, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/data/a.txt", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.DecRef()
	m, err := ro.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if n, _ := m.ReadAt(buf, 0); string(buf[:n]) != "alpha" {
		t.Fatalf("before: %q", buf[:n])
	}
	if err := writeFile(t, v, fsc, "/data/a.txt", 0, "ALPHA"); err != nil {
		t.Fatal(err)
	}
	if n, _ := ro.PRead(ctx, buf, 0); string(buf[:n]) != "ALPHA" {
		t.Fatalf("read after copy-up: %q", buf[:n])
	}
	if n, _ := m.ReadAt(buf, 0); string(buf[:n]) != "ALPHA" {
		t.Fatalf("mapping after copy-up: %q", buf[:n])
	}
	if h := hostFile(t, filepath.Join(root, "data/a.txt")); h != "alpha" {
		t.Fatalf("host changed: %q", h)
	}
}

func TestConcurrentOverlayChanges(t *testing.T) {
	root := testRoot(t)
	v, fsc := newTestVFS(t, root)
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		w := w
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				name := "/data/f" + string(rune('a'+w))
				writeFile(t, v, fsc, name, unix.O_CREAT|unix.O_TRUNC, "x")
				readAll(t, v, fsc, "/data/sub/b.txt")
				v.RenameAt(ctx, fsc, fsc.Cwd(), name, fsc.Cwd(), name+"2", 0)
				v.UnlinkAt(ctx, fsc, fsc.Cwd(), name+"2")
				v.MkdirAt(ctx, fsc, fsc.Cwd(), "/data/d"+string(rune('a'+w)), 0755)
				v.RmdirAt(ctx, fsc, fsc.Cwd(), "/data/d"+string(rune('a'+w)))
				listDir(t, v, fsc, "/data")
			}
		}()
	}
	for w := 0; w < 4; w++ {
		<-done
	}
	if got := strings.Join(listDir(t, v, fsc, "/data"), ","); got != "a.txt,sub" {
		t.Fatalf("after concurrent changes: %q", got)
	}
}
