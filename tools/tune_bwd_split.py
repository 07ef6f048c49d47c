"""The backward's three passes at few batch·heads and long sequences: split (the forward's launch rule: a wg2
lookback split per pass, the passes on side streams) against fewer or no splits with the passes running side by side
(docs/perf-notes.md v19). A split pass reads K, V of the earlier segments once more (DRAM); three concurrent unsplit
passes fill 3·batch·heads SMs without it.

Gradients against the package plan's (rel-L2 ≤ 1e-2), then GPU time (host-decoupled CUDA events, L2 flushed),
alternating rounds; M tokens/s of the backward alone.

    python tools/tune_bwd_split.py --out DIR [--rounds 2] [--cases "2x16:8192,16384;1x16:16384,32768"]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402


def wg2(n, nseg):
    return G.Plan.make(n, 64, 3, nseg, wg2=True, lookback=True)


def e64(n, nseg):
    return dataclasses.replace(G.Plan.make(n, 64, 3, nseg, True, lookback=True), vg_ahead=True, tile_major=True)


# label: (plans for (dq, dk, dv) from n, streams)
VARIANTS = {
    "cur": None,
    "cur-streams": ("cur", True),
    "wg2P1x3": (lambda n: [wg2(n, 1)] * 3, True),
    "dqP2+P1x2": (lambda n: [wg2(n, 2), wg2(n, 1), wg2(n, 1)], True),
    "wg2P2x3": (lambda n: [wg2(n, 2)] * 3, True),
    "e64P1x3": (lambda n: [e64(n, 1)] * 3, True),
    "wg2P1x3-serial": (lambda n: [wg2(n, 1)] * 3, False),
}
CASES = {(2, 16): (32768, 65536, 131072), (1, 16): (65536, 131072), (4, 16): (131072,)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cases", default=None,
                    help='"BxH:N,N;BxH:N" (default: the 17th session\'s cases, batch·heads·seq_len ≥ 2^20)')
    a = ap.parse_args()
    cases = CASES if a.cases is None else {
        tuple(int(x) for x in bh.split("x")): tuple(int(n) for n in ns.split(","))
        for bh, ns in (c.split(":") for c in a.cases.split(";"))}
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=40, max_time_s=0.3, host_decoupled=True)
    rows = []
    for (b, h), ns in cases.items():
        sl = decay_slopes(h).cuda()
        for n in ns:
            q, k, v, do = (torch.randn(b, h, n, 128, device="cuda").mul(0.5).to(torch.bfloat16) for _ in range(4))
            cur = G.backward_plans(q, k, v, do, sl, "bhnd")
            ref = G.backward(q, k, v, do, sl, "bhnd", cur)
            ok = {}
            for label, spec in VARIANTS.items():
                plans, streams = (cur, None) if spec is None else (
                    cur if spec[0] == "cur" else spec[0](n), spec[1])
                try:
                    G.BWD_STREAMS = streams
                    G.BWD_CONCURRENT = None if label == "cur" else False  # the variant's own plans, not the rule's
                    got = G.backward(q, k, v, do, sl, "bhnd", plans)
                    torch.cuda.synchronize()
                    err = max(((x.double() - y.double()).norm() / y.double().norm()).item() for x, y in zip(got, ref))
                    if not err <= 1e-2:
                        raise RuntimeError(f"rel-L2 vs the package plan {err:.2e}")
                    ok[label] = (plans, streams, err)
                except Exception as exc:  # noqa: BLE001
                    rows.append(dict(batch=b, heads=h, seq_len=n, label=label, round=-1, median_ms=float("nan"),
                                     mtok_s=float("nan"), rel_l2=float("nan"),
                                     status=f"{type(exc).__name__}: {exc}"[:300]))
                    print(f"b{b} h{h} n={n} {label}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
                finally:
                    G.BWD_STREAMS = G.BWD_CONCURRENT = None
            order = list(ok)
            for r in range(a.rounds):
                for label in (order if r % 2 == 0 else order[::-1]):
                    plans, streams, err = ok[label]
                    G.BWD_STREAMS = streams
                    G.BWD_CONCURRENT = None if label == "cur" else False
                    m = measure(lambda: G.backward(q, k, v, do, sl, "bhnd", plans), device=q.device, config=cfg)
                    t = m.median_ms
                    G.BWD_STREAMS = G.BWD_CONCURRENT = None
                    rows.append(dict(batch=b, heads=h, seq_len=n, label=label,
                                     plans=" | ".join(p.describe() for p in plans), streams=streams, round=r,
                                     median_ms=t, mtok_s=b * n / t / 1e3, host_ms=m.extra.get("host_ms"),
                                     rel_l2=err, status="ok"))
            df = pd.DataFrame([x for x in rows if x["seq_len"] == n and x["batch"] == b and x["status"] == "ok"])
            if len(df):
                med = df.groupby("label")[["median_ms", "host_ms"]].median()
                print(f"b{b} h{h} n={n:>6} bwd ms (host ms): " + "  ".join(
                    f"{lb} {med.loc[lb, 'median_ms']:.3f} ({med.loc[lb, 'host_ms']:.3f})" for lb in order if lb in med.index),
                    flush=True)
            del q, k, v, do, ref
            torch.cuda.empty_cache()
    pd.DataFrame(rows).to_csv(a.out / "tune_bwd_split.csv", index=False)


if __name__ == "__main__":
    main()
