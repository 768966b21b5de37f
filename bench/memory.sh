#!/usr/bin/env bash
# memory.sh: the memory-management benchmarks of issue 7, runsc-lite against
# native, measured in the same run. Prints a markdown report for
# BENCHMARKS.md on stdout (progress on stderr).
#
#   page-cache read   dd of a FILE_MIB file (default 256) with 128 KiB reads,
#                     MB/s as dd reports it. Native cold: the file's host
#                     pages dropped first (dd iflag=nocache count=0). Sandbox
#                     cold: echo 3 > /proc/sys/vm/drop_caches in the sandbox,
#                     with the host's cache dropped too ("cold/cold") or warm
#                     ("cold/host-warm", the sentry's own cost). Warm: the
#                     second read in the same sandbox. --total-memory 1G.
#   reclaim           a 1 GiB file read with dd under --total-memory 256M:
#                     pages stolen by kswapd and by direct reclaim
#                     (pgsteal_kswapd, pgsteal_direct deltas) per second of
#                     the read, and the stalls (allocstall_normal).
#   swap              test/c/memhog SWAP_MIB (default 600) under
#                     --total-memory 256M --swap 1G: pages swapped out
#                     (pswpout) per second of the write phase and swapped in
#                     (pswpin) per second of the verify phase, in MB/s.
#
# Environment knobs: RUNSC_LITE_BIN=PATH, FILE_MIB, SWAP_MIB, ROUNDS (default
# 3; the median is reported).
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-membench.XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { echo "memory.sh: $*" >&2; }

file_mib=${FILE_MIB:-256}
swap_mib=${SWAP_MIB:-600}
rounds=${ROUNDS:-3}

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
gcc -static -O2 -Wall -Werror -o "$work/memhog" test/c/memhog.c

log "writing a ${file_mib} MiB and a 1 GiB file"
head -c $((file_mib << 20)) /dev/urandom >"$work/file"
head -c $((1 << 30)) /dev/urandom >"$work/big"

# ddrate: dd's MB/s (it prints e.g. "..., 1.2 GB/s" or "..., 850 MB/s").
ddrate() {
	sed -n 's/.*, \([0-9.]*\) \([kMG]\)B\/s$/\1 \2/p' | tail -n 1 |
		awk '{ m = ($2 == "G") ? 1000 : ($2 == "k") ? 0.001 : 1; printf "%.0f", $1 * m }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "" }'; }
dropfile() { dd if="$1" iflag=nocache count=0 status=none; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2f", b / a; else print "n/a" }'; }
rd="dd if=$work/file of=/dev/null bs=128k"

# --- page-cache reads ---------------------------------------------------------
nat_cold=() nat_warm=() sb_cold=() sb_hcold=() sb_warm=()
for i in $(seq "$rounds"); do
	log "page-cache round $i"
	dropfile "$work/file"
	nat_cold+=("$($rd 2>&1 | ddrate)")
	nat_warm+=("$($rd 2>&1 | ddrate)")
	# Sandbox, host cache cold: the sentry's misses read the disk.
	dropfile "$work/file"
	out=$("$rl" do --total-memory 1G -- sh -c "$rd; $rd" 2>&1 || true)
	sb_hcold+=("$(echo "$out" | sed -n 3p | ddrate)")
	sb_warm+=("$(echo "$out" | ddrate)")
	# Sandbox cold, host warm: only the sandbox's page cache is empty.
	out=$("$rl" do --total-memory 1G -- sh -c "echo 3 > /proc/sys/vm/drop_caches; $rd" 2>&1 || true)
	sb_cold+=("$(echo "$out" | ddrate)")
done
nc=$(printf '%s\n' "${nat_cold[@]}" | median)
nw=$(printf '%s\n' "${nat_warm[@]}" | median)
sc=$(printf '%s\n' "${sb_cold[@]}" | median)
shc=$(printf '%s\n' "${sb_hcold[@]}" | median)
sw=$(printf '%s\n' "${sb_warm[@]}" | median)

# --- reclaim ------------------------------------------------------------------
vmfields="pgscan_kswapd pgsteal_kswapd pgscan_direct pgsteal_direct allocstall_normal pswpin pswpout oom_kill"
vmgrep="grep -E '^($(echo $vmfields | tr ' ' '|')) ' /proc/vmstat"
# delta NAME: after - before of a vmstat field in $out ("B name v" / "A name v").
delta() { echo "$out" | awk -v k="$1" '$1 == "B" && $2 == k { b = $3 } $1 == "A" && $2 == k { a = $3 } END { print a - b }'; }
persec() { awk -v n="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.0f", n / (ms / 1000); else print "n/a" }'; }
rk=() rd_=() stalls=() rtime=()
for i in $(seq "$rounds"); do
	log "reclaim round $i"
	out=$("$rl" do --total-memory 256M -- sh -c "$vmgrep | sed 's/^/B /'; s=\$(date +%s%N); dd if=$work/big of=/dev/null bs=128k 2>/dev/null; e=\$(date +%s%N); echo ms \$(( (e - s) / 1000000 )); $vmgrep | sed 's/^/A /'" 2>&1 || true)
	ms=$(echo "$out" | awk '$1 == "ms" { print $2 }')
	rtime+=("$ms")
	rk+=("$(persec "$(delta pgsteal_kswapd)" "$ms")")
	rd_+=("$(persec "$(delta pgsteal_direct)" "$ms")")
	stalls+=("$(delta allocstall_normal)")
done
rkm=$(printf '%s\n' "${rk[@]}" | median)
rdm=$(printf '%s\n' "${rd_[@]}" | median)
stm=$(printf '%s\n' "${stalls[@]}" | median)
rtm=$(printf '%s\n' "${rtime[@]}" | median)
last_reclaim=$out

# --- swap ---------------------------------------------------------------------
so=() si=() wms=() vms=() nwms=()
for i in $(seq "$rounds"); do
	log "swap round $i"
	nout=$(MEMHOG_TIMES=1 "$work/memhog" "$swap_mib" 2>&1 || true)
	nwms+=("$(echo "$nout" | sed -n 's/^write_ms: //p')")
	out=$("$rl" do --total-memory 256M --swap 1G -- sh -c "$vmgrep | sed 's/^/B /'; MEMHOG_TIMES=1 $work/memhog $swap_mib; $vmgrep | sed 's/^/A /'" 2>&1 || true)
	w=$(echo "$out" | sed -n 's/^write_ms: //p')
	v=$(echo "$out" | sed -n 's/^verify_ms: //p')
	wms+=("$w") vms+=("$v")
	so+=("$(awk -v p="$(delta pswpout)" -v ms="$w" 'BEGIN { if (ms > 0) printf "%.0f", p * 4096 / 1e6 / (ms / 1000); else print "n/a" }')")
	si+=("$(awk -v p="$(delta pswpin)" -v ms="$v" 'BEGIN { if (ms > 0) printf "%.0f", p * 4096 / 1e6 / (ms / 1000); else print "n/a" }')")
done
som=$(printf '%s\n' "${so[@]}" | median)
sim=$(printf '%s\n' "${si[@]}" | median)
wm=$(printf '%s\n' "${wms[@]}" | median)
vm=$(printf '%s\n' "${vms[@]}" | median)
nwm=$(printf '%s\n' "${nwms[@]}" | median)
last_swap=$out

# --- report -------------------------------------------------------------------
load=$(cut -d' ' -f1-3 /proc/loadavg)
cat <<EOF
\`bash bench/memory.sh\` (median of $rounds rounds; load average at the end: $load)

| page-cache read, ${file_mib} MiB, 128 KiB reads | native | sandbox | sandbox / native |
|---|---:|---:|---:|
| cold (host cache dropped too) | $nc MB/s | $shc MB/s | $(ratio "$nc" "$shc") |
| cold in the sandbox, host cache warm | $nw MB/s (native warm) | $sc MB/s | $(ratio "$nw" "$sc") |
| warm | $nw MB/s | $sw MB/s | $(ratio "$nw" "$sw") |

| reclaim: 1 GiB read under --total-memory 256M | result |
|---|---:|
| read time | $rtm ms |
| kswapd: pgsteal_kswapd per second | $rkm pages/s |
| direct reclaim: pgsteal_direct per second | $rdm pages/s |
| allocation stalls (allocstall_normal) | $stm |

| swap: memhog $swap_mib MiB under --total-memory 256M --swap 1G | result |
|---|---:|
| write phase (native $nwm ms) | $wm ms |
| swap-out: pswpout × 4 KiB / write phase | $som MB/s |
| verify phase | $vm ms |
| swap-in: pswpin × 4 KiB / verify phase | $sim MB/s |
EOF
log "last reclaim run:"
echo "$last_reclaim" >&2
log "last swap run:"
echo "$last_swap" >&2
