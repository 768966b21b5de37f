package kernel

import (
	"sync"
	"time"
)

// This file computes the load average the way Linux's kernel/sched/loadavg.c
// does: every LOAD_FREQ (5 s) the number of active tasks — runnable (the
// running ones included) plus uninterruptibly asleep — is folded into three
// exponentially decaying averages with the 1, 5 and 15 minute constants, in
// 11-bit fixed point. The tick loop calls loadAvg.tick on every tick; the
// sample is taken on the first tick at or after the next 5 s boundary.

// Linux's fixed-point load average constants (include/linux/sched/loadavg.h).
const (
	loadFShift = 11
	loadFixed1 = 1 << loadFShift // 1.0
	loadExp1   = 1884            // 1/exp(5s/1min) in fixed point
	loadExp5   = 2014            // 1/exp(5s/5min)
	loadExp15  = 2037            // 1/exp(5s/15min)
	// loadFreq is LOAD_FREQ: how often the averages are updated.
	loadFreq = 5 * time.Second
)

// loadAvg holds the three averages (fixed point, loadFShift bits).
type loadAvg struct {
	mu   sync.Mutex
	avg  [3]uint64
	next time.Time // when the next sample is due (zero: first tick sets it)
}

// calcLoad is Linux's calc_load: load decays toward active by exp.
func calcLoad(load, exp, active uint64) uint64 {
	n := load*exp + active*(loadFixed1-exp)
	if active >= load {
		n += loadFixed1 - 1
	}
	return n / loadFixed1
}

// sample folds one count of active tasks into the averages.
func (l *loadAvg) sample(active int) {
	a := uint64(active) * loadFixed1
	l.mu.Lock()
	l.avg[0] = calcLoad(l.avg[0], loadExp1, a)
	l.avg[1] = calcLoad(l.avg[1], loadExp5, a)
	l.avg[2] = calcLoad(l.avg[2], loadExp15, a)
	l.mu.Unlock()
}

// tick is called by the tick loop at now: every loadFreq it samples the
// kernel's active tasks.
func (l *loadAvg) tick(k *Kernel, now time.Time) {
	l.mu.Lock()
	if l.next.IsZero() {
		l.next = now.Add(loadFreq)
	}
	due := !now.Before(l.next)
	if due {
		// Stay on the 5 s grid even when a tick came late; skip the
		// samples a long stall missed, as Linux's NO_HZ catch-up
		// folds them.
		for !now.Before(l.next) {
			l.next = l.next.Add(loadFreq)
		}
	}
	l.mu.Unlock()
	if due {
		l.sample(k.NrRunning() + k.NrUninterruptible())
	}
}

// LoadAvgFixed returns the 1, 5 and 15 minute load averages in fixed point
// with shift fractional bits (11 is Linux's internal format, 16 is
// sysinfo's SI_LOAD_SHIFT).
func (k *Kernel) LoadAvgFixed(shift uint) [3]uint64 {
	k.load.mu.Lock()
	avg := k.load.avg
	k.load.mu.Unlock()
	for i := range avg {
		if shift >= loadFShift {
			avg[i] <<= shift - loadFShift
		} else {
			avg[i] >>= loadFShift - shift
		}
	}
	return avg
}

// LoadAvgText returns the three averages formatted as /proc/loadavg
// prints them ("0.52 0.30 0.12"), with Linux's rounding (LOAD_INT and
// LOAD_FRAC of the value plus FIXED_1/200).
func (k *Kernel) LoadAvgText() string {
	avg := k.LoadAvgFixed(loadFShift)
	var b []byte
	for i, v := range avg {
		if i > 0 {
			b = append(b, ' ')
		}
		v += loadFixed1 / 200
		b = appendUint(b, v>>loadFShift)
		b = append(b, '.')
		frac := ((v & (loadFixed1 - 1)) * 100) >> loadFShift
		b = append(b, byte('0'+frac/10), byte('0'+frac%10))
	}
	return string(b)
}

func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
