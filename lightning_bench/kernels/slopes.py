"""Per-head decay slopes used with Lightning Attention in the wild.

Source: shared docs ``lightning-attention.md`` §1 ("Slope conventions found in the wild"); ALiBi slopes as in
the OpenNLPLab reference (``lightning_attn/utils/utils.py``), per-layer scaling as in TransNormerLLM /
MiniMax-Text-01, and the linear scheme of the ICML version (arXiv 2405.17381, eq. 10).
"""

from __future__ import annotations

import math

import torch

SCHEMES = ("alibi", "alibi_layer", "linear")


def _alibi(num_heads: int) -> list[float]:
    def power_of_two(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_two(num_heads)
    closest = 2 ** math.floor(math.log2(num_heads))
    return power_of_two(closest) + _alibi(2 * closest)[0::2][: num_heads - closest]


def decay_slopes(
    num_heads: int,
    scheme: str = "alibi",
    layer_idx: int | None = None,
    num_layers: int | None = None,
) -> torch.Tensor:
    """Return the per-head decay slopes, fp32 tensor of shape ``[num_heads]`` on the CPU.

    The per-step decay of head ``h`` is ``λ_h = exp(-slope_h)``.

    Args:
        num_heads: number of heads H (≥ 1).
        scheme: ``"alibi"`` (2^(-8(h+1)/H) for H a power of two, the reference's list otherwise),
            ``"alibi_layer"`` (ALiBi × (1 − l/(L−1) + 1e−5)) or ``"linear"`` ((8h/H)·(1 − l/L), ICML eq. 10).
        layer_idx, num_layers: layer l of L; required for ``alibi_layer`` and ``linear``.

    Raises:
        ValueError: unknown scheme, ``num_heads < 1``, or missing/invalid layer arguments.
    """
    if not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads must be an integer ≥ 1, got {num_heads!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "alibi":
        vals = _alibi(num_heads)
    else:
        if layer_idx is None or num_layers is None:
            raise ValueError(f"scheme {scheme!r} needs layer_idx and num_layers")
        if num_layers < 1 or not 0 <= layer_idx < num_layers:
            raise ValueError(
                f"layer_idx must satisfy 0 ≤ layer_idx < num_layers, got layer_idx={layer_idx}, num_layers={num_layers}"
            )
        if scheme == "alibi_layer":
            factor = (1 - layer_idx / (num_layers - 1) + 1e-5) if num_layers > 1 else 1.0
            vals = [s * factor for s in _alibi(num_heads)]
        else:
            vals = [(8 * h / num_heads) * (1 - layer_idx / num_layers) for h in range(num_heads)]
    return torch.tensor(vals, dtype=torch.float32)
