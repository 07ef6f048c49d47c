"""PROTOTYPE (not part of the package, not yet run on a GPU): the Lightning Attention-2 forward (paper Algorithm 1)
in Gluon, Triton's lower-level language, so that the four products of a block overlap.

Why: triton 3.6 issues every `tl.dot` of `_la2_fwd_kernel` as its own wgmma group followed by `wgmma.wait_group 0`
(docs/perf-notes.md v7, lead 1), so a block costs the sum of four MMA latencies. Here the MMAs are async and waited
only where their results are needed: QKᵀ ∥ Q·S, then P·V ∥ the state update, the o store while the update runs.

Scope of the prototype: bf16, bhnd contiguous, head_dim 128, value tile 32/64, seq_len a multiple of 64, decay on or
off, optional sequence split (segment ends from the Triton `_la2_fwd_seg_end_kernel`, combined in-kernel as in
SPLIT mode 2). One warpgroup (4 warps) per program. TMA loads into a STAGES-deep ring (mbarriers), TMA stores of o.

    python tools/gluon_la2_fwd.py compile            # CPU: compile for sm_90a with triton 3.6, print PTX facts
    python tools/gluon_la2_fwd.py check --out DIR    # GPU: correctness against lightning_attn, then timing
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (fence_async_shared, mbarrier, tma, warpgroup_mma,
                                                              warpgroup_mma_wait)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BLOCK_N = 64


@gluon.jit
def _la2_fwd_gluon_kernel(q_desc, k_desc, v_desc, o_desc, SLOPES, SEG_END, H, N, E, SEG, NSEG,
                          HAS_DECAY: gl.constexpr, SPLIT: gl.constexpr, BLOCK_N: gl.constexpr,
                          BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr, STAGES: gl.constexpr,
                          num_warps: gl.constexpr):
    pid_bh = gl.program_id(0)
    pid_e = gl.program_id(1)
    h = pid_bh % H
    row_base = pid_bh * N  # rows of the [batch·heads·seq_len, dim] views (prototype: < 2^31 rows)
    e0 = pid_e * BLOCK_E

    # accumulator layouts (wgmma m64nXk16, one warpgroup), the register A operand of P·V, shared layouts
    sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                   instr_shape=[16, BLOCK_N, 16])
    o_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                  instr_shape=[16, BLOCK_E, 16])
    p_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_l, k_width=2)
    s_sl: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_D, BLOCK_E], gl.bfloat16)

    # decay factors of a full block (shared docs §2; exponents ≥ 0 only)
    if HAS_DECAY:
        slope = gl.load(SLOPES + h)
    else:
        slope = 0.0
    r_sc = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, sc_l)).to(gl.float32)
    c_sc = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, sc_l)).to(gl.float32)
    diff = r_sc[:, None] - c_sc[None, :]
    dmat = gl.where(diff >= 0.0, gl.exp(-slope * gl.maximum(diff, 0.0)), 0.0)
    c_o = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, o_l)).to(gl.float32)
    a = gl.exp(-slope * (c_o + 1.0))
    g = gl.exp(-slope * (BLOCK_N - 1.0 - c_o))
    lam = gl.exp(-slope * BLOCK_N)

    # the state S[:, e tile] (fp32, registers), entering this program's first block
    S = gl.zeros([BLOCK_D, BLOCK_E], gl.float32, o_l)
    if SPLIT:
        p = gl.program_id(2)
        first = p * (SEG // BLOCK_N)
        end = gl.minimum(N // BLOCK_N, first + SEG // BLOCK_N)
        lam_seg = gl.exp(-slope * SEG)
        offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(1, o_l))
        offs_e = e0 + gl.arange(0, BLOCK_E, layout=gl.SliceLayout(0, o_l))
        ptrs = offs_d[:, None] * E + offs_e[None, :]
        base = SEG_END + pid_bh.to(gl.int64) * NSEG * BLOCK_D * E
        for j in range(0, p):
            S = lam_seg * S + gl.load(base + j * BLOCK_D * E + ptrs)
    else:
        first = 0
        end = N // BLOCK_N
    nblk = end - first

    q_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], q_desc.layout)
    k_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], k_desc.layout)
    v_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], v_desc.layout)
    s_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_D, BLOCK_E], s_sl)
    vg_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_N, BLOCK_E], v_desc.layout)
    o_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], o_desc.layout)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(bars.index(s), count=1)
    s_smem.store(S.to(gl.bfloat16))
    fence_async_shared()

    nbytes: gl.constexpr = q_desc.block_type.nbytes + k_desc.block_type.nbytes + v_desc.block_type.nbytes
    for s in gl.static_range(STAGES - 1):  # prologue: the first STAGES − 1 blocks in flight
        if s < nblk:
            r = row_base + (first + s) * BLOCK_N
            mbarrier.expect(bars.index(s), nbytes)
            tma.async_copy_global_to_shared(q_desc, [r, 0], bars.index(s), q_s.index(s))
            tma.async_copy_global_to_shared(k_desc, [r, 0], bars.index(s), k_s.index(s))
            tma.async_copy_global_to_shared(v_desc, [r, e0], bars.index(s), v_s.index(s))

    zero_sc = gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l)
    zero_o = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, o_l)
    for j in range(0, nblk):
        st = j % STAGES
        mbarrier.wait(bars.index(st), (j // STAGES) & 1)
        # refill the stage block j − 1 used (every reader of it finished at the end of iteration j − 1) with block
        # j + STAGES − 1, so that load overlaps this block's work
        nj = j + STAGES - 1
        if nj < nblk:
            ns = nj % STAGES
            r = row_base + (first + nj) * BLOCK_N
            mbarrier.expect(bars.index(ns), nbytes)
            tma.async_copy_global_to_shared(q_desc, [r, 0], bars.index(ns), q_s.index(ns))
            tma.async_copy_global_to_shared(k_desc, [r, 0], bars.index(ns), k_s.index(ns))
            tma.async_copy_global_to_shared(v_desc, [r, e0], bars.index(ns), v_s.index(ns))
        qb = q_s.index(st)
        kb = k_s.index(st)
        vb = v_s.index(st)
        # QKᵀ and Q·S_{i−1} in flight together
        sc = warpgroup_mma(qb, kb.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
        qs = warpgroup_mma(qb, s_smem, zero_o, use_acc=False, is_async=True)
        sc = warpgroup_mma_wait(num_outstanding=1, deps=(sc, ))
        pm = gl.convert_layout((sc * dmat).to(gl.bfloat16), p_l)
        qs = warpgroup_mma_wait(num_outstanding=0, deps=(qs, ))
        # O_i = (QKᵀ ⊙ D) V + diag(a) Q S, and the state update S ← λ^B S + Kᵀ (diag(g) V) in flight together
        o = warpgroup_mma(pm, vb, qs * a[:, None], is_async=True)
        vg = (vb.load(o_l) * g[:, None]).to(gl.bfloat16)
        vg_smem.store(vg)
        fence_async_shared()
        S = warpgroup_mma(kb.permute((1, 0)), vg_smem, S * lam, is_async=True)
        o = warpgroup_mma_wait(num_outstanding=1, deps=(o, ))
        ob = o_smem.index(j % 2)
        tma.store_wait(pendings=1)
        ob.store(o.to(gl.bfloat16))
        fence_async_shared()
        tma.async_copy_shared_to_global(o_desc, [row_base + (first + j) * BLOCK_N, e0], ob)
        S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
        s_smem.store(S.to(gl.bfloat16))
        fence_async_shared()
    tma.store_wait(pendings=0)
    for s in gl.static_range(STAGES):
        mbarrier.invalidate(bars.index(s))


def _descs(q, k, v, o, block_e):
    b, h, n, d = q.shape
    e = v.shape[-1]
    lay_qk = gl.NVMMASharedLayout.get_default_for([BLOCK_N, d], gl.bfloat16)
    lay_v = gl.NVMMASharedLayout.get_default_for([BLOCK_N, block_e], gl.bfloat16)
    q2, k2 = q.reshape(b * h * n, d), k.reshape(b * h * n, d)
    v2, o2 = v.reshape(b * h * n, e), o.reshape(b * h * n, e)
    return (TensorDescriptor(q2, list(q2.shape), list(q2.stride()), [BLOCK_N, d], lay_qk),
            TensorDescriptor(k2, list(k2.shape), list(k2.stride()), [BLOCK_N, d], lay_qk),
            TensorDescriptor(v2, list(v2.shape), list(v2.stride()), [BLOCK_N, block_e], lay_v),
            TensorDescriptor(o2, list(o2.shape), list(o2.stride()), [BLOCK_N, block_e], lay_v))


def gluon_fwd(q, k, v, slopes=None, seq_split=1, block_e=64, stages=2):
    """o of causal linear attention with decay (bhnd, bf16, head_dim 128, seq_len % 64 == 0): the prototype."""
    from lightning_bench.kernels.lightning_attn2 import kernel as K

    b, h, n, d = q.shape
    e = v.shape[-1]
    if not (q.dtype == torch.bfloat16 and d == 128 and n % BLOCK_N == 0 and e % block_e == 0
            and all(x.is_contiguous() for x in (q, k, v))):
        raise ValueError("prototype: bf16, contiguous bhnd, head_dim 128, seq_len % 64 == 0, value_dim % block_e")
    o = torch.empty_like(v)
    nseg, seg = K.segments(seq_split, b * h, e // block_e, n, BLOCK_N, 10 ** 9, 1)
    seg_buf = q
    if nseg > 1:
        seg_buf = torch.empty(b * h, nseg, d, e, dtype=torch.float32, device=q.device)
        K._la2_fwd_seg_end_kernel[(b * h, e // block_e, nseg - 1)](
            k, v, slopes if slopes is not None else q, seg_buf, *K._strides(k, "bhnd"), *K._strides(v, "bhnd"),
            h, n, d, e, seg, nseg, HAS_DECAY=slopes is not None, PREC=K._prec(q.dtype), BLOCK_N=BLOCK_N,
            BLOCK_D=d, BLOCK_E=block_e, num_warps=4, num_stages=2)
    _la2_fwd_gluon_kernel[(b * h, e // block_e, nseg)](
        *_descs(q, k, v, o, block_e), slopes if slopes is not None else seg_buf, seg_buf, h, n, e, seg, nseg,
        HAS_DECAY=slopes is not None, SPLIT=nseg > 1, BLOCK_N=BLOCK_N, BLOCK_D=d, BLOCK_E=block_e, STAGES=stages,
        num_warps=4)
    return o


def compile_check(block_e=64, stages=2, split=True):
    """Compile for sm_90a on the CPU (no GPU needed) and report registers, spills and the wgmma waits."""
    import subprocess
    import tempfile

    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    x = torch.empty(2 * 16 * 1024, 128, dtype=torch.bfloat16)
    lay_qk = gl.NVMMASharedLayout.get_default_for([BLOCK_N, 128], gl.bfloat16)
    lay_v = gl.NVMMASharedLayout.get_default_for([BLOCK_N, block_e], gl.bfloat16)
    dqk = TensorDescriptor(x, list(x.shape), list(x.stride()), [BLOCK_N, 128], lay_qk)
    dv = TensorDescriptor(x, list(x.shape), list(x.stride()), [BLOCK_N, block_e], lay_v)
    kern = _la2_fwd_gluon_kernel
    sig = {"q_desc": mangle_type(dqk), "k_desc": mangle_type(dqk), "v_desc": mangle_type(dv),
           "o_desc": mangle_type(dv), "SLOPES": "*fp32", "SEG_END": "*fp32", "H": "i32", "N": "i32", "E": "i32",
           "SEG": "i32", "NSEG": "i32"}
    ce = dict(HAS_DECAY=True, SPLIT=split, BLOCK_N=BLOCK_N, BLOCK_D=128, BLOCK_E=block_e, STAGES=stages, num_warps=4)
    for name in ce:
        sig[name] = "constexpr"
    attrs = {(kern.arg_names.index(n),): [["tt.divisibility", 16]] for n in ("SLOPES", "SEG_END", "N", "E", "SEG")}
    c = triton.compile(GluonASTSource(fn=kern, signature=sig, constexprs=ce, attrs=attrs),
                       target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4))
    ptx = c.asm["ptx"]
    out = {"smem": c.metadata.shared, "wait_groups": re.findall(r"wgmma.wait_group.sync.aligned (\d+)", ptx),
           "wgmma": ptx.count("wgmma.mma_async"), "tma_loads": ptx.count("cp.async.bulk.tensor")}
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    if ptxas.exists():
        with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
            f.write(ptx)
        r = subprocess.run([str(ptxas), "-arch=sm_90a", "-v", f.name, "-o", "/dev/null"], capture_output=True,
                           text=True)
        out["regs"] = re.findall(r"Used (\d+) registers", r.stderr + r.stdout)
        out["spill"] = re.findall(r"(\d+) bytes spill stores", r.stderr + r.stdout)
    return out


def gpu_check(out: Path):
    """Correctness against lightning_attn (and the float64 reference at a small size), then GPU time of both."""
    from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_reference
    from lightning_bench.timing import TimingConfig, measure

    out.mkdir(parents=True, exist_ok=True)
    lines = []
    torch.manual_seed(0)
    for n, split, be, decay in ((256, 1, 64, True), (512, 3, 64, True), (512, 1, 32, False), (4096, 4, 64, True)):
        q, k, v = (torch.randn(1, 4, n, 128, device="cuda").to(torch.bfloat16) * 0.5 for _ in range(3))
        sl = decay_slopes(4).cuda() if decay else None
        o = gluon_fwd(q, k, v, sl, split, be).double()
        ref = lightning_attn_reference(q.double(), k.double(), v.double(), sl)
        err = ((o - ref).norm() / ref.norm()).item()
        lines.append(f"check n={n} split={split} e_tile={be} decay={decay}: rel-L2 {err:.2e} "
                     f"({'PASS' if err < 1e-2 else 'FAIL'})")
        print(lines[-1], flush=True)
    cfg = TimingConfig(warmup_s=0.05, min_samples=20, max_samples=60, max_time_s=0.3, host_decoupled=True)
    for n, split, be in ((2048, 1, 32), (2048, 2, 32), (2048, 1, 64), (8192, 1, 32), (8192, 2, 32), (8192, 2, 64),
                         (65536, 2, 32), (65536, 2, 64), (65536, 4, 64)):
        q, k, v = (torch.randn(2, 16, n, 128, device="cuda").to(torch.bfloat16) * 0.5 for _ in range(3))
        sl = decay_slopes(16).cuda()
        for stages in (2, 3):
            try:
                ms = measure(lambda: gluon_fwd(q, k, v, sl, split, be, stages), device=torch.device("cuda"),
                             config=cfg).median_ms
            except Exception as exc:  # shared memory or a compile error: a line, not a crash
                lines.append(f"gluon n={n} P={split} e{be} s{stages}: FAILED {type(exc).__name__}: {str(exc)[:200]}")
                print(lines[-1], flush=True)
                continue
            lines.append(f"gluon n={n} P={split} e{be} s{stages}: {ms:.4f} ms {2 * n / ms / 1e3:.1f} M tokens/s")
            print(lines[-1], flush=True)
        ms = measure(lambda: lightning_attn(q, k, v, sl), device=torch.device("cuda"), config=cfg).median_ms
        lines.append(f"triton n={n} (launch table): {ms:.4f} ms {2 * n / ms / 1e3:.1f} M tokens/s")
        print(lines[-1], flush=True)
    (out / "gluon_check.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["compile", "check"])
    ap.add_argument("--out", type=Path, default=Path("gluon-check"))
    a = ap.parse_args()
    if a.what == "compile":
        for be in (32, 64):
            for split in (False, True):
                print(f"e{be} split={split}", compile_check(be, 2, split), flush=True)
    else:
        gpu_check(a.out)
