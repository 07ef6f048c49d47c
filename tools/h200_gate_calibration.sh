#!/usr/bin/env bash
# Gate calibration sweeps on one GPU (issue #6; results/baselines/README.md "Calibration"): baseline, an A/A run,
# planted 10 % and 3 % forward slowdowns, and the two --rerun gates. Usage: O=dir tools/h200_gate_calibration.sh
set -u
: "${O:?set O}"
mkdir -p "$O"
S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
( time $S --out "$O/base" ) > "$O/base.log" 2>&1
$S --out "$O/aa1" > "$O/aa1.log" 2>&1
LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 $S --out "$O/planted-0.1" > "$O/planted-0.1.log" 2>&1
LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.03 $S --out "$O/planted-0.03" > "$O/planted-0.03.log" 2>&1
LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 python3 -m lightning_bench gate --baseline "$O/base" --candidate "$O/planted-0.1" \
  --normalize --rerun --rerun-out "$O/planted-0.1-rerun" --json "$O/planted-0.1-rerun.gate.json" > "$O/planted-0.1-rerun.log" 2>&1
echo "planted-0.1 rerun gate exit $?" | tee -a "$O/gate-exits.txt"
python3 -m lightning_bench gate --baseline "$O/base" --candidate "$O/aa1" --normalize --rerun --rerun-out "$O/aa1-rerun" \
  --json "$O/aa1-rerun.gate.json" > "$O/aa1-rerun.log" 2>&1
echo "aa1 rerun gate exit $?" | tee -a "$O/gate-exits.txt"
grep real "$O/base.log"
