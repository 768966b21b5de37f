package vfs

import (
	"path"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// maxSymlinks is Linux's limit of symlinks followed in one resolution.
const maxSymlinks = 40

// walker resolves paths for one operation.
type walker struct {
	v     *VirtualFilesystem
	ctx   *fs.Context
	root  Location // the process's root (chroot)
	links int
	// search says every directory a component is looked up in must be
	// searchable by the caller (Linux's may_lookup); false for callers
	// whose capabilities search any directory, and for the sentry's own
	// re-walks of a path it already resolved ("..").
	search bool
	// fresh is the node the walk's last lookup returned: its
	// fs.LookupAttrs are as current as that lookup, so checking it needs
	// no Stat.
	fresh fs.Node
}

func (v *VirtualFilesystem) newWalker(ctx *fs.Context, root Location) *walker {
	return &walker{v: v, ctx: ctx, root: root, search: !fs.MayBypassSearch(creds(ctx))}
}

// mayLookup returns EACCES unless the caller may search directory dir
// (execute permission), which every path component needs of the
// directory it is looked up in — ".", ".." and the last one included.
func (w *walker) mayLookup(dir Location) error {
	if !w.search {
		return nil
	}
	if dir.Node == w.fresh {
		if la, ok := dir.Node.(fs.LookupAttrs); ok {
			if mode, uid, gid, ok := la.LookupAttrs(); ok {
				if !fs.HasPerm(creds(w.ctx), mode, uid, gid, 1) {
					return unix.EACCES
				}
				return nil
			}
		}
	}
	return checkAccess(w.ctx, dir.Node, 1)
}

// splitPath returns p's components, without empty ones.
func splitPath(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, c := range parts {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// checkPathLen returns ENAMETOOLONG for paths of PATH_MAX bytes or more.
func checkPathLen(p string) error {
	if len(p) >= unix.PathMax {
		return unix.ENAMETOOLONG
	}
	return nil
}

// cross returns the root of what is mounted on loc, or loc.
// (mounted in the tree of the mount loc was reached in).
func (w *walker) cross(loc Location) Location {
	w.v.mu.RLock()
	defer w.v.mu.RUnlock()
	if loc.Mount == nil {
		return loc
	}
	for {
		m := loc.Mount.children[loc.Path]
		if m == nil {
			return loc
		}
		loc = Location{Mount: m, Node: m.Root, Path: loc.Path}
	}
}

// parent returns the parent directory of cur ("..").
func (w *walker) parent(cur Location) (Location, error) {
	if cur.Path == w.root.Path || cur.Path == "/" {
		return cur, nil
	}
	pp := path.Dir(cur.Path)
	root := w.nsRoot(cur)
	pw := w.v.newWalker(w.ctx, root)
	// The path was resolved once already: re-walking it is the sentry's
	// own business, not a lookup by the caller (Linux follows d_parent).
	pw.search = false
	return pw.walk(root, pp, true)
}

// nsRoot returns the root of the namespace loc is in (the first one for
// a location in no namespace: an unmounted tree).
func (w *walker) nsRoot(loc Location) Location {
	if loc.Mount != nil {
		w.v.mu.RLock()
		ns := loc.Mount.ns
		w.v.mu.RUnlock()
		if ns != nil {
			return ns.RootLocation()
		}
	}
	if w.root.Mount != nil {
		w.v.mu.RLock()
		ns := w.root.Mount.ns
		w.v.mu.RUnlock()
		if ns != nil {
			return ns.RootLocation()
		}
	}
	return w.v.RootLocation()
}

// step looks name up in directory cur (no symlink handling).
func (w *walker) step(cur Location, name string) (Location, error) {
	if cur.Node.Type() != unix.S_IFDIR {
		return Location{}, unix.ENOTDIR
	}
	if err := fs.ValidName(name); err != nil {
		return Location{}, err
	}
	d, ok := cur.Node.(fs.Directory)
	if !ok {
		return Location{}, unix.ENOTDIR
	}
	child, err := d.Lookup(w.ctx, name)
	if err != nil {
		return Location{}, err
	}
	w.fresh = child
	return w.cross(Location{Mount: cur.Mount, Node: child, Path: joinPath(cur.Path, name)}), nil
}

// follow resolves the symlink at link, found in directory dir, and
// returns where resolution continues plus the components to prepend.
func (w *walker) follow(dir, link Location) (Location, []string, bool, error) {
	w.links++
	if w.links > maxSymlinks {
		return Location{}, nil, false, unix.ELOOP
	}
	if ml, ok := link.Node.(MagicLink); ok {
		tgt, err := ml.MagicTarget(w.ctx)
		if err != nil {
			return Location{}, nil, false, err
		}
		return tgt, nil, false, nil
	}
	sl, ok := link.Node.(fs.Symlink)
	if !ok {
		return Location{}, nil, false, unix.EINVAL
	}
	target, err := sl.Readlink(w.ctx)
	if err != nil {
		return Location{}, nil, false, err
	}
	if target == "" {
		return Location{}, nil, false, unix.ENOENT
	}
	start := dir
	if target[0] == '/' {
		start = w.root
	}
	return start, splitPath(target), strings.HasSuffix(target, "/"), nil
}

// walk resolves p from start (from the root if p is absolute). A final
// symlink is followed if followLast or if p ends with "/".
func (w *walker) walk(start Location, p string, followLast bool) (Location, error) {
	if p == "" {
		return Location{}, unix.ENOENT
	}
	if err := checkPathLen(p); err != nil {
		return Location{}, err
	}
	cur := start
	if p[0] == '/' {
		cur = w.root
	}
	comps := splitPath(p)
	mustDir := strings.HasSuffix(p, "/")
	for len(comps) > 0 {
		name := comps[0]
		comps = comps[1:]
		last := len(comps) == 0
		if cur.Node.Type() != unix.S_IFDIR {
			return Location{}, unix.ENOTDIR
		}
		if err := w.mayLookup(cur); err != nil {
			return Location{}, err
		}
		switch name {
		case ".":
			continue
		case "..":
			var err error
			if cur, err = w.parent(cur); err != nil {
				return Location{}, err
			}
			continue
		}
		next, err := w.step(cur, name)
		if err != nil {
			return Location{}, err
		}
		if next.Node.Type() == unix.S_IFLNK && (!last || followLast || mustDir) {
			ncur, more, slash, err := w.follow(cur, next)
			if err != nil {
				return Location{}, err
			}
			if last && slash {
				mustDir = true
			}
			cur = ncur
			comps = append(more, comps...)
			continue
		}
		cur = next
	}
	if mustDir && cur.Node.Type() != unix.S_IFDIR {
		return Location{}, unix.ENOTDIR
	}
	return cur, nil
}

// walkParent resolves all of p but its last component and returns the
// directory, the last component and whether p ended with "/". If p ends in
// "." or ".." (or is "/"), name is that component ("" for "/") and dir is
// the directory p names.
func (w *walker) walkParent(start Location, p string) (dir Location, name string, slash bool, err error) {
	if p == "" {
		return Location{}, "", false, unix.ENOENT
	}
	if err := checkPathLen(p); err != nil {
		return Location{}, "", false, err
	}
	slash = strings.HasSuffix(p, "/")
	trimmed := strings.TrimRight(p, "/")
	if trimmed == "" {
		loc, err := w.walk(start, "/", true)
		return loc, "", slash, err
	}
	i := strings.LastIndex(trimmed, "/")
	dirPart, name := trimmed[:i+1], trimmed[i+1:]
	if name == "." || name == ".." {
		loc, err := w.walk(start, trimmed, true)
		return loc, name, slash, err
	}
	if err := fs.ValidName(name); err != nil {
		return Location{}, "", false, err
	}
	dir = start
	if dirPart != "" {
		dir, err = w.walk(start, dirPart, true)
		if err != nil {
			return Location{}, "", false, err
		}
	}
	if dir.Node.Type() != unix.S_IFDIR {
		return Location{}, "", false, unix.ENOTDIR
	}
	if err := w.mayLookup(dir); err != nil {
		return Location{}, "", false, err
	}
	return dir, name, slash, nil
}
