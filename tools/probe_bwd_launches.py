"""How much a single launch of the backward's three passes could save (docs/perf-notes.md v21): GPU time of the
three unsplit passes side by side as three launches on side streams ("side_by_side") and as one launch
("one_launch", gluon_fwd.one_launch; "one_launch_pass_inner" with a head's passes adjacent in the grid,
``BWD_PASS_INNER``), one after another on one stream, and each pass alone (one launch: the lower
bound of any one-grid form, which runs the same programs at once), plus the forward.
GPU time as the sweep takes it (host-decoupled CUDA events, L2 flushed); host_ms the enqueue time.

    python tools/probe_bwd_launches.py --out DIR [--cases "2x16:1024,2048,4096;1x16:2048"]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cases", default="2x16:1024,2048,4096,8192;1x16:2048,8192")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=20, max_samples=60, max_time_s=0.3, host_decoupled=True)
    rows = []
    for case in a.cases.split(";"):
        bh, ns = case.split(":")
        b, h = (int(x) for x in bh.split("x"))
        sl = decay_slopes(h).cuda()
        for n in (int(x) for x in ns.split(",")):
            q, k, v, do = (torch.randn(b, h, n, 128, device="cuda").mul(0.5).to(torch.bfloat16) for _ in range(4))
            G.BWD_CONCURRENT = True
            plans = G.backward_plans(q, k, v, do, sl, "bhnd")
            side = G.concurrent_plans(b * h, n, 128, 128, plans, G.sm_count(q.device))
            G.BWD_CONCURRENT = None
            pq, pk, pv = side
            dq, dk, dv = (torch.empty_like(t) for t in (q, k, v))
            fplan = G.plan(q, k, v, sl, "bhnd")
            o = torch.empty_like(v)

            def serial():
                G.forward(do, v, k, sl, "bhnd", pq, dq)
                G.forward(v, do, q, sl, "bhnd", pk, dk, reverse=True)
                G.forward(k, q, do, sl, "bhnd", pv, dv, reverse=True)

            def side_by_side(one, inner=False):
                G.BWD_CONCURRENT, G.BWD_ONE_LAUNCH, G.BWD_PASS_INNER = True, one, inner
                try:
                    G.backward(q, k, v, do, sl, "bhnd", plans)
                finally:
                    G.BWD_CONCURRENT = G.BWD_ONE_LAUNCH = None
                    G.BWD_PASS_INNER = False

            variants = {
                "side_by_side": lambda: side_by_side(False),
                "one_launch": lambda: side_by_side(None),
                "one_launch_pass_inner": lambda: side_by_side(None, True),
                "serial": serial,
                "dq_alone": lambda: G.forward(do, v, k, sl, "bhnd", pq, dq),
                "dk_alone": lambda: G.forward(v, do, q, sl, "bhnd", pk, dk, reverse=True),
                "fwd": lambda: G.forward(q, k, v, sl, "bhnd", fplan, o),
            }
            for r in range(a.rounds):
                for label, fn in (variants.items() if r % 2 == 0 else list(variants.items())[::-1]):
                    m = measure(fn, device=q.device, config=cfg)
                    rows.append(dict(batch=b, heads=h, seq_len=n, label=label, round=r, median_ms=m.median_ms,
                                     host_ms=m.extra.get("host_ms"),
                                     plans=" | ".join(p.describe() for p in side) if label != "fwd" else fplan.describe()))
            df = pd.DataFrame([x for x in rows if x["seq_len"] == n and x["batch"] == b])
            med = df.groupby("label")[["median_ms", "host_ms"]].median()
            print(f"b{b} h{h} n={n:>6} ms (host ms): " + "  ".join(
                f"{lb} {med.loc[lb, 'median_ms'] * 1e3:.1f}us ({med.loc[lb, 'host_ms']:.3f})" for lb in variants),
                flush=True)
            del q, k, v, do, dq, dk, dv, o
            torch.cuda.empty_cache()
    pd.DataFrame(rows).to_csv(a.out / "probe_bwd_launches.csv", index=False)


if __name__ == "__main__":
    main()
