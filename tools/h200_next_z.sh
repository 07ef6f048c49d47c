#!/usr/bin/env bash
# Next session: the function-split forward prototype (tools/gluon_fs_fwd.py: intra and inter warpgroups + a loader)
# on the GPU for the first time: correctness first (a deadlock ends the step at its limit), timing against the
# package's warp-specialized kernel only if every check passed. About 2 minutes.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=z
start_watchdog "${WATCHDOG_S:-200}"
st fs 150 python3 tools/gluon_fs_fwd.py check --out "$W/gluon-fs"
stop_watchdog
cat "$L/steps.txt"
tail -n 20 "$L/fs.log"
