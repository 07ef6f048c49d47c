"""Provider ``recurrent_linear``: the right-product (cumulative KV) form in PyTorch, the paper's slow form.

S_t = λ·S_{t−1} + k_tᵀ v_t is materialised for every t ([batch, heads, seq_len, head_dim, value_dim], fp32):
``torch.cumsum`` without decay, a log-depth (Hillis–Steele) scan with λ^(2^j) factors with decay (only
non-negative decay exponents, so nothing overflows). o_t = q_t S_t. O(n·d·e) memory.
"""

from __future__ import annotations

import torch

from .base import Case, Inputs, Prepared, Provider, leaf, register


def recurrent_linear_attn(q, k, v, slopes=None):
    """[b, h, n, d], [b, h, n, d], [b, h, n, e] → o [b, h, n, e] (input dtype), state math in fp32."""
    kv = torch.einsum("bhnd,bhne->bhnde", k.float(), v.float())
    n = q.shape[2]
    if slopes is None:
        kv = torch.cumsum(kv, dim=2)
    else:
        step = 1
        while step < n:
            lam = torch.exp(-slopes.float() * step).view(1, -1, 1, 1, 1)
            kv = torch.cat([kv[:, :, :step], kv[:, :, step:] + lam * kv[:, :, :-step]], dim=2)
            step *= 2
    return torch.einsum("bhnd,bhnde->bhne", q.float(), kv).to(q.dtype)


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
    s = inputs.slopes
    return Prepared(
        forward=lambda: recurrent_linear_attn(q, k, v, s),
        leaves=[q, k, v],
        grad_out=inputs.do,
        impl=f"torch {torch.__version__} " + ("cumsum" if s is None else "log-depth scan"),
    )


PROVIDER = register(
    Provider(
        name="recurrent_linear",
        family="linear",
        flop_model="linear_minimum",
        description="PyTorch right-product form: cumulative KV state per token (cumsum / scan), O(n·d·e) memory",
        availability=lambda: (True, ""),
        prepare=_prepare,
    )
)
