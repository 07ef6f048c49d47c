"""``lightning-bench profile``: what one provider actually launches for one config, and how long each kernel takes.

For one :class:`~lightning_bench.baselines.Case`, provider and mode this module

- runs the provider's call exactly as the sweep does (:func:`lightning_bench.sweep.make_inputs`, the provider's
  ``prepare`` and :func:`lightning_bench.sweep._mode_callables`) under :mod:`torch.profiler`;
- writes the Chrome trace (``trace.json``), a per-kernel table (``kernels.csv``: name, calls, total_us, mean_us,
  share) and a dispatch verdict (``dispatch.json``) into ``out_dir``;
- checks the launched kernel names against :data:`EXPECTED_KERNELS` (:func:`verify_dispatch`), so a sweep can show
  that each provider ran the kernel it claims (e.g. that SDPA's flash backend really launched a flash kernel);
- optionally (:func:`ncu_capture`) re-runs the call in a subprocess under Nsight Compute and reports per-kernel DRAM
  bytes, duration, achieved bandwidth and instruction rates of our Triton kernels.

On CUDA the table lists device kernels (device time of each kernel launch). Without CUDA it lists CPU ops (self CPU
time), our Triton kernels run under the Triton interpreter, and the table says so: such a profile shows where CPU
time goes, not GPU behaviour, and dispatch verification needs a GPU.

What is left out of the table: the profiler's own events and our ``record_function`` labels (``lightning_bench::*``,
``ProfilerStep*``, user annotations mirrored on the GPU timeline) and, on CUDA, the L2 flush issued between profiled
calls. The flush uses the sweep's flush buffer (2× L2) but a ``bitwise_not_`` instead of ``zero_``, so its kernel is
recognisable by name (and no provider's fill/zero kernels are mistaken for it); kernels launched by the ops inside the
flush region are excluded by name too.

Run as ``python -m lightning_bench.profile --child ...`` it is the subprocess that :func:`ncu_capture` puts under
``ncu``: it builds the same call, warms it up, then runs it between ``cudaProfilerStart``/``cudaProfilerStop``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

TABLE_COLUMNS = ["name", "calls", "total_us", "mean_us", "share"]
CALL_LABEL = "lightning_bench::call"  # record_function around each profiled call
FLUSH_LABEL = "lightning_bench::l2_flush"  # record_function around each L2 flush
PYTHON_ROW = "(python: time inside the call outside any op)"  # CPU table: self time of our call label

# Kernels that are ours (the harness) rather than the provider's; matched with re.search on the full kernel name.
HARNESS_KERNEL_PATTERNS = (r"bitwise_not",)
# Event names that are the profiler's own or our labels, never provider work.
_NOISE_PREFIXES = ("lightning_bench::", "ProfilerStep", "profiler::", "[memory]", "[OutOfMemory]")

# Kernel names each provider must launch on CUDA, per phase of the call. For mode "fwd" every "fwd" pattern must be
# matched (re.search on the kernel name) by at least one launched kernel, for "bwd" every "bwd" pattern, for
# "fwd_bwd" both. Sources: /work/shared/docs/h200-facts.md (torch 2.11 + cu130 on the H200), our kernel names
# (lightning_bench/kernels/lightning_attn2/kernel.py), flash-attn's and fla's kernel names. Triton kernels are named
# after their Python function; Triton < 3 appended a signature suffix (``_0d1d2d``), hence the optional tail.
_TRITON_TAIL = r"(?:_\d[0-9a-z]*)?$"
_LA2_BWD = tuple(rf"^_la2_bwd_{x}_kernel" + _TRITON_TAIL for x in ("dq", "dk", "dv"))
# the forward is the Gluon kernel on sm_90 bf16 where eligible (gluon_fwd.py), else the Triton one
_LA2_FWD_ANY = (r"^_la2_fwd(?:_gluon(?:_ws|_wg2)?)?_kernel" + _TRITON_TAIL,)
# the backward: the Gluon forward kernel three times where eligible (gluon_fwd.backward), else the Triton kernels
_LA2_BWD_ANY = (r"^_la2_(?:bwd_(?:dq|dk|dv|fused)|fwd_gluon(?:_ws|_wg2)?)_kernel" + _TRITON_TAIL,)
EXPECTED_KERNELS: dict[str, dict[str, tuple[str, ...]]] = {
    "la2": {"fwd": _LA2_FWD_ANY, "bwd": _LA2_BWD_ANY},
    # ours with seq_split=1 (la2 adds the segment-end and state-scan kernels when P > 1)
    "la2_unsplit": {"fwd": _LA2_FWD_ANY, "bwd": _LA2_BWD_ANY},
    # ours with the Gluon forward disabled: the Triton forward always
    "la2_triton": {"fwd": (r"^_la2_fwd_kernel" + _TRITON_TAIL,), "bwd": _LA2_BWD},
    "la1": {
        "fwd": (r"^_la1_fwd_kernel" + _TRITON_TAIL,),
        "bwd": (r"^_la1_bwd_dq_kernel" + _TRITON_TAIL, r"^_la1_bwd_dkdv_kernel" + _TRITON_TAIL),
    },
    "la2_reference": {  # OpenNLPLab lightning_attn: _fwd_kernel, _bwd_intra_kernel, _bwd_inter_kernel
        "fwd": (r"^_fwd_kernel" + _TRITON_TAIL,),
        "bwd": (r"^_bwd_intra_kernel" + _TRITON_TAIL, r"^_bwd_inter_kernel" + _TRITON_TAIL),
    },
    "fla": {  # chunk_simple_gla: chunk_fwd_kernel_h/_o, chunk_bwd_kernel_dh/_dqkwg/_dv
        "fwd": (r"^chunk_\w*fwd\w*kernel",),
        "bwd": (r"^chunk_\w*bwd\w*kernel",),
    },
    "flash_attn2": {  # SDPA flash backend (pytorch_flash::flash_fwd_kernel, flash_bwd_*) or flash-attn (flash::...)
        "fwd": (r"flash_fwd",),
        "bwd": (r"flash_bwd",),
    },
    "sdpa_cudnn": {  # cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_* / ..._bprop_wgmma_*
        "fwd": (r"cudnn\w*(?:fprop|fwd)",),
        "bwd": (r"cudnn\w*(?:bprop|bwd)",),
    },
    "xformers": {  # via SDPA's efficient backend: fmha_cutlassF_* / fmha_cutlassB_* (xformers' CUTLASS kernel)
        "fwd": (r"fmha_cutlassF",),
        "bwd": (r"fmha_cutlassB",),
    },
}
# Attention kernels of *other* backends that must not show up (a pinned SDPA backend that silently fell back, say).
FORBIDDEN_KERNELS: dict[str, tuple[str, ...]] = {
    "flash_attn2": (r"fmha_cutlass", r"cudnn"),
    "sdpa_cudnn": (r"flash_fwd", r"flash_bwd", r"fmha_cutlass"),
    "xformers": (r"flash_fwd", r"flash_bwd", r"cudnn"),
}
# xformers' own memory_efficient_attention (when its CUDA ops load) may dispatch to its flash or CUTLASS kernels.
_XFORMERS_NATIVE = {"fwd": (r"fmha_cutlassF|flash|fmha",), "bwd": (r"fmha_cutlassB|flash|fmha",)}
_PHASES = {"fwd": ("fwd",), "bwd": ("bwd",), "fwd_bwd": ("fwd", "bwd")}

NCU_METRICS = (
    "dram__bytes.sum",
    "gpu__time_duration.sum",
    "sm__sass_thread_inst_executed_op_ffma_pred_on.sum",
    "sm__inst_executed_pipe_tensor.sum",
)
NCU_DEFAULT_KERNEL_REGEX = "_la2_"


# ----------------------------------------------------------------------------------------------------------------
# results


@dataclass
class ProfileResult:
    """One profile of one provider × case × mode.

    Attributes:
        provider, impl: registry name and the implementation that ran (the provider's ``Prepared.impl``).
        mode: "fwd", "bwd" or "fwd_bwd".
        case: the :class:`~lightning_bench.baselines.Case` profiled (None for synthetic results).
        device: e.g. "cuda:0" or "cpu".
        table: per-kernel DataFrame (columns :data:`TABLE_COLUMNS`, sorted by total_us, descending). On CUDA one row
            per device kernel name (device time); on the CPU one row per CPU op (self CPU time).
        kernel_names: the distinct names in ``table`` (device kernels on CUDA, CPU ops on the CPU), same order.
        trace_path, out_dir: the Chrome trace and the directory holding kernels.csv, trace.json, dispatch.json.
        warmup, iters: un-profiled warm-up calls, profiled calls (``table`` totals cover all ``iters`` calls).
        excluded: counts of events left out (harness L2 flush kernels, annotations) for transparency.
        dispatch_ok, dispatch_message: the :func:`verify_dispatch` verdict (None on the CPU).
    """

    provider: str
    impl: str
    mode: str
    device: str
    table: pd.DataFrame
    kernel_names: list[str]
    case: object = None
    trace_path: Path | None = None
    out_dir: Path | None = None
    warmup: int = 0
    iters: int = 1
    excluded: dict = field(default_factory=dict)
    dispatch_ok: bool | None = None
    dispatch_message: str = ""

    @property
    def on_cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    @property
    def table_kind(self) -> str:
        return "cuda_kernels" if self.on_cuda else "cpu_ops"

    @property
    def total_us_per_call(self) -> float:
        """Device time (CUDA) or CPU time (CPU) summed over the table, per profiled call."""
        if self.table.empty:
            return 0.0
        return float(self.table["total_us"].sum()) / max(self.iters, 1)


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({"name": pd.Series(dtype=str), "calls": pd.Series(dtype="int64"),
                         "total_us": pd.Series(dtype=float), "mean_us": pd.Series(dtype=float),
                         "share": pd.Series(dtype=float)})


def _table_from_samples(samples: list[tuple[str, float]]) -> pd.DataFrame:
    """(name, microseconds) per event → the per-name table, sorted by total time (shares sum to 1)."""
    if not samples:
        return _empty_table()
    df = pd.DataFrame(samples, columns=["name", "us"])
    g = df.groupby("name", sort=False)["us"].agg(["count", "sum"]).reset_index()
    g.columns = ["name", "calls", "total_us"]
    g["calls"] = g["calls"].astype("int64")
    g["total_us"] = g["total_us"].astype(float)
    g["mean_us"] = g["total_us"] / g["calls"]
    tot = float(g["total_us"].sum())
    g["share"] = g["total_us"] / tot if tot > 0 else 1.0 / len(g)
    g = g.sort_values(["total_us", "name"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return g[TABLE_COLUMNS]


# ----------------------------------------------------------------------------------------------------------------
# profiler events → table


def _is_device_event(e) -> bool:
    from torch.autograd import DeviceType

    dt = getattr(e, "device_type", None)
    if dt is None:
        return False
    if dt == DeviceType.CPU:
        return False
    return dt == DeviceType.CUDA or str(dt).rsplit(".", 1)[-1] in ("CUDA", "HIP")


def _event_us(e, device: bool) -> float:
    """Self time of one event in µs: device time for device events (attribute names of torch 2.4 .. 2.13+), self
    CPU time for CPU events."""
    names = (("self_device_time_total", "self_cuda_time_total", "device_time_total", "cuda_time_total")
             if device else ("self_cpu_time_total",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the *_cuda_* spellings are deprecated (FutureWarning) in newer torch
        for attr in names:
            try:
                val = getattr(e, attr)
            except Exception:  # missing attribute or a property asserting on the device type
                continue
            if val:
                return float(val)
    tr = getattr(e, "time_range", None)
    if device and tr is not None:
        try:
            return float(tr.elapsed_us())
        except Exception:
            return 0.0
    return 0.0


def _is_noise_name(name: str) -> bool:
    return name.startswith(_NOISE_PREFIXES)


def _descendants(e):
    stack = list(getattr(e, "cpu_children", []) or [])
    while stack:
        c = stack.pop()
        yield c
        stack.extend(getattr(c, "cpu_children", []) or [])


def table_from_events(events, *, cuda: bool) -> tuple[pd.DataFrame, dict]:
    """Per-kernel (CUDA) or per-op (CPU) table from torch.profiler ``FunctionEvent``-like objects.

    CUDA: every device event except user annotations mirrored on the GPU timeline (``is_user_annotation`` or the
    name of a CPU annotation / one of ours) and the harness's L2 flush kernels (:data:`HARNESS_KERNEL_PATTERNS`, and
    any kernel launched by an op inside a ``lightning_bench::l2_flush`` region). Time = device time of each launch.

    CPU: every synchronous CPU op except our labels and profiler bookkeeping, by self CPU time; the self time of our
    ``lightning_bench::call`` label (Python work between ops, e.g. the Triton interpreter outside autograd
    functions) is one row, :data:`PYTHON_ROW`, so the shares cover the whole call.

    Returns (table, excluded counts).
    """
    events = list(events)
    excluded = {"annotations": 0, "harness_l2_flush": 0, "profiler": 0}
    if cuda:
        cpu_annotations = {e.name for e in events
                           if not _is_device_event(e) and getattr(e, "is_user_annotation", False)}
        flush_names = set()
        for e in events:
            if not _is_device_event(e) and e.name == FLUSH_LABEL:
                for d in _descendants(e):
                    for k in getattr(d, "kernels", []) or []:
                        flush_names.add(getattr(k, "name", None))
        flush_names.discard(None)
        samples = []
        for e in events:
            if not _is_device_event(e):
                continue
            name = e.name
            if getattr(e, "is_user_annotation", False) or name in cpu_annotations or _is_noise_name(name):
                excluded["annotations"] += 1
                continue
            if name in flush_names or any(re.search(p, name) for p in HARNESS_KERNEL_PATTERNS):
                excluded["harness_l2_flush"] += 1
                continue
            samples.append((name, _event_us(e, device=True)))
        return _table_from_samples(samples), excluded
    samples = []
    for e in events:
        if _is_device_event(e) or getattr(e, "is_async", False):
            continue
        name = e.name
        if name == CALL_LABEL:
            samples.append((PYTHON_ROW, _event_us(e, device=False)))
            continue
        if _is_noise_name(name):
            excluded["profiler"] += 1
            continue
        samples.append((name, _event_us(e, device=False)))
    return _table_from_samples(samples), excluded


# ----------------------------------------------------------------------------------------------------------------
# dispatch verification


def expected_patterns(provider: str, mode: str, impl: str = "") -> list[str]:
    """Patterns that the kernels of ``provider`` in ``mode`` must match (empty: no expectation declared)."""
    if mode not in _PHASES:
        raise ValueError(f"mode must be one of {tuple(_PHASES)}, got {mode!r}")
    spec = EXPECTED_KERNELS.get(provider)
    if provider == "xformers" and impl and "SDPA" not in impl:
        spec = _XFORMERS_NATIVE
    if not spec:
        return []
    return [p for ph in _PHASES[mode] for p in spec.get(ph, ())]


def forbidden_patterns(provider: str, impl: str = "") -> list[str]:
    """Attention kernels of other backends that ``provider`` must not launch (:data:`FORBIDDEN_KERNELS`)."""
    if provider == "xformers" and impl and "SDPA" not in impl:
        return []  # xformers' own op may pick its flash kernels
    return list(FORBIDDEN_KERNELS.get(provider, ()))


def verify_dispatch(result: ProfileResult) -> tuple[bool | None, str]:
    """Did ``result.provider`` launch the kernels it claims? Returns (ok, message).

    ok is True when every pattern of :func:`expected_patterns` is matched by at least one launched kernel and no
    kernel of another attention backend (:data:`FORBIDDEN_KERNELS`) was launched; False otherwise (the message names
    the missing pattern and lists what was launched); None when it cannot be decided: on the CPU ("dispatch
    verification needs CUDA kernels") or for a provider without declared kernels (PyTorch-op baselines).
    """
    if not result.on_cuda:
        return None, "dispatch verification needs CUDA kernels"
    names = list(result.kernel_names)
    short = ", ".join(short_kernel_name(n) for n in names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12
                                                                     else "")
    pats = expected_patterns(result.provider, result.mode, result.impl)
    if not pats:
        return None, (f"{result.provider}: no expected kernels declared (PyTorch ops); launched: {short or 'nothing'}")
    if not names:
        return False, f"{result.provider} ({result.mode}): no CUDA kernel was launched; expected {pats}"
    missing = [p for p in pats if not any(re.search(p, n) for n in names)]
    bad = []
    for p in forbidden_patterns(result.provider, result.impl):
        bad.extend(f"{short_kernel_name(n)} (matches {p!r})" for n in names if re.search(p, n))
    if missing or bad:
        parts = []
        if missing:
            parts.append("no launched kernel matches " + ", ".join(repr(p) for p in missing))
        if bad:
            parts.append("kernels of another backend ran: " + "; ".join(bad))
        return False, f"MISMATCH {result.provider} ({result.mode}, {result.impl}): " + "; ".join(parts) + \
            f". Launched: {short}"
    matched = []
    for p in pats:
        hit = next(n for n in names if re.search(p, n))
        matched.append(f"{p!r} → {short_kernel_name(hit)}")
    return True, f"{result.provider} ({result.mode}) launched the expected kernels: " + "; ".join(matched)


def short_kernel_name(name: str) -> str:
    """A readable kernel name: no leading return type, template arguments or parameter list.

    ``void pytorch_flash::flash_fwd_kernel<Traits<...>, true>(pytorch_flash::Flash_fwd_params)`` →
    ``pytorch_flash::flash_fwd_kernel``.
    """
    s = name.strip()
    if s.startswith("void "):
        s = s[5:]
    out, depth = [], 0
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    s = "".join(out)
    if "(" in s and not s.startswith("("):
        s = s[: s.index("(")]
    s = s.strip()
    return s or name


# ----------------------------------------------------------------------------------------------------------------
# profiling


def _resolve_device(device) -> torch.device:
    from .sweep import default_device

    if device is None:
        return default_device()
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def _build_call(provider_name: str, case, mode: str, device: torch.device, seed: int):
    """The sweep's call for one provider × case × mode: (provider, prepared, inputs, fn, pre, kept)."""
    from .flops import MODES
    from .sweep import _mode_callables, make_inputs, prepare_cpu_interpreter

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    prepare_cpu_interpreter()  # before anything imports triton
    from . import baselines

    provider = baselines.get_provider(provider_name)  # ValueError naming the known providers
    ok, why = provider.available()
    if not ok:
        raise RuntimeError(f"provider {provider_name!r} is not available here: {why}")
    inputs = make_inputs(case, device, seed)
    prepared = provider.prepare(case, inputs)
    fn, pre, kept = _mode_callables(mode, prepared)
    return provider, prepared, inputs, fn, pre, kept


def profile_provider(provider_name: str, case, mode: str, *, out_dir, warmup: int = 3, iters: int = 5,
                     device=None, flush_l2: bool = True, seed: int = 0) -> ProfileResult:
    """Profile ``iters`` calls of one provider on one case and mode with torch.profiler.

    The call is the sweep's (same inputs, ``prepare``, mode callables); ``warmup`` calls run first, unprofiled (JIT
    compile, autotune). On CUDA each profiled call is preceded by an L2 flush (as in the sweep's timing; disable with
    ``flush_l2=False``) whose kernel is left out of the table. Writes ``trace.json`` (Chrome trace), ``kernels.csv``
    and ``dispatch.json`` into ``out_dir`` (created).

    Raises:
        ValueError: unknown provider (the message lists the known ones) or mode.
        RuntimeError: the provider is not available here (the message says why).
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    if iters < 1:
        raise ValueError(f"iters must be ≥ 1, got {iters}")
    if warmup < 0:
        raise ValueError(f"warmup must be ≥ 0, got {warmup}")
    out = Path(out_dir)
    dev = _resolve_device(device)
    provider, prepared, inputs, fn, pre, kept = _build_call(provider_name, case, mode, dev, seed)
    cuda = dev.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    flush = None
    if cuda and flush_l2:
        from .timing import l2_flush_buffer

        flush = l2_flush_buffer(dev)
    try:
        for _ in range(warmup):
            if pre:
                pre()
            fn()
        sync()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities, record_shapes=False) as prof:
            for _ in range(iters):
                if pre:
                    pre()
                if flush is not None:
                    with record_function(FLUSH_LABEL):
                        flush.bitwise_not_()  # same 2×L2 buffer as the sweep; a kernel no provider launches
                    sync()
                with record_function(CALL_LABEL):
                    fn()
                sync()
        events = prof.events()
        table, excluded = table_from_events(events, cuda=cuda)
        out.mkdir(parents=True, exist_ok=True)
        trace_path = out / "trace.json"
        prof.export_chrome_trace(str(trace_path))
    finally:
        for t in prepared.leaves:
            t.grad = None
    result = ProfileResult(provider=provider.name, impl=prepared.impl, mode=mode, device=str(dev), table=table,
                           kernel_names=list(table["name"]), case=case, trace_path=trace_path, out_dir=out,
                           warmup=warmup, iters=iters, excluded=excluded)
    result.dispatch_ok, result.dispatch_message = verify_dispatch(result)
    table.to_csv(out / "kernels.csv", index=False)
    write_dispatch_json(result, out / "dispatch.json")
    del kept, prepared, inputs
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
    return result


def dispatch_of_call(provider_name: str, impl: str, mode: str, fn, pre, device: torch.device
                     ) -> tuple[bool | None, str, list[str]]:
    """Profile one call of an already-warm ``fn`` (the sweep's timed callable) and verify its dispatch.

    Returns (ok, message, kernel names) as :func:`verify_dispatch`; used by ``lightning-bench sweep
    --verify-dispatch`` so every row can say which kernels its provider really launched.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = device.type == "cuda"
    if not cuda:
        return None, "dispatch verification needs CUDA kernels", []
    if pre:
        pre()
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=False) as prof:
        with record_function(CALL_LABEL):
            fn()
        torch.cuda.synchronize(device)
    table, _ = table_from_events(prof.events(), cuda=True)
    result = ProfileResult(provider=provider_name, impl=impl, mode=mode, device=str(device), table=table,
                           kernel_names=list(table["name"]))
    ok, message = verify_dispatch(result)
    return ok, message, list(table["name"])


def write_dispatch_json(result: ProfileResult, path) -> Path:
    import dataclasses

    case = result.case
    doc = {
        "provider": result.provider,
        "impl": result.impl,
        "mode": result.mode,
        "case": dataclasses.asdict(case) if dataclasses.is_dataclass(case) else case,
        "device": result.device,
        "device_name": torch.cuda.get_device_name(torch.device(result.device)) if result.on_cuda else "cpu",
        "table_kind": result.table_kind,
        "ok": result.dispatch_ok,
        "message": result.dispatch_message,
        "expected": expected_patterns(result.provider, result.mode, result.impl),
        "forbidden": forbidden_patterns(result.provider, result.impl),
        "kernels": result.kernel_names,
        "warmup": result.warmup,
        "iters": result.iters,
        "excluded_events": result.excluded,
        "torch": torch.__version__,
        "note": ("" if result.on_cuda else "CPU profile: the table lists CPU ops (self CPU time); our Triton kernels "
                 "ran under the Triton interpreter; not GPU behaviour"),
    }
    if result.on_cuda:
        doc["kernels_short"] = [short_kernel_name(n) for n in result.kernel_names]
    path = Path(path)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


# ----------------------------------------------------------------------------------------------------------------
# Nsight Compute


def find_ncu() -> str | None:
    """Path of the ``ncu`` executable: on PATH, else /usr/local/cuda/bin/ncu; None if neither exists."""
    p = shutil.which("ncu")
    if p:
        return p
    cand = "/usr/local/cuda/bin/ncu"
    return cand if os.path.isfile(cand) and os.access(cand, os.X_OK) else None


def child_args(provider_name: str, case, mode: str, *, warmup: int = 2, iters: int = 1, seed: int = 0) -> list[str]:
    """Arguments of ``python -m lightning_bench.profile --child`` for this call."""
    return ["--child", "--provider", provider_name, "--mode", mode, "--batch", str(case.batch), "--heads",
            str(case.heads), "--seq-len", str(case.seq_len), "--head-dim", str(case.head_dim), "--value-dim",
            str(case.value_dim), "--dtype", case.dtype, "--decay", case.decay, "--warmup", str(warmup), "--iters",
            str(iters), "--seed", str(seed)]


def ncu_command(ncu: str, provider_name: str, case, mode: str, *, log_file,
                kernel_regex: str = NCU_DEFAULT_KERNEL_REGEX, warmup: int = 2, iters: int = 1,
                seed: int = 0) -> list[str]:
    """The ncu command line: only the profiled calls (``--profile-from-start off``; the child brackets them with
    cudaProfilerStart/Stop), only kernels matching ``kernel_regex``, clocks left alone, CSV in base units."""
    return [ncu, "--clock-control", "none", "--profile-from-start", "off", "--metrics", ",".join(NCU_METRICS),
            "--csv", "--print-units", "base", "-k", f"regex:{kernel_regex}", "--log-file", str(log_file),
            sys.executable, "-m", "lightning_bench.profile",
            *child_args(provider_name, case, mode, warmup=warmup, iters=iters, seed=seed)]


_UNIT_SCALE = {
    "": 1.0, "byte": 1.0, "kbyte": 1e3, "mbyte": 1e6, "gbyte": 1e9, "tbyte": 1e12,
    "nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "second": 1e6,  # → microseconds
    "ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6,  # ncu 2025 prints short units with --print-units base
    "inst": 1.0, "kinst": 1e3, "minst": 1e6, "ginst": 1e9, "warp": 1.0,
}


def _num(text: str) -> float:
    t = (text or "").strip().replace(",", "")
    if t in ("", "n/a", "N/A"):
        return math.nan
    try:
        return float(t)
    except ValueError:
        return math.nan


def parse_ncu_csv(text: str) -> pd.DataFrame:
    """ncu ``--csv`` output (one row per kernel launch × metric) → one row per kernel launch.

    Columns: id, kernel, duration_us, dram_bytes, bandwidth_gbs (DRAM bytes / duration), ffma_inst (thread-level
    FFMA instructions), ffma_gflops (2 FLOPs per FFMA / duration), tensor_inst (warp-level tensor-pipe
    instructions), tensor_inst_per_us. Lines before the CSV header (``==PROF==`` messages, program output) are
    skipped; numbers may carry thousands separators; units are converted (bytes, µs).

    Raises:
        ValueError: no ncu CSV header in ``text``.
    """
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith('"ID"')), None)
    if start is None:
        raise ValueError("no ncu CSV header (a line starting with '\"ID\"') in the ncu output")
    body = [ln for ln in lines[start:] if ln.startswith('"')]
    reader = csv.DictReader(io.StringIO("\n".join(body)))
    per: dict[tuple[str, str], dict] = {}
    for row in reader:
        if not row.get("Metric Name"):
            continue
        key = (row.get("ID", ""), row.get("Kernel Name", ""))
        unit = (row.get("Metric Unit") or "").strip().lower()
        val = _num(row.get("Metric Value", ""))
        if unit not in _UNIT_SCALE:  # a silent 1.0 once read ns as µs (H200 run, 2026-11-29)
            raise ValueError(f"ncu metric {row.get('Metric Name')!r} has unit {unit!r}, which this parser does not "
                             f"know; known: {sorted(_UNIT_SCALE)}")
        val *= _UNIT_SCALE[unit]
        per.setdefault(key, {})[row["Metric Name"].strip()] = val
    recs = []
    for (kid, kname), m in per.items():
        dur_us = m.get("gpu__time_duration.sum", math.nan)
        dram = m.get("dram__bytes.sum", math.nan)
        ffma = m.get("sm__sass_thread_inst_executed_op_ffma_pred_on.sum", math.nan)
        tens = m.get("sm__inst_executed_pipe_tensor.sum", math.nan)
        ok = dur_us == dur_us and dur_us > 0
        recs.append(dict(
            id=int(_num(kid)) if _num(kid) == _num(kid) else kid, kernel=kname, duration_us=dur_us, dram_bytes=dram,
            bandwidth_gbs=dram / (dur_us * 1e3) if ok else math.nan,  # bytes/ns = GB/s
            ffma_inst=ffma, ffma_gflops=2 * ffma / (dur_us * 1e3) if ok else math.nan,
            tensor_inst=tens, tensor_inst_per_us=tens / dur_us if ok else math.nan,
        ))
    cols = ["id", "kernel", "duration_us", "dram_bytes", "bandwidth_gbs", "ffma_inst", "ffma_gflops", "tensor_inst",
            "tensor_inst_per_us"]
    return pd.DataFrame(recs, columns=cols)


def summarize_ncu(launches: pd.DataFrame) -> pd.DataFrame:
    """Per kernel name: launches, mean duration, total bytes, achieved bandwidth (Σ bytes / Σ time), FFMA GFLOP/s."""
    cols = ["kernel", "launches", "mean_duration_us", "dram_bytes", "bandwidth_gbs", "ffma_gflops",
            "tensor_inst_per_us"]
    if launches.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for name, g in launches.groupby("kernel", sort=False):
        t = float(g["duration_us"].sum())
        rows.append(dict(kernel=name, launches=len(g), mean_duration_us=t / len(g),
                         dram_bytes=float(g["dram_bytes"].sum()),
                         bandwidth_gbs=float(g["dram_bytes"].sum()) / (t * 1e3) if t > 0 else math.nan,
                         ffma_gflops=2 * float(g["ffma_inst"].sum()) / (t * 1e3) if t > 0 else math.nan,
                         tensor_inst_per_us=float(g["tensor_inst"].sum()) / t if t > 0 else math.nan))
    return pd.DataFrame(rows, columns=cols)


@dataclass
class NcuResult:
    """Nsight Compute capture of one call: ``table`` per kernel name, ``launches`` per launch (see
    :func:`parse_ncu_csv`), the model FLOP rate over the captured kernels' time, and where the raw log is."""

    table: pd.DataFrame
    launches: pd.DataFrame
    command: list[str]
    log_path: Path
    total_duration_us: float
    model_flops: float
    model_tflops: float
    flop_model: str


def ncu_capture(provider_name: str, case, mode: str, out_dir, *, kernel_regex: str | None = None, iters: int = 1,
                warmup: int = 2, seed: int = 0, timeout_s: float = 900.0) -> tuple[NcuResult | None, str]:
    """Re-run the call in a subprocess under Nsight Compute and read DRAM bytes, duration and instruction counts of
    our Triton kernels (``kernel_regex``, default ``_la2_``, i.e. provider la2).

    Returns (result, message); result is None, with the reason in message, when ncu is not installed, there is no
    CUDA device, the provider has no kernels of ours (pass ``kernel_regex`` to capture others), ncu fails (e.g.
    ERR_NVGPUCTRPERM: no permission for the GPU counters) or captures no kernel. Writes ``ncu_raw.csv`` (ncu's log),
    ``ncu_launches.csv`` and ``ncu_kernels.csv`` into ``out_dir``.
    """
    from .flops import MODES

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ncu = find_ncu()
    if ncu is None:
        return None, "ncu not found (not on PATH, no /usr/local/cuda/bin/ncu)"
    if not torch.cuda.is_available():
        return None, "ncu capture needs a CUDA device (none visible)"
    if kernel_regex is None:
        if provider_name != "la2":
            return None, (f"ncu capture covers our Triton kernels (provider la2, -k regex:{NCU_DEFAULT_KERNEL_REGEX});"
                          f" pass kernel_regex to capture {provider_name}'s kernels")
        kernel_regex = NCU_DEFAULT_KERNEL_REGEX
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "ncu_raw.csv"
    if log.exists():
        log.unlink()
    cmd = ncu_command(ncu, provider_name, case, mode, log_file=log, kernel_regex=kernel_regex, warmup=warmup,
                      iters=iters, seed=seed)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # the child imports this package even if not installed
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return None, f"ncu did not finish within {timeout_s:.0f} s"
    except OSError as ex:
        return None, f"could not start ncu: {ex}"
    text = log.read_text(errors="replace") if log.exists() else ""
    both = text + "\n" + proc.stdout + "\n" + proc.stderr
    if "ERR_NVGPUCTRPERM" in both:
        return None, ("ncu has no permission to read the GPU performance counters (ERR_NVGPUCTRPERM); run as root "
                      "or with NVreg_RestrictProfilingToAdminUsers=0")
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout or text).strip().splitlines()[-4:])
        return None, f"ncu exited with {proc.returncode}: {tail[:400]}"
    launches = None
    for src in (text, proc.stdout):  # the CSV goes to --log-file; some ncu versions print it to stdout as well
        try:
            launches = parse_ncu_csv(src)
            break
        except ValueError:
            continue
    if launches is None:
        hint = " | ".join((text or proc.stdout).strip().splitlines()[-3:])
        return None, f"ncu captured no kernel matching regex:{kernel_regex} ({hint[:300]})"
    if launches.empty:
        return None, f"ncu captured no kernel matching regex:{kernel_regex}"
    table = summarize_ncu(launches)
    launches.to_csv(out / "ncu_launches.csv", index=False)
    table.to_csv(out / "ncu_kernels.csv", index=False)
    from . import baselines
    from .flops import flops

    flop_model = baselines.get_provider(provider_name).flop_model
    total_us = float(launches["duration_us"].sum()) / max(iters, 1)
    fl = flops(flop_model, mode, case.batch, case.heads, case.seq_len, case.head_dim, case.value_dim)
    tflops = fl / (total_us * 1e-6) / 1e12 if total_us > 0 else math.nan
    res = NcuResult(table=table, launches=launches, command=cmd, log_path=log, total_duration_us=total_us,
                    model_flops=fl, model_tflops=tflops, flop_model=flop_model)
    return res, (f"ncu: {len(launches)} launches of {len(table)} kernels, {total_us:.1f} µs per call; "
                 f"{fl / 1e9:.2f} GFLOP ({flop_model}) → {tflops:.1f} TFLOP/s")


# ----------------------------------------------------------------------------------------------------------------
# CLI helpers (lightning-bench profile) and the ncu child


def default_case(on_cpu: bool, *, seq_len=None, batch=None, heads=None, head_dim=None, value_dim=None, dtype=None,
                 decay=None):
    """The profiled case: given fields, the rest from the sweep's presets ('cpu' without CUDA, else 'default' with
    seq_len 4096)."""
    from .baselines.base import Case
    from .cases import DECAYS, preset

    p = preset("cpu" if on_cpu else "default")
    d = head_dim if head_dim is not None else p.head_dim[0]
    case = Case(batch=batch if batch is not None else p.batch[0], heads=heads if heads is not None else p.heads[0],
                seq_len=seq_len if seq_len is not None else (p.seq_len[0] if on_cpu else 4096), head_dim=d,
                value_dim=value_dim if value_dim is not None else d, dtype=dtype or p.dtype[0],
                decay=decay or p.decay[0])
    for name in ("batch", "heads", "seq_len", "head_dim", "value_dim"):
        if getattr(case, name) < 1:
            raise ValueError(f"{name} must be ≥ 1, got {getattr(case, name)}")
    if case.decay not in DECAYS:
        raise ValueError(f"decay must be among {DECAYS}, got {case.decay!r}")
    return case


def print_profile(result: ProfileResult, console=None, *, top: int = 25) -> None:
    """Print the per-kernel table and the dispatch verdict with rich."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    kind = "CUDA kernels, device time" if result.on_cuda else "CPU ops, self CPU time (CPU profile)"
    t = Table(title=f"{result.provider} · {result.mode} · {result.impl} · {kind} · {result.iters} calls")
    t.add_column("kernel" if result.on_cuda else "op", overflow="fold")
    for c in ("calls", "total µs", "mean µs", "share"):
        t.add_column(c, justify="right")
    for r in result.table.head(top).itertuples(index=False):
        t.add_row(short_kernel_name(r.name) if result.on_cuda else r.name, str(r.calls), f"{r.total_us:,.1f}",
                  f"{r.mean_us:,.1f}", f"{100 * r.share:.1f}%")
    if len(result.table) > top:
        t.add_row(f"… {len(result.table) - top} more in kernels.csv", "", "", "", "")
    console.print(t)
    console.print(f"per call: {result.total_us_per_call:,.1f} µs "
                  f"({'device time summed over kernels' if result.on_cuda else 'CPU time'})")
    if result.dispatch_ok is True:
        console.print(f"[green]dispatch OK[/green]: {result.dispatch_message}")
    elif result.dispatch_ok is False:
        console.print(f"[red]dispatch MISMATCH[/red]: {result.dispatch_message}")
    else:
        console.print(f"[yellow]dispatch not verified[/yellow]: {result.dispatch_message}")
    if result.out_dir is not None:
        console.print(f"written: {result.out_dir}/kernels.csv, trace.json, dispatch.json")


def print_ncu(res: NcuResult | None, message: str, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if res is None:
        console.print(f"[yellow]ncu skipped[/yellow]: {message}")
        return
    t = Table(title="Nsight Compute (--clock-control none)")
    for c in ("kernel", "launches", "mean µs", "DRAM MB", "GB/s", "FFMA GFLOP/s", "tensor inst/µs"):
        t.add_column(c, justify="left" if c == "kernel" else "right")
    for r in res.table.itertuples(index=False):
        t.add_row(short_kernel_name(r.kernel), str(r.launches), f"{r.mean_duration_us:,.1f}",
                  f"{r.dram_bytes / 1e6:,.1f}", f"{r.bandwidth_gbs:,.0f}", f"{r.ffma_gflops:,.1f}",
                  f"{r.tensor_inst_per_us:,.0f}")
    console.print(t)
    console.print(message)


def run_profile_command(providers: list[str], case, mode: str, out_dir, *, warmup: int = 3, iters: int = 5,
                        flush_l2: bool = True, seed: int = 0, ncu: bool = False, on_cpu: bool = False,
                        console=None, top: int = 25) -> int:
    """What ``lightning-bench profile`` does; returns the exit status (0, or 1 when a dispatch check failed or, with
    several providers, none could be profiled).

    One provider: its files go straight into ``out_dir``. Several (comma-separated on the command line): one
    sub-directory per provider, a provider that is unavailable or fails is reported and skipped, and
    ``dispatch_summary.csv`` lists every verdict.

    Raises:
        ValueError: unknown provider name or mode (before anything runs).
        RuntimeError: the single provider asked for is not available here, or its call failed.
    """
    from rich.console import Console

    from . import baselines
    from .flops import MODES

    console = console or Console()
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not providers:
        raise ValueError("give at least one provider")
    for p in providers:
        baselines.get_provider(p)  # ValueError listing the known names
    out = Path(out_dir)
    where = ("CPU profile (no CUDA): CPU ops and self CPU time; our Triton kernels run under the Triton "
             "interpreter; not GPU behaviour, and kernel dispatch cannot be verified") if on_cpu else \
        f"CUDA profile on {torch.cuda.get_device_name()}"
    console.print(f"{where}\ncase: {case}  mode: {mode}  warm-up {warmup}, profiled calls {iters}"
                  f"{'' if on_cpu else (', L2 flushed before each' if flush_l2 else ', no L2 flush')}  → {out}")
    single = len(providers) == 1
    summary, status = [], 0
    for name in providers:
        pdir = out if single else out / name
        try:
            res = profile_provider(name, case, mode, out_dir=pdir, warmup=warmup, iters=iters, flush_l2=flush_l2,
                                   seed=seed)
        except Exception as ex:
            if single:
                raise RuntimeError(str(ex) if isinstance(ex, RuntimeError) else
                                   f"{name}: {type(ex).__name__}: {ex}") from ex
            msg = str(ex).strip().splitlines()[0] if str(ex).strip() else ""
            console.print(f"[yellow]{name}: not profiled[/yellow]: {type(ex).__name__}: {msg[:300]}")
            summary.append(dict(provider=name, impl="", mode=mode, ok="not profiled",
                                message=f"{type(ex).__name__}: {msg[:300]}"))
            continue
        print_profile(res, console, top=top)
        summary.append(dict(provider=name, impl=res.impl, mode=mode,
                            ok={True: "ok", False: "MISMATCH", None: "not verified"}[res.dispatch_ok],
                            message=res.dispatch_message))
        if res.dispatch_ok is False:
            status = 1
        if ncu:
            nres, nmsg = ncu_capture(name, case, mode, pdir, seed=seed)
            print_ncu(nres, nmsg, console)
    if not single:
        pd.DataFrame(summary, columns=["provider", "impl", "mode", "ok", "message"]).to_csv(
            out / "dispatch_summary.csv", index=False)
        from rich.table import Table

        t = Table(title="dispatch verification")
        for c in ("provider", "verdict", "message"):
            t.add_column(c, overflow="fold")
        for r in summary:
            color = {"ok": "green", "MISMATCH": "red"}.get(r["ok"], "yellow")
            t.add_row(r["provider"], f"[{color}]{r['ok']}[/{color}]", r["message"])
        console.print(t)
        console.print(f"written: {out}/dispatch_summary.csv")
        if all(r["ok"] == "not profiled" for r in summary):
            status = 1
    return status


def _child_main(argv: list[str] | None = None) -> int:
    """``python -m lightning_bench.profile --child ...``: build the sweep's call, warm it up, then run it ``iters``
    times between cudaProfilerStart and cudaProfilerStop (what ``ncu --profile-from-start off`` captures)."""
    ap = argparse.ArgumentParser(prog="python -m lightning_bench.profile",
                                 description="Subprocess entry of `lightning-bench profile --ncu` (use that command).")
    ap.add_argument("--child", action="store_true", required=True, help="run one profiled call (for ncu)")
    ap.add_argument("--provider", required=True)
    ap.add_argument("--mode", default="fwd_bwd")
    for name in ("batch", "heads", "seq-len", "head-dim", "value-dim"):
        ap.add_argument(f"--{name}", type=int, default=None)
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--decay", default=None)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    from .sweep import _cleanup, prepare_cpu_interpreter

    on_cpu = prepare_cpu_interpreter()
    case = default_case(on_cpu, seq_len=a.seq_len, batch=a.batch, heads=a.heads, head_dim=a.head_dim,
                        value_dim=a.value_dim, dtype=a.dtype, decay=a.decay)
    dev = _resolve_device(None)
    try:
        _, prepared, _, fn, pre, _ = _build_call(a.provider, case, a.mode, dev, a.seed)
    except (ValueError, RuntimeError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    cuda = dev.type == "cuda"
    for _ in range(a.warmup):
        if pre:
            pre()
        fn()
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.profiler.start()
    for _ in range(a.iters):
        if pre:
            pre()
        fn()
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.profiler.stop()
    _cleanup(dev)
    print(f"child ok: {a.provider} {a.mode} {case} impl={prepared.impl} iters={a.iters}")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
