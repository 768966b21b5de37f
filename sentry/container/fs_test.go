package container

import (
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs/devpts"
)

func TestDevptsOptions(t *testing.T) {
	for _, c := range []struct {
		opts []string
		want devpts.Options
		bad  bool
	}{
		{nil, devpts.DefaultOptions, false},
		// runc's default devpts mount.
		{[]string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}, devpts.Options{Mode: 0620, GID: 5, PtmxMode: 0666}, false},
		{[]string{"mode=600", "max=10"}, devpts.Options{Mode: 0600, GID: devpts.NoGID, PtmxMode: 0}, false},
		{[]string{"mode=1777"}, devpts.Options{}, true},
		{[]string{"mode=8"}, devpts.Options{}, true},
		{[]string{"gid=x"}, devpts.Options{}, true},
		{[]string{"ptmxmode=-1"}, devpts.Options{}, true},
	} {
		got, err := devptsOptions(Mount{Destination: "/dev/pts", Type: "devpts", Options: c.opts})
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error, got %+v", c.opts, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.opts, got, err, c.want)
		}
	}
}
