"""Where the host time of one la2 call goes (cProfile over many enqueued calls, no synchronization inside): the
forward alone and fwd + bwd through autograd, at a short shape where the call is host-bound.

    python tools/host_profile.py --out DIR [--shape 2,16,2048] [--calls 300]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", default="2,16,2048")
    ap.add_argument("--calls", type=int, default=300)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    b, h, n = (int(x) for x in a.shape.split(","))
    q, k, v, do = (torch.randn(b, h, n, 128, device="cuda").to(torch.bfloat16) for _ in range(4))
    sl = decay_slopes(h).cuda()
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    cases = {"fwd": lambda: lightning_attn(q, k, v, sl),
             "fwd_bwd": lambda: torch.autograd.grad(lightning_attn(qg, kg, vg, sl), (qg, kg, vg), do)}
    for name, fn in cases.items():
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(a.calls):
            fn()
        host = (time.perf_counter() - t0) / a.calls * 1e3
        torch.cuda.synchronize()
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(a.calls):
            fn()
        pr.disable()
        torch.cuda.synchronize()
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(30)
        (a.out / f"{name}.txt").write_text(f"host ms per call (no profiler): {host:.4f}\n" + s.getvalue())
        print(f"== {name}: host {host:.4f} ms per call (b{b} h{h} n{n})")
        print("\n".join(s.getvalue().splitlines()[:45]))


if __name__ == "__main__":
    main()
