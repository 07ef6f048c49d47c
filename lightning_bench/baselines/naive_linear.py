"""Provider ``naive_linear``: the dense masked quadratic form ("left product") in PyTorch.

o = ((q kᵀ) ⊙ M) v with M the causal decay mask built once outside the timed region; O(n²) time and memory.
"""

from __future__ import annotations

import torch

from .base import Case, Inputs, Prepared, Provider, leaf, register


def _mask(case: Case, slopes, device, dtype) -> torch.Tensor:
    n = case.seq_len
    idx = torch.arange(n, device=device, dtype=torch.float32)
    diff = idx[:, None] - idx[None, :]
    causal = diff >= 0
    if slopes is None:
        return causal.to(dtype)  # [n, n], broadcast over batch and heads
    expo = torch.where(causal, -slopes.view(-1, 1, 1) * diff, torch.tensor(float("-inf"), device=device))
    return torch.exp(expo).to(dtype)  # [heads, n, n]


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
    m = _mask(case, inputs.slopes, q.device, q.dtype)

    def forward():
        return torch.matmul(torch.matmul(q, k.transpose(-1, -2)) * m, v)

    return Prepared(forward=forward, leaves=[q, k, v], grad_out=inputs.do, impl=f"torch {torch.__version__} matmul",
                    keep=[m])


PROVIDER = register(
    Provider(
        name="naive_linear",
        family="linear",
        flop_model="naive_quadratic",
        description="PyTorch dense masked quadratic form ((QKᵀ ⊙ M) V), O(n²) memory",
        availability=lambda: (True, ""),
        prepare=_prepare,
    )
)
