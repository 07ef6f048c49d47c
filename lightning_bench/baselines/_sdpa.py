"""Shared helper for softmax providers that pin one PyTorch SDPA backend."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Inputs, Prepared, leaf


def sdpa_prepared(inputs: Inputs, backend_name: str, impl: str) -> Prepared:
    """Causal SDPA (``is_causal=True``, default 1/√d scale) with ``backend_name`` pinned via ``sdpa_kernel``."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = getattr(SDPBackend, backend_name)
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)

    def forward():
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    return Prepared(forward=forward, leaves=[q, k, v], grad_out=inputs.do,
                    impl=f"{impl} (torch {torch.__version__}, SDPBackend.{backend_name} pinned)")
