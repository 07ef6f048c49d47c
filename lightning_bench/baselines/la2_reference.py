"""Provider ``la2_reference``: the OpenNLPLab reference Lightning Attention-2 (PyPI ``lightning_attn``).

With decay: ``lightning_attn_func(q, k, v, s)`` with ``s = slopes.reshape(h, 1, 1)`` on contiguous [b, h, n, d].
Without decay the interface's ``s=None`` path raises ``UnboundLocalError`` for head_dim ≤ 128 (it passes an undefined
``q1``), so the adapter calls the reference's ``lightning_attn2_no_decay`` kernel directly and records that.
"""

from __future__ import annotations

import importlib.metadata

from .base import Case, Inputs, Prepared, Provider, Unsupported, cuda_library_availability, leaf, register


def _probe() -> None:
    import lightning_attn.ops  # noqa: F401


def _availability() -> tuple[bool, str]:
    return cuda_library_availability("lightning_attn", "lightning-attn", "reference", _probe)


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    from lightning_attn.ops import lightning_attn2_no_decay, lightning_attn_func

    if not (16 % case.head_dim) or not (16 % case.value_dim):
        raise Unsupported("the reference rejects head dims that divide 16 (its is_support check)")
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
    version = importlib.metadata.version("lightning-attn")
    if inputs.slopes is None:
        if case.head_dim > 128:
            raise Unsupported("reference no-decay kernel supports head_dim ≤ 128 only")
        forward = lambda: lightning_attn2_no_decay(q, k, v)  # noqa: E731
        impl = f"lightning_attn {version} lightning_attn2_no_decay"
        keep = []
    else:
        s = inputs.slopes.reshape(-1, 1, 1).contiguous()
        forward = lambda: lightning_attn_func(q, k, v, s)  # noqa: E731
        impl = f"lightning_attn {version} lightning_attn_func (decay)"
        keep = [s]
    return Prepared(forward=forward, leaves=[q, k, v], grad_out=inputs.do, impl=impl, keep=keep)


PROVIDER = register(
    Provider(
        name="la2_reference",
        family="linear",
        flop_model="la2_chunk",
        description="OpenNLPLab lightning_attn reference kernels (block 64, fp32 tiles: TF32 dots)",
        availability=_availability,
        prepare=_prepare,
        tf32=True,
    )
)
