"""PROTOTYPE (not in the package; compiled for sm_90a on the CPU, NOT yet run on a GPU): the LA2 forward with the
block's work split by function across two compute warpgroups (docs/perf-notes.md v8, short-sequence leads).

Why: the warp-specialized kernel (kernels/lightning_attn2/gluon_fwd.py) runs every block's chain on one warpgroup:
QKᵀ ∥ Q·S → mask → P·V ∥ state update → o store → S to shared memory, ~0.8 µs per block at 128K and ~8 µs of fixed
cost per call. But only the inter-block half is a recurrence. Here

- the *intra* warpgroup computes O_intra = (Q Kᵀ ⊙ D) V for block j: no dependence on earlier blocks, so it runs
  ahead of the other as far as the ring and a 2-deep exchange buffer allow;
- the *inter* warpgroup (the default partition) keeps the state: Q·S_{j−1} ∥ S_j = λ^B S_{j−1} + Kᵀ(diag(g)V), then
  o = diag(a) Q S_{j−1} + O_intra (fp32, from shared memory) → TMA store;
- a 1-warp loader fills the ring as in the WS kernel; a stage is freed when both warpgroups arrived (count 2).

Each warpgroup's chain is about half the old one; the tensor cores see the same work. Prediction: if the per-block
latency (not tensor-core throughput) is what binds, 1.2–1.5× at 1K–32K; the same or worse if the tensor cores or the
extra fp32 exchange (16 KB per block through shared memory) bind.

    python tools/gluon_fs_fwd.py compile            # CPU: sm_90a compile facts (use triton 3.6 for ptxas counts)
    python tools/gluon_fs_fwd.py check --out DIR    # GPU: vs float64 and the package kernel, then timing
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402
from lightning_bench.kernels.lightning_attn2.gluon_fwd import (_buffers, _decay, _entry_state,  # noqa: E402
                                                               _program, _slope, _tma_store, _ws_load,
                                                               fence_async_shared, gl, gluon,
                                                               mbarrier, tma, warpgroup_mma, warpgroup_mma_wait)

_cta_barrier = getattr(gl, "thread_barrier", None) or gl.barrier  # renamed between triton 3.6 and 3.9


@gluon.jit
def _fs_intra(SLOPES, q_s, k_s, v_s, ready, empty, xbuf, xfull, xempty, h, nblk, HAS_DECAY: gl.constexpr,
              BLOCK_N: gl.constexpr, BLOCK_E: gl.constexpr, STAGES: gl.constexpr):
    sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_N, 16])
    o_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_E, 16])
    p_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_l, k_width=2)
    slope = _slope(SLOPES, h, HAS_DECAY)
    dmat, a, g, lam = _decay(slope, BLOCK_N, sc_l, o_l)
    zero_sc = gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l)
    zero_o = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, o_l)
    for j in range(0, nblk):
        st = j % STAGES
        mbarrier.wait(ready.index(st), (j // STAGES) & 1)
        sc = warpgroup_mma(q_s.index(st), k_s.index(st).permute((1, 0)), zero_sc, use_acc=False)
        pm = gl.convert_layout((sc * dmat).to(gl.bfloat16), p_l)
        oi = warpgroup_mma(pm, v_s.index(st), zero_o, use_acc=False)
        mbarrier.arrive(empty.index(st), count=1)  # this warpgroup's reads of the stage are done (sync MMAs)
        xb = j % 2
        mbarrier.wait(xempty.index(xb), ((j // 2) & 1) ^ 1)
        xbuf.index(xb).store(oi)
        _cta_barrier()  # all four warps wrote before the one-thread arrive
        mbarrier.arrive(xfull.index(xb), count=1)


@gluon.jit
def _fs_inter(o_desc, SLOPES, SEG_END, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, xbuf, xfull, xempty,
              pid_bh, h, e0, E, SEG, NSEG, row_base, col_v, first, nblk, p, HAS_DECAY: gl.constexpr,
              SPLIT: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr,
              STAGES: gl.constexpr):
    sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_N, 16])
    o_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_E, 16])
    slope = _slope(SLOPES, h, HAS_DECAY)
    S = _entry_state(SEG_END, SEG_END, slope, pid_bh, e0, E, SEG, NSEG, p, SPLIT, False, BLOCK_D, BLOCK_E, o_l)
    s_smem.store(S.to(gl.bfloat16))
    fence_async_shared()
    dmat, a, g, lam = _decay(slope, BLOCK_N, sc_l, o_l)
    zero_o = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, o_l)
    for j in range(0, nblk):
        st = j % STAGES
        mbarrier.wait(ready.index(st), (j // STAGES) & 1)
        qb = q_s.index(st)
        kb = k_s.index(st)
        vb = v_s.index(st)
        qs = warpgroup_mma(qb, s_smem, zero_o, use_acc=False, is_async=True)
        vg = (vb.load(o_l) * g[:, None]).to(gl.bfloat16)
        vg_smem.store(vg)
        fence_async_shared()
        S = warpgroup_mma(kb.permute((1, 0)), vg_smem, S * lam, is_async=True)
        qs = warpgroup_mma_wait(num_outstanding=1, deps=(qs, ))
        S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
        _cta_barrier()  # every warp's direct read of V finished
        mbarrier.arrive(empty.index(st), count=1)
        s_smem.store(S.to(gl.bfloat16))
        fence_async_shared()
        xb = j % 2
        mbarrier.wait(xfull.index(xb), (j // 2) & 1)
        o = qs * a[:, None] + xbuf.index(xb).load(o_l)
        _cta_barrier()  # every warp read the exchange buffer before it is handed back
        mbarrier.arrive(xempty.index(xb), count=1)
        ob = o_smem.index(j % 2)
        tma.store_wait(pendings=1)
        ob.store(o.to(gl.bfloat16))
        fence_async_shared()
        _tma_store(o_desc, [row_base + (first + j) * BLOCK_N, col_v], ob)
    tma.store_wait(pendings=0)


@gluon.jit
def _la2_fwd_gluon_fs_kernel(q_desc, k_desc, v_desc, o_desc, SLOPES, SEG_END, H, N, E, SEG, NSEG,
                             HAS_DECAY: gl.constexpr, SPLIT: gl.constexpr, BNHD: gl.constexpr,
                             BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr,
                             STAGES: gl.constexpr, INTRA_REGS: gl.constexpr, num_warps: gl.constexpr):
    pid_bh, h, e0, p, first, nblk, row_base, col_qk, col_v = _program(H, N, E, SEG, BNHD, SPLIT, BLOCK_N,
                                                                      BLOCK_D, BLOCK_E)
    x_sl: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [1, 0])
    q_s, k_s, v_s, s_smem, vg_smem, o_smem = _buffers(q_desc, k_desc, v_desc, o_desc, STAGES, BLOCK_N, BLOCK_D,
                                                      BLOCK_E)
    xbuf = gl.allocate_shared_memory(gl.float32, [2, BLOCK_N, BLOCK_E], x_sl)
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    xfull = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
    xempty = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(ready.index(s), count=1)
        mbarrier.init(empty.index(s), count=2)  # both compute warpgroups release a stage
    for s in gl.static_range(2):
        mbarrier.init(xfull.index(s), count=1)
        mbarrier.init(xempty.index(s), count=1)
    fence_async_shared()
    gl.warp_specialize([
        (_fs_inter, (o_desc, SLOPES, SEG_END, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, xbuf, xfull,
                     xempty, pid_bh, h, e0, E, SEG, NSEG, row_base, col_v, first, nblk, p, HAS_DECAY, SPLIT, BLOCK_N,
                     BLOCK_D, BLOCK_E, STAGES)),
        (_fs_intra, (SLOPES, q_s, k_s, v_s, ready, empty, xbuf, xfull, xempty, h, nblk, HAS_DECAY, BLOCK_N, BLOCK_E,
                     STAGES)),
        (_ws_load, (q_desc, k_desc, v_desc, q_s, k_s, v_s, v_s, ready, empty, row_base, col_qk, col_v, first, nblk,
                    0, 0, False, False, STAGES, BLOCK_N, BLOCK_E)),
    ], [4, 1], [INTRA_REGS, 24])
    for s in gl.static_range(STAGES):
        mbarrier.invalidate(ready.index(s))
        mbarrier.invalidate(empty.index(s))
    for s in gl.static_range(2):
        mbarrier.invalidate(xfull.index(s))
        mbarrier.invalidate(xempty.index(s))


def fs_forward(q, k, v, slopes, layout, p: "G.Plan", o, intra_regs=160):
    """Like ``gluon_fwd.forward`` with the function-split kernel (unsplit launches only in this prototype)."""
    if p.nseg != 1:
        raise ValueError("prototype: nseg must be 1")
    b, h, n, d, e = G._dims(q, v, layout)
    _la2_fwd_gluon_fs_kernel[(b * h, e // p.block_e, 1)](
        *G._descs(q, k, v, o, layout, p.block_e), slopes if slopes is not None else q, q, h, n, e, n, 1,
        HAS_DECAY=slopes is not None, SPLIT=False, BNHD=layout == "bnhd", BLOCK_N=G.BLOCK_N, BLOCK_D=d,
        BLOCK_E=p.block_e, STAGES=p.stages, INTRA_REGS=intra_regs, num_warps=4)
    return o


def compile_sm90(block_e=32, stages=4, head_dim=128, intra_regs=160):
    import re
    import subprocess
    import tempfile

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    x = torch.empty(2 * 16 * 1024, head_dim, dtype=torch.bfloat16)
    lay_qk = gl.NVMMASharedLayout.get_default_for([G.BLOCK_N, head_dim], gl.bfloat16)
    lay_v = gl.NVMMASharedLayout.get_default_for([G.BLOCK_N, block_e], gl.bfloat16)
    dqk = G.TensorDescriptor(x, list(x.shape), list(x.stride()), [G.BLOCK_N, head_dim], lay_qk)
    dv = G.TensorDescriptor(x, list(x.shape), list(x.stride()), [G.BLOCK_N, block_e], lay_v)
    kern = _la2_fwd_gluon_fs_kernel
    sig = {"q_desc": mangle_type(dqk), "k_desc": mangle_type(dqk), "v_desc": mangle_type(dv),
           "o_desc": mangle_type(dv), "SLOPES": "*fp32", "SEG_END": "*fp32", "H": "i32", "N": "i32", "E": "i32",
           "SEG": "i32", "NSEG": "i32"}
    ce = dict(HAS_DECAY=True, SPLIT=False, BNHD=False, BLOCK_N=G.BLOCK_N, BLOCK_D=head_dim, BLOCK_E=block_e,
              STAGES=stages, INTRA_REGS=intra_regs, num_warps=4)
    for name in ce:
        sig[name] = "constexpr"
    c = triton.compile(GluonASTSource(fn=kern, signature=sig, constexprs=ce), target=GPUTarget("cuda", 90, 32),
                       options=dict(num_warps=4))
    ptx = c.asm["ptx"]
    out = {"smem": c.metadata.shared, "warps": c.metadata.num_warps,
           "wait_groups": re.findall(r"wgmma.wait_group.sync.aligned (\d+)", ptx),
           "setmaxnreg": re.findall(r"setmaxnreg.(\w+).sync.aligned.u32\s+(\d+)", ptx),
           "arrive": ptx.count("mbarrier.arrive"), "bar": ptx.count("bar.sync") + ptx.count("barrier.sync")}
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    if ptxas.exists():
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "k.ptx").write_text(ptx)
            r = subprocess.run([str(ptxas), "-arch=sm_90a", "-v", str(Path(tmp) / "k.ptx"), "-o",
                                str(Path(tmp) / "k.o")], capture_output=True, text=True)
        out["regs"] = re.findall(r"Used (\d+) registers", r.stderr + r.stdout)
        out["spill"] = re.findall(r"(\d+) bytes spill stores", r.stderr + r.stdout)
    return out


def gpu_check(out: Path) -> int:
    """Correctness (float64 reference, NaN-poisoned o; a hang is caught by the caller's time limit), then GPU time
    against the package's warp-specialized kernel at the perf shape."""
    from lightning_bench.kernels import decay_slopes, lightning_attn_reference
    from lightning_bench.timing import TimingConfig, measure

    out.mkdir(parents=True, exist_ok=True)
    lines, bad = [], 0
    for b, h, n, d, e, layout, decay, be, stages in ((1, 4, 256, 128, 128, "bhnd", True, 32, 4),
                                                      (2, 3, 1024, 128, 128, "bnhd", True, 32, 3),
                                                      (1, 2, 2048, 128, 128, "bhnd", False, 64, 3),
                                                      (2, 4, 1024, 64, 64, "bhnd", True, 32, 4),
                                                      (1, 2, 64, 128, 128, "bhnd", True, 32, 4)):
        g = torch.Generator().manual_seed(n + d)
        shp = (lambda x: (b, h, n, x)) if layout == "bhnd" else (lambda x: (b, n, h, x))
        q, k, v = (torch.randn(shp(x), generator=g).cuda().to(torch.bfloat16) for x in (d, d, e))
        sl = (decay_slopes(h) * 4).cuda() if decay else None
        o = torch.full_like(v, float("nan"))
        fs_forward(q, k, v, sl, layout, G.Plan(be, stages, 1, n), o)
        torch.cuda.synchronize()
        tr = (lambda t: t.transpose(1, 2)) if layout == "bnhd" else (lambda t: t)
        ref = tr(lightning_attn_reference(*(tr(t).double() for t in (q, k, v)), sl))
        err = ((o.double() - ref).norm() / ref.norm()).item()
        ok = bool(torch.isfinite(o).all()) and err <= 1e-2
        bad += not ok
        lines.append(f"check b{b} h{h} n{n} d{d} e{e} {layout} decay={decay} e{be} s{stages}: rel-L2 {err:.2e} "
                     f"{'PASS' if ok else 'FAIL'}")
        print(lines[-1], flush=True)
    if not bad:
        cfg = TimingConfig(warmup_s=0.03, min_samples=10, max_samples=40, max_time_s=0.15, host_decoupled=True)
        sl = decay_slopes(16).cuda()
        for n in (1024, 2048, 4096, 8192, 32768, 131072):
            q, k, v = (torch.randn(2, 16, n, 128, device="cuda").to(torch.bfloat16) for _ in range(3))
            o = torch.empty_like(v)
            ws = G.plan(q, k, v, sl, "bhnd")
            t_ws = measure(lambda: G.forward(q, k, v, sl, "bhnd", ws, o), device=q.device, config=cfg).median_ms
            row = [f"n={n:>6}: ws[{ws.describe()}] {2 * n / t_ws / 1e3:6.1f}"]
            for be, stages in ((32, 4), (32, 3), (64, 3)):
                for regs in (152, 184):
                    pl = G.Plan(be, stages, 1, n)
                    t = measure(lambda: fs_forward(q, k, v, sl, "bhnd", pl, o, regs), device=q.device,
                                config=cfg).median_ms
                    row.append(f"fs e{be} s{stages} r{regs} {2 * n / t / 1e3:6.1f}")
            lines.append("  ".join(row) + " M tokens/s")
            print(lines[-1], flush=True)
    (out / "gluon_fs_check.txt").write_text("\n".join(lines) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["compile", "check"])
    ap.add_argument("--out", type=Path, default=Path("gluon-fs-check"))
    a = ap.parse_args()
    if a.what == "compile":
        for be, stages, d, regs in ((32, 4, 128, 152), (32, 4, 128, 184), (64, 3, 128, 184), (32, 4, 64, 152)):
            print(f"e{be} s{stages} d{d} intra_regs {regs}", compile_sm90(be, stages, d, regs), flush=True)
    else:
        sys.exit(gpu_check(a.out))
