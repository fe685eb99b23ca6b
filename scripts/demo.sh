#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - install the build dependencies (Debian, as root, only those
# missing), build uswap in build/ (Release) and run uswap's main job on its
# default device (compressed RAM):
#   1. `uswap run`: an unmodified python3 builds and checksums a 256 MiB
#      bytearray under a 64 MiB limit; the checksum must equal the one of the
#      same program run without uswap, and uswap's statistics are printed;
#   2. the library demo: a region four times bigger than its memory limit,
#      every page verified.  Arguments are passed to build/bench_demo.
#
# Exit status: 0 both verified, 1 a failure, 77 userfaultfd not available to
# this process, or 1 if the build fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

deps=(build-essential cmake pkg-config liblz4-dev libzstd-dev libxxhash-dev liburing-dev
      libjemalloc2 python3)

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

step "building build/uswap, build/libuswap_preload.so and build/bench_demo (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target uswap_tool uswap_preload bench_demo

py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
prog='import hashlib
b = bytearray(256 << 20)
for i in range(0, len(b), 4096):
    b[i:i + 64] = (i * 2654435761 % (1 << 64)).to_bytes(8, "little") * 8
print(hashlib.sha256(b).hexdigest())'

step "python3 without uswap: 256 MiB"
want=$("$py" -c "$prog")
echo "$want"
step "uswap run --mem 64M --stat -- python3 (the same 256 MiB under a 64 MiB limit)"
rc=0
got=$(./build/uswap run --mem 64M --stat --follow-exec -- "$py" -c "$prog") || rc=$?
echo "$got"
if [ "$rc" = 4 ]; then
	step "demo skipped: userfaultfd is not available here (see the message above)"
	exit 77
fi
if [ "$rc" != 0 ] || [ "$got" != "$want" ]; then
	step "uswap run FAILED (exit status $rc; checksum ${got:-none}, expected $want)"
	exit 1
fi
step "uswap run: same checksum"

step "running build/bench_demo${*:+ $*}"
./build/bench_demo "$@" || rc=$?
case $rc in
0) step "demo passed" ;;
77) step "demo skipped: userfaultfd is not available here (see the message above)" ;;
*) step "demo FAILED (exit status $rc)" ;;
esac
exit "$rc"
