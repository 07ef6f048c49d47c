"""Variants of the Gluon forward, by grid (``--grid``):

- ``wg2e32`` (10th session): two compute warpgroups of value tile 32 per program (``Plan.wg2`` with block_e 32) at
  b2 h16, where one warpgroup of e32 per program reads each Q, K block four times per head;

- ``wg2`` (9th session): two compute warpgroups per program sharing the Q, K ring (``Plan.wg2``) and the one-launch
  lookback split (``Plan.lookback``: programs publish their segment's end state, later segments combine them);
- ``prefix``: segments whose programs sum the K, V blocks before them in-kernel (``Plan.prefix``, one launch)
  against the package plan and the chunked pre-pass, short to mid lengths;
- ``long``: the crossover of the e64 2-way split (chunked pre-pass) against the package plan at long seq_len;
- ``prepass``: value tile 64 and a split whose segment-end pre-pass is chunked (``Plan.chunks``);
- ``qreg`` (2026-11-30 call 3): Q as the register A operand (``Plan.q_reg``);
- ``mr`` (call 2): two programs per SM: 128 registers per thread at launch (the compute warpgroup takes 232 by
  setmaxnreg, the loader 24), a 2-deep ring (94 KB of shared memory at e32), a sequence split for the programs.

Correctness vs the Triton forward (NaN-poisoned o), then GPU time as
the sweep takes it (host-decoupled CUDA events, L2 flushed), M tokens/s.

    python tools/tune_mr.py --grid prepass --out DIR
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import decay_slopes, lightning_attn  # noqa: E402
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402

GRIDS = {  # name: {(batch, heads, head_dim): [(label, block_e, stages, nseg, maxnreg, q_reg, chunks)]}
    # nseg 0 = the package plan; chunks "auto" = gluon_fwd.prepass_chunks
    "mr": {  # call 2 (h200_next_b2.sh): two programs per SM
        (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e32s2", 32, 2, 1, 128, False, 1),
                       ("e32s2P2", 32, 2, 2, 128, False, 1), ("e32s2P4", 32, 2, 4, 128, False, 1)],
        (8, 16, 64): [("cur", 0, 0, 0, None, False, 1), ("e64s2P2", 64, 2, 2, 128, False, 1),
                      ("e32s2", 32, 2, 1, 128, False, 1), ("e32s2P2", 32, 2, 2, 128, False, 1)],
        (1, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e32s2P4", 32, 2, 4, 128, False, 1),
                       ("e32s2P8", 32, 2, 8, 128, False, 1)]},
    "qreg": {  # call 3 (h200_next_c2.sh): Q as the register operand
        (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("cur+qreg", 0, 0, 0, None, True, 1),
                       ("e32s3+qreg", 32, 3, 1, None, True, 1), ("e64s3P2+qreg", 64, 3, 2, None, True, 1)],
        (8, 16, 64): [("cur", 0, 0, 0, None, False, 1), ("cur+qreg", 0, 0, 0, None, True, 1)],
        (1, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("cur+qreg", 0, 0, 0, None, True, 1)]},
    "prepass": {  # next: value tile 64 (half the Q/K L2 reads) with a split whose pre-pass is chunked
        (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e64P2c1", 64, 3, 2, None, False, 1),
                       ("e64P2", 64, 3, 2, None, False, "auto"), ("e64P2c32", 64, 3, 2, None, False, 32),
                       ("e64P4", 64, 3, 4, None, False, "auto")],
        (1, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("cur+chunks", 0, 0, 0, None, False, "auto")]},
    "long": {  # 7th session: where e64 P2 with the chunked pre-pass starts to win, and its chunk count / ring depth
        (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e64P2", 64, 3, 2, None, False, "auto"),
                       ("e64P2c8", 64, 3, 2, None, False, 8), ("e64s4P2", 64, 4, 2, None, False, "auto"),
                       ("e64s2P2", 64, 2, 2, None, False, "auto")]},
    "prefix": {  # 8th session: segments whose programs sum the blocks before them (Plan.prefix, no pre-pass launch)
        (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e64P2x", 64, 3, 2, None, False, "prefix"),
                       ("e64s4P2x", 64, 4, 2, None, False, "prefix"), ("e64s2P2x", 64, 2, 2, None, False, "prefix"),
                       ("e64P2", 64, 3, 2, None, False, "auto")],
        (1, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e64P4x", 64, 3, 4, None, False, "prefix"),
                       ("e64P2x", 64, 3, 2, None, False, "prefix")],
        (4, 32, 128): [("cur", 0, 0, 0, None, False, 1), ("e32s4", 32, 4, 1, None, False, 1)]},
}
_WG2 = {"wg2": True}
_LB = {"lookback": True}
_WG2LB = {"wg2": True, "lookback": True}
GRIDS["wg2"] = {  # an optional 8th element: extra Plan fields
    (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("wg2e64P1", 64, 3, 1, None, False, 1, _WG2),
                   ("wg2e64P4lb", 64, 3, 4, None, False, 1, _WG2LB), ("wg2e64s2P4lb", 64, 2, 4, None, False, 1, _WG2LB),
                   ("wg2e32P2lb", 32, 4, 2, None, False, 1, _WG2LB), ("wg2e64P4", 64, 3, 4, None, False, "auto", _WG2),
                   ("e64P2lb", 64, 3, 2, None, False, 1, _LB), ("wg2e64P2lb", 64, 3, 2, None, False, 1, _WG2LB)],
    (4, 32, 128): [("cur", 0, 0, 0, None, False, 1), ("wg2e64P1", 64, 3, 1, None, False, 1, _WG2),
                   ("wg2e32P1", 32, 4, 1, None, False, 1, _WG2)],
    (1, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("wg2e64P8lb", 64, 3, 8, None, False, 1, _WG2LB),
                   ("wg2e64P8", 64, 3, 8, None, False, "auto", _WG2)],
    (8, 16, 64): [("cur", 0, 0, 0, None, False, 1), ("wg2e32P1", 32, 4, 1, None, False, 1, _WG2)],
}
GRIDS["wg2b"] = {  # the rule encoded after "wg2" (cur) against the plans it replaced (old*), one run
    (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("old-e32", 32, 4, 1, None, False, 1),
                   ("old-e64P2", 64, 3, 2, None, False, "auto")],
    (1, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("old-P4", 64, 3, 4, None, False, 1),
                   ("old-P8", 64, 3, 8, None, False, 1), ("old-P16", 64, 3, 16, None, False, 1)],
    (4, 32, 128): [("cur", 0, 0, 0, None, False, 1), ("old-e64", 64, 3, 1, None, False, 1)],
    (8, 32, 128): [("cur", 0, 0, 0, None, False, 1), ("old-e64", 64, 3, 1, None, False, 1)],
}
GRIDS["wg2e32"] = {  # 10th session: two e32 warpgroups per program (64 value columns: Q, K read twice per head, not 4×)
    (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("wg2e32s4", 32, 4, 1, None, False, 1, _WG2),
                   ("wg2e32s3", 32, 3, 1, None, False, 1, _WG2), ("wg2e64", 64, 3, 1, None, False, 1, _WG2)],
    (4, 32, 128): [("cur", 0, 0, 0, None, False, 1), ("wg2e32s4", 32, 4, 1, None, False, 1, _WG2)],
}
GRIDS["bh64"] = {  # 10th session: 64 batch·heads at long n (tgs preset's 64K row): the wg2 P2 lookback rule vs e64 unsplit
    (4, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e64s3", 64, 3, 1, None, False, 1)],
    (2, 32, 128): [("cur", 0, 0, 0, None, False, 1), ("e64s3", 64, 3, 1, None, False, 1)],
}
_PAIR = {"pair": True}
GRIDS["pair"] = {  # 11th session: two warpgroups on the two row halves of 128-row steps (half the serial chain)
    (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("pair-e32s2", 32, 2, 1, None, False, 1, _PAIR)],
    (4, 32, 128): [("cur", 0, 0, 0, None, False, 1), ("pair-e32s2", 32, 2, 1, None, False, 1, _PAIR)],
    (8, 16, 64): [("cur", 0, 0, 0, None, False, 1), ("pair-e64s2", 64, 2, 1, None, False, 1, _PAIR)],
}
_E64LB = {"lookback": True, "vg_ahead": True, "tile_major": True}
GRIDS["e64lb"] = {  # 17th session's lead (perf-notes v19 lead 4): the one-warpgroup e64 lookback with the v15 / v17 knobs
    (2, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e64P2lb+", 64, 3, 2, None, False, 1, _E64LB),
                   ("e64P2lb", 64, 3, 2, None, False, 1, _LB)],
    (1, 16, 128): [("cur", 0, 0, 0, None, False, 1), ("e64P4lb+", 64, 3, 4, None, False, 1, _E64LB)],
}
GRID_NS = {"e64lb": {(2, 16, 128): (16384, 32768, 65536, 131072), (1, 16, 128): (32768, 131072)},
           "pair": {(2, 16, 128): (1024, 2048, 4096, 8192, 16384, 32768, 131072), (4, 32, 128): (512, 2048, 8192),
                    (8, 16, 64): (4096, 16384)},
           "bh64": {(4, 16, 128): (8192, 16384, 32768, 65536, 131072), (2, 32, 128): (16384, 65536)},
           "wg2e32": {(2, 16, 128): (1024, 2048, 4096, 8192, 32768), (4, 32, 128): (512, 2048)},"wg2b": {(2, 16, 128): (1024, 2048, 8192, 16384, 32768, 65536, 131072), (1, 16, 128): (2048, 8192, 131072),
                    (4, 32, 128): (512, 32768), (8, 32, 128): (2048, 8192)},
           "wg2": {(2, 16, 128): (1024, 2048, 4096, 8192, 16384, 32768, 131072), (4, 32, 128): (512, 2048, 8192),
                   (1, 16, 128): (2048, 8192, 32768), (8, 16, 64): (4096, 16384)},
           "long": {(2, 16, 128): (16384, 49152, 65536, 131072, 262144)},
           "prefix": {(2, 16, 128): (1024, 2048, 4096, 8192, 16384, 32768, 65536), (1, 16, 128): (2048, 8192, 32768),
                      (4, 32, 128): (512, 2048, 8192)}}
NS = {(2, 16, 128): (1024, 2048, 4096, 8192, 32768, 131072), (8, 16, 64): (4096, 16384, 65536),
      (1, 16, 128): (8192, 131072)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--grid", choices=sorted(GRIDS), default="prepass")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.15, host_decoupled=True)
    rows = []
    for (b, h, d), cands in GRIDS[a.grid].items():
        sl = decay_slopes(h).cuda()
        for n in GRID_NS.get(a.grid, NS)[(b, h, d)]:
            q, k, v = (torch.randn(b, h, n, d, device="cuda").mul(0.5).to(torch.bfloat16) for _ in range(3))
            with G.disabled():
                ref = lightning_attn(q, k, v, sl).double()
            line = [f"b{b} h{h} d{d} n={n:>6}:"]
            for label, be, st, nseg, mr, qr, ch, *extra in cands:
                if nseg == 0:
                    p = dataclasses.replace(G.plan(q, k, v, sl, "bhnd"), q_reg=qr)
                else:
                    p = G.Plan.make(n, be, st, nseg, True, mr, qr, **(extra[0] if extra else {}))
                if nseg == 0 and ch == 1:  # the package plan as it is (its own pre-pass chunks)
                    ch = p.chunks
                if ch == "prefix":
                    p = dataclasses.replace(p, prefix=p.nseg > 1)
                    ch = 1
                elif ch == "auto":
                    ch = G.prepass_chunks(b * h, d, p.block_e, p.nseg, p.seg)
                p = dataclasses.replace(p, chunks=ch)
                o = torch.full_like(v, float("nan"))
                try:
                    G.forward(q, k, v, sl, "bhnd", p, o)
                    torch.cuda.synchronize()
                    err = ((o.double() - ref).norm() / ref.norm()).item()
                    if not err <= 2e-2:
                        raise RuntimeError(f"rel-L2 vs Triton {err:.2e}")
                    t = measure(lambda: G.forward(q, k, v, sl, "bhnd", p, o), device=q.device, config=cfg).median_ms
                    tps = b * n / t / 1e3
                    status = "ok"
                except Exception as exc:  # noqa: BLE001
                    t, tps, err, status = float("nan"), float("nan"), float("nan"), f"{type(exc).__name__}: {exc}"[:200]
                rows.append(dict(batch=b, heads=h, head_dim=d, seq_len=n, label=label, plan=p.describe(),
                                 median_ms=t, mtok_s=tps, rel_l2_vs_triton=err, status=status))
                line.append(f"{label}[{p.describe().replace('gluon sm_90a fwd ', '')}] {tps:6.1f}"
                            + ("" if status == "ok" else f" ({status[:60]})"))
            print("  ".join(line), flush=True)
    pd.DataFrame(rows).to_csv(a.out / "tune_mr.csv", index=False)


if __name__ == "__main__":
    main()
