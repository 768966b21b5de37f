#!/bin/sh
# Builds vdso.so (embedded by vdso.go) from vdso.c and vdso.lds with gcc,
# and records the compiler that built it in vdso.so.gcc. Run by
# `go generate ./sentry/vdso` after a change to either source;
# TestImageMatchesSource rebuilds it the same way and compares.
#
#   gen.sh [out]   (default: vdso.so next to this script)
set -eu
cd "$(dirname "$0")"
out=${1:-vdso.so}
CC=${CC:-gcc}
# -fno-asynchronous-unwind-tables keeps .eh_frame small but present for
# the code; -fcf-protection=none: no endbr64 (nothing here is called
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
if [ "$out" = vdso.so ]; then
	$CC --version | head -1 >vdso.so.gcc
fi
