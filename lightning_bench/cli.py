"""``lightning-bench``: the command-line entry point (thin: each command calls one library function)."""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path

import click


def _ints(text: str | None, name: str) -> list[int] | None:
    if text is None:
        return None
    try:
        vals = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise click.BadParameter(f"{name} must be a comma-separated list of integers, got {text!r}") from None
    if not vals:
        raise click.BadParameter(f"{name} must list at least one integer")
    return vals


def _strs(text: str | None) -> list[str] | None:
    return None if text is None else [x for x in text.replace(" ", "").split(",") if x]


def _relaunch_args(ctx, drop=("devices",), extra=()) -> list[str]:
    """The command line of this click command rebuilt from its parsed options (minus ``drop``), for re-launching the
    same command under torchrun (``--devices``)."""
    args = [ctx.info_name]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in drop:
            continue
        val = ctx.params.get(param.name)
        if param.is_flag:
            if val and not param.default:
                args.append(param.opts[0])
            continue
        if val is None or val == param.default:
            continue
        args += [param.opts[0], str(val)]
    return args + list(extra)


def _launch_or_fail(devices_text, module_args):
    """Re-launch ``lightning_bench MODULE_ARGS`` under torchrun on the given devices; exit with its status."""
    from .distributed import launch, parse_devices, torchrun_env

    if torchrun_env() is not None:
        raise click.UsageError("--devices launches torchrun itself; under torchrun each rank already uses "
                               "cuda:LOCAL_RANK (drop --devices)")
    try:
        devices = parse_devices(devices_text)
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    sys.exit(launch(devices, module_args))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lightning-bench")
def main():
    """lightning-bench: Lightning Attention-2 kernels and the benchmark suite around them."""


@main.command()
@click.option("--preset", type=click.Choice(["default", "quick", "paper", "perf", "tgs", "gate", "cpu"]), default=None,
              help="Starting configuration; options below override its fields. default: 'default' on a GPU "
                   "(batch 2, heads 16, head_dim 128, bf16, seq_len 1K..16K), 'cpu' without CUDA. "
                   "'paper' = batch 4, heads 32, head_dim 128, bf16, seq_len 512..32768, fwd/bwd/fwd_bwd "
                   "(the reference repository's published benchmark); 'tgs' = the paper's Table 1 setting, a fixed "
                   "262144 tokens per call (batch × seq_len), seq_len 1K..128K; 'quick' = 2 seq_lens for a smoke test; 'gate' = the "
                   "regression-gate configs (our kernels, fwd and fwd_bwd; 15–32 s per sweep measured on an H200).")
@click.option("--seq-len", help="Comma-separated sequence lengths, e.g. 1024,4096.")
@click.option("--batch", help="Comma-separated batch sizes.")
@click.option("--heads", help="Comma-separated head counts.")
@click.option("--head-dim", help="Comma-separated head_dim values (q and k feature size d).")
@click.option("--value-dim", help="Comma-separated value_dim values (v feature size e); default = head_dim.")
@click.option("--dtype", help="Comma-separated dtypes among bf16, fp16, fp32.")
@click.option("--mode", "modes", help="Comma-separated modes among fwd, bwd (backward alone), fwd_bwd.")
@click.option("--decay", help="Comma-separated decay settings: none, alibi (default), alibi_layer, linear "
                               "(slope schemes of decay_slopes; per-layer schemes use layer 0 of 24).")
@click.option("--providers", help="Comma-separated providers (see `lightning-bench providers`); default: all.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to create. Default: results/runs/<UTC timestamp>/ (ignored by git).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Continue RUN_DIR with the configuration it was started with (from its env.json; options given "
                   "now override it): rows already in its rows.csv are skipped, new rows appended.")
@click.option("--min-samples", type=click.IntRange(1), default=None,
              help="Minimum timed samples per row (10 on a GPU, 3 on the CPU).")
@click.option("--max-samples", type=click.IntRange(1), default=None,
              help="Maximum timed samples per row (100 on a GPU, 10 on the CPU).")
@click.option("--max-time", type=click.FloatRange(min=0.001), default=None,
              help="Target seconds of timed samples per row (0.5 on a GPU, 0.2 on the CPU); the count is clipped to "
                   "the bounds above.")
@click.option("--warmup", type=click.FloatRange(min=0), default=None,
              help="Seconds of warm-up calls after the first call (0.1; at least 3 calls).")
@click.option("--energy-window", type=click.FloatRange(min=0), default=None,
              help="Seconds of back-to-back calls for the NVML energy reading per row (0.5 on GPU; 0 disables).")
@click.option("--no-flush", is_flag=True, help="Do not flush L2 between samples (warm-L2 timings, labelled so).")
@click.option("--host-decoupled/--end-to-end", "host_decoupled", default=None,
              help="CUDA timing mode. --host-decoupled: hold the stream with a GPU spin before each sample so the "
                   "events time the call's GPU work alone, not the host's launch latency (nvbench's blocking kernel; "
                   "shared docs §7 rule 5). --end-to-end: eager time as a training step sees it when the host cannot "
                   "run ahead (launch latency included where it exceeds the GPU work). Default: the preset's choice "
                   "(host-decoupled for 'perf', 'tgs' and 'gate', end-to-end otherwise). Either way the host's enqueue time "
                   "per call is recorded (column host_ms).")
@click.option("--no-check", is_flag=True, help="Skip the float64 correctness check before timing (not advised).")
@click.option("--no-plots", is_flag=True, help="Do not write plots at the end.")
@click.option("--verify-dispatch", is_flag=True,
              help="On a GPU, profile one call per row and record the kernels launched and whether they are the "
                   "provider's own (columns dispatch, kernels); e.g. that SDPA's flash backend ran a flash kernel.")
@click.option("--no-ceilings", is_flag=True,
              help="On a GPU, skip measuring copy bandwidth and bf16 matmul rate into RUN_DIR/ceilings.json.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--quiet", is_flag=True, help="No progress bar or per-row lines; summary only.")
@click.option("--devices", default=None,
              help="Shard the sweep across these GPUs, e.g. 0,1: re-launches this command under torchrun with one "
                   "rank per device (the same as `torchrun --nproc-per-node N -m lightning_bench sweep ...`); each "
                   "rank measures its share of the (config, provider) items on its own GPU and rank 0 merges the "
                   "rows into one rows.csv (column device). Without CUDA: that many CPU processes (gloo).")
@click.pass_context
def sweep(ctx, preset, seq_len, batch, heads, head_dim, value_dim, dtype, modes, decay, providers, out_dir,
          resume_dir, min_samples, max_samples, max_time, warmup, energy_window, no_flush, host_decoupled, no_check,
          no_plots, verify_dispatch, no_ceilings, seed, quiet, devices):
    """Sweep seq_len, batch, heads and head dims across our kernels and the baselines.

    Each row (provider × mode × config) records time (median, p20/p80, samples, first call), peak memory over
    the inputs, FLOPs, TFLOP/s, tokens/s and NVML telemetry; rows are appended to RUN_DIR/rows.csv as they finish,
    failures become status rows, and Ctrl-C leaves a valid CSV (continue with --resume RUN_DIR). Under torchrun (or
    with --devices) the config matrix is split across the ranks, one GPU each.
    """
    from rich.console import Console

    from .cases import PRESETS
    from .cases import preset as get_preset
    from .distributed import is_main_process
    from .sweep import SweepOptions, prepare_cpu_interpreter, run_sweep
    from .timing import TimingConfig

    if devices is not None:
        if resume_dir is not None and out_dir is not None and Path(out_dir) != Path(resume_dir):
            raise click.UsageError("give either --out or --resume (the run directory to continue), not both")
        extra = () if (out_dir is not None or resume_dir is not None) else (
            "--out", str(Path("results/runs") / _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")))
        _launch_or_fail(devices, _relaunch_args(ctx, extra=extra))
    console = Console(quiet=not is_main_process())
    on_cpu = prepare_cpu_interpreter()
    if resume_dir is not None and preset is None:
        # continue with the configuration the run was started with (its env.json); options given now override it
        from .cases import spec_from_run

        try:
            spec = spec_from_run(resume_dir)
        except ValueError as ex:
            raise click.UsageError(str(ex)) from None
        name = "resumed"
    else:
        name = preset or ("cpu" if on_cpu else "default")
        spec = get_preset(name)
    if on_cpu:
        console.print("[yellow]No CUDA device found: CPU sweep "
                      f"(preset '{name}'). CPU timings only; our Triton kernels run under the interpreter.[/yellow]")
        if host_decoupled:
            console.print("[yellow]--host-decoupled applies to CUDA timing only: ignored on the CPU.[/yellow]")
        host_decoupled = False
        if name in PRESETS and name != "cpu":
            console.print(f"[yellow]Preset '{name}' is sized for a GPU: under the CPU interpreter it can take hours; "
                          "the 'cpu' preset (the default without CUDA) is sized for this machine.[/yellow]")
    overridden = []
    for field, text, conv in (("seq_len", seq_len, "ints"), ("batch", batch, "ints"), ("heads", heads, "ints"),
                              ("head_dim", head_dim, "ints"), ("value_dim", value_dim, "ints"),
                              ("dtype", dtype, "strs"), ("modes", modes, "strs"), ("decay", decay, "strs"),
                              ("providers", providers, "strs")):
        if text is not None:
            setattr(spec, field, _ints(text, "--" + field.replace("_", "-")) if conv == "ints" else _strs(text))
            overridden.append(field)
    if overridden:
        spec.description = f"preset '{name}' with {', '.join(overridden)} from the command line"
        if set(overridden) - {"modes", "providers"}:
            spec.parts = []  # a shape given on the command line replaces the preset's extra grids
    try:
        spec.validate()
        if spec.providers:
            from .baselines import get_provider

            for p in spec.providers:
                get_provider(p)
        defaults = TimingConfig()
        timing = TimingConfig(
            warmup_s=defaults.warmup_s if warmup is None else warmup,
            min_samples=min_samples or (3 if on_cpu else defaults.min_samples),
            max_samples=max_samples or (10 if on_cpu else defaults.max_samples),
            max_time_s=max_time or (0.2 if on_cpu else defaults.max_time_s),
            flush_l2=not no_flush,
            host_decoupled=spec.host_decoupled if host_decoupled is None else host_decoupled,
        )
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    if resume_dir is not None and out_dir is not None and Path(out_dir) != Path(resume_dir):
        raise click.UsageError("give either --out or --resume (the run directory to continue), not both")
    run_dir = resume_dir or out_dir or Path("results/runs") / _dt.datetime.now(_dt.timezone.utc).strftime(
        "%Y%m%dT%H%M%SZ")
    opts = SweepOptions(out_dir=Path(run_dir), resume=resume_dir is not None, timing=timing,
                        energy_window_s=(0.0 if on_cpu else 0.5) if energy_window is None else energy_window,
                        check=not no_check, seed=seed, plots=not no_plots, quiet=quiet,
                        ceilings=not no_ceilings, verify_dispatch=verify_dispatch)
    console.print(f"run directory: {run_dir}  ({spec.description or 'custom'})")
    try:
        res = run_sweep(spec, opts)
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    if is_main_process():
        from .summary import print_summary

        print_summary(res.run_dir, console)
        console.print(f"{res.rows_written} rows written ({res.rows_skipped_resume} already done) → "
                      f"{res.run_dir}/rows.csv")
    if res.interrupted:
        sys.exit(130)


@main.command("sweep-sp")
@click.option("--devices", default=None,
              help="GPUs to run on, e.g. 0,1 (one rank each; re-launches this command under torchrun). Default: "
                   "every visible GPU; without CUDA two CPU processes (gloo, kernels interpreted). Omit under "
                   "torchrun.")
@click.option("--seq-len-total", default=None,
              help="Strong scaling: comma-separated total seq_lens, split evenly across the ranks "
                   "(GPU default 32768,131072,262144; CPU 96). 'none' for no strong-scaling configs.")
@click.option("--seq-len-local", default=None,
              help="Weak scaling: comma-separated seq_lens per rank (GPU default 65536; CPU 48). 'none' for none.")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True)
@click.option("--heads", type=click.IntRange(1), default=None, help="Heads (GPU 16, CPU 2).")
@click.option("--head-dim", type=click.IntRange(1), default=None, help="q/k feature size d (GPU 128, CPU 16).")
@click.option("--value-dim", type=click.IntRange(1), default=None, help="v feature size e (default: head_dim).")
@click.option("--dtype", type=click.Choice(["bf16", "fp16", "fp32"]), default=None, help="GPU bf16, CPU fp32.")
@click.option("--decay", type=click.Choice(["none", "alibi", "alibi_layer", "linear"]), default="alibi",
              show_default=True, help="Decay slopes (decay_slopes scheme; per-layer schemes use layer 0 of 24).")
@click.option("--layout", type=click.Choice(["bhnd", "bnhd"]), default="bhnd", show_default=True)
@click.option("--mode", "modes", default="fwd,fwd_bwd", show_default=True, help="Comma-separated: fwd, fwd_bwd.")
@click.option("--check-seq-len", type=click.IntRange(0), default=None,
              help="Total seq_len of the correctness check against one GPU and float64 (GPU 8192, CPU 96; 0: none).")
@click.option("--no-single", is_flag=True, help="Do not time one GPU on the whole sequence (rank 0).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (sp_rows.csv, sp_summary.md, env.json). Default: results/runs/sp-<UTC stamp>/.")
@click.option("--min-samples", type=click.IntRange(1), default=None, help="Minimum timed samples (GPU 10, CPU 2).")
@click.option("--max-samples", type=click.IntRange(1), default=None, help="Maximum timed samples (GPU 100, CPU 3).")
@click.option("--max-time", type=click.FloatRange(min=0.001), default=None,
              help="Target seconds of timed samples per row (GPU 0.5, CPU 0.05).")
@click.option("--warmup", type=click.FloatRange(min=0), default=None, help="Seconds of warm-up (GPU 0.1, CPU 0).")
@click.option("--no-flush", is_flag=True, help="Do not flush L2 before each sample.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=1800, show_default=True,
              help="Collective timeout of the process group, seconds.")
@click.option("--calls-per-sample", type=click.IntRange(min=1), default=1, show_default=True,
              help="Back-to-back calls per timed sample, reported per call (one-GPU and sequence-parallel rows "
                   "alike): 1 includes each call's host latency; more lets the host run ahead as in training.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No per-row lines.")
@click.pass_context
def sweep_sp(ctx, devices, seq_len_total, seq_len_local, batch, heads, head_dim, value_dim, dtype, decay, layout,
             modes, check_seq_len, no_single, out_dir, min_samples, max_samples, max_time, warmup, no_flush,
             timeout_s, calls_per_sample, seed, quiet):
    """Sequence-parallel Lightning Attention (lightning_attn_sp) across GPUs: strong scaling (total seq_len fixed)
    and weak scaling (seq_len per GPU fixed), fwd and fwd_bwd, against our kernel on one GPU.

    One row per rank per configuration in OUT/sp_rows.csv: median and step time (slowest rank), tokens/s, the
    communication time alone, peak memory per rank (absolute and over the inputs), the one-GPU time at the same
    total seq_len and the speed-up; a correctness check (rel-L2 of o, dq, dk, dv vs one GPU and float64); running
    out of memory is a status row (oom), not a crash. OUT/sp_summary.md has the tables.
    """
    from .distributed import torchrun_env

    if torchrun_env() is None:
        import torch

        if devices is None:
            n = torch.cuda.device_count() if torch.cuda.is_available() else 2
            devices = ",".join(str(i) for i in range(max(n, 1)))
        extra = () if out_dir is not None else (
            "--out", str(Path("results/runs") / ("sp-" + _dt.datetime.now(_dt.timezone.utc).strftime(
                "%Y%m%dT%H%M%SZ"))))
        _launch_or_fail(devices, _relaunch_args(ctx, extra=extra))
    if devices is not None:
        raise click.UsageError("--devices launches torchrun itself; under torchrun drop it")
    from .distributed.sp_sweep import SPOptions, SPSpec, run_sp_sweep
    from .sweep import prepare_cpu_interpreter
    from .timing import TimingConfig

    on_cpu = prepare_cpu_interpreter()

    def lengths(text, default):
        if text is None:
            return default
        return [] if text.strip().lower() == "none" else _ints(text, "seq_len")

    spec = SPSpec(
        seq_len_total=lengths(seq_len_total, [96] if on_cpu else [32768, 131072, 262144]),
        seq_len_local=lengths(seq_len_local, [48] if on_cpu else [65536]),
        batch=batch, heads=heads or (2 if on_cpu else 16), head_dim=head_dim or (16 if on_cpu else 128),
        value_dim=value_dim, dtype=dtype or ("fp32" if on_cpu else "bf16"), decay=decay, layout=layout,
        modes=_strs(modes) or [], single=not no_single,
        check_seq_len=(96 if on_cpu else 8192) if check_seq_len is None else check_seq_len)
    try:
        d = TimingConfig()
        timing = TimingConfig(warmup_s=(0.0 if on_cpu else d.warmup_s) if warmup is None else warmup,
                              min_warmup_calls=1 if on_cpu else d.min_warmup_calls,
                              min_samples=min_samples or (2 if on_cpu else d.min_samples),
                              max_samples=max_samples or (3 if on_cpu else d.max_samples),
                              max_time_s=max_time or (0.05 if on_cpu else d.max_time_s), flush_l2=not no_flush)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = out_dir or Path("results/runs") / f"sp-{stamp}"  # rank 0's choice is broadcast
        path = run_sp_sweep(spec, SPOptions(out_dir=Path(out), timing=timing, seed=seed, quiet=quiet,
                                            timeout_s=timeout_s, calls_per_sample=calls_per_sample))
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    if path is not None:
        click.echo((path.parent / "sp_summary.md").read_text())
        click.echo(f"rows → {path}")


@main.command()
def providers():
    """List the providers, whether each is available here, and why not."""
    from rich.console import Console
    from rich.table import Table

    from .sweep import prepare_cpu_interpreter

    prepare_cpu_interpreter()
    from .baselines import list_providers

    t = Table(title="providers")
    for c in ("provider", "family", "available", "reason / note", "description"):
        t.add_column(c)
    for p in list_providers():
        ok, why = p.available()
        t.add_row(p.name, p.family, "yes" if ok else "no", why, p.description)
    Console().print(t)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the report. Default: RUN_DIR/report (first run directory).")
@click.option("--format", "formats", default="pdf,png", show_default=True,
              help="Figure formats, comma-separated (pdf is vector).")
@click.option("--min-fit-seq-len", type=click.IntRange(1), default=2048, show_default=True,
              help="Smallest seq_len used in the scaling-exponent fit (short sequences are latency-bound).")
@click.option("--title", default="lightning-bench report", show_default=True)
@click.option("--focus", default="la2", show_default=True,
              help="Provider the ratio tables are relative to (its speed-up over every other provider, its relative "
                   "peak memory); 'none' omits them. Tokens/s relative to the longest seq_len is listed with them.")
def report(run_dirs, out_dir, formats, min_fit_seq_len, title, focus):
    """Markdown + HTML report, LaTeX (booktabs) tables and PDF/PNG figures from one or more RUN_DIRs.

    Tables give the median with p20–p80 per cell and mark the best; the analysis fits time ∝ seq_len^k per provider
    (with a 95% CI), each linear provider's fixed cost per call (Hockney's r∞ and n½: how constant its tokens/s
    can be over seq_len) and where each linear provider overtakes each softmax provider; a roofline uses the run's
    ceilings.json (or the H200 reference ceilings, labelled so).
    """
    from .report import build_report

    fmts = tuple(f for f in formats.replace(" ", "").split(",") if f)
    bad = [f for f in fmts if f not in ("pdf", "png", "svg")]
    if bad or not fmts:
        raise click.BadParameter(f"--format must list pdf, png or svg, got {formats!r}")
    try:
        rep = build_report(list(run_dirs), out_dir or Path(run_dirs[0]) / "report", formats=fmts,
                           min_fit_seq_len=min_fit_seq_len, title=title,
                           focus=None if focus.lower() == "none" else focus)
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    click.echo(f"report: {rep.markdown}\nhtml:   {rep.html}\nlatex:  {rep.latex} (document: {rep.latex_doc})\n"
               f"figures: {len(rep.figures)} in {rep.out_dir}")


@main.command()
def ceilings():
    """Measure this GPU's copy bandwidth and bf16 matmul rate (roofline ceilings) and print them as JSON."""
    import json

    from .ceilings import measure_ceilings

    try:
        click.echo(json.dumps(measure_ceilings(), indent=2))
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def plot(run_dir):
    """(Re)draw the plots of RUN_DIR from its rows.csv."""
    from .plots import make_plots

    _require_rows(run_dir)
    for p in make_plots(run_dir):
        click.echo(p)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def summary(run_dir):
    """Print the summary tables of RUN_DIR."""
    from .summary import print_summary

    _require_rows(run_dir)
    print_summary(run_dir)


def _require_rows(run_dir: Path) -> None:
    """A clear usage error unless RUN_DIR holds a rows.csv with the sweep's columns."""
    from .results import REQUIRED_COLUMNS, ROWS_FILE

    path = Path(run_dir) / ROWS_FILE
    if not path.is_file():
        raise click.UsageError(f"RUN_DIR {str(run_dir)!r} has no {ROWS_FILE}: not a lightning-bench run directory")
    try:
        header = path.read_text().splitlines()[0].split(",") if path.stat().st_size else []
    except (OSError, UnicodeDecodeError) as ex:
        raise click.UsageError(f"RUN_DIR: cannot read {str(path)!r}: {ex}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise click.UsageError(f"RUN_DIR: {str(path)!r} does not match the rows.csv schema (missing columns "
                               f"{missing})")


@main.command()
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--metric", type=click.Choice(["median_ms", "tokens_per_s", "peak_mem_mib"]), default="median_ms",
              show_default=True, help="What to compare: time (B/A > 1: B slower), tokens/s (B/A > 1: B faster) "
                                      "or peak memory (no samples: a relative threshold only).")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Level of the bootstrap confidence interval of B/A.")
@click.option("--min-effect", type=click.FloatRange(min=0), default=0.02, show_default=True,
              help="Smallest relative change reported as a difference (0.02 = 2%), even when the CI excludes 1.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison as Markdown to FILE.")
@click.option("--provider", "providers", multiple=True,
              help="Only this provider (repeat the option, or comma-separate, for several).")
def compare(run_a, run_b, metric, confidence, min_effect, markdown_path, providers):
    """Compare run RUN_B against run RUN_A, config by config.

    Per config ok in both runs: A, B, the ratio B/A of medians with a bootstrap confidence interval from the raw
    samples (samples.jsonl), a Mann-Whitney U p-value and a verdict (faster / slower only when the CI excludes 1 and
    the change exceeds --min-effect). Configs in one run only and status changes (e.g. ok -> oom) are listed too.
    """
    from .compare import compare_runs, print_terminal, to_markdown

    names = [p for text in providers for p in text.replace(" ", "").split(",") if p] or None
    try:
        df = compare_runs(run_a, run_b, metric=metric, confidence=confidence, min_effect=min_effect,
                          providers=names)
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    print_terminal(df)
    if markdown_path is not None:
        try:
            markdown_path.write_text(to_markdown(df))
        except OSError as ex:
            raise click.FileError(str(markdown_path), hint=ex.strerror or str(ex)) from None
        click.echo(f"markdown → {markdown_path}")


@main.command("profile")
@click.option("--provider", "providers", required=True,
              help="Provider to profile (see `lightning-bench providers`); a comma-separated list profiles each "
                   "into DIR/<provider>/ and writes DIR/dispatch_summary.csv.")
@click.option("--seq-len", type=click.IntRange(1), default=None, help="Sequence length (GPU: 4096; CPU: 64).")
@click.option("--batch", type=click.IntRange(1), default=None, help="Batch size (GPU: 2; CPU: 1).")
@click.option("--heads", type=click.IntRange(1), default=None, help="Heads (GPU: 16; CPU: 2).")
@click.option("--head-dim", type=click.IntRange(1), default=None, help="q/k feature size d (GPU: 128; CPU: 32).")
@click.option("--value-dim", type=click.IntRange(1), default=None, help="v feature size e (default: head_dim).")
@click.option("--dtype", type=click.Choice(["bf16", "fp16", "fp32"]), default=None, help="GPU: bf16; CPU: fp32.")
@click.option("--decay", type=click.Choice(["none", "alibi", "alibi_layer", "linear"]), default=None,
              help="Decay slopes (default alibi).")
@click.option("--mode", type=click.Choice(["fwd", "bwd", "fwd_bwd"]), default="fwd_bwd", show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=3, show_default=True,
              help="Unprofiled calls first (JIT compile, autotune).")
@click.option("--iters", type=click.IntRange(1), default=5, show_default=True, help="Profiled calls.")
@click.option("--no-flush", is_flag=True, help="Do not flush L2 before each profiled call (GPU).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory. Default: results/runs/profile-<UTC timestamp>-<provider>-<mode>/.")
@click.option("--ncu", is_flag=True, help="Also capture our Triton kernels (la2) under Nsight Compute when ncu and "
                                          "a GPU are present: DRAM bytes, duration, GB/s, instruction rates.")
@click.option("--top", type=click.IntRange(1), default=25, show_default=True, help="Table rows to print.")
def profile_cmd(providers, seq_len, batch, heads, head_dim, value_dim, dtype, decay, mode, warmup, iters, no_flush,
                seed, out_dir, ncu, top):
    """Profile one provider on one config: torch.profiler trace, per-kernel table, kernel-dispatch check.

    Writes DIR/trace.json (Chrome trace: chrome://tracing or ui.perfetto.dev), DIR/kernels.csv (name, calls,
    total_us, mean_us, share) and DIR/dispatch.json (did the provider launch the kernels it claims, e.g. SDPA's flash
    backend a flash kernel). Without CUDA it is a small CPU profile (CPU ops; our kernels under the Triton
    interpreter) and the dispatch check is skipped. Exit status 1 when a dispatch check fails.
    """
    from rich.console import Console

    from .sweep import prepare_cpu_interpreter

    on_cpu = prepare_cpu_interpreter()
    from .profile import default_case, run_profile_command

    names = _strs(providers) or []
    try:
        case = default_case(on_cpu, seq_len=seq_len, batch=batch, heads=heads, head_dim=head_dim,
                            value_dim=value_dim, dtype=dtype, decay=decay)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = out_dir or Path("results/runs") / f"profile-{stamp}-{'+'.join(names) or 'none'}-{mode}"
        status = run_profile_command(names, case, mode, out, warmup=warmup, iters=iters, flush_l2=not no_flush,
                                     seed=seed, ncu=ncu, on_cpu=on_cpu, console=Console(), top=top)
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    except RuntimeError as ex:
        raise click.ClickException(str(ex)) from None
    sys.exit(status)


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for verify.csv and verify.md (default: results/runs/verify-<UTC timestamp>/).")
@click.option("--quick", is_flag=True, help="On a GPU: skip the long (≥ 16384) and huge (> 2^31 elements) cases.")
@click.option("--only", default=None, help="Regular expression: run only the cases whose name matches (e.g. 'bf16-long').")
@click.option("--fla", "fla", type=click.Choice(["all", "long", "none"]), default="long", show_default=True,
              help="Which bf16 d=e=128 cases also report fla's errors (fla autotunes ~1.5 min per new shape).")
def verify(out_dir, quick, only, fla):
    """Correctness matrix of our kernels on this device: rel-L2 of o and every gradient vs float64 oracles, pass/fail
    against the tolerance table (bf16/fp16/fp32 on a GPU; small fp32/fp16 cases under the interpreter on the CPU),
    with fla's chunk_simple_gla on the same inputs where installed. Exit code 1 if any case fails."""
    import datetime as _dt2

    from rich.console import Console

    from .sweep import prepare_cpu_interpreter

    on_cpu = prepare_cpu_interpreter()
    from .verify import rows_to_frame, run_verify, to_markdown

    console = Console()
    if on_cpu:
        console.print("[yellow]No CUDA device: small fp32/fp16 cases under the Triton interpreter.[/yellow]")
    out = Path(out_dir or Path("results/runs") / ("verify-" + _dt2.datetime.now(_dt2.timezone.utc).strftime(
        "%Y%m%dT%H%M%SZ")))
    out.mkdir(parents=True, exist_ok=True)

    done: list = []

    def progress(case, rows):
        mine = [r for r in rows if r.case is case]
        bad = [r for r in mine if not r.passed]
        console.print(f"{'PASS' if not bad else 'FAIL'} {case.name}: "
                      + ", ".join(f"{r.tensor} {r.rel_l2:.1e}" for r in mine[:6]), highlight=False, markup=False)
        done[:] = rows
        rows_to_frame(rows).to_csv(out / "verify.csv", index=False)  # kept if the run is interrupted

    try:
        rows = run_verify(quick=quick, progress=progress, only=only, fla=fla)
    except ValueError as ex:
        raise click.UsageError(str(ex)) from None
    except KeyboardInterrupt:
        console.print(f"[yellow]Interrupted: {len(done)} tensor checks kept in {out}/verify.csv[/yellow]")
        rows = list(done)
        if not rows:
            sys.exit(130)
    df = rows_to_frame(rows)
    df.to_csv(out / "verify.csv", index=False)
    (out / "verify.md").write_text(to_markdown(df) + "\n")
    n_fail = int((~df["pass"]).sum())
    console.print(f"{len(df) - n_fail}/{len(df)} tensor checks passed → {out}/verify.csv")
    if n_fail:
        sys.exit(1)


# ---------------------------------------------------------------- performance gate (issue #6; lightning_bench/gate.py)
def _gate_invalid(message: str, json_path=None, command: str = "gate"):
    """Exit 2 with a clear message (and the error as JSON when --json was given)."""
    import json

    from .gate import EXIT_INVALID, error_json

    click.echo(f"lightning-bench {command}: invalid input: {message}", err=True)
    if json_path is not None:
        try:
            Path(json_path).write_text(json.dumps(error_json(message), indent=2) + "\n")
        except OSError:
            pass
    sys.exit(EXIT_INVALID)


def _gate_settings(metrics, min_effect, confidence, correction, n_boot, seed, min_samples, normalize, reference,
                   providers):
    from .gate import GateSettings

    names = [p for text in providers for p in text.replace(" ", "").split(",") if p] or None
    return GateSettings(metrics=metrics, min_effect=min_effect, confidence=confidence, correction=correction,
                        n_boot=n_boot, seed=seed, min_samples=min_samples, normalize=normalize, reference=reference,
                        providers=None if names is None else tuple(names))


_GATE_STATS_OPTIONS = [
    click.option("--metrics", default="time", show_default=True,
                 help="Metrics to gate, comma-separated: time (median ms, from the raw samples), tokens_per_s, "
                      "peak_mem (deterministic: a relative threshold only)."),
    click.option("--min-effect", default="time=0.05,tokens_per_s=0.05,peak_mem=0.10", show_default=True,
                 help="Smallest relative change that can fail the gate, per metric (METRIC=X,...), or one number for "
                      "time and tokens/s. A statistically real change below it passes."),
    click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.99,
                 show_default=True, help="Bootstrap CI level; alpha = 1 - confidence is the family-wise level of the "
                                         "correction over the cells of a metric."),
    click.option("--correction", type=click.Choice(["holm", "bonferroni", "none"]), default="holm",
                 show_default=True, help="Multiple-comparison correction of the Mann-Whitney p-values over the cells."),
    click.option("--n-boot", type=click.IntRange(100), default=4000, show_default=True,
                 help="Bootstrap resamples per cell."),
    click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Bootstrap seed."),
    click.option("--min-samples", type=click.IntRange(2), default=5, show_default=True,
                 help="Fewer raw samples on a side: the cell is inconclusive (not gated)."),
    click.option("--provider", "providers", multiple=True,
                 help="Only this provider (repeat, or comma-separate, for several)."),
]


def _with_gate_stats(fn):
    for opt in reversed(_GATE_STATS_OPTIONS):
        fn = opt(fn)
    return fn


@main.command("gate")
@click.option("--baseline", type=str, default=None,
              help="Baseline result set: a run directory (rows.csv + samples.jsonl [+ ceilings.json]), "
                   "results/baselines/<gpu>/ (or <gpu>.csv, read as that directory), or the root results/baselines "
                   "(the candidate's GPU picks the subdirectory). With --update-baseline: the target.")
@click.option("--candidate", type=str, default=None, help="Candidate result set (the run to judge).")
@_with_gate_stats
@click.option("--normalize", is_flag=True,
              help="Divide the candidate's times by the candidate/baseline ratio of the reference workload measured "
                   "in each run (ceilings.json reference_start/_end), so a slower machine or clock is not a "
                   "regression. Missing reference: no normalisation, with a note.")
@click.option("--reference", type=click.Choice(["copy", "matmul"]), default="copy", show_default=True,
              help="Reference workload for --normalize: copy (memory-bound kernels, ours) or matmul (compute-bound).")
@click.option("--rerun", is_flag=True,
              help="Re-measure the flagged configs (fresh run directory) and keep a regression only when the "
                   "re-measurement alone shows it again: both sides interleaved when the baseline's code can be had "
                   "(see --rerun-baseline), else the current checkout against the stored baseline.")
@click.option("--rerun-baseline", default="auto", show_default=True,
              help="Code for the baseline side of --rerun: 'auto' (the baseline's recorded git commit, extracted "
                   "with git archive, when this checkout's git has it; else candidate side only), a git revision, a "
                   "directory holding that version's lightning_bench package, or 'none' (candidate side only).")
@click.option("--rerun-rounds", type=click.IntRange(1), default=1, show_default=True,
              help="Re-measurement rounds (each measures every flagged config once; samples pooled).")
@click.option("--rerun-out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the re-measurement. Default: CANDIDATE/rerun-<UTC timestamp>/.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the result as JSON to FILE (schema lightning-bench-gate/1).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the result as Markdown to FILE (it is also appended to $GITHUB_STEP_SUMMARY when set).")
@click.option("--update-baseline", is_flag=True,
              help="Instead of gating: copy --candidate into the baseline directory (default "
                   "results/baselines/<gpu-slug>/), printing what changed. Refuses to overwrite without --force.")
@click.option("--force", is_flag=True, help="With --update-baseline: replace an existing baseline.")
def gate_cmd(baseline, candidate, metrics, min_effect, confidence, correction, n_boot, seed, min_samples, providers,
             normalize, reference, rerun, rerun_baseline, rerun_rounds, rerun_out, json_path, markdown_path,
             update_baseline, force):
    """CI performance-regression gate: CANDIDATE against BASELINE, cell by cell.

    A matched cell is a regression when the Holm-adjusted Mann-Whitney p-value of the raw samples is <= 1 -
    confidence, the bootstrap CI of the ratio of medians lies above 1 and the change exceeds --min-effect; an ok ->
    failed status change is a regression too. Exit status: 0 no (confirmed) regression, 1 regression, 2 invalid
    input (missing file, schema mismatch, no overlapping cells). Output: this table, Markdown ($GITHUB_STEP_SUMMARY,
    --markdown) and JSON (--json).
    """
    from rich.console import Console

    from . import gate as g

    try:
        settings = _gate_settings(metrics, min_effect, confidence, correction, n_boot, seed, min_samples, normalize,
                                  reference, providers)
    except g.GateInputError as ex:
        _gate_invalid(str(ex), json_path)
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    if update_baseline:
        if candidate is None:
            _gate_invalid("--update-baseline needs --candidate RUN_DIR (the run to keep as the baseline)", json_path)
        try:
            info = g.update_baseline(candidate, baseline, force=force, settings=settings)
        except g.GateInputError as ex:
            _gate_invalid(str(ex), json_path)
        except OSError as ex:
            _gate_invalid(f"cannot write the baseline: {ex}", json_path)
        prev = info["previous"]
        if prev is None:
            click.echo(f"new baseline {info['target']} ({info['gpu']}, {info['rows']} rows) from {candidate}")
        else:
            click.echo(f"replaced baseline {info['target']}: was {prev['gpu']} commit {prev['commit']} "
                       f"({prev['timestamp_utc']}), now {info['gpu']}, {info['rows']} rows from {candidate}")
            ch = info["changes"]
            if ch is not None:
                click.echo("what changed (previous baseline -> new):")
                g.print_terminal(ch, console)
                click.echo(f"configs added: {len(ch.only_candidate)}, removed: {len(ch.only_baseline)}, status "
                           f"changes: {len(ch.status_changes)}")
            elif prev.get("compare_error"):
                click.echo(f"(not comparable with the previous baseline: {prev['compare_error']})")
        click.echo("files: " + ", ".join(info["files"]))
        sys.exit(0)
    if baseline is None or candidate is None:
        _gate_invalid("give both --baseline and --candidate (result-set directories)", json_path)
    try:
        res = g.run_gate(baseline, candidate, settings, rerun=rerun, rerun_rounds=rerun_rounds, rerun_out=rerun_out,
                         rerun_baseline=rerun_baseline)
    except g.GateInputError as ex:
        _gate_invalid(str(ex), json_path)
    g.print_terminal(res, console)
    try:
        written = g.write_outputs(res, json_path=json_path, markdown_path=markdown_path)
    except OSError as ex:
        _gate_invalid(f"cannot write the output: {ex}", json_path)
    for w in written:
        click.echo(f"written: {w}")
    sys.exit(res.exit_code)


@main.command("gate-calibrate")
@click.argument("run_dir", type=str)
@_with_gate_stats
@click.option("--mode", "modes", multiple=True, help="Only this mode (repeat for several).")
@click.option("--reps", type=click.IntRange(10), default=500, show_default=True,
              help="A/A repetitions (0 of 300 gives a 95% upper bound of 1.0%).")
@click.option("--power-reps", type=click.IntRange(10), default=200, show_default=True,
              help="Repetitions of each power estimate.")
@click.option("--factor", type=click.FloatRange(min=1.0, min_open=True), default=1.10, show_default=True,
              help="Planted slowdown for the power estimate.")
@click.option("--small-factor", type=click.FloatRange(min=1.0, min_open=True), default=1.03, show_default=True,
              help="A change that should not be flagged (below --min-effect): its flag rate is reported.")
@click.option("--method", type=click.Choice(["resample", "split"]), default="resample", show_default=True,
              help="Pseudo-runs per cell: two bootstrap draws of the full size, or a random split into halves.")
@click.option("--plant", type=click.Choice(["each", "all"]), default="each", show_default=True,
              help="Slow one cell at a time (the others A/A; conservative) or every cell at once.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the estimates as JSON to FILE.")
def gate_calibrate_cmd(run_dir, metrics, min_effect, confidence, correction, n_boot, seed, min_samples, providers,
                       modes, reps, power_reps, factor, small_factor, method, plant, json_path):
    """Calibrate the gate on one run's raw samples (no GPU needed): the A/A false-alarm rate by resampling, the
    power to catch a planted --factor slowdown, and how often a --small-factor change is flagged. Same decision
    code as `gate`; resampling sees within-run noise only (compare two real runs for run-to-run effects)."""
    import json

    from . import gate as g

    try:
        st = _gate_settings(metrics, min_effect, confidence, correction, n_boot, seed, min_samples, False, "copy",
                            providers)
        samples = g.load_samples(run_dir, providers=st.providers, modes=[m for m in modes if m] or None,
                                 min_samples=max(st.min_samples, 2 * st.min_samples if method == "split" else 0))
        aa = g.estimate_false_alarm_rate(samples, reps=reps, method=method, settings=st, seed=seed)
        pw = g.estimate_power(samples, factor=factor, reps=power_reps, method=method, plant=plant, settings=st,
                              seed=seed + 1)
        small = g.estimate_power(samples, factor=small_factor, reps=power_reps, method=method, plant=plant,
                                 settings=st, seed=seed + 2)
    except g.GateInputError as ex:
        _gate_invalid(str(ex).replace("run:", "RUN_DIR:", 1), json_path, command="gate-calibrate")
    click.echo(f"{run_dir}: {aa['cells']} cells, method {method}, alpha {st.alpha:g} ({st.correction}), min effect "
               f"{100 * st.min_effect['time']:g}%")
    click.echo(f"A/A false alarm (any regression in a gate run): {aa['gate_false_alarm_rate']:.4f} over {reps} reps "
               f"(95% upper bound {aa['gate_false_alarm_upper95']:.4f}); per cell {aa['cell_false_alarm_rate']:.5f}; "
               f"either direction {aa['any_direction_rate']:.4f}")
    click.echo(f"power at x{factor:g} ({plant}): min {pw['power_min']:.3f} (95% lower bound "
               f"{pw['power_min_lower95']:.3f}), median {pw['power_median']:.3f}, cells >= 0.95: "
               f"{100 * pw['cells_power_ge_95']:.1f}%"
               + ("" if pw["gate_power"] is None else f"; gate fails in {100 * pw['gate_power']:.1f}% of runs"))
    for w in pw["weakest"]:
        click.echo(f"  weak: {w['cell']} power {w['power']:.3f} (n {w['n']}, IQR/median {w['iqr_over_median']:.3f})")
    click.echo(f"flag rate at x{small_factor:g}: max {small['power_max']:.3f}, "
               f"mean {small['power_mean']:.4f}")
    if json_path is not None:
        Path(json_path).write_text(json.dumps({"run": str(run_dir), "false_alarm": aa, "power": pw,
                                               "small_change": small}, indent=2) + "\n")
        click.echo(f"written: {json_path}")


if __name__ == "__main__":
    main()
