package test

// Real container engines driving runsc-lite as their OCI runtime, with
// images built from the test's busybox tree (no registry): podman with
// conmon, and containerd with containerd-shim-runc-v2 through ctr. Each
// test starts the daemon it needs under a private root and socket and
// stops it.

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rootfsTar writes the busybox tree as a tar and returns its bytes.
func rootfsTar(t *testing.T) []byte {
	t.Helper()
	root := busyboxTree(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatalf("rootfs tar: %v", err)
	}
	return buf.Bytes()
}

// ociArchive returns an OCI image layout, as a tar, of one layer (the
// busybox tree) named name, whose command is cmd.
func ociArchive(t *testing.T, name string, cmd []string) []byte {
	t.Helper()
	layer := rootfsTar(t)
	digest := func(b []byte) string {
		s := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(s[:])
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, "Cmd": cmd},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layer)}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": len(layer)}},
	})
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name[strings.LastIndex(name, ":")+1:]},
		}},
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for _, b := range [][]byte{layer, config, manifest} {
		add("blobs/sha256/"+strings.TrimPrefix(digest(b), "sha256:"), b)
	}
	tw.Close()
	return buf.Bytes()
}

// needTool fails the test when a Debian package it drives is missing
// (.ci/run installs them all).
func needTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is not installed (apt-get install -y %s; .ci/run installs it)", tool, pkg)
	}
	return p
}

// tool runs a client command and returns its result; output goes to files
// (daemons' shims and conmon keep inherited pipes open).
func tool(t *testing.T, o runOpts, argv ...string) result {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	cmd, ctx, cancel := command(argv, o)
	defer cancel()
	dir := t.TempDir()
	stdout, _ := os.Create(filepath.Join(dir, "stdout"))
	stderr, _ := os.Create(filepath.Join(dir, "stderr"))
	defer stdout.Close()
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if o.Stdin != nil {
		cmd.Stdin = bytes.NewReader(o.Stdin)
	}
	start := time.Now()
	err := cmd.Run()
	res := result{Elapsed: time.Since(start)}
	res.Status = exitStatus(t, argv[0], argv, ctx, cmd, err)
	res.Stdout = readFile(t, stdout.Name())
	res.Stderr = readFile(t, stderr.Name())
	return res
}

// podman is podman with a private store, driving runsc-lite.
type podman struct {
	argv []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	needSandbox(t)
	bin := needTool(t, "podman", "podman")
	needTool(t, "conmon", "conmon")
	dir := t.TempDir()
	p := &podman{argv: []string{bin, "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
		"--runtime", runscBin}}
	img := filepath.Join(dir, "busybox.tar")
	writeFile(t, img, rootfsTar(t), 0o644)
	p.must(t, runOpts{}, "import", img, "localhost/busybox:test")
	t.Cleanup(func() {
		exec.Command(p.argv[0], append(p.argv[1:], "rm", "--all", "--force", "--time", "0")...).Run()
		// vfs layers are plain directories; the store goes with TempDir.
	})
	return p
}

func (p *podman) do(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	return tool(t, o, append(append([]string(nil), p.argv...), args...)...)
}

func (p *podman) must(t *testing.T, o runOpts, args ...string) string {
	t.Helper()
	res := p.do(t, o, args...)
	if res.Status != 0 {
		t.Fatalf("podman %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.Status, res.Stdout, tail(res.Stderr, 30))
	}
	return res.Stdout
}

// TestPodman: podman (with conmon) runs containers on runsc-lite: run --rm
// with output and exit status, -i with stdin, --memory and --cpus seen
// inside, -d with exec and exec's status, logs, stop (TERM, then KILL
// after the timeout), kill.
func TestPodman(t *testing.T) {
	p := newPodman(t)
	img := "localhost/busybox:test"
	res := p.do(t, runOpts{}, "run", "--rm", "--network", "none", img, "sh", "-c", "echo hello from podman; exit 7")
	if res.Status != 7 || res.Stdout != "hello from podman\n" {
		t.Errorf("podman run --rm: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	res = p.do(t, runOpts{Stdin: []byte("line one\nline two\n")}, "run", "--rm", "-i", "--network", "none", img, "sh", "-c", "wc -l; echo read")
	if res.Status != 0 || strings.Fields(res.Stdout)[0] != "2" {
		t.Errorf("podman run -i: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	out := p.must(t, runOpts{}, "run", "--rm", "--network", "none", "--memory", "64m", "--cpus", "1", img, "sh", "-c", "grep MemTotal /proc/meminfo; nproc")
	if f := strings.Fields(out); len(f) != 4 || f[1] != "65536" || f[3] != "1" {
		t.Errorf("--memory 64m --cpus 1 inside: %q, want MemTotal 65536 kB and 1 CPU", out)
	}

	p.must(t, runOpts{}, "run", "-d", "--network", "none", "--name", "bg", img, "sh", "-c", "echo started; exec sleep 1000")
	res = p.do(t, runOpts{}, "exec", "bg", "sh", "-c", "echo in exec; exit 4")
	if res.Status != 4 || res.Stdout != "in exec\n" {
		t.Errorf("podman exec: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	res = p.do(t, runOpts{}, "exec", "bg", "/no/such/program")
	if res.Status != 127 {
		t.Errorf("podman exec of a missing program: status %d, want 127; stderr %q", res.Status, res.Stderr)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if out := p.must(t, runOpts{}, "logs", "bg"); out == "started\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("podman logs: %q", out)
		}
	}
	// sleep, PID 1, has no handler: SIGTERM is ignored and stop kills
	// after its timeout.
	res = p.do(t, runOpts{}, "stop", "-t", "2", "bg")
	if res.Status != 0 || res.Elapsed < 2*time.Second {
		t.Errorf("podman stop -t 2: status %d after %v (want SIGKILL after the 2 s timeout)", res.Status, res.Elapsed)
	}
	if st := strings.TrimSpace(p.must(t, runOpts{}, "inspect", "--format", "{{.State.ExitCode}}", "bg")); st != "137" {
		t.Errorf("exit code after stop: %s, want 137", st)
	}
	p.must(t, runOpts{}, "rm", "bg")

	// Stopped once its trap is set (it says so): after a fixed half
	// second a loaded host could still have it starting, and a TERM
	// before the trap is ignored by PID 1, so stop waited its 30 s.
	p.must(t, runOpts{}, "run", "-d", "--network", "none", "--name", "trap", img, "sh", "-c", "trap 'exit 9' TERM; echo trapping; while :; do sleep 0.05; done")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if out := p.must(t, runOpts{}, "logs", "trap"); out == "trapping\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("podman logs: %q", out)
		}
	}
	res = p.do(t, runOpts{}, "stop", "-t", "30", "trap")
	if st := strings.TrimSpace(p.must(t, runOpts{}, "inspect", "--format", "{{.State.ExitCode}}", "trap")); res.Status != 0 || st != "9" || res.Elapsed > 20*time.Second {
		t.Errorf("podman stop of a container that traps TERM: status %d, exit code %s, after %v", res.Status, st, res.Elapsed)
	}
	p.must(t, runOpts{}, "rm", "trap")

	p.must(t, runOpts{}, "run", "-d", "--network", "none", "--name", "k", img, "sleep", "1000")
	p.must(t, runOpts{}, "kill", "k")
	p.must(t, runOpts{}, "wait", "k")
	if st := strings.TrimSpace(p.must(t, runOpts{}, "inspect", "--format", "{{.State.ExitCode}}", "k")); st != "137" {
		t.Errorf("exit code after podman kill: %s, want 137", st)
	}
	p.must(t, runOpts{}, "rm", "k")
}

// TestPodmanNetwork: podman's default network (netavark's bridge: a veth
// in a network namespace it prepares and passes in the config) is taken
// over by the sandbox's stack (--network=sandbox): the container sees the
// address podman gave it, and a server in it is reached from the host at
// that address and through a published port (podman's DNAT).
func TestPodmanNetwork(t *testing.T) {
	p := newPodman(t)
	img := "localhost/busybox:test"
	// The published port is a free one, not a fixed number another
	// program (or a run left over) may hold.
	hostPort := freeTCPPort(t)
	p.must(t, runOpts{}, "run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:8080", hostPort), img, "sh", "-c",
		"mkdir -p /www && echo served by the sandbox > /www/index.html && exec busybox httpd -f -p 8080 -h /www")
	defer p.do(t, runOpts{}, "rm", "--force", "--time", "0", "web")
	ip := strings.TrimSpace(p.must(t, runOpts{}, "inspect", "--format", "{{.NetworkSettings.IPAddress}}", "web"))
	if ip == "" {
		t.Fatal("podman gave the container no address")
	}
	// (`ip addr show DEV` asks an AF_UNIX socket for SIOCGIFINDEX.)
	if out := p.must(t, runOpts{}, "exec", "web", "busybox", "ip", "-4", "addr", "show", "eth0"); !strings.Contains(out, "inet "+ip+"/") {
		t.Errorf("the sandbox's addresses:\n%s\nwant podman's address %s", out, ip)
	}
	get := func(url string) string {
		t.Helper()
		var last string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
			if err != nil {
				last = err.Error()
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			last = fmt.Sprintf("status %d, %v", resp.StatusCode, err)
		}
		t.Errorf("GET %s: %s", url, last)
		return ""
	}
	for _, url := range []string{"http://" + ip + ":8080/index.html", fmt.Sprintf("http://127.0.0.1:%d/index.html", hostPort)} {
		if body := get(url); body != "" && body != "served by the sandbox\n" {
			t.Errorf("GET %s: %q", url, body)
		}
	}
}

// containerd is a private containerd daemon.
type containerd struct {
	dir  string
	sock string
	cmd  *exec.Cmd
}

// startContainerd starts containerd under a private root, state and
// socket (the native snapshotter, the CRI plugin configured with cri), and
// stops it when the test ends.
func startContainerd(t *testing.T, cri string) *containerd {
	t.Helper()
	bin := needTool(t, "containerd", "containerd")
	needTool(t, "containerd-shim-runc-v2", "containerd")
	dir, err := os.MkdirTemp("", "ctd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock")}
	config := `version = 2
root = "` + dir + `/root"
state = "` + dir + `/state"
[grpc]
  address = "` + c.sock + `"
[ttrpc]
  address = "` + c.sock + `.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  disable_apparmor = true
  disable_tcp_service = true
` + cri
	writeFile(t, filepath.Join(dir, "config.toml"), []byte(config), 0o644)
	logf, _ := os.Create(filepath.Join(dir, "containerd.log"))
	c.cmd = exec.Command(bin, "--config", filepath.Join(dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	logf.Close()
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("containerd's log:\n%s", tail(readFile(t, filepath.Join(dir, "containerd.log")), 40))
		}
		// Shims and what they left mounted go with the daemon's
		// directory.
		exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if exec.Command("ctr", "--address", c.sock, "version").Run() == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not come up:\n%s", readFile(t, filepath.Join(dir, "containerd.log")))
		}
	}
}

func (c *containerd) ctr(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	return tool(t, o, append([]string{"ctr", "--address", c.sock}, args...)...)
}

func (c *containerd) mustCtr(t *testing.T, args ...string) string {
	t.Helper()
	res := c.ctr(t, runOpts{}, args...)
	if res.Status != 0 {
		t.Fatalf("ctr %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.Status, res.Stdout, tail(res.Stderr, 30))
	}
	return res.Stdout
}

// startCtr starts a private containerd with the busybox image
// (localhost/busybox:test) imported, and returns it with the flags of
// `ctr run` that make runsc-lite the shim's runc binary.
func startCtr(t *testing.T) (*containerd, []string) {
	t.Helper()
	needSandbox(t)
	needTool(t, "ctr", "containerd")
	c := startContainerd(t, "")
	img := filepath.Join(c.dir, "busybox-oci.tar")
	writeFile(t, img, ociArchive(t, "localhost/busybox:test", []string{"sh"}), 0o644)
	c.mustCtr(t, "images", "import", "--snapshotter", "native", img)
	return c, []string{"--snapshotter", "native", "--runc-binary", runscBin, "--runc-root", filepath.Join(c.dir, "runsc-lite")}
}

// waitTaskStopped waits up to a minute for ctr to list task id STOPPED.
func (c *containerd) waitTaskStopped(t *testing.T, id string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		out := c.mustCtr(t, "task", "ls")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == id && f[2] == "STOPPED" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not stopped after a minute:\n%s", id, out)
		}
	}
}

// TestContainerdCtr: containerd's runc shim drives runsc-lite as its
// runc binary (the path Docker's --runtime takes): ctr run with output and
// exit status, run -d with task exec and its status, task kill.
func TestContainerdCtr(t *testing.T) {
	c, runFlags := startCtr(t)
	res := c.ctr(t, runOpts{}, append(append([]string{"run", "--rm"}, runFlags...), "localhost/busybox:test", "c1", "sh", "-c", "echo hello from ctr; exit 3")...)
	if res.Status != 3 || res.Stdout != "hello from ctr\n" {
		t.Errorf("ctr run --rm: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	c.mustCtr(t, append(append([]string{"run", "-d"}, runFlags...), "localhost/busybox:test", "c2", "sleep", "1000")...)
	res = c.ctr(t, runOpts{}, "task", "exec", "--exec-id", "e1", "c2", "sh", "-c", "echo in exec; exit 5")
	if res.Status != 5 || res.Stdout != "in exec\n" {
		t.Errorf("ctr task exec: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	if ps := c.mustCtr(t, "task", "ps", "c2"); !strings.Contains(ps, "PID") {
		t.Errorf("ctr task ps: %q", ps)
	}
	c.mustCtr(t, "task", "kill", "-s", "KILL", "c2")
	c.waitTaskStopped(t, "c2")
	c.mustCtr(t, "task", "rm", "c2")
	c.mustCtr(t, "containers", "rm", "c2")
	if out := c.mustCtr(t, "task", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("tasks left: %q", out)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.dir, "runsc-lite", "default")); len(ents) != 0 {
		t.Errorf("runsc-lite state left behind: %v", ents)
	}
}

// crictlBin finds crictl (not packaged in Debian bookworm: .ci/run builds
// it from the Go module proxy, sigs.k8s.io/cri-tools v1.34.0).
func crictlBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("crictl")
	if err != nil {
		t.Fatalf("crictl is not installed (GOBIN=/usr/local/bin go install sigs.k8s.io/cri-tools/cmd/crictl@v1.34.0; .ci/run does it)")
	}
	return p
}

// TestCRIPod: Kubernetes' path. containerd's CRI plugin with a
// RuntimeClass handler for runsc-lite, driven by crictl: a pod sandbox
// (runp) and two containers (create, start) in one sentry, which share
// the pod's processes, a volume and localhost; exec, logs, stop, rmp.
// The pod has a network of its own: the CRI plugin runs Debian's CNI
// plugins (containernetworking-plugins: bridge, host-local, loopback)
// from a private configuration, which give the pod's network namespace a
// veth on a bridge of the host's and an address; the sandbox's stack
// takes the veth over (--network=sandbox, from the config's network
// namespace path), and the host reaches the pod on that address.
func TestCRIPod(t *testing.T) {
	needSandbox(t)
	bin := crictlBin(t)
	cniBin := "/usr/lib/cni"
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBin, plugin)); err != nil {
			t.Fatalf("CNI plugin %s is not installed (apt-get install -y containernetworking-plugins; .ci/run installs it): %v", plugin, err)
		}
	}
	dir, err := os.MkdirTemp("", "cri-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A bridge and a subnet of this run's own (tests of other checkouts
	// may run beside it), removed at the end.
	n := os.Getpid() % 250
	bridge := fmt.Sprintf("rlcri%d", n)
	subnet := fmt.Sprintf("10.215.%d.0/24", n)
	defer exec.Command("ip", "link", "del", bridge).Run()
	cniConf := filepath.Join(dir, "net.d")
	os.Mkdir(cniConf, 0o755)
	conflist, _ := json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "runsc-lite-test",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]any{{map[string]any{"subnet": subnet}}},
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(dir, "ipam"),
				},
			},
			map[string]any{"type": "loopback"},
		},
	})
	writeFile(t, filepath.Join(cniConf, "10-runsc-lite-test.conflist"), conflist, 0o644)
	c := startContainerd(t, `  sandbox_image = "localhost/pause:test"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "`+cniBin+`"
    conf_dir = "`+cniConf+`"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runsc-lite"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc-lite]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc-lite.options]
        BinaryName = "`+runscBin+`"
        Root = "`+dir+`/runsc-lite"
`)
	for _, img := range []struct {
		name string
		cmd  []string
	}{{"localhost/pause:test", []string{"/bin/sleep", "2147483647"}}, {"localhost/busybox:test", []string{"sh"}}} {
		p := filepath.Join(dir, "image.tar")
		writeFile(t, p, ociArchive(t, img.name, img.cmd), 0o644)
		c.mustCtr(t, "-n", "k8s.io", "images", "import", "--snapshotter", "native", p)
	}
	crictl := func(args ...string) result {
		t.Helper()
		return tool(t, runOpts{}, append([]string{bin, "--config", "/dev/null", "--timeout", "120s",
			"--runtime-endpoint", "unix://" + c.sock, "--image-endpoint", "unix://" + c.sock}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		res := crictl(args...)
		if res.Status != 0 {
			t.Fatalf("crictl %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.Status, res.Stdout, tail(res.Stderr, 20))
		}
		return strings.TrimSpace(res.Stdout)
	}
	// A test that stops half-way still has the CRI plugin tear its pods
	// down (their network namespaces, the CNI plugins' DEL) before
	// containerd stops.
	defer crictl("rmp", "--force", "--all")
	shared := filepath.Join(dir, "shared")
	os.Mkdir(shared, 0o777)
	js := func(name string, v any) string {
		data, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		writeFile(t, p, data, 0o644)
		return p
	}
	pod := js("pod.json", map[string]any{
		"metadata":      map[string]any{"name": "pod1", "namespace": "default", "uid": "uid-pod1", "attempt": 1},
		"log_directory": filepath.Join(dir, "logs"),
		"linux":         map[string]any{},
	})
	container := func(name, script string) string {
		return js(name+".json", map[string]any{
			"metadata": map[string]any{"name": name},
			"image":    map[string]any{"image": "localhost/busybox:test"},
			"command":  []string{"sh", "-c", script},
			"log_path": name + ".log",
			"mounts":   []any{map[string]any{"container_path": "/shared", "host_path": shared}},
			"linux":    map[string]any{},
		})
	}
	// The containers talk over TCP on the pod's localhost: a listens
	// (busybox nc), b connects until a is up and sends a line. a also
	// answers on a second port, which the host dials on the pod's
	// address. b's nc reads its line from a file: a's listener, whose
	// stdin is a background job's /dev/null, half-closes the connection
	// at once, and a b reading from a pipe could see that EOF before
	// echo's line and exit without sending it (a once got an empty
	// message); a file is readable at once, and nc reads stdin first.
	port, hostPort := freeTCPPort(t), freeTCPPort(t)
	podID := must("runp", "--runtime", "runsc-lite", pod)
	var insp struct {
		Status struct {
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(must("inspectp", podID)), &insp); err != nil || insp.Status.Network.IP == "" {
		t.Fatalf("crictl inspectp: no pod IP (%v)", err)
	}
	podIP := insp.Status.Network.IP
	if _, ipnet, _ := net.ParseCIDR(subnet); !ipnet.Contains(net.ParseIP(podIP)) {
		t.Fatalf("pod IP %s is not in the CNI network's %s", podIP, subnet)
	}
	a := must("create", podID, container("a", fmt.Sprintf("(while :; do echo pong from the pod | nc -l -p %d; done) & nc -l -p %d > /tmp/msg & echo a > /shared/a; while [ ! -e /shared/b ]; do sleep 0.05; done; echo a saw $(cat /shared/b); wait $!; echo a got $(cat /tmp/msg); sleep 1000", hostPort, port)), pod)
	b := must("create", podID, container("b", fmt.Sprintf("echo b > /shared/b; while [ ! -e /shared/a ]; do sleep 0.05; done; echo b saw $(cat /shared/a); echo hello from b > /tmp/line; until nc 127.0.0.1 %d < /tmp/line; do sleep 0.1; done; sleep 1001", port)), pod)
	must("start", a)
	must("start", b)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		la, lb := crictl("logs", a).Stdout, crictl("logs", b).Stdout
		if la == "a saw b\na got hello from b\n" && strings.HasPrefix(lb, "b saw a\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs: a %q, b %q", la, lb)
		}
	}
	// The pod's interface is the sandbox's: its stack has the CNI
	// plugin's address (and no other but loopback's).
	if out := crictl("exec", a, "sh", "-c", "ip -4 -o addr show").Stdout; !strings.Contains(out, " "+podIP+"/24 ") || strings.Count(out, "inet ") != 2 {
		t.Errorf("addresses in the pod: %q, want loopback's and %s/24", out, podIP)
	}
	// The host reaches the pod on its address (through the bridge).
	var got string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(podIP, strconv.Itoa(hostPort)), 5*time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			data, _ := io.ReadAll(conn)
			conn.Close()
			if got = string(data); got == "pong from the pod\n" {
				break
			}
		} else {
			got = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("dialing the pod at %s:%d from the host: %q", podIP, hostPort, got)
		}
	}
	// One sandbox: a sees b's processes (one PID namespace, the pod's).
	res := crictl("exec", a, "sh", "-c", "ps -o args | grep -c '^[s]leep 1001'; exit 3")
	if !strings.Contains(res.Stderr, "exit code 3") || strings.TrimSpace(res.Stdout) != "1" {
		t.Errorf("crictl exec in a: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	if out := must("ps", "--pod", podID, "-q"); len(strings.Fields(out)) != 2 {
		t.Errorf("crictl ps: %q", out)
	}
	must("stop", "--timeout", "5", a)
	must("stop", "--timeout", "5", b)
	must("rm", a, b)
	must("stopp", podID)
	must("rmp", podID)
	if out := must("pods", "-q"); out != "" {
		t.Errorf("pods left: %q", out)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "runsc-lite", "k8s.io")); len(ents) != 0 {
		t.Errorf("runsc-lite state left: %v", ents)
	}
	// The CNI plugins' DEL gave the address back.
	if ents, _ := os.ReadDir(filepath.Join(dir, "ipam", "runsc-lite-test")); len(ents) > 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("host-local still holds addresses after rmp: %v", names)
	}
}

// freeTCPPort returns a TCP port of the host's loopback that was free a
// moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDocker: dockerd (Debian's docker.io) on a private containerd runs
// containers with --runtime=runsc-lite: run --rm with output and status,
// -i, -d with exec and its status, stop (SIGKILL after the timeout), and
// a bridge network, compared with runc.
func TestDocker(t *testing.T) {
	needSandbox(t)
	dockerd := needTool(t, "dockerd", "docker.io")
	// Debian's client, whatever else is on PATH.
	docker := "/usr/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		t.Fatalf("%s is not installed (apt-get install -y docker.io; .ci/run installs it)", docker)
	}
	c := startContainerd(t, "")
	dir := filepath.Join(c.dir, "docker")
	sock := filepath.Join(dir, "docker.sock")
	logf, _ := os.Create(filepath.Join(c.dir, "dockerd.log"))
	d := exec.Command(dockerd, "--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", "unix://"+sock, "--containerd", c.sock,
		"--bridge", "none", "--iptables=false", "--ip-masq=false", "--storage-driver", "vfs",
		"--add-runtime", "runsc-lite="+runscBin)
	d.Stdout, d.Stderr = logf, logf
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(); err != nil {
		t.Fatalf("starting dockerd: %v", err)
	}
	logf.Close()
	// Stopped before containerd (cleanups run last-registered first).
	t.Cleanup(func() {
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			d.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("dockerd's log:\n%s", tail(readFile(t, filepath.Join(c.dir, "dockerd.log")), 30))
		}
	})
	dk := func(o runOpts, args ...string) result {
		t.Helper()
		return tool(t, o, append([]string{docker, "-H", "unix://" + sock}, args...)...)
	}
	for deadline := time.Now().Add(time.Minute); dk(runOpts{}, "version").Status != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("dockerd did not come up")
		}
	}
	img := filepath.Join(c.dir, "rootfs.tar")
	writeFile(t, img, rootfsTar(t), 0o644)
	if res := dk(runOpts{}, "import", img, "busybox:test"); res.Status != 0 {
		t.Fatalf("docker import: %d %s", res.Status, res.Stderr)
	}
	runArgs := []string{"--runtime", "runsc-lite", "--network", "none"}
	res := dk(runOpts{}, append(append([]string{"run", "--rm"}, runArgs...), "busybox:test", "sh", "-c", "echo hello from docker; exit 6")...)
	if res.Status != 6 || res.Stdout != "hello from docker\n" {
		t.Errorf("docker run --rm: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	res = dk(runOpts{Stdin: []byte("piped\n")}, append(append([]string{"run", "--rm", "-i"}, runArgs...), "busybox:test", "cat")...)
	if res.Status != 0 || res.Stdout != "piped\n" {
		t.Errorf("docker run -i: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	if res := dk(runOpts{}, append(append([]string{"run", "-d", "--name", "bg"}, runArgs...), "busybox:test", "sleep", "1000")...); res.Status != 0 {
		t.Fatalf("docker run -d: %d %s", res.Status, res.Stderr)
	}
	res = dk(runOpts{}, "exec", "bg", "sh", "-c", "echo in exec; exit 4")
	if res.Status != 4 || res.Stdout != "in exec\n" {
		t.Errorf("docker exec: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
	res = dk(runOpts{}, "stop", "-t", "1", "bg")
	if code := strings.TrimSpace(dk(runOpts{}, "inspect", "-f", "{{.State.ExitCode}}", "bg").Stdout); res.Status != 0 || code != "137" {
		t.Errorf("docker stop -t 1: status %d, exit code %s (want 137: sleep, PID 1, ignores SIGTERM)", res.Status, code)
	}
	dk(runOpts{}, "rm", "bg")

	// Docker's default seccomp profile (linux.seccomp) filters the
	// container's processes, as under runc: /proc/self/status shows
	// the same mode (TestOCISeccompVsRunc compares what a profile
	// refuses).
	var secOut [2]string
	for i, rt := range []string{"runc", "runsc-lite"} {
		res := dk(runOpts{}, "run", "--rm", "--runtime", rt, "--network", "none", "busybox:test", "sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")
		secOut[i] = res.Stdout
	}
	if secOut[0] != secOut[1] || !strings.Contains(secOut[1], "Seccomp:\t2") {
		t.Errorf("docker's seccomp profile: runc shows %q, runsc-lite %q", secOut[0], secOut[1])
	}

	// A bridge network: dockerd's libnetwork prestart hook moves a veth
	// into the network namespace of the state's pid (the sentry's own)
	// after create; start hands it to the sandbox's stack. The container
	// sees its address and reaches a server on the bridge's, as under
	// runc.
	bridge := fmt.Sprintf("rlbr%d", os.Getpid()%100000)
	if res := dk(runOpts{}, "network", "create", "--driver", "bridge", "--subnet", "10.213.7.0/24", "--gateway", "10.213.7.1",
		"-o", "com.docker.network.bridge.name="+bridge, bridge); res.Status != 0 {
		t.Fatalf("docker network create: %d %s", res.Status, res.Stderr)
	}
	defer dk(runOpts{}, "network", "rm", bridge)
	l, err := net.Listen("tcp", "10.213.7.1:0")
	if err != nil {
		t.Fatalf("listening on the bridge: %v", err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			c.Close()
			got <- string(b)
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	for _, rt := range []string{"runc", "runsc-lite"} {
		script := fmt.Sprintf("ip -4 -o addr show eth0 | grep -o 'inet 10.213.7.[0-9]*/24'; echo hello from %s | nc 10.213.7.1 %d", rt, port)
		res := dk(runOpts{}, "run", "--rm", "--runtime", rt, "--network", bridge, "busybox:test", "sh", "-c", script)
		if res.Status != 0 || !strings.HasPrefix(res.Stdout, "inet 10.213.7.") {
			t.Errorf("docker run --runtime %s --network %s: status %d stdout %q stderr %q", rt, bridge, res.Status, res.Stdout, res.Stderr)
			continue
		}
		select {
		case msg := <-got:
			if want := "hello from " + rt + "\n"; msg != want {
				t.Errorf("%s on the bridge: the host's server got %q, want %q", rt, msg, want)
			}
		case <-time.After(time.Minute):
			t.Errorf("%s on the bridge: nothing reached the host's server", rt)
		}
	}
}
