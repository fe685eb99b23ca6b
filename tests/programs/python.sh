#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# python.sh [MIB [LIMIT]] - python3 builds and checksums a large bytearray and
# a large list (pyload.py MIB: about 2.3x MIB MiB at its peak), without uswap
# and under `uswap run --mem LIMIT`; the checksums must be identical.
# Defaults: 48 MiB under a 24M limit (the ctest size).
PROG_NAME=python
. "$(dirname "$0")/lib.sh"

mib=${1:-48}
limit=${2:-24M}
# Debian's python3, not a pyenv or venv shim that may be a script or static.
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || skip "$PY is not installed (Debian: apt-get install python3)"
prog_init

rc=0
timed base "$PY" "$PROG_DIR/pyload.py" "$mib" >"$WORK/base.out" || rc=$?
[ "$rc" = 0 ] || die "python3 without uswap failed (exit status $rc)"
say "without uswap: $(time_wall base) s, peak RSS $(time_rss base) KiB"

rc=0
uswap_run uswap "$limit" "$PY" "$PROG_DIR/pyload.py" "$mib" >"$WORK/uswap.out" || rc=$?
say "uswap run --mem $limit: $(time_wall uswap) s, peak RSS $(time_rss uswap) KiB"
check_status "python3 under uswap" "$rc" 0
check_same "checksums" "$WORK/base.out" "$WORK/uswap.out"
check_swapped uswap "$limit"
result python "$limit" base uswap
prog_finish
