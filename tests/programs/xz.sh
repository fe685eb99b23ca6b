#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# xz.sh [LINES [LIMIT]] - `xz -9` compresses a generated file of LINES lines
# (about 36 bytes each) and `xz -d` decompresses it, both under `uswap run
# --mem LIMIT`; the round trip must give back the input (cmp), and the
# compressed file must be the one xz makes without uswap (cmp).  xz -9 (64 MiB
# dictionary) takes a 64 MiB hash table plus 8 bytes per input byte.
# Defaults: 60,000 lines (2.4 MB: ~35 MB peak) under a 16M limit (the ctest size).
PROG_NAME=xz
. "$(dirname "$0")/lib.sh"

lines=${1:-60000}
limit=${2:-16M}
need xz xz-utils
need awk mawk
prog_init

awk -v lines="$lines" -v seed=2 -f "$PROG_DIR/gentext.awk" >"$WORK/input"
say "input: $lines lines, $(wc -c <"$WORK/input") bytes"

rc=0
timed base xz -9 -T1 -c "$WORK/input" >"$WORK/base.xz" || rc=$?
[ "$rc" = 0 ] || die "xz -9 without uswap failed (exit status $rc)"
rc=0
timed base_d xz -d -c "$WORK/base.xz" >"$WORK/base.out" || rc=$?
[ "$rc" = 0 ] || die "xz -d without uswap failed (exit status $rc)"
say "without uswap: xz -9 $(time_wall base) s, peak RSS $(time_rss base) KiB;" \
	"xz -d $(time_wall base_d) s, peak RSS $(time_rss base_d) KiB"

rc=0
uswap_run uswap "$limit" xz -9 -T1 -c "$WORK/input" >"$WORK/uswap.xz" || rc=$?
check_status "xz -9 under uswap" "$rc" 0
rc=0
uswap_run uswap_d "$limit" xz -d -c "$WORK/uswap.xz" >"$WORK/uswap.out" || rc=$?
check_status "xz -d under uswap" "$rc" 0
say "uswap run --mem $limit: xz -9 $(time_wall uswap) s, peak RSS $(time_rss uswap) KiB;" \
	"xz -d $(time_wall uswap_d) s, peak RSS $(time_rss uswap_d) KiB"
check_same "compressed file" "$WORK/base.xz" "$WORK/uswap.xz"
check_same "round trip" "$WORK/input" "$WORK/uswap.out"
check_swapped uswap "$limit"
# xz -d needs a buffer as large as the input, at most the dictionary: it swaps
# only when the input is larger than the limit.
if [ "$(wc -c <"$WORK/input")" -gt $(($(to_bytes "$limit") * 3 / 2)) ]; then
	check_swapped uswap_d "$limit"
else
	check_swapped uswap_d "$limit" noswap
fi
# The figures are those of the compression, the part with the large peak.
result xz "$limit" base uswap
prog_finish
