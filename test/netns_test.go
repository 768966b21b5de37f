package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestNetNamespaces: test/c/netns.c — unshare and clone with CLONE_NEWNET:
// a namespace whose only interface is lo, down until SIOCSIFFLAGS brings
// it up with its addresses; the parent's listener unreachable from it,
// its own reachable; setns back by /proc/PID/ns/net; 64 namespaces made
// and left in a row; EPERM without CAP_SYS_ADMIN.
//
// With --network=host the first namespace's sockets are host sockets and
// the new ones the sandbox's own stacks: the same program gives the same
// answers.
func TestNetNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "netns", 0)
	t.Run("network=host", func(t *testing.T) {
		compare(t, cmpCase{argv: []string{cProg(t, "netns")}, stderr: true, opts: runOpts{Flags: []string{"--network=host"}}})
	})
}

// netnsTools is what unshare -n, iproute2 and ping show of a new network
// namespace before and after `ip link set lo up` (RTM_NEWLINK; down again,
// ::1 goes and comes back with the next up), and what
// bwrap --unshare-net sets up itself (RTM_NEWADDR, then RTM_NEWLINK).
const netnsTools = `unshare -n sh -c 'ip addr; ip link; cat /proc/net/dev; ping -c1 -W1 127.0.0.1; ip link set lo up; ip addr; ip route show table local; ping -c1 -W2 127.0.0.1; ip link set lo down; ip -o addr; ip link set lo up; ip -o addr'
bwrap --dev-bind / / --unshare-net sh -c 'ip addr; cat /proc/net/dev'`

// TestNetNamespaceTools runs netnsTools natively and in the sandbox.
func TestNetNamespaceTools(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"ip", "ping", "unshare", "bwrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s is not installed (.ci/run installs iproute2, iputils-ping, util-linux, bubblewrap)", tool)
		}
	}
	compare(t, cmpCase{argv: []string{"sh", "-c", netnsTools}, norms: []normaliser{pingNorm}, stderr: true})
	if _, err := exec.LookPath("setpriv"); err == nil {
		// Unprivileged, as Chrome's and bwrap's sandboxes: a user
		// namespace owns the new network namespace, and its root
		// configures lo; without one, EPERM.
		compare(t, cmpCase{argv: []string{"sh", "-c", netnsUserOwned}, stderr: true})
	}
}

// netnsUserOwned makes a network namespace as an unprivileged user, in a
// user namespace of its own (unshare -Urn), and then without one.
const netnsUserOwned = `setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urn sh -c 'id -u; ip link set lo up; ip -o addr; cat /proc/net/dev | wc -l'
setpriv --reuid=65534 --regid=65534 --clear-groups unshare -n true; echo "unprivileged unshare -n: exit $?"`

// TestNetNamespaceUnshareGo is Go's syscall TestUnshare, which the
// gostd comparison cannot show (the sandbox there has lo only, and the
// test skips without a second interface): in a namespace with a veth,
// with --network=sandbox, a `cat /proc/net/dev` with
// Unshareflags: CLONE_NEWNET sees lo alone.
func TestNetNamespaceUnshareGo(t *testing.T) {
	ns := vethNamespace(t, "10.126.0.1/24", "10.126.0.2/24", "10.126.0.1")
	script := `cat /proc/net/dev | sed 's/:.*//'; echo --; unshare -n cat /proc/net/dev | sed 's/:.*//'`
	native := run(t, "native", []string{"ip", "netns", "exec", ns, "sh", "-c", script}, runOpts{})
	sandbox := sandboxInNetns(t, ns, []string{"sh", "-c", script}, runOpts{})
	checkSame(t, cmpCase{argv: []string{"sh", "-c", script}}, native, sandbox)
}

// TestNetNamespaceRelease: every namespace test/c/netns.c makes (one by
// unshare, one by clone, one kept by an nsfs file after its process, 64
// in a row) has its stack closed once its last user is gone, and at the
// end only the sandbox's first stack is left (the sentry's debug log
// says so at each close).
func TestNetNamespaceRelease(t *testing.T) {
	needRoot(t)
	logPath := filepath.Join(t.TempDir(), "debug.log")
	r := runSandbox(t, []string{cProg(t, "netns")}, runOpts{Flags: []string{"--debug", "--debug-log", logPath}})
	if r.Status != 0 {
		t.Fatalf("netns: status %d\n%s", r.Status, r.Stderr)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	closed := regexp.MustCompile(`a namespace's stack closed \((\d+) stacks left\)`).FindAllStringSubmatch(string(b), -1)
	// unshare + clone + the one an nsfs file kept + 64 in a row.
	if len(closed) != 67 {
		t.Errorf("%d namespace stacks closed, want 67", len(closed))
	}
	if len(closed) > 0 && closed[len(closed)-1][1] != "1" {
		t.Errorf("after the last close %s stacks are left, want 1 (the sandbox's own)", closed[len(closed)-1][1])
	}
}
