"""Sum Nsight Compute's source-page stall samples per code region of a kernel's SASS.

A region is a run of consecutive SASS instructions with the same execution count (a loop body, a prologue run once
per warp, a partition's setup), which is how perf-notes v26/v27 read where a kernel's warps wait: e.g. a prologue
whose samples are all ``no_inst`` waits on instruction fetch, one whose samples are ``long_sb`` on a global load or an
mbarrier (TMA) wait. Input: the CSV that ``ncu -i REP --page source --csv --print-source sass`` prints (gzipped or
not); output: one row per region with its first and last instruction index, the execution count per instruction, the
samples and the samples per stall reason (regions with no samples and fewer than 8 instructions are left out).

    python tools/ncu_source_regions.py logs/source.log.gz source_regions.csv
"""
from __future__ import annotations

import argparse
import gzip
import io
from pathlib import Path

import pandas as pd

REASONS = ("no_inst", "long_sb", "barrier", "wait", "selected", "math", "short_sb", "mio", "lg", "branch_resolving",
           "dispatch", "sleep", "membar", "not_selected")


def read_source_page(path: Path) -> pd.DataFrame:
    """The source page's rows (one per SASS instruction); the first line (the kernel's name) is skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    return pd.read_csv(io.StringIO("\n".join(lines[1:])))


def regions(df: pd.DataFrame) -> pd.DataFrame:
    """Runs of equal ``Instructions Executed`` with their summed stall samples (all, and per reason present)."""
    executed = df["Instructions Executed"].astype(int)
    reasons = [r for r in REASONS if f"stall_{r}" in df.columns]
    cols = {r: df[f"stall_{r}"].astype(float) for r in reasons}
    work = pd.DataFrame({"instr": range(len(df)), "executed": executed,
                         "samples": df["Warp Stall Sampling (All Samples)"].astype(int), **cols})
    run = (executed != executed.shift()).cumsum()  # a new region wherever the execution count changes
    g = work.groupby(run, sort=False)
    out = pd.DataFrame({"first_instr": g["instr"].first(), "last_instr": g["instr"].last(),
                        "instructions": g.size(), "executed_per_instr": g["executed"].first(),
                        "samples": g["samples"].sum()})
    for r in reasons:
        out[r] = g[r].sum().astype(int)
    return out[(out.samples > 0) | (out.instructions >= 8)].reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source_csv", type=Path, help="ncu --page source --csv --print-source sass output (.gz ok)")
    ap.add_argument("out_csv", type=Path)
    args = ap.parse_args()
    out = regions(read_source_page(args.source_csv))
    out.to_csv(args.out_csv, index=False)
    print(out.to_string(index=False))


if __name__ == "__main__":
    main()
