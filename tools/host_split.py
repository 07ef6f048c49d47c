"""Where the eager fwd + bwd call's host time goes, by subtraction (no profiler): each variant enqueued ``--calls``
times back to back (no synchronization inside; the GPU is never the bottleneck at these shapes), host ms per call.

- ``fwd``: the forward on inputs without grad; ``fwd_grad``: the same on inputs that require grad (autograd's
  Function.apply and saved tensors, no backward);
- ``fwd_bwd``: ``torch.autograd.grad`` of the call (what the sweep's fwd_bwd rows time);
- ``fwd_bwd_1thread``: the same under ``torch.autograd.set_multithreading_enabled(False)`` (the backward runs on the
  calling thread instead of autograd's CUDA device thread);
- ``fwd_bwd_nolaunch``: the same with the backward's launches replaced by three ``torch.empty_like`` (autograd and
  the Function's own cost);
- ``fwd_bwd_nolaunch_1thread``: both;
- ``like_la2`` / ``like_la2_1thread``: an autograd.Function of la2's arity (11 inputs, 2 outputs, 6 saved tensors)
  and no kernels, multithreaded or not;
- ``bwd_direct``: the backward's launches called directly on this thread (``kernel._bwd``);
- ``bwd_thread``: the same, handed to another Python thread and waited for (a thread handoff's cost);
- ``autograd_scale``: ``torch.autograd.grad`` of a one-element autograd.Function (the engine's floor).

    python tools/host_split.py --out DIR [--shape 2,16,2048] [--calls 300] [--repeat 3]
"""
from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import lightning_attn  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import kernel as K  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host_profile import host_ms, parse_host_args, setup  # noqa: E402  (tools/ is this script's directory)


class _Like(torch.autograd.Function):
    """The la2 Function's arity (11 inputs, 2 outputs, 6 saved tensors) with no kernels: autograd's per-call cost
    at that arity."""

    @staticmethod
    def forward(ctx, q, k, v, slopes, s0, layout, block_n, want_ht, cu, fp32_dot, seq_split):
        ctx.save_for_backward(q, k, v, slopes, s0, cu)
        return torch.empty_like(v), None

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, slopes, s0, cu = ctx.saved_tensors
        return (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v), None, None, None, None, None, None,
                None, None)


def main():
    a, b, h, n = parse_host_args(argparse.ArgumentParser(), repeat=3)
    t, base = setup(b, h, n)
    do, sl, qg, kg, vg = (t[x] for x in ("do", "sl", "qg", "kg", "vg"))
    jobs, done = queue.Queue(), queue.Queue()

    def worker():
        while (fn := jobs.get()) is not None:
            done.put(fn())

    th = threading.Thread(target=worker, daemon=True)
    th.start()

    bwd, grad = base["bwd_direct"], base["fwd_bwd"]

    def grad_1thread():
        with torch.autograd.set_multithreading_enabled(False):
            return grad()

    real_bwd = K._bwd

    def grad_nolaunch():
        K._bwd = lambda q, k, v, *rest, **kw: (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v), None)
        try:
            return grad()
        finally:
            K._bwd = real_bwd

    def grad_nolaunch_1thread():
        with torch.autograd.set_multithreading_enabled(False):
            return grad_nolaunch()

    def like(multi=True):
        with torch.autograd.set_multithreading_enabled(multi):
            o, _ = _Like.apply(qg, kg, vg, sl, None, "bhnd", 64, False, None, "ieee", 0)
            return torch.autograd.grad(o, (qg, kg, vg), do)

    def bwd_thread():
        jobs.put(bwd)
        return done.get()

    cases = {"fwd": base["fwd"], "fwd_grad": lambda: lightning_attn(qg, kg, vg, sl),
             "fwd_bwd": grad, "fwd_bwd_1thread": grad_1thread, "fwd_bwd_nolaunch": grad_nolaunch,
             "fwd_bwd_nolaunch_1thread": grad_nolaunch_1thread, "like_la2": like,
             "like_la2_1thread": lambda: like(False), "bwd_direct": bwd, "bwd_thread": bwd_thread,
             "autograd_scale": base["autograd_scale"]}
    rows = []
    for r in range(a.repeat):
        for name, fn in cases.items():
            ms = host_ms(fn, a.calls)
            rows.append(dict(case=name, round=r, host_ms=ms, batch=b, heads=h, seq_len=n))
    jobs.put(None)
    df = pd.DataFrame(rows)
    df.to_csv(a.out / "host_split.csv", index=False)
    med = df.groupby("case", sort=False).host_ms.agg(statistics.median)
    print(f"host ms per call, median of {a.repeat} rounds of {a.calls} (b{b} h{h} n{n}):")
    for name, ms in med.items():
        print(f"  {name:26s} {ms:7.4f}")


if __name__ == "__main__":
    main()
