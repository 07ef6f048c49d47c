"""Why short forwards cost what they cost: the cold-L2 policy's dirty lines (diagnostic, not a timing policy).

The sweep zeroes a 2×L2 buffer before each sample (shared docs §7), so the L2 starts full of *dirty* lines that the
timed kernel's own traffic evicts and the DRAM writes back during the timed call. This probe times the same calls
with three flushes — (a) the sweep's (zero 2×L2), (b) zero 2×L2 then read another 2×L2 buffer (L2 full of clean lines:
no write-back), (c) none (warm) — for la2's forward and a plain device copy of the same bytes, so the share of the
write-back in a short call is measured rather than guessed. Timed as the sweep times (``timing.measure``,
host-decoupled CUDA events around the call alone); the flush variants run in ``pre``, outside the events.

    python tools/probe_l2_dirty.py --out DIR
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402
from lightning_bench.timing import TimingConfig, l2_flush_buffer, measure  # noqa: E402


def median_ms(fn, flush):
    if flush is None:  # the sweep's own policy: zero 2×L2 before each sample
        cfg = TimingConfig(warmup_s=0.03, min_samples=30, max_samples=60, max_time_s=0.1, host_decoupled=True)
        return measure(fn, device=torch.device("cuda"), config=cfg).median_ms
    cfg = TimingConfig(warmup_s=0.03, min_samples=30, max_samples=60, max_time_s=0.1, host_decoupled=True,
                       flush_l2=False)
    return measure(fn, pre=flush, device=torch.device("cuda"), config=cfg).median_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda")
    dirty = l2_flush_buffer(dev)
    clean = torch.ones_like(dirty)
    flushes = {"zero (sweep)": None,
               "zero+clean read": lambda: (dirty.zero_(), clean.sum(dtype=torch.int32)),
               "warm": lambda: None}
    rows = []
    for b, h, n in ((2, 16, 1024), (2, 16, 2048), (2, 16, 8192), (4, 32, 2048)):
        q, k, v = (torch.randn(b, h, n, 128, device=dev).to(torch.bfloat16) for _ in range(3))
        sl = decay_slopes(h).to(dev)
        src = torch.randn(3 * q.numel(), device=dev).to(torch.bfloat16)
        dst = torch.empty(q.numel(), dtype=torch.bfloat16, device=dev)
        mb = 4 * q.numel() * 2 / 2**20
        calls = {"la2 fwd": lambda: lightning_attn(q, k, v, sl),
                 "copy 3→1 (same bytes)": lambda: torch.sum(src.view(3, -1), 0, out=dst)}
        for name, fn in calls.items():
            fn()
            line = [f"b{b} h{h} n={n:>5} {name:<22} ({mb:5.1f} MiB)"]
            for fname, fl in flushes.items():
                t = median_ms(fn, fl)
                rows.append(dict(batch=b, heads=h, seq_len=n, call=name, flush=fname, median_ms=t, mib=mb,
                                 gb_s=mb * 2**20 / t / 1e6))
                line.append(f"{fname}: {t * 1e3:7.1f} µs")
            print("  ".join(line), flush=True)
    pd.DataFrame(rows).to_csv(a.out / "probe_l2_dirty.csv", index=False)


if __name__ == "__main__":
    main()
