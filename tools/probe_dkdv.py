"""The fused dk, dv kernel (gluon_fwd._la2_bwd_gluon_dkdv_kernel, perf-notes v22) against the two anti-causal
passes it replaces: GPU time of the backward as the package runs it ("default"), with dq + the fused kernel
("fused", side-by-side passes off), the fused kernel alone ("dkdv_alone"), the dk and dv passes one after another
("dk_dv_passes") and the dq pass alone; plus the fused gradients' rel-L2 against the default backward's.
GPU time as the sweep takes it (host-decoupled CUDA events, L2 flushed); head_dim = value_dim (128 unless the
case says), bf16, ALiBi.

    python tools/probe_dkdv.py --out DIR [--cases "2x16:2048,8192;4x32:2048;8x16x64:8192"]   (BxH[xD]:seq_lens)
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


def rel(x, ref):
    return float((x.double() - ref.double()).norm() / ref.double().norm())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cases", default="2x16:2048,8192;4x16:2048,8192;4x32:2048,8192,32768;8x32:2048,8192")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--split", type=int, default=0,
                    help="also time dq (wg2 lookback) and dk, dv (fused, lookback) split into this many segments, at "
                         "once on two streams (gluon_fwd._backward_split), and each alone")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=20, max_samples=60, max_time_s=0.3, host_decoupled=True)
    rows, checks = [], []
    for case in a.cases.split(";"):
        bh, ns = case.split(":")
        b, h, d = (int(x) for x in (bh + "x128").split("x")[:3])
        sl = decay_slopes(h).cuda()
        for n in (int(x) for x in ns.split(",")):
            q, k, v, do = (torch.randn(b, h, n, d, device="cuda").mul(0.5).to(torch.bfloat16) for _ in range(4))
            plans = G.backward_plans(q, k, v, do, sl, "bhnd")
            if plans is None:
                print(f"b{b} h{h} d{d} n={n}: no Gluon backward plans (the Triton backward runs)", flush=True)
                continue
            pq, pk, pv = plans
            dq, dk, dv = (torch.empty_like(t) for t in (q, k, v))

            def run(fuse, concurrent=None):
                G.BWD_FUSE_DKDV, G.BWD_CONCURRENT = fuse, concurrent
                try:
                    return G.backward(q, k, v, do, sl, "bhnd", plans)
                finally:
                    G.BWD_FUSE_DKDV = G.BWD_CONCURRENT = None

            ref = run(False)
            got = run(True, False)
            checks.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, **{f"rel_{x}": rel(g, r) for x, g, r in zip("qkv", got, ref)},
                               dv_bitwise=bool(torch.equal(got[2], ref[2])),
                               finite=bool(all(torch.isfinite(t).all() for t in got))))
            print(f"check b{b} h{h} d{d} n={n}: " + str(checks[-1]), flush=True)
            P = a.split
            if P:
                sq, sk, sv = (torch.full_like(t, float("nan")) for t in (q, k, v))
                G._backward_split(q, k, v, do, sl, "bhnd", sq, sk, sv, P)
                checks.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, split=P,
                                   **{f"rel_{x}": rel(g, r) for x, g, r in zip("qkv", (sq, sk, sv), ref)},
                                   finite=bool(all(torch.isfinite(t).all() for t in (sq, sk, sv)))))
                print(f"check split {P} b{b} h{h} d{d} n={n}: " + str(checks[-1]), flush=True)
                pqs = G.Plan.make(n, 64, 3, P, wg2=True, lookback=True)
                pqe = G.Plan.make(n, 64, 3, 1, True, vg_ahead=G.vg_ahead_wins(d, 64, False), tile_major=True)
                pqe = G.dataclasses.replace(pqe, tile_major=G._tile_major(pqe, b * h, d))
            variants = {
                "default": lambda: run(False),
                "fused": lambda: run(True, False),
                "dkdv_alone": lambda: G._backward_dkdv(q, k, v, do, sl, "bhnd", dk, dv),
                "dk_dv_passes": lambda: (G.forward(v, do, q, sl, "bhnd", pk, dk, reverse=True),
                                         G.forward(k, q, do, sl, "bhnd", pv, dv, reverse=True)),
                "dq_alone": lambda: G.forward(do, v, k, sl, "bhnd", pq, dq),
            }
            if P:
                variants.update({
                    f"split{P}": lambda: G._backward_split(q, k, v, do, sl, "bhnd", dq, dk, dv, P),
                    f"dkdv{P}_alone": lambda: G._backward_dkdv(q, k, v, do, sl, "bhnd", dk, dv, P),
                    f"dq{P}_alone": lambda: G.forward(do, v, k, sl, "bhnd", pqs, dq),
                    f"split{P}_dq_e64": lambda: G._backward_split(q, k, v, do, sl, "bhnd", dq, dk, dv, P, pqe),
                    "dq_e64_alone": lambda: G.forward(do, v, k, sl, "bhnd", pqe, dq),
                })
            for r in range(a.rounds):
                for label, fn in (variants.items() if r % 2 == 0 else list(variants.items())[::-1]):
                    m = measure(fn, device=q.device, config=cfg)
                    rows.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, label=label, round=r, median_ms=m.median_ms,
                                     host_ms=m.extra.get("host_ms"), plans=" | ".join(p.describe() for p in plans)))
            df = pd.DataFrame([x for x in rows if x["seq_len"] == n and x["batch"] == b and x["heads"] == h
                               and x["head_dim"] == d])
            med = df.groupby("label")["median_ms"].median()
            print(f"b{b} h{h} d{d} n={n:>6} us: " + "  ".join(f"{lb} {med.loc[lb] * 1e3:.1f}" for lb in variants)
                  + f"  fused/default {med.loc['default'] / med.loc['fused']:.3f}x"
                  + f"  dkdv/passes {med.loc['dk_dv_passes'] / med.loc['dkdv_alone']:.3f}x"
                  + (f"  split/default {med.loc['default'] / med.loc[f'split{P}']:.3f}x"
                     f"  split_dq_e64/default {med.loc['default'] / med.loc[f'split{P}_dq_e64']:.3f}x" if P else ""),
                  flush=True)
            del q, k, v, do, dq, dk, dv, ref, got
            torch.cuda.empty_cache()
    pd.DataFrame(rows).to_csv(a.out / "probe_dkdv.csv", index=False)
    pd.DataFrame(checks).to_csv(a.out / "probe_dkdv_checks.csv", index=False)


if __name__ == "__main__":
    main()
