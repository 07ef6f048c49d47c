"""Float64 PyTorch references for causal linear attention with per-head decay (shared docs §1, §6 R-dense/R-chunk)."""

from __future__ import annotations

import torch

from .._validate import DTYPES, canonical_shapes, canonical_slopes


def _to_bhnd(x: torch.Tensor, layout: str) -> torch.Tensor:
    return x if layout == "bhnd" else x.transpose(1, 2)


def _decay_mask(slopes: torch.Tensor | None, h: int, rows: int, device) -> torch.Tensor:
    """[h, rows, rows] float64 mask λ^(s−t) for s ≥ t else 0, built in the safe form (never λ^(−c))."""
    idx = torch.arange(rows, device=device, dtype=torch.float64)
    diff = idx[:, None] - idx[None, :]
    causal = diff >= 0
    if slopes is None:
        return causal.to(torch.float64).expand(h, rows, rows)
    expo = -slopes.to(torch.float64).view(h, 1, 1) * diff
    return torch.exp(torch.where(causal, expo, torch.tensor(float("-inf"), dtype=torch.float64, device=device)))


def lightning_attn_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | None = None,
    *,
    layout: str = "bhnd",
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    method: str = "auto",
    block: int = 256,
):
    """Float64 oracle: ``O = (Q Kᵀ ⊙ M) V`` with ``M[s,t] = exp(-slope_h·(s−t))`` for s ≥ t, else 0.

    Paper: Lightning Attention-2 (arXiv 2401.04658) §3.1, eqs. 4–5 (recurrent form); no softmax, no scale.

    Args:
        q, k: ``[batch, heads, seq_len, head_dim]`` (layout "bhnd") or ``[batch, seq_len, heads, head_dim]`` ("bnhd").
        v: same layout with its own last dim ``value_dim``.
        slopes: None (no decay) or fp32 ``[heads]``, finite, ≥ 0.
        layout: "bhnd" or "bnhd"; the output uses the same layout.
        initial_state: optional ``[batch, heads, head_dim, value_dim]`` state before position 0 (any float dtype).
        output_final_state: also return the float64 state after the last token.
        method: "dense" (full n×n mask per head), "chunk" (float64 chunked recurrence, O(n) memory) or "auto"
            (dense up to seq_len 1024).
        block: chunk length for ``method="chunk"``.

    Returns:
        o in float64, shape ``[..., value_dim]`` in ``layout``, on q's device; differentiable (float64 autograd);
        ``(o, final_state)`` with ``output_final_state=True``.

    Raises:
        ValueError / TypeError: as ``lightning_attn`` for bad shapes, dtypes, devices, layouts or slopes.
    """
    b, h, n, d, e = canonical_shapes(q, k, v, layout, dtypes=DTYPES + (torch.float64,), dim_range=(1, 1 << 16))
    s = canonical_slopes(slopes, h, q.device)
    if method not in ("auto", "dense", "chunk"):
        raise ValueError(f"method must be 'auto', 'dense' or 'chunk', got {method!r}")
    if method == "auto":
        method = "dense" if n <= 1024 else "chunk"
    if initial_state is not None and tuple(initial_state.shape) != (b, h, d, e):
        raise ValueError(f"initial_state must have shape {[b, h, d, e]}, got {list(initial_state.shape)}")
    s0 = None if initial_state is None else initial_state.to(torch.float64)
    q64, k64, v64 = (_to_bhnd(x, layout).to(torch.float64) for x in (q, k, v))
    if method == "dense":
        m = _decay_mask(s, h, n, q.device)
        o = torch.matmul(torch.matmul(q64, k64.transpose(-1, -2)) * m, v64)
        t = torch.arange(n, device=q.device, dtype=torch.float64).view(1, 1, n, 1)
        sl = None if s is None else s.to(torch.float64).view(1, h, 1, 1)
        if s0 is not None:
            a = torch.ones_like(t) if sl is None else torch.exp(-sl * (t + 1))
            o = o + a * torch.matmul(q64, s0)
        if output_final_state:
            g = torch.ones_like(t) if sl is None else torch.exp(-sl * (n - 1 - t))
            ht = torch.matmul((k64 * g).transpose(-1, -2), v64)
            if s0 is not None:
                ht = ht + (s0 if sl is None else torch.exp(-sl * n) * s0)
    else:
        o, ht = _chunked(q64, k64, v64, s, block, s0)
    o = o if layout == "bhnd" else o.transpose(1, 2)
    return (o, ht) if output_final_state else o


def _chunked(q, k, v, slopes, block: int, s0=None):
    b, h, n, d = q.shape
    e = v.shape[-1]
    state = q.new_zeros(b, h, d, e) if s0 is None else s0
    outs = []
    sl = None if slopes is None else slopes.to(torch.float64).view(1, h, 1, 1)
    for start in range(0, n, block):
        qi, ki, vi = q[:, :, start : start + block], k[:, :, start : start + block], v[:, :, start : start + block]
        L = qi.shape[2]
        m = _decay_mask(slopes, h, L, q.device)
        intra = torch.matmul(torch.matmul(qi, ki.transpose(-1, -2)) * m, vi)
        c = torch.arange(L, device=q.device, dtype=torch.float64).view(1, 1, L, 1)
        if sl is None:
            outs.append(intra + torch.matmul(qi, state))
            state = state + torch.matmul(ki.transpose(-1, -2), vi)
        else:
            a = torch.exp(-sl * (c + 1))
            g = torch.exp(-sl * (L - 1 - c))
            outs.append(intra + a * torch.matmul(qi, state))
            state = torch.exp(-sl * L) * state + torch.matmul((ki * g).transpose(-1, -2), vi)
    return torch.cat(outs, dim=2), state
