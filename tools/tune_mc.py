"""The experimental 4-CTA cluster forward (``gluon_mc``: Q, K by TMA multicast, Triton ≥ 3.9) against the package
plan: correctness vs the Triton forward (NaN-poisoned o), then GPU time as the sweep takes it (host-decoupled CUDA
events, L2 flushed), M tokens/s. Needs a Triton with Gluon's cluster API on the GPU (tools/t39_device.sh).

    python tools/tune_mc.py --out DIR
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
from lightning_bench.kernels.lightning_attn2 import gluon_mc as M  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402

SHAPES = {(2, 16): (1024, 2048, 4096, 8192, 32768, 131072), (4, 32): (512, 2048, 8192), (1, 16): (2048, 8192)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--stages", default="3,4")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if M.IMPORT_ERROR is not None:
        raise SystemExit(f"no Gluon cluster API: {M.IMPORT_ERROR}")
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.15, host_decoupled=True)
    rows = []
    for (b, h), ns in SHAPES.items():
        sl = decay_slopes(h).cuda()
        for n in ns:
            q, k, v = (torch.randn(b, h, n, 128, device="cuda").mul(0.5).to(torch.bfloat16) for _ in range(3))
            with G.disabled():
                ref = lightning_attn(q, k, v, sl).double()
            cands = [("cur", None)] + [(f"mc-s{s}", int(s)) for s in a.stages.split(",")]
            line = [f"b{b} h{h} n={n:>6}:"]
            for label, stages in cands:
                o = torch.full_like(v, float("nan"))
                if stages is None:
                    fn = lambda: lightning_attn(q, k, v, sl)  # noqa: E731
                    plan = G.describe(b, h, n, 128, 128, q.dtype, q.device)
                    o = fn()
                else:
                    fn = lambda: M.forward(q, k, v, sl, "bhnd", o, stages=stages)  # noqa: E731
                    plan = f"gluon sm_90a fwd cluster4 multicast s{stages}"
                try:
                    if stages is not None:
                        fn()
                    torch.cuda.synchronize()
                    err = ((o.double() - ref).norm() / ref.norm()).item()
                    if not err <= 2e-2:
                        raise RuntimeError(f"rel-L2 vs Triton {err:.2e}")
                    t = measure(fn, device=q.device, config=cfg).median_ms
                    tps, status = b * n / t / 1e3, "ok"
                except Exception as exc:  # noqa: BLE001
                    t, tps, err, status = float("nan"), float("nan"), float("nan"), f"{type(exc).__name__}: {exc}"[:200]
                rows.append(dict(batch=b, heads=h, seq_len=n, label=label, plan=plan, median_ms=t, mtok_s=tps,
                                 rel_l2_vs_triton=err, status=status))
                line.append(f"{label} {tps:6.1f}" + ("" if status == "ok" else f" ({status[:60]})"))
            print("  ".join(line), flush=True)
    pd.DataFrame(rows).to_csv(a.out / "tune_mc.csv", index=False)


if __name__ == "__main__":
    main()
