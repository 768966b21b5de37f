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

// TestNestedPIDNamespaces: test/c/pidnsnested.c — unshare(CLONE_NEWPID)
// and clone(CLONE_NEWPID) inside the sandbox: init is 1 with parent 0, its
// children number from 2 and see it as their parent, an orphan is
// reparented to it, waitid's and SIGCHLD's si_pid are inside IDs, NSpid
// from outside shows both IDs, init ignores an unhandled SIGTERM from
// inside and takes SIGUSR1 sent from outside by its outer PID (si_pid 0),
// its exit kills the rest of the namespace, a later fork into the dead
// namespace is ENOMEM, setns back, EINVAL for a second unshare and for
// CLONE_NEWPID|CLONE_THREAD.
func TestNestedPIDNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "pidnsnested", 0)
}

// TestPIDNamespaceIPC: test/c/pidnsipc.c — the PIDs locks and IPC objects
// record, read from a nested PID namespace: F_GETLK's l_pid, shm_cpid and
// shm_lpid, msg_lspid and msg_lrpid, semctl GETPID, /proc/sysvipc/{shm,msg},
// a message queue's NOTIFY_PID and its notification's si_pid, and a
// /proc/locks mounted for the namespace: the reader's IDs, 0 (or left
// out) for a process outside its namespace.
func TestPIDNamespaceIPC(t *testing.T) {
	needRoot(t)
	compareC(t, "pidnsipc", 0)
}

// TestCloneSetTID: test/c/settid.c — clone3's set_tid: the argument
// errors, the child's IDs chosen at one and two levels of nested PID
// namespaces, EEXIST for an ID in use (the outermost level's too), EINVAL
// for an ID other than 1 where there is no init yet, EPERM without
// CAP_SYS_ADMIN in the user namespace owning a level.
func TestCloneSetTID(t *testing.T) {
	needRoot(t)
	compareC(t, "settid", 0)
}

// TestUnshareMountProcPS: Debian's `unshare -fpm --mount-proc ps`: a new
// PID and mount namespace, a procfs mounted for it, and ps listing only
// the namespace's processes by their inside IDs — as natively, unnormalised.
func TestUnshareMountProcPS(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipped: unshare (util-linux) is not installed")
	}
	compare(t, cmpCase{argv: []string{"unshare", "-fpm", "--mount-proc", "ps", "-o", "pid,comm"}, stderr: true})
	// A shell as the namespace's init with a background child: the
	// parent IDs, process groups and sessions ps reads from the new
	// /proc (0 for those outside the namespace). ps runs once the child
	// has exec'd sleep, so both runs see the same name for it.
	compare(t, cmpCase{argv: []string{"unshare", "-fpm", "--mount-proc", "sh", "-c",
		"sleep 2 & until read c < /proc/$!/comm && [ \"$c\" = sleep ]; do :; done; ps -o pid,ppid,pgid,sid,comm; echo $$ $PPID; readlink /proc/self; grep -E '^(Tgid|Pid|PPid|NSpid)' /proc/self/status"}, stderr: true})
}
