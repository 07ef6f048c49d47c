"""Provider ``sdpa_cudnn``: PyTorch SDPA with the cuDNN attention backend pinned."""

from __future__ import annotations

from ._sdpa import sdpa_prepared
from .base import Case, Inputs, Prepared, Provider, cuda_only, register


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    return sdpa_prepared(inputs, "CUDNN_ATTENTION", "SDPA cuDNN backend")


PROVIDER = register(
    Provider(
        name="sdpa_cudnn",
        family="softmax",
        flop_model="softmax_causal",
        description="PyTorch SDPA, cuDNN attention backend pinned",
        availability=cuda_only,
        prepare=_prepare,
    )
)
