#!/usr/bin/env bash
# Session 2026-11-30 (fifth), call 6: the warp-specialized variant (a 1-warp TMA loader partition, ready/empty
# mbarriers): correctness (ws cases first; a hang ends the step at 60 s), then the tune grid with ws on and off only
# if every check passed.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=x
start_watchdog "${WATCHDOG_S:-300}"
st check 60 python3 tools/gluon_la2_fwd.py check --out "$W/gluon"
if tail -n 1 "$W/gluon/gluon_check.txt" 2>/dev/null | grep -q "^\([0-9]*\)/\1 PASS"; then
  st tune 200 python3 tools/gluon_la2_fwd.py tune --out "$W/gluon"
else
  echo "== tune skipped: check did not pass" | tee -a "$L/steps.txt"
fi
stop_watchdog
cat "$L/steps.txt"
grep -c PASS "$W/gluon/gluon_check.txt"; grep -v PASS "$L/check.log" | tail -n 20
cat "$W/gluon/gluon_tune_best.txt" 2>/dev/null || tail -n 30 "$L/tune.log"
