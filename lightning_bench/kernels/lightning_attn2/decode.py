"""One decode step of Lightning Attention (recurrent form, paper arXiv 2401.04658 §3.1 eqs. 4–5): O(1) in seq_len.

``S ← λ·S + kᵀ v``, ``o = q S`` with λ = exp(−slope), continuing exactly from the ``final_state`` that
:func:`lightning_attn` returns for a prefill (state convention: shared docs §2).
"""

from __future__ import annotations

import torch

from .._validate import DTYPES, canonical_slopes


def lightning_attn_decode(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, state: torch.Tensor,
                          slopes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance every sequence of the batch by one token.

    Args:
        q, k: ``[batch, heads, head_dim]`` or ``[batch, heads, 1, head_dim]``.
        v: ``[batch, heads, value_dim]`` or ``[batch, heads, 1, value_dim]``.
        state: fp32 ``[batch, heads, head_dim, value_dim]``, the state after the previous token (e.g. a prefill's
            ``final_state``).
        slopes: None or fp32 ``[heads]``, finite, ≥ 0 (as for :func:`lightning_attn`).

    Returns:
        ``(o, new_state)``: o ``[batch, heads, value_dim]`` (``[batch, heads, 1, value_dim]`` if the inputs had the
        token axis) in q's dtype; new_state fp32 ``[batch, heads, head_dim, value_dim]``. The state update is done in
        fp32 whatever the input dtype.

    Raises:
        ValueError / TypeError: shapes, dtypes or devices that do not match, or bad slopes.
    """
    for name, t in (("q", q), ("k", k), ("v", v), ("state", state)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    token_axis = q.dim() == 4
    if token_axis:
        for name, t in (("q", q), ("k", k), ("v", v)):
            if t.dim() != 4 or t.shape[2] != 1:
                raise ValueError(f"{name} must be [batch, heads, 1, dim] for one decode step, got {tuple(t.shape)}")
        q, k, v = q[:, :, 0], k[:, :, 0], v[:, :, 0]
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 3:
            raise ValueError(f"{name} must be [batch, heads, dim] (or [batch, heads, 1, dim]), got {tuple(t.shape)}")
    b, h, d = q.shape
    if tuple(k.shape) != (b, h, d):
        raise ValueError(f"k must have q's shape {(b, h, d)}, got {tuple(k.shape)}")
    if tuple(v.shape[:2]) != (b, h):
        raise ValueError(f"v must match q in batch and heads {(b, h)}, got {tuple(v.shape[:2])}")
    e = v.shape[2]
    if tuple(state.shape) != (b, h, d, e):
        raise ValueError(f"state must have shape [batch, heads, head_dim, value_dim] = {[b, h, d, e]}, "
                         f"got {list(state.shape)}")
    if state.dtype != torch.float32:
        raise ValueError(f"state must be float32, got {state.dtype}")
    if q.dtype not in DTYPES or k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k, v must share one dtype among fp16/bf16/fp32, got {q.dtype}, {k.dtype}, {v.dtype}")
    for name, t in (("k", k), ("v", v), ("state", state)):
        if t.device != q.device:
            raise ValueError(f"{name} must be on q's device {q.device}, got {t.device}")
    s = canonical_slopes(slopes, h, q.device)
    kv = k.float().unsqueeze(-1) * v.float().unsqueeze(-2)  # [b, h, d, e]
    if s is None:
        new_state = state + kv
    else:
        new_state = torch.exp(-s).view(1, h, 1, 1) * state + kv
    o = torch.einsum("bhd,bhde->bhe", q.float(), new_state).to(q.dtype)
    return (o.unsqueeze(2) if token_axis else o), new_state
