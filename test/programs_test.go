package test

// Real, dynamically linked host programs run natively and in the sandbox
// (issue 2, item 4): ld.so, libc and file-backed mmap must work.

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// fixedTime is the timestamp given to every file a test creates and lists.
var fixedTime = time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)

func TestTrue(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/true"}, stderr: true})
}

func TestFalse(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/false"}, wantStatus: 1, stderr: true})
}

func TestEcho(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/echo", "hello", "world"}, stderr: true})
}

func TestPwdKeepsWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	compare(t, cmpCase{argv: []string{"/bin/pwd"}, opts: runOpts{Dir: dir}, stderr: true})
}

// TestLsRoot lists / . The mount points the sentry serves itself (/proc,
// /dev, /sys) differ in mode, link count, size and date by design, and /tmp
// is written by other processes on the host between the two runs.
func TestLsRoot(t *testing.T) {
	compare(t, cmpCase{
		argv:  []string{"/bin/ls", "-la", "/"},
		norms: []normaliser{lsMaskEntries("proc, dev and sys are the sentry's own filesystems; /tmp is changed by other host processes between the runs", "proc", "dev", "sys", "tmp")},
	})
}

func TestLsEtc(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/ls", "-la", "/etc"}})
}

func TestLsUsrBin(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/ls", "-la", "/usr/bin"}})
}

// makeTree populates a directory with files, a subdirectory, symlinks and
// assorted modes, all with fixed timestamps, and returns its path. Its
// parent also has a fixed timestamp so that the ".." line is stable.
func makeTree(t *testing.T) string {
	base := t.TempDir()
	root := filepath.Join(base, "tree")
	writeFile(t, filepath.Join(root, "plain.txt"), []byte("plain\n"), 0o644)
	writeFile(t, filepath.Join(root, "script.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	writeFile(t, filepath.Join(root, "secret"), []byte("s"), 0o600)
	writeFile(t, filepath.Join(root, "empty"), nil, 0o444)
	writeFile(t, filepath.Join(root, "big.bin"), make([]byte, 123457), 0o640)
	writeFile(t, filepath.Join(root, "sub", "inner.txt"), []byte("inner\n"), 0o644)
	writeFile(t, filepath.Join(root, "with space"), []byte("sp\n"), 0o644)
	if err := os.Symlink("plain.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"plain.txt", "script.sh", "secret", "empty", "big.bin", "sub/inner.txt", "with space", "sub", "."} {
		setTimes(t, filepath.Join(root, p), fixedTime, fixedTime)
	}
	// Reading a symlink (stat and ls -l do) updates its access time under
	// relatime unless that is newer than both its change and modification
	// times and less than a day old: an access time an hour ahead keeps it
	// stable across the native and the sandboxed run.
	ahead := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, p := range []string{"link", "dangling"} {
		setTimes(t, filepath.Join(root, p), ahead, fixedTime)
	}
	setTimes(t, base, fixedTime, fixedTime)
	return root
}

func TestLsTree(t *testing.T) {
	root := makeTree(t)
	compare(t, cmpCase{argv: []string{"/bin/ls", "-la", root}})
	compare(t, cmpCase{argv: []string{"/bin/ls", "-laR", "--full-time", root}})
	compare(t, cmpCase{argv: []string{"/bin/ls", "-1", "."}, opts: runOpts{Dir: root}})
}

func TestLsMissing(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/ls", "-la", "/nonexistent-runsc-lite"}, wantStatus: 2, stderr: true})
}

func TestCat(t *testing.T) {
	root := makeTree(t)
	compare(t, cmpCase{argv: []string{"/bin/cat", filepath.Join(root, "plain.txt"), filepath.Join(root, "sub", "inner.txt"), "/etc/passwd"}, stderr: true})
}

func TestCatMissing(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/cat", "/etc/passwd", "/nonexistent-runsc-lite"}, wantStatus: 1, stderr: true})
}

// TestCatStdin checks that standard input is passed through (a pipe).
func TestCatStdin(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/cat"}, opts: runOpts{Stdin: []byte("line one\nline two\n")}, stderr: true})
}

// TestEnv checks that the environment is passed through unchanged: the
// program sees exactly runsc-lite's environment.
func TestEnv(t *testing.T) {
	env := append(append([]string{}, baseEnv...), "RUNSC_LITE_TEST=a value with spaces", "EMPTY=", "UNICODE=héllo")
	compare(t, cmpCase{argv: []string{"/usr/bin/env"}, opts: runOpts{Env: env}, stderr: true})
	compare(t, cmpCase{argv: []string{"/usr/bin/env"}, opts: runOpts{Env: []string{"ONLY=this"}}, stderr: true})
}

// TestSha256sum hashes a 50 MiB file of deterministic pseudo-random bytes.
func TestSha256sum(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fifty-mib.bin")
	data := make([]byte, 50<<20)
	rng := rand.New(rand.NewPCG(2, 7))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8; k++ {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	writeFile(t, path, data, 0o644)
	native, _ := compare(t, cmpCase{argv: []string{"/usr/bin/sha256sum", path}, stderr: true})
	if !regexp.MustCompile(`^[0-9a-f]{64}  `).MatchString(native.Stdout) {
		t.Errorf("unexpected native sha256sum output %q", native.Stdout)
	}
}

// TestStat runs coreutils stat in its default format on files the test
// made (fixed times) and on host files, and with a format that prints no
// device number at all.
func TestStat(t *testing.T) {
	root := makeTree(t)
	compare(t, cmpCase{
		argv:  []string{"/usr/bin/stat", filepath.Join(root, "plain.txt"), filepath.Join(root, "sub"), filepath.Join(root, "link"), filepath.Join(root, "empty")},
		norms: []normaliser{statDevice},
	})
	compare(t, cmpCase{
		argv:  []string{"/usr/bin/stat", "-L", filepath.Join(root, "link"), "/etc/os-release"},
		norms: []normaliser{statDevice},
	})
	compare(t, cmpCase{
		argv: []string{"/usr/bin/stat", "-c", "%n %F %a %s %h %U %G %Y", "/etc/passwd", "/usr/bin/env", "/", "/etc/os-release", filepath.Join(root, "big.bin")},
	})
	compare(t, cmpCase{argv: []string{"/usr/bin/stat", "/nonexistent-runsc-lite"}, wantStatus: 1, stderr: true})
}

func TestDateYear(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/date", "+%Y"}, stderr: true})
	compare(t, cmpCase{argv: []string{"/bin/date", "-u", "-d", "@1234567890", "+%Y-%m-%d %H:%M:%S %Z"}, stderr: true})
}

// pythonScript uses os, json and file I/O in the writable directory
// sys.argv[1] and prints only deterministic values.
const pythonScript = `
import json, os, sys
d = sys.argv[1]
os.chdir(d)
print("cwd", os.getcwd() == d)
data = {"name": "runsc-lite", "numbers": [1, 2, 3], "nested": {"ok": True, "pi": 3.5}}
with open("out.json", "w") as f:
    json.dump(data, f, sort_keys=True, indent=1)
with open(os.path.join(d, "out.json")) as f:
    back = json.load(f)
print("round trip", back == data, json.dumps(back, sort_keys=True))
print("size", os.path.getsize("out.json"))
os.mkdir("sub")
with open("sub/lines.txt", "w") as f:
    for i in range(1000):
        f.write("line %d\n" % i)
with open("sub/lines.txt") as f:
    lines = f.readlines()
print("lines", len(lines), lines[-1].strip())
os.rename("sub/lines.txt", "sub/renamed.txt")
os.symlink("out.json", "link.json")
print("readlink", os.readlink("link.json"))
print("listdir", sorted(os.listdir(".")), sorted(os.listdir("sub")))
st = os.stat("out.json")
print("mode", oct(st.st_mode & 0o777))
os.remove("link.json")
print("after remove", sorted(os.listdir(d)))
print("environ HOME", os.environ.get("HOME"))
print("getcwd after", os.getcwd() == d)
`

// TestPython runs python3 (dynamically linked, many shared libraries and
// .pyc files) writing into a directory that is, in the sandbox, first the
// in-memory overlay (the host directory must stay empty) and then a
// --volume of the same path (the host must get exactly what native left).
func TestPython(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s is missing (.ci/run installs it: apt-get install -y python3): %v", py, err)
	}
	for _, mode := range []string{"overlay", "volume"} {
		t.Run(mode, func(t *testing.T) {
			compareInWritableDir(t, mode, func(dir string) []string {
				return []string{py, "-c", pythonScript, dir}
			})
		})
	}
}

// compareInWritableDir runs the program built by argvFor(dir) natively in a
// fresh empty directory dir, then empties dir and runs it in the sandbox,
// with dir either left to the sandbox's in-memory overlay (mode "overlay":
// after the run the host's dir must still be empty) or bound with
// --volume dir:dir (mode "volume": the host's dir must then hold what the
// native run left there). The working directory is dir in both runs.
func compareInWritableDir(t *testing.T, mode string, argvFor func(dir string) []string, norms ...normaliser) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "w")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := cmpCase{argv: argvFor(dir), opts: runOpts{Dir: dir}, norms: norms}
	native := runNative(t, c.argv, c.opts)
	if native.Status != 0 {
		t.Fatalf("native %q: status %d (the test is wrong)\nstdout:\n%s\nstderr:\n%s", c.argv, native.Status, tail(native.Stdout, 40), tail(native.Stderr, 40))
	}
	left := treeListing(t, dir)
	emptyDir(t, dir)
	if mode == "volume" {
		c.opts.Flags = []string{"--volume", dir + ":" + dir}
	}
	sandbox := secondRun(t, c.argv, c.opts)
	checkSame(t, c, native, sandbox)
	got := treeListing(t, dir)
	switch {
	case nativeOnly:
		if d := diff(left, got); d != "" {
			t.Errorf("two native runs left different files (- first, + second):\n%s", d)
		}
	case mode == "overlay":
		if got != "" {
			t.Errorf("writes in the sandbox's overlay reached the host directory %s:\n%s", dir, got)
		}
	case mode == "volume":
		if d := diff(left, got); d != "" {
			t.Errorf("the --volume directory on the host holds something else than the native run left (- native, + sandbox):\n%s", d)
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// pythonMultiprocessing uses the parts of multiprocessing that stand on
// POSIX named semaphores (a tmpfs file in /dev/shm mapped shared, unlinked
// and closed before its first touch) and on worker processes.
const pythonMultiprocessing = `
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

def square(x):
    return x * x

if __name__ == "__main__":
    q = mp.Queue()
    q.put([1, "two"])
    print("queue", q.get(timeout=60))
    lock = mp.Lock()
    with lock:
        print("lock held")
    with mp.Pool(2) as pool:
        print("pool", pool.map(square, range(6)))
    with ProcessPoolExecutor(2) as ex:
        print("executor", sorted(ex.map(square, range(4))))
    v = mp.Value("i", 0)
    ps = [mp.Process(target=lambda: None) for _ in range(3)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print("exit codes", [p.exitcode for p in ps])
`

// TestPythonMultiprocessing: Queue, Lock, Pool and ProcessPoolExecutor
// (issue 15 item 8: they used to die of SIGBUS or hang in the sandbox).
func TestPythonMultiprocessing(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", pythonMultiprocessing}, stderr: true, opts: runOpts{Timeout: 5 * time.Minute}})
}

// TestBashProcessSubstitution: `diff <(a) <(b)` and a pipe reopened
// through /dev/fd after its writer exited (issue 15 item 8: both hung).
func TestBashProcessSubstitution(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/bin/bash", "-c", "diff <(printf 'a\\nb\\n') <(printf 'a\\nc\\n'); echo diff=$?; exec 3< <(echo late); sleep 0.3; cat /dev/fd/3; wc -l < <(seq 5)"}, stderr: true})
}
