"""Our Lightning Attention kernels and their float64 references.

Public API:
- ``lightning_attn(q, k, v, slopes=None, *, layout="bhnd")``: causal Lightning Attention-2 in Triton, with autograd.
- ``lightning_attn1(q, k, v, slopes=None, *, layout="bhnd")``: the same function the Lightning Attention-1 way
  (masked left product per block pair, no inter-block state; the LA2 paper's comparison point), with autograd.
- ``lightning_attn_decode(q, k, v, state, slopes)``: one decode step from a prefill's final state.
- ``lightning_attn_reference(...)``: the same function in float64 PyTorch (CPU or GPU), the test oracle.
- ``decay_slopes(heads, scheme="alibi")``: per-head decay slopes used in the wild.

On a machine without CUDA, set ``TRITON_INTERPRET=1`` before importing this package to run the kernels on the CPU.
"""

from .lightning_attn1 import lightning_attn1
from .lightning_attn2 import kernel_impl_name, lightning_attn, lightning_attn_decode, lightning_attn_reference
from .slopes import SCHEMES, decay_slopes

__all__ = [
    "SCHEMES",
    "decay_slopes",
    "kernel_impl_name",
    "lightning_attn",
    "lightning_attn1",
    "lightning_attn_decode",
    "lightning_attn_reference",
]
