package hostfs

// Host descriptors are shared per host file, and the sentry keeps a budget
// of them.
//
// Every open description of a host regular file needs a host descriptor
// to read and write through, but descriptions of the same host inode
// opened the same way (access mode and the flags the host must see:
// O_DIRECT, O_SYNC, O_DSYNC, O_NOATIME) can all use one: the sentry keeps
// file positions itself (fs.PositionalFile) and only ever does positional
// host I/O. So the filesystem keeps one host descriptor per (inode, mode)
// with a reference count: a program opening one file 100,000 times holds
// one host descriptor, and an open of a file whose inode the lookup just
// found costs no host call at all when it is already open. Mappables hold
// a reference too (they used to hold a dup).
//
// Distinct host files still need a descriptor each. The sentry raises its
// own RLIMIT_NOFILE to the hard limit at start (boot) and gives hostfs a
// budget below it (SetHostFDBudget), keeping the rest for itself (the
// memory file, stubs, logs, pipes to the host, lookups' transient O_PATH
// descriptors): an open beyond the budget fails with ENFILE — Linux's
// "system-wide limit reached" — instead of starving the sentry or the
// other processes of the sandbox of descriptors.
//
// A read-only descriptor whose last user went is kept open a while (the
// table's idle list, at most maxIdleFDs per filesystem, oldest closed
// first), so a program that opens, reads and closes the same files over
// and over (a shell's startup files, a build reading headers) makes no
// host openat, fstat and close each time. Only O_RDONLY descriptors idle:
// a writable one held open would keep the host from executing the file
// (ETXTBSY). Host locks use descriptors of their own (locks.go), so an
// idle descriptor holds no lock. Like a mappable's descriptor, an idle
// one keeps its inode allocated, so its key cannot name another file; a
// file replaced on the host has a new inode and the next lookup's key
// misses. An open over the budget closes the idle descriptors first.
//
// Locking: fdTable.mu protects the table, the idle list and each entry's
// reference count (a leaf; host calls are made without it, except the
// close hand-off).

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// hostFDsOpen counts the shared host descriptors of every filesystem;
// hostFDBudget bounds it (0: no bound).
var (
	hostFDsOpen  atomic.Int64
	hostFDBudget atomic.Int64
)

// SetHostFDBudget bounds how many host descriptors open host files may
// hold at once, over all filesystems (0: no bound). Call it at boot.
func SetHostFDBudget(n int) { hostFDBudget.Store(int64(n)) }

// HostFDsOpen returns how many shared host descriptors are open.
func HostFDsOpen() int { return int(hostFDsOpen.Load()) }

// fdKey names a shared descriptor: a host inode and how it was opened.
type fdKey struct {
	dev, ino uint64
	flags    int // O_ACCMODE and the host-visible flags
}

// sharedFD is one host descriptor and how many users it has.
type sharedFD struct {
	fd   int
	key  fdKey
	refs int // protected by fdTable.mu
}

// maxIdleFDs bounds the idle descriptors a filesystem keeps.
const maxIdleFDs = 16

// fdTable is a filesystem's shared host descriptors.
type fdTable struct {
	mu sync.Mutex
	m  map[fdKey]*sharedFD
	// idle are the descriptors in m with no reference, oldest first.
	idle []*sharedFD
}

// get returns the shared descriptor of key with a new reference, or nil.
func (t *fdTable) get(key fdKey) *sharedFD {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[key]
	if s != nil {
		if s.refs == 0 {
			t.unidleLocked(s)
		}
		s.refs++
	}
	return s
}

// unidleLocked takes s off the idle list. Preconditions: t.mu is held.
func (t *fdTable) unidleLocked(s *sharedFD) {
	for i, x := range t.idle {
		if x == s {
			t.idle = append(t.idle[:i], t.idle[i+1:]...)
			return
		}
	}
}

// evictIdleLocked removes the oldest idle descriptors until at most keep
// are left, and returns them for the caller to close. Preconditions:
// t.mu is held.
func (t *fdTable) evictIdleLocked(keep int) []*sharedFD {
	if len(t.idle) <= keep {
		return nil
	}
	n := len(t.idle) - keep
	out := append([]*sharedFD(nil), t.idle[:n]...)
	t.idle = append(t.idle[:0], t.idle[n:]...)
	for _, s := range out {
		delete(t.m, s.key)
	}
	return out
}

// closeIdle closes the filesystem's idle descriptors and reports whether
// there were any.
func (f *FS) closeIdle() bool {
	f.fds.mu.Lock()
	out := f.fds.evictIdleLocked(0)
	f.fds.mu.Unlock()
	f.closeShared(out)
	return len(out) > 0
}

func (f *FS) closeShared(out []*sharedFD) {
	for _, s := range out {
		hostFDsOpen.Add(-1)
		f.closeFD(s.fd)
	}
}

// add registers fd, just opened for key, and returns the shared
// descriptor to use with a reference: fd's own entry, or the one another
// opener registered first (fd is then closed).
func (t *fdTable) add(key fdKey, fd int) *sharedFD {
	t.mu.Lock()
	if s := t.m[key]; s != nil {
		if s.refs == 0 {
			t.unidleLocked(s)
		}
		s.refs++
		t.mu.Unlock()
		unix.Close(fd)
		hostFDsOpen.Add(-1)
		return s
	}
	if t.m == nil {
		t.m = make(map[fdKey]*sharedFD)
	}
	s := &sharedFD{fd: fd, key: key, refs: 1}
	t.m[key] = s
	t.mu.Unlock()
	return s
}

// addRef adds a reference to s (a mappable made from an open File).
func (t *fdTable) addRef(s *sharedFD) {
	t.mu.Lock()
	s.refs++
	t.mu.Unlock()
}

// put drops a reference to s; the last one makes a read-only descriptor
// idle and closes any other through the filesystem's closer.
func (f *FS) putFD(s *sharedFD) {
	t := &f.fds
	t.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last && t.m[s.key] == s && s.key.flags == unix.O_RDONLY {
		// Kept open for the next open of the file.
		t.idle = append(t.idle, s)
		out := t.evictIdleLocked(maxIdleFDs)
		t.mu.Unlock()
		f.closeShared(out)
		return
	}
	if last && t.m[s.key] == s {
		delete(t.m, s.key)
	}
	t.mu.Unlock()
	if last {
		hostFDsOpen.Add(-1)
		f.closeFD(s.fd)
	}
}

// reserveFD accounts for a host descriptor about to be opened: ENFILE
// when the budget is spent. A successful reserve is either kept (the
// descriptor is registered) or undone with hostFDsOpen.Add(-1).
func reserveFD() error {
	n := hostFDsOpen.Add(1)
	if b := hostFDBudget.Load(); b > 0 && n > b {
		hostFDsOpen.Add(-1)
		return unix.ENFILE
	}
	return nil
}

// hostOpenFlags are the open(2) flags the host descriptor itself must
// carry; descriptions that differ in them cannot share one.
func hostOpenFlags(flags uint32) int {
	return int(flags & (unix.O_ACCMODE | unix.O_DIRECT | unix.O_NOATIME | unix.O_SYNC | unix.O_DSYNC))
}

// openShared returns a shared host descriptor of n opened with hostFlags
// (hostOpenFlags), opening the host file only when no description of the
// same inode and mode is open.
func (n *Node) openShared(hostFlags int) (*sharedFD, error) {
	t := &n.fs.fds
	if n.ino != 0 {
		if s := t.get(fdKey{dev: n.dev, ino: n.ino, flags: hostFlags}); s != nil {
			return s, nil
		}
	}
	if err := reserveFD(); err != nil {
		if !n.fs.closeIdle() {
			return nil, err
		}
		if err := reserveFD(); err != nil {
			return nil, err
		}
	}
	fd, err := n.fs.openRel(n.rel, hostFlags, 0)
	if err == unix.EPERM && hostFlags&unix.O_NOATIME != 0 {
		// Only the owner may ask for O_NOATIME on the host; the
		// sandbox checked its own rule already.
		fd, err = n.fs.openRel(n.rel, hostFlags&^unix.O_NOATIME, 0)
	}
	if err != nil {
		hostFDsOpen.Add(-1)
		return nil, err
	}
	st, err := statFD(fd)
	if err != nil {
		unix.Close(fd)
		hostFDsOpen.Add(-1)
		return nil, err
	}
	if hostFlags&unix.O_ACCMODE != unix.O_RDONLY {
		// The sandbox is about to change this host file: it keeps no
		// set-ID bit on the host (owner.go).
		n.fs.stripHostSetID(fd, &st)
	}
	// Key by what the descriptor is, not by what the lookup saw: the
	// host may have replaced the file in between.
	return t.add(fdKey{dev: unix.Mkdev(st.DevMajor, st.DevMinor), ino: st.Ino, flags: hostFlags}, fd), nil
}
