"""A Gluon forward knob on against off in the package's own plans (``gluon_fwd.O_DIRECT`` or ``gluon_fwd.VG_AHEAD``
flipped), forward and fwd_bwd (the backward's three passes run the same kernel):

- ``o_direct``: o stored from the accumulator registers (plain global stores) instead of the shared-memory staging
  + fence + warpgroup barrier + TMA store. Why: Nsight Compute of the ws e32 launch (2K, 2026-11-30f d-ncu source
  counters) puts ~11% of the compute warps' stall samples on the o store's fence and barrier.
- ``vg_ahead``: the next block's diag(g) V written while this block's state update runs, fenced with the state copy
  (one fence and one warpgroup barrier per block fewer; ~6% of the stall samples sat on that pair).
- ``state_first``: the state's bf16 copy written before the ring stage's release (Triton 3.6: one barrier per block
  fewer; v16 lead 2).
- ``qk_ahead``: software-pipelined blocks: the next block's Q Kᵀ issued right after this block's state update, so the
  tensor cores run it while this block's o is stored and its state copied (``_block_ahead``; perf-notes v23).
- ``qk_one_fence``: with ``qk_ahead`` (the default at head_dim 128), o staged with the state copy and the next
  diag(g) V under one proxy fence (5 → 4 warpgroup barriers and 2 → 1 fences per block; perf-notes v23 lead 2).
- ``pdl``: the Gluon launches with programmatic dependent launch (``gluon_fwd._pdl_enter``): a grid's programs are
  placed as the previous grid's exit and wait in ``griddepcontrol.wait`` (perf-notes v25: the fwd_bwd rows' launch
  boundary).
- ``bwd_x3_one_body``: the one-launch backward's compute code once for its three passes (direction and first row
  chosen at run time; its output stacked unless ``--set BWD_X3_ONE_OUT=False``) against one inlined copy per pass
  (``gluon_fwd.x3_one_body``; perf-notes v26: the 6.7 K-instruction kernel's programs wait ~6 µs on instruction fetch
  before their first block).
- ``bwd_x3_dkdv_body``: where the one launch runs a copy per pass (``--set BWD_X3_ONE_BODY=False`` for every
  length), dk and dv in one reverse copy (perf-notes v26 lead 1).
- ``bwd_x3_one_out``: the one body (``gluon_fwd.x3_one_body``) writing dq, dk, dv as views of one stacked buffer
  through one output descriptor, the pass offsetting its rows instead of choosing a descriptor at run time
  (``gluon_fwd.x3_one_out``; perf-notes v27: the one body's per-block cost).
- ``ws_early_stage``: the ws kernel's first ring stage issued by the default partition before the partitions start
  (``gluon_fwd.WS_EARLY_STAGE``; perf-notes v27 lead 1: the forward's ramp to its first block).
- ``wg2_early_stage``: the same for the wg2 forward, not with its lookback (``gluon_fwd.WG2_EARLY_STAGE``; perf-notes
  v27 lead 2; ``--cases wg2``, where the unsplit wg2 forward runs).
- ``x3_early_stage``: the same for the one-launch backward (``gluon_fwd.X3_EARLY_STAGE``; perf-notes v28: slower).
- ``tile_major``: grid (value tiles, batch·heads, segments) for one-warpgroup plans with several value tiles, so a
  head's tiles are dispatched together (perf-notes v16 lead 1; with ``--cases bh64``, where two-tile launches run).

Correctness first (NaN-poisoned by the sweep's convention: outputs are fresh tensors; rel-L2 against the Triton
forward ≤ 2e-2, gradients against the TMA-store variant's ≤ 1e-2), then GPU time as the sweep takes it
(host-decoupled CUDA events, L2 flushed), A B B A order, M tokens/s:

    python tools/tune_knob.py --knob KNOB [--values A,B] [--set ATTR=VALUE]
        [--cases default|e64|long|x3|x3b1|short|bh64|wg2] --out DIR

with KNOB one of ``KNOBS`` (the ``gluon_fwd`` attribute is its upper-case name), or one of ``VALUED`` (the integer
seq_len rules of ``gluon_fwd.choose``, the one-launch backward's ``BWD_X3_TILE``) with the two values to compare, e.g.
``--knob wg2_split_min --values 16384,1000000000`` (b2 h16's wg2 lookback split from 16K against the unsplit e32
launch at every length) or ``--knob bwd_x3_tile --values None,32 --cases x3`` (the side-by-side backward's wg2
programs against one-warpgroup e32 programs with the one-fence pipelined loop).
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
from lightning_bench.kernels.lightning_attn2.kernel import describe_backward  # noqa: E402
from lightning_bench.timing import TimingConfig, measure  # noqa: E402

# (batch, heads, head_dim, layout, seq_lens, modes)
CASES = {
    "default": [
        (2, 16, 128, "bhnd", (1024, 2048, 8192, 32768, 131072), ("fwd",)),
        (2, 16, 128, "bhnd", (1024, 2048, 32768), ("fwd_bwd",)),
        (2, 16, 128, "bnhd", (2048,), ("fwd",)),
        (4, 32, 128, "bhnd", (2048, 8192), ("fwd", "fwd_bwd")),
        (1, 16, 128, "bhnd", (8192,), ("fwd",)),
        (4, 16, 128, "bhnd", (65536,), ("fwd",)),
        (8, 16, 64, "bhnd", (4096,), ("fwd", "fwd_bwd")),
    ],
    "e64": [  # where the one-warpgroup launch takes value tile 64 at head_dim 128 (64 batch·heads)
        (4, 16, 128, "bhnd", (16384, 65536, 131072), ("fwd",)),
        (4, 16, 128, "bhnd", (16384, 65536), ("fwd_bwd",)),
        (2, 32, 128, "bhnd", (65536,), ("fwd",)),
        (4, 16, 128, "bnhd", (32768,), ("fwd",)),
        (8, 8, 128, "bhnd", (131072,), ("fwd", "fwd_bwd")),
        (1, 16, 128, "bhnd", (2048, 4096), ("fwd", "fwd_bwd")),  # e64 split with the pre-pass / lookback passes
    ],
    "long": [  # b2 h16 from 16K, where the forward switches from the unsplit e32 launch to the wg2 lookback split
        (2, 16, 128, "bhnd", (16384, 32768, 65536, 131072), ("fwd", "fwd_bwd")),
        (2, 16, 128, "bnhd", (32768,), ("fwd",)),
    ],
    "x3": [  # where the backward's passes run side by side in one launch (b2 h16 d128: 3 × 32 wg2 programs)
        (2, 16, 128, "bhnd", (1024, 2048, 4096, 8192, 32768, 131072), ("fwd_bwd",)),
        (2, 16, 128, "bnhd", (2048,), ("fwd_bwd",)),
        (1, 16, 128, "bhnd", (2048, 8192), ("fwd_bwd",)),  # one-warpgroup e64 programs (tile-major) by the rule
    ],
    "short": [  # where the unsplit ws forward runs (b2 h16 d128 up to 32K, b1 h16 short)
        (2, 16, 128, "bhnd", (1024, 2048, 8192, 32768), ("fwd",)),
        (2, 16, 128, "bhnd", (1024, 2048), ("fwd_bwd",)),
        (2, 16, 128, "bnhd", (2048,), ("fwd",)),
        (1, 16, 128, "bhnd", (2048,), ("fwd",)),
    ],
    "x3b1": [  # the one launch's one-warpgroup e64 programs (b1 h16: 3 × 32) at long lengths
        (1, 16, 128, "bhnd", (32768, 131072), ("fwd_bwd",)),
    ],
    "wg2": [  # where the unsplit wg2 forward runs (one program per head, ≥ 0.9 × SMs programs: the paper and tgs shapes)
        (4, 32, 128, "bhnd", (512, 2048, 8192, 32768), ("fwd",)),
        (4, 32, 128, "bhnd", (2048, 8192), ("fwd_bwd",)),
        (4, 32, 128, "bnhd", (2048,), ("fwd",)),
        (16, 16, 128, "bhnd", (16384,), ("fwd",)),
    ],
    "bh64": [  # two-value-tile unsplit launches (64 batch·heads), and b2 h16's four e32 tiles
        (4, 16, 128, "bhnd", (16384, 65536), ("fwd", "fwd_bwd")),
        (2, 32, 128, "bhnd", (32768,), ("fwd", "fwd_bwd")),
        (4, 16, 64, "bhnd", (16384, 65536), ("fwd", "fwd_bwd")),
        (2, 16, 128, "bhnd", (1024, 2048), ("fwd", "fwd_bwd")),
        (2, 16, 128, "bhnd", (8192,), ("fwd",)),
    ],
}


KNOBS = ("o_direct", "vg_ahead", "tile_major", "state_first", "qk_ahead", "qk_one_fence", "pdl", "bwd_x3_one_body",
         "bwd_x3_dkdv_body", "bwd_x3_one_out", "ws_early_stage", "wg2_early_stage", "x3_early_stage")
VALUED = ("wg2_split_min", "long_split_min", "bwd_x3_tile", "bwd_x3_stages")  # integer settings: need --values A,B


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


_CONSTANTS = {"True": True, "False": False, "None": None}


def _value(text: str):
    """``--set`` / ``--values`` text as the knob's value: True, False, None, an integer, else the text itself."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    try:
        return int(text)
    except ValueError:
        return text


def apply_sets(sets: list[str]) -> None:
    """Apply ``--set ATTR=VALUE`` options to ``gluon_fwd`` (values as :func:`_value` reads them); shared by the
    tools that take ``--set`` (tune_knob, short_overhead, program_stamps).

    Raises:
        SystemExit: an option without ``=`` or naming no ``gluon_fwd`` attribute (a typo would otherwise set a knob
            nothing reads, and the run would measure the defaults under another name).
    """
    for kv in sets:
        name, sep, val = kv.partition("=")
        if not sep or not hasattr(G, name):
            raise SystemExit(f"--set: expected ATTR=VALUE with ATTR a gluon_fwd knob (e.g. PDL=True), got {kv!r}")
        setattr(G, name, _value(val))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--knob", choices=KNOBS + VALUED, default="o_direct")
    ap.add_argument("--values", metavar="A,B", help="the two values compared (default False,True; integers or None "
                    "for the valued knobs, e.g. --knob wg2_split_min --values 16384,1000000000, --knob bwd_x3_tile "
                    "--values None,32)")
    ap.add_argument("--cases", choices=tuple(CASES), default="default")
    ap.add_argument("--repeat", type=int, default=1, help="A B B A rounds per row")
    ap.add_argument("--set", action="append", default=[], metavar="ATTR=VALUE",
                    help="set another gluon_fwd knob for the whole run first (e.g. QK_AHEAD=True)")
    a = ap.parse_args()
    apply_sets(a.set)
    attr = a.knob.upper()
    if a.values is None and a.knob in VALUED:
        ap.error(f"--knob {a.knob} needs --values A,B (integers or None)")
    vals = dict(zip((False, True), map(_value, (a.values or "False,True").split(","))))
    keep = getattr(G, attr)
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=60, max_time_s=0.15, host_decoupled=True)
    rows = []
    for b, h, d, layout, ns, modes in CASES[a.cases]:
        sl = decay_slopes(h).cuda()
        for n in ns:
            shape = (b, h, n, d) if layout == "bhnd" else (b, n, h, d)
            gen = torch.Generator(device="cuda").manual_seed(n + b * h)
            q, k, v, do = (torch.randn(shape, device="cuda", generator=gen).mul(0.5).to(torch.bfloat16)
                           for _ in range(4))
            with G.disabled():
                ref = lightning_attn(q, k, v, sl, layout=layout).double()
            for mode in modes:
                qg, kg, vg = (t.clone().requires_grad_(mode == "fwd_bwd") for t in (q, k, v))
                res, bwd_plans, grads0 = {}, {}, None
                for od in (False, True, True, False) * a.repeat:  # A B B A
                    setattr(G, attr, vals[od])
                    plan = G.describe(b, h, n, d, d, q.dtype, q.device)
                    bwd_plan = describe_backward(b, h, n, d, d, q.dtype, q.device) if mode == "fwd_bwd" else ""
                    bwd_plans[od] = bwd_plan
                    o = lightning_attn(qg, kg, vg, sl, layout=layout)
                    err = rel(o, ref)
                    gerr = 0.0
                    if mode == "fwd_bwd":
                        grads = torch.autograd.grad(o, (qg, kg, vg), do)
                        if grads0 is None:
                            grads0 = grads
                        gerr = max(rel(x, y) for x, y in zip(grads, grads0))
                    if not (err <= 2e-2 and gerr <= 1e-2):
                        res.setdefault(od, []).append(float("nan"))
                        print(f"  FAIL od={od} {plan}: o rel-L2 {err:.2e}, grads {gerr:.2e}", flush=True)
                        continue
                    if mode == "fwd":
                        fn = lambda: lightning_attn(qg, kg, vg, sl, layout=layout)  # noqa: E731
                    else:
                        fn = lambda: torch.autograd.grad(lightning_attn(qg, kg, vg, sl, layout=layout),  # noqa: E731
                                                         (qg, kg, vg), do)
                    t = measure(fn, device=q.device, config=cfg).median_ms
                    res.setdefault(od, []).append(t)
                    rows.append(dict(batch=b, heads=h, head_dim=d, layout=layout, seq_len=n, mode=mode, knob=a.knob, on=od,
                                     value=vals[od], plan=plan, bwd_plan=bwd_plan, median_ms=t,
                                     mtok_s=b * n / t / 1e3, rel_l2_o=err, rel_l2_grads=gerr))
                setattr(G, attr, keep)
                tb, to = (sum(res[x]) / len(res[x]) for x in (False, True))
                print(f"b{b} h{h} d{d} {layout} n={n:>6} {mode:7s}: off {b * n / tb / 1e3:7.1f}  {a.knob} "
                      f"{b * n / to / 1e3:7.1f}  ({tb / to:5.3f}x)  [{G.describe(b, h, n, d, d, q.dtype, q.device)}]",
                      flush=True)
                if len(set(bwd_plans.values())) > 1:  # the knob changed the backward's launch: say how
                    for od, bp in bwd_plans.items():
                        print(f"    backward {a.knob}={vals[od]}: {bp}", flush=True)
    pd.DataFrame(rows).to_csv(a.out / f"tune_{a.knob}.csv", index=False)


if __name__ == "__main__":
    main()
