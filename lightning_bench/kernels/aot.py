"""Ahead-of-time compilation of every Triton kernel variant for a GPU target, without a GPU.

``python -m lightning_bench.kernels.aot [--arch 90]`` compiles each kernel with the constexpr combinations and launch
parameters the wrappers use (bf16/fp16/fp32/tf32, decay on/off, states, varlen, sequence split, head dims 64/128)
down to a cubin for the given compute capability, using the installed Triton's bundled ptxas. It catches compile
errors, out-of-resource shared-memory sizes and Triton-version incompatibilities on a CPU-only machine (CI, or with
another Triton on PYTHONPATH, e.g. the GPU's version). It does not run anything: correctness stays with the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import torch
import triton

H100_SMEM = 232448  # bytes of shared memory per block on sm_90 (the H200 reported this limit)
_FP32_PTRS = {"SLOPES", "S0", "HT", "SEG_END", "SEG_R", "DHT", "DS0", "BUF", "INIT", "S_IN", "PART",
              "SRC", "G", "FINAL", "W_IN", "W_FIN", "DFIN", "OUT"}
_I64_PTRS = {"BUF64", "G64"}
_DATA_PTRS = {"Q", "K", "V", "O", "DO", "DQ", "DK", "DV"}


@dataclass
class Variant:
    kernel: object
    dtype: str  # "bf16", "fp16", "fp32"
    constexprs: dict
    num_warps: int
    num_stages: int

    @property
    def name(self) -> str:
        flags = ",".join(f"{k}={v}" for k, v in self.constexprs.items() if not k.startswith("BLOCK"))
        blocks = "x".join(str(self.constexprs[k]) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_D", "BLOCK_E")
                          if k in self.constexprs)
        return f"{self.kernel.__name__}[{self.dtype} {blocks} {flags} w{self.num_warps}s{self.num_stages}]"


def _signature(kernel, dtype: str, constexprs: dict) -> dict:
    sig = {}
    for p in kernel.arg_names:
        if p in constexprs:
            sig[p] = "constexpr"
        elif p in _FP32_PTRS:
            sig[p] = "*fp32"
        elif p in _DATA_PTRS:
            sig[p] = f"*{dtype}"
        elif p == "CU":
            sig[p] = "*i32"
        elif p in _I64_PTRS:
            sig[p] = "*i64"
        elif p[0] == "s":  # strides
            sig[p] = "i64"
        else:  # H, N, D, E, SEG, NSEG, N_ARG
            sig[p] = "i32"
    return sig


def variants(quick: bool = False) -> list[Variant]:
    """Every variant the wrappers launch (head dims 64 and 128), or with ``quick`` one of each kernel and precision
    path at head dim 128 (what CI compiles)."""
    from .lightning_attn1 import kernel as k1
    from .lightning_attn2 import kernel as k2
    from .lightning_attn2 import sp_kernels as ksp

    out = []
    precs = {"bf16": (torch.bfloat16, "ieee"), "fp16": (torch.float16, "ieee"), "fp32": (torch.float32, "ieee"),
             "tf32": (torch.float32, "tf32")}
    for dim in ((128,) if quick else (64, 128)):
        cfg = k2._Config(dim, dim, k2.BLOCK_N)
        launch = dict(num_warps=cfg.fwd_warps, num_stages=cfg.fwd_stages)
        blaunch = dict(num_warps=cfg.bwd_warps, num_stages=cfg.bwd_stages)
        for label, (dt, fp32_dot) in precs.items():
            dtype = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}[dt]
            prec = k2._prec(dt, fp32_dot)
            for decay in (False, True):
                base = dict(HAS_DECAY=decay, PREC=prec, BLOCK_N=cfg.block_n)
                # split: the kernels' SPLIT mode (kernel.split_mode): 0 one segment, 2 states combined in the
                # kernel, 1 states combined by the scan kernel first (more than COMBINE_MAX_SEGMENTS segments)
                for states, varlen, split in ((False, False, 0), (True, False, 2), (True, True, 0), (False, False, 1)):
                    if split == 1 and label != "bf16":
                        continue
                    if label in ("fp16", "fp32", "tf32") and (states or not decay) and (dim == 64 or quick):
                        continue  # keep the matrix small: the precision paths do not depend on these flags
                    if quick and label == "bf16" and not decay:
                        continue
                    out.append(Variant(k2._la2_fwd_kernel, dtype, dict(
                        base, IS_VARLEN=varlen, HAS_S0=states, STORE_HT=states, SPLIT=split, BLOCK_D=cfg.bd,
                        BLOCK_E=cfg.fwd_be), **launch))
                    out.append(Variant(k2._la2_bwd_dq_kernel, dtype, dict(
                        base, IS_VARLEN=varlen, HAS_S0=states, SPLIT=split, BLOCK_D=cfg.bwd_bd, BLOCK_E=cfg.be),
                        **blaunch))
                    out.append(Variant(k2._la2_bwd_dk_kernel, dtype, dict(
                        base, IS_VARLEN=varlen, HAS_DHT=states, SPLIT=split, BLOCK_D=cfg.bwd_bd, BLOCK_E=cfg.be),
                        **blaunch))
                    out.append(Variant(k2._la2_bwd_dv_kernel, dtype, dict(
                        base, IS_VARLEN=varlen, HAS_DHT=states, STORE_DS0=states, SPLIT=split, BLOCK_D=cfg.bd,
                        BLOCK_E=cfg.bwd_be), **blaunch))
                    out.append(Variant(k2._la2_bwd_fused_kernel, dtype, dict(
                        base, IS_VARLEN=varlen, HAS_S0=states, HAS_DHT=states, STORE_DS0=states, SPLIT=split,
                        BLOCK_D=cfg.bwd_bd, BLOCK_E=cfg.be, BLOCK_DV=cfg.bd, BLOCK_EV=cfg.bwd_be), **blaunch))
                if quick and label != "bf16":
                    continue
                out.append(Variant(k2._la2_fwd_seg_end_kernel, dtype, dict(
                    base, BLOCK_D=cfg.bd, BLOCK_E=cfg.fwd_be), **launch))
                out.append(Variant(k2._la2_bwd_seg_r_kernel, dtype, dict(
                    base, BLOCK_D=cfg.bd, BLOCK_E=cfg.bwd_be), **blaunch))
                if label == "bf16":  # the state scan works on fp32 states only: one set of variants per dim
                    for init, reverse in ((False, False), (True, True)):
                        out.append(Variant(k2._la2_state_scan_kernel, "fp32", dict(
                            HAS_DECAY=decay, HAS_INIT=init, REVERSE=reverse, BLOCK_D=min(32, cfg.bd),
                            BLOCK_E=min(32, cfg.be)), num_warps=2, num_stages=1))
                # sequence parallelism across GPUs (lightning_attn_sp): the state correction
                out.append(Variant(ksp._sp_correct_kernel, dtype, dict(
                    HAS_DECAY=decay, PREC=prec, BLOCK_M=ksp.BLOCK_M, BLOCK_D=cfg.bd, BLOCK_E=cfg.be),
                    num_warps=4, num_stages=1))
        la1_dtypes = (("bf16", torch.bfloat16),) if quick else (("bf16", torch.bfloat16), ("fp16", torch.float16),
                                                                 ("fp32", torch.float32))
        for dtype, dt in la1_dtypes:
            c1 = k1._Config(dim, dim, k1.BLOCK_N, dt)
            l1 = dict(num_warps=c1.num_warps, num_stages=c1.num_stages)
            b1 = dict(HAS_DECAY=True, PREC=k1._prec(dt), BLOCK_N=k1.BLOCK_N)
            out.append(Variant(k1._la1_fwd_kernel, dtype, dict(b1, BLOCK_D=c1.bd, BLOCK_E=c1.be), **l1))
            out.append(Variant(k1._la1_bwd_dq_kernel, dtype, dict(b1, BLOCK_E=c1.be, BLOCK_D=c1.bd), **l1))
            out.append(Variant(k1._la1_bwd_dkdv_kernel, dtype, dict(b1, BLOCK_D=c1.bd, BLOCK_E=c1.be), **l1))
    # the sp state exchange (fp32 states; dims are runtime values)
    for decay in (False, True):
        for s0 in ((False, True) if not quick else (True,)):
            out.append(Variant(ksp._sp_pack_kernel, "fp32", dict(HAS_DECAY=decay, HAS_S0=s0, BLOCK=ksp.EX_BLOCK),
                               num_warps=4, num_stages=1))
        for want_in, want_final in (((True, False), (False, True), (True, True)) if not quick else ((True, True),)):
            out.append(Variant(ksp._sp_exchange_kernel, "fp32", dict(
                HAS_DECAY=decay, WANT_IN=want_in, WANT_FINAL=want_final, BLOCK=ksp.EX_BLOCK), num_warps=4,
                num_stages=1))
        for has_g, has_dfin in (((True, False), (False, True), (True, True)) if not quick else ((True, True),)):
            out.append(Variant(ksp._sp_grad_contrib_kernel, "fp32", dict(
                HAS_G=has_g, HAS_DFIN=has_dfin, HAS_DECAY=decay, BLOCK=ksp.EX_BLOCK), num_warps=4, num_stages=1))
    return out


def compile_variant(v: Variant, arch: int = 90):
    """Compile one variant to a cubin for ``sm_{arch}``; returns the compiled kernel (raises on failure)."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    src = ASTSource(fn=v.kernel, signature=_signature(v.kernel, v.dtype, v.constexprs), constexprs=v.constexprs)
    return triton.compile(src, target=GPUTarget("cuda", arch, 32),
                          options={"num_warps": v.num_warps, "num_stages": v.num_stages})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90, help="compute capability ×10 (90 = Hopper: H100/H200)")
    ap.add_argument("--filter", default="", help="only kernels whose name contains this")
    ap.add_argument("--quick", action="store_true", help="one variant per kernel and precision path (CI)")
    args = ap.parse_args(argv)
    fails = 0
    vs = [v for v in variants(args.quick) if args.filter in v.kernel.__name__]
    print(f"triton {triton.__version__}, sm_{args.arch}: {len(vs)} variants")
    for v in vs:
        t0 = time.perf_counter()
        try:
            k = compile_variant(v, args.arch)
            smem = k.metadata.shared
            ok = smem <= H100_SMEM
            fails += not ok
            print(f"{'OK ' if ok else 'BIG'} {v.name}: {smem} B shared, {time.perf_counter() - t0:.1f} s")
        except Exception as ex:  # report and go on
            fails += 1
            msg = str(ex).strip().splitlines()
            print(f"ERR {v.name}: {type(ex).__name__}: {msg[-1] if msg else ''}")
    print(f"{len(vs) - fails}/{len(vs)} compiled within the sm_{args.arch} shared-memory limit")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
