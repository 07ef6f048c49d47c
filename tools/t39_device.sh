#!/usr/bin/env bash
# On the device, Triton 3.9 from three carried parts (tools/t39_build.sh), one per call, each call within the 30 s
# the machine stays warm (ignored files and /tmp survive between warm calls; a fresh machine starts bare):
#   call 1: bash tools/t39_device.sh stash 0                 carry [".t39/part0"]
#   call 2: bash tools/t39_device.sh stash 1                 carry [".t39/part1"]
#   call 3: bash tools/t39_device.sh stash 2 && bash tools/t39_device.sh assemble &&
#           export PYTHONPATH=/tmp/t39:$PWD TRITON_BACKENDS_IN_TREE=1 \
#                  TRITON_PTXAS_BLACKWELL_PATH=/tmp/t39/triton/backends/nvidia/bin/ptxas && ...
#                                                                        carry [".t39/part2", ".t39/SHA256"]
# TRITON_PTXAS_BLACKWELL_PATH: Triton 3.9 compiles sm_90 with its "ptxas-blackwell" (CUDA 13), which the slim build
# drops; its other ptxas (CUDA 12.9) compiles sm_90a (used on the H200 on 2026-11-30: 42 GPU tests passed).
# TRITON_BACKENDS_IN_TREE=1: find backends in /tmp/t39/triton/backends (nvidia only) rather than through the entry
# points, which the device's triton 3.6 also declares (its "amd" is not in the slim package).
# (the tree itself is ~40 MiB of each call's 64). `assemble` checks the SHA-256, unpacks to /tmp/t39 and imports it.
set -eu
case "${1:-}" in
  stash)
    mkdir -p /tmp/t39parts && cp ".t39/part$2" /tmp/t39parts/ && ls -la /tmp/t39parts ;;
  assemble)
    ls /tmp/t39parts/part0 /tmp/t39parts/part1 /tmp/t39parts/part2 > /dev/null
    got=$(cat /tmp/t39parts/part0 /tmp/t39parts/part1 /tmp/t39parts/part2 | sha256sum | awk '{print $1}')
    [ "$got" = "$(cat .t39/SHA256)" ] || { echo "t39: SHA-256 mismatch ($got)"; exit 1; }
    rm -rf /tmp/t39 && mkdir -p /tmp/t39
    cat /tmp/t39parts/part0 /tmp/t39parts/part1 /tmp/t39parts/part2 | xz -d | tar x -C /tmp/t39
    TRITON_BACKENDS_IN_TREE=1 PYTHONPATH=/tmp/t39 python3 -c "import triton, torch; print('triton', triton.__version__, triton.__file__, 'torch', torch.__version__)" ;;
  *) echo "usage: $0 stash K | assemble"; exit 2 ;;
esac
