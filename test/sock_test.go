package test

// AF_UNIX sockets (issue 13, items 1, 5-7): the C program sock_unix covers
// every call, option and error case and runs natively and in the sandbox
// on the overlay and on a volume; real programs that live on Unix
// sockets (Python's asyncio and multiprocessing, a static Go program,
// socat and nc relaying a file, syslog-style datagram logging) are
// compared the same way; and the sandbox's sockets are shown to stay
// inside it.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSockUnixC: socket/socketpair/bind/listen/accept4/connect/shutdown/
// send*/recv*/sockopts/ioctls with their error cases, SCM_RIGHTS and
// SCM_CREDENTIALS, readiness, signals, on the overlay and on a volume.
func TestSockUnixC(t *testing.T) { compareCInDir(t, "sock_unix") }

// TestSockUnixPingPongOneCPU: two processes bounce a byte over a socket
// pair on one sandbox CPU; each waiting read sleeps (a voluntary context
// switch) instead of spinning until preempted.
func TestSockUnixPingPongOneCPU(t *testing.T) {
	dir := t.TempDir()
	prog := cProg(t, "sock_unix")
	c := cmpCase{argv: []string{prog, dir, "pingpong"}}
	native := runNative(t, c.argv, c.opts)
	if native.Status != 0 {
		t.Fatalf("native run failed: %s", native.Stderr)
	}
	c.opts.Flags = []string{"--cpus", "1"}
	sandbox := secondRun(t, c.argv, c.opts)
	checkSame(t, c, native, sandbox)
}

const pythonAsyncioUnix = `
import asyncio, os, socket, sys
path = os.path.join(sys.argv[1], "echo.sock")

async def handle(r, w):
    while data := await r.readline():
        w.write(data.upper())
        await w.drain()
    w.close()

async def main():
    srv = await asyncio.start_unix_server(handle, path)
    async def client(i):
        r, w = await asyncio.open_unix_connection(path)
        w.write(f"hello {i}\n".encode())
        await w.drain()
        line = await r.readline()
        w.close()
        await w.wait_closed()
        return line.decode().strip()
    print(await asyncio.gather(*(client(i) for i in range(5))))
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(a, b"through the loop")
    print(await loop.sock_recv(b, 100))
    a.close()
    b.close()
    srv.close()
    await srv.wait_closed()

asyncio.run(main())
os.unlink(path)
print("done")
`

// TestSockUnixPythonAsyncio: asyncio's event loop (whose self-pipe is a
// socket pair) serving a Unix-socket echo server to five clients.
func TestSockUnixPythonAsyncio(t *testing.T) {
	compareInWritableDir(t, "overlay", func(dir string) []string {
		return []string{"/usr/bin/python3", "-c", pythonAsyncioUnix, dir}
	})
}

const pythonManager = `
import multiprocessing as mp

def work(d, l, i):
    d[i] = i * i
    l.append(i)

if __name__ == "__main__":
    mp.set_start_method("fork")
    with mp.Manager() as m:
        d = m.dict()
        l = m.list()
        ps = [mp.Process(target=work, args=(d, l, i)) for i in range(4)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        print(sorted(d.items()), sorted(l))
`

// TestSockUnixPythonManager: multiprocessing.Manager's server process,
// reached over an authenticated AF_UNIX socket by four worker processes.
func TestSockUnixPythonManager(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", pythonManager}, opts: runOpts{Timeout: 3 * time.Minute}, stderr: true})
}

const goUnixProgram = `package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	path := filepath.Join(os.Args[1], "go.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("listen:", err)
		return
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintf(c, "echo: %s\n", strings.ToUpper(s.Text()))
				}
				c.Close()
			}(c)
		}
	}()
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				mu.Lock()
				got = append(got, err.Error())
				mu.Unlock()
				return
			}
			fmt.Fprintf(c, "message %d\n", i)
			c.(*net.UnixConn).CloseWrite()
			b, _ := io.ReadAll(c)
			c.Close()
			mu.Lock()
			got = append(got, strings.TrimSpace(string(b)))
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	sort.Strings(got)
	fmt.Printf("%q\n", got)
	l.Close()
	_, err = os.Stat(path)
	fmt.Println("socket file removed by Close:", os.IsNotExist(err))

	// Datagrams on the abstract namespace.
	a, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@runsc-lite-go-gram", Net: "unixgram"})
	if err != nil {
		fmt.Println("listenunixgram:", err)
		return
	}
	b, _ := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: "@runsc-lite-go-gram", Net: "unixgram"})
	b.Write([]byte("datagram one"))
	b.Write([]byte("datagram two"))
	buf := make([]byte, 64)
	for i := 0; i < 2; i++ {
		n, _ := a.Read(buf)
		fmt.Printf("got %q\n", buf[:n])
	}
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = a.Read(buf)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		fmt.Println("read deadline: timeout")
	} else {
		fmt.Println("read deadline:", err)
	}

	// A descriptor passed over a socket pair.
	fds, _ := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	f0, f1 := os.NewFile(uintptr(fds[0]), "s0"), os.NewFile(uintptr(fds[1]), "s1")
	c0, _ := net.FileConn(f0)
	c1, _ := net.FileConn(f1)
	pr, pw, _ := os.Pipe()
	c0.(*net.UnixConn).WriteMsgUnix([]byte("fd"), syscall.UnixRights(int(pw.Fd())), nil)
	pw.Close()
	oob := make([]byte, syscall.CmsgSpace(4))
	n, oobn, _, _, err := c1.(*net.UnixConn).ReadMsgUnix(buf, oob)
	msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
	rights, _ := syscall.ParseUnixRights(&msgs[0])
	w := os.NewFile(uintptr(rights[0]), "w")
	w.Write([]byte("through the passed pipe"))
	w.Close()
	all, _ := io.ReadAll(pr)
	fmt.Printf("passed %q with %d fd(s): %q err=%v\n", buf[:n], len(rights), all, err)

	// net.Pipe, for completeness.
	p1, p2 := net.Pipe()
	go func() { p1.Write([]byte("net.Pipe")); p1.Close() }()
	pb, _ := io.ReadAll(p2)
	fmt.Printf("%s\n", pb)
}
`

// TestSockUnixGoProgram: a static Go program's net package on Unix
// sockets: a stream server with eight concurrent clients (the netpoller
// over epoll), abstract datagrams with a read deadline, descriptor passing.
func TestSockUnixGoProgram(t *testing.T) {
	bin := buildGoProgram(t, goUnixProgram)
	compareInWritableDir(t, "overlay", func(dir string) []string { return []string{bin, dir} })
}

// relayScript relays the file $2 through socat and through nc over Unix
// sockets in $1; it fails unless both copies are intact.
const relayScript = `set -e
cd "$1"
in="$2"
socat -u UNIX-LISTEN:relay.sock OPEN:out1,creat,trunc &
for i in $(seq 200); do [ -S relay.sock ] && break; sleep 0.05; done
socat -u OPEN:"$in" UNIX-CONNECT:relay.sock
wait
nc -lU nc.sock > out2 &
for i in $(seq 200); do [ -S nc.sock ] && break; sleep 0.05; done
nc -UN nc.sock < "$in"
wait
a=$(sha256sum < "$in"); b=$(sha256sum < out1); c=$(sha256sum < out2)
echo "input $a"
test "$a" = "$b" || { echo "socat copy differs: $b"; exit 1; }
test "$a" = "$c" || { echo "nc copy differs: $c"; exit 1; }
echo "socat and nc copies intact"
rm -f relay.sock nc.sock out1 out2
`

// TestSockUnixRelay: socat and nc -U carry a 3 MB file over a Unix socket
// unchanged.
func TestSockUnixRelay(t *testing.T) {
	for _, tool := range []string{"socat", "nc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs socat and netcat-openbsd)", tool)
		}
	}
	in := filepath.Join(t.TempDir(), "input")
	data := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(13, 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	compareInWritableDir(t, "overlay", func(dir string) []string { return []string{"/bin/sh", "-c", relayScript, "sh", dir, in} })
}

// syslogScript receives syslog datagrams on a socket in $1 (as syslogd on
// /dev/log) from logger(1) and from Python's SysLogHandler, and prints
// them without logger's timestamp.
const syslogScript = `
import logging, logging.handlers, os, socket, subprocess, sys
path = os.path.join(sys.argv[1], "log")
rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
rx.bind(path)
rx.settimeout(20)
subprocess.run(["logger", "--socket-errors=on", "-u", path, "-t", "app", "-p", "user.warning", "hello from logger"], check=True)
h = logging.handlers.SysLogHandler(address=path)
log = logging.getLogger("py")
log.addHandler(h)
log.warning("hello from python")
log.error("and an error")
for _ in range(3):
    msg = rx.recv(4096).decode()
    pri, _, rest = msg.partition(">")
    print(pri + ">", rest.split("app", 1)[-1] if "app" in rest else rest)
os.unlink(path)
`

// TestSockUnixSyslog: logging to a /dev/log-style datagram socket.
func TestSockUnixSyslog(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		t.Skip("logger is not installed (bsdutils)")
	}
	compareInWritableDir(t, "overlay", func(dir string) []string {
		return []string{"/usr/bin/python3", "-c", syslogScript, dir}
	})
}

// waitForFile waits up to 30 s for path to exist.
func waitForFile(t *testing.T, path string) bool {
	t.Helper()
	for i := 0; i < 600; i++ {
		if _, err := os.Lstat(path); err == nil {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// listenInSandbox is a program that listens on a socket at $1/srv.sock,
// creates $1/ready, and waits (at most 60 s) for $1/done.
const listenInSandbox = `
import os, socket, sys, time
d = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(os.path.join(d, "srv.sock"))
s.listen(5)
open(os.path.join(d, "ready"), "w").close()
for _ in range(1200):
    if os.path.exists(os.path.join(d, "done")):
        break
    time.sleep(0.05)
print("listener done")
`

// TestSockUnixVolumePlaceholder: a socket bound on a --volume is a socket
// file on the host that nothing listens on: the host cannot reach the
// sandbox's socket through it.
func TestSockUnixVolumePlaceholder(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	cmd, _, cancel := command([]string{runscBin, "do", "--volume", dir + ":" + dir, "--", "/usr/bin/python3", "-c", listenInSandbox, dir}, runOpts{})
	defer cancel()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	if !waitForFile(t, filepath.Join(dir, "ready")) {
		os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
		t.Fatalf("the sandboxed listener never got ready:\n%s", out.String())
	}
	st, err := os.Lstat(filepath.Join(dir, "srv.sock"))
	if err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("no socket file on the host: %v %v", st, err)
	}
	_, err = net.Dial("unix", filepath.Join(dir, "srv.sock"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("host connect to the sandbox's socket file: %v, want ECONNREFUSED", err)
	}
	os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
	if err := cmd.Wait(); err != nil {
		t.Errorf("sandbox: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "listener done") {
		t.Errorf("sandbox output: %s", out.String())
	}
}

// hostServer listens on a host socket and answers each line with
// "host: LINE" until closed.
func hostServer(t *testing.T, path string) net.Listener {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						fmt.Fprintf(c, "host: %s", buf[:n])
					}
					if err != nil {
						return
					}
				}
			}(c)
		}
	}()
	return l
}

const hostClient = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
addr = sys.argv[1]
if addr.startswith("\\x00"):
    addr = "\0" + addr[4:]
try:
    s.connect(addr)
except OSError as e:
    print("connect:", e.strerror)
    sys.exit(0)
s.sendall(b"ping\n")
print(s.recv(100).decode().strip())
print("peer:", repr(s.getpeername()))
s.close()
`

// TestSockUnixHostUDS: a host socket on a volume is out of reach by
// default (ECONNREFUSED); --host-uds=open connects to it and relays.
func TestSockUnixHostUDS(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "host.sock")
	l := hostServer(t, path)
	defer l.Close()
	argv := []string{"/usr/bin/python3", "-c", hostClient, path}
	r := runSandbox(t, argv, runOpts{Flags: []string{"--volume", dir + ":" + dir}})
	if r.Status != 0 || strings.TrimSpace(r.Stdout) != "connect: Connection refused" {
		t.Errorf("without --host-uds: status %d, output %q (want the host socket unreachable)\n%s", r.Status, r.Stdout, r.Stderr)
	}
	r = runSandbox(t, argv, runOpts{Flags: []string{"--host-uds=open", "--volume", dir + ":" + dir}})
	want := "host: ping\npeer: '" + path + "'\n"
	if r.Status != 0 || r.Stdout != want {
		t.Errorf("with --host-uds=open: status %d, output %q, want %q\n%s", r.Status, r.Stdout, want, r.Stderr)
	}
	// Outside a volume the host's socket is unreachable even with the
	// flag: the root is the host's, read-only, and never reaches host
	// sockets.
	r = runSandbox(t, argv, runOpts{Flags: []string{"--host-uds=open"}})
	if r.Status != 0 || strings.TrimSpace(r.Stdout) != "connect: Connection refused" {
		t.Errorf("--host-uds=open without a volume: status %d, output %q\n%s", r.Status, r.Stdout, r.Stderr)
	}
	// The abstract namespace is the sandbox's own, flag or not: a host
	// listener's abstract name does not exist inside.
	name := fmt.Sprintf("@runsc-lite-host-%d", os.Getpid())
	al := hostServer(t, name)
	defer al.Close()
	r = runSandbox(t, []string{"/usr/bin/python3", "-c", hostClient, `\x00` + name[1:]}, runOpts{Flags: []string{"--host-uds=open"}})
	if r.Status != 0 || strings.TrimSpace(r.Stdout) != "connect: Connection refused" {
		t.Errorf("host abstract socket from the sandbox: status %d, output %q\n%s", r.Status, r.Stdout, r.Stderr)
	}
	r = runRunsc(t, []string{"do", "--host-uds=maybe", "--", "/bin/true"}, runOpts{})
	if r.Status != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("bad --host-uds: status %d, stderr %q (want 2 and one line)", r.Status, r.Stderr)
	}
}
