// Package hostfs serves a host directory as a sandbox filesystem: the
// read-only lower layer of the root overlay, and --volume binds (writable
// or read-only). Every host file is reached from an O_PATH descriptor of
// the host directory with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
// and O_NOFOLLOW on the final component, never by joining host path
// strings: no path, "..", or symlink inside the directory reaches a host
// file outside it. Symlinks are not followed on the host at all; the
// sentry reads them (Readlink) and resolves them in the sandbox's
// namespace. Attributes come from the host (statx on an O_PATH
// descriptor), so stat output matches the host's.
//
// Host device nodes, FIFOs and sockets are visible (stat, readdir) but
// cannot be opened: ENXIO.
//
// Reads of regular files go through the sandbox's page cache when boot
// sets one (SetPageCache, pagecache.go); the mappables of mapped files are
// shared per inode (mappables.go).
//
// Writable filesystems may write behind (EnableWriteback, writeback.go):
// writes are kept in a per-file dirty buffer and written to the host by a
// kworker of the writeback workqueue shortly after; everything that must
// see them flushes first.
//
// Locking: FS and Node are immutable (EnableWriteback is called before
// use); the host serializes everything else. mapCleanup and the open files
// own their host descriptors; the held directory descriptors are
// dirfds.go's (dirFDCache.mu, a leaf), the attribute names cache
// xattr.go's (xattrNameCache.mu, a leaf). The write-behind locks are described in
// writeback.go, the page cache's and the mappable table's in pagecache.go
// and mappables.go (all leaves).
package hostfs

import (
	"math"
	"path"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// FS is a host directory tree.
type FS struct {
	root     int // O_PATH|O_DIRECTORY descriptor of the host directory
	hostDir  string
	readOnly bool
	rootNode *Node
	closer   FDCloser
	wb       *fsWriteback // nil: write through
	// mappables are the live mappables by inode (mappables.go).
	mappables mappableTable
	// fds are the shared host descriptors of open files (hostfds.go).
	fds fdTable
	// dirs are held descriptors of directories (dirfds.go).
	dirs dirFDCache
	// xnames caches files' attribute names (xattr.go).
	xnames xattrNameCache
	// owners is the host owner rule and shadow what the sandbox set that
	// the host does not hold (owner.go).
	owners OwnerMap
	shadow attrShadow
}

// FDCloser closes host descriptors of released files, possibly later and
// elsewhere (the sentry hands them to a workqueue: closing a host file can
// block, for example on a network filesystem's flush, and must not hold
// up the task that closed it).
type FDCloser interface {
	Close(fd int)
}

// SetFDCloser makes c close the descriptors of released files (default:
// close at once). Call it before the filesystem is used.
func (f *FS) SetFDCloser(c FDCloser) { f.closer = c }

func (f *FS) closeFD(fd int) {
	if f.closer != nil {
		f.closer.Close(fd)
		return
	}
	unix.Close(fd)
}

// New opens hostDir (which must be a directory) as a filesystem.
func New(hostDir string, readOnly bool) (*FS, error) {
	fd, err := unix.Open(hostDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return FromFD(fd, hostDir, readOnly), nil
}

// FromFD returns the filesystem of the host directory behind fd (an
// O_PATH or readable descriptor of a directory, opened by whoever could
// name it: the launcher opens the root and the volumes before the sentry
// loses its view of the host's files). The filesystem owns fd. hostDir is
// only the name /proc/mounts shows.
func FromFD(fd int, hostDir string, readOnly bool) *FS {
	f := &FS{root: fd, hostDir: hostDir, readOnly: readOnly}
	f.rootNode = &Node{fs: f, rel: "", typ: unix.S_IFDIR}
	return f
}

// Close closes the root descriptor and the held directory descriptors.
// Nodes must not be used afterwards.
func (f *FS) Close() error {
	f.forgetDirs()
	f.closeIdle()
	return unix.Close(f.root)
}

// HostDir returns the host directory's path (for /proc/mounts).
func (f *FS) HostDir() string { return f.hostDir }

// ReadOnly reports whether the filesystem refuses writes.
func (f *FS) ReadOnly() bool { return f.readOnly }

// Root implements fs.Filesystem.
func (f *FS) Root() fs.Directory { return f.rootNode }

// RootNode returns the root directory node.
func (f *FS) RootNode() *Node { return f.rootNode }

// Name implements fs.Filesystem.
func (f *FS) Name() string { return "hostfs" }

// Statfs implements fs.Filesystem with the host's answer.
func (f *FS) Statfs(ctx *fs.Context) (linux.Statfs, error) {
	var s unix.Statfs_t
	if err := retry(func() error { return unix.Fstatfs(f.root, &s) }); err != nil {
		return linux.Statfs{}, err
	}
	st := linux.Statfs{
		Type:            uint64(s.Type),
		BlockSize:       s.Bsize,
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		FSID:            [2]int32{s.Fsid.Val[0], s.Fsid.Val[1]},
		NameLength:      uint64(s.Namelen),
		FragmentSize:    s.Frsize,
		Flags:           uint64(s.Flags),
	}
	if f.readOnly {
		st.Flags |= linux.ST_RDONLY
	}
	return st, nil
}

func retry(fn func() error) error {
	for {
		err := fn()
		if err != unix.EINTR {
			return err
		}
	}
}

// openRel opens rel (relative to the root, "" for the root itself) with
// flags, confined to the root. O_NOFOLLOW and O_CLOEXEC are always added:
// rel never contains a symlink the sentry did not resolve itself.
func (f *FS) openRel(rel string, flags int, mode uint32) (int, error) {
	p := rel
	if p == "" {
		p = "."
	}
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if flags&unix.O_PATH == 0 {
		flags |= unix.O_NOCTTY
	}
	how := unix.OpenHow{
		Flags:   uint64(flags),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(f.root, p, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// statAt returns the attributes of n's file without following a final
// symlink: one statx relative to its directory's held descriptor
// (dirfds.go).
func (n *Node) statAt() (linux.Statx, error) {
	var st linux.Statx
	err := n.atParent(func(dirfd int, name string) error {
		const flags = unix.AT_SYMLINK_NOFOLLOW | unix.AT_STATX_SYNC_AS_STAT
		var sx unix.Statx_t
		if err := retry(func() error {
			return unix.Statx(dirfd, name, flags, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &sx)
		}); err != nil {
			return err
		}
		st = fs.StatxFromUnix(&sx)
		return nil
	})
	return st, err
}

func statFD(fd int) (linux.Statx, error) {
	var sx unix.Statx_t
	err := retry(func() error {
		return unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT,
			unix.STATX_BASIC_STATS|unix.STATX_BTIME, &sx)
	})
	if err != nil {
		return linux.Statx{}, err
	}
	return fs.StatxFromUnix(&sx), nil
}

// Node is a host file: a path relative to the filesystem's root whose
// components are real directories (the sentry resolved every symlink).
type Node struct {
	fs  *FS
	rel string
	typ uint32
	// dev and ino identify the host file as its lookup found it (0 when
	// unknown), for the page cache (pagecache.go).
	dev, ino uint64
	// mode, uid and gid are what the lookup saw (looked up: false for
	// nodes made otherwise), for fs.LookupAttrs.
	mode, uid, gid uint32
	lookedUp       bool
	// ctime is the change time the lookup saw, which validates the
	// cache of the file's attribute names (xattr.go).
	ctime unix.Timespec
}

// LookupAttrs implements fs.LookupAttrs: the host attributes as this
// node's lookup saw them, unless the sandbox's view of the filesystem's
// files differs from the host's (owner.go), which only a Stat applies.
func (n *Node) LookupAttrs() (mode, uid, gid uint32, ok bool) {
	if !n.lookedUp || n.fs.owners != nil || n.fs.shadow.n.Load() != 0 {
		return 0, 0, 0, false
	}
	return n.mode, n.uid, n.gid, true
}

// Rel returns the node's path relative to the host directory.
func (n *Node) Rel() string { return n.rel }

// FS returns the node's filesystem.
func (n *Node) FS() *FS { return n.fs }

func (n *Node) child(name string) string {
	if n.rel == "" {
		return name
	}
	return n.rel + "/" + name
}

// Type implements fs.Node.
func (n *Node) Type() uint32 { return n.typ }

// Stat implements fs.Node.
func (n *Node) Stat(ctx *fs.Context) (linux.Statx, error) {
	if n.fs.wb != nil && n.typ == unix.S_IFREG && n.fs.wb.busy() {
		fd, err := n.fs.openRel(n.rel, unix.O_PATH, 0)
		if err != nil {
			return linux.Statx{}, err
		}
		defer unix.Close(fd)
		n.fs.flushFD(fd)
		st, err := statFD(fd)
		n.fs.view(&st)
		return st, err
	}
	st, err := n.statAt()
	n.fs.view(&st)
	return st, err
}

// Lookup implements fs.Directory.
func (n *Node) Lookup(ctx *fs.Context, name string) (fs.Node, error) {
	if n.typ != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	if err := fs.ValidName(name); err != nil {
		return nil, err
	}
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		// vfs resolves these itself; never let one reach the host.
		return nil, unix.ENOENT
	}
	rel := n.child(name)
	// One fstatat of the single component in the directory's held
	// descriptor (dirfds.go), not following it.
	d, err := n.fs.acquireDir(n.rel)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	err = retry(func() error { return unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	n.fs.releaseDir(d)
	if err != nil {
		return nil, err
	}
	return &Node{fs: n.fs, rel: rel, typ: st.Mode & unix.S_IFMT, dev: st.Dev, ino: st.Ino,
		mode: st.Mode, uid: st.Uid, gid: st.Gid, lookedUp: true, ctime: st.Ctim}, nil
}

// Readdir implements fs.Directory.
func (n *Node) Readdir(ctx *fs.Context) ([]fs.Dirent, error) {
	if n.typ != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	fd, err := n.fs.openRel(n.rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readDirFD(fd)
}

// readDirFD lists a host directory (without "." and "..").
func readDirFD(fd int) ([]fs.Dirent, error) {
	var out []fs.Dirent
	buf := make([]byte, 32<<10)
	for {
		var n int
		err := retry(func() error {
			var e error
			n, e = unix.Getdents(fd, buf)
			return e
		})
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		b := buf[:n]
		for len(b) >= 19 {
			ino := *(*uint64)(unsafe.Pointer(&b[0]))
			reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ := b[18]
			nameb := b[19:reclen]
			for i, c := range nameb {
				if c == 0 {
					nameb = nameb[:i]
					break
				}
			}
			name := string(nameb)
			if name != "." && name != ".." {
				out = append(out, fs.Dirent{Name: name, Type: typ, Ino: ino})
			}
			b = b[reclen:]
		}
	}
}

// Readlink implements fs.Symlink.
func (n *Node) Readlink(ctx *fs.Context) (string, error) {
	if n.typ != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	// One readlinkat of the name in the directory's held descriptor
	// (dirfds.go): readlinkat reads a final symlink, never follows it.
	buf := make([]byte, unix.PathMax)
	var sz int
	err := n.atParent(func(dirfd int, name string) error {
		return retry(func() error {
			var e error
			sz, e = unix.Readlinkat(dirfd, name, buf)
			return e
		})
	})
	if err != nil {
		return "", err
	}
	return string(buf[:sz]), nil
}

// Open implements fs.Node: regular files only (directories are opened by
// vfs; host devices, FIFOs and sockets are refused with ENXIO).
func (n *Node) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	switch n.typ {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return nil, unix.EISDIR
	case unix.S_IFLNK:
		return nil, unix.ELOOP
	default:
		return nil, unix.ENXIO
	}
	acc := int(flags & unix.O_ACCMODE)
	if acc != unix.O_RDONLY && n.fs.readOnly {
		return nil, unix.EROFS
	}
	s, err := n.openShared(hostOpenFlags(flags))
	if err != nil {
		return nil, err
	}
	return newFile(n, s, flags), nil
}

// SetStat implements fs.Attributer.
func (n *Node) SetStat(ctx *fs.Context, s fs.SetStat) error {
	if n.fs.readOnly {
		return unix.EROFS
	}
	fd, err := n.fs.openRel(n.rel, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if n.typ == unix.S_IFREG {
		n.fs.flushFD(fd)
	}
	if s.Mask&linux.STATX_SIZE != 0 && n.ino != 0 {
		n.fs.killSetID(ctx, n.dev, n.ino, fd)
	}
	if err := n.setStatFD(fd, s); err != nil {
		return err
	}
	if s.Mask&linux.STATX_SIZE != 0 && pageCache.Load() != nil {
		dev, ino := n.dev, n.ino
		if ino == 0 {
			if st, err := statFD(fd); err == nil {
				dev, ino = unix.Mkdev(st.DevMajor, st.DevMinor), st.Ino
			}
		}
		mm.FileTruncated(dev, ino, int64(s.Size))
	}
	return nil
}

// setStatFD applies s to n's file, behind the O_PATH descriptor fd: modes
// and owners as the owner rule says (owner.go), sizes and times as given.
// Nothing here goes through /proc/self/fd (the confined sentry has no
// /proc): modes, owners and times are changed through fd itself
// (AT_EMPTY_PATH), and a truncation, which needs a writable descriptor,
// reopens the file and checks it is the same one (reopen).
func (n *Node) setStatFD(fd int, s fs.SetStat) error {
	f, typ := n.fs, n.typ
	if s.Mask&linux.STATX_SIZE != 0 {
		if typ == unix.S_IFDIR {
			return unix.EISDIR
		}
		if typ != unix.S_IFREG {
			return unix.EINVAL
		}
		wfd, err := n.reopen(fd, unix.O_WRONLY)
		if err != nil {
			return err
		}
		err = retry(func() error { return unix.Ftruncate(wfd, int64(s.Size)) })
		unix.Close(wfd)
		if err != nil {
			return err
		}
	}
	if s.Mask&(linux.STATX_UID|linux.STATX_GID|linux.STATX_MODE) != 0 {
		st, err := statFD(fd)
		if err != nil {
			return err
		}
		if s.Mask&(linux.STATX_UID|linux.STATX_GID) != 0 {
			uid, gid := -1, -1
			if s.Mask&linux.STATX_UID != 0 {
				uid = int(s.UID)
			}
			if s.Mask&linux.STATX_GID != 0 {
				gid = int(s.GID)
			}
			if err := f.setHostOwner(fd, &st, uid, gid); err != nil {
				return err
			}
		}
		if s.Mask&linux.STATX_MODE != 0 {
			if err := f.setHostMode(fd, typ, &st, s.Mode, func(flags int) (int, error) { return n.reopen(fd, flags) }); err != nil {
				return err
			}
		}
	}
	if s.Mask&(linux.STATX_ATIME|linux.STATX_MTIME) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if s.Mask&linux.STATX_ATIME != 0 {
			ts[0] = unix.Timespec{Sec: s.Atime.Sec, Nsec: int64(s.Atime.Nsec)}
		}
		if s.Mask&linux.STATX_MTIME != 0 {
			ts[1] = unix.Timespec{Sec: s.Mtime.Sec, Nsec: int64(s.Mtime.Nsec)}
		}
		// An O_PATH descriptor takes AT_EMPTY_PATH (of a symlink, it
		// changes the link's own times).
		if err := retry(func() error { return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH) }); err != nil {
			return err
		}
	}
	return nil
}

// reopen opens n's file again with flags (and O_NONBLOCK, so that a FIFO
// put in its place cannot block), and checks that it is the file behind
// the O_PATH descriptor fd: if the host renamed another file over it
// meanwhile, ENOENT, as if the sandbox had lost the race.
func (n *Node) reopen(fd, flags int) (int, error) {
	rfd, err := n.fs.openRel(n.rel, flags|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	want, err1 := statFD(fd)
	got, err2 := statFD(rfd)
	if err1 != nil || err2 != nil || want.Ino != got.Ino || want.DevMajor != got.DevMajor || want.DevMinor != got.DevMinor {
		unix.Close(rfd)
		return -1, unix.ENOENT
	}
	return rfd, nil
}

// createdAt is FS.created for the entry name of directory dirfd.
func (n *Node) createdAt(ctx *fs.Context, dirfd int, name string, mode uint32) {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	n.fs.created(ctx, n, fd, mode)
}

// forgetAt drops the shadow of entry name of dirfd if removing it removes
// its last link.
func (n *Node) forgetAt(dirfd int, name string) func() {
	if n.fs.shadow.n.Load() == 0 {
		return func() {}
	}
	var sx unix.Statx_t
	if unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &sx) != nil {
		return func() {}
	}
	st := fs.StatxFromUnix(&sx)
	if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return func() {}
	}
	return func() { n.fs.forget(&st) }
}

// withDir runs fn with an O_PATH descriptor of directory n.
func (n *Node) withDir(fn func(dirfd int) error) error {
	if n.fs.readOnly {
		return unix.EROFS
	}
	if n.typ != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	fd, err := n.fs.openRel(n.rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// Create implements fs.DirectoryWriter.
func (n *Node) Create(ctx *fs.Context, name string, mode uint32, flags uint32) (fs.Node, fs.File, error) {
	var file fs.File
	var node *Node
	err := n.withDir(func(dirfd int) error {
		if err := reserveFD(); err != nil {
			return err
		}
		acc := hostOpenFlags(flags)
		var fd int
		err := retry(func() error {
			var e error
			fd, e = unix.Openat(dirfd, name, acc|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, mode&^setIDBits&07777)
			return e
		})
		if err != nil {
			hostFDsOpen.Add(-1)
			return err
		}
		// The host's umask may have removed bits the sandbox's did not
		// (and the host never gets set-ID bits: owner.go).
		unix.Fchmod(fd, mode&^setIDBits&07777)
		n.fs.created(ctx, n, fd, mode)
		node = &Node{fs: n.fs, rel: n.child(name), typ: unix.S_IFREG}
		var st unix.Stat_t
		if err := retry(func() error { return unix.Fstat(fd, &st) }); err != nil {
			unix.Close(fd)
			hostFDsOpen.Add(-1)
			return err
		}
		node.dev, node.ino = st.Dev, st.Ino
		if pageCache.Load() != nil {
			// A new inode may carry the number of one the host freed
			// (a file unlinked and closed): whatever the page cache
			// still holds under that number is not this file's.
			mm.FileTruncated(st.Dev, st.Ino, 0)
		}
		s := n.fs.fds.add(fdKey{dev: st.Dev, ino: st.Ino, flags: hostOpenFlags(flags)}, fd)
		file = newFile(node, s, flags)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return node, file, nil
}

// Mkdir implements fs.DirectoryWriter.
func (n *Node) Mkdir(ctx *fs.Context, name string, mode uint32) error {
	return n.withDir(func(dirfd int) error {
		if err := retry(func() error { return unix.Mkdirat(dirfd, name, mode&^setIDBits&07777) }); err != nil {
			return err
		}
		unix.Fchmodat(dirfd, name, mode&^setIDBits&07777, unix.AT_SYMLINK_NOFOLLOW)
		n.createdAt(ctx, dirfd, name, mode)
		return nil
	})
}

// Mknod implements fs.DirectoryWriter: regular files, FIFOs and sockets.
func (n *Node) Mknod(ctx *fs.Context, name string, mode uint32, dev uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		return unix.EPERM
	}
	return n.withDir(func(dirfd int) error {
		if err := retry(func() error { return unix.Mknodat(dirfd, name, mode&^setIDBits, 0) }); err != nil {
			return err
		}
		n.createdAt(ctx, dirfd, name, mode)
		return nil
	})
}

// Symlink implements fs.DirectoryWriter.
func (n *Node) Symlink(ctx *fs.Context, name string, target string) error {
	return n.withDir(func(dirfd int) error {
		if err := retry(func() error { return unix.Symlinkat(target, dirfd, name) }); err != nil {
			return err
		}
		n.createdAt(ctx, dirfd, name, 0)
		return nil
	})
}

// Link implements fs.DirectoryWriter.
func (n *Node) Link(ctx *fs.Context, name string, target fs.Node) error {
	t, ok := target.(*Node)
	if !ok || t.fs != n.fs {
		return unix.EXDEV
	}
	if t.rel == "" {
		return unix.EPERM
	}
	parent := &Node{fs: n.fs, rel: parentRel(t.rel), typ: unix.S_IFDIR}
	return n.withDir(func(dirfd int) error {
		return parent.withDir(func(olddirfd int) error {
			return retry(func() error { return unix.Linkat(olddirfd, path.Base(t.rel), dirfd, name, 0) })
		})
	})
}

func parentRel(rel string) string {
	d := path.Dir(rel)
	if d == "." {
		return ""
	}
	return d
}

// Unlink implements fs.DirectoryWriter.
func (n *Node) Unlink(ctx *fs.Context, name string) error {
	return n.withDir(func(dirfd int) error {
		forget := n.forgetAt(dirfd, name)
		if err := retry(func() error { return unix.Unlinkat(dirfd, name, 0) }); err != nil {
			return err
		}
		forget()
		return nil
	})
}

// Rmdir implements fs.DirectoryWriter.
func (n *Node) Rmdir(ctx *fs.Context, name string) error {
	return n.withDir(func(dirfd int) error {
		forget := n.forgetAt(dirfd, name)
		if err := retry(func() error { return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR) }); err != nil {
			return err
		}
		forget()
		n.fs.forgetDirs()
		return nil
	})
}

// Rename implements fs.DirectoryWriter.
func (n *Node) Rename(ctx *fs.Context, oldName string, newDir fs.Directory, newName string, flags uint32) error {
	nd, ok := newDir.(*Node)
	if !ok || nd.fs != n.fs {
		return unix.EXDEV
	}
	return n.withDir(func(olddirfd int) error {
		return nd.withDir(func(newdirfd int) error {
			err := retry(func() error { return unix.Renameat2(olddirfd, oldName, newdirfd, newName, uint(flags)) })
			if err == nil {
				n.fs.forgetDirs()
			}
			return err
		})
	})
}

// File is an open host regular file.
type File struct {
	fs.PositionalFile
	node *Node
	// shared is the host descriptor, shared with every description of
	// the same inode opened the same way (hostfds.go); fd is its number.
	shared *sharedFD
	fd     int
	once   sync.Once

	// With write-behind: the host inode (keyed), and the dirty buffer of
	// a writable file (cache, nil for read-only or O_SYNC files).
	key   inodeKey
	keyed bool
	cache *writeCache

	// The page cache's view of the file (pagecache.go).
	fileCacheState
	// acc is the open's access mode (O_RDONLY, O_WRONLY, O_RDWR).
	acc int
}

// newFile returns the open file of n on the shared host descriptor s (the
// File owns one reference), opened with open(2) flags.
func newFile(n *Node, s *sharedFD, flags uint32) *File {
	f := &File{node: n, shared: s, fd: s.fd}
	f.direct = flags&unix.O_DIRECT != 0
	f.acc = int(flags & unix.O_ACCMODE)
	f.PositionalFile.Data = hostData{f}
	n.attachCache(f, flags)
	return f
}

// Release implements fs.File.
// With write-behind, the dirty data is written (in the caller) before
// the descriptor goes to the closer.
func (f *File) Release() {
	f.once.Do(func() {
		if f.cache != nil {
			f.cache.release()
		}
		f.fdMu.Lock()
		f.closed = true
		f.fdMu.Unlock()
		f.node.fs.putFD(f.shared)
	})
}

// Stat implements fs.Statter (fstat of the open file, which survives
// unlink).
func (f *File) Stat(ctx *fs.Context) (linux.Statx, error) {
	f.syncForRead(taskOf(ctx))
	st, err := statFD(f.fd)
	f.node.fs.view(&st)
	return st, err
}

// Truncate implements fs.Truncater. Dirty data is written first.
func (f *File) Truncate(ctx *fs.Context, size int64) error {
	f.syncForRead(taskOf(ctx))
	if dev, ino, ok := f.identity(); ok {
		f.node.fs.killSetID(ctx, dev, ino, f.fd)
	}
	if err := retry(func() error { return unix.Ftruncate(f.fd, size) }); err != nil {
		return err
	}
	if dev, ino, ok := f.identity(); ok {
		mm.FileTruncated(dev, ino, size)
	}
	return nil
}

// Sync implements fs.Syncer (fsync and fdatasync): it writes back the
// dirty pages of shared mappings of the file, waits for the write-back of
// the file's dirty data, then fsyncs the host file.
func (f *File) Sync(ctx *fs.Context) error {
	if dev, ino, ok := f.identity(); ok {
		mm.FileFlush(dev, ino, 0, math.MaxInt64)
	}
	if w := f.node.fs.wb; w != nil && f.keyed {
		w.flushInode(taskOf(ctx), f.key, f.cache)
	}
	if f.cache != nil {
		if err := f.cache.sync(ctx); err != nil {
			return err
		}
	}
	return retry(func() error { return unix.Fsync(f.fd) })
}

// Allocate implements fs.Allocator. Dirty data is written first.
func (f *File) Allocate(ctx *fs.Context, mode uint32, off, length int64) error {
	if f.node.fs.readOnly {
		return unix.EROFS
	}
	f.syncForRead(taskOf(ctx))
	if err := retry(func() error { return unix.Fallocate(f.fd, mode, off, length) }); err != nil {
		return err
	}
	// A file that grew: the cached page that held its end grows with it
	// (as for ftruncate), or what a shared mapping writes past the old
	// end would not be written back, and reads would stop there.
	if mode&unix.FALLOC_FL_KEEP_SIZE == 0 {
		if dev, ino, ok := f.identity(); ok {
			if st, err := statFD(f.fd); err == nil {
				mm.FileTruncated(dev, ino, int64(st.Size))
			}
		}
	}
	return nil
}

// Mappable implements fs.Mapper. The mappable holds its own reference on
// the shared host descriptor, dropped when the mappable is garbage (mm
// keeps it as long as a mapping uses it), so munmap-after-close works.
//
// One live mappable per host inode and access mode is shared by every
// File of the filesystem (mappables.go): the VFS asks for the mappable on
// every read and write while the page cache holds anything (for the
// file's identity), and a descriptor duplicated per call would only be
// closed by the garbage collector, so a loop of open+read+close would run
// out of host descriptors.
func (f *File) Mappable() (mm.Mappable, error) {
	f.syncForRead(nil)
	dev, ino, ok := f.identity()
	if !ok {
		return f.newMappable()
	}
	key := mappableKey{dev: dev, ino: ino, acc: f.acc}
	return f.node.fs.mappables.get(key, f.newMappable)
}

// Identity returns the host device and inode of the open file (as the
// Mappable's MappingIdentity) without a host syscall when its lookup
// recorded them.
func (f *File) Identity() (dev, ino uint64, ok bool) { return f.identity() }

func (f *File) newMappable() (*Mappable, error) {
	s := f.shared
	m := &Mappable{fd: s.fd, dev: s.key.dev, ino: s.key.ino}
	f.node.fs.fds.addRef(s)
	if f.keyed {
		m.wb, m.key = f.node.fs.wb, f.key
	}
	fsys := f.node.fs
	runtime.AddCleanup(m, func(s *sharedFD) { fsys.putFD(s) }, s)
	return m, nil
}

type hostData struct{ f *File }

func (h hostData) ReadAt(ctx *fs.Context, dst []byte, off int64) (int, error) {
	t := taskOf(ctx)
	h.f.syncForRead(t)
	if z := pageCache.Load(); z != nil && off >= 0 {
		if rm := h.f.cacheSource(); rm != nil {
			return mm.CachedRead(z, rm, dst, off)
		}
	}
	n, err := preadFull(h.f.fd, dst, off)
	countIn(t, n)
	return n, err
}

func (h hostData) WriteAt(ctx *fs.Context, src []byte, off int64) (int, error) {
	if h.f.node.fs.readOnly {
		return 0, unix.EROFS
	}
	if dev, ino, ok := h.f.identity(); ok {
		h.f.node.fs.killSetID(ctx, dev, ino, h.f.fd)
	}
	var n int
	var err error
	if h.f.cache != nil {
		n, err = h.f.cache.write(ctx, src, off)
	} else {
		t := taskOf(ctx)
		if w := h.f.node.fs.wb; w != nil && h.f.keyed {
			w.flushInode(t, h.f.key, nil)
		}
		n, err = pwriteFull(h.f.fd, src, off)
		countOut(t, n)
	}
	// Every write of a host file through the sandbox (write, writev,
	// pwrite, sendfile, ...) comes here: the page cache takes the bytes.
	if n > 0 && pageCache.Load() != nil {
		if dev, ino, ok := h.f.identity(); ok {
			mm.FileWritten(dev, ino, off, src[:n])
		}
	}
	return n, err
}

// Size returns the host file's size, or the end of the dirty data if that
// is beyond it.
func (h hostData) Size(ctx *fs.Context) (int64, error) {
	if w := h.f.node.fs.wb; w != nil && h.f.keyed {
		w.flushInode(taskOf(ctx), h.f.key, h.f.cache)
	}
	var st unix.Stat_t
	if err := retry(func() error { return unix.Fstat(h.f.fd, &st) }); err != nil {
		return 0, err
	}
	if h.f.cache != nil {
		return max(st.Size, h.f.cache.dirtyEnd()), nil
	}
	return st.Size, nil
}

// preadFull reads until dst is full or end of file.
func preadFull(fd int, dst []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	done := 0
	for done < len(dst) {
		n, err := unix.Pread(fd, dst[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

func pwriteFull(fd int, src []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	done := 0
	for done < len(src) {
		n, err := unix.Pwrite(fd, src[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		done += n
	}
	return done, nil
}

// Mappable is a host regular file as an mm.Mappable.
type Mappable struct {
	fd       int
	dev, ino uint64

	// With write-behind, the file's inode: page-ins and write-backs of
	// the mapping flush the dirty data of its descriptions first.
	wb  *fsWriteback
	key inodeKey
}

// ReadAt implements mm.Mappable.
func (m *Mappable) ReadAt(p []byte, off int64) (int, error) {
	if m.wb != nil {
		m.wb.flushInode(nil, m.key, nil)
	}
	// The page cache counts what it reads in (pgpgin).
	return preadFull(m.fd, p, off)
}

// WriteAt implements mm.Mappable (shared mappings of a writable file;
// the write never extends the file).
func (m *Mappable) WriteAt(p []byte, off int64) (int, error) {
	if m.wb != nil {
		m.wb.flushInode(nil, m.key, nil)
	}
	var st unix.Stat_t
	if err := unix.Fstat(m.fd, &st); err != nil {
		return 0, err
	}
	if off >= st.Size {
		return 0, nil
	}
	if end := off + int64(len(p)); end > st.Size {
		p = p[:st.Size-off]
	}
	n, err := pwriteFull(m.fd, p, off)
	if err == unix.EBADF {
		// The description was read-only: a shared writable mapping
		// cannot be created for it, so this only happens for private
		// data that is never written back.
		return 0, nil
	}
	return n, err
}

// MappingIdentity implements mm.Mappable.
func (m *Mappable) MappingIdentity() (uint64, uint64, string) { return m.dev, m.ino, "" }
