"""Provider ``flash_attn2``: FlashAttention-2 (``flash_attn_func(causal=True)``) if flash-attn is importable,
else PyTorch SDPA's flash backend, which is FlashAttention-2 inside PyTorch. The row's ``impl`` says which ran."""

from __future__ import annotations

import importlib.metadata
import importlib.util

from ._sdpa import sdpa_prepared
from .base import Case, Inputs, Prepared, Provider, cuda_only, leaf_bnhd, register


def _has_flash_attn() -> tuple[bool, str]:
    if importlib.util.find_spec("flash_attn") is None:
        return False, "flash-attn not installed"
    try:
        from flash_attn import flash_attn_func  # noqa: F401
    except Exception as ex:
        return False, f"flash-attn import failed: {type(ex).__name__}: {ex}"
    return True, ""


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    ok, why = _has_flash_attn()
    if ok:
        from flash_attn import flash_attn_func

        q, k, v = leaf_bnhd(inputs.q), leaf_bnhd(inputs.k), leaf_bnhd(inputs.v)
        do = inputs.do.transpose(1, 2).contiguous()
        version = importlib.metadata.version("flash-attn")
        return Prepared(forward=lambda: flash_attn_func(q, k, v, causal=True), leaves=[q, k, v], grad_out=do,
                        impl=f"flash-attn {version} flash_attn_func (bnhd)", layout="bnhd")
    return sdpa_prepared(inputs, "FLASH_ATTENTION", f"SDPA flash backend = FlashAttention-2 in PyTorch [{why}]")


PROVIDER = register(
    Provider(
        name="flash_attn2",
        family="softmax",
        flop_model="softmax_causal",
        description="FlashAttention-2: flash-attn if importable, else SDPA's flash backend (FA2 inside PyTorch)",
        availability=cuda_only,
        prepare=_prepare,
    )
)
