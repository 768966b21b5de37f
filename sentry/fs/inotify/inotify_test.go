package inotify

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

var nextIno uint64 = 1000

func newKey() fs.FileKey {
	nextIno++
	return fs.FileKey{Dev: 77, Ino: nextIno}
}

// drain reads every queued event of in (without blocking) as "wd:MASK:name"
// strings.
func drain(t *testing.T, in *Instance) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 1<<16)
	for {
		n, err := in.Read(fs.Background, buf, unix.O_NONBLOCK)
		if err == unix.EAGAIN {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		for b := buf[:n]; len(b) > 0; {
			wd := int32(binary.LittleEndian.Uint32(b))
			mask := binary.LittleEndian.Uint32(b[4:])
			l := binary.LittleEndian.Uint32(b[12:])
			name := strings.TrimRight(string(b[eventSize:eventSize+l]), "\x00")
			out = append(out, fmt.Sprintf("%d:%#x:%s", wd, mask, name))
			b = b[eventSize+l:]
		}
	}
}

func newInstance(t *testing.T) *Instance {
	t.Helper()
	in, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Release)
	return in
}

func TestChildEventsMergeAndOneshot(t *testing.T) {
	in := newInstance(t)
	dir, file := newKey(), newKey()
	dwd, err := in.AddWatch(dir, true, nil, unix.IN_ALL_EVENTS)
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := in.AddWatch(file, false, nil, unix.IN_MODIFY|unix.IN_ONESHOT)
	if err != nil {
		t.Fatal(err)
	}
	Notify(&dir, "f", file, false, unix.IN_MODIFY, nil)
	// Not merged: the last queued event is the oneshot's IN_IGNORED.
	Notify(&dir, "f", file, false, unix.IN_MODIFY, nil)
	// Merged into the one before (identical, and last in the queue).
	Notify(&dir, "f", file, false, unix.IN_MODIFY, nil)
	NotifyName(dir, "g", unix.IN_CREATE, 0, true)
	got := strings.Join(drain(t, in), " ")
	want := fmt.Sprintf("%d:0x2:f %d:0x2: %d:0x8000: %d:0x2:f %d:0x40000100:g", dwd, fwd, fwd, dwd, dwd)
	if got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
	if err := in.RmWatch(fwd); err != unix.EINVAL {
		t.Errorf("rm_watch of a fired oneshot watch: %v, want EINVAL", err)
	}
}

func TestMaskAddAndCreate(t *testing.T) {
	in := newInstance(t)
	k := newKey()
	wd, _ := in.AddWatch(k, false, nil, unix.IN_MODIFY)
	if w2, err := in.AddWatch(k, false, nil, unix.IN_ATTRIB|unix.IN_MASK_ADD); err != nil || w2 != wd {
		t.Fatalf("mask add: %d %v", w2, err)
	}
	if _, err := in.AddWatch(k, false, nil, unix.IN_ATTRIB|unix.IN_MASK_CREATE); err != unix.EEXIST {
		t.Errorf("IN_MASK_CREATE on a watched file: %v, want EEXIST", err)
	}
	Notify(nil, "", k, false, unix.IN_MODIFY, nil)
	Notify(nil, "", k, false, unix.IN_ATTRIB, nil)
	if got := len(drain(t, in)); got != 2 {
		t.Errorf("after IN_MASK_ADD: %d events, want 2", got)
	}
	in.AddWatch(k, false, nil, unix.IN_ATTRIB) // replaces
	Notify(nil, "", k, false, unix.IN_MODIFY, nil)
	if got := drain(t, in); len(got) != 0 {
		t.Errorf("after replacing the mask: %v, want none", got)
	}
	if err := ValidMask(unix.IN_MASK_ADD | unix.IN_MASK_CREATE | unix.IN_MODIFY); err != unix.EINVAL {
		t.Errorf("ValidMask(ADD|CREATE) = %v", err)
	}
}

func TestOverflow(t *testing.T) {
	old := Limits.MaxQueuedEvents.Load()
	Limits.MaxQueuedEvents.Store(8)
	in := newInstance(t)
	Limits.MaxQueuedEvents.Store(old)
	dir := newKey()
	in.AddWatch(dir, true, nil, unix.IN_CREATE)
	for i := 0; i < 20; i++ {
		NotifyName(dir, fmt.Sprint("n", i), unix.IN_CREATE, 0, false)
	}
	got := drain(t, in)
	if len(got) != 9 || got[8] != "-1:0x4000:" {
		t.Fatalf("events at a limit of 8: %d, last %q; want 9, the last IN_Q_OVERFLOW", len(got), got[len(got)-1])
	}
	// Read, the queue takes events again.
	NotifyName(dir, "again", unix.IN_CREATE, 0, false)
	if got := drain(t, in); len(got) != 1 {
		t.Errorf("after draining: %v", got)
	}
}

func TestDeleteSelfWaitsForRelease(t *testing.T) {
	in := newInstance(t)
	k := newKey()
	wd, _ := in.AddWatch(k, false, nil, unix.IN_DELETE_SELF)
	open := true
	OpenElsewhere = func(fs.FileKey) bool { return open }
	defer func() { OpenElsewhere = nil }()
	Removed(k)
	if got := drain(t, in); len(got) != 0 {
		t.Fatalf("DELETE_SELF while open: %v", got)
	}
	if !Pending() {
		t.Fatal("no deletion pending")
	}
	open = false
	Released(k)
	want := fmt.Sprintf("%d:0x400: %d:0x8000:", wd, wd)
	if got := strings.Join(drain(t, in), " "); got != want {
		t.Errorf("after the last close: %s, want %s", got, want)
	}
	if Pending() {
		t.Error("deletion still pending")
	}
}

func TestUnmounted(t *testing.T) {
	in := newInstance(t)
	fsys := new(int)
	a, b := newKey(), newKey()
	in.AddWatch(a, true, fsys, unix.IN_ATTRIB)
	in.AddWatch(b, false, fsys, unix.IN_ATTRIB)
	in.AddWatch(newKey(), false, new(int), unix.IN_ATTRIB)
	Unmounted(fsys)
	got := strings.Join(drain(t, in), " ")
	if want := "2:0x2000: 2:0x8000: 1:0x40002000: 1:0x8000:"; got != want {
		t.Errorf("unmount: %s, want %s", got, want)
	}
}

func TestUserLimits(t *testing.T) {
	oldW := Limits.MaxUserWatches.Load()
	Limits.MaxUserWatches.Store(2)
	defer Limits.MaxUserWatches.Store(oldW)
	in := newInstance(t)
	in.AddWatch(newKey(), false, nil, unix.IN_ATTRIB)
	in.AddWatch(newKey(), false, nil, unix.IN_ATTRIB)
	if _, err := in.AddWatch(newKey(), false, nil, unix.IN_ATTRIB); err != unix.ENOSPC {
		t.Errorf("past max_user_watches: %v, want ENOSPC", err)
	}
	oldI := Limits.MaxUserInstances.Load()
	Limits.MaxUserInstances.Store(1)
	defer Limits.MaxUserInstances.Store(oldI)
	if _, err := New(0); err != unix.EMFILE {
		t.Errorf("past max_user_instances: %v, want EMFILE", err)
	}
}

// TestConcurrentNotify has goroutines send events, add and remove watches
// and read at once (for the race detector); every event sent to a watch
// that stays is read once.
func TestConcurrentNotify(t *testing.T) {
	in := newInstance(t)
	dir := newKey()
	in.AddWatch(dir, true, nil, unix.IN_CREATE)
	const senders, each = 4, 200
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				NotifyName(dir, fmt.Sprintf("s%d-%d", s, i), unix.IN_CREATE, 0, false)
				k := newKeyLocked()
				wd, _ := in.AddWatch(k, false, nil, unix.IN_ATTRIB|unix.IN_ONESHOT)
				Notify(nil, "", k, false, unix.IN_ATTRIB, nil)
				in.RmWatch(wd)
			}
		}()
	}
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		for _, e := range drain(t, in) {
			if strings.HasPrefix(e, "1:0x100:") {
				if seen[e] {
					t.Errorf("event read twice: %s", e)
				}
				seen[e] = true
			}
		}
	}
	if len(seen) != senders*each {
		t.Errorf("read %d creations, want %d", len(seen), senders*each)
	}
}

var keyMu sync.Mutex

func newKeyLocked() fs.FileKey {
	keyMu.Lock()
	defer keyMu.Unlock()
	return newKey()
}
