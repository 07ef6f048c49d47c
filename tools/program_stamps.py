"""Where a short launch's ramp goes, per program (perf-notes v25 §4).

``short_overhead.py`` puts the b2 h16 rows' fixed cost at ~4.5 µs inside the forward kernel and ~5.4 µs inside the
backward's one launch (2K, against the 128K per-block rate). This probe has the ws forward, the wg2 forward and the
one-launch backward write ``%globaltimer`` stamps per program (``gluon_fwd.STAMP_BUF``; the kernels' ``STAMPS``
form, same schedule): the program's start, the compute partition's start and the end of its prologue (slope, entry
state, decay matrix), the loader's first stage issued, block 0's ring stage landed, the last block's o issued, every
o store drained (x3: also the program's end after all partitions). Per launch it prints medians over programs and
calls, in µs from each program's start (``entry``, ``prologue``, ``issued``, ``ramp``: stage 0 landed), the blocks
(and per block), the drain, the spreads of program starts and ends, and for the backward each pass apart; with the
kernel's duration (torch.profiler, without the probe) beside it.

    python tools/program_stamps.py [--seq-lens 1024,2048,8192] [--batch 2 --heads 16] [--no-flush]
        [--set BWD_X3_TILE=64] --out DIR
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
from lightning_bench.profile import _event_us  # noqa: E402
from lightning_bench.timing import l2_flush_buffer  # noqa: E402
from tune_knob import apply_sets  # noqa: E402  (tools/ is this script's directory)


def _kernel_us(fn) -> float:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    ks = [e for e in prof.events() if "gluon" in e.name]
    return sum(_event_us(e, True) for e in ks) if ks else float("nan")


def stamps(words: int, programs: int, fn, flush) -> pd.DataFrame:
    """Run ``fn`` with the probe on (a buffer for up to ``programs`` programs); the rows of the programs that ran."""
    buf = torch.full((programs * words,), -1, dtype=torch.int64, device="cuda")
    G.STAMP_BUF = buf
    try:
        if flush is not None:
            flush.bitwise_not_()
        torch.cuda.synchronize()
        fn()
        torch.cuda.synchronize()
    finally:
        G.STAMP_BUF = None
    s = buf.view(programs, words).cpu()
    s = s[s[:, 0] >= 0]
    df = pd.DataFrame({f"t{i}": s[:, i].double() for i in range(4)})
    df["entry"], df["prologue"], df["issued"] = s[:, 10].double(), s[:, 9].double(), s[:, 11].double()
    df["sm"] = s[:, 4]  # %smid of the SM that ran the program (slot 4: the start stamp's companion)
    if (s[:, 8] >= 0).all():  # the one-launch backward: the program's end after every partition
        df["end"] = s[:, 8].double()
    assert (s[:, :4] >= 0).all() and (s[:, 9:12] >= 0).all(), "a program did not write its stamps"
    return df


def summarize(df: pd.DataFrame, nblk: int, label: str) -> dict:
    t0 = df.t0.min()
    end = df["end"] if "end" in df else df.t3
    r = dict(launch=label, programs=len(df),
             span_us=(end.max() - t0) / 1e3,
             start_spread_us=(df.t0.max() - t0) / 1e3,
             entry_us=((df.entry - df.t0) / 1e3).median(),
             prologue_us=((df.prologue - df.t0) / 1e3).median(),
             issued_us=((df.issued - df.t0) / 1e3).median(),
             ramp_us=((df.t1 - df.t0) / 1e3).median(),
             blocks_us=((df.t2 - df.t1) / 1e3).median(),
             per_block_us=((df.t2 - df.t1) / 1e3 / max(nblk - 1, 1)).median(),
             drain_us=((df.t3 - df.t2) / 1e3).median(),
             exit_us=((end - df.t3) / 1e3).median(),
             end_spread_us=(end.max() - end.min()) / 1e3, first_end_us=(end.min() - t0) / 1e3)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq-lens", default="1024,2048,8192")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-flush", action="store_true", help="keep L2 warm (no flush before the stamped call)")
    ap.add_argument("--set", action="append", default=[], metavar="ATTR=VALUE",
                    help="set a gluon_fwd knob first (e.g. BWD_X3_STAGES=2)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    apply_sets(a.set)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    flush = None if a.no_flush else l2_flush_buffer(torch.device("cuda"))
    b, h, d = a.batch, a.heads, 128
    sl = decay_slopes(h).cuda()
    rows, raw = [], []
    for n in (int(x) for x in a.seq_lens.split(",")):
        g = torch.Generator(device="cuda").manual_seed(n)
        q, k, v, do = (torch.randn(b, h, n, d, device="cuda", generator=g).to(torch.bfloat16) for _ in range(4))
        qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
        fwd_plan = G.describe(b, h, n, d, d, torch.bfloat16, q.device)
        nblk = n // G.BLOCK_N
        with torch.no_grad():
            lightning_attn(q, k, v, sl)  # compile both forms first
        o = lightning_attn(qg, kg, vg, sl)
        o.backward(do)
        for rep in range(a.repeat):
            with torch.no_grad():
                fk = _kernel_us(lambda: lightning_attn(q, k, v, sl))
                df = stamps(16, 8 * b * h, lambda: lightning_attn(q, k, v, sl), flush)
            df["rep"], df["seq_len"], df["launch"] = rep, n, "fwd"
            raw.append(df)
            rows.append(dict(seq_len=n, rep=rep, kernel_us=fk, **summarize(df, nblk, "fwd")))
            for t in (qg, kg, vg):
                t.grad = None
            o = lightning_attn(qg, kg, vg, sl)
            bk = _kernel_us(lambda: o.backward(do, retain_graph=True))
            for t in (qg, kg, vg):
                t.grad = None
            df = stamps(16, 12 * b * h, lambda: o.backward(do, retain_graph=True), flush)
            if df.empty:  # the one-launch backward did not run at this shape (no stamps)
                continue
            df["rep"], df["seq_len"], df["launch"] = rep, n, "bwd"
            df["pass"] = [3 * i // len(df) for i in range(len(df))]  # grid axis 2 (the slowest) is the pass
            raw.append(df)
            rows.append(dict(seq_len=n, rep=rep, kernel_us=bk, **summarize(df, nblk, "bwd")))
            for p in range(3):
                rows.append(dict(seq_len=n, rep=rep, kernel_us=bk, **summarize(df[df["pass"] == p], nblk, f"bwd pass {p}")))
        print(f"n={n}: forward {fwd_plan}", flush=True)
    res = pd.DataFrame(rows)
    pd.concat(raw).to_csv(out / "stamps_raw.csv", index=False)
    res.to_csv(out / "stamps.csv", index=False)
    med = res.groupby(["seq_len", "launch"], sort=False).median(numeric_only=True).drop(columns="rep")
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(med.round(2).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
