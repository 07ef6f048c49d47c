"""How much of a short forward's GPU time is the kernel: the sweep's timer (host-decoupled CUDA events, L2 flushed)
on a one-element add (the timer's floor) and on la2's forward at b2 h16 d128, against the kernel's own duration from
CUPTI (torch.profiler, mean of 30 calls with an L2 flush before each).

    python tools/probe_fixed_cost.py [--seq-len 1024,2048,4096]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402


def kernel_us(fn, flush, calls=30):
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            flush()
            fn()
        torch.cuda.synchronize()
    out = {}
    for e in prof.key_averages():
        if e.device_type.name == "CUDA" and "flush" not in e.key and e.count >= calls:
            out[e.key[:60]] = e.device_time_total / e.count if hasattr(e, "device_time_total") else e.cuda_time
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq-len", default="1024,2048,4096")
    a = ap.parse_args()
    cfg = TimingConfig(warmup_s=0.03, min_samples=20, max_samples=60, max_time_s=0.2, host_decoupled=True)
    x = torch.zeros(1, device="cuda")
    buf = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda")
    flush = lambda: buf.zero_()  # noqa: E731
    t = measure(lambda: x.add_(1), device=x.device, config=cfg).median_ms
    print(f"timer floor (1-element add): {t * 1e3:.1f} us", flush=True)
    sl = decay_slopes(16).cuda()
    for n in (int(v) for v in a.seq_len.split(",")):
        q, k, v = (torch.randn(2, 16, n, 128, device="cuda").to(torch.bfloat16) for _ in range(3))
        fn = lambda: lightning_attn(q, k, v, sl)  # noqa: E731
        t = measure(fn, device=q.device, config=cfg).median_ms
        try:
            ks = kernel_us(fn, flush)
        except Exception as exc:  # noqa: BLE001 - the timer line still matters
            ks = {f"profiler failed: {type(exc).__name__}: {exc}"[:120]: float("nan")}
        print(f"n={n}: timer {t * 1e3:.1f} us ({2 * n / t / 1e3:.1f} M tokens/s); kernels (CUPTI, us): "
              + ", ".join(f"{k} {v:.1f}" for k, v in ks.items()), flush=True)


if __name__ == "__main__":
    main()
