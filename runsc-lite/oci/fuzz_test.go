package oci

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/runsc-lite/runsc-lite/sentry/boot"
	inside "github.com/runsc-lite/runsc-lite/sentry/seccomp"
	"github.com/sirupsen/logrus"
)

// FuzzSpec feeds config.json contents to what create does with them:
// ParseSpec (decoding and checks), Convert (the container's spec and the
// sandbox's settings) and the network mode. Whatever the input, nothing
// panics, an error is one line (the CLI prints it as its message), and a
// config accepted gives a container spec that keeps what was checked:
// arguments, an absolute working directory and mount destinations, sane
// limits, and JSON the sentry can decode (boot.Config travels as JSON).
// The seeds (testdata/fuzz/FuzzSpec) are configs of runc's, podman's and
// containerd's shapes and near misses of the checks.
func FuzzSpec(f *testing.F) {
	ex, err := json.Marshal(Example())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ex)
	withSeccomp := Example()
	eacces := uint(13)
	withSeccomp.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7e020000, Op: specs.OpMaskedEqual}}},
			{Names: []string{"chmod"}, Action: specs.ActErrno, ErrnoRet: &eacces},
		},
	}
	if sc, err := json.Marshal(withSeccomp); err == nil {
		f.Add(sc)
	}
	bundle := f.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	oneLine := func(t *testing.T, what string, err error) {
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%s: an error of more than one line: %q", what, err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseSpec(data)
		if err != nil {
			oneLine(t, "ParseSpec", err)
			return
		}
		cs, sb, _, err := Convert(spec, bundle, "fuzz")
		if err != nil {
			oneLine(t, "Convert", err)
			return
		}
		if len(cs.Process.Args) == 0 || !filepath.IsAbs(cs.Process.Cwd) {
			t.Errorf("accepted: args %q, cwd %q", cs.Process.Args, cs.Process.Cwd)
		}
		if !filepath.IsAbs(cs.Root.Path) {
			t.Errorf("accepted: root %q is not absolute", cs.Root.Path)
		}
		for _, m := range cs.Mounts {
			if !filepath.IsAbs(m.Destination) {
				t.Errorf("accepted: mount destination %q", m.Destination)
			}
		}
		if sc := cs.Process.Seccomp; sc != nil {
			if _, err := inside.New(sc.Program, sc.Flags); err != nil {
				t.Errorf("accepted: linux.seccomp compiled to a program the sentry refuses: %v", err)
			}
		}
		if sb.CPUs < 0 || cs.PidsLimit < 0 {
			t.Errorf("accepted: CPUs %d, pids limit %d", sb.CPUs, cs.PidsLimit)
		}
		for _, flag := range []string{"", boot.NetworkNone, boot.NetworkSandbox, boot.NetworkHost} {
			r := &Runtime{Log: quiet, Sentry: SentryFlags{Network: flag}}
			mode, netns, _, err := r.networkMode(&sb)
			if err != nil {
				oneLine(t, "networkMode", err)
				continue
			}
			if (mode == boot.NetworkSandbox) != (netns != "") || (flag != "" && mode != flag && mode != boot.NetworkNone) {
				t.Errorf("--network=%q, namespace %q, host %v: mode %q, takes over %q", flag, sb.NetNS, sb.HostNetwork, mode, netns)
			}
		}
		enc, err := json.Marshal(boot.Config{Container: cs})
		if err != nil {
			t.Fatalf("the container spec does not encode: %v", err)
		}
		var back boot.Config
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("the sentry cannot decode the container spec: %v", err)
		}
	})
}
