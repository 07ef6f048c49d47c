"""Provider ``la2``: our Lightning Attention-2 Triton kernels (lightning_bench.kernels)."""

from __future__ import annotations

from .base import Case, Inputs, Prepared, Provider, check_our_triton_case, leaf, our_triton_availability, register


def _prepare(case: Case, inputs: Inputs, seq_split=1) -> Prepared:
    from ..kernels import kernel_impl_name, lightning_attn
    from ..kernels._validate import MAX_HEAD_DIM

    check_our_triton_case(case, inputs, MAX_HEAD_DIM)
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
        availability=our_triton_availability,
        prepare=_prepare,
    )
)


SPLIT_PROVIDER = register(
    Provider(
        name="la2_split",
        family="linear",
        flop_model="la2_chunk",
        description="ours with seq_split='auto': sequence segments in parallel (fwd and bwd) for small batch·heads",
        availability=our_triton_availability,
        prepare=lambda case, inputs: _prepare(case, inputs, seq_split="auto"),
    )
)
