"""Provider ``xformers``: xformers' ``memory_efficient_attention`` with a lower-triangular mask if its CUDA ops load,
else PyTorch SDPA's efficient backend, which is xformers' CUTLASS kernel inside PyTorch. ``impl`` says which ran."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util

import torch

from ._sdpa import sdpa_prepared
from .base import Case, Inputs, Prepared, Provider, cuda_only, leaf_bnhd, register


@functools.lru_cache(maxsize=None)
def xformers_ops_status() -> tuple[bool, str]:
    """(True, "") when xformers' memory_efficient_attention runs here; else (False, reason)."""
    if importlib.util.find_spec("xformers") is None:
        return False, "xformers not installed"
    if not torch.cuda.is_available():
        return False, "no CUDA"
    try:
        import xformers.ops as xops

        x = torch.randn(1, 64, 1, 64, device="cuda", dtype=torch.float16)
        xops.memory_efficient_attention(x, x, x, attn_bias=xops.LowerTriangularMask())
        torch.cuda.synchronize()
    except Exception as ex:
        first = str(ex).strip().splitlines()[0] if str(ex).strip() else ""
        version = importlib.metadata.version("xformers")
        return False, f"xformers {version} CUDA ops do not load: {type(ex).__name__}: {first[:160]}"
    return True, ""


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    ok, why = xformers_ops_status()
    if ok:
        import xformers.ops as xops

        q, k, v = leaf_bnhd(inputs.q), leaf_bnhd(inputs.k), leaf_bnhd(inputs.v)
        do = inputs.do.transpose(1, 2).contiguous()
        bias = xops.LowerTriangularMask()
        version = importlib.metadata.version("xformers")
        return Prepared(forward=lambda: xops.memory_efficient_attention(q, k, v, attn_bias=bias), leaves=[q, k, v],
                        grad_out=do, impl=f"xformers {version} memory_efficient_attention (bnhd)", layout="bnhd")
    return sdpa_prepared(inputs, "EFFICIENT_ATTENTION", f"SDPA efficient backend = xformers' CUTLASS kernel [{why}]")


PROVIDER = register(
    Provider(
        name="xformers",
        family="softmax",
        flop_model="softmax_causal",
        description="xformers memory_efficient_attention if its ops load, else SDPA's efficient backend (same kernel)",
        availability=cuda_only,
        prepare=_prepare,
    )
)
