"""The Gluon forward (lightning_bench/kernels/lightning_attn2/gluon_fwd.py): compile facts, GPU correctness, tuning.

    python tools/gluon_la2_fwd.py compile              # CPU: compile for sm_90a, print smem/regs/spills/wgmma waits
    python tools/gluon_la2_fwd.py check --out DIR      # GPU: every eligible shape/layout vs float64 and Triton
    python tools/gluon_la2_fwd.py tune --out DIR       # GPU: (value tile, stages, segments) grid per shape, CSV

The tune grid's best rows are what ``gluon_fwd.choose`` encodes (results/h200/tune/).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402


def _inputs(b, h, n, d, e, layout, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    shape = (lambda x: (b, h, n, x)) if layout == "bhnd" else (lambda x: (b, n, h, x))
    q = (torch.randn(shape(d), device="cuda", generator=g) * 0.5).to(torch.bfloat16)
    k = (torch.randn(shape(d), device="cuda", generator=g) * 0.5).to(torch.bfloat16)
    v = (torch.randn(shape(e), device="cuda", generator=g) * 0.5).to(torch.bfloat16)
    return q, k, v


def gpu_check(out: Path) -> int:
    """Gluon forward vs the float64 reference (rel-L2 ≤ 1e-2, the bf16 row of the tolerance table) and vs the Triton
    forward, over layouts, dims, decay on/off, value tiles, stages, segments; NaN-poisoned outputs."""
    from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_reference

    out.mkdir(parents=True, exist_ok=True)
    lines, bad = [], 0
    cases = [(1, 4, 256, 128, 128, "bhnd", True, 32, 3, 1), (1, 4, 512, 128, 128, "bhnd", True, 64, 3, 3),
             (1, 4, 512, 128, 128, "bhnd", False, 32, 2, 1), (2, 3, 4096, 128, 128, "bhnd", True, 64, 3, 4),
             (2, 3, 1024, 128, 128, "bnhd", True, 32, 3, 1), (2, 3, 2048, 128, 128, "bnhd", True, 64, 2, 4),
             (2, 4, 1024, 64, 64, "bhnd", True, 32, 3, 1), (2, 4, 2048, 64, 64, "bnhd", True, 64, 3, 2),
             (1, 2, 1024, 128, 64, "bhnd", True, 32, 3, 2), (1, 2, 1024, 64, 128, "bnhd", False, 64, 2, 1),
             (1, 2, 1024, 128, 128, "bhnd", True, 16, 3, 1), (1, 2, 2048, 128, 128, "bhnd", True, 32, 4, 16),
             (1, 2, 64, 128, 128, "bhnd", True, 32, 3, 1), (1, 1, 8192, 128, 128, "bhnd", True, 64, 4, 8)]
    cases = [c + (ws, ) for ws in (True, False) for c in cases]
    for b, h, n, d, e, layout, decay, be, stages, nseg, ws in cases:
        q, k, v = _inputs(b, h, n, d, e, layout, seed=n + d + e)
        sl = (decay_slopes(h) * 4).cuda() if decay else None  # strong decay too (slope up to 2)
        o = torch.full_like(v, float("nan"))
        G.forward(q, k, v, sl, layout, G.Plan.make(n, be, stages, nseg, ws), o)
        if layout == "bnhd":
            ref = lightning_attn_reference(*(t.transpose(1, 2).double() for t in (q, k, v)), sl).transpose(1, 2)
        else:
            ref = lightning_attn_reference(q.double(), k.double(), v.double(), sl)
        err = ((o.double() - ref).norm() / ref.norm()).item()
        with G.disabled():
            o_tr = lightning_attn(q, k, v, sl, layout=layout)
        err_tr = ((o_tr.double() - ref).norm() / ref.norm()).item()
        ok = bool(torch.isfinite(o).all()) and err <= 1e-2 and err <= 2 * err_tr + 1e-4
        bad += not ok
        lines.append(f"check b{b} h{h} n{n} d{d} e{e} {layout} decay={decay} e{be} s{stages} P{nseg}{' ws' if ws else ''}: rel-L2 "
                     f"{err:.2e} (triton {err_tr:.2e}) {'PASS' if ok else 'FAIL'}")
        print(lines[-1], flush=True)
    # the dispatch: lightning_attn picks the Gluon forward for an eligible call and gives the same o
    q, k, v = _inputs(2, 16, 4096, 128, 128, "bhnd", seed=7)
    sl = decay_slopes(16).cuda()
    p = G.plan(q, k, v, sl, "bhnd")
    o = lightning_attn(q, k, v, sl)
    with G.disabled():
        o_tr = lightning_attn(q, k, v, sl)
    diff = ((o.float() - o_tr.float()).norm() / o_tr.float().norm()).item()
    lines.append(f"dispatch: plan {p.describe() if p else None}; lightning_attn vs triton-only rel-L2 {diff:.2e}")
    print(lines[-1], flush=True)
    bad += p is None or diff > 1e-2
    lines.append(f"{len(cases) + 1 - bad}/{len(cases) + 1} PASS")
    print(lines[-1], flush=True)
    (out / "gluon_check.txt").write_text("\n".join(lines) + "\n")
    return 1 if bad else 0


def tune(out: Path, quick: bool = False) -> None:
    """GPU time of every (value tile, stages, segments) at each (shape, seq_len), beside the Triton launch table."""
    from lightning_bench.kernels import decay_slopes, lightning_attn
    from lightning_bench.timing import TimingConfig, measure

    out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=40, max_time_s=0.15, host_decoupled=True)
    dev = torch.device("cuda")
    shapes = [(2, 16, 128, 128, [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]),
              (8, 16, 64, 64, [1024, 4096, 16384, 65536]),
              (1, 16, 128, 128, [8192, 65536, 131072])]
    tiles = [(32, 3, False), (32, 4, False), (64, 3, False), (32, 3, True), (32, 4, True), (64, 2, True),
             (64, 3, True), (64, 4, True), (16, 3, True)]
    rows = []
    f = open(out / "gluon_tune.csv", "w", newline="")
    w = csv.writer(f)
    w.writerow(["batch", "heads", "head_dim", "value_dim", "seq_len", "impl", "block_e", "stages", "nseg", "ms",
                "mtok_s"])
    for b, h, d, e, ns in shapes:
        sl = decay_slopes(h).cuda()
        for n in ns:
            q, k, v = _inputs(b, h, n, d, e, "bhnd")
            o = torch.empty_like(v)
            ms = measure(lambda: lightning_attn(q, k, v, sl), device=dev, config=cfg).median_ms
            with G.disabled():
                ms_tr = measure(lambda: lightning_attn(q, k, v, sl), device=dev, config=cfg).median_ms
            auto = G.plan(q, k, v, sl, "bhnd")
            for impl, t, desc in (("auto", ms, auto.describe() if auto else "-"), ("triton", ms_tr, "-")):
                w.writerow([b, h, d, e, n, impl, desc, "", "", f"{t:.5f}", f"{b * n / t / 1e3:.2f}"])
            best = None
            for be, stages, ws in tiles:
                if e % be:
                    continue
                for nseg in (1, 2, 4, 8, 16):
                    if n // G.BLOCK_N < 8 * nseg or (quick and nseg > 4):
                        continue
                    p = G.Plan.make(n, be, stages, nseg, ws)
                    try:
                        t = measure(lambda: G.forward(q, k, v, sl, "bhnd", p, o), device=dev, config=cfg).median_ms
                    except Exception as exc:  # out of shared memory etc.: a row, not a crash
                        print(f"b{b} h{h} d{d} n{n} e{be} s{stages} P{nseg}: FAILED {str(exc)[:120]}", flush=True)
                        continue
                    w.writerow([b, h, d, e, n, "gluon-ws" if ws else "gluon", be, stages, p.nseg, f"{t:.5f}",
                                f"{b * n / t / 1e3:.2f}"])
                    if best is None or t < best[0]:
                        best = (t, be, stages, p.nseg, ws)
            f.flush()
            line = (f"b{b} h{h} d{d} n{n:>6}: triton {b * n / ms_tr / 1e3:6.1f}  auto[{auto.describe() if auto else '-'}]"
                    f" {b * n / ms / 1e3:6.1f}  best e{best[1]} s{best[2]} P{best[3]}{' ws' if best[4] else ''}"
                    f" {b * n / best[0] / 1e3:6.1f}"
                    " M tokens/s")
            rows.append(line)
            print(line, flush=True)
    f.close()
    (out / "gluon_tune_best.txt").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["compile", "check", "tune"])
    ap.add_argument("--out", type=Path, default=Path("gluon-check"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.what == "compile":
        for be, stages, split, bnhd, d in ((32, 3, False, False, 128), (64, 3, True, False, 128),
                                           (32, 3, False, True, 128), (32, 3, False, False, 64)):
            print(f"e{be} s{stages} split={split} bnhd={bnhd} d{d}", G.compile_sm90(be, stages, split, bnhd, d),
                  flush=True)
    elif a.what == "check":
        sys.exit(gpu_check(a.out))
    else:
        tune(a.out, a.quick)
