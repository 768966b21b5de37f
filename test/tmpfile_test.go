package test

import "testing"

// TestCTmpfile compares c/tmpfile.c: O_TMPFILE's checks, the unnamed
// file, linkat by AT_EMPTY_PATH and through /proc/self/fd, O_EXCL, the
// umask and a setgid directory, on the overlay and on a tmpfs (/dev/shm).
// Volumes answer EOPNOTSUPP (see the syscall table), where the native run
// on the host's filesystem succeeds, so they are not compared here.
func TestCTmpfile(t *testing.T) {
	prog := cProg(t, "tmpfile")
	t.Run("overlay", func(t *testing.T) {
		compareInWritableDir(t, "overlay", func(dir string) []string { return []string{prog, dir} })
	})
	t.Run("tmpfs", func(t *testing.T) {
		compare(t, cmpCase{argv: []string{"/bin/sh", "-c", `d=$(mktemp -d /dev/shm/tmpfile.XXXXXX) && "$0" "$d"; s=$?; rm -rf "$d"; exit $s`, prog}})
	})
}
