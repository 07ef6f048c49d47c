"""Where the host time of one la2 call goes (cProfile over many enqueued calls, no synchronization inside): the
forward alone and fwd + bwd through autograd, at a short shape where the call is host-bound; also the backward's
launches called directly (no autograd) and autograd's own cost around a one-element autograd.Function.

    python tools/host_profile.py --out DIR [--shape 2,16,2048] [--calls 300] [--cases fwd,fwd_bwd,...]
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


class Scale(torch.autograd.Function):
    """A one-element autograd.Function with one tiny kernel each way: autograd's own per-call cost."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def setup(b: int, h: int, n: int):
    """Inputs at [b, h, n, 128] bf16 on CUDA and the cases every host-time tool times (name → call)."""
    from lightning_bench.kernels.lightning_attn2 import kernel as K

    q, k, v, do = (torch.randn(b, h, n, 128, device="cuda").to(torch.bfloat16) for _ in range(4))
    sl = decay_slopes(h).cuda()
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    x1 = torch.zeros(1, device="cuda", requires_grad=True)
    cases = {"fwd": lambda: lightning_attn(q, k, v, sl),
             "fwd_bwd": lambda: torch.autograd.grad(lightning_attn(qg, kg, vg, sl), (qg, kg, vg), do),
             "bwd_direct": lambda: K._bwd(q, k, v, do, sl, None, None, False, "bhnd", K.BLOCK_N, None, "ieee", "auto"),
             "autograd_scale": lambda: torch.autograd.grad(Scale.apply(x1), (x1,), x1)}
    return dict(q=q, k=k, v=v, do=do, sl=sl, qg=qg, kg=kg, vg=vg), cases


def host_ms(fn, calls: int) -> float:
    """Host ms per call of ``fn`` enqueued ``calls`` times back to back after 20 warm-up calls (no synchronization
    inside; at the shapes these tools use, the GPU never holds the host back)."""
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    ms = (time.perf_counter() - t0) / calls * 1e3
    torch.cuda.synchronize()
    return ms


def parse_host_args(ap: argparse.ArgumentParser, calls: int = 300, repeat: int | None = None):
    """The host-time tools' common options (``--out``, ``--shape b,h,n``, ``--calls``, and ``--repeat`` where
    ``repeat`` is given) added to ``ap`` and parsed: (args, batch, heads, seq_len), with ``--out`` created."""
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", default="2,16,2048")
    ap.add_argument("--calls", type=int, default=calls)
    if repeat is not None:
        ap.add_argument("--repeat", type=int, default=repeat)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    b, h, n = (int(x) for x in a.shape.split(","))
    return a, b, h, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="", help="comma-separated subset of fwd, fwd_bwd, bwd_direct (the backward's "
                    "launches without autograd), autograd_scale (autograd.grad of a one-element autograd.Function)")
    a, b, h, n = parse_host_args(ap)
    _, cases = setup(b, h, n)
    if a.cases:
        cases = {name: cases[name] for name in a.cases.split(",")}
    for name, fn in cases.items():
        host = host_ms(fn, a.calls)
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
