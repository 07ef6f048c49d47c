#!/usr/bin/env bash
# 12th session, after Triton 3.9 is on the machine (three warm calls of tools/t39_device.sh; export
# PYTHONPATH=/tmp/t39:$PWD TRITON_BACKENDS_IN_TREE=1 TRITON_PTXAS_BLACKWELL_PATH=/tmp/t39/triton/backends/nvidia/bin/ptxas):
# the experimental 4-CTA cluster forward (gluon_mc: Q, K by TMA multicast) — its GPU tests first (a hang is the
# likely failure of a wrong barrier protocol: the step limit catches it), then timing against the package plan.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b7
start_watchdog "${WATCHDOG_S:-400}"
st tests 150 python3 -m pytest -q -x tests/test_gluon_fwd.py -k "cluster"
st mc 200 python3 tools/tune_mc.py --out "$W/mc"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|FAILED|Error|assert|Timeout" "$L/tests.log" | cut -c1-250 | tail -n 12
cut -c1-300 "$L/mc.log"
