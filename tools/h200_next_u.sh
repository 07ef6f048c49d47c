#!/usr/bin/env bash
# Session 2026-11-30 (fifth), call 3: the Gluon forward with the tuned launch rule: correctness, GPU pytest of
# tests/test_gluon_fwd.py, and the tune grid again (auto vs best; e32 with a 5-deep ring added).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=u
start_watchdog "${WATCHDOG_S:-300}"
st check 100 python3 tools/gluon_la2_fwd.py check --out "$W/gluon"
st pytest 150 python3 -m pytest -q -p no:cacheprovider tests/test_gluon_fwd.py tests/test_profile.py
st tune 200 python3 tools/gluon_la2_fwd.py tune --out "$W/gluon"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/check.log"; tail -n 6 "$L/pytest.log"
cat "$W/gluon/gluon_tune_best.txt" 2>/dev/null || tail -n 30 "$L/tune.log"
