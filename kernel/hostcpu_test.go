package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-lite/runsc-lite/kernel/hostcpus"
)

// TestPinsStayInStartSet: started under `taskset -c C` (one host CPU, the
// last the test may use, so not CPU 0), a two-CPU kernel pins the threads of
// tasks on both its CPUs to C, never outside the set the sentry was started
// with. Sandbox CPU k once meant host CPU k mod NumCPU: under taskset -c 1
// a task on CPU 0 was pinned to host CPU 0, escaping the restriction.
func TestPinsStayInStartSet(t *testing.T) {
	if os.Getenv("KERNEL_TEST_PIN_CHILD") == "1" {
		pinChild()
		return
	}
	cpus := hostcpus.Allowed()
	if len(cpus) < 2 {
		t.Skipf("needs two host CPUs to restrict the test to one; has %v", cpus)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Fatalf("taskset (util-linux) is needed: %v", err)
	}
	c := cpus[len(cpus)-1]
	cmd := exec.Command(taskset, "-c", strconv.Itoa(c), os.Args[0], "-test.run", "^TestPinsStayInStartSet$")
	cmd.Env = append(os.Environ(), "KERNEL_TEST_PIN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := fmt.Sprintf("allowed [%d] cpu0 %d cpu1 %d task0 [%d] task1 [%d]", c, c, c, c, c)
	if !strings.Contains(string(out), want) {
		t.Fatalf("child under taskset -c %d said:\n%s\nwant a line %q", c, out, want)
	}
}

// pinChild prints the start set, each sandbox CPU's host CPU and the
// affinity of a task's host thread on each CPU, as granted.
func pinChild() {
	k := New(Config{CPUs: 2})
	defer k.Shutdown()
	k.ReserveTID()
	k.StartKthreadd()
	got := make([][]int, 2)
	for i := range 2 {
		done := make(chan struct{})
		var aff CPUSet
		aff.Set(i)
		tk := k.NewTask(TaskOptions{Name: "pinned", Affinity: aff, Entry: func(tk *Task) {
			var set unix.CPUSet
			unix.SchedGetaffinity(0, &set)
			got[i] = hostcpus.List(set)
			close(done)
		}})
		tk.Start()
		<-done
	}
	fmt.Printf("allowed %v cpu0 %d cpu1 %d task0 %v task1 %v\n",
		hostcpus.Allowed(), k.CPU(0).HostCPU(), k.CPU(1).HostCPU(), got[0], got[1])
}
