package vfs

import (
	"strings"
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/tmpfs"
)

// nsTestVFS returns a VFS on a tmpfs root with directories dirs and a
// context in its first namespace.
func nsTestVFS(t *testing.T, dirs ...string) (*VirtualFilesystem, *FSContext) {
	t.Helper()
	v := NewWithRoot(tmpfs.New(0755, 0, 0), "rootfs")
	c, err := v.NewFSContext("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := v.MkdirAt(fs.Background, c, c.Root(), d, 0755); err != nil {
			t.Fatalf("mkdir %s: %v", d, err)
		}
	}
	return v, c
}

func resolve(t *testing.T, v *VirtualFilesystem, c *FSContext, p string) Location {
	t.Helper()
	loc, err := v.Resolve(fs.Background, c, c.Root(), p, true)
	if err != nil {
		t.Fatalf("resolve %s: %v", p, err)
	}
	return loc
}

// mountsOf returns the points of c's namespace, in mount order.
func mountsOf(c *FSContext) string {
	var ps []string
	for _, m := range c.Namespace().Mounts() {
		ps = append(ps, m.Point)
	}
	return strings.Join(ps, " ")
}

// TestMountNamespaceCopy: a copy sees the tree as it was; later mounts in
// either namespace stay in it, except under a shared mount, whose copy is
// a peer.
func TestMountNamespaceCopy(t *testing.T) {
	v, c := nsTestVFS(t, "/a", "/s")
	if err := v.MountOver(resolve(t, v, c, "/s"), tmpfs.New(0755, 0, 0), MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := v.SetPropagation(resolve(t, v, c, "/s"), PropShared, false); err != nil {
		t.Fatal(err)
	}
	if err := v.MkdirAt(fs.Background, c, c.Root(), "/s/x", 0755); err != nil {
		t.Fatal(err)
	}
	child := c.Fork()
	c.Namespace().Copy(child)
	if child.Namespace() == c.Namespace() {
		t.Fatal("Copy left the context in its namespace")
	}
	if err := v.MountOver(resolve(t, v, child, "/a"), tmpfs.New(0755, 0, 0), MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := v.MountOver(resolve(t, v, child, "/s/x"), tmpfs.New(0755, 0, 0), MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := mountsOf(c), "/ /s /s/x"; got != want {
		t.Errorf("first namespace: %q, want %q (the private /a stays in the child's)", got, want)
	}
	if got, want := mountsOf(child), "/ /s /a /s/x"; got != want {
		t.Errorf("child's namespace: %q, want %q", got, want)
	}
	if a := resolve(t, v, c, "/a"); a.Mount != c.Root().Mount {
		t.Errorf("/a in the first namespace resolves into %q, want the root mount", a.Mount.Point)
	}
	if !strings.Contains(c.Namespace().MountinfoText("/"), " shared:") {
		t.Errorf("mountinfo shows no peer group:\n%s", c.Namespace().MountinfoText("/"))
	}
}

// TestPivotRoot: the old root goes on put_old, the context moves to the
// new root, the new root's tree loses its prefix.
func TestPivotRoot(t *testing.T) {
	v, c := nsTestVFS(t, "/new")
	child := c.Fork()
	c.Namespace().Copy(child)
	if err := v.MountOver(resolve(t, v, child, "/new"), tmpfs.New(0755, 0, 0), MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := v.MkdirAt(fs.Background, child, child.Root(), "/new/old", 0755); err != nil {
		t.Fatal(err)
	}
	if err := v.PivotRoot(child.Root(), resolve(t, v, child, "/new"), resolve(t, v, child, "/new/old"), []*FSContext{c, child}); err != nil {
		t.Fatal(err)
	}
	if got, want := mountsOf(child), "/old /"; got != want {
		t.Errorf("after pivot_root: %q, want %q", got, want)
	}
	if _, err := v.Resolve(fs.Background, child, child.Root(), "/old/new", true); err != nil {
		t.Errorf("the old root is not under /old: %v", err)
	}
	if err := v.Unmount(resolve(t, v, child, "/old"), true, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := mountsOf(child), "/"; got != want {
		t.Errorf("after detaching /old: %q, want %q", got, want)
	}
	if got := mountsOf(c); got != "/" {
		t.Errorf("the first namespace changed: %q", got)
	}
}

// TestMountNamespaceRace walks paths in two namespaces while mounts and
// unmounts happen in both (run with -race).
func TestMountNamespaceRace(t *testing.T) {
	v, c := nsTestVFS(t, "/m", "/m/d")
	if err := v.MountOver(resolve(t, v, c, "/m"), tmpfs.New(0755, 0, 0), MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := v.SetPropagation(resolve(t, v, c, "/m"), PropShared, false); err != nil {
		t.Fatal(err)
	}
	if err := v.MkdirAt(fs.Background, c, c.Root(), "/m/d", 0755); err != nil {
		t.Fatal(err)
	}
	child := c.Fork()
	c.Namespace().Copy(child)
	var wg sync.WaitGroup
	for _, ctx := range []*FSContext{c, child} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				v.Resolve(fs.Background, ctx, ctx.Root(), "/m/d", true)
				ctx.Namespace().MountinfoText("/")
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				loc, err := v.Resolve(fs.Background, ctx, ctx.Root(), "/m/d", true)
				if err != nil {
					continue
				}
				if v.MountOver(loc, tmpfs.New(0755, 0, 0), MountOptions{}) == nil {
					top := v.Top(loc)
					v.Unmount(top, true, nil)
				}
			}
		}()
	}
	wg.Wait()
}
