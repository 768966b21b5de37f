// Package devfs is the sandbox's /dev: null, zero, full, random, urandom
// (the sentry's crypto/rand), ptmx (a new pseudo-terminal of the sandbox's
// devpts, mounted on /dev/pts), tty (the caller's controlling terminal),
// the stdin/stdout/stderr/fd symlinks into /proc/self/fd, and empty shm,
// mqueue and pts directories (vfs mounts a tmpfs on /dev/shm and the
// devpts on /dev/pts; boot mounts the IPC namespace's mqueue filesystem
// on /dev/mqueue).
//
// Locking: none beyond package synth's; device files are stateless.
package devfs

import (
	"crypto/rand"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devpts"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfd"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// DevtmpfsMagic is the statfs f_type of /dev (tmpfs's).
const DevtmpfsMagic = 0x01021994

// Options configure New.
type Options struct {
	// PTS is the sandbox's devpts: /dev/ptmx makes its terminals and
	// /dev/tty opens the caller's controlling terminal among them. Nil:
	// /dev/ptmx fails with ENODEV.
	PTS *devpts.Filesystem
	// TTYHostFD is a host terminal /dev/tty opens when the sandbox was
	// given no terminal of its own (runsc-lite started in the
	// background of a shell leaves its terminal alone, see
	// sentry/boot), or -1.
	TTYHostFD int
	// PtmxLink makes /dev/ptmx a symlink to pts/ptmx, as runtime-spec's
	// "dev symbolic links" ask for an OCI container (runc makes it so),
	// instead of a device node of PTS.
	PtmxLink bool
}

// New returns a devfs.
func New(o Options) *synth.Filesystem {
	major, minor := fs.NewAnonDev()
	now := fs.Now()
	attr := func(mode uint32, rdev uint64) synth.Attr {
		return synth.Attr{Mode: mode, DevMajor: major, DevMinor: minor, Rdev: rdev, Time: now, Ino: synth.NewIno()}
	}
	root := synth.NewDir(attr(0755, 0))
	dev := func(name string, maj, min uint32, open func(ctx *fs.Context, flags uint32) (fs.File, error)) {
		root.Add(name, &Device{Attr: attr(0666, unix.Mkdev(maj, min)), OpenFn: open})
	}
	dev("null", 1, 3, func(*fs.Context, uint32) (fs.File, error) { return nullFile{}, nil })
	dev("zero", 1, 5, func(*fs.Context, uint32) (fs.File, error) { return zeroFile{}, nil })
	dev("full", 1, 7, func(*fs.Context, uint32) (fs.File, error) { return fullFile{}, nil })
	dev("random", 1, 8, func(*fs.Context, uint32) (fs.File, error) { return randomFile{}, nil })
	dev("urandom", 1, 9, func(*fs.Context, uint32) (fs.File, error) { return randomFile{}, nil })
	pts, hostTTY := o.PTS, o.TTYHostFD
	dev("tty", 5, 0, func(ctx *fs.Context, flags uint32) (fs.File, error) {
		return openControllingTerminal(ctx, flags, pts, hostTTY)
	})
	link := func(name, target string) { root.Add(name, synth.StaticSymlink(attr(0777, 0), target)) }
	if o.PtmxLink {
		link("ptmx", "pts/ptmx")
	} else {
		dev("ptmx", 5, 2, func(ctx *fs.Context, flags uint32) (fs.File, error) {
			if pts == nil {
				return nil, unix.ENODEV
			}
			return pts.OpenMaster(ctx, flags)
		})
	}
	link("stdin", "/proc/self/fd/0")
	link("stdout", "/proc/self/fd/1")
	link("stderr", "/proc/self/fd/2")
	link("fd", "/proc/self/fd")
	root.Add("shm", synth.NewDir(attr(01777, 0)))
	root.Add("mqueue", synth.NewDir(attr(01777, 0)))
	root.Add("pts", synth.NewDir(attr(0755, 0)))
	return &synth.Filesystem{RootDir: root, FSName: "devtmpfs", Magic: DevtmpfsMagic}
}

// openControllingTerminal opens /dev/tty: the caller's controlling
// terminal (never acquiring one), ENXIO when it has none.
func openControllingTerminal(ctx *fs.Context, flags uint32, pts *devpts.Filesystem, hostTTY int) (fs.File, error) {
	if pts != nil && ctx.Task != nil {
		if p, ok := ctx.Task.Ext.(tty.Process); ok {
			if t := p.ControllingTerminal(); t != nil {
				return pts.OpenReplica(ctx, t, flags|unix.O_NOCTTY)
			}
		}
	}
	if (pts == nil || !pts.HasAttached()) && hostTTY >= 0 && tty.IsTerminal(hostTTY) {
		n, err := hostfd.New(hostTTY)
		if err != nil {
			return nil, unix.ENXIO
		}
		return n.Open(ctx, flags)
	}
	return nil, unix.ENXIO
}

// Device is a device node: a character device unless Kind says
// otherwise (S_IFBLK, S_IFIFO).
type Device struct {
	Attr   synth.Attr
	Kind   uint32
	OpenFn func(ctx *fs.Context, flags uint32) (fs.File, error)
}

// Type implements fs.Node.
func (d *Device) Type() uint32 {
	if d.Kind != 0 {
		return d.Kind
	}
	return unix.S_IFCHR
}

// Stat implements fs.Node.
func (d *Device) Stat(ctx *fs.Context) (linux.Statx, error) {
	t := d.Attr.Time
	return linux.Statx{
		Mask:      fs.StatxBasic,
		Blksize:   4096,
		Nlink:     1,
		Mode:      uint16(d.Type() | d.Attr.Mode),
		UID:       d.Attr.UID,
		GID:       d.Attr.GID,
		Ino:       d.Attr.Ino,
		Atime:     t,
		Mtime:     t,
		Ctime:     t,
		Btime:     t,
		RdevMajor: unix.Major(d.Attr.Rdev),
		RdevMinor: unix.Minor(d.Attr.Rdev),
		DevMajor:  d.Attr.DevMajor,
		DevMinor:  d.Attr.DevMinor,
	}, nil
}

// Open implements fs.Node.
func (d *Device) Open(ctx *fs.Context, flags uint32) (fs.File, error) { return d.OpenFn(ctx, flags) }

// WithOwner returns the same device with permission bits mode and owner
// uid:gid (an OCI config's linux.devices entry), as a new node.
func (d *Device) WithOwner(mode, uid, gid uint32) *Device {
	n := *d
	n.Attr.Mode, n.Attr.UID, n.Attr.GID = mode&07777, uid, gid
	n.Attr.Ino = synth.NewIno()
	return &n
}

// UnservedDevice returns a node of type kind (S_IFCHR, S_IFBLK, S_IFIFO)
// and number major:minor that the sandbox has no driver for: it has its
// type, number, mode and owner (stat, ls), and opening it fails with
// ENXIO, as a host device node seen through hostfs does.
func UnservedDevice(kind, major, minor, mode, uid, gid uint32) *Device {
	return &Device{
		Attr: synth.Attr{Mode: mode & 07777, UID: uid, GID: gid, Rdev: unix.Mkdev(major, minor), Ino: synth.NewIno(), Time: fs.Now()},
		Kind: kind,
		OpenFn: func(*fs.Context, uint32) (fs.File, error) {
			return nil, unix.ENXIO
		},
	}
}

// DeviceByNumber returns the device of the devfs root dir whose number is
// major:minor, or nil if the sandbox has no such device.
func DeviceByNumber(root *synth.Dir, major, minor uint32) *Device {
	ents, err := root.Readdir(fs.Background)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		n, err := root.Lookup(fs.Background, e.Name)
		if err != nil {
			continue
		}
		if d, ok := n.(*Device); ok && d.Attr.Rdev == unix.Mkdev(major, minor) {
			return d
		}
	}
	return nil
}

// seekZero is lseek on the memory devices: always 0.
type seekZero struct{}

func (seekZero) Seek(*fs.Context, int64, int) (int64, error) { return 0, nil }
func (seekZero) Release()                                    {}

type nullFile struct{ seekZero }

// DiscardsWrites implements fs.Discarder.
func (nullFile) DiscardsWrites() {}

func (nullFile) Read(*fs.Context, []byte, uint32) (int, error)         { return 0, nil }
func (nullFile) Write(_ *fs.Context, p []byte, _ uint32) (int, error)  { return len(p), nil }
func (nullFile) ReadAt(*fs.Context, []byte, int64) (int, error)        { return 0, nil }
func (nullFile) WriteAt(_ *fs.Context, p []byte, _ int64) (int, error) { return len(p), nil }
func (nullFile) Readiness(mask uint32) uint32                          { return mask & (unix.POLLIN | unix.POLLOUT) }
func (nullFile) Watch(uint32, fs.WatchFunc) func()                     { return func() {} }

type zeroFile struct{ seekZero }

// FillsReads implements fs.Filler.
func (zeroFile) FillsReads() {}

// DiscardsWrites implements fs.Discarder.
func (zeroFile) DiscardsWrites() {}

func (zeroFile) Read(_ *fs.Context, p []byte, _ uint32) (int, error)   { clear(p); return len(p), nil }
func (zeroFile) Write(_ *fs.Context, p []byte, _ uint32) (int, error)  { return len(p), nil }
func (zeroFile) ReadAt(_ *fs.Context, p []byte, _ int64) (int, error)  { clear(p); return len(p), nil }
func (zeroFile) WriteAt(_ *fs.Context, p []byte, _ int64) (int, error) { return len(p), nil }
func (zeroFile) Readiness(mask uint32) uint32                          { return mask & (unix.POLLIN | unix.POLLOUT) }
func (zeroFile) Watch(uint32, fs.WatchFunc) func()                     { return func() {} }

// Mappable implements fs.Mapper: a private mapping of /dev/zero is
// anonymous memory.
func (zeroFile) Mappable() (mm.Mappable, error) { return zeroMappable{}, nil }

type zeroMappable struct{}

func (zeroMappable) ReadAt(p []byte, off int64) (int, error)  { clear(p); return len(p), nil }
func (zeroMappable) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }
func (zeroMappable) MappingIdentity() (uint64, uint64, string) {
	return unix.Mkdev(0, 1), 0, "/dev/zero (deleted)"
}

type fullFile struct{ seekZero }

func (fullFile) Read(_ *fs.Context, p []byte, _ uint32) (int, error)  { clear(p); return len(p), nil }
func (fullFile) Write(*fs.Context, []byte, uint32) (int, error)       { return 0, unix.ENOSPC }
func (fullFile) ReadAt(_ *fs.Context, p []byte, _ int64) (int, error) { clear(p); return len(p), nil }
func (fullFile) WriteAt(*fs.Context, []byte, int64) (int, error)      { return 0, unix.ENOSPC }
func (fullFile) Readiness(mask uint32) uint32                         { return mask & (unix.POLLIN | unix.POLLOUT) }
func (fullFile) Watch(uint32, fs.WatchFunc) func()                    { return func() {} }

type randomFile struct{ seekZero }

// FillsReads implements fs.Filler.
func (randomFile) FillsReads() {}

func (randomFile) Read(_ *fs.Context, p []byte, _ uint32) (int, error) {
	rand.Read(p)
	return len(p), nil
}
func (randomFile) Write(_ *fs.Context, p []byte, _ uint32) (int, error) { return len(p), nil }
func (randomFile) ReadAt(_ *fs.Context, p []byte, _ int64) (int, error) {
	rand.Read(p)
	return len(p), nil
}
func (randomFile) WriteAt(_ *fs.Context, p []byte, _ int64) (int, error) { return len(p), nil }
func (randomFile) Readiness(mask uint32) uint32                          { return mask & (unix.POLLIN | unix.POLLOUT) }
func (randomFile) Watch(uint32, fs.WatchFunc) func()                     { return func() {} }

// Ioctl implements fs.Ioctler for the random devices (RNDGETENTCNT).
func (randomFile) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	return 0, unix.ENOTTY
}
