"""Sequence-parallel Lightning Attention over ``torch.distributed`` (LASP-2 style: one state exchange each way).

Each rank of a process group holds one contiguous chunk of the sequence (rank r of the group holds chunk r). The
recurrence of the paper (arXiv 2401.04658 §3, eqs. 4–5; shared docs ``lightning-attention.md`` §1–§4)

    S_t = λ·S_{t−1} + k_tᵀ v_t,    o_t = q_t S_t,    λ = exp(−slope) per head

splits exactly at chunk boundaries. With zero initial state, rank j's kernel call returns its chunk's output
``o_local`` and its local end state ``E_j = Σ_{t in chunk j} λ^(end_j − 1 − t) k_tᵀ v_t``. The state entering
chunk r is

    S_in[r] = Σ_{j<r} λ^(start_r − end_j) E_j = Σ_{j<r} λ^(n_{j+1} + … + n_{r−1}) E_j

(start_r: first position of chunk r; end_j: one past the last position of chunk j; n_j: chunk lengths)

(an exclusive prefix combine of decayed states; shared docs §4, "sequence split"; LASP, arXiv 2404.02882), and the
true output of local position t (0-based) is

    o_t = o_local_t + λ^(t+1) · q_t S_in[r].

So every rank works on its chunk at the same time, the E_j (fp32 ``[batch, heads, head_dim, value_dim]``, 1 MiB at
16 heads × 128 × 128) are all-gathered once and each rank forms S_in[r] locally. Where our kernels split the chunk
into segments (``seq_split``, "auto" at small batch·heads), the exchange sits inside that split: every segment's local
end state is computed first (they combine into E_r), and the prefix combine of the segment states starts from S_in[r],
so the forward kernel writes the right o at once. Unsplit, the kernel runs from a zero state and the correction
above is added in place afterwards (``kernels/lightning_attn2/sp_kernels.py``). The backward mirrors it:
dS_in[r] = Σ_t λ^(t+1) q_tᵀ do_t on every rank (the segments' local R, or one reduction kernel); the dS_in of every
rank are mapped back to the E_j they came from and summed across ranks (one all-reduce); each rank then runs our
backward kernels with S_in[r] as the initial state (sweep F's dq includes λ^(t+1)·do_t S_inᵀ) and its share dE_r as
the gradient of its final state (sweep R starts from it). Decay factors are only ever formed as exp(−slope·k) with
k ≥ 0 (the safe form of shared docs §2).
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import torch
import torch.distributed as dist

_DTYPE_CODES = {torch.float16: 1, torch.bfloat16: 2, torch.float32: 3, torch.float64: 4}
_LAYOUT_CODES = {"bhnd": 0, "bnhd": 1}
_HEADER = ("ok", "seq_len", "batch", "heads", "head_dim", "value_dim", "dtype", "layout", "decay", "final_state")


def _group_info(group):
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError("group: torch.distributed is not initialized; call torch.distributed.init_process_group "
                         "first (e.g. under torchrun), or use lightning_attn on one device")
    grp = group if group is not None else dist.group.WORLD
    rank = dist.get_rank(grp)
    if rank < 0:
        raise ValueError("group: this process is not a member of the given process group")
    return grp, rank, dist.get_world_size(grp), str(dist.get_backend(grp)).lower()


def _comm_device(backend: str, q) -> torch.device:
    """Device for the collectives' buffers: CUDA for NCCL, the CPU for gloo."""
    if "nccl" in backend:
        if isinstance(q, torch.Tensor) and q.is_cuda:
            return q.device
        return torch.device("cuda", torch.cuda.current_device())
    if isinstance(q, torch.Tensor) and not ("gloo" in backend and q.is_cuda):
        return q.device
    return torch.device("cpu")


def _check_backend_device(backend: str, q: torch.Tensor) -> None:
    if backend == "nccl" and not q.is_cuda:
        raise ValueError(f"q must be a CUDA tensor for an NCCL process group, got device {q.device}")
    if backend == "gloo" and q.device.type != "cpu":
        raise ValueError(f"q must be a CPU tensor for a gloo process group (gloo has no CUDA all_gather), "
                         f"got device {q.device}")


KERNEL_OPTIONS = ("block_n", "fp32_dot", "seq_split")


def _validate_local(q, k, v, slopes, layout, initial_state, attn_fn, backend, kernel_options):
    """The checks lightning_attn would make, before any collective; returns (b, h, n, d, e)."""
    from ..kernels._common import FP32_DOTS
    from ..kernels._validate import DTYPES, MAX_HEAD_DIM, MIN_HEAD_DIM, canonical_shapes, canonical_slopes, \
        check_kernel_device

    if kernel_options is not None:
        if not isinstance(kernel_options, dict):
            raise TypeError(f"kernel_options must be None or a dict, got {type(kernel_options).__name__}")
        bad = sorted(set(kernel_options) - set(KERNEL_OPTIONS))
        if bad:
            raise ValueError(f"kernel_options may hold {KERNEL_OPTIONS}, got {bad}")
        if attn_fn is not None and kernel_options:
            raise ValueError("kernel_options are for our kernels; with attn_fn, configure attn_fn instead")
        if kernel_options.get("block_n", 64) not in (16, 32, 64, 128):  # as lightning_attn
            raise ValueError(f"kernel_options['block_n'] must be one of 16, 32, 64, 128, got {kernel_options['block_n']}")
        if kernel_options.get("fp32_dot", "ieee") not in FP32_DOTS:
            raise ValueError(f"kernel_options['fp32_dot'] must be one of {FP32_DOTS}, got {kernel_options['fp32_dot']!r}")
        split = kernel_options.get("seq_split", 1)
        if split != "auto" and (not isinstance(split, int) or isinstance(split, bool) or split < 1):
            raise ValueError(f"kernel_options['seq_split'] must be an integer ≥ 1 or 'auto', got {split!r}")
    if attn_fn is None:
        b, h, n, d, e = canonical_shapes(q, k, v, layout, dim_range=(MIN_HEAD_DIM, MAX_HEAD_DIM))
        check_kernel_device(q)
    else:
        b, h, n, d, e = canonical_shapes(q, k, v, layout, dtypes=DTYPES + (torch.float64,), dim_range=(1, 1 << 16))
    _check_backend_device(backend, q)
    canonical_slopes(slopes, h, q.device)
    if initial_state is not None:
        if not isinstance(initial_state, torch.Tensor):
            raise TypeError(f"initial_state must be None or a torch.Tensor, got {type(initial_state).__name__}")
        if tuple(initial_state.shape) != (b, h, d, e):
            raise ValueError(f"initial_state must have shape [batch, heads, head_dim, value_dim] = {[b, h, d, e]}, "
                             f"got {list(initial_state.shape)}")
        if attn_fn is None and initial_state.dtype != torch.float32:
            raise ValueError(f"initial_state must be float32 (the state is kept in fp32), got {initial_state.dtype}")
        if initial_state.device != q.device:
            raise ValueError(f"initial_state must be on q's device {q.device}, got {initial_state.device}")
    return b, h, n, d, e


def _all_gather_rows(x: torch.Tensor, world: int, grp) -> torch.Tensor:
    """All-gather a 1-D tensor into ``[world, x.numel()]`` (rank order of ``grp``)."""
    out = torch.empty((world, x.numel()), dtype=x.dtype, device=x.device)
    dist.all_gather(list(out.unbind(0)), x.contiguous(), group=grp)
    return out


def _check_group(header: list[int], err, grp, world: int, device) -> list[int]:
    """All-gather every rank's header (``_HEADER``) and raise the same ValueError on every rank when the ranks'
    inputs disagree or one rank's inputs are invalid. Returns the per-rank local seq_lens."""
    mine = torch.tensor(header, dtype=torch.int64).to(device)
    rows = _all_gather_rows(mine, world, grp).tolist()
    bad = [r for r, row in enumerate(rows) if row[0] == 0]
    if bad:
        if err is not None:
            raise err
        raise ValueError(f"lightning_attn_sp: the inputs of rank(s) {bad} of the group are invalid (the error raised "
                         "there names the argument); this rank's inputs are valid")
    col = {name: [row[i] for row in rows] for i, name in enumerate(_HEADER)}
    if len(set(col["layout"])) > 1:
        names = {c: n for n, c in _LAYOUT_CODES.items()}
        raise ValueError(f"layout must agree across the group's ranks; got {[names[c] for c in col['layout']]}")
    if len(set(col["dtype"])) > 1:
        names = {c: str(t).replace("torch.", "") for t, c in _DTYPE_CODES.items()}
        raise ValueError(f"q: the dtype must agree across the group's ranks; got {[names[c] for c in col['dtype']]}")
    shapes = list(zip(col["batch"], col["heads"], col["head_dim"], col["value_dim"]))
    if len(set(shapes)) > 1:
        raise ValueError("q, k, v: batch, heads, head_dim and value_dim must agree across the group's ranks; got "
                         f"(batch, heads, head_dim, value_dim) per rank = {shapes}")
    if len(set(col["decay"])) > 1:
        raise ValueError("slopes: None on some ranks and a tensor on others; every rank must pass the same slopes")
    if len(set(col["final_state"])) > 1:
        raise ValueError("output_final_state must be the same on every rank of the group")
    return col["seq_len"]


def _decay_rows(slopes, n: int, dtype) -> torch.Tensor | None:
    """λ^(t+1) = exp(−slope·(t+1)) for t = 0…n−1, shape [heads, n] (safe form: exponent ≤ 0); None: no decay."""
    if slopes is None:
        return None
    t = torch.arange(1, n + 1, device=slopes.device, dtype=torch.float64)
    return torch.exp(-slopes.to(torch.float64)[:, None] * t[None, :]).to(dtype)


def _compute_dtype(dtype):
    # bf16 keeps tensor-core matmuls against the state cast to bf16 (as the kernel casts its state operand, shared
    # docs §2) with fp32 accumulation; fp16 runs in fp32 (a state entry above 65504 must not overflow, as in the
    # kernel's TF32 state dots); fp32 and fp64 stay as they are.
    return torch.float32 if dtype == torch.float16 else dtype


def _bmm_fp32_out(a: torch.Tensor, b: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """a @ b for [B, m, K] × [B, K, n] with an fp32 result, K the (long) sequence axis: the sum is accumulated in fp32
    and not rounded to bf16 (``torch.bmm(out_dtype=float32)`` on CUDA where this torch has it; else fp32 operands,
    ``chunk`` rows of K at a time so that the upcast copies stay small)."""
    if a.dtype == torch.float32 or a.dtype == torch.float64:
        return torch.bmm(a, b)
    if a.is_cuda and _BMM_OUT_DTYPE[0] is not False:
        try:
            r = torch.bmm(a, b, out_dtype=torch.float32)
            _BMM_OUT_DTYPE[0] = True
            return r
        except (TypeError, RuntimeError, NotImplementedError):
            _BMM_OUT_DTYPE[0] = False
    out = None
    for i in range(0, a.shape[-1], chunk):
        part = torch.bmm(a[:, :, i:i + chunk].float(), b[:, i:i + chunk].float())
        out = part if out is None else out.add_(part)
    return out


_BMM_OUT_DTYPE = [None]


def _exchange(e_local, n: int, slopes, grp, rank: int, world: int, want_final: bool):
    """The one collective of the forward: all-gather [E_local | n_local] (the length as int64 bits in the state's
    dtype, filled on the device: no host sync). Returns (w_in, w_fin, s_in, final):
    w_in[j, h] = λ_h^(start_r − end_j) for chunks j before this rank's (0 elsewhere), w_fin[j, h] = λ_h^(N − end_j),
    s_in = Σ_j w_in[j] E_j (None on rank 0), final = Σ_j w_fin[j] E_j (None unless want_final)."""
    b, h, d, e = e_local.shape
    numel = e_local.numel()
    words = 8 // e_local.element_size()
    at = numel + (-numel) % words  # the int64 starts 8-byte aligned (odd head dims give an odd numel)
    buf = torch.zeros(at + words, dtype=e_local.dtype, device=e_local.device)
    buf[:numel].copy_(e_local.reshape(-1))
    buf[at:].view(torch.int64).fill_(n)
    gathered = _all_gather_rows(buf, world, grp)
    lens = gathered[:, at:].contiguous().view(torch.int64).reshape(world)
    e_all = gathered[:, :numel].view(world, b, h, d, e)
    ends = torch.cumsum(lens, 0)  # one past the last position of each chunk
    start = ends[rank] - lens[rank]
    before = torch.arange(world, device=lens.device) < rank
    gap_in = (start - ends).clamp_min(0).to(torch.float64)  # tokens between the end of chunk j and my start
    gap_fin = (ends[-1] - ends).to(torch.float64)  # tokens after the end of chunk j
    if slopes is None:
        w_in = before.to(e_local.dtype)[:, None].expand(world, h)
        w_fin = torch.ones(world, h, dtype=e_local.dtype, device=e_local.device)
    else:
        s64 = slopes.to(torch.float64)
        w_in = torch.where(before[:, None], torch.exp(-s64[None, :] * gap_in[:, None]),
                           torch.zeros((), dtype=torch.float64, device=lens.device)).to(e_local.dtype)
        w_fin = torch.exp(-s64[None, :] * gap_fin[:, None]).to(e_local.dtype)
    s_in = torch.einsum("ph,pbhde->bhde", w_in, e_all) if rank > 0 else None
    final = torch.einsum("ph,pbhde->bhde", w_fin, e_all) if want_final else None
    return w_in, w_fin, s_in, final


def _state_grads_to_chunks(g_in, d_final, w_in, w_fin, e_shape, grp, rank: int, world: int):
    """The one collective of the backward: this rank's dS_in (g_in, None on rank 0) and the final state's gradient
    mapped to every chunk's end state (dE_j = w_in[j]·g_in + w_fin[j]·d_final), summed over ranks (all-reduce);
    returns this rank's dE (fp32, contiguous). Every rank joins, also with nothing to add."""
    contrib = None
    if g_in is not None:
        contrib = w_in[:, None, :, None, None] * g_in.to(w_in.dtype)[None]
    if d_final is not None and d_final.numel():
        fin = w_fin[:, None, :, None, None] * d_final.to(w_fin.dtype)[None]
        contrib = fin if contrib is None else contrib + fin
    if contrib is None:
        contrib = torch.zeros((world,) + tuple(e_shape), dtype=w_in.dtype, device=w_in.device)
    contrib = contrib.contiguous()
    dist.all_reduce(contrib, op=dist.ReduceOp.SUM, group=grp)
    return contrib[rank]


def _sp_forward(q, k, v, s0, slopes, layout, block_n, fp32_dot, seq_split, exchange):
    """This rank's forward: (o, S_eff) with S_eff the state entering the chunk (None if zero). ``exchange(src, nseg,
    seg, s0)`` takes the local end states (fp32 ``[batch·heads, nseg, d, e]``, one per segment of ``seg`` rows, and
    the initial state that enters the chunk's own end state, or None) and returns S_in (None on the first rank).

    Split chunk (several segments, what seq_split="auto" gives at small batch·heads): every segment's local end state
    (``_la2_fwd_seg_end_kernel``, one segment more than one GPU computes), the exchange (their combination into the
    chunk's end state, the all-gather, S_in: ``sp_kernels.pack_end_state`` / ``combine_gathered``), the prefix combine of
    the segment states from S_in and the forward kernel: o comes out right, with no pass over o afterwards. One
    segment: the forward kernel from s0 with its final state, the exchange, then the in-place correction
    o += λ^(t+1)·q S_in (``sp_kernels``)."""
    from ..kernels.lightning_attn2 import kernel as K
    from ..kernels.lightning_attn2.sp_kernels import state_correction_

    b, h, n, d, e = K._dims(q, v, layout)  # validated by lightning_attn_sp
    cfg = K._config(d, e, block_n, q, n)
    nseg, _ = cfg.fwd_segments(seq_split, b * h, n)
    if nseg == 1:
        o, e_local = K._fwd(q, k, v, slopes, s0, True, layout, block_n, None, fp32_dot, 1)
        s_in = exchange(e_local.reshape(b * h, 1, d, e).contiguous(), 1, n, None)
        if s_in is not None:
            state_correction_(o, q, s_in, slopes, layout, fp32_dot)
        return o, (s_in if s_in is not None else s0)
    box = {}

    def hook(buf, nseg_, seg_):  # all segments' local end states are in buf: this chunk's end state, the exchange
        s_in = exchange(buf, nseg_, seg_, s0)
        box["s_eff"] = s_in if s_in is not None else s0
        return box["s_eff"]

    o, _ = K._fwd(q, k, v, slopes, s0, False, layout, block_n, None, fp32_dot, seq_split, segment_hook=hook)
    return o, box["s_eff"]


def _sp_backward(q, k, v, do, slopes, s_eff, want_ds0, need_g, layout, block_n, fp32_dot, seq_split, exchange):
    """This rank's backward: (dq, dk, dv, ds0). ``exchange(src, nseg, seg)`` takes this chunk's dS_in = Σ_t λ^(t+1)
    q_tᵀ do_t as per-segment local R (fp32 ``[batch·heads, nseg, d, e]``, each from its segment's start; None where
    not needed) and returns the gradient of this chunk's end state, dE.

    Split chunk: the local R of every segment (``_la2_bwd_seg_r_kernel`` from segment 0, one more than one GPU computes)
    gives dS_in and, after the exchange (``sp_kernels.grad_contributions`` and one all-reduce), the suffix combine from
    dE; then the three backward kernels as in ``kernel._bwd``, sweep F starting from S_eff (so dq includes
    λ^(t+1)·do_t S_inᵀ). One segment: dS_in by the same kernel, then ``kernel._bwd`` with S_eff and dE."""
    from ..kernels.lightning_attn2 import kernel as K
    from ..kernels.lightning_attn2.sp_kernels import state_grad

    b, h, n, d, e = K._dims(q, v, layout)  # validated by lightning_attn_sp
    cfg = K._config(d, e, block_n, q, n)
    nseg, _ = cfg.bwd_segments(seq_split, b * h, n)
    if nseg == 1:
        g_in = state_grad(q, do, slopes, layout, fp32_dot, cfg.bwd_block_n) if need_g else None
        dht = exchange(None if g_in is None else g_in.reshape(b * h, 1, d, e).contiguous(), 1, n)
        return K._bwd(q, k, v, do, slopes, s_eff, dht, want_ds0, layout, block_n, None, fp32_dot, seq_split)

    def hook(seg_r, nseg_, seg_):  # all segments' local R are in seg_r: dS_in, the exchange → dE
        return exchange(seg_r if need_g else None, nseg_, seg_)

    dq, dk, dv, ds0 = K._bwd(q, k, v, do, slopes, s_eff, None, want_ds0, layout, block_n, None, fp32_dot, seq_split,
                             segment_hook=hook)
    return dq, dk, dv, ds0


def _gluon_sp_plans(q, k, v, do, slopes, layout, block_n, seq_split, want_ds0):
    """The three Gluon launches of this rank's backward (``gluon_fwd.backward_plans``: sm_90, bf16, head dims 64 or
    128, seq_len % 64 == 0, contiguous, the default launch rules), or None: then the Triton backward runs. Each rank
    decides for itself: both paths take the same state exchange (dE, the gradient of the chunk's end state)."""
    if want_ds0 or not q.is_cuda or sp_backward_form() == "triton":
        return None
    from ..kernels.lightning_attn2 import kernel as K

    b, h, n, d, e = K._dims(q, v, layout)
    return K._gluon_bwd_plans(q, k, v, do, slopes, layout, block_n, seq_split, K._config(d, e, block_n, q, n, b * h),
                              n)


SP_BWD_ENV = "LIGHTNING_BENCH_SP_BWD"
SP_BWD_FORMS = ("triton", "split", "side_by_side")


def sp_backward_form() -> str:
    """The ranks' backward: ``LIGHTNING_BENCH_SP_BWD`` = "triton" (default: the Triton backward, its sequence split
    taking the exchange through ``segment_hook``), "split" (the Gluon passes as the forward's launch rule splits them,
    dq overlapping the exchange) or "side_by_side" (the unsplit Gluon passes side by side where
    ``gluon_fwd.concurrent_plans`` takes the call). Measured on 2× H200 (results/h200x2/sp-v20, perf-notes v20; b1 h16
    d128 bf16 ALiBi, strong scaling to 262144 tokens, fwd_bwd step ms, one GPU 6.33–6.38): triton **4.542** (1.40×;
    v17 4.602), split 5.035 (1.27×), side_by_side 6.002 and 6.059 (1.05×). The one-GPU estimates that had favoured the
    Gluon forms (1.83×, 1.92×: results/h200/sp-rank-v18, -v19) replaced the exchange by precomputed tensors; on two
    GPUs the exchange orders the passes — rank 0's dk, dv wait for the all-reduce, which waits for the last rank's
    whole dv pass — and an unsplit pass alone fills a fraction of the SMs.

    Raises:
        ValueError: the variable names another form."""
    form = os.environ.get(SP_BWD_ENV, "triton")
    if form not in SP_BWD_FORMS:
        raise ValueError(f"{SP_BWD_ENV}={form!r}: must be one of {', '.join(SP_BWD_FORMS)}")
    return form


def _ds_in_source(rank: int, world: int, want_final: bool) -> str:
    """Where a rank on the Gluon backward gets its chunk's dS_in (see :func:`_sp_backward_gluon`): "none" on rank 0
    (no chunk before it needs it), "dv_final" on the last rank when no rank can give the final state a gradient
    (``output_final_state`` off, the same on every rank: then that rank's dE is zero and its dv pass may run first),
    else "pass"."""
    if rank == 0:
        return "none"
    return "dv_final" if rank == world - 1 and not want_final else "pass"


def _sp_backward_gluon(q, k, v, do, slopes, s_eff, layout, plans, g_source: str, exchange_async, rank: int):
    """This rank's dq, dk, dv with the Gluon backward (three runs of the forward kernel, ``gluon_fwd.backward``),
    the state exchange overlapped with the dq pass:

        dq = F(do, v, k) from S_effᵀ                     (dq_t += λ^(t+1) do_t S_effᵀ, the forward's convention)
        dk = R(v, do, q) from dEᵀ, dv = R(k, q, do) from dE, both with ``s0_shift``

    dE, the gradient of this chunk's end state, reaches row s with λ^(n−1−s) (one λ less than an initial state of
    the reverse pass: ``s0_shift``, exact without dividing by λ). ``g_source`` says where this chunk's dS_in =
    Σ_t λ^(t+1) q_tᵀ do_t comes from: "none" (rank 0: nothing before it), "pass" (``sp_kernels.state_grad``, one
    read of q and do) or "dv_final" (the last rank without a final-state gradient, whose dE is zero: the dv pass runs
    first from no state and its state after row 0 is Σ_t λ^t q_tᵀ do_t, times λ; no extra read). ``exchange_async(src,
    nseg, seg)`` starts the all-reduce and returns ``(work, contrib)``; this rank's dE is ``contrib[rank]`` after
    ``work.wait()`` (which orders this stream after it, no host sync)."""
    from ..kernels.lightning_attn2 import gluon_fwd as G
    from ..kernels.lightning_attn2 import kernel as K

    b, h, n, d, e = K._dims(q, v, layout)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    s_t = None if s_eff is None else s_eff.float().transpose(-1, -2).contiguous()  # [b, h, e, d]
    both = None  # the forced knob (tests) or the opt-in form: see sp_backward_form
    if G.BWD_CONCURRENT is True or (G.BWD_CONCURRENT is None and sp_backward_form() == "side_by_side"):
        both = G.concurrent_plans(b * h, n, d, e, plans, G.sm_count(q.device))
    if both is not None:
        return _sp_backward_side_by_side(q, k, v, do, slopes, s_t, layout, both, g_source, exchange_async, rank,
                                         dq, dk, dv)
    pq, pk, pv = plans
    if g_source == "dv_final":
        work = _dv_pass_then_exchange(q, k, do, slopes, layout, pv, dv, exchange_async)
        G.forward(do, v, k, slopes, layout, pq, dq, s0=s_t)
        work.wait()  # this rank's dE is zero (nothing after the last chunk, no final-state gradient)
        G.forward(v, do, q, slopes, layout, pk, dk, reverse=True)
        return dq, dk, dv
    work, contrib = exchange_async(_ds_in_by_pass(q, do, slopes, layout) if g_source == "pass" else None, 1, n)
    G.forward(do, v, k, slopes, layout, pq, dq, s0=s_t)
    work.wait()
    de = contrib[rank]
    G.forward(v, do, q, slopes, layout, pk, dk, s0=de.transpose(-1, -2).contiguous(), reverse=True, s0_shift=True)
    G.forward(k, q, do, slopes, layout, pv, dv, s0=de, reverse=True, s0_shift=True)
    return dq, dk, dv


def _dv_pass_then_exchange(q, k, do, slopes, layout, pv, dv, exchange_async):
    """The last rank's dv pass (into ``dv``, from no state), its final state Σ_t λ^t q_tᵀ do_t times λ as this chunk's
    dS_in, and the all-reduce started from it (``g_source`` "dv_final" of :func:`_sp_backward_gluon`); returns the
    collective's work handle."""
    from ..kernels.lightning_attn2 import gluon_fwd as G
    from ..kernels.lightning_attn2 import kernel as K

    b, h, n, d, e = K._dims(q, dv, layout)
    _, fin = G.forward(k, q, do, slopes, layout, pv, dv, reverse=True, want_final=True)
    g = fin.view(b, h, d, e)
    if slopes is not None:
        g = g * torch.exp(-slopes.float())[None, :, None, None]
    work, _ = exchange_async(g.reshape(b * h, 1, d, e).contiguous(), 1, n)
    return work


def _ds_in_by_pass(q, do, slopes, layout):
    """This chunk's dS_in = Σ_t λ^(t+1) q_tᵀ do_t by one reduction pass over q and do (``g_source`` "pass"), shaped
    [batch·heads, 1, head_dim, value_dim] for the exchange."""
    from ..kernels.lightning_attn2 import kernel as K
    from ..kernels.lightning_attn2.sp_kernels import state_grad

    b, h, n, d, e = K._dims(q, do, layout)
    src = state_grad(q, do, slopes, layout, "ieee", K._config(d, e, K.BLOCK_N, q, n).bwd_block_n)
    return src.reshape(b * h, 1, d, e).contiguous()


def _sp_backward_side_by_side(q, k, v, do, slopes, s_t, layout, plans, g_source: str, exchange_async, rank: int,
                              dq, dk, dv):
    """:func:`_sp_backward_gluon` with unsplit passes that run side by side (``gluon_fwd.concurrent_plans``: where
    one split pass per launch would read the earlier segments' K, V twice, three unsplit launches at once fill the
    SMs). dq needs nothing from the exchange and runs on a side stream from the start; on the last rank without a
    final-state gradient dk needs nothing either, and dv (whose final state is the exchange's input) runs on this
    stream; otherwise dk and dv start when the all-reduce is done, on this stream and the second side stream. This
    stream waits for both side streams before returning (every later use of dq, dk, dv is ordered after them)."""
    from ..kernels.lightning_attn2 import gluon_fwd as G
    from ..kernels.lightning_attn2 import kernel as K

    pq, pk, pv = plans
    n = K._dims(q, v, layout)[2]
    cur, side = G.fork(q.device)
    with torch.cuda.stream(side[0]):
        G.forward(do, v, k, slopes, layout, pq, dq, s0=s_t)
    if g_source == "dv_final":
        with torch.cuda.stream(side[1]):  # this rank's dE is zero: dk from no state
            G.forward(v, do, q, slopes, layout, pk, dk, reverse=True)
        work = _dv_pass_then_exchange(q, k, do, slopes, layout, pv, dv, exchange_async)
        work.wait()
    else:
        src = _ds_in_by_pass(q, do, slopes, layout) if g_source == "pass" else None
        work, contrib = exchange_async(src, 1, n)
        work.wait()
        de = contrib[rank]
        side[1].wait_stream(cur)
        with torch.cuda.stream(side[1]):
            G.forward(k, q, do, slopes, layout, pv, dv, s0=de, reverse=True, s0_shift=True)
        G.forward(v, do, q, slopes, layout, pk, dk, s0=de.transpose(-1, -2).contiguous(), reverse=True,
                  s0_shift=True)
    G.join(q.device, cur)
    return dq, dk, dv


class _SPKernel(torch.autograd.Function):
    """Our kernels on this rank's chunk, the state exchange and the entering state in one autograd node (head dims
    ≤ 128); see :func:`_sp_forward` and :func:`_sp_backward`."""

    @staticmethod
    def forward(ctx, q, k, v, s0, slopes, layout, block_n, fp32_dot, seq_split, grp, rank, world, want_final):
        from ..kernels.lightning_attn2.kernel import _dims
        from ..kernels.lightning_attn2.sp_kernels import combine_gathered, pack_end_state

        b, h, n, d, e = _dims(q, v, layout)  # validated by lightning_attn_sp
        box = {}

        def exchange(src, nseg, seg, s0_):  # two small kernels around the one all-gather (no host sync)
            buf = pack_end_state(src, nseg, seg, n, s0_, slopes, b, h, d, e)
            gathered = _all_gather_rows(buf, world, grp)
            box["w_in"], box["w_fin"], s_in, box["final"] = combine_gathered(gathered, slopes, rank, b, h, d, e,
                                                                             want_final)
            box["e_shape"] = (b, h, d, e)
            return s_in

        o, s_eff = _sp_forward(q, k, v, s0, slopes, layout, block_n, fp32_dot, seq_split, exchange)
        ctx.save_for_backward(q, k, v, slopes, s_eff, box["w_in"], box["w_fin"])
        ctx.layout, ctx.block_n, ctx.fp32_dot, ctx.seq_split = layout, block_n, fp32_dot, seq_split
        ctx.grp, ctx.rank, ctx.world, ctx.want_final = grp, rank, world, want_final
        ctx.e_shape = box["e_shape"]
        return o, (box["final"] if want_final else q.new_empty(0, dtype=torch.float32))

    @staticmethod
    def backward(ctx, do, d_final):
        q, k, v, slopes, s_eff, w_in, w_fin = ctx.saved_tensors

        from ..kernels.lightning_attn2.sp_kernels import grad_contributions

        def exchange(src, nseg, seg):  # one kernel and the one all-reduce (no host sync)
            contrib = grad_contributions(src, nseg, seg, d_final if ctx.want_final else None, w_in, w_fin, slopes,
                                         *ctx.e_shape)
            dist.all_reduce(contrib, op=dist.ReduceOp.SUM, group=ctx.grp)
            return contrib[ctx.rank]

        want_ds0 = ctx.rank == 0 and s_eff is not None and ctx.needs_input_grad[3]
        do_c = do if do.is_contiguous() else do.contiguous()
        plans = _gluon_sp_plans(q, k, v, do_c, slopes, ctx.layout, ctx.block_n, ctx.seq_split, want_ds0)
        if plans is not None:
            def exchange_async(src, nseg, seg):  # the same contributions, the all-reduce left running
                contrib = grad_contributions(src, nseg, seg, d_final if ctx.want_final else None, w_in, w_fin,
                                             slopes, *ctx.e_shape)
                return dist.all_reduce(contrib, op=dist.ReduceOp.SUM, group=ctx.grp, async_op=True), contrib

            g_source = _ds_in_source(ctx.rank, ctx.world, ctx.want_final)
            dq, dk, dv = _sp_backward_gluon(q, k, v, do_c, slopes, s_eff, ctx.layout, plans, g_source,
                                            exchange_async, ctx.rank)
            return dq, dk, dv, None, None, None, None, None, None, None, None, None, None
        dq, dk, dv, ds0 = _sp_backward(q, k, v, do, slopes, s_eff, want_ds0, ctx.rank > 0, ctx.layout, ctx.block_n,
                                       ctx.fp32_dot, ctx.seq_split, exchange)
        return dq, dk, dv, ds0, None, None, None, None, None, None, None, None, None


class _StateExchange(torch.autograd.Function):
    """Generic path (any local attention ``attn_fn``, head dims above 128): o = o_local + diag(λ^(t+1)) q S_in[rank]
    with torch ops, after ``attn_fn`` ran with autograd of its own; also the final state of the whole sequence.
    Backward: dq, dS_in → dE_j summed across ranks (one all-reduce), into attn_fn's backward as its final-state
    gradient."""

    @staticmethod
    def forward(ctx, o_local, e_local, q, slopes, layout, grp, rank, world, want_final):
        n = q.shape[2] if layout == "bhnd" else q.shape[1]
        w_in, w_fin, s_in, final = _exchange(e_local, n, slopes, grp, rank, world, want_final)
        ctx.layout, ctx.grp, ctx.rank, ctx.world, ctx.want_final = layout, grp, rank, world, want_final
        ctx.e_shape = tuple(e_local.shape)
        if rank == 0:  # nothing enters the first chunk: o = o_local (the exchange still joins the backward)
            ctx.save_for_backward(None, None, slopes, w_in, w_fin)
            o = o_local
        else:
            cd = _compute_dtype(q.dtype)
            s_cd = s_in.to(cd)
            o = _correct(o_local, q, s_cd, _decay_rows(slopes, n, cd), layout, cd)
            ctx.save_for_backward(q, s_cd, slopes, w_in, w_fin)
        if want_final:
            return o, final
        return o, torch.empty(0, dtype=e_local.dtype, device=e_local.device)

    @staticmethod
    def backward(ctx, do, d_final):
        q, s_cd, slopes, w_in, w_fin = ctx.saved_tensors
        dq = g_in = None
        if q is not None:
            layout = ctx.layout
            n = q.shape[2] if layout == "bhnd" else q.shape[1]
            cd = s_cd.dtype
            a = _decay_rows(slopes, n, cd)
            qv = q if layout == "bhnd" else q.transpose(1, 2)
            dov = do if layout == "bhnd" else do.transpose(1, 2)
            bb, hh, _, d = qv.shape
            e = dov.shape[-1]
            dos = torch.empty((bb, hh, n, e), dtype=cd, device=do.device)  # λ^(t+1)·do_t, bhnd-contiguous
            if a is None:
                dos.copy_(dov)
            else:
                torch.mul(dov.to(cd), a[None, :, :, None], out=dos)
            if ctx.needs_input_grad[2]:
                dq_v = torch.matmul(dos, s_cd.transpose(-1, -2)).to(q.dtype)  # [b, h, n, d]
                dq = dq_v if layout == "bhnd" else dq_v.transpose(1, 2)
            qt = qv.to(cd).transpose(-1, -2).reshape(bb * hh, d, n)
            g_in = _bmm_fp32_out(qt, dos.reshape(bb * hh, n, e)).view(bb, hh, d, e)
        de_local = _state_grads_to_chunks(g_in, d_final if ctx.want_final else None, w_in, w_fin, ctx.e_shape,
                                          ctx.grp, ctx.rank, ctx.world)
        return do, de_local, dq, None, None, None, None, None, None


def _correct(o_local, q, s_cd, a, layout, cd):
    """o_local + diag(a) q S (a: [h, n] or None; S: [b, h, d, e] in cd), one rounding to o's dtype per element:
    the matmul accumulates in fp32 and adds o_local in its epilogue (baddbmm, beta = 1)."""
    qv = q if layout == "bhnd" else q.transpose(1, 2)
    ov = o_local if layout == "bhnd" else o_local.transpose(1, 2)
    b, h, n, d = qv.shape
    if a is None:
        qs = qv.to(cd)
    else:
        qs = torch.empty((b, h, n, d), dtype=cd, device=q.device)
        torch.mul(qv.to(cd), a[None, :, :, None], out=qs)
    o = torch.empty_like(o_local)
    out_v = o if layout == "bhnd" else o.transpose(1, 2)
    for i in range(b):
        if cd == o_local.dtype:
            torch.baddbmm(ov[i], qs[i], s_cd[i], out=out_v[i])
        else:
            out_v[i].copy_(torch.baddbmm(ov[i].to(cd), qs[i], s_cd[i]))
    return o


@functools.lru_cache(maxsize=None)
def _default_seq_split():
    """lightning_attn's own default, so that the sequence-parallel call and the one-GPU call split alike."""
    import inspect

    from ..kernels import lightning_attn

    return inspect.signature(lightning_attn).parameters["seq_split"].default


def lightning_attn_sp(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | None = None,
    *,
    group=None,
    layout: str = "bhnd",
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    check_group: bool = True,
    attn_fn: Callable | None = None,
    kernel_options: dict | None = None,
):
    """Sequence-parallel causal Lightning Attention-2: this rank's chunk of ``O = (Q Kᵀ ⊙ M) V`` over a sequence
    split across the ranks of a process group, forward and backward (differentiable).

    Rank r of ``group`` holds the r-th contiguous chunk of the sequence (chunks may differ in length). Every rank runs
    our Triton kernel on its chunk with a zero initial state, the local end states are all-gathered once (one
    ``[batch, heads, head_dim, value_dim]`` tensor per rank), each rank forms the state entering its chunk
    (``S_in[r] = Σ_{j<r} λ^(n_{j+1}+…+n_{r−1}) E_j``) and its output includes ``λ^(t+1)·q_t S_in[r]``: with the
    kernels' sequence split (``seq_split``, "auto" by default) the exchange happens between the segment-state and the
    main kernels at the cost of one more segment's K, V read; unsplit, a Triton kernel adds the term in place (one
    more read of q and o and write of o). The backward computes ``Σ_t λ^(t+1) q_tᵀ do_t`` (inside the split's
    local-R pass, or one more read of q and do), all-reduces the state gradients once, and runs our backward
    kernels with S_in as their initial state and this chunk's share as their final-state gradient (on Hopper in
    bf16 the Gluon backward, the all-reduce overlapping its dq pass, the last rank's dS_in taken from its dv pass:
    ``_sp_backward_gluon``). Outputs and
    gradients equal the one-device
    ``lightning_attn`` on the whole sequence up to rounding. Sources: the recurrence of Lightning Attention-2, arXiv
    2401.04658 §3 (eqs. 4–5); sequence parallelism for linear attention, LASP, arXiv 2404.02882 (this is its
    all-gather variant); shared docs ``lightning-attention.md`` §4.

    Args:
        q, k: this rank's chunk, ``[batch, heads, seq_len_local, head_dim]`` (layout "bhnd") or
            ``[batch, seq_len_local, heads, head_dim]`` ("bnhd"); v likewise with ``value_dim``. bf16, fp16 or fp32
            (float64 too when ``attn_fn`` is given); CUDA tensors for an NCCL group, CPU tensors for a gloo group
            (there the kernels need ``TRITON_INTERPRET=1``, see ``lightning_bench.kernels``). batch, heads, head
            dims, dtype and layout must agree across ranks; seq_len_local may differ per rank (≥ 1).
        slopes: None (no decay) or fp32 ``[heads]``, finite, ≥ 0, the same on every rank; per-token decay
            λ = exp(−slope) (unitless, per token).
        group: the ``torch.distributed`` process group (default: the world group). Its rank order is the chunk order.
        layout: "bhnd" or "bnhd"; o uses the same layout.
        initial_state: optional state before the first token of the whole sequence, fp32
            ``[batch, heads, head_dim, value_dim]``; used by rank 0 of the group only (other ranks may pass None or
            the same tensor; it is ignored there), differentiable on rank 0.
        output_final_state: also return the state after the last token of the whole sequence, fp32
            ``[batch, heads, head_dim, value_dim]``, the same on every rank (differentiable; gradients given to it on
            several ranks are summed, as for any replicated tensor).
        check_group: before the exchange, all-gather a small header (shapes, dtype, layout, slopes given or not,
            validity of each rank's inputs) and raise the same ``ValueError`` on every rank when they disagree. One
            extra tiny collective and a host sync per call; with False, mismatched inputs across ranks are undefined
            behaviour (a collective may hang) and a rank's invalid input raises on that rank alone.
        attn_fn: the local attention, called as ``attn_fn(q, k, v, slopes, layout=…, initial_state=…,
            output_final_state=True)`` → ``(o, final_state)``; default our ``lightning_attn``. The float64
            ``lightning_attn_reference`` here gives an exact float64 sequence-parallel oracle (tests).
        kernel_options: ``block_n``, ``fp32_dot`` and ``seq_split`` of ``lightning_attn`` (e.g.
            ``{"seq_split": 1}``), for the local kernels; defaults as ``lightning_attn``'s.

    Head dims above 128 (``lightning_attn``'s chunked path) and ``attn_fn`` use a generic path: the local attention
    with its own autograd, then the correction with torch ops (``baddbmm`` with fp32 accumulation; fp16 in fp32).

    Returns:
        o with v's dtype, this rank's chunk, in ``layout``; with ``output_final_state=True`` the tuple
        ``(o, final_state)``.

    Raises:
        ValueError: torch.distributed not initialised or this process outside ``group`` (names ``group``); the
            checks of ``lightning_attn`` on the local tensors (wrong rank, mismatched shapes, unsupported dims or
            dtype, bad slopes, bad initial_state, a device the group's backend cannot use, bad kernel_options); with
            ``check_group``,
            shapes, dtype, layout, slopes or output_final_state that differ across ranks, or invalid inputs on
            another rank (raised on every rank, so no rank is left waiting in a collective).
        TypeError: arguments that are not tensors.

    Every rank must call this function the same number of times, and every rank must run the backward when one does
    (the backward holds one collective).
    """
    from ..kernels import lightning_attn
    from ..kernels._validate import KERNEL_MAX_DIM

    grp, rank, world, backend = _group_info(group)
    err = None
    try:
        b, h, n, d, e = _validate_local(q, k, v, slopes, layout, initial_state, attn_fn, backend, kernel_options)
    except (ValueError, TypeError) as ex:
        err, (b, h, n, d, e) = ex, (0, 0, 0, 0, 0)
    opts = dict(kernel_options or {})
    fused = attn_fn is None and d <= KERNEL_MAX_DIM and e <= KERNEL_MAX_DIM
    if attn_fn is None:
        def attn_fn(q_, k_, v_, s_, layout, initial_state, output_final_state):  # noqa: F811
            return lightning_attn(q_, k_, v_, s_, layout=layout, initial_state=initial_state,
                                  output_final_state=output_final_state, **opts)
    if world == 1:
        if err is not None:
            raise err
        return attn_fn(q, k, v, slopes, layout=layout, initial_state=initial_state,
                       output_final_state=output_final_state)
    if check_group:
        header = [0 if err is not None else 1, n, b, h, d, e,
                  _DTYPE_CODES.get(getattr(q, "dtype", None), 0) if err is None else 0,
                  _LAYOUT_CODES.get(layout, 0), int(slopes is not None), int(bool(output_final_state))]
        _check_group(header, err, grp, world, _comm_device(backend, q))
    elif err is not None:
        raise err
    s_flat = None if slopes is None else slopes.reshape(h).contiguous()
    s0 = initial_state if rank == 0 else None
    if fused:  # our kernels, the exchange and the correction in one autograd node
        from ..kernels.lightning_attn2.kernel import BLOCK_N

        o, final = _SPKernel.apply(q, k, v, None if s0 is None else s0.contiguous(), s_flat, layout,
                                   opts.get("block_n", BLOCK_N), opts.get("fp32_dot", "ieee"),
                                   opts.get("seq_split", _default_seq_split()), grp, rank, world,
                                   bool(output_final_state))
    else:  # any local attention (its own autograd), then the exchange and the correction with torch ops
        o_local, e_local = attn_fn(q, k, v, slopes, layout=layout, initial_state=s0, output_final_state=True)
        o, final = _StateExchange.apply(o_local, e_local, q, s_flat, layout, grp, rank, world,
                                        bool(output_final_state))
    return (o, final) if output_final_state else o
