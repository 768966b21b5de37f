package test

import (
	"fmt"
	"regexp"
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

// TestSysfsTopology: lscpu and top read the sandbox's CPU topology and
// NUMA node from /sys (issue 15 item 8: lscpu aborted on a missing cpumap,
// top's libnuma warned). With --cpus 3, lscpu sees three CPUs, one thread
// per core, one socket and one NUMA node; top prints no warning.
func TestSysfsTopology(t *testing.T) {
	r := runSandbox(t, []string{"sh", "-c", "lscpu; lscpu -p=CPU,CORE,SOCKET,NODE | grep -v '^#'; top -bn1 >/dev/null"}, runOpts{Flags: []string{"--cpus", "3"}})
	// runsc-lite itself warns when --cpus is above the host's count (a
	// 2-CPU host); nothing else may be printed.
	r.Stderr = regexp.MustCompile(`(?m)^runsc-lite: warning: --cpus 3 is more than the host's \d+ CPUs.*\n`).ReplaceAllString(r.Stderr, "")
	if r.Status != 0 || r.Stderr != "" {
		t.Fatalf("status %d, stderr:\n%s\nstdout:\n%s", r.Status, r.Stderr, r.Stdout)
	}
	for _, want := range []string{
		`(?m)^CPU\(s\):\s+3$`,
		`(?m)^Thread\(s\) per core:\s+1$`,
		`(?m)^Core\(s\) per socket:\s+3$`,
		`(?m)^Socket\(s\):\s+1$`,
		`(?m)^NUMA node0 CPU\(s\):\s+0-2$`,
		`(?m)^0,0,0,0\n1,1,0,0\n2,2,0,0$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.Stdout) {
			t.Errorf("lscpu output lacks %s:\n%s", want, r.Stdout)
		}
	}
	// The same files exist natively, with the same shapes.
	compare(t, cmpCase{argv: []string{"sh", "-c", "cat /sys/kernel/mm/transparent_hugepage/hpage_pmd_size; cat /sys/devices/system/node/node0/distance"}})
}
