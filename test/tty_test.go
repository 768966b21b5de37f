package test

// Terminals (issue 14, item 4): pseudo-terminals made inside the sandbox
// (c/tty.c, script, python's pty, expect) and a host terminal as the
// sandbox's /dev/pts/0, typed into by the test through a pseudo-terminal
// of its own: job control in an interactive bash, ^C and ^Z to the right
// process group, SIGWINCH when the window changes.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptsNumbers replaces the number of pts/N (/dev/pts/N) by the letter N.
var ptsNumbers = normaliser{
	name: "ptsNumbers",
	why:  "pseudo-terminal numbers are allocated by the host's devpts natively and by the sandbox's own devpts inside (where /dev/pts/0 is the sandbox's terminal)",
	fn: func(s string) string {
		return regexp.MustCompile(`pts/[0-9]+`).ReplaceAllString(s, "pts/N")
	},
}

// TestCTTY compares c/tty.c: openpty, the termios ioctls, the line
// discipline and job control, with pseudo-terminals the program makes.
func TestCTTY(t *testing.T) { compareC(t, "tty", 0) }

// TestCSignalfd compares c/signalfd.c: signalfd(2), which script(1) needs
// (the sentry serves it for that).
func TestCSignalfd(t *testing.T) { compareC(t, "signalfd", 0) }

// TestTTYScript: script(1) makes a pseudo-terminal (with posix_openpt and
// a signalfd) and runs tty and stty -a on it.
func TestTTYScript(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/usr/bin/script", "-qc", "tty; stty -a; echo status $?", "/dev/null"}, norms: []normaliser{ptsNumbers}})
}

// TestTTYPythonPty: python's pty.spawn runs a shell on a new
// pseudo-terminal and relays its output.
func TestTTYPythonPty(t *testing.T) {
	prog := `import os, pty, sys
st = pty.spawn(["/bin/sh", "-c", "tty; stty size; test -t 0 && echo on a terminal; exit 3"])
print("exit status:", os.waitstatus_to_exitcode(st))
m, s = pty.openpty()
print("openpty isatty:", os.isatty(m), os.isatty(s), os.ttyname(s).startswith("/dev/pts/"))
`
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", prog}, norms: []normaliser{ptsNumbers}, stderr: true})
}

// TestTTYExpect: expect spawns a program on a pseudo-terminal, answers
// its prompt and checks the reply.
func TestTTYExpect(t *testing.T) {
	if _, err := os.Stat("/usr/bin/expect"); err != nil {
		t.Skip("expect is not installed (.ci/run installs it)")
	}
	script := filepath.Join(t.TempDir(), "t.exp")
	writeFile(t, script, []byte(`set timeout 30
spawn /bin/sh -c {tty; stty -echo; read -p "secret? " s; stty echo; echo; read -p "name? " n; echo "hello $n, $s"}
expect "secret? "
send "hidden\r"
expect "name? "
send "world\r"
expect "hello world, hidden"
expect eof
puts "\nexpect: done"
`), 0o644)
	compare(t, cmpCase{argv: []string{"/usr/bin/expect", script}, norms: []normaliser{ptsNumbers}})
}

// TestTTYTmux: tmux runs a server on a pseudo-terminal of its own and a
// shell command in a pane; send-keys types into the pane and
// capture-pane reads its screen back. tmux talks to its server over an
// AF_UNIX socket: until the sandbox has them, the test says so and skips.
func TestTTYTmux(t *testing.T) {
	if _, err := os.Stat("/usr/bin/tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/run installs it)")
	}
	if !nativeOnly {
		probe := runSandbox(t, []string{"/usr/bin/python3", "-c", "import socket; socket.socket(socket.AF_UNIX).close()"}, runOpts{})
		if probe.Status != 0 {
			lines := strings.Split(strings.TrimSpace(probe.Stderr), "\n")
			t.Skipf("the sandbox has no AF_UNIX sockets yet (tmux needs them): %s", lines[len(lines)-1])
		}
	}
	script := `export TMUX_TMPDIR=$(mktemp -d)
tmux -f /dev/null new-session -d -s t -x 80 -y 20 'tty; stty size; echo hello from tmux; exec cat'
for i in $(seq 600); do tmux capture-pane -t t -p | grep -q hello && break; sleep 0.1; done
tmux send-keys -t t 'typed in' Enter
for i in $(seq 600); do [ "$(tmux capture-pane -t t -p | grep -c 'typed in')" = 2 ] && break; sleep 0.1; done
tmux capture-pane -t t -p | grep -v '^$'
tmux list-sessions -F '#{session_name} #{session_windows} #{window_width}x#{window_height}'
tmux kill-server
rm -rf "$TMUX_TMPDIR"`
	compare(t, cmpCase{argv: []string{"/bin/sh", "-c", script}, norms: []normaliser{ptsNumbers}})
}

// ptyRun is a program running with stdin, stdout and stderr on a
// pseudo-terminal made by the test, which types into it.
type ptyRun struct {
	t       *testing.T
	what    string
	argv    []string
	master  *os.File
	cmd     *exec.Cmd
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	out     bytes.Buffer
	seen    int // how far expect has consumed out
	changed chan struct{}
	eof     chan struct{}
}

// startOnPty starts argv on a fresh pseudo-terminal (40 rows, 100
// columns). With ctty the program leads a new session whose controlling
// terminal it is, as a login shell's terminal is; otherwise it only has it
// as its descriptors, as an OCI console that is not runsc-lite's own
// controlling terminal.
func startOnPty(t *testing.T, what string, argv []string, ctty bool) *ptyRun {
	t.Helper()
	master, slave := openPty(t)
	cmd, ctx, cancel := command(argv, runOpts{Timeout: 90 * time.Second})
	if ctty {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		slave.Close()
		master.Close()
		cancel()
		t.Fatalf("%s run of %q: %v", what, argv, err)
	}
	slave.Close()
	p := watchPty(t, what, argv, master)
	p.cmd, p.ctx, p.cancel = cmd, ctx, cancel
	return p
}

// watchPty records what the terminal whose master is master shows, for a
// program the caller starts (argv names it in messages); cmd is left nil
// when the test does not start the program itself (an OCI runtime's
// console): then transcript, not wait, ends the session.
func watchPty(t *testing.T, what string, argv []string, master *os.File) *ptyRun {
	p := &ptyRun{t: t, what: what, argv: argv, master: master,
		changed: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(p.eof)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.out.Write(buf[:n])
				p.mu.Unlock()
				select {
				case p.changed <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// expect waits (up to 60 s) until the terminal has shown s since the last
// expect, and consumes the output up to it.
func (p *ptyRun) expect(s string) {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		p.mu.Lock()
		all := p.out.String()
		if i := strings.Index(all[p.seen:], s); i >= 0 {
			p.seen += i + len(s)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		select {
		case <-p.changed:
		case <-p.eof:
			p.mu.Lock()
			all = p.out.String()
			p.mu.Unlock()
			if strings.Contains(all[p.seen:], s) {
				continue
			}
			p.kill()
			p.t.Fatalf("%s run of %q ended before showing %q; terminal:\n%q", p.what, p.argv, s, all)
		case <-deadline:
			p.kill()
			p.t.Fatalf("%s run of %q: %q not shown within 60s; terminal:\n%q", p.what, p.argv, s, all)
		}
	}
}

// kill kills the program, if the test started it.
func (p *ptyRun) kill() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
	}
}

// transcript waits (up to 10 s) for the terminal to end (every replica
// closed), closes the master and returns everything it showed.
func (p *ptyRun) transcript() string {
	p.t.Helper()
	select {
	case <-p.eof:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s run of %q: the terminal stayed open 10s after the program exited", p.what, p.argv)
	}
	p.master.Close()
	<-p.eof
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// send types s.
func (p *ptyRun) send(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatalf("typing %q: %v", s, err)
	}
}

// setSize resizes the terminal's window.
func (p *ptyRun) setSize(rows, cols uint16) {
	p.t.Helper()
	if err := unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		p.t.Fatalf("TIOCSWINSZ: %v", err)
	}
}

// wait waits for the program to exit and returns everything the terminal
// showed and the program's status.
func (p *ptyRun) wait() (string, int) {
	p.t.Helper()
	defer p.cancel()
	err := p.cmd.Wait()
	status := exitStatus(p.t, p.what, p.argv, p.ctx, p.cmd, err)
	return p.transcript(), status
}

// sandboxArgv prefixes argv with runsc-lite do.
func sandboxArgv(t *testing.T, argv []string) []string {
	t.Helper()
	needSandbox(t)
	return append(append(append([]string{runscBin, "do"}, sandboxFlags(t, nil)...), "--"), argv...)
}

// comparePty runs session natively and in the sandbox, each time on a
// fresh terminal (as its controlling terminal when ctty), and compares
// what the terminals showed and the statuses.
func comparePty(t *testing.T, argv []string, ctty bool, norms []normaliser, session func(p *ptyRun)) (native, sandbox string) {
	t.Helper()
	p := startOnPty(t, "native", argv, ctty)
	session(p)
	native, nst := p.wait()
	if nativeOnly {
		p = startOnPty(t, "native", argv, ctty)
	} else {
		p = startOnPty(t, "sandbox", sandboxArgv(t, argv), ctty)
	}
	session(p)
	sandbox, sst := p.wait()
	if nst != sst {
		t.Errorf("%q: sandbox status %d, native %d", argv, sst, nst)
	}
	if d := diff(normalise(native, norms), normalise(sandbox, norms)); d != "" {
		t.Errorf("%q: the terminals differ (- native, + sandbox; normalised by %s):\n%s", argv, normNames(norms), d)
	}
	return native, sandbox
}

// lines splits a terminal transcript into lines for diffing.
var terminalLines = normaliser{
	name: "terminalLines",
	why:  "a terminal transcript is compared line by line: \\r\\n becomes \\n (both runs keep their carriage returns otherwise)",
	fn:   func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") },
}

// TestTTYHostTerminal: the sandbox's standard streams are a host
// terminal: the program sees a terminal at /dev/pts/0 (not gVisor's
// host:[N]) with the host terminal's settings and window size. (ps prints
// the terminal and the state in two runs: with both columns, ps pads the
// first to the width of the host's pts number, which differs.)
func TestTTYHostTerminal(t *testing.T) {
	argv := []string{"/bin/sh", "-c", `tty; readlink /proc/self/fd/0 /proc/self/fd/1; stty -a; test -t 2 && echo stderr is a terminal
stty -echo -icanon; stty -a | grep -o -- "-echo -echoe\|-icanon"; stty sane; ps -o tty= -p $$; ps -o stat= -p $$`}
	_, sandbox := comparePty(t, argv, true, []normaliser{ptsNumbers, terminalLines}, func(p *ptyRun) {})
	if !nativeOnly && !strings.HasPrefix(sandbox, "/dev/pts/0\r\n/dev/pts/0\r\n/dev/pts/0\r\n") {
		t.Errorf("tty and /proc/self/fd in the sandbox: want /dev/pts/0; terminal:\n%q", sandbox)
	}
}

// TestTTYJobControl: an interactive bash on the terminal: ^Z stops the
// foreground job (bash gets the terminal back and reports it), fg
// continues it in the foreground, ^C kills it without killing bash, as on
// the host. (Background jobs reading the terminal, SIGTTIN and SIGTTOU are
// compared by c/tty.c, without bash's asynchronous job notices.)
func TestTTYJobControl(t *testing.T) {
	argv := []string{"/usr/bin/env", "PS1=PROMPT> ", "/bin/bash", "--norc", "--noprofile", "-i"}
	comparePty(t, argv, true, []normaliser{terminalLines}, func(p *ptyRun) {
		p.expect("PROMPT> ")
		// The job says when it runs (bash has made it the foreground
		// group before it starts), then waits for a line.
		p.send("sh -c 'echo job-ready; read x; echo job-got $x; exec sleep 30'\r")
		p.expect("job-ready\r\n")
		p.send("\x1a")
		p.expect("Stopped")
		p.expect("PROMPT> ")
		p.send("jobs\r")
		p.expect("Stopped")
		p.expect("PROMPT> ")
		p.send("fg\r")
		p.expect("exec sleep 30'\r\n")
		// Its read completes only once it is the foreground again.
		p.send("line\r")
		p.expect("job-got line\r\n")
		p.send("\x03")
		p.expect("PROMPT> ")
		p.send("echo after $?\r")
		p.expect("\r\nafter 130")
		p.expect("PROMPT> ")
		p.send("exit\r")
	})
}

// TestTTYInterrupt: ^C through the host terminal reaches the sandbox's
// foreground process group, which here is init's (a shell running a
// Python child): both get SIGINT; the shell's trap runs after its child
// died of it.
func TestTTYInterrupt(t *testing.T) {
	script := `trap 'echo shell got INT' INT
/usr/bin/python3 -c '
import os, signal, time
def h(s, f):
    os.write(1, b"child got SIGINT\n")
    os._exit(5)
signal.signal(signal.SIGINT, h)
print("ready", flush=True)
for i in range(600):
    time.sleep(0.1)  # a signal that arrives between two sleeps is handled too
'
echo "child status $?"`
	comparePty(t, []string{"/bin/sh", "-c", script}, true, []normaliser{terminalLines}, func(p *ptyRun) {
		p.expect("ready\r\n")
		p.send("\x03")
		p.expect("child status")
	})
}

// TestTTYWindowChange: resizing the host terminal sends SIGWINCH to the
// sandbox's foreground group with the new size, whether or not the
// terminal is runsc-lite's controlling terminal (natively only a
// controlling terminal signals: that half is compared; without one, as
// an OCI console, the sandbox is checked alone).
func TestTTYWindowChange(t *testing.T) {
	// The wait is a short sleep in a loop, not signal.pause(): a signal
	// arriving between the check and pause() would be waited for forever
	// (it happened natively on a loaded machine).
	prog := `import signal, os, sys, time
got = []
signal.signal(signal.SIGWINCH, lambda s, f: got.append(s))
print("size", os.get_terminal_size(0), flush=True)
print("ready", flush=True)
while not got:
    time.sleep(0.05)
print("SIGWINCH", os.get_terminal_size(0), flush=True)
`
	argv := []string{"/usr/bin/python3", "-c", prog}
	resize := func(p *ptyRun) {
		p.expect("ready\r\n")
		p.setSize(33, 77)
		p.expect("SIGWINCH")
	}
	comparePty(t, argv, true, []normaliser{terminalLines}, resize)
	if nativeOnly {
		return
	}
	p := startOnPty(t, "sandbox", sandboxArgv(t, argv), false)
	resize(p)
	out, st := p.wait()
	if st != 0 || !strings.Contains(out, "SIGWINCH os.terminal_size(columns=77, lines=33)") {
		t.Errorf("sandbox on a terminal that is not runsc-lite's controlling terminal: status %d, terminal:\n%q", st, out)
	}
}

// TestTTYBackgroundLeavesTerminal: runsc-lite started in the background
// of its terminal does not take it over (a shell's terminal must not
// turn raw under it): its program writes through it as a background job
// would.
func TestTTYBackgroundLeavesTerminal(t *testing.T) {
	needSandbox(t)
	script := runscBin + ` do -- /bin/sh -c 'test -t 1 && echo bg on a terminal' & wait; stty -a | grep -o "icanon\|echo "`
	p := startOnPty(t, "sandbox", []string{"/bin/bash", "--norc", "-i", "-c", script}, true)
	out, st := p.wait()
	if st != 0 || !strings.Contains(out, "bg on a terminal") || !strings.Contains(out, "icanon") {
		t.Errorf("status %d, terminal:\n%q", st, out)
	}
}
