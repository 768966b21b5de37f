// Package socket is the sandbox's socket layer: the part of every socket
// that does not depend on its family. It owns
//
//   - the Socket interface, which every family implements (AF_UNIX in
//     socket/unix; AF_INET/AF_INET6 over netstack in socket/inet; later
//     NETLINK_ROUTE and host sockets), and the Family interface that
//     creates them, registered per sandbox in a Registry;
//   - the socket file (file.go): what a socket descriptor refers to. It
//     is an fs.File and fs.Node in no mounted filesystem ("socket:[N]" in
//     /proc/PID/fd, S_IFSOCK in fstat), an fs.Waitable for poll, select and
//     epoll, and the holder of what Linux keeps in struct socket and struct
//     sock for every family: type, SO_RCVTIMEO and SO_SNDTIMEO;
//   - the decoding of the socket syscalls' arguments (abi.go): sockaddrs,
//     struct msghdr, cmsg chains, option values, with Linux's EFAULT and
//     EINVAL rules. Nothing else in the sentry parses them; the syscall
//     handlers (sentry/syscalls/sys_socket.go) only sequence these pieces.
//
// # How a family plugs in
//
// A family implements Family (socket(2) and socketpair(2) for its
// domain) and Socket (every other call on one socket), and boot registers
// it in the sandbox's Registry. A family sees decoded arguments only: a
// sockaddr as the bytes the program passed (the family checks their
// length and contents), data as a usermem.IOSequence (an io.Reader for
// sends, an io.Writer for receives: netstack's Payloader and Read(io.Writer)
// take them as they are), control messages as ControlMessages (file
// descriptions for SCM_RIGHTS, credentials, raw other messages). It
// returns Linux errnos (unix.Errno). Options the socket layer serves
// itself (SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_RCVTIMEO, SO_SNDTIMEO) never
// reach the family.
//
// # How blocking works
//
// A family blocks only through a Blocking value the socket layer hands
// it: Blocking.Wait sleeps on one of the family's kernel.WaitQueues until
// the family's condition holds, releasing the caller's sandbox CPU exactly
// as a pipe does (a blocked task is off the run queue; the waker's
// NotifyAll puts it back). Blocking carries O_NONBLOCK/MSG_DONTWAIT and the
// deadline from SO_RCVTIMEO/SO_SNDTIMEO, measured from the start of the
// syscall, so a MSG_WAITALL receive that waits several times still ends
// on time; Wait returns EAGAIN when it may not (or may no longer) wait and
// EINTR when a signal interrupts it. The syscall layer then decides about
// restarting as Linux's sock_intr_errno does: a call without a timeout is
// restarted under SA_RESTART, one with a timeout never is.
//
// Readiness: a family's Readiness answers poll's question from its state
// and Watch registers a callback it calls (with no lock held) whenever
// that state may have changed; fs.Notifier does the bookkeeping. epoll's
// edge and level triggering are epoll's business (sentry/fs/epoll), as for
// pipes and eventfds.
//
// # Locking
//
// This package's own state is atomic (timeouts, flags) or immutable after
// creation (type, family, inode); Registry.mu is a leaf. A family's locks
// come below the VFS's (a family may resolve paths while holding none of
// its own) and above the memory manager's (a family may copy to or from
// the caller's memory while holding its queue lock, as Linux copies under
// u->iolock). No socket lock is held across Blocking.Wait.
package socket

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/usermem"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Socket is one socket's protocol side. Every method may be called
// concurrently with every other (the program may use one socket from many
// threads). Methods that may block say so and do it only through the
// Blocking they are given. Errors are Linux errnos.
type Socket interface {
	// Type returns the socket's SOCK_* type as getsockopt(SO_TYPE)
	// reports it (the family may have changed the requested one: Linux
	// makes an AF_UNIX SOCK_RAW socket a SOCK_DGRAM one), and its
	// protocol (SO_PROTOCOL).
	Type() (stype, protocol int)

	// Bind is bind(2); addr is the sockaddr as the program passed it
	// (0 to sizeof(struct sockaddr_storage) bytes).
	Bind(ctx *Context, addr []byte) error

	// Listen is listen(2). backlog is already clamped to [0, somaxconn]
	// as Linux does; the family may lower it.
	Listen(ctx *Context, backlog int) error

	// Accept takes one pending connection and returns the connected
	// socket, which the socket layer wraps in a new file. It blocks
	// (b from SO_RCVTIMEO, as Linux's accept) while none is pending.
	Accept(ctx *Context, b *Blocking) (Socket, error)

	// Connect is connect(2). It may block (b from SO_SNDTIMEO) until the
	// connection is accepted, refused or times out; the family decides
	// what a timeout or a non-blocking call returns (EINPROGRESS for
	// TCP, EAGAIN for a full AF_UNIX backlog).
	Connect(ctx *Context, addr []byte, b *Blocking) error

	// Shutdown is shutdown(2); how is SHUT_RD, SHUT_WR or SHUT_RDWR
	// (validated by the socket layer).
	Shutdown(ctx *Context, how int) error

	// SockName and PeerName are getsockname(2) and getpeername(2): the
	// full address; the socket layer truncates it to the caller's
	// buffer and reports the full length.
	SockName(ctx *Context) ([]byte, error)
	PeerName(ctx *Context) ([]byte, error)

	// SendMsg sends what src holds (sendmsg(2), sendto, send, write,
	// writev). It returns the bytes sent; a partial count with a nil
	// error when it sent some and then had to stop (a signal, a
	// timeout, a full non-blocking buffer). A family that raises
	// SIGPIPE with its EPIPE does it through ctx.RaiseSIGPIPE. It blocks
	// through o.Blocking. Control messages stay the caller's: the
	// family takes its own references (vfs.FileDescription.IncRef) on
	// what it queues.
	SendMsg(ctx *Context, src *usermem.IOSequence, o *SendOptions) (int, error)

	// RecvMsg receives into dst (recvmsg(2), recvfrom, recv, read,
	// readv). A write into dst that faults is the family's EFAULT (Linux
	// keeps a stream's data then, and loses the datagram). It blocks
	// through o.Blocking. The result's control messages belong
	// to the caller (the socket layer installs the rights or drops
	// them).
	RecvMsg(ctx *Context, dst *usermem.IOSequence, o *RecvOptions) (RecvResult, error)

	// GetSockOpt returns the value of an option (getsockopt(2)); size is
	// the caller's buffer length (>= 0). The socket layer copies out
	// min(size, len(value)) bytes and reports that length. ENOPROTOOPT
	// for an option the family does not know.
	GetSockOpt(ctx *Context, level, name, size int) ([]byte, error)

	// SetSockOpt sets an option (setsockopt(2)); val is what the
	// program passed (its length is optlen).
	SetSockOpt(ctx *Context, level, name int, val []byte) error

	// Ioctl serves the family's ioctls (FIONREAD/SIOCINQ, SIOCOUTQ,
	// SIOCGIFCONF...); arg is the raw argument, memory through ctx.Mem.
	// ENOTTY for others. The generic ones (FIONBIO, FIOCLEX...) are the
	// syscall layer's.
	Ioctl(ctx *Context, cmd uint32, arg uintptr) (uintptr, error)

	// Readiness and Watch are fs.Waitable: the poll events that hold now
	// (POLLIN, POLLOUT, POLLRDHUP, POLLHUP, POLLERR...) and change
	// notifications.
	fs.Waitable

	// Release is called once, when the socket's file is released.
	Release()
}

// Inoder is a Socket that wants to know the inode number of its file
// (socket:[N]; /proc/net/unix lists it). NewFile calls SetIno before the
// file is visible to anyone.
type Inoder interface {
	SetIno(ino uint64)
}

// Family creates the sockets of one address family.
type Family interface {
	// Domain returns the AF_* constant the family serves.
	Domain() int
	// Socket is socket(2): stype is the SOCK_* type without flags (the
	// socket layer checked it is below SOCK_MAX). Errors as Linux's
	// create function for the family: EPROTONOSUPPORT,
	// ESOCKTNOSUPPORT, EPROTOTYPE...
	Socket(ctx *Context, stype, protocol int) (Socket, error)
	// Pair is socketpair(2): two connected sockets, or EOPNOTSUPP for
	// families without pairs. Creation errors as Socket.
	Pair(ctx *Context, stype, protocol int) (Socket, Socket, error)
}

// DeviceIoctler is implemented by the family that owns the sandbox's
// network devices (AF_INET): it answers the socket ioctls of the device
// layer (SIOCGIFINDEX, SIOCGIFCONF...) for a socket of any family whose
// own Ioctl does not know them, as Linux's sock_do_ioctl hands them to
// dev_ioctl.
type DeviceIoctler interface {
	DeviceIoctl(ctx *Context, cmd uint32, arg uintptr) (uintptr, error)
}

// IsDeviceIoctl reports whether cmd is in the socket ioctl range (type
// 0x89: Linux's is_socket_ioctl_cmd).
func IsDeviceIoctl(cmd uint32) bool { return cmd>>8&0xff == 0x89 }

// ProcFile is a file a family contributes under /proc: Path is relative to
// /proc/net ("unix", "tcp") or, with Sys set, to /proc/sys/net
// ("unix/max_dgram_qlen", "core/somaxconn"). Read renders its contents
// when the file is opened.
type ProcFile struct {
	Path string
	Sys  bool
	Read func() string
	// Write, if set, makes the file writable (a sysctl root may set):
	// it receives what one write(2) wrote and returns Linux's error
	// (EINVAL for a value out of range).
	Write func(data []byte) error
}

// ProcFiler is a Family with files in /proc/net or /proc/sys/net.
type ProcFiler interface {
	ProcFiles() []ProcFile
}

// Registry is a sandbox's families. procfs reads their /proc files
// through it.
//
// Locking: mu protects families; it is a leaf.
type Registry struct {
	mu       sync.RWMutex
	families map[int]Family
	// somaxconn is /proc/sys/net/core/somaxconn: the largest listen
	// backlog (a root in the sandbox may write it).
	somaxconn atomic.Int32
}

// Somaxconn returns net.core.somaxconn, the largest listen backlog.
func (r *Registry) Somaxconn() int { return int(r.somaxconn.Load()) }

// NewRegistry returns a registry with no families.
func NewRegistry() *Registry {
	r := &Registry{families: make(map[int]Family)}
	r.somaxconn.Store(4096)
	return r
}

// Register adds f, replacing any family of the same domain.
func (r *Registry) Register(f Family) {
	r.mu.Lock()
	r.families[f.Domain()] = f
	r.mu.Unlock()
}

// Family returns the family of domain, or nil.
func (r *Registry) Family(domain int) Family {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.families[domain]
}

// ProcFiles returns /proc/sys/net/core's files and every registered
// family's /proc files, sorted by path.
func (r *Registry) ProcFiles() []ProcFile {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	out := r.CoreProcFiles()
	for _, f := range r.families {
		if pf, ok := f.(ProcFiler); ok {
			out = append(out, pf.ProcFiles()...)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Credentials are a process's identity as sockets see it.
type Credentials struct {
	// PID is the thread group ID in the sandbox's PID namespace.
	PID int32
	// UID and GID are the real IDs (SCM_CREDENTIALS' defaults).
	UID, GID uint32
	// EUID and EGID are the effective IDs (SO_PEERCRED's).
	EUID, EGID uint32
	// SUID and SGID are the saved IDs (what SCM_CREDENTIALS may claim).
	SUID, SGID uint32
}

// Ucred is struct ucred: what SO_PEERCRED and SCM_CREDENTIALS carry.
type Ucred struct {
	PID      int32
	UID, GID uint32
}

// Context is the caller of a socket operation.
type Context struct {
	// Context is the caller's filesystem view: its task (for blocking),
	// filesystem credentials (for paths) and memory (for ioctls).
	*fs.Context
	// Cred is the caller's identity.
	Cred Credentials
	// VFS and FS are the sandbox's filesystem and the caller's root and
	// working directory: AF_UNIX path names resolve through them.
	VFS *vfs.VirtualFilesystem
	FS  *vfs.FSContext
	// Sockets is the sandbox's registry (somaxconn, other families).
	Sockets *Registry
	// Creds are the caller's credentials, whose capabilities decide the
	// privileged cases (HasCapability); nil is the sentry itself.
	Creds *auth.Credentials
	// SIGPIPE sends SIGPIPE to the calling thread. A family calls it
	// where Linux's does (a stream send to a closed or shut down peer,
	// unless MSG_NOSIGNAL; datagram and seqpacket sockets never raise
	// it); nil for sentry-internal callers.
	SIGPIPE func()
	// PIDs is the caller's PID namespace, which SCM_CREDENTIALS and
	// SO_PEERCRED translate process IDs through (Cred.PID and queued
	// credentials hold kernel TIDs); nil: the sandbox's own.
	PIDs PIDNamespace
}

// PIDNamespace translates between a PID namespace's IDs and kernel TIDs
// (sentry/process.PIDNamespace); both give 0 for a task outside it.
type PIDNamespace interface {
	Local(tid int32) int32
	Kernel(id int32) int32
}

// LocalPID returns the caller's view of kernel TID tid.
func (ctx *Context) LocalPID(tid int32) int32 {
	if ctx == nil || ctx.PIDs == nil {
		return tid
	}
	return ctx.PIDs.Local(tid)
}

// KernelPID returns the kernel TID of the task the caller names id.
func (ctx *Context) KernelPID(id int32) int32 {
	if ctx == nil || ctx.PIDs == nil {
		return id
	}
	return ctx.PIDs.Kernel(id)
}

// RaiseSIGPIPE calls ctx.SIGPIPE unless flags has MSG_NOSIGNAL.
func (ctx *Context) RaiseSIGPIPE(flags int) {
	if ctx != nil && ctx.SIGPIPE != nil && flags&unix.MSG_NOSIGNAL == 0 {
		ctx.SIGPIPE()
	}
}

// Blocking says whether and how long a socket operation may wait.
type Blocking struct {
	// NonBlock: O_NONBLOCK on the file or MSG_DONTWAIT: never wait.
	NonBlock bool
	// Deadline from SO_RCVTIMEO/SO_SNDTIMEO; zero means none.
	Deadline time.Time
}

// HasTimeout reports whether a deadline is set (the wait is then not
// restartable after a signal, as Linux's sock_intr_errno).
func (b *Blocking) HasTimeout() bool { return b != nil && !b.Deadline.IsZero() }

// CanWait reports whether the operation may wait at all now.
func (b *Blocking) CanWait() bool {
	if b == nil || b.NonBlock {
		return false
	}
	return b.Deadline.IsZero() || time.Until(b.Deadline) > 0
}

// Wait waits on q until cond holds, releasing the caller's CPU. It
// returns nil once cond holds, EAGAIN when it may not wait (non-blocking,
// no task) or the deadline passed first, and EINTR when a signal
// interrupted it. cond is evaluated with no lock of the caller held and
// after the caller is queued, so a NotifyAll between the check and the
// sleep is never lost.
//
// Preconditions: the caller holds no Go mutex.
func (b *Blocking) Wait(ctx *Context, q *kernel.WaitQueue, cond func() bool) error {
	if cond() {
		return nil
	}
	if !b.CanWait() || ctx == nil || ctx.Context == nil || ctx.Task == nil {
		return unix.EAGAIN
	}
	d := kernel.Forever
	if !b.Deadline.IsZero() {
		d = time.Until(b.Deadline)
		if d <= 0 {
			return unix.EAGAIN
		}
	}
	err := ctx.BlockTimeout(q, cond, d)
	if err == unix.ETIMEDOUT {
		return unix.EAGAIN
	}
	return err
}

// SendOptions are a send's arguments besides its data.
type SendOptions struct {
	// To is the destination address (sendto, msg_name); nil for none.
	To []byte
	// Flags are the MSG_* flags (MSG_DONTWAIT, MSG_NOSIGNAL, MSG_EOR,
	// MSG_OOB, MSG_MORE...), as passed.
	Flags int
	// Control are the decoded control messages.
	Control ControlMessages
	// Blocking says whether and how long the send may wait.
	Blocking *Blocking
}

// RecvOptions are a receive's arguments besides its buffer.
type RecvOptions struct {
	// Flags are the MSG_* flags (MSG_PEEK, MSG_WAITALL, MSG_TRUNC,
	// MSG_DONTWAIT, MSG_CMSG_CLOEXEC, MSG_ERRQUEUE, MSG_OOB...).
	Flags int
	// WantControl is false when the caller has no control buffer at
	// all (read, recv, recvfrom, msg_control NULL): Linux still takes
	// the rights out of the message (and closes them) and sets
	// MSG_CTRUNC.
	WantControl bool
	// Blocking says whether and how long the receive may wait.
	Blocking *Blocking
}

// RecvResult is what a receive produced besides the data copied.
type RecvResult struct {
	// N is the number of bytes copied into the buffer.
	N int
	// MsgLen is the whole length of the datagram or record received
	// (what MSG_TRUNC asks recv to return); N for streams.
	MsgLen int
	// From is the sender's address (nil when the family has none to
	// give: a connected stream, an unbound sender).
	From []byte
	// Flags are the MSG_* flags to report in msg_flags (MSG_TRUNC,
	// MSG_CTRUNC, MSG_EOR, MSG_OOB, MSG_ERRQUEUE).
	Flags int
	// Control are the control messages that came with the data.
	Control ControlMessages
}

// ControlMessages are decoded ancillary data.
type ControlMessages struct {
	// Rights are SCM_RIGHTS' files, in order; each is a reference the
	// holder owns (Release drops them).
	Rights []*vfs.FileDescription
	// Creds is SCM_CREDENTIALS: on a send, what the sender claimed (the
	// socket layer checked it as Linux's scm_check_creds); on a
	// receive, what to deliver (only when the receiver asked with
	// SO_PASSCRED).
	Creds *Ucred
	// Other are messages neither of the above: families interpret the
	// levels they know (IPPROTO_IP...) on sends and return theirs on
	// receives, in order.
	Other []RawControl
}

// RawControl is one control message the socket layer does not interpret.
type RawControl struct {
	Level, Type int32
	Data        []byte
}

// Release drops the references the messages hold.
func (c *ControlMessages) Release() {
	for _, f := range c.Rights {
		f.DecRef()
	}
	c.Rights = nil
}

// Empty reports whether there is nothing to deliver.
func (c *ControlMessages) Empty() bool {
	return len(c.Rights) == 0 && c.Creds == nil && len(c.Other) == 0
}

// ReleaseRights drops the references of rights.
func ReleaseRights(rights []*vfs.FileDescription) {
	for _, f := range rights {
		f.DecRef()
	}
}

// HasCapability reports whether the caller holds capability cp (the
// sentry itself holds every one).
func (c *Context) HasCapability(cp linux.Capability) bool {
	return c == nil || c.Creds.HasCapability(cp)
}
