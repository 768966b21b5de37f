package procfs

// /proc/PID/mem: the process's memory at file offsets equal to addresses,
// read and written as a debugger does (gdb reads its tracee's memory
// through it), past the mappings' protections (mm.ForceCopyIn/Out).

import (
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/mm"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// memNode is /proc/PID/mem of thread th.
type memNode struct {
	attr synth.Attr
	th   *process.Thread
}

// Type implements fs.Node.
func (n *memNode) Type() uint32 { return unix.S_IFREG }

// Stat implements fs.Node.
func (n *memNode) Stat(ctx *fs.Context) (linux.Statx, error) {
	return synth.NewFile(n.attr, nil).Stat(ctx)
}

// Open implements fs.Node: the opener must be allowed to trace the
// process (Linux's mm_access with PTRACE_MODE_ATTACH); the file keeps the
// address space it was opened on.
func (n *memNode) Open(ctx *fs.Context, flags uint32) (fs.File, error) {
	if n.th == nil {
		return nil, unix.ENOENT
	}
	if ctx != nil && ctx.Task != nil {
		if caller, ok := ctx.Task.Ext.(*process.Thread); ok && !caller.MayPtrace(n.th) {
			return nil, unix.EACCES
		}
	}
	m := n.th.TG.MM()
	if m == nil {
		return nil, unix.ENOENT
	}
	f := &memFile{m: m}
	f.PositionalFile.Data = f
	return f, nil
}

type memFile struct {
	fs.PositionalFile
	m *mm.MemoryManager
}

func (f *memFile) ReadAt(ctx *fs.Context, dst []byte, off int64) (int, error) {
	n, err := f.m.ForceCopyIn(uintptr(off), dst)
	if n == 0 && err != nil && len(dst) > 0 {
		return 0, unix.EIO
	}
	return n, nil
}

func (f *memFile) WriteAt(ctx *fs.Context, src []byte, off int64) (int, error) {
	n, err := f.m.ForceCopyOut(uintptr(off), src)
	if n == 0 && err != nil && len(src) > 0 {
		return 0, unix.EIO
	}
	return n, nil
}

func (f *memFile) Size(ctx *fs.Context) (int64, error) { return 0, nil }

func (f *memFile) Release() {}
