package test

import (
	"os/exec"
	"testing"
)

// TestNetNamespaces: test/c/netns.c — unshare and clone with CLONE_NEWNET:
// a namespace whose only interface is lo, down until SIOCSIFFLAGS brings
// it up with its addresses; the parent's listener unreachable from it,
// its own reachable; setns back by /proc/PID/ns/net; 64 namespaces made
// and left in a row; EPERM without CAP_SYS_ADMIN.
func TestNetNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "netns", 0)
}

// netnsTools is what unshare -n, iproute2 and ping show of a new network
// namespace before and after `ip link set lo up` (RTM_NEWLINK), and what
// bwrap --unshare-net sets up itself (RTM_NEWADDR, then RTM_NEWLINK).
const netnsTools = `unshare -n sh -c 'ip addr; ip link; cat /proc/net/dev; ping -c1 -W1 127.0.0.1; ip link set lo up; ip addr; ip route show table local; ping -c1 -W2 127.0.0.1'
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
}

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
