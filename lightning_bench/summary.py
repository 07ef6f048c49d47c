"""End-of-sweep summary: million tokens/s per (mode, seq_len) × provider, and status counts (reads CSVs only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from .analysis import SHAPE, with_series
from .plots import BOUNDS, MODE_ORDER, group_label


def tokens_table(df: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """{shape group: DataFrame indexed by (mode, seq_len), one column per provider, M tokens/s (ok rows)}."""
    ok = with_series(df[df["status"] == "ok"])
    out = {}
    for key, g in ok.groupby(SHAPE):
        pv = g.pivot_table(index=["mode", "seq_len"], columns="provider", values="tokens_per_s", aggfunc="median")
        pv = pv / 1e6
        order = [m for m in MODE_ORDER if m in pv.index.get_level_values(0)]
        pv = pv.reindex(order, level=0)
        out[key] = pv
    return out


def print_summary(run_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    df = pd.read_csv(Path(run_dir) / "rows.csv")
    for key, pv in tokens_table(df).items():
        t = Table(title=f"M tokens/s (median) — {group_label(key)}", show_lines=False)
        t.add_column("mode")
        t.add_column("seq_len", justify="right")
        for c in pv.columns:
            t.add_column(c, justify="right")
        for (mode, n), r in pv.iterrows():
            vals = [f"{x:.2f}" if pd.notna(x) else "-" for x in r.values]
            comp = r.drop([c for c in BOUNDS if c in r.index])  # the byte floor is a bound, not a competitor
            best = comp.idxmax() if comp.notna().any() else None
            vals = [f"[bold]{v}[/bold]" if c == best else v for c, v in zip(pv.columns, vals)]
            t.add_row(mode, str(n), *vals)
        console.print(t)
    counts = df.groupby(["provider", "status"]).size().unstack(fill_value=0)
    t = Table(title="rows by status")
    t.add_column("provider")
    for c in counts.columns:
        t.add_column(c, justify="right")
    for prov, r in counts.iterrows():
        t.add_row(prov, *[str(int(x)) for x in r.values])
    console.print(t)
    bad = df[~df["status"].isin(["ok"])].drop_duplicates(["provider", "status", "reason"])
    if len(bad):
        console.print("[bold]reasons[/bold] (first of each kind):")
        for _, r in bad.iterrows():
            console.print(f"  {r['provider']} {r['status']}: {r['reason']}", highlight=False, markup=False)
