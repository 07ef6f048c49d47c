#!/usr/bin/env bash
# 8th session, call 7 (1×H200, ~4 min): the GPU tests of every file this session touched (tuning, Gluon forward,
# torch.compile custom ops, kernel states) on the final commit.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=u2
start_watchdog "${WATCHDOG_S:-330}"
st pytest 300 python3 -m pytest -q -rf tests/test_tuning.py tests/test_gluon_fwd.py tests/test_compile.py \
  tests/test_kernel_states.py tests/test_seg_end.py -p no:cacheprovider
stop_watchdog
cat "$L/steps.txt"
tail -n 15 "$L/pytest.log"
