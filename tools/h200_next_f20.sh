#!/usr/bin/env bash
# 20th session, call 7 (one H200, no wheels, ≤ ~3 min): perf-notes v22 lead 1 — the fused kernel's own-segment pass
# through a ring of 2·STAGES half-size stages (q, dO only) laid over the main ring: the split and fused GPU tests,
# then the split probe (dq as a wg2 lookback split or as unsplit e64 programs). Unpack f20.tar.gz into
# results/h200/tune/2026-12-01d/f20/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=f20
start_watchdog "${WATCHDOG_S:-200}"
st tests 90 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "fused_dkdv or split_backward"
st probe2 50 python3 tools/probe_dkdv.py --out "$W/probe2" --split 2 --rounds 2 --cases "2x16:2048,8192,32768,131072"
st probe4 30 python3 tools/probe_dkdv.py --out "$W/probe4" --split 4 --rounds 2 --cases "1x16:2048,32768"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
grep -hE "^b[0-9]" "$L/probe2.log" "$L/probe4.log" | cut -c1-420
