"""fwd + bwd through autograd at short lengths: the Gluon backward's three passes side by side
(``gluon_fwd.concurrent_plans``, also at ≤ ``kernel.GLUON_BWD_MIN_FUSED`` tokens: that bound at 0) as one launch
("one_launch", ``gluon_fwd.one_launch``) and as three launches on side streams ("three_launches",
``BWD_ONE_LAUNCH = False``), against the package's rule without them ("no_side_by_side", ``BWD_CONCURRENT = False``:
the fused Triton backward at ≤ 1024 tokens, else the Gluon passes as the forward's launch rule splits them). First run
at commit 4eb57f0 with the two labels "rule" (= three_launches) and "no_side_by_side"
(results/h200/tune/2026-12-01b/d18). Gradients against float64 first, then GPU time (host-decoupled CUDA events, L2
flushed), alternating rounds; host_ms is the enqueue time per call.

    python tools/tune_short_bwd.py --out DIR [--cases "2x16:512,1024;1x16:1024"] [--rounds 2]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_reference  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import kernel as K  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402


def rel(x, y):
    return ((x.double() - y.double()).norm() / y.double().norm()).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cases", default="2x16:256,512,1024,2048;1x16:512,1024,2048;1x32:1024;4x8:1024")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.2, host_decoupled=True)
    rows = []
    for c in a.cases.split(";"):
        bh, ns = c.split(":")
        b, h = (int(x) for x in bh.split("x"))
        sl = decay_slopes(h).cuda()
        for n in (int(x) for x in ns.split(",")):
            g = torch.Generator().manual_seed(n + b)
            q, k, v, do = (torch.randn(b, h, n, 128, generator=g).cuda().to(torch.bfloat16) for _ in range(4))
            qd, kd, vd = (t.double().requires_grad_() for t in (q, k, v))
            ref = torch.autograd.grad(lightning_attn_reference(qd, kd, vd, sl), (qd, kd, vd), do.double())
            qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
            fn = lambda: torch.autograd.grad(lightning_attn(qg, kg, vg, sl), (qg, kg, vg), do)  # noqa: E731
            keep = K.GLUON_BWD_MIN_FUSED
            # label: (BWD_CONCURRENT, BWD_ONE_LAUNCH, GLUON_BWD_MIN_FUSED)
            variants = {"one_launch": (None, None, 0), "three_launches": (None, False, 0),
                        "no_side_by_side": (False, None, keep)}

            def setk(conc, one, fused):
                G.BWD_CONCURRENT, G.BWD_ONE_LAUNCH, K.GLUON_BWD_MIN_FUSED = conc, one, fused

            errs = {}
            for label, knobs in variants.items():
                setk(*knobs)
                try:
                    desc = K.describe_backward(b, h, n, 128, 128, torch.bfloat16, "cuda")
                    errs[label] = (max(rel(x, y) for x, y in zip(fn(), ref)), desc)
                finally:
                    setk(None, None, keep)
            for r in range(a.rounds):
                for label in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
                    setk(*variants[label])
                    try:
                        m = measure(fn, device=q.device, config=cfg)
                    finally:
                        setk(None, None, keep)
                    rows.append(dict(batch=b, heads=h, seq_len=n, label=label, round=r, median_ms=m.median_ms,
                                     mtok_s=b * n / m.median_ms / 1e3, host_ms=m.extra.get("host_ms"),
                                     rel_l2_vs_fp64=errs[label][0], backward=errs[label][1]))
            df = pd.DataFrame([x for x in rows if (x["batch"], x["heads"], x["seq_len"]) == (b, h, n)])
            med = df.groupby("label")[["median_ms", "host_ms", "rel_l2_vs_fp64"]].median()
            print(f"b{b} h{h} n={n:>5} fwd_bwd ms (host ms, rel-L2): " + "  ".join(
                f"{lb} {med.loc[lb, 'median_ms']:.4f} ({med.loc[lb, 'host_ms']:.3f}, {med.loc[lb, 'rel_l2_vs_fp64']:.1e})"
                for lb in variants) + f"  | {errs['one_launch'][1][:90]}", flush=True)
    pd.DataFrame(rows).to_csv(a.out / "tune_short_bwd.csv", index=False)


if __name__ == "__main__":
    main()
