"""The sweep: cases × providers × modes → one CSV row each, written as soon as it is measured.

Data flow (shared docs architecture.md): a :class:`SweepSpec` gives the cases; for each case the canonical inputs
are built once; each provider prepares its call (its own layout, outside the timed region), is checked against a
float64 reference, then timed per mode (:mod:`timing`), its peak memory taken (delta over the inputs) and an NVML
energy window run (:mod:`telemetry`). Failures become status rows and the sweep goes on.

Sharded (issue #7): under torchrun (RANK / WORLD_SIZE / LOCAL_RANK set, e.g. ``lightning-bench sweep --devices 0,1``)
each rank takes its own device (``cuda:LOCAL_RANK``), measures every WORLD_SIZE-th (case, provider) work item of the
matrix (round-robin over the items not done yet), appends its rows to ``rows.rank<r>.csv``, and rank 0 merges the
ranks' files into ``rows.csv`` / ``samples.jsonl`` after all ranks are done (:func:`results.merge_rank_files`). Rank 0
writes ``env.json`` (with every rank's device) and measures ``ceilings.json``. Rows say which device measured them
(``device``, ``device_name``, ``rank``, ``world_size``).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .cases import SweepSpec

NAN = float("nan")
TOLERANCE_O = {"fp32": 1e-5, "fp32_tf32": 5e-3, "fp16": 5e-3, "bf16": 1e-2}  # shared docs §6 tolerance table


@dataclass
class SweepOptions:
    """How to run a sweep.

    Attributes:
        out_dir: run directory (created); rows are appended to ``rows.csv`` there.
        resume: skip rows whose key is already in ``out_dir/rows.csv``.
        timing: :class:`lightning_bench.timing.TimingConfig`.
        energy_window_s: seconds of back-to-back calls per row for the NVML energy reading (0 disables).
        check: compare each provider's output with a float64 reference before timing it.
        seed: base seed of the random inputs (case i uses seed + i).
        plots: write plots at the end.
        verify_dispatch: on CUDA, profile one call per row and record the kernels launched and whether they are the
            ones the provider claims (columns ``dispatch``, ``kernels``; see :mod:`lightning_bench.profile`).
        ceilings: on CUDA, measure copy bandwidth and bf16 matmul rate into ``ceilings.json`` (roofline reference),
            unless the run directory already has one.
    """

    out_dir: Path
    resume: bool = False
    timing: object = None
    energy_window_s: float = 0.5
    check: bool = True
    seed: int = 0
    plots: bool = True
    quiet: bool = False
    ceilings: bool = True
    verify_dispatch: bool = False


@dataclass
class SweepResult:
    run_dir: Path
    rows_written: int = 0
    rows_skipped_resume: int = 0
    interrupted: bool = False
    status_counts: dict = field(default_factory=dict)


def default_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def device_name(device: torch.device) -> str:
    """What a row's ``device`` is: GPU name and PCI bus id (unambiguous across CUDA_VISIBLE_DEVICES remaps), or
    the CPU."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        try:
            bus = f" {props.pci_domain_id:04x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}"
        except AttributeError:
            bus = ""
        return f"{props.name}{bus}"
    import platform

    return f"cpu {platform.processor() or platform.machine()}".strip()


def prepare_cpu_interpreter() -> bool:
    """On a machine without CUDA, route our Triton kernels through the CPU interpreter. Returns True if on CPU."""
    if torch.cuda.is_available():
        return False
    os.environ.setdefault("TRITON_INTERPRET", "1")
    return True


def _first_line(ex: BaseException) -> str:
    msg = str(ex).strip().splitlines()
    text = msg[0] if msg else ""
    for line in msg:  # Triton and CUDA put the useful part on a later line
        if "out of resource" in line or "illegal" in line or "No available kernel" in line:
            text = line.strip()
            break
    return f"{type(ex).__name__}: {text}"[:300]


def classify(ex: BaseException) -> str:
    """Map an exception to a row status (shared docs §7 rule 16)."""
    if isinstance(ex, torch.OutOfMemoryError) or "out of memory" in str(ex).lower():
        return "oom"
    name = type(ex).__name__
    mod = type(ex).__module__ or ""
    if "triton" in mod and ("Compil" in name or "OutOfResources" in name):
        return "compile_failed"
    from .baselines.base import Unsupported

    if isinstance(ex, (Unsupported, NotImplementedError)) or "No available kernel" in str(ex):
        return "unsupported"
    if isinstance(ex, ValueError) and "must" in str(ex):
        return "unsupported"
    return "error"


def make_inputs(case, device, seed: int):
    from .baselines.base import Inputs
    from .kernels.slopes import decay_slopes

    g = torch.Generator(device=device).manual_seed(seed)
    dt = case.torch_dtype
    b, h, n, d, e = case.batch, case.heads, case.seq_len, case.head_dim, case.value_dim
    q = torch.randn(b, h, n, d, device=device, dtype=dt, generator=g)
    k = torch.randn(b, h, n, d, device=device, dtype=dt, generator=g)
    v = torch.randn(b, h, n, e, device=device, dtype=dt, generator=g)
    do = torch.randn(b, h, n, e, device=device, dtype=dt, generator=g)
    if case.decay == "none":
        slopes = None
    elif case.decay == "alibi":
        slopes = decay_slopes(h, "alibi").to(device)
    else:  # per-layer schemes: first layer of a 24-layer model (the strongest decay)
        slopes = decay_slopes(h, case.decay, layer_idx=0, num_layers=24).to(device)
    return Inputs(q=q, k=k, v=v, do=do, slopes=slopes)


def _softmax_reference(q, k, v):
    d = q.shape[-1]
    s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
    n = q.shape[-2]
    mask = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
    s = s.masked_fill(~mask, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def check_output(provider, case, prepared, inputs) -> tuple[str, float]:
    """Compare one (batch 0, last head) slice of the provider's o with a float64 reference.

    Returns (check, rel_l2) where check is "passed", "failed: …" or "not_checked: …".
    """
    from .kernels import lightning_attn_reference

    with torch.no_grad():
        o = prepared.to_bhnd(prepared.forward())
        if not bool(torch.isfinite(o).all()):
            return "failed: non-finite values in o", NAN
        hh = case.heads - 1
        sl = slice(hh, hh + 1)
        q64, k64, v64 = (x[0:1, sl].double() for x in (inputs.q, inputs.k, inputs.v))
        if provider.family == "floor":
            ref = q64 * k64 * v64
        elif provider.family == "linear":
            s = None if inputs.slopes is None else inputs.slopes[sl].contiguous()
            ref = lightning_attn_reference(q64, k64, v64, s, method="dense" if case.seq_len <= 1024 else "chunk")
        else:
            if case.seq_len > 8192:
                return "not_checked: softmax reference limited to seq_len ≤ 8192", NAN
            ref = _softmax_reference(q64, k64, v64)
        got = o[0:1, sl].double()
        rel = float((got - ref).norm() / ref.norm().clamp_min(1e-300))
    key = case.dtype
    if case.dtype == "fp32" and (provider.tf32 or provider.family == "softmax"):
        key = "fp32_tf32"
    tol = TOLERANCE_O[key]
    if not rel <= tol:
        return f"failed: o rel-L2 {rel:.2e} > {tol:.0e} (batch 0, head {hh})", rel
    return "passed", rel


def _mode_callables(mode: str, prepared):
    leaves = prepared.leaves

    def clear():
        for t in leaves:
            t.grad = None

    if mode == "fwd":
        def fn():
            with torch.no_grad():
                return prepared.forward()
        return fn, None, None
    if mode == "fwd_bwd":
        def fn():
            o = prepared.forward()
            o.backward(prepared.grad_out)
            return None
        return fn, clear, None
    # bwd: forward once (graph retained), time the backward alone
    o = prepared.forward()

    def fn():
        torch.autograd.backward(o, prepared.grad_out, retain_graph=True)
        return None
    return fn, clear, o


_WHERE = {"device_name": "", "rank": 0, "world_size": 1}  # set per run by run_sweep (which device measures rows)


def _base_row(provider, case, mode: str, device, order: int) -> dict:
    row = dict(provider=provider.name, impl="", mode=mode, family=provider.family, flop_model=provider.flop_model,
               device=str(device), order=order,
               timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **_WHERE)
    row.update(case.as_dict())
    return row


def _work_items(cases, providers, modes, done, shard) -> list[tuple[int, object]]:
    """(case index, provider) pairs with at least one mode not in ``done``; under torchrun every
    WORLD_SIZE-th of them (round-robin, so each rank gets a share of every seq_len)."""
    from . import results

    items = [(ci, p) for ci, case in enumerate(cases) for p in providers
             if any(results.row_key({**case.as_dict(), "provider": p.name, "mode": m}) not in done for m in modes)]
    if shard is None:
        return items
    return items[shard.rank::shard.world_size]


def run_sweep(spec: SweepSpec, opts: SweepOptions) -> SweepResult:
    """Run the sweep described by ``spec``; see :class:`SweepOptions`. Returns a :class:`SweepResult`.

    Raises:
        ValueError: bad spec (names the field and the rule), unknown provider names, or a run directory whose
            rows.csv is not ours.
    """
    from .distributed.launch import init_from_env

    # first, before anything touches CUDA: under torchrun with ≥ 2 ranks, this rank's GPU and the process group (None
    # otherwise). The ranks meet only at the start and at the end, where the fastest waits for the slowest, so the
    # collective timeout is a day.
    shard = init_from_env(timeout_s=24 * 3600.0, min_world=2)
    try:
        on_cpu = prepare_cpu_interpreter()
        from . import baselines, envinfo, results
        from .flops import flops as flop_count
        from .telemetry import Telemetry
        from .timing import TimingConfig, measure, peak_memory_mib

        cases = spec.cases()
        names = spec.providers or [p.name for p in baselines.list_providers()]
        providers = [baselines.get_provider(n) for n in names]
        timing = opts.timing or TimingConfig()
        return _run(spec, opts, cases, providers, timing, shard, on_cpu, baselines, envinfo, results, flop_count,
                    Telemetry, measure, peak_memory_mib)
    finally:
        if shard is not None:
            shard.close()


def _run(spec, opts, cases, providers, timing, shard, on_cpu, baselines, envinfo, results, flop_count, Telemetry,
         measure, peak_memory_mib) -> SweepResult:
    device = shard.device if shard is not None else default_device()
    run_dir = Path(opts.out_dir)
    if shard is not None:
        run_dir = Path(shard.broadcast_object(str(run_dir)))  # one run directory even if ranks computed defaults
    existing = (run_dir / results.ROWS_FILE).exists() or bool(results.rank_files(run_dir))
    if not opts.resume and existing:
        raise ValueError(f"--out {run_dir} already holds a rows.csv; pass --resume to continue it or choose a new dir")
    main = shard is None or shard.is_main
    order_of = {results.row_key({**case.as_dict(), "provider": p.name, "mode": m}): (ci, pi, mi)
                for ci, case in enumerate(cases) for pi, p in enumerate(providers) for mi, m in enumerate(spec.modes)}
    if shard is not None:
        shard.barrier()  # every rank has checked the run directory before anything is written to it
    if opts.resume and main:  # rows a crashed sharded run left in its rank files join rows.csv first
        results.merge_rank_files(run_dir, order=lambda r: order_of.get(results.row_key(r), (1 << 30,)))
    if shard is not None:
        shard.barrier()
    done = results.done_keys(run_dir) if opts.resume else set()
    _WHERE.update(device_name=device_name(device), rank=shard.rank if shard else 0,
                  world_size=shard.world_size if shard else 1)
    if shard is None:
        writer = results.ResultWriter(run_dir)
    else:
        writer = results.ResultWriter(run_dir, results.rank_rows_file(shard.rank),
                                      results.rank_samples_file(shard.rank))
    telem = Telemetry(device)
    env = envinfo.collect(device, telem)
    env["spec"] = {k: v for k, v in spec.__dict__.items()}
    env["timing"] = timing.__dict__
    env["energy_window_s"] = opts.energy_window_s
    env["providers"] = {p.name: {"available": p.available()[0], "reason": p.available()[1], "family": p.family,
                                 "flop_model": p.flop_model} for p in providers}
    if shard is not None:
        here = {"rank": shard.rank, "local_rank": shard.local_rank, "device": str(device),
                "device_name": _WHERE["device_name"], "gpu": env.get("gpu"), "nvml": env.get("nvml"),
                "hostname": env.get("hostname")}
        env["sharding"] = {"world_size": shard.world_size, "backend": shard.backend,
                           "partition": "round-robin over (case, provider) items not done yet",
                           "ranks": shard.all_gather_object(here)}
    if main:
        results.write_env(run_dir, env)
    if main and opts.ceilings and device.type == "cuda" and not (run_dir / "ceilings.json").exists():
        from .ceilings import measure_ceilings, reference_point, write_ceilings

        try:
            ceil = measure_ceilings(device)
            ceil["reference_start"] = reference_point(ceil)  # drift reference for `lightning-bench gate`
            write_ceilings(run_dir / "ceilings.json", ceil)
        except Exception as ex:  # a failed ceiling measurement must not stop the sweep
            print(f"ceilings not measured: {_first_line(ex)}", file=sys.stderr)

    from .progress import Reporter

    items = _work_items(cases, providers, spec.modes, done, shard)
    total = len(items) * len(spec.modes)
    rep = Reporter(total=total, quiet=opts.quiet or not main)
    res = SweepResult(run_dir=run_dir, rows_skipped_resume=len(done & set(order_of)))
    if shard is not None and main:
        rep.note(f"Sharded sweep: {shard.world_size} ranks ({shard.backend}); this rank measures {len(items)} of the "
                 "(case, provider) items; rows are merged into rows.csv at the end.")
    if on_cpu and main:
        rep.note("No CUDA device: CPU sweep. Timings are CPU timings (PyTorch CPU baselines; our kernels under the "
                 "Triton interpreter, correctness only): not GPU performance numbers.")

    def emit(row, samples=None):
        writer.write(row, samples)
        res.rows_written += 1
        res.status_counts[row["status"]] = res.status_counts.get(row["status"], 0) + 1
        rep.row(row)

    by_case: dict[int, list] = {}
    for ci, p in items:
        by_case.setdefault(ci, []).append(p)
    try:
        for ci, mine in by_case.items():
            case = cases[ci]
            todo = [(p, m) for p in mine for m in spec.modes
                    if results.row_key({**case.as_dict(), "provider": p.name, "mode": m}) not in done]
            rep.advance(len(mine) * len(spec.modes) - len(todo))
            try:
                inputs = make_inputs(case, device, opts.seed + ci)
            except Exception as ex:  # e.g. the inputs alone do not fit
                for order, (p, m) in enumerate(todo):
                    emit({**_base_row(p, case, m, device, order), "status": classify(ex), "reason": _first_line(ex)})
                _cleanup(device)
                continue
            rot = ci % len(mine)
            ordered = mine[rot:] + mine[:rot]  # round-robin order per case (thermal fairness)
            for order, p in enumerate(ordered):
                modes = [m for m in spec.modes if (p, m) in todo]
                if modes:
                    _run_provider(p, case, modes, inputs, device, order, timing, opts, telem, emit, flop_count,
                                  measure, peak_memory_mib)
                    _cleanup(device)
            del inputs
            _cleanup(device)
    except KeyboardInterrupt:
        res.interrupted = True
        rep.note("Interrupted: rows measured so far are in the CSV; continue with --resume.")
    finally:
        writer.close()
        rep.close()
    if shard is not None and not res.interrupted:
        # wait for every rank (the group's timeout is long), then rank 0 merges the ranks' rows into rows.csv
        stats = shard.all_gather_object((res.rows_written, res.rows_skipped_resume, res.status_counts))
        if main:
            merged = results.merge_rank_files(run_dir, order=lambda r: order_of.get(results.row_key(r),
                                                                                     (1 << 30,)))
            res.rows_written = merged
            res.status_counts = {}
            for _, _, counts in stats:
                for k, v in counts.items():
                    res.status_counts[k] = res.status_counts.get(k, 0) + v
        shard.barrier()
    if main and opts.ceilings and device.type == "cuda" and not res.interrupted and \
            (run_dir / "ceilings.json").exists():
        from .ceilings import record_reference

        try:  # the reference workload again at the end: the gate's drift normalisation uses start and end
            record_reference(run_dir / "ceilings.json", "end", device)
        except Exception as ex:  # must never cost the measurements
            rep.note(f"reference workload (end) not measured: {_first_line(ex)}")
    if main and opts.plots:
        try:
            from .plots import make_plots

            make_plots(run_dir)
        except Exception as ex:  # plots must never cost the measurements
            rep.note(f"plotting failed: {_first_line(ex)}")
    return res


def _cleanup(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def _run_provider(p, case, modes, inputs, device, order, timing, opts, telem, emit, flop_count, measure,
                  peak_memory_mib):
    ok, why = p.available()
    if not ok:
        for m in modes:
            emit({**_base_row(p, case, m, device, order), "status": "skipped", "reason": why})
        return
    try:
        prepared = p.prepare(case, inputs)
    except Exception as ex:
        st = classify(ex)
        for m in modes:
            emit({**_base_row(p, case, m, device, order), "status": st, "reason": _first_line(ex)})
        return
    check, rel = "not_checked: --no-check", NAN
    if opts.check:
        try:
            check, rel = check_output(p, case, prepared, inputs)
        except Exception as ex:
            st = classify(ex)
            for m in modes:
                emit({**_base_row(p, case, m, device, order), "impl": prepared.impl, "status": st,
                      "reason": _first_line(ex), "check": "error"})
            return
        if check.startswith("failed"):
            for m in modes:
                emit({**_base_row(p, case, m, device, order), "impl": prepared.impl, "status": "numerics_failed",
                      "reason": check, "check": check, "rel_l2": rel})
            return
    note = ""
    if device.type != "cuda":
        note = "CPU timing" + (" under the Triton interpreter (not a speed)" if "interpreter" in prepared.impl else "")
    for m in modes:
        row = {**_base_row(p, case, m, device, order), "impl": prepared.impl, "check": check, "rel_l2": rel,
               "note": note}
        kept = None
        try:
            fn, pre, kept = _mode_callables(m, prepared)
            meas = measure(fn, pre=pre, device=device, config=timing)
            peak, peak_res = peak_memory_mib(fn, pre=pre, device=device)

            def run_calls(k, fn=fn, pre=pre):
                for _ in range(k):
                    if pre:
                        pre()
                    fn()

            sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
            win = telem.window(run_calls, opts.energy_window_s, sync)
            if opts.verify_dispatch and device.type == "cuda":
                from .profile import dispatch_of_call, short_kernel_name

                try:  # a profiler failure must not cost the row its measurement
                    ok, message, names = dispatch_of_call(p.name, prepared.impl, m, fn, pre, device)
                    row["dispatch"] = {True: "ok", False: "mismatch", None: "undecided"}[ok] + ": " + message
                    row["kernels"] = "; ".join(short_kernel_name(n) for n in names[:20])
                except Exception as ex:
                    row["dispatch"] = f"not verified: {_first_line(ex)}"
        except Exception as ex:
            st = classify(ex)
            row.update(status=st, reason=_first_line(ex))
            if st == "error" and os.environ.get("LIGHTNING_BENCH_TRACEBACK"):
                traceback.print_exc(file=sys.stderr)
            kept = None
            emit(row)
            _cleanup(device)
            continue
        finally:
            for t in prepared.leaves:
                t.grad = None
        del kept
        med = meas.median_ms
        fl = flop_count(p.flop_model, m, case.batch, case.heads, case.seq_len, case.head_dim, case.value_dim)
        tokens = case.batch * case.seq_len
        row.update(
            status="ok", reason="", n_samples=meas.n_samples, median_ms=med, p20_ms=meas.quantile(0.2),
            p80_ms=meas.quantile(0.8), iqr_ms=meas.quantile(0.75) - meas.quantile(0.25), mean_ms=meas.mean_ms,
            min_ms=min(meas.samples_ms), max_ms=max(meas.samples_ms), first_call_ms=meas.first_call_ms,
            timer=meas.timer, l2_policy=meas.l2_policy, warmup_calls=meas.warmup_calls,
            host_ms=meas.extra.get("host_ms", NAN), flops=fl,
            tflops=fl / (med * 1e-3) / 1e12, tokens_per_s=tokens / (med * 1e-3), peak_mem_mib=peak,
            peak_reserved_mib=peak_res, energy_j=win.energy_j, avg_power_w=win.avg_power_w,
            sm_clock_mhz=win.sm_clock_mhz, temp_c=win.temp_c, throttle_reasons=win.throttle_reasons,
            power_violation_ms=win.power_violation_ms, thermal_violation_ms=win.thermal_violation_ms,
            window_ms_per_call=win.window_ms_per_call, window_calls=win.window_calls,
            energy_per_token_j=win.energy_j / tokens if not math.isnan(win.energy_j) else NAN,
        )
        if win.note and device.type == "cuda":
            row["note"] = (row["note"] + "; " if row["note"] else "") + win.note
        emit(row, meas.samples_ms)
