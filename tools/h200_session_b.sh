#!/usr/bin/env bash
# Device session B (2026-11-30, 2×H200 machine used as two single GPUs; issue #3 verify, issue #4 tune + perf).
#   GPU 0: tools/tune_la2.py (writes /tmp/la2-tuned.json), then the perf preset's b2 h16 d128 rows up to 32K.
#   GPU 1: `lightning-bench verify`, then the perf preset's 64K/128K rows and its b8 h16 d64 part
#          (started once the tuned table exists). The three perf parts are merged offline into one result set.
# Usage: OUT=dir tools/h200_session_b.sh   (PYTHONPATH holds the repo and the fla / lightning-attn wheels)
set -u
: "${OUT:?set OUT}"
T=/tmp/la2-tuned.json
rm -f "$T"
nvidia-smi --query-gpu=index,name,memory.used,clocks.sm --format=csv,noheader
S="python3 -m lightning_bench sweep --preset perf --no-plots --quiet"
(
  CUDA_VISIBLE_DEVICES=1 timeout -s INT "${VERIFY_S:-290}" python3 -m lightning_bench verify --out "$OUT/verify" > "$OUT/verify.log" 2>&1
  echo "verify exit $?" >> "$OUT/verify.log"
  for i in $(seq 60); do [ -f "$T" ] && break; sleep 2; done
  [ -f "$T" ] && export LIGHTNING_BENCH_LA2_TUNE=$T
  CUDA_VISIBLE_DEVICES=1 timeout -s INT 150 $S --seq-len 65536,131072 --out "$OUT/perf-long" > "$OUT/perf-long.log" 2>&1
  CUDA_VISIBLE_DEVICES=1 timeout -s INT 90 $S --batch 8 --head-dim 64 --seq-len 4096,16384,65536 --out "$OUT/perf-b8d64" > "$OUT/perf-b8d64.log" 2>&1
) &
CUDA_VISIBLE_DEVICES=0 timeout -s INT "${TUNE_S:-230}" python3 tools/tune_la2.py --out "$OUT/tune" --write "$T" > "$OUT/tune.log" 2>&1
echo "tune exit $?" >> "$OUT/tune.log"
[ -f "$T" ] && export LIGHTNING_BENCH_LA2_TUNE=$T
CUDA_VISIBLE_DEVICES=0 timeout -s INT "${PERF_S:-290}" $S --seq-len 1024,2048,4096,8192,16384,32768 --out "$OUT/perf" > "$OUT/perf.log" 2>&1
echo "perf exit $?" >> "$OUT/perf.log"
wait
cd "$OUT" && tar czf results.tgz verify tune perf perf-long perf-b8d64 ./*.log 2>/dev/null
echo "== verify"; grep -E "FAIL|passed|exit|Interrupted" verify.log | tail -5
echo "== tune"; grep -E "winner|compiled|timed|exit" tune.log
for r in perf perf-long perf-b8d64; do echo "== $r"; python3 - "$r" <<'PY'
import sys, pandas as pd
try:
    df = pd.read_csv(f"{sys.argv[1]}/rows.csv")
except Exception as ex:
    print("no rows", ex); sys.exit()
df["tok"] = df["tokens_per_s"] / 1e6 if "tokens_per_s" in df else float("nan")
print(df.pivot_table(index=["batch", "head_dim", "seq_len", "mode"], columns="provider", values="tok").round(1).to_string())
print(df.groupby(["provider", "status"]).size().to_string())
PY
done
