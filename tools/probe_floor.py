"""The forward's byte floor per shape, timed exactly as the sweep times a row: ``torch.addcmul(q, k, v)`` reads q, k,
v and writes o (the same tensors, the same bytes as causal linear attention's forward, no attention), under the
sweep's timer (host-decoupled CUDA events, L2 flushed before each sample). Its tokens/s at each seq_len is an upper
bound for any forward of that shape under this timer, and its ratio short / long bounds the "flat" criterion of
issue #4 (tokens/s at 2K within 10% of 128K). Also prints la2's forward beside it.

    python tools/probe_floor.py --out DIR
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402

SHAPES = {(2, 16, 128): (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072),
          (4, 32, 128): (512, 1024, 2048, 4096, 8192, 16384, 32768)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.2, host_decoupled=True)
    rows = []
    for (b, h, d), ns in SHAPES.items():
        sl = decay_slopes(h).cuda()
        for n in ns:
            q, k, v = (torch.randn(b, h, n, d, device="cuda").mul(0.5).to(torch.bfloat16) for _ in range(3))
            o = torch.empty_like(v)
            t_floor = measure(lambda: torch.addcmul(q, k, v, out=o), device=q.device, config=cfg).median_ms
            t_la2 = measure(lambda: lightning_attn(q, k, v, sl), device=q.device, config=cfg).median_ms
            nbytes = 4 * q.numel() * q.element_size()
            rows.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, floor_ms=t_floor, la2_ms=t_la2,
                             floor_mtok_s=b * n / t_floor / 1e3, la2_mtok_s=b * n / t_la2 / 1e3,
                             floor_tb_s=nbytes / t_floor / 1e9, la2_of_floor=t_floor / t_la2))
            r = rows[-1]
            print(f"b{b} h{h} d{d} n={n:>6}: floor {r['floor_mtok_s']:7.1f} M tok/s ({r['floor_tb_s']:.2f} TB/s)  "
                  f"la2 {r['la2_mtok_s']:7.1f}  la2/floor {r['la2_of_floor']:.2f}", flush=True)
            del q, k, v, o
    df = pd.DataFrame(rows)
    df.to_csv(a.out / "floor.csv", index=False)
    for (b, h, d), g in df.groupby(["batch", "heads", "head_dim"]):
        g = g.set_index("seq_len")
        ref = 2048 if 2048 in g.index else g.index.min()
        print(f"b{b} h{h} d{d}: floor flatness {ref}/{g.index.max()} = "
              f"{g.floor_mtok_s[ref] / g.floor_mtok_s.max():.2f} (of its fastest row), "
              f"{g.floor_mtok_s[ref] / g.floor_mtok_s[g.index.max()]:.2f} (of the longest)")


if __name__ == "__main__":
    main()
