package test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 5, item 4: the sentry's own users of workqueues, end to end.

// TestWritebackVolume: writes to a --volume file are written behind by a
// kworker; the sandbox reads its own writes at once, and nothing is lost
// when runsc-lite exits.
func TestWritebackVolume(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	vol := []string{"--volume", dir + ":/v"}
	r := runSandbox(t, []string{"/bin/sh", "-c", "echo hi > /v/f; cat /v/f"}, runOpts{Flags: vol})
	if r.Status != 0 || r.Stdout != "hi\n" {
		t.Fatalf("status %d, stdout %q, stderr %q", r.Status, r.Stdout, r.Stderr)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(got) != "hi\n" {
		t.Fatalf("host file after exit: %q, %v", got, err)
	}

	// Appends, a rewrite in place, stat of a file still open for writing,
	// sync, and a file larger than the write-behind buffer.
	script := `
exec 3>/v/log
for i in 1 2 3 4 5; do echo line $i >&3; done
wc -c < /v/log
printf 'LINE' | dd of=/v/log bs=1 seek=0 conv=notrunc 2>/dev/null
head -n 1 /v/log
sync
head -c 3000000 /dev/zero > /v/big
wc -c < /v/big
echo open > /v/open-at-exit
`
	r = runSandbox(t, []string{"/bin/sh", "-c", script}, runOpts{Flags: vol})
	if want := "35\nLINE 1\n3000000\n"; r.Status != 0 || r.Stdout != want {
		t.Fatalf("status %d, stdout %q (want %q), stderr %q", r.Status, r.Stdout, want, r.Stderr)
	}
	want := map[string]string{
		"log":          "LINE 1\nline 2\nline 3\nline 4\nline 5\n",
		"open-at-exit": "open\n",
	}
	for name, w := range want {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != w {
			t.Errorf("host %s: %q, %v; want %q", name, got, err, w)
		}
	}
	if got, err := os.ReadFile(filepath.Join(dir, "big")); err != nil || len(got) != 3000000 || !bytes.Equal(got, make([]byte, 3000000)) {
		t.Errorf("host big: %d bytes, %v", len(got), err)
	}
}

// TestWritebackVolumeWithoutClose: data written to a file that stays open
// reaches the host while the sandbox still runs (the write-back item ran,
// nobody closed or synced the file). The sandbox sleeps two minutes and
// the test watches for up to one, so that a host slow to start the sandbox
// cannot let it end (and close the file) first: it was a 5 s sleep watched
// for 4 s.
func TestWritebackVolumeWithoutClose(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	argv := append([]string{runscBin, "do"}, sandboxFlags(t, []string{"--volume", dir + ":/v"})...)
	argv = append(argv, "--", "/bin/sh", "-c", "exec 3>/v/f; echo behind >&3; sleep 120")
	cmd, _, cancel := command(argv, runOpts{})
	defer cancel()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var got []byte
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _ = os.ReadFile(filepath.Join(dir, "f")); string(got) == "behind\n" {
			return
		}
	}
	t.Fatalf("the host file holds %q while the sandbox runs; want the written-back data", got)
}

// TestWorkqueueProcVmstat: /proc/vmstat is readable and counts the page
// I/O of host files (pgpgout grows after writing 2 MiB to a volume and
// waiting for the once-a-second per-CPU fold). The script waits for the
// fold to show, for up to a minute, rather than a fixed 1.5 s, which a
// loaded host may make the fold miss.
func TestWorkqueueProcVmstat(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	script := `cat /proc/vmstat; b=$(grep '^pgpgout ' /proc/vmstat); b=${b#* }; ` +
		`head -c 2097152 /dev/zero > /v/f; sync; ` +
		`i=0; while [ $i -lt 600 ]; do a=$(grep '^pgpgout ' /proc/vmstat); [ ${a#* } -ge $((b+2048)) ] && break; sleep 0.1; i=$((i+1)); done; ` +
		`echo ---; cat /proc/vmstat`
	r := runSandbox(t, []string{"/bin/sh", "-c", script}, runOpts{Flags: []string{"--volume", dir + ":/v"}})
	if r.Status != 0 {
		t.Fatalf("status %d, stderr %q", r.Status, r.Stderr)
	}
	before, after, ok := strings.Cut(r.Stdout, "---\n")
	if !ok {
		t.Fatalf("output %q", r.Stdout)
	}
	field := func(text, name string) int {
		m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("/proc/vmstat lacks %s:\n%s", name, text)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	for _, name := range []string{"nr_free_pages", "nr_dirty", "pgpgin"} {
		field(after, name)
	}
	if b, a := field(before, "pgpgout"), field(after, "pgpgout"); a < b+2048 {
		t.Errorf("pgpgout %d -> %d after writing 2 MiB", b, a)
	}
	if field(after, "nr_free_pages") == 0 {
		t.Errorf("nr_free_pages is 0:\n%s", after)
	}
}

// TestWorkqueueDebugDump (item 5): `runsc-lite debug --pid` also dumps
// every workqueue, pool and worker.
func TestWorkqueueDebugDump(t *testing.T) {
	needSandbox(t)
	log := debugDump(t, "end of workqueue dump", "workqueue events:")
	for _, want := range []string{"Showing workqueues and worker pools", "workqueue events:", "workqueue writeback:",
		"workqueue mm_percpu_wq:", "pool 0: cpus=", "worker kworker/0:", "end of workqueue dump"} {
		if !strings.Contains(log, want) {
			t.Errorf("the dump lacks %q; log:\n%s", want, tail(log, 40))
		}
	}
}
