#!/usr/bin/env bash
# 24th session, call 2 (one H200, no wheels, ≤ 3 min): is the one-launch backward's late first block its code size?
# The stamp probe at 2K with every program running one pass (BWD_X3_ONE_PASS: the kernel holds 2.4 K SASS
# instructions instead of 6.7 K; gradients wrong, timing only), and with QK_AHEAD forced (the first wait before the
# decay matrix's math). Unpack into results/h200/tune/<date>/b24/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b24
start_watchdog "${WATCHDOG_S:-200}"
st base 40 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --out "$W/base"
for p in 0 1 2; do
  st one$p 40 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set BWD_X3_ONE_PASS=$p --out "$W/one$p"
done
st qkahead 40 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set QK_AHEAD=True --out "$W/qkahead"
stop_watchdog
cat "$L/steps.txt"
for s in base one0 one1 one2 qkahead; do echo "== $s"; grep -E "^ *(2048)? +(fwd|bwd) " "$L/$s.log" | cut -c1-200; done
