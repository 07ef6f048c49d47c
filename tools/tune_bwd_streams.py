"""The Gluon backward's three passes in order on one stream against dk, dv on two side streams
(``gluon_fwd.BWD_STREAMS``), bwd and fwd_bwd, GPU time as the sweep takes it (host-decoupled CUDA events, L2 flushed),
A B B A, M tokens/s. Gradients must be bitwise equal (the same kernels on the same inputs).

    python tools/tune_bwd_streams.py --out DIR [--shapes "4,16,128,16384/65536;8,16,128,32768"]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402

CASES = [(2, 16, 128, (1024, 2048, 4096, 8192, 32768)), (4, 32, 128, (1024, 2048, 8192)), (1, 16, 128, (2048, 8192)),
         (8, 16, 64, (4096,))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shapes", default=None,
                    help="instead of the built-in cases: batch,heads,head_dim,seq_len[/seq_len…];… e.g. 4,16,128,16384/65536")
    ap.add_argument("--tile-major", action=argparse.BooleanOptionalAction, default=None,
                    help="force gluon_fwd.TILE_MAJOR on or off (a head's value tiles dispatched together; default: "
                         "the package's, on since v17)")
    a = ap.parse_args()
    if a.tile_major is not None:
        G.TILE_MAJOR = a.tile_major
    cases = CASES if a.shapes is None else [
        (*(int(x) for x in c.split(",")[:3]), tuple(int(n) for n in c.split(",")[3].split("/"))) for c in a.shapes.split(";")]
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.2, host_decoupled=True)
    rows = []
    keep = G.BWD_STREAMS
    for b, h, d, ns in cases:
        sl = decay_slopes(h).cuda()
        for n in ns:
            gen = torch.Generator(device="cuda").manual_seed(n + b * h)
            q, k, v = (torch.randn(b, h, n, d, device="cuda", generator=gen).mul(0.5).to(torch.bfloat16)
                       .requires_grad_() for _ in range(3))
            do = torch.randn(b, h, n, d, device="cuda", generator=gen).to(torch.bfloat16)
            o_keep = lightning_attn(q, k, v, sl)
            res, g0 = {}, None
            for streams in (False, True, True, False):
                G.BWD_STREAMS = streams
                grads = torch.autograd.grad(o_keep, (q, k, v), do, retain_graph=True)
                torch.cuda.synchronize()
                if g0 is None:
                    g0 = grads
                same = all(torch.equal(x, y) for x, y in zip(grads, g0))
                if not same:
                    print(f"  FAIL b{b} h{h} n={n} streams={streams}: gradients differ", flush=True)
                for mode in ("bwd", "fwd_bwd"):
                    if mode == "bwd":
                        fn = lambda: torch.autograd.grad(o_keep, (q, k, v), do, retain_graph=True)  # noqa: E731
                    else:
                        fn = lambda: torch.autograd.grad(lightning_attn(q, k, v, sl), (q, k, v), do)  # noqa: E731
                    m = measure(fn, device=q.device, config=cfg) if same else None
                    t = m.median_ms if m else float("nan")
                    res.setdefault((mode, streams), []).append(t)
                    rows.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, mode=mode, streams=streams,
                                     tile_major=G.TILE_MAJOR,
                                     median_ms=t, mtok_s=b * n / t / 1e3, bitwise_equal=same,
                                     host_ms=m.extra.get("host_ms", float("nan")) if m else float("nan")))
            G.BWD_STREAMS = keep
            line = [f"b{b} h{h} d{d} n={n:>6}:"]
            for mode in ("bwd", "fwd_bwd"):
                t1, t3 = (sum(res[(mode, s)]) / 2 for s in (False, True))
                line.append(f"{mode} 1-stream {b * n / t1 / 1e3:6.1f} 3-stream {b * n / t3 / 1e3:6.1f} ({t1 / t3:5.3f}x)")
            print("  ".join(line), flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(a.out / "tune_bwd_streams.csv", index=False)
    print(df.groupby(["mode", "streams"])["host_ms"].median().rename("median host ms per call").to_string())


if __name__ == "__main__":
    main()
