#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - configure, build and run every uswap test, then check the exported
# symbols and the man pages.  Exit status is non-zero on any failure.
#
# Usage: scripts/test.sh [--sanitize] [--tsan] [--clang] [--label LABEL] [--build-dir DIR]
#   --sanitize      ASan+UBSan build in build-asan/ (-DUSWAP_SANITIZE=ON)
#   --tsan          ThreadSanitizer build in build-tsan/ (-DUSWAP_TSAN=ON)
#   --clang         build with clang in build-clang/ (combine with --sanitize:
#                   build-clang-asan/)
#   --label LABEL   run only the tests with this CTest label (unit, func, stress)
#   --build-dir DIR use DIR instead of the default build directory
# Tests that need userfaultfd skip (exit 77) where it is not permitted.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

sanitize=0
tsan=0
use_clang=0
label=""
dir=""
while [ $# -gt 0 ]; do
	case "$1" in
	--sanitize) sanitize=1 ;;
	--tsan) tsan=1 ;;
	--clang) use_clang=1 ;;
	--label) label="${2:?--label needs an argument}"; shift ;;
	--build-dir) dir="${2:?--build-dir needs an argument}"; shift ;;
	-h | --help)
		sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "test.sh: unknown option: $1" >&2
		exit 2
		;;
	esac
	shift
done

cmake_args=(-DUSWAP_WERROR=ON)
if [ -z "$dir" ]; then
	dir=build
	[ "$use_clang" = 1 ] && dir="$dir-clang"
	[ "$sanitize" = 1 ] && dir="$dir-asan"
	[ "$tsan" = 1 ] && dir="$dir-tsan"
fi
if [ "$tsan" = 1 ]; then
	cmake_args+=(-DUSWAP_TSAN=ON)
	export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
fi
if [ "$sanitize" = 1 ]; then
	cmake_args+=(-DUSWAP_SANITIZE=ON)
	# Leak checks on, stop at the first UBSan report, let uswap install its
	# own SIGBUS handler (signal mode) over ASan's.
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allow_user_segv_handler=1:handle_sigbus=0}"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
if [ "$use_clang" = 1 ]; then
	export CC=clang
fi

jobs=$(nproc 2>/dev/null || echo 2)
failed=0

step() { printf '\n==> %s\n' "$*"; }

step "configure $dir (${cmake_args[*]}${CC:+, CC=$CC})"
cmake -S . -B "$dir" "${cmake_args[@]}"

step "build $dir"
cmake --build "$dir" -j"$jobs"

step "test $dir${label:+ (label $label)}"
ctest_args=(--test-dir "$dir" --output-on-failure -j2 --timeout 300)
[ -n "$label" ] && ctest_args+=(-L "$label")
if ! ctest "${ctest_args[@]}"; then
	echo "test.sh: FAILED: ctest in $dir" >&2
	failed=1
fi

step "exported symbols of $dir/libuswap.so"
lib="$dir/libuswap.so"
if [ ! -e "$lib" ]; then
	echo "test.sh: FAILED: $lib not built" >&2
	failed=1
else
	# Defined global functions and data; strip symbol versions (name@@USWAP_0).
	exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWi]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u)
	bad=$(printf '%s\n' "$exported" | grep -v -e '^uswap_' -e '^$' || true)
	if [ -n "$bad" ]; then
		echo "test.sh: FAILED: $lib exports symbols outside uswap_*:" >&2
		printf '%s\n' "$bad" | sed 's/^/  /' >&2
		failed=1
	else
		echo "ok: $(printf '%s\n' "$exported" | grep -c '^uswap_') symbols, all uswap_*"
	fi
fi

step "man pages"
shopt -s nullglob
pages=(man/*.[1-8])
if [ ${#pages[@]} -eq 0 ]; then
	echo "test.sh: FAILED: no man pages in man/" >&2
	failed=1
fi
for page in "${pages[@]}"; do
	if command -v man >/dev/null 2>&1; then
		warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || echo "man exited with $?")
	else
		warnings=$(LC_ALL=C.UTF-8 groff -t -man -ww -z "$page" 2>&1 || echo "groff exited with $?")
	fi
	if [ -n "$warnings" ]; then
		echo "test.sh: FAILED: $page:" >&2
		printf '%s\n' "$warnings" >&2
		failed=1
	fi
done
[ ${#pages[@]} -gt 0 ] && echo "checked ${#pages[@]} man pages"

if [ "$failed" != 0 ]; then
	step "FAILED ($dir)"
	exit 1
fi
step "all passed ($dir)"
