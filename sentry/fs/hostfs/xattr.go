package hostfs

import (
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes of host files: the host's own, read and written
// through a descriptor of the file (fgetxattr and friends: the confined
// sentry names no host path). Regular files and directories only; a
// symlink, FIFO or socket has none here (get ENODATA, set EOPNOTSUPP).

// xattrFD opens n's file for an xattr call.
func (n *Node) xattrFD() (int, error) {
	switch n.typ {
	case unix.S_IFREG, unix.S_IFDIR:
	default:
		return -1, unix.EOPNOTSUPP
	}
	var fd int
	err := retry(func() error {
		var e error
		fd, e = n.fs.openRel(n.rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		return e
	})
	return fd, err
}

// GetXattr implements fs.Xattrer.
func (n *Node) GetXattr(ctx *fs.Context, name string) ([]byte, error) {
	fd, err := n.xattrFD()
	if err == unix.EOPNOTSUPP {
		return nil, unix.ENODATA
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	for {
		sz, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sz)
		got, err := unix.Fgetxattr(fd, name, buf)
		if err == unix.ERANGE {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		return buf[:got], nil
	}
}

// SetXattr implements fs.Xattrer.
func (n *Node) SetXattr(ctx *fs.Context, name string, value []byte, flags uint32) error {
	if n.fs.readOnly {
		return unix.EROFS
	}
	fd, err := n.xattrFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsetxattr(fd, name, value, int(flags))
}

// ListXattr implements fs.Xattrer.
func (n *Node) ListXattr(ctx *fs.Context) ([]string, error) {
	fd, err := n.xattrFD()
	if err == unix.EOPNOTSUPP {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	for {
		sz, err := unix.Flistxattr(fd, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sz)
		got, err := unix.Flistxattr(fd, buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range strings.Split(string(buf[:got]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

// RemoveXattr implements fs.Xattrer.
func (n *Node) RemoveXattr(ctx *fs.Context, name string) error {
	if n.fs.readOnly {
		return unix.EROFS
	}
	fd, err := n.xattrFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fremovexattr(fd, name)
}
