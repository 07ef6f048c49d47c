"""Where does the Lightning Attention-2 forward kernel spend its time? Times variants of ``_la2_fwd_kernel`` with one
stage left out (GPU time, host-decoupled CUDA events, L2 flushed), the device method of device/H200.md ("time variants
that leave one stage out, and take differences"). The variants are built by patching the kernel's source into a
throw-away module next to it; nothing in the package changes. Outputs of the variants are wrong by design.

    python tools/ablate_fwd.py --out DIR [--shapes 2x16x65536x128:4,2x16x2048x128:1]

Writes DIR/ablate.csv (variant, shape, split, ms, M tokens/s) and prints a table."""
from __future__ import annotations

import argparse
import csv
import importlib
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PKG = ROOT / "lightning_bench" / "kernels" / "lightning_attn2"

# (name, [(old, new), ...]) applied to kernel.py's text; each `old` must occur in _la2_fwd_kernel's loop
INTRA = ("""        scores = _dot(Q_i, tl.trans(K_i), PREC) * dmat
        O_i = _dot_wa(scores, V_i, PREC)
""", """        O_i = tl.zeros([BLOCK_N, BLOCK_E], dtype=tl.float32)
""")
INTER = ("""        O_i += a[:, None] * _dot_wb(Q_i, S, PREC)
""", """        O_i += a[:, None]
""")
_UPDATE_SRC = """        if BLOCK_E < BLOCK_D:
            Vg = (V_i * g[:, None]).to(V_i.dtype)
            S = lam_l * S + _dot(tl.trans(K_i), Vg, PREC)
        else:
            Kg = (K_i * g[:, None]).to(K_i.dtype)
            S = lam_l * S + _dot(tl.trans(Kg), V_i, PREC)
    if STORE_HT:"""
UPDATE = (_UPDATE_SRC, """        S = S + 1.0
    if STORE_HT:""")
UPDATE_NOSCALE = (_UPDATE_SRC, _UPDATE_SRC.replace("S = lam_l * S + _dot(tl.trans(K_i), Vg, PREC)",
                                                   "S = _dot(tl.trans(K_i), Vg, PREC) + S")
                  .replace("S = lam_l * S + _dot(tl.trans(Kg), V_i, PREC)", "S = _dot(tl.trans(Kg), V_i, PREC) + S"))
KG = (_UPDATE_SRC, """        S = lam_l * S + _dot(tl.trans(K_i), V_i, PREC)
    if STORE_HT:""")
STORE = ("""        _store_rows(o_base, rows, son, offs_e, soe, mask_n, mask_e, O_i.to(O.dtype.element_ty))
        # S ← λ^L S""", """        S += tl.sum(O_i, 0)[None, :] * 0.0
        # S ← λ^L S""")
VARIANTS = [
    ("baseline", []),
    ("no_intra", [INTRA]),
    ("no_inter", [INTER]),
    ("no_state_update", [UPDATE]),
    ("no_decay_of_state", [UPDATE_NOSCALE]),
    ("no_k_scaling", [KG]),
    ("no_o_store", [STORE]),
    ("loads_and_store_only", [INTRA, INTER, UPDATE]),
]


def build(name, patches, source=None, prefix="_ablate_"):
    """kernel.py (or ``source``) with ``patches`` applied, written next to it as ``<prefix><name>.py`` and imported
    (the caller removes the file); also used by tools/variants_fwd.py."""
    src = (source or PKG / "kernel.py").read_text()
    for old, new in patches:
        if old not in src:
            raise SystemExit(f"{name}: patch target not found:\n{old}")
        src = src.replace(old, new, 1)
    mod = f"{prefix}{name}"
    (PKG / f"{mod}.py").write_text(src)
    return importlib.import_module(f"lightning_bench.kernels.lightning_attn2.{mod}")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--shapes", default="2x16x65536x128:4,2x16x2048x128:1",
                    help="BxHxNxD:SPLIT, comma-separated (the tuned launch table picks tiles)")
    a = ap.parse_args(argv)
    from lightning_bench.kernels import decay_slopes
    from lightning_bench.timing import TimingConfig, measure

    a.out.mkdir(parents=True, exist_ok=True)
    mods = [(name, build(name, patches)) for name, patches in VARIANTS]
    cfg = TimingConfig(warmup_s=0.05, min_samples=20, max_samples=60, max_time_s=0.3, host_decoupled=True)
    rows = []
    try:
        for spec in a.shapes.split(","):
            shape, split = spec.split(":")
            b, h, n, d = (int(x) for x in shape.split("x"))
            g = torch.Generator(device="cuda").manual_seed(0)
            q, k, v = (torch.randn(b, h, n, d, device="cuda", generator=g).to(torch.bfloat16) * 0.5 for _ in range(3))
            sl = decay_slopes(h).cuda()
            for name, m in mods:
                fn = lambda m=m: m._fwd(q, k, v, sl, None, False, "bhnd", 64, None, "ieee", int(split))
                ms = measure(fn, device=torch.device("cuda"), config=cfg).median_ms
                rows.append(dict(variant=name, batch=b, heads=h, seq_len=n, head_dim=d, seq_split=int(split),
                                 config=m._config(d, d, 64, q, n).describe(), ms=round(ms, 5),
                                 tokens_per_s_M=round(b * n / ms / 1e3, 1)))
                print(f"{shape} P={split} {name:22s} {ms:8.4f} ms {b * n / ms / 1e3:7.1f} M tok/s", flush=True)
    finally:
        for name, _ in VARIANTS:
            (PKG / f"_ablate_{name}.py").unlink(missing_ok=True)
    with (a.out / "ablate.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
