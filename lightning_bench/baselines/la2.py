"""Provider ``la2``: our Lightning Attention-2 Triton kernels (lightning_bench.kernels)."""

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


def _prepare(case: Case, inputs: Inputs, seq_split=1) -> Prepared:
    from ..kernels import kernel_impl_name, lightning_attn
    from ..kernels._validate import MAX_HEAD_DIM, MIN_HEAD_DIM

    for name, dim in (("head_dim", case.head_dim), ("value_dim", case.value_dim)):
        if not MIN_HEAD_DIM <= dim <= MAX_HEAD_DIM:
            raise Unsupported(f"{name}={dim} outside the supported range {MIN_HEAD_DIM}..{MAX_HEAD_DIM}")
    if case.dtype == "bf16" and not inputs.q.is_cuda:
        raise Unsupported("bf16 under the Triton CPU interpreter: its bf16 dots return wrong values "
                          "(triton 3.9, torch 2.13); use fp32 or fp16 on the CPU, bf16 on a GPU")
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
    slopes = inputs.slopes
    return Prepared(
        forward=lambda: lightning_attn(q, k, v, slopes, seq_split=seq_split),
        leaves=[q, k, v],
        grad_out=inputs.do,
        impl=f"lightning_bench {kernel_impl_name()} (bhnd" + ("" if seq_split == 1 else f", seq_split={seq_split}") + ")",
        layout="bhnd",
    )


PROVIDER = register(
    Provider(
        name="la2",
        family="linear",
        flop_model="la2_chunk",
        description="ours: Lightning Attention-2 Triton kernels (fwd Alg. 1, bwd Alg. 2)",
        availability=_availability,
        prepare=_prepare,
    )
)


SPLIT_PROVIDER = register(
    Provider(
        name="la2_split",
        family="linear",
        flop_model="la2_chunk",
        description="ours with seq_split='auto': sequence segments in parallel (fwd and bwd) for small batch·heads",
        availability=_availability,
        prepare=lambda case, inputs: _prepare(case, inputs, seq_split="auto"),
    )
)
