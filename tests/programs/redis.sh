#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# redis.sh [KEYS [LIMIT [VALUE_BYTES]]] - redis-server on a private unix
# socket (no TCP port, no persistence) is loaded with KEYS keys by
# `redis-cli --pipe`, every key is read back (MGET, 100 a command) and
# compared with the values it was given, then it is shut down (SHUTDOWN
# NOSAVE, exit status 0) - without uswap and with redis-server under
# `uswap run --mem LIMIT`.  Debian's redis-server links jemalloc and libc
# dynamically, so the shim loads into it.
# Defaults: 150,000 keys of 256 bytes (~55 MB in the server) under a 16M limit
# (the ctest size).
PROG_NAME=redis
. "$(dirname "$0")/lib.sh"

keys=${1:-150000}
limit=${2:-16M}
vsize=${3:-256}
need redis-server redis-server
need redis-cli redis-tools
need awk mawk
prog_init

awk -v n="$keys" -v size="$vsize" -v mode=load -f "$PROG_DIR/genkeys.awk" >"$WORK/load.resp"
awk -v n="$keys" -v size="$vsize" -v mode=get -f "$PROG_DIR/genkeys.awk" >"$WORK/get.txt"
awk -v n="$keys" -v size="$vsize" -v mode=values -f "$PROG_DIR/genkeys.awk" >"$WORK/values"
say "$keys keys of $vsize bytes: $(($(wc -c <"$WORK/values") >> 20)) MiB of values"

# server TAG [LIMIT]: start redis-server (under uswap run with LIMIT) in the
# background; its exit status goes to $WORK/TAG.rc.
server() {
	local tag=$1 limit=${2:-}
	local sock="$WORK/$tag.sock"
	local args=(redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700
		--save "" --appendonly no --dir "$WORK" --daemonize no
		--logfile "$WORK/$tag.log" --loglevel notice)
	rm -f "$WORK/$tag.rc"
	if [ -n "$limit" ]; then
		( ( uswap_run "$tag" "$limit" "${args[@]}" ); echo $? >"$WORK/$tag.rc" ) &
	else
		( ( timed "$tag" "${args[@]}" ); echo $? >"$WORK/$tag.rc" ) &
	fi
	PROG_PIDS="${PROG_PIDS:-} $!"
	SERVER_JOB=$!
	for _ in $(seq 300); do
		[ "$(redis-cli -s "$sock" PING 2>/dev/null)" = PONG ] && return 0
		kill -0 "$SERVER_JOB" 2>/dev/null || break
		sleep 0.1
	done
	wait "$SERVER_JOB" || true
	[ "$(cat "$WORK/$tag.rc" 2>/dev/null)" = 77 ] && exit 77
	tail -n 5 "$WORK/$tag.log" >&2 || true
	die "$tag: redis-server did not start (exit status $(cat "$WORK/$tag.rc" 2>/dev/null))"
}

# session TAG: load, check the key count, read every key back, shut down.
session() {
	local tag=$1
	local cli=(redis-cli -s "$WORK/$tag.sock")
	local out
	out=$("${cli[@]}" --pipe <"$WORK/load.resp" 2>&1 | tail -n 1) ||
		fail "$tag: redis-cli --pipe failed: $out"
	case "$out" in
	"errors: 0, replies: $keys") ;;
	*) fail "$tag: redis-cli --pipe: $out (expected errors: 0, replies: $keys)" ;;
	esac
	out=$("${cli[@]}" DBSIZE)
	[ "$out" = "$keys" ] || fail "$tag: DBSIZE $out, expected $keys"
	"${cli[@]}" <"$WORK/get.txt" >"$WORK/$tag.read" || fail "$tag: redis-cli reading the keys failed"
	"${cli[@]}" INFO memory | tr -d '\r' | sed -n 's/^used_memory_human:/used_memory /p' \
		>"$WORK/$tag.mem"
	"${cli[@]}" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
	wait "$SERVER_JOB" || true
	PROG_PIDS=""
	check_status "$tag: redis-server after SHUTDOWN" "$(cat "$WORK/$tag.rc" 2>/dev/null)" 0
	check_same "$tag: every value read back" "$WORK/values" "$WORK/$tag.read"
}

server base
session base
say "without uswap: $(time_wall base) s, peak RSS $(time_rss base) KiB, $(cat "$WORK/base.mem")"

server uswap "$limit"
session uswap
say "redis-server under uswap run --mem $limit: $(time_wall uswap) s," \
	"peak RSS $(time_rss uswap) KiB, $(cat "$WORK/uswap.mem")"
check_swapped uswap "$limit"
result redis "$limit" base uswap
prog_finish
