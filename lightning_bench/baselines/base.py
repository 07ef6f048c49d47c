"""The provider interface: a :class:`Case` in, a :class:`Prepared` call out (shared docs architecture.md)."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
FAMILIES = ("linear", "softmax", "floor")  # floor: the byte floor of a shape (baselines/floor.py)


@dataclass(frozen=True)
class Case:
    """One configuration of the sweep (one row per provider × mode).

    Attributes:
        batch, heads, seq_len, head_dim, value_dim: problem shape (q, k: [batch, heads, seq_len, head_dim];
            v, o: [batch, heads, seq_len, value_dim]).
        dtype: "bf16", "fp16" or "fp32".
        decay: "none" or a slope scheme of :func:`lightning_bench.kernels.decay_slopes` ("alibi", ...).
    """

    batch: int
    heads: int
    seq_len: int
    head_dim: int
    value_dim: int
    dtype: str
    decay: str

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Inputs:
    """Canonical inputs of one case, in the paper's layout [batch, heads, seq_len, dim], built once per case."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    do: torch.Tensor
    slopes: torch.Tensor | None  # fp32 [heads] or None


@dataclass
class Prepared:
    """A provider's call for one case, ready to time.

    ``forward()`` runs only the operation on inputs already in the provider's layout and returns o.
    ``leaves`` are the tensors whose ``.grad`` the harness clears between backward runs.
    ``to_bhnd`` maps the provider's o back to [batch, heads, seq_len, value_dim] for correctness checks.
    """

    forward: Callable[[], torch.Tensor]
    leaves: list[torch.Tensor]
    grad_out: torch.Tensor
    impl: str
    layout: str = "bhnd"
    keep: list = field(default_factory=list)  # provider-layout tensors kept alive

    def to_bhnd(self, o: torch.Tensor) -> torch.Tensor:
        return o if self.layout == "bhnd" else o.transpose(1, 2)


class Unsupported(Exception):
    """Raised by a provider for a case it cannot run; the message is the row's reason."""


@dataclass
class Provider:
    """A registered implementation.

    Attributes:
        name: registry key (CSV column ``provider``).
        family: "linear" (computes Lightning Attention's function), "softmax" (causal softmax attention:
            compared on time and memory only) or "floor" (the byte floor of a shape: same tensors, no attention).
        flop_model: key of :mod:`lightning_bench.flops` used for its FLOP count.
        description: one line for ``lightning-bench providers``.
        availability: () -> (available, reason); cached.
        prepare: (case, inputs) -> Prepared; may raise Unsupported.
        tf32: True when the implementation computes fp32 inputs with TF32 dots (looser fp32 tolerance).
    """

    name: str
    family: str
    flop_model: str
    description: str
    availability: Callable[[], tuple[bool, str]]
    prepare: Callable[[Case, Inputs], Prepared]
    tf32: bool = False

    def available(self) -> tuple[bool, str]:
        return _avail(self.name, self.availability)


@functools.lru_cache(maxsize=None)
def _avail(name: str, fn) -> tuple[bool, str]:
    try:
        ok, reason = fn()
    except Exception as ex:  # an adapter's probe must never take the registry down
        ok, reason = False, f"availability check failed: {type(ex).__name__}: {ex}"
    return bool(ok), str(reason)


def clear_availability_cache() -> None:
    """Forget cached availability answers (tests, or after installing a package in-process)."""
    _avail.cache_clear()


_REGISTRY: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    if provider.family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {provider.family!r}")
    _REGISTRY[provider.name] = provider
    return provider


def list_providers() -> list[Provider]:
    return list(_REGISTRY.values())


def get_provider(name: str) -> Provider:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(_REGISTRY)}") from None


def leaf(x: torch.Tensor) -> torch.Tensor:
    """A fresh leaf copy that requires grad (built outside any timed region)."""
    return x.detach().clone().requires_grad_(True)


def leaf_bnhd(x: torch.Tensor) -> torch.Tensor:
    """[b, h, n, d] → contiguous [b, n, h, d] leaf (the layout FlashAttention, xformers and fla take)."""
    return x.detach().transpose(1, 2).contiguous().requires_grad_(True)


def cuda_only() -> tuple[bool, str]:
    if not torch.cuda.is_available():
        return False, "needs a CUDA GPU (none visible)"
    return True, ""


def our_triton_availability() -> tuple[bool, str]:
    """Availability of our Triton kernels (la2, la1): a CUDA GPU, or the CPU interpreter with TRITON_INTERPRET=1."""
    import importlib.util
    import os

    if importlib.util.find_spec("triton") is None:
        return False, "triton is not installed"
    if torch.cuda.is_available():
        return True, ""
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        return True, "no CUDA: runs under the Triton CPU interpreter (correctness only, not a speed)"
    return False, "no CUDA GPU and TRITON_INTERPRET is not 1"


def check_our_triton_case(case: Case, inputs: Inputs, max_dim: int) -> None:
    """Raise :class:`Unsupported` for a case our Triton kernels cannot run (head dims, bf16 under the interpreter)."""
    from ..kernels._validate import MIN_HEAD_DIM

    for name, dim in (("head_dim", case.head_dim), ("value_dim", case.value_dim)):
        if not MIN_HEAD_DIM <= dim <= max_dim:
            raise Unsupported(f"{name}={dim} outside the supported range {MIN_HEAD_DIM}..{max_dim}")
    if case.dtype == "bf16" and not inputs.q.is_cuda:
        raise Unsupported("bf16 under the Triton CPU interpreter: its bf16 dots return wrong values "
                          "(triton 3.9, torch 2.13); use fp32 or fp16 on the CPU, bf16 on a GPU")


def cuda_library_availability(module: str, install_hint: str, what: str, probe) -> tuple[bool, str]:
    """Availability of an optional GPU library: installed (``module`` importable), a CUDA GPU, and ``probe()``
    (the import the adapter needs) succeeding; otherwise the reason."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return False, f"{install_hint} is not installed (pip install 'lightning-bench[{what}]')"
    ok, why = cuda_only()
    if not ok:
        return False, f"{module}'s Triton kernels {why}"
    try:
        probe()
    except Exception as ex:
        return False, f"{module} import failed: {type(ex).__name__}: {ex}"
    return True, ""
