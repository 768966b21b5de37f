package test

// Namespaces and mounts inside the sandbox (issue 15 item 6): the same
// programs make mount namespaces, mount, bind, propagate, unmount and
// pivot_root natively (as root, in a namespace of their own, so the host
// is untouched) and in the sandbox; outputs must match.

import (
	"os/exec"
	"testing"
)

// TestMountNamespaces: test/c/mountns.c — bind/rbind, remount read-only,
// MS_MOVE, shared/slave/private/unbindable propagation, a child's own
// namespace and a peer across namespaces, /proc/PID/ns/mnt and setns,
// umount2's errors and MNT_DETACH, pivot_root (also "." "."), chroot and
// proc inside, EPERM without CAP_SYS_ADMIN; mountinfo compared.
func TestMountNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "mountns", 0)
}

// bwrapProbe runs inside `bwrap --ro-bind / / --proc /proc --dev /dev`:
// the new /dev's entries, the read-only root, and the type and ro/rw of
// the mounts bwrap made (the top mount of each of its points; flags
// inherited from the host's own mounts are left out, they are the
// host's).
const bwrapProbe = `ls /dev; touch /x 2>/dev/null; echo "touch / status $?"
for p in /dev /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/pts /proc; do
	awk -v p="$p" '$5 == p { o = $6; sub(/,.*/, "", o); top = $5 " " o " " $(NF-2) } END { print top }' /proc/self/mountinfo
done
echo ok > /dev/null && echo "/dev/null writable"
ls /proc/self/fd >/dev/null && echo "/proc works"`

// TestBwrap: Debian's bubblewrap builds its sandbox inside ours (a mount
// namespace, a tmpfs root it pivots into, recursive read-only binds it
// checks through /proc/self/mountinfo, a new /dev with bound device
// nodes and devpts) and runs the probe, as natively; as root and in a
// user namespace of its own.
func TestBwrap(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("skipped: bwrap is not installed (apt-get install -y bubblewrap; .ci/run installs it)")
	}
	compare(t, cmpCase{argv: []string{"bwrap", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"}})
	compare(t, cmpCase{argv: []string{"bwrap", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "sh", "-c", bwrapProbe}, stderr: true})
	// In a user namespace of its own (with a PID namespace, so that its
	// proc is one the user namespace may mount): every mount it copies
	// is locked, and its binds, remounts and pivot_root must still work.
	compare(t, cmpCase{argv: []string{"bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "sh", "-c", bwrapProbe}, stderr: true})
}

// TestUTSNamespaces: test/c/utsns.c — unshare and clone with CLONE_NEWUTS,
// the new namespace's names in uname and /proc/sys/kernel, the parent's
// untouched, setns by /proc/PID/ns/uts, EPERM without CAP_SYS_ADMIN.
func TestUTSNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "utsns", 0)
}

// TestIPCNamespaces: test/c/ipcns.c — a new IPC namespace has none of the
// parent's System V objects or POSIX queues and its own under the same
// key, /proc/sysvipc is the reader's, setns joins it, CLONE_SYSVSEM with
// it is EINVAL, EPERM without CAP_SYS_ADMIN.
func TestIPCNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "ipcns", 0)
}

// TestCgroupNamespaces: test/c/cgroupns.c — unshare and clone with
// CLONE_NEWCGROUP make new namespaces (/proc/self/ns/cgroup), a fork
// shares its parent's, /proc/self/cgroup's unified line reads "0::/"
// inside, setns returns to the first, and a cgroup namespace's file with
// another nstype is EINVAL.
func TestCgroupNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "cgroupns", 0)
}

// TestTimeNamespaces: test/c/timens.c — unshare(CLONE_NEWTIME) leaves the
// caller and moves its children (time_for_children), timens_offsets
// reads, refuses bad clocks, nanoseconds and ranges and freezes once a
// process entered, a fork, an exec and a clone3(CLONE_NEWTIME) child see
// CLOCK_MONOTONIC and CLOCK_BOOTTIME (vDSO and syscall, raw, coarse,
// /proc/uptime, sysinfo) moved and CLOCK_REALTIME not, absolute
// clock_nanosleep, timerfd, POSIX timers and futex deadlines inside last
// the time asked,
// setns needs a single thread (EUSERS), EPERM unprivileged.
func TestTimeNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "timens", 0)
}

// TestUnshareTimeUtil: Debian's unshare(1) -T with --monotonic and
// --boottime (it writes /proc/self/timens_offsets, then forks or execs
// into the namespace): /proc/uptime, date's CLOCK_REALTIME and a child's
// elapsed time from /proc/PID/stat's start time and /proc/uptime (as ps
// makes it; ps itself once printed a minute or more natively), read
// inside against outside. Differences are printed rounded down to
// tens of seconds (a loaded machine takes well under ten between two
// reads). The readings have two decimals, which binary floating point
// does not hold exactly: half a hundredth is added before rounding down,
// or an exact 86400.00 could come out as 86399.99999 and print 86390 (a
// native run did).
func TestUnshareTimeUtil(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipped: unshare(1) is not installed (util-linux)")
	}
	const script = `up() { cut -d' ' -f1 /proc/uptime; }
tens() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", int((b - a + 0.005) / 10) * 10 }'; }
a=$(up); b=$(unshare -T --monotonic 86400 --boottime 86400 -f sh -c "$(declare -f up); up")
echo "uptime with --boottime 86400 -f: +$(tens "$a" "$b") s"
a=$(up); b=$(unshare -T --boottime 3600 sh -c "$(declare -f up); up")
echo "uptime with --boottime 3600 (exec): +$(tens "$a" "$b") s"
a=$(date +%s); b=$(unshare -T --monotonic 86400 --boottime 86400 -f date +%s)
echo "date: +$(tens "$a" "$b") s"
unshare -T --boottime 86400 -f sh -c 'sleep 60 & s=$(cut -d" " -f22 /proc/$!/stat); u=$(cut -d" " -f1 /proc/uptime); awk -v s="$s" -v u="$u" -v hz="$(getconf CLK_TCK)" "BEGIN { e = u - s / hz; print \"a child just started, elapsed under a minute: \" (e > -1 && e < 60 ? \"yes\" : \"no\") }"; kill $!; wait; true'
unshare -T --boottime -999999999 -f true; echo "an offset making the clock negative: exit $?"
`
	compare(t, cmpCase{argv: []string{"bash", "-c", script}, stderr: true})
}

// TestUserNamespaces: test/c/userns.c — unshare and clone with
// CLONE_NEWUSER as an unprivileged user and as root, IDs before and after
// the maps (65534 while unmapped) in get*id, getgroups, stat and
// /proc/self/status, uid_map/gid_map writes allowed and refused
// (EINVAL/EPERM, write-once, setgroups "deny" first), a parent writing a
// child's wide maps, capabilities inside and not over the parent's
// objects, sethostname, mount and chown inside, the nesting limit.
func TestUserNamespaces(t *testing.T) {
	needRoot(t)
	compareC(t, "userns", 0)
}

// TestUserNamespaceCapabilities: test/c/usernscaps.c — root of a nested
// user namespace has its capabilities over files whose owner and group
// are mapped into it (reading, chmod, utimes, chown, a sticky directory's
// unlink) and not over others, and CAP_KILL and CAP_SYS_PTRACE over
// processes of its namespace but not of the first. Compared with native.
func TestUserNamespaceCapabilities(t *testing.T) {
	needRoot(t)
	compareC(t, "usernscaps", 0)
}

// TestRemountReadOnly: test/c/remount.c — MS_REMOUNT|MS_BIND|MS_RDONLY
// makes one mount read-only, MS_REMOUNT|MS_RDONLY the filesystem through
// all its mounts (a bind too) until a remount without MS_BIND; mountinfo's
// mount and super options and /proc/mounts show which. Compared with
// native.
func TestRemountReadOnly(t *testing.T) {
	needRoot(t)
	compareC(t, "remount", 0)
}

// TestRbindPropagation: test/c/rbindprop.c — an rbind, and a move of a
// tree, into a shared mount reach its peers and slaves with every
// submount, and umount -l takes the copies away. Compared with native.
func TestRbindPropagation(t *testing.T) {
	needRoot(t)
	compareC(t, "rbindprop", 0)
}

// TestLockedMountPropagation: test/c/mntlockprop.c — a user namespace's
// copy of a shared mount is a slave (its mounts do not reach the first
// namespace), and what propagates into it is locked but for its top.
// Compared with native.
func TestLockedMountPropagation(t *testing.T) {
	needRoot(t)
	compareC(t, "mntlockprop", 0)
}

// TestLockedMounts: test/c/mntlocked.c — mounts copied into a mount
// namespace of a new user namespace are locked: umount and MS_MOVE EINVAL,
// a remount clearing a locked flag or changing atime EPERM, a bind
// revealing a locked submount EINVAL, an rbind's top unlocked and its
// submounts locked, pivot_root moving the lock to the new root; a remount
// of the filesystem itself needs CAP_SYS_ADMIN in its user namespace; and
// only the FS_USERNS_MOUNT filesystems the namespace owns are mountable
// (proc of its own PID namespace, mqueue of its own IPC namespace, tmpfs,
// devpts; not sysfs). Compared with native.
func TestLockedMounts(t *testing.T) {
	needRoot(t)
	compareC(t, "mntlocked", 0)
}

// TestUnshareUserUtil: Debian's unshare(1) maps the caller to root of a
// new user namespace (-r; -U alone as well), as root and as nobody, and
// what id(1) and the map files show there is what they show natively.
func TestUnshareUserUtil(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipped: unshare(1) is not installed (util-linux)")
	}
	compare(t, cmpCase{argv: []string{"unshare", "-Ur", "id"}, stderr: true})
	compare(t, cmpCase{argv: []string{"unshare", "-r", "cat", "/proc/self/uid_map", "/proc/self/gid_map", "/proc/self/setgroups"}, stderr: true})
	compare(t, cmpCase{argv: []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "-r", "sh", "-c", "id; cat /proc/self/uid_map; unshare -m true && echo mount ns ok"}, stderr: true})
}
