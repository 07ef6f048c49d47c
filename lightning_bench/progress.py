"""Progress display while sweeping (rich), and a one-line log per finished row."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _fmt(x, spec):
    try:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)
    except (TypeError, ValueError):
        return str(x)


class Reporter:
    def __init__(self, total: int, quiet: bool = False):
        self.console = Console(stderr=False, highlight=False)
        self.quiet = quiet
        self.progress = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}"), console=self.console, transient=False,
                                 disable=quiet)
        self.task = self.progress.add_task("", total=total)
        self.progress.start()

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]{text}[/yellow]")

    def advance(self, k: int) -> None:
        if k:
            self.progress.advance(self.task, k)

    def row(self, row: dict) -> None:
        desc = f"{row['provider']} {row['mode']} n={row['seq_len']}"
        self.progress.update(self.task, advance=1, description=desc)
        if self.quiet:
            return
        shape = f"b={row['batch']} h={row['heads']} n={row['seq_len']} d={row['head_dim']} {row['dtype']} {row['decay']}"
        if row["status"] == "ok":
            tps = row.get("tokens_per_s")
            msg = (f"{row['provider']:>16} {row['mode']:>7} {shape}: {_fmt(row.get('median_ms'), '.3f')} ms "
                   f"[{_fmt(row.get('p20_ms'), '.3f')}–{_fmt(row.get('p80_ms'), '.3f')}, n={row.get('n_samples')}] "
                   f"{_fmt(tps / 1e6 if tps else None, '.2f')} M tok/s, {_fmt(row.get('peak_mem_mib'), '.0f')} MiB")
        else:
            msg = f"{row['provider']:>16} {row['mode']:>7} {shape}: [red]{row['status']}[/red] {escape(str(row.get('reason', '')))}"
        self.progress.console.print(msg, markup=True, highlight=False)

    def close(self) -> None:
        self.progress.stop()
