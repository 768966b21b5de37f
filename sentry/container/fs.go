package container

// The container's mount namespace: its root, its mounts, devices, masked
// and read-only paths.

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/devpts"
	"github.com/runsc-lite/runsc-lite/sentry/fs/hostfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/overlay"
	"github.com/runsc-lite/runsc-lite/sentry/fs/procfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/fs/sysfs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

// mountOpts is a Mount's options sorted out.
type mountOpts struct {
	readOnly, noExec, bind bool
	// flags are the per-mount flags /proc/mounts shows (nosuid, nodev,
	// noexec, atime options); data the filesystem's own (mode=, size=).
	flags, data []string
	mode        uint32
	hasMode     bool
	size        uint64
}

// parseMountOptions sorts m's options. Propagation options (private,
// rslave, ...) are accepted and have no effect: a sandbox's mounts never
// propagate anywhere.
func parseMountOptions(m Mount) (mountOpts, error) {
	var o mountOpts
	for _, opt := range m.Options {
		switch opt {
		case "ro":
			o.readOnly = true
		case "rw", "defaults", "async", "sync", "dirsync", "suid", "dev", "exec", "auto", "noauto", "user", "nouser":
		case "bind", "rbind":
			o.bind = true
		case "nosuid", "nodev", "noatime", "nodiratime", "relatime", "strictatime", "lazytime", "mand", "nomand":
			o.flags = append(o.flags, opt)
		case "noexec":
			o.noExec = true
			o.flags = append(o.flags, opt)
		case "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable",
			"remount", "recursive", "rro", "rrw", "tmpcopyup", "idmap", "ridmap", "norelatime", "nostrictatime":
		default:
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "mode":
				n, err := strconv.ParseUint(v, 8, 32)
				if err != nil || n > 07777 {
					return o, fmt.Errorf("mount %s: bad option %q", m.Destination, opt)
				}
				o.mode, o.hasMode = uint32(n), true
			case "size":
				n, err := parseTmpfsSize(v)
				if err != nil {
					return o, fmt.Errorf("mount %s: bad option %q", m.Destination, opt)
				}
				o.size = n
			}
			o.data = append(o.data, opt)
		}
	}
	if m.IsBind() {
		o.bind = true
	}
	return o, nil
}

// devptsOptions reads a devpts mount's own options (mode=, gid=,
// ptmxmode=; newinstance and max= are accepted: every container's devpts
// is a new instance, and max= is its 4096 terminals or fewer).
func devptsOptions(m Mount) (devpts.Options, error) {
	o := devpts.DefaultOptions
	for _, opt := range m.Options {
		k, v, hasVal := strings.Cut(opt, "=")
		if !hasVal {
			continue
		}
		var err error
		var n uint64
		switch k {
		case "mode", "ptmxmode":
			if n, err = strconv.ParseUint(v, 8, 32); err == nil && n > 0777 {
				err = strconv.ErrRange
			}
			if k == "mode" {
				o.Mode = uint32(n)
			} else {
				o.PtmxMode = uint32(n)
			}
		case "gid":
			n, err = strconv.ParseUint(v, 10, 32)
			o.GID = uint32(n)
		}
		if err != nil {
			return o, fmt.Errorf("mount %s: bad option %q", m.Destination, opt)
		}
	}
	return o, nil
}

// parseTmpfsSize reads tmpfs's size= (bytes with an optional k, m or g).
func parseTmpfsSize(v string) (uint64, error) {
	mult := uint64(1)
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			v = v[:n-1]
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n * mult, err
}

// fsBuilder builds one container's mount namespace.
type fsBuilder struct {
	env  *Env
	spec *Spec
	v    *vfs.VirtualFilesystem
	fsc  *vfs.FSContext
	// hostRoot is a writable view of a host root that is shown read
	// only, through which mount points missing from it are made (as
	// runc makes them in the bundle's rootfs); nil otherwise.
	hostRoot *vfs.VirtualFilesystem
	// dev is the container's /dev, once mounted.
	dev *synth.Filesystem
	// pts is the container's devpts: /dev/ptmx makes its terminals,
	// a devpts mount shows it, and host terminals attach to it.
	pts *devpts.Filesystem
}

// buildFS builds the mount namespace of spec, all but its masked and
// read-only paths (protect).
func buildFS(env *Env, spec *Spec) (*fsBuilder, error) {
	b := &fsBuilder{env: env, spec: spec}
	ptsOpts := devpts.DefaultOptions
	for _, m := range spec.Mounts {
		if m.Type == "devpts" {
			var err error
			if ptsOpts, err = devptsOptions(m); err != nil {
				return nil, err
			}
			break
		}
	}
	b.pts = devpts.New(ptsOpts, env.Sandbox)
	r := spec.Root
	if r.FD == 0 {
		if st, err := os.Stat(r.Path); err != nil {
			return nil, fmt.Errorf("root %s: %w", r.Path, errors.Unwrap(err))
		} else if !st.IsDir() {
			return nil, fmt.Errorf("root %s: not a directory", r.Path)
		}
	}
	lower, err := hostDir(r.Path, r.FD, r.ReadOnly || r.Overlay)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", r.Path, err)
	}
	b.setCloser(lower)
	switch {
	case r.Overlay:
		ov, err := overlay.New(lower)
		if err != nil {
			return nil, fmt.Errorf("root %s: %w", r.Path, err)
		}
		b.v = vfs.NewWithRoot(ov, "overlay")
	default:
		b.v = vfs.NewWithRoot(lower, r.Path)
		if r.ReadOnly {
			if rw, err := hostfs.New(r.Path, false); err == nil {
				b.setCloser(rw)
				b.hostRoot = vfs.NewWithRoot(rw, r.Path)
			}
		} else if err := b.env.writable(lower); err != nil {
			return nil, err
		}
	}
	if b.fsc, err = b.v.NewFSContext("/"); err != nil {
		return nil, err
	}
	for _, m := range spec.Mounts {
		if err := b.mount(m); err != nil {
			return nil, err
		}
	}
	if err := b.makeDevices(); err != nil {
		return nil, err
	}
	return b, nil
}

// protect applies the spec's masked and read-only paths; it runs after
// the sysctls were written.
func (b *fsBuilder) protect() error {
	for _, p := range b.spec.MaskedPaths {
		if err := b.mask(p); err != nil {
			return err
		}
	}
	for _, p := range b.spec.ReadonlyPaths {
		loc, err := b.v.Resolve(fs.Background, b.fsc, b.v.RootLocation(), p, true)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return fmt.Errorf("read-only path %s: %w", p, err)
		}
		if err := b.v.Bind(fs.Background, loc, loc.Path, true); err != nil {
			return fmt.Errorf("read-only path %s: %w", p, err)
		}
	}
	return nil
}

func (b *fsBuilder) setCloser(h *hostfs.FS) {
	if b.env.FDCloser != nil {
		h.SetFDCloser(b.env.FDCloser)
	}
}

// mount mounts m.
func (b *fsBuilder) mount(m Mount) error {
	dest := m.Destination
	if !path.IsAbs(dest) {
		return fmt.Errorf("mount destination %q is not an absolute path", dest)
	}
	dest = path.Clean(dest)
	o, err := parseMountOptions(m)
	if err != nil {
		return err
	}
	mo := vfs.MountOptions{
		ReadOnly: o.readOnly, NoExec: o.noExec, Source: m.Source, FSType: m.Type,
		Flags: strings.Join(o.flags, ","), Data: strings.Join(o.data, ","),
	}
	if mo.Source == "" {
		mo.Source = "none"
	}
	var f fs.Filesystem
	switch {
	case o.bind:
		return b.bind(m, dest, o, mo)
	case m.Type == "tmpfs" && dest == "/dev", m.Type == "devtmpfs":
		// The container's /dev is the sandbox's devfs (its default
		// devices), whatever the config mounts there.
		// An OCI container's /dev/ptmx is runtime-spec's symlink to
		// pts/ptmx; `do` keeps the device node a host has.
		b.dev = devfs.New(devfs.Options{PTS: b.pts, TTYHostFD: b.env.TTYHostFD, PtmxLink: b.spec.ID != ""})
		f = b.dev
	case m.Type == "tmpfs", m.Type == "shm":
		mode := uint32(01777)
		if o.hasMode {
			mode = o.mode
		}
		f = tmpfs.New(mode, 0, 0)
	case m.Type == "proc":
		f = procfs.New(b.env.Sandbox)
	case m.Type == "sysfs":
		f = sysfs.New(b.env.Sandbox.Kernel.NumCPUs())
	case m.Type == "devpts":
		// The container's devpts (made with the first devpts mount's
		// options); /proc/mounts shows its options as Linux does.
		f = b.pts
		mo.Data = b.pts.MountOptions()
	case m.Type == "mqueue" && b.env.Sandbox.IPC != nil:
		// The sandbox's IPC namespace's POSIX message queues (every
		// container of the sandbox shares it).
		f = b.env.Sandbox.IPC.MQueue.Filesystem()
	case m.Type == "cgroup", m.Type == "cgroup2", m.Type == "securityfs", m.Type == "debugfs":
		// Shown in the mount table, read-only; an empty directory
		// inside (the sandbox has no cgroup files yet).
		f = tmpfs.New(01777, 0, 0)
		mo.ReadOnly = true
	default:
		return fmt.Errorf("mount %s: filesystem type %q is not supported in the sandbox", dest, m.Type)
	}
	if err := b.mkMountpoint(dest, true); err != nil {
		return fmt.Errorf("mount %s: %w", dest, err)
	}
	if err := b.v.Mount(fs.Background, dest, f, mo); err != nil {
		return fmt.Errorf("mount %s: %w", dest, err)
	}
	return nil
}

// bind mounts host path m.Source (a directory or a file) at dest.
func (b *fsBuilder) bind(m Mount, dest string, o mountOpts, mo vfs.MountOptions) error {
	dir, name := m.HostDir, m.HostName
	if m.HostFD == 0 || dir == "" {
		var err error
		if dir, name, err = m.BindDir(); err != nil {
			return fmt.Errorf("mount %s: source %s: %w", dest, m.Source, errnoText(err))
		}
	}
	mo.RootPath = filepath.Join(dir, name)
	if mo.FSType == "" || mo.FSType == "none" {
		mo.FSType = ""
	}
	h, err := hostDir(dir, m.HostFD, o.readOnly)
	if err != nil {
		return fmt.Errorf("mount %s: source %s: %w", dest, m.Source, err)
	}
	b.setCloser(h)
	if !o.readOnly {
		if err := b.env.writable(h); err != nil {
			return err
		}
	}
	if name != "" {
		node, err := h.Root().Lookup(fs.Background, name)
		if err != nil {
			return fmt.Errorf("mount %s: source %s: %w", dest, m.Source, err)
		}
		mo.Root = node
	}
	if err := b.mkMountpoint(dest, name == ""); err != nil {
		return fmt.Errorf("mount %s: %w", dest, err)
	}
	if err := b.v.Mount(fs.Background, dest, h, mo); err != nil {
		return fmt.Errorf("mount %s: %w", dest, err)
	}
	return nil
}

// hostDir returns the hostfs of host directory dir: through fd when the
// launcher opened it, by name otherwise.
func hostDir(dir string, fd int, readOnly bool) (*hostfs.FS, error) {
	if fd != 0 {
		return hostfs.FromFD(fd, dir, readOnly), nil
	}
	return hostfs.New(dir, readOnly)
}

// mkMountpoint makes sure dest exists in the mount tree: a directory (or
// a file, for a file bind), made where its parent lives — through the
// writable view of a read-only host root, in a tmpfs, or in /dev.
func (b *fsBuilder) mkMountpoint(dest string, dir bool) error {
	ctx := fs.Background
	if _, err := b.v.Resolve(ctx, b.fsc, b.v.RootLocation(), dest, true); err != unix.ENOENT {
		return err
	}
	parent := path.Dir(dest)
	if parent != dest {
		if err := b.mkMountpoint(parent, true); err != nil {
			return err
		}
	}
	ploc, err := b.v.Resolve(ctx, b.fsc, b.v.RootLocation(), parent, true)
	if err != nil {
		return err
	}
	name := path.Base(dest)
	v, start := b.v, ploc
	if b.hostRoot != nil && ploc.Mount == b.v.RootLocation().Mount {
		// Made on the host, in the bundle's rootfs, as runc does.
		v = b.hostRoot
		hfsc, err := v.NewFSContext("/")
		if err != nil {
			return err
		}
		if start, err = v.Resolve(ctx, hfsc, v.RootLocation(), ploc.Path, true); err != nil {
			return err
		}
		return makeEntry(v, hfsc, start, name, dir)
	}
	if sd, ok := ploc.Node.(*synth.Dir); ok && dir {
		// /dev and other synthetic directories take new directories
		// from the sentry only.
		st, _ := sd.Stat(ctx)
		sd.Add(name, synth.NewDir(synth.Attr{Mode: 0755, DevMajor: st.DevMajor, DevMinor: st.DevMinor, Ino: synth.NewIno(), Time: fs.Now()}))
		return nil
	}
	return makeEntry(v, b.fsc, start, name, dir)
}

// makeEntry makes directory or empty file name in dir.
func makeEntry(v *vfs.VirtualFilesystem, fsc *vfs.FSContext, dir vfs.Location, name string, isDir bool) error {
	if isDir {
		err := v.MkdirAt(fs.Background, fsc, dir, name, 0755)
		if err == unix.EEXIST {
			return nil
		}
		return err
	}
	f, err := v.OpenAt(fs.Background, fsc, dir, name, unix.O_CREAT|unix.O_WRONLY, 0644)
	if err != nil {
		return err
	}
	f.DecRef()
	return nil
}

// mask hides p: /dev/null over a file, an empty read-only tmpfs over a
// directory. Paths that do not exist are skipped, as runc skips them.
func (b *fsBuilder) mask(p string) error {
	loc, err := b.v.Resolve(fs.Background, b.fsc, b.v.RootLocation(), p, true)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	if loc.Node.Type() == unix.S_IFDIR {
		err = b.v.Mount(fs.Background, loc.Path, tmpfs.New(0755, 0, 0), vfs.MountOptions{ReadOnly: true, Source: "tmpfs", FSType: "tmpfs"})
	} else {
		if b.dev == nil {
			b.dev = devfs.New(devfs.Options{TTYHostFD: -1})
		}
		null, lerr := b.dev.RootDir.Lookup(fs.Background, "null")
		if lerr != nil {
			return fmt.Errorf("masked path %s: %w", p, lerr)
		}
		err = b.v.Mount(fs.Background, loc.Path, b.dev, vfs.MountOptions{Source: "devtmpfs", FSType: "devtmpfs", RootPath: "/null", Root: null, Flags: "nosuid", Data: "mode=755"})
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	return nil
}

// bindConsole makes /dev/console a bind mount of the console's
// /dev/pts/N, as runtime-spec asks of a container with process.terminal
// (runc does the same), when /dev is the container's devfs and its devpts
// is mounted.
func (b *fsBuilder) bindConsole(c *Console) error {
	if b.dev == nil {
		return nil
	}
	dev, err := b.v.Resolve(fs.Background, b.fsc, b.v.RootLocation(), "/dev", true)
	if err != nil || dev.Node != fs.Node(b.dev.RootDir) {
		return nil
	}
	loc, err := b.v.LocationIn(b.pts, strconv.FormatUint(uint64(c.term.Index()), 10), b.pts.ReplicaNode(c.term))
	if err != nil {
		return nil
	}
	if _, err := b.dev.RootDir.Lookup(fs.Background, "console"); err != nil {
		// The mount point: Linux's console device (5:1), hidden by
		// the bind.
		b.dev.RootDir.Add("console", devfs.UnservedDevice(unix.S_IFCHR, 5, 1, 0600, 0, 0))
	}
	if err := b.v.Bind(fs.Background, loc, "/dev/console", false); err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	return nil
}

// makeDevices adds the spec's devices to /dev. A device the sandbox has
// (null, zero, full, random, urandom, tty, by number) appears at its path;
// any other is reported: the sandbox cannot open host devices.
func (b *fsBuilder) makeDevices() error {
	if len(b.spec.Devices) == 0 {
		return nil
	}
	if b.dev == nil {
		return errors.New("devices: the config has no /dev mount")
	}
	root := b.dev.RootDir
	for _, d := range b.spec.Devices {
		rel, ok := strings.CutPrefix(path.Clean(d.Path), "/dev/")
		if !ok || strings.Contains(rel, "/") {
			return fmt.Errorf("device %s: only devices directly in /dev are supported", d.Path)
		}
		mode := uint32(0666)
		if d.Mode != nil {
			mode = *d.Mode & 07777
		}
		known := devfs.DeviceByNumber(root, uint32(d.Major), uint32(d.Minor))
		if known != nil && (d.Type == "c" || d.Type == "u") {
			root.Add(rel, known.WithOwner(mode, d.UID, d.GID))
			continue
		}
		// A device the sandbox has no driver for: the node is there
		// (its type, number, mode, owner), opening it fails.
		kind := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO}[d.Type]
		b.env.logf("device %s (%s %d:%d): the sandbox has no such device; opening it fails with ENXIO", d.Path, d.Type, d.Major, d.Minor)
		root.Add(rel, devfs.UnservedDevice(kind, uint32(d.Major), uint32(d.Minor), mode, d.UID, d.GID))
	}
	return nil
}
