package loader

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

const (
	// atMinSigStkSz is AT_MINSIGSTKSZ (x86's ARCH_DLINFO), which
	// pkg/abi/linux does not define.
	atMinSigStkSz = 51

	// defaultMinSigStackSize is AT_MINSIGSTKSZ when the host's is
	// unknown (the legacy MINSIGSTKSZ).
	defaultMinSigStackSize = 2048

	// clockTicks is AT_CLKTCK (USER_HZ).
	clockTicks = 100
)

// stackLayoutArgs are the inputs of layoutStack.
type stackLayoutArgs struct {
	top              uintptr // end of the stack mapping
	argv, envv       []string
	execfn, platform string
	random           []byte // 16 bytes for AT_RANDOM
	// phdrCopy, if not nil, is a program header table to place on the
	// stack because the executable does not map its own; otherwise
	// phdrAddr is where the mapped table is.
	phdrCopy     []byte
	phdrAddr     uintptr
	phent, phnum uint64
	base, entry  uintptr // AT_BASE and AT_ENTRY
	vdso         uintptr // AT_SYSINFO_EHDR (0: none)
	creds        Credentials
	hwcap        uint64
	minSigStk    uint64
}

// stackLayout is the initial stack: image is the bytes of [sp, top).
type stackLayout struct {
	sp                 uintptr
	image              []byte
	argStart, argEnd   uintptr
	envStart, envEnd   uintptr
	auxv               []uint64
	execfnAddr         uintptr
	platformAddr       uintptr
	randomAddr         uintptr
	argvAddr, envvAddr uintptr
}

// layoutStack lays out the initial stack the way Linux's execve and
// create_elf_tables do, from the top down:
//
//	8 zero bytes (the end marker above the strings)
//	execfn string (AT_EXECFN)
//	environment strings, then argument strings (envp[0] and argv[0]
//	    lowest, each list contiguous: argv strings run into envp strings)
//	(aligned down to 16)
//	platform string (AT_PLATFORM)
//	16 random bytes (AT_RANDOM)
//	[program header copy, 8-byte aligned, only if the executable does not
//	    map its headers]
//	(padding so that sp is 16-byte aligned)
//	auxv pairs ending with AT_NULL
//	envp pointers, NULL
//	argv pointers, NULL
//	argc                                   <- sp
//
// Without address space randomization the 16-byte alignment is exact (Linux
// subtracts a random 0-8 KiB first).
func layoutStack(a stackLayoutArgs) (stackLayout, error) {
	var l stackLayout
	// Strings first; compute addresses downward from the top.
	p := a.top - 8
	p -= uintptr(len(a.execfn) + 1)
	l.execfnAddr = p
	envAddrs := make([]uintptr, len(a.envv))
	for i := len(a.envv) - 1; i >= 0; i-- {
		p -= uintptr(len(a.envv[i]) + 1)
		envAddrs[i] = p
	}
	argAddrs := make([]uintptr, len(a.argv))
	for i := len(a.argv) - 1; i >= 0; i-- {
		p -= uintptr(len(a.argv[i]) + 1)
		argAddrs[i] = p
	}
	l.argStart = p
	l.envStart = l.execfnAddr
	if len(envAddrs) > 0 {
		l.envStart = envAddrs[0]
	}
	l.argEnd = l.envStart
	l.envEnd = l.execfnAddr

	p &^= 15
	if a.platform != "" {
		p -= uintptr(len(a.platform) + 1)
		l.platformAddr = p
	}
	p -= uintptr(len(a.random))
	l.randomAddr = p
	phdrAddr := a.phdrAddr
	if a.phdrCopy != nil {
		p -= uintptr(len(a.phdrCopy))
		p &^= 7
		phdrAddr = p
	}

	var auxv []uint64
	if a.vdso != 0 {
		// First, as Linux's ARCH_DLINFO puts it.
		auxv = append(auxv, linux.AT_SYSINFO_EHDR, uint64(a.vdso))
	}
	auxv = append(auxv,
		atMinSigStkSz, a.minSigStk,
		linux.AT_HWCAP, a.hwcap,
		linux.AT_PAGESZ, hostarch.PageSize,
		linux.AT_CLKTCK, clockTicks,
		linux.AT_PHDR, uint64(phdrAddr),
		linux.AT_PHENT, a.phent,
		linux.AT_PHNUM, a.phnum,
		linux.AT_BASE, uint64(a.base),
		linux.AT_FLAGS, 0,
		linux.AT_ENTRY, uint64(a.entry),
		linux.AT_UID, uint64(a.creds.UID),
		linux.AT_EUID, uint64(a.creds.EUID),
		linux.AT_GID, uint64(a.creds.GID),
		linux.AT_EGID, uint64(a.creds.EGID),
		linux.AT_SECURE, boolWord(a.creds.Secure),
		linux.AT_RANDOM, uint64(l.randomAddr),
		linux.AT_HWCAP2, 0,
		linux.AT_EXECFN, uint64(l.execfnAddr),
	)
	if a.platform != "" {
		auxv = append(auxv, linux.AT_PLATFORM, uint64(l.platformAddr))
	}
	auxv = append(auxv, linux.AT_NULL, 0)
	l.auxv = auxv

	words := uintptr(1+len(a.argv)+1+len(a.envv)+1) + uintptr(len(auxv))
	if words*8 > p {
		return l, fmt.Errorf("loader: %d argument and environment pointers do not fit the stack: %w", len(a.argv)+len(a.envv), unix.E2BIG)
	}
	l.sp = (p - words*8) &^ 15

	// Fill the image of [sp, top).
	img := make([]byte, a.top-l.sp)
	at := func(addr uintptr) []byte { return img[addr-l.sp:] }
	put := func(addr uintptr, v uint64) { binary.LittleEndian.PutUint64(at(addr), v) }
	copy(at(l.execfnAddr), a.execfn) // NULs come from the zeroed image
	for i, s := range a.envv {
		copy(at(envAddrs[i]), s)
	}
	for i, s := range a.argv {
		copy(at(argAddrs[i]), s)
	}
	if a.platform != "" {
		copy(at(l.platformAddr), a.platform)
	}
	copy(at(l.randomAddr), a.random)
	if a.phdrCopy != nil {
		copy(at(phdrAddr), a.phdrCopy)
	}
	w := l.sp
	put(w, uint64(len(a.argv)))
	w += 8
	l.argvAddr = w
	for _, addr := range argAddrs {
		put(w, uint64(addr))
		w += 8
	}
	w += 8 // NULL
	l.envvAddr = w
	for _, addr := range envAddrs {
		put(w, uint64(addr))
		w += 8
	}
	w += 8 // NULL
	for _, v := range auxv {
		put(w, v)
		w += 8
	}
	l.image = img
	return l, nil
}

func boolWord(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
