package test

import "testing"

// TestCMemfd compares c/memfd.c: memfd_create's flags and names, F_GET_SEALS
// and F_ADD_SEALS, every seal enforced against writes, truncation,
// fallocate and shared mappings (F_SEAL_WRITE refused while one may
// write, also a forked child's), F_SEAL_FUTURE_WRITE, F_SEAL_EXEC and
// MFD_NOEXEC_SEAL, and the seals of files that are not memfds (a regular
// file on the overlay or a volume, a /dev/shm file, a pipe).
func TestCMemfd(t *testing.T) { compareCInDir(t, "memfd") }

// pythonMemfd uses memfd_create and seals from Python (os.memfd_create,
// fcntl.F_ADD_SEALS, mmap), and a child reading the memfd through its
// parent's /proc/PID/fd.
const pythonMemfd = `
import fcntl, mmap, os
fd = os.memfd_create("py", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
os.write(fd, b"hello")
print(os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_size, os.get_inheritable(fd))
m = mmap.mmap(fd, 5)
m[:5] = b"HELLO"
print(os.pread(fd, 5, 0))
try:
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
except OSError as e:
    print("seal with a mapping:", e.strerror)
m.close()
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
print("seals", fcntl.fcntl(fd, fcntl.F_GET_SEALS))
try:
    os.write(fd, b"x")
except OSError as e:
    print("write:", e.strerror)
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    os.write(w, os.pread(os.open(f"/proc/{os.getppid()}/fd/{fd}", os.O_RDONLY), 5, 0))
    os._exit(0)
os.close(w)
print("child read", os.read(r, 10))
os.wait()
`

// TestPythonMemfd compares pythonMemfd natively and in the sandbox.
func TestPythonMemfd(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", pythonMemfd}, stderr: true})
}
