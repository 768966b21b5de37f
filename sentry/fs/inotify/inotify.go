// Package inotify is inotify(7) for the sandbox: the inotify file an
// inotify_init returns (Instance: its watches, its event queue, reads,
// readiness, FIONREAD, fdinfo), and the registry of watches that the VFS
// tells what happens to files (Linux's fsnotify hooks, called from
// package sentry/vfs: Notify, NotifyName, Removed, Released, Unmounted).
//
// A watch is on a file, identified by its fs.FileKey, so it sees what the
// sandbox does to the file through any path, mount or overlay layer (a
// copy-up keeps the key). Events come from the sandbox's own operations
// only: a volume's files changed by host processes are not seen (no host
// inotify is used; the sentry would need a host watch per sandbox watch,
// and the host's events would name host paths).
//
// Event semantics follow Linux's: an event about a file goes to the file's
// watches and, with the file's name, to its directory's watches (the
// child events: ACCESS, MODIFY, ATTRIB, CLOSE_*, OPEN), directory-entry
// events (CREATE, DELETE, MOVED_FROM, MOVED_TO) go to the directory's
// watches; the directory's watch is served before the file's own; MOVE
// pairs share a cookie; an event identical to the last one queued is
// merged into it; at max_queued_events one IN_Q_OVERFLOW (wd -1) ends the
// queue; IN_ONESHOT watches go after their first event, with IN_IGNORED;
// a file's last link going (once no open description holds it) sends
// DELETE_SELF and IGNORED; an unmounted filesystem sends UNMOUNT and
// IGNORED to the watches of its files.
//
// Locking: reg.mu (the registry) is taken before Instance.mu; neither is
// held while a reader wakes (Notify runs without either) or across a
// wait. Instance.mu protects the instance's watches and queue.
package inotify

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Name is the file's name in /proc/PID/fd.
const Name = "anon_inode:inotify"

// eventSize is sizeof(struct inotify_event) without the name.
const eventSize = 16

// childEvents are the events a directory's watch receives about its
// entries (with their names).
const childEvents = unix.IN_ACCESS | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
	unix.IN_CLOSE_NOWRITE | unix.IN_OPEN

// allBits are the bits inotify_add_watch knows (ALL_INOTIFY_BITS).
const allBits = unix.IN_ALL_EVENTS | unix.IN_UNMOUNT | unix.IN_Q_OVERFLOW | unix.IN_IGNORED |
	unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK | unix.IN_MASK_ADD |
	unix.IN_MASK_CREATE | unix.IN_ISDIR | unix.IN_ONESHOT

// Limits are the /proc/sys/fs/inotify values (Linux's defaults; the
// watches limit is the host's value when boot sets it).
var Limits struct {
	MaxQueuedEvents  atomic.Int64
	MaxUserInstances atomic.Int64
	MaxUserWatches   atomic.Int64
}

func init() {
	Limits.MaxQueuedEvents.Store(16384)
	Limits.MaxUserInstances.Store(128)
	Limits.MaxUserWatches.Store(65536)
}

// OpenElsewhere reports whether an open file description of the sandbox
// still refers to the file key (set by boot: it looks through every
// process's descriptor table). A deleted file's DELETE_SELF waits for the
// last one to close, as Linux's waits for the file's last reference.
// nil: never.
var OpenElsewhere func(key fs.FileKey) bool

// anonInode is the anonymous inode every one of these files shares.
var anonInode = fs.NewAnonInode()

// watch is one inotify watch.
type watch struct {
	inst  *Instance
	wd    int32
	key   fs.FileKey
	mask  uint32 // events and IN_ONESHOT / IN_EXCL_UNLINK
	isDir bool
	fsys  any // the filesystem the file is in (for Unmounted)
	seq   uint64
}

var reg struct {
	mu      sync.RWMutex
	watches map[fs.FileKey][]*watch
	// pending are deleted files still open: their DELETE_SELF waits.
	pending map[fs.FileKey]bool
	count   atomic.Int64 // watches in the registry: zero makes every hook free
	seq     uint64
	cookie  atomic.Uint32
	// per effective UID: instances and watches (the user limits).
	instances map[uint32]int
	users     map[uint32]int
}

// Active reports whether any watch exists: the VFS's hooks do nothing
// (not even compute file keys) when none does.
func Active() bool { return reg.count.Load() != 0 }

// NewCookie returns a cookie for a MOVED_FROM/MOVED_TO pair.
func NewCookie() uint32 {
	for {
		if c := reg.cookie.Add(1); c != 0 {
			return c
		}
	}
}

// event is one queued event.
type event struct {
	wd     int32
	mask   uint32
	cookie uint32
	name   string
}

func (e *event) size() int {
	if e.name == "" {
		return eventSize
	}
	return eventSize + paddedLen(e.name)
}

// paddedLen is the name's length field: the name, its NUL, rounded up to
// a multiple of the event header's size, as Linux pads it.
func paddedLen(name string) int { return (len(name) + 1 + eventSize - 1) / eventSize * eventSize }

// Instance is an inotify file.
type Instance struct {
	fs.StreamFile
	uid     uint32
	created linux.StatxTimestamp
	max     int

	mu         sync.Mutex
	wds        map[int32]*watch
	byKey      map[fs.FileKey]*watch
	nextWD     int32
	queue      []event
	bytes      int
	overflowed bool // an IN_Q_OVERFLOW is queued
	released   bool

	rq       kernel.WaitQueue
	notifier fs.Notifier
}

// New returns an inotify instance for the user euid: EMFILE past
// max_user_instances.
func New(euid uint32) (*Instance, error) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.instances == nil {
		reg.instances = map[uint32]int{}
		reg.users = map[uint32]int{}
		reg.watches = map[fs.FileKey][]*watch{}
		reg.pending = map[fs.FileKey]bool{}
	}
	if int64(reg.instances[euid]) >= Limits.MaxUserInstances.Load() {
		return nil, unix.EMFILE
	}
	reg.instances[euid]++
	return &Instance{
		uid:     euid,
		created: fs.Now(),
		max:     int(Limits.MaxQueuedEvents.Load()),
		wds:     map[int32]*watch{},
		byKey:   map[fs.FileKey]*watch{},
		nextWD:  1,
	}, nil
}

// AddWatch is inotify_add_watch for the file key (already resolved, with
// IN_DONT_FOLLOW and IN_ONLYDIR applied by the caller): a new watch, or the
// existing one's mask replaced (or extended, IN_MASK_ADD). It returns the
// watch descriptor. EEXIST with IN_MASK_CREATE on a watched file, ENOSPC
// past max_user_watches.
func (in *Instance) AddWatch(key fs.FileKey, isDir bool, fsys any, mask uint32) (int32, error) {
	keep := mask&(unix.IN_ALL_EVENTS|unix.IN_ONESHOT|unix.IN_EXCL_UNLINK) | unix.IN_UNMOUNT
	reg.mu.Lock()
	defer reg.mu.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.released {
		return 0, unix.EBADF
	}
	if w := in.byKey[key]; w != nil {
		if mask&unix.IN_MASK_CREATE != 0 {
			return 0, unix.EEXIST
		}
		if mask&unix.IN_MASK_ADD != 0 {
			keep |= w.mask
		}
		w.mask = keep
		return w.wd, nil
	}
	if int64(reg.users[in.uid]) >= Limits.MaxUserWatches.Load() {
		return 0, unix.ENOSPC
	}
	reg.users[in.uid]++
	reg.seq++
	w := &watch{inst: in, wd: in.nextWD, key: key, mask: keep, isDir: isDir, fsys: fsys, seq: reg.seq}
	in.nextWD++
	in.wds[w.wd] = w
	in.byKey[key] = w
	reg.watches[key] = append(reg.watches[key], w)
	reg.count.Add(1)
	return w.wd, nil
}

// RmWatch is inotify_rm_watch: the watch goes, with an IN_IGNORED event.
// EINVAL for a descriptor that is not a watch of the instance.
func (in *Instance) RmWatch(wd int32) error {
	reg.mu.Lock()
	in.mu.Lock()
	w := in.wds[wd]
	if w == nil {
		in.mu.Unlock()
		reg.mu.Unlock()
		return unix.EINVAL
	}
	removeLocked(w)
	in.mu.Unlock()
	reg.mu.Unlock()
	in.queueEvent(event{wd: wd, mask: unix.IN_IGNORED})
	return nil
}

// removeLocked takes w out of the registry and its instance.
// Preconditions: reg.mu and w.inst.mu are held.
func removeLocked(w *watch) {
	in := w.inst
	delete(in.wds, w.wd)
	if in.byKey[w.key] == w {
		delete(in.byKey, w.key)
	}
	ws := reg.watches[w.key]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(reg.watches, w.key)
	} else {
		reg.watches[w.key] = ws
	}
	reg.count.Add(-1)
	if reg.users[in.uid]--; reg.users[in.uid] <= 0 {
		delete(reg.users, in.uid)
	}
}

// queueEvent adds e to the queue: merged into an identical last event,
// or replaced by the overflow event past the queue's limit.
func (in *Instance) queueEvent(e event) {
	in.mu.Lock()
	if in.released {
		in.mu.Unlock()
		return
	}
	if n := len(in.queue); n > 0 {
		if last := in.queue[n-1]; last == e && e.mask != unix.IN_Q_OVERFLOW {
			in.mu.Unlock()
			return
		}
	}
	if len(in.queue) >= in.max {
		if in.overflowed {
			in.mu.Unlock()
			return
		}
		in.overflowed = true
		e = event{wd: -1, mask: unix.IN_Q_OVERFLOW}
	}
	in.queue = append(in.queue, e)
	in.bytes += e.size()
	in.mu.Unlock()
	in.rq.NotifyAll()
	in.notifier.Notify(unix.POLLIN)
}

// delivery is an event on its way to a watch.
type delivery struct {
	w    *watch
	name string
}

// Notify tells the watches that mask happened to the file key (a
// directory if isDir): the file's own watches, and, when parent is not
// nil, the watches of its directory parent with the file's name (for the
// child events). unlinked, if not nil, reports whether the file has no
// link left (IN_EXCL_UNLINK watches skip such files' events); it is only
// called when such a watch would receive the event.
func Notify(parent *fs.FileKey, name string, key fs.FileKey, isDir bool, mask uint32, unlinked func() bool) {
	if !Active() {
		return
	}
	var ds []delivery
	reg.mu.RLock()
	if parent != nil && mask&childEvents != 0 {
		for _, w := range reg.watches[*parent] {
			if w.isDir && w.mask&mask&childEvents != 0 {
				ds = append(ds, delivery{w, name})
			}
		}
	}
	for _, w := range reg.watches[key] {
		if w.mask&mask != 0 {
			ds = append(ds, delivery{w, ""})
		}
	}
	reg.mu.RUnlock()
	if isDir {
		mask |= unix.IN_ISDIR
	}
	deliver(ds, mask, 0, unlinked)
}

// NotifyName tells the watches of directory dir about its entry name:
// IN_CREATE, IN_DELETE, IN_MOVED_FROM or IN_MOVED_TO (with cookie), about
// a directory if isDir.
func NotifyName(dir fs.FileKey, name string, mask uint32, cookie uint32, isDir bool) {
	if !Active() {
		return
	}
	var ds []delivery
	reg.mu.RLock()
	for _, w := range reg.watches[dir] {
		if w.isDir && w.mask&mask != 0 {
			ds = append(ds, delivery{w, name})
		}
	}
	reg.mu.RUnlock()
	if isDir {
		mask |= unix.IN_ISDIR
	}
	deliver(ds, mask, cookie, nil)
}

func deliver(ds []delivery, mask, cookie uint32, unlinked func() bool) {
	checked, gone := false, false
	for _, d := range ds {
		if d.w.mask&unix.IN_EXCL_UNLINK != 0 && unlinked != nil {
			if !checked {
				gone, checked = unlinked(), true
			}
			if gone {
				continue
			}
		}
		m := mask
		if m&(unix.IN_MOVE_SELF|unix.IN_DELETE_SELF) != 0 {
			m &^= unix.IN_ISDIR
		}
		d.w.inst.queueEvent(event{wd: d.w.wd, mask: m, cookie: cookie, name: d.name})
		if d.w.mask&unix.IN_ONESHOT != 0 {
			drop(d.w)
		}
	}
}

// drop removes w (if still there) and queues its IN_IGNORED.
func drop(w *watch) {
	reg.mu.Lock()
	w.inst.mu.Lock()
	there := w.inst.wds[w.wd] == w
	if there {
		removeLocked(w)
	}
	w.inst.mu.Unlock()
	reg.mu.Unlock()
	if there {
		w.inst.queueEvent(event{wd: w.wd, mask: unix.IN_IGNORED})
	}
}

// Removed tells the registry that the file key lost its last link: its
// watches get IN_DELETE_SELF and IN_IGNORED now, or when the last open
// description of it closes (Released).
func Removed(key fs.FileKey) {
	if !Active() {
		return
	}
	reg.mu.RLock()
	watched := len(reg.watches[key]) > 0
	reg.mu.RUnlock()
	if !watched {
		return
	}
	if OpenElsewhere != nil && OpenElsewhere(key) {
		reg.mu.Lock()
		reg.pending[key] = true
		reg.mu.Unlock()
		return
	}
	deleteSelf(key)
}

// Pending reports whether a deleted file's DELETE_SELF waits for the
// close of its descriptions (the VFS then calls Released at each last
// close of a description of a file).
func Pending() bool {
	if !Active() {
		return false
	}
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return len(reg.pending) > 0
}

// Released tells the registry that a description of key was released;
// if key's deletion waits and no description is left, the watches get
// their DELETE_SELF.
func Released(key fs.FileKey) {
	reg.mu.RLock()
	p := reg.pending[key]
	reg.mu.RUnlock()
	if !p || (OpenElsewhere != nil && OpenElsewhere(key)) {
		return
	}
	reg.mu.Lock()
	delete(reg.pending, key)
	reg.mu.Unlock()
	deleteSelf(key)
}

func deleteSelf(key fs.FileKey) {
	reg.mu.RLock()
	ws := append([]*watch(nil), reg.watches[key]...)
	reg.mu.RUnlock()
	for _, w := range ws {
		if w.mask&unix.IN_DELETE_SELF != 0 {
			w.inst.queueEvent(event{wd: w.wd, mask: unix.IN_DELETE_SELF})
		}
		drop(w)
	}
}

// Unmounted tells the registry that filesystem fsys was unmounted: the
// watches of its files get IN_UNMOUNT and IN_IGNORED (the most recently
// created files first, as Linux walks a superblock's inodes).
func Unmounted(fsys any) {
	if !Active() {
		return
	}
	var ws []*watch
	reg.mu.RLock()
	for _, list := range reg.watches {
		for _, w := range list {
			if w.fsys == fsys {
				ws = append(ws, w)
			}
		}
	}
	reg.mu.RUnlock()
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].key.Ino != ws[j].key.Ino {
			return ws[i].key.Ino > ws[j].key.Ino
		}
		return ws[i].seq < ws[j].seq
	})
	for _, w := range ws {
		m := uint32(unix.IN_UNMOUNT)
		if w.isDir {
			m |= unix.IN_ISDIR
		}
		w.inst.queueEvent(event{wd: w.wd, mask: m})
		drop(w)
	}
}

// Type implements fs.Node: anonymous inodes have no file type bits.
func (in *Instance) Type() uint32 { return 0 }

// Stat implements fs.Node: the shared anonymous inode, mode 0600.
func (in *Instance) Stat(ctx *fs.Context) (linux.Statx, error) {
	return anonInode.Stat(in.created, in.uid), nil
}

// Open implements fs.Node: an anonymous inode cannot be reopened.
func (in *Instance) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	return nil, unix.ENXIO
}

// Read implements fs.File: as many whole events as fit in dst (EINVAL if
// not even the first does). It blocks while the queue is empty, unless
// O_NONBLOCK (EAGAIN).
func (in *Instance) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	for {
		in.mu.Lock()
		if len(in.queue) > 0 {
			n := 0
			k := 0
			for k < len(in.queue) {
				e := &in.queue[k]
				sz := e.size()
				if n+sz > len(dst) {
					break
				}
				b := dst[n : n+sz]
				binary.LittleEndian.PutUint32(b[0:], uint32(e.wd))
				binary.LittleEndian.PutUint32(b[4:], e.mask)
				binary.LittleEndian.PutUint32(b[8:], e.cookie)
				binary.LittleEndian.PutUint32(b[12:], uint32(sz-eventSize))
				clear(b[eventSize:])
				copy(b[eventSize:], e.name)
				if e.mask == unix.IN_Q_OVERFLOW {
					in.overflowed = false
				}
				n += sz
				k++
			}
			if k == 0 {
				in.mu.Unlock()
				return 0, unix.EINVAL
			}
			in.queue = append(in.queue[:0:0], in.queue[k:]...)
			in.bytes -= n
			in.mu.Unlock()
			return n, nil
		}
		in.mu.Unlock()
		if fl&unix.O_NONBLOCK != 0 {
			return 0, unix.EAGAIN
		}
		if err := ctx.Block(&in.rq, func() bool {
			in.mu.Lock()
			defer in.mu.Unlock()
			return len(in.queue) > 0
		}); err != nil {
			return 0, err
		}
	}
}

// Write implements fs.File: inotify files are not writable.
func (in *Instance) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return 0, unix.EINVAL
}

// Release implements fs.File: every watch goes (no IN_IGNORED: nobody is
// left to read it).
func (in *Instance) Release() {
	reg.mu.Lock()
	in.mu.Lock()
	for _, w := range in.wds {
		removeLocked(w)
	}
	in.released = true
	in.queue = nil
	in.mu.Unlock()
	if reg.instances[in.uid]--; reg.instances[in.uid] <= 0 {
		delete(reg.instances, in.uid)
	}
	reg.mu.Unlock()
}

// Readiness implements fs.Waitable: readable while events are queued.
func (in *Instance) Readiness(mask uint32) uint32 {
	in.mu.Lock()
	n := len(in.queue)
	in.mu.Unlock()
	var ev uint32
	if n > 0 {
		ev = unix.POLLIN | linux.POLLRDNORM
	}
	return ev & (mask | unix.POLLERR | unix.POLLHUP)
}

// Watch implements fs.Waitable.
func (in *Instance) Watch(mask uint32, fn fs.WatchFunc) (cancel func()) {
	return in.notifier.Watch(mask, fn)
}

// Ioctl implements fs.Ioctler: FIONREAD is the size of the queued events.
func (in *Instance) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	if cmd != linux.FIONREAD {
		return 0, unix.ENOTTY
	}
	in.mu.Lock()
	n := in.bytes
	in.mu.Unlock()
	return 0, ctx.PutIntArg(arg, int32(n))
}

// FDInfo implements fs.FDInfoer: one line per watch, newest first, as
// Linux's inotify_fdinfo (wd, inode, device, mask, and a file handle made
// of the inode number).
func (in *Instance) FDInfo() string {
	in.mu.Lock()
	ws := make([]*watch, 0, len(in.wds))
	for _, w := range in.wds {
		ws = append(ws, w)
	}
	in.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].seq > ws[j].seq })
	var b strings.Builder
	for _, w := range ws {
		m := w.mask & (unix.IN_ALL_EVENTS | unix.IN_ONESHOT | unix.IN_EXCL_UNLINK)
		major, minor := unix.Major(w.key.Dev), unix.Minor(w.key.Dev)
		fmt.Fprintf(&b, "inotify wd:%x ino:%x sdev:%x mask:%x ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:",
			w.wd, w.key.Ino, major<<20|minor, m)
		var h [8]byte
		binary.LittleEndian.PutUint32(h[:], uint32(w.key.Ino))
		for _, c := range h {
			fmt.Fprintf(&b, "%02x", c)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ValidMask checks inotify_add_watch's mask: EINVAL for IN_MASK_ADD with
// IN_MASK_CREATE, or no known bit at all.
func ValidMask(mask uint32) error {
	if mask&unix.IN_MASK_ADD != 0 && mask&unix.IN_MASK_CREATE != 0 {
		return unix.EINVAL
	}
	if mask&allBits == 0 {
		return unix.EINVAL
	}
	return nil
}
