"""Provider ``la1``: our Lightning Attention-1 Triton kernels (lightning_bench.kernels.lightning_attn1).

The Lightning Attention-2 paper's comparison point (arXiv 2401.04658 §4, Table 1): the same function as ``la2``,
computed as an IO-aware masked left product over block pairs with no inter-block state, so its time grows as n².
"""

from __future__ import annotations

from .base import Case, Inputs, Prepared, Provider, check_our_triton_case, leaf, our_triton_availability, register


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    from ..kernels import kernel_impl_name, lightning_attn1
    from ..kernels._validate import KERNEL_MAX_DIM

    check_our_triton_case(case, inputs, KERNEL_MAX_DIM)
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
        availability=our_triton_availability,
        prepare=_prepare,
    )
)
