package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCLocks compares c/locks.c: POSIX, OFD and flock locks between
// processes (conflicts, ranges, release at close and exit, waits that end
// at the unlock, EINTR and SA_RESTART, EDEADLK, /proc/locks and fdinfo),
// on the overlay (tmpfs) and on a volume.
func TestCLocks(t *testing.T) { compareCInDir(t, "locks") }

// flockScript drives flock(1) (util-linux) through shared and exclusive
// locks, a conflict, a wait that ends when the holder unlocks, and a timed
// wait (flock -w: an alarm interrupts the wait).
const flockScript = `
f=./lockfile
: > $f
exec 9>$f
flock -x 9
flock -n $f -c 'echo inner got it' || echo "exclusive held: busy $?"
flock -s -n $f -c 'echo shared got it' || echo "shared: busy $?"
flock -u 9
flock -n $f -c 'echo after unlock: got it'
flock -s 9
flock -s -n $f -c 'echo shared beside shared: got it'
flock -x 9
( flock -w 60 $f -c 'echo waiter got it' ) &
w=$!
sleep 0.3
echo releasing
flock -u 9
wait $w
flock -x 9
flock -w 0.2 $f true
echo "timed out: status $?"
flock -u 9
exec 9>&-
rm -f $f
`

// TestFlockCommand compares flock(1) natively and in the sandbox, on the
// overlay and on a volume.
func TestFlockCommand(t *testing.T) {
	for _, mode := range []string{"overlay", "volume"} {
		t.Run(mode, func(t *testing.T) {
			compareInWritableDir(t, mode, func(dir string) []string {
				return []string{"/bin/sh", "-c", flockScript}
			})
		})
	}
}

// sqliteHammer runs two worker processes that each commit n rows into one
// SQLite database, in the journal mode given, each write transaction
// checking that it sees exactly its own earlier rows; then the parent
// checks the database's integrity and the rows. Without working locks
// between the processes, rows are lost or the workers see each other's
// transactions half done.
const sqliteHammer = `
import os, sqlite3, subprocess, sys

def worker(db, wid, n):
    con = sqlite3.connect(db, timeout=600, isolation_level=None)
    for i in range(n):
        con.execute("BEGIN")
        con.execute("SELECT count(*), max(id) FROM t").fetchone()
        con.execute("COMMIT")
        con.execute("BEGIN IMMEDIATE")
        c = con.execute("SELECT count(*) FROM t WHERE worker = ?", (wid,)).fetchone()[0]
        if c != i:
            print("worker", wid, "saw", c, "rows of its own, expected", i, flush=True)
            sys.exit(1)
        con.execute("INSERT INTO t(worker, seq, pad) VALUES (?, ?, ?)", (wid, i, "x" * (i % 700)))
        con.execute("COMMIT")
    con.close()

def main():
    if sys.argv[1] == "worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    db, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = sqlite3.connect(db, isolation_level=None)
    print("journal_mode", con.execute("PRAGMA journal_mode=" + mode).fetchone()[0])
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, worker INTEGER, seq INTEGER, pad TEXT)")
    con.close()
    ws = [subprocess.Popen([sys.executable, sys.argv[0], "worker", db, str(w), str(n)]) for w in (1, 2)]
    for w in ws:
        print("worker exit", w.wait())
    con = sqlite3.connect(db)
    print("integrity_check", con.execute("PRAGMA integrity_check").fetchone()[0])
    print("rows", con.execute("SELECT count(*) FROM t").fetchone()[0])
    for w in (1, 2):
        seqs = [r[0] for r in con.execute("SELECT seq FROM t WHERE worker = ? ORDER BY id", (w,))]
        print("worker", w, "rows in order", seqs == list(range(n)))
    con.close()

main()
`

// TestSQLiteTwoWriters is issue 15's proof for record locks: two processes
// hammering one SQLite database on a volume, in WAL and in rollback
// journal mode, end with an intact database and every row. The sqlite3
// command-line shell then checks the file the sandbox left on the host.
func TestSQLiteTwoWriters(t *testing.T) {
	script := filepath.Join(t.TempDir(), "hammer.py")
	writeFile(t, script, []byte(sqliteHammer), 0o644)
	if _, err := os.Stat("/usr/bin/sqlite3"); err != nil {
		t.Fatalf("/usr/bin/sqlite3 is missing (.ci/run installs it: apt-get install -y sqlite3): %v", err)
	}
	const rows = 300
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "db")
			argv := []string{"/usr/bin/python3", script, db, mode, strconv.Itoa(rows)}
			native := runNative(t, argv, runOpts{Timeout: 5 * time.Minute})
			want := "journal_mode " + mode + "\nworker exit 0\nworker exit 0\nintegrity_check ok\nrows " + strconv.Itoa(2*rows) +
				"\nworker 1 rows in order True\nworker 2 rows in order True\n"
			if native.Status != 0 || native.Stdout != want {
				t.Fatalf("native run (the test is wrong): status %d\n%s\n%s", native.Status, native.Stdout, native.Stderr)
			}
			emptyDir(t, dir)
			sb := secondRun(t, argv, runOpts{Timeout: 10 * time.Minute, Flags: []string{"--volume", dir + ":" + dir}})
			if sb.Status != 0 || sb.Stdout != want {
				t.Fatalf("sandbox: status %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", sb.Status, sb.Stdout, want, tail(sb.Stderr, 20))
			}
			host := runNative(t, []string{"/usr/bin/sqlite3", db, "PRAGMA integrity_check; SELECT count(*) FROM t;"}, runOpts{})
			if host.Status != 0 || host.Stdout != "ok\n"+strconv.Itoa(2*rows)+"\n" {
				t.Errorf("sqlite3 on the host reads the sandbox's database as: status %d\n%s%s", host.Status, host.Stdout, host.Stderr)
			}
		})
	}
}

// TestLocksSharedWithHost: locks the sandbox takes on a volume's file are
// taken on the host too (its flock and its record locks as OFD locks of
// the sentry's), and a host process's locks hold the sandbox's back.
func TestLocksSharedWithHost(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	writeFile(t, f, []byte("data"), 0o644)

	// The sandbox holds: flock(1) exclusively and a POSIX write lock
	// (python's fcntl.lockf), until the host says go.
	script := `
import fcntl, os, sys, time
d = sys.argv[1]
a = open(d + "/f", "r+")
fcntl.flock(a, fcntl.LOCK_EX)
fcntl.lockf(a, fcntl.LOCK_EX, 1, 2)
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.02)
fcntl.lockf(a, fcntl.LOCK_UN, 1, 2)
open(d + "/unlocked", "w").close()
while not os.path.exists(d + "/go2"):
    time.sleep(0.02)
print("sandbox done")
`
	cmd, ctx, cancel := command([]string{runscBin, "do", "--volume", dir + ":" + dir, "--", "/usr/bin/python3", "-c", script, dir}, runOpts{})
	defer cancel()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor := func(name string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				t.Fatalf("the sandbox never made %s:\n%s", name, out.String())
			}
		}
	}
	waitFor("ready")
	h, err := os.OpenFile(f, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := unix.Flock(int(h.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != unix.EWOULDBLOCK {
		t.Errorf("host flock(LOCK_SH|LOCK_NB) while the sandbox holds LOCK_EX: %v, want EWOULDBLOCK", err)
	}
	fl := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 10}
	if err := unix.FcntlFlock(h.Fd(), unix.F_GETLK, &fl); err != nil {
		t.Fatal(err)
	}
	if fl.Type != unix.F_WRLCK || fl.Start != 2 || fl.Len != 1 || fl.Pid != -1 {
		t.Errorf("host F_GETLK over [0,10): %+v, want the sandbox's write lock of byte 2 (an OFD lock: pid -1)", fl)
	}
	try := unix.Flock_t{Type: unix.F_RDLCK, Start: 2, Len: 1}
	if err := unix.FcntlFlock(h.Fd(), unix.F_SETLK, &try); err != unix.EAGAIN && err != unix.EACCES {
		t.Errorf("host F_SETLK read of byte 2: %v, want EAGAIN", err)
	}
	writeFile(t, filepath.Join(dir, "go"), nil, 0o644)
	waitFor("unlocked")
	if err := unix.FcntlFlock(h.Fd(), unix.F_SETLK, &try); err != nil {
		t.Errorf("host F_SETLK read of byte 2 after the sandbox unlocked it: %v", err)
	}
	writeFile(t, filepath.Join(dir, "go2"), nil, 0o644)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sandbox: %v\n%s", err, out.String())
	}
	if err := unix.Flock(int(h.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Errorf("host flock(LOCK_EX) after the sandbox exited: %v", err)
	}

	// Now the host holds: the sandbox's non-blocking attempts fail, and
	// a blocking one waits until the host lets go.
	os.Remove(filepath.Join(dir, "waiting"))
	script2 := `
import fcntl, os, sys
d = sys.argv[1]
a = open(d + "/f", "r+")
try:
    fcntl.flock(a, fcntl.LOCK_SH | fcntl.LOCK_NB)
    print("flock: got it")
except BlockingIOError:
    print("flock: busy")
b = open(d + "/f", "r+")
try:
    fcntl.lockf(b, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
    print("lockf: got it")
except OSError as e:
    print("lockf: busy")
open(d + "/waiting", "w").close()
fcntl.flock(a, fcntl.LOCK_SH)
print("flock: got it after the host let go")
`
	fl = unix.Flock_t{Type: unix.F_WRLCK, Start: 0, Len: 1}
	if err := unix.FcntlFlock(h.Fd(), unix.F_OFD_SETLK, &fl); err != nil {
		t.Fatal(err)
	}
	cmd, ctx, cancel = command([]string{runscBin, "do", "--volume", dir + ":" + dir, "--", "/usr/bin/python3", "-c", script2, dir}, runOpts{})
	defer cancel()
	out.Reset()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor("waiting")
	time.Sleep(200 * time.Millisecond)
	unix.Flock(int(h.Fd()), unix.LOCK_UN)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sandbox: %v\n%s", err, out.String())
	}
	want := "flock: busy\nlockf: busy\nflock: got it after the host let go\n"
	if out.String() != want {
		t.Errorf("sandbox against the host's locks:\n%s\nwant:\n%s", out.String(), want)
	}
}
