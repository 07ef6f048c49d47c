"""la2 under torch.compile against eager, and the compiled backward's output form (perf-notes v29 lead 2, v30).

torch.compile reaches the kernels through the ``lightning_bench`` custom ops (``kernel.FWD_OP`` / ``BWD_OP``). Since
v30 the backward op returns one flat gradient buffer, so the one-launch backward writes dq, dk, dv stacked
(``gluon_fwd.x3_one_out``) under compile as in eager; v29's fix gave the op three separate buffers, i.e. the one
body's run-time output descriptors — the same kernel form as ``BWD_X3_ONE_OUT = False``, which this tool uses to
time the v29 form on the current code. Per case, A B B A over the forms

    eager · compiled · compiled with BWD_X3_ONE_OUT=False (v29's compiled form) · the same · compiled · eager

(fwd_bwd: ``torch.autograd.grad`` of the call; fwd: the call), GPU time as the sweep takes it (host-decoupled CUDA
events, L2 flushed), M tokens/s, and the host's time to enqueue one call (``host_ms``: the warm-up calls' median,
unsynchronised; where it exceeds the GPU time, a call not captured in a CUDA graph runs at the host's speed).
Before timing, the compiled call's o and gradients must equal eager's bitwise (same kernels) in both output forms; a
case that differs is reported and not timed.

    python tools/compiled_vs_eager.py --out DIR [--seq-lens 1024,2048,8192,32768] [--repeat 1]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402

FORMS = ("eager", "compiled", "compiled_sep")  # compiled_sep: compiled with BWD_X3_ONE_OUT = False (v29's form)


def _call(form: str, fns: dict, q, k, v, do, mode: str):
    """One call of ``form`` (``fns``: the eager and the compiled function): the attention (fwd) or its three input
    gradients (fwd_bwd)."""
    G.BWD_X3_ONE_OUT = None if form != "compiled_sep" else False
    o = fns["eager" if form == "eager" else "compiled"](q, k, v)
    return (o,) if mode == "fwd" else torch.autograd.grad(o, (q, k, v), do)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seq-lens", default="1024,2048,8192,32768")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--layouts", default="bhnd", help="comma-separated: bhnd, bnhd")
    ap.add_argument("--modes", default="fwd_bwd,fwd")
    ap.add_argument("--repeat", type=int, default=1, help="A B B A rounds per row")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("compiled_vs_eager.py times CUDA kernels: no CUDA device here")
    a.out.mkdir(parents=True, exist_ok=True)
    keep = G.BWD_X3_ONE_OUT
    b, h, d = a.batch, a.heads, a.head_dim
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.15, host_decoupled=True)
    rows = []
    sl = decay_slopes(h).cuda()
    for layout in a.layouts.split(","):
        for n in map(int, a.seq_lens.split(",")):
            torch._dynamo.reset()
            eager = lambda q, k, v, layout=layout: lightning_attn(q, k, v, sl, layout=layout)  # noqa: E731
            fns = {"eager": eager, "compiled": torch.compile(eager, fullgraph=True)}
            shape = (b, h, n, d) if layout == "bhnd" else (b, n, h, d)
            gen = torch.Generator(device="cuda").manual_seed(n + b * h)
            q, k, v, do = (torch.randn(shape, device="cuda", generator=gen).mul(0.5).to(torch.bfloat16)
                           for _ in range(4))
            for mode in a.modes.split(","):
                qg, kg, vg = (t.clone().requires_grad_(mode == "fwd_bwd") for t in (q, k, v))
                want = _call("eager", fns, qg, kg, vg, do, mode)
                same = {f: all(torch.equal(x, y) for x, y in zip(_call(f, fns, qg, kg, vg, do, mode), want))
                        for f in FORMS[1:]}
                if not all(same.values()):
                    print(f"  FAIL n={n} {layout} {mode}: compiled not bitwise equal to eager: {same}", flush=True)
                    continue
                res, host = {}, {}
                order = ("eager", "compiled", "compiled_sep", "compiled_sep", "compiled", "eager") * a.repeat
                for form in order:
                    m = measure(lambda: _call(form, fns, qg, kg, vg, do, mode), device=q.device, config=cfg)
                    t = m.median_ms
                    res.setdefault(form, []).append(t)
                    host.setdefault(form, []).append(m.extra["host_ms"])
                    rows.append(dict(batch=b, heads=h, head_dim=d, layout=layout, seq_len=n, mode=mode, form=form,
                                     median_ms=t, mtok_s=b * n / t / 1e3, host_ms=m.extra["host_ms"]))
                G.BWD_X3_ONE_OUT = keep
                ms = {f: sum(x) / len(x) for f, x in res.items()}
                tok = {f: b * n / t / 1e3 for f, t in ms.items()}
                print(f"b{b} h{h} d{d} {layout} n={n:>6} {mode:7s}: eager {tok['eager']:6.1f}  compiled "
                      f"{tok['compiled']:6.1f} ({ms['eager'] / ms['compiled']:5.3f}x eager)  v29 form "
                      f"{tok['compiled_sep']:6.1f} (compiled {ms['compiled_sep'] / ms['compiled']:5.3f}x it)  host µs "
                      f"eager {statistics.median(host['eager']) * 1e3:5.0f} compiled {statistics.median(host['compiled']) * 1e3:5.0f}",
                      flush=True)
    G.BWD_X3_ONE_OUT = keep
    pd.DataFrame(rows).to_csv(a.out / "compiled_vs_eager.csv", index=False)


if __name__ == "__main__":
    main()
