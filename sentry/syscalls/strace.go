package syscalls

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/arch"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"golang.org/x/sys/unix"
)

// ArgKind says how strace prints a syscall argument or result.
type ArgKind int

const (
	Hex       ArgKind = iota // 0x1234
	Int                      // signed decimal
	Uint                     // unsigned decimal
	Oct                      // 0644
	FD                       // a descriptor; AT_FDCWD by name
	Path                     // a NUL-terminated path, quoted
	InBuf                    // a buffer the program passes in; its length is the next argument
	OutBuf                   // a buffer the sentry fills; printed at exit with the result's length
	Ptr                      // an address, NULL by name
	OpenFlags                // O_RDONLY|O_CLOEXEC...
	MmapProt                 // PROT_READ|PROT_WRITE
	MmapFlags                // MAP_PRIVATE|MAP_ANONYMOUS
	Signal                   // SIGINT
	StrArray                 // argv/envp of execve
)

const maxStraceBytes = 32

func formatCall(t *process.Thread, sysno uintptr, sc *Syscall, a arch.SyscallArguments) string {
	if sc == nil {
		return fmt.Sprintf("syscall_%d(%#x, %#x, %#x, %#x, %#x, %#x)", sysno, a[0], a[1], a[2], a[3], a[4], a[5])
	}
	parts := make([]string, len(sc.Args))
	for i, k := range sc.Args {
		parts[i] = formatArg(t, k, a, i)
	}
	return sc.Name + "(" + strings.Join(parts, ", ") + ")"
}

func formatArg(t *process.Thread, k ArgKind, a arch.SyscallArguments, i int) string {
	v := a[i]
	switch k {
	case Int:
		return strconv.FormatInt(int64(v), 10)
	case Uint:
		return strconv.FormatUint(uint64(v), 10)
	case Oct:
		return "0" + strconv.FormatUint(uint64(v), 8)
	case FD:
		if int32(v) == unix.AT_FDCWD {
			return "AT_FDCWD"
		}
		return strconv.FormatInt(int64(int32(v)), 10)
	case Path:
		if v == 0 {
			return "NULL"
		}
		s, err := t.CopyInString(v, unix.PathMax)
		if err != nil {
			return fmt.Sprintf("%#x", v)
		}
		return strconv.Quote(s)
	case InBuf:
		if i+1 < len(a) {
			return quoteBuf(t, v, int(a[i+1]))
		}
		return fmt.Sprintf("%#x", v)
	case OutBuf, Ptr:
		if v == 0 {
			return "NULL"
		}
		return fmt.Sprintf("%#x", v)
	case OpenFlags:
		return openFlags(uint32(v))
	case MmapProt:
		return flagNames(uint64(v), protNames, "PROT_NONE")
	case MmapFlags:
		return flagNames(uint64(v), mapNames, "0")
	case Signal:
		return unix.SignalName(unix.Signal(v))
	case StrArray:
		return strArray(t, v)
	}
	return fmt.Sprintf("%#x", v)
}

func quoteBuf(t *process.Thread, addr uintptr, n int) string {
	if n < 0 {
		return fmt.Sprintf("%#x", addr)
	}
	show := min(n, maxStraceBytes)
	buf := make([]byte, show)
	if _, err := t.MM().CopyIn(addr, buf); err != nil {
		return fmt.Sprintf("%#x", addr)
	}
	s := strconv.Quote(string(buf))
	if show < n {
		s += "..."
	}
	return s
}

func strArray(t *process.Thread, addr uintptr) string {
	if addr == 0 {
		return "NULL"
	}
	var parts []string
	for i := 0; i < 8; i++ {
		var p [8]byte
		if _, err := t.MM().CopyIn(addr+uintptr(8*i), p[:]); err != nil {
			return fmt.Sprintf("%#x", addr)
		}
		ptr := uintptr(uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
			uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56)
		if ptr == 0 {
			return "[" + strings.Join(parts, ", ") + "]"
		}
		s, err := t.CopyInString(ptr, 256)
		if err != nil {
			s = "?"
		}
		parts = append(parts, strconv.Quote(s))
	}
	return "[" + strings.Join(parts, ", ") + ", ...]"
}

func formatResult(t *process.Thread, sc *Syscall, a arch.SyscallArguments, ret uintptr, err error) string {
	if err != nil {
		if errno, ok := err.(unix.Errno); ok {
			return fmt.Sprintf("-1 %s (%s)", errnoName(errno), errno.Error())
		}
		return "-1 EIO (" + err.Error() + ")"
	}
	res := ""
	kind := Int
	if sc != nil {
		kind = sc.Ret
	}
	switch kind {
	case Hex, Ptr:
		res = fmt.Sprintf("%#x", ret)
	default:
		res = strconv.FormatInt(int64(ret), 10)
	}
	// Buffers the sentry filled are shown now that they hold data.
	if sc != nil {
		for i, k := range sc.Args {
			if k == OutBuf && int64(ret) > 0 {
				res += fmt.Sprintf(" [arg%d: %s]", i, quoteBuf(t, a[i], int(ret)))
				break
			}
		}
	}
	return res
}

func errnoName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

type flagName struct {
	v    uint64
	name string
}

var protNames = []flagName{{unix.PROT_READ, "PROT_READ"}, {unix.PROT_WRITE, "PROT_WRITE"}, {unix.PROT_EXEC, "PROT_EXEC"}}

var mapNames = []flagName{
	{unix.MAP_SHARED, "MAP_SHARED"}, {unix.MAP_PRIVATE, "MAP_PRIVATE"}, {unix.MAP_FIXED, "MAP_FIXED"},
	{unix.MAP_ANONYMOUS, "MAP_ANONYMOUS"}, {unix.MAP_GROWSDOWN, "MAP_GROWSDOWN"}, {unix.MAP_DENYWRITE, "MAP_DENYWRITE"},
	{unix.MAP_NORESERVE, "MAP_NORESERVE"}, {unix.MAP_POPULATE, "MAP_POPULATE"}, {unix.MAP_STACK, "MAP_STACK"},
	{unix.MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"},
}

var openNames = []flagName{
	{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"}, {unix.O_TRUNC, "O_TRUNC"},
	{unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"}, {unix.O_DSYNC, "O_DSYNC"},
	{unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_NOFOLLOW, "O_NOFOLLOW"}, {unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_PATH, "O_PATH"}, {unix.O_LARGEFILE, "O_LARGEFILE"},
}

func flagNames(v uint64, names []flagName, zero string) string {
	if v == 0 {
		return zero
	}
	var parts []string
	for _, f := range names {
		if v&f.v == f.v && f.v != 0 {
			parts = append(parts, f.name)
			v &^= f.v
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("%#x", v))
	}
	return strings.Join(parts, "|")
}

func openFlags(v uint32) string {
	acc := []string{"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"}[v&3]
	rest := flagNames(uint64(v&^3), openNames, "")
	if rest == "" {
		return acc
	}
	return acc + "|" + rest
}
