"""FLOP models per provider family (shared docs ``lightning-attention.md`` §5).

One [M×K]·[K×N] product = 2MKN FLOPs; decay/mask elementwise work is ignored. Each row names its model; time stays
the primary number. Never rate a linear-attention kernel with the n² softmax formula.
"""

from __future__ import annotations

MODES = ("fwd", "bwd", "fwd_bwd")
LA2_BLOCK = 64  # B of the chunked model (ours, the reference and fla all use 64-row blocks)

MODELS = {
    "la2_chunk": "LA2 chunked model FLOPs, B=64: fwd bhn[2B(d+e)+4de], bwd bhn[2B(3d+2e)+10de]",
    "la1_causal": "LA1 block-causal left product, B=64: each query block i meets key blocks j ≤ i, so "
                  "Σ_i (i+1)B² = n²/2 + nB/2 (query, key) pairs (exact when B divides n), 2(d+e) FLOPs each: "
                  "fwd 2bh(n²/2+nB/2)(d+e), bwd 2× fwd (the dP, dQ, dK, dV products; recomputing QKᵀ and dO Vᵀ, "
                  "as our kernels do, executes 3× fwd)",
    "linear_minimum": "algorithmic minimum of causal linear attention: fwd 4bhnde, bwd 10bhnde",
    "naive_quadratic": "dense n×n linear attention: fwd 2bhn²(d+e), bwd 4bhn²(d+e)",
    "softmax_causal": "causal softmax, FlashAttention convention: fwd bhn²(d+e) (= 4bhn²d/2 for e=d), bwd 2.5× fwd",
    "none": "no FLOPs declared (the byte floor): FLOPs and TFLOP/s are NaN",
}


def flops(model: str, mode: str, batch: int, heads: int, seq_len: int, head_dim: int, value_dim: int,
          block: int = LA2_BLOCK) -> float:
    """FLOPs of one call under ``model`` for ``mode`` ("fwd", "bwd" or "fwd_bwd").

    Raises:
        ValueError: unknown model or mode, or a non-positive dimension.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, val in (("batch", batch), ("heads", heads), ("seq_len", seq_len), ("head_dim", head_dim),
                      ("value_dim", value_dim), ("block", block)):
        if val < 1:
            raise ValueError(f"{name} must be ≥ 1, got {val}")
    bh, n, d, e, B = batch * heads, seq_len, head_dim, value_dim, block
    if model == "la2_chunk":
        fwd = bh * n * (2 * B * (d + e) + 4 * d * e)
        bwd = bh * n * (2 * B * (3 * d + 2 * e) + 10 * d * e)
    elif model == "la1_causal":
        fwd = bh * n * (n + B) * (d + e)  # = 2·bh·(n²/2 + n·B/2)·(d+e)
        bwd = 2 * fwd
    elif model == "linear_minimum":
        fwd = 4 * bh * n * d * e
        bwd = 10 * bh * n * d * e
    elif model == "naive_quadratic":
        fwd = 2 * bh * n * n * (d + e)
        bwd = 4 * bh * n * n * (d + e)
    elif model == "none":
        return float("nan")
    else:  # softmax_causal
        fwd = bh * n * n * (d + e)
        bwd = 2.5 * fwd
    return float({"fwd": fwd, "bwd": bwd, "fwd_bwd": fwd + bwd}[mode])


BYTES_MODEL = ("minimum I/O: fwd reads q, k, v and writes o; bwd reads q, k, v, do and writes dq, dk, dv "
               "(s·bhn(2d+2e) fwd, s·bhn(4d+3e) bwd); intermediates (scores, states) are not counted")


def io_bytes(mode: str, batch: int, heads: int, seq_len: int, head_dim: int, value_dim: int,
             bytes_per_element: int) -> float:
    """Minimum HBM bytes of one call (each input read once, each output written once), shared docs §5.

    The same model serves every provider, so achieved bytes/s compares implementations on one scale; a provider
    that materialises n×n scores or per-token states moves more than this.

    Raises:
        ValueError: unknown mode or a non-positive argument.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, val in (("batch", batch), ("heads", heads), ("seq_len", seq_len), ("head_dim", head_dim),
                      ("value_dim", value_dim), ("bytes_per_element", bytes_per_element)):
        if val < 1:
            raise ValueError(f"{name} must be ≥ 1, got {val}")
    bhn, d, e = batch * heads * seq_len, head_dim, value_dim
    fwd = bhn * (2 * d + 2 * e)
    bwd = bhn * (4 * d + 3 * e)
    return float(bytes_per_element * {"fwd": fwd, "bwd": bwd, "fwd_bwd": fwd + bwd}[mode])


BYTES_PER_ELEMENT = {"bf16": 2, "fp16": 2, "fp32": 4}
