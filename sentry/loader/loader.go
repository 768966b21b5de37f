// Package loader is the sentry's program loader: it turns a path given to
// execve (or the sandbox's first program) into a populated address space.
// It resolves "#!" interpreter scripts (nested up to maxScriptDepth
// levels), loads an x86-64 ELF executable (ET_EXEC or ET_DYN/PIE, static or
// dynamic) and its PT_INTERP program interpreter into a memory manager,
// builds the initial stack exactly as Linux's binfmt_elf lays it out
// (strings, AT_RANDOM bytes, auxv, envp, argv, argc) and reports the entry
// point and stack pointer the first thread starts with.
//
// Every ELF header, program header and interpreter line is validated before
// anything is mapped: a malformed file gets an error wrapping unix.ENOEXEC
// (unix.ELOOP for too deeply nested scripts, unix.E2BIG for oversized
// argument lists), never a panic. Errors from LoadArgs.Open (ENOENT,
// EACCES, ...) are passed through wrapped; callers recover the errno with
// errors.As.
//
// Load works in two phases. The first opens and validates every file and
// computes every address without touching the memory manager; the second
// maps segments and the stack and writes the stack. A failure in the second
// phase (the memory manager refusing a mapping) leaves a partially built
// address space, which the caller discards, as Linux kills a process that
// fails past execve's point of no return.
//
// The package keeps no mutable state besides the host's auxiliary vector
// values read once at init; it has no locks. Load calls the Memory's
// methods and LoadArgs.Open from the calling goroutine only.
package loader

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"

	"github.com/runsc-lite/runsc-lite/sentry/mm"
)

// Memory is the part of the memory manager (*mm.MemoryManager) the loader
// needs. The loader expects a fresh, empty address space.
type Memory interface {
	// MMap creates a mapping and returns its address (see mm.MMapOpts).
	MMap(opts mm.MMapOpts) (uintptr, error)
	// CopyOut writes src to application memory at addr.
	CopyOut(addr uintptr, src []byte) (int, error)
	// ZeroOut zeroes n bytes of application memory at addr, whatever the
	// permissions of the mapping (it clears the tail of a segment's last
	// file page, which may be read-only).
	ZeroOut(addr, n uintptr) error
	// SetBrkStart sets where the heap begins.
	SetBrkStart(addr uintptr)
	// SetArgv and SetEnv record the ranges of the argument and
	// environment strings (/proc/PID/cmdline and environ).
	SetArgv(start, end uintptr)
	SetEnv(start, end uintptr)
	// SetAuxv records the auxiliary vector (/proc/PID/auxv).
	SetAuxv(auxv []uint64)
	// SetExecutable records the executable's path (/proc/PID/exe).
	SetExecutable(path string)
	// MaxUserAddress returns the end of the user address range.
	MaxUserAddress() uintptr
}

// InterpreterError is a failure to open the interpreter that a "#!"
// script or an ELF executable's PT_INTERP names (execve's ENOENT for a
// file that exists).
type InterpreterError struct {
	// Path is the script or executable, Interpreter what it names.
	Path, Interpreter string
	// ELF is set for a program interpreter (PT_INTERP), clear for "#!".
	ELF bool
	Err error
}

func (e *InterpreterError) Error() string {
	if e.ELF {
		return fmt.Sprintf("%s: program interpreter %s: %v", e.Path, e.Interpreter, e.Err)
	}
	return fmt.Sprintf("%s: %s: bad interpreter: %v", e.Path, e.Interpreter, e.Err)
}

func (e *InterpreterError) Unwrap() error { return e.Err }

// File is an executable (or script, or interpreter) opened by the sentry.
// If a File also implements io.Closer, Load closes it once it is done with
// it; mappings created from its Mappable must stay valid after that (the
// memory manager keeps its own reference, as a Linux VMA holds its file).
type File interface {
	// ReadAt reads at off with io.ReaderAt semantics (a short read at end
	// of file returns io.EOF or nil).
	ReadAt(p []byte, off int64) (int, error)
	// Mappable returns what backs a private file mapping of the file.
	Mappable() (mm.Mappable, error)
}

// Credentials are the identities reported in the auxiliary vector.
type Credentials struct {
	UID, EUID, GID, EGID uint32
	// Secure is AT_SECURE: the program runs with privileges its caller
	// did not have (the dynamic loader then ignores LD_PRELOAD and
	// friends).
	Secure bool
}

// LoadArgs are the inputs of Load.
type LoadArgs struct {
	// MM is the fresh address space to load into.
	MM Memory
	// Open opens a path inside the sandbox (relative paths are relative
	// to the caller's working directory) for execution and returns the
	// file and its resolved absolute path. It checks what Linux's
	// open_exec checks (a regular file, execute permission, a mount that
	// allows exec) and returns errnos (unix.ENOENT, unix.EACCES, ...).
	Open func(path string) (File, string, error)
	// Filename is the path as given to execve; it becomes AT_EXECFN and
	// names the task (Comm).
	Filename string
	// Argv and Envv are the argument and environment strings.
	Argv, Envv []string
	// Creds fill AT_UID, AT_EUID, AT_GID, AT_EGID and AT_SECURE.
	Creds Credentials
	// ExecCreds, if set, is called with the ELF executable once it is
	// known (after "#!" scripts, before anything is mapped) and returns
	// the credentials the program runs with (set-user-ID programs); they
	// replace Creds. An error fails the load.
	ExecCreds func(exe File) (Credentials, error)
	// Random supplies AT_RANDOM's 16 bytes; nil means crypto/rand.
	Random io.Reader
	// Platform is the AT_PLATFORM string; empty means "x86_64".
	Platform string
	// StackSize is the size of the "[stack]" mapping and the stack
	// limit that bounds the argument strings; 0 means DefaultStackSize.
	StackSize uintptr
	// HWCap is AT_HWCAP; 0 means the host's (CPUID leaf 1 EDX).
	HWCap uint64
	// MinSigStackSize is AT_MINSIGSTKSZ; 0 means the host kernel's value
	// (or 2048 when it is unknown).
	MinSigStackSize uint64
	// MapVDSO, if set, maps the vDSO into the new address space (after
	// the program and its interpreter, as Linux's arch_setup_additional_pages)
	// and returns its address, AT_SYSINFO_EHDR (sentry/vdso).
	MapVDSO func(m Memory) (uintptr, error)
}

// Loaded describes a loaded program.
type Loaded struct {
	// Entry is where the first thread starts: the interpreter's entry
	// point if there is one, else the executable's.
	Entry uintptr
	// Stack is the initial stack pointer (16-byte aligned, pointing at
	// argc).
	Stack uintptr
	// Executable is the resolved path of the ELF executable (for a
	// script, of its interpreter).
	Executable string
	// Interpreter is the resolved path of the PT_INTERP program
	// interpreter, or "" for a static executable.
	Interpreter string
	// Argv is the argument vector after "#!" rewriting.
	Argv []string
	// Comm is the task name: the last component of Filename, truncated
	// to 15 bytes.
	Comm string
	// ProgramEntry is the executable's entry point (AT_ENTRY); Base is
	// the interpreter's load address (AT_BASE, 0 without one).
	ProgramEntry, Base uintptr
	// BrkStart is where the heap begins.
	BrkStart uintptr
	// Auxv is the auxiliary vector as (type, value) pairs ending with
	// AT_NULL, as given to Memory.SetAuxv.
	Auxv []uint64
}

const (
	// DefaultStackSize is the size of the initial stack mapping (Linux's
	// default RLIMIT_STACK).
	DefaultStackSize = 8 << 20

	// maxScriptDepth is how many "#!" scripts may be chained before the
	// final ELF executable (Linux's historical BINPRM_MAX_RECURSION).
	maxScriptDepth = 4

	// maxArgStrlen is the longest single argument or environment string,
	// including its NUL (Linux's MAX_ARG_STRLEN).
	maxArgStrlen = 32 * hostarch.PageSize

	// minArgSpace is the least room granted to argument strings whatever
	// the stack size (Linux's ARG_MAX).
	minArgSpace = 32 * hostarch.PageSize

	// maxArgSpace caps the argument strings (3/4 of Linux's _STK_LIM).
	maxArgSpace = 6 << 20

	// taskCommLen is the size of a task name including its NUL.
	taskCommLen = 16
)

// Load loads the program named by args.Filename into args.MM and builds
// its initial stack. It returns where the program starts. It blocks only
// as long as Open and the file reads do.
//
// Errors wrap errnos: ENOEXEC for a file that is neither a valid ELF
// executable nor a valid script, ELOOP for scripts nested too deeply,
// E2BIG for argument lists too large for the stack, whatever Open returned
// for a file that cannot be opened, and the memory manager's error when a
// mapping fails.
//
// Preconditions: args.MM is a fresh address space with nothing mapped;
// args.Open is set.
func Load(args LoadArgs) (Loaded, error) {
	if args.MM == nil || args.Open == nil {
		return Loaded{}, fmt.Errorf("loader: LoadArgs without MM or Open: %w", unix.EINVAL)
	}
	stackSize := args.StackSize
	if stackSize == 0 {
		stackSize = DefaultStackSize
	}
	stackSize = pageRoundUp(stackSize)
	maxAddr := args.MM.MaxUserAddress() &^ (hostarch.PageSize - 1)
	if stackSize == 0 || stackSize >= maxAddr/2 {
		return Loaded{}, fmt.Errorf("loader: stack size %#x does not fit below %#x: %w", stackSize, maxAddr, unix.ENOMEM)
	}
	platform := args.Platform
	if platform == "" {
		platform = "x86_64"
	}

	// Linux gives a program started with an empty argv a single empty
	// argv[0], so that argv[0] always exists.
	argv := append([]string(nil), args.Argv...)
	if len(argv) == 0 {
		argv = []string{""}
	}

	var opened []File
	defer func() {
		for _, f := range opened {
			if c, ok := f.(io.Closer); ok {
				c.Close()
			}
		}
	}()
	open := func(path string) (File, string, error) {
		f, resolved, err := args.Open(path)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
		if f == nil {
			return nil, "", fmt.Errorf("%s: Open returned no file: %w", path, unix.ENOENT)
		}
		opened = append(opened, f)
		return f, resolved, nil
	}

	// Phase 1: resolve scripts, open and validate the executable and its
	// interpreter, place them. Nothing is mapped yet.
	path := args.Filename
	script := ""
	var exe *elfImage
	for depth := 0; ; depth++ {
		f, resolved, err := open(path)
		if err != nil {
			if depth > 0 {
				return Loaded{}, &InterpreterError{Path: script, Interpreter: path, Err: errors.Unwrap(err)}
			}
			return Loaded{}, err
		}
		if depth == 0 {
			// Linux checks the argument size once the file is open,
			// before looking at its contents.
			if err := checkArgSpace(stackSize, args.Filename, argv, args.Envv); err != nil {
				return Loaded{}, err
			}
		}
		head := make([]byte, scriptBufSize)
		n, err := readAtMost(f, head, 0)
		if err != nil {
			return Loaded{}, fmt.Errorf("%s: reading the file header: %w", path, err)
		}
		head = head[:n]
		if isScript(head) {
			if depth >= maxScriptDepth {
				return Loaded{}, fmt.Errorf("%s: more than %d nested interpreter scripts: %w", args.Filename, maxScriptDepth, unix.ELOOP)
			}
			interp, arg, hasArg, err := parseInterpreterLine(head)
			if err != nil {
				return Loaded{}, fmt.Errorf("%s: %w", path, err)
			}
			argv = scriptArgv(argv, interp, arg, hasArg, path)
			script, path = path, interp
			continue
		}
		exe, err = parseELF(f, resolved, maxAddr)
		if err != nil {
			return Loaded{}, err
		}
		break
	}
	if err := checkArgSpace(stackSize, args.Filename, argv, args.Envv); err != nil {
		return Loaded{}, err
	}

	var interp *elfImage
	if exe.interp != "" {
		f, resolved, err := open(exe.interp)
		if err != nil {
			return Loaded{}, &InterpreterError{Path: exe.path, Interpreter: exe.interp, ELF: true, Err: errors.Unwrap(err)}
		}
		interp, err = parseELF(f, resolved, maxAddr)
		if err != nil {
			return Loaded{}, fmt.Errorf("%s: program interpreter: %w", exe.path, err)
		}
		if interp.interp != "" {
			return Loaded{}, fmt.Errorf("%s: program interpreter %s itself requests interpreter %s: %w", exe.path, interp.path, interp.interp, unix.ENOEXEC)
		}
	}

	creds := args.Creds
	if args.ExecCreds != nil {
		c, err := args.ExecCreds(exe.file)
		if err != nil {
			return Loaded{}, err
		}
		creds = c
	}

	stackTop := maxAddr
	stackBottom := stackTop - stackSize

	// Place the executable: ET_EXEC at its link addresses, ET_DYN with
	// its first page at Linux's ELF_ET_DYN_BASE (2/3 of the address
	// space), well away from both low fixed addresses and the mmap area
	// below the stack, with room above it for the heap.
	exeBase := uintptr(exe.firstPage)
	if exe.typ == elfTypeDyn {
		exeBase = etDynBase(maxAddr)
	}
	exeEnd := exeBase + uintptr(exe.spanEnd-exe.firstPage)
	if exeEnd < exeBase || exeEnd > stackBottom || exeBase < minUserAddress {
		return Loaded{}, fmt.Errorf("%s: segments at [%#x, %#x) do not fit between %#x and the stack at %#x: %w",
			exe.path, exeBase, exeEnd, minUserAddress, stackBottom, unix.ENOEXEC)
	}
	exeBias := uint64(exeBase) - exe.firstPage // wraps for ET_DYN linked high: intended
	exeEntry := uintptr(exe.entry + exeBias)
	if exeEntry >= maxAddr {
		return Loaded{}, fmt.Errorf("%s: entry point %#x is outside the user address range: %w", exe.path, exe.entry, unix.ENOEXEC)
	}

	exeMappable, err := exe.file.Mappable()
	if err != nil {
		return Loaded{}, fmt.Errorf("%s: cannot be mapped: %w", exe.path, err)
	}
	var interpMappable mm.Mappable
	if interp != nil {
		if interpMappable, err = interp.file.Mappable(); err != nil {
			return Loaded{}, fmt.Errorf("%s: cannot be mapped: %w", interp.path, err)
		}
	}

	// Where the program headers are in memory, for AT_PHDR.
	phdrAddr, phdrInMemory := exe.phdrVaddr()
	var phdrCopy []byte
	if !phdrInMemory {
		// Neither a loaded segment nor PT_PHDR covers the headers:
		// give the program a copy on the stack rather than a bad
		// pointer.
		phdrCopy = exe.phdrs
	}

	random := make([]byte, 16)
	r := args.Random
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, random); err != nil {
		return Loaded{}, fmt.Errorf("loader: reading AT_RANDOM bytes: %w", err)
	}

	// Phase 2: map and write.
	m := args.MM
	stackPerms := hostarch.ReadWrite
	if exe.execStack {
		stackPerms = hostarch.AnyAccess
	}
	if _, err := m.MMap(mm.MMapOpts{
		Addr:      stackBottom,
		Length:    stackSize,
		Fixed:     true,
		NoReplace: true,
		Perms:     stackPerms,
		MaxPerms:  hostarch.AnyAccess,
		Private:   true,
		GrowsDown: true,
		Name:      "[stack]",
	}); err != nil {
		return Loaded{}, fmt.Errorf("loader: mapping the stack at %#x: %w", stackBottom, err)
	}

	if err := mapSegments(m, exe, exeMappable, exeBias, true); err != nil {
		return Loaded{}, err
	}
	brk := pageRoundUp(uintptr(exe.loadEnd + exeBias))
	m.SetBrkStart(brk)

	entry := exeEntry
	var interpBase uintptr
	if interp != nil {
		// Reserve the interpreter's whole span first, so that its
		// segments keep their relative placement, then map the segments
		// inside the reservation. Gaps between segments stay reserved
		// without access, as glibc's own loader leaves them.
		span := uintptr(interp.spanEnd - interp.firstPage)
		opts := mm.MMapOpts{
			Length:   span,
			Perms:    hostarch.NoAccess,
			MaxPerms: hostarch.AnyAccess,
			Private:  true,
		}
		if interp.typ == elfTypeExec {
			opts.Addr = uintptr(interp.firstPage)
			opts.Fixed = true
			opts.NoReplace = true
		}
		base, err := m.MMap(opts)
		if err != nil {
			return Loaded{}, fmt.Errorf("%s: reserving %#x bytes for the program interpreter: %w", interp.path, span, err)
		}
		bias := uint64(base) - interp.firstPage
		if err := mapSegments(m, interp, interpMappable, bias, false); err != nil {
			return Loaded{}, err
		}
		interpBase = base
		entry = uintptr(interp.entry + bias)
		if entry >= maxAddr {
			return Loaded{}, fmt.Errorf("%s: entry point %#x is outside the user address range: %w", interp.path, interp.entry, unix.ENOEXEC)
		}
	}

	var vdsoAddr uintptr
	if args.MapVDSO != nil {
		if vdsoAddr, err = args.MapVDSO(m); err != nil {
			return Loaded{}, fmt.Errorf("loader: mapping the vDSO: %w", err)
		}
	}

	hw, minSig := args.HWCap, args.MinSigStackSize
	if hw == 0 || minSig == 0 {
		hostHW, hostMinSig := hostAuxv()
		if hw == 0 {
			hw = hostHW
		}
		if minSig == 0 {
			minSig = hostMinSig
		}
	}
	st, err := layoutStack(stackLayoutArgs{
		top:       stackTop,
		argv:      argv,
		envv:      args.Envv,
		execfn:    args.Filename,
		platform:  platform,
		random:    random,
		phdrCopy:  phdrCopy,
		phdrAddr:  uintptr(phdrAddr + exeBias),
		phent:     uint64(exe.phentsize),
		phnum:     uint64(exe.phnum),
		base:      interpBase,
		entry:     exeEntry,
		creds:     creds,
		hwcap:     hw,
		minSigStk: minSig,
		vdso:      vdsoAddr,
	})
	if err != nil {
		return Loaded{}, err
	}
	if stackTop-st.sp > stackSize {
		return Loaded{}, fmt.Errorf("loader: initial stack of %d bytes exceeds the %d byte stack: %w", stackTop-st.sp, stackSize, unix.E2BIG)
	}
	if _, err := m.CopyOut(st.sp, st.image); err != nil {
		return Loaded{}, fmt.Errorf("loader: writing the initial stack at %#x: %w", st.sp, err)
	}
	m.SetArgv(st.argStart, st.argEnd)
	m.SetEnv(st.envStart, st.envEnd)
	m.SetAuxv(st.auxv)
	m.SetExecutable(exe.path)

	l := Loaded{
		Entry:        entry,
		Stack:        st.sp,
		Executable:   exe.path,
		Argv:         argv,
		Comm:         commFromFilename(args.Filename),
		ProgramEntry: exeEntry,
		Base:         interpBase,
		BrkStart:     brk,
		Auxv:         st.auxv,
	}
	if interp != nil {
		l.Interpreter = interp.path
	}
	return l, nil
}

// mapSegments maps the PT_LOAD segments of img displaced by bias: each
// segment's file pages as a private mapping of mp with the segment's
// permissions, the tail of its last file page zeroed when the segment is
// larger in memory than in the file, and anonymous memory for the rest.
// exe says img is the executable (execve denies writes to it: the
// mappings are MMapOpts.Executable), not its interpreter.
func mapSegments(m Memory, img *elfImage, mp mm.Mappable, bias uint64, exe bool) error {
	var mappedEnd uintptr // page-aligned end of what earlier segments mapped
	for _, s := range img.loads {
		if s.memsz == 0 {
			continue
		}
		start := uintptr(s.vaddr + bias)
		pageStart := pageRoundDown(start)
		fileEnd := start + uintptr(s.filesz)
		memEnd := start + uintptr(s.memsz)
		if s.filesz > 0 {
			if _, err := m.MMap(mm.MMapOpts{
				Addr:       pageStart,
				Length:     pageRoundUp(fileEnd) - pageStart,
				Fixed:      true,
				Perms:      s.perms,
				MaxPerms:   hostarch.AnyAccess,
				Private:    true,
				Mappable:   mp,
				Offset:     s.offset - (s.vaddr % hostarch.PageSize),
				Executable: exe,
			}); err != nil {
				return fmt.Errorf("%s: mapping segment [%#x, %#x): %w", img.path, start, fileEnd, err)
			}
			mappedEnd = pageRoundUp(fileEnd)
		}
		if memEnd <= fileEnd {
			continue
		}
		// Bss. The rest of the last file page, or of a page this
		// segment shares with the previous one, must read as zeros
		// (Linux's padzero, which clears to the end of the page).
		zeroStart, anonStart := fileEnd, pageRoundUp(fileEnd)
		if s.filesz == 0 {
			zeroStart, anonStart = start, max(pageStart, mappedEnd)
		}
		if zeroStart < mappedEnd && zeroStart%hostarch.PageSize != 0 {
			n := pageRoundUp(zeroStart) - zeroStart
			if err := m.ZeroOut(zeroStart, n); err != nil && s.perms.Write {
				return fmt.Errorf("%s: zeroing the bss tail at %#x: %w", img.path, zeroStart, err)
			}
		}
		anonEnd := pageRoundUp(memEnd)
		if anonEnd > anonStart {
			if _, err := m.MMap(mm.MMapOpts{
				Addr:     anonStart,
				Length:   anonEnd - anonStart,
				Fixed:    true,
				Perms:    s.perms,
				MaxPerms: hostarch.AnyAccess,
				Private:  true,
			}); err != nil {
				return fmt.Errorf("%s: mapping the bss [%#x, %#x): %w", img.path, anonStart, anonEnd, err)
			}
			mappedEnd = anonEnd
		}
	}
	return nil
}

// checkArgSpace returns an E2BIG error if the strings and pointers of the
// initial stack take more room than Linux allows: a quarter of the stack
// limit (at least ARG_MAX, at most 6 MiB), no string longer than
// MAX_ARG_STRLEN.
func checkArgSpace(stackSize uintptr, execfn string, argv, envv []string) error {
	limit := min(uint64(stackSize)/4, maxArgSpace)
	limit = max(limit, minArgSpace)
	need := uint64(max(len(argv), 1)+len(envv)) * 8
	for _, list := range [][]string{{execfn}, argv, envv} {
		for _, s := range list {
			if len(s)+1 > maxArgStrlen {
				return fmt.Errorf("loader: an argument or environment string of %d bytes exceeds %d: %w", len(s), maxArgStrlen-1, unix.E2BIG)
			}
			need += uint64(len(s)) + 1
			if need > limit {
				return fmt.Errorf("loader: arguments and environment exceed %d bytes: %w", limit, unix.E2BIG)
			}
		}
	}
	return nil
}

// readAtMost reads up to len(p) bytes at off; reaching end of file is not
// an error.
func readAtMost(f File, p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		n, err := f.ReadAt(p[total:], off+int64(total))
		total += n
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// commFromFilename returns the task name Linux derives from an execve
// path: its last component, truncated to TASK_COMM_LEN-1 bytes.
func commFromFilename(filename string) string {
	name := filename[strings.LastIndexByte(filename, '/')+1:]
	if len(name) > taskCommLen-1 {
		name = name[:taskCommLen-1]
	}
	return name
}

// etDynBase returns where an ET_DYN executable's first page goes: two
// thirds of the way up the address space, page aligned (Linux's
// ELF_ET_DYN_BASE; 0x555555554000 for a 47-bit address space).
func etDynBase(maxAddr uintptr) uintptr {
	return (maxAddr / 3 * 2) &^ (hostarch.PageSize - 1)
}

func pageRoundDown(a uintptr) uintptr { return a &^ (hostarch.PageSize - 1) }

// pageRoundUp rounds a up to a page; callers have checked it cannot wrap.
func pageRoundUp(a uintptr) uintptr {
	return (a + hostarch.PageSize - 1) &^ (hostarch.PageSize - 1)
}
