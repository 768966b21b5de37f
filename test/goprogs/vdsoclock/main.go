// Command vdsoclock reads the clocks the way a Go program does (time.Now,
// through the vDSO when the auxiliary vector names one) interleaved with
// the clock_gettime syscall, and prints what native Linux prints too:
// whether a vDSO is there, and whether every syscall read lies between
// the time.Now reads around it (CLOCK_REALTIME) and the monotonic clock
// never goes back.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

const atSysinfoEhdr = 33

func sysRealtime() int64 {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 0, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		fmt.Println("clock_gettime:", e)
		os.Exit(1)
	}
	return ts.Nano()
}

func main() {
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	vdso := false
	for i := 0; i+16 <= len(auxv); i += 16 {
		if binary.LittleEndian.Uint64(auxv[i:]) == atSysinfoEhdr {
			vdso = binary.LittleEndian.Uint64(auxv[i+8:]) != 0
		}
	}
	fmt.Println("AT_SYSINFO_EHDR present:", vdso)

	outside, back := 0, 0
	last := time.Now()
	// A fixed count (not a duration): the test compares how many of
	// these reads trap with and without the vDSO.
	for range 1000 {
		a := time.Now()
		s := sysRealtime()
		b := time.Now()
		// time.Now's wall clock is CLOCK_REALTIME to the nanosecond.
		if s < a.UnixNano() || s > b.UnixNano() {
			outside++
		}
		if b.Sub(last) < 0 || b.Sub(a) < 0 {
			back++
		}
		last = b
		// Plain time.Now reads: the bulk a timer-heavy program makes.
		for range 20 {
			_ = time.Now()
		}
	}
	fmt.Println("syscall reads between time.Now reads:", outside == 0)
	fmt.Println("monotonic clock never went back:", back == 0)
}
