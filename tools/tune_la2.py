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

FWD_GRID = dict(block_n=(64, 128), fwd_be=(64, 128), fwd_warps=(4, 8), fwd_stages=(1, 2, 3))
BWD_GRID = dict(block_n=(64, 128), bwd_tile=(32, 64, 128), bwd_warps=(4, 8), bwd_stages=(1, 2, 3))
SPLITS = (1, 4, 8, 16, 32, 64)


def fwd_configs(quick=False):
    grid = dict(FWD_GRID, fwd_stages=(2,)) if quick else FWD_GRID
    return [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())]


def bwd_configs(quick=False):
    grid = dict(BWD_GRID, bwd_stages=(2,)) if quick else BWD_GRID
    out = []
    for vals in itertools.product(*grid.values()):
        c = dict(zip(grid, vals))
        t = c.pop("bwd_tile")
        out.append(dict(c, bwd_bd=t, bwd_be=t))
    return out


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
    """Compile (by launching once on a tiny input) every variant of the given configs; returns failures."""
    device, items, d = args
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(device))
    from lightning_bench.kernels.lightning_attn2 import kernel as k2

    fails = []
    for kind, cfg in items:
        try:
            with k2.launch_config(**cfg):
                q, k, v, do, sl = _inputs(1, 2, 8 * cfg["block_n"], d)
                for split in (1, 2):
                    f, b = _calls(q, k, v, do, sl, split)
                    (f if kind == "fwd" else b)()
            if DEVICE == "cuda":
                torch.cuda.synchronize()
        except Exception as ex:  # out of shared memory / registers: the config is skipped
            fails.append((kind, cfg, f"{type(ex).__name__}: {str(ex).splitlines()[0][:160]}"))
    return fails


def _bench(fn):
    if DEVICE == "cuda":
        import triton.testing

        return triton.testing.do_bench(fn, warmup=10, rep=40, return_mode="median")
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="2x16x8192x128,2x16x65536x128", help="BxHxNxD, comma-separated")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=max(1, min(16, (os.cpu_count() or 2) - 2)))
    ap.add_argument("--passes", default="fwd,bwd")
    ap.add_argument("--splits", default=",".join(map(str, SPLITS)) + ",auto")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    passes = args.passes.split(",")
    splits = [s if s == "auto" else int(s) for s in args.splits.split(",")]
    dims = sorted({s[3] for s in shapes})
    todo = []
    if "fwd" in passes:
        todo += [("fwd", c) for c in fwd_configs(args.quick)]
    if "bwd" in passes:
        todo += [("bwd", c) for c in bwd_configs(args.quick)]

    t0 = time.time()
    dev = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
    bad = set()
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        jobs = [(dev, todo[i::args.workers], d) for d in dims for i in range(args.workers)]
        for fails in pool.imap_unordered(_compile_worker, jobs):
            for kind, cfg, why in fails:
                bad.add((kind, tuple(sorted(cfg.items()))))
                print(f"skip {kind} {cfg}: {why}", flush=True)
    print(f"compiled {len(todo)} configs × {len(dims)} dims in {time.time() - t0:.0f} s "
          f"({len(bad)} failed)", flush=True)

    from lightning_bench.kernels.lightning_attn2 import kernel as k2

    rows = []
    with open(out / "tune.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["batch", "heads", "seq_len", "head_dim", "pass", "config", "seq_split", "segments", "ms",
                    "tokens_per_s_M"])
        for (b, h, n, d) in shapes:
            q, k, v, do, sl = _inputs(b, h, n, d)
            for kind, cfg in todo:
                if (kind, tuple(sorted(cfg.items()))) in bad:
                    continue
                with k2.launch_config(**cfg):
                    c = k2._Config(d, d, 64)
                    for split in splits:
                        e_tiles = -(-d // c.fwd_be) if kind == "fwd" else min(-(-d // c.bwd_bd), -(-d // c.bwd_be))
                        nseg = k2.seq_split_segments(split, b * h, e_tiles, n, c.block_n, c.split_programs,
                                                     c.split_min_blocks)
                        if split != "auto" and split > 1 and nseg < split:
                            continue
                        f, bw = _calls(q, k, v, do, sl, split)
                        try:
                            ms = _bench(f if kind == "fwd" else bw)
                        except Exception as ex:
                            print(f"fail {kind} {cfg} split={split}: {str(ex).splitlines()[0][:120]}", flush=True)
                            continue
                        row = [b, h, n, d, kind, c.describe(), split, nseg, round(ms, 5), round(b * n / ms / 1e3, 2)]
                        w.writerow(row)
                        rows.append(row)
                fh.flush()
            del q, k, v, do
            if DEVICE == "cuda":
                torch.cuda.empty_cache()
    print(f"timed {len(rows)} rows in {time.time() - t0:.0f} s total", flush=True)
    import pandas as pd

    df = pd.DataFrame(rows, columns=["batch", "heads", "seq_len", "head_dim", "pass", "config", "seq_split",
                                     "segments", "ms", "tok_M"])
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 60)
    for key, g in df.groupby(["batch", "heads", "seq_len", "head_dim", "pass"]):
        print(f"\n== {key}: best 8 of {len(g)}")
        print(g.sort_values("ms").head(8).to_string(index=False))
    # per config: the sum of ms over shapes at its best split (a config that is good everywhere)
    best = df.loc[df.groupby(["batch", "heads", "seq_len", "head_dim", "pass", "config"]).ms.idxmin()]
    agg = best.groupby(["pass", "config"]).ms.sum().reset_index().sort_values(["pass", "ms"])
    print("\n== configs by total ms over shapes (each at its best split)")
    for kind, g in agg.groupby("pass"):
        print(g.head(6).to_string(index=False))
    agg.to_csv(out / "tune_summary.csv", index=False)


if __name__ == "__main__":
    main()
