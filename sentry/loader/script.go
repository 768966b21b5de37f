package loader

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"
)

// scriptBufSize is how much of a file's start is examined for a "#!" line
// (Linux's BINPRM_BUF_SIZE). The interpreter line may use at most
// scriptBufSize-1 bytes including the "#!".
const scriptBufSize = 256

// isScript reports whether a file starting with head is an interpreter
// script.
func isScript(head []byte) bool {
	return len(head) >= 2 && head[0] == '#' && head[1] == '!'
}

func isSpaceTab(c byte) bool { return c == ' ' || c == '\t' }

// isTerminator reports whether c ends an interpreter path.
func isTerminator(c byte) bool { return c == ' ' || c == '\t' || c == 0 }

// parseInterpreterLine parses the "#!" line at the start of head (the
// first up to scriptBufSize bytes of a script) as Linux's binfmt_script
// does: the line ends at the first newline; without one, the interpreter
// path must still be followed by a space, tab or NUL within the buffer (a
// path cut off by the buffer's end is refused, a cut-off argument is
// fine). Spaces and tabs around the line are dropped; the interpreter path
// ends at the first space, tab or NUL; everything after the following
// spaces and tabs, up to a NUL, is the single optional argument.
// It returns the interpreter, the argument and whether there is one, or an
// error wrapping ENOEXEC.
//
// Preconditions: isScript(head).
func parseInterpreterLine(head []byte) (interp, arg string, hasArg bool, err error) {
	var buf [scriptBufSize]byte // zero padded like Linux's buffer
	copy(buf[:], head)
	// The last byte of the buffer is never part of the line.
	limit := scriptBufSize - 1

	end := bytes.IndexByte(buf[:], '\n')
	if end < 0 {
		first := indexFunc(buf[:limit], 2, func(c byte) bool { return !isSpaceTab(c) })
		if first < 0 {
			return "", "", false, fmt.Errorf("interpreter line is only blanks: %w", unix.ENOEXEC)
		}
		if indexFunc(buf[:limit], first, isTerminator) < 0 {
			return "", "", false, fmt.Errorf("interpreter path longer than %d bytes: %w", limit-2, unix.ENOEXEC)
		}
		end = limit
	}
	for end > 2 && isSpaceTab(buf[end-1]) {
		end--
	}
	line := buf[:end]
	name := indexFunc(line, 2, func(c byte) bool { return !isSpaceTab(c) })
	if name < 0 {
		return "", "", false, fmt.Errorf("no interpreter named after #!: %w", unix.ENOEXEC)
	}
	nameEnd := indexFunc(line, name, isTerminator)
	if nameEnd < 0 {
		nameEnd = len(line)
	} else if line[nameEnd] != 0 {
		// A blank separates the path from an argument; trailing blanks
		// are gone, so something follows.
		if a := indexFunc(line, nameEnd, func(c byte) bool { return !isSpaceTab(c) }); a >= 0 {
			argBytes := line[a:]
			if z := bytes.IndexByte(argBytes, 0); z >= 0 {
				argBytes = argBytes[:z]
			}
			arg, hasArg = string(argBytes), true
		}
	}
	return string(line[name:nameEnd]), arg, hasArg, nil
}

// indexFunc returns the index of the first byte of b at or after from that
// satisfies f, or -1.
func indexFunc(b []byte, from int, f func(byte) bool) int {
	for i := from; i < len(b); i++ {
		if f(b[i]) {
			return i
		}
	}
	return -1
}

// scriptArgv returns the argument vector for running script (the path it
// was opened by) through interp: the interpreter, its optional argument,
// the script path, then the original arguments after argv[0].
//
// Preconditions: len(argv) >= 1.
func scriptArgv(argv []string, interp, arg string, hasArg bool, script string) []string {
	out := make([]string, 0, len(argv)+2)
	out = append(out, interp)
	if hasArg {
		out = append(out, arg)
	}
	out = append(out, script)
	return append(out, argv[1:]...)
}
