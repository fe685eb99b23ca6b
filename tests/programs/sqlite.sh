#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# sqlite.sh [ROWS [LIMIT]] - the sqlite3 shell runs sqlite.sql.in on a new file
# database of ROWS rows (~150 bytes each with the index) with a page cache
# (PRAGMA cache_size) larger than the database, without uswap and under
# `uswap run --mem LIMIT`; the query results must be identical.
# Defaults: 300,000 rows (~45 MB database) under a 24M limit (the ctest size).
PROG_NAME=sqlite
. "$(dirname "$0")/lib.sh"

rows=${1:-300000}
limit=${2:-24M}
need sqlite3 sqlite3
prog_init

# Cache: 1 KiB per row is several times the database; sqlite takes only what it uses.
sed -e "s/@ROWS@/$rows/g" -e "s/@CACHE_KIB@/$rows/g" "$PROG_DIR/sqlite.sql.in" >"$WORK/workload.sql"

rc=0
timed base sqlite3 -batch -bail "$WORK/base.db" <"$WORK/workload.sql" >"$WORK/base.out" || rc=$?
[ "$rc" = 0 ] || die "sqlite3 without uswap failed (exit status $rc)"
say "without uswap: $(time_wall base) s, peak RSS $(time_rss base) KiB," \
	"database $(($(stat -c %s "$WORK/base.db") >> 20)) MiB"

rc=0
uswap_run uswap "$limit" sqlite3 -batch -bail "$WORK/uswap.db" <"$WORK/workload.sql" \
	>"$WORK/uswap.out" || rc=$?
say "uswap run --mem $limit: $(time_wall uswap) s, peak RSS $(time_rss uswap) KiB"
check_status "sqlite3 under uswap" "$rc" 0
check_same "query results" "$WORK/base.out" "$WORK/uswap.out"
grep -qx ok "$WORK/uswap.out" || fail "PRAGMA integrity_check did not say ok"
check_swapped uswap "$limit"
result sqlite "$limit" base uswap
prog_finish
