# lib.sh: what the bench scripts share; they source it from the
# repository's root (bench/lib.sh).

# runsc_lite_bin DIR prints the runsc-lite binary to measure:
# $RUNSC_LITE_BIN, or one built into DIR without cgo, as make builds it (a
# binary with cgo cannot confine its sentry).
runsc_lite_bin() {
	if [ -n "${RUNSC_LITE_BIN:-}" ]; then
		echo "$RUNSC_LITE_BIN"
		return
	fi
	echo "building runsc-lite" >&2
	CGO_ENABLED=0 go build -o "$1/runsc-lite" ./runsc-lite || return
	echo "$1/runsc-lite"
}

# --- the environments compared side by side ----------------------------------
#
# bench_setup_envs WORK: sets rl (runsc-lite, runsc_lite_bin), gv (gVisor's
# runsc from bench/gvisor.sh, unless GVISOR=0), flags (BENCH_FLAGS as an
# array) and envs: native, runsc-lite-P for every platform P of
# $BENCH_PLATFORMS (default "ptrace systrap kvm") that runs /bin/true here
# (the others are skipped with the reason), gvisor-systrap and
# gvisor-ptrace. gVisor's build failing is fatal, with its reason; a gVisor
# platform that cannot run /bin/true is reported and sets bench_env_failed=1.
# Progress goes to stderr; exits 1 when no runsc-lite platform works.
bench_setup_envs() {
	local out p
	rl=$(runsc_lite_bin "$1") || exit 1
	read -r -a flags <<<"${BENCH_FLAGS:-}"
	timeout_s=${BENCH_TIMEOUT:-300}
	bench_env_failed=0
	gv=""
	if [ "${GVISOR:-1}" != 0 ]; then
		if ! gv=$(bench/gvisor.sh 2>"$1/gvisor.err"); then
			echo "bench: FAILED to build gVisor's runsc (GVISOR=0 leaves it out):" >&2
			tail -n 20 "$1/gvisor.err" >&2
			exit 1
		fi
	fi
	envs=(native)
	# The probes get a minute each: a platform whose start hangs (a KVM
	# that never answers) is skipped, not waited for.
	local timeout_s=60
	for p in ${BENCH_PLATFORMS:-ptrace systrap kvm}; do
		if out=$(in_env "runsc-lite-$p" /bin/true 2>&1); then
			envs+=("runsc-lite-$p")
		else
			echo "bench: runsc-lite --platform=$p skipped: $(printf '%s\n' "$out" | tail -n 1)" >&2
		fi
	done
	if [ "${#envs[@]}" = 1 ]; then
		echo "bench: runsc-lite do -- /bin/true fails on every platform; nothing to measure" >&2
		exit 1
	fi
	if [ -n "$gv" ]; then
		for p in systrap ptrace; do
			if out=$(in_env "gvisor-$p" /bin/true 2>&1); then
				envs+=("gvisor-$p")
			else
				echo "bench: gVisor's runsc --platform=$p cannot run /bin/true:" >&2
				printf '%s\n' "$out" | tail -n 10 >&2
				bench_env_failed=1
			fi
		done
	fi
	echo "bench: environments: ${envs[*]}" >&2
}

# in_env ENV PROG ARGS...: PROG in environment ENV (bench_setup_envs),
# bounded by $timeout_s seconds.
in_env() {
	local env=$1
	shift
	case $env in
	native) timeout "$timeout_s" "$@" ;;
	runsc-lite-*) timeout "$timeout_s" "$rl" do --platform="${env#runsc-lite-}" "${flags[@]}" -- "$@" ;;
	gvisor-*) timeout "$timeout_s" "$gv" --network=none --ignore-cgroups --platform="${env#gvisor-}" do "$@" ;;
	esac
}

# bench_runs ALL FUNC: the measurement loop. Sets keys to the keys of ALL
# that $only names (" k1 k2 ", spaces around), then calls FUNC KEY ENV
# LABEL for each key, each of $rounds rounds and each environment of envs,
# rounds interleaved so that all environments see the same load; LABEL is
# "[i/n] KEY, round r/R, ENV", for progress lines.
bench_runs() {
	local all=$1 fn=$2 key r env i=0
	keys=()
	for key in $all; do
		[[ $only == *" $key "* ]] && keys+=("$key")
	done
	for key in "${keys[@]}"; do
		i=$((i + 1))
		for r in $(seq 1 "$rounds"); do
			for env in "${envs[@]}"; do
				"$fn" "$key" "$env" "[$i/${#keys[@]}] $key, round $r/$rounds, $env"
			done
		done
	done
}

# env_cmd ENV: the command line that runs a program in ENV (for hyperfine).
env_cmd() {
	case $1 in
	native) echo "" ;;
	runsc-lite-*) echo "$rl do --platform=${1#runsc-lite-} ${flags[*]} --" ;;
	gvisor-*) echo "$gv --network=none --ignore-cgroups --platform=${1#gvisor-} do" ;;
	esac
}

# bench_write_tsv FILE SUMMARY [COMMENT...]: writes the results in the
# format above to FILE (and to $BENCH_TSV when set): a "# SUMMARY" line,
# the date, host and load average ($load_start at the start), one "# "
# line per COMMENT, then the median of each key's runs in each
# environment, from the globals keys (array), envs (array) and vals
# (associative: "KEY/ENV" -> the runs' ns, space-separated).
bench_write_tsv() {
	local file=$1 summary=$2 key env c
	shift 2
	{
		echo "# $summary"
		echo "# date: $(date -u +%Y-%m-%dT%H:%MZ)"
		echo "# host: $(bench_host)"
		echo "# load: $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
		for c in "$@"; do echo "# $c"; done
		printf 'key\tenv\tns\n'
		for key in "${keys[@]}"; do
			for env in "${envs[@]}"; do
				printf '%s\t%s\t%s\n' "$key" "$env" "$(echo "${vals[$key/$env]:-}" | tr ' ' '\n' | grep . | median)"
			done
		done
	} >"$file"
	[ -z "${BENCH_TSV:-}" ] || cp "$file" "$BENCH_TSV"
}

# bench_host: "N x CPU model, Linux release".
bench_host() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo "$(nproc) x ${cpu:-unknown CPU}, Linux $(uname -r)"
}

# median: the median of the numbers on stdin, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# --- the side-by-side table (bench.sh and workloads.sh write it, compare.sh reads it)
#
# bench.sh records its results as TSV, one measurement a line:
#
#	KEY <TAB> ENV <TAB> NS
#
# KEY a benchmark (bench_keys), ENV an environment (native,
# runsc-lite-PLATFORM, gvisor-PLATFORM), NS the median in nanoseconds per
# operation (empty when the run failed). Lines starting with "#" are
# comments ("# name: value": when, where, the load average); a line "key env
# ns" heads the rows. compare.sh reads the same format from a fenced
# ```tsv block in BENCHMARKS.md (the recorded figures).

# bench_keys: the benchmarks, in the table's order.
bench_keys="getpid openread devnull forkexit forkexec threadjoin pipepong futexwake startup"

# bench_table TSV: the markdown table of TSV's figures: one column per
# environment, each sandbox's ratio to native in parentheses, then each
# runsc-lite platform against the faster of gVisor's platforms.
bench_table() {
	awk -F '\t' -v keys="$bench_keys" '
	function label(k) {
		if (k == "getpid") return "getpid round trip"
		if (k == "openread") return "open+read+close of a small file"
		if (k == "devnull") return "64 MiB to /dev/null in 4 KiB writes"
		if (k == "forkexit") return "fork+exit+wait"
		if (k == "forkexec") return "fork+execve(/bin/true)+wait"
		if (k == "threadjoin") return "thread create+join"
		if (k == "pipepong") return "pipe ping-pong between two processes, per round trip"
		if (k == "futexwake") return "futex wake-up between two threads"
		if (k == "startup") return "`do -- /bin/true` start-up"
		if (k == "gotime") return "Go time package tests (-test.short)"
		if (k == "goexec") return "Go os/exec package tests (-test.short)"
		if (k == "python") return "python3 -m test test_threading test_subprocess test_os"
		if (k == "make") return "make -j2 of a 200-file C project"
		if (k == "coreutils") return "sh loop of coreutils (100 x sort, uniq, wc, ls, sha256sum, grep, sed)"
		return k
	}
	function envname(e) {
		if (e ~ /^runsc-lite-/) return "runsc-lite " substr(e, 12)
		if (e ~ /^gvisor-/) return "gVisor " substr(e, 8)
		return e
	}
	function fmt(ns) {
		if (ns == "") return "fail"
		if (ns >= 1e9) return sprintf("%.2f s", ns / 1e9)
		if (ns >= 1e6) return sprintf("%.2f ms", ns / 1e6)
		if (ns >= 1e3) return sprintf("%.2f µs", ns / 1e3)
		return sprintf("%.0f ns", ns)
	}
	function ratio(a, b) { return (a > 0 && b != "") ? sprintf("%.2fx", b / a) : "n/a" }
	/^#/ || $1 == "key" || NF < 2 { next }
	{
		if (!(($1, $2) in v) && !($2 in seen)) { seen[$2] = 1; envs[++ne] = $2 }
		if (!($1 in kseen)) { kseen[$1] = 1; if (index(" " keys " ", " " $1 " ") == 0) extra = extra " " $1 }
		v[$1, $2] = $3
	}
	END {
		nk = split(keys extra, k, " ")
		line = "| benchmark |"; sep = "|---|"
		for (i = 1; i <= ne; i++) { line = line " " envname(envs[i]) " |"; sep = sep "---:|" }
		print line; print sep
		for (j = 1; j <= nk; j++) {
			if (!(k[j] in kseen)) continue
			n = v[k[j], "native"]
			line = "| " label(k[j]) " |"
			for (i = 1; i <= ne; i++) {
				x = v[k[j], envs[i]]
				cell = fmt(x)
				if (envs[i] != "native" && x != "") cell = cell " (" ratio(n, x) ")"
				line = line " " cell " |"
			}
			print line
		}
		# Each runsc-lite platform against the faster gVisor platform.
		nr = 0; ng = 0
		for (i = 1; i <= ne; i++) {
			if (envs[i] ~ /^runsc-lite-/) rl[++nr] = envs[i]
			if (envs[i] ~ /^gvisor-/) gv[++ng] = envs[i]
		}
		if (nr == 0 || ng == 0) exit
		print ""
		line = "| runsc-lite ÷ the faster gVisor platform (below 1: runsc-lite faster) |"; sep = "|---|"
		for (i = 1; i <= nr; i++) { line = line " " envname(rl[i]) " |"; sep = sep "---:|" }
		print line; print sep
		for (j = 1; j <= nk; j++) {
			if (!(k[j] in kseen)) continue
			best = ""; bestenv = ""
			for (i = 1; i <= ng; i++) {
				x = v[k[j], gv[i]]
				if (x != "" && (best == "" || x + 0 < best + 0)) { best = x; bestenv = gv[i] }
			}
			line = "| " label(k[j]) (bestenv == "" ? "" : " (" envname(bestenv) ")") " |"
			for (i = 1; i <= nr; i++) line = line " " ratio(best, v[k[j], rl[i]]) " |"
			print line
		}
	}' "$1"
}
