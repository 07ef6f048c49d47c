"""The interleaved lookback (``Plan.ilv``, docs/perf-notes.md v19) against the package plan at few batch·heads and
long sequences, where the ordinary lookback split reads each segment's K, V twice from DRAM.

Correctness vs the Triton forward (NaN-poisoned o, rel-L2 ≤ 2e-2), then GPU time as the sweep takes it
(host-decoupled CUDA events, L2 flushed), M tokens/s, alternating rounds (A B … B A) so drift cancels.

    python tools/tune_ilv.py --out DIR [--rounds 2] [--quick]
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

# (batch, heads): (seq_lens, [(programs per head, chunk blocks, ring depth)])
# (batch, heads): (seq_lens, [(programs per head, chunk blocks, ahead, diag)]); diag > 0 is a timing diagnostic
# (gluon_fwd.ILV_DIAG: 1 no await, 2 no publish / combine, 3 no aggregates at all, 4 tags only, 5 no reads,
# 6 publish only: wrong o, not checked)
CASES = {
    (2, 16): ((131072,), [(4, 4, False, 0), (4, 4, False, 2), (4, 4, False, 4), (4, 4, False, 5), (4, 4, False, 6),
                          (4, 8, False, 0), (4, 8, False, 2), (4, 8, False, 4), (4, 8, False, 5), (4, 8, False, 6)]),
}
QUICK = {(2, 16): ((32768, 131072), [(4, 8, True, 0), (4, 16, True, 0)])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.2, host_decoupled=True)
    rows = []
    for (b, h), (ns, cands) in (QUICK if a.quick else CASES).items():
        sl = decay_slopes(h).cuda()
        for n in ns:
            q, k, v = (torch.randn(b, h, n, 128, device="cuda").mul(0.5).to(torch.bfloat16) for _ in range(3))
            with G.disabled():
                ref = lightning_attn(q, k, v, sl).double()
            plans = [("cur", G.plan(q, k, v, sl, "bhnd"), False)]
            for P, ch, ahead, nowait in cands:
                plans.append((f"P{P}c{ch}" + ("a" if ahead else "") + (f"-diag{nowait}" if nowait else ""),
                              G.Plan.make(n, 64, 3, P, wg2=True, lookback=True, ilv=ch, ilv_ahead=ahead), nowait))
            ok = {}
            for label, p, nowait in plans:
                o = torch.full_like(v, float("nan"))
                try:
                    G.ILV_DIAG = nowait
                    G.forward(q, k, v, sl, "bhnd", p, o)
                    torch.cuda.synchronize()
                    err = ((o.double() - ref).norm() / ref.norm()).item()
                    if not err <= 2e-2 and not nowait:
                        raise RuntimeError(f"rel-L2 vs Triton {err:.2e}")
                    ok[label] = (p, err, nowait)
                except Exception as exc:  # noqa: BLE001
                    G.ILV_DIAG = 0
                    rows.append(dict(batch=b, heads=h, seq_len=n, label=label, plan=p.describe(), round=-1,
                                     median_ms=float("nan"), mtok_s=float("nan"), rel_l2=float("nan"),
                                     status=f"{type(exc).__name__}: {exc}"[:300]))
                    print(f"b{b} h{h} n={n} {label}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            order = list(ok)
            for r in range(a.rounds):
                for label in (order if r % 2 == 0 else order[::-1]):
                    p, err, nowait = ok[label]
                    G.ILV_DIAG = nowait
                    o = torch.empty_like(v)
                    t = measure(lambda: G.forward(q, k, v, sl, "bhnd", p, o), device=q.device, config=cfg).median_ms
                    rows.append(dict(batch=b, heads=h, seq_len=n, label=label, plan=p.describe(), round=r,
                                     median_ms=t, mtok_s=b * n / t / 1e3, rel_l2=err, status="ok"))
                    G.ILV_DIAG = 0
            df = pd.DataFrame([x for x in rows if x["seq_len"] == n and x["batch"] == b and x["status"] == "ok"])
            if len(df):
                med = df.groupby("label")["mtok_s"].median()
                print(f"b{b} h{h} n={n:>6}: " + "  ".join(f"{lb} {med[lb]:6.1f}" for lb in order if lb in med),
                      flush=True)
            del q, k, v, ref
            torch.cuda.empty_cache()
    pd.DataFrame(rows).to_csv(a.out / "tune_ilv.csv", index=False)


if __name__ == "__main__":
    main()
