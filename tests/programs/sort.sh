#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# sort.sh [LINES [LIMIT [BUFFER]]] - GNU sort of a generated file of LINES lines
# (about 36 bytes each) with `sort -S BUFFER`, so that it sorts in memory,
# without uswap and under `uswap run --mem LIMIT`; the outputs must be
# identical (cmp).  Defaults: 600,000 lines (24 MB: ~60 MB peak) under a 16M limit with a
# 256M buffer (the ctest size).
PROG_NAME=sort
. "$(dirname "$0")/lib.sh"

lines=${1:-600000}
limit=${2:-16M}
buffer=${3:-256M}
need sort coreutils
need awk mawk
prog_init
export LC_ALL=C

awk -v lines="$lines" -v seed=1 -f "$PROG_DIR/gentext.awk" >"$WORK/input"
say "input: $lines lines, $(wc -c <"$WORK/input") bytes"

rc=0
timed base sort -S "$buffer" -o "$WORK/base.out" "$WORK/input" || rc=$?
[ "$rc" = 0 ] || die "sort without uswap failed (exit status $rc)"
say "without uswap: $(time_wall base) s, peak RSS $(time_rss base) KiB"

rc=0
uswap_run uswap "$limit" sort -S "$buffer" -o "$WORK/uswap.out" "$WORK/input" || rc=$?
say "uswap run --mem $limit: $(time_wall uswap) s, peak RSS $(time_rss uswap) KiB"
check_status "sort under uswap" "$rc" 0
check_same "sorted output" "$WORK/base.out" "$WORK/uswap.out"
check_swapped uswap "$limit"
result sort "$limit" base uswap
prog_finish
