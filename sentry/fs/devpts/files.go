package devpts

import (
	"sync/atomic"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/tty"
)

// MasterFile is an open master (from ptmx).
type MasterFile struct {
	fs.StreamFile
	f         *Filesystem
	t         *tty.Terminal
	readable  bool
	exclusive bool // the master's own TIOCEXCL
	released  atomic.Bool
}

// Terminal returns the file's terminal.
func (m *MasterFile) Terminal() *tty.Terminal { return m.t }

// Peer returns the filesystem and node of the master's replica, for
// TIOCGPTPEER.
func (m *MasterFile) Peer() (*Filesystem, fs.Node) { return m.f, m.f.ReplicaNode(m.t) }

// Read implements fs.File.
func (m *MasterFile) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	return m.t.MasterRead(ctx, dst, fl)
}

// Write implements fs.File.
func (m *MasterFile) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return m.t.MasterWrite(ctx, src, fl)
}

// Release implements fs.File: the last close of the master hangs the
// replica up and removes /dev/pts/N.
func (m *MasterFile) Release() {
	if m.released.Swap(true) {
		return
	}
	m.t.CloseMaster()
	m.f.release(m.t)
}

// Readiness implements fs.Waitable.
func (m *MasterFile) Readiness(mask uint32) uint32 { return m.t.MasterReadiness(mask) }

// Watch implements fs.Waitable.
func (m *MasterFile) Watch(mask uint32, fn fs.WatchFunc) func() { return m.t.WatchMaster(mask, fn) }

// Ioctl implements fs.Ioctler.
func (m *MasterFile) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	return m.t.Ioctl(ctx, tty.Side{Master: true, Readable: m.readable, OwnExclusive: &m.exclusive}, cmd, arg)
}

// ReplicaFile is an open /dev/pts/N (or /dev/tty).
type ReplicaFile struct {
	fs.StreamFile
	f        *Filesystem
	t        *tty.Terminal
	readable bool
	released atomic.Bool
}

// Terminal returns the file's terminal.
func (r *ReplicaFile) Terminal() *tty.Terminal { return r.t }

// Read implements fs.File.
func (r *ReplicaFile) Read(ctx *fs.Context, dst []byte, fl uint32) (int, error) {
	return r.t.ReplicaRead(ctx, dst, fl)
}

// Write implements fs.File.
func (r *ReplicaFile) Write(ctx *fs.Context, src []byte, fl uint32) (int, error) {
	return r.t.ReplicaWrite(ctx, src, fl)
}

// Release implements fs.File.
func (r *ReplicaFile) Release() {
	if r.released.Swap(true) {
		return
	}
	r.t.CloseReplica()
	r.f.release(r.t)
}

// Readiness implements fs.Waitable.
func (r *ReplicaFile) Readiness(mask uint32) uint32 { return r.t.ReplicaReadiness(mask) }

// Watch implements fs.Waitable.
func (r *ReplicaFile) Watch(mask uint32, fn fs.WatchFunc) func() { return r.t.WatchReplica(mask, fn) }

// Ioctl implements fs.Ioctler.
func (r *ReplicaFile) Ioctl(ctx *fs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	return r.t.Ioctl(ctx, tty.Side{Readable: r.readable}, cmd, arg)
}
