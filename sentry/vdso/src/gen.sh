#!/bin/sh
# Builds ../vdso.so (embedded by vdso.go) from vdso.c and vdso.lds with
# gcc, and records the compiler and linker that built it in
# ../vdso.so.gcc. Run by `go generate ./sentry/vdso` after a change to
# either source; TestImageMatchesSource rebuilds it the same way and
# compares. The C source lives in this directory of its own, without Go
# files: the go command refuses .c files in a package that does not use
# cgo (CGO_ENABLED=1 builds, make race).
#
#   gen.sh [out]   (default: ../vdso.so; a relative out is relative to
#                  the caller's directory)
set -eu
out=$(realpath -m "${1:-$(dirname "$0")/../vdso.so}")
cd "$(dirname "$0")"
CC=${CC:-gcc}
# -fcf-protection=none: no endbr64 (nothing here is called
# indirectly inside); --hash-style=both: glibc and musl read DT_HASH or
# DT_GNU_HASH, Go's runtime either; --build-id=none keeps the bytes the
# same from build to build.
$CC -O2 -fPIC -shared -nostdlib -ffreestanding -fno-stack-protector \
	-fno-builtin -fcf-protection=none -mno-red-zone -fvisibility=default \
	-fno-jump-tables \
	-Wall -Werror \
	-Wl,-T,vdso.lds -Wl,-soname=linux-vdso.so.1 -Wl,--hash-style=both \
	-Wl,--build-id=none -Wl,--no-undefined -Wl,-Bsymbolic \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack -Wl,--eh-frame-hdr \
	-o "$out" vdso.c
strip --strip-debug -R .comment "$out" 2>/dev/null || true
if [ "$out" = "$(realpath -m ../vdso.so)" ]; then
	{ $CC --version | head -1; ld --version | head -1; } >../vdso.so.gcc
fi
