"""Kernel launches without Triton's per-launch argument binding (perf-notes v31): the host path of every Gluon
launch and of the Triton kernels' main launches (``lightning_attn2.kernel``, ``lightning_attn2.gluon_fwd``).

``FAST_HOST`` (``LIGHTNING_BENCH_FAST_HOST=0`` turns it off) also governs ``gluon_fwd``'s TMA descriptors copied
from validated templates (``gluon_fwd._tdesc``); off, every descriptor is constructed and every launch goes through
``JITFunction.run`` (ablation: tools/host_parts.py --ab).
"""

from __future__ import annotations

import os

import torch

try:  # Triton ≥ 3.4; without it every launch goes through fn[grid]
    from triton import knobs
except ImportError:  # pragma: no cover - depends on the installed triton
    knobs = None

FAST_HOST_ENV = "LIGHTNING_BENCH_FAST_HOST"
FAST_HOST = os.environ.get(FAST_HOST_ENV, "1") != "0"

_LAUNCHES: dict[tuple, tuple] = {}
NO_KEY = object()


def arg_key(a):
    """What Triton specializes a launch argument on, or more (so that equal keys select the same compiled kernel):
    a descriptor's dtype and block (its ``lb_key``, set by ``gluon_fwd._tdesc``), a tensor's dtype and 16-byte
    alignment, a scalar's type and value; ``NO_KEY`` for anything else."""
    t = type(a)
    if t is int or t is bool or t is float or a is None:
        return t, a
    if isinstance(a, torch.Tensor):
        return a.dtype, a.data_ptr() % 16 == 0
    return getattr(a, "lb_key", NO_KEY)


def launch(fn, grid, *args, _fast: bool = True, **kwargs) -> None:
    """``fn[grid](*args, **kwargs)`` for a Gluon or Triton kernel, without Triton's per-launch argument binding
    where it can (:data:`FAST_HOST`): the compiled kernel ``JITFunction.run`` returned for the first launch with this
    key (the kernel; device; each argument's :func:`arg_key`; the keyword arguments, which are constexprs and
    options; Triton's debug knobs) is launched directly (``CompiledKernel[grid](*bound arguments)``, the same
    launcher). Binding and specializing the arguments cost 25 µs (forward, 4 descriptors) and 49 µs (one-launch
    backward, 12) of host time per launch on the H200's host (tools/launch_parts.py). Falls back to ``fn[grid]`` for
    arguments it cannot key (descriptors without ``lb_key``, tensor keywords: the stamp probe's buffer, unhashable
    values), for a function that is not a ``JITFunction`` (the interpreter's, an autotuner, a test's spy), with
    pre-run hooks, or where a global the kernel reads has changed (Triton then raises). ``_fast=False``:
    ``fn[grid]`` (launches with a per-launch argument, the lookback's epoch, would never hit)."""
    if not (FAST_HOST and _fast) or knobs is None:
        fn[grid](*args, **kwargs)
        return
    akey = tuple(map(arg_key, args))
    if (NO_KEY in akey or getattr(fn, "device_caches", None) is None  # not a JITFunction
            or fn.pre_run_hooks or any(isinstance(x, torch.Tensor) for x in kwargs.values())):
        fn[grid](*args, **kwargs)
        return
    key = (fn, torch.cuda.current_device(), akey, tuple(kwargs.items()), knobs.runtime.debug,
           knobs.compilation.instrumentation_mode)
    try:
        hit = _LAUNCHES.get(key)
    except TypeError:  # an unhashable keyword value
        fn[grid](*args, **kwargs)
        return
    if hit is not None and all(g.get(name, NO_KEY) == val
                               for (name, _), (val, g) in fn.used_global_vals.items()):
        kernel, tail = hit
        kernel[tuple(grid) + (1,) * (3 - len(grid))](*args, *tail)  # CompiledKernel's runner reads three dims
        return
    kernel = fn[grid](*args, **kwargs)
    if not hasattr(kernel, "launch_metadata"):  # not a CompiledKernel (an asynchronous compile's future): no cache
        return
    # the bound arguments after the positional ones, in the kernel's parameter order (keyword or default)
    tail = tuple(kwargs[p.name] if p.name in kwargs else p.default for p in fn.params[len(args):])
    if len(_LAUNCHES) >= 1024:
        _LAUNCHES.clear()
    _LAUNCHES[key] = (kernel, tail)
