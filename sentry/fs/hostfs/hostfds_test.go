package hostfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestHostFDsSharedAndBudgeted: descriptions of one host file opened the
// same way share one host descriptor (1,000 opens, one descriptor), a
// different access mode gets its own, the last release closes it, and an
// open past the budget of distinct files fails with ENFILE while opens of
// files already open still work.
func TestHostFDsSharedAndBudgeted(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 4; i++ {
		os.WriteFile(filepath.Join(root, fmt.Sprint("f", i)), []byte("x"), 0644)
	}
	f, err := New(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lookup := func(name string) fs.Node {
		n, err := f.RootNode().Lookup(fs.Background, name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, open0 := openFDs(t), HostFDsOpen()
	n0 := lookup("f0")
	var files []fs.File
	for i := 0; i < 1000; i++ {
		file, err := n0.Open(fs.Background, unix.O_RDONLY)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		files = append(files, file)
	}
	if got := openFDs(t) - before; got != 1 {
		t.Errorf("1,000 read-only opens of one file hold %d host descriptors, want 1", got)
	}
	w, err := n0.Open(fs.Background, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if got := HostFDsOpen() - open0; got != 2 {
		t.Errorf("read-only and read-write descriptions: %d shared descriptors, want 2", got)
	}
	w.Release()
	for _, file := range files {
		file.Release()
	}
	// The read-only descriptor stays open, idle, for the next open; the
	// read-write one is closed.
	if got := HostFDsOpen() - open0; got != 1 {
		t.Errorf("%d shared descriptors left after every release, want 1 idle", got)
	}
	idleFDs := openFDs(t)
	r, err := lookup("f0").Open(fs.Background, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t) - idleFDs; got != 0 {
		t.Errorf("opening a file with an idle descriptor opened %d host descriptors, want 0", got)
	}
	r.Release()
	// The idle descriptors are bounded: opening more files than that
	// closes the oldest.
	for i := 0; i < maxIdleFDs+4; i++ {
		name := fmt.Sprint("many", i)
		os.WriteFile(filepath.Join(root, name), nil, 0644)
		file, err := lookup(name).Open(fs.Background, unix.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		file.Release()
	}
	if got := HostFDsOpen() - open0; got != maxIdleFDs {
		t.Errorf("%d idle descriptors after %d files were opened and closed, want %d", got, maxIdleFDs+4, maxIdleFDs)
	}

	SetHostFDBudget(open0 + 2)
	defer SetHostFDBudget(0)
	a, err := lookup("f1").Open(fs.Background, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := lookup("f2").Open(fs.Background, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if _, err := lookup("f3").Open(fs.Background, unix.O_RDONLY); err != unix.ENFILE {
		t.Errorf("a third distinct file over a budget of two: %v, want ENFILE", err)
	}
	again, err := lookup("f1").Open(fs.Background, unix.O_RDONLY)
	if err != nil {
		t.Errorf("a file already open, over the budget: %v, want it shared", err)
	} else {
		again.Release()
	}
}
