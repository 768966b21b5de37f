package sysfs

import "testing"

func TestCPUListAndMask(t *testing.T) {
	for _, c := range []struct {
		cpus       []int
		list, mask string
	}{
		{[]int{0}, "0", "1"},
		{[]int{0, 1}, "0-1", "3"},
		{[]int{1}, "1", "2"},
		{[]int{0, 1, 2, 4, 6, 7}, "0-2,4,6-7", "d7"},
		{[]int{33}, "33", "2,00000000"},
		{[]int{0, 31, 32}, "0,31-32", "1,80000001"},
	} {
		if got := cpuList(c.cpus); got != c.list {
			t.Errorf("cpuList(%v) = %q, want %q", c.cpus, got, c.list)
		}
		if got := cpuMask(c.cpus); got != c.mask {
			t.Errorf("cpuMask(%v) = %q, want %q", c.cpus, got, c.mask)
		}
	}
}
