package procfs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/kernel"
	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/fs/synth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
)

// /proc/PID/timens_offsets: the offsets of the time namespace PID's
// children go into (sentry/process/timens.go), one line per clock as
// Linux prints them, written as "<clock> <sec> <nsec>" lines (the clock by
// name or number) before any process has entered the namespace. The
// writer's credentials stand for Linux's opener's.

// readerClockOffset returns what the reader's time namespace adds to clock
// (0 for the sentry itself and kthreads).
func readerClockOffset(ctx *fs.Context, clock int32) int64 {
	if ctx == nil || ctx.Task == nil {
		return 0
	}
	if th := thread(ctx.Task); th != nil {
		return th.ClockOffset(clock)
	}
	return 0
}

func (p *procFS) addTimeNSFile(d *synth.Dir, t *kernel.Task, th *process.Thread, next func() int) {
	f := synth.NewFile(p.taskAttr(t, 0644, next()), func(*fs.Context) ([]byte, error) {
		if th == nil {
			return nil, nil
		}
		var b strings.Builder
		for _, o := range th.TimeNSForChildren().ShowOffsets() {
			name := "monotonic"
			if o.Clock == unix.CLOCK_BOOTTIME {
				name = "boottime"
			}
			fmt.Fprintf(&b, "%-10s %10d %9d\n", name, o.Sec, o.Nsec)
		}
		return []byte(b.String()), nil
	})
	f.Set = func(ctx *fs.Context, data []byte) error {
		if len(data) >= 4096 {
			return unix.EINVAL
		}
		offsets, err := parseTimeOffsets(string(data))
		if err != nil {
			return err
		}
		if th == nil {
			return unix.ESRCH
		}
		var creds *fs.Creds
		if ctx != nil {
			creds = ctx.Creds
		}
		return th.TimeNSForChildren().SetOffsets(creds, offsets)
	}
	d.Add("timens_offsets", f)
}

// parseTimeOffsets reads at most two "<clock> <sec> <nsec>" lines, as
// Linux's timens_offsets_write: the clock is "monotonic", "boottime" or
// their numbers (1, 7), sec a signed integer, nsec below a second; EINVAL
// otherwise.
func parseTimeOffsets(s string) ([]process.TimeOffset, error) {
	var out []process.TimeOffset
	// One newline may end the write; any other ends a line.
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		if len(out) == 2 {
			break
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, unix.EINVAL
		}
		var o process.TimeOffset
		switch f[0] {
		case "monotonic", strconv.Itoa(unix.CLOCK_MONOTONIC):
			o.Clock = unix.CLOCK_MONOTONIC
		case "boottime", strconv.Itoa(unix.CLOCK_BOOTTIME):
			o.Clock = unix.CLOCK_BOOTTIME
		default:
			// Linux checks the numbers before the name.
			if _, err := scanOffset(f[1], f[2]); err != nil {
				return nil, err
			}
			return nil, unix.EINVAL
		}
		v, err := scanOffset(f[1], f[2])
		if err != nil {
			return nil, err
		}
		o.Sec, o.Nsec = v[0], v[1]
		out = append(out, o)
	}
	return out, nil
}

// scanOffset parses the seconds (signed) and nanoseconds (unsigned, below
// a second) of an offset line.
func scanOffset(sec, nsec string) ([2]int64, error) {
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return [2]int64{}, unix.EINVAL
	}
	n, err := strconv.ParseUint(nsec, 10, 64)
	if err != nil || n >= 1e9 {
		return [2]int64{}, unix.EINVAL
	}
	return [2]int64{s, int64(n)}, nil
}
