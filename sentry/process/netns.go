package process

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/fs/nsfs"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
)

// NetNamespace is a network namespace: the socket families its tasks
// create sockets with (AF_INET, AF_INET6 and NETLINK_ROUTE over the
// namespace's own network stack, sentry/net; the sandbox's AF_UNIX
// family, shared), which also give /proc/PID/net and /proc/sys/net.
//
// The sandbox's first namespace is the sandbox's registry (s.Sockets)
// with whatever network mode boot gave it; it lives as long as the
// sandbox. CLONE_NEWNET makes a namespace through Sandbox.NewNetStack:
// a stack of its own with a loopback device only. Such a namespace is
// counted: each thread in it, each socket created in it and each open
// nsfs file of it holds a reference, and the last one to go closes the
// stack (its goroutines and queues).
//
// Locking: refs is atomic; everything else is immutable after creation.
type NetNamespace struct {
	ino   uint64
	owner *auth.UserNamespace
	// Sockets are the families sockets are created with here.
	Sockets *socket.Registry
	// release closes the namespace's stack (nil: the first namespace).
	release func()
	refs    atomic.Int64
}

// NetStackFactory builds the socket families of a new network namespace
// owned by owner over a new stack with a loopback device only, with hold
// and drop counting its sockets as references; the returned release
// closes the stack. Boot sets it.
type NetStackFactory func(owner *auth.UserNamespace, hold, drop func()) (reg *socket.Registry, release func(), err error)

// netNamespaces are the sandbox's first network namespace, made at first
// use. Locking: once guards first.
type netNamespaces struct {
	once  sync.Once
	first *NetNamespace
}

// Ino implements nsfs.Namespace.
func (n *NetNamespace) Ino() uint64 { return n.ino }

// Owner returns the user namespace n was made in.
func (n *NetNamespace) Owner() *auth.UserNamespace { return n.owner }

// IncRef takes a reference for a user of a namespace known to be alive
// (a socket made by a thread in it; no-op for the first namespace).
func (n *NetNamespace) IncRef() {
	if n.release != nil {
		n.refs.Add(1)
	}
}

// TryIncRef takes a reference unless the namespace is gone already (its
// last user left while another thread found it, through /proc/PID/ns or
// a pidfd): nsfs.Holder.
func (n *NetNamespace) TryIncRef() bool {
	if n.release == nil {
		return true
	}
	for {
		v := n.refs.Load()
		if v <= 0 {
			return false
		}
		if n.refs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// DecRef drops a reference; the last closes the namespace's stack.
func (n *NetNamespace) DecRef() {
	if n.release == nil {
		return
	}
	if v := n.refs.Add(-1); v == 0 {
		n.release()
	} else if v < 0 {
		panic("process: NetNamespace reference count below zero")
	}
}

// InitNetNS returns the sandbox's first network namespace.
func (s *Sandbox) InitNetNS() *NetNamespace {
	s.netNamespaces.once.Do(func() {
		s.netNamespaces.first = &NetNamespace{ino: nsfs.NewIno(), Sockets: s.Sockets}
	})
	return s.netNamespaces.first
}

// NetNS returns the network namespace t is in.
func (t *Thread) NetNS() *NetNamespace {
	if n := t.netns.Load(); n != nil {
		return n
	}
	return t.S.InitNetNS()
}

// newNetNS makes a network namespace owned by owner, with one reference
// (the caller's). EPERM when the sandbox cannot build stacks.
func (s *Sandbox) newNetNS(owner *auth.UserNamespace) (*NetNamespace, error) {
	if s.NewNetStack == nil {
		return nil, unix.EPERM
	}
	n := &NetNamespace{ino: nsfs.NewIno(), owner: owner}
	n.refs.Store(1)
	reg, release, err := s.NewNetStack(owner, n.IncRef, n.DecRef)
	if err != nil {
		return nil, unix.ENOMEM
	}
	n.Sockets, n.release = reg, release
	return n, nil
}

// NewNetNS makes a network namespace owned by owner for unshare(2) to
// move t into with EnterNewNetNS (or to DecRef when it fails before).
func (t *Thread) NewNetNS(owner *auth.UserNamespace) (*NetNamespace, error) {
	return t.S.newNetNS(owner)
}

// EnterNewNetNS moves t into n, made by NewNetNS, whose reference t takes
// over (unshare(CLONE_NEWNET)).
func (t *Thread) EnterNewNetNS(n *NetNamespace) { t.swapNetNS(n) }

// SetNetNS moves t into n (setns); EINVAL when n is gone.
func (t *Thread) SetNetNS(n *NetNamespace) error {
	if !n.TryIncRef() {
		return unix.EINVAL
	}
	t.swapNetNS(n)
	return nil
}

// swapNetNS makes n (whose reference t takes over) t's namespace and
// drops t's reference on the one it leaves.
func (t *Thread) swapNetNS(n *NetNamespace) {
	if old := t.netns.Swap(n); old != nil {
		old.DecRef()
	}
}

// exitNetNS drops the exiting thread's reference on its namespace.
func (t *Thread) exitNetNS() {
	if old := t.netns.Swap(nil); old != nil {
		old.DecRef()
	}
}
