package hostfs

// Host files stay the host's: what a writable host filesystem (a volume)
// records on the host for the files the sandbox creates or changes.
//
//   - Set-user-ID and set-group-ID bits never reach the host. chmod,
//     creat, mkdir and mknod give the host file its mode without them, and
//     a host file that has them loses them on the host when the sandbox
//     opens it for writing: root inside the sandbox cannot leave a
//     set-user-ID-root program for the host to run.
//   - Host owners follow the OwnerMap rule. The default (nil map) is the
//     sentry's identity: everything the sandbox creates belongs on the
//     host to the user runsc-lite runs as (the host kernel's own choice for
//     the sentry's files), and chown is not passed to the host. An
//     explicit map (OCI uidMappings/gidMappings, SetOwnerMap) chowns host
//     files to the mapped IDs and shows host owners mapped back.
//
// Inside the sandbox, files keep Linux's semantics: the set-ID bits and
// owners the sandbox gave them are remembered by the sentry (an attribute
// shadow keyed by host inode and birth time, so a recycled inode number is
// not mistaken for the old file) and added to what stat reports, execve
// honours the bits, and writes without CAP_FSETID clear them as Linux
// does. The shadow lives as long as the sandbox: a later sandbox sees the
// host's attributes.
//
// Locking: attrShadow.mu protects the map (a leaf).

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// setIDBits are the mode bits that never reach the host.
const setIDBits = unix.S_ISUID | unix.S_ISGID

// OwnerMap translates between the sandbox's user and group IDs and the
// host's for the files of a writable host filesystem: the hook for OCI
// user namespaces' uidMappings and gidMappings.
type OwnerMap interface {
	// ToHost returns the host owner of a file the sandbox gives to
	// uid:gid, or ok false when the ID has no host counterpart (then
	// the host owner is left alone and the sandbox's owner is kept in
	// the sentry's shadow).
	ToHost(uid, gid uint32) (hostUID, hostGID uint32, ok bool)
	// FromHost returns how the sandbox sees a host owner.
	FromHost(hostUID, hostGID uint32) (uid, gid uint32)
}

// SetOwnerMap installs m as the filesystem's owner rule (nil: the sentry's
// identity, the default). Call it before the filesystem is used.
func (f *FS) SetOwnerMap(m OwnerMap) { f.owners = m }

// shadowKey names a host inode for the shadow: device, inode number and
// birth time (zero where the host filesystem does not report one).
type shadowKey struct {
	dev, ino uint64
}

// shadowAttr is what the sandbox set that the host does not hold.
type shadowAttr struct {
	btime    linux.StatxTimestamp
	setID    uint32 // S_ISUID/S_ISGID bits of the sandbox's view
	owned    bool   // uid and gid below are the sandbox's view
	uid, gid uint32
}

// attrShadow is a filesystem's shadow attributes.
type attrShadow struct {
	n  atomic.Int32 // len(m), for a lock-free empty check
	mu sync.Mutex
	m  map[shadowKey]shadowAttr
}

func keyOf(st *linux.Statx) shadowKey {
	return shadowKey{dev: unix.Mkdev(st.DevMajor, st.DevMinor), ino: st.Ino}
}

// view adds the shadow's attributes (and the owner map's view of the host
// owner) to st, a host statx result of a file of f.
func (f *FS) view(st *linux.Statx) {
	if f.owners != nil {
		st.UID, st.GID = f.owners.FromHost(st.UID, st.GID)
	}
	s := &f.shadow
	if s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	a, ok := s.m[keyOf(st)]
	s.mu.Unlock()
	if !ok || a.btime != st.Btime {
		return
	}
	st.Mode |= uint16(a.setID)
	if a.owned {
		st.UID, st.GID = a.uid, a.gid
	}
}

// update changes the shadow entry of the file st describes with fn
// (dropping it when nothing is left to remember).
func (f *FS) update(st *linux.Statx, fn func(a *shadowAttr)) {
	s := &f.shadow
	k := keyOf(st)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[k]
	if !ok || a.btime != st.Btime {
		a = shadowAttr{btime: st.Btime}
	}
	fn(&a)
	if a.setID == 0 && !a.owned {
		delete(s.m, k)
	} else {
		if s.m == nil {
			s.m = make(map[shadowKey]shadowAttr)
		}
		s.m[k] = a
	}
	s.n.Store(int32(len(s.m)))
}

// forget drops the shadow of a host file that is gone (its last link was
// removed through the sandbox).
func (f *FS) forget(st *linux.Statx) {
	if f.shadow.n.Load() == 0 {
		return
	}
	f.update(st, func(a *shadowAttr) { *a = shadowAttr{} })
}

// setHostMode gives the host file fd (an O_PATH or open descriptor) the
// permission bits of mode without set-ID bits, and remembers those in the
// shadow. st is the file's current host attributes. reopen opens the file
// again with the given flags, for kernels without fchmodat2 (before 6.6),
// where an O_PATH descriptor cannot be chmodded (and the confined sentry
// has no /proc/self/fd to go through).
func (f *FS) setHostMode(fd int, typ uint32, st *linux.Statx, mode uint32, reopen func(flags int) (int, error)) error {
	if typ == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	err := retry(func() error { return unix.Fchmodat(fd, "", mode&^setIDBits&07777, unix.AT_EMPTY_PATH) })
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS || err == unix.EINVAL {
		var rfd int
		if rfd, err = reopen(unix.O_RDONLY); err == nil {
			err = retry(func() error { return unix.Fchmod(rfd, mode&^setIDBits&07777) })
			unix.Close(rfd)
		}
	}
	if err != nil {
		return err
	}
	if mode&setIDBits != 0 || f.shadow.n.Load() != 0 {
		f.update(st, func(a *shadowAttr) { a.setID = mode & setIDBits })
	}
	return nil
}

// setHostOwner applies a chown by the sandbox to the host file fd: a
// host chown to the mapped IDs under an owner map, the shadow otherwise.
// uid or gid -1 leaves that one as it is.
func (f *FS) setHostOwner(fd int, st *linux.Statx, uid, gid int) error {
	view := *st
	f.view(&view)
	nu, ng := view.UID, view.GID
	if uid >= 0 {
		nu = uint32(uid)
	}
	if gid >= 0 {
		ng = uint32(gid)
	}
	if f.owners != nil {
		if hu, hg, ok := f.owners.ToHost(nu, ng); ok {
			if err := retry(func() error { return unix.Fchownat(fd, "", int(hu), int(hg), unix.AT_EMPTY_PATH) }); err != nil {
				return err
			}
			f.update(st, func(a *shadowAttr) { a.owned = false })
			return nil
		}
	}
	hostUID, hostGID := st.UID, st.GID
	if f.owners != nil {
		hostUID, hostGID = f.owners.FromHost(st.UID, st.GID)
	}
	f.update(st, func(a *shadowAttr) {
		a.owned = nu != hostUID || ng != hostGID
		a.uid, a.gid = nu, ng
	})
	return nil
}

// created records, for a file the sandbox just created as the caller of
// ctx with mode, what the host did not take: set-ID bits and (without a
// mapping, or for IDs it does not map) the owner — the caller's
// filesystem IDs, or the parent directory's group when it is set-group-ID
// in the sandbox's view (which then also passes to new directories, as
// Linux's inode_init_owner). parent is the directory node. fd names the
// new file (O_PATH or open); it is where a mapped owner is applied.
func (f *FS) created(ctx *fs.Context, parent *Node, fd int, mode uint32) {
	st, err := statFD(fd)
	if err != nil {
		return
	}
	uid, gid := uint32(0), uint32(0)
	if c := ctx.Creds; c != nil {
		uid, gid = c.FSUID, c.FSGID
	}
	setID := mode & setIDBits
	if f.shadow.n.Load() != 0 {
		// A directory set-group-ID in the sandbox's view only (the
		// host's own set-group-ID directories are the host kernel's
		// business).
		if pst, err := parent.Stat(ctx); err == nil && pst.Mode&unix.S_ISGID != 0 {
			gid = pst.GID
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				setID |= unix.S_ISGID
			}
		}
	}
	if f.owners != nil {
		if hu, hg, ok := f.owners.ToHost(uid, gid); ok {
			retry(func() error { return unix.Fchownat(fd, "", int(hu), int(hg), unix.AT_EMPTY_PATH) })
			st.UID, st.GID = hu, hg
		}
	}
	hostUID, hostGID := st.UID, st.GID
	if f.owners != nil {
		hostUID, hostGID = f.owners.FromHost(st.UID, st.GID)
	}
	if setID == 0 && uid == hostUID && gid == hostGID && f.shadow.n.Load() == 0 {
		return
	}
	f.update(&st, func(a *shadowAttr) {
		a.setID = setID
		a.owned = uid != hostUID || gid != hostGID
		a.uid, a.gid = uid, gid
	})
}

// stripHostSetID removes set-ID bits from the host file open on fd
// (about to be written by the sandbox), keeping them in the sandbox's
// view; st is its host attributes.
func (f *FS) stripHostSetID(fd int, st *linux.Statx) {
	bits := uint32(st.Mode) & setIDBits
	if bits == 0 {
		return
	}
	if retry(func() error { return unix.Fchmod(fd, uint32(st.Mode)&^setIDBits&07777) }) != nil {
		return
	}
	f.update(st, func(a *shadowAttr) { a.setID |= bits })
}

// killSetID is Linux's file_remove_privs for a write or truncate by the
// caller of ctx: without CAP_FSETID, set-user-ID goes, and set-group-ID
// with group execute. It looks at the shadow only (the host file has no
// set-ID bits the sandbox could lose: stripHostSetID).
func (f *FS) killSetID(ctx *fs.Context, dev, ino uint64, fd int) {
	if f.shadow.n.Load() == 0 {
		return
	}
	if c := ctx.Creds; c == nil || c.HasCapability(linux.CAP_FSETID) {
		return
	}
	f.shadow.mu.Lock()
	a, ok := f.shadow.m[shadowKey{dev: dev, ino: ino}]
	f.shadow.mu.Unlock()
	if !ok || a.setID == 0 {
		return
	}
	st, err := statFD(fd)
	if err != nil {
		return
	}
	f.update(&st, func(a *shadowAttr) {
		a.setID &^= unix.S_ISUID
		if st.Mode&unix.S_IXGRP != 0 {
			a.setID &^= unix.S_ISGID
		}
	})
}

// IDRange maps Size consecutive IDs from Inside (the sandbox's) to Host.
type IDRange struct {
	Inside, Host, Size uint32
}

// IDMap is an OwnerMap made of ID ranges, as OCI's uidMappings and
// gidMappings (and /proc/PID/uid_map) write them. It travels in the boot
// configuration (JSON). Host IDs outside every range show as the overflow
// IDs (65534, nobody), as in a Linux user namespace; sandbox IDs outside
// every range have no host owner (ToHost says !ok).
type IDMap struct {
	UIDs, GIDs []IDRange
}

// overflowID is Linux's default overflowuid/overflowgid.
const overflowID = 65534

func mapID(rs []IDRange, id uint32, toHost bool) (uint32, bool) {
	for _, r := range rs {
		from, to := r.Host, r.Inside
		if toHost {
			from, to = r.Inside, r.Host
		}
		if id >= from && id-from < r.Size {
			return to + (id - from), true
		}
	}
	return 0, false
}

// ToHost implements OwnerMap.
func (m *IDMap) ToHost(uid, gid uint32) (uint32, uint32, bool) {
	hu, ok1 := mapID(m.UIDs, uid, true)
	hg, ok2 := mapID(m.GIDs, gid, true)
	return hu, hg, ok1 && ok2
}

// FromHost implements OwnerMap.
func (m *IDMap) FromHost(hostUID, hostGID uint32) (uint32, uint32) {
	uid, ok := mapID(m.UIDs, hostUID, false)
	if !ok {
		uid = overflowID
	}
	gid, ok := mapID(m.GIDs, hostGID, false)
	if !ok {
		gid = overflowID
	}
	return uid, gid
}
