package process

import (
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
)

// The namespaces a thread is in, as /proc/PID/ns and setns(2) name them.
// Mount namespaces are the VFS's (the thread's FSContext holds its own);
// of every other kind the sandbox has one, made with the sandbox, which
// unshare and clone do not copy yet.

// fixedNamespace is a namespace of a kind the sandbox has one of.
type fixedNamespace struct{ ino uint64 }

// Ino implements nsfs.Namespace.
func (n *fixedNamespace) Ino() uint64 { return n.ino }

// sandboxNamespaces are the sandbox's namespaces other than mount
// namespaces, made at first use. Locking: once guards byKind.
type sandboxNamespaces struct {
	once   sync.Once
	byKind map[string]*fixedNamespace
}

// Namespace returns the namespace of kind (nsfs.Kind.Name) th is in.
func (s *Sandbox) Namespace(th *Thread, kind string) nsfs.Namespace {
	switch kind {
	case "mnt":
		if th != nil && th.FS != nil {
			return th.FS.Namespace()
		}
		return s.VFS.InitNamespace()
	case "pid_for_children":
		kind = "pid"
	case "time_for_children":
		kind = "time"
	}
	s.namespaces.once.Do(func() {
		s.namespaces.byKind = make(map[string]*fixedNamespace)
		for _, k := range nsfs.Kinds {
			if k.Name != "mnt" && k.Name != "pid_for_children" && k.Name != "time_for_children" {
				s.namespaces.byKind[k.Name] = &fixedNamespace{ino: nsfs.NewIno()}
			}
		}
	})
	return s.namespaces.byKind[kind]
}
