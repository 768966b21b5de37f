package procfs

import (
	"sort"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/socket"
	"golang.org/x/sys/unix"
)

// /proc/PID/net (what /proc/net links to) and /proc/sys/net: the files the
// sandbox's socket families contribute through the socket registry
// (/proc/net/unix from AF_UNIX, /proc/sys/net/core from the socket
// layer, the network stack's own). The directories are computed at each
// lookup, so a family registered after boot shows its files.

// netFilesDir returns the directory of the registry's files under prefix
// ("" or "core/"), in /proc/sys/net when sys, else /proc/net.
func (p *procFS) netFilesDir(sys bool, prefix string) *synth.Dir {
	d := p.dir()
	files := func() []socket.ProcFile {
		var out []socket.ProcFile
		for _, f := range p.s.Sockets.ProcFiles() {
			if f.Sys == sys && strings.HasPrefix(f.Path, prefix) {
				out = append(out, f)
			}
		}
		return out
	}
	d.List = func(ctx *fs.Context) []fs.Dirent {
		seen := map[string]uint8{}
		for _, f := range files() {
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
		for _, f := range files() {
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
				return p.netFilesDir(sys, prefix+name+"/"), nil
			}
		}
		return nil, unix.ENOENT
	}
	return d
}
