#!/usr/bin/env bash
# Device session A (2026-11-30, 2×H200 machine used as two single GPUs):
#   GPU 1: `lightning-bench verify` (issue #3), then the kernel tests on the GPU (bf16, LA1, torch.compile inductor);
#   GPU 0: the launch-parameter search tools/tune_la2.py (issue #4).
# Usage: OUT=dir tools/h200_session_a.sh   (PYTHONPATH must hold the repo; fla wheels installed for verify's fla column)
set -u
: "${OUT:?set OUT}"
nvidia-smi --query-gpu=index,name,memory.used,clocks.sm --format=csv
python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "gpus", torch.cuda.device_count())'
(
  CUDA_VISIBLE_DEVICES=1 timeout -s INT "${VERIFY_S:-300}" python3 -m lightning_bench verify --out "$OUT/verify" > "$OUT/verify.log" 2>&1
  echo "verify exit $?" >> "$OUT/verify.log"
  CUDA_VISIBLE_DEVICES=1 timeout "${PYTEST_S:-220}" python3 -m pytest -q -x -p no:cacheprovider tests/test_kernels.py \
    tests/test_kernel_states.py tests/test_la1.py tests/test_compile.py tests/test_verify.py > "$OUT/gpu_pytest.log" 2>&1
  echo "pytest exit $?" >> "$OUT/gpu_pytest.log"
) &
CUDA_VISIBLE_DEVICES=0 timeout -s INT "${TUNE_S:-470}" python3 tools/tune_la2.py --out "$OUT/tune" ${TUNE_ARGS:-} > "$OUT/tune.log" 2>&1
echo "tune exit $?" >> "$OUT/tune.log"
wait
cd "$OUT" && tar czf results.tgz verify tune verify.log gpu_pytest.log tune.log 2>/dev/null
echo "== verify"; grep -E "FAIL|passed|exit|Interrupted" verify.log | tail -8
echo "== pytest"; tail -4 gpu_pytest.log
echo "== tune"; tail -60 tune.log
