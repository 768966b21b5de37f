package test

import "testing"

// TestCSplice compares c/splice.c: splice, tee, vmsplice and
// sync_file_range (errors, offsets and file positions, pipe to pipe, tee
// keeping the data, EPIPE, EAGAIN, waits that another process ends, a
// 1 MiB copy through a pipe, sockets), on the overlay and on a volume.
func TestCSplice(t *testing.T) { compareCInDir(t, "splice") }

// pythonSplice copies a memfd into another through a pipe with os.splice.
const pythonSplice = `
import os
r, w = os.pipe()
src = os.memfd_create("src")
os.write(src, b"spliced through a pipe\n" * 1000)
os.lseek(src, 0, 0)
dst = os.memfd_create("dst")
total = 0
while True:
    n = os.splice(src, w, 65536)
    if n == 0:
        break
    while n:
        k = os.splice(r, dst, n)
        n -= k
        total += k
print("copied", total)
print(os.pread(dst, 23, 23 * 999), os.fstat(dst).st_size)
os.write(w, b"gift")
print(os.read(r, 4))
`

// TestPythonSplice compares pythonSplice natively and in the sandbox.
func TestPythonSplice(t *testing.T) {
	compare(t, cmpCase{argv: []string{"/usr/bin/python3", "-c", pythonSplice}, stderr: true})
}
