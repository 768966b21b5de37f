package tmpfs

import (
	"sort"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes of tmpfs files (Linux's simple_xattrs): user.*,
// trusted.* and security.* names, kept in the inode under Inode.mu.
// system.* (POSIX ACLs) is EOPNOTSUPP: the sandbox has no ACLs.

func xattrKept(name string) bool {
	return strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "trusted.") || strings.HasPrefix(name, "security.")
}

// GetXattr implements fs.Xattrer.
func (i *Inode) GetXattr(ctx *fs.Context, name string) ([]byte, error) {
	if !xattrKept(name) {
		return nil, unix.EOPNOTSUPP
	}
	i.mu.RLock()
	defer i.mu.RUnlock()
	v, ok := i.xattrs[name]
	if !ok {
		return nil, unix.ENODATA
	}
	return v, nil
}

// SetXattr implements fs.Xattrer.
func (i *Inode) SetXattr(ctx *fs.Context, name string, value []byte, flags uint32) error {
	if !xattrKept(name) {
		return unix.EOPNOTSUPP
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	_, ok := i.xattrs[name]
	switch {
	case ok && flags&unix.XATTR_CREATE != 0:
		return unix.EEXIST
	case !ok && flags&unix.XATTR_REPLACE != 0:
		return unix.ENODATA
	}
	if i.xattrs == nil {
		i.xattrs = map[string][]byte{}
	}
	i.xattrs[name] = append([]byte(nil), value...)
	i.ctime = fs.Now()
	return nil
}

// ListXattr implements fs.Xattrer: the names in the order they were
// first set is Linux's; sorted here (lists are sets to their readers).
func (i *Inode) ListXattr(ctx *fs.Context) ([]string, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	names := make([]string, 0, len(i.xattrs))
	for n := range i.xattrs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// RemoveXattr implements fs.Xattrer.
func (i *Inode) RemoveXattr(ctx *fs.Context, name string) error {
	if !xattrKept(name) {
		return unix.EOPNOTSUPP
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.xattrs[name]; !ok {
		return unix.ENODATA
	}
	delete(i.xattrs, name)
	i.ctime = fs.Now()
	return nil
}
