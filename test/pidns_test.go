package test

// PID namespace semantics (issue 12, item 5): the sandbox's first program
// is the init of a PID namespace. c/pidns.c runs as PID 1 natively under
// `unshare --fork --pid` and as the sandbox's program; outputs and exit
// status (init's, 7) must match.

import (
	"os/exec"
	"strings"
	"testing"
)

// pidnsExpected is what Linux documents (pid_namespaces(7)) and does,
// for hosts where unshare cannot make a PID namespace.
const pidnsExpected = `init is pid 1: yes
child's kill(1, SIGTERM): returned 0; init is still running
child's sigqueue(1, SIGINT): returned 0; init is still running
child's kill(1, SIGKILL): returned 0; init is still running
child's kill(1, SIGSTOP): returned 0; init is still running
child's kill(1, SIGHUP): returned 0; init is still running
child's kill(1, SIGUSR1 (handled)): returned 0; init is still running
handler ran: yes
child's kill(1, SIGTERM (blocked)): returned 0; init is still running
SIGTERM pending while blocked: yes
unblocked without a handler: init is still running
the orphan's parent is now: 1
init reaped the orphan: yes, its status 3
`

// TestPIDNamespaceInit: init ignores the signals other processes send it
// without a handler (SIGKILL and SIGSTOP included), takes the handled
// ones, adopts orphans, and its exit status is the sandbox's. An escape
// (init killed from inside) shows as status 128+N and missing lines.
func TestPIDNamespaceInit(t *testing.T) {
	prog := cProg(t, "pidns")
	want := pidnsExpected
	if _, err := exec.LookPath("unshare"); err == nil && !nativeOnly {
		native := runNative(t, []string{"unshare", "--fork", "--pid", prog}, runOpts{})
		switch {
		case native.Status == 7:
			want = native.Stdout
		case strings.Contains(native.Stderr, "unshare"):
			t.Logf("unshare cannot make a PID namespace here (%s); checking against Linux's documented behaviour", strings.TrimSpace(native.Stderr))
		default:
			t.Fatalf("native run under unshare: status %d, want 7\nstdout:\n%s\nstderr:\n%s", native.Status, native.Stdout, native.Stderr)
		}
	}
	sb := secondRun(t, []string{prog}, runOpts{})
	if nativeOnly {
		// The second "native" run is not PID 1.
		return
	}
	if sb.Status != 7 {
		t.Errorf("sandbox status %d, want init's 7\nstderr:\n%s", sb.Status, tail(sb.Stderr, 20))
	}
	if d := diff(want, sb.Stdout); d != "" {
		t.Errorf("sandbox output differs (- expected/native, + sandbox):\n%s", d)
	}
}

// TestPIDNamespaceInitShell: the same with a real shell as init: a child
// shell's kill of PID 1 leaves the sandbox running, and the sandbox ends
// with init's own status.
func TestPIDNamespaceInitShell(t *testing.T) {
	r := runSandbox(t, []string{"/bin/sh", "-c", `sh -c 'kill -TERM 1; kill -KILL 1; kill -STOP 1; echo child done'; echo init alive; exit 3`}, runOpts{})
	if r.Status != 3 || r.Stdout != "child done\ninit alive\n" {
		t.Fatalf("status %d (want 3)\nstdout:\n%s\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 20))
	}
}
