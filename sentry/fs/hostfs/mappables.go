package hostfs

import (
	"math"
	"sync"
	"weak"

	"github.com/runsc-lite/runsc-lite/sentry/mm"
)

// The live mappables of a filesystem, one per host inode and access mode.
//
// File.Mappable returns the live mappable of its inode when there is one,
// so the host descriptors duplicated for mappables number at most one per
// inode and mode whatever the VFS asks. The table holds the mappables
// weakly: a mappable lives while mm (a mapping, a page-cache object) or a
// caller uses it, and its descriptor is closed when it is collected. A
// collected entry is replaced on the next get. Sharing is safe because a
// mappable's own descriptor keeps its inode allocated: the host cannot
// give the inode's number to another file while the entry can be live.
//
// Locking: mappableTable.mu protects the map (a leaf; held across the
// dup and statx of a new mappable so two Files of one inode make one).

type mappableKey struct {
	dev, ino uint64
	acc      int
}

type mappableTable struct {
	mu sync.Mutex
	m  map[mappableKey]weak.Pointer[Mappable]
}

// get returns the live mappable of key, or makes one with newMappable and
// keeps it. It blocks only on the host calls of newMappable.
func (t *mappableTable) get(key mappableKey, newMappable func() (*Mappable, error)) (*Mappable, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if wp, ok := t.m[key]; ok {
		if m := wp.Value(); m != nil {
			return m, nil
		}
	}
	m, err := newMappable()
	if err != nil {
		return nil, err
	}
	if t.m == nil {
		t.m = make(map[mappableKey]weak.Pointer[Mappable])
	}
	// Drop collected entries now and then so the map stays as large as
	// the set of live mappables.
	if len(t.m) >= 64 && len(t.m)&63 == 0 {
		for k, wp := range t.m {
			if wp.Value() == nil {
				delete(t.m, k)
			}
		}
	}
	t.m[key] = weak.Make(m)
	return m, nil
}

// live returns the keys of the live mappables.
func (t *mappableTable) live() []mappableKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []mappableKey
	for k, wp := range t.m {
		if wp.Value() != nil {
			out = append(out, k)
		} else {
			delete(t.m, k)
		}
	}
	return out
}

// WritebackMapped writes back, in the caller, the dirty page-cache pages
// of every file of the filesystem that is mapped (shared mappings write
// their pages back through the file's mappable; a file without one has no
// dirty pages). It is the periodic write-back of dirty mapped pages
// (Linux's dirty_writeback_centisecs) and the first step of sync. It
// blocks while it writes.
func (f *FS) WritebackMapped() {
	if f.readOnly {
		return
	}
	seen := make(map[[2]uint64]bool)
	for _, k := range f.mappables.live() {
		id := [2]uint64{k.dev, k.ino}
		if !seen[id] {
			seen[id] = true
			mm.FileFlush(k.dev, k.ino, 0, math.MaxInt64)
		}
	}
}
