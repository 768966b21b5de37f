package test

// OCI terminals (issue 14 item 4): process.terminal with --console-socket
// (the master of a pseudo-terminal handed over with SCM_RIGHTS, as runc
// does) for create and for exec -t -d, compared with runc on the same
// bundle; and the clients that use them: podman run -it and ctr run -t.

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleSocket listens on a Unix socket, as conmon and the containerd
// shim do for --console-socket, and returns its path and a function that
// returns the terminal master the runtime sends on it (up to a minute).
func consoleSocket(t *testing.T) (string, func() *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *os.File, 1)
	fail := make(chan error, 1)
	go func() {
		defer l.Close()
		c, err := l.AcceptUnix()
		if err != nil {
			fail <- err
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			fail <- err
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			fail <- err
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			fail <- err
			return
		}
		got <- os.NewFile(uintptr(fds[0]), "console master")
	}()
	t.Cleanup(func() { l.Close() })
	return path, func() *os.File {
		t.Helper()
		select {
		case f := <-got:
			return f
		case err := <-fail:
			t.Fatalf("console socket: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("console socket: no terminal received within a minute")
		}
		return nil
	}
}

// consoleScript is the container's program on its terminal: what it
// shows of the terminal, a line read, a window change (SIGWINCH and the
// new size), and a ^C that reaches the foreground job and the shell.
const consoleScript = `tty; stty size; grep devpts /proc/self/mounts; stat -c '%A %u %g' /dev/pts/0
test -t 0 && test -t 1 && test -t 2 && echo stdio are the terminal
trap 'w=1' WINCH; trap 'echo got INT' INT
echo ready; read line; echo "read $line"
echo resize; while [ -z "$w" ]; do sleep 0.05; done; stty size
sh -c 'echo sleeping; exec sleep 100'; echo "sleep status $?"
exit 5`

// consoleSession types into consoleScript's terminal.
func consoleSession(p *ptyRun) {
	p.expect("ready")
	p.send("hello\n")
	p.expect("read hello")
	p.expect("resize")
	p.setSize(35, 95)
	p.expect("35 95")
	p.expect("sleeping")
	p.send("\x03")
	p.expect("sleep status 130")
}

// TestOCIConsoleSocket: a container with process.terminal and
// consoleSize, created with --console-socket, by runsc-lite and by runc:
// the master arrives over the socket, the program sees /dev/pts/0 with
// the console size and the config's devpts options, reads what is typed,
// gets SIGWINCH and the new size, and ^C reaches its foreground job; the
// terminals show the same and init exits with the same status.
func TestOCIConsoleSocket(t *testing.T) {
	needSandbox(t)
	subreaper(t)
	spec := baseSpec("sh", "-c", consoleScript)
	spec.Process.Terminal = true
	spec.Process.ConsoleSize = &specs.Box{Height: 30, Width: 90}
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
		Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}})
	bundle := makeBundle(t, spec)
	run := func(r *ociRuntime) (string, unix.WaitStatus) {
		sock, master := consoleSocket(t)
		r.must(t, "create", "--bundle", bundle, "--console-socket", sock, "tty1")
		p := watchPty(t, r.name, spec.Process.Args, master())
		pid := r.state(t, "tty1").Pid
		r.must(t, "start", "tty1")
		consoleSession(p)
		ws := waitChild(t, pid)
		out := p.transcript()
		r.must(t, "delete", "tty1")
		return out, ws
	}
	native, nws := run(runcRuntime(t))
	sandbox, sws := run(runscRuntime(t))
	if !strings.HasPrefix(sandbox, "/dev/pts/0\r\n30 90\r\n") {
		t.Errorf("runsc-lite: tty and stty size: want /dev/pts/0 and 30 90; terminal:\n%q", sandbox)
	}
	if sws != nws || sws.ExitStatus() != 5 {
		t.Errorf("init's wait status: runsc-lite %#x, runc %#x (want exit 5)", sws, nws)
	}
	if d := diff(normalise(native, []normaliser{terminalLines}), normalise(sandbox, []normaliser{terminalLines})); d != "" {
		t.Errorf("the terminals differ (- runc, + runsc-lite):\n%s", d)
	}
}

// TestOCIExecConsoleSocket: exec -t -d --console-socket into a running
// container without a terminal of its own, by runsc-lite and by runc: the
// exec'd process has /dev/pts/0 of the container's devpts as its stdio
// and controlling terminal (^C reaches it), and the --pid-file process
// exits with its status.
func TestOCIExecConsoleSocket(t *testing.T) {
	needSandbox(t)
	subreaper(t)
	spec := baseSpec("sleep", "1000")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
		Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}})
	bundle := makeBundle(t, spec)
	script := `tty; test -t 0 && test -t 1 && test -t 2 && echo stdio are the terminal
trap 'echo got INT' INT
echo ready; read line; echo "read $line"
sh -c 'echo sleeping; exec sleep 100'; echo "sleep status $?"
exit 4`
	run := func(r *ociRuntime) (string, unix.WaitStatus) {
		r.must(t, "run", "--detach", "--bundle", bundle, "e1")
		sock, master := consoleSocket(t)
		pidFile := filepath.Join(t.TempDir(), "exec.pid")
		r.must(t, "exec", "-t", "-d", "--console-socket", sock, "--pid-file", pidFile, "e1", "sh", "-c", script)
		p := watchPty(t, r.name, []string{"exec", "sh", "-c", script}, master())
		p.expect("ready")
		p.send("hello\n")
		p.expect("read hello")
		p.expect("sleeping")
		p.send("\x03")
		p.expect("sleep status 130")
		pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
		if err != nil {
			t.Fatalf("%s exec --pid-file: %v", r.name, err)
		}
		ws := waitChild(t, pid)
		out := p.transcript()
		r.must(t, "delete", "--force", "e1")
		return out, ws
	}
	native, nws := run(runcRuntime(t))
	sandbox, sws := run(runscRuntime(t))
	if !strings.HasPrefix(sandbox, "/dev/pts/0\r\nstdio are the terminal\r\n") {
		t.Errorf("runsc-lite: the exec'd process's terminal: want /dev/pts/0 on its stdio; terminal:\n%q", sandbox)
	}
	if sws.ExitStatus() != 4 || nws.ExitStatus() != 4 {
		t.Errorf("exec --pid-file process's wait status: runsc-lite %#x, runc %#x (want exit 4)", sws, nws)
	}
	if d := diff(normalise(native, []normaliser{terminalLines}), normalise(sandbox, []normaliser{terminalLines})); d != "" {
		t.Errorf("the terminals differ (- runc, + runsc-lite):\n%s", d)
	}
}

// ttyRelayScript is consoleScript without the initial size: the caller's
// terminal's, which runc copies once the program runs, with a SIGWINCH
// of its own (at times a second one, interrupting read): the script
// waits for the size, retries an interrupted read and forgets earlier
// window changes before the one the test makes.
const ttyRelayScript = `tty; test -t 0 && test -t 1 && test -t 2 && echo stdio are the terminal
until s=$(stty size 2>/dev/null) && [ "$s" != "0 0" ]; do sleep 0.05; done
trap 'w=1' WINCH; trap 'echo got INT' INT
echo ready; until read line; do :; done; echo "read $line"
w=; echo resize; until [ -n "$w" ] && [ "$(stty size)" = "35 95" ]; do sleep 0.05; done; stty size
sh -c 'echo sleeping; exec sleep 100'; echo "sleep status $?"
exit 5`

// TestOCIRelayTerminal: run and exec -t in the foreground without a
// console socket, from a terminal, by runsc-lite and by runc: the
// runtime relays between its terminal (raw) and the container's, so what
// is typed reaches the program, a window change of the caller's terminal
// reaches it as SIGWINCH and the new size, ^C reaches its foreground job,
// and the runtime exits with the program's status.
func TestOCIRelayTerminal(t *testing.T) {
	needSandbox(t)
	devpts := specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
		Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}
	spec := baseSpec("sh", "-c", ttyRelayScript)
	spec.Process.Terminal = true
	spec.Mounts = append(spec.Mounts, devpts)
	bundle := makeBundle(t, spec)
	session := func(p *ptyRun) {
		p.expect("ready")
		// runc makes its terminal raw once the program runs: what is
		// typed before then is the caller's line discipline's.
		p.waitRaw()
		p.send("hello\n")
		p.expect("read hello")
		p.expect("resize")
		p.setSize(35, 95)
		p.expect("35 95")
		p.expect("sleeping")
		p.send("\x03")
		p.expect("sleep status 130")
	}
	// The exec'd program's container has no terminal of its own.
	sleeperSpec := baseSpec("sleep", "1000")
	sleeperSpec.Mounts = append(sleeperSpec.Mounts, devpts)
	sleeper := makeBundle(t, sleeperSpec)
	run := func(r *ociRuntime) (string, int) {
		argv := append(append([]string(nil), r.argv...), "run", "--bundle", bundle, "r1")
		p := startOnPty(t, r.name, argv, true)
		session(p)
		return p.wait()
	}
	execT := func(r *ociRuntime) (string, int) {
		r.must(t, "run", "--detach", "--bundle", sleeper, "x1")
		argv := append(append([]string(nil), r.argv...), "exec", "-t", "x1", "sh", "-c", ttyRelayScript)
		p := startOnPty(t, r.name, argv, true)
		session(p)
		out, status := p.wait()
		r.must(t, "delete", "--force", "x1")
		return out, status
	}
	runc, runsc := runcRuntime(t), runscRuntime(t)
	for _, tc := range []struct {
		what string
		fn   func(*ociRuntime) (string, int)
	}{{"run", run}, {"exec -t", execT}} {
		nout, nst := tc.fn(runc)
		sout, sst := tc.fn(runsc)
		if !strings.HasPrefix(sout, "/dev/pts/0\r\nstdio are the terminal\r\n") {
			t.Errorf("runsc-lite %s: want /dev/pts/0 on the program's stdio; terminal:\n%q", tc.what, sout)
		}
		if sst != 5 || nst != 5 {
			t.Errorf("%s: status runsc-lite %d, runc %d (want 5)", tc.what, sst, nst)
		}
		norm := []normaliser{preRawOutput, terminalLines}
		if d := diff(normalise(nout, norm), normalise(sout, norm)); d != "" {
			t.Errorf("%s: the terminals differ (- runc, + runsc-lite):\n%s", tc.what, d)
		}
	}
}

// preRawOutput: runc makes the caller's terminal raw only once the
// program runs, so lines the program writes before then pass the caller's
// output processing as well as the container terminal's (\r\n becomes
// \r\r\n); runsc-lite makes it raw first.
var preRawOutput = normaliser{
	name: "preRawOutput",
	why:  "runc sets the caller's terminal raw after the program starts: its first lines may show \\r\\r\\n",
	fn:   func(s string) string { return strings.ReplaceAll(s, "\r\r\n", "\r\n") },
}

// waitRaw waits up to a minute for the program on the terminal to have
// made it raw (no echo, no line editing).
func (p *ptyRun) waitRaw() {
	p.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		// On a master, TCGETS reads the replica's settings.
		tio, err := unix.IoctlGetTermios(int(p.master.Fd()), unix.TCGETS)
		if err != nil {
			p.t.Fatalf("TCGETS: %v", err)
		}
		if tio.Lflag&(unix.ECHO|unix.ICANON) == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.kill()
			p.t.Fatalf("%s run of %q: its terminal not raw within a minute (lflag %#x)", p.what, p.argv, tio.Lflag)
		}
	}
}

// ttyClientScript runs in a client's container on its terminal: the
// terminal's name, then a ^C typed into the client's terminal must reach
// the foreground job and the shell.
const ttyClientScript = `tty; trap 'echo got INT' INT; sh -c 'echo sleeping; exec sleep 100'; echo "sleep status $?"; exit 3`

// clientTTYSession types into a client running ttyClientScript.
func clientTTYSession(p *ptyRun) {
	p.expect("/dev/pts/0")
	p.expect("sleeping")
	// The client makes its terminal raw once the task has started,
	// which the program's first lines can beat: a ^C typed before then
	// is the client's own SIGINT (ctr dies of it), not a byte for the
	// container's terminal.
	p.waitRaw()
	p.send("\x03")
	p.expect("got INT")
	p.expect("sleep status 130")
}

// TestPodmanTTY: podman run -it on runsc-lite, from a terminal: conmon
// receives the console over --console-socket, the program sees
// /dev/pts/0, and a ^C typed into podman's terminal reaches it.
func TestPodmanTTY(t *testing.T) {
	p := newPodman(t)
	argv := append(append([]string(nil), p.argv...), "run", "--rm", "-it", "--network", "none", "localhost/busybox:test", "sh", "-c", ttyClientScript)
	run := startOnPty(t, "podman", argv, true)
	clientTTYSession(run)
	out, status := run.wait()
	if status != 3 {
		t.Errorf("podman run -it: status %d, want 3; terminal:\n%q", status, out)
	}
	// -t alone, stdin not a terminal: the output still comes through
	// the container's terminal.
	res := p.do(t, runOpts{}, "run", "--rm", "-t", "--network", "none", "localhost/busybox:test", "sh", "-c", "tty; stty size; exit 6")
	if res.Status != 6 || !strings.HasPrefix(res.Stdout, "/dev/pts/0\r\n") {
		t.Errorf("podman run -t: status %d stdout %q stderr %q", res.Status, res.Stdout, res.Stderr)
	}
}

// TestContainerdCtrTTY: ctr run -t and ctr task exec -t through
// containerd's runc shim, from a terminal: the shim receives the console
// over --console-socket (create, and exec -t -d), the program sees
// /dev/pts/0, and a ^C typed into ctr's terminal reaches it.
func TestContainerdCtrTTY(t *testing.T) {
	c, runFlags := startCtr(t)
	argv := append(append([]string{"ctr", "--address", c.sock, "run", "--rm", "-t"}, runFlags...), "localhost/busybox:test", "t1", "sh", "-c", ttyClientScript)
	run := startOnPty(t, "ctr", argv, true)
	clientTTYSession(run)
	out, status := run.wait()
	if status != 3 {
		t.Errorf("ctr run -t: status %d, want 3; terminal:\n%q", status, out)
	}

	c.mustCtr(t, append(append([]string{"run", "-d"}, runFlags...), "localhost/busybox:test", "t2", "sleep", "1000")...)
	run = startOnPty(t, "ctr", []string{"ctr", "--address", c.sock, "task", "exec", "-t", "--exec-id", "e1", "t2", "sh", "-c", ttyClientScript}, true)
	clientTTYSession(run)
	if out, status := run.wait(); status != 3 {
		t.Errorf("ctr task exec -t: status %d, want 3; terminal:\n%q", status, out)
	}
	c.mustCtr(t, "task", "kill", "-s", "KILL", "t2")
	c.waitTaskStopped(t, "t2")
	c.mustCtr(t, "task", "rm", "t2")
	c.mustCtr(t, "containers", "rm", "t2")
}
