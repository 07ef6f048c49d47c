#!/usr/bin/env bash
# Issue #7 on a 2-GPU machine (2× H200): sequence-parallel Lightning Attention and a sharded sweep.
#
#   tools/run_sp_h200x2.sh OUT_DIR          (from anywhere; ~4–6 min on 2× H200, most of it Triton compiles)
#   PACK_ONLY=1 tools/run_sp_h200x2.sh OUT  (leave only OUT/h200x2.tar.gz and the log, e.g. for a device tool that
#                                            returns few files; unpack into results/h200x2/)
#
# Writes, under OUT_DIR:
#   sp/       strong scaling at total seq_len 32768, 131072, 262144 and weak scaling at 65536 per GPU (batch 1,
#             heads 16, head_dim 128, bf16, ALiBi slopes), the one-GPU times, the communication alone, and a
#             correctness check at 8192 tokens (sp_rows.csv, sp_summary.md, env.json)
#   sp_fit/   a sequence that does not fit one H200 in fwd_bwd but fits on two: batch 1, heads 64, head_dim 128,
#             bf16, 1,310,720 tokens: 20 GiB per tensor on one GPU (q, k, v, do, o, dq, dk, dv = 160 GiB > 141 GB);
#             10 GiB per tensor per rank on two (~110 GiB peak). The one-GPU fwd_bwd is an `oom` row, not a crash.
#   sharded/  `lightning-bench sweep --devices 0,1 --preset quick`: the quick matrix split across both GPUs and
#             merged into one rows.csv (column device / device_name / rank)
#   h200x2.tar.gz (all of it) and run_sp_h200x2.log
# Targets (issue #7): strong-scaling speed-up ≥ 1.8× at 262144 (sp/sp_summary.md, column speed-up), and sp_fit/ ok
# on two GPUs where the one-GPU row says oom.
set -uo pipefail
OUT=${1:?usage: tools/run_sp_h200x2.sh OUT_DIR}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$REPO"
# NVLink multicast must stay off on this machine (NCCL, PyTorch symmetric memory, NVSHMEM), for every process.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 COLUMNS=${COLUMNS:-160}
PY=${PYTHON:-python3}
LOG="$OUT/run_sp_h200x2.log"
exec > >(tee -a "$LOG") 2>&1

echo "== $(date -u +%FT%TZ) commit $(git rev-parse HEAD 2>/dev/null || echo "${LIGHTNING_BENCH_GIT_COMMIT:-unknown}")"
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv 2>/dev/null || true
nvidia-smi topo -m 2>/dev/null || true
$PY -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())'

rc=0
step() {  # step NAME COMMAND...: run with a time limit, log the exit status and the seconds taken, keep going
  local name=$1 t0=$SECONDS r
  shift
  echo "== $name: $*"
  timeout --kill-after=20 "${STEP_TIMEOUT:-420}" "$@"
  r=$?
  echo "== $name: exit $r after $((SECONDS - t0)) s"
  [ "$r" -eq 0 ] || rc=$r
}

# 1. strong + weak scaling, one-GPU baselines, communication alone, correctness check (~1.5 min)
step sp $PY -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 32768,131072,262144 --seq-len-local 65536 \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 --out "$OUT/sp"

# 2. a length that does not fit one GPU (fwd_bwd) but runs on two (~1 min)
step sp_fit $PY -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 1310720 --seq-len-local none \
  --batch 1 --heads 64 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 0 \
  --min-samples 5 --max-samples 10 --out "$OUT/sp_fit"

# 3. sharded sweep of the quick preset on both GPUs (~2 min)
step sharded $PY -m lightning_bench sweep --devices 0,1 --preset quick --out "$OUT/sharded"

for f in "$OUT/sp/sp_summary.md" "$OUT/sp_fit/sp_summary.md"; do
  [ -f "$f" ] && { echo "== $f"; cat "$f"; }
done
[ -f "$OUT/sharded/rows.csv" ] && $PY - "$OUT/sharded/rows.csv" <<'PY'
import sys, pandas as pd
df = pd.read_csv(sys.argv[1])
keys = ["provider", "mode", "batch", "heads", "seq_len", "head_dim", "value_dim", "dtype", "decay"]
print(f"sharded sweep: {len(df)} rows, {df.duplicated(keys).sum()} duplicate keys, rows per device:")
print(df.groupby(["rank", "device", "device_name"]).size().to_string())
print(df.groupby("status").size().to_string())
PY

parts=()
for d in sp sp_fit sharded; do [ -e "$OUT/$d" ] && parts+=("$d"); done
if [ ${#parts[@]} -gt 0 ]; then
  tar -czf "$OUT/h200x2.tar.gz" -C "$OUT" "${parts[@]}" && echo "== packed: $OUT/h200x2.tar.gz (${parts[*]})"
  if [ "${PACK_ONLY:-0}" = 1 ]; then (cd "$OUT" && rm -rf "${parts[@]}"); fi
fi
echo "== done, exit $rc"
exit $rc
