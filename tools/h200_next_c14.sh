#!/usr/bin/env bash
# 15th session, call 3 (1 GPU, ≤ 3 min, no wheels): the first-backward test with the three passes run on the main
# thread first (so no kernel load binds the backward thread's context), then its negative control: the same script
# with gluon_fwd.bind_context made a no-op must fail ("invalid device context"); and strong scaling is not re-run here.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c14
start_watchdog "${WATCHDOG_S:-170}"
export CUDA_VISIBLE_DEVICES=0
python3 - "$W/first_bwd.py" <<'PY'
import re, sys
src = open("tests/test_gluon_fwd.py").read()
body = src.split('script.write_text(\n', 1)[1].split(')\n    r = subprocess.run', 1)[0]
text = "".join(eval(x) for x in re.findall(r'^\s*(".*")\s*(?:#.*)?$', body, re.M))
text = text.replace("g = torch.Generator()", "import sys\nif sys.argv[1:] == ['noop']:\n    G.bind_context = lambda device: None\ng = torch.Generator()", 1)
open(sys.argv[1], "w").write(text)
PY
st test 90 python3 -m pytest -q -p no:cacheprovider tests/test_gluon_fwd.py -k "first_backward_of_a_process"
st probe-noop 60 python3 "$W/first_bwd.py" noop
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed" "$L/test.log" | cut -c1-300
grep -E "^ok|Error" "$L/probe-noop.log" | tail -n 3 | cut -c1-300
