#!/usr/bin/env bash
# test/kvm/test-kvm.sh: the whole KVM check, for `make test-kvm`.
#
# Builds runsc-lite and the test programs statically and runs, inside a
# QEMU (TCG) guest with a standard KVM (test/kvm/run.sh):
#
#   - the platform/kvm package's tests (go test -c), which include the
#     ratio of its round trips to the ptrace platform's, and the same tests
#     built with -race;
#   - runsc-lite's platform choice: --platform=auto must pick kvm there,
#     and an explicit --platform=kvm must work;
#   - every test program on both platforms, with the same output and exit
#     status required (test/kvm/compare.sh);
#   - the benchmarks (test/kvm/bench.c: getpid, open+read+close, fork+wait)
#     on both platforms in the same run (alternating, best of three),
#     printed as kvm/ptrace ratios.
#
# Usage: test/kvm/test-kvm.sh [run.sh options...]
# Environment: RUNSC_LITE_BIN, a prebuilt static runsc-lite to use instead
# of building one; CC (default gcc).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
cc=${CC:-gcc}

need=()
command -v "$cc" >/dev/null 2>&1 || need+=(gcc)
command -v ldd >/dev/null 2>&1 || need+=(libc-bin)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get -o Acquire::Retries=5 update -qq
	$sudo apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/test-kvm.XXXXXX")
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/bin" "$out/c"
if [ -n "${RUNSC_LITE_BIN:-}" ]; then
	cp "$RUNSC_LITE_BIN" "$out/bin/runsc-lite"
else
	CGO_ENABLED=0 go build -o "$out/bin/runsc-lite" ./runsc-lite
fi
for src in test/c/*.c; do
	name=$(basename "$src" .c)
	# The libraries a program asks for with "/* link: -lfoo */", as
	# test/main_test.go links them (after the source).
	libs=$(sed -n 's|^/\* link: \(.*\)\*/$|\1|p' "$src" | head -n 1)
	# shellcheck disable=SC2086
	"$cc" -static -O1 -pthread -o "$out/c/$name" "$src" $libs
done
"$cc" -static -O2 -o "$out/bin/bench" test/kvm/bench.c
cp test/kvm/compare.sh "$out/bin/compare.sh"

runs=()
# compare NAME STATUS [-f FLAGS] [-d] ARGV...: ARGV on both platforms,
# with runsc-lite FLAGS if given; -d runs it in a fresh directory /tmp/w,
# also passed as the program's last argument.
compare() {
	local name=$1 status=$2 dir="" flags=""
	shift 2
	if [ "$1" = "-f" ]; then
		flags="-f '$2'"
		shift 2
	fi
	if [ "$1" = "-d" ]; then
		dir="-d /tmp/w"
		shift
		set -- "$@" /tmp/w
	fi
	runs+=(--run "$name=sh /opt/bin/compare.sh -s $status $flags $dir -- $*")
}
have() { [ -x "$out/c/$1" ]; }

runs+=(--run "auto-picks-kvm=/opt/bin/runsc-lite --debug do /bin/true 2>&1 | grep 'platform' && /opt/bin/runsc-lite --debug do /bin/true 2>&1 | grep -q 'platform kvm'")
runs+=(--run "explicit-kvm=test \"\$(/opt/bin/runsc-lite --platform=kvm do /bin/echo ok)\" = ok")
compare true 0 /bin/true
compare false 1 /bin/false
compare echo 0 /bin/echo hello world
compare ls 0 /bin/ls -la /opt/c
compare cat 0 /bin/cat /opt/bin/compare.sh
compare sh-pipeline 0 "/bin/sh -c 'echo a b c | tr a-z A-Z; ls /opt/c | wc -l; for i in 1 2 3; do (echo \$i); done'"
for p in files stat dirops mmap misc; do have $p && compare "$p" 0 -d "/opt/c/$p"; done
for p in fds ioctl limits tls efault mprotect; do have $p && compare "$p" 0 "/opt/c/$p"; done
if have mprotect; then
	compare mprotect-segv 139 /opt/c/mprotect segv
	compare mprotect-exec-none 139 /opt/c/mprotect exec-none
fi
have unimpl && compare unimpl 0 /opt/c/unimpl 500
if have probe; then
	compare exit-42 42 /opt/c/probe exit 42
	compare raise-15 143 /opt/c/probe raise 15
	compare raise-9 137 /opt/c/probe raise 9
fi
if have signals_faults; then
	compare faults-handlers 0 /opt/c/signals_faults handlers
	compare faults-overflow 0 /opt/c/signals_faults overflow
	for c in segv-ignored segv-blocked segv-nested bad-rip bad-frame garbage bad-fpstate; do
		compare "faults-$c" 139 /opt/c/signals_faults "$c"
	done
	compare faults-edit-regs 0 /opt/c/signals_faults edit-regs
fi
if have signals_handlers; then
	for c in siginfo restart alarm nodefer altstack fpstate pending suspend; do
		compare "handlers-$c" 0 /opt/c/signals_handlers "$c"
	done
fi
if have signals_procs; then
	for c in jobctl groups sigpipe default threads exec; do
		compare "procs-$c" 0 /opt/c/signals_procs "$c"
	done
fi
# Several sandbox CPUs (one vCPU each, tasks moving between them with
# their FP state) and FP state inherited across fork and clone.
if have proc_fpinherit; then
	compare fpinherit 0 /opt/c/proc_fpinherit
	compare fpinherit-2cpu 0 -f "--cpus 2" /opt/c/proc_fpinherit
fi
have proc_threads && compare proc-threads-2cpu 0 -f "--cpus 2" /opt/c/proc_threads
have signals_handlers && compare handlers-fpstate-2cpu 0 -f "--cpus 2" /opt/c/signals_handlers fpstate
have signals_procs && compare procs-threads-2cpu 0 -f "--cpus 2" /opt/c/signals_procs threads
# poll_epoll is left out: it does not finish under emulation on either
# platform.

# The benchmarks: both platforms in one run, alternating, three rounds;
# the best time of each, then the ratios.
runs+=(--run "benchmarks=for i in 1 2 3; do for p in ptrace kvm; do /opt/bin/runsc-lite --platform=\$p do /opt/bin/bench | sed \"s/^/\$p /\" || exit 1; done; done > /tmp/bench.out; cat /tmp/bench.out; awk '\$2 == \"BENCHMARK\" { k = \$1 \" \" \$3; if (!(k in ns) || \$5 < ns[k]) ns[k] = \$5; names[\$3] = 1 } END { for (n in names) if (ns[\"ptrace \" n] > 0) printf \"BENCH-RATIO %s kvm/ptrace %.2f (best of 3: kvm %d ns, ptrace %d ns)\\n\", n, ns[\"kvm \" n] / ns[\"ptrace \" n], ns[\"kvm \" n], ns[\"ptrace \" n] }' /tmp/bench.out")

status=0
test/kvm/run.sh --pkg ./platform/kvm --race-pkg ./platform/kvm --add "$out/bin=/opt/bin" --add "$out/c=/opt/c" --test-timeout 300 "${runs[@]}" "$@" || status=$?
grep -a -h -e '^\[benchmarks\] BENCH-RATIO' -e '^\[platform-kvm\] BENCH ' "$repo/build/kvm/last-serial.log" 2>/dev/null | sed 's/^\[[a-z-]*\] /  /' || true
exit $status
