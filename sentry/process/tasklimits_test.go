package process

import (
	"sync"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestCredentialsPublishedWhole: readers on other goroutines (as /proc,
// kill and wait read another thread's credentials) only ever see one of
// the values a thread published, never a mix. Run with -race: a plain
// pointer field here is the data race this replaced.
func TestCredentialsPublishedWhole(t *testing.T) {
	s := NewSandbox()
	th := &Thread{S: s}
	root, user := auth.NewUser(0, 0, nil), auth.NewUser(1000, 1000, []uint32{5, 1})
	th.creds.Store(root)
	if err := s.chargeTask(root, nil, 0, false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := th.Credentials()
				ok := (c.RealUID == 0 && c.EffectiveGID == 0 && c.Effective == auth.AllCapabilities) ||
					(c.RealUID == 1000 && c.EffectiveGID == 1000 && c.Effective == 0 && len(c.Groups) == 2)
				if !ok {
					t.Errorf("a reader saw torn credentials: %+v", *c)
					return
				}
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		if i%2 == 0 {
			th.SetCredentials(user)
		} else {
			th.SetCredentials(root)
		}
	}
	close(stop)
	wg.Wait()
	// The task moved between users and is counted once, as uid 0.
	if s.counts.total != 1 || s.counts.byUID[0] != 1 || s.counts.byUID[1000] != 0 {
		t.Errorf("task counts after the changes: %+v", s.counts)
	}
}

// TestTaskLimits: the sandbox-wide limit refuses everyone (root too);
// RLIMIT_NPROC refuses a user at its limit but not root, CAP_SYS_RESOURCE
// or CAP_SYS_ADMIN; releasing a task makes room again.
func TestTaskLimits(t *testing.T) {
	s := NewSandbox()
	s.SetPidsLimit(4)
	user := auth.NewUser(1000, 1000, nil)
	root := auth.NewUser(0, 0, nil)
	if err := s.chargeTask(user, nil, 2, true); err != nil {
		t.Fatalf("first task of uid 1000: %v", err)
	}
	if err := s.chargeTask(user, nil, 2, true); err != nil {
		t.Fatalf("second task of uid 1000 (NPROC 2): %v", err)
	}
	if err := s.chargeTask(user, nil, 2, true); err != unix.EAGAIN {
		t.Errorf("third task of uid 1000 under NPROC 2: %v, want EAGAIN", err)
	}
	resource := user.Fork()
	resource.Effective |= auth.CapabilitySetOf(linux.CAP_SYS_RESOURCE)
	if err := s.chargeTask(resource, nil, 2, true); err != nil {
		t.Errorf("uid 1000 with CAP_SYS_RESOURCE over NPROC: %v, want allowed", err)
	}
	if err := s.chargeTask(root, nil, 0, true); err != nil {
		t.Errorf("root under NPROC 0: %v, want allowed", err)
	}
	if err := s.chargeTask(root, nil, 100, true); err != unix.EAGAIN {
		t.Errorf("a fifth task under --pids-limit 4: %v, want EAGAIN", err)
	}
	if s.PidsRefused() != 1 {
		t.Errorf("PidsRefused = %d, want 1", s.PidsRefused())
	}
	s.mu.Lock()
	s.unchargeTaskLocked(1000, nil)
	s.mu.Unlock()
	if err := s.chargeTask(root, nil, 100, true); err != nil {
		t.Errorf("after a task was released: %v", err)
	}
	if s.TaskCount() != 4 {
		t.Errorf("TaskCount = %d, want 4", s.TaskCount())
	}
}

// TestCgroupPidsMax: a cgroup's task limit refuses clones in it beyond
// pids.max, whatever the sandbox still allows, and not in another
// cgroup; a process placed in it by the sentry (enforce false: a
// container's first or exec'd process) is counted but not refused; a
// released task frees its slot.
func TestCgroupPidsMax(t *testing.T) {
	s := NewSandbox()
	root := auth.NewUser(0, 0, nil)
	limited, free := NewCgroup("limited", 2), NewCgroup("free", 0)
	for i := 0; i < 2; i++ {
		if err := s.chargeTask(root, limited, 100, true); err != nil {
			t.Fatalf("task %d in a cgroup of 2: %v", i+1, err)
		}
	}
	if err := s.chargeTask(root, limited, 100, true); err != unix.EAGAIN {
		t.Fatalf("a third task in a cgroup of 2: %v, want EAGAIN", err)
	}
	if err := s.chargeTask(root, free, 100, true); err != nil {
		t.Fatalf("a task in another cgroup: %v", err)
	}
	if err := s.chargeTask(root, limited, 100, false); err != nil {
		t.Fatalf("a process the sentry places: %v", err)
	}
	if got := s.CgroupTasks(limited); got != 3 {
		t.Fatalf("pids.current %d, want 3", got)
	}
	s.mu.Lock()
	s.unchargeTaskLocked(0, limited)
	s.unchargeTaskLocked(0, limited)
	s.mu.Unlock()
	if err := s.chargeTask(root, limited, 100, true); err != nil {
		t.Fatalf("after two tasks went: %v", err)
	}
	if got := s.TaskCount(); got != 3 {
		t.Fatalf("the sandbox counts %d tasks, want 3", got)
	}
}
