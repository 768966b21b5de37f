#!/usr/bin/env bash
# test/kvm/run.sh: run programs inside a QEMU (TCG) guest that has a
# standard Linux KVM, and report one result per program.
#
# The development machines' /dev/kvm is not a standard KVM, so the KVM
# platform is tested here: QEMU emulates an AMD CPU with SVM in software
# (-accel tcg -cpu max), the guest kernel and its kvm/kvm-amd modules come
# from Debian's linux-image-amd64 package (downloaded and unpacked, never
# installed), and an initramfs holds static busybox, the modules and the
# programs. The guest's init loads the modules, runs every program with a
# timeout and prints one line per program on the serial console:
#
#     RESULT <name> PASS|FAIL rc=<exit status> <seconds>s
#
# which this script parses (QEMU's own exit status says nothing about the
# programs). Everything a fresh Debian machine lacks is installed (qemu-
# system-x86, cpio, xz-utils) or downloaded into the cache (the kernel
# package, busybox-static).
#
# Usage: test/kvm/run.sh [options]
#   --pkg PKG          build PKG with `go test -c` (CGO_ENABLED=0, static)
#                      and run it as a program named after PKG; repeatable.
#                      Default, if no --pkg, --bin or --run: ./platform/kvm
#   --race-pkg PKG     the same with -race (a cgo binary: the guest gets the
#                      dynamic loader and the libraries ldd lists); run
#                      as <name>-race
#   --test-args ARGS   arguments of the go test binaries (default:
#                      "-test.v -test.count=1 -test.timeout=20m")
#   --bin PATH[=NAME]  run the static binary PATH (no arguments) as NAME
#   --run NAME=CMD     run the shell command CMD in the guest as NAME
#   --add SRC[=DST]    copy a file, or a directory's contents, into the
#                      initramfs at DST (default /opt/<basename of SRC>);
#                      repeatable
#   --test-timeout S   per-program limit inside the guest (default 600)
#   --timeout S        wall-clock limit of the whole guest (default 1200)
#   --mem MB           guest memory (default 2048)
#   --cache DIR        download/unpack cache (default <repo>/build/kvm)
#   --keep             keep the work directory (printed at the end)
#   --quiet            do not echo the guest's console while it runs
#
# Inside the guest: PATH=/bin:/sbin:/opt/bin, RUNSC_LITE_EXPECT_KVM=1 (the
# platform/kvm tests then fail instead of skipping without KVM), /tmp is a
# tmpfs, /proc, /sys and /dev are mounted, the programs are in /tests,
# --add'ed files where asked.
# The serial log is kept as <cache>/last-serial.log.
#
# Exit status: 0 if every program printed PASS, 1 if any failed or never
# reported, 2 if the harness itself could not run.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$repo/build/kvm"
pkgs=()
race_pkgs=()
bins=()
runs=()
adds=()
test_args="-test.v -test.count=1 -test.timeout=20m"
test_timeout=600
timeout=1200
mem=2048
keep=0
quiet=0

die() { echo "kvm harness: $*" >&2; exit 2; }
say() { echo "kvm harness: $*" >&2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--pkg) pkgs+=("$2"); shift 2 ;;
	--race-pkg) race_pkgs+=("$2"); shift 2 ;;
	--test-args) test_args="$2"; shift 2 ;;
	--bin) bins+=("$2"); shift 2 ;;
	--run) runs+=("$2"); shift 2 ;;
	--add) adds+=("$2"); shift 2 ;;
	--test-timeout) test_timeout="$2"; shift 2 ;;
	--timeout) timeout="$2"; shift 2 ;;
	--mem) mem="$2"; shift 2 ;;
	--cache) cache="$2"; shift 2 ;;
	--keep) keep=1; shift ;;
	--quiet) quiet=1; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
if [ ${#pkgs[@]} -eq 0 ] && [ ${#race_pkgs[@]} -eq 0 ] && [ ${#bins[@]} -eq 0 ] && [ ${#runs[@]} -eq 0 ]; then
	pkgs=(./platform/kvm)
fi

t_start=$(date +%s)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

# --- Host tools -------------------------------------------------------------

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb missing: this script needs a Debian-based host"
command -v go >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"; }
command -v go >/dev/null 2>&1 || die "go is not installed"
apt_updated=0
apt_update() {
	if [ $apt_updated -eq 0 ]; then
		say "apt-get update"
		$sudo apt-get -o Acquire::Retries=5 update -qq || die "apt-get update failed"
		apt_updated=1
	fi
}
if [ ${#need[@]} -gt 0 ]; then
	apt_update
	say "installing ${need[*]}"
	$sudo apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi

# --- Kernel, modules, busybox (cached) ---------------------------------------

mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

# apt_download PKG DIR: download PKG's .deb into DIR and print its path.
apt_download() {
	local pkg="$1" dir="$2" deb
	mkdir -p "$dir"
	deb=$(ls "$dir"/"${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		if ! (cd "$dir" && apt-get download "$pkg" >/dev/null 2>&1); then
			apt_update
			(cd "$dir" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
		fi
		deb=$(ls "$dir"/"${pkg}"_*.deb | head -n 1)
	fi
	echo "$deb"
}

# extract_vmlinux BZIMAGE OUT: the uncompressed ELF kernel inside a bzImage
# (QEMU boots it through its PVH note in half the time).
extract_vmlinux() {
	local img="$1" out="$2" off
	for fmt in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08\x00'; do
		local name=${fmt%%:*} magic=${fmt#*:}
		for off in $(LC_ALL=C grep -obUaP "$magic" "$img" 2>/dev/null | cut -d: -f1 | head -n 4); do
			case $name in
			xz) tail -c +$((off + 1)) "$img" | xz -dc --single-stream >"$out" 2>/dev/null ;;
			zstd) command -v zstd >/dev/null 2>&1 && tail -c +$((off + 1)) "$img" | zstd -dcq >"$out" 2>/dev/null ;;
			gzip) tail -c +$((off + 1)) "$img" | gzip -dc >"$out" 2>/dev/null ;;
			esac
			if [ -s "$out" ] && [ "$(head -c 4 "$out" | od -A n -t x1 | tr -d ' ')" = "7f454c46" ]; then
				return 0
			fi
		done
	done
	rm -f "$out"
	return 1
}

kdir="$cache/kernel"
if [ ! -f "$kdir/.ok" ]; then
	rm -rf "$kdir" "$cache/unpacked"
	mkdir -p "$kdir/modules"
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }' || true)
	if [ -z "$kpkg" ]; then
		apt_update
		kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
	say "fetching $kpkg"
	deb=$(apt_download "$kpkg" "$cache/debs")
	dpkg-deb -x "$deb" "$cache/unpacked" || die "dpkg-deb -x $deb failed"
	vmlinuz=$(ls "$cache"/unpacked/boot/vmlinuz-* | head -n 1)
	cp "$vmlinuz" "$kdir/bzImage"
	if grep -q '^CONFIG_PVH=y' "$cache"/unpacked/boot/config-* 2>/dev/null && extract_vmlinux "$vmlinuz" "$kdir/vmlinux"; then
		say "using the uncompressed kernel (PVH boot)"
	else
		say "booting the compressed kernel"
	fi
	mdir=$(ls -d "$cache"/unpacked/lib/modules/*/kernel 2>/dev/null || ls -d "$cache"/unpacked/usr/lib/modules/*/kernel)
	for m in virt/lib/irqbypass arch/x86/kvm/kvm drivers/crypto/ccp/ccp arch/x86/kvm/kvm-amd; do
		base=$(basename "$m")
		if [ -f "$mdir/$m.ko" ]; then
			cp "$mdir/$m.ko" "$kdir/modules/$base.ko"
		elif [ -f "$mdir/$m.ko.xz" ]; then
			xz -dc "$mdir/$m.ko.xz" >"$kdir/modules/$base.ko"
		elif [ -f "$mdir/$m.ko.zst" ]; then
			command -v zstd >/dev/null 2>&1 || { apt_update; $sudo apt-get -o Acquire::Retries=5 install -y -qq zstd >/dev/null; }
			zstd -dcq "$mdir/$m.ko.zst" >"$kdir/modules/$base.ko"
		elif [ -f "$mdir/$m.ko.gz" ]; then
			gzip -dc "$mdir/$m.ko.gz" >"$kdir/modules/$base.ko"
		elif [ "$base" != ccp ]; then
			die "module $m not found in $kpkg"
		fi
	done
	echo "$kpkg" >"$kdir/package"
	rm -rf "$cache/unpacked"
	touch "$kdir/.ok"
fi
if [ ! -x "$cache/busybox/bin/busybox" ]; then
	say "fetching busybox-static"
	deb=$(apt_download busybox-static "$cache/debs")
	rm -rf "$cache/busybox"
	dpkg-deb -x "$deb" "$cache/busybox" || die "dpkg-deb -x $deb failed"
	[ -x "$cache/busybox/bin/busybox" ] || die "no bin/busybox in $deb"
fi
kernel="$kdir/bzImage"
[ -f "$kdir/vmlinux" ] && kernel="$kdir/vmlinux"

# --- Programs and the initramfs -----------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/kvm-harness.XXXXXX")
cleanup() {
	if [ $keep -eq 1 ]; then say "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
root="$work/root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,tests,lib/modules,opt/bin,etc}
cp "$cache/busybox/bin/busybox" "$root/bin/busybox"
cp "$kdir"/modules/*.ko "$root/lib/modules/"
list="$root/tests/list"
: >"$list"
names=()

add_test() { # NAME COMMAND
	local name="$1" cmd="$2"
	case "$name" in *[!A-Za-z0-9_./+-]* | "") die "bad program name '$name'" ;; esac
	for n in "${names[@]+"${names[@]}"}"; do [ "$n" != "$name" ] || die "two programs named $name"; done
	names+=("$name")
	printf '%s\t%s\t%s\n' "$name" "$test_timeout" "$cmd" >>"$list"
}

for pkg in "${pkgs[@]+"${pkgs[@]}"}"; do
	name=$(echo "${pkg#./}" | tr '/' '-')
	say "go test -c $pkg"
	(cd "$repo" && CGO_ENABLED=0 go test -c -o "$root/tests/$name.test" "$pkg") || die "go test -c $pkg failed"
	add_test "$name" "cd /tmp && /tests/$name.test $test_args"
done
for pkg in "${race_pkgs[@]+"${race_pkgs[@]}"}"; do
	name=$(echo "${pkg#./}" | tr '/' '-')-race
	say "go test -c -race $pkg"
	(cd "$repo" && CGO_ENABLED=1 go test -c -race -o "$root/tests/$name.test" "$pkg") || die "go test -c -race $pkg failed"
	command -v ldd >/dev/null 2>&1 || die "ldd is needed for --race-pkg"
	for lib in $(ldd "$root/tests/$name.test" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	add_test "$name" "cd /tmp && /tests/$name.test $test_args"
done
for b in "${bins[@]+"${bins[@]}"}"; do
	path=${b%%=*}
	name=$(basename "$path")
	[ "$b" = "$path" ] || name=${b#*=}
	[ -f "$path" ] || die "--bin $path: no such file"
	cp "$path" "$root/tests/$name"
	chmod +x "$root/tests/$name"
	add_test "$name" "cd /tmp && /tests/$name"
done
for r in "${runs[@]+"${runs[@]}"}"; do
	name=${r%%=*}
	[ "$r" != "$name" ] || die "--run $r: want NAME=COMMAND"
	add_test "$name" "${r#*=}"
done
for a in "${adds[@]+"${adds[@]}"}"; do
	src=${a%%=*}
	dst="/opt/$(basename "$src")"
	[ "$a" = "$src" ] || dst=${a#*=}
	[ -e "$src" ] || die "--add $src: no such file"
	if [ -d "$src" ]; then
		mkdir -p "$root$dst"
		cp -a "$src/." "$root$dst/"
	else
		mkdir -p "$root$(dirname "$dst")"
		cp -L --preserve=mode,timestamps "$src" "$root$dst"
	fi
done

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/opt/bin HOME=/tmp TMPDIR=/tmp
# platform/kvm's tests fail rather than skip when KVM does not work here.
export RUNSC_LITE_EXPECT_KVM=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=75% tmpfs /tmp
echo "KVM-HARNESS: guest up after $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r)"
for m in irqbypass kvm ccp kvm-amd; do
	[ -f /lib/modules/$m.ko ] || continue
	insmod /lib/modules/$m.ko 2>&1 | sed "s/^/KVM-HARNESS: insmod $m: /"
done
if [ -c /dev/kvm ]; then
	echo "KVM-HARNESS: /dev/kvm ready; $(grep -q -w npt /proc/cpuinfo && echo with || echo without) nested paging"
else
	echo "KVM-HARNESS: no /dev/kvm: $(dmesg | grep -i -e kvm -e svm | tail -n 3 | tr '\n' ' ')"
fi
tab=$(printf '\t')
while IFS="$tab" read -r name tmo cmd; do
	[ -n "$name" ] || continue
	echo "KVM-HARNESS: running $name"
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout -s KILL "$tmo" sh -c "$cmd" </dev/null >/tmp/.out 2>&1
	rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	sed "s/^/[$name] /" /tmp/.out
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ $rc -eq 0 ]; then verdict=PASS; else verdict=FAIL; fi
	[ $rc -eq 137 ] && echo "[$name] killed after ${tmo}s"
	echo "RESULT $name $verdict rc=$rc ${secs}s"
done </tests/list
echo "KVM-HARNESS-DONE"
sync
poweroff -f
EOF
chmod +x "$root/init"
initrd="$work/initrd.cpio.gz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 >"$initrd") || die "packing the initramfs failed"
say "initramfs $(du -h "$initrd" | cut -f1), kernel $(cat "$kdir/package") ($(basename "$kernel")), ${#names[@]} program(s), prepared in $(($(date +%s) - t_start))s"

# --- Boot ------------------------------------------------------------------------

log="$work/serial.log"
t_boot=$(date +%s)
# rcupdate.rcu_expedited=1: this kernel's KVM_RUN waits for an RCU grace
# period (synchronize_rcu) whenever a vCPU is run by another host thread
# than last time, which the sandbox does on every task switch (one vCPU per
# sandbox CPU, driven by whichever task holds the CPU). Normal grace periods
# under emulation take ~12 ms and made the suite crawl and time out;
# expedited ones cost ~75 us (TestHandOffCost).
set +e
if [ $quiet -eq 1 ]; then
	timeout -k 10 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config -no-reboot \
		-accel tcg -cpu max -smp 1 -m "$mem" -display none -monitor none -serial stdio \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 oops=panic mitigations=off rcupdate.rcu_expedited=1" </dev/null >"$log" 2>"$work/qemu.err"
	qrc=$?
else
	timeout -k 10 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config -no-reboot \
		-accel tcg -cpu max -smp 1 -m "$mem" -display none -monitor none -serial stdio \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 oops=panic mitigations=off rcupdate.rcu_expedited=1" </dev/null 2>"$work/qemu.err" | tee "$log" | tr -d '\r'
	qrc=${PIPESTATUS[0]}
fi
set -e
t_end=$(date +%s)
tr -d '\r' <"$log" >"$cache/last-serial.log"
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	say "QEMU killed after ${timeout}s"
elif [ $qrc -ne 0 ]; then
	say "QEMU exited with status $qrc: $(head -c 2000 "$work/qemu.err")"
fi

# --- Results ---------------------------------------------------------------------

status=0
echo
echo "KVM harness results (guest ran $((t_end - t_boot))s, total $((t_end - t_start))s; serial log: $cache/last-serial.log):"
for n in "${names[@]}"; do
	line=$(grep -a -m1 "^RESULT $n " "$cache/last-serial.log" || true)
	if [ -z "$line" ]; then
		echo "  $n: NO RESULT (the guest stopped before reporting it)"
		status=1
	else
		echo "  ${line#RESULT }"
		case "$line" in "RESULT $n PASS "*) ;; *) status=1 ;; esac
	fi
done
if ! grep -a -q '^KVM-HARNESS-DONE' "$cache/last-serial.log"; then
	echo "  the guest did not finish (see the serial log)"
	status=1
fi
exit $status
