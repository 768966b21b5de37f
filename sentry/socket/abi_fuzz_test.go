package socket

import (
	"encoding/binary"
	"testing"

	"github.com/runsc-lite/runsc-lite/sentry/fs"
	"github.com/runsc-lite/runsc-lite/sentry/vfs"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// fakeBase is where a fuzz input is mapped in the fake address space:
// small enough that the fuzzer finds pointers into it, above 0 so that
// NULL stays NULL.
const fakeBase = 0x100

// fakeMemory is a fuzz input as a caller's memory: [fakeBase,
// fakeBase+len) is mapped, the rest faults.
type fakeMemory []byte

func (m fakeMemory) span(addr hostarch.Addr, n int) (int, int, bool) {
	if uint64(addr) < fakeBase {
		return 0, 0, false
	}
	off := uint64(addr) - fakeBase
	if off > uint64(len(m)) {
		return 0, 0, false
	}
	k := min(uint64(n), uint64(len(m))-off)
	return int(off), int(k), k == uint64(n)
}

func (m fakeMemory) CopyInBytes(addr hostarch.Addr, dst []byte) (int, error) {
	off, k, ok := m.span(addr, len(dst))
	copy(dst, m[off:off+k])
	if !ok {
		return k, unix.EFAULT
	}
	return k, nil
}

func (m fakeMemory) CopyOutBytes(addr hostarch.Addr, src []byte) (int, error) {
	off, k, ok := m.span(addr, len(src))
	copy(m[off:off+k], src)
	if !ok {
		return k, unix.EFAULT
	}
	return k, nil
}

// fakeNode is a descriptor's node for the lookup of SCM_RIGHTS.
type fakeNode struct{ fs.StreamFile }

func (fakeNode) Type() uint32                                   { return unix.S_IFIFO }
func (fakeNode) Stat(*fs.Context) (linux.Statx, error)          { return linux.Statx{}, nil }
func (fakeNode) Open(*fs.Context, uint32) (fs.File, error)      { return nil, unix.ENXIO }
func (fakeNode) Read(*fs.Context, []byte, uint32) (int, error)  { return 0, nil }
func (fakeNode) Write(*fs.Context, []byte, uint32) (int, error) { return 0, nil }
func (fakeNode) Release()                                       {}

// checkArgs decodes data as a sendmsg's and a recvmsg's arguments (a
// msghdr at fakeBase, everything it points to inside data) the way the
// syscalls do, and checks what must hold whatever the input: no panic,
// only Linux's errnos, no reference leaked on any path, control buffers
// that stay within the caller's msg_controllen.
func checkArgs(t *testing.T, data []byte) {
	mem := fakeMemory(append([]byte(nil), data...))
	// Three open descriptors (0, 1, 2) for SCM_RIGHTS.
	files := make([]*vfs.FileDescription, 3)
	for i := range files {
		n := fakeNode{}
		files[i] = vfs.NewAnonymousFile("fake", n, n, unix.O_RDWR)
	}
	lookup := func(fd int32) (*vfs.FileDescription, error) {
		if fd < 0 || int(fd) >= len(files) {
			return nil, unix.EBADF
		}
		files[fd].IncRef()
		return files[fd], nil
	}
	m, err := CopyInMsghdr(mem, fakeBase)
	if err != nil {
		if err != unix.EFAULT {
			t.Fatalf("CopyInMsghdr: %v", err)
		}
		return
	}
	to, iovs, ctl, err := m.SendArgs(mem)
	switch err {
	case nil:
		if len(to) > MaxAddrLen {
			t.Fatalf("address of %d bytes", len(to))
		}
		total := 0
		for _, v := range iovs {
			if v.Len < 0 {
				t.Fatalf("negative iovec length %d", v.Len)
			}
			total += v.Len
		}
		if total > 0x7ffff000 {
			t.Fatalf("iovecs total %d beyond MAX_RW_COUNT", total)
		}
		if uint64(len(ctl)) != m.ControlLen {
			t.Fatalf("control of %d bytes for msg_controllen %d", len(ctl), m.ControlLen)
		}
	case unix.EFAULT, unix.EINVAL, unix.EMSGSIZE, unix.ENOBUFS:
	default:
		t.Fatalf("SendArgs: unexpected %v", err)
	}
	if err == nil && len(ctl) > 0 {
		cmsgs, err := ParseControl(ctl)
		if err != nil && err != unix.EINVAL {
			t.Fatalf("ParseControl: %v", err)
		}
		for _, c := range cmsgs {
			if len(c.Data) > len(ctl) {
				t.Fatalf("cmsg data of %d bytes from %d", len(c.Data), len(ctl))
			}
		}
		for _, family := range []int{unix.AF_UNIX, unix.AF_INET} {
			ctx := &Context{Cred: Credentials{PID: 5, UID: 1000, GID: 1000, EUID: 1000, EGID: 1000, SUID: 1000, SGID: 1000}}
			cm, err := DecodeSendControl(ctx, cmsgs, family, lookup)
			switch err {
			case nil:
				if len(cm.Rights) > ScmMaxFD {
					t.Fatalf("%d rights", len(cm.Rights))
				}
				if family != unix.AF_UNIX && len(cm.Rights) > 0 {
					t.Fatalf("rights accepted on family %d", family)
				}
			case unix.EINVAL, unix.EBADF, unix.EPERM:
			default:
				t.Fatalf("DecodeSendControl: unexpected %v", err)
			}
			cm.Release()
		}
	}
	if _, err := m.RecvArgs(mem); err != nil && err != unix.EFAULT && err != unix.EINVAL && err != unix.EMSGSIZE {
		t.Fatalf("RecvArgs: %v", err)
	}
	// The receive side: a message with credentials and the three files
	// into the caller's msg_controllen.
	cb := NewControlBuffer(m.ControlLen, m.Control == 0)
	cb.Put(unix.SOL_SOCKET, unix.SCM_CREDENTIALS, EncodeUcred(Ucred{PID: 1, UID: 2, GID: 3}))
	rights := make([]*vfs.FileDescription, len(files))
	for i, f := range files {
		f.IncRef()
		rights[i] = f
	}
	installed := 0
	cb.PutRights(rights, func(*vfs.FileDescription) (int32, error) {
		if installed == 2 {
			return 0, unix.EMFILE
		}
		installed++
		return int32(10 + installed), nil
	})
	out := cb.Bytes()
	if m.Control == 0 && len(out) > 0 {
		t.Fatalf("%d control bytes for a NULL msg_control", len(out))
	}
	if uint64(len(out)) > m.ControlLen {
		t.Fatalf("%d control bytes for msg_controllen %d", len(out), m.ControlLen)
	}
	if installed < len(files) && cb.Flags()&unix.MSG_CTRUNC == 0 {
		t.Fatalf("%d of %d descriptors delivered without MSG_CTRUNC", installed, len(files))
	}
	// What was delivered whole parses back.
	if cb.Flags()&unix.MSG_CTRUNC == 0 {
		if _, err := ParseControl(out); err != nil {
			t.Fatalf("the control buffer built does not parse: %v", err)
		}
	}
	for i, f := range files {
		if f.Refs() != 1 {
			t.Fatalf("descriptor %d has %d references after decoding, want 1 (a leak or a double release)", i, f.Refs())
		}
		f.DecRef()
	}
	// Addresses: copy in with a length from the input, and out again.
	if len(data) >= 4 {
		l := int64(int32(binary.LittleEndian.Uint32(data)))
		a, err := CopyInAddress(mem, fakeBase+8, l)
		if err == nil && int64(len(a)) != max(l, 0) {
			t.Fatalf("address of %d bytes for length %d", len(a), l)
		}
		if err := CopyOutAddress(mem, fakeBase+16, fakeBase, make([]byte, 110)); err != nil && err != unix.EFAULT && err != unix.EINVAL {
			t.Fatalf("CopyOutAddress: %v", err)
		}
	}
}

// msghdrAt builds a fuzz seed: a msghdr at fakeBase followed by payload,
// with pointers given as offsets from fakeBase (-1: NULL).
func msghdrAt(name, namelen, iov, iovlen, ctl, ctllen int64, payload []byte) []byte {
	ptr := func(off int64) uint64 {
		if off < 0 {
			return 0
		}
		return uint64(fakeBase + off)
	}
	b := make([]byte, MsghdrSize)
	binary.LittleEndian.PutUint64(b[0:], ptr(name))
	binary.LittleEndian.PutUint32(b[8:], uint32(namelen))
	binary.LittleEndian.PutUint64(b[16:], ptr(iov))
	binary.LittleEndian.PutUint64(b[24:], uint64(iovlen))
	binary.LittleEndian.PutUint64(b[32:], ptr(ctl))
	binary.LittleEndian.PutUint64(b[40:], uint64(ctllen))
	return append(b, payload...)
}

// cmsg encodes one control message.
func cmsg(level, typ int32, data []byte, lenField uint64) []byte {
	b := make([]byte, CmsgSpace(len(data)))
	binary.LittleEndian.PutUint64(b, lenField)
	binary.LittleEndian.PutUint32(b[8:], uint32(level))
	binary.LittleEndian.PutUint32(b[12:], uint32(typ))
	copy(b[16:], data)
	return b
}

func fds(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

// FuzzSocketArgs fuzzes the socket syscalls' argument decoding: the
// seeds below and testdata/fuzz/FuzzSocketArgs run as a normal test;
// `make fuzz` runs the fuzzer for a bounded time.
func FuzzSocketArgs(f *testing.F) {
	// An iovec right after the msghdr, pointing at 8 bytes after it.
	iov := func(off, n int64) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b, uint64(fakeBase+off))
		binary.LittleEndian.PutUint64(b[8:], uint64(n))
		return b
	}
	rights := cmsg(unix.SOL_SOCKET, unix.SCM_RIGHTS, fds(0, 1, 2), uint64(CmsgLen(12)))
	creds := cmsg(unix.SOL_SOCKET, unix.SCM_CREDENTIALS, EncodeUcred(Ucred{PID: 5, UID: 1000, GID: 1000}), uint64(CmsgLen(UcredSize)))
	ctlOff := int64(MsghdrSize + 16 + 8)
	good := append(append(iov(MsghdrSize+16, 8), []byte("payload!")...), append(rights, creds...)...)
	f.Add(msghdrAt(-1, 0, MsghdrSize, 1, ctlOff, int64(len(rights)+len(creds)), good))
	f.Add(msghdrAt(-1, 0, MsghdrSize, 1, ctlOff, int64(len(rights)), append(append(iov(MsghdrSize+16, 8), []byte("payload!")...), cmsg(unix.SOL_SOCKET, unix.SCM_RIGHTS, fds(0, 7), uint64(CmsgLen(8)))...)))
	f.Add(msghdrAt(-1, 0, MsghdrSize, 1, ctlOff, 32, append(append(iov(MsghdrSize+16, 8), []byte("payload!")...), cmsg(unix.SOL_SOCKET, unix.SCM_RIGHTS, nil, 8)...)))
	f.Add(msghdrAt(-1, 0, MsghdrSize, 1, ctlOff, 16, append(append(iov(MsghdrSize+16, 8), []byte("payload!")...), cmsg(unix.SOL_SOCKET, 99, nil, 16)...)))
	f.Add(msghdrAt(MsghdrSize, -1, MsghdrSize, 1025, -1, 0, nil))
	f.Add(msghdrAt(MsghdrSize, 110, MsghdrSize, 1, -1, 0, make([]byte, 110)))
	f.Add(msghdrAt(-1, 0, 0x7fff0000, 1, -1, 0, nil))
	f.Add(msghdrAt(-1, 0, MsghdrSize, 2, -1, 0, append(iov(0, -1), iov(0, 5)...)))
	f.Add(msghdrAt(-1, 0, -1, 0, ctlOff, 1<<31, nil))
	f.Add([]byte{})
	f.Fuzz(checkArgs)
}

// TestControlBufferTruncation pins put_cmsg and scm_detach_fds' rules on
// a few sizes: no room for a header takes nothing; a header's worth
// takes a truncated message; descriptors that do not fit are dropped.
func TestControlBufferTruncation(t *testing.T) {
	for _, c := range []struct {
		limit      uint64
		wantLen    int
		wantTrunc  bool
		wantCmsgLn uint64
	}{
		{0, 0, true, 0},
		{15, 0, true, 0},
		{16, 16, true, 16},
		{20, 20, true, 20},
		{32, 32, false, 28},
		{100, 32, false, 28},
	} {
		cb := NewControlBuffer(c.limit, false)
		cb.Put(unix.SOL_SOCKET, unix.SCM_CREDENTIALS, EncodeUcred(Ucred{PID: 1, UID: 2, GID: 3}))
		out := cb.Bytes()
		if len(out) != c.wantLen || (cb.Flags()&unix.MSG_CTRUNC != 0) != c.wantTrunc {
			t.Errorf("limit %d: %d bytes, flags %#x; want %d bytes, truncated %v", c.limit, len(out), cb.Flags(), c.wantLen, c.wantTrunc)
		}
		if len(out) >= 8 && binary.LittleEndian.Uint64(out) != c.wantCmsgLn {
			t.Errorf("limit %d: cmsg_len %d, want %d", c.limit, binary.LittleEndian.Uint64(out), c.wantCmsgLn)
		}
	}
}
