package vfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteDenial: a file an address space runs (DenyWrite) cannot be
// opened for writing or truncated, by any path to it, and across the
// overlay's copy-up; a file open for writing cannot be denied (exec'd);
// releasing the last denial (and a forked one) allows writes again.
func TestWriteDenial(t *testing.T) {
	v, fsc := newTestVFS(t, testRoot(t))
	if len(v.writers.m) != 0 {
		t.Fatalf("write counts before anything ran: %v", v.writers.m)
	}
	resolve := func(p string) Location {
		t.Helper()
		loc, err := v.Resolve(ctx, fsc, fsc.Cwd(), p, true)
		if err != nil {
			t.Fatalf("resolve %s: %v", p, err)
		}
		return loc
	}
	open := func(p string, flags uint32) error {
		t.Helper()
		f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), p, flags, 0o644)
		if err == nil {
			f.DecRef()
		}
		return err
	}
	d, err := v.DenyWrite(ctx, resolve("/data/a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		flags uint32
		want  error
	}{
		{"/data/a.txt", unix.O_WRONLY, unix.ETXTBSY},
		{"/data/a.txt", unix.O_RDWR, unix.ETXTBSY},
		{"/data/a.txt", unix.O_RDONLY | unix.O_TRUNC, unix.ETXTBSY},
		{"/data/./sub/../a.txt", unix.O_WRONLY | unix.O_CREAT, unix.ETXTBSY},
		{"/data/a.txt", unix.O_RDONLY, nil},
		{"/data/sub/b.txt", unix.O_WRONLY, nil},
	} {
		if err := open(tc.path, tc.flags); err != tc.want {
			t.Errorf("open %s %#x while executed: %v, want %v", tc.path, tc.flags, err, tc.want)
		}
	}
	if err := v.CheckWrite(ctx, resolve("/data/a.txt")); err != unix.ETXTBSY {
		t.Errorf("CheckWrite (truncate) while executed: %v, want ETXTBSY", err)
	}
	if got, err := readAll(t, v, fsc, "/data/a.txt"); err != nil || got != "alpha" {
		t.Errorf("the file changed: %q, %v", got, err)
	}
	fork := d.DupRef()
	d.Release()
	d.Release() // a second release is a no-op
	if err := open("/data/a.txt", unix.O_WRONLY); err != unix.ETXTBSY {
		t.Errorf("open for writing while a forked address space runs it: %v, want ETXTBSY", err)
	}
	fork.Release()
	// Copied up now (written through the overlay), and open for writing:
	// it cannot be executed until that description is gone.
	f, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/data/a.txt", unix.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open for writing after the release: %v", err)
	}
	g, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/data/a.txt", unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.DenyWrite(ctx, resolve("/data/a.txt")); err != unix.ETXTBSY {
		t.Errorf("DenyWrite while open for writing: %v, want ETXTBSY", err)
	}
	f.DecRef()
	if _, err := v.DenyWrite(ctx, resolve("/data/a.txt")); err != unix.ETXTBSY {
		t.Errorf("DenyWrite while still open for writing once: %v, want ETXTBSY", err)
	}
	g.DecRef()
	d, err = v.DenyWrite(ctx, resolve("/data/a.txt"))
	if err != nil {
		t.Fatalf("DenyWrite with no writer left: %v", err)
	}
	if err := open("/data/a.txt", unix.O_WRONLY); err != unix.ETXTBSY {
		t.Errorf("open for writing of the copied-up file while executed: %v, want ETXTBSY", err)
	}
	d.Release()
	if len(v.writers.m) != 0 {
		t.Errorf("write counts left behind: %v", v.writers.m)
	}
	// A new file open for writing cannot be executed either.
	h, err := v.OpenAt(ctx, fsc, fsc.Cwd(), "/data/new", unix.O_WRONLY|unix.O_CREAT, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.DenyWrite(ctx, resolve("/data/new")); err != unix.ETXTBSY {
		t.Errorf("DenyWrite of a new file still open for writing: %v, want ETXTBSY", err)
	}
	h.DecRef()
}
