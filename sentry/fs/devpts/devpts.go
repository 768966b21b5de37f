// Package devpts is the sandbox's /dev/pts: a filesystem of
// pseudo-terminals served entirely by the sentry. Opening ptmx (here or
// /dev/ptmx) makes a new terminal and returns its master; /dev/pts/N is
// its replica, present while the master is open. A host terminal attached
// with AttachHost is a terminal of the same kind whose master is the host
// (sentry/tty's HostLink): the first one made is /dev/pts/0.
//
// Numbers are allocated lowest first, as Linux's devpts does; a number is
// reused once the master and every replica file are closed. Inode numbers
// are Linux's: the root 1, ptmx 2, /dev/pts/N N+3.
//
// Locking: Filesystem.mu protects the table of terminals; it is a leaf
// (taken without any terminal's lock, and never held while calling into
// a terminal that may notify or block).
package devpts

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Magic is devpts's statfs f_type (DEVPTS_SUPER_MAGIC).
const Magic = 0x1cd1

// maxPTYs bounds the terminals of one instance (/proc/sys/kernel/pty/max's
// default).
const maxPTYs = 4096

// NoGID is Options.GID's "not set": a new /dev/pts/N gets its opener's
// group.
const NoGID = ^uint32(0)

// Options configure New, as devpts's mount options.
type Options struct {
	// Mode is the permission of a new /dev/pts/N (mode=).
	Mode uint32
	// GID is its group (gid=), or NoGID.
	GID uint32
	// PtmxMode is the permission of /dev/pts/ptmx (ptmxmode=).
	PtmxMode uint32
}

// DefaultOptions are Linux's defaults for a devpts mounted without
// options (mode=600, no gid, ptmxmode=000). OCI runtimes mount theirs with
// mode=620,gid=5,ptmxmode=666.
var DefaultOptions = Options{Mode: 0600, GID: NoGID, PtmxMode: 0}

// Filesystem is one devpts instance.
type Filesystem struct {
	opts     Options
	sessions tty.Sessions
	devMajor uint32
	devMinor uint32
	created  linux.StatxTimestamp
	root     *rootDir
	ptmx     *ptmxNode

	mu    sync.Mutex
	terms map[uint32]*tty.Terminal
	// attached counts host terminals attached (the first takes 0).
	attached atomic.Int32
}

// New returns an empty devpts whose terminals signal processes through
// sessions (the sandbox's process table; nil in tests).
func New(o Options, sessions tty.Sessions) *Filesystem {
	maj, min := fs.NewAnonDev()
	f := &Filesystem{
		opts:     o,
		sessions: sessions,
		devMajor: maj,
		devMinor: min,
		created:  fs.Now(),
		terms:    make(map[uint32]*tty.Terminal),
	}
	f.root = &rootDir{f: f}
	f.ptmx = &ptmxNode{f: f}
	return f
}

// Root implements fs.Filesystem.
func (f *Filesystem) Root() fs.Directory { return f.root }

// Name implements fs.Filesystem.
func (f *Filesystem) Name() string { return "devpts" }

// Statfs implements fs.Filesystem.
func (f *Filesystem) Statfs(ctx *fs.Context) (linux.Statfs, error) {
	return linux.Statfs{Type: Magic, BlockSize: 4096, NameLength: 255, FragmentSize: 4096}, nil
}

// MountOptions returns the options /proc/mounts shows (as Linux's
// devpts_show_options).
func (f *Filesystem) MountOptions() string {
	s := ""
	if f.opts.GID != NoGID {
		s = "gid=" + strconv.Itoa(int(f.opts.GID)) + ","
	}
	return s + "mode=" + oct3(f.opts.Mode) + ",ptmxmode=" + oct3(f.opts.PtmxMode)
}

func oct3(v uint32) string {
	s := strconv.FormatUint(uint64(v), 8)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

// newTerminal allocates the lowest free number for a new terminal owned
// by creds. ENOSPC when maxPTYs are in use.
func (f *Filesystem) newTerminal(creds *fs.Creds) (*tty.Terminal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var i uint32
	for i = 0; i < maxPTYs; i++ {
		if _, used := f.terms[i]; !used {
			break
		}
	}
	if i == maxPTYs {
		return nil, unix.ENOSPC
	}
	t := tty.New(i, f.sessions)
	var uid, gid uint32
	if creds != nil {
		uid, gid = creds.FSUID, creds.FSGID
	}
	if f.opts.GID != NoGID {
		gid = f.opts.GID
	}
	t.SetReplicaOwner(uid, gid, f.opts.Mode)
	f.terms[i] = t
	return t, nil
}

// release frees t's number once nothing uses it.
func (f *Filesystem) release(t *tty.Terminal) {
	if t.MasterOpen() || t.ReplicaOpen() {
		return
	}
	f.mu.Lock()
	if f.terms[t.Index()] == t {
		delete(f.terms, t.Index())
	}
	f.mu.Unlock()
}

// lookup returns the terminal /dev/pts/N names while its master is open.
func (f *Filesystem) lookup(i uint32) *tty.Terminal {
	f.mu.Lock()
	t := f.terms[i]
	f.mu.Unlock()
	if t == nil || !t.MasterOpen() {
		return nil
	}
	return t
}

// OpenMaster makes a new terminal and returns its master (an open of
// ptmx). The replica starts locked until TIOCSPTLCK unlocks it.
func (f *Filesystem) OpenMaster(ctx *fs.Context, flags uint32) (fs.File, error) {
	t, err := f.newTerminal(ctx.Creds)
	if err != nil {
		return nil, err
	}
	t.SetLocked(true)
	return &MasterFile{f: f, t: t, readable: flags&unix.O_ACCMODE != unix.O_WRONLY}, nil
}

// ReplicaNode returns the node of /dev/pts/N for t, so that the sentry
// can open it (TIOCGPTPEER, a host terminal installed as a program's
// stdio).
func (f *Filesystem) ReplicaNode(t *tty.Terminal) fs.Node { return &replicaNode{f: f, t: t} }

// OpenReplica opens t's replica as an open of /dev/pts/N with flags
// would, acquiring it as controlling terminal unless O_NOCTTY. It is also
// how /dev/tty opens the caller's controlling terminal (with O_NOCTTY).
func (f *Filesystem) OpenReplica(ctx *fs.Context, t *tty.Terminal, flags uint32) (fs.File, error) {
	// An exclusive (TIOCEXCL) terminal opens again only with
	// CAP_SYS_ADMIN (Linux's tty_reopen).
	if err := t.OpenReplica(ctx.Creds.HasCapability(linux.CAP_SYS_ADMIN)); err != nil {
		return nil, err
	}
	t.Opened(ctx, flags)
	return &ReplicaFile{f: f, t: t, readable: flags&unix.O_ACCMODE != unix.O_WRONLY}, nil
}

// AttachHost makes host terminal hostFD a terminal of this devpts (the
// lowest free number: /dev/pts/0 for the first) whose master side is the
// host, owned by creds. The caller closes the link when the sandbox ends.
func (f *Filesystem) AttachHost(hostFD int, creds *fs.Creds, o tty.HostOptions) (*tty.Terminal, *tty.HostLink, error) {
	t, err := f.newTerminal(creds)
	if err != nil {
		return nil, nil, err
	}
	link, err := tty.AttachHost(t, hostFD, o)
	if err != nil {
		f.mu.Lock()
		delete(f.terms, t.Index())
		f.mu.Unlock()
		return nil, nil, err
	}
	f.attached.Add(1)
	return t, link, nil
}

// DetachHost ends host terminal t's life in this devpts once its link is
// closed: the replica hangs up and /dev/pts/N goes, its number freed when
// the last replica file closes (an OCI exec's console, when the process
// is gone).
func (f *Filesystem) DetachHost(t *tty.Terminal) {
	t.CloseMaster()
	f.release(t)
}

// HasAttached reports whether a host terminal was attached.
func (f *Filesystem) HasAttached() bool { return f.attached.Load() > 0 }

// rootDir is /dev/pts.
type rootDir struct{ f *Filesystem }

func (d *rootDir) Type() uint32 { return unix.S_IFDIR }

func (d *rootDir) Stat(ctx *fs.Context) (linux.Statx, error) {
	return d.f.stat(unix.S_IFDIR|0755, 1, 2, 0, 0, 0, 0, d.f.created), nil
}

func (d *rootDir) Open(ctx *fs.Context, flags uint32) (fs.File, error) { return nil, unix.EISDIR }

func (d *rootDir) Lookup(ctx *fs.Context, name string) (fs.Node, error) {
	if name == "ptmx" {
		return d.f.ptmx, nil
	}
	i, err := strconv.ParseUint(name, 10, 32)
	if err != nil || strconv.FormatUint(i, 10) != name {
		return nil, unix.ENOENT
	}
	t := d.f.lookup(uint32(i))
	if t == nil {
		return nil, unix.ENOENT
	}
	return &replicaNode{f: d.f, t: t}, nil
}

func (d *rootDir) Readdir(ctx *fs.Context) ([]fs.Dirent, error) {
	d.f.mu.Lock()
	var idx []uint32
	for i, t := range d.f.terms {
		if t.MasterOpen() {
			idx = append(idx, i)
		}
	}
	d.f.mu.Unlock()
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	ents := []fs.Dirent{{Name: "ptmx", Type: unix.DT_CHR, Ino: 2}}
	for _, i := range idx {
		ents = append(ents, fs.Dirent{Name: strconv.FormatUint(uint64(i), 10), Type: unix.DT_CHR, Ino: uint64(i) + 3})
	}
	return ents, nil
}

// stat builds the attributes of a devpts node.
func (f *Filesystem) stat(mode uint32, ino uint64, nlink uint32, uid, gid, rmaj, rmin uint32, ts linux.StatxTimestamp) linux.Statx {
	return linux.Statx{
		Mask:      fs.StatxBasic,
		Blksize:   1024,
		Nlink:     nlink,
		UID:       uid,
		GID:       gid,
		Mode:      uint16(mode),
		Ino:       ino,
		Atime:     ts,
		Mtime:     ts,
		Ctime:     ts,
		Btime:     ts,
		RdevMajor: rmaj,
		RdevMinor: rmin,
		DevMajor:  f.devMajor,
		DevMinor:  f.devMinor,
	}
}

// ptmxNode is /dev/pts/ptmx.
type ptmxNode struct{ f *Filesystem }

func (n *ptmxNode) Type() uint32 { return unix.S_IFCHR }

func (n *ptmxNode) Stat(ctx *fs.Context) (linux.Statx, error) {
	return n.f.stat(unix.S_IFCHR|n.f.opts.PtmxMode, 2, 1, 0, 0, 5, 2, n.f.created), nil
}

func (n *ptmxNode) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	return n.f.OpenMaster(ctx, flags)
}

// replicaNode is /dev/pts/N.
type replicaNode struct {
	f *Filesystem
	t *tty.Terminal
}

func (n *replicaNode) Type() uint32 { return unix.S_IFCHR }

func (n *replicaNode) Stat(ctx *fs.Context) (linux.Statx, error) {
	uid, gid, mode := n.t.ReplicaOwner()
	maj, min := n.t.Device()
	return n.f.stat(unix.S_IFCHR|mode, uint64(n.t.Index())+3, 1, uid, gid, maj, min, n.t.Created()), nil
}

func (n *replicaNode) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	return n.f.OpenReplica(ctx, n.t, flags)
}

// SetStat implements fs.Attributer: chmod and chown of /dev/pts/N (grantpt,
// mesg); times are not kept.
func (n *replicaNode) SetStat(ctx *fs.Context, s fs.SetStat) error {
	if s.Mask&linux.STATX_MODE != 0 {
		n.t.SetReplicaMode(s.Mode)
	}
	if s.Mask&(linux.STATX_UID|linux.STATX_GID) != 0 {
		n.t.SetReplicaIDs(s.UID, s.GID, s.Mask&linux.STATX_UID != 0, s.Mask&linux.STATX_GID != 0)
	}
	return nil
}
