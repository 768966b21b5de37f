package test

import "testing"

// TestCXattr compares c/xattr.c: extended attributes on the overlay and
// a tmpfs (/dev/shm), kept by the sentry, and on a volume, kept by the
// host's filesystem. On the volume trusted.* and security.* are left out:
// the sandbox's root writes them through the host, where the confined
// sentry lacks CAP_SYS_ADMIN.
func TestCXattr(t *testing.T) {
	prog := cProg(t, "xattr")
	t.Run("overlay", func(t *testing.T) {
		compareInWritableDir(t, "overlay", func(dir string) []string { return []string{prog, dir} })
	})
	t.Run("volume", func(t *testing.T) {
		compareInWritableDir(t, "volume", func(dir string) []string { return []string{prog, dir, "useronly"} })
	})
	t.Run("tmpfs", func(t *testing.T) {
		compare(t, cmpCase{argv: []string{"/bin/sh", "-c", `d=$(mktemp -d /dev/shm/xattr.XXXXXX) && "$0" "$d"; s=$?; rm -rf "$d"; exit $s`, prog}})
	})
}

// pythonXattr sets, lists and removes user.* attributes from Python and
// copies a file with them by cp -a (coreutils) and shutil.copy2.
const pythonXattr = `
import os, shutil, subprocess, sys
d = sys.argv[1]
src = os.path.join(d, "src")
with open(src, "w") as f:
    f.write("data\n")
os.setxattr(src, "user.origin", b"runsc-lite")
os.setxattr(src, "user.empty", b"")
print(sorted(n for n in os.listxattr(src) if n.startswith("user.")), os.getxattr(src, "user.origin"))
# cp -a keeps extended attributes (coreutils copies them with the file).
subprocess.run(["cp", "-a", src, os.path.join(d, "copy")], check=True)
print("cp -a:", sorted(n for n in os.listxattr(os.path.join(d, "copy")) if n.startswith("user.")))
# shutil.copy2 copies them too (os.listxattr/getxattr/setxattr).
shutil.copy2(src, os.path.join(d, "copy2"))
print("copy2:", os.getxattr(os.path.join(d, "copy2"), "user.origin"))
try:
    os.setxattr(src, "user.origin", b"x", os.XATTR_CREATE)
except OSError as e:
    print("XATTR_CREATE:", e.strerror)
os.removexattr(src, "user.empty")
print(sorted(n for n in os.listxattr(src) if n.startswith("user.")))
for n in ("src", "copy", "copy2"):
    os.unlink(os.path.join(d, n))
`

// TestPythonXattr compares pythonXattr natively and in the sandbox, on
// the overlay and on a volume.
func TestPythonXattr(t *testing.T) {
	for _, mode := range []string{"overlay", "volume"} {
		t.Run(mode, func(t *testing.T) {
			compareInWritableDir(t, mode, func(dir string) []string {
				return []string{"/usr/bin/python3", "-c", pythonXattr, dir}
			})
		})
	}
}
