package socket

import (
	"golang.org/x/sys/unix"
)

// ParseSysctlInts reads what one write(2) wrote to an integer sysctl
// (/proc/sys/net/...) as Linux's proc_dointvec does: up to n values
// separated by spaces, tabs or newlines, each an optional '-' and digits
// in C's notation (0x for hex, a leading 0 for octal), each within a C
// int. Fewer than n values is a partial write (the caller keeps the
// others); text after the n-th value is ignored. EINVAL when no value is
// given, a value is malformed or does not fit.
func ParseSysctlInts(data []byte, n int) ([]int64, error) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	isSep := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }
	var out []int64
	i := 0
	for len(out) < n {
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i == len(data) {
			break
		}
		neg := false
		if data[i] == '-' {
			neg = true
			i++
		}
		base := uint64(10)
		switch {
		case i+2 < len(data) && data[i] == '0' && (data[i+1] == 'x' || data[i+1] == 'X') && hexDigit(data[i+2]) >= 0:
			base = 16
			i += 2
		case i < len(data) && data[i] == '0':
			base = 8
		}
		start := i
		var v uint64
		for i < len(data) {
			d := hexDigit(data[i])
			if d < 0 || uint64(d) >= base {
				break
			}
			v = v*base + uint64(d)
			if v > 1<<32 {
				return nil, unix.EINVAL
			}
			i++
		}
		if i == start || (i < len(data) && !isSep(data[i])) {
			return nil, unix.EINVAL
		}
		if (neg && v > 1<<31) || (!neg && v > 1<<31-1) {
			return nil, unix.EINVAL
		}
		if neg {
			out = append(out, -int64(v))
		} else {
			out = append(out, int64(v))
		}
	}
	if len(out) == 0 {
		return nil, unix.EINVAL
	}
	return out, nil
}

// hexDigit returns the value of the hex digit c, or -1.
func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
