"""The launch table's short entry (fused backward, one segment, for seq_len ≤ ``short.max_seq_len``) against the
long entry (split sweeps) at a given batch × heads, for the backward and fwd_bwd (perf-notes v10 lead 1: at the paper
shape b4 h32 the backward runs 21–22 M tokens/s up to 8K with the short entry and 26.5 from 16K with the long one).

Each configuration's gradients are checked against the table's on the same inputs (rel-L2 ≤ 1e-2), then timed as
the sweep does (host-decoupled CUDA events, L2 flushed), M tokens/s:

    python tools/tune_bwd_short.py --out DIR [--shape 4,32,128] [--seq-len 1024,2048,4096,8192,16384]

``table`` = the package's choice (short entry up to its bound); ``long`` = the tuned long entry at every length
(``kernel.launch_config`` with the long entry's own values: any override disables the short entry).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import kernel as K  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", default="4,32,128", help="batch,heads,head_dim")
    ap.add_argument("--seq-len", default="1024,2048,4096,8192,16384")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    b, h, d = (int(x) for x in a.shape.split(","))
    cfg_t = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=40, max_time_s=0.2, host_decoupled=True)
    sl = decay_slopes(h).cuda()
    probe = torch.empty(1, device="cuda", dtype=torch.bfloat16)
    long_cfg = K._config(d, d, K.BLOCK_N, probe)  # the tuned entry; .at(n) applies the short one
    long_fields = {f: getattr(long_cfg, f) for f in K.TUNABLE}
    print("long entry:", long_cfg.describe(), flush=True)
    rows = []
    for n in (int(x) for x in a.seq_len.split(",")):
        g = torch.Generator(device="cuda").manual_seed(n)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", generator=g).mul(0.5).to(torch.bfloat16).requires_grad_()
                   for _ in range(3))
        do = torch.randn(b, h, n, d, device="cuda", generator=g).to(torch.bfloat16)
        ref = None
        line = [f"b{b} h{h} d{d} n={n:>6}:"]
        for label in ("table", "long"):
            ctx = K.launch_config(**long_fields) if label == "long" else contextlib.nullcontext()
            with ctx:
                desc = K._config(d, d, K.BLOCK_N, q, n, b * h).describe()
                o = lightning_attn(q, k, v, sl)
                grads = torch.autograd.grad(o, (q, k, v), do)
                if ref is None:
                    ref, err = grads, 0.0
                else:
                    err = max(rel(x, y) for x, y in zip(grads, ref))
                status = "ok" if err <= 1e-2 else f"grads differ from the table's: rel-L2 {err:.2e}"
                res = {}
                if status == "ok":
                    def fwd_bwd():
                        torch.autograd.grad(lightning_attn(q, k, v, sl), (q, k, v), do)
                    o_keep = lightning_attn(q, k, v, sl)

                    def bwd():
                        torch.autograd.grad(o_keep, (q, k, v), do, retain_graph=True)
                    for mode, fn in (("bwd", bwd), ("fwd_bwd", fwd_bwd)):
                        t = measure(fn, device=q.device, config=cfg_t).median_ms
                        res[mode] = (t, b * n / t / 1e3)
            for mode in ("bwd", "fwd_bwd"):
                t, tps = res.get(mode, (float("nan"), float("nan")))
                rows.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, config=label, launch=desc, mode=mode,
                                 median_ms=t, mtok_s=tps, max_rel_l2_vs_table=err, status=status))
            line.append(f"{label}: bwd {res.get('bwd', (0, float('nan')))[1]:6.1f} fwd_bwd "
                        f"{res.get('fwd_bwd', (0, float('nan')))[1]:6.1f}" + ("" if status == "ok" else f" ({status})"))
        print("  ".join(line), flush=True)
    pd.DataFrame(rows).to_csv(a.out / "tune_bwd_short.csv", index=False)


if __name__ == "__main__":
    main()
