// Package unix is the sandbox's AF_UNIX: stream, datagram and seqpacket
// sockets served entirely by the sentry, with Linux's semantics (its
// net/unix/af_unix.c is the reference for every rule here).
//
// Names. A socket bound to a path is a socket inode in the sandbox's VFS,
// made by bind through the filesystem's Mknod (S_IFSOCK, mode 0777 less
// the umask), so ls -l shows "s" and unlink removes the name; connect
// resolves the path in the sandbox, needs write permission on it, and
// finds the bound socket by the inode's identity (device and inode
// number), as Linux's unix_find_socket_byinode: a socket file nobody is
// bound to any more (a stale path) gives ECONNREFUSED. On a --volume the
// inode is a real host socket file made by the sentry's mknod: an inert
// placeholder nothing listens on, so a host program connecting to it gets
// ECONNREFUSED, and the sandbox's socket stays in the sentry. The abstract
// namespace is the sandbox's own table, never the host's. Autobind gives
// Linux's five-hex-digit abstract names.
//
// Data. Every send queues a message (Linux's skb) on the receiver with the
// sender's credentials, its SCM_RIGHTS file references and a truesize
// charged to the sender until the receiver consumes it: a sender blocks
// while what it has in flight reaches its SO_SNDBUF (sock_alloc_send_pskb),
// which is AF_UNIX's whole flow control for streams; datagram senders also
// wait while an unconnected receiver holds more than max_dgram_qlen
// datagrams. Streams merge messages on receive (but never across
// SCM_RIGHTS, nor across different senders' credentials when the receiver
// has SO_PASSCRED); datagrams and seqpackets keep their boundaries.
//
// In-flight descriptors of AF_UNIX sockets can form cycles that no
// process can reach any more (a socket sent over itself and closed); a
// garbage collector (gc.go) finds and purges them, as Linux's unix_gc.
//
// --host-uds=open (hostuds.go) lets a sandboxed socket connect to a host
// socket file on a volume: the sentry connects a host socket of its own
// and relays; nothing else in this package touches a host socket.
//
// Locking, in order: endpoint.recvMu (one receiver at a time, Linux's
// iolock; released while waiting) → Family.gc.gcMu (gc.go) → endpoint.mu
// (one socket's state, queue and peer pointer; two are taken together only
// in id order, lockPair) → the memory manager's lock (a receive copies to
// the caller's memory under its endpoint's mu). Family.mu (the name
// tables and the socket list) is a leaf. endpoint.bindMu is held across
// bind's VFS calls and nothing else. No lock is held across a wait, and
// watchers (epoll) are notified with none held.
package unix

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	sys "golang.org/x/sys/unix"
)

// MaxDgramQlen is /proc/sys/net/unix/max_dgram_qlen: how many datagrams an
// unconnected receiver may hold beyond which senders wait.
const MaxDgramQlen = 10

// pathOffset is offsetof(struct sockaddr_un, sun_path).
const pathOffset = 2

// sockaddrUnSize is sizeof(struct sockaddr_un).
const sockaddrUnSize = 110

// Options configure a Family.
type Options struct {
	// HostUDS allows connecting to host socket files visible through a
	// --volume (--host-uds=open).
	HostUDS bool
}

// Family is a sandbox's AF_UNIX: its name tables and live sockets.
type Family struct {
	opts Options

	mu       sync.Mutex
	abstract map[abstractKey]*endpoint
	bound    map[inodeKey]*endpoint
	all      map[*endpoint]struct{}

	nextID atomic.Uint64

	gc gcState
}

// inodeKey identifies the inode a path-bound socket lives at.
type inodeKey struct {
	major, minor uint32
	ino          uint64
}

// abstractKey is an abstract name within one socket type (Linux hashes
// the type into the abstract table: a stream and a datagram socket may
// hold the same name).
type abstractKey struct {
	netns *NetNamespace
	name  string
	stype int
}

// New returns an AF_UNIX family with no sockets.
func New(opts Options) *Family {
	return &Family{
		opts:     opts,
		abstract: make(map[abstractKey]*endpoint),
		bound:    make(map[inodeKey]*endpoint),
		all:      make(map[*endpoint]struct{}),
	}
}

// Domain implements socket.Family.
func (f *Family) Domain() int { return sys.AF_UNIX }

// checkType applies unix_create's rules: protocol 0 or PF_UNIX
// (EPROTONOSUPPORT); SOCK_RAW becomes SOCK_DGRAM; other types than
// stream, datagram and seqpacket are ESOCKTNOSUPPORT.
func checkType(stype, protocol int) (int, error) {
	if protocol != 0 && protocol != sys.AF_UNIX {
		return 0, sys.EPROTONOSUPPORT
	}
	switch stype {
	case sys.SOCK_STREAM, sys.SOCK_DGRAM, sys.SOCK_SEQPACKET:
		return stype, nil
	case sys.SOCK_RAW:
		return sys.SOCK_DGRAM, nil
	}
	return 0, sys.ESOCKTNOSUPPORT
}

// Socket implements socket.Family.
func (f *Family) Socket(ctx *socket.Context, stype, protocol int) (socket.Socket, error) {
	t, err := checkType(stype, protocol)
	if err != nil {
		return nil, err
	}
	return f.newEndpoint(t, nil), nil
}

// Pair implements socket.Family: two connected sockets whose peer
// credentials are the caller's.
func (f *Family) Pair(ctx *socket.Context, stype, protocol int) (socket.Socket, socket.Socket, error) {
	return f.pair(ctx, stype, protocol, nil)
}

// pair makes the two sockets of Pair in network namespace ns.
func (f *Family) pair(ctx *socket.Context, stype, protocol int, ns *NetNamespace) (socket.Socket, socket.Socket, error) {
	t, err := checkType(stype, protocol)
	if err != nil {
		return nil, nil, err
	}
	a, b := f.newEndpoint(t, ns), f.newEndpoint(t, ns)
	cred := peerCredOf(ctx)
	a.peer, b.peer = b, a
	a.peerCred, b.peerCred = cred, cred
	a.hasPeerCred, b.hasPeerCred = true, true
	if t != sys.SOCK_DGRAM {
		a.state, b.state = stateEstablished, stateEstablished
	} else {
		a.senders = map[*endpoint]struct{}{b: {}}
		b.senders = map[*endpoint]struct{}{a: {}}
	}
	return a, b, nil
}

// newEndpoint returns an unconnected, unbound socket of type stype.
// in network namespace ns (nil: the first).
func (f *Family) newEndpoint(stype int, ns *NetNamespace) *endpoint {
	e := &endpoint{fam: f, stype: stype, id: f.nextID.Add(1), netns: ns}
	e.InitGenericOptions()
	f.mu.Lock()
	f.all[e] = struct{}{}
	f.mu.Unlock()
	return e
}

// forget removes a released socket from the tables.
func (f *Family) forget(e *endpoint, a *address) {
	f.mu.Lock()
	delete(f.all, e)
	if a != nil {
		if a.abstract {
			if f.abstract[abstractKey{e.netns, a.name(), e.stype}] == e {
				delete(f.abstract, abstractKey{e.netns, a.name(), e.stype})
			}
		} else if f.bound[a.key] == e {
			delete(f.bound, a.key)
		}
	}
	f.mu.Unlock()
}

// address is a bound name.
type address struct {
	// raw is the sockaddr getsockname returns: family, then the path
	// with its NUL, or the abstract name (leading NUL included).
	raw []byte
	// path is the path name as bound (relative ones as given).
	path     string
	abstract bool
	key      inodeKey
}

// name returns the abstract name (leading NUL included).
func (a *address) name() string { return string(a.raw[pathOffset:]) }

// parsedAddr is a validated sockaddr_un.
type parsedAddr struct {
	abstract bool
	path     string // path sockets
	name     string // abstract sockets: sun_path[0:len-2]
}

// parseAddr validates a sockaddr_un as unix_validate_addr: longer than
// the family field, at most a sockaddr_un, family AF_UNIX (EINVAL).
func parseAddr(b []byte) (parsedAddr, error) {
	if len(b) <= pathOffset || len(b) > sockaddrUnSize {
		return parsedAddr{}, sys.EINVAL
	}
	if binary.LittleEndian.Uint16(b) != sys.AF_UNIX {
		return parsedAddr{}, sys.EINVAL
	}
	p := b[pathOffset:]
	if p[0] == 0 {
		return parsedAddr{abstract: true, name: string(p)}, nil
	}
	if i := indexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return parsedAddr{path: string(p)}, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// sockaddr encodes a family and sun_path bytes.
func sockaddr(sunPath []byte) []byte {
	b := make([]byte, pathOffset+len(sunPath))
	binary.LittleEndian.PutUint16(b, sys.AF_UNIX)
	copy(b[pathOffset:], sunPath)
	return b
}

// unboundName is getsockname's answer for an unbound socket.
var unboundName = sockaddr(nil)

// peerCredOf returns the caller as a peer credential (SO_PEERCRED: the
// thread group and the effective IDs).
func peerCredOf(ctx *socket.Context) socket.Ucred {
	if ctx == nil {
		return socket.Ucred{}
	}
	return socket.Ucred{PID: ctx.Cred.PID, UID: ctx.Cred.EUID, GID: ctx.Cred.EGID}
}

// sendCredOf returns the credentials a message carries by default
// (scm_send: the thread group and the real IDs).
func sendCredOf(ctx *socket.Context) socket.Ucred {
	if ctx == nil {
		return socket.Ucred{}
	}
	return socket.Ucred{PID: ctx.Cred.PID, UID: ctx.Cred.UID, GID: ctx.Cred.GID}
}

// bindPath makes the socket inode for path and returns its identity, as
// Linux's unix_bind_bsd: EADDRINUSE when the name exists.
func bindPath(ctx *socket.Context, path string) (inodeKey, error) {
	if ctx.VFS == nil || ctx.FS == nil {
		return inodeKey{}, sys.EOPNOTSUPP
	}
	start := ctx.FS.Cwd()
	err := ctx.VFS.MknodAt(ctx.Context, ctx.FS, start, path, sys.S_IFSOCK|0777, 0)
	if err == sys.EEXIST {
		return inodeKey{}, sys.EADDRINUSE
	}
	if err != nil {
		return inodeKey{}, err
	}
	loc, err := ctx.VFS.Resolve(ctx.Context, ctx.FS, start, path, false)
	if err != nil {
		return inodeKey{}, err
	}
	return keyOf(ctx.Context, loc)
}

func keyOf(ctx *fs.Context, loc vfs.Location) (inodeKey, error) {
	st, err := loc.Node.Stat(ctx)
	if err != nil {
		return inodeKey{}, err
	}
	return inodeKey{st.DevMajor, st.DevMinor, st.Ino}, nil
}

// unlinkPath removes a socket inode bind made but could not use.
func unlinkPath(ctx *socket.Context, path string) {
	ctx.VFS.UnlinkAt(ctx.Context, ctx.FS, ctx.FS.Cwd(), path)
}

// errHostSocket is lookup's answer for a host socket file that
// --host-uds=open allows connecting to; target says where.
type errHostSocket struct{ target hostTarget }

func (e *errHostSocket) Error() string { return "host socket" }

// lookup finds the socket a connect or sendto names, as Linux's
// unix_find_other: an abstract name in the table (ECONNREFUSED if none),
// or a path resolved in the sandbox (its errors; EACCES without write
// permission; ECONNREFUSED if it is not a socket or nothing is bound to
// it; EPROTOTYPE if the bound socket has another type).
// Abstract names are those of network namespace ns (the caller's
// socket's).
func (f *Family) lookup(ctx *socket.Context, ns *NetNamespace, pa parsedAddr, stype int) (*endpoint, error) {
	if pa.abstract {
		f.mu.Lock()
		defer f.mu.Unlock()
		if e := f.abstract[abstractKey{ns, pa.name, stype}]; e != nil {
			return e, nil
		}
		return nil, sys.ECONNREFUSED
	}
	if ctx.VFS == nil || ctx.FS == nil {
		return nil, sys.ECONNREFUSED
	}
	loc, err := ctx.VFS.Resolve(ctx.Context, ctx.FS, ctx.FS.Cwd(), pa.path, true)
	if err != nil {
		return nil, err
	}
	if err := vfs.Access(ctx.Context, loc, 2); err != nil {
		return nil, err
	}
	if loc.Node.Type() != sys.S_IFSOCK {
		return nil, sys.ECONNREFUSED
	}
	key, err := keyOf(ctx.Context, loc)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	e := f.bound[key]
	f.mu.Unlock()
	if e == nil {
		if t, ok := f.hostTarget(loc); ok {
			return nil, &errHostSocket{target: t}
		}
		return nil, sys.ECONNREFUSED
	}
	if e.stype != stype {
		return nil, sys.EPROTOTYPE
	}
	return e, nil
}

// autobindName picks an unused abstract name of five hex digits for
// stype, as unix_autobind. Preconditions: f.mu is held.
func (f *Family) autobindNameLocked(ns *NetNamespace, stype int) (string, error) {
	var r [4]byte
	rand.Read(r[:])
	n := binary.LittleEndian.Uint32(r[:]) & 0xfffff
	for i := 0; i <= 0xfffff; i++ {
		name := fmt.Sprintf("\x00%05x", (n+uint32(i))&0xfffff)
		if _, used := f.abstract[abstractKey{ns, name, stype}]; !used {
			return name, nil
		}
	}
	return "", sys.ENOSPC
}

// ProcFiles implements socket.ProcFiler: /proc/net/unix and
// /proc/sys/net/unix/max_dgram_qlen.
func (f *Family) ProcFiles() []socket.ProcFile { return f.procFiles(nil) }

// procFiles are the /proc files of network namespace ns's view.
func (f *Family) procFiles(ns *NetNamespace) []socket.ProcFile {
	return []socket.ProcFile{
		{Path: "unix", Read: func() string { return f.procNetUnix(ns) }},
		{Path: "unix/max_dgram_qlen", Sys: true, Read: func() string { return fmt.Sprintf("%d\n", MaxDgramQlen) }},
	}
}

// Linux's socket states and flags as /proc/net/unix prints them.
const (
	ssUnconnected   = 1
	ssConnecting    = 2
	ssConnected     = 3
	ssDisconnecting = 4
	soAcceptCon     = 1 << 16
)

// procNetUnix renders /proc/net/unix as Linux's unix_seq_show: one line
// per socket, "Num RefCount Protocol Flags Type St Inode Path".
func (f *Family) procNetUnix(ns *NetNamespace) string {
	f.mu.Lock()
	eps := make([]*endpoint, 0, len(f.all))
	for e := range f.all {
		if e.netns == ns {
			eps = append(eps, e)
		}
	}
	f.mu.Unlock()
	sort.Slice(eps, func(i, j int) bool { return eps[i].id < eps[j].id })
	var b strings.Builder
	b.WriteString("Num       RefCount Protocol Flags    Type St Inode Path\n")
	for _, e := range eps {
		e.mu.Lock()
		st, flags := ssUnconnected, 0
		switch e.state {
		case stateListen:
			flags = soAcceptCon
		case stateEstablished:
			st = ssConnected
		}
		if e.stype == sys.SOCK_DGRAM && e.peer != nil {
			st = ssConnected
		}
		if e.state == stateEstablished && e.ino == 0 {
			// Not yet accepted (Linux's embryo): SS_CONNECTING.
			st = ssConnecting
		}
		addr := e.addr.Load()
		ino := e.ino
		id := e.id
		e.mu.Unlock()
		fmt.Fprintf(&b, "%016x: %08X %08X %08X %04X %02X %5d", id<<6, 2, 0, flags, e.stype, st, ino)
		if addr != nil {
			b.WriteByte(' ')
			if addr.abstract {
				b.WriteByte('@')
				b.WriteString(strings.ReplaceAll(addr.name()[1:], "\x00", "@"))
			} else {
				b.WriteString(addr.path)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// NetNamespace is the family as the sockets of a network namespace other
// than the sandbox's first see it (sentry/process/netns.go registers one
// per namespace): the sockets it makes have the namespace's abstract
// names and its /proc/net/unix, as Linux keys both by network namespace;
// path names, SCM_RIGHTS and its garbage collection are the family's,
// shared.
type NetNamespace struct {
	f *Family
}

// NewNetNamespace returns a view of f for a new network namespace.
func (f *Family) NewNetNamespace() *NetNamespace { return &NetNamespace{f: f} }

// Domain implements socket.Family.
func (n *NetNamespace) Domain() int { return sys.AF_UNIX }

// Socket implements socket.Family.
func (n *NetNamespace) Socket(ctx *socket.Context, stype, protocol int) (socket.Socket, error) {
	t, err := checkType(stype, protocol)
	if err != nil {
		return nil, err
	}
	return n.f.newEndpoint(t, n), nil
}

// Pair implements socket.Family.
func (n *NetNamespace) Pair(ctx *socket.Context, stype, protocol int) (socket.Socket, socket.Socket, error) {
	return n.f.pair(ctx, stype, protocol, n)
}

// ProcFiles implements socket.ProcFiler.
func (n *NetNamespace) ProcFiles() []socket.ProcFile { return n.f.procFiles(n) }
