package process

import (
	"testing"

	"golang.org/x/sys/unix"
)

// oom_score_adj as Linux's __set_oom_adj: range checks; an unprivileged
// writer may raise it and lower it back to the floor a privileged write
// set, no further; legacy oom_adj writes may not lower it at all.
func TestSetOOMScoreAdj(t *testing.T) {
	tg := &ThreadGroup{}
	steps := []struct {
		adj                int
		privileged, legacy bool
		want               error
		after              int
	}{
		{1001, true, false, unix.EINVAL, 0},
		{-1001, true, false, unix.EINVAL, 0},
		{500, false, false, nil, 500},
		{0, false, false, nil, 0},          // back to the floor (0)
		{-1, false, false, unix.EACCES, 0}, // below it
		{-300, true, false, nil, -300},     // privileged: new floor -300
		{200, false, false, nil, 200},
		{-300, false, false, nil, -300}, // back to the new floor
		{600, false, false, nil, 600},
		{500, false, true, unix.EACCES, 600}, // legacy may not lower
		{1000, false, true, nil, 1000},
	}
	for i, s := range steps {
		if err := tg.SetOOMScoreAdj(s.adj, s.privileged, s.legacy); err != s.want {
			t.Errorf("step %d: set %d: %v, want %v", i, s.adj, err, s.want)
		}
		if got := tg.OOMScoreAdj(); got != s.after {
			t.Errorf("step %d: oom_score_adj %d, want %d", i, got, s.after)
		}
	}
	child := &ThreadGroup{}
	child.inheritOOM(tg)
	if child.OOMScoreAdj() != 1000 || child.oom.adjMin.Load() != -300 {
		t.Errorf("fork: adj %d floor %d, want 1000 -300", child.OOMScoreAdj(), child.oom.adjMin.Load())
	}
}
