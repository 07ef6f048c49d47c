"""Up-front argument checks shared by the kernels and the reference (shared docs §1, "validation")."""

from __future__ import annotations

import os
import weakref

import torch

LAYOUTS = ("bhnd", "bnhd")
DTYPES = (torch.float16, torch.bfloat16, torch.float32)
MIN_HEAD_DIM = 16
KERNEL_MAX_DIM = 128  # widest tile one program takes; 256 compiled but faulted on the H200 (triton 3.6)
MAX_HEAD_DIM = 256  # wider heads run as ≤ 128-wide chunks (lightning_attn2.kernel._wide)


def interpreter_enabled() -> bool:
    """True when Triton runs kernels through its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def canonical_shapes(q, k, v, layout: str, dtypes=DTYPES, dim_range=(MIN_HEAD_DIM, KERNEL_MAX_DIM)
                     ) -> tuple[int, int, int, int, int]:
    """Validate q, k, v and return (batch, heads, seq_len, head_dim, value_dim)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            dims = "[batch, heads, seq_len, dim]" if layout == "bhnd" else "[batch, seq_len, heads, dim]"
            raise ValueError(f"{name} must be 4-D {dims} for layout {layout!r}, got shape {tuple(t.shape)}")
    if layout == "bhnd":
        b, h, n, d = q.shape
        kb, kh, kn, kd = k.shape
        vb, vh, vn, e = v.shape
    else:
        b, n, h, d = q.shape
        kb, kn, kh, kd = k.shape
        vb, vn, vh, e = v.shape
    if (kb, kh, kn) != (b, h, n):
        raise ValueError(f"k must match q in batch, heads and seq_len: q has {(b, h, n)}, k has {(kb, kh, kn)}")
    if (vb, vh, vn) != (b, h, n):
        raise ValueError(f"v must match q in batch, heads and seq_len: q has {(b, h, n)}, v has {(vb, vh, vn)}")
    if kd != d:
        raise ValueError(f"k's head_dim must equal q's: q has {d}, k has {kd}")
    if n < 1:
        raise ValueError(f"seq_len must be ≥ 1, got {n}")
    if b < 1 or h < 1:
        raise ValueError(f"batch and heads must be ≥ 1, got batch={b}, heads={h}")
    lo, hi = dim_range
    for name, dim in (("head_dim", d), ("value_dim", e)):
        if not lo <= dim <= hi:
            raise ValueError(f"{name} must be between {lo} and {hi} (inclusive), got {dim}")
    if q.dtype not in dtypes:
        names = ", ".join(str(t).replace("torch.", "") for t in dtypes)
        raise ValueError(f"q must have one of the dtypes {names}, got {q.dtype}")
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k and v must share one dtype, got q={q.dtype}, k={k.dtype}, v={v.dtype}")
    if k.device != q.device or v.device != q.device:
        raise ValueError(f"q, k and v must be on one device, got q={q.device}, k={k.device}, v={v.device}")
    return b, h, n, d, e


def check_kernel_device(q: torch.Tensor) -> None:
    if q.is_cuda:
        return
    if interpreter_enabled():
        if q.device.type != "cpu":
            raise ValueError(f"under TRITON_INTERPRET=1, q must be on the CPU, got {q.device}")
        return
    raise ValueError(
        f"q must be a CUDA tensor for the Triton kernels, got device {q.device}; "
        "on a machine without a GPU set TRITON_INTERPRET=1 before importing lightning_bench.kernels "
        "(slow, for tests) or use lightning_attn_reference"
    )


def canonical_slopes(slopes, heads: int, device: torch.device, check_values: bool = True) -> torch.Tensor | None:
    """Validate ``slopes`` (None or fp32 [heads], finite, ≥ 0, no grad) and return it flattened."""
    if slopes is None:
        return None
    if not isinstance(slopes, torch.Tensor):
        raise TypeError(f"slopes must be None or a torch.Tensor, got {type(slopes).__name__}")
    if slopes.requires_grad:
        raise ValueError("slopes must not require grad: Lightning Attention has no slope gradient (shared docs §1)")
    if slopes.numel() != heads or (slopes.dim() != 1 and tuple(slopes.shape) != (heads, 1, 1)):
        raise ValueError(f"slopes must have shape [heads] = [{heads}] (or [{heads}, 1, 1]), got {tuple(slopes.shape)}")
    if slopes.dtype != torch.float32:
        raise ValueError(f"slopes must be float32, got {slopes.dtype}")
    if slopes.device != device:
        raise ValueError(f"slopes must be on q's device {device}, got {slopes.device}")
    flat = slopes.reshape(heads)
    if not check_values:  # inside torch.compile: reading values would be a graph break
        return flat.contiguous()
    # The value checks read the tensor back to the host (a device sync on CUDA). Do them once per tensor object and
    # version, so a training loop or a timed call passing the same slopes never syncs (in-place edits bump _version).
    seen = _CHECKED.get(id(slopes))
    if seen is None or seen[0]() is not slopes or seen[1] != slopes._version:
        if not bool(torch.isfinite(flat).all()):
            raise ValueError("slopes must be finite (no NaN or inf)")
        if bool((flat < 0).any()):
            raise ValueError("slopes must be ≥ 0 (per-step decay exp(-slope) ≤ 1)")
        if len(_CHECKED) > 256:
            _CHECKED.clear()
        _CHECKED[id(slopes)] = (weakref.ref(slopes), slopes._version)
    return flat.contiguous()


_CHECKED: dict[int, tuple] = {}
