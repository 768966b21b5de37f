package timekeeper

import "unsafe"

func unsafeBytes(b []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), len(b)*8)
}

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
