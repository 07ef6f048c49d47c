"""Provider ``fla``: flash-linear-attention's ``chunk_simple_gla`` with the same decay and scale 1.0.

``chunk_simple_gla(q, k, v, g_gamma=-slopes, scale=1.0)`` on head-last [batch, seq_len, heads, dim] inputs computes
exactly Lightning Attention's function (shared docs §1: ``scale=None`` would mean 1/√d, hence scale=1.0).
"""

from __future__ import annotations

import importlib.metadata

from .base import Case, Inputs, Prepared, Provider, cuda_library_availability, leaf_bnhd, register


def _probe() -> None:
    from fla.ops.simple_gla import chunk_simple_gla  # noqa: F401


def _availability() -> tuple[bool, str]:
    return cuda_library_availability("fla", "fla-core", "fla", _probe)


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    from fla.ops.simple_gla import chunk_simple_gla

    q, k, v = leaf_bnhd(inputs.q), leaf_bnhd(inputs.k), leaf_bnhd(inputs.v)
    do = inputs.do.transpose(1, 2).contiguous()
    g_gamma = None if inputs.slopes is None else (-inputs.slopes).contiguous()

    def forward():
        return chunk_simple_gla(q, k, v, g_gamma=g_gamma, scale=1.0)[0]

    version = importlib.metadata.version("fla-core")
    return Prepared(forward=forward, leaves=[q, k, v], grad_out=do, impl=f"fla-core {version} chunk_simple_gla (bnhd)",
                    layout="bnhd", keep=[g_gamma])


PROVIDER = register(
    Provider(
        name="fla",
        family="linear",
        flop_model="la2_chunk",
        description="flash-linear-attention chunk_simple_gla (g_gamma = -slopes, scale 1.0), chunk 64",
        availability=_availability,
        prepare=_prepare,
    )
)
