package hostfs

// Lookups, stats and xattr reads of a host file are made relative to an
// O_PATH descriptor of its directory, kept in a small cache per
// filesystem.
//
// A path walk in the sandbox looks up each component in hostfs, and the
// overlay keeps only directories, so a syscall on a host file (stat,
// lgetxattr, getxattr: three for each file `ls -l` lists) looks the file
// up again and then works on it. Resolved from the root each time
// (openat2 RESOLVE_IN_ROOT of the whole path, then a call on the new
// descriptor, then close), that was three host syscalls for the lookup
// and three or four for the operation. With the directory's descriptor
// at hand each is one: fstatat (lookup) or statx / getxattrat /
// listxattrat (the operation) of the single component, without following
// it. A single component that is neither "." nor ".." and contains no
// "/" cannot leave the directory, and the directory was itself opened
// with RESOLVE_IN_ROOT, so confinement to the root is unchanged.
//
// The cache is keyed by the directory's path relative to the root and
// holds at most dirFDCacheSize descriptors (least recently used out):
// walks of big trees (ls -lR) work directory by directory, so a small
// cache serves them, and the descriptors stay within the reserve the
// sentry keeps outside the open-file budget (boot: raiseNoFile). The
// sandbox's own renames and rmdirs in the filesystem empty it, so that a
// path never names a directory the sandbox moved or removed; what the
// host does to the tree behind the sandbox's back is seen as it is by
// the overlay's cache of directories: a cached directory is the one the
// name reached when it was opened, until it is evicted.
//
// Locking: dirFDCache.mu protects the map, the list and each entry's
// refs and gone (a leaf; host calls are made without it, except the
// close of an evicted descriptor nobody uses).

import (
	"container/list"
	"sync"

	"golang.org/x/sys/unix"
)

// dirFDCacheSize bounds the directory descriptors a filesystem keeps.
const dirFDCacheSize = 32

// dirFD is a held O_PATH descriptor of a directory of the filesystem.
type dirFD struct {
	fd   int
	rel  string
	refs int  // users now (protected by dirFDCache.mu)
	gone bool // out of the cache: the last user closes fd
	root bool // the filesystem's root descriptor: never closed here
	elem *list.Element
}

// dirFDCache is a filesystem's held directory descriptors.
type dirFDCache struct {
	mu  sync.Mutex
	m   map[string]*dirFD
	lru list.List // of *dirFD, most recently used first
	// gen counts forgetDirs calls: a descriptor opened across one is
	// used once and not kept (the name may have moved meanwhile).
	gen uint64
}

// acquireDir returns a held descriptor of directory rel ("" for the
// root) with a reference; releaseDir drops it.
func (f *FS) acquireDir(rel string) (*dirFD, error) {
	if rel == "" {
		return &dirFD{fd: f.root, root: true}, nil
	}
	c := &f.dirs
	c.mu.Lock()
	if d := c.m[rel]; d != nil {
		d.refs++
		c.lru.MoveToFront(d.elem)
		c.mu.Unlock()
		return d, nil
	}
	gen := c.gen
	c.mu.Unlock()
	fd, err := f.openRel(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen != gen {
		c.mu.Unlock()
		return &dirFD{fd: fd, rel: rel, refs: 1, gone: true}, nil
	}
	if d := c.m[rel]; d != nil {
		// Another walk opened it first.
		d.refs++
		c.lru.MoveToFront(d.elem)
		c.mu.Unlock()
		unix.Close(fd)
		return d, nil
	}
	if c.m == nil {
		c.m = make(map[string]*dirFD)
	}
	d := &dirFD{fd: fd, rel: rel, refs: 1}
	d.elem = c.lru.PushFront(d)
	c.m[rel] = d
	var closing []int
	for c.lru.Len() > dirFDCacheSize {
		if fd, ok := c.dropLocked(c.lru.Back().Value.(*dirFD)); ok {
			closing = append(closing, fd)
		}
	}
	c.mu.Unlock()
	for _, fd := range closing {
		unix.Close(fd)
	}
	return d, nil
}

// dropLocked takes d out of the cache and returns its descriptor if
// nobody uses it (the caller closes it). Preconditions: c.mu is held.
func (c *dirFDCache) dropLocked(d *dirFD) (int, bool) {
	c.lru.Remove(d.elem)
	delete(c.m, d.rel)
	d.gone = true
	return d.fd, d.refs == 0
}

// releaseDir drops a reference acquireDir returned.
func (f *FS) releaseDir(d *dirFD) {
	if d.root {
		return
	}
	c := &f.dirs
	c.mu.Lock()
	d.refs--
	last := d.gone && d.refs == 0
	c.mu.Unlock()
	if last {
		unix.Close(d.fd)
	}
}

// forgetDirs empties the cache: the sandbox renamed or removed something
// in the filesystem, and a path may now name another directory.
func (f *FS) forgetDirs() {
	c := &f.dirs
	c.mu.Lock()
	c.gen++
	var closing []int
	for c.lru.Len() > 0 {
		if fd, ok := c.dropLocked(c.lru.Front().Value.(*dirFD)); ok {
			closing = append(closing, fd)
		}
	}
	c.mu.Unlock()
	for _, fd := range closing {
		unix.Close(fd)
	}
}

// atParent runs fn with a held descriptor of n's directory and n's name
// in it; for the root, with the root's descriptor and "." (not "" with
// AT_EMPTY_PATH: getxattrat refuses that on an O_PATH descriptor, EBADF).
func (n *Node) atParent(fn func(dirfd int, name string) error) error {
	if n.rel == "" {
		return fn(n.fs.root, ".")
	}
	dir, name := parentRel(n.rel), baseName(n.rel)
	d, err := n.fs.acquireDir(dir)
	if err != nil {
		return err
	}
	defer n.fs.releaseDir(d)
	return fn(d.fd, name)
}

// baseName is rel's last component.
func baseName(rel string) string {
	for i := len(rel) - 1; i >= 0; i-- {
		if rel[i] == '/' {
			return rel[i+1:]
		}
	}
	return rel
}
