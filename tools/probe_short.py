"""Where the forward's fixed cost goes at short seq_len (b2 h16 d128, bf16, decay): per n, the sweep's event time
(host-decoupled, cold L2), the CUPTI kernel duration (torch.profiler), and an empty-ish kernel's event time as floor.

    python tools/probe_short.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402


def cupti_us(fn, reps=20):
    from torch.profiler import ProfilerActivity, profile
    fn(); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    ev = [e for e in p.events() if e.device_type.name == "CUDA"]
    tot = {}
    for e in ev:
        tot.setdefault(e.name, []).append(e.time_range.elapsed_us())
    return {k[:40]: (len(v) / reps, sum(v) / reps) for k, v in tot.items()}


def main():
    cfg = TimingConfig(warmup_s=0.05, min_samples=20, max_samples=60, max_time_s=0.3, host_decoupled=True)
    sl = decay_slopes(16).cuda()
    small = torch.zeros(1024, device="cuda")
    t = measure(lambda: small.add_(1), device=small.device, config=cfg).median_ms
    print(f"floor: event time of a 1024-element add_ {t * 1e3:.2f} us")
    for n in (64, 256, 1024, 2048, 4096, 16384, 131072):
        q, k, v = (torch.randn(2, 16, n, 128, device="cuda").to(torch.bfloat16) for _ in range(3))
        o = torch.empty_like(v)
        for ws in (True, False):
            p = G.plan(q, k, v, sl, "bhnd")
            if not ws:
                p = G.Plan(p.block_e, p.stages, p.nseg, p.seg, ws=False)
            f = lambda: G.forward(q, k, v, sl, "bhnd", p, o)
            te = measure(f, device=q.device, config=cfg).median_ms * 1e3
            c = cupti_us(f)
            ks = "; ".join(f"{k} x{c_:.0f} {us:.2f}us" for k, (c_, us) in c.items())
            print(f"n={n:>6} ws={ws:d} [{p.describe()}] event {te:8.2f} us  {2 * n / te:7.1f} M tok/s | cupti {ks}",
                  flush=True)


if __name__ == "__main__":
    main()
