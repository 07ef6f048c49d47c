"""``lightning-bench report``: Markdown, LaTeX (booktabs) and HTML reports with PDF/PNG figures from result sets.

Reads only run directories (``rows.csv``, ``env.json``, optional ``ceilings.json``); never imports kernels or
baselines. Every number is shown with its spread (p20–p80) and the best cell per row is marked.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .analysis import GROUP, SHAPE, crossover_table, fixed_cost_table, scaling_table, with_series  # noqa: E402
from .flops import BYTES_MODEL, BYTES_PER_ELEMENT, MODELS, io_bytes  # noqa: E402
from .plots import BOUNDS, MODE_ORDER, STYLE, group_label, group_slug  # noqa: E402

# The H200 ceilings measured on the project's test GPU (shared docs h200-facts.md) are used only when a run
# directory has no ceilings.json of its own, and the report says so.
FALLBACK_CEILINGS = {"source": "H200 reference ceilings (h200-facts.md), not measured in this run",
                     "copy_bytes_per_s": 4.3e12, "bf16_matmul_flops_per_s": 680e12}


@dataclass
class Report:
    out_dir: Path
    markdown: Path
    html: Path
    latex: Path
    latex_doc: Path
    figures: list[Path] = field(default_factory=list)


def load_runs(run_dirs: list[Path]) -> tuple[pd.DataFrame, list[dict]]:
    """Concatenate the rows of several run directories (column ``run`` = directory name) and their env.json."""
    frames, envs = [], []
    for d in run_dirs:
        d = Path(d)
        rows = d / "rows.csv"
        if not rows.exists():
            raise ValueError(f"run directory {d} has no rows.csv")
        df = pd.read_csv(rows)
        df["run"] = d.name
        frames.append(df)
        env_path = d / "env.json"
        env = json.loads(env_path.read_text()) if env_path.exists() else {}
        env["_run"] = d.name
        env["_resumes"] = [json.loads(p.read_text()) for p in sorted(d.glob("env_resume_*.json"))]
        ceil = d / "ceilings.json"
        env["_ceilings"] = json.loads(ceil.read_text()) if ceil.exists() else None
        envs.append(env)
    if not frames:
        raise ValueError("give at least one run directory")
    df = pd.concat(frames, ignore_index=True)
    # the same row measured in several runs: keep the last run's (later runs supersede)
    df = df.drop_duplicates(subset=["provider", "mode"] + GROUP + ["seq_len"], keep="last")
    return df, envs


def _add_derived(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    ok = df["status"] == "ok"
    df["io_bytes"] = float("nan")
    for i in df.index[ok]:
        r = df.loc[i]
        df.at[i, "io_bytes"] = io_bytes(r["mode"], int(r["batch"]), int(r["heads"]), int(r["seq_len"]),
                                        int(r["head_dim"]), int(r["value_dim"]), BYTES_PER_ELEMENT[r["dtype"]])
    df["bytes_per_s"] = df["io_bytes"] / (df["median_ms"] * 1e-3)
    df["flops_per_s"] = df["flops"] / (df["median_ms"] * 1e-3)
    df["intensity"] = df["flops"] / df["io_bytes"]
    return df


def _timing_sentence(df: pd.DataFrame) -> str:
    """What the times are, from the rows' ``timer`` / ``l2_policy`` columns (CUDA events or CPU perf_counter)."""
    timers = set(df["timer"].dropna().astype(str)) if "timer" in df else set()
    cuda = any(t.startswith("cuda_event") for t in timers)
    cpu = any(t.startswith("perf_counter") for t in timers)
    if cpu and not cuda:
        return "Times are CPU wall-clock times (perf_counter; our Triton kernels under the interpreter: not speeds); "
    text = "Times are CUDA-event times of the call alone"
    if any("host-decoupled" in t for t in timers):
        text += " (host-decoupled: GPU work only)"
    pol = set(df["l2_policy"].dropna().astype(str)) if "l2_policy" in df else set()
    if any(p.startswith("cold") for p in pol):
        text += ", L2 flushed before each sample"
    return text + ("; some rows are CPU times" if cpu else "") + "; "


def _ceilings(envs: list[dict]) -> dict:
    for env in envs:
        if env.get("_ceilings"):
            c = dict(env["_ceilings"])
            c.setdefault("source", f"measured ({env['_run']}/ceilings.json)")
            return c
    if not any(env.get("gpu") for env in envs):  # CPU runs: a GPU roofline says nothing about them
        return None
    return dict(FALLBACK_CEILINGS)


# ---------------------------------------------------------------- tables
def cell_table(df: pd.DataFrame, mode: str, value: str, lo: str | None, hi: str | None, scale: float,
               best: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, spreads) tables indexed by seq_len, one column per provider; ``best`` is "min" or "max"."""
    g = df[(df["mode"] == mode) & (df["status"] == "ok")]
    val = g.pivot_table(index="seq_len", columns="provider", values=value, aggfunc="median") * scale
    order = _provider_order(val.columns)
    val = val[order]
    if lo and hi:
        lo_t = g.pivot_table(index="seq_len", columns="provider", values=lo, aggfunc="median")[order] * scale
        hi_t = g.pivot_table(index="seq_len", columns="provider", values=hi, aggfunc="median")[order] * scale
        spread = pd.DataFrame({c: list(zip(lo_t[c], hi_t[c])) for c in order}, index=val.index)
    else:
        spread = pd.DataFrame(index=val.index, columns=order)
    return val, spread


def _provider_order(columns) -> list[str]:
    """Providers in the figures' order (STYLE), then any others as they come."""
    return [p for p in STYLE if p in columns] + [p for p in columns if p not in STYLE]


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.1f}"
    if ax >= 10:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _best_cols(val: pd.DataFrame, best: str) -> dict:
    """{seq_len: set of providers whose value equals the row's best as displayed (ties are all marked)}; the bounds
    (:data:`BOUNDS`) take no part."""
    out = {}
    for n, r in val.drop(columns=[c for c in BOUNDS if c in val.columns]).iterrows():
        if r.notna().any():
            target = _fmt(r.min() if best == "min" else r.max())
            out[n] = {c for c, v in r.items() if _fmt(v) == target}
    return out


def markdown_table(val, spread, best, unit_label) -> str:
    cols = list(val.columns)
    bests = _best_cols(val, best)
    lines = [f"| seq_len | " + " | ".join(f"{c} ({unit_label})" for c in cols) + " |",
             "|---:|" + "---:|" * len(cols)]
    for n, r in val.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            s = _fmt(v)
            sp = spread.at[n, c] if c in spread.columns else None
            if isinstance(sp, tuple) and not any(isinstance(x, float) and math.isnan(x) for x in sp) and s != "–":
                s += f" [{_fmt(sp[0])}–{_fmt(sp[1])}]"
            if c in bests.get(n, ()):
                s = f"**{s}**"
            cells.append(s)
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def relative_tables(df: pd.DataFrame, mode: str, focus: str) -> dict[str, pd.DataFrame] | None:
    """Ratio tables of one shape group and mode (ok rows), indexed by seq_len, one column per provider:

    - ``speedup``: each provider's median time / ``focus``'s (> 1: ``focus`` is faster); ``focus``'s own column is
      dropped;
    - ``memory``: ``focus``'s peak memory over the inputs / each provider's (< 1: ``focus`` needs less);
    - ``flatness``: each provider's tokens/s / its tokens/s at the longest seq_len it was measured at (1 there; the
      "constant speed in seq_len" view).

    None when ``focus`` has no ok row in this mode."""
    g = df[(df["mode"] == mode) & (df["status"] == "ok")]
    if focus not in set(g["provider"]):
        return None
    t = g.pivot_table(index="seq_len", columns="provider", values="median_ms", aggfunc="median")
    order = _provider_order(t.columns)
    t = t[order]
    others = [p for p in order if p != focus]
    out = {"speedup": t[others].div(t[focus], axis=0)}
    if "peak_mem_mib" in g and g["peak_mem_mib"].notna().any():
        m = g.pivot_table(index="seq_len", columns="provider", values="peak_mem_mib", aggfunc="median")
        m = m.reindex(columns=order)
        out["memory"] = 1.0 / m[others].div(m[focus], axis=0)
    tok = g.pivot_table(index="seq_len", columns="provider", values="tokens_per_s", aggfunc="median")[order]
    last = {p: tok[p].dropna().iloc[-1] if tok[p].notna().any() else float("nan") for p in order}
    out["flatness"] = tok.div(pd.Series(last), axis=1)
    return out


def ratio_markdown(val: pd.DataFrame, label: str) -> str:
    """A Markdown table of ratios (2 decimals, "×"), one column per provider."""
    cols = list(val.columns)
    lines = ["| seq_len | " + " | ".join(f"{label} {c}".strip() for c in cols) + " |", "|---:|" + "---:|" * len(cols)]
    for n, r in val.iterrows():
        lines.append(f"| {n} | " + " | ".join("–" if pd.isna(v) else f"{v:.2f}×" for v in r.values) + " |")
    return "\n".join(lines)


_TEX_ESC = {"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in str(s))


def latex_table(val, spread, best, unit_label, caption, label) -> str:
    cols = list(val.columns)
    bests = _best_cols(val, best)
    head = " & ".join([r"$n$"] + [tex_escape(c) for c in cols])
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", rf"\caption{{{tex_escape(caption)}}}",
             rf"\label{{{label}}}", r"\begin{tabular}{r" + "r" * len(cols) + "}", r"\toprule",
             rf"\multicolumn{{{len(cols) + 1}}}{{c}}{{{tex_escape(unit_label)}; median, p20--p80 below}} \\",
             r"\midrule", head + r" \\", r"\midrule"]
    for n, r in val.iterrows():
        top, bottom = [str(n)], [""]
        for c in cols:
            v = r[c]
            s = tex_escape(_fmt(v)).replace("–", "--")
            if c in bests.get(n, ()):
                s = rf"\textbf{{{s}}}"
            top.append(s)
            sp = spread.at[n, c] if c in spread.columns else None
            if isinstance(sp, tuple) and not any(isinstance(x, float) and math.isnan(x) for x in sp) and \
                    not (isinstance(v, float) and math.isnan(v)):
                bottom.append(rf"{{\scriptsize {tex_escape(_fmt(sp[0]))}--{tex_escape(_fmt(sp[1]))}}}")
            else:
                bottom.append("")
        lines.append(" & ".join(top) + r" \\")
        if any(bottom[1:]):
            lines.append(" & ".join(bottom) + r" \\[2pt]")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


# ---------------------------------------------------------------- figures
def _line_fig(g: pd.DataFrame, modes: list[str], col: str, ylabel: str, title: str, band: tuple | None = None,
              scale: float = 1.0, yscale: str = "log"):
    fig, axes = plt.subplots(1, len(modes), figsize=(5.0 * len(modes), 3.9), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        gm = g[g["mode"] == mode]
        for prov in [p for p in STYLE if p in set(gm["provider"])] + sorted(set(gm["provider"]) - set(STYLE)):
            gp = gm[gm["provider"] == prov].sort_values("seq_len")
            if gp[col].isna().all():
                continue
            st = STYLE.get(prov, {})
            ax.plot(gp["seq_len"], gp[col] * scale, label=prov, ms=4, **st)
            if band and gp[band[0]].notna().any():
                ax.fill_between(gp["seq_len"], gp[band[0]] * scale, gp[band[1]] * scale, color=st.get("color"),
                                alpha=0.18, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_yscale(yscale)
        ax.set_xlabel("seq_len (tokens)")
        ax.set_ylabel(ylabel)
        ax.set_title(mode)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _roofline_fig(g: pd.DataFrame, ceilings: dict, title: str):
    bw, peak = ceilings["copy_bytes_per_s"], ceilings["bf16_matmul_flops_per_s"]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ok = g[(g["status"] == "ok") & g["intensity"].notna()]
    if ok.empty:
        plt.close(fig)
        return None
    lo = max(min(ok["intensity"].min() / 3, 1.0), 1e-2)
    hi = max(ok["intensity"].max() * 3, peak / bw * 10)
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(xs, [min(peak, bw * x) / 1e12 for x in xs], color="black", lw=1.5,
            label=f"roof: {bw / 1e12:.2f} TB/s, {peak / 1e12:.0f} TFLOP/s\n({ceilings['source']})")
    markers = {"fwd": "o", "bwd": "s", "fwd_bwd": "^"}
    for prov in [p for p in STYLE if p in set(ok["provider"])] + sorted(set(ok["provider"]) - set(STYLE)):
        gp = ok[ok["provider"] == prov]
        color = STYLE.get(prov, {}).get("color")
        for mode, gm in gp.groupby("mode"):
            ax.scatter(gm["intensity"], gm["flops_per_s"] / 1e12, s=14 + 6 * (gm["seq_len"].rank() - 1),
                       marker=markers.get(mode, "o"), color=color, alpha=0.75,
                       label=f"{prov} ({mode})" if len(gp["mode"].unique()) == 1 or mode == "fwd" else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (model FLOPs / minimum I/O bytes)")
    ax.set_ylabel("achieved TFLOP/s (model FLOPs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(title + "\nmarkers: ○ fwd, □ bwd, △ fwd_bwd; marker size grows with seq_len", fontsize=8)
    fig.tight_layout()
    return fig


def _save(fig, out_dir: Path, stem: str, formats) -> list[Path]:
    paths = []
    for fmt in formats:
        p = out_dir / f"{stem}.{fmt}"
        fig.savefig(p, dpi=120 if fmt == "png" else None)
        paths.append(p)
    plt.close(fig)
    return paths


# ---------------------------------------------------------------- provenance
def provenance(envs: list[dict]) -> list[str]:
    lines = []
    for env in envs:
        gpu = env.get("gpu") or {}
        nvml = env.get("nvml") or {}
        pk = env.get("packages") or {}
        commits = {(env.get("git") or {}).get("commit")} | {(r.get("git") or {}).get("commit")
                                                            for r in env.get("_resumes", [])}
        stamps = [env.get("timestamp_utc")] + [r.get("timestamp_utc") for r in env.get("_resumes", [])]
        lines.append(
            f"{env.get('_run')}: {gpu.get('name', 'CPU (no GPU)')}"
            + (f" ({gpu.get('sm_count')} SMs, {gpu.get('memory_gib')} GiB, L2 {gpu.get('l2_cache_mib')} MiB)"
               if gpu else "")
            + f"; driver {nvml.get('driver', '?')}; CUDA {gpu.get('cuda_runtime', '?')}; "
            f"torch {pk.get('torch')}; triton {pk.get('triton')}; fla-core {pk.get('fla-core')}; "
            f"lightning-attn {pk.get('lightning-attn')}; max SM clock {nvml.get('max_sm_clock_mhz', '?')} MHz "
            f"(application clock {nvml.get('app_sm_clock_mhz', '?')} MHz, not locked by the harness); "
            f"power limit {nvml.get('power_limit_w', '?')} W; git commit "
            f"{', '.join(sorted(str(c) for c in commits))}; measured {', '.join(str(s) for s in stamps if s)}")
    return lines


# ---------------------------------------------------------------- the report
def build_report(run_dirs: list[Path], out_dir: Path, formats=("pdf", "png"), min_fit_seq_len: int = 2048,
                 title: str = "lightning-bench report", focus: str | None = "la2") -> Report:
    """Write ``report.md``, ``report.html``, ``tables.tex``, ``report.tex`` and figures into ``out_dir``. With a
    ``focus`` provider present in a shape group, each mode also gets its speed-up over every other provider, its
    peak memory relative to theirs and every provider's tokens/s relative to its longest seq_len
    (:func:`relative_tables`).

    Raises:
        ValueError: no run directory, or one without rows.csv.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df, envs = load_runs([Path(d) for d in run_dirs])
    df = with_series(_add_derived(df))  # shape series of the whole run set (the analysis tables keep them)
    ceilings = _ceilings(envs)
    figures: list[Path] = []
    md: list[str] = [f"# {title}", "",
                     f"Runs: {', '.join(str(Path(d)) for d in run_dirs)}. Generated "
                     f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}.", "",
                     "Cells: median over the timed samples, p20–p80 in brackets; **bold** = best in the row. "
                     + _timing_sentence(df)
                     + "softmax providers compute a different function and are compared on time and memory only.",
                     ""]
    tex: list[str] = ["% lightning-bench tables: needs \\usepackage{booktabs}", ""]
    ok = df[df["status"] == "ok"]
    for key, g in df.groupby(SHAPE, sort=False):
        if (g["status"] == "ok").sum() == 0:
            continue
        label = group_label(key)
        slug = group_slug(key)
        modes = [m for m in MODE_ORDER if m in set(g["mode"])]
        md += [f"## {label}", ""]
        gok = g[g["status"] == "ok"]
        # figures
        specs = [
            ("runtime", [m for m in ("fwd", "bwd") if m in modes] or modes, "median_ms", "time (ms)",
             ("p20_ms", "p80_ms"), 1.0, "log"),
            ("runtime_all_modes", modes, "median_ms", "time (ms)", ("p20_ms", "p80_ms"), 1.0, "log"),
            ("peak_memory", modes, "peak_mem_mib", "peak memory over inputs (MiB)", None, 1.0, "log"),
            ("tokens_per_s", modes, "tokens_per_s", "M tokens/s", None, 1e-6, "log"),
            ("tflops", modes, "tflops", "TFLOP/s (declared model FLOPs)", None, 1.0, "log"),
            ("energy_per_token", modes, "energy_per_token_j", "energy per token (µJ)", None, 1e6, "log"),
        ]
        fig_md = []
        for name, fmodes, col, ylabel, band, scale, ysc in specs:
            if col not in gok or gok[col].notna().sum() == 0:
                continue
            fig = _line_fig(gok, fmodes, col, ylabel, f"{ylabel} vs seq_len — {label}", band, scale, ysc)
            paths = _save(fig, out_dir, f"{name}_{slug}", formats)
            figures += paths
            png = next((p for p in paths if p.suffix == ".png"), paths[0])
            fig_md.append(f"![{name}]({png.name})")
        rf = _roofline_fig(g, ceilings, f"roofline — {label}") if ceilings is not None else None
        if rf is not None:
            paths = _save(rf, out_dir, f"roofline_{slug}", formats)
            figures += paths
            png = next((p for p in paths if p.suffix == ".png"), paths[0])
            fig_md.append(f"![roofline]({png.name})")
        md += fig_md + [""]
        # tables
        for mode in modes:
            for value, lo, hi, scale, best, unit, what in (
                ("median_ms", "p20_ms", "p80_ms", 1.0, "min", "ms", "time"),
                ("tokens_per_s", None, None, 1e-6, "max", "M tokens/s", "throughput"),
                ("peak_mem_mib", None, None, 1.0, "min", "MiB", "peak memory over inputs"),
            ):
                if value not in gok or gok[gok["mode"] == mode][value].notna().sum() == 0:
                    continue
                val, spread = cell_table(g, mode, value, lo, hi, scale, best)
                md += [f"### {mode}: {what} ({unit})", "", markdown_table(val, spread, best, unit), ""]
                tex += [latex_table(val, spread, best, f"{what} ({unit})", f"{mode} {what} ({unit}) — {label}",
                                    f"tab:{slug}-{mode}-{value}".replace("_", "-")), ""]
            rel = relative_tables(g, mode, focus) if focus else None
            if rel is not None:
                if len(rel["speedup"].columns):
                    md += [f"### {mode}: speed-up of {focus} (each provider's median time / {focus}'s; > 1: {focus} "
                           "is faster)", "", ratio_markdown(rel["speedup"], f"{focus} ×"), ""]
                if "memory" in rel and len(rel["memory"].columns):
                    md += [f"### {mode}: peak memory of {focus} relative to each provider's (< 1: {focus} needs "
                           "less)", "", ratio_markdown(rel["memory"], f"{focus} /"), ""]
                md += [f"### {mode}: tokens/s relative to each provider's longest seq_len (constant speed = 1.00 "
                       "everywhere)", "", ratio_markdown(rel["flatness"], ""), ""]
                if "floor" in rel["flatness"].columns:
                    md += [f"The `floor` column is the shape's byte floor (`o = q⊙k⊙v`: the same tensors read and "
                           f"written, no attention, same timer; never marked best): `{focus} × floor` is {focus}'s "
                           "fraction of it at each length, and the floor's own column here is how constant the "
                           "tokens/s of a kernel equally close to the floor at every length would be.", ""]
        # failures
        bad = g[g["status"] != "ok"]
        if len(bad):
            md += ["### Rows without a measurement", "", "| provider | mode | seq_len | status | reason |",
                   "|---|---|---:|---|---|"]
            for _, r in bad.sort_values(["provider", "mode", "seq_len"]).iterrows():
                reason = str(r.get("reason", "")).replace("|", "/")[:160]
                md.append(f"| {r['provider']} | {r['mode']} | {r['seq_len']} | {r['status']} | {reason} |")
            md.append("")
    # derived analysis
    md += ["## Scaling exponents", "",
           f"Least-squares fit of log(time) on log(seq_len) over ok rows with seq_len ≥ {min_fit_seq_len}; 95% "
           "confidence interval from the slope's standard error (Student t). ≈1: linear in seq_len; ≈2: quadratic; "
           "for a fixed-token series (`tok…`, batch × seq_len constant) one less: ≈0 linear, ≈1 quadratic.",
           ""]
    sc = scaling_table(ok, min_seq_len=min_fit_seq_len)
    if len(sc):
        md += ["| shape | provider | mode | exponent | 95% CI | points (seq_len range) | R² |",
               "|---|---|---|---:|---|---|---:|"]
        for _, r in sc.iterrows():
            shape = group_slug(tuple(r[c] for c in SHAPE))
            md.append(f"| {shape} | {r['provider']} | {r['mode']} | {r['exponent']:.3f} | "
                      f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {r['n_points']} ({r['seq_min']}–{r['seq_max']}) | "
                      f"{r['r2']:.4f} |")
        tex += [_scaling_latex(sc), ""]
    else:
        md.append("Not enough seq_lens (≥ 3 at or above the threshold) for a fit.")
    fc = fixed_cost_table(ok)
    if len(fc):
        md += ["", "## Fixed cost per call: r∞ and n½", "",
               "Hockney's model of a pipelined operation, for the providers linear in seq_len and the byte floor: "
               "time = F + T / r∞ with T = batch × seq_len tokens per call, fitted as time per token against 1 / T "
               "over every ok seq_len (95% interval of F from the Student t). tokens/s = r∞ · T / (T + n½), "
               "n½ = F · r∞ (here in seq_len at the group's batch): the shorter n½, the more constant the tokens/s "
               "over seq_len — `model min / max` is the model's tokens/s at the shortest over the longest seq_len. "
               "The floor's n½ is what a kernel moving the same bytes with the timer's and one launch's fixed cost "
               "has. A negative F means the time per token grows with seq_len (the model does not hold).", "",
               "| shape | provider | mode | r∞ (M tokens/s) | F (µs) | 95% CI | n½ (seq_len) | model min / max | "
               "points (seq_len range) | R² |", "|---|---|---|---:|---:|---|---:|---:|---|---:|"]
        for _, r in fc.iterrows():
            shape = group_slug(tuple(r[c] for c in SHAPE))
            md.append(f"| {shape} | {r['provider']} | {r['mode']} | {r['r_inf'] / 1e6:.2f} | "
                      f"{r['fixed_ms'] * 1e3:.1f} | [{r['fixed_ci_low'] * 1e3:.1f}, {r['fixed_ci_high'] * 1e3:.1f}] | "
                      f"{r['n_half_seq']:.0f} | {r['model_flatness']:.3f} | {r['n_points']} "
                      f"({r['seq_min']}–{r['seq_max']}) | {r['r2']:.4f} |")
    md += ["", "## Crossovers: where each linear provider overtakes each softmax provider", "",
           "The seq_len from which the linear provider is faster at every larger measured seq_len, interpolated in "
           "log–log between the bracketing measurements.", ""]
    cx = crossover_table(ok)
    if len(cx):
        md += ["| shape | mode | linear | softmax | crossover seq_len | between |", "|---|---|---|---|---:|---|"]
        for _, r in cx.iterrows():
            shape = group_slug(tuple(r[c] for c in SHAPE))
            if r["kind"] == "crosses":
                what, between = f"≈ {r['crossover_seq_len']:,.0f}", f"{int(r['n_lo'])}–{int(r['n_hi'])}"
            elif r["kind"] == "always_faster":
                what, between = f"≤ {int(r['seq_min'])} (faster at every measured seq_len)", "–"
            else:
                what, between = f"not within {int(r['seq_min'])}–{int(r['seq_max'])}", "–"
            md.append(f"| {shape} | {r['mode']} | {r['linear']} | {r['softmax']} | {what} | {between} |")
    else:
        md.append("No pair of linear and softmax providers measured at common seq_lens.")
    # models and provenance
    md += ["", "## Models and provenance", "",
           "FLOP models (per row's `flop_model`): " + "; ".join(f"`{k}`: {v}" for k, v in MODELS.items()) + ".",
           "", f"Bytes model (roofline x-axis and achieved bytes/s): {BYTES_MODEL}.", "",
           (f"Roofline ceilings: copy bandwidth {ceilings['copy_bytes_per_s'] / 1e12:.2f} TB/s, bf16 matmul "
            f"{ceilings['bf16_matmul_flops_per_s'] / 1e12:.0f} TFLOP/s — {ceilings['source']}." if ceilings is not None
            else "No roofline: the runs have no GPU (CPU timings)."), ""]
    md += ["Environment:", ""] + [f"- {line}" for line in provenance(envs)] + [""]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md) + "\n")
    tex_path = out_dir / "tables.tex"
    tex_path.write_text("\n".join(tex) + "\n")
    doc = out_dir / "report.tex"
    doc.write_text(_latex_document(title, envs))
    html = out_dir / "report.html"
    html.write_text(render_html("\n".join(md), out_dir, title))
    return Report(out_dir=out_dir, markdown=md_path, html=html, latex=tex_path, latex_doc=doc, figures=figures)


def _scaling_latex(sc: pd.DataFrame) -> str:
    lines = [r"\begin{table}[ht]", r"\centering", r"\small",
             r"\caption{Fitted scaling exponent $k$ of time $\propto n^k$ (95\% CI)}", r"\label{tab:scaling}",
             r"\begin{tabular}{llrr}", r"\toprule", r"provider & mode & $k$ & 95\% CI \\", r"\midrule"]
    for _, r in sc.iterrows():
        lines.append(f"{tex_escape(r['provider'])} & {tex_escape(r['mode'])} & {r['exponent']:.3f} & "
                     f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def _latex_document(title: str, envs: list[dict]) -> str:
    prov = "\n\n".join(tex_escape(line) for line in provenance(envs))
    return "\n".join([
        r"\documentclass[10pt]{article}",
        r"\usepackage[margin=1.5cm,landscape]{geometry}",
        r"\usepackage{booktabs}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[utf8]{inputenc}",
        r"\begin{document}",
        rf"\section*{{{tex_escape(title)}}}",
        r"\input{tables.tex}",
        r"\clearpage",
        r"\section*{Provenance}",
        r"{\small " + prov + "}",
        r"\end{document}",
        "",
    ])


_IMG = re.compile(r'<img alt="([^"]*)" src="([^"]+)"\s*/?>')
_LOAD_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
</script>"""


def render_html(markdown_text: str, out_dir: Path, title: str) -> str:
    """Self-contained HTML: the Markdown rendered (python-markdown, tables extension) with PNGs inlined as data
    URIs, and a load check that writes ``data-images-loaded="ok/total"`` on <body> (used by the headless test)."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])

    def inline(m):
        alt, src = m.group(1), m.group(2)
        p = Path(out_dir) / src
        if p.suffix == ".png" and p.exists():
            data = base64.b64encode(p.read_bytes()).decode()
            src = f"data:image/png;base64,{data}"
        return f'<img alt="{alt}" src="{src}" style="max-width:100%">'

    body = _IMG.sub(inline, body)
    style = ("body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.85em}"
             "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}"
             "td:first-child,th:first-child{text-align:left}code{background:#f6f6f6}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style>"
            f"</head><body>\n{body}\n{_LOAD_CHECK}\n</body></html>\n")
