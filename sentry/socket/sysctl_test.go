package socket

import (
	"slices"
	"testing"
)

// The cases were checked against Linux 6.18's proc_dointvec by writing
// them to net.core.somaxconn (one value) and net.ipv4.tcp_rmem (three) in
// a network namespace; test/TestCSockSysctlWrites compares a program's
// writes natively and in the sandbox.
func TestParseSysctlInts(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want []int64 // nil: EINVAL
	}{
		{"100", 1, []int64{100}},
		{" 7", 1, []int64{7}},
		{"7 8", 1, []int64{7}},
		{"5\t", 1, []int64{5}},
		{"0x10", 1, []int64{16}},
		{"010", 1, []int64{8}},
		{"00012", 1, []int64{10}},
		{"-0", 1, []int64{0}},
		{"-5", 1, []int64{-5}},
		{"2147483647", 1, []int64{2147483647}},
		{"-2147483648", 1, []int64{-2147483648}},
		{"2147483648", 1, nil},
		{"99999999999999999999", 1, nil},
		{"+5", 1, nil},
		{"5x", 1, nil},
		{"12abc", 1, nil},
		{"abc", 1, nil},
		{"008", 1, nil},
		{"-", 1, nil},
		{"", 1, nil},
		{" ", 1, nil},
		{"\n", 1, nil},
		{"4096 8192", 3, []int64{4096, 8192}},
		{"4096 131072 6291456 7", 3, []int64{4096, 131072, 6291456}},
		{"30000\t40000\n", 2, []int64{30000, 40000}},
		{"1 2x 3", 3, nil},
	} {
		got, err := ParseSysctlInts([]byte(c.in), c.n)
		if c.want == nil {
			if err == nil {
				t.Errorf("%q: got %v, want EINVAL", c.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
