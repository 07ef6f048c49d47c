#!/usr/bin/env bash
# 8th session, call 6 (1×H200, ~3 min): tools/tune_bwd_fused.py again with each candidate in its own process (call 5
# hit an illegal memory access at the first one-stage candidate, which poisoned the CUDA context for the rest).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=t2
start_watchdog "${WATCHDOG_S:-280}"
python3 tools/tune_bwd_fused.py --out /tmp/x --list 2>/dev/null > "$L/cands.txt"
i=0
while IFS= read -r c; do
  i=$((i + 1))
  st "c$i" 40 python3 tools/tune_bwd_fused.py --shape 2,16,128 --seq-len 1024,2048,4096,8192 --only "$c" \
    --out "$W/bwd-fused"
done < "$L/cands.txt"
stop_watchdog
cat "$L/steps.txt"
for f in "$L"/c*.log; do grep -h "n=" "$f" | cut -c1-200; grep -h "Error" "$f" | head -2 | cut -c1-200; done
