package test

// config.json honoured inside the sandbox: the same bundle run by runc and
// by runsc-lite, the container's view of itself compared.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// configScript prints what a container sees of its configuration.
const configScript = `
echo "hostname: $(hostname)"
echo "domainname: $(cat /proc/sys/kernel/domainname)"
echo "id: $(id)"
echo "umask: $(umask)"
echo "nofile: $(ulimit -Sn) $(ulimit -Hn)"
echo "core: $(ulimit -c)"
echo "oom_score_adj: $(cat /proc/self/oom_score_adj)"
echo "env FOO: $FOO"
echo "cwd: $(pwd)"
echo "ro bind: $(cat /ro/hello)"
touch /ro/new 2>&1 | sed 's/.*: //'
echo "file bind: $(cat /etc/motd)"
echo "tmpfs mode: $(stat -c %a /scratch)"
echo data > /scratch/f && echo "tmpfs write: $(cat /scratch/f)"
echo "masked file: [$(cat /etc/secret)]"
echo "masked dir: [$(ls /etc/secretdir)]"
touch /etc/rodir/x 2>&1 | sed 's/.*: //'
echo "readonly path still readable: $(cat /etc/rodir/keep)"
echo "root writable: $(touch /newfile && echo yes)"
for m in /ro /scratch /etc/motd /etc/rodir /proc /sys /dev; do
	grep " $m " /proc/self/mountinfo | awk '{split($6, o, ","); print "mount", $5, o[1]}'
done
echo "devices: $(ls /dev | grep -xE 'null|zero|full|random|urandom|tty' | tr '\n' ' ')"
echo "dev/null: $(stat -c '%t:%T %a' /dev/null)"
echo "proc sees: $(ls /proc | grep -c -x '[0-9]*' | sed 's/^[1-9][0-9]*$/some/')"
`

// TestOCIConfigVsRunc runs one bundle with runc and with runsc-lite and
// compares what the container sees: hostname and domainname, user,
// groups and umask, rlimits, oom_score_adj, env, a working directory
// that runc creates, read-only and file binds, tmpfs options, masked and
// read-only paths, the mount table's points and flags, default devices.
func TestOCIConfigVsRunc(t *testing.T) {
	runc := runcRuntime(t)
	rl := runscRuntime(t)
	host := t.TempDir()
	writeFile(t, filepath.Join(host, "ro/hello"), []byte("hello from the host"), 0o644)
	writeFile(t, filepath.Join(host, "motd"), []byte("message of the day"), 0o644)
	umask := uint32(0o027)
	adj := 500
	spec := baseSpec("/bin/sh", "-c", configScript)
	spec.Hostname = "cfg-host"
	spec.Domainname = "example.org"
	spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{2000, 100}, Umask: &umask}
	spec.Process.Env = append(spec.Process.Env, "FOO=bar")
	spec.Process.Cwd = "/tmp/work/dir"
	spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}
	spec.Process.OOMScoreAdj = &adj
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/ro", Type: "bind", Source: filepath.Join(host, "ro"), Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/etc/motd", Type: "bind", Source: filepath.Join(host, "motd"), Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=0700", "nosuid"}},
	)
	spec.Linux.MaskedPaths = []string{"/etc/secret", "/etc/secretdir", "/etc/absent"}
	spec.Linux.ReadonlyPaths = []string{"/etc/rodir"}
	spec.Linux.Sysctl = map[string]string{"kernel.domainname": "example.org"}
	var outs [2]string
	for i, r := range []*ociRuntime{runc, rl} {
		b := makeBundle(t, spec)
		writeFile(t, filepath.Join(b, "rootfs/etc/secret"), []byte("secret"), 0o644)
		writeFile(t, filepath.Join(b, "rootfs/etc/secretdir/file"), []byte("secret"), 0o644)
		writeFile(t, filepath.Join(b, "rootfs/etc/rodir/keep"), []byte("kept"), 0o644)
		// The user's group owns the cwd's parent, as an image would.
		os.Chown(filepath.Join(b, "rootfs/tmp"), 0, 0)
		res := r.do(t, runOpts{}, "run", "--bundle", b, "cfg")
		if res.Status != 0 {
			t.Fatalf("%s run: status %d\nstdout:\n%s\nstderr:\n%s", r.name, res.Status, res.Stdout, tail(res.Stderr, 20))
		}
		outs[i] = res.Stdout
	}
	if outs[0] != outs[1] {
		t.Errorf("runc and runsc-lite disagree:\n%s", diff(outs[0], outs[1]))
	}
	for _, want := range []string{"hostname: cfg-host", "id: uid=1000(tester) gid=1000(tester) groups=100(users),2000(extra)", "umask: 0027", "nofile: 512 1024", "oom_score_adj: 500", "Read-only file system", "masked file: []"} {
		if !strings.Contains(outs[1], want) {
			t.Errorf("runsc-lite's container does not show %q:\n%s", want, outs[1])
		}
	}
}

// TestOCIMountTable: /proc/mounts and mountinfo list the config's mounts
// with its source, type and options (runtime-tools checks them so), and
// uid_map shows the config's mappings.
func TestOCIMountTable(t *testing.T) {
	r := runscRuntime(t)
	host := t.TempDir()
	spec := baseSpec("/bin/sh", "-c", "cat /proc/self/mountinfo; echo ---; cat /proc/mounts; echo ---; cat /proc/self/uid_map /proc/self/gid_map")
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: host, Options: []string{"rbind", "nosuid", "nodev"}},
		specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "scratchfs", Options: []string{"size=1m", "mode=0700", "noexec"}},
		specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	)
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 1000}}
	b := makeBundle(t, spec)
	res := r.do(t, runOpts{}, "run", "-b", b, "mt")
	if res.Status != 0 {
		t.Fatalf("run: %d %s", res.Status, res.Stderr)
	}
	parts := strings.Split(res.Stdout, "---\n")
	if len(parts) != 3 {
		t.Fatalf("output:\n%s", res.Stdout)
	}
	info, mounts, maps := parts[0], parts[1], parts[2]
	// mountinfo: ID PARENT DEV ROOT POINT OPTS - TYPE SOURCE SUPER
	want := map[string][3]string{ // point: type, source, root (for binds)
		"/proc":       {"proc", "proc", "/"},
		"/dev":        {"tmpfs", "tmpfs", "/"},
		"/dev/shm":    {"tmpfs", "shm", "/"},
		"/sys":        {"sysfs", "sysfs", "/"},
		"/data":       {"bind", host, host},
		"/scratch":    {"tmpfs", "scratchfs", "/"},
		"/dev/mqueue": {"mqueue", "mqueue", "/"},
	}
	for _, line := range strings.Split(strings.TrimSpace(info), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			t.Errorf("mountinfo line %q", line)
			continue
		}
		w, ok := want[f[4]]
		if !ok {
			continue
		}
		delete(want, f[4])
		if f[7] != w[0] || f[8] != w[1] || f[3] != w[2] {
			t.Errorf("mountinfo %s: type %s source %s root %s; want %v", f[4], f[7], f[8], f[3], w)
		}
		if f[4] == "/scratch" && (!strings.Contains(f[5], "noexec") || !strings.Contains(f[9], "size=1m") || !strings.Contains(f[9], "mode=0700")) {
			t.Errorf("mountinfo /scratch options: %q", line)
		}
		if f[4] == "/data" && !strings.Contains(f[5], "nosuid,nodev") {
			t.Errorf("mountinfo /data options: %q", line)
		}
	}
	for p := range want {
		t.Errorf("mountinfo lacks %s:\n%s", p, info)
	}
	if !strings.Contains(mounts, "scratchfs /scratch tmpfs rw,noexec,relatime,size=1m,mode=0700 0 0") {
		t.Errorf("/proc/mounts:\n%s", mounts)
	}
	if got := strings.Fields(maps); strings.Join(got, " ") != "0 100000 65536 0 200000 1000" {
		t.Errorf("uid_map and gid_map: %q", maps)
	}
}
