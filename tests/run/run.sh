#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh CASE - one `uswap run` test (ctest label "run").  Programs in
# tests/run/prog_*.c run under `uswap run --mem 32M --stat --json`, check
# every page they wrote, and this script asserts the exit status and the
# counters of the statistics.  Exit 0 pass, 1 fail, 77 skip.
#
# Environment (set by CMake): USWAP_BIN (the uswap command), RUN_BIN_DIR (the
# test programs).
set -uo pipefail

case_name="${1:?usage: run.sh CASE}"
uswap="${USWAP_BIN:?}"
bin="${RUN_BIN_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stat="$tmp/stat.json"
err="$tmp/stderr"
out="$tmp/stdout"

fail() {
	echo "FAIL ($case_name): $*" >&2
	echo "--- uswap stderr:" >&2
	cat "$err" >&2 2>/dev/null
	[ -s "$stat" ] && { echo "--- statistics:" >&2; cat "$stat" >&2; }
	exit 1
}

# Value of a counter in the JSON statistics (keys are unique, one per line).
jget() {
	local v
	v=$(sed -n "s/^ *\"$1\": \([0-9]*\),\{0,1\}$/\1/p" "$stat" | head -n1)
	[ -n "$v" ] || fail "no counter $1 in the statistics"
	echo "$v"
}

expect_gt() { # NAME MIN: NAME > MIN
	local v
	v=$(jget "$1")
	[ "$v" -gt "$2" ] || fail "$1 = $v, expected > $2"
}

expect_eq() {
	local v
	v=$(jget "$1")
	[ "$v" -eq "$2" ] || fail "$1 = $v, expected $2"
}

# run_ok PROGRAM ARGS...: under uswap with 32M, exit 0, statistics written.
run_ok() {
	local rc
	timeout 120 "$uswap" run --mem 32M --stat --json --stat-file "$stat" -- "$@" >"$out" 2>"$err"
	rc=$?
	[ "$rc" = 4 ] && { echo "SKIP: userfaultfd not permitted"; exit 77; }
	[ "$rc" = 0 ] || fail "exit status $rc"
	[ -s "$stat" ] || fail "no statistics"
}

# swapped: the program went through the limit several times over.
expect_swapped() {
	expect_gt pswpout 4096
	expect_gt pgmajfault 0
	expect_eq nr_limit 8192
	expect_eq oom 0
	expect_eq swpin_poison 0
}

# run_err STATUS PATTERN ARGS...: uswap exits STATUS and says PATTERN.
run_err() {
	local want="$1" pattern="$2" rc
	shift 2
	timeout 60 "$uswap" "$@" >"$out" 2>"$err"
	rc=$?
	[ "$rc" = "$want" ] || fail "exit status $rc, expected $want"
	grep -q -- "$pattern" "$err" || fail "no message matching '$pattern'"
}

case "$case_name" in
malloc)
	[ -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ] || [ -e /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 ] ||
		{ echo "SKIP: libjemalloc2 not installed"; exit 77; }
	run_ok "$bin/prog_malloc" 128
	expect_swapped
	expect_gt mmap_managed_bytes $((128 << 20))
	;;
malloc_system)
	# glibc malloc maps its large chunks internally: nothing reaches the shim.
	timeout 120 "$uswap" run --mem 32M --malloc system --stat --json --stat-file "$stat" -- \
		"$bin/prog_malloc" 128 >"$out" 2>"$err"
	rc=$?
	[ "$rc" = 4 ] && exit 77
	[ "$rc" = 0 ] || fail "exit status $rc"
	expect_eq mmap_managed 0
	expect_eq pswpout 0
	;;
mmap)
	run_ok "$bin/prog_mmap" 128
	expect_swapped
	expect_eq mmap_managed 1
	expect_eq managed_bytes 0
	expect_eq managed_bytes_max $((128 << 20))
	expect_gt fault_ns 0
	;;
killed)
	# Killed by a signal: no exit handler runs; uswap run says there are no
	# statistics, and reports the signal, with the program's status.
	timeout 120 "$uswap" run --mem 32M --stat --json --stat-file "$stat" -- \
		"$bin/prog_killed" >"$out" 2>"$err"
	rc=$?
	[ "$rc" = 4 ] && exit 77
	[ "$rc" = 137 ] || fail "exit status $rc, expected 137"
	grep -q "no statistics" "$err" || fail "no message about the missing statistics"
	grep -q "killed by signal 9" "$err" || fail "no message for the signal"
	;;
colocate)
	# Thread mode: the handler follows the single faulting thread (it runs
	# SCHED_IDLE pinned to its CPU); --no-colocate leaves it where it is.
	[ "$(id -u)" = 0 ] && [ "$(nproc)" -ge 2 ] || { echo "SKIP: needs root and 2 CPUs"; exit 77; }
	# A busy CPU elsewhere on the machine can starve the SCHED_IDLE handler
	# before it follows anyone; the guard then raises it (colocate_boost) and
	# it stays ordinary for a second, longer than this run: run again then.
	for try in 1 2 3; do
		run_ok "$bin/prog_mmap" 128
		[ "$(jget colocate_follow)" -gt 0 ] || [ "$(jget colocate_boost)" -eq 0 ] && break
	done
	expect_swapped
	expect_gt colocate_follow 0
	timeout 120 "$uswap" run --mem 32M --no-colocate --stat --json --stat-file "$stat" -- \
		"$bin/prog_mmap" 128 >"$out" 2>"$err"
	rc=$?
	[ "$rc" = 0 ] || fail "exit status $rc (--no-colocate)"
	expect_swapped
	expect_eq colocate_follow 0
	expect_eq colocate_boost 0
	;;
signal_mode)
	timeout 120 "$uswap" run --mem 32M --mode signal --stat --json --stat-file "$stat" -- \
		"$bin/prog_mmap" 128 >"$out" 2>"$err"
	rc=$?
	[ "$rc" = 4 ] && exit 77
	[ "$rc" = 0 ] || fail "exit status $rc"
	expect_swapped
	expect_eq mode_signal 1
	;;
munmap)
	run_ok "$bin/prog_munmap"
	expect_swapped
	expect_gt munmap_managed 3
	expect_eq managed_bytes 0
	expect_eq shim_lib_errors 0
	;;
mremap)
	run_ok "$bin/prog_mremap"
	expect_swapped
	expect_eq mremap_managed 3
	expect_eq managed_bytes 0
	expect_eq shim_lib_errors 0
	;;
madvise)
	run_ok "$bin/prog_madvise"
	expect_swapped
	expect_gt madvise_managed 4
	expect_eq shim_lib_errors 0
	;;
mprotect)
	run_ok "$bin/prog_mprotect"
	expect_swapped
	;;
mlock)
	run_ok "$bin/prog_mlock"
	expect_swapped
	expect_gt mlock_managed 1
	expect_eq shim_lib_errors 0
	;;
fork)
	run_ok "$bin/prog_fork"
	expect_swapped
	expect_eq forks 1
	;;
threads)
	run_ok "$bin/prog_threads"
	expect_swapped
	expect_gt mmap_managed 3
	;;
sighandler)
	run_ok "$bin/prog_signal"
	expect_swapped
	;;
exec)
	run_ok "$bin/prog_exec"
	[ "$(cat "$out")" = "unmanaged" ] || fail "child: '$(cat "$out")', expected 'unmanaged'"
	expect_gt pswpout 0
	timeout 60 "$uswap" run --mem 32M --follow-exec -- "$bin/prog_exec" >"$out" 2>"$err" ||
		fail "--follow-exec: exit status $?"
	[ "$(cat "$out")" = "managed env" ] || fail "--follow-exec child: '$(cat "$out")'"
	;;
exec_self)
	# A wrapper that execs the real program in its own process (a pyenv
	# shim, env, nice) stays managed: through the shell's execve, and
	# through glibc's execvp (env uses it).
	run_ok /bin/sh -c "exec \"$bin/prog_mmap\" 128"
	expect_swapped
	expect_eq mmap_managed 1
	expect_eq managed_bytes_max $((128 << 20))
	run_ok env "$bin/prog_mmap" 128
	expect_swapped
	expect_eq mmap_managed 1
	# A child's exec is still not followed (prog_exec spawns one).
	run_ok /bin/sh -c "exec \"$bin/prog_exec\""
	[ "$(cat "$out")" = "unmanaged" ] || fail "child: '$(cat "$out")', expected 'unmanaged'"
	expect_gt pswpout 0
	;;
stat)
	pidfile="$tmp/pid"
	timeout 60 "$uswap" run --mem 32M -- "$bin/prog_hold" "$pidfile" >"$out" 2>"$err" &
	upid=$!
	for _ in $(seq 300); do [ -s "$pidfile" ] && break; sleep 0.1; done
	[ -s "$pidfile" ] || { kill "$upid"; wait "$upid"; [ $? = 4 ] && exit 77; fail "no pid file"; }
	pid=$(cat "$pidfile")
	"$uswap" stat "$pid" --json >"$stat" 2>>"$err" || fail "uswap stat --json: $?"
	expect_eq managed_bytes $((64 << 20))
	expect_gt pswpout 0
	expect_eq pid "$pid"
	"$uswap" stat "$pid" >"$tmp/table" 2>>"$err" || fail "uswap stat: $?"
	grep -q "^  mm_stat " "$tmp/table" || fail "no mm_stat line in the table"
	grep -q "pgmajfault" "$tmp/table" || fail "no counters in the table"
	rm -f "$pidfile"
	wait "$upid" || fail "program: exit status $?"
	run_err 1 "has no uswap shim" stat $$
	run_err 1 "no process" stat 999999999
	;;
exit_status)
	timeout 60 "$uswap" run --mem 32M -- sh -c 'exit 42' >"$out" 2>"$err"
	rc=$?
	[ "$rc" = 4 ] && exit 77
	[ "$rc" = 42 ] || fail "exit status $rc, expected 42"
	run_err 139 "killed by signal 11" run --mem 32M -- sh -c 'kill -SEGV $$'
	;;
err_usage)
	run_err 2 "unknown option '--bogus'" run --bogus --mem 32M -- true
	run_err 2 "needs --mem" run -- true
	run_err 2 "thread or signal" run --mem 32M --mode fast -- true
	;;
err_size)
	run_err 3 "bad size for --mem" run --mem 12X -- true
	run_err 3 "bad size for --mem" run --mem 0 -- true
	run_err 3 "bad size for --threshold" run --mem 32M --threshold -1 -- true
	run_err 3 "bad --swap" run --mem 32M --swap zram:lz4:size=3X -- true
	;;
err_limit)
	run_err 5 "too small to make progress" run --mem 32K -- true
	;;
err_oom)
	# A 1 MiB swap device cannot take 64 MiB: the program runs out of memory.
	timeout 60 "$uswap" run --mem 1M --swap zram:lz4:size=1M -- "$bin/prog_mmap" 64 >"$out" 2>"$err"
	rc=$?
	[ "$rc" = 4 ] && exit 77
	[ "$rc" = 5 ] || fail "exit status $rc, expected 5"
	grep -q "ran out of memory under the limit" "$err" || fail "no OOM message"
	;;
err_static)
	run_err 6 "statically linked" run --mem 32M -- "$bin/prog_static"
	;;
err_notfound)
	run_err 127 "program not found" run --mem 32M -- no-such-program-uswap
	touch "$tmp/noexec"
	chmod 644 "$tmp/noexec"
	run_err 126 "not an executable" run --mem 32M -- "$tmp/noexec"
	;;
err_shim)
	# A library that is not the shim: no handshake.
	USWAP_PRELOAD_LIB=$(ldd /bin/true | awk '/libc.so/ { print $3 }') \
		run_err 7 "shim did not load" run --mem 32M -- true
	;;
err_perm)
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to switch users"; exit 77; }
	command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
	sysctl=/proc/sys/vm/unprivileged_userfaultfd
	[ -w "$sysctl" ] || { echo "SKIP: cannot set $sysctl"; exit 77; }
	if [ -e /dev/userfaultfd ] && [ "$(stat -c %a /dev/userfaultfd)" != 600 ]; then
		echo "SKIP: /dev/userfaultfd is open to others"
		exit 77
	fi
	old=$(cat "$sysctl")
	trap 'echo "$old" >"$sysctl"; rm -rf "$tmp"' EXIT
	echo 0 >"$sysctl"
	chmod 755 "$tmp"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$uswap" run --mem 32M -- true \
		>"$out" 2>"$err"
	rc=$?
	echo "$old" >"$sysctl"
	[ "$rc" = 126 ] && { echo "SKIP: uswap not executable by nobody"; exit 77; }
	[ "$rc" = 4 ] || fail "exit status $rc, expected 4"
	grep -q "no permission to use userfaultfd" "$err" || fail "no permission message"
	;;
*)
	echo "run.sh: unknown case $case_name" >&2
	exit 2
	;;
esac
exit 0
