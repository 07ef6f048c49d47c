#!/usr/bin/env bash
# 14th session, call 4 (1×H200, ≤ 5 min, wheel prefix, carry .whl): (1) the ≥ 4× OpenNLPLab target at b2 h16 1K,
# met by 2% in call 3's perf run: three more side-by-side runs of the perf preset's 1K / 2K forward rows (la2 and the
# reference, separate processes); (2) the tgs preset's 64K row (b4 h16: 64 batch·heads, two e64 tiles per head, the
# one tgs row whose launch TILE_MAJOR changes) with fla and the floor.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c12
start_watchdog "${WATCHDOG_S:-290}"
for r in 1 2 3; do
  st rep$r 60 python3 -m lightning_bench sweep --preset perf --batch 2 --heads 16 --head-dim 128 --seq-len 1024,2048 \
    --mode fwd --providers la2,la2_reference --no-plots --quiet --out "$W/rep$r"
done
st tgs64 120 python3 -m lightning_bench sweep --preset tgs --batch 4 --seq-len 65536 --providers la2,fla,floor \
  --no-plots --quiet --out "$W/tgs64"
stop_watchdog
cat "$L/steps.txt"
python3 - "$W" <<'PY'
import sys, pandas as pd
from pathlib import Path
w = Path(sys.argv[1])
for r in (1, 2, 3):
    f = w / f"rep{r}" / "rows.csv"
    if f.exists():
        d = pd.read_csv(f).pivot_table(index="seq_len", columns="provider", values="median_ms")
        print(f"rep{r}", (d * 1e3).round(2).to_dict(), (d.la2_reference / d.la2).round(3).to_dict())
f = w / "tgs64" / "rows.csv"
if f.exists():
    print(pd.read_csv(f)[["provider", "mode", "median_ms", "tokens_per_s", "status"]].to_string())
PY
