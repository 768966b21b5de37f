// Package usermem moves data between a caller's application memory and the
// sentry: it decodes struct iovec arrays (the one decoder readv/writev,
// sendmsg/recvmsg and every other vector syscall use) and turns them into
// an IOSequence, an io.Reader and io.Writer over the caller's buffers that
// files and sockets consume from the front.
//
// Errors are Linux's: EFAULT for memory that cannot be read or written,
// EINVAL for a bad count or a negative length. Totals are clamped to
// MaxRWCount as Linux's rw_verify_area and import_iovec do.
//
// Locking: none. An IOSequence belongs to one syscall of one thread.
package usermem

import (
	"encoding/binary"
	"io"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// MaxRWCount is Linux's MAX_RW_COUNT: larger requests are clamped.
const MaxRWCount = 0x7ffff000

// maxUserAddress is Linux's TASK_SIZE_MAX on x86-64 (4-level paging): the
// first address above the range access_ok accepts.
const maxUserAddress = 1<<47 - 4096

// AccessOK is Linux's access_ok: whether [addr, addr+n) lies in the user
// half of the address space. It says nothing about what is mapped there;
// calls that never touch the memory (a write to /dev/null) fail with
// EFAULT only when this does.
func AccessOK(addr, n uintptr) bool {
	return n <= maxUserAddress && addr <= maxUserAddress-n
}

// MaxIOV is UIO_MAXIOV, the most iovecs one call may pass.
const MaxIOV = 1024

// IOVecSize is sizeof(struct iovec).
const IOVecSize = 16

// Memory is a caller's address space as the sentry sees it (a
// process.Thread; marshal.CopyContext has these two methods). Both copy as
// much as they can and return EFAULT when they stop early.
type Memory interface {
	CopyInBytes(addr hostarch.Addr, dst []byte) (int, error)
	CopyOutBytes(addr hostarch.Addr, src []byte) (int, error)
}

// IOVec is one struct iovec.
type IOVec struct {
	Base uintptr
	Len  int
}

// DecodeIOVecs decodes cnt struct iovecs from raw (which holds at least
// cnt*IOVecSize bytes), clamping the total to MaxRWCount as Linux does
// (later iovecs are shortened, then empty). EINVAL for a length that is
// negative as a ssize_t.
func DecodeIOVecs(raw []byte, cnt int) ([]IOVec, error) {
	iovs := make([]IOVec, cnt)
	total := 0
	for i := range iovs {
		base := uintptr(binary.LittleEndian.Uint64(raw[IOVecSize*i:]))
		l := int64(binary.LittleEndian.Uint64(raw[IOVecSize*i+8:]))
		if l < 0 {
			return nil, unix.EINVAL
		}
		if int64(total)+l > MaxRWCount {
			l = int64(MaxRWCount - total)
		}
		total += int(l)
		iovs[i] = IOVec{Base: base, Len: int(l)}
	}
	return iovs, nil
}

// CopyInIOVecs reads cnt struct iovecs at addr. EINVAL when cnt is
// negative or above MaxIOV, EFAULT when the array cannot be read.
func CopyInIOVecs(mem Memory, addr uintptr, cnt int) ([]IOVec, error) {
	if cnt < 0 || cnt > MaxIOV {
		return nil, unix.EINVAL
	}
	if cnt == 0 {
		return nil, nil
	}
	var small [4 * IOVecSize]byte
	raw := small[:]
	if cnt*IOVecSize > len(small) {
		raw = make([]byte, cnt*IOVecSize)
	}
	raw = raw[:cnt*IOVecSize]
	if _, err := mem.CopyInBytes(hostarch.Addr(addr), raw); err != nil {
		return nil, unix.EFAULT
	}
	return DecodeIOVecs(raw, cnt)
}

// IOSequence is a caller's buffer (a list of iovecs in its memory) that is
// consumed from the front: Read copies from it (a send), Write copies into
// it (a receive). Both return EFAULT with the count moved so far when they
// meet memory they cannot access. Len is what remains, so an IOSequence is
// also a netstack tcpip.Payloader.
type IOSequence struct {
	mem  Memory
	iovs []IOVec
	left int // bytes remaining
}

// NewIOSequence returns the sequence over iovs in mem.
func NewIOSequence(mem Memory, iovs []IOVec) *IOSequence {
	s := &IOSequence{mem: mem, iovs: iovs}
	for _, v := range iovs {
		s.left += v.Len
	}
	return s
}

// Single returns the sequence over one buffer of n bytes at addr (read,
// write, send, recv), n clamped to MaxRWCount.
func Single(mem Memory, addr uintptr, n uint64) *IOSequence {
	n = min(n, MaxRWCount)
	s := &IOSequence{mem: mem, left: int(n)}
	s.iovs = append(s.iovs, IOVec{Base: addr, Len: int(n)})
	return s
}

// Len returns the bytes not yet consumed.
func (s *IOSequence) Len() int { return s.left }

// IOVecs returns the iovecs not yet consumed.
func (s *IOSequence) IOVecs() []IOVec { return s.iovs }

// skip drops n bytes from the front.
func (s *IOSequence) skip(n int) {
	s.left -= n
	for n > 0 && len(s.iovs) > 0 {
		if s.iovs[0].Len > n {
			s.iovs[0].Base += uintptr(n)
			s.iovs[0].Len -= n
			return
		}
		n -= s.iovs[0].Len
		s.iovs = s.iovs[1:]
	}
	for len(s.iovs) > 0 && s.iovs[0].Len == 0 {
		s.iovs = s.iovs[1:]
	}
}

// Read implements io.Reader: it copies from the caller's memory into p
// and consumes what it copied. io.EOF once the sequence is empty.
func (s *IOSequence) Read(p []byte) (int, error) {
	if s.left == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	done := 0
	for done < len(p) && s.left > 0 {
		for s.iovs[0].Len == 0 {
			s.iovs = s.iovs[1:]
		}
		v := s.iovs[0]
		n := min(v.Len, len(p)-done)
		k, err := s.mem.CopyInBytes(hostarch.Addr(v.Base), p[done:done+n])
		done += k
		s.skip(k)
		if err != nil || k < n {
			return done, unix.EFAULT
		}
	}
	return done, nil
}

// Write implements io.Writer: it copies p into the caller's memory and
// consumes what it copied. A p longer than what remains is cut short with
// io.ErrShortWrite.
func (s *IOSequence) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) && s.left > 0 {
		for s.iovs[0].Len == 0 {
			s.iovs = s.iovs[1:]
		}
		v := s.iovs[0]
		n := min(v.Len, len(p)-done)
		k, err := s.mem.CopyOutBytes(hostarch.Addr(v.Base), p[done:done+n])
		done += k
		s.skip(k)
		if err != nil || k < n {
			return done, unix.EFAULT
		}
	}
	if done < len(p) {
		return done, io.ErrShortWrite
	}
	return done, nil
}

// bytesMemory is a sentry buffer posing as memory at address 0.
type bytesMemory []byte

func (m bytesMemory) CopyInBytes(addr hostarch.Addr, dst []byte) (int, error) {
	if uint64(addr) > uint64(len(m)) {
		return 0, unix.EFAULT
	}
	n := copy(dst, m[addr:])
	if n < len(dst) {
		return n, unix.EFAULT
	}
	return n, nil
}

func (m bytesMemory) CopyOutBytes(addr hostarch.Addr, src []byte) (int, error) {
	if uint64(addr) > uint64(len(m)) {
		return 0, unix.EFAULT
	}
	n := copy(m[addr:], src)
	if n < len(src) {
		return n, unix.EFAULT
	}
	return n, nil
}

// BytesSequence returns a sequence over a buffer of the sentry's own (the
// callers of fs.File.Read and Write: sendfile, splice).
func BytesSequence(b []byte) *IOSequence {
	return NewIOSequence(bytesMemory(b), []IOVec{{Base: 0, Len: len(b)}})
}
