"""One-GPU estimate of a sequence-parallel rank's time (issue #7), no second GPU needed: the work of rank 0 and of
the last rank of a 2-way split at ``--total`` tokens, with the state exchange replaced by precomputed tensors (so
the all-gather / all-reduce latency is NOT included), against the one-GPU lightning_attn at ``--total`` and at the
per-rank length. Prints a table and writes ``--out`` (CSV): median ms over CUDA-event samples (triton.testing).
The backward rows twice: split passes one after another (``gluon_fwd.BWD_CONCURRENT = False``) and the default
rule (unsplit passes side by side where ``gluon_fwd.concurrent_plans`` takes them).

    python tools/sp_rank_bench.py --total 262144 --heads 16 --out sp_rank.csv
"""
from __future__ import annotations

import argparse
import csv

import torch
import triton.testing

from lightning_bench.distributed import sp as SP
from lightning_bench.kernels import decay_slopes, lightning_attn
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G


class _Done:
    def wait(self):
        pass


def bench(fn, rep=200):
    return triton.testing.do_bench(fn, warmup=50, rep=rep, return_mode="median")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=262144)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--out", default="sp_rank.csv")
    a = ap.parse_args()
    b, h, d, N = a.batch, a.heads, a.dim, a.total
    n = N // 2
    dev = "cuda"
    g = torch.Generator().manual_seed(0)
    sl = decay_slopes(h).to(dev)
    q, k, v, do = (torch.randn(b, h, n, d, generator=g).to(dev, torch.bfloat16) for _ in range(4))
    s_in = torch.randn(b, h, d, d, generator=g).to(dev) * 0.01
    de = torch.randn(b, h, d, d, generator=g).to(dev) * 0.01
    rows = []

    def add(name, ms):
        rows.append({"what": name, "ms": round(ms, 4)})
        print(f"{name:60s} {ms:8.3f} ms", flush=True)

    for L in (n, N):
        x = [torch.randn(b, h, L, d, generator=g).to(dev, torch.bfloat16).requires_grad_() for _ in range(3)]
        dox = torch.randn(b, h, L, d, generator=g).to(dev, torch.bfloat16)
        add(f"one GPU fwd {L}", bench(lambda: lightning_attn(*x, sl)))
        for conc, tag in ((False, " (split passes)"), (None, "")):
            G.BWD_CONCURRENT = conc
            add(f"one GPU fwd_bwd {L}{tag}", bench(lambda: torch.autograd.grad(lightning_attn(*x, sl), x, dox)))
        del x, dox
    ss = SP._default_seq_split()
    # forward of a rank: the pre-pass, the (fake) exchange, the main kernel
    add("sp rank fwd (exchange = a copy; last rank)",
        bench(lambda: SP._sp_forward(q, k, v, None, sl, "bhnd", 64, "ieee", ss, lambda src, nseg, seg, s0: s_in)))
    add("sp rank fwd (exchange = a copy; rank 0)",
        bench(lambda: SP._sp_forward(q, k, v, None, sl, "bhnd", 64, "ieee", ss, lambda src, nseg, seg, s0: None)))
    # backward of a rank, Triton (before this change)
    add("sp rank bwd Triton, rank 0 (dE in)",
        bench(lambda: SP._sp_backward(q, k, v, do, sl, None, False, False, "bhnd", 64, "ieee", ss,
                                      lambda src, nseg, seg: de)))
    add("sp rank bwd Triton, last rank (S_in, dS_in out)",
        bench(lambda: SP._sp_backward(q, k, v, do, sl, s_in, False, True, "bhnd", 64, "ieee", ss,
                                      lambda src, nseg, seg: None)))
    plans = SP._gluon_sp_plans(q, k, v, do, sl, "bhnd", 64, ss, False)
    print("gluon plans:", None if plans is None else [p.describe() for p in plans], flush=True)
    contrib = torch.stack([de, torch.zeros_like(de)])
    for conc, tag in ((False, " [split passes]"), (None, " [rule]")):
        G.BWD_CONCURRENT = conc
        both = G.concurrent_plans(b * h, n, d, d, plans, G._SMS.get(0, 132))
        print(f"passes{tag}:", "side by side" if both else "as planned",
              None if both is None else [p.describe() for p in both], flush=True)
        gluon_rows(q, k, v, do, sl, s_in, plans, contrib, tag, add)
    G.BWD_CONCURRENT = None
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["what", "ms"])
        w.writeheader()
        w.writerows(rows)


def gluon_rows(q, k, v, do, sl, s_in, plans, contrib, tag, add):
    add(f"sp rank bwd Gluon, rank 0 (dE in, s0_shift){tag}",
        bench(lambda: SP._sp_backward_gluon(q, k, v, do, sl, None, "bhnd", plans, "none",
                                            lambda src, nseg, seg: (_Done(), contrib), 0)))
    add(f"sp rank bwd Gluon, last rank (S_in, dS_in from the dv pass){tag}",
        bench(lambda: SP._sp_backward_gluon(q, k, v, do, sl, s_in, "bhnd", plans, "dv_final",
                                            lambda src, nseg, seg: (_Done(), contrib), 1)))
    add(f"sp rank bwd Gluon, middle rank (dS_in by the reduction pass){tag}",
        bench(lambda: SP._sp_backward_gluon(q, k, v, do, sl, s_in, "bhnd", plans, "pass",
                                            lambda src, nseg, seg: (_Done(), contrib), 1)))
    add(f"gluon_fwd.backward alone (no states){tag}", bench(lambda: G.backward(q, k, v, do, sl, "bhnd", plans)))


if __name__ == "__main__":
    main()
