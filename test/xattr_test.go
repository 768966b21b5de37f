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
