"""Launch configurations of the fused backward (``_la2_bwd_fused_kernel``: dQ, dK, dV sweeps in one launch, one
segment; the launch table's short entry) at one shape: gradients checked against the table's on the same inputs
(rel-L2 ≤ 1e-2), then the backward launches alone timed as the sweep does (host-decoupled CUDA events, L2 flushed),
M tokens/s. ``_bwd`` is called on this thread, so ``launch_config`` applies.

    python tools/tune_bwd_fused.py --out DIR [--shape 2,16,128] [--seq-len 2048,4096,8192] [--only LABEL]

``--only`` times the table and one candidate (run each candidate in its own process: a launch that faults leaves
the CUDA context unusable for the rest).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import kernel as K  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402
from tune_bwd_short import rel  # noqa: E402  (tools/ is on sys.path as the script's directory)

F = dict(bwd_fused=True, split_min_blocks=1024)
CANDS = [  # (label, overrides); "table" = the package's choice
    ("table", None),
    ("B64 d64 e32 w4 s3", dict(bwd_block_n=64, bwd_bd=64, bwd_be=32, bwd_warps=4, bwd_stages=3)),
    ("B64 d64 e32 w4 s1", dict(bwd_block_n=64, bwd_bd=64, bwd_be=32, bwd_warps=4, bwd_stages=1)),
    ("B64 d64 e16 w4 s2", dict(bwd_block_n=64, bwd_bd=64, bwd_be=16, bwd_warps=4, bwd_stages=2)),
    ("B64 d32 e32 w4 s2", dict(bwd_block_n=64, bwd_bd=32, bwd_be=32, bwd_warps=4, bwd_stages=2)),
    ("B64 d32 e16 w4 s2", dict(bwd_block_n=64, bwd_bd=32, bwd_be=16, bwd_warps=4, bwd_stages=2)),
    ("B64 d64 e32 w8 s2", dict(bwd_block_n=64, bwd_bd=64, bwd_be=32, bwd_warps=8, bwd_stages=2)),
    ("B64 d128 e32 w8 s2", dict(bwd_block_n=64, bwd_bd=128, bwd_be=32, bwd_warps=8, bwd_stages=2)),
    ("B32 d64 e32 w4 s2", dict(bwd_block_n=32, bwd_bd=64, bwd_be=32, bwd_warps=4, bwd_stages=2)),
    ("B32 d64 e32 w4 s3", dict(bwd_block_n=32, bwd_bd=64, bwd_be=32, bwd_warps=4, bwd_stages=3)),
    ("B32 d128 e32 w4 s2", dict(bwd_block_n=32, bwd_bd=128, bwd_be=32, bwd_warps=4, bwd_stages=2)),
    ("B32 d64 e16 w4 s2", dict(bwd_block_n=32, bwd_bd=64, bwd_be=16, bwd_warps=4, bwd_stages=2)),
    # one pipeline stage: an illegal memory access on the H200 (Triton 3.6) at 1K in the first run of this tool
    ("B64 d64 e64 w4 s1 unfused", dict(bwd_fused=False, bwd_block_n=64, bwd_bd=64, bwd_be=64, bwd_warps=4,
                                       bwd_stages=1)),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", default="2,16,128", help="batch,heads,head_dim")
    ap.add_argument("--seq-len", default="2048,4096,8192")
    ap.add_argument("--only", default=None, help="the label of one candidate (with the table)")
    ap.add_argument("--list", action="store_true", help="print the candidates' labels and exit")
    a = ap.parse_args()
    if a.list:
        print("\n".join(label for label, _ in CANDS[1:]))
        return
    a.out.mkdir(parents=True, exist_ok=True)
    b, h, d = (int(x) for x in a.shape.split(","))
    cfg_t = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=40, max_time_s=0.2, host_decoupled=True)
    sl = decay_slopes(h).cuda()
    rows = []
    for n in (int(x) for x in a.seq_len.split(",")):
        g = torch.Generator(device="cuda").manual_seed(n)
        q, k, v, do = (torch.randn(b, h, n, d, device="cuda", generator=g).mul(0.5).to(torch.bfloat16)
                       for _ in range(4))
        ref = None
        line = [f"b{b} h{h} d{d} n={n:>6}:"]
        for label, over in CANDS:
            if a.only is not None and label not in ("table", a.only):
                continue
            ctx = K.launch_config(**{**F, **over}) if over else K.launch_config()
            with ctx:
                desc = K._config(d, d, K.BLOCK_N, q, n, b * h).describe()

                def bwd():
                    return K._bwd(q, k, v, do, sl, None, None, False, "bhnd", K.BLOCK_N)
                try:
                    grads = bwd()[:3]
                    torch.cuda.synchronize()
                    if ref is None:
                        ref, err = grads, 0.0
                    else:
                        err = max(rel(x, y) for x, y in zip(grads, ref))
                    if not err <= 1e-2:
                        raise RuntimeError(f"grads differ from the table's: rel-L2 {err:.2e}")
                    t = measure(bwd, device=q.device, config=cfg_t).median_ms
                    tps, status = b * n / t / 1e3, "ok"
                except Exception as exc:  # noqa: BLE001
                    t, tps, err, status = float("nan"), float("nan"), float("nan"), f"{type(exc).__name__}: {exc}"[:200]
            rows.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, label=label, launch=desc, median_ms=t,
                             mtok_s=tps, max_rel_l2_vs_table=err, status=status))
            line.append(f"[{label}] {tps:5.1f}" + ("" if status == "ok" else f" ({status[:50]})"))
        print("  ".join(line), flush=True)
    name = "tune_bwd_fused.csv" if a.only is None else f"tune_bwd_fused-{a.only.replace(' ', '_')}.csv"
    pd.DataFrame(rows).to_csv(a.out / name, index=False)


if __name__ == "__main__":
    main()
