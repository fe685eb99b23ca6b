#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - install the build dependencies (Debian, as root, only those
# missing), build uswap in build/ (Release) and run the demo: a region four
# times bigger than its memory limit, swapped to compressed RAM, every page
# verified.  Arguments are passed to build/bench_demo (try --help).
#
# Exit status: that of the demo (0 data verified, 1 failure, 77 userfaultfd
# not available to this process), or 1 if the build fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

deps=(build-essential cmake pkg-config liblz4-dev libzstd-dev libxxhash-dev)

step() { printf '\n==> %s\n' "$*"; }

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "${deps[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
fi
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		step "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update
		apt-get install -y --no-install-recommends "${missing[@]}"
	else
		echo "demo.sh: missing packages: ${missing[*]}" >&2
		echo "install them first, e.g.: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
fi

step "building build/bench_demo (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target bench_demo

step "running build/bench_demo${*:+ $*}"
rc=0
./build/bench_demo "$@" || rc=$?
case $rc in
0) step "demo passed" ;;
77) step "demo skipped: userfaultfd is not available here (see the message above)" ;;
*) step "demo FAILED (exit status $rc)" ;;
esac
exit "$rc"
