package hostfs

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes of host files: the host's own. Regular files and
// directories only; a symlink, FIFO or socket has none here (get
// ENODATA, set EOPNOTSUPP).
//
// Reads (get and list) are one host call each, getxattrat or listxattrat
// (Linux 6.13) of the file's name in its directory's held descriptor
// (dirfds.go), not following it: `ls -l` asks two attributes of every
// file, and opening the file for an fgetxattr and closing it again made
// each of them three or four host calls. On an older host (ENOSYS) and
// for writes the file is opened and the f*xattr calls used (the confined
// sentry names no host path).

// Files' attribute names are cached per host inode, with the change time
// the names were read at: `ls -l` asks every file for security.selinux
// and system.posix_acl_access, which most files do not have, and a file
// looked up again (each sandbox syscall looks it up) whose change time is
// the same has the same names — a host setxattr or removexattr changes
// the inode's ctime (and Linux 6.13's multigrain timestamps make the
// change visible even within a clock tick once a stat has read it). The
// sandbox's own setxattr and removexattr drop the entry as well. Only
// the names ls and cp ask of every file are answered from the cache with
// ENODATA (security.* and system.posix_acl_*, which the host lists
// whenever a file has them); any other name, and every value, is read
// from the host.

// xattrNameCacheSize bounds the inodes whose names are kept (the cache
// is emptied when full: a walk of a big tree reads each file once).
const xattrNameCacheSize = 8192

// xattrNameCache is a filesystem's cache of attribute names by inode.
// Locking: mu protects m (a leaf; no host call is made under it).
type xattrNameCache struct {
	mu sync.Mutex
	m  map[inodeID]xattrNameEntry
}

type inodeID struct{ dev, ino uint64 }

type xattrNameEntry struct {
	ctime unix.Timespec
	names []string
}

// negativeCacheable reports whether the names cache may answer ENODATA
// for attr.
func negativeCacheable(attr string) bool {
	return strings.HasPrefix(attr, "security.") || strings.HasPrefix(attr, "system.posix_acl_")
}

// cachedNames returns the names of n's file as of the change time its
// lookup saw, reading and caching them on a miss; ok is false when they
// are not known (a node not made by a lookup, or a host error).
func (n *Node) cachedNames() (names []string, ok bool) {
	if !n.lookedUp || n.ino == 0 {
		return nil, false
	}
	c := &n.fs.xnames
	id := inodeID{n.dev, n.ino}
	c.mu.Lock()
	e, hit := c.m[id]
	c.mu.Unlock()
	if hit && e.ctime == n.ctime {
		return e.names, true
	}
	v, ok, err := n.readXattrAt(listxattrat)
	if !ok || err != nil {
		return nil, false
	}
	names = splitXattrNames(v)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= xattrNameCacheSize {
		c.m = make(map[inodeID]xattrNameEntry)
	}
	c.m[id] = xattrNameEntry{ctime: n.ctime, names: names}
	c.mu.Unlock()
	return names, true
}

// forgetNames drops the cached names of n's file (the sandbox changed
// them).
func (n *Node) forgetNames() {
	c := &n.fs.xnames
	c.mu.Lock()
	if n.ino != 0 {
		delete(c.m, inodeID{n.dev, n.ino})
	} else {
		c.m = nil // unknown inode: forget every file's
	}
	c.mu.Unlock()
}

// noXattrAt is set when the host has no getxattrat/listxattrat.
var noXattrAt atomic.Bool

// xattrArgs is struct xattr_args of getxattrat(2).
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

// getxattrat reads attribute attr of name in dirfd into buf without
// following a symlink; an empty buf asks for the size.
func getxattrat(dirfd int, name, attr string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	a, err := unix.BytePtrFromString(attr)
	if err != nil {
		return 0, err
	}
	const flags = unix.AT_SYMLINK_NOFOLLOW
	args := xattrArgs{size: uint32(len(buf))}
	if len(buf) > 0 {
		args.value = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_GETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags),
			uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
		runtime.KeepAlive(buf)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
}

// listxattrat lists the attributes of name in dirfd like getxattrat.
func listxattrat(dirfd int, name string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	const flags = unix.AT_SYMLINK_NOFOLLOW
	var bp unsafe.Pointer
	if len(buf) > 0 {
		bp = unsafe.Pointer(&buf[0])
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_LISTXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags),
			uintptr(bp), uintptr(len(buf)), 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
}

// readXattrAt reads an attribute's value (get) or the name list (list)
// through n's directory's held descriptor: read(dirfd, name, buf) is
// getxattrat or listxattrat. ok is false when the host lacks them.
func (n *Node) readXattrAt(read func(dirfd int, name string, buf []byte) (int, error)) (val []byte, ok bool, err error) {
	if noXattrAt.Load() {
		return nil, false, nil
	}
	err = n.atParent(func(dirfd int, name string) error {
		// Most values (and "none") fit a first guess; ERANGE asks the
		// size, and a value that grew in between asks again.
		buf := make([]byte, 256)
		for {
			got, err := read(dirfd, name, buf)
			if err == nil {
				val = buf[:got]
				return nil
			}
			if err != unix.ERANGE {
				return err
			}
			sz, err := read(dirfd, name, nil)
			if err != nil {
				return err
			}
			buf = make([]byte, max(sz, 1))
		}
	})
	if err == unix.ENOSYS {
		noXattrAt.Store(true)
		return nil, false, nil
	}
	return val, true, err
}

// xattrFD opens n's file for an xattr call.
func (n *Node) xattrFD() (int, error) {
	switch n.typ {
	case unix.S_IFREG, unix.S_IFDIR:
	default:
		return -1, unix.EOPNOTSUPP
	}
	var fd int
	err := retry(func() error {
		var e error
		fd, e = n.fs.openRel(n.rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		return e
	})
	return fd, err
}

// GetXattr implements fs.Xattrer.
func (n *Node) GetXattr(ctx *fs.Context, name string) ([]byte, error) {
	switch n.typ {
	case unix.S_IFREG, unix.S_IFDIR:
	default:
		return nil, unix.ENODATA
	}
	if negativeCacheable(name) {
		if names, ok := n.cachedNames(); ok && !slices.Contains(names, name) {
			return nil, unix.ENODATA
		}
	}
	if v, ok, err := n.readXattrAt(func(dirfd int, file string, buf []byte) (int, error) {
		return getxattrat(dirfd, file, name, buf)
	}); ok {
		return v, err
	}
	fd, err := n.xattrFD()
	if err == unix.EOPNOTSUPP {
		return nil, unix.ENODATA
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	for {
		sz, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sz)
		got, err := unix.Fgetxattr(fd, name, buf)
		if err == unix.ERANGE {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		return buf[:got], nil
	}
}

// SetXattr implements fs.Xattrer.
func (n *Node) SetXattr(ctx *fs.Context, name string, value []byte, flags uint32) error {
	if n.fs.readOnly {
		return unix.EROFS
	}
	fd, err := n.xattrFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	defer n.forgetNames()
	return unix.Fsetxattr(fd, name, value, int(flags))
}

// ListXattr implements fs.Xattrer.
func (n *Node) ListXattr(ctx *fs.Context) ([]string, error) {
	switch n.typ {
	case unix.S_IFREG, unix.S_IFDIR:
	default:
		return nil, nil
	}
	if v, ok, err := n.readXattrAt(listxattrat); ok {
		if err != nil {
			return nil, err
		}
		return splitXattrNames(v), nil
	}
	fd, err := n.xattrFD()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	for {
		sz, err := unix.Flistxattr(fd, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sz)
		got, err := unix.Flistxattr(fd, buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return splitXattrNames(buf[:got]), nil
	}
}

// splitXattrNames splits a listxattr answer into names.
func splitXattrNames(b []byte) []string {
	var names []string
	for _, s := range strings.Split(string(b), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	return names
}

// RemoveXattr implements fs.Xattrer.
func (n *Node) RemoveXattr(ctx *fs.Context, name string) error {
	if n.fs.readOnly {
		return unix.EROFS
	}
	fd, err := n.xattrFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	defer n.forgetNames()
	return unix.Fremovexattr(fd, name)
}
