package test

import (
	"fmt"
	"strings"
	"testing"
)

// TestSysfsCPUs: the CPU count programs read from /sys (glibc's
// sysconf(_SC_NPROCESSORS_ONLN), Python's os.cpu_count()) is the
// sandbox's: the same as native with the default --cpus (the host's
// count), and --cpus N with N given.
func TestSysfsCPUs(t *testing.T) {
	script := `cat /sys/devices/system/cpu/online /sys/devices/system/cpu/possible; getconf _NPROCESSORS_ONLN; python3 -c 'import os; print(os.cpu_count())'`
	compare(t, cmpCase{argv: []string{"sh", "-c", script}})

	r := runSandbox(t, []string{"sh", "-c", script + `; ls -d /sys/devices/system/cpu/cpu*`}, runOpts{Flags: []string{"--cpus", "3"}})
	if r.Status != 0 {
		t.Fatalf("status %d\n%s", r.Status, r.Stderr)
	}
	want := "0-2\n0-2\n3\n3\n"
	for i := 0; i < 3; i++ {
		want += fmt.Sprintf("/sys/devices/system/cpu/cpu%d\n", i)
	}
	if r.Stdout != want {
		t.Errorf("with --cpus 3:\n%s\nwant:\n%s", r.Stdout, want)
	}
	// The host's /sys does not show through.
	r = runSandbox(t, []string{"sh", "-c", `ls /sys/class/net 2>&1; ls /sys/firmware 2>&1; echo done`}, runOpts{})
	if strings.Contains(r.Stdout, "lo") || !strings.Contains(r.Stdout, "No such file or directory") {
		t.Errorf("the host's /sys shows through:\n%s", r.Stdout)
	}
}
