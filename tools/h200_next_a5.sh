#!/usr/bin/env bash
# Next session, first call (1×H200, ~3 min, no wheels needed): is the wg2 P2 lookback rule right at 64 batch·heads?
# choose() takes two-warpgroup programs with a 2-way lookback split from 16K tokens whenever e32 fills the SMs; at
# 64 batch·heads the one-warpgroup e64 launch fills them unsplit (128 programs) with no extra pass over k, v. The tgs
# preset's 64K row (b4 h16) ran the P2 lookback at 181 M tokens/s, 3.7 TB/s of DRAM traffic including the pass;
# e64 unsplit predicted ~1.16 ms (v9's 1.13 µs per e64 block at 128 programs) = ~226. If it wins, make the wg2
# split apply only where no one-warpgroup tile fills the SMs unsplit (choose's tile loop found e32), and re-run tgs.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a5
start_watchdog "${WATCHDOG_S:-300}"
st bh64 200 python3 tools/tune_mr.py --grid bh64 --out "$W/bh64"
stop_watchdog
cat "$L/steps.txt"
cut -c1-300 "$L/bh64.log"
