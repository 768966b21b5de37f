package test

import "testing"

// TestCInotify compares c/inotify.c: what an inotify watcher of files and
// directories sees of the program's own changes (every event, moves with
// cookies, deferred DELETE_SELF, the watch flags, readiness, FIONREAD,
// short reads, coalescing, queue overflow, IN_UNMOUNT), on the overlay and
// on a volume.
func TestCInotify(t *testing.T) { compareCInDir(t, "inotify") }

// tailFollow has tail -F (coreutils) follow a log that is appended to and
// then replaced by a rename. Its polling interval is 1000 s, so only
// inotify can make it notice either change in time: without it, the
// wait_for loops give up (after 2400 rounds, at least 120 s) and the
// outputs differ.
const tailFollow = `
wait_for() { i=0; while ! grep -q "$1" "$2" 2>/dev/null; do i=$((i+1)); [ $i -gt 2400 ] && { echo "gave up waiting for $1"; return 1; }; sleep 0.05; done; }
echo one > log
tail -s 1000 -n +1 -F log > out 2> err & t=$!
wait_for one out
echo two >> log
wait_for two out
echo three > log.new
mv -f log.new log
wait_for three out
kill $t; wait $t 2>/dev/null
cat out
sed "s/^tail: //" err
rm -f log out err
`

// TestTailFollow compares tail -F noticing appended data and a replaced
// file, on a volume (the host's filesystem natively) and on a tmpfs
// (/dev/shm). Not on the overlay: coreutils counts overlayfs as remote and
// polls there, natively as in the sandbox.
func TestTailFollow(t *testing.T) {
	t.Run("volume", func(t *testing.T) {
		compareInWritableDir(t, "volume", func(dir string) []string {
			return []string{"/bin/sh", "-c", tailFollow}
		})
	})
	t.Run("tmpfs", func(t *testing.T) {
		compare(t, cmpCase{argv: []string{"/bin/sh", "-c", `d=$(mktemp -d /dev/shm/tailf.XXXXXX) && cd $d && {` + tailFollow + `}; cd / && rmdir $d`}})
	})
}
