package procfs

import (
	"sort"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
)

// /proc/PID/net (what /proc/net links to) and /proc/sys/net: the files the
// sandbox's socket families contribute through the socket registry
// (/proc/net/unix from AF_UNIX, /proc/sys/net/core from the socket
// layer, the network stack's own). The directories are computed at each
// lookup, so a family registered after boot shows its files.

// netFilesDir returns the directory of the registry's files under prefix
// ("" or "core/"), in /proc/sys/net when sys, else /proc/net. th is the
// thread whose network namespace /proc/PID/net shows; nil: the reader's
// (/proc/sys/net).
func (p *procFS) netFilesDir(th *process.Thread, sys bool, prefix string) *synth.Dir {
	d := p.dir()
	files := func(ctx *fs.Context) []socket.ProcFile {
		var out []socket.ProcFile
		for _, f := range p.netRegistry(ctx, th).ProcFiles() {
			if f.Sys == sys && strings.HasPrefix(f.Path, prefix) {
				out = append(out, f)
			}
		}
		return out
	}
	d.List = func(ctx *fs.Context) []fs.Dirent {
		seen := map[string]uint8{}
		for _, f := range files(ctx) {
			rest := f.Path[len(prefix):]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				seen[rest[:i]] = unix.DT_DIR
			} else if _, ok := seen[rest]; !ok {
				seen[rest] = unix.DT_REG
			}
		}
		names := make([]string, 0, len(seen))
		for n := range seen {
			names = append(names, n)
		}
		sort.Strings(names)
		out := make([]fs.Dirent, 0, len(names))
		for _, n := range names {
			out = append(out, fs.Dirent{Name: n, Type: seen[n], Ino: synth.NewIno()})
		}
		return out
	}
	d.Find = func(ctx *fs.Context, name string) (fs.Node, error) {
		for _, f := range files(ctx) {
			rest := f.Path[len(prefix):]
			if rest == name {
				read, write := f.Read, f.Write
				if write == nil {
					return p.text(func(*fs.Context) string { return read() }), nil
				}
				file := p.file(0644, func(*fs.Context) ([]byte, error) { return []byte(read()), nil })
				file.Set = func(ctx *fs.Context, data []byte) error { return write(data) }
				return file, nil
			}
			if strings.HasPrefix(rest, name+"/") {
				return p.netFilesDir(th, sys, prefix+name+"/"), nil
			}
		}
		return nil, unix.ENOENT
	}
	return d
}

// netRegistry returns the socket families of th's network namespace, or
// of the reader's when th is nil.
func (p *procFS) netRegistry(ctx *fs.Context, th *process.Thread) *socket.Registry {
	if th == nil && ctx != nil && ctx.Task != nil {
		th = thread(ctx.Task)
	}
	if th != nil {
		return th.NetNS().Sockets
	}
	return p.s.Sockets
}
