"""Every kernel compiles for Hopper (sm_90) with the installed Triton, on a machine without a GPU: catches compile
errors and shared-memory overruns that the CPU interpreter cannot see (it never compiles). Runs in a subprocess
because the test session has TRITON_INTERPRET=1 set (kernels there are interpreted, not compiled)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


def _has_nvidia_backend() -> bool:
    try:
        from triton.backends import backends

        return "nvidia" in backends
    except Exception:
        return False


@pytest.mark.skipif(not _has_nvidia_backend(), reason="this Triton build has no NVIDIA backend")
def test_every_kernel_compiles_for_sm90_within_shared_memory():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-m", "lightning_bench.kernels.aot", "--quick", "--arch", "90"],
                       capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    m = re.search(r"(\d+)/(\d+) compiled within", r.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 25, r.stdout[-2000:]
    for kernel in ("_la2_fwd_kernel", "_la2_bwd_dq_kernel", "_la2_bwd_dk_kernel", "_la2_bwd_dv_kernel",
                   "_la2_fwd_seg_end_kernel", "_la2_bwd_seg_r_kernel", "_la1_fwd_kernel", "_la1_bwd_dkdv_kernel",
                   "_sp_correct_kernel", "_la2_state_scan_kernel"):
        assert f"OK  {kernel}[" in r.stdout, kernel
