#!/usr/bin/env bash
# 27th session, call 4 (one H200, ≤ 80 s): the custom op's separate gradients (c28 found the compiled training step
# failing: la2_bwd returned the one launch's stacked, aliasing gradients) — the op at the one launch's shape and the
# compiled training step under CUDA graph trees.
export PYTHONPATH=$PWD
mkdir -p "$OUT/d28b"
timeout -s INT 70 python3 -m pytest -q -rf -p no:cacheprovider \
  tests/test_gluon_fwd.py::test_bwd_custom_op_runs_the_one_launch_with_separate_gradients \
  tests/test_gluon_fwd.py::test_compiled_training_step_under_cuda_graph_trees \
  tests/test_compile.py::test_bwd_op_gets_gradients_that_do_not_alias 2>&1 | grep -v DEBUG > "$OUT/d28b/tests.log"
git rev-parse HEAD > "$OUT/d28b/commit.txt"
tail -n 6 "$OUT/d28b/tests.log"
