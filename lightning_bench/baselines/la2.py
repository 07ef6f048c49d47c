"""Provider ``la2``: our Lightning Attention-2 Triton kernels (lightning_bench.kernels)."""

from __future__ import annotations

from .base import Case, Inputs, Prepared, Provider, check_our_triton_case, leaf, our_triton_availability, register


def _prepare(case: Case, inputs: Inputs, seq_split="auto", gluon: bool = True) -> Prepared:
    from ..kernels import kernel_impl_name, lightning_attn
    from ..kernels._validate import KERNEL_MAX_DIM, MAX_HEAD_DIM
    from ..kernels.lightning_attn2 import gluon_fwd
    from ..kernels.lightning_attn2.kernel import describe_backward, describe_launch

    check_our_triton_case(case, inputs, MAX_HEAD_DIM)
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
    slopes = inputs.slopes
    if gluon:
        forward = lambda: lightning_attn(q, k, v, slopes, seq_split=seq_split)  # noqa: E731
        fwd_desc = gluon_fwd.describe(case.batch, case.heads, case.seq_len, case.head_dim, case.value_dim,
                                      inputs.q.dtype, inputs.q.device, "bhnd", seq_split)
        fwd_desc += "; " + describe_backward(case.batch, case.heads, case.seq_len, case.head_dim, case.value_dim,
                                             inputs.q.dtype, inputs.q.device, seq_split)
    else:
        def forward():
            with gluon_fwd.disabled():
                return lightning_attn(q, k, v, slopes, seq_split=seq_split)
        fwd_desc = "triton fwd and bwd (gluon disabled)"
    return Prepared(
        forward=forward,
        leaves=[q, k, v],
        grad_out=inputs.do,
        impl=f"lightning_bench {kernel_impl_name()} (bhnd, seq_split={seq_split}"
             + (f"; {fwd_desc}; {describe_launch(case.head_dim, case.value_dim, inputs.q.dtype, inputs.q.device)}"
                if max(case.head_dim, case.value_dim) <= KERNEL_MAX_DIM else "") + ")",
        layout="bhnd",
    )


PROVIDER = register(
    Provider(
        name="la2",
        family="linear",
        flop_model="la2_chunk",
        description="ours: Lightning Attention-2 (fwd Alg. 1: Gluon on sm_90 bf16 where eligible, else Triton; bwd: "
                    "the Gluon kernel three times, dq causal and dk/dv anti-causal, where eligible, else Alg. 2 in "
                    "Triton; seq_split='auto')",
        availability=our_triton_availability,
        prepare=_prepare,
    )
)


UNSPLIT_PROVIDER = register(
    Provider(
        name="la2_unsplit",
        family="linear",
        flop_model="la2_chunk",
        description="ours with seq_split=1 (ablation): one program per (batch·head, tile), no sequence segments",
        availability=our_triton_availability,
        prepare=lambda case, inputs: _prepare(case, inputs, seq_split=1),
    )
)


TRITON_PROVIDER = register(
    Provider(
        name="la2_triton",
        family="linear",
        flop_model="la2_chunk",
        description="ours with the Gluon forward disabled (ablation): the portable Triton kernels only",
        availability=our_triton_availability,
        prepare=lambda case, inputs: _prepare(case, inputs, gluon=False),
    )
)
