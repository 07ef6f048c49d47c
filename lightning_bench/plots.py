"""Plots of a run directory's rows.csv: time, tokens/s and peak memory vs seq_len, one figure per metric and
shape group, one panel per mode, log axes, one line per provider (reads CSVs only)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .analysis import SHAPE, series_tokens, with_series  # noqa: E402

METRICS = {
    "time": ("median_ms", "time (ms)"),
    "tokens_per_s": ("tokens_per_s", "tokens/s"),
    "peak_mem": ("peak_mem_mib", "peak memory over inputs (MiB)"),
}
MODE_ORDER = ["fwd", "bwd", "fwd_bwd"]
STYLE = {  # consistent per-provider style across figures
    "la2": dict(color="#d62728", marker="o", lw=2.2),
    "la1": dict(color="#e377c2", marker="*", lw=1.8),
    "fla": dict(color="#1f77b4", marker="s"),
    "la2_reference": dict(color="#ff7f0e", marker="^"),
    "naive_linear": dict(color="#7f7f7f", marker="x", ls=":"),
    "recurrent_linear": dict(color="#8c564b", marker="+", ls=":"),
    "flash_attn2": dict(color="#2ca02c", marker="D", ls="--"),
    "xformers": dict(color="#9467bd", marker="v", ls="--"),
    "sdpa_cudnn": dict(color="#17becf", marker="P", ls="--"),
    "floor": dict(color="black", ls="-.", lw=1.2),  # the byte floor: a bound, not a competitor
}
BOUNDS = ("floor",)  # providers that are bounds, not competitors: never marked best in tables


def group_label(key: tuple) -> str:
    """A shape group's title from its :data:`~lightning_bench.analysis.SHAPE` key (series, heads, head_dim,
    value_dim, dtype, decay); the series is a batch size or "tokens T" (a fixed-token series)."""
    b, h, d, e, dt, dec = key
    tokens = series_tokens(b)
    head = f"{tokens:,} tokens per call (batch × seq_len)" if tokens is not None else f"batch {b}"
    return f"{head}, heads {h}, head_dim {d}" + (f", value_dim {e}" if e != d else "") + f", {dt}, decay {dec}"


def group_slug(key: tuple) -> str:
    b, h, d, e, dt, dec = key
    tokens = series_tokens(b)
    head = f"tok{tokens}" if tokens is not None else f"b{b}"
    return f"{head}_h{h}_d{d}" + (f"_e{e}" if e != d else "") + f"_{dt}_{dec}"


def make_plots(run_dir: Path, formats=("png",)) -> list[Path]:
    """Write ``{metric}_{group}.{fmt}`` figures into ``run_dir``; returns the paths written."""
    run_dir = Path(run_dir)
    df = pd.read_csv(run_dir / "rows.csv")
    ok = with_series(df[df["status"] == "ok"])
    written: list[Path] = []
    if ok.empty:
        return written
    device_note = ""
    if "device" in ok and ok["device"].astype(str).str.startswith("cpu").all():
        device_note = " — CPU timings (not GPU performance)"
    for key, g in ok.groupby(SHAPE):
        modes = [m for m in MODE_ORDER if m in set(g["mode"])]
        for metric, (col, label) in METRICS.items():
            if g[col].isna().all():
                continue
            fig, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 4.2), squeeze=False)
            for ax, mode in zip(axes[0], modes):
                gm = g[g["mode"] == mode]
                for prov, gp in gm.groupby("provider", sort=False):
                    gp = gp.sort_values("seq_len")
                    if gp[col].isna().all():
                        continue
                    ax.plot(gp["seq_len"], gp[col], label=prov, **STYLE.get(prov, {}))
                    if metric == "time" and {"p20_ms", "p80_ms"} <= set(gp):
                        ax.fill_between(gp["seq_len"], gp["p20_ms"], gp["p80_ms"], alpha=0.2,
                                        color=STYLE.get(prov, {}).get("color"))
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.set_xlabel("seq_len")
                ax.set_ylabel(label)
                ax.set_title(mode)
                ax.grid(True, which="both", alpha=0.3)
            axes[0][0].legend(fontsize=8)
            fig.suptitle(f"{label} vs seq_len — {group_label(key)}{device_note}", fontsize=10)
            fig.tight_layout()
            for fmt in formats:
                path = run_dir / f"{metric}_{group_slug(key)}.{fmt}"
                fig.savefig(path, dpi=110)
                written.append(path)
            plt.close(fig)
    return written
