"""``lightning-bench verify``: the kernels' correctness matrix, run on whatever device is here.

Every case computes o and the gradients (dq, dk, dv, and the state tensors where used) with our Triton kernels and
compares each tensor with a float64 oracle by relative L2 error (‖x − ref‖ / ‖ref‖), against the tolerance table of
the shared docs (§6): fp32 1e-5, fp16 5e-3 (o) / 1e-2 (grads), bf16 1e-2 / 2e-2. Decay cases are also checked per
head (strongly decayed heads have small norms). Oracles: R-dense / R-chunk (``lightning_attn_reference``, float64
autograd) and, for tensors too large for a float64 copy, R-closed (per-head constant inputs with closed-form outputs
and gradients). Where fla is installed, its ``chunk_simple_gla`` runs on the same inputs against the same oracle, so
the table shows both.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field

import torch

from .kernels import decay_slopes, lightning_attn, lightning_attn_reference

TOL = {"fp32": (1e-5, 1e-5), "fp16": (5e-3, 1e-2), "bf16": (1e-2, 2e-2)}
TOL_TF32 = (5e-3, 1e-2)
DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class VerifyCase:
    """One correctness case. ``kind``: "random" (float64 autograd oracle) or "closed" (R-closed constants)."""

    name: str
    dtype: str
    batch: int
    heads: int
    seq_len: int
    head_dim: int
    value_dim: int
    decay: str = "alibi"  # "none", "alibi", "strong" (slopes 0, 0.4, 1.5, 8, 30, 100 cycled over heads)
    layout: str = "bhnd"
    states: bool = False
    varlen: tuple = ()
    kind: str = "random"
    fp32_dot: str = "ieee"
    seq_split: object = 1  # lightning_attn's seq_split (1, an int, or "auto")

    @property
    def tol(self) -> tuple[float, float]:
        return TOL_TF32 if (self.dtype == "fp32" and self.fp32_dot == "tf32") else TOL[self.dtype]

    @property
    def elements(self) -> int:
        return self.batch * self.heads * self.seq_len * max(self.head_dim, self.value_dim)


@dataclass
class VerifyRow:
    case: VerifyCase
    tensor: str
    rel_l2: float
    tol: float
    passed: bool
    worst_head_rel_l2: float = math.nan
    fla_rel_l2: float = math.nan
    seconds: float = math.nan
    note: str = ""
    extra: dict = field(default_factory=dict)


def _slopes(case: VerifyCase, device) -> torch.Tensor | None:
    if case.decay == "none":
        return None
    if case.decay == "alibi":
        return decay_slopes(case.heads).to(device)
    strong = [0.0, 0.4, 1.5, 8.0, 30.0, 100.0]
    return torch.tensor([strong[i % len(strong)] for i in range(case.heads)], dtype=torch.float32, device=device)


def _rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.detach().double(), ref.detach().double()
    return float((x - ref).norm() / ref.norm().clamp_min(1e-300))


def _rel_per_head(x: torch.Tensor, ref: torch.Tensor, head_axis: int) -> float:
    worst = 0.0
    for i in range(x.shape[head_axis]):
        a, b = x.select(head_axis, i).double(), ref.select(head_axis, i).double()
        nb = float(b.norm())
        if nb > 0:
            worst = max(worst, float((a - b).norm()) / nb)
    return worst


def default_cases(device: torch.device, quick: bool = False) -> list[VerifyCase]:
    """The matrix. On a GPU: bf16/fp16/fp32, all decay regimes, partial blocks, odd head dims, states, varlen,
    seq_len to 131072 (bf16, decay), past 2¹⁶ and 2¹⁸, and a tensor of more than 2³¹ elements (R-closed).
    On the CPU (Triton interpreter): small fp32/fp16 shapes only."""
    if device.type != "cuda":
        return [
            VerifyCase("cpu-fp32", "fp32", 1, 2, 97, 32, 48, "alibi", "bhnd"),
            VerifyCase("cpu-fp16-states", "fp16", 1, 2, 70, 32, 32, "alibi", "bnhd", states=True),
            VerifyCase("cpu-strong-decay", "fp32", 1, 6, 65, 16, 16, "strong"),
            VerifyCase("cpu-varlen", "fp32", 1, 2, 60, 16, 16, "alibi", varlen=(7, 0, 33, 20)),
            VerifyCase("cpu-closed", "fp32", 1, 2, 150, 16, 16, "alibi", kind="closed"),
        ]
    def short(dt):
        out = [VerifyCase(f"{dt}-{decay}-n4097", dt, 2, 6, 4097, 128, 128, decay) for decay in ("none", "alibi", "strong")]
        out.append(VerifyCase(f"{dt}-partial-n1", dt, 2, 4, 1, 128, 128, "alibi"))
        out.append(VerifyCase(f"{dt}-partial-n63", dt, 2, 4, 63, 128, 128, "alibi", "bnhd"))
        out.append(VerifyCase(f"{dt}-dims-80x96", dt, 2, 4, 1000, 80, 96, "alibi", "bnhd"))
        out.append(VerifyCase(f"{dt}-dims-160x192", dt, 1, 4, 1500, 160, 192, "alibi"))
        out.append(VerifyCase(f"{dt}-dims-256", dt, 1, 4, 2049, 256, 256, "alibi", "bnhd", states=True))
        out.append(VerifyCase(f"{dt}-states", dt, 2, 4, 3001, 64, 128, "alibi", states=True))
        out.append(VerifyCase(f"{dt}-varlen", dt, 1, 4, 5000, 128, 64, "alibi", varlen=(1, 999, 0, 2500, 1500)))
        out.append(VerifyCase(f"{dt}-split-auto-states", dt, 1, 4, 20001, 128, 128, "alibi", states=True,
                              seq_split="auto"))
        return out

    long = []
    if not quick:
        for n in (16384, 65535, 65536, 65537, 131072):
            long.append(VerifyCase(f"bf16-long-n{n}", "bf16", 1, 4, n, 128, 128, "alibi"))
        long.append(VerifyCase("bf16-long-nodecay-n131073", "bf16", 1, 2, 131073, 128, 128, "none"))
        long.append(VerifyCase("bf16-long-n262145", "bf16", 1, 2, 262145, 128, 128, "alibi"))
        long.append(VerifyCase("bf16-long-split-auto-n131073", "bf16", 2, 16, 131073, 128, 128, "alibi",
                               seq_split="auto"))
        # > 2^31 elements per tensor (64-bit offsets): 64 heads × 262,208 tokens × 128 = 2,148,007,936 elements
        long.append(VerifyCase("bf16-huge-2^31", "bf16", 1, 64, 262208, 128, 128, "alibi", kind="closed"))
    # order: bf16 (the GPU dtype people train in) short and long first, then fp16, fp32 and tf32
    cases = short("bf16") + long + short("fp16") + short("fp32")
    cases.append(VerifyCase("fp32-tf32-alibi-n4097", "fp32", 2, 6, 4097, 128, 128, "alibi", fp32_dot="tf32"))
    return cases


def _closed_form(alpha, beta, gamma, slope, n, d, e, device):
    """R-closed (shared docs §6): with q = α·1, k = β·1, v = γ·1 and dO = 1,
    o_t = αβγd·G(t+1), dq_t = βγe·G(t+1), dk_t = αγe·G(n−t), dv_t = αβd·G(n−t), G(m) = (1 − λ^m)/(1 − λ)."""
    t = torch.arange(n, device=device, dtype=torch.float64)

    def G(m):
        if slope == 0:
            return m
        return torch.expm1(-slope * m) / math.expm1(-slope)

    return (alpha * beta * gamma * d * G(t + 1), beta * gamma * e * G(t + 1), alpha * gamma * e * G(n - t),
            alpha * beta * d * G(n - t))


def _run_closed(case: VerifyCase, device) -> list[VerifyRow]:
    dt = DT[case.dtype]
    b, h, n, d, e = case.batch, case.heads, case.seq_len, case.head_dim, case.value_dim
    sl = _slopes(case, device)
    # per-head constants, distinct so a wrong-head read shows
    alpha = torch.linspace(0.05, 0.1, h, device=device)
    beta = torch.linspace(0.1, 0.05, h, device=device)
    gamma = torch.linspace(0.2, 0.3, h, device=device)
    q = alpha.view(1, h, 1, 1).expand(b, h, n, d).to(dt).contiguous().requires_grad_()
    k = beta.view(1, h, 1, 1).expand(b, h, n, d).to(dt).contiguous().requires_grad_()
    v = gamma.view(1, h, 1, 1).expand(b, h, n, e).to(dt).contiguous().requires_grad_()
    t0 = time.perf_counter()
    o = lightning_attn(q, k, v, sl)
    dq, dk, dv = torch.autograd.grad(o, (q, k, v), torch.ones_like(o))
    if device.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    rows = []
    for hh in sorted({0, h - 1}):
        a_, b_, g_ = (float(x[hh].to(dt).float()) for x in (alpha, beta, gamma))
        s = 0.0 if sl is None else float(sl[hh])
        exp = _closed_form(a_, b_, g_, s, n, d, e, device)
        for name, x, ref in zip(("o", "dq", "dk", "dv"), (o, dq, dk, dv), exp):
            got = x[0, hh, :, 0].double()
            rel = _rel(got, ref)
            tol = case.tol[0 if name == "o" else 1]
            finite = bool(torch.isfinite(x[0, hh]).all())
            rows.append(VerifyRow(case, f"{name}[head {hh}]", rel, tol, finite and rel <= tol, seconds=secs,
                                  note="R-closed" + ("" if finite else "; non-finite values")))
    return rows


def _fla_errors(case, q, k, v, sl, do, refs, device) -> dict:
    """fla chunk_simple_gla on the same inputs (head-last layout, scale 1.0), rel-L2 per tensor vs the oracle."""
    if device.type != "cuda" or case.varlen or case.states or case.dtype == "fp32":
        return {}
    if (case.head_dim, case.value_dim) != (128, 128) or case.dtype != "bf16":
        # fla autotunes its kernels for every new (dims, dtype): ~1.5 min per shape on the H200, which would make
        # the matrix take most of a device session; the comparison the issue asks for is bf16, head_dim 128
        return {}
    try:
        from fla.ops.simple_gla import chunk_simple_gla
    except Exception:
        return {}
    to_bnhd = (lambda x: x.transpose(1, 2)) if case.layout == "bhnd" else (lambda x: x)
    qf, kf, vf = (to_bnhd(x.detach()).contiguous().requires_grad_() for x in (q, k, v))
    try:
        o, _ = chunk_simple_gla(qf, kf, vf, g_gamma=None if sl is None else -sl, scale=1.0)
        grads = torch.autograd.grad(o, (qf, kf, vf), to_bnhd(do).contiguous())
    except Exception:
        return {}
    back = (lambda x: x.transpose(1, 2)) if case.layout == "bhnd" else (lambda x: x)
    return {name: _rel(back(x), r) for name, x, r in zip(("o", "dq", "dk", "dv"), (o, *grads), refs)}


def _run_random(case: VerifyCase, device, want_fla: bool = True) -> list[VerifyRow]:
    dt = DT[case.dtype]
    b, h, n, d, e = case.batch, case.heads, case.seq_len, case.head_dim, case.value_dim
    g = torch.Generator(device=device).manual_seed(zlib.crc32(case.name.encode()))
    shp = (lambda x: (b, h, n, x)) if case.layout == "bhnd" else (lambda x: (b, n, h, x))
    q, k, v = (torch.randn(shp(x), device=device, generator=g).to(dt).requires_grad_() for x in (d, d, e))
    sl = _slopes(case, device)
    cu = None
    nseq = b
    if case.varlen:
        if sum(case.varlen) != n or b != 1:
            raise ValueError(f"case {case.name}: varlen lengths must sum to seq_len with batch 1")
        cu = torch.tensor([0] + list(torch.tensor(case.varlen).cumsum(0).tolist()), dtype=torch.int32,
                          device=device)
        nseq = len(case.varlen)
    s0 = (torch.randn(nseq, h, d, e, device=device, generator=g).requires_grad_() if case.states else None)
    t0 = time.perf_counter()
    out = lightning_attn(q, k, v, sl, layout=case.layout, initial_state=s0, output_final_state=case.states,
                         cu_seqlens=cu, fp32_dot=case.fp32_dot, seq_split=case.seq_split)
    o, ht = out if case.states else (out, None)
    do = torch.randn(o.shape, device=device, generator=g).to(dt)
    leaves = [q, k, v] + ([s0] if case.states else [])
    outs, gouts = [o], [do]
    if case.states:
        dht = torch.randn(ht.shape, device=device, generator=g)
        outs, gouts = [o, ht], [do, dht]
    grads = torch.autograd.grad(outs, leaves, gouts)
    if device.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    # float64 oracle (per sequence for varlen)
    r = [x.detach().double().requires_grad_() for x in leaves]
    method = "dense" if n <= 1024 else "chunk"
    if cu is None:
        ref = lightning_attn_reference(r[0], r[1], r[2], sl, layout=case.layout,
                                       initial_state=r[3] if case.states else None,
                                       output_final_state=case.states, method=method)
        refs_out = list(ref) if case.states else [ref]
    else:
        ax = 2 if case.layout == "bhnd" else 1
        os_, hs_ = [], []
        for i, (a, z) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
            s0i = r[3][i:i + 1] if case.states else None
            if z == a:
                if case.states:
                    hs_.append(s0i)
                continue
            part = [x.narrow(ax, a, z - a) for x in r[:3]]
            res = lightning_attn_reference(*part, sl, layout=case.layout, initial_state=s0i,
                                           output_final_state=case.states, method="chunk")
            if case.states:
                os_.append(res[0])
                hs_.append(res[1])
            else:
                os_.append(res)
        refs_out = [torch.cat(os_, ax)] + ([torch.cat(hs_, 0)] if case.states else [])
    rgrads = torch.autograd.grad(refs_out, r, [x.double() for x in gouts])
    names = ["o"] + (["final_state"] if case.states else [])
    gnames = ["dq", "dk", "dv"] + (["d_initial_state"] if case.states else [])
    head_axis = 1 if case.layout == "bhnd" else 2
    fla = _fla_errors(case, q, k, v, sl, do, [refs_out[0], *rgrads[:3]], device) if want_fla else {}
    rows = []
    for name, x, ref in list(zip(names, outs, refs_out)) + list(zip(gnames, grads, rgrads)):
        rel = _rel(x, ref)
        tol = case.tol[0 if name in ("o", "final_state") else 1]
        per_head = (_rel_per_head(x, ref, head_axis if name in ("o", "dq", "dk", "dv") else 1)
                    if case.decay != "none" else math.nan)
        finite = bool(torch.isfinite(x).all())
        ok = finite and rel <= tol and (math.isnan(per_head) or per_head <= tol)
        rows.append(VerifyRow(case, name, rel, tol, ok, worst_head_rel_l2=per_head, fla_rel_l2=fla.get(name, math.nan),
                              seconds=secs, note=("R-chunk" if method == "chunk" else "R-dense")
                              + ("" if finite else "; non-finite values")))
    return rows


def run_verify(cases: list[VerifyCase] | None = None, device: torch.device | None = None, quick: bool = False,
               progress=None, only: str | None = None, fla: str = "long") -> list[VerifyRow]:
    """Run the matrix; a case that raises becomes one failed row with the error as its note.

    Args:
        only: a regular expression; run only the cases whose name it matches (re.search).
        fla: where to add fla's errors on the same inputs: "all" (every bf16 d=e=128 case), "long" (default: the
            seq_len ≥ 16384 cases, which the accuracy goal names; fla autotunes ~1.5 min per new shape on the
            H200, so "all" roughly doubles the run) or "none".

    Raises:
        ValueError: a bad ``only`` pattern or ``fla`` value.
    """
    import re

    if fla not in ("all", "long", "none"):
        raise ValueError(f"fla must be 'all', 'long' or 'none', got {fla!r}")
    device = device or (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    cases = cases if cases is not None else default_cases(device, quick)
    if only:
        try:
            pat = re.compile(only)
        except re.error as ex:
            raise ValueError(f"only: not a regular expression ({ex}): {only!r}") from None
        cases = [c for c in cases if pat.search(c.name)]
    rows: list[VerifyRow] = []
    for c in cases:
        want_fla = fla == "all" or (fla == "long" and c.seq_len >= 16384)
        try:
            rows += _run_closed(c, device) if c.kind == "closed" else _run_random(c, device, want_fla)
        except Exception as ex:  # record, go on
            rows.append(VerifyRow(c, "all", math.nan, math.nan, False, note=f"{type(ex).__name__}: {ex}"[:300]))
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if progress:
            progress(c, rows)
    return rows


def rows_to_frame(rows: list[VerifyRow]):
    import pandas as pd

    return pd.DataFrame([{
        "case": r.case.name, "dtype": r.case.dtype + ("/tf32" if r.case.fp32_dot == "tf32" else ""), "batch": r.case.batch, "heads": r.case.heads,
        "seq_len": r.case.seq_len, "head_dim": r.case.head_dim, "value_dim": r.case.value_dim,
        "decay": r.case.decay, "layout": r.case.layout, "states": r.case.states, "varlen": bool(r.case.varlen),
        "seq_split": str(r.case.seq_split),
        "elements": r.case.elements, "tensor": r.tensor, "rel_l2": r.rel_l2, "worst_head_rel_l2": r.worst_head_rel_l2,
        "tol": r.tol, "pass": r.passed, "fla_rel_l2": r.fla_rel_l2, "seconds": r.seconds, "note": r.note,
    } for r in rows])


def to_markdown(df) -> str:
    lines = ["| case | dtype | seq_len | tensor | rel-L2 | worst head | tol | pass | fla rel-L2 | note |",
             "|---|---|---:|---|---:|---:|---:|---|---:|---|"]

    def f(x):
        return "–" if x != x else f"{x:.2e}"

    for _, r in df.iterrows():
        lines.append(f"| {r['case']} | {r['dtype']} | {r['seq_len']} | {r['tensor']} | {f(r['rel_l2'])} | "
                     f"{f(r['worst_head_rel_l2'])} | {f(r['tol'])} | {'PASS' if r['pass'] else '**FAIL**'} | "
                     f"{f(r['fla_rel_l2'])} | {r['note']} |")
    return "\n".join(lines)
