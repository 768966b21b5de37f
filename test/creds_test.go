package test

import (
	"os"
	"testing"
)

// credsScript changes identities the way daemons dropping privileges do
// and prints what the kernel reports after each step. Natively it runs as
// the test's user (root on these machines); the sandbox has its own
// identities starting from the same IDs, and nothing it does changes the
// host's.
const credsScript = `
import os
print("start", os.getresuid(), os.getresgid())
os.setgroups([1, 2]); print("groups", os.getgroups())
os.setregid(3, 4); print("setregid", os.getresgid())
os.setresgid(5, 5, 5); print("setresgid", os.getresgid())
os.setresuid(7, 8, 9); print("setresuid", os.getresuid())
os.setuid(9); print("setuid to the saved uid", os.getresuid())
for f, args in ((os.setuid, (0,)), (os.setgroups, ([0],)), (os.setresuid, (0, 0, 0))):
    try:
        f(*args)
        print(f.__name__, "allowed")
    except PermissionError:
        print(f.__name__, "EPERM")
`

func TestCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("the comparison starts from root's identities; running as uid %d", os.Geteuid())
	}
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", credsScript}})
}
