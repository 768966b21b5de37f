package process

import (
	"sync"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
)

// The namespaces a thread is in, as /proc/PID/ns and setns(2) name them.
// Mount namespaces are the VFS's (the thread's FSContext holds its own);
// UTS namespaces are here, IPC namespaces in ipc.go, time namespaces in timens.go, network namespaces in netns.go; of every other kind the sandbox has one, made
// with the sandbox, which unshare and clone do not copy yet.

// fixedNamespace is a namespace of a kind the sandbox has one of.
type fixedNamespace struct{ ino uint64 }

// Ino implements nsfs.Namespace.
func (n *fixedNamespace) Ino() uint64 { return n.ino }

// sandboxNamespaces are the sandbox's namespaces other than mount
// namespaces, made at first use. Locking: once guards byKind.
type sandboxNamespaces struct {
	once   sync.Once
	byKind map[string]*fixedNamespace
	// utsOnce guards uts, the first UTS namespace.
	utsOnce sync.Once
	uts     *UTSNamespace
	// pidOnce guards pid, the sandbox's own PID namespace (pidns.go).
	pidOnce sync.Once
	pid     *PIDNamespace
	// timeOnce guards time, the first time namespace (timens.go).
	timeOnce sync.Once
	time     *TimeNamespace
}

// Namespace returns the namespace of kind (nsfs.Kind.Name) th is in.
func (s *Sandbox) Namespace(th *Thread, kind string) nsfs.Namespace {
	switch kind {
	case "mnt":
		if th != nil && th.FS != nil {
			return th.FS.Namespace()
		}
		return s.VFS.InitNamespace()
	case "uts":
		if th != nil {
			return th.UTS()
		}
		return s.InitUTS()
	case "ipc":
		ns := s.IPC
		if th != nil {
			ns = th.IPC()
		}
		if ns == nil {
			return nil
		}
		return ns
	case "pid":
		if th != nil {
			return th.PIDNS()
		}
		return s.RootPIDNS()
	case "cgroup":
		if th != nil {
			return th.cgroupNS()
		}
	case "user":
		if ns := s.userNamespaceOf(th); ns != nil {
			return ns // userns.go
		}
	case "pid_for_children":
		if th != nil {
			return th.ChildPIDNS()
		}
		return s.RootPIDNS()
	case "time":
		if th != nil {
			return th.TimeNS()
		}
		return s.InitTimeNS()
	case "time_for_children":
		if th != nil {
			return th.TimeNSForChildren()
		}
		return s.InitTimeNS()
	case "net":
		if th != nil {
			return th.NetNS()
		}
		return s.InitNetNS()
	}
	s.namespaces.once.Do(func() {
		s.namespaces.byKind = make(map[string]*fixedNamespace)
		for _, k := range nsfs.Kinds {
			if k.Name != "mnt" && k.Name != "uts" && k.Name != "ipc" && k.Name != "pid" && k.Name != "pid_for_children" && k.Name != "time" && k.Name != "time_for_children" && k.Name != "net" {
				s.namespaces.byKind[k.Name] = &fixedNamespace{ino: nsfs.NewIno()}
			}
		}
	})
	return s.namespaces.byKind[kind]
}

// UTSNamespace is a UTS namespace: the host and domain names uname(2),
// sethostname(2), setdomainname(2) and /proc/sys/kernel/{hostname,
// domainname} show and change. CLONE_NEWUTS copies the caller's.
//
// Locking: mu protects the names.
type UTSNamespace struct {
	ino uint64
	// owner is the user namespace it was made in (userns.go).
	owner *auth.UserNamespace

	mu                   sync.Mutex
	hostname, domainname string
}

// NewUTSNamespace returns a namespace with the given names.
func NewUTSNamespace(hostname, domainname string) *UTSNamespace {
	return &UTSNamespace{ino: nsfs.NewIno(), hostname: hostname, domainname: domainname}
}

// Ino implements nsfs.Namespace.
func (u *UTSNamespace) Ino() uint64 { return u.ino }

// Names returns the host and domain names.
func (u *UTSNamespace) Names() (hostname, domainname string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hostname, u.domainname
}

// SetHostname changes the host name.
func (u *UTSNamespace) SetHostname(n string) {
	u.mu.Lock()
	u.hostname = n
	u.mu.Unlock()
}

// SetDomainname changes the domain name.
func (u *UTSNamespace) SetDomainname(n string) {
	u.mu.Lock()
	u.domainname = n
	u.mu.Unlock()
}

// Copy returns a new namespace with u's names (CLONE_NEWUTS), owned by
// user namespace owner (the caller's).
func (u *UTSNamespace) Copy(owner *auth.UserNamespace) *UTSNamespace {
	h, d := u.Names()
	n := NewUTSNamespace(h, d)
	n.owner = owner
	return n
}

// InitUTS returns the sandbox's first UTS namespace, made at first use
// from Hostname and Domainname (which boot sets before any process runs).
func (s *Sandbox) InitUTS() *UTSNamespace {
	s.namespaces.utsOnce.Do(func() { s.namespaces.uts = NewUTSNamespace(s.Hostname, s.Domainname) })
	return s.namespaces.uts
}

// UTS returns the UTS namespace t is in.
func (t *Thread) UTS() *UTSNamespace {
	if u := t.uts.Load(); u != nil {
		return u
	}
	return t.S.InitUTS()
}

// SetUTS moves t into u (unshare(CLONE_NEWUTS), setns).
func (t *Thread) SetUTS(u *UTSNamespace) { t.uts.Store(u) }
