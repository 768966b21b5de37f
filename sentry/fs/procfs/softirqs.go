package procfs

// This file renders the softirq machinery's accounting (package softirqd):
// /proc/softirqs (per-CPU counts of each vector's runs) and, in
// /proc/stat, the "softirq" line and the softirq column of the cpu lines
// (time spent running softirqs, softirqd.Softirqs.Time). Without softirq
// machinery (a sandbox built without it) /proc/softirqs shows zero counts
// and /proc/stat is left as sched.go renders it.

import (
	"fmt"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/softirqd"
)

// addSoftirqFiles adds /proc/softirqs to r and makes /proc/stat carry the
// softirq accounting (it replaces the "stat" entry).
func (p *procFS) addSoftirqFiles(r *synth.Dir) {
	r.Add("softirqs", p.text(p.softirqs))
	r.Add("stat", p.text(p.statWithSoftirqs))
}

// softirqs renders /proc/softirqs.
func (p *procFS) softirqs(*fs.Context) string {
	if s := p.s.Softirqs; s != nil {
		return s.ProcSoftirqs()
	}
	return softirqd.RenderProcSoftirqs(make([][softirqd.NrVectors]uint64, p.s.Kernel.NumCPUs()))
}

// statWithSoftirqs renders /proc/stat (sched.go's stat) with the softirq
// column of every cpu line (field 7, USER_HZ ticks) and the softirq line
// filled from the softirq machinery. Softirq time is part of the system
// time the scheduler accounts (softirqs run in sentry code, at irq-exit
// points or in ksoftirqd), so it is moved from the system column to the
// softirq column: the columns still add up to the CPU's time, as Linux's
// do (it charges softirq processing to CPUTIME_SOFTIRQ, in ksoftirqd too).
func (p *procFS) statWithSoftirqs(ctx *fs.Context) string {
	text := p.stat(ctx)
	s := p.s.Softirqs
	if s == nil {
		return text
	}
	n := p.s.Kernel.NumCPUs()
	var total int64
	per := make([]int64, n)
	for i := range per {
		per[i] = nsTicks(int64(s.Time(i)))
		total += per[i]
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "softirq":
			lines[i] = strings.TrimSuffix(s.StatSoftirq(), "\n")
		case f[0] == "cpu" && len(f) > 7:
			moveToSoftirq(f, total)
			lines[i] = "cpu  " + strings.Join(f[1:], " ")
		case strings.HasPrefix(f[0], "cpu") && len(f) > 7:
			var cpu int
			if _, err := fmt.Sscanf(f[0], "cpu%d", &cpu); err == nil && cpu >= 0 && cpu < n {
				moveToSoftirq(f, per[cpu])
				lines[i] = strings.Join(f, " ")
			}
		}
	}
	return strings.Join(lines, "\n")
}

// moveToSoftirq sets the softirq column of the cpu line f to ticks and
// takes as much from its system column.
func moveToSoftirq(f []string, ticks int64) {
	var system int64
	fmt.Sscan(f[3], &system)
	ticks = min(ticks, system)
	f[3] = fmt.Sprint(system - ticks)
	f[7] = fmt.Sprint(ticks)
}
