// Package tmpfs is an in-memory filesystem: regular files (sparse, their
// pages in the sandbox's memory file: data.go), directories, symlinks, FIFOs
// and socket nodes. It is
// mounted on its own (/dev/shm) and is the writable upper layer of the root
// overlay (package overlay), which uses the lower-level Inode methods
// (NewInode, Insert, Remove, CopyAttrs) directly.
//
// Locking: FS.mu protects every directory's entries, parent pointers and
// link counts (the tree); Inode.mu protects an inode's attributes and
// data. Lock order: FS.mu before Inode.mu; never two Inode.mu at once.
package tmpfs

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/pipe"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TmpfsMagic is tmpfs's statfs f_type.
const TmpfsMagic = 0x01021994

// FS is one tmpfs instance.
type FS struct {
	major, minor uint32
	nextIno      atomic.Uint64
	root         *Inode

	// layer marks an overlay's upper layer: its files have no seals
	// (F_GET_SEALS is EINVAL on overlayfs).
	layer bool

	mu sync.RWMutex
	// orphans are regular files that lost their last link under mu;
	// releaseOrphans frees their data once mu is released.
	orphans []*Inode
}

// New returns an empty tmpfs whose root directory has mode (permission
// bits) and belongs to uid:gid.
func New(mode uint32, uid, gid uint32) *FS {
	f := &FS{}
	f.major, f.minor = fs.NewAnonDev()
	f.root = f.NewInode(unix.S_IFDIR|mode&07777, uid, gid)
	f.root.parent = f.root
	return f
}

// SetUpperLayer marks f as an overlay's upper layer (before any file of it
// is open): its files are overlayfs's to the sandbox and have no seals.
func (f *FS) SetUpperLayer() { f.layer = true }

// Root implements fs.Filesystem.
func (f *FS) Root() fs.Directory { return f.root }

// RootInode returns the root directory.
func (f *FS) RootInode() *Inode { return f.root }

// Name implements fs.Filesystem.
func (f *FS) Name() string { return "tmpfs" }

// Statfs implements fs.Filesystem.
func (f *FS) Statfs(ctx *fs.Context) (linux.Statfs, error) {
	return linux.Statfs{
		Type:            TmpfsMagic,
		BlockSize:       4096,
		NameLength:      255,
		FragmentSize:    4096,
		Blocks:          1 << 20,
		BlocksFree:      1 << 20,
		BlocksAvailable: 1 << 20,
		Files:           1 << 20,
		FilesFree:       1 << 20,
	}, nil
}

// Dev returns the filesystem's device number.
func (f *FS) Dev() (major, minor uint32) { return f.major, f.minor }

// Inode is a tmpfs file of any type.
type Inode struct {
	fs *FS

	// Protected by fs.mu.
	entries map[string]*Inode // directories
	parent  *Inode            // directories
	nlink   uint32

	mu       sync.RWMutex
	ino      uint64
	devMajor uint32
	devMinor uint32
	mode     uint32
	uid, gid uint32
	rdev     uint32
	atime    linux.StatxTimestamp
	mtime    linux.StatxTimestamp
	ctime    linux.StatxTimestamp
	btime    linux.StatxTimestamp
	data     fileData // regular files
	// opens counts the open descriptions of a regular file and the vmas
	// that map it; with no link left either, its data is freed
	// (releaseIfUnused).
	opens     atomic.Int32
	dirSize   uint64 // directories copied up by an overlay: the lower size
	dirBlocks uint64
	target    string     // symlinks
	fifo      *pipe.Pipe // FIFOs
	// seals are the file's seals (seals.go): F_SEAL_SEAL from birth,
	// except for memfds made with MFD_ALLOW_SEALING.
	seals uint32
	// writeMaps counts the shared mappings that may write to the file
	// and the mmaps about to make one (seals.go).
	writeMaps int32
	// linkable marks an O_TMPFILE file made without O_EXCL: linkat may
	// give it a name although it has no link.
	linkable bool
	// xattrs are the extended attributes (xattr.go).
	xattrs map[string][]byte
}

// NewInode returns a new unlinked inode of mode (type and permission
// bits) owned by uid:gid, with link count 0 (Insert links it).
func (f *FS) NewInode(mode uint32, uid, gid uint32) *Inode {
	now := fs.Now()
	i := &Inode{
		fs:       f,
		ino:      f.nextIno.Add(1),
		devMajor: f.major,
		devMinor: f.minor,
		mode:     mode,
		uid:      uid,
		gid:      gid,
		atime:    now,
		mtime:    now,
		ctime:    now,
		btime:    now,
		seals:    unix.F_SEAL_SEAL,
	}
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		i.entries = make(map[string]*Inode)
		i.nlink = 2
	case unix.S_IFIFO:
		i.fifo = pipe.New(&fs.Creds{FSUID: uid, FSGID: gid})
	}
	return i
}

// NewSymlink returns a new unlinked symlink to target.
func (f *FS) NewSymlink(target string, uid, gid uint32) *Inode {
	i := f.NewInode(unix.S_IFLNK|0777, uid, gid)
	i.target = target
	i.data.size = int64(len(target))
	return i
}

// SetIdentity makes the inode report dev and ino (an overlay copy-up
// keeps the lower file's identity).
func (i *Inode) SetIdentity(devMajor, devMinor uint32, ino uint64) {
	i.mu.Lock()
	i.devMajor, i.devMinor, i.ino = devMajor, devMinor, ino
	i.mu.Unlock()
}

// CopyAttrs sets mode bits, owner, times (and for directories the link
// count) from st.
func (i *Inode) CopyAttrs(st *linux.Statx) {
	i.mu.Lock()
	i.mode = i.mode&unix.S_IFMT | uint32(st.Mode)&07777
	i.uid, i.gid = st.UID, st.GID
	i.atime, i.mtime, i.ctime, i.btime = st.Atime, st.Mtime, st.Ctime, st.Btime
	i.rdev = uint32(unix.Mkdev(st.RdevMajor, st.RdevMinor))
	if i.IsDir() {
		i.dirSize, i.dirBlocks = st.Size, st.Blocks
	}
	i.mu.Unlock()
	if i.IsDir() && st.Nlink >= 2 {
		i.fs.mu.Lock()
		i.nlink = st.Nlink
		i.fs.mu.Unlock()
	}
}

// IsDir reports whether the inode is a directory.
func (i *Inode) IsDir() bool { return i.mode&unix.S_IFMT == unix.S_IFDIR }

// Type implements fs.Node.
func (i *Inode) Type() uint32 { return i.mode & unix.S_IFMT }

// Ino returns the inode number.
func (i *Inode) Ino() uint64 {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.ino
}

// Stat implements fs.Node.
func (i *Inode) Stat(ctx *fs.Context) (linux.Statx, error) {
	i.fs.mu.RLock()
	nlink := i.nlink
	i.fs.mu.RUnlock()
	i.mu.RLock()
	defer i.mu.RUnlock()
	size := uint64(i.data.size)
	blocks := uint64(min(i.data.allocated(), (i.data.size+4095)&^4095)) / 512
	if i.IsDir() {
		size, blocks = 4096, 8
		if i.dirSize != 0 {
			size, blocks = i.dirSize, i.dirBlocks
		}
	}
	return linux.Statx{
		Mask:      fs.StatxBasic | linux.STATX_BTIME,
		Blksize:   4096,
		Nlink:     nlink,
		UID:       i.uid,
		GID:       i.gid,
		Mode:      uint16(i.mode),
		Ino:       i.ino,
		Size:      size,
		Blocks:    blocks,
		Atime:     i.atime,
		Btime:     i.btime,
		Ctime:     i.ctime,
		Mtime:     i.mtime,
		RdevMajor: unix.Major(uint64(i.rdev)),
		RdevMinor: unix.Minor(uint64(i.rdev)),
		DevMajor:  i.devMajor,
		DevMinor:  i.devMinor,
	}, nil
}

// SetStat implements fs.Attributer.
func (i *Inode) SetStat(ctx *fs.Context, s fs.SetStat) error {
	if s.Mask&linux.STATX_SIZE != 0 {
		switch i.Type() {
		case unix.S_IFREG:
		case unix.S_IFDIR:
			return unix.EISDIR
		default:
			return unix.EINVAL
		}
		if s.Mask&linux.STATX_MODE == 0 {
			i.killSetID(ctx)
		}
	}
	resized := false
	defer func() {
		if resized {
			i.sizeChanged(int64(s.Size))
		}
	}()
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.setStatSealedLocked(s); err != nil {
		return err
	}
	now := fs.Now()
	if s.Mask&linux.STATX_MODE != 0 {
		i.mode = i.mode&unix.S_IFMT | s.Mode&07777
	}
	if s.Mask&linux.STATX_UID != 0 {
		i.uid = s.UID
	}
	if s.Mask&linux.STATX_GID != 0 {
		i.gid = s.GID
	}
	if s.Mask&linux.STATX_SIZE != 0 {
		if int64(s.Size) != i.data.size {
			i.data.truncate(int64(s.Size))
			i.mtime = now
			resized = true
		}
	}
	if s.Mask&linux.STATX_ATIME != 0 {
		i.atime = s.Atime
	}
	if s.Mask&linux.STATX_MTIME != 0 {
		i.mtime = s.Mtime
	}
	i.ctime = now
	return nil
}

// Readlink implements fs.Symlink.
func (i *Inode) Readlink(ctx *fs.Context) (string, error) {
	if i.Type() != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	return i.target, nil
}

// Open implements fs.Node.
func (i *Inode) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	switch i.Type() {
	case unix.S_IFREG:
		i.opens.Add(1)
		return &File{PositionalFile: fs.PositionalFile{Data: regularData{i}}, inode: i}, nil
	case unix.S_IFIFO:
		return i.fifo.Open(ctx, flags)
	case unix.S_IFDIR:
		return nil, unix.EISDIR
	}
	return nil, unix.ENXIO
}

// Fifo returns a FIFO's pipe.
func (i *Inode) Fifo() *pipe.Pipe { return i.fifo }

// touchLocked updates mtime and ctime. Preconditions: i.mu is held.
func (i *Inode) touchLocked() {
	now := fs.Now()
	i.mtime, i.ctime = now, now
}

func (i *Inode) touch() {
	i.mu.Lock()
	i.touchLocked()
	i.mu.Unlock()
}

func (i *Inode) touchCtime() {
	i.mu.Lock()
	i.ctime = fs.Now()
	i.mu.Unlock()
}

// Child returns the entry called name, or nil.
func (i *Inode) Child(name string) *Inode {
	i.fs.mu.RLock()
	defer i.fs.mu.RUnlock()
	return i.entries[name]
}

// Insert links child into the directory as name (EEXIST if taken).
func (i *Inode) Insert(name string, child *Inode) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return i.insertLocked(name, child)
}

func (i *Inode) insertLocked(name string, child *Inode) error {
	if !i.IsDir() {
		return unix.ENOTDIR
	}
	if i.entries == nil {
		return unix.ENOENT // removed directory
	}
	if _, ok := i.entries[name]; ok {
		return unix.EEXIST
	}
	i.entries[name] = child
	if child.IsDir() {
		child.parent = i
		i.nlink++
	} else {
		child.nlink++
	}
	i.touch()
	return nil
}

// Attach links child into the directory as name without changing the
// directory's times or link count: an overlay copy-up, which makes a
// lower entry's copy appear where the entry already was.
func (i *Inode) Attach(name string, child *Inode) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if i.entries == nil {
		return unix.ENOENT
	}
	if _, ok := i.entries[name]; ok {
		return unix.EEXIST
	}
	i.entries[name] = child
	if child.IsDir() {
		child.parent = i
	} else {
		child.nlink++
	}
	return nil
}

// Remove unlinks name from the directory and returns it.
func (i *Inode) Remove(name string) (*Inode, error) {
	i.fs.mu.Lock()
	c, err := i.removeLocked(name)
	i.fs.mu.Unlock()
	i.fs.releaseOrphans()
	return c, err
}

// releaseOrphans frees the data of the regular files that lost their last
// link under the tree lock (removeLocked) and are not open. Called after
// the tree lock is released (releaseIfUnused takes it).
func (f *FS) releaseOrphans() {
	f.mu.Lock()
	orphans := f.orphans
	f.orphans = nil
	f.mu.Unlock()
	for _, c := range orphans {
		c.releaseIfUnused()
	}
}

func (i *Inode) removeLocked(name string) (*Inode, error) {
	c, ok := i.entries[name]
	if !ok {
		return nil, unix.ENOENT
	}
	delete(i.entries, name)
	if c.IsDir() {
		i.nlink--
		c.nlink = 0
		c.entries = nil
	} else if c.nlink > 0 {
		c.nlink--
		if c.nlink == 0 && c.Type() == unix.S_IFREG {
			i.fs.orphans = append(i.fs.orphans, c)
		}
	}
	c.touchCtime()
	i.touch()
	return c, nil
}

// LookupAttrs implements fs.LookupAttrs (always current: an inode's own
// fields).
func (i *Inode) LookupAttrs() (mode, uid, gid uint32, ok bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.mode, i.uid, i.gid, true
}

// Lookup implements fs.Directory.
func (i *Inode) Lookup(ctx *fs.Context, name string) (fs.Node, error) {
	if !i.IsDir() {
		return nil, unix.ENOTDIR
	}
	c := i.Child(name)
	if c == nil {
		return nil, unix.ENOENT
	}
	return c, nil
}

// Entries returns the directory's entries sorted by name.
func (i *Inode) Entries() []fs.Dirent {
	i.fs.mu.RLock()
	ds := make([]fs.Dirent, 0, len(i.entries))
	for name, c := range i.entries {
		ds = append(ds, fs.Dirent{Name: name, Type: fs.FileType(c.mode), Ino: c.Ino()})
	}
	i.fs.mu.RUnlock()
	sort.Slice(ds, func(a, b int) bool { return ds[a].Name < ds[b].Name })
	return ds
}

// Readdir implements fs.Directory.
func (i *Inode) Readdir(ctx *fs.Context) ([]fs.Dirent, error) {
	if !i.IsDir() {
		return nil, unix.ENOTDIR
	}
	return i.Entries(), nil
}

// Len returns the number of entries of a directory.
func (i *Inode) Len() int {
	i.fs.mu.RLock()
	defer i.fs.mu.RUnlock()
	return len(i.entries)
}

func creds(ctx *fs.Context) (uint32, uint32) {
	if ctx == nil || ctx.Creds == nil {
		return 0, 0
	}
	return ctx.Creds.FSUID, ctx.Creds.FSGID
}

// ownerFor returns the owner of a new file in i: the caller, with the
// directory's group if it is setgid.
func (i *Inode) ownerFor(ctx *fs.Context) (uint32, uint32, bool) {
	uid, gid := creds(ctx)
	i.mu.RLock()
	sgid := i.mode&unix.S_ISGID != 0
	if sgid {
		gid = i.gid
	}
	i.mu.RUnlock()
	return uid, gid, sgid
}

// Create implements fs.DirectoryWriter.
func (i *Inode) Create(ctx *fs.Context, name string, mode uint32, flags uint32) (fs.Node, fs.File, error) {
	uid, gid, _ := i.ownerFor(ctx)
	c := i.fs.NewInode(unix.S_IFREG|mode&07777, uid, gid)
	if err := i.Insert(name, c); err != nil {
		return nil, nil, err
	}
	f, err := c.Open(ctx, flags)
	return c, f, err
}

// CreateTmpfile implements fs.TmpfileCreator.
func (i *Inode) CreateTmpfile(ctx *fs.Context, mode uint32, flags uint32, linkable bool) (fs.Node, fs.File, error) {
	i.fs.mu.RLock()
	removed := i.entries == nil
	i.fs.mu.RUnlock()
	if removed {
		return nil, nil, unix.ENOENT
	}
	uid, gid, _ := i.ownerFor(ctx)
	c := i.fs.NewInode(unix.S_IFREG|mode&07777, uid, gid)
	c.linkable = linkable
	f, err := c.Open(ctx, flags)
	return c, f, err
}

// Mkdir implements fs.DirectoryWriter.
func (i *Inode) Mkdir(ctx *fs.Context, name string, mode uint32) error {
	uid, gid, sgid := i.ownerFor(ctx)
	if sgid {
		mode |= unix.S_ISGID
	}
	return i.Insert(name, i.fs.NewInode(unix.S_IFDIR|mode&07777, uid, gid))
}

// Mknod implements fs.DirectoryWriter.
func (i *Inode) Mknod(ctx *fs.Context, name string, mode uint32, dev uint32) error {
	uid, gid, _ := i.ownerFor(ctx)
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR, unix.S_IFBLK:
	default:
		return unix.EINVAL
	}
	c := i.fs.NewInode(mode, uid, gid)
	c.rdev = dev
	return i.Insert(name, c)
}

// Symlink implements fs.DirectoryWriter.
func (i *Inode) Symlink(ctx *fs.Context, name string, target string) error {
	uid, gid, _ := i.ownerFor(ctx)
	return i.Insert(name, i.fs.NewSymlink(target, uid, gid))
}

// Link implements fs.DirectoryWriter.
func (i *Inode) Link(ctx *fs.Context, name string, target fs.Node) error {
	t, ok := target.(*Inode)
	if !ok || t.fs != i.fs {
		return unix.EXDEV
	}
	if t.IsDir() {
		return unix.EPERM
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	t.mu.Lock()
	linkable := t.linkable
	t.mu.Unlock()
	if t.nlink == 0 && !linkable {
		return unix.ENOENT
	}
	if err := i.insertLocked(name, t); err != nil {
		return err
	}
	// An O_TMPFILE file is linkable once (Linux's I_LINKABLE).
	t.mu.Lock()
	t.linkable = false
	t.mu.Unlock()
	t.touchCtime()
	return nil
}

// Unlink implements fs.DirectoryWriter.
func (i *Inode) Unlink(ctx *fs.Context, name string) error {
	i.fs.mu.Lock()
	c, ok := i.entries[name]
	if !ok {
		i.fs.mu.Unlock()
		return unix.ENOENT
	}
	if c.IsDir() {
		i.fs.mu.Unlock()
		return unix.EISDIR
	}
	_, err := i.removeLocked(name)
	i.fs.mu.Unlock()
	i.fs.releaseOrphans()
	return err
}

// Rmdir implements fs.DirectoryWriter.
func (i *Inode) Rmdir(ctx *fs.Context, name string) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	c, ok := i.entries[name]
	if !ok {
		return unix.ENOENT
	}
	if !c.IsDir() {
		return unix.ENOTDIR
	}
	if len(c.entries) > 0 {
		return unix.ENOTEMPTY
	}
	_, err := i.removeLocked(name)
	return err
}

// Rename implements fs.DirectoryWriter.
func (i *Inode) Rename(ctx *fs.Context, oldName string, newDir fs.Directory, newName string, flags uint32) error {
	nd, ok := newDir.(*Inode)
	if !ok || nd.fs != i.fs {
		return unix.EXDEV
	}
	i.fs.mu.Lock()
	err := RenameLocked(i, oldName, nd, newName, flags)
	i.fs.mu.Unlock()
	i.fs.releaseOrphans()
	return err
}

// RenameLocked moves old/oldName to nd/newName with rename(2)'s rules.
// Preconditions: the filesystem's tree lock is held (through Rename or
// LockTree).
func RenameLocked(old *Inode, oldName string, nd *Inode, newName string, flags uint32) error {
	src, ok := old.entries[oldName]
	if !ok {
		return unix.ENOENT
	}
	if nd.entries == nil {
		return unix.ENOENT
	}
	dst := nd.entries[newName]
	if dst == src {
		return nil
	}
	// A directory cannot move below itself.
	if src.IsDir() {
		for a := nd; ; a = a.parent {
			if a == src {
				return unix.EINVAL
			}
			if a.parent == a || a.parent == nil {
				break
			}
		}
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		if dst == nil {
			return unix.ENOENT
		}
		if dst.IsDir() {
			for a := old; ; a = a.parent {
				if a == dst {
					return unix.EINVAL
				}
				if a.parent == a || a.parent == nil {
					break
				}
			}
		}
		old.entries[oldName], nd.entries[newName] = dst, src
		if src.IsDir() {
			src.parent = nd
		}
		if dst.IsDir() {
			dst.parent = old
		}
		if src.IsDir() != dst.IsDir() {
			if src.IsDir() {
				nd.nlink++
				old.nlink--
			} else {
				old.nlink++
				nd.nlink--
			}
		}
		src.touchCtime()
		dst.touchCtime()
		old.touch()
		nd.touch()
		return nil
	}
	if dst != nil {
		if flags&unix.RENAME_NOREPLACE != 0 {
			return unix.EEXIST
		}
		if src.IsDir() {
			if !dst.IsDir() {
				return unix.ENOTDIR
			}
			if len(dst.entries) > 0 {
				return unix.ENOTEMPTY
			}
		} else if dst.IsDir() {
			return unix.EISDIR
		}
		if _, err := nd.removeLocked(newName); err != nil {
			return err
		}
	}
	delete(old.entries, oldName)
	nd.entries[newName] = src
	if src.IsDir() {
		old.nlink--
		nd.nlink++
		src.parent = nd
	}
	src.touchCtime()
	old.touch()
	nd.touch()
	return nil
}

// LockTree takes the filesystem's tree lock for RenameLocked.
func (f *FS) LockTree() { f.mu.Lock() }

// UnlockTree releases the tree lock.
func (f *FS) UnlockTree() {
	f.mu.Unlock()
	f.releaseOrphans()
}

// File is an open tmpfs regular file.
type File struct {
	fs.PositionalFile
	inode *Inode
}

// Release implements fs.File: the last close of an unlinked file frees
// its data.
func (f *File) Release() {
	if f.inode.opens.Add(-1) == 0 {
		f.inode.releaseIfUnused()
	}
}

// releaseIfUnused frees a regular file's data once neither a name, an
// open description nor a mapping refers to it.
func (i *Inode) releaseIfUnused() {
	if i.Type() != unix.S_IFREG {
		return
	}
	i.fs.mu.RLock()
	linked := i.nlink > 0
	i.fs.mu.RUnlock()
	if linked || i.opens.Load() > 0 {
		return
	}
	i.mu.Lock()
	i.data.release()
	i.mu.Unlock()
}

// Inode returns the file's inode.
func (f *File) Inode() *Inode { return f.inode }

// Mappable implements fs.Mapper.
func (f *File) Mappable() (mm.Mappable, error) { return Mappable{f.inode}, nil }

// Allocate implements fs.Allocator: mode 0 and FALLOC_FL_KEEP_SIZE.
func (f *File) Allocate(ctx *fs.Context, mode uint32, off, length int64) error {
	if mode&unix.FALLOC_FL_PUNCH_HOLE != 0 && f.inode.Seals()&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		return unix.EPERM
	}
	if mode&^unix.FALLOC_FL_KEEP_SIZE != 0 {
		return unix.EOPNOTSUPP
	}
	if mode&unix.FALLOC_FL_KEEP_SIZE != 0 {
		if f.inode.Seals()&unix.F_SEAL_GROW != 0 && off+length > f.inode.Size() {
			return unix.EPERM
		}
		return nil
	}
	i := f.inode
	i.mu.Lock()
	end := off + length
	if i.seals&unix.F_SEAL_GROW != 0 && end > i.data.size {
		i.mu.Unlock()
		return unix.EPERM
	}
	grew := end > i.data.size
	if grew {
		i.data.truncate(end)
		i.ctime = fs.Now()
	}
	i.mu.Unlock()
	if grew {
		i.sizeChanged(end)
	}
	return nil
}

// sizeChanged tells the page cache that the file's size is now size
// (truncate, ftruncate, or fallocate growing it): cached pages past it go,
// and the cached page that held the old end of file grows, so that what a
// shared mapping writes past the old end after the file grew is written
// back (hostfs does the same for host files).
// Preconditions: i.mu is not held (the page cache reads the file with
// its own locks held, so they come before the inode's).
func (i *Inode) sizeChanged(size int64) {
	if !mm.SharedFilesMapped() {
		return
	}
	dev, ino, _ := Mappable{i}.MappingIdentity()
	mm.FileTruncated(dev, ino, size)
}

// Sync implements fs.Syncer.
func (f *File) Sync(ctx *fs.Context) error { return nil }

// regularData is a regular inode as fs.RandomAccess.
type regularData struct{ i *Inode }

func (r regularData) ReadAt(ctx *fs.Context, dst []byte, off int64) (int, error) {
	return r.i.ReadAt(dst, off)
}

func (r regularData) WriteAt(ctx *fs.Context, src []byte, off int64) (int, error) {
	r.i.killSetID(ctx)
	return r.i.WriteAt(src, off)
}

// killSetID is Linux's file_remove_privs for a write by the caller of ctx:
// without CAP_FSETID, set-user-ID goes, and set-group-ID with group
// execute.
func (i *Inode) killSetID(ctx *fs.Context) {
	if ctx == nil || ctx.Creds == nil || ctx.Creds.HasCapability(linux.CAP_FSETID) {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.mode&unix.S_ISUID != 0 {
		i.mode &^= unix.S_ISUID
		i.ctime = fs.Now()
	}
	if i.mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
		i.mode &^= unix.S_ISGID
		i.ctime = fs.Now()
	}
}

func (r regularData) Size(ctx *fs.Context) (int64, error) {
	return r.i.Size(), nil
}

func (r regularData) Append(ctx *fs.Context, src []byte) (int, int64, error) {
	i := r.i
	i.killSetID(ctx)
	i.mu.Lock()
	defer i.mu.Unlock()
	off := i.data.size
	if len(src) == 0 {
		return 0, off, nil
	}
	src, err := i.writeSealedLocked(src, off)
	if err != nil {
		return 0, off, err
	}
	n, err := i.data.writeAt(src, off)
	if n > 0 {
		i.touchLocked()
	}
	if n > 0 {
		err = nil
	}
	return n, off + int64(n), err
}

// ReadAt reads file contents (io.ReaderAt: io.EOF is not returned; a short
// count means end of file).
func (i *Inode) ReadAt(dst []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.data.readAt(dst, off), nil
}

// WriteAt writes file contents, growing the file.
func (i *Inode) WriteAt(src []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if len(src) == 0 {
		return 0, nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	src, err := i.writeSealedLocked(src, off)
	if err != nil {
		return 0, err
	}
	n, err := i.data.writeAt(src, off)
	if n > 0 {
		i.touchLocked()
		err = nil // a short write; the next one reports ENOSPC
	}
	return n, err
}

// Size returns the file size.
func (i *Inode) Size() int64 {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.data.size
}

// Mappable is a tmpfs file as an mm.Mappable.
type Mappable struct{ i *Inode }

// ReadAt implements mm.Mappable.
func (m Mappable) ReadAt(p []byte, off int64) (int, error) { return m.i.ReadAt(p, off) }

// WriteAt implements mm.Mappable: a shared mapping never grows the file.
func (m Mappable) WriteAt(p []byte, off int64) (int, error) {
	return m.WriteAtInode(m.i, p, off)
}

// WriteAtInode is WriteAt on inode i (a mapping's write-back that found
// its file copied into i).
func (Mappable) WriteAtInode(i *Inode, p []byte, off int64) (int, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if off >= i.data.size {
		return 0, nil
	}
	if end := off + int64(len(p)); end > i.data.size {
		p = p[:i.data.size-off]
	}
	n, err := i.data.writeAt(p, off)
	if n > 0 {
		i.touchLocked()
		err = nil
	}
	return n, err
}

// Mapped implements mm.MappedFile: a mapping keeps the file's data as an
// open description does.
func (m Mappable) Mapped() { m.i.opens.Add(1) }

// Unmapped implements mm.MappedFile.
func (m Mappable) Unmapped() {
	if m.i.opens.Add(-1) == 0 {
		m.i.releaseIfUnused()
	}
}

// MappingIdentity implements mm.Mappable.
func (m Mappable) MappingIdentity() (uint64, uint64, string) {
	m.i.mu.RLock()
	defer m.i.mu.RUnlock()
	return unix.Mkdev(m.i.devMajor, m.i.devMinor), m.i.ino, ""
}

// FileKey implements fs.Identified.
func (i *Inode) FileKey() (fs.FileKey, bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return fs.FileKey{Dev: unix.Mkdev(i.devMajor, i.devMinor), Ino: i.ino}, true
}

// FileKey implements fs.Identified.
func (f *File) FileKey() (fs.FileKey, bool) { return f.inode.FileKey() }
