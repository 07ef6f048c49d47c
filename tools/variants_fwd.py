"""Forward kernel variants × launch configurations, timed side by side on one GPU (GPU time, host-decoupled CUDA
events, L2 flushed). Each variant is kernel.py with text patches applied, imported as a throw-away module next to it
(nothing in the package changes); each output is checked against the unpatched kernel's on the same inputs.

    python tools/variants_fwd.py --out DIR [--variants old,base] [--short 1024,2048] [--long 65536]
        [--configs table,e32w4s3] [--passes fwd,bwd]

Writes DIR/variants.csv (variant, pass, config, seq_len, segments, ms, M tokens/s, max |Δ| relative to the first
variant's output) and prints a table. b2 h16 d128 bf16, ALiBi slopes."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablate_fwd import PKG, build as _build  # noqa: E402

# 2026-11-30 (fourth session): the first variants (decay on V, GEMM-form segment ends: results/h200/tune/2026-11-30d/
# a-variants) were patches against the kernel.py of commit f9a632b and are in kernel.py now; these two take parts back
# out for ablation.
SEG_RESCALED = ("""    S = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
    last = tl.minimum(N, (p + 1) * SEG) - 1
    for i in range(first_block, end_block):
        rows = i * BLOCK_N + offs_c
        mask_n = rows < N
        K_i = _load_rows(k_base, rows.to(tl.int64), skn, offs_d, skd, mask_n, mask_d)
        V_i = _load_rows(v_base, rows.to(tl.int64), svn, offs_e, sve, mask_n, mask_e)
        if HAS_DECAY:  # λ^(last − t), exponent ≥ 0 on the rows that exist (rows past N are zeros, weight 0)
            w = tl.where(mask_n, tl.exp(-slope * (last - rows).to(tl.float32)), 0.0)
            V_i = (V_i * w[:, None]).to(V_i.dtype)
        S += _dot(tl.trans(K_i), V_i, PREC)
""", """    a, g, dmat, lam_b = _decay_factors(slope, BLOCK_N, BLOCK_N, HAS_DECAY)
    S = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
    for i in range(first_block, end_block):
        rows = (i * BLOCK_N + offs_c).to(tl.int64)
        mask_n = rows < N
        K_i = _load_rows(k_base, rows, skn, offs_d, skd, mask_n, mask_d)
        V_i = _load_rows(v_base, rows, svn, offs_e, sve, mask_n, mask_e)
        a, g, dmat, lam_l = _block_decays(slope, N, i, a, g, dmat, lam_b, BLOCK_N, HAS_DECAY)
        Kg = (K_i * g[:, None]).to(K_i.dtype)
        S = lam_l * S + _dot(tl.trans(Kg), V_i, PREC)
""")
ALWAYS_SCAN = ("COMBINE_MAX_SEGMENTS = 16", "COMBINE_MAX_SEGMENTS = 1")
VARIANTS = {"base": [], "seg_rescaled": [SEG_RESCALED], "always_scan": [ALWAYS_SCAN]}
# a variant named "old" is the kernel.py saved at tools/_old_kernel.py (e.g. `git show HEAD~1:… > tools/_old_kernel.py`,
# left untracked so that it travels to the device): the previous version, timed beside the current one
OLD_FILE = Path(__file__).resolve().parent / "_old_kernel.py"

SHORT = [  # (name, launch_config overrides, seq_split); "table": the packaged launch table, seq_split "auto"
    ("table", {}, "auto"),
    ("e32w4s3", dict(fwd_be=32, fwd_warps=4, fwd_stages=3), 1),
    ("e32w4s2", dict(fwd_be=32, fwd_warps=4, fwd_stages=2), 1),
    ("e16w4s2", dict(fwd_be=16, fwd_warps=4, fwd_stages=2), 1),
    ("e32w4s2P2", dict(fwd_be=32, fwd_warps=4, fwd_stages=2, split_min_blocks=1), 2),
    ("e64w4s2P2", dict(fwd_be=64, fwd_warps=4, fwd_stages=2, split_min_blocks=1), 2),
    ("e128w8s3P4", dict(fwd_be=128, fwd_warps=8, fwd_stages=3, split_min_blocks=1), 4),
    # 2026-11-30 (fourth session): with the combine inside the main kernel, splits at short lengths; e32 3 stages is
    # 112 KiB of shared memory and 174 registers: two programs per SM
    ("e32w4s3P2", dict(fwd_be=32, fwd_warps=4, fwd_stages=3, split_min_blocks=1), 2),
    ("e64w4s3P2", dict(fwd_be=64, fwd_warps=4, fwd_stages=3, split_min_blocks=1), 2),
    ("e64w4s3", dict(fwd_be=64, fwd_warps=4, fwd_stages=3, split_min_blocks=1), 1),
    ("e128w8s3P2", dict(fwd_be=128, fwd_warps=8, fwd_stages=3, split_min_blocks=1), 2),
    # backward, one launch for the three sweeps, unsplit (the short entry's), dV value tile 64 or 32
    ("bwd_fused_be64", dict(bwd_fused=True, bwd_bd=64, bwd_be=64, bwd_warps=4, bwd_stages=2, split_min_blocks=4096), 1),
    ("bwd_fused_be32", dict(bwd_fused=True, bwd_bd=64, bwd_be=32, bwd_warps=4, bwd_stages=2, split_min_blocks=4096), 1),
]
LONG = [
    ("table", {}, "auto"),
    ("e128w8s3P4", dict(fwd_be=128, fwd_warps=8, fwd_stages=3, split_min_blocks=1), 4),
    ("e32w4s2P2", dict(fwd_be=32, fwd_warps=4, fwd_stages=2, split_min_blocks=1), 2),
    ("e64w4s3P4", dict(fwd_be=64, fwd_warps=4, fwd_stages=3, split_min_blocks=1), 4),
    ("e64w4s2P4", dict(fwd_be=64, fwd_warps=4, fwd_stages=2, split_min_blocks=1), 4),
    ("e64w8s3P4", dict(fwd_be=64, fwd_warps=8, fwd_stages=3, split_min_blocks=1), 4),
    ("e32w4s3P2", dict(fwd_be=32, fwd_warps=4, fwd_stages=3, split_min_blocks=1), 2),
    ("e32w4s3P4", dict(fwd_be=32, fwd_warps=4, fwd_stages=3, split_min_blocks=1), 4),
]


def build(name, patches):
    """A variant module: the previous kernel.py for "old", else the current one with ``patches``."""
    return _build(name, patches, source=OLD_FILE if name == "old" else None, prefix="_variant_")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--short", default="1024,2048,8192", help="seq_lens for the short cases ('' for none)")
    ap.add_argument("--long", default="65536", help="seq_lens for the long cases ('' for none)")
    ap.add_argument("--configs", default=None, help="config names to run (default: all of the lists)")
    ap.add_argument("--passes", default="fwd", help="fwd, bwd or fwd,bwd (bwd: the backward launches alone)")
    a = ap.parse_args(argv)
    from lightning_bench.kernels import decay_slopes
    from lightning_bench.timing import TimingConfig, measure

    a.out.mkdir(parents=True, exist_ok=True)
    names = a.variants.split(",")
    mods = [(name, build(name, VARIANTS.get(name, []))) for name in names]
    tcfg = TimingConfig(warmup_s=0.05, min_samples=20, max_samples=60, max_time_s=0.3, host_decoupled=True)
    keep = None if a.configs is None else set(a.configs.split(","))
    cases = [(n, c) for n in a.short.split(",") if n for c in SHORT] + [(n, c) for n in a.long.split(",") if n for c in LONG]
    cases = [(n, c, ps) for n, c in cases if keep is None or c[0] in keep for ps in a.passes.split(",")]
    rows = []
    try:
        for n, (cname, over, split), ps in cases:
            b, h, n, d = 2, 16, int(n), 128
            g = torch.Generator(device="cuda").manual_seed(0)
            q, k, v, do = (torch.randn(b, h, n, d, device="cuda", generator=g).to(torch.bfloat16) * 0.5
                           for _ in range(4))
            sl = decay_slopes(h).cuda()
            ref = None
            for name, m in mods:
                try:
                    with m.launch_config(**over):
                        if ps == "fwd":
                            fn = lambda m=m: m._fwd(q, k, v, sl, None, False, "bhnd", 64, None, "ieee", split)
                        else:
                            fn = lambda m=m: m._bwd(q, k, v, do, sl, None, None, False, "bhnd", 64, None, "ieee",
                                                    split)
                        o = torch.cat([x.float().flatten() for x in fn() if x is not None][:3])
                        ms = measure(fn, device=torch.device("cuda"), config=tcfg).median_ms
                        c = m._config(d, d, 64, q, n)
                        nseg = (c.fwd_segments if ps == "fwd" else c.bwd_segments)(split, b * h, n)[0]
                        impl = c.describe().split(";")[0] if not over else cname
                except Exception as exc:  # a config that does not compile (shared memory) is a row, not a crash
                    print(f"{ps} {n:6d} {cname:12s} {name:10s} FAILED {type(exc).__name__}: {str(exc)[:120]}", flush=True)
                    continue
                if ref is None:
                    ref = o
                diff = (o - ref).abs().max().item() / ref.abs().max().item()
                rows.append(dict(variant=name, **{"pass": ps}, config=cname, impl=impl, seq_len=n, segments=nseg,
                                 ms=round(ms, 5),
                                 tokens_per_s_M=round(b * n / ms / 1e3, 1), rel_maxdiff_vs_first=f"{diff:.2e}"))
                print(f"{ps} {n:6d} {cname:12s} P={nseg:<3d} {name:10s} {ms:8.4f} ms {b * n / ms / 1e3:7.1f} M tok/s "
                      f"Δ {diff:.1e}", flush=True)
    finally:
        for name in names:
            (PKG / f"_variant_{name}.py").unlink(missing_ok=True)
        if rows:
            with (a.out / "variants.csv").open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)


if __name__ == "__main__":
    main()
