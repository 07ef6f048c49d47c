"""Sequence-parallel benchmark (``lightning-bench sweep-sp``, issue #7): strong and weak scaling of
:func:`lightning_attn_sp` across the ranks of a torchrun job, against our kernel on one GPU.

Per configuration and mode (fwd, fwd_bwd) every rank writes one row (gathered to rank 0, which writes
``sp_rows.csv``):
- **strong scaling**: the total seq_len is fixed, each of the W ranks holds total / W tokens;
- **weak scaling**: seq_len per rank is fixed, the total is W times it;
- **single**: rank 0 alone runs ``lightning_attn`` on the whole sequence (the one-GPU time at the same total, and at
  the weak-scaling per-rank length), while the other ranks wait; ``oom`` rows mark lengths that do not fit one GPU;
- **comm**: the state all-gather alone (mode "fwd") and the state-gradient all-reduce alone (mode "bwd"), same
  sizes; the scaling rows' ``comm_ms`` is the first (fwd) or the sum of both (fwd_bwd);
- **check**: one small configuration, sequence-parallel output and gradients against one-GPU ``lightning_attn`` and
  the float64 reference on the same inputs (relative L2 of o, dq, dk, dv).

Timing (shared docs §7) is SPMD: the same number of calls on every rank (warm-up and sample counts agreed through
an all-reduce of the slowest rank's estimate), a barrier before each sample so that the ranks start together, the
L2 flushed before it, CUDA events around the call alone; a sample's *step* time is the slowest rank's time, and
tokens/s is total tokens over the median step time. Peak memory per rank is measured on one extra call, as a delta
over the inputs (``peak_mem_mib``) and absolute (``peak_abs_mib``, what decides whether it fits). A failure on a rank
is a status row on every rank (e.g. ``oom``), not a crash, when the ranks fail alike (same shapes, same memory); a
rank failing inside the exchange while another waits in it ends the job after the process group's timeout, with
the rows written so far kept.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

SP_COLUMNS = [
    "scaling", "mode", "rank", "world_size", "device", "device_name", "batch", "heads", "head_dim", "value_dim",
    "dtype", "decay", "layout", "seq_len_total", "seq_len_local", "status", "reason", "n_samples", "median_ms",
    "p20_ms", "p80_ms", "first_call_ms", "step_ms", "step_p20_ms", "step_p80_ms", "tokens_per_s", "comm_ms",
    "comm_bytes", "peak_mem_mib", "peak_abs_mib", "peak_reserved_mib", "single_gpu_ms", "speedup",
    "single_gpu_local_ms", "weak_efficiency", "check", "rel_l2_o", "rel_l2_dq", "rel_l2_dk", "rel_l2_dv",
    "fp64_rel_l2_o", "fp64_rel_l2_dq", "fp64_rel_l2_dk", "fp64_rel_l2_dv", "impl", "timer", "l2_policy", "note",
    "timestamp",
]
SP_ROWS_FILE = "sp_rows.csv"
SP_SUMMARY_FILE = "sp_summary.md"
SP_MODES = ("fwd", "fwd_bwd")
NAN = float("nan")


@dataclass
class SPSpec:
    """What to measure. Lengths are in tokens; every strong-scaling total must divide evenly by the rank count.

    Attributes:
        seq_len_total: strong scaling: total seq_len values (each rank holds total / world_size).
        seq_len_local: weak scaling: per-rank seq_len values (total = world_size × each).
        batch, heads, head_dim, value_dim (None: = head_dim), dtype ("bf16", "fp16", "fp32"), decay ("none" or a
            slope scheme of ``decay_slopes``), layout ("bhnd" or "bnhd"), modes (among "fwd", "fwd_bwd").
        single: also time one GPU (rank 0) on the whole sequence.
        check_seq_len: total seq_len of the correctness check (0: no check).
    """

    seq_len_total: list[int] = field(default_factory=lambda: [32768, 131072, 262144])
    seq_len_local: list[int] = field(default_factory=lambda: [65536])
    batch: int = 1
    heads: int = 16
    head_dim: int = 128
    value_dim: int | None = None
    dtype: str = "bf16"
    decay: str = "alibi"
    layout: str = "bhnd"
    modes: list[str] = field(default_factory=lambda: ["fwd", "fwd_bwd"])
    single: bool = True
    check_seq_len: int = 8192

    @property
    def e(self) -> int:
        return self.value_dim or self.head_dim

    def validate(self, world_size: int) -> None:
        """Raises ValueError naming the field and the rule."""
        from ..baselines.base import DTYPES
        from ..cases import DECAYS
        from ..kernels._validate import LAYOUTS, MAX_HEAD_DIM, MIN_HEAD_DIM

        for name in ("seq_len_total", "seq_len_local"):
            bad = [v for v in getattr(self, name) if not isinstance(v, int) or v < 1]
            if bad:
                raise ValueError(f"{name} values must be integers ≥ 1, got {bad}")
        bad = [v for v in self.seq_len_total if v % world_size or v < world_size]
        if bad:
            raise ValueError(f"seq_len_total values must be multiples of the number of ranks ({world_size}) for "
                             f"equal chunks, got {bad}")
        if not self.seq_len_total and not self.seq_len_local and not self.check_seq_len:
            raise ValueError("nothing to measure: give seq_len_total (strong scaling), seq_len_local (weak scaling) or "
                             "a check_seq_len")
        for name in ("batch", "heads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer ≥ 1, got {getattr(self, name)!r}")
        for name, v in (("head_dim", self.head_dim), ("value_dim", self.e)):
            if not MIN_HEAD_DIM <= v <= MAX_HEAD_DIM:
                raise ValueError(f"{name} must be between {MIN_HEAD_DIM} and {MAX_HEAD_DIM}, got {v}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be among {sorted(DTYPES)}, got {self.dtype!r}")
        if self.decay not in DECAYS:
            raise ValueError(f"decay must be among {DECAYS}, got {self.decay!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be among {LAYOUTS}, got {self.layout!r}")
        bad = [m for m in self.modes if m not in SP_MODES]
        if bad or not self.modes:
            raise ValueError(f"mode must be among {SP_MODES}, got {self.modes}")
        if self.check_seq_len and (self.check_seq_len % world_size or self.check_seq_len < world_size):
            raise ValueError(f"check_seq_len must be a multiple of the number of ranks ({world_size}), got "
                             f"{self.check_seq_len}")


@dataclass
class SPOptions:
    """How to run: ``out_dir`` (created; must not hold an sp_rows.csv yet), ``timing``
    (:class:`lightning_bench.timing.TimingConfig`), input ``seed``, ``quiet``, the process group's collective
    ``timeout_s``, ``check_group`` (the per-call cross-rank argument check inside timed calls; off by default,
    the check config runs it) and ``calls_per_sample`` (back-to-back calls per timed sample, one-GPU baseline and
    sequence-parallel rows alike; see :func:`measure_spmd`)."""

    out_dir: Path
    timing: object = None
    seed: int = 0
    quiet: bool = False
    timeout_s: float = 1800.0
    check_group: bool = False
    calls_per_sample: int = 1


# ---------------------------------------------------------------- SPMD timing
def _max_over_ranks(x: float, shard) -> float:
    import torch.distributed as dist

    t = torch.tensor([x], dtype=torch.float64, device=shard.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def measure_spmd(fn, *, pre, shard, config, calls_per_sample: int = 1, collective: bool = True):
    """Time ``fn`` (which holds collectives) the same number of times on every rank.

    Every sample starts from an idle device (synchronize, then a barrier of all ranks when ``collective``) and times
    ``calls_per_sample`` back-to-back calls with one pair of CUDA events (reported per call): with 1, all host-side
    latency of a call is in its time; with more, the host runs ahead of the GPU as in a training loop. The one-GPU
    baseline is timed by the same loop with ``collective=False`` (rank 0 alone), so speed-ups compare like with like.

    Returns (Measurement of this rank, step samples in ms: per sample the slowest rank's time).
    """
    if calls_per_sample < 1:
        raise ValueError(f"calls_per_sample must be ≥ 1, got {calls_per_sample}")
    import torch.distributed as dist

    from ..timing import Measurement, l2_flush_buffer

    cfg = config
    device = shard.device
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    barrier = shard.barrier if collective else (lambda: None)
    pre()
    sync()
    barrier()
    t0 = time.perf_counter()
    fn()
    sync()
    first_ms = (time.perf_counter() - t0) * 1e3

    calls, t0 = 0, time.perf_counter()
    for _ in range(cfg.min_warmup_calls):
        pre()
        fn()
        calls += 1
    sync()
    est_ms = max((time.perf_counter() - t0) * 1e3 / max(calls, 1), 1e-3)
    if collective:
        est_ms = _max_over_ranks(est_ms, shard)
    est_ms *= calls_per_sample
    for _ in range(max(0, math.ceil(cfg.warmup_s * 1e3 / est_ms) - calls)):
        pre()
        fn()
        calls += 1
    sync()
    n = int(min(cfg.max_samples, max(cfg.min_samples, cfg.max_time_s * 1e3 / est_ms)))
    flush = l2_flush_buffer(device) if (cuda and cfg.flush_l2) else None
    samples = []
    for _ in range(n):
        pre()
        if flush is not None:
            flush.zero_()
        sync()
        barrier()
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for i in range(calls_per_sample):
                if i:
                    pre()
                fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / calls_per_sample)
        else:
            t0 = time.perf_counter()
            for i in range(calls_per_sample):
                if i:
                    pre()
                fn()
            samples.append((time.perf_counter() - t0) * 1e3 / calls_per_sample)
    if collective:
        mine = torch.tensor(samples, dtype=torch.float64, device=device)
        everyone = [torch.empty_like(mine) for _ in range(shard.world_size)]
        dist.all_gather(everyone, mine)
        step = torch.stack(everyone).max(dim=0).values.tolist()
    else:
        step = list(samples)
    how = ("synchronize + barrier" if collective else "synchronize") + " before each sample" + (
        f", {calls_per_sample} back-to-back calls per sample (per-call time)" if calls_per_sample > 1 else "")
    if cuda:
        timer = f"cuda_event ({how})"
        policy = (f"cold: {flush.numel() // 2**20} MiB (2×L2) zeroed before each sample" if flush is not None
                  else "warm: no flush")
    else:
        timer, policy = f"perf_counter (CPU; {how})", "n/a (CPU)"
    return Measurement(samples_ms=samples, first_call_ms=first_ms, timer=timer, l2_policy=policy,
                       warmup_calls=calls), step


def peak_memory(fn, pre, device) -> tuple[float, float, float]:
    """(peak allocated over what was allocated before, absolute peak allocated, peak reserved over before), MiB,
    of one call; NaNs on the CPU (``timing.peak_memory_mib`` with the absolute peak)."""
    from ..timing import peak_memory_mib

    peak, res, peak_abs = peak_memory_mib(fn, pre=pre, device=device, absolute=True)
    return peak, peak_abs, res


def _quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return NAN
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# ---------------------------------------------------------------- inputs and calls
def _slopes(spec: SPSpec, device):
    from ..kernels.slopes import decay_slopes

    if spec.decay == "none":
        return None
    if spec.decay == "alibi":
        return decay_slopes(spec.heads, "alibi").to(device)
    return decay_slopes(spec.heads, spec.decay, layer_idx=0, num_layers=24).to(device)


def _shape(spec: SPSpec, n: int, dim: int):
    return (spec.batch, spec.heads, n, dim) if spec.layout == "bhnd" else (spec.batch, n, spec.heads, dim)


def _random_inputs(spec: SPSpec, n: int, device, seed: int, grad: bool):
    from ..baselines.base import DTYPES

    g = torch.Generator(device=device).manual_seed(seed)
    dt = DTYPES[spec.dtype]
    q, k = (torch.randn(_shape(spec, n, spec.head_dim), device=device, dtype=dt, generator=g) for _ in range(2))
    v, do = (torch.randn(_shape(spec, n, spec.e), device=device, dtype=dt, generator=g) for _ in range(2))
    if grad:
        q, k, v = (x.requires_grad_() for x in (q, k, v))
    return q, k, v, do


def _callables(mode, q, k, v, do, call):
    """(fn, pre) for fwd / fwd_bwd: the one-GPU sweep's callables (``sweep._mode_callables``) on ``call(q, k, v)``."""
    from types import SimpleNamespace

    from ..sweep import _mode_callables

    fn, pre, _ = _mode_callables(mode, SimpleNamespace(leaves=[q, k, v], forward=lambda: call(q, k, v),
                                                       grad_out=do))
    return fn, (pre or (lambda: None))


def _classify(ex):
    from ..sweep import _first_line, classify

    return classify(ex), _first_line(ex)


def _cleanup(device):
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def _rel(a, b) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


# ---------------------------------------------------------------- the run
class _Writer:
    def __init__(self, path: Path):
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self.f = path.open("a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=SP_COLUMNS, extrasaction="ignore")
        if new:
            self.w.writeheader()
            self.f.flush()

    def write(self, row: dict) -> None:
        def fmt(x):
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return ""
            return repr(x) if isinstance(x, float) else x

        self.w.writerow({c: fmt(row.get(c)) for c in SP_COLUMNS})
        self.f.flush()

    def close(self):
        self.f.close()


def run_sp_sweep(spec: SPSpec, opts: SPOptions) -> Path | None:
    """Run the sequence-parallel benchmark under torchrun (every rank calls this); returns the CSV path on rank 0
    (None on the other ranks).

    Raises:
        ValueError: not under torchrun, a bad spec (names the field), or an out_dir that already has sp_rows.csv.
    """
    from ..sweep import prepare_cpu_interpreter
    from .launch import init_from_env

    prepare_cpu_interpreter()
    shard = init_from_env(timeout_s=opts.timeout_s, min_world=1)
    if shard is None:
        raise ValueError("sweep-sp runs under torchrun, one rank per GPU: `lightning-bench sweep-sp --devices 0,1` "
                         "or `torchrun --nproc-per-node 2 -m lightning_bench sweep-sp`")
    try:
        return _run(spec, opts, shard)
    finally:
        shard.close()


def _run(spec: SPSpec, opts: SPOptions, shard) -> Path | None:
    from .. import envinfo
    from ..kernels import kernel_impl_name, lightning_attn
    from ..sweep import device_name
    from ..timing import TimingConfig
    from .sp import lightning_attn_sp

    spec.validate(shard.world_size)
    timing = opts.timing or TimingConfig()
    W, rank, device, main = shard.world_size, shard.rank, shard.device, shard.is_main
    out_dir = Path(shard.broadcast_object(str(opts.out_dir)))
    if (out_dir / SP_ROWS_FILE).exists():
        raise ValueError(f"--out {out_dir} already holds an {SP_ROWS_FILE}; choose a new directory")
    shard.barrier()
    where = dict(rank=rank, world_size=W, device=str(device), device_name=device_name(device))
    env = envinfo.collect(device)
    env["sp_spec"] = dict(spec.__dict__)
    env["timing"] = timing.__dict__
    env["check_group_in_timed_calls"] = opts.check_group
    env["ranks"] = shard.all_gather_object({**where, "gpu": env.get("gpu"), "hostname": env.get("hostname")})
    writer = None
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "env.json").write_text(json.dumps(env, indent=2, default=str) + "\n")
        writer = _Writer(out_dir / SP_ROWS_FILE)
    shape = dict(batch=spec.batch, heads=spec.heads, head_dim=spec.head_dim, value_dim=spec.e, dtype=spec.dtype,
                 decay=spec.decay, layout=spec.layout)
    from ..baselines.base import DTYPES
    from ..kernels.lightning_attn2.kernel import describe_launch
    from .sp import _default_seq_split

    launch = (f"seq_split={_default_seq_split()}; "
              f"{describe_launch(spec.head_dim, spec.e, DTYPES[spec.dtype], device)}")
    impl = (f"lightning_attn_sp(check_group={opts.check_group}) over lightning_bench {kernel_impl_name()} "
            f"({spec.layout}, {launch})")
    slopes = _slopes(spec, device)
    cpu_note = "CPU timing under the Triton interpreter (not a speed)" if device.type != "cuda" else ""
    all_rows: list[dict] = []

    def emit(local_row: dict | None):
        rows = [r for r in shard.all_gather_object(local_row) if r is not None]
        if main:
            stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            for r in rows:
                r.setdefault("timestamp", stamp)
                writer.write(r)
                all_rows.append(r)
                if not opts.quiet:
                    _print_row(r)

    def sp_call(q, k, v, check_group=opts.check_group):
        return lightning_attn_sp(q, k, v, slopes, layout=spec.layout, check_group=check_group)

    try:
        # 1. correctness on one small configuration
        if spec.check_seq_len:
            emit(_check(spec, shard, slopes, sp_call, lightning_attn, shape, where, impl, opts.seed))
            _cleanup(device)

        # 2. one GPU (rank 0) on the whole sequence; the other ranks wait
        single: dict[tuple[int, str], float] = {}
        if spec.single:
            lengths = sorted(set(spec.seq_len_total) | set(spec.seq_len_local) | {n * W for n in spec.seq_len_local})
            for n in lengths:
                for mode in spec.modes:
                    row = None
                    if main:
                        row = _single(spec, n, mode, device, slopes, lightning_attn, timing, shard, shape, where,
                                      opts.seed, launch, opts.calls_per_sample)
                        row["note"] = "; ".join(x for x in (row.get("note", ""), cpu_note) if x)
                        if row["status"] == "ok":
                            single[(n, mode)] = row["median_ms"]
                    emit(row)
                    _cleanup(device)
            single = shard.broadcast_object(single)

        # 3. the communication alone, same sizes as inside lightning_attn_sp
        comm = _comm(spec, shard, timing)
        for mode, (ms, nbytes, meas) in comm.items():
            emit({**shape, **where, "scaling": "comm", "mode": mode, "status": "ok", "reason": "",
                  "n_samples": meas.n_samples, "median_ms": meas.median_ms, "p20_ms": meas.quantile(0.2),
                  "p80_ms": meas.quantile(0.8), "step_ms": ms, "comm_ms": ms, "comm_bytes": nbytes,
                  "timer": meas.timer, "l2_policy": meas.l2_policy, "note": cpu_note,
                  "impl": "all_gather of the local end states (forward)" if mode == "fwd" else
                  "all_reduce of the state gradients (backward)"})

        # 4. strong and weak scaling
        configs = [("strong", n, n // W) for n in spec.seq_len_total] + \
                  [("weak", n * W, n) for n in spec.seq_len_local]
        for scaling, total, local in configs:
            for mode in spec.modes:
                row = {**shape, **where, "scaling": scaling, "mode": mode, "seq_len_total": total,
                       "seq_len_local": local, "impl": impl, "note": cpu_note,
                       "comm_ms": comm["fwd"][0] + (comm["bwd"][0] if mode == "fwd_bwd" else 0.0),
                       "comm_bytes": comm["fwd"][1] + (comm["bwd"][1] if mode == "fwd_bwd" else 0),
                       "single_gpu_ms": single.get((total, mode), NAN)}
                if scaling == "weak":
                    row["single_gpu_local_ms"] = single.get((local, mode), NAN)
                row.update(_sp_measure(spec, shard, mode, local, sp_call, timing, opts.seed, opts.calls_per_sample))
                if row["status"] == "ok":
                    row["tokens_per_s"] = spec.batch * total / (row["step_ms"] * 1e-3)
                    row["speedup"] = row["single_gpu_ms"] / row["step_ms"]
                    if scaling == "weak":
                        row["weak_efficiency"] = row["single_gpu_local_ms"] / row["step_ms"]
                emit(row)
                _cleanup(device)
    finally:
        if writer is not None:
            writer.close()
    if main:
        (out_dir / SP_SUMMARY_FILE).write_text(summary_markdown(all_rows, env) + "\n")
        return out_dir / SP_ROWS_FILE
    return None


def _agree(shard, status: str, reason: str) -> tuple[str, str]:
    """Every rank's (status, reason) → this rank's row status: its own failure, else the first failing rank's."""
    everyone = shard.all_gather_object((status, reason))
    if status != "ok":
        return status, reason
    for r, (st, why) in enumerate(everyone):
        if st != "ok":
            return st, f"rank {r}: {why}"
    return "ok", ""


def _sp_measure(spec, shard, mode, local, sp_call, timing, seed, calls_per_sample: int = 1) -> dict:
    device = shard.device
    status, reason, inputs = "ok", "", None
    try:
        inputs = _random_inputs(spec, local, device, seed + 1000 * shard.rank + local % 997, grad=mode != "fwd")
    except Exception as ex:
        status, reason = _classify(ex)
    status, reason = _agree(shard, status, reason)
    if status != "ok":
        return {"status": status, "reason": reason}
    q, k, v, do = inputs
    fn, pre = _callables(mode, q, k, v, do, sp_call)
    meas = step = None
    try:
        meas, step = measure_spmd(fn, pre=pre, shard=shard, config=timing, calls_per_sample=calls_per_sample)
        peak, peak_abs, peak_res = peak_memory(fn, pre, device)
    except Exception as ex:
        status, reason = _classify(ex)
    finally:
        for t in (q, k, v):
            t.grad = None
    status, reason = _agree(shard, status, reason)
    if status != "ok":
        return {"status": status, "reason": reason}
    return {"status": "ok", "reason": "", "n_samples": meas.n_samples, "median_ms": meas.median_ms,
            "p20_ms": meas.quantile(0.2), "p80_ms": meas.quantile(0.8), "first_call_ms": meas.first_call_ms,
            "step_ms": statistics.median(step), "step_p20_ms": _quantile(step, 0.2),
            "step_p80_ms": _quantile(step, 0.8), "peak_mem_mib": peak, "peak_abs_mib": peak_abs,
            "peak_reserved_mib": peak_res, "timer": meas.timer, "l2_policy": meas.l2_policy}


def _single(spec, n, mode, device, slopes, lightning_attn, timing, shard, shape, where, seed, launch="",
            calls_per_sample: int = 1) -> dict:
    """Rank 0 alone: our kernel on the whole sequence (no collectives)."""
    from ..kernels import kernel_impl_name

    row = {**shape, **where, "world_size": 1, "scaling": "single", "mode": mode, "seq_len_total": n,
           "seq_len_local": n, "impl": f"lightning_bench {kernel_impl_name()} ({spec.layout}, {launch})", "note": ""}
    inputs = None
    try:
        inputs = _random_inputs(spec, n, device, seed + n % 997, grad=mode != "fwd")
        q, k, v, do = inputs
        fn, pre = _callables(mode, q, k, v, do,
                             lambda q_, k_, v_: lightning_attn(q_, k_, v_, slopes, layout=spec.layout))
        meas, _ = measure_spmd(fn, pre=pre, shard=shard, config=timing, calls_per_sample=calls_per_sample,
                               collective=False)
        peak, peak_abs, peak_res = peak_memory(fn, pre, device)
    except Exception as ex:
        st, why = _classify(ex)
        row.update(status=st, reason=why)
        if st == "oom" and device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory / 2**30
            row["note"] = f"does not fit one GPU ({total:.0f} GiB)"
        return row
    finally:
        if inputs is not None:
            for t in inputs[:3]:
                t.grad = None
        del inputs
    med = meas.median_ms
    row.update(status="ok", reason="", n_samples=meas.n_samples, median_ms=med, p20_ms=meas.quantile(0.2),
               p80_ms=meas.quantile(0.8), first_call_ms=meas.first_call_ms, step_ms=med,
               step_p20_ms=meas.quantile(0.2), step_p80_ms=meas.quantile(0.8),
               tokens_per_s=spec.batch * n / (med * 1e-3), peak_mem_mib=peak, peak_abs_mib=peak_abs,
               peak_reserved_mib=peak_res, timer=meas.timer, l2_policy=meas.l2_policy, single_gpu_ms=med,
               speedup=1.0)
    return row


def _comm(spec, shard, timing) -> dict:
    """Median ms of the forward's state all-gather and the backward's state-gradient all-reduce alone (fp32 states
    ``[batch, heads, head_dim, value_dim]``, the sizes lightning_attn_sp moves), with the bytes each rank sends."""
    import torch.distributed as dist

    from .sp import _all_gather_rows

    W = shard.world_size
    numel = spec.batch * spec.heads * spec.head_dim * spec.e
    buf = torch.zeros(numel + 2, dtype=torch.float32, device=shard.device)
    grads = torch.zeros(W * numel, dtype=torch.float32, device=shard.device)
    out = {}
    for mode, fn, nbytes in (("fwd", lambda: _all_gather_rows(buf, W, None), buf.numel() * 4),
                             ("bwd", lambda: dist.all_reduce(grads), grads.numel() * 4)):
        meas, step = measure_spmd(fn, pre=lambda: None, shard=shard, config=timing)
        out[mode] = (statistics.median(step), nbytes, meas)
    return out


def _check(spec, shard, slopes, sp_call, lightning_attn, shape, where, impl, seed) -> dict | None:
    """Sequence-parallel o, dq, dk, dv vs one-GPU lightning_attn and the float64 reference, same inputs (rank 0
    computes the references and writes the row)."""
    import torch.distributed as dist

    from ..kernels import lightning_attn_reference
    from ..verify import TOL

    W, rank, device = shard.world_size, shard.rank, shard.device
    n = spec.check_seq_len
    local = n // W
    row = {**shape, **where, "scaling": "check", "mode": "fwd_bwd", "seq_len_total": n, "seq_len_local": local,
           "impl": impl}
    status, reason = "ok", ""
    try:
        # the same full inputs on every rank (CPU generator), each rank takes its chunk
        g = torch.Generator().manual_seed(seed + 7)
        from ..baselines.base import DTYPES

        dt = DTYPES[spec.dtype]
        full = [torch.randn(_shape(spec, n, dim), generator=g).to(device=device, dtype=dt)
                for dim in (spec.head_dim, spec.head_dim, spec.e, spec.e)]
        ax = 2 if spec.layout == "bhnd" else 1
        chunk = [x.narrow(ax, rank * local, local).clone() for x in full]
        q, k, v = (x.requires_grad_() for x in chunk[:3])
        o = sp_call(q, k, v, check_group=True)
        o.backward(chunk[3])
        mine = [o.detach(), q.grad, k.grad, v.grad]
        gathered = []
        for t in mine:
            parts = [torch.empty_like(t) for _ in range(W)]
            dist.all_gather(parts, t.contiguous())
            gathered.append(torch.cat(parts, dim=ax))
    except Exception as ex:
        status, reason = _classify(ex)
    status, reason = _agree(shard, status, reason)
    if not shard.is_main:
        return None
    if status != "ok":
        return {**row, "status": status, "reason": reason, "check": "error"}
    try:
        leaves = [x.clone().requires_grad_() for x in full[:3]]
        o1 = lightning_attn(*leaves, slopes, layout=spec.layout)
        o1.backward(full[3])
        one = [o1.detach()] + [x.grad for x in leaves]
        leaves64 = [x.double().requires_grad_() for x in full[:3]]
        o64 = lightning_attn_reference(*leaves64, slopes, layout=spec.layout)
        o64.backward(full[3].double())
        ref = [o64.detach()] + [x.grad for x in leaves64]
    except Exception as ex:  # the references on one device must not cost the run
        status, reason = _classify(ex)
        return {**row, "status": status, "reason": f"one-GPU / float64 reference: {reason}", "check": "error"}
    names = ("o", "dq", "dk", "dv")
    tol_o, tol_g = TOL[spec.dtype]
    for nm, a, b, r in zip(names, gathered, one, ref):
        row[f"rel_l2_{nm}"] = _rel(a, b)
        row[f"fp64_rel_l2_{nm}"] = _rel(a, r)
    one_err = {nm: _rel(b, r) for nm, b, r in zip(names, one, ref)}
    bad = [nm for nm in names if not row[f"fp64_rel_l2_{nm}"] <= (tol_o if nm == "o" else tol_g)]
    row["check"] = "passed" if not bad else \
        "failed: " + ", ".join(f"{nm} rel-L2 vs fp64 {row[f'fp64_rel_l2_{nm}']:.2e}" for nm in bad)
    row["status"] = "ok" if not bad else "numerics_failed"
    row["reason"] = "" if not bad else row["check"]
    row["note"] = ("one-GPU lightning_attn vs fp64: " + ", ".join(f"{k} {v:.1e}" for k, v in one_err.items())
                   + f"; tolerance o {tol_o:.0e}, grads {tol_g:.0e}")
    return row


def _fmt(x, spec=".3f"):
    try:
        if x is None or x == "" or (isinstance(x, float) and math.isnan(x)):
            return "–"
        return format(float(x), spec)
    except (TypeError, ValueError):
        return str(x)


def _print_row(r: dict) -> None:
    head = f"{r['scaling']:>6} {r['mode']:>7} rank {r['rank']}/{r['world_size']}"
    if r["scaling"] == "comm":
        print(f"{head}: {r.get('impl')}: {_fmt(r.get('median_ms'))} ms (slowest rank {_fmt(r.get('step_ms'))} ms), "
              f"{r.get('comm_bytes')} B", flush=True)
        return
    head += f" n={r.get('seq_len_total', '')} (local {r.get('seq_len_local', '')})"
    if r.get("status") != "ok":
        print(f"{head}: {r.get('status')} {r.get('reason', '')}", flush=True)
    elif r["scaling"] == "check":
        print(f"{head}: {r['check']}; rel-L2 vs one GPU o {_fmt(r['rel_l2_o'], '.1e')} dq {_fmt(r['rel_l2_dq'], '.1e')}"
              f" dk {_fmt(r['rel_l2_dk'], '.1e')} dv {_fmt(r['rel_l2_dv'], '.1e')}", flush=True)
    else:
        tps = r.get("tokens_per_s")
        print(f"{head}: {_fmt(r.get('median_ms'))} ms (step {_fmt(r.get('step_ms'))} ms"
              f"{', ' + _fmt(tps / 1e6 if tps else None, '.2f') + ' M tok/s' if tps else ''}"
              f"{', speed-up ' + _fmt(r.get('speedup'), '.2f') + '×' if r.get('speedup') else ''}), "
              f"peak {_fmt(r.get('peak_abs_mib'), '.0f')} MiB", flush=True)


def summary_markdown(rows: list[dict], env: dict | None = None) -> str:
    """A Markdown summary of sp_rows: per configuration the step time, the one-GPU time, speed-up, tokens/s,
    communication time and every rank's peak memory; the check and the configurations that do not fit one GPU."""
    lines = ["# Sequence-parallel Lightning Attention (lightning_attn_sp)", ""]
    if env:
        gpus = {str((r.get("gpu") or {}).get("name", r.get("device_name"))) for r in env.get("ranks", [])}
        spec = env.get("sp_spec", {})
        lines += [f"{len(env.get('ranks', []))} ranks on {', '.join(sorted(gpus))}; batch {spec.get('batch')}, heads "
                  f"{spec.get('heads')}, head_dim {spec.get('head_dim')}, value_dim "
                  f"{spec.get('value_dim') or spec.get('head_dim')}, {spec.get('dtype')}, decay {spec.get('decay')}, "
                  f"layout {spec.get('layout')}. Step time = median over samples of the slowest rank; speed-up = "
                  "one-GPU time at the same total seq_len / step time.", ""]
    checks = [r for r in rows if r.get("scaling") == "check"]
    for r in checks:
        lines.append(f"Check at seq_len {r.get('seq_len_total')}: **{r.get('check')}** — rel-L2 vs one GPU: o "
                     f"{_fmt(r.get('rel_l2_o'), '.1e')}, dq {_fmt(r.get('rel_l2_dq'), '.1e')}, dk "
                     f"{_fmt(r.get('rel_l2_dk'), '.1e')}, dv {_fmt(r.get('rel_l2_dv'), '.1e')}; vs float64: o "
                     f"{_fmt(r.get('fp64_rel_l2_o'), '.1e')}, dq {_fmt(r.get('fp64_rel_l2_dq'), '.1e')}, dk "
                     f"{_fmt(r.get('fp64_rel_l2_dk'), '.1e')}, dv {_fmt(r.get('fp64_rel_l2_dv'), '.1e')} "
                     f"({r.get('note', '')}).")
    comm = [r for r in rows if r.get("scaling") == "comm" and r.get("status") == "ok"]
    if comm:
        by_mode: dict[str, list[dict]] = {}
        for r in comm:
            by_mode.setdefault(r["mode"], []).append(r)
        parts = [f"{'all_gather of the states (fwd)' if m == 'fwd' else 'all_reduce of the state gradients (bwd)'} "
                 f"{_fmt(rs[0].get('step_ms'), '.3f')} ms for {rs[0].get('comm_bytes')} B per rank"
                 for m, rs in by_mode.items()]
        lines.append("Communication alone: " + "; ".join(parts) + ".")
    if checks or comm:
        lines.append("")
    lines += ["| scaling | mode | seq_len total | per rank | step ms | one GPU ms | speed-up | weak eff. | "
              "M tokens/s | comm ms | peak MiB per rank | status |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("scaling") in ("strong", "weak", "single"):
            groups.setdefault((r["scaling"], r["mode"], r.get("seq_len_total"), r.get("seq_len_local")), []).append(r)
    for (scaling, mode, total, local), rs in groups.items():
        rs = sorted(rs, key=lambda r: r.get("rank", 0))
        r0 = rs[0]
        status = ", ".join(sorted({str(r.get("status")) for r in rs}))
        tps = r0.get("tokens_per_s")
        peaks = " / ".join(_fmt(r.get("peak_abs_mib"), ".0f") for r in rs)
        lines.append(f"| {scaling} | {mode} | {total} | {local} | {_fmt(r0.get('step_ms'))} | "
                     f"{_fmt(r0.get('single_gpu_ms'))} | {_fmt(r0.get('speedup'), '.2f')} | "
                     f"{_fmt(r0.get('weak_efficiency'), '.2f')} | "
                     f"{_fmt(tps / 1e6 if isinstance(tps, (int, float)) and tps == tps else None, '.2f')} | "
                     f"{_fmt(r0.get('comm_ms'), '.3f')} | {peaks} | {status} |")
    failed = [r for r in rows if r.get("status") not in (None, "ok")]
    if failed:
        lines += ["", "Not ok:"]
        for r in failed:
            lines.append(f"- {r.get('scaling')} {r.get('mode')} seq_len {r.get('seq_len_total')} rank {r.get('rank')}: "
                         f"{r.get('status')} — {r.get('reason', '')}"
                         + (f" ({r['note']})" if r.get("note") else ""))
    return "\n".join(lines)
