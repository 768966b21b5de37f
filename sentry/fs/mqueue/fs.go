package mqueue

import (
	"sort"
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Filesystem is the mqueue filesystem of one IPC namespace.
type Filesystem struct{ r *Registry }

// Root implements fs.Filesystem.
func (f *Filesystem) Root() fs.Directory { return &root{r: f.r} }

// Name implements fs.Filesystem.
func (f *Filesystem) Name() string { return "mqueue" }

// Statfs implements fs.Filesystem.
func (f *Filesystem) Statfs(ctx *fs.Context) (linux.Statfs, error) {
	return linux.Statfs{Type: Magic, BlockSize: 4096, FragmentSize: 4096, NameLength: 255}, nil
}

// root is the filesystem's only directory: one entry per queue. Queues
// are created with open(O_CREAT) (the default attributes) and removed
// with unlink; nothing else can be made in it (EPERM), as on Linux.
type root struct{ r *Registry }

func statOf(a nodeAttr, typ uint32, ino uint64, size uint64, major, minor uint32) linux.Statx {
	return linux.Statx{
		Mask:     fs.StatxBasic,
		Blksize:  4096,
		Nlink:    1,
		UID:      a.uid,
		GID:      a.gid,
		Mode:     uint16(typ | a.mode&07777),
		Ino:      ino,
		Size:     size,
		Atime:    a.atime,
		Mtime:    a.mtime,
		Ctime:    a.ctime,
		DevMajor: major,
		DevMinor: minor,
	}
}

// Type implements fs.Node.
func (d *root) Type() uint32 { return unix.S_IFDIR }

// Stat implements fs.Node.
func (d *root) Stat(ctx *fs.Context) (linux.Statx, error) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	st := statOf(d.r.rootAttr, unix.S_IFDIR, 1, 0, d.r.major, d.r.minor)
	st.Nlink = 2
	return st, nil
}

// Open implements fs.Node (never called for a directory).
func (d *root) Open(ctx *fs.Context, flags uint32) (fs.File, error) { return nil, unix.EISDIR }

// Lookup implements fs.Directory.
func (d *root) Lookup(ctx *fs.Context, name string) (fs.Node, error) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	q, ok := d.r.queues[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return q, nil
}

// Readdir implements fs.Directory.
func (d *root) Readdir(ctx *fs.Context) ([]fs.Dirent, error) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	out := make([]fs.Dirent, 0, len(d.r.queues))
	for name, q := range d.r.queues {
		out = append(out, fs.Dirent{Name: name, Type: fs.FileType(unix.S_IFREG), Ino: q.ino})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ino < out[j].Ino })
	return out, nil
}

// Create implements fs.DirectoryWriter: open(O_CREAT) of a new name makes
// a queue with the default attributes.
func (d *root) Create(ctx *fs.Context, name string, mode uint32, flags uint32) (fs.Node, fs.File, error) {
	o := CreateOpts{Mode: mode, RLimit: ^uint64(0)}
	if c := ctx.Creds; c != nil {
		o.UID, o.GID, o.Charged = c.FSUID, c.FSGID, c.RealUID
		o.Privileged = c.HasCapability(linux.CAP_SYS_RESOURCE)
	} else {
		o.Privileged = true
	}
	if d.r.RLimit != nil {
		o.RLimit = d.r.RLimit(ctx)
	}
	q, f, err := d.r.Create(name, o)
	if err != nil {
		return nil, nil, err
	}
	return q, f, nil
}

// Mkdir implements fs.DirectoryWriter: EPERM.
func (d *root) Mkdir(ctx *fs.Context, name string, mode uint32) error { return unix.EPERM }

// Mknod implements fs.DirectoryWriter: EPERM.
func (d *root) Mknod(ctx *fs.Context, name string, mode uint32, dev uint32) error {
	return unix.EPERM
}

// Symlink implements fs.DirectoryWriter: EPERM.
func (d *root) Symlink(ctx *fs.Context, name string, target string) error { return unix.EPERM }

// Link implements fs.DirectoryWriter: EPERM.
func (d *root) Link(ctx *fs.Context, name string, target fs.Node) error { return unix.EPERM }

// Unlink implements fs.DirectoryWriter: mq_unlink.
func (d *root) Unlink(ctx *fs.Context, name string) error { return d.r.Unlink(name) }

// Rmdir implements fs.DirectoryWriter: there are no directories (EPERM,
// as a directory without rmdir answers on Linux).
func (d *root) Rmdir(ctx *fs.Context, name string) error { return unix.EPERM }

// Rename implements fs.DirectoryWriter: EPERM.
func (d *root) Rename(ctx *fs.Context, oldName string, newDir fs.Directory, newName string, flags uint32) error {
	return unix.EPERM
}

// SetStat implements fs.Attributer (chmod, chown, utimes of the root).
func (d *root) SetStat(ctx *fs.Context, s fs.SetStat) error {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	return setAttr(&d.r.rootAttr, s)
}

func setAttr(a *nodeAttr, s fs.SetStat) error {
	if s.Mask&linux.STATX_MODE != 0 {
		a.mode = s.Mode & 07777
	}
	if s.Mask&linux.STATX_UID != 0 {
		a.uid = s.UID
	}
	if s.Mask&linux.STATX_GID != 0 {
		a.gid = s.GID
	}
	if s.Mask&linux.STATX_ATIME != 0 {
		a.atime = s.Atime
	}
	if s.Mask&linux.STATX_MTIME != 0 {
		a.mtime = s.Mtime
	}
	a.ctime = fs.Now()
	return nil
}

// Type implements fs.Node: a queue is a regular file.
func (q *Queue) Type() uint32 { return unix.S_IFREG }

// Stat implements fs.Node: its size is FILENT_SIZE, as on Linux.
func (q *Queue) Stat(ctx *fs.Context) (linux.Statx, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return statOf(q.attr, unix.S_IFREG, q.ino, fileSize, q.r.major, q.r.minor), nil
}

// Open implements fs.Node (open(2) of a queue file on a mount).
func (q *Queue) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	q.mu.Lock()
	q.mu.Unlock()
	return q.NewFile(), nil
}

// SetStat implements fs.Attributer (chmod, chown, utimes; a size change
// is ignored).
func (q *Queue) SetStat(ctx *fs.Context, s fs.SetStat) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	s.Mask &^= linux.STATX_SIZE
	return setAttr(&q.attr, s)
}

// File is an open queue: what mq_open returns and open(2) of a queue file
// on a mount gives. Reading it gives the status line; it cannot be
// written (EINVAL).
type File struct {
	q *Queue

	mu  sync.Mutex
	off int64
}

// NewFile returns an open file of q, holding a reference on it.
func (q *Queue) NewFile() *File {
	q.mu.Lock()
	q.refs++
	q.mu.Unlock()
	return &File{q: q}
}

// Queue returns the file's queue.
func (f *File) Queue() *Queue { return f.q }

// Read implements fs.File: the status line from the file's position.
func (f *File) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.ReadAt(ctx, dst, f.off)
	f.off += int64(n)
	if n > 0 {
		f.q.mu.Lock()
		f.q.touch(true, false)
		f.q.mu.Unlock()
	}
	return n, err
}

// ReadAt implements fs.File.
func (f *File) ReadAt(ctx *fs.Context, dst []byte, off int64) (int, error) {
	s := f.q.status(ctx)
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= int64(len(s)) {
		return 0, nil
	}
	return copy(dst, s[off:]), nil
}

// Write implements fs.File: EINVAL (a queue file has no write).
func (f *File) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// WriteAt implements fs.File: EINVAL.
func (f *File) WriteAt(ctx *fs.Context, src []byte, off int64) (int, error) {
	return 0, unix.EINVAL
}

// Seek implements fs.File (default_llseek over FILENT_SIZE bytes).
func (f *File) Seek(ctx *fs.Context, off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		base = f.off
	case unix.SEEK_END:
		base = fileSize
	default:
		return 0, unix.EINVAL
	}
	n := base + off
	if n < 0 {
		return 0, unix.EINVAL
	}
	f.off = n
	return n, nil
}

// Release implements fs.File.
func (f *File) Release() { f.q.decRef() }

// Readiness implements fs.Waitable: readable while a message is queued,
// writable while there is room.
func (f *File) Readiness(mask uint32) uint32 { return f.q.readiness(mask) }

// Watch implements fs.Waitable.
func (f *File) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return f.q.notifier.Watch(mask, fn)
}
