package test

import "testing"

// Metadata of host files, as ls -l and getfattr read it: each listed file
// is looked up again by every stat and getxattr, and hostfs serves those
// relative to held directory descriptors (sentry/fs/hostfs/dirfds.go).

// hostMetaScript builds a tree in a volume ($1) with extended attributes
// (one longer than hostfs's first read buffer), a symlink and a FIFO,
// lists it with ls -ln and getfattr, adds and removes an ACL between
// listings, then renames a directory and makes
// another of the same name, so that a listing through a directory
// descriptor kept from before the rename would show the wrong files.
const hostMetaScript = `set -e
cd "$1"
mkdir -p a/sub
echo hi > a/f
ln -s f a/l
mkfifo a/p
setfattr -n user.one -v 1 a/f
setfattr -n user.empty a/f
setfattr -n user.long -v "$(head -c 700 /dev/zero | tr '\0' x)" a/sub
setfattr -n user.dir -v d a
chmod 0 a/f
# ls -l asks every file for its ACL (the "+" after the mode): one added
# and removed in between must show, whatever hostfs remembers.
echo x > a/acl
ls -ln --time-style=+ a
setfattr -n system.posix_acl_access -v 0x0200000001000600ffffffff020004000100000004000400ffffffff10000400ffffffff20000400ffffffff a/acl
ls -ln --time-style=+ a
getfattr -n system.posix_acl_access a/acl
setfattr -x system.posix_acl_access a/acl
ls -ln --time-style=+ a
list() {
	ls -lnR --time-style=+ .
	getfattr -R -d -m '^user\.' .
	getfattr -h -n user.one a/l 2>&1 || true
	getfattr -n user.none a/f 2>&1 || true
}
list
mv a b
mkdir a
echo new > a/g
setfattr -n user.three -v 3 a/g
list
rm -rf a b
`

// TestHostMetadataVolume compares hostMetaScript natively and on a
// volume.
func TestHostMetadataVolume(t *testing.T) {
	compareInWritableDir(t, "volume", func(dir string) []string {
		return []string{"/bin/sh", "-c", hostMetaScript, "sh", dir}
	})
}

// TestHostMetadataRoot compares listings of the root's lower layer (host
// files the overlay reads): ls -l of the biggest directories and
// getfattr of a tree (every name: security.* too, where the host has any).
func TestHostMetadataRoot(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/ls", "-lnR", "--full-time", "/usr/share/doc"}})
	compare(t, cmpCase{argv: []string{"/usr/bin/getfattr", "-R", "-d", "-m", "-", "--absolute-names", "/usr/share/doc", "/usr/lib/x86_64-linux-gnu"}})
}
