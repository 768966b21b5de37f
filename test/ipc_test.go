package test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The IPC namespace: System V shared memory, semaphores and message
// queues, POSIX message queues, /proc/sysvipc and ipcs. Each C program
// unshares an IPC namespace natively (the sandbox's is its own), so both
// runs start from an empty namespace and identifiers match.

// TestCIPCShm compares c/ipc_shm.c: shmget/shmat/shmdt/shmctl, attach
// counts through fork, exec, exit and mprotect splits, IPC_RMID while
// attached, SHM_LOCK, the info commands and the permission checks.
func TestCIPCShm(t *testing.T) { compareC(t, "ipc_shm", 0) }

// TestCIPCSem compares c/ipc_sem.c: semget/semop/semtimedop/semctl,
// blocking and waking, EIDRM and EINTR for waiters, SEM_UNDO at exit.
func TestCIPCSem(t *testing.T) { compareC(t, "ipc_sem", 0) }

// TestCIPCMsg compares c/ipc_msg.c: msgget/msgsnd/msgrcv/msgctl, every
// msgtyp mode, MSG_NOERROR, MSG_COPY, blocking senders and receivers.
func TestCIPCMsg(t *testing.T) { compareC(t, "ipc_msg", 0) }

// TestCIPCMqueue compares c/ipc_mqueue.c: mq_open/mq_timedsend/
// mq_timedreceive/mq_notify/mq_getsetattr/mq_unlink, priorities, blocking,
// timeouts, poll readiness and the mqueue filesystem's listing and status
// lines.
func TestCIPCMqueue(t *testing.T) { compareC(t, "ipc_mqueue", 0) }

// ipcsVolatile masks what differs between two runs of ipcs(1) for reasons
// other than the sandbox: PIDs (the sandbox's program is PID 1, natively
// it is whatever the host gave) and times (a second may pass between the
// runs). ipcs pads columns to fixed widths, so whitespace is collapsed on
// the lines that had a PID masked.
var ipcsVolatile = normaliser{
	name: "ipcsVolatile",
	why:  "PIDs and times differ between a native and a sandboxed run",
	fn: func(s string) string {
		long := regexp.MustCompile(`[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}`)
		short := regexp.MustCompile(`[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d`)
		keyed := regexp.MustCompile(`\b(lpid|cpid|lspid|lrpid)=\d+`)
		// ipcs -p rows (id owner pid pid) and ipcs -s -i rows
		// (semnum value ncount zcount pid).
		pidRow := regexp.MustCompile(`^(\d+\s+root\s+)\d+(\s+)\d+\s*$`)
		semRow := regexp.MustCompile(`^(\d+\s+\d+\s+\d+\s+\d+\s+)\d+\s*$`)
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			l = long.ReplaceAllString(l, "TIME")
			l = short.ReplaceAllString(l, "TIME")
			l = keyed.ReplaceAllString(l, "$1=PID")
			if pidRow.MatchString(l) || semRow.MatchString(l) {
				l = pidRow.ReplaceAllString(l, "${1}PID PID")
				l = semRow.ReplaceAllString(l, "${1}PID")
				l = strings.Join(strings.Fields(l), " ")
			}
			lines[i] = l
		}
		return strings.Join(lines, "\n")
	},
}

// TestIPCIpcs compares what ipcs(1) (util-linux) and /proc/sysvipc show of
// an IPC namespace holding a segment (SHM_LOCKed), a removed segment still
// attached, a semaphore set and a message queue, then changes the limits
// through /proc/sys/kernel and checks the calls obey them.
func TestIPCIpcs(t *testing.T) {
	if _, err := exec.LookPath("ipcs"); err != nil {
		t.Skip("ipcs (util-linux) is not installed")
	}
	args := []string{"--", "-a", "--", "-l", "--", "-u", "--", "-p", "--", "-c", "--", "-t",
		"--", "-m", "-i", "0", "--", "-q", "-i", "0", "--", "-s", "-i", "0", "--", "-b"}
	compare(t, cmpCase{argv: append([]string{cProg(t, "ipc_ipcs")}, args...), norms: []normaliser{ipcsVolatile}})
}

// pythonSharedMemory uses Python's multiprocessing.shared_memory (POSIX
// shared memory: files in /dev/shm mapped shared) from four forked
// processes under a multiprocessing Lock (a POSIX named semaphore), and a
// ShareableList opened twice by name.
const pythonSharedMemory = `
import multiprocessing as mp, os
from multiprocessing import shared_memory

def child(name, lock):
    s = shared_memory.SharedMemory(name=name)
    with lock:
        s.buf[0] += 1
    s.buf[1:6] = b"child"
    s.close()

mp.set_start_method("fork")
shm = shared_memory.SharedMemory(create=True, size=4096)
shm.buf[0] = 0
lock = mp.Lock()
ps = [mp.Process(target=child, args=(shm.name, lock)) for _ in range(4)]
for p in ps: p.start()
for p in ps: p.join()
print("counter", shm.buf[0], "text", bytes(shm.buf[1:6]), "exit codes", [p.exitcode for p in ps])
l = shared_memory.ShareableList([1, 2.5, "three", None])
l2 = shared_memory.ShareableList(name=l.shm.name)
l2[0] = 42
print("list", list(l))
names = [shm.name.lstrip("/"), l.shm.name.lstrip("/")]
l.shm.close(); l.shm.unlink(); l2.shm.close()
shm.close(); shm.unlink()
print("unlinked", not any(n in os.listdir("/dev/shm") for n in names))
`

// TestIPCPythonSharedMemory compares Python's multiprocessing
// shared_memory natively and in the sandbox.
func TestIPCPythonSharedMemory(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", pythonSharedMemory}, stderr: true})
}

// TestIPCShmSwap: an 80 MiB System V segment under --total-memory 64M
// --swap 128M goes to swap and comes back intact, through its creator's
// attach and a forked child's, while an SHM_LOCKed 8 MiB segment stays
// resident; /proc/sysvipc/shm and SHM_INFO count the swapped pages. (A
// sandbox-only test: natively the host's memory is not bounded.)
func TestIPCShmSwap(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: moves 80 MiB through swap")
	}
	script := cProg(t, "ipc_shmswap") + ` 80 8; echo status=$?; grep -E "^(pswpout|pswpin) " /proc/vmstat`
	r := runSandbox(t, []string{"/bin/sh", "-c", script}, runOpts{Flags: []string{"--total-memory", "64M", "--swap", "128M"}, Timeout: heavyTimeout})
	t.Logf("in %v:\n%s", r.Elapsed.Round(time.Millisecond), r.Stdout)
	if r.Status != 0 || !strings.Contains(r.Stdout, "status=0\n") || strings.Contains(r.Stdout, "MISMATCH") {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", r.Status, r.Stdout, tail(r.Stderr, 40))
	}
	var bigRSS, bigSwap, lockedRSS, lockedSwap, swp int
	fmt.Sscanf(line(r.Stdout, "big:"), "big: rss %d MiB swap %d MiB", &bigRSS, &bigSwap)
	fmt.Sscanf(line(r.Stdout, "locked:"), "locked: rss %d MiB swap %d MiB", &lockedRSS, &lockedSwap)
	fmt.Sscanf(line(r.Stdout, "SHM_INFO:"), "SHM_INFO: shm_rss %d shm_swp %d pages", new(int), &swp)
	if bigSwap == 0 || swp == 0 {
		t.Errorf("nothing of the 80 MiB segment is on swap under 64 MiB of memory")
	}
	if lockedRSS != 8 || lockedSwap != 0 {
		t.Errorf("the SHM_LOCKed segment: rss %d MiB, swap %d MiB; want 8 and 0", lockedRSS, lockedSwap)
	}
	if vm := vmstatValues(r.Stdout); vm["pswpin"] == 0 || vm["pswpout"] == 0 {
		t.Errorf("pswpin %d pswpout %d: the segment's pages did not go through swap", vm["pswpin"], vm["pswpout"])
	}
	if !strings.Contains(r.Stdout, "after IPC_RMID: used_ids 0 shm_swp 0") {
		t.Errorf("removing the segments did not free their swap")
	}
}

// line returns the first line of s that starts with prefix.
func line(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestCSignalfdEpoll compares c/signalfd_epoll.c: a signalfd's readiness
// in epoll (level and edge triggered) and select, and an epoll_wait that
// sleeps until a child's signal makes the signalfd readable (issue 15
// lists signalfd readiness with IPC).
func TestCSignalfdEpoll(t *testing.T) { compareC(t, "signalfd_epoll", 0) }

// lsipcScript makes one object of each System V kind with ipcmk and lists
// them and the namespace's limits and usage with lsipc (util-linux).
const lsipcScript = `
ipcmk -M 10000 >/dev/null; ipcmk -S 3 >/dev/null; ipcmk -Q >/dev/null
lsipc; echo ==
lsipc -m -o KEY,ID,PERMS,SIZE,NATTCH,STATUS; echo ==
lsipc -s -o KEY,ID,PERMS,NSEMS; echo ==
lsipc -q -o KEY,ID,PERMS,USEDBYTES,MSGS
`

// inNewIPCNamespace runs the script in $1 in a new IPC namespace where it
// can (natively, as root); in the sandbox unshare fails and the sandbox's
// namespace is fresh already.
const inNewIPCNamespace = `if unshare --ipc true 2>/dev/null; then exec unshare --ipc /bin/sh -c "$1"; fi; exec /bin/sh -c "$1"`

// ipcmkKeys masks the keys ipcmk chooses at random.
var ipcmkKeys = normaliser{
	name: "ipcmkKeys",
	why:  "ipcmk makes random keys",
	fn: func(s string) string {
		return regexp.MustCompile(`0x[0-9a-f]{8}`).ReplaceAllString(s, "0xKEY")
	},
}

// TestIPCLsipc compares ipcmk and lsipc (util-linux) natively and in the
// sandbox: the limits, the usage counts and each kind's listing.
func TestIPCLsipc(t *testing.T) {
	for _, p := range []string{"ipcmk", "lsipc"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s (util-linux) is not installed", p)
		}
	}
	compare(t, cmpCase{argv: []string{"/bin/sh", "-c", inNewIPCNamespace, "sh", lsipcScript}, norms: []normaliser{ipcmkKeys}, stderr: true})
}
