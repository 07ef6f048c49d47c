"""Tuned launch parameters for the Lightning Attention-2 kernels, per GPU model, dtype and tile dims (issue #4).

A table maps ``"<gpu>|<dtype>|d<BLOCK_D>|e<BLOCK_E>"`` (gpu: ``torch.cuda.get_device_name`` lower-cased, runs of
other characters as ``-``, e.g. ``nvidia-h200``; BLOCK_D/E: the head/value dims rounded up to a power of two) to
launch fields (``block_n``, ``fwd_be``, ``fwd_warps``, ``fwd_stages``, ``bwd_bd``, ``bwd_be``, ``bwd_warps``,
``bwd_stages``, ``split_programs``, ``split_min_blocks``; see ``kernel._Config``). seq_len is never part of a key,
so nothing is recompiled per length.

Where the table comes from, in order (later ones override earlier ones, entry by entry):
1. ``tuned.json`` beside this file: the choices measured by ``tools/tune_la2.py`` on the project's GPUs and
   committed with their evidence (``results/h200/tune/``);
2. the file named by ``LIGHTNING_BENCH_LA2_TUNE``, e.g. one written by ``tools/tune_la2.py --write`` on your GPU.

GPUs without an entry use the built-in defaults. ``describe()`` in every benchmark row records the choice made.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import torch

TUNE_ENV = "LIGHTNING_BENCH_LA2_TUNE"
PACKAGED = Path(__file__).with_name("tuned.json")
DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


def gpu_slug(name: str) -> str:
    """``"NVIDIA H200"`` → ``"nvidia-h200"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@functools.lru_cache(maxsize=None)
def _device_slug(index: int) -> str:
    return gpu_slug(torch.cuda.get_device_name(index))


def device_slug(device: torch.device) -> str | None:
    """The GPU slug of a CUDA device; None for the CPU (interpreter)."""
    if device.type != "cuda":
        return None
    return _device_slug(device.index if device.index is not None else torch.cuda.current_device())


def key(gpu: str, dtype: torch.dtype, bd: int, be: int) -> str:
    return f"{gpu}|{DTYPE_NAMES.get(dtype, str(dtype))}|d{bd}|e{be}"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as ex:
        raise ValueError(f"{TUNE_ENV}: cannot read tuned launch parameters from {path}: {ex}") from None
    entries = data.get("entries", data)
    if not isinstance(entries, dict):
        raise ValueError(f"{TUNE_ENV}: {path} must hold a JSON object of entries")
    return entries


@functools.lru_cache(maxsize=8)
def _table(env_path: str | None) -> dict:
    table = dict(_read(PACKAGED)) if PACKAGED.exists() else {}
    if env_path:
        table.update(_read(Path(env_path)))
    return table


@functools.lru_cache(maxsize=256)
def _lookup(gpu: str, dtype: torch.dtype, bd: int, be: int, env_path: str | None) -> tuple:
    entry = _table(env_path).get(key(gpu, dtype, bd, be), {})
    return tuple((k, v) for k, v in entry.items() if not k.startswith("_"))


def lookup(device: torch.device, dtype: torch.dtype, bd: int, be: int) -> dict:
    """The tuned fields for this GPU/dtype/tile dims, or {} (built-in defaults). Cached per process (the packaged
    table is read once; a changed ``LIGHTNING_BENCH_LA2_TUNE`` path is read when first seen).

    Raises:
        ValueError: the table named by ``LIGHTNING_BENCH_LA2_TUNE`` cannot be read or is not a JSON object.
    """
    gpu = device_slug(device)
    if gpu is None:
        return {}
    return dict(_lookup(gpu, dtype, bd, be, os.environ.get(TUNE_ENV) or None))
