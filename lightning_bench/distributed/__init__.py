"""Beyond one GPU (issue #7): sequence-parallel Lightning Attention and torchrun-sharded sweeps.

Public API:
- ``lightning_attn_sp(q, k, v, slopes=None, *, group=None, layout="bhnd", initial_state=None,
  output_final_state=False)``: each rank of a process group holds one contiguous chunk of the sequence; forward and
  backward match one-device ``lightning_attn`` on the whole sequence (module ``sp``).
- ``init_from_env`` / ``Shard`` / ``launch``: torchrun glue (module ``launch``).
- ``run_sp_sweep`` / ``SPSpec`` / ``SPOptions``: the strong/weak-scaling benchmark (module ``sp_sweep``,
  ``lightning-bench sweep-sp``).

The sharded sweep itself is :func:`lightning_bench.sweep.run_sweep` under torchrun (``lightning-bench sweep
--devices 0,1``). Like ``lightning_bench.kernels``, importing ``lightning_attn_sp`` imports Triton: on a machine
without CUDA set ``TRITON_INTERPRET=1`` first. This module imports it lazily.
"""

from __future__ import annotations

from .launch import MULTICAST_OFF, Shard, init_from_env, is_main_process, launch, parse_devices, torchrun_env

__all__ = ["MULTICAST_OFF", "SPOptions", "SPSpec", "Shard", "init_from_env", "is_main_process", "launch",
           "lightning_attn_sp", "parse_devices", "run_sp_sweep", "torchrun_env"]


def __getattr__(name):
    if name == "lightning_attn_sp":
        from .sp import lightning_attn_sp

        return lightning_attn_sp
    if name in ("run_sp_sweep", "SPSpec", "SPOptions"):
        from . import sp_sweep

        return getattr(sp_sweep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
