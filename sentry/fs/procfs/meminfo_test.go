package procfs

import (
	"strings"
	"testing"

	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
)

func TestOOMAdjScaling(t *testing.T) {
	for _, c := range []struct{ adj, scoreAdj, back int }{
		{15, 1000, 15}, {-17, -1000, -17}, {0, 0, 0}, {8, 470, 7}, {-8, -470, -7},
	} {
		if got := oomScoreAdjFromAdj(c.adj); got != c.scoreAdj {
			t.Errorf("oom_adj %d -> oom_score_adj %d, want %d", c.adj, got, c.scoreAdj)
		}
		if got := oomAdjFromScoreAdj(c.scoreAdj); got != c.back {
			t.Errorf("oom_score_adj %d reads as oom_adj %d, want %d", c.scoreAdj, got, c.back)
		}
	}
}

func TestParseSysctlInt(t *testing.T) {
	for in, want := range map[string]int64{"3\n": 3, " 42 ": 42, "-1": -1} {
		if got, err := parseSysctlInt([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "\n", "x", "1 2", "3x"} {
		if _, err := parseSysctlInt([]byte(in)); err != unix.EINVAL {
			t.Errorf("%q: %v, want EINVAL", in, err)
		}
	}
}

// MemAvailable follows si_mem_available: free above the high watermark
// plus the page cache less min(half of it, the low watermark).
func TestMemAvailable(t *testing.T) {
	sn := kswapd.Snapshot{TotalPages: 1000, FreePages: 500, High: 30, Low: 20, ActiveFile: 100, InactiveFile: 100}
	if got := memAvailable(sn); got != 500-30+200-20 {
		t.Errorf("MemAvailable %d pages", got)
	}
	sn.FreePages, sn.ActiveFile, sn.InactiveFile = 10, 0, 0
	if got := memAvailable(sn); got != 0 {
		t.Errorf("MemAvailable %d below the reserve, want 0", got)
	}
}

// Every meminfo line is "Name:" padded to 16 columns, then the value
// right-aligned in 8, as Linux's (and the host's) except
// HardwareCorrupted.
func TestMeminfoLayout(t *testing.T) {
	p := &procFS{s: process.NewSandbox()}
	text := p.meminfo(nil)
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(l, "HardwareCorrupted:") {
			continue
		}
		if len(l) < 24 || !strings.Contains(l[:16], ":") || l[23] < '0' || l[23] > '9' {
			t.Errorf("bad meminfo line %q", l)
		}
	}
	if !strings.HasPrefix(text, "MemTotal:") || !strings.Contains(text, "\nSwapFree:") {
		t.Errorf("meminfo:\n%s", text)
	}
}
