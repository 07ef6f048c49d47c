"""Host µs per launch of each step of Triton's launch path (``JITFunction.run``, Triton 3.6) for the Gluon kernels
the eager la2 call launches, timed alone on arguments captured from a real call: argument binding and
specialization (the binder), the cache key, the launch metadata, the launcher (TMA descriptor encoding +
``cuLaunchKernelEx``), the descriptor encoding alone and the C launch alone. A probe of Triton's internals: it
names their Triton 3.6 attributes and reports a part it cannot reach as missing.

    python tools/launch_parts.py --out DIR [--shape 2,16,2048] [--calls 500] [--repeat 5]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import _launch as L  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host_parts import us_per_call  # noqa: E402
from host_profile import parse_host_args, setup  # noqa: E402


def capture(fn, call):
    """(grid, args, kwargs) of the first launch of JIT function ``fn`` that ``call()`` makes."""
    got = []
    orig = fn.run

    def run(*args, grid, warmup, **kwargs):
        if not got:
            got.append((grid, args, dict(kwargs)))
        return orig(*args, grid=grid, warmup=warmup, **kwargs)

    fn.run = run
    try:
        call()
    finally:
        del fn.run  # back to the class's method
    torch.cuda.synchronize()
    return got[0]


def steps(fn, grid, args, kwargs) -> dict:
    """name → zero-argument call for each step of ``fn[grid](*args, **kwargs)``."""
    from triton import knobs
    from triton.backends.nvidia import driver as nvd
    from triton.runtime.driver import driver
    from triton.runtime.jit import compute_cache_key

    out = {"full": lambda: fn[grid](*args, **kwargs)}
    kw = dict(kwargs, debug=kwargs.get("debug", fn.debug) or knobs.runtime.debug,
              instrumentation_mode=knobs.compilation.instrumentation_mode)
    device = driver.active.get_current_device()
    stream = driver.active.get_current_stream(device)
    out["device_stream"] = lambda: driver.active.get_current_stream(driver.active.get_current_device())
    kernel_cache, key_cache, _, _, binder = fn.device_caches[device]
    bound, spec, options = binder(*args, **kw)
    out["binder"] = lambda: binder(*args, **kw)
    key = compute_cache_key(key_cache, spec, options)
    out["cache_key"] = lambda: compute_cache_key(key_cache, spec, options)
    kernel = kernel_cache[key]
    vals = list(bound.values())
    out["launch_metadata"] = lambda: kernel.launch_metadata(grid, stream, *vals)
    md = kernel.launch_metadata(grid, stream, *vals)
    g = tuple(grid) + (1,) * (3 - len(grid))
    out["kernel_run"] = lambda: kernel.run(*g, stream, kernel.function, kernel.packed_metadata, md,
                                           knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook, *vals)
    meta = getattr(kernel.metadata, "tensordesc_meta", None) or []
    sig = list(kernel.src.signature.values())
    desc_idx = [i for i, s in enumerate(sig) if isinstance(s, str) and s.startswith("tensordesc")]
    descs = [vals[i] for i in desc_idx]
    if meta and len(meta) == len(descs):
        out["encode_descs"] = lambda: [nvd.make_tensordesc_arg(a, m) for a, m in zip(descs, meta)]
    out["n_descs"] = len(descs)
    return out


def main():
    a, b, h, n = parse_host_args(argparse.ArgumentParser(), calls=500, repeat=5)
    L.FAST_HOST = False  # Triton's own launch path is what this times (and capture() needs JITFunction.run)
    t, base = setup(b, h, n)
    q, k, v, do, sl = (t[x] for x in ("q", "k", "v", "do", "sl"))
    p = G.plan(q, k, v, sl, "bhnd")
    o = torch.empty_like(v)
    plans = G.backward_plans(q, k, v, do, sl, "bhnd")
    kernels = {"fwd_ws": (G._la2_fwd_gluon_ws_kernel, lambda: G.forward(q, k, v, sl, "bhnd", p, o)),
               "bwd_x3": (G._la2_bwd_gluon_x3_kernel, lambda: G.backward(q, k, v, do, sl, "bhnd", plans))}
    rows = []
    for kname, (fn, call) in kernels.items():
        grid, args, kwargs = capture(fn, call)
        parts = steps(fn, grid, args, kwargs)
        print(f"{kname}: {len(args)} positional args, {len(kwargs)} keywords, {parts.pop('n_descs')} descriptors")
        for r in range(a.repeat):
            for name, f in parts.items():
                rows.append(dict(kernel=kname, step=name, round=r, host_us=us_per_call(f, a.calls)))
    df = pd.DataFrame(rows)
    df.to_csv(a.out / "launch_parts.csv", index=False)
    med = df.groupby(["kernel", "step"], sort=False).host_us.agg(["median", "min", "max"])
    print(f"host µs per launch step, median [min, max] of {a.repeat} rounds of {a.calls} (b{b} h{h} n{n}):")
    for (kname, name), row in med.iterrows():
        print(f"  {kname:7s} {name:16s} {row['median']:8.1f}  [{row['min']:.1f}, {row['max']:.1f}]")


if __name__ == "__main__":
    main()
