package lock

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// fakeHost records what the lock manager asks of the host and can refuse.
type fakeHost struct {
	log     []string
	refuse  bool // SetRange and Flock upgrades fail with EAGAIN
	closed  bool
	ranges  map[int64]int16
	flock   int16
	acquire int
}

func (h *fakeHost) SetRange(typ int16, start, end int64) error {
	if h.refuse && typ != unix.F_UNLCK {
		return unix.EAGAIN
	}
	h.log = append(h.log, fmt.Sprintf("range %d %d-%d", typ, start, end))
	return nil
}

func (h *fakeHost) Flock(typ int16) error {
	if h.refuse && typ != unix.F_UNLCK {
		return unix.EAGAIN
	}
	h.log = append(h.log, fmt.Sprintf("flock %d", typ))
	h.flock = typ
	return nil
}

func (h *fakeHost) Acquired()  { h.acquire++ }
func (h *fakeHost) Releasing() {}
func (h *fakeHost) Close()     { h.closed = true }

type fakeFile struct{ h *fakeHost }

func (f fakeFile) HostLocks() (fs.HostLocks, error) { return f.h, nil }

var nextKey uint64

func newKey() fs.FileKey {
	nextKey++
	return fs.FileKey{Dev: 99, Ino: nextKey}
}

func setNB(t *testing.T, key fs.FileKey, host fs.HostLockable, r Request) error {
	t.Helper()
	return Set(fs.Background, key, host, r, false)
}

func ranges(key fs.FileKey) string {
	var out []string
	for _, l := range Held(key) {
		out = append(out, fmt.Sprintf("%v:%d:%d-%d", l.Owner, l.Type, l.Start, l.End))
	}
	return strings.Join(out, " ")
}

func TestMergeAndSplit(t *testing.T) {
	key := newKey()
	a := "a"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_WRLCK, Start: 0, End: 99, Owner: a}))
	must(setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_UNLCK, Start: 40, End: 59, Owner: a}))
	must(setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_WRLCK, Start: 100, End: 199, Owner: a}))
	must(setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_RDLCK, Start: 150, End: 160, Owner: a}))
	if got, want := ranges(key), "a:1:0-39 a:1:60-149 a:0:150-160 a:1:161-199"; got != want {
		t.Errorf("locks: %s, want %s", got, want)
	}
	must(setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_UNLCK, Start: 0, End: MaxOffset, Owner: a}))
	if got := ranges(key); got != "" {
		t.Errorf("after unlocking everything: %s", got)
	}
	if HasPOSIX(a) {
		t.Errorf("owner still counted after unlocking everything")
	}
	mu.Lock()
	_, still := files[key]
	mu.Unlock()
	if still {
		t.Errorf("an empty file's entry is kept")
	}
}

func TestConflicts(t *testing.T) {
	key := newKey()
	a, b := "a", "b"
	if err := setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_RDLCK, Start: 0, End: 9, Owner: a, PID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_RDLCK, Start: 5, End: 15, Owner: b}); err != nil {
		t.Errorf("two readers: %v", err)
	}
	if err := setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_WRLCK, Start: 9, End: 9, Owner: b}); err != unix.EAGAIN {
		t.Errorf("writer over a reader: %v, want EAGAIN", err)
	}
	// An OFD lock of another owner conflicts with POSIX ones.
	if err := setNB(t, key, nil, Request{Kind: OFD, Type: unix.F_WRLCK, Start: 0, End: 0, Owner: "desc"}); err != unix.EAGAIN {
		t.Errorf("OFD writer over a POSIX reader: %v, want EAGAIN", err)
	}
	l, found := Test(key, Request{Kind: POSIX, Type: unix.F_WRLCK, Start: 0, End: 100, Owner: b})
	if !found || l.Owner != a || l.Start != 0 || l.End != 9 {
		t.Errorf("Test: %+v %v, want a's [0,9]", l, found)
	}
	ReleasePOSIX(key, a)
	ReleasePOSIX(key, b)
	if got := ranges(key); got != "" {
		t.Errorf("after release: %s", got)
	}
}

func TestDeadlockChain(t *testing.T) {
	key := newKey()
	a, b := "a", "b"
	setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_WRLCK, Start: 0, End: 0, Owner: a})
	setNB(t, key, nil, Request{Kind: POSIX, Type: unix.F_WRLCK, Start: 1, End: 1, Owner: b})
	mu.Lock()
	// b waits for a's byte 0.
	waitingFor[b] = files[key].ranges[0]
	dl := deadlockLocked(a, files[key].ranges[1])
	delete(waitingFor, b)
	mu.Unlock()
	if !dl {
		t.Errorf("a waiting for b while b waits for a is not a deadlock")
	}
	ReleasePOSIX(key, a)
	ReleasePOSIX(key, b)
}

func TestFlockConversionAndHost(t *testing.T) {
	key := newKey()
	h := &fakeHost{}
	host := fakeFile{h}
	d1, d2 := "d1", "d2"
	if err := SetFlock(fs.Background, key, host, d1, 1, unix.F_RDLCK, false); err != nil {
		t.Fatal(err)
	}
	if err := SetFlock(fs.Background, key, host, d2, 2, unix.F_RDLCK, false); err != nil {
		t.Fatal(err)
	}
	if err := SetFlock(fs.Background, key, host, d1, 1, unix.F_WRLCK, false); err != unix.EAGAIN {
		t.Errorf("converting to LOCK_EX beside another LOCK_SH: %v, want EAGAIN", err)
	}
	// The conversion dropped d1's shared lock, as Linux does.
	if got := ranges(key); got != "d2:0:0-9223372036854775807" {
		t.Errorf("after the failed conversion: %s", got)
	}
	if h.flock != unix.F_RDLCK || h.acquire != 1 {
		t.Errorf("host flock %d (acquired %d times), want shared once", h.flock, h.acquire)
	}
	ReleaseDescription(key, d2)
	if !h.closed {
		t.Errorf("host mirror not closed when the last lock went")
	}
	// A host process holding the file refuses the sandbox's lock.
	h2 := &fakeHost{refuse: true}
	if err := SetFlock(fs.Background, key, fakeFile{h2}, d1, 1, unix.F_WRLCK, false); err != unix.EAGAIN {
		t.Errorf("flock against a host holder: %v, want EAGAIN", err)
	}
	if err := Set(fs.Background, key, fakeFile{h2}, Request{Kind: POSIX, Type: unix.F_RDLCK, Start: 0, End: 5, Owner: "p"}, false); err != unix.EAGAIN {
		t.Errorf("record lock against a host holder: %v, want EAGAIN", err)
	}
	if got := ranges(key); got != "" {
		t.Errorf("refused requests left locks: %s", got)
	}
}

func TestHostMirrorUnion(t *testing.T) {
	key := newKey()
	h := &fakeHost{}
	host := fakeFile{h}
	setNB(t, key, host, Request{Kind: POSIX, Type: unix.F_RDLCK, Start: 0, End: 9, Owner: "a"})
	setNB(t, key, host, Request{Kind: POSIX, Type: unix.F_RDLCK, Start: 5, End: 14, Owner: "b"})
	setNB(t, key, host, Request{Kind: POSIX, Type: unix.F_UNLCK, Start: 0, End: 9, Owner: "a"})
	want := []string{"range 0 0-9", "range 0 10-14", "range 2 0-4"}
	if strings.Join(h.log, ",") != strings.Join(want, ",") {
		t.Errorf("host calls %q, want %q", h.log, want)
	}
	ReleasePOSIX(key, "b")
	if !h.closed {
		t.Errorf("host mirror not closed")
	}
}
