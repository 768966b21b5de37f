package kswapd

import (
	"math"

	"golang.org/x/sys/unix"
)

// Watermarks are the zone's free-page thresholds, computed as Linux's
// __setup_per_zone_wmarks does for a machine with one zone:
//
//	min  = min_free_kbytes / 4                      (pages of 4 KiB)
//	tmp  = max(min/4, total * watermark_scale_factor / 10000)
//	low  = min + tmp
//	high = min + 2*tmp
//
// Below low an allocation wakes kswapd0, which reclaims until free memory
// is back at high; an allocation that would go below min fails and its
// caller reclaims directly.
type Watermarks struct {
	Min, Low, High uint64
	// The sysctls they were computed from.
	MinFreeKbytes, WatermarkScaleFactor uint64
}

// Linux's defaults and limits.
const (
	defaultWatermarkScaleFactor = 10
	defaultSwappiness           = 60
	maxWatermarkScaleFactor     = 3000
	maxSwappiness               = 200
	// min_free_kbytes is an int sysctl with a lower bound of 0.
	maxMinFreeKbytes = math.MaxInt32
)

// intSqrt returns the integer square root of x (floor), as Linux's
// int_sqrt.
func intSqrt(x uint64) uint64 {
	if x < 2 {
		return x
	}
	r := uint64(math.Sqrt(float64(x)))
	// Correct the float's rounding.
	for r*r > x {
		r--
	}
	for (r+1)*(r+1) <= x {
		r++
	}
	return r
}

// DefaultMinFreeKbytes returns vm.min_free_kbytes as Linux computes it at
// boot for totalPages pages of memory (calculate_min_free_kbytes):
// int_sqrt(total_kbytes * 16), clamped to [128, 262144].
func DefaultMinFreeKbytes(totalPages uint64) uint64 {
	kb := totalPages * (pageSize / 1024)
	v := intSqrt(kb * 16)
	if v < 128 {
		v = 128
	}
	if v > 262144 {
		v = 262144
	}
	return v
}

// ComputeWatermarks returns the watermarks of a zone of totalPages pages
// for the given sysctls (see Watermarks). It does not block.
func ComputeWatermarks(totalPages, minFreeKbytes, scaleFactor uint64) Watermarks {
	min := minFreeKbytes / (pageSize / 1024)
	tmp := min / 4
	// mult_frac(total, scale, 10000) without overflow.
	if s := totalPages/10000*scaleFactor + totalPages%10000*scaleFactor/10000; s > tmp {
		tmp = s
	}
	return Watermarks{
		Min:                  min,
		Low:                  min + tmp,
		High:                 min + 2*tmp,
		MinFreeKbytes:        minFreeKbytes,
		WatermarkScaleFactor: scaleFactor,
	}
}

// Watermarks returns the zone's current watermarks. It does not block.
func (z *Zone) Watermarks() Watermarks { return *z.wm.Load() }

// SetMinFreeKbytes sets vm.min_free_kbytes and recomputes the watermarks
// (EINVAL when out of range: Linux takes 0..INT_MAX). It does not block.
func (z *Zone) SetMinFreeKbytes(kb uint64) error {
	if kb > maxMinFreeKbytes {
		return unix.EINVAL
	}
	z.sysctlMu.Lock()
	defer z.sysctlMu.Unlock()
	old := z.wm.Load()
	wm := ComputeWatermarks(z.total, kb, old.WatermarkScaleFactor)
	z.wm.Store(&wm)
	z.wakeKswapdIfLow()
	return nil
}

// SetWatermarkScaleFactor sets vm.watermark_scale_factor (1..3000 as
// Linux; EINVAL otherwise) and recomputes the watermarks. It does not
// block.
func (z *Zone) SetWatermarkScaleFactor(n uint64) error {
	if n < 1 || n > maxWatermarkScaleFactor {
		return unix.EINVAL
	}
	z.sysctlMu.Lock()
	defer z.sysctlMu.Unlock()
	old := z.wm.Load()
	wm := ComputeWatermarks(z.total, old.MinFreeKbytes, n)
	z.wm.Store(&wm)
	z.wakeKswapdIfLow()
	return nil
}

// SetSwappiness sets vm.swappiness (0..200; EINVAL otherwise). It does not
// block.
func (z *Zone) SetSwappiness(n uint64) error {
	if n > maxSwappiness {
		return unix.EINVAL
	}
	z.swappiness.Store(n)
	return nil
}

// wakeKswapdIfLow wakes kswapd0 when free memory is below the low
// watermark (after an allocation or a change of the watermarks).
func (z *Zone) wakeKswapdIfLow() {
	if z.mf.FreePages() < z.wm.Load().Low {
		z.wakeKswapd()
	}
}
