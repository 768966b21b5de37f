package test

// config.json's privileges (issue 14 item 3): process.capabilities,
// noNewPrivileges, rlimits and linux.resources.pids.limit, as
// /proc/self/status, ulimit and the permission checks show them, compared
// with runc on the same bundle.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// privilegesScript shows the process's identity, capability sets and
// no_new_privs, its limits, a check that needs CAP_CHOWN, one that needs
// CAP_KILL (signalling another user's process), and how many processes
// it can fork under the pids limit (bomb: sh and bomb itself count).
const privilegesScript = `grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status
echo "nofile: $(ulimit -Sn) $(ulimit -Hn)"
echo "nproc: $(ulimit -Su) $(ulimit -Hu)"
echo "stack: $(ulimit -Ss)"
touch /tmp/f && chown 1:1 /tmp/f 2>&1 | sed 's/.*: //' && ls -n /tmp/f | awk '{print "owner", $3, $4}'
/bomb procs 100
`

// TestOCIPrivilegesVsRunc runs bundles with capability sets,
// noNewPrivileges, rlimits and a pids limit under runc and under
// runsc-lite: root with a cut-down bounding set and no_new_privs, and a
// non-root user with an ambient capability (execve leaves a non-root
// program its ambient set only). What each shows must be the same.
func TestOCIPrivilegesVsRunc(t *testing.T) {
	runc := runcRuntime(t)
	rl := runscRuntime(t)
	bomb := cProg(t, "bomb")
	pids := int64(20)
	cases := []struct {
		name string
		user specs.User
		caps *specs.LinuxCapabilities
		nnp  bool
	}{
		{"root, five capabilities, no_new_privs", specs.User{UID: 0, GID: 0},
			&specs.LinuxCapabilities{
				Bounding:    []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"},
				Effective:   []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"},
				Permitted:   []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"},
				Inheritable: []string{"CAP_KILL"},
				Ambient:     []string{"CAP_KILL"},
			}, true},
		// runc applies no capabilities at all when the config names
		// none.
		{"root, no process.capabilities", specs.User{UID: 0, GID: 0}, nil, false},
		{"user 1000, ambient CAP_CHOWN", specs.User{UID: 1000, GID: 1000},
			&specs.LinuxCapabilities{
				Bounding:    []string{"CAP_CHOWN", "CAP_KILL"},
				Effective:   []string{"CAP_CHOWN", "CAP_KILL"},
				Permitted:   []string{"CAP_CHOWN", "CAP_KILL"},
				Inheritable: []string{"CAP_CHOWN"},
				Ambient:     []string{"CAP_CHOWN"},
			}, false},
	}
	for _, tc := range cases {
		spec := baseSpec("/bin/sh", "-c", privilegesScript)
		spec.Process.User = tc.user
		spec.Process.Capabilities = tc.caps
		spec.Process.NoNewPrivileges = tc.nnp
		spec.Process.Rlimits = []specs.POSIXRlimit{
			{Type: "RLIMIT_NOFILE", Soft: 256, Hard: 512},
			{Type: "RLIMIT_NPROC", Soft: 1000, Hard: 2000},
			{Type: "RLIMIT_STACK", Soft: 4 << 20, Hard: 8 << 20},
		}
		spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}
		var outs [2]string
		for i, r := range []*ociRuntime{runc, rl} {
			b := makeBundle(t, spec)
			data, err := os.ReadFile(bomb)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(b, "rootfs/bomb"), data, 0o755)
			os.Chmod(filepath.Join(b, "rootfs/tmp"), 0o1777)
			res := r.do(t, runOpts{}, "run", "--bundle", b, "priv")
			if res.Status != 0 {
				t.Fatalf("%s: %s run: status %d\nstdout:\n%s\nstderr:\n%s", tc.name, r.name, res.Status, res.Stdout, tail(res.Stderr, 20))
			}
			outs[i] = res.Stdout
		}
		if outs[0] != outs[1] {
			t.Errorf("%s: runc and runsc-lite disagree (- runc, + runsc-lite):\n%s", tc.name, diff(outs[0], outs[1]))
		} else {
			t.Logf("%s: both show:\n%s", tc.name, outs[1])
		}
	}
}

// seccompScript tries what the profile of TestOCISeccompVsRunc refuses
// (mkdir: EPERM, chmod: EACCES, sethostname: the process killed) and what it
// allows, and shows the process's seccomp mode.
const seccompScript = `mkdir /tmp/d 2>&1; echo "mkdir: $?"
touch /tmp/f; chmod 600 /tmp/f 2>&1; echo "chmod: $?"
hostname sandboxed >/dev/null 2>&1; echo "hostname: $?"
echo allowed > /tmp/g && cat /tmp/g
grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
`

// TestOCISeccompVsRunc: linux.seccomp applied to the container's
// processes, its first and one exec starts, compared with runc on the
// same bundle: an errno with the default and with errnoRet, a kill, and
// the rest allowed.
func TestOCISeccompVsRunc(t *testing.T) {
	runc := runcRuntime(t)
	rl := runscRuntime(t)
	eacces := uint(13)
	profile := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
			{Names: []string{"chmod", "fchmodat", "fchmodat2"}, Action: specs.ActErrno, ErrnoRet: &eacces},
			{Names: []string{"sethostname"}, Action: specs.ActKillProcess},
		},
	}
	spec := baseSpec("/bin/sh", "-c", seccompScript+"sleep 1000")
	spec.Linux.Seccomp = profile
	var outs, execs [2]string
	for i, r := range []*ociRuntime{runc, rl} {
		b := makeBundle(t, spec)
		out := filepath.Join(t.TempDir(), "out")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if res := r.do(t, runOpts{Stdout: f}, "run", "--detach", "--bundle", b, "sec"); res.Status != 0 {
			t.Fatalf("%s run: status %d\n%s", r.name, res.Status, tail(res.Stderr, 20))
		}
		f.Close()
		for deadline := time.Now().Add(time.Minute); !strings.Contains(readFile(t, out), "NoNewPrivs") && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		}
		outs[i] = readFile(t, out)
		execs[i] = r.do(t, runOpts{}, "exec", "sec", "/bin/sh", "-c", "rm -f /tmp/g; "+seccompScript).Stdout
		r.must(t, "delete", "--force", "sec")
	}
	if outs[0] != outs[1] {
		t.Errorf("the container's first process: runc and runsc-lite disagree (- runc, + runsc-lite):\n%s", diff(outs[0], outs[1]))
	} else {
		t.Logf("both show:\n%s", outs[1])
	}
	if execs[0] != execs[1] {
		t.Errorf("an exec'd process: runc and runsc-lite disagree (- runc, + runsc-lite):\n%s", diff(execs[0], execs[1]))
	}
}
