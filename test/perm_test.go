package test

// Linux's permission model inside the sandbox (issue 12, item 2): the same
// program, run as root, checks what root, root without some capabilities,
// uid 1000, keep-caps and ambient capabilities and set-user-ID programs may
// do, natively and in the sandbox, on the root overlay, a volume and tmpfs.

import (
	"os"
	"os/exec"
	"testing"
)

// needRoot skips t when the tests do not run as root: the programs start
// as root and drop to uid 1000 themselves.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("the program starts as root and drops privileges itself; running as uid %d", os.Geteuid())
	}
}

// TestPermissionModel: c/perm.c on the overlay and on a volume
// (compareCInDir), and on tmpfs (/dev/shm, the sandbox's own).
// An escape is any access the native run refuses, e.g. uid 1000 opening
// /root/.bashrc or a file of a 0700 directory.
func TestPermissionModel(t *testing.T) {
	needRoot(t)
	compareCInDir(t, "perm")
	t.Run("tmpfs", func(t *testing.T) {
		compare(t, cmpCase{argv: []string{cProg(t, "perm"), "--mkdtemp", "/dev/shm"}})
	})
}

// TestPermissionModelRealPrograms: util-linux's setpriv drops to uid 1000
// (prctl, capset, setresuid as a real program does it) and the shell and
// coreutils then meet the same refusals as natively.
func TestPermissionModelRealPrograms(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	script := `id; cat /root/.bashrc >/dev/null; echo "cat: $?"; ls /root >/dev/null; echo "ls: $?"; ` +
		`test -r /etc/shadow; echo "test -r /etc/shadow: $?"; touch /etc/x 2>/dev/null; echo "touch /etc/x: $?"; ` +
		`grep -E '^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs)' /proc/self/status`
	compare(t, cmpCase{
		argv:   []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--no-new-privs", "sh", "-c", script},
		stderr: true,
	})
}
