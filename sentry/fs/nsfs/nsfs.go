// Package nsfs is the namespace filesystem: the inode numbers that name
// namespaces (what `ls -l /proc/PID/ns` shows as mnt:[4026532193]) and the
// files /proc/PID/ns/* open to, which setns(2) takes to join a namespace.
//
// A Node names one namespace of one kind; opening it gives a file that
// holds the namespace (keeping it alive) and can only be passed to setns
// or stat'ed: its inode number is the namespace's, on nsfs's one device.
//
// Locking: a Node is immutable; the inode counter is atomic.
package nsfs

import (
	"fmt"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// firstIno is where Linux's proc_alloc_inum starts handing out numbers
// for namespaces made after boot (PROC_DYNAMIC_FIRST plus its fixed ones);
// the sandbox's namespaces are all "made after boot" as seen from a host.
const firstIno = 0xF0000000 + 0x100

var lastIno atomic.Uint64

func init() { lastIno.Store(firstIno) }

// NewIno returns a namespace inode number no other namespace has.
func NewIno() uint64 { return lastIno.Add(1) }

// Namespace is what a Node names: a namespace of some kind.
type Namespace interface {
	// Ino returns the namespace's inode number (NewIno's).
	Ino() uint64
}

// Holder is a Namespace counted by its users (a network namespace, whose
// stack is closed when the last goes): an open nsfs file holds a
// reference. TryIncRef fails for a namespace already gone.
type Holder interface {
	TryIncRef() bool
	DecRef()
}

// Kind names a namespace type as /proc/PID/ns does, with the clone flag
// that selects it in setns.
type Kind struct {
	Name string // "mnt", "uts", "ipc", "pid", "user", "cgroup", "time", "net"
	Flag uint64 // CLONE_NEWNS, CLONE_NEWUTS, ...
}

// Kinds are the namespace kinds in /proc/PID/ns's order.
var Kinds = []Kind{
	{"cgroup", unix.CLONE_NEWCGROUP},
	{"ipc", unix.CLONE_NEWIPC},
	{"mnt", unix.CLONE_NEWNS},
	{"net", unix.CLONE_NEWNET},
	{"pid", unix.CLONE_NEWPID},
	{"pid_for_children", unix.CLONE_NEWPID},
	{"time", unix.CLONE_NEWTIME},
	{"time_for_children", unix.CLONE_NEWTIME},
	{"user", unix.CLONE_NEWUSER},
	{"uts", unix.CLONE_NEWUTS},
}

// LinkTarget is the text of /proc/PID/ns/NAME: "mnt:[4026532193]".
func LinkTarget(kind Kind, ns Namespace) string {
	name := kind.Name
	switch name {
	case "pid_for_children":
		name = "pid"
	case "time_for_children":
		name = "time"
	}
	return fmt.Sprintf("%s:[%d]", name, ns.Ino())
}

// dev is nsfs's one anonymous device.
var dev = fs.NewAnonInode()

// Node is the nsfs inode of one namespace: what opening /proc/PID/ns/X
// gives.
type Node struct {
	Kind Kind
	NS   Namespace
}

// Type implements fs.Node: nsfs inodes are regular files.
func (n *Node) Type() uint32 { return unix.S_IFREG }

// Stat implements fs.Node: the namespace's inode number, mode 0444, on
// nsfs's device.
func (n *Node) Stat(ctx *fs.Context) (linux.Statx, error) {
	st := dev.Stat(linux.StatxTimestamp{}, 0)
	st.Mode = unix.S_IFREG | 0444
	st.Ino = n.NS.Ino()
	return st, nil
}

// Open implements fs.Node: the file holds the namespace; reading it is
// EINVAL, as Linux's nsfs.
func (n *Node) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	h, _ := n.NS.(Holder)
	if h != nil && !h.TryIncRef() {
		return nil, unix.ENOENT
	}
	return &file{holder: h}, nil
}

// file is an open nsfs file; holder is its namespace's reference, if
// counted.
type file struct {
	fs.StreamFile
	holder Holder
}

func (*file) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error)  { return 0, unix.EINVAL }
func (*file) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) { return 0, unix.EINVAL }
func (f *file) Release() {
	if f.holder != nil {
		f.holder.DecRef()
	}
}
