"""What Triton 3.9's Gluon emits for a 4-CTA cluster on sm_90a (compile only, no GPU): the building blocks of a TMA
multicast of Q, K across a head's four e32 value-tile programs (docs/perf-notes.md v14 item 5).

Probes (each prints the PTX facts that matter):
  1. Q replicated (NVMMASharedLayout cga bases [[0, 0], [0, 0]]) loaded with ``multicast=True`` into per-CTA mbarriers
     (``MBarrierLayout(cga_layout=[[1], [2]])``, shape [4]): who issues the copy, the CTA mask, who waits.
  2. The same with a cluster-wide barrier (``MBarrierLayout.multicta(4)``): where it lives, its count, who waits.
  3. A per-CTA tile in a replicated layout loaded without multicast (coordinates from program_id) and stored by TMA:
     who loads, who stores.
  4. A value-split layout for V/o with the CGA bases in CTA-tile units ([[0, 1], [0, 2]]: CTA rank bit 0 → tile 1,
     bit 1 → tile 2 along the value dimension): who loads and stores which columns. (Bases in elements,
     [[0, 32], [0, 64]], abort in LLVM: "Layout is expected to be surjective".)

    python tools/probe_multicast_api.py        # needs triton >= 3.9 with Gluon
"""
from __future__ import annotations

import re

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon._runtime import GluonASTSource
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier, tma
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor
from triton.runtime.jit import mangle_type


@gluon.jit
def _mc_q(q_desc, PER_CTA_BAR: gl.constexpr):
    q_s = gl.allocate_shared_memory(gl.bfloat16, q_desc.block_type.shape, q_desc.layout)
    if PER_CTA_BAR:
        bar = gl.allocate_shared_memory(gl.int64, [4], mbarrier.MBarrierLayout(cga_layout=[[1], [2]]))
    else:
        bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout.multicta(4))
    mbarrier.init(bar, count=1)
    fence_async_shared()
    mbarrier.expect(bar, q_desc.block_type.nbytes)
    tma.async_load(q_desc, [0, 0], bar, q_s, multicast=True)
    mbarrier.wait(bar, 0)
    mbarrier.invalidate(bar)


@gluon.jit
def _own_tile(v_desc, E: gl.constexpr):
    v_s = gl.allocate_shared_memory(gl.bfloat16, v_desc.block_type.shape, v_desc.layout)
    bar = gl.allocate_shared_memory(gl.int64, [4], mbarrier.MBarrierLayout(cga_layout=[[1], [2]]))
    mbarrier.init(bar, count=1)
    fence_async_shared()
    mbarrier.expect(bar, v_desc.block_type.nbytes)
    col = gl.program_id(0) * E
    tma.async_load(v_desc, [0, col], bar, v_s)
    mbarrier.wait(bar, 0)
    mbarrier.invalidate(bar)
    fence_async_shared()
    tma.async_store(v_desc, [64, col], v_s)
    tma.store_wait(0)


def _ptx(fn, desc, **ce):
    sig = {"q_desc" if "q_desc" in fn.arg_names else "v_desc": mangle_type(desc), **{k: "constexpr" for k in ce}}
    c = triton.compile(GluonASTSource(fn=fn, signature=sig, constexprs=ce), target=GPUTarget("cuda", 90, 32),
                       options=dict(num_warps=4, num_ctas=4))
    return c.asm["ptx"]


def _facts(ptx: str) -> list[str]:
    keep = ("mbarrier.init", "expect_tx", "cp.async.bulk.tensor", "try_wait", "cluster_ctarank", "skipWait",
            "mov.b16", ".reqnctapercluster", "%ctaid.x")
    return [re.sub(r"\s+", " ", ln.strip())[:150] for ln in ptx.splitlines() if any(k in ln for k in keep)]


def main():
    x = torch.empty(4096, 128, dtype=torch.bfloat16)
    rep = [[0, 0], [0, 0]]
    q = TensorDescriptor(x, list(x.shape), list(x.stride()), [64, 128],
                         gl.NVMMASharedLayout.get_default_for([64, 128], gl.bfloat16, cga_layout=rep))
    v = TensorDescriptor(x, list(x.shape), list(x.stride()), [64, 32],
                         gl.NVMMASharedLayout.get_default_for([64, 32], gl.bfloat16, cga_layout=rep))
    for title, fn, d, ce in (("1. Q multicast, per-CTA barriers", _mc_q, q, dict(PER_CTA_BAR=True)),
                             ("2. Q multicast, cluster-wide barrier (multicta)", _mc_q, q, dict(PER_CTA_BAR=False)),
                             ("3. own tile in a replicated layout: load, then TMA store", _own_tile, v, dict(E=32)),
                             ("4. value-split layout [[0, 1], [0, 2]]: load, then TMA store", _own_tile,
                              TensorDescriptor(x, list(x.shape), list(x.stride()), [64, 128],
                                               gl.NVMMASharedLayout.get_default_for([64, 128], gl.bfloat16,
                                                                                    cga_layout=[[0, 1], [0, 2]])),
                              dict(E=128))):
        print(f"== {title}")
        for line in _facts(_ptx(fn, d, **ce)):
            print("   ", line)


if __name__ == "__main__":
    main()
