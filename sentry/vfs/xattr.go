package vfs

import (
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Extended attributes (getxattr, setxattr, listxattr, removexattr):
// Linux's fs/xattr.c checks, then the node's fs.Xattrer.
//
// A name must be in one of Linux's namespaces (user., trusted.,
// security., system.: EOPNOTSUPP otherwise). xattr_permission: user.*
// only on regular files and directories (EPERM to write, ENODATA to
// read elsewhere), and on a sticky directory only its owner (or
// CAP_FOWNER) writes them; trusted.* needs CAP_SYS_ADMIN (EPERM to write,
// ENODATA to read, hidden from lists); then the file's read or write
// permission. A name that is only a prefix ("user.") is EINVAL after
// that. Without an LSM, commoncap's rule applies to security.*:
// writing or removing needs CAP_SYS_ADMIN (security.capability
// CAP_SETFCAP). A change is an IN_ATTRIB for inotify.

// XattrNameMax and XattrSizeMax are XATTR_NAME_MAX and XATTR_SIZE_MAX.
const (
	XattrNameMax = 255
	XattrSizeMax = 65536
)

var xattrNamespaces = []string{"user.", "trusted.", "security.", "system."}

func xattrNamespaceKnown(name string) bool {
	for _, p := range xattrNamespaces {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// xattrBare reports a name that is only a namespace's prefix: EINVAL
// once the permission check passed (xattr_resolve_name).
func xattrBare(name string) bool {
	for _, p := range xattrNamespaces {
		if name == p {
			return true
		}
	}
	return false
}

// xattrPermission is xattr_permission plus commoncap's security.* rule;
// write asks for MAY_WRITE.
func xattrPermission(ctx *fs.Context, loc Location, name string, write bool) error {
	if !xattrNamespaceKnown(name) {
		return unix.EOPNOTSUPP
	}
	c := creds(ctx)
	has := func(cp linux.Capability) bool { return c == nil || c.HasCapability(cp) }
	switch {
	case strings.HasPrefix(name, "security."):
		if !write {
			return nil
		}
		cp := linux.CAP_SYS_ADMIN
		if name == "security.capability" {
			cp = linux.CAP_SETFCAP
		}
		if !has(cp) {
			return unix.EPERM
		}
		return nil
	case strings.HasPrefix(name, "system."):
		return nil
	case strings.HasPrefix(name, "trusted."):
		if !has(linux.CAP_SYS_ADMIN) {
			if write {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		return nil
	}
	// user.*
	typ := loc.Node.Type()
	if typ != unix.S_IFREG && typ != unix.S_IFDIR {
		if write {
			return unix.EPERM
		}
		return unix.ENODATA
	}
	want := uint32(4)
	if write {
		want = 2
		if typ == unix.S_IFDIR && !has(linux.CAP_FOWNER) {
			st, err := loc.Node.Stat(ctx)
			if err != nil {
				return err
			}
			if st.Mode&unix.S_ISVTX != 0 && st.UID != c.FSUID {
				return unix.EPERM
			}
		}
	}
	return checkAccess(ctx, loc.Node, want)
}

// GetXattr returns the value of loc's attribute name.
func GetXattr(ctx *fs.Context, loc Location, name string) ([]byte, error) {
	if err := xattrPermission(ctx, loc, name, false); err != nil {
		return nil, err
	}
	if xattrBare(name) {
		return nil, unix.EINVAL
	}
	x, ok := loc.Node.(fs.Xattrer)
	if !ok {
		return nil, unix.EOPNOTSUPP
	}
	return x.GetXattr(ctx, name)
}

// SetXattr sets loc's attribute name to value (flags XATTR_CREATE,
// XATTR_REPLACE).
func SetXattr(ctx *fs.Context, loc Location, name string, value []byte, flags uint32) error {
	return changeXattr(ctx, loc, name, func(x fs.Xattrer) error { return x.SetXattr(ctx, name, value, flags) })
}

// RemoveXattr removes loc's attribute name.
func RemoveXattr(ctx *fs.Context, loc Location, name string) error {
	return changeXattr(ctx, loc, name, func(x fs.Xattrer) error { return x.RemoveXattr(ctx, name) })
}

// changeXattr makes a write's checks (EROFS, permission, a bare name) and
// then the change, which inotify hears as IN_ATTRIB.
func changeXattr(ctx *fs.Context, loc Location, name string, change func(fs.Xattrer) error) error {
	if loc.Mount != nil && loc.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := xattrPermission(ctx, loc, name, true); err != nil {
		return err
	}
	if xattrBare(name) {
		return unix.EINVAL
	}
	x, ok := loc.Node.(fs.Xattrer)
	if !ok {
		return unix.EOPNOTSUPP
	}
	if err := change(x); err != nil {
		return err
	}
	notifyLocation(ctx, loc, unix.IN_ATTRIB)
	return nil
}

// ListXattr returns the names of loc's attributes the caller may see
// (trusted.* only with CAP_SYS_ADMIN).
func ListXattr(ctx *fs.Context, loc Location) ([]string, error) {
	x, ok := loc.Node.(fs.Xattrer)
	if !ok {
		return nil, nil
	}
	names, err := x.ListXattr(ctx)
	if err != nil {
		return nil, err
	}
	c := creds(ctx)
	if c == nil || c.HasCapability(linux.CAP_SYS_ADMIN) {
		return names, nil
	}
	out := names[:0:0]
	for _, n := range names {
		if !strings.HasPrefix(n, "trusted.") {
			out = append(out, n)
		}
	}
	return out, nil
}
