"""Host µs per call of each part of an eager la2 call, timed alone (no profiler: cProfile inflates small calls
several-fold): the argument checks, the launch plans, the TMA descriptors, the launches, and two floors (a trivial
Triton launch, a one-element torch op). Each part is called ``--calls`` times back to back (no synchronization
inside; the GPU never holds the host back at these shapes), median of ``--repeat`` rounds.

    python tools/host_parts.py --out DIR [--shape 2,16,2048] [--calls 500] [--repeat 5] [--ab]

``--ab``: every round times each part with ``_launch.FAST_HOST`` on, off, off, on (A B B A) and reports both and
their ratio (off ÷ on: how many times faster the host path is with it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch
import triton
import triton.language as tl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import _validate as V  # noqa: E402
from lightning_bench.kernels._common import grad_views  # noqa: E402
from lightning_bench.kernels import _launch as L  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import kernel as K  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host_profile import host_ms, parse_host_args, setup  # noqa: E402  (tools/ is this script's directory)


@triton.jit
def _nop(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def us_per_call(fn, calls: int) -> float:
    """Host µs per call of ``fn`` (:func:`host_profile.host_ms`)."""
    return host_ms(fn, calls) * 1e3


def parts(b: int, h: int, n: int) -> dict:
    """name → zero-argument call, in the order a fwd + bwd call runs them."""
    t, base = setup(b, h, n)
    q, k, v, do, sl = (t[x] for x in ("q", "k", "v", "do", "sl"))
    d = e = q.shape[-1]
    o = torch.empty_like(v)
    p = G.plan(q, k, v, sl, "bhnd")
    plans = G.backward_plans(q, k, v, do, sl, "bhnd")
    side = G.concurrent_plans(b * h, n, d, e, plans, G.sm_count(q.device))
    one = side is not None and G.one_launch(d, e, side)
    grads = torch.empty(3 * q.numel(), dtype=q.dtype, device=q.device)
    dq, dk, dv = grad_views(grads, q, k, v)
    x = torch.zeros(16, device="cuda")
    cfg = K._config(d, e, K.BLOCK_N, q, n, b * h)

    def validate():
        V.canonical_shapes(q, k, v, "bhnd", dim_range=(V.MIN_HEAD_DIM, V.MAX_HEAD_DIM))
        V.check_kernel_device(q)
        V.canonical_slopes(sl, h, q.device)
        K.canonical_cu_seqlens(None, b, n, q.device)
        K.canonical_state(None, b, h, d, e, q.device)

    out = {
        "torch_add_": lambda: x.add_(1),
        "triton_nop_launch": lambda: _nop[(1,)](x, 16, BLOCK=16),
        "fwd.validate": validate,
        "fwd.config": lambda: K._config(d, e, K.BLOCK_N, q, n, b * h),
        "fwd.empty_o": lambda: K._empty(b, h, n, e, "bhnd", q),
        "fwd.plan": lambda: G.plan(q, k, v, sl, "bhnd"),
        "fwd.descs4": lambda: G._descs(q, k, v, o, "bhnd", p.block_e),
        "fwd.gluon_forward": lambda: G.forward(q, k, v, sl, "bhnd", p, o),
        "fwd._fwd": lambda: K._fwd(q, k, v, sl, None, False, "bhnd", K.BLOCK_N, None, "ieee", "auto"),
        "fwd.total": base["fwd"],
        "bwd.gluon_bwd_plans": lambda: K._gluon_bwd_plans(q, k, v, do, sl, "bhnd", K.BLOCK_N, "auto", cfg, n),
        "bwd.backward_plans": lambda: G.backward_plans(q, k, v, do, sl, "bhnd"),
        "bwd.concurrent_plans": lambda: G.concurrent_plans(b * h, n, d, e, plans, G.sm_count(q.device)),
        "bwd.alloc_views": lambda: grad_views(torch.empty(3 * q.numel(), dtype=q.dtype, device=q.device), q, k, v),
        "bwd.gluon_backward": lambda: G.backward(q, k, v, do, sl, "bhnd", plans),
        "bwd._bwd": base["bwd_direct"],
        "fwd_bwd.autograd": base["fwd_bwd"],
    }
    out["fwd.gluon_forward_nolaunch"] = stubbed(G._la2_fwd_gluon_ws_kernel, out["fwd.gluon_forward"])
    out["fwd.total_nolaunch"] = stubbed(G._la2_fwd_gluon_ws_kernel, out["fwd.total"])
    out["bwd.gluon_backward_nolaunch"] = stubbed(G._la2_bwd_gluon_x3_kernel, out["bwd.gluon_backward"])
    out["bwd._bwd_nolaunch"] = stubbed(G._la2_bwd_gluon_x3_kernel, out["bwd._bwd"])
    if one:
        pk = side[0]
        out["bwd.descs8"] = lambda: ([G._desc(t_, "bhnd", d) for t_ in (do, v, k, q)]
                                     + [G._desc(t_, "bhnd", pk.block_e) for t_ in (k, q, do, grads.view(3, *q.shape))])
        out["bwd.one_launch"] = lambda: G._backward_one_launch(q, k, v, do, sl, "bhnd", pk, dq, dk, dv,
                                                               grads.view(3, *q.shape))
    return out


def stubbed(fn, call):
    """``call`` with JIT function ``fn``'s launches replaced by a no-op (the Python around a launch)."""
    def run():
        fn.run = lambda *args, grid, warmup, **kwargs: None
        try:
            return call()
        finally:
            del fn.run
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ab", action="store_true", help="A B B A over _launch.FAST_HOST on / off")
    a, b, h, n = parse_host_args(ap, calls=500, repeat=5)
    cases = parts(b, h, n)
    order = (True, False, False, True) if a.ab else (L.FAST_HOST,)
    rows = []
    for r in range(a.repeat):
        for name, fn in cases.items():
            for fast in order:
                L.FAST_HOST = fast
                rows.append(dict(part=name, round=r, fast_host=fast, host_us=us_per_call(fn, a.calls), batch=b,
                                 heads=h, seq_len=n))
    L.FAST_HOST = True
    df = pd.DataFrame(rows)
    df.to_csv(a.out / "host_parts.csv", index=False)
    med = df.groupby(["part", "fast_host"], sort=False).host_us.agg(["median", "min", "max"])
    print(f"host µs per call, median [min, max] of {a.repeat} rounds of {a.calls} (b{b} h{h} n{n}):")
    for (name, fast), row in med.iterrows():
        ratio = ""
        if a.ab and fast:
            ratio = f"  off/on {med.loc[(name, False), 'median'] / row['median']:.2f}"
        print(f"  {name:28s} {'on ' if fast else 'off'} {row['median']:8.1f}  "
              f"[{row['min']:.1f}, {row['max']:.1f}]{ratio}")


if __name__ == "__main__":
    main()
