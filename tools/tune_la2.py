"""Launch-parameter search for the Lightning Attention-2 kernels on one GPU (issue #4).

Times the forward and the backward of ``lightning_attn`` over a grid of launch configurations (block rows, tiles,
warps, pipeline stages) × sequence splits, at the shapes given, with ``triton.testing.do_bench`` (L2 cleared before
every call, median). Compiles every variant first in parallel worker processes (the Triton cache is shared on disk),
so the timed phase does not wait on the compiler.

    python tools/tune_la2.py --out DIR [--shapes 2x16x8192x128,2x16x65536x128] [--quick]

Writes DIR/tune.csv (one row per shape × pass × config × split) and prints the best configuration per shape.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Candidates: the built-in default first, then the leaders of a 60-config × 7-split grid run at b2 h16 n8192 d128
# (results/h200/tune/grid-n8192/: that run shared its GPU host with compile workers, so only the ranking was used).
FWD_CANDS = [
    dict(block_n=64, fwd_be=64, fwd_warps=4, fwd_stages=2),
    dict(block_n=64, fwd_be=64, fwd_warps=4, fwd_stages=3),
    dict(block_n=64, fwd_be=64, fwd_warps=4, fwd_stages=1),
    dict(block_n=64, fwd_be=128, fwd_warps=8, fwd_stages=3),
    dict(block_n=64, fwd_be=128, fwd_warps=8, fwd_stages=2),
    dict(block_n=64, fwd_be=128, fwd_warps=4, fwd_stages=1),
    dict(block_n=128, fwd_be=128, fwd_warps=8, fwd_stages=2),
    dict(block_n=128, fwd_be=64, fwd_warps=8, fwd_stages=2),
    # 2026-11-30 (third session): deeper pipelines and one warpgroup per program (two programs per SM at P = 8)
    dict(block_n=64, fwd_be=128, fwd_warps=8, fwd_stages=4),
    dict(block_n=64, fwd_be=128, fwd_warps=4, fwd_stages=3),
    dict(block_n=128, fwd_be=128, fwd_warps=8, fwd_stages=3),
    dict(block_n=64, fwd_be=64, fwd_warps=8, fwd_stages=3),
    # short sequences (latency-bound, few blocks per program): more, narrower programs
    dict(block_n=64, fwd_be=32, fwd_warps=4, fwd_stages=3),
    dict(block_n=64, fwd_be=32, fwd_warps=4, fwd_stages=2),
    dict(block_n=64, fwd_be=16, fwd_warps=4, fwd_stages=3),
    dict(block_n=64, fwd_be=32, fwd_warps=4, fwd_stages=4),
]
BWD_CANDS = [
    dict(bwd_block_n=64, bwd_bd=64, bwd_be=64, bwd_warps=4, bwd_stages=2),
    dict(bwd_block_n=64, bwd_bd=64, bwd_be=64, bwd_warps=4, bwd_stages=3),
    dict(bwd_block_n=64, bwd_bd=128, bwd_be=128, bwd_warps=8, bwd_stages=3),
    dict(bwd_block_n=64, bwd_bd=128, bwd_be=128, bwd_warps=8, bwd_stages=2),
    dict(bwd_block_n=64, bwd_bd=32, bwd_be=32, bwd_warps=4, bwd_stages=3),
    dict(bwd_block_n=64, bwd_bd=64, bwd_be=64, bwd_warps=8, bwd_stages=3),
    dict(bwd_block_n=128, bwd_bd=64, bwd_be=64, bwd_warps=8, bwd_stages=2),
    dict(bwd_block_n=128, bwd_bd=32, bwd_be=32, bwd_warps=8, bwd_stages=3),
    # the three sweeps in one launch (_la2_bwd_fused_kernel)
    dict(bwd_block_n=64, bwd_bd=64, bwd_be=64, bwd_warps=4, bwd_stages=2, bwd_fused=True),
    dict(bwd_block_n=64, bwd_bd=64, bwd_be=64, bwd_warps=4, bwd_stages=3, bwd_fused=True),
    dict(bwd_block_n=64, bwd_bd=128, bwd_be=128, bwd_warps=8, bwd_stages=3, bwd_fused=True),
    dict(bwd_block_n=64, bwd_bd=32, bwd_be=32, bwd_warps=4, bwd_stages=3, bwd_fused=True),
    # (one stage fused is refused by the package: it faulted at bwd_be 32, results/h200/tune/2026-11-30h/d-bwd-fused)
    dict(bwd_block_n=64, bwd_bd=64, bwd_be=64, bwd_warps=8, bwd_stages=2, bwd_fused=True),
    dict(bwd_block_n=64, bwd_bd=32, bwd_be=64, bwd_warps=4, bwd_stages=2, bwd_fused=True),
    dict(bwd_block_n=64, bwd_bd=64, bwd_be=32, bwd_warps=4, bwd_stages=2, bwd_fused=True),
    dict(bwd_block_n=64, bwd_bd=32, bwd_be=32, bwd_warps=4, bwd_stages=2, bwd_fused=True),
]
SPLITS = (1, 2, 4, 8, 16, 32, 64)
POLICY_PROGRAMS = (64, 132, 264, 528, 1056, 2112, 4224)
POLICY_MIN_BLOCKS = (2, 4, 8, 16, 32)


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of the script under the interpreter


def _inputs(b, h, n, d, dtype=None, device=None, seed=0):
    from lightning_bench.kernels.slopes import decay_slopes

    device = device or DEVICE
    dtype = dtype or (torch.bfloat16 if device == "cuda" else torch.float32)
    g = torch.Generator(device=device).manual_seed(seed)
    q, k, v = (torch.randn(b, h, n, d, device=device, generator=g, dtype=torch.float32).to(dtype) * 0.5
               for _ in range(3))
    do = torch.randn(b, h, n, d, device=device, generator=g, dtype=torch.float32).to(dtype)
    return q, k, v, do, decay_slopes(h).to(device)


def _calls(q, k, v, do, sl, split):
    from lightning_bench.kernels.lightning_attn2 import kernel as k2

    def fwd():
        return k2._fwd(q, k, v, sl, None, False, "bhnd", 64, None, "ieee", split)

    def bwd():
        return k2._bwd(q, k, v, do, sl, None, None, False, "bhnd", 64, None, "ieee", split)

    return fwd, bwd


def _compile_worker(args):
    """Compile (by launching once at the tuning shape's batch/heads/dims, n = 8192) every variant of the given configs
    and splits, with the same integer specialisations as the timed calls; returns the failures."""
    device, items, (b, h, d), splits = args
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(device))
    from lightning_bench.kernels.lightning_attn2 import kernel as k2

    fails = []
    q, k, v, do, sl = _inputs(b, h, 8192 if DEVICE == "cuda" else 512, d)
    for kind, cfg in items:
        try:
            with k2.launch_config(**cfg):
                for split in splits:
                    f, bw = _calls(q, k, v, do, sl, split)
                    (f if kind == "fwd" else bw)()
            if DEVICE == "cuda":
                torch.cuda.synchronize()
        except Exception as ex:  # out of shared memory / registers: the config is skipped
            fails.append((kind, cfg, f"{type(ex).__name__}: {str(ex).splitlines()[0][:160]}"))
    return fails


def _bench(fn, timer="device"):
    """Median ms of ``fn``: ``device`` = the sweep's host-decoupled CUDA-event timing (GPU work alone, L2 flushed,
    lightning_bench.timing), ``do_bench`` = triton.testing.do_bench (host launch latency included where it exceeds
    the GPU work)."""
    if DEVICE == "cuda":
        if timer == "device":
            from lightning_bench.timing import TimingConfig, measure

            cfg = TimingConfig(warmup_s=0.02, min_samples=15, max_samples=40, max_time_s=0.15, host_decoupled=True)
            return measure(fn, device=torch.device("cuda"), config=cfg).median_ms
        import triton.testing

        return triton.testing.do_bench(fn, warmup=10, rep=40, return_mode="median")
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def _nearest(p, measured):
    import math

    return min(measured, key=lambda m: abs(math.log(m) - math.log(p)))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="2x16x16384x128,2x16x65536x128,8x16x16384x64,2x16x65536x64",
                    help="BxHxNxD, comma-separated")
    ap.add_argument("--workers", type=int, default=max(1, min(12, (os.cpu_count() or 2) // 2)))
    ap.add_argument("--splits", default=",".join(map(str, SPLITS)))
    ap.add_argument("--write", default=None, help="write the chosen launch table (JSON) here")
    ap.add_argument("--timer", choices=("device", "do_bench"), default="device",
                    help="device: GPU time of the launches (host-decoupled CUDA events, as `sweep --preset perf`); "
                         "do_bench: triton.testing.do_bench (earlier tables)")
    ap.add_argument("--fwd-cands", default=None, help="indices into FWD_CANDS to try (default: all)")
    ap.add_argument("--bwd-cands", default=None, help="indices into BWD_CANDS to try (default: all; 'none' skips)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    splits = [int(s) for s in args.splits.split(",")]

    def pick(cands, sel):
        if sel is None:
            return cands
        return [] if sel == "none" else [cands[int(i)] for i in sel.split(",")]

    todo = [("fwd", c) for c in pick(FWD_CANDS, args.fwd_cands)] + [("bwd", c) for c in pick(BWD_CANDS, args.bwd_cands)]
    t0 = time.time()
    dev = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
    bad = set()
    ctx = mp.get_context("spawn")
    bhd = sorted({(b, h, d) for b, h, n, d in shapes})
    jobs = [(dev, todo[i::args.workers], x, splits) for x in bhd for i in range(args.workers)]
    with ctx.Pool(min(len(jobs), args.workers)) as pool:
        for fails in pool.imap_unordered(_compile_worker, jobs):
            for kind, cfg, why in fails:
                bad.add((kind, tuple(sorted(cfg.items()))))
                print(f"skip {kind} {cfg}: {why}", flush=True)
    print(f"compiled {len(todo)} configs × {len(bhd)} shapes × {len(splits)} splits in {time.time() - t0:.0f} s "
          f"({len(bad)} failed)", flush=True)

    from lightning_bench.kernels.lightning_attn2 import kernel as k2
    from lightning_bench.kernels.lightning_attn2 import tuning

    rows = []
    with open(out / "tune.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        cols = ["batch", "heads", "seq_len", "head_dim", "pass", "config", "cand", "seq_split", "segments", "ms",
                "tokens_per_s_M"]
        w.writerow(cols)
        for (b, h, n, d) in shapes:
            q, k, v, do, sl = _inputs(b, h, n, d)
            for ci, (kind, cfg) in enumerate(todo):
                if (kind, tuple(sorted(cfg.items()))) in bad:
                    continue
                with k2.launch_config(**cfg):
                    c = k2._Config(d, d, 64)
                    for split in splits:
                        bn = c.block_n if kind == "fwd" else c.bwd_block_n
                        if split > -(-n // bn):
                            continue
                        f, bw = _calls(q, k, v, do, sl, split)
                        try:
                            ms = _bench(f if kind == "fwd" else bw, args.timer)
                        except Exception as ex:
                            print(f"fail {kind} {cfg} split={split}: {str(ex).splitlines()[0][:120]}", flush=True)
                            continue
                        row = [b, h, n, d, kind, c.describe(), ci, split, split, round(ms, 5),
                               round(b * n / ms / 1e3, 2)]
                        w.writerow(row)
                        rows.append(row)
                fh.flush()
            del q, k, v, do
            if DEVICE == "cuda":
                torch.cuda.empty_cache()
    print(f"timed {len(rows)} rows in {time.time() - t0:.0f} s total", flush=True)
    import pandas as pd

    df = pd.DataFrame(rows, columns=cols)
    pd.set_option("display.width", 220)
    pd.set_option("display.max_colwidth", 90)
    gpu = tuning.device_slug(torch.device("cuda")) if DEVICE == "cuda" else "cpu"
    entries = {}
    for d in sorted({s[3] for s in shapes}):
        entry = {}
        for kind in ("fwd", "bwd"):
            g = df[(df.head_dim == d) & (df["pass"] == kind)]
            if g.empty:
                continue
            best_per_shape = g.groupby(["batch", "heads", "seq_len"]).ms.min()
            # each candidate at its best split per shape, scored by the geometric mean of (ms / best ms of the shape)
            per = g.groupby(["cand", "batch", "heads", "seq_len"]).ms.min().reset_index()
            per["ratio"] = [r.ms / best_per_shape[(r.batch, r.heads, r.seq_len)] for r in per.itertuples()]
            import numpy as np

            score = per.groupby("cand").ratio.apply(lambda x: float(np.exp(np.log(x).mean())))
            score = score[per.groupby("cand").size() == len(best_per_shape)]  # measured at every shape
            win = int(score.idxmin())
            cfg = todo[win][1]
            print(f"\n== d{d} {kind}: candidates by geometric-mean ratio to the best per shape")
            print(score.sort_values().head(5).rename(lambda i: str(todo[i][1])).to_string())
            gw = g[g.cand == win]
            # the auto-split policy (programs, min_blocks) closest to the winner's measured best split per shape
            with k2.launch_config(**cfg):
                c = k2._Config(d, d, 64)
            bn = c.block_n if kind == "fwd" else c.bwd_block_n
            tiles = (-(-d // c.fwd_be)) if kind == "fwd" else min(-(-d // c.bwd_bd), -(-d // c.bwd_be))
            best_pol, best_cost = None, float("inf")
            for prog in POLICY_PROGRAMS:
                for mb in POLICY_MIN_BLOCKS:
                    cost = 0.0
                    for (b, h, n), gs in gw.groupby(["batch", "heads", "seq_len"]):
                        p = k2.seq_split_segments("auto", b * h, tiles, n, bn, prog, mb)
                        m = _nearest(p, list(gs.seq_split))
                        cost += float(gs[gs.seq_split == m].ms.iloc[0]) / float(gs.ms.min())
                    if cost < best_cost - 1e-9:
                        best_pol, best_cost = (prog, mb), cost
            print(f"   winner {cfg}; auto split policy programs={best_pol[0]} min_blocks={best_pol[1]} "
                  f"(mean ratio to the best split {best_cost / gw.groupby(['batch', 'heads', 'seq_len']).ngroups:.3f})")
            print(gw.pivot_table(index=["batch", "heads", "seq_len"], columns="seq_split",
                                 values="tokens_per_s_M").round(1).to_string())
            entry.update(cfg)
            if kind == "fwd":
                entry["split_programs"], entry["split_min_blocks"] = best_pol
            else:
                entry["bwd_split_programs"] = best_pol[0]
                entry["_bwd_split_min_blocks"] = best_pol[1]
        entry["_source"] = f"tools/tune_la2.py on {gpu}, shapes {args.shapes}"
        entries[tuning.key(gpu, torch.bfloat16, max(16, 1 << (d - 1).bit_length()),
                           max(16, 1 << (d - 1).bit_length()))] = entry
    import json

    text = json.dumps({"entries": entries}, indent=1)
    (out / "tuned.json").write_text(text + "\n")
    if args.write:
        Path(args.write).write_text(text + "\n")
    print("\n" + text)


if __name__ == "__main__":
    main()
