package procfs

import (
	"strconv"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/kswapd"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// /proc/PID/oom_score, oom_score_adj and the legacy oom_adj, as Linux's
// fs/proc/base.c: oom_score is the badness scaled into 0..2000 (the
// zone's kswapd.OOMScore);
// oom_score_adj (-1000..1000) and oom_adj (-17..15, scaled by 1000/17
// into oom_score_adj) are per process, writable by the owner (lowering
// needs CAP_SYS_RESOURCE: root in the sandbox). Kthreads show 0 and
// refuse writes.

// addOOMFiles adds the OOM files of task t (user thread th, nil for a
// kthread) to its directory d; next gives inode indexes.
func (p *procFS) addOOMFiles(d *synth.Dir, t *kernel.Task, th *process.Thread, next func() int) {
	score := synth.NewFile(p.taskAttr(t, 0444, next()), func(*fs.Context) ([]byte, error) {
		return []byte(strconv.FormatInt(p.oomScore(th), 10) + "\n"), nil
	})
	d.Add("oom_score", score)

	adj := synth.NewFile(p.taskAttr(t, 0644, next()), func(*fs.Context) ([]byte, error) {
		v := 0
		if th != nil {
			v = th.TG.OOMScoreAdj()
		}
		return []byte(strconv.Itoa(v) + "\n"), nil
	})
	adj.Set = func(ctx *fs.Context, data []byte) error {
		v, err := parseSysctlInt(data)
		if err != nil || v < process.OOMScoreAdjMin || v > process.OOMScoreAdjMax {
			return unix.EINVAL
		}
		if th == nil {
			return unix.EINVAL
		}
		return th.TG.SetOOMScoreAdj(int(v), privileged(ctx), false)
	}
	d.Add("oom_score_adj", adj)

	legacy := synth.NewFile(p.taskAttr(t, 0644, next()), func(*fs.Context) ([]byte, error) {
		v := 0
		if th != nil {
			v = oomAdjFromScoreAdj(th.TG.OOMScoreAdj())
		}
		return []byte(strconv.Itoa(v) + "\n"), nil
	})
	legacy.Set = func(ctx *fs.Context, data []byte) error {
		v, err := parseSysctlInt(data)
		if err != nil || v < process.OOMDisable || v > process.OOMAdjustMax {
			return unix.EINVAL
		}
		if th == nil {
			return unix.EINVAL
		}
		return th.TG.SetOOMScoreAdj(oomScoreAdjFromAdj(int(v)), privileged(ctx), true)
	}
	d.Add("oom_adj", legacy)
}

// oomScoreAdjFromAdj scales a legacy oom_adj into oom_score_adj
// (OOM_ADJUST_MAX is oom_score_adj's maximum; the rest scale by
// 1000/17).
func oomScoreAdjFromAdj(adj int) int {
	if adj == process.OOMAdjustMax {
		return process.OOMScoreAdjMax
	}
	return adj * process.OOMScoreAdjMax / -process.OOMDisable
}

// oomAdjFromScoreAdj is what /proc/PID/oom_adj reads for an
// oom_score_adj.
func oomAdjFromScoreAdj(scoreAdj int) int {
	if scoreAdj == process.OOMScoreAdjMax {
		return process.OOMAdjustMax
	}
	return scoreAdj * -process.OOMDisable / process.OOMScoreAdjMax
}

// oomScore returns /proc/PID/oom_score for th (0 for a kthread or a
// process without memory).
func (p *procFS) oomScore(th *process.Thread) int64 {
	if th == nil {
		return 0
	}
	c, ok := th.TG.OOMCandidate()
	if !ok {
		return 0
	}
	if p.s.Zone != nil {
		return int64(p.s.Zone.OOMScore(c))
	}
	sn := p.memSnapshot()
	return int64(kswapd.OOMScore(c, sn.TotalPages+sn.SwapTotal))
}

// privileged reports whether the writer has CAP_SYS_RESOURCE (or is the
// sentry itself).
func privileged(ctx *fs.Context) bool {
	if ctx == nil || ctx.Task == nil {
		return true
	}
	th := thread(ctx.Task)
	return th == nil || th.Credentials().HasCapability(linux.CAP_SYS_RESOURCE)
}
