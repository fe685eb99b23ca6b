#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench.sh - build bench_kernel (Release, in build-bench/) and run it: uswap
# against the kernel's own swap (zram, lz4, cgroup v1 memory limit), the same
# workloads, every page verified.  Arguments are passed to bench_kernel (try
# --help; --quick runs in under a minute, the default full run in under ten).
#
# --swap file[:DIR] swaps to a file on the disk filesystem DIR (default
# /var/tmp, not tmpfs) on both sides instead of zram: the kernel to a swap
# file it creates (fallocate, mkswap, swapon) and removes, uswap to its file
# backend; it adds the read-ahead hit rate and bytes written per page evicted
# (--quick --swap file: about a minute).
#
# Results go to bench/results/kernel[-quick]-DATE.{csv,svg,log} (plus the
# plot's .dat and .gp); the directory ignores itself in git: do not commit
# results.  Give --csv or --plot yourself to put either elsewhere.
#
# Needs root (bench_kernel sets up zram swap or a swap file and a memory
# cgroup and tears them down), zram (unless --swap file), the cgroup v1 memory
# controller and no active swap; it refuses with exit status 2 otherwise.
#
# Exit status: that of bench_kernel (0 all pages verified, 1 a mismatch or a
# failed run, 2 refused), or 1 if the build fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc 2>/dev/null || echo 2)" --target bench_kernel

mkdir -p bench/results
[ -e bench/results/.gitignore ] || printf '*\n' >bench/results/.gitignore

tag=kernel
prev=
for a in "$@"; do
	[ "$a" = --quick ] && tag=kernel-quick
	[ "$prev" = --swap ] && [ "${a%%:*}" = file ] && file=-file
	prev=$a
done
tag=$tag${file:-}
out="bench/results/$tag-$(date +%Y%m%d-%H%M%S)"

args=("$@")
have_csv=0
have_plot=0
for a in "$@"; do
	case "$a" in
	--csv) have_csv=1 ;;
	--plot) have_plot=1 ;;
	esac
done
[ $have_csv = 1 ] || args+=(--csv "$out.csv")
[ $have_plot = 1 ] || args+=(--plot "$out.svg")

# Which library was measured (read-only git: no index refresh).
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$rev" != unknown ] && [ -n "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain -uno -- src include 2>/dev/null)" ]; then
	rev="$rev+local-changes-in-src"
fi
{
	echo "# bench_kernel ${args[*]}"
	echo "# $(date -Is), $(uname -r), uswap $rev, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out.log"

rc=0
./build-bench/bench_kernel "${args[@]}" 2>&1 | tee -a "$out.log" || rc=${PIPESTATUS[0]}
echo "log: $out.log"
exit "$rc"
