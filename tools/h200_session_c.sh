#!/usr/bin/env bash
# Device session C (2026-11-30, 2×H200): issue #7 on both GPUs first, then in parallel issue #6's calibration sweeps
# (GPU 0) and issue #3's verify (GPU 1). A watchdog packs everything into $OUT/c.tar.gz at WATCHDOG_S seconds.
set -u
: "${OUT:?set OUT}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
W=$OUT/work; mkdir -p "$W"
pack() { cd "$W" && tar czf "$OUT/c.tar.gz" . 2>/dev/null; echo "packed $(du -sh "$OUT/c.tar.gz" | cut -f1)"; }
( sleep "${WATCHDOG_S:-475}"; echo "watchdog: packing"; pack; pkill -INT -f lightning_bench; sleep 8; pack ) &
WD=$!
nvidia-smi topo -m 2>/dev/null | head -4
L=$W/logs; mkdir -p "$L"
st() { local name=$1 t=$2; shift 2; local t0=$SECONDS; timeout -s INT --kill-after=10 "$t" "$@" > "$L/$name.log" 2>&1; echo "== $name exit $? after $((SECONDS - t0)) s" | tee -a "$L/steps.txt"; }
# issue #7 (both GPUs)
st sp 105 python3 -m lightning_bench sweep-sp --devices 0,1 --timeout 90 --seq-len-total 32768,131072,262144 --seq-len-local 65536 \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 --out "$W/sp"
st sp_fit 70 python3 -m lightning_bench sweep-sp --devices 0,1 --timeout 60 --seq-len-total 1310720 --seq-len-local none \
  --batch 1 --heads 64 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 0 --min-samples 5 --max-samples 10 \
  --out "$W/sp_fit"
st sharded 55 python3 -m lightning_bench sweep --devices 0,1 --preset quick --providers la2,naive_linear,sdpa_cudnn,flash_attn2 \
  --energy-window 0 --no-plots --out "$W/sharded"
# issue #6 (GPU 0) and issue #3 (GPU 1)
G=$W/gate-calibration; mkdir -p "$G"
S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
(
  export CUDA_VISIBLE_DEVICES=0
  st gate-base 65 $S --out "$G/base"
  st gate-aa1 55 $S --out "$G/aa1"
  st gate-planted-0.1 55 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 $S --out "$G/planted-0.1"
  st gate-planted-0.03 55 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.03 $S --out "$G/planted-0.03"
) &
GATE=$!
CUDA_VISIBLE_DEVICES=1 st verify 210 python3 -m lightning_bench verify --out "$W/verify"
wait $GATE
kill $WD 2>/dev/null
pack
cat "$L/steps.txt"
for f in "$W/sp/sp_summary.md" "$W/sp_fit/sp_summary.md"; do [ -f "$f" ] && { echo "== $f"; cat "$f"; }; done
grep -E "FAIL|passed|Interrupted" "$L/verify.log" | tail -4
