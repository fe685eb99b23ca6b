#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# programs.sh - real programs under `uswap run`, full size: python3, GNU sort,
# xz -9, sqlite3 and redis-server, each with a peak several times its memory
# limit, run without uswap and under uswap (tests/programs/*.sh: results
# compared, swapping and the limit asserted), median of RUNS runs, printed as
# a table and written to bench/results/programs-DATE.{txt,csv,log}.
#
# Usage: bench/programs.sh [--runs N] [--quick] [--only PROG[,PROG]] [--table LOG...]
#   --runs N   runs of each program (default 3); the table gives medians
#   --quick    the ctest sizes, one run (a smoke test of this script)
#   --only     some of: python sort xz sqlite redis
#   --table    no runs: the table of the results in these logs (of earlier runs)
# Environment: USWAP (default build/uswap).  As root (userfaultfd); under ~10
# minutes on 2 vCPUs.  docs/programs.md has the results and how to read them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=$(pwd)
export USWAP=${USWAP:-$src/build/uswap}
runs=3
quick=0
only="python,sort,xz,sqlite,redis"
tables=()
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=${2:?--runs needs a number}; shift ;;
	--quick) quick=1; runs=1 ;;
	--only) only=${2:?--only needs a list}; shift ;;
	--table) shift; tables=("$@"); break ;;
	-h | --help) sed -n '4,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "programs.sh: unknown option: $1" >&2; exit 2 ;;
	esac
	shift
done
[ -x "$USWAP" ] || { echo "programs.sh: no $USWAP: build first" >&2; exit 1; }

# Full sizes: program, script arguments (size, limit), and what the size is.
# Peaks (without uswap, measured): python ~245 MB, sort ~200 MB, xz ~42 MB,
# sqlite ~250 MB, redis ~250 MB: 4x to 5x the limit, xz 2.6x (its match finder
# reads a 64 MiB hash table at random: any smaller limit thrashes, docs/programs.md).
declare -A args what
args[python]="128 64M";        what[python]="128 MiB bytearray + ~128 MiB list"
args[sort]="2000000 48M 1G";   what[sort]="2,000,000 lines (80 MB), sort -S 1G"
args[xz]="80000 16M";          what[xz]="3.1 MB of text, xz -9 then xz -d"
args[sqlite]="1000000 64M";    what[sqlite]="1,000,000 rows (~110 MB database)"
args[redis]="600000 48M 256";  what[redis]="600,000 keys of 256 bytes"
if [ "$quick" = 1 ]; then
	for p in python sort xz sqlite redis; do
		args[$p]=""
		what[$p]="ctest size"
	done
fi

mkdir -p bench/results
failed=0
if [ ${#tables[@]} -gt 0 ]; then
	logs=("${tables[@]}")
	runs=0
else
	logs=()
fi
stamp=$(date +%Y%m%d-%H%M%S)
out=bench/results/programs-$stamp
log=$out.log
{
	echo "# bench/programs.sh $stamp, commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
	echo "# $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# uswap: $USWAP; runs: $runs"
} | tee "$log"
if [ ${#logs[@]} -gt 0 ]; then only=""; fi
for p in ${only//,/ }; do
	[ -n "${what[$p]:-}" ] || { echo "programs.sh: unknown program $p" >&2; exit 2; }
	for r in $(seq "$runs"); do
		echo "== $p run $r/$runs: ${what[$p]} (args: ${args[$p]:-defaults})" | tee -a "$log"
		rc=0
		# shellcheck disable=SC2086 # the arguments are words
		PROG_TIMEOUT=${PROG_TIMEOUT:-400} bash "tests/programs/$p.sh" ${args[$p]} \
			>>"$log" 2>&1 || rc=$?
		if [ "$rc" != 0 ]; then
			echo "programs.sh: $p run $r FAILED (exit status $rc): see $log" | tee -a "$log" >&2
			failed=1
		fi
		grep "^result program=$p " "$log" | tail -n 1 | sed 's/^result //' |
			grep -q . || echo "   (no result)"
	done
done

# The table: medians of each column over the runs that gave a result.
awk -v runs="$runs" '
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^result / {
	delete f
	for (i = 2; i <= NF; i++) {
		split($i, kv, "=")
		f[kv[1]] = kv[2]
	}
	p = f["program"]
	if (!(p in n)) order[++np] = p
	n[p]++
	limit[p] = f["limit"]
	for (k in f)
		if (k != "program" && k != "limit")
			col[p, k] = col[p, k] " " f[k]
}
END {
	printf "%-7s %5s %4s | %9s %9s | %9s %9s %13s | %8s %8s %6s\n", "program", "limit", "runs",
		"RSS base", "RSS uswap", "resident", "store max", "store at exit", "wall base",
		"uswap", "ratio"
	printf "%-7s %5s %4s | %9s %9s | %9s %9s %13s | %8s %8s %6s\n", "", "", "",
		"MiB", "MiB", "peak MiB", "MiB", "orig>compr MiB", "s", "s", ""
	csv = "program,limit,runs,base_rss_mib,uswap_rss_mib,resident_peak_mib,store_used_max_mib,store_orig_exit_mib,store_compr_exit_mib,base_wall_s,uswap_wall_s,ratio,pswpout,pswpin"
	print csv > CSV
	for (i = 1; i <= np; i++) {
		p = order[i]
		br = median(col[p, "base_rss_kb"]) / 1024
		ur = median(col[p, "uswap_rss_kb"]) / 1024
		res = median(col[p, "usage_max_pages"]) * 4096 / 1048576
		used = median(col[p, "zram_used_max"]) / 1048576
		orig = median(col[p, "zram_orig"]) / 1048576
		compr = median(col[p, "zram_compr"]) / 1048576
		bw = median(col[p, "base_wall"])
		uw = median(col[p, "uswap_wall"])
		printf "%-7s %5s %4d | %9.1f %9.1f | %9.1f %9.1f %6.1f>%-6.1f | %8.2f %8.2f %5.1fx\n",
			p, limit[p], n[p], br, ur, res, used, orig, compr, bw, uw, (bw > 0 ? uw / bw : 0)
		printf "%s,%s,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.2f,%.2f,%.2f,%d,%d\n", p, limit[p], n[p],
			br, ur, res, used, orig, compr, bw, uw, (bw > 0 ? uw / bw : 0),
			median(col[p, "pswpout"]), median(col[p, "pswpin"]) > CSV
	}
}' CSV="$out.csv" "${logs[@]:-$log}" | tee "$out.txt"

cat <<EOF

RSS: peak resident set (GNU time %M) of the program without uswap and under uswap
run; under uswap it includes uswap's compressed store, which lives in the process.
resident peak: uswap's peak of the program's managed pages in memory (nr_usage_max,
at most the limit).  store max: the most memory the compressed store took
(mem_used_max); store at exit: what it held when the program exited, uncompressed
and compressed.  wall: median seconds; ratio = uswap / base.
Results: $out.txt, $out.csv, log $log
EOF
exit "$failed"
