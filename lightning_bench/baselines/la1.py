"""Provider ``la1``: our Lightning Attention-1 Triton kernels (lightning_bench.kernels.lightning_attn1).

The Lightning Attention-2 paper's comparison point (arXiv 2401.04658 §4, Table 1): the same function as ``la2``,
computed as an IO-aware masked left product over block pairs with no inter-block state, so its time grows as n².
"""

from __future__ import annotations

import importlib.util
import os

import torch

from .base import Case, Inputs, Prepared, Provider, Unsupported, leaf, register


def _availability() -> tuple[bool, str]:
    if importlib.util.find_spec("triton") is None:
        return False, "triton is not installed"
    if torch.cuda.is_available():
        return True, ""
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        return True, "no CUDA: runs under the Triton CPU interpreter (correctness only, not a speed)"
    return False, "no CUDA GPU and TRITON_INTERPRET is not 1"


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    from ..kernels import kernel_impl_name, lightning_attn1
    from ..kernels._validate import KERNEL_MAX_DIM as MAX_HEAD_DIM
    from ..kernels._validate import MIN_HEAD_DIM

    for name, dim in (("head_dim", case.head_dim), ("value_dim", case.value_dim)):
        if not MIN_HEAD_DIM <= dim <= MAX_HEAD_DIM:
            raise Unsupported(f"{name}={dim} outside the supported range {MIN_HEAD_DIM}..{MAX_HEAD_DIM}")
    if case.dtype == "bf16" and not inputs.q.is_cuda:
        raise Unsupported("bf16 under the Triton CPU interpreter: its bf16 dots return wrong values "
                          "(triton 3.9, torch 2.13); use fp32 or fp16 on the CPU, bf16 on a GPU")
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
    slopes = inputs.slopes
    return Prepared(
        forward=lambda: lightning_attn1(q, k, v, slopes),
        leaves=[q, k, v],
        grad_out=inputs.do,
        impl=f"lightning_bench {kernel_impl_name()} lightning_attn1 (bhnd)",
        layout="bhnd",
    )


PROVIDER = register(
    Provider(
        name="la1",
        family="linear",
        flop_model="la1_causal",
        description="ours: Lightning Attention-1 Triton kernels (masked left product per block pair, no state)",
        availability=_availability,
        prepare=_prepare,
    )
)
