package vfs

import (
	"strings"
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
)

// FSContext is a process's root and working directory, and its umask.
// Threads share it (and processes cloned with CLONE_FS).
//
// Locking: mu protects ns, root, cwd and umask.
type FSContext struct {
	vfs *VirtualFilesystem

	mu sync.Mutex
	// ns is the mount namespace paths are resolved in (Linux keeps it
	// in the task's nsproxy; CLONE_NEWNS implies CLONE_FS, so a
	// context is never shared across namespaces).
	ns    *MountNamespace
	root  Location
	cwd   Location
	umask uint32
}

// NewFSContext returns a context rooted at the VFS root with working
// directory cwd (a sandbox path; "/" if it does not resolve to a
// directory) and umask 022.
func (v *VirtualFilesystem) NewFSContext(cwd string) (*FSContext, error) {
	root := v.RootLocation()
	c := &FSContext{vfs: v, ns: v.init, root: root, cwd: root, umask: 022}
	if cwd != "" && cwd != "/" {
		w := v.newWalker(fs.Background, root)
		if loc, err := w.walk(root, cwd, true); err == nil && loc.Node.Type() == unix.S_IFDIR {
			c.cwd = loc
		}
	}
	return c, nil
}

// Fork returns a copy (fork without CLONE_FS).
func (c *FSContext) Fork() *FSContext {
	c.mu.Lock()
	n := &FSContext{vfs: c.vfs, ns: c.ns, root: c.root, cwd: c.cwd, umask: c.umask}
	c.mu.Unlock()
	return n
}

// Namespace returns the mount namespace the context resolves paths in.
func (c *FSContext) Namespace() *MountNamespace {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ns
}

// VFS returns the filesystem the context lives in.
func (c *FSContext) VFS() *VirtualFilesystem { return c.vfs }

// Root returns the process's root directory.
func (c *FSContext) Root() Location {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.root
}

// Cwd returns the working directory.
func (c *FSContext) Cwd() Location {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cwd
}

// SetCwd changes the working directory. Preconditions: loc is a directory
// the caller may search.
func (c *FSContext) SetCwd(loc Location) {
	c.mu.Lock()
	c.cwd = loc
	c.mu.Unlock()
}

// SetRoot changes the root directory (chroot).
func (c *FSContext) SetRoot(loc Location) {
	c.mu.Lock()
	c.root = loc
	c.mu.Unlock()
}

// Umask returns the umask.
func (c *FSContext) Umask() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.umask
}

// SwapUmask sets the umask and returns the old one.
func (c *FSContext) SwapUmask(m uint32) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.umask
	c.umask = m & 0777
	return old
}

// Getcwd returns the working directory's path as seen from the process's
// root ("(unreachable)/..." when the cwd is outside it).
func (c *FSContext) Getcwd() string {
	c.mu.Lock()
	root, cwd := c.root.Path, c.cwd.Path
	c.mu.Unlock()
	if p, ok := relativeTo(root, cwd); ok {
		return p
	}
	return "(unreachable)" + cwd
}

// PathOf returns loc's path as seen from the process's root.
func (c *FSContext) PathOf(loc Location) string {
	if loc.Mount == anonMount || !strings.HasPrefix(loc.Path, "/") {
		return loc.Path
	}
	root := c.Root().Path
	if p, ok := relativeTo(root, loc.Path); ok {
		return p
	}
	return loc.Path
}
