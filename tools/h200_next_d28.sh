#!/usr/bin/env bash
# 27th/28th session (one H200, no wheels, ≤ 4 min): the custom op's separate gradients (c28/d28 found the compiled
# training step failing: la2_bwd returned the one launch's stacked, aliasing gradients; fixed in 1336e08) — the op at
# the one launch's shape, the compiled training step under CUDA graph trees, the CPU reproduction — then the 8 cases
# of test_gluon_backward_matches_reference that c28 did not reach. Unpack $OUT/d28b into results/h200/tune/<date>/.
export PYTHONPATH=$PWD
mkdir -p "$OUT/d28b"
git rev-parse HEAD > "$OUT/d28b/commit.txt" 2>/dev/null
timeout -s INT 90 python3 -m pytest -q -rf -p no:cacheprovider \
  tests/test_gluon_fwd.py::test_bwd_custom_op_runs_the_one_launch_with_separate_gradients \
  tests/test_gluon_fwd.py::test_compiled_training_step_under_cuda_graph_trees \
  tests/test_compile.py::test_bwd_op_gets_gradients_that_do_not_alias 2>&1 | grep -v DEBUG > "$OUT/d28b/tests.log"
timeout -s INT 150 python3 -m pytest -q -rf -p no:cacheprovider \
  $(cat results/h200/tune/2026-12-01k/c28/not_reached.txt) > "$OUT/d28b/not_reached.log" 2>&1
tail -n 4 "$OUT/d28b/tests.log"
tail -n 3 "$OUT/d28b/not_reached.log"
